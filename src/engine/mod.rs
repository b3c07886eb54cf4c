//! The DataFusion engine every part of touchpoint plans and runs SQL on:
//! sessions sharing one memory-bounded, spilling runtime, SQL text helpers
//! (table references, planning, error text located in the SQL), and Arrow
//! stream helpers.

mod choice;
mod compact;
pub mod footprint;
mod grouping_sets;
pub mod percentile;
mod plan;
mod pool;
mod running;
mod running_window;
mod stream;

pub use choice::{ENGINE_VAR, Engine};
pub use plan::{
    Located, Parsed, PlanError, Planned, describe_error, find_word, locate, parse, plan_parsed,
    table_references, without_quoted_values,
};
pub use stream::{batch_stream, counting};

use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::delta_datafusion::planner::DeltaPlanner;
use std::sync::Arc;

/// Memory DataFusion may use before it spills to disk, for the whole
/// process; `TOUCHPOINT_MEMORY_MB` overrides the default of 512 MiB. The
/// process needs about as much again (Delta logs, Parquet buffers, the
/// allocator), so the default keeps a run under 1 GiB. Hash joins cannot
/// spill, so the marts pair months and combine facts by aggregation and
/// keep hash joins to lookups (at 100k customers a 256 MiB pool suffices).
pub fn memory_limit() -> usize {
    std::env::var("TOUCHPOINT_MEMORY_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(512)
        * 1024
        * 1024
}

/// A pool of `limit` bytes (see `pool`): local runs and cluster executors
/// use the same kind, so a plan that fits one fits the other.
pub use pool::{bounded as bounded_pool, fair as fair_pool};

/// The way out when `error` (any error's text: a cluster's arrives as text)
/// says an operator outgrew its share of the memory pool.
pub fn memory_help(error: &str) -> Option<String> {
    let exhausted = error.contains("Resources exhausted") || error.contains("ResourcesExhausted");
    exhausted.then(|| {
        format!(
            "the plan needed more than its share of the memory pool: raise TOUCHPOINT_MEMORY_MB \
             (this process has {} MiB); on a cluster, raise it on the executors or give them \
             fewer task slots",
            memory_limit() / (1024 * 1024)
        )
    })
}

/// One runtime (memory pool, spill files) shared by every session, so
/// concurrent loads and queries share one bound instead of one each.
static RUNTIME: std::sync::LazyLock<Arc<datafusion::execution::runtime_env::RuntimeEnv>> =
    std::sync::LazyLock::new(|| {
        RuntimeEnvBuilder::new()
            .with_memory_pool(pool::bounded(memory_limit()))
            .build_arc()
            // The builder only fails on a bad disk-manager setup.
            .unwrap_or_default()
    });

/// Hand the memory freed since the last call back to the system, when the
/// process holds more than its memory pool. glibc keeps freed chunks in its
/// arenas for reuse, and the pieces a model's write or aggregation leaves
/// are scattered, so without this a run's RSS only ever grows: at 1M
/// customers x 12 months it stayed near 0.9 GB after `interactions`,
/// whatever the models after it needed. `malloc_trim` releases every whole
/// free page of every arena, but it holds each arena's lock while it walks
/// it, and the pages it returns are faulted in again by the next
/// allocations: below the pool's size there is nothing to gain from that.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if pool::resident_bytes().is_none_or(|rss| rss > memory_limit()) {
        // SAFETY: malloc_trim only gives free pages of the allocator's own
        // arenas back to the kernel; it takes each arena's lock as malloc does.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// A session with a bounded, spilling memory pool.
pub fn session() -> SessionContext {
    session_with(SessionConfig::new())
}

/// The process's runtime: its memory pool and spill files (a cluster
/// client plans and streams results on it too).
pub fn runtime() -> Arc<datafusion::execution::runtime_env::RuntimeEnv> {
    RUNTIME.clone()
}

/// touchpoint's settings on `config`: every session, local or on a cluster,
/// plans and reads with these (Parquet text as `Utf8`, not views).
pub fn configure(config: SessionConfig) -> SessionConfig {
    config
        .with_information_schema(true)
        .set_bool("datafusion.sql_parser.collect_spans", true)
        .set_bool(
            "datafusion.execution.parquet.schema_force_view_types",
            false,
        )
        // Rows already partitioned by some of a grouping's keys stay where
        // they are (by default only from 4 partitions up): a grouping over
        // rows in customer order, partitioned by customer, then finishes
        // each customer's groups as it goes instead of holding them all.
        .set_usize("datafusion.optimizer.subset_repartition_threshold", 2)
}

/// A session with `config`'s settings and ours (a server's catalog name).
pub fn session_with(config: SessionConfig) -> SessionContext {
    let config = configure(config);
    let runtime = RUNTIME.clone();
    // Delta writes plan custom nodes (write metrics, constraint checks) that
    // only delta-rs's planner can turn into execution plans.
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_query_planner(DeltaPlanner::new())
        .with_physical_optimizer_rule(Arc::new(grouping_sets::LinearGroupingSets))
        .with_physical_optimizer_rule(Arc::new(compact::CompactSortInput))
        .with_physical_optimizer_rule(Arc::new(running_window::LinearRunning))
        .build();
    let ctx = SessionContext::new_with_state(state);
    ctx.register_udaf(percentile::udaf());
    ctx.add_optimizer_rule(Arc::new(running::RunningAggregates));
    ctx
}

/// A SQL identifier, quoted: `"name"` (a quote inside is doubled).
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SQL string literal: `'text'` (a quote inside is doubled).
pub fn literal(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}
