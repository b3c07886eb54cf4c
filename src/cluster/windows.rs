//! Windows whose input order a stage boundary would lose. DataFusion plans
//! `SUM(…) OVER (PARTITION BY period)` over rows filtered to one month with
//! no sort at all: `period` is a constant there, which the filter proves.
//! Ballista then cuts the plan at the shuffle below the window, and the
//! executor's copy of the window sees only a shuffle reader, which proves
//! nothing, and fails ("All partition by columns should have an ordering").
//! Every rebuild of one month, every part of a model built in parts, and a
//! reader's `WHERE period = …` hit it. So on the scheduler, after
//! DataFusion's own rules, each window whose partition keys are not in its
//! input's own sort order gets that sort, in the window's stage.

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_expr::{LexOrdering, PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowAggExec, WindowExpr};
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct SortWindowInputs;

impl PhysicalOptimizerRule for SortWindowInputs {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let exprs = if let Some(w) = node.downcast_ref::<WindowAggExec>() {
                w.window_expr()
            } else if let Some(w) = node.downcast_ref::<BoundedWindowAggExec>() {
                w.window_expr()
            } else {
                return Ok(Transformed::no(node));
            };
            let Some(first) = exprs.first() else {
                return Ok(Transformed::no(node));
            };
            let input = node.children()[0].clone();
            if first.partition_by().is_empty() || leads_with(&input, first.partition_by()) {
                return Ok(Transformed::no(node));
            }
            let sorted = sorted_for(first.as_ref(), input);
            // Recomputed: the window's order mode now rests on the sort.
            datafusion::physical_plan::replace_children_if_necessary(node, vec![sorted])
                .map(Transformed::yes)
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "touchpoint_sort_window_inputs"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Whether `input`'s own sort order starts with `keys`, in any order:
/// what survives a stage boundary, unlike a constant a filter proved.
fn leads_with(input: &Arc<dyn ExecutionPlan>, keys: &[Arc<dyn PhysicalExpr>]) -> bool {
    let Some(order) = input.output_ordering() else {
        return false;
    };
    order.len() >= keys.len()
        && keys.iter().all(|k| {
            order
                .iter()
                .take(keys.len())
                .any(|s| s.expr.as_ref() == k.as_ref())
        })
}

/// `input` sorted by the window's partition keys then its own order (a
/// plain per-partition sort DataFusion put there is replaced, not stacked
/// on; one that merges partitions or keeps a top few stays).
fn sorted_for(w: &dyn WindowExpr, input: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    let below = match input.downcast_ref::<SortExec>() {
        Some(s) if s.preserve_partitioning() && s.fetch().is_none() => s.input().clone(),
        _ => input,
    };
    let mut keys: Vec<PhysicalSortExpr> = w
        .partition_by()
        .iter()
        .map(|e| PhysicalSortExpr::new_default(e.clone()))
        .collect();
    for o in w.order_by() {
        if !keys.iter().any(|k| k.expr.as_ref() == o.expr.as_ref()) {
            keys.push(o.clone());
        }
    }
    match LexOrdering::new(keys) {
        Some(order) => Arc::new(SortExec::new(order, below).with_preserve_partitioning(true)),
        None => below,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::physical_plan::displayable;

    async fn plan(sql: &str) -> Arc<dyn ExecutionPlan> {
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.sql("CREATE TABLE t (period TEXT, tier TEXT, x INT) AS VALUES ('a', 'p', 1), ('a', 'q', 2), ('b', 'p', 3)")
            .await
            .expect("table");
        let df = ctx.sql(sql).await.expect("plan");
        df.create_physical_plan().await.expect("physical")
    }

    fn text(p: &Arc<dyn ExecutionPlan>) -> String {
        displayable(p.as_ref()).indent(false).to_string()
    }

    /// The line below the window's: what it reads.
    fn below_window(p: &str) -> String {
        let lines: Vec<&str> = p.lines().collect();
        let i = lines
            .iter()
            .position(|l| l.contains("WindowAggExec"))
            .expect("a window");
        lines[i + 1].trim().to_string()
    }

    #[tokio::test]
    async fn a_window_over_one_month_gets_its_sort() {
        let p = plan(
            "SELECT period, tier, COUNT(*) AS n, SUM(COUNT(*)) OVER (PARTITION BY period) AS t \
             FROM t WHERE period = 'a' GROUP BY period, tier",
        )
        .await;
        // DataFusion's plan: no sort under the window (`period` is constant).
        assert!(
            !below_window(&text(&p)).starts_with("SortExec"),
            "{}",
            text(&p)
        );
        let fixed = SortWindowInputs
            .optimize(p, &ConfigOptions::default())
            .expect("rule");
        let shown = text(&fixed);
        assert!(
            below_window(&shown).starts_with("SortExec: expr=[period@0 ASC"),
            "{shown}"
        );
        assert!(
            below_window(&shown).contains("preserve_partitioning=[true]"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn a_window_already_sorted_is_left_alone() {
        let p = plan(
            "SELECT period, x, ROW_NUMBER() OVER (PARTITION BY period ORDER BY x) AS r FROM t",
        )
        .await;
        let before = text(&p);
        let after = text(
            &SortWindowInputs
                .optimize(p, &ConfigOptions::default())
                .expect("rule"),
        );
        assert_eq!(before, after);
    }
}
