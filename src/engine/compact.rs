//! Sorts read batches that own their memory.
//!
//! An aggregation that kept its groups in memory emits them as one batch
//! and passes it on in slices of `batch_size` rows, each slice holding the
//! whole batch's buffers. DataFusion 55's sort reserves memory for a batch
//! by the buffers it holds, so every 8,192-row slice of `loyalty_ladder`'s
//! 1.09M customer-months (100k customers) asked for 144.8 MB, more than a
//! sort's fair share of the pool: "Not enough memory to continue external
//! sort" with nothing sorted yet. It showed once the pool let aggregations
//! borrow instead of spilling (a spilled aggregation emits small batches
//! from its merge). This rule puts [`Compacted`] under every sort: a batch
//! holding far more than its rows need is copied into buffers of its own
//! (the rows of a 1.09M-row aggregation once, about 20 ms); other batches
//! pass as they are.

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryViewArray, RecordBatch, StringViewArray, UInt32Array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::utils::memory::get_record_batch_memory_size;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::StreamExt;
use std::sync::Arc;

/// A batch is copied when its buffers hold more than this many times what
/// its rows need (and at least `MIN_WASTE` bytes more).
const WASTE_FACTOR: usize = 4;
const MIN_WASTE: usize = 1 << 20;

/// The rule (added after DataFusion's own, in every local session).
#[derive(Debug, Default)]
pub struct CompactSortInput;

impl PhysicalOptimizerRule for CompactSortInput {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(sort) = node.downcast_ref::<SortExec>() else {
                return Ok(Transformed::no(node));
            };
            if sort.input().downcast_ref::<Compacted>().is_some() {
                return Ok(Transformed::no(node));
            }
            let input: Arc<dyn ExecutionPlan> = Arc::new(Compacted::new(sort.input().clone()));
            Ok(Transformed::yes(node.clone().replace_children(
                vec![input],
                ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
            )?))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "compact_sort_input"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Its input's batches, each in buffers of its own when it held far more.
#[derive(Debug)]
pub struct Compacted {
    input: Arc<dyn ExecutionPlan>,
}

impl Compacted {
    pub fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        Compacted { input }
    }
}

impl DisplayAs for Compacted {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "CompactedExec")
    }
}

impl ExecutionPlan for Compacted {
    fn name(&self) -> &str {
        "CompactedExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        // The same rows in the same order and partitions.
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
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
            Some(input) => Ok(Arc::new(Compacted::new(input))),
            None => Err(datafusion::common::internal_datafusion_err!(
                "CompactedExec takes one input"
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = input.schema();
        let batches = input.map(|batch| batch.and_then(compact));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }
}

/// `batch` itself, or a copy in buffers sized to its rows.
fn compact(batch: RecordBatch) -> Result<RecordBatch> {
    let held = get_record_batch_memory_size(&batch);
    let mut needed = 0;
    for column in batch.columns() {
        needed += column.to_data().get_slice_memory_size()?;
    }
    if held <= needed.saturating_mul(WASTE_FACTOR) || held - needed < MIN_WASTE {
        return Ok(batch);
    }
    let rows = u32::try_from(batch.num_rows()).map_err(|_| {
        datafusion::common::internal_datafusion_err!("a batch of more than 2^32 rows")
    })?;
    let indices = UInt32Array::from_iter_values(0..rows);
    let columns = batch
        .columns()
        .iter()
        .map(|c| Ok(owned(take(c.as_ref(), &indices, None)?)))
        .collect::<Result<Vec<ArrayRef>>>()?;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

/// A taken view array still points into the old data buffers: copy those
/// of its strings too.
fn owned(array: ArrayRef) -> ArrayRef {
    match array.data_type() {
        DataType::Utf8View => Arc::new(array.as_string_view().gc()) as Arc<StringViewArray>,
        DataType::BinaryView => Arc::new(array.as_binary_view().gc()) as Arc<BinaryViewArray>,
        _ => array,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// A table whose batches are 8,192-row slices of one 4M-row batch.
    fn sliced_table() -> Arc<MemTable> {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let n: i64 = 1 << 22;
        let values = Int64Array::from_iter_values((0..n).map(|i| (i * 7919) % n));
        let whole = RecordBatch::try_new(schema.clone(), vec![Arc::new(values)]).expect("batch");
        let slices = (0..whole.num_rows())
            .step_by(8192)
            .map(|at| whole.slice(at, 8192))
            .collect();
        Arc::new(MemTable::try_new(schema, vec![slices]).expect("table"))
    }

    fn session(compact: bool) -> SessionContext {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(super::super::pool::bounded(16 << 20))
            .build_arc()
            .expect("runtime");
        let mut state = SessionStateBuilder::new()
            .with_default_features()
            .with_config(SessionConfig::new().with_target_partitions(1))
            .with_runtime_env(runtime);
        if compact {
            state = state.with_physical_optimizer_rule(Arc::new(CompactSortInput));
        }
        let ctx = SessionContext::new_with_state(state.build());
        ctx.register_table("t", sliced_table()).expect("register");
        ctx
    }

    async fn sorted(ctx: &SessionContext) -> Result<Vec<i64>> {
        let batches = ctx
            .sql("SELECT x FROM t ORDER BY x")
            .await?
            .collect()
            .await?;
        Ok(batches
            .iter()
            .flat_map(|b| {
                let x = b
                    .column(0)
                    .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                x.values().to_vec()
            })
            .collect())
    }

    /// Each slice holds the 32 MiB batch: a 16 MiB pool's sort cannot take
    /// one; compacted, the 4M values sort (spilling) into 0..4M.
    #[tokio::test]
    async fn a_sort_over_slices_of_a_big_batch_takes_what_the_rows_need() {
        let err = sorted(&session(false))
            .await
            .expect_err("slices count whole");
        assert!(err.to_string().contains("Resources exhausted"), "{err}");
        let values = sorted(&session(true)).await.expect("compacted");
        assert_eq!(values.len(), 1 << 22);
        assert!(values.iter().enumerate().all(|(i, v)| *v == i as i64));
    }
}
