//! Executors of one build only. Every `touchpoint executor` names itself
//! `<uuid>.<build>`, where `<build>` digests [`functions::version_text`]
//! (version, plan codec, `TOUCHPOINT_BUILD_TAG`); the scheduler refuses to
//! register any other, so a stray executor of an older release (or a stock
//! Ballista one) can never be handed a task. With the client's check of the
//! cluster at connect time, the client, the scheduler and every executor
//! run the same build.

use super::functions;
use ballista_core::JobId;
use ballista_core::error::{BallistaError, Result};
use ballista_core::serde::protobuf::ExecutorHeartbeat;
use ballista_core::serde::scheduler::{ExecutorData, ExecutorMetadata};
use ballista_scheduler::cluster::{BoundTask, ClusterState, ClusterStateEventStream, ExecutorSlot};
use ballista_scheduler::config::TaskDistributionPolicy;
use ballista_scheduler::state::task_manager::JobInfoCache;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// This build's mark: 12 hex digits of its version text's BLAKE3.
pub fn mark() -> String {
    blake3::hash(functions::version_text().as_bytes()).to_hex()[..12].to_string()
}

/// An executor id carrying this build's mark.
pub fn executor_id() -> String {
    format!("{}.{}", uuid::Uuid::new_v4().simple(), mark())
}

/// Whether `id` was made by [`executor_id`] of this build.
fn ours(id: &str) -> bool {
    id.rsplit_once('.').is_some_and(|(_, m)| m == mark())
}

fn refuse(id: &str) -> BallistaError {
    BallistaError::General(format!(
        "executor {id} runs another build: this scheduler runs {} (build mark {}); \
         run the same touchpoint build on the scheduler and every executor",
        functions::version_text(),
        mark()
    ))
}

/// Ballista's cluster state, refusing executors of another build.
pub struct SameBuild(pub Arc<dyn ClusterState>);

#[async_trait::async_trait]
impl ClusterState for SameBuild {
    async fn init(&self) -> Result<()> {
        self.0.init().await
    }

    async fn bind_schedulable_tasks(
        &self,
        distribution: TaskDistributionPolicy,
        active_jobs: Arc<HashMap<JobId, JobInfoCache>>,
        executors: Option<HashSet<String>>,
    ) -> Result<Vec<BoundTask>> {
        self.0
            .bind_schedulable_tasks(distribution, active_jobs, executors)
            .await
    }

    async fn unbind_tasks(&self, executor_slots: Vec<ExecutorSlot>) -> Result<()> {
        self.0.unbind_tasks(executor_slots).await
    }

    async fn register_executor(
        &self,
        metadata: ExecutorMetadata,
        spec: ExecutorData,
    ) -> Result<()> {
        if !ours(&metadata.id) {
            return Err(refuse(&metadata.id));
        }
        self.0.register_executor(metadata, spec).await
    }

    async fn save_executor_metadata(&self, metadata: ExecutorMetadata) -> Result<()> {
        if !ours(&metadata.id) {
            return Err(refuse(&metadata.id));
        }
        self.0.save_executor_metadata(metadata).await
    }

    async fn get_executor_metadata(&self, executor_id: &str) -> Result<ExecutorMetadata> {
        self.0.get_executor_metadata(executor_id).await
    }

    async fn registered_executor_metadata(&self) -> Vec<ExecutorMetadata> {
        self.0.registered_executor_metadata().await
    }

    async fn save_executor_heartbeat(&self, heartbeat: ExecutorHeartbeat) -> Result<()> {
        // A heartbeat of an unknown executor registers it first (above).
        if !ours(&heartbeat.executor_id) {
            return Err(refuse(&heartbeat.executor_id));
        }
        self.0.save_executor_heartbeat(heartbeat).await
    }

    async fn remove_executor(&self, executor_id: &str) -> Result<()> {
        self.0.remove_executor(executor_id).await
    }

    fn executor_heartbeats(&self) -> HashMap<String, ExecutorHeartbeat> {
        self.0.executor_heartbeats()
    }

    fn get_executor_heartbeat(&self, executor_id: &str) -> Option<ExecutorHeartbeat> {
        self.0.get_executor_heartbeat(executor_id)
    }

    async fn cluster_state_events(&self) -> Result<ClusterStateEventStream> {
        self.0.cluster_state_events().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_the_build() {
        let id = executor_id();
        assert!(ours(&id), "{id}");
        assert_ne!(id, executor_id());
        assert!(!ours("9a8b7c6d-0000-4000-8000-000000000000"));
        assert!(!ours(&format!(
            "{}.000000000000",
            uuid::Uuid::new_v4().simple()
        )));
        assert!(!ours(""));
        let text = refuse("x.1").to_string();
        assert!(text.contains(&functions::version_text()), "{text}");
    }
}
