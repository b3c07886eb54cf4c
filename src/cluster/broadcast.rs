//! Joins with a small side broadcast it. Ballista plans every equi-join as a
//! sort-merge join (DataFusion's hash join cannot spill), including a month
//! of customers joined to the five rows of `tier_rules` on `tier_rank`: the
//! shuffle then sends the whole month to the five partitions that hold a
//! tier, and each of them sorts a fifth of the bank, so what one task must
//! sort grows with the customers. A side whose estimated size is at most
//! [`ROWS`] rows (and [`BYTES`] when its size is known) is instead the build
//! side of a `CollectLeft` hash join: Ballista writes it once as a broadcast
//! stage, every task of the other side holds it whole (bounded by those
//! limits) and streams its own rows past it unsorted. Joins of two large
//! sides stay sort-merge joins, which spill.
//!
//! Runs on the scheduler right after DataFusion's join selection, before
//! the rule that adds shuffles and sorts (`EnsureRequirements`): it then
//! adds what the hash join needs, and never the merge join's sorts.

use datafusion::common::JoinType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode, SortMergeJoinExec};
use datafusion::physical_plan::{ExecutionPlan, StatisticsArgs, StatisticsContext};
use std::sync::Arc;

/// The most rows a broadcast side may be estimated to hold: a bank's
/// branches, ATMs, products and tiers, never its customers (past the
/// smallest banks) or a month of their activity.
pub const ROWS: usize = 20_000;
/// The most bytes, where the estimate knows them.
pub const BYTES: usize = 8 << 20;

type Rule = Arc<dyn PhysicalOptimizerRule + Send + Sync>;

/// `rules` with this one after DataFusion's join selection (first when
/// there is none).
pub fn placed_in(mut rules: Vec<Rule>) -> Vec<Rule> {
    let at = rules
        .iter()
        .position(|r| r.name() == "join_selection")
        .map_or(0, |i| i + 1);
    rules.insert(at, Arc::new(BroadcastSmallSides));
    rules
}

#[derive(Debug, Default)]
pub struct BroadcastSmallSides;

