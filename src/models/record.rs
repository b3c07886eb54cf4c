//! What analytics steps learn, kept per run: `_model_metrics` (churn_model:
//! coefficients, test metrics, calibration) and `_model_params` (clv:
//! fitted parameters and fit statistics).

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::sync::{Arc, LazyLock};

pub const MODEL_METRICS: &str = "_model_metrics";
pub const MODEL_PARAMS: &str = "_model_params";

fn ts_field(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    )
}

/// `_model_metrics`: one row per coefficient, test metric and calibration decile.
pub static MODEL_METRICS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("model", DataType::Utf8, false),
        ts_field("fitted_at"),
        Field::new("section", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
        Field::new("observed", DataType::Float64, true),
        Field::new("rows", DataType::Int64, true),
        Field::new("detail", DataType::Utf8, true),
    ]))
});

/// `_model_params`: one row per fitted parameter or fit statistic.
pub static MODEL_PARAMS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("model", DataType::Utf8, false),
        ts_field("fitted_at"),
        Field::new("submodel", DataType::Utf8, false),
        Field::new("parameter", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
        Field::new("detail", DataType::Utf8, true),
    ]))
});

/// One `_model_metrics` row.
pub struct MetricRow {
    pub section: &'static str,
    pub name: String,
    pub value: Option<f64>,
    pub observed: Option<f64>,
    pub rows: Option<i64>,
    pub detail: Option<String>,
}

/// The run, model and fit time that start every row of both step tables.
fn fit_columns(run_id: &str, model: &str, n: usize) -> Vec<ArrayRef> {
    let now = chrono::Utc::now().timestamp_micros();
    let rep = |v: &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(v, n)))
    };
    vec![
        rep(run_id),
        rep(model),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(now, n))
                .with_timezone("UTC"),
        ),
    ]
}

pub fn metrics_batch(run_id: &str, model: &str, rows: &[MetricRow]) -> RecordBatch {
    let mut cols = fit_columns(run_id, model, rows.len());
    cols.extend::<[ArrayRef; 6]>([
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.section),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.name.as_str()),
        )),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.value))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.observed))),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.rows))),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.detail.as_deref()),
        )),
    ]);
    RecordBatch::try_new(MODEL_METRICS_SCHEMA.clone(), cols)
        .unwrap_or_else(|e| unreachable!("model metrics schema: {e}"))
}

/// One `_model_params` row: (submodel, parameter, value, detail).
pub type ParamRow = (&'static str, &'static str, Option<f64>, Option<String>);

pub fn params_batch(run_id: &str, model: &str, rows: &[ParamRow]) -> RecordBatch {
    let mut cols = fit_columns(run_id, model, rows.len());
    cols.extend::<[ArrayRef; 4]>([
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.2))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.3.as_deref()))),
    ]);
    RecordBatch::try_new(MODEL_PARAMS_SCHEMA.clone(), cols)
        .unwrap_or_else(|e| unreachable!("model params schema: {e}"))
}
