//! What the analytics steps share: what a step built, checking its input
//! columns, its input as a subquery, and the empty result of a step that
//! could not fit.

use super::record::{MODEL_METRICS, MetricRow, metrics_batch};
use crate::spec::did_you_mean;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;

/// What a step built: its table, and the rows it adds to a bookkeeping table.
pub struct Built {
    pub stream: SendableRecordBatchStream,
    /// (`_model_metrics` or `_model_params`, rows)
    pub side: Option<(&'static str, RecordBatch)>,
    /// One line for the run output (AUC, parameters).
    pub summary: String,
    /// A digest of the fit that scored the rows (the step's commit tag
    /// carries it, so the next run can tell whether its fit is the same).
    pub fit: Option<String>,
    /// Only the rows of the periods asked for were scored: the fit was the
    /// same as the last run's, so every other row would be too.
    pub periods_only: bool,
}

/// What a step rebuilt by period is asked to do: score these periods, if
/// its fit is still `last_fit` (the digest of the fit that scored the rows
/// the table holds).
#[derive(Debug, Clone, Copy)]
pub struct Rescore<'a> {
    pub periods: &'a std::collections::BTreeSet<String>,
    pub last_fit: Option<&'a str>,
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
        stream: crate::engine::batch_stream(RecordBatch::new_empty(schema)),
        side: Some((MODEL_METRICS, metrics_batch(run_id, model, &[row]))),
        summary: format!("not fitted, the table is empty: {why}"),
        fit: None,
        periods_only: false,
    }
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
            did_you_mean(name, schema.fields().iter().map(|f| f.name().as_str()))
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
            did_you_mean(name, schema.fields().iter().map(|f| f.name().as_str()))
                .map(|n| format!("did you mean `{n}`?")),
        ));
    }
}