impl PhysicalOptimizerRule for BroadcastSmallSides {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(join) = node.downcast_ref::<SortMergeJoinExec>() else {
                return Ok(Transformed::no(node));
            };
            match broadcast(join)? {
                Some(hash) => Ok(Transformed::yes(hash)),
                None => Ok(Transformed::no(node)),
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "touchpoint_broadcast_small_sides"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `join` as a hash join building its small side, when one side is small
/// and broadcasting it is correct for the join type.
fn broadcast(join: &SortMergeJoinExec) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let (left, right) = (rows_if_small(join.left()), rows_if_small(join.right()));
    // The build side is the smaller of the small ones.
    let build_right = match (left, right) {
        (Some(l), Some(r)) => r < l,
        (None, Some(_)) => true,
        (Some(_), None) => false,
        (None, None) => return Ok(None),
    };
    let join_type = join.join_type();
    let built_type = if build_right {
        if !join_type.supports_swap() {
            return Ok(None);
        }
        join_type.swap()
    } else {
        join_type
    };
    if !probe_driven(built_type) {
        return Ok(None);
    }
    let hash = HashJoinExec::try_new(
        join.left().clone(),
        join.right().clone(),
        join.on().to_vec(),
        join.filter().clone(),
        &join_type,
        None,
        PartitionMode::CollectLeft,
        join.null_equality(),
        false,
    )?;
    Ok(Some(if build_right {
        hash.swap_inputs(PartitionMode::CollectLeft)?
    } else {
        Arc::new(hash)
    }))
}

/// Whether a join whose left side is held whole by every task emits each
/// row once: only when every output row comes from one row of the right
/// side. A left row's "no match" (outer, anti, semi, mark) would be decided
/// by each task alone, and emitted by each.
fn probe_driven(t: JoinType) -> bool {
    matches!(
        t,
        JoinType::Inner
            | JoinType::Right
            | JoinType::RightSemi
            | JoinType::RightAnti
            | JoinType::RightMark
    )
}

/// The estimated rows of `side` when it is known and within the limits.
/// An estimate of nothing is no estimate: Ballista's planner takes a build
/// side of 0 rows and 0 bytes for one of unknown size and turns the join
/// back into a partitioned one after the plan's partitioning was settled
/// (a nested-loop join above it then fails: "the output partition count
/// of the left child must be 1").
fn rows_if_small(side: &Arc<dyn ExecutionPlan>) -> Option<usize> {
    let stats = StatisticsContext::new()
        .compute(side.as_ref(), &StatisticsArgs::new())
        .ok()?;
    let rows = *stats.num_rows.get_value()?;
    let bytes_fit = match stats.total_byte_size.get_value() {
        Some(b) if *b > 0 => *b <= BYTES,
        _ => true,
    };
    (rows > 0 && rows <= ROWS && bytes_fit).then_some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// A session planning joins as Ballista does (merge joins), with or
    /// without this rule; `big` has 30,000 rows, `small` five.
    async fn session(with_rule: bool) -> SessionContext {
        let config = SessionConfig::new()
            .with_target_partitions(4)
            .set_bool("datafusion.optimizer.prefer_hash_join", false);
        let rules = PhysicalOptimizer::new().rules;
        let rules = if with_rule { placed_in(rules) } else { rules };
        let ctx = SessionContext::new_with_state(
            SessionStateBuilder::new()
                .with_default_features()
                .with_config(config)
                .with_physical_optimizer_rules(rules)
                .build(),
        );
        for sql in [
            "CREATE TABLE big AS SELECT v AS id, v % 7 AS k FROM generate_series(1, 30000) s(v)",
            "CREATE TABLE small (k BIGINT, name TEXT) AS VALUES (0, 'a'), (1, 'b'), (2, 'c'), (3, 'd'), (9, 'z')",
            "CREATE TABLE none (k BIGINT, name TEXT)",
        ] {
            ctx.sql(sql)
                .await
                .expect("sql")
                .collect()
                .await
                .expect("create");
        }
        ctx
    }

    async fn plan_and_rows(ctx: &SessionContext, sql: &str) -> (String, String) {
        let df = ctx.sql(sql).await.expect("sql");
        let plan = df.clone().create_physical_plan().await.expect("plan");
        let shown = displayable(plan.as_ref()).indent(false).to_string();
        let rows = pretty_format_batches(&df.collect().await.expect("run"))
            .expect("format")
            .to_string();
        (shown, rows)
    }

    /// Whether the printed table has a row of exactly `cells`.
    fn has_row(rows: &str, cells: &[&str]) -> bool {
        rows.lines().any(|l| {
            let got: Vec<&str> = l.split('|').map(str::trim).collect();
            got.len() == cells.len() + 2 && got[1..=cells.len()] == *cells
        })
    }

    /// Each join, planned with the rule and without, gives the same rows
    /// (every query here orders its rows or returns one).
    async fn both(sql: &str) -> (String, String) {
        let (with, rows) = plan_and_rows(&session(true).await, sql).await;
        let (_, expected) = plan_and_rows(&session(false).await, sql).await;
        assert_eq!(rows, expected, "{sql}\n{with}");
        (with, rows)
    }

    #[tokio::test]
    async fn a_join_to_a_few_rows_builds_them_once_unsorted() {
        let (plan, rows) = both(
            "SELECT s.name, COUNT(*) AS n FROM big b JOIN small s ON b.k = s.k \
             GROUP BY s.name ORDER BY s.name",
        )
        .await;
        assert!(
            plan.contains("HashJoinExec: mode=CollectLeft, join_type=Inner"),
            "{plan}"
        );
        assert!(!plan.contains("SortMergeJoinExec"), "{plan}");
        // 30,000 = 7 × 4285 + 5: residues 1..5 get 4286, 0 and 6 get 4285.
        for (name, n) in [("a", 4285), ("b", 4286), ("c", 4286), ("d", 4286)] {
            assert!(has_row(&rows, &[name, &n.to_string()]), "{rows}");
        }
        assert!(!rows.contains("| z"), "{rows}");
    }

    #[tokio::test]
    async fn a_small_right_side_of_a_left_join_is_built_and_the_big_side_kept() {
        let (plan, rows) = both(
            "SELECT COUNT(*) AS n, COUNT(s.name) AS named FROM big b LEFT JOIN small s ON b.k = s.k",
        )
        .await;
        assert!(
            plan.contains("HashJoinExec: mode=CollectLeft, join_type=Right"),
            "{plan}"
        );
        // Every big row once; those with k in 0..3 named.
        assert!(has_row(&rows, &["30000", "17143"]), "{rows}");
    }

    #[tokio::test]
    async fn a_small_side_whose_unmatched_rows_are_kept_is_not_broadcast() {
        // Every task would emit `z` (no match in its own share of `big`).
        for sql in [
            "SELECT s.name, COUNT(b.id) AS n FROM small s LEFT JOIN big b ON b.k = s.k GROUP BY s.name ORDER BY s.name",
            "SELECT s.name, COUNT(b.id) AS n FROM big b FULL JOIN small s ON b.k = s.k GROUP BY s.name ORDER BY s.name",
            "SELECT s.name FROM small s WHERE EXISTS (SELECT 1 FROM big b WHERE b.k = s.k) ORDER BY s.name",
        ] {
            let (plan, rows) = both(sql).await;
            assert!(!plan.contains("mode=CollectLeft"), "{sql}\n{plan}");
            if sql.contains("LEFT JOIN") || sql.contains("FULL JOIN") {
                assert!(has_row(&rows, &["z", "0"]), "{rows}");
            }
        }
    }

    /// An estimate of 0 rows is taken for no estimate, as Ballista does.
    #[tokio::test]
    async fn a_side_estimated_empty_is_not_broadcast() {
        let (plan, rows) = both("SELECT COUNT(*) AS n FROM big b JOIN none z ON b.k = z.k").await;
        assert!(plan.contains("SortMergeJoinExec"), "{plan}");
        assert!(has_row(&rows, &["0"]), "{rows}");
    }

    #[tokio::test]
    async fn two_large_sides_stay_a_merge_join() {
        let (plan, rows) =
            both("SELECT COUNT(*) AS n FROM big a JOIN big b ON a.id = b.k + 1").await;
        assert!(plan.contains("SortMergeJoinExec"), "{plan}");
        assert!(!plan.contains("HashJoinExec"), "{plan}");
        // b.k + 1 is 1..7: a.id from 1 to 7 matches each b row once.
        assert!(has_row(&rows, &["30000"]), "{rows}");
    }
}
