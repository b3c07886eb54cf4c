//! Data-quality checks declared in the YAML (dbt-style tests) on sources
//! and models: compiled against the tables' schemas ([`compile`]), run as
//! one SQL query each over the warehouse after the run's loads and models
//! ([`run`]), results in `_checks`. A failed `error` check fails the run,
//! which is then rolled back.

mod compile;
mod row_count;
mod run;
#[cfg(test)]
mod tests;

pub use compile::compile;
pub use run::{CHECKS_SCHEMA, CheckResult, checks_batch, reference_end, run};

use serde::Deserialize;

/// One data-quality check on a table, like a dbt test:
/// `{check: not_null, column: customer_id, severity: warn}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// `not_null`, `unique`, `accepted_values`, `range`, `relationships`,
    /// `freshness` or `row_count_change`.
    pub check: String,
    pub column: Option<String>,
    /// `unique` over several columns.
    pub columns: Option<Vec<String>>,
    /// `accepted_values`.
    pub values: Option<Vec<String>>,
    /// `range` (inclusive).
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// `relationships`: `table.column` that must hold every value.
    pub to: Option<String>,
    /// `freshness`: the newest value may be at most this old, measured at
    /// the end of the run's last period (or now, if earlier).
    pub max_age_hours: Option<f64>,
    /// `row_count_change`: the largest allowed change against the previous
    /// period, as a fraction (0.5 = ±50%).
    pub max_change: Option<f64>,
    /// `error` (default: the run fails and is rolled back) or `warn`.
    pub severity: Option<String>,
}

pub const CHECKS: &str = "_checks";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    NotNull {
        column: String,
    },
    Unique {
        columns: Vec<String>,
    },
    AcceptedValues {
        column: String,
        values: Vec<String>,
    },
    Range {
        column: String,
        min: Option<f64>,
        max: Option<f64>,
    },
    Relationships {
        column: String,
        table: String,
        to_column: String,
    },
    Freshness {
        column: String,
        max_age_hours: f64,
    },
    RowCountChange {
        column: String,
        max_change: f64,
    },
}

/// A compiled check on one table.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub table: String,
    pub kind: CheckKind,
    pub severity: Severity,
    /// Only the run's periods of a periodic source are checked.
    pub periodic: bool,
    /// The checked column holds personal data: the result says how many
    /// rows fail, never which values (`_checks` and the run's output are
    /// read unmasked).
    pub personal: bool,
}

impl CheckKind {
    /// The column a check reads values of, if it has one.
    pub fn column(&self) -> Option<&str> {
        match self {
            CheckKind::NotNull { column }
            | CheckKind::AcceptedValues { column, .. }
            | CheckKind::Range { column, .. }
            | CheckKind::Relationships { column, .. }
            | CheckKind::Freshness { column, .. }
            | CheckKind::RowCountChange { column, .. } => Some(column),
            CheckKind::Unique { .. } => None,
        }
    }
}
