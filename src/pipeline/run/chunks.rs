//! A model rebuilt by period whose inputs are too big for the memory pool
//! in one query is built a few months at a time: each part reads only its
//! months' window of every input partitioned by period (as an incremental
//! rebuild does) and keeps only its months' rows, and the parts' rows are
//! written in the one commit the whole query's would have been. So the
//! memory a model needs follows the rows of a few months, not of the whole
//! history: a hash join's build side and an aggregation's groups are one
//! part's. The row counts come from the Delta log (no data is read to
//! decide); the incremental-versus-full test holds the parts to the whole.
//! Parts that would read months again (a lookback) give way to one query
//! when its plan holds nothing that grows with its input ([`Split`]; the
//! build checks the plan).

use super::rebuild::{affected, window};
use crate::models::{Kind, Model, PERIOD, Reach};
use crate::pipeline::Result;
use crate::warehouse::Warehouse;
use crate::warehouse::changes::{self, Rows};
use std::collections::BTreeSet;

/// Bytes of the memory pool one input row may take, to size the parts:
/// a hash join's build side held ~115 bytes a row of `customer_month`
/// (113 MB for the 977k rows of one of two partitions), and the
/// aggregations, sorts and the probe side beside it need their share
/// (at 128 bytes a row, 2 months of 1M customers' surveys and months
/// exhausted the 512 MiB pool; at 512, 1M rows a part, none did).
const POOL_BYTES_PER_ROW: u64 = 512;

/// Sets the input rows one part may read, instead of the memory pool's
/// size divided by [`POOL_BYTES_PER_ROW`].
const PART_ROWS_VAR: &str = "TOUCHPOINT_PART_ROWS";

/// Parts that would read the inputs more than this many times over (a
/// long lookback: every month reads most of the history) are not worth
/// it: the model is built whole.
const MAX_REREAD: u64 = 3;

/// The parts to build `m` in, for a rebuild of `periods` (`None`: whole),
/// when its inputs' rows (`counted` when already read by
/// [`input_rows`]) are over what the pool holds; `None` when one
/// query does (or the log lacks the row counts, or a partition is not a
/// YYYY-MM month).
pub(super) async fn plan_for(
    wh: &Warehouse,
    m: &Model,
    reach: Reach,
    periods: Option<&BTreeSet<String>>,
    counted: Option<Vec<Rows>>,
) -> Result<Option<Split>> {
    let inputs = match counted {
        Some(c) => c,
        None => match input_rows(wh, m).await? {
            Some(c) => c,
            None => return Ok(None),
        },
    };
    let periods = match periods {
        Some(p) => p.clone(),
        // Every month whose window holds a row of an input: the whole
        // query's months (a month it could give rows for from no input
        // month would break the `incremental` declaration too).
        None => {
            let months: BTreeSet<String> = inputs
                .iter()
                .flat_map(|r| r.by_partition.keys().cloned())
                .collect();
            // Months after the last month of every input would be built
            // empty (as in an incremental rebuild): left out.
            match affected(&months, reach) {
                Some(mut p) => {
                    if let Some(last) = months.last() {
                        p.retain(|m| m <= last);
                    }
                    p
                }
                None => return Ok(None),
            }
        }
    };
    let budget = std::env::var(PART_ROWS_VAR)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| budget(crate::engine::memory_limit()));
    let parts = plan(&periods, reach, &inputs, budget);
    if parts.len() < 2 {
        return Ok(None);
    }
    let whole = rows_read(&window(&periods, reach), &inputs).max(1);
    let read = parts_read(&parts, reach, &inputs);
    Ok(Some(Split {
        parts,
        reread: read as f64 / whole as f64,
        budget,
    }))
}

/// A model's parts, and what they cost against one query.
pub(super) struct Split {
    pub parts: Vec<BTreeSet<String>>,
    /// The rows the parts read over the rows one query would: a month
    /// within the lookback of a part's first month, or an input not
    /// partitioned by period, is read again by every part.
    pub reread: f64,
    /// The input rows one part may read.
    pub budget: u64,
}

/// Each input's rows of `m`, by period; `None` when one's count is not in
/// the log.
pub(super) async fn input_rows(wh: &Warehouse, m: &Model) -> Result<Option<Vec<Rows>>> {
    let mut inputs = Vec::with_capacity(m.depends_on.len());
    for dep in &m.depends_on {
        match changes::rows(wh, dep, PERIOD).await? {
            Some(r) => inputs.push(r),
            None => return Ok(None),
        }
    }
    Ok(Some(inputs))
}

