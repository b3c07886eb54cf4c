//! The process's memory pool: DataFusion's fair spilling pool, except that
//! `RepartitionExec` is never told to spill.
//!
//! DataFusion 55's `RepartitionExec` spills a batch it cannot reserve memory
//! for into a spill pool, and its reader can wait forever when two input
//! tasks spilled at once (apache/datafusion#24883, fixed upstream after 55):
//! every worker parks and the run neither ends nor fails. A repartition
//! buffers a few batches per partition, so its memory is still counted here,
//! but granted; the operators that hold data (sorts, aggregates, joins) keep
//! the limit and spill or fail with a resource error as before.

use datafusion::common::Result;
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryLimit, MemoryPool, MemoryReservation,
};
use std::sync::Arc;

/// A pool of `limit` bytes for the whole process.
pub fn bounded(limit: usize) -> Arc<dyn MemoryPool> {
    Arc::new(NoRepartitionSpill {
        inner: FairSpillPool::new(limit),
    })
}

#[derive(Debug)]
struct NoRepartitionSpill {
    inner: FairSpillPool,
}

impl std::fmt::Display for NoRepartitionSpill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (repartitions never spill)", self.inner)
    }
}

impl MemoryPool for NoRepartitionSpill {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn register(&self, consumer: &datafusion::execution::memory_pool::MemoryConsumer) {
        self.inner.register(consumer)
    }

    fn unregister(&self, consumer: &datafusion::execution::memory_pool::MemoryConsumer) {
        self.inner.unregister(consumer)
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.inner.grow(reservation, additional)
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.inner.shrink(reservation, shrink)
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        // Consumers are named `RepartitionExec[n]` (and `[Merge n]`).
        if reservation.consumer().name().starts_with("RepartitionExec") {
            self.inner.grow(reservation, additional);
            return Ok(());
        }
        self.inner.try_grow(reservation, additional)
    }

    fn reserved(&self) -> usize {
        self.inner.reserved()
    }

    fn memory_limit(&self) -> MemoryLimit {
        self.inner.memory_limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext};
    use std::time::Duration;

    fn session(pool: Arc<dyn MemoryPool>) -> SessionContext {
        let config = SessionConfig::new()
            .with_target_partitions(2)
            .with_batch_size(64);
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(pool)
            .build_arc()
            .expect("runtime");
        SessionContext::new_with_state(
            SessionStateBuilder::new()
                .with_default_features()
                .with_config(config)
                .with_runtime_env(runtime)
                .build(),
        )
    }

    /// The reproduction of apache/datafusion#24883: a grouped distinct
    /// count on two partitions under a few MB. With DataFusion's own pool
    /// it hangs on the first or second try here; with this one every try
    /// ends (done, or a resource error), within seconds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_repartition_under_a_tight_limit_ends() {
        let setup = session(bounded(1 << 30));
        setup
            .sql(
                "CREATE TABLE t AS SELECT v % 13 AS g, md5(CAST(v % 337 AS VARCHAR)) AS trace_id \
                 FROM generate_series(1, 40000) AS s(v)",
            )
            .await
            .expect("create")
            .collect()
            .await
            .expect("fill");
        let table = setup.table_provider("t").await.expect("t");
        let mut ended = (0, 0);
        for _ in 0..8 {
            let ctx = session(bounded(2 << 20));
            ctx.register_table("t", table.clone()).expect("register");
            let run = async {
                ctx.sql("SELECT g, COUNT(DISTINCT trace_id) AS n FROM t GROUP BY g")
                    .await?
                    .collect()
                    .await
            };
            match tokio::time::timeout(Duration::from_secs(30), run).await {
                Ok(Ok(batches)) => {
                    // 13 and 337 are coprime and 40,000 > 13 × 337, so every
                    // group holds all 337 residues.
                    let mut counts = Vec::new();
                    for b in &batches {
                        let n = b.column(1).as_primitive::<Int64Type>();
                        counts.extend(n.values().iter().copied());
                    }
                    assert_eq!(counts, vec![337; 13]);
                    ended.0 += 1;
                }
                Ok(Err(e)) => {
                    assert!(e.to_string().contains("Resources exhausted"), "{e}");
                    ended.1 += 1;
                }
                Err(_) => panic!("the query hung (done {}, failed {})", ended.0, ended.1),
            }
        }
    }

    /// A hash join's build side cannot spill: past the pool it fails, and
    /// the error gets the setting to raise; other errors get no such advice.
    #[tokio::test]
    async fn a_plan_past_the_pool_is_told_which_setting_to_raise() {
        let ctx = session(bounded(64 << 10));
        let err = ctx
            .sql(
                "SELECT COUNT(*) FROM generate_series(1, 200000) a(v) \
                 JOIN generate_series(1, 200000) b(v) ON a.v = b.v",
            )
            .await
            .expect("plan")
            .collect()
            .await
            .expect_err("64 KiB cannot hold 200,000 keys")
            .to_string();
        let help = crate::engine::memory_help(&err).unwrap_or_default();
        assert!(help.contains("raise TOUCHPOINT_MEMORY_MB"), "{err}: {help}");
        assert_eq!(crate::engine::memory_help("table `x` not found"), None);
    }
}
