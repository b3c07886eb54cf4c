//! Analytics steps: models that are Rust, not SQL. Each reads its input
//! (a table or a query) through DataFusion, fits a statistical model from
//! `analytics`, and streams its output table; what it learned goes to
//! `_model_metrics` (churn_model) or `_model_params` (clv), appended per run.

pub mod churn;
pub mod clv;

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::execution::SendableRecordBatchStream;
use std::sync::{Arc, LazyLock};

pub const MODEL_METRICS: &str = "_model_metrics";
pub const MODEL_PARAMS: &str = "_model_params";

/// What a step built: its table, and the rows it adds to a bookkeeping table.
pub struct Built {
    pub stream: SendableRecordBatchStream,
    /// (`_model_metrics` or `_model_params`, rows)
    pub side: Option<(&'static str, RecordBatch)>,
    /// One line for the run output (AUC, parameters).
    pub summary: String,
}

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

/// An empty table, and a `_model_metrics` row that says why no model was fitted.
pub(crate) fn not_fitted(schema: SchemaRef, run_id: &str, model: &str, why: String) -> Built {
    let row = MetricRow {
        section: "status",
        name: "not_fitted".into(),
        value: None,
        observed: None,
        rows: None,
        detail: Some(why.clone()),
    };
    Built {
        stream: crate::pipeline::run::batch_stream(RecordBatch::new_empty(schema)),
        side: Some((MODEL_METRICS, metrics_batch(run_id, model, &[row]))),
        summary: format!("not fitted, the table is empty: {why}"),
    }
}

/// A column name as a SQL identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The step's input as a subquery: a table, or a SQL file's query.
pub(crate) fn subquery(input_sql: &str) -> String {
    let trimmed = input_sql.trim().trim_end_matches(';');
    // The newline ends a trailing `--` comment before the parenthesis.
    format!("({trimmed}\n) AS step_input")
}

/// A problem with a step's settings: (key under the model, message, help).
pub type Problem = (String, String, Option<String>);

/// The column `name` of `schema`, if it is numeric or boolean.
pub(crate) fn check_numeric(schema: &Schema, key: &str, name: &str, out: &mut Vec<Problem>) {
    match schema.field_with_name(name) {
        Err(_) => out.push((
            key.into(),
            format!("the input has no column `{name}`"),
            crate::spec::did_you_mean(name, schema.fields().iter().map(|f| f.name().as_str()))
                .map(|n| format!("did you mean `{n}`?")),
        )),
        Ok(f) if f.data_type().is_numeric() || *f.data_type() == DataType::Boolean => {}
        Ok(f) => out.push((
            key.into(),
            format!("column `{name}` is {}, not a number", f.data_type()),
            Some("cast it in the input query, e.g. CAST(x AS DOUBLE)".into()),
        )),
    }
}

pub(crate) fn check_exists(schema: &Schema, key: &str, name: &str, out: &mut Vec<Problem>) {
    if schema.field_with_name(name).is_err() {
        out.push((
            key.into(),
            format!("the input has no column `{name}`"),
            crate::spec::did_you_mean(name, schema.fields().iter().map(|f| f.name().as_str()))
                .map(|n| format!("did you mean `{n}`?")),
        ));
    }
}

/// Build a model over a session where its inputs are registered: its SQL
/// as a stream, or its step.
pub async fn build(
    ctx: &datafusion::prelude::SessionContext,
    model: &crate::pipeline::Model,
    run_id: &str,
    tz: chrono_tz::Tz,
) -> crate::Result<Built> {
    use crate::pipeline::Step;
    match &model.step {
        Step::Sql => Ok(Built {
            stream: ctx.sql(&model.sql).await?.execute_stream().await?,
            side: None,
            summary: String::new(),
        }),
        Step::Churn(c) => c.execute(ctx, &model.sql, &model.name, run_id).await,
        Step::Clv(c) => c.execute(ctx, &model.sql, &model.name, run_id, tz).await,
    }
}
