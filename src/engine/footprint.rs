//! Whether a physical plan's memory stays within the memory pool however
//! many rows it reads.
//!
//! Sorts and groupings spill to disk when the pool is short; the rest of a
//! plan streams batch by batch, except what must be held whole: a join's
//! build side (hash, cross and nested-loop joins collect their left input),
//! a window over unbounded partitions, an aggregate whose state grows with
//! its group (a median keeps every value). A plan is bounded when every
//! operator is one that streams or spills, and every held side is known to
//! be small. Anything not known here counts as unbounded: the caller then
//! keeps the query's input small instead.

use datafusion::common::stats::Precision;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::joins::{CrossJoinExec, HashJoinExec, NestedLoopJoinExec};
use datafusion::physical_plan::{ExecutionPlan, StatisticsArgs, StatisticsContext};
use std::sync::Arc;

/// Operators that pass batches on, holding a bounded number of them.
const STREAMING: &[&str] = &[
    "DataSourceExec",
    "DeltaScan",
    "DeltaScanExec",
    "MetricObserverExec",
    "ColumnMappingExec",
    "ProjectionExec",
    "FilterExec",
    "RepartitionExec",
    "CoalesceBatchesExec",
    "CoalescePartitionsExec",
    "CooperativeExec",
    "UnionExec",
    "InterleaveExec",
    "SortPreservingMergeExec",
    "GlobalLimitExec",
    "LocalLimitExec",
    "EmptyExec",
    "PlaceholderRowExec",
    // A window over sorted input, emitting each partition as it ends.
    "BoundedWindowAggExec",
    // Runs each uncorrelated subquery once for its one value (more rows
    // are an error), then streams its input.
    "ScalarSubqueryExec",
    // touchpoint's own: a sort's input copied batch by batch, an
    // aggregation's input passed on without its order, and running
    // aggregates carried down sorted rows (see `compact`, `grouping_sets`,
    // `running_window`).
    "CompactedExec",
    "CarriedWindowExec",
    // Repeats each row of a batch in place (a batch's rows times the list).
    "UnnestExec",
    "UnorderedExec",
];

/// Aggregate functions whose state per group is a fixed size, so a
/// grouping of them spills like any other.
const FIXED_STATE: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "mean",
    "bool_and",
    "bool_or",
    "stddev",
    "stddev_pop",
    "var",
    "var_pop",
    "var_samp",
    "corr",
    "covar",
    "covar_pop",
    "covar_samp",
];

/// Why `plan` may hold more than the pool bounds, or `None` when every
/// operator streams or spills and every side a join holds has at most
/// `held_rows` rows by the plan's statistics.
pub fn unbounded(plan: &Arc<dyn ExecutionPlan>, held_rows: u64) -> Option<String> {
    // The joins' left input is the side they collect.
    let held = plan
        .downcast_ref::<HashJoinExec>()
        .map(|j| j.left())
        .or_else(|| plan.downcast_ref::<CrossJoinExec>().map(|j| j.left()))
        .or_else(|| plan.downcast_ref::<NestedLoopJoinExec>().map(|j| j.left()));
    if let Some(side) = held {
        let rows = StatisticsContext::new()
            .compute(side.as_ref(), &StatisticsArgs::new())
            .ok()
            .and_then(|s| match s.num_rows {
                Precision::Exact(n) | Precision::Inexact(n) => Some(n as u64),
                Precision::Absent => None,
            });
        match rows {
            Some(n) if n <= held_rows => {}
            Some(n) => return Some(format!("{} holds ~{n} rows", plan.name())),
            None => return Some(format!("{} holds a side of unknown size", plan.name())),
        }
    } else if let Some(a) = plan.downcast_ref::<AggregateExec>() {
        let growing = a.aggr_expr().iter().find(|f| {
            f.is_distinct() || !FIXED_STATE.contains(&f.fun().name().to_ascii_lowercase().as_str())
        });
        if let Some(f) = growing {
            return Some(format!("the aggregate {} keeps its values", f.name()));
        }
    } else if plan.name() == "SortExec" {
        // spills
    } else if !STREAMING.contains(&plan.name()) {
        return Some(format!("{} is not known to stream or spill", plan.name()));
    }
    plan.children()
        .into_iter()
        .find_map(|c| unbounded(c, held_rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn verdict(sql: &str, held_rows: u64) -> Option<String> {
        let ctx = crate::engine::session();
        for (name, rows) in [("facts", 5000), ("dim", 10)] {
            ctx.sql(&format!(
                "CREATE TABLE {name} AS SELECT value AS id, value % 7 AS k, \
                 CAST(value AS DOUBLE) AS x FROM generate_series(1, {rows})"
            ))
            .await
            .expect("create")
            .collect()
            .await
            .expect("created");
        }
        let plan = ctx
            .sql(sql)
            .await
            .expect("plans")
            .create_physical_plan()
            .await
            .expect("physical plan");
        unbounded(&plan, held_rows)
    }

    #[tokio::test]
    async fn groupings_and_sorts_are_bounded() {
        let sql = "SELECT k, COUNT(*), SUM(x), AVG(x), MAX(id) FROM facts GROUP BY k ORDER BY k";
        assert_eq!(verdict(sql, 100).await, None);
    }

    /// Rows repeated by `unnest` and carried down each key's rows (as
    /// `churn_rules` and `churn_features` list each month four times).
    #[tokio::test]
    async fn unnested_rows_and_running_values_are_bounded() {
        let sql = "SELECT k, id, unnest(make_array(0, 1, 2, 3)) AS s, \
                   MAX(x) OVER (PARTITION BY k ORDER BY id ROWS UNBOUNDED PRECEDING) AS m FROM facts";
        assert_eq!(verdict(sql, 100).await, None);
    }

    #[tokio::test]
    async fn a_join_holding_a_small_side_is_bounded_and_a_big_one_is_not() {
        let sql = "SELECT f.id, d.x FROM facts f JOIN dim d ON f.k = d.id";
        assert_eq!(verdict(sql, 100).await, None);
        // The same join with room for fewer rows than the smaller side has.
        let why = verdict(sql, 5).await.expect("unbounded");
        assert!(why.contains("HashJoinExec holds ~10 rows"), "{why}");
        let both_big = "SELECT a.id FROM facts a JOIN facts b ON a.id = b.k";
        assert!(verdict(both_big, 100).await.is_some());
    }

    #[tokio::test]
    async fn values_kept_per_group_are_unbounded() {
        let median = "SELECT k, median(x) FROM facts GROUP BY k";
        let why = verdict(median, 100).await.expect("unbounded");
        assert!(why.contains("median"), "{why}");
        // Two distinct counts keep a set of values per group (one alone is
        // planned as a grouping by the value, which is bounded).
        let distinct = "SELECT k, COUNT(DISTINCT id), COUNT(DISTINCT x) FROM facts GROUP BY k";
        assert!(verdict(distinct, 100).await.is_some());
        let one = "SELECT k, COUNT(DISTINCT id) FROM facts GROUP BY k";
        assert_eq!(verdict(one, 100).await, None);
    }

    #[tokio::test]
    async fn a_scalar_subquery_holds_one_value() {
        let sql = "SELECT id FROM facts WHERE x > (SELECT AVG(x) FROM facts)";
        assert_eq!(verdict(sql, 100).await, None);
    }

    #[tokio::test]
    async fn a_window_over_whole_partitions_is_unbounded() {
        let sql = "SELECT id, SUM(x) OVER (PARTITION BY k) FROM facts";
        let why = verdict(sql, 100).await.expect("unbounded");
        assert!(why.contains("WindowAggExec"), "{why}");
    }
}
