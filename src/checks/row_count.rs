//! `row_count_change`: each run period's rows against the period before it.
//! The counts come from the Delta log's per-file row counts when the table
//! is partitioned by the checked column (no data read: a scan grouped the
//! whole table after every load, which grows with the history); otherwise
//! from a scan. Both feed the same comparison, so the words and the
//! arithmetic are the same either way.

use crate::engine::{ident, literal as text};
use crate::period::Period;
use crate::warehouse::{Result, Warehouse, changes};
use std::collections::BTreeMap;

/// The months a check compares: each run period and the one before it.
fn pairs(periods: &[Period]) -> Vec<(String, String)> {
    periods
        .iter()
        .map(|p| (p.to_string(), p.prev().to_string()))
        .collect()
}

/// The rows of each month the check compares, from the Delta log of
/// `table`; `None` when the log cannot say (not partitioned by `column`,
/// a file without a row count, or a file with no partition value), and
/// the rows must be counted by a scan.
pub async fn from_log(
    wh: &Warehouse,
    table: &str,
    column: &str,
    periods: &[Period],
) -> Result<Option<BTreeMap<String, Option<u64>>>> {
    let Some(rows) = changes::rows(wh, table, column).await? else {
        return Ok(None);
    };
    // Rows outside any partition are rows the log cannot place in a month.
    if rows.other > 0 {
        return Ok(None);
    }
    // The scan groups by the value's first 7 characters; so do these.
    let mut by_month: BTreeMap<String, u64> = BTreeMap::new();
    for (p, n) in rows.by_partition {
        *by_month.entry(p.chars().take(7).collect()).or_default() += n;
    }
    let mut out = BTreeMap::new();
    for (p, q) in pairs(periods) {
        for m in [p, q] {
            // A month with no rows is no group in the scan: absent, not 0.
            let n = by_month.get(&m).copied().filter(|n| *n > 0);
            out.insert(m, n);
        }
    }
    Ok(Some(out))
}

/// One query returning `failing` (BIGINT) and `detail` (text): with
/// `counts` (from [`from_log`]) it reads no table, else it scans `table`.
pub fn sql(
    table: &str,
    column: &str,
    max_change: f64,
    periods: &[Period],
    counts: Option<&BTreeMap<String, Option<u64>>>,
) -> String {
    let pairs = pairs(periods);
    if pairs.is_empty() {
        return "SELECT CAST(0 AS BIGINT) AS failing, 'no period in this run' AS detail".into();
    }
    let keys = pairs
        .iter()
        .map(|(p, q)| format!("({}, {})", text(p), text(q)))
        .collect::<Vec<_>>()
        .join(", ");
    let counts = match counts {
        // Never empty: every pair's two months are in it.
        Some(c) => {
            let rows = c
                .iter()
                .map(|(m, n)| {
                    let n = n.map_or("NULL".to_string(), |n| n.to_string());
                    format!("({}, CAST({n} AS BIGINT))", text(m))
                })
                .collect::<Vec<_>>()
                .join(", ");
            format!("SELECT column1 AS p, column2 AS n FROM (VALUES {rows})")
        }
        None => format!(
            "SELECT substr(CAST(x.{c} AS VARCHAR), 1, 7) AS p, count(*) AS n FROM {t} x GROUP BY 1",
            c = ident(column),
            t = ident(table),
        ),
    };
    format!(
        "WITH counts AS ({counts}), \
         pairs AS (SELECT column1 AS p, column2 AS q FROM (VALUES {keys})), \
         cmp AS (SELECT pairs.p, coalesce(a.n, 0) AS n, b.n AS before FROM pairs LEFT JOIN counts a ON a.p = pairs.p LEFT JOIN counts b ON b.p = pairs.q) \
         SELECT CAST(sum(CASE WHEN before > 0 AND abs(n - before) > {max_change} * before THEN 1 ELSE 0 END) AS BIGINT) AS failing, \
         string_agg(concat(p, ': ', CAST(n AS VARCHAR), CASE WHEN before IS NULL THEN ' (no previous period)' ELSE concat(' vs ', CAST(before AS VARCHAR), ' (', CAST(round(100.0 * (n - before) / before, 1) AS VARCHAR), '%)') END), '; ' ORDER BY p) AS detail \
         FROM cmp"
    )
}