/// The input rows a build of `m` reads, of its inputs' `counted` rows
/// ([`input_rows`]): a SQL model rebuilt by period reads its `periods`'
/// window of every input partitioned by period, anything else every row.
pub(super) fn rows_to_read(m: &Model, periods: Option<&BTreeSet<String>>, counted: &[Rows]) -> u64 {
    let months = match (&m.kind, m.by_period, periods) {
        (Kind::Sql, Some(reach), Some(p)) => Some(window(p, reach)),
        _ => None,
    };
    reads(months.as_ref(), counted)
}

/// Rows of `inputs` read over `months` (`None`: every row).
fn reads(months: Option<&BTreeSet<String>>, inputs: &[Rows]) -> u64 {
    match months {
        Some(m) => rows_read(m, inputs),
        None => inputs
            .iter()
            .map(|r| r.other + r.by_partition.values().sum::<u64>())
            .sum(),
    }
}

/// Parts reading their inputs this much more than one query are built as
/// one query instead when its plan is bounded (see
/// [`crate::engine::footprint`]). One query's groupings are bigger and may
/// spill where a part's did not, so a small reread is worth its parts: at
/// 100k customers, `churn_rules`' 2 parts reading 1.2× over took 1.8 s
/// against 2.6 s for one query (its grouping spilled 305 MB), while
/// `channel_migration`'s 12 parts of a month, each also reading the month
/// before (1.9×), took 2.9 s against 1.1 s.
pub(super) const WHOLE_OVER_REREAD: f64 = 1.4;

impl Split {
    /// Whether one query would read markedly less than the parts.
    pub fn rereads(&self) -> bool {
        self.reread >= WHOLE_OVER_REREAD
    }
}

/// Input rows one part may read, for a pool of `pool` bytes.
pub(super) fn budget(pool: usize) -> u64 {
    (pool as u64 / POOL_BYTES_PER_ROW).max(1)
}

/// `periods` split into runs of consecutive months whose windows read at
/// most `budget` rows of `inputs` (a month whose window alone is over it
/// is a part by itself); one part when all of them fit, or when the parts
/// would read the inputs more than [`MAX_REREAD`] times over.
pub(super) fn plan(
    periods: &BTreeSet<String>,
    reach: Reach,
    inputs: &[Rows],
    budget: u64,
) -> Vec<BTreeSet<String>> {
    let whole = rows_read(&window(periods, reach), inputs);
    if whole <= budget || periods.len() < 2 {
        return vec![periods.clone()];
    }
    let mut parts: Vec<BTreeSet<String>> = Vec::new();
    let mut part = BTreeSet::new();
    for p in periods {
        let mut grown = part.clone();
        grown.insert(p.clone());
        if part.is_empty() || rows_read(&window(&grown, reach), inputs) <= budget {
            part = grown;
        } else {
            parts.push(std::mem::replace(&mut part, BTreeSet::from([p.clone()])));
        }
    }
    parts.push(part);
    if parts_read(&parts, reach, inputs) > MAX_REREAD.saturating_mul(whole) {
        return vec![periods.clone()];
    }
    parts
}

/// Rows all `parts` read together, each its months' window.
fn parts_read(parts: &[BTreeSet<String>], reach: Reach, inputs: &[Rows]) -> u64 {
    parts
        .iter()
        .map(|p| rows_read(&window(p, reach), inputs))
        .sum()
}

/// Rows a query over the `months` of every input reads (an input not
/// partitioned by period is read whole).
fn rows_read(months: &BTreeSet<String>, inputs: &[Rows]) -> u64 {
    inputs
        .iter()
        .map(|r| {
            r.other
                + months
                    .iter()
                    .filter_map(|m| r.by_partition.get(m))
                    .sum::<u64>()
        })
        .sum()
}

