//! How many partitions a plan on the cluster is cut into. An executor
//! fetches a partition of another executor's shuffle whole into memory
//! (Ballista 55), so a shuffle partition's size (the shuffle's bytes over
//! map tasks x reduce tasks) sets an executor's memory beside its pool. A
//! fixed count lets that grow with the bank; one partition per
//! [`BYTES_PER_PARTITION`] of Parquet the plan reads keeps it flat, and keeps
//! a small statement on few tasks (each task costs a round trip).

use super::{Error, MAX_PARTITIONS, PARTITIONS_VAR, Result};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::source_as_provider;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use std::sync::Arc;

/// Parquet bytes a plan reads per partition (Arrow in memory is several
/// times that).
const BYTES_PER_PARTITION: u64 = 16 << 20;
/// The most partitions the size alone asks for.
const MAX_BY_SIZE: usize = 256;

/// [`PARTITIONS_VAR`]: a fixed count, or `None` for counts by size.
pub fn setting() -> Result<Option<usize>> {
    setting_of(std::env::var(PARTITIONS_VAR).ok().as_deref())
}

fn setting_of(value: Option<&str>) -> Result<Option<usize>> {
    let Some(v) = value else { return Ok(None) };
    match v.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_PARTITIONS).contains(&n) => Ok(Some(n)),
        _ => Err(Error::Partitions(v.to_string())),
    }
}

/// Partitions for a plan reading `bytes` of Parquet: one per
/// [`BYTES_PER_PARTITION`], never fewer than `floor` (the session's own).
pub fn by_size(bytes: u64, floor: usize) -> usize {
    let wanted = usize::try_from(bytes.div_ceil(BYTES_PER_PARTITION)).unwrap_or(MAX_BY_SIZE);
    wanted.min(MAX_BY_SIZE).max(floor.max(1))
}

/// The Parquet bytes `plan` (subqueries included) reads from pinned
/// warehouse tables, after its partition filters choose the files.
pub fn bytes_read(plan: &LogicalPlan) -> u64 {
    let mut bytes = 0u64;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(p) = source_as_provider(&scan.source)
            && let Some(t) = p.downcast_ref::<crate::warehouse::pinned::PinnedTable>()
        {
            bytes = bytes.saturating_add(t.bytes_read(&scan.filters));
        }
        Ok(TreeNodeRecursion::Continue)
    });
    bytes
}

/// A cluster plan sent with its own partition count: Ballista sends the
/// settings of the context it is executed in.
#[derive(Debug)]
pub struct WithPartitions {
    inner: Arc<dyn ExecutionPlan>,
    partitions: usize,
}

impl WithPartitions {
    pub fn new(inner: Arc<dyn ExecutionPlan>, partitions: usize) -> Self {
        WithPartitions { inner, partitions }
    }
}

impl DisplayAs for WithPartitions {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "WithPartitions: {}", self.partitions)
    }
}

impl ExecutionPlan for WithPartitions {
    fn name(&self) -> &str {
        "WithPartitions"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> datafusion::error::Result<TreeNodeRecursion>,
    ) -> datafusion::error::Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.inner]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let [inner] = <[_; 1]>::try_from(children).map_err(|_| {
            datafusion::error::DataFusionError::Internal("WithPartitions has one child".into())
        })?;
        Ok(Arc::new(WithPartitions::new(inner, self.partitions)))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<SendableRecordBatchStream> {
        let config = context
            .session_config()
            .clone()
            .with_target_partitions(self.partitions);
        let context = TaskContext::new(
            context.task_id(),
            context.session_id(),
            config,
            context.scalar_functions().clone(),
            context.higher_order_functions().clone(),
            context.aggregate_functions().clone(),
            context.window_functions().clone(),
            context.runtime_env(),
        );
        self.inner.execute(partition, Arc::new(context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_count_is_a_whole_number_in_range() {
        assert_eq!(setting_of(None).ok(), Some(None));
        assert_eq!(setting_of(Some(" 64 ")).ok(), Some(Some(64)));
        for bad in ["0", "-3", "many", "", "4097", "99999999999999999999999"] {
            let err = setting_of(Some(bad)).expect_err(bad);
            assert!(err.to_string().contains(PARTITIONS_VAR), "{err}");
            assert!(err.help().is_some());
        }
    }

    #[test]
    fn partitions_grow_with_the_bytes_read() {
        // A month of a 100k-customer bank's interactions (about 10 MB), of a
        // 1M one's (114 MB), and more than the size alone may ask for.
        assert_eq!(by_size(10 << 20, 2), 2);
        assert_eq!(by_size(114 << 20, 2), 8);
        assert_eq!(by_size(0, 0), 1);
        assert_eq!(by_size(u64::MAX, 2), MAX_BY_SIZE);
        assert_eq!(by_size(u64::MAX, 1000), 1000);
    }
}
