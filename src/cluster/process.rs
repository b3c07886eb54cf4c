//! `touchpoint scheduler` and `touchpoint executor`: Ballista's processes
//! with our plan codec, functions and settings compiled in. Stock Ballista
//! binaries cannot run our plans: they know neither the pinned warehouse
//! tables nor the masking functions (and would refuse them by name).

use super::codec::Codec;
use super::{Error, Result, functions};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::registry::FunctionRegistry;
use datafusion::execution::session_state::SessionState;
use datafusion::prelude::SessionConfig;
use std::net::SocketAddr;
use std::sync::Arc;

/// How often executors report to the scheduler, and how long the scheduler
/// waits before it takes a silent executor for dead and runs its tasks
/// elsewhere (Ballista's defaults, 60 s and 180 s, hold a run for minutes).
const HEARTBEAT_SECONDS: u64 = 5;
const EXECUTOR_TIMEOUT_SECONDS: u64 = 30;

/// Ballista's settings and ours (Parquet text as `Utf8`, spans for errors).
pub fn session_config() -> SessionConfig {
    configure(SessionConfig::new())
}

/// Ballista's settings and ours on `config`.
pub fn configure(config: SessionConfig) -> SessionConfig {
    use ballista_core::extension::SessionConfigExt;
    // Ballista 55's adaptive planner loops forever on some plans (a
    // six-way LEFT JOIN of aggregates, `kpi_monthly`): the scheduler spins
    // in `AdaptiveExecutionGraph::revive` and the job never starts. The
    // static planner runs them.
    let config = config
        .upgrade_for_ballista()
        .with_ballista_adaptive_query_planner(false)
        // Fetched shuffle partitions are held whole and decoded (Arrow is
        // several times its compressed wire size): Ballista's 48 MiB of wire
        // bytes in flight per reading task could hold far more than a small
        // executor's pool.
        .set_u64(
            ballista_core::config::BALLISTA_SHUFFLE_READER_MAX_BYTES_IN_FLIGHT,
            SHUFFLE_BYTES_IN_FLIGHT,
        );
    crate::engine::configure(config)
}

/// Wire bytes of other executors' shuffle a reading task fetches at once.
const SHUFFLE_BYTES_IN_FLIGHT: u64 = 16 << 20;

/// The scheduler's session: it turns clients' logical plans into stages, so
/// it must resolve our functions by name.
fn session_state(config: SessionConfig) -> datafusion::error::Result<SessionState> {
    // Its own object stores: planning a scan may look at the files.
    let mut state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(super::stores::runtime(None, None)?)
        .with_physical_optimizer_rules(super::broadcast::placed_in(
            datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules,
        ))
        .with_physical_optimizer_rule(Arc::new(super::windows::SortWindowInputs))
        .build();
    for f in functions::scalar() {
        state.register_udf(f)?;
    }
    for f in functions::aggregate() {
        state.register_udaf(f)?;
    }
    Ok(state)
}

/// Run a scheduler on `bind` until the process is stopped.
pub async fn scheduler(bind: SocketAddr, external_host: Option<String>) -> Result<()> {
    let mut config = SchedulerConfig {
        bind_host: bind.ip().to_string(),
        bind_port: bind.port(),
        external_host: external_host.unwrap_or_else(|| bind.ip().to_string()),
        executor_timeout_seconds: EXECUTOR_TIMEOUT_SECONDS,
        no_executors_grace_period_seconds: EXECUTOR_TIMEOUT_SECONDS,
        expire_dead_executor_interval_seconds: HEARTBEAT_SECONDS,
        ..Default::default()
    };
    config.override_logical_codec = Some(Arc::new(Codec::default()));
    let config = config
        .with_override_config_producer(Arc::new(session_config))
        .with_override_session_builder(Arc::new(session_state));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| Error::Process(e.to_string()))?;
    let cluster = BallistaCluster::new(
        Arc::new(super::builds::SameBuild(cluster.cluster_state())),
        cluster.job_state(),
    );
    start_server(cluster, bind, Arc::new(config))
        .await
        .map_err(|e| Error::Process(e.to_string()))
}

/// Where an executor listens and whom it serves.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    pub scheduler: (String, u16),
    /// Arrow Flight (shuffle data) address; its gRPC port is `flight + 1`
    /// unless given.
    pub bind: SocketAddr,
    pub grpc_port: Option<u16>,
    /// The host other processes reach this one at.
    pub external_host: Option<String>,
    /// Task slots (0: one per core).
    pub slots: usize,
    /// Shuffle files; a temporary folder when not given.
    pub work_dir: Option<String>,
}

/// Run an executor until the process is stopped.
pub async fn executor(o: ExecutorOptions) -> Result<()> {
    let work_dir = o.work_dir.clone();
    // One pool for the whole process, as a local run has: every task's
    // operators share `TOUCHPOINT_MEMORY_MB` and spill past their fair share.
    // Ballista's own pool (`memory_pool_size`) would give each task a fresh
    // pool of its own kind, one where a repartition may spill and hang
    // (see `engine::pool`); 0 tells Ballista to leave our runtime's alone.
    // It lends nothing (see `engine::fair_pool`).
    let pool = crate::engine::fair_pool(crate::engine::memory_limit());
    release_freed_memory_regularly();
    let config = ExecutorProcessConfig {
        // The scheduler registers only ids of its own build.
        executor_id: super::builds::executor_id(),
        bind_host: o.bind.ip().to_string(),
        port: o.bind.port(),
        grpc_port: o.grpc_port.unwrap_or(o.bind.port().saturating_add(1)),
        external_host: o.external_host.clone(),
        scheduler_host: o.scheduler.0.clone(),
        scheduler_port: o.scheduler.1,
        scheduler_connect_timeout_seconds: 30,
        vcores: o.slots,
        work_dir: o.work_dir.clone(),
        print_thread_info: false,
        executor_heartbeat_interval_seconds: HEARTBEAT_SECONDS,
        memory_pool_size: Some(0),
        override_function_registry: Some(Arc::new(functions::registry())),
        override_logical_codec: Some(Arc::new(Codec::default())),
        override_config_producer: Some(Arc::new(session_config)),
        override_runtime_producer: Some(Arc::new(move |_: &SessionConfig| {
            super::stores::runtime(work_dir.as_deref(), Some(pool.clone()))
        })),
        ..Default::default()
    };
    start_executor_process(Arc::new(config)).await.map_err(|e| {
        Error::Process(format!(
            "this executor ({}, build mark {}): {e}",
            functions::version_text(),
            super::builds::mark()
        ))
    })
}

/// How often an executor hands freed memory back to the system.
const RELEASE_SECONDS: u64 = 2;

/// An executor runs one task after another on many threads, and glibc
/// keeps what a task freed in its arenas; a local run gives it back after
/// each model (`engine::release_freed_memory`), an executor never ends a
/// model, so a thread does it every few seconds (milliseconds each).
fn release_freed_memory_regularly() {
    let spawned = std::thread::Builder::new()
        .name("release-freed-memory".into())
        .spawn(|| {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(RELEASE_SECONDS));
                crate::engine::release_freed_memory();
            }
        });
    // Without the thread the executor still runs, with a higher RSS.
    drop(spawned);
}
