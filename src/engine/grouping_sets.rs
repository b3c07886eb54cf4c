//! GROUPING SETS aggregated without relying on the input's order.
//!
//! DataFusion 55 streams an aggregation whose input is sorted on a key that
//! every grouping set keeps (`ordering_mode=PartiallySorted`), emitting a
//! group once that key moves on. With grouping sets its partial stage
//! emits groups out of that order, and the final stage then emits the same
//! group twice (apache/datafusion#24421, fixed after 55 by planning such
//! aggregations without the order). Seen here: `rm_time` gave 151 rows
//! instead of 120 at 20k customers when planned for one partition (its
//! windows' sort by period feeds the grouping directly; with two partitions
//! a repartition between them hides the order). This rule does what the
//! upstream fix does: an aggregation with grouping sets reads its input
//! through [`Unordered`], which passes the batches on and claims no order.

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, InputOrderMode, PlanProperties,
};
use std::sync::Arc;

/// The rule (added after DataFusion's own, in every local session).
#[derive(Debug, Default)]
pub struct LinearGroupingSets;

impl PhysicalOptimizerRule for LinearGroupingSets {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Bottom up: the stages above a rewritten aggregation are rebuilt
        // over its (now unordered) output and plan without the order too.
        plan.transform_up(|node| {
            let Some(agg) = node.downcast_ref::<AggregateExec>() else {
                return Ok(Transformed::no(node));
            };
            if !agg.group_expr().has_grouping_set()
                || *agg.input_order_mode() == InputOrderMode::Linear
            {
                return Ok(Transformed::no(node));
            }
            let input: Arc<dyn ExecutionPlan> = Arc::new(Unordered::new(agg.input().clone()));
            Ok(Transformed::yes(node.clone().replace_children(
                vec![input],
                ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
            )?))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "linear_grouping_sets"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Its input's batches, with no order claimed.
#[derive(Debug)]
pub struct Unordered {
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl Unordered {
    pub fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        let p = input.properties();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(input.schema()),
            p.partitioning.clone(),
            p.emission_type,
            p.boundedness,
        );
        Unordered {
            input,
            properties: Arc::new(properties),
        }
    }
}

impl DisplayAs for Unordered {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "UnorderedExec")
    }
}

impl ExecutionPlan for Unordered {
    fn name(&self) -> &str {
        "UnorderedExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match children.into_iter().next() {
            Some(input) => Ok(Arc::new(Unordered::new(input))),
            None => Err(datafusion::common::internal_datafusion_err!(
                "UnorderedExec takes one input"
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionConfig;
    use std::sync::Arc;

    /// The shape of `rm_time`: a window sorts the rows by `p`, and a
    /// grouping with sets that all keep `p` reads them in that order. 8 × 5
    /// values of (p, a) and 3 of b, in batches of 7 rows: the sets
    /// (p, a), (p, b) and (p) have 40 + 24 + 8 = 72 groups, each once
    /// (without the rule: 78 rows, `ordering_mode=PartiallySorted`).
    #[tokio::test]
    async fn grouping_sets_over_sorted_input_give_each_group_once() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("p", DataType::Int64, false),
            Field::new("a", DataType::Int64, false),
            Field::new("b", DataType::Int64, false),
        ]));
        let (mut p, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..2_000i64 {
            // Scattered, so the window has to sort.
            let k = (i * 7_919) % 2_000;
            p.push(k % 8);
            a.push(k % 5);
            b.push((k / 8) % 3);
        }
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(p)),
                Arc::new(Int64Array::from(a)),
                Arc::new(Int64Array::from(b)),
            ],
        )
        .expect("batch");
        let table = MemTable::try_new(schema, vec![vec![batch]]).expect("table");
        // One partition, as a model beside others plans: no repartition
        // between the window's sort and the grouping.
        let ctx = super::super::session_with(
            SessionConfig::new()
                .with_target_partitions(1)
                .with_batch_size(7),
        );
        ctx.register_table("t", Arc::new(table)).expect("register");
        let sql = "SELECT p, a, b, COUNT(*) AS n, SUM(r) AS sr FROM (
                       SELECT p, a, b, ROW_NUMBER() OVER (PARTITION BY p ORDER BY a, b) AS r FROM t
                   ) GROUP BY GROUPING SETS ((p, a), (p, b), (p))";
        let plan = ctx
            .sql(&format!("EXPLAIN {sql}"))
            .await
            .expect("explain")
            .collect()
            .await
            .expect("plan");
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan)
            .expect("format")
            .to_string();
        let rows: usize = ctx
            .sql(sql)
            .await
            .expect("sql")
            .collect()
            .await
            .expect("rows")
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(rows, 72, "{text}");
        assert!(!text.contains("PartiallySorted"), "{text}");
        // Every row counted once per set.
        let total = ctx
            .sql(&format!("SELECT SUM(n) AS s FROM ({sql})"))
            .await
            .expect("sql")
            .collect()
            .await
            .expect("sum");
        let s = total[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("i64")
            .value(0);
        assert_eq!(s, 3 * 2_000);
    }
}
