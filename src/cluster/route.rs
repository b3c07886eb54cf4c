//! Which plans a cluster session sends to the cluster: those that read
//! warehouse tables (pinned file lists) and nothing else. A plan that reads
//! no table (`SELECT version()`), or a table that lives only in this process
//! (the server's `pg_catalog`, `information_schema`), runs here: it could
//! not travel, and a round trip would only add latency.

use crate::warehouse::pinned::PinnedTable;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::source_as_provider;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use std::sync::Arc;

#[derive(Debug)]
pub struct Router {
    pub cluster: Arc<dyn QueryPlanner + Send + Sync>,
    /// A fixed partition count, else one by the bytes a plan reads.
    pub partitions: Option<usize>,
}

#[async_trait::async_trait]
impl QueryPlanner for Router {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        state: &dyn Session,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        if reads_only_the_warehouse(plan) {
            let partitions = self.partitions.unwrap_or_else(|| {
                super::partitions::by_size(
                    super::partitions::bytes_read(plan),
                    state.config().target_partitions(),
                )
            });
            let cluster = self.cluster.create_physical_plan(plan, state).await?;
            Ok(Arc::new(super::partitions::WithPartitions::new(
                cluster, partitions,
            )))
        } else {
            DefaultPhysicalPlanner::default()
                .create_physical_plan(plan, state)
                .await
        }
    }
}

/// Whether `plan` (subqueries included) scans at least one table, and only
/// warehouse tables.
pub fn reads_only_the_warehouse(plan: &LogicalPlan) -> bool {
    let (mut warehouse, mut other) = (false, false);
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            match source_as_provider(&scan.source) {
                Ok(p) if p.is::<PinnedTable>() => warehouse = true,
                _ => other = true,
            }
        }
        Ok(if other {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    warehouse && !other
}
