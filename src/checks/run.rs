//! Running checks: one query per check, counting the rows (or periods)
//! that break it.

use super::{Check, CheckKind, Severity};
use crate::engine::{ident, literal as text};
use crate::period::Period;
use crate::warehouse::Warehouse;
use chrono::TimeZone;
use datafusion::arrow::array::{
    Array, ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::sync::{Arc, LazyLock};

impl Check {
    /// A short name, e.g. `unique(txn_id)`.
    pub fn name(&self) -> String {
        match &self.kind {
            CheckKind::NotNull { column } => format!("not_null({column})"),
            CheckKind::Unique { columns } => format!("unique({})", columns.join(", ")),
            CheckKind::AcceptedValues { column, .. } => format!("accepted_values({column})"),
            CheckKind::Range { column, .. } => format!("range({column})"),
            CheckKind::Relationships {
                column,
                table,
                to_column,
            } => format!("relationships({column} → {table}.{to_column})"),
            CheckKind::Freshness { column, .. } => format!("freshness({column})"),
            CheckKind::RowCountChange { .. } => "row_count_change".into(),
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            CheckKind::NotNull { .. } => "not_null",
            CheckKind::Unique { .. } => "unique",
            CheckKind::AcceptedValues { .. } => "accepted_values",
            CheckKind::Range { .. } => "range",
            CheckKind::Relationships { .. } => "relationships",
            CheckKind::Freshness { .. } => "freshness",
            CheckKind::RowCountChange { .. } => "row_count_change",
        }
    }

    /// The rows this check looks at: the run's periods of a periodic
    /// source, else the whole table.
    fn scope(&self, periods: &[Period]) -> String {
        let t = ident(&self.table);
        if self.periodic && !periods.is_empty() {
            let list = periods
                .iter()
                .map(|p| text(&p.to_string()))
                .collect::<Vec<_>>()
                .join(", ");
            format!("(SELECT * FROM {t} WHERE period IN ({list}))")
        } else {
            format!("(SELECT * FROM {t})")
        }
    }

    /// A result's words: with an example value (`with_example`, a SQL
    /// expression), unless the column is personal (then `plain` alone).
    fn example(&self, plain: &str, with_example: &str) -> String {
        if self.personal {
            text(&format!("{plain} (values not shown: personal data)"))
        } else {
            with_example.to_string()
        }
    }

    /// One query returning `failing` (BIGINT) and `detail` (text).
    fn sql(&self, periods: &[Period], reference_end: &str) -> String {
        let t = self.scope(periods);
        match &self.kind {
            CheckKind::NotNull { column } => format!(
                "SELECT count(*) AS failing, 'rows with no value' AS detail FROM {t} x WHERE x.{} IS NULL",
                ident(column)
            ),
            CheckKind::Unique { columns } => {
                let cols = columns
                    .iter()
                    .map(|c| ident(c))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "SELECT count(*) AS failing, 'values that appear more than once' AS detail FROM (SELECT {cols} FROM {t} x GROUP BY {cols} HAVING count(*) > 1) d"
                )
            }
            CheckKind::AcceptedValues { column, values } => {
                let list = values
                    .iter()
                    .map(|v| text(v))
                    .collect::<Vec<_>>()
                    .join(", ");
                let c = ident(column);
                let detail = self.example(
                    "rows outside the accepted values",
                    &format!("concat('rows outside the accepted values; e.g. ', coalesce(min(CAST(x.{c} AS VARCHAR)), ''))"),
                );
                format!(
                    "SELECT count(*) AS failing, {detail} AS detail FROM {t} x WHERE x.{c} IS NOT NULL AND CAST(x.{c} AS VARCHAR) NOT IN ({list})"
                )
            }
            CheckKind::Range { column, min, max } => {
                let c = ident(column);
                let mut conds = Vec::new();
                if let Some(lo) = min {
                    conds.push(format!("CAST(x.{c} AS DOUBLE) < {lo}"));
                }
                if let Some(hi) = max {
                    conds.push(format!("CAST(x.{c} AS DOUBLE) > {hi}"));
                }
                let detail = self.example(
                    "rows out of range",
                    &format!("concat('rows out of range; lowest ', coalesce(CAST(min(x.{c}) AS VARCHAR), '-'), ', highest ', coalesce(CAST(max(x.{c}) AS VARCHAR), '-'))"),
                );
                format!(
                    "SELECT count(*) AS failing, {detail} AS detail FROM {t} x WHERE {}",
                    if conds.is_empty() {
                        "false".into()
                    } else {
                        conds.join(" OR ")
                    }
                )
            }
            CheckKind::Relationships {
                column,
                table,
                to_column,
            } => {
                let c = ident(column);
                let detail = self.example(
                    &format!("rows whose value is not in {table}.{to_column}"),
                    &format!("concat('rows whose value is not in {table}.{to_column}; e.g. ', coalesce(min(CAST(x.{c} AS VARCHAR)), ''))"),
                );
                format!(
                    "SELECT count(*) AS failing, {detail} AS detail FROM {t} x WHERE x.{c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {r} y WHERE y.{rc} = x.{c})",
                    r = ident(table),
                    rc = ident(to_column),
                )
            }
            CheckKind::Freshness {
                column,
                max_age_hours,
            } => {
                let c = ident(column);
                let age = format!(
                    "(CAST(to_unixtime(TIMESTAMP {reference_end}) AS DOUBLE) - CAST(to_unixtime(max(x.{c})) AS DOUBLE)) / 3600.0"
                );
                format!(
                    "SELECT CASE WHEN max(x.{c}) IS NULL OR {age} > {max_age_hours} THEN 1 ELSE 0 END AS failing, \
                     CASE WHEN max(x.{c}) IS NULL THEN 'no rows' \
                     ELSE concat('newest ', CAST(max(x.{c}) AS VARCHAR), ' is ', CAST(round({age}, 1) AS VARCHAR), ' h old at ', {reference_end}, ' (limit {max_age_hours} h)') END AS detail \
                     FROM {t} x"
                )
            }
            CheckKind::RowCountChange { column, max_change } => {
                super::row_count::sql(&self.table, column, *max_change, periods, None)
            }
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckResult {
    pub table: String,
    pub check: String,
    pub kind: String,
    pub severity: Severity,
    /// `pass`, `warn` or `fail`.
    pub status: String,
    /// Rows (periods, for row_count_change; 1 for freshness) breaking it.
    pub failing: i64,
    pub detail: String,
}

/// The moment freshness is measured at: the end of the run's last period in
/// the business time zone, or now if that is earlier.
pub fn reference_end(periods: &[Period], tz: chrono_tz::Tz) -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    let Some(last) = periods.iter().max() else {
        return now;
    };
    let next = last.next();
    let end = tz
        .with_ymd_and_hms(next.year, next.month, 1, 0, 0, 0)
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or(now);
    end.min(now)
}

/// Run every check against the warehouse as it stands.
pub async fn run(
    checks: &[Check],
    wh: &Warehouse,
    periods: &[Period],
    tz: chrono_tz::Tz,
    session: &dyn Fn() -> datafusion::prelude::SessionContext,
) -> crate::warehouse::Result<Vec<CheckResult>> {
    let end = reference_end(periods, tz);
    let end_sql = text(&end.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    let mut out = Vec::with_capacity(checks.len());
    for c in checks {
        // A cluster's session is shared by the checks: each replaces the
        // tables it reads.
        let ctx = session();
        let counts = match &c.kind {
            CheckKind::RowCountChange { column, .. } => {
                super::row_count::from_log(wh, &c.table, column, periods).await?
            }
            _ => None,
        };
        let sql = match (&c.kind, counts) {
            // Counts from the log read no table.
            (CheckKind::RowCountChange { column, max_change }, Some(counts)) => {
                super::row_count::sql(&c.table, column, *max_change, periods, Some(&counts))
            }
            _ => {
                ctx.deregister_table(c.table.as_str())?;
                ctx.register_table(c.table.as_str(), wh.provider(&c.table).await?)?;
                c.sql(periods, &end_sql)
            }
        };
        if let CheckKind::Relationships { table, .. } = &c.kind
            && table != &c.table
        {
            ctx.deregister_table(table.as_str())?;
            ctx.register_table(table.as_str(), wh.provider(table).await?)?;
        }
        let batches = ctx.sql(&sql).await?.collect().await?;
        let (mut failing, mut detail) = (0i64, String::new());
        for b in &batches {
            if b.num_rows() == 0 {
                continue;
            }
            let n = cast(b.column(0), &DataType::Int64)
                .map_err(datafusion::error::DataFusionError::from)?;
            let d = cast(b.column(1), &DataType::Utf8)
                .map_err(datafusion::error::DataFusionError::from)?;
            if let Some(n) = n.as_any().downcast_ref::<Int64Array>()
                && n.is_valid(0)
            {
                failing += n.value(0);
            }
            if let Some(d) = d.as_any().downcast_ref::<StringArray>()
                && d.is_valid(0)
            {
                detail = d.value(0).to_string();
            }
        }
        // Examples only mean something when rows fail; freshness and row
        // counts always say what they measured.
        let measured = matches!(
            c.kind,
            CheckKind::Freshness { .. } | CheckKind::RowCountChange { .. }
        );
        if failing == 0 && !measured {
            detail.clear();
        }
        let status = match (failing > 0, c.severity) {
            (false, _) => "pass",
            (true, Severity::Warn) => "warn",
            (true, Severity::Error) => "fail",
        };
        out.push(CheckResult {
            table: c.table.clone(),
            check: c.name(),
            kind: c.kind_name().into(),
            severity: c.severity,
            status: status.into(),
            failing,
            detail,
        });
    }
    Ok(out)
}

pub static CHECKS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new(
            "checked_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("periods", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("check_name", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("failing", DataType::Int64, false),
        Field::new("detail", DataType::Utf8, false),
    ]))
});

pub fn checks_batch(run_id: &str, periods: &str, results: &[CheckResult]) -> RecordBatch {
    let n = results.len();
    let rep = |v: &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(v, n)))
    };
    let col = |f: fn(&CheckResult) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(results.iter().map(f)))
    };
    let now = chrono::Utc::now().timestamp_micros();
    let cols: Vec<ArrayRef> = vec![
        rep(run_id),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(now, n))
                .with_timezone("UTC"),
        ),
        rep(periods),
        col(|r| &r.table),
        col(|r| &r.check),
        col(|r| &r.kind),
        Arc::new(StringArray::from_iter_values(results.iter().map(
            |r| match r.severity {
                Severity::Warn => "warn",
                Severity::Error => "error",
            },
        ))),
        col(|r| &r.status),
        Arc::new(Int64Array::from_iter_values(
            results.iter().map(|r| r.failing),
        )),
        col(|r| &r.detail),
    ];
    RecordBatch::try_new(CHECKS_SCHEMA.clone(), cols)
        .unwrap_or_else(|e| unreachable!("checks schema: {e}"))
}