/// `2 parts (2024-01..2024-02, 2024-03)` for the run's message.
pub(super) fn describe(parts: &[BTreeSet<String>]) -> String {
    let shown: Vec<String> = parts
        .iter()
        .take(4)
        .map(|p| match (p.first(), p.last()) {
            (Some(a), Some(b)) if a != b => format!("{a}..{b}"),
            (Some(a), _) => a.clone(),
            _ => String::new(),
        })
        .collect();
    let more = parts.len().saturating_sub(shown.len());
    let tail = if more > 0 {
        format!(", and {more} more")
    } else {
        String::new()
    };
    format!("{} parts ({}{tail})", parts.len(), shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn months(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn monthly(rows: &[(&str, u64)], other: u64) -> Rows {
        Rows {
            by_partition: rows.iter().map(|(p, n)| (p.to_string(), *n)).collect(),
            other,
        }
    }

    const OWN: Reach = Reach {
        lookback: 0,
        lookahead: 0,
    };

    #[test]
    fn parts_hold_at_most_the_budget_of_rows() {
        let year: Vec<String> = (1..=6).map(|m| format!("2024-{m:02}")).collect();
        let all: BTreeSet<String> = year.iter().cloned().collect();
        let facts = monthly(
            &year.iter().map(|p| (p.as_str(), 100)).collect::<Vec<_>>(),
            0,
        );
        // 600 rows fit a budget of 600: one query.
        assert_eq!(
            plan(&all, OWN, std::slice::from_ref(&facts), 600),
            vec![all.clone()]
        );
        // 250: two months a part (200 rows), three parts.
        assert_eq!(
            plan(&all, OWN, std::slice::from_ref(&facts), 250),
            vec![
                months(&["2024-01", "2024-02"]),
                months(&["2024-03", "2024-04"]),
                months(&["2024-05", "2024-06"])
            ]
        );
        // A master table read whole by every part counts in each: 100 +
        // 100 a month fits two months in 300, not three.
        let master = monthly(&[], 100);
        assert_eq!(plan(&all, OWN, &[facts.clone(), master], 300).len(), 3);
        // A month over the budget alone is a part by itself.
        assert_eq!(plan(&all, OWN, std::slice::from_ref(&facts), 10).len(), 6);
    }

    #[test]
    fn a_lookback_reads_the_months_before_each_part() {
        let all = months(&["2024-01", "2024-02", "2024-03", "2024-04"]);
        let facts = monthly(
            &[
                ("2024-01", 100),
                ("2024-02", 100),
                ("2024-03", 100),
                ("2024-04", 100),
            ],
            0,
        );
        let back1 = Reach {
            lookback: 1,
            lookahead: 0,
        };
        // A part of months m..n reads m-1..n: January to March read 300
        // (there is no month before January); April reads March and April.
        assert_eq!(
            plan(&all, back1, std::slice::from_ref(&facts), 300),
            vec![
                months(&["2024-01", "2024-02", "2024-03"]),
                months(&["2024-04"])
            ]
        );
        // 250: January and February (200), then March (with February: 200),
        // then April.
        assert_eq!(
            plan(&all, back1, std::slice::from_ref(&facts), 250),
            vec![
                months(&["2024-01", "2024-02"]),
                months(&["2024-03"]),
                months(&["2024-04"])
            ]
        );
        // Twelve months back over eight months: a month a part, the parts
        // would read 100 + 200 + ... + 800 = 3,600 rows of 800, so the
        // model is built whole.
        let back12 = Reach {
            lookback: 12,
            lookahead: 0,
        };
        let eight: Vec<String> = (1..=8).map(|m| format!("2024-{m:02}")).collect();
        let all: BTreeSet<String> = eight.iter().cloned().collect();
        let facts = monthly(
            &eight.iter().map(|p| (p.as_str(), 100)).collect::<Vec<_>>(),
            0,
        );
        assert_eq!(plan(&all, back12, &[facts], 150), vec![all]);
    }

    /// A window reads its months of a monthly input and all of the rest;
    /// no window, every row.
    #[test]
    fn a_build_reads_its_window_or_everything() {
        let facts = monthly(&[("2024-01", 100), ("2024-02", 20), ("2024-03", 3)], 0);
        let master = monthly(&[], 1000);
        let inputs = [facts, master];
        let feb_mar = months(&["2024-02", "2024-03"]);
        assert_eq!(reads(Some(&feb_mar), &inputs), 1023);
        assert_eq!(reads(Some(&months(&["2023-12"])), &inputs), 1000);
        assert_eq!(reads(None, &inputs), 1123);
    }

    #[test]
    fn the_message_names_the_parts() {
        let parts = vec![
            months(&["2024-01", "2024-02"]),
            months(&["2024-03"]),
            months(&["2024-04"]),
            months(&["2024-05"]),
            months(&["2024-06"]),
        ];
        assert_eq!(
            describe(&parts),
            "5 parts (2024-01..2024-02, 2024-03, 2024-04, 2024-05, and 1 more)"
        );
    }
}
