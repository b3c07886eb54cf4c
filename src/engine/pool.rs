//! The process's memory pool: a fair spilling pool that lends what the
//! spilling operators leave idle, and never tells `RepartitionExec` to spill.

use datafusion::common::{Result, resources_datafusion_err};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation, human_readable_size,
};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A pool of `limit` bytes for the whole process.
pub fn bounded(limit: usize) -> Arc<dyn MemoryPool> {
    Arc::new(SharedPool::new(limit, resident_bytes))
}

/// A pool of `limit` bytes that lends nothing: each spilling operator gets
/// its fair share, as in DataFusion's pool. For a cluster's executors, whose
/// plans come from the scheduler without the node that makes a sort's
/// batches own their memory (`engine::compact`): a borrowing aggregation
/// emits slices that would each count its whole output there.
pub fn fair(limit: usize) -> Arc<dyn MemoryPool> {
    let mut pool = SharedPool::new(limit, resident_bytes);
    pool.lendable = 0;
    Arc::new(pool)
}

/// How often the process's resident size is read again while lending.
const PROBE_EVERY: Duration = Duration::from_millis(20);

/// DataFusion's fair pool divides the memory among every spilling operator
/// of the plans running, and a plan's operators all register when it starts,
/// although only two or three hold memory at a time (`customer_month`
/// registers 24: 21 MiB each of 512 MiB). At 100k customers `churn_rules`'
/// final grouping of 1.13M customer-months spilled to disk 8 times with most
/// of the pool idle.
///
/// Here each spilling operator is still granted that fair share whatever the
/// others hold (a pool tried on 2026-12-05 lent the shares of idle operators
/// away, and a sort that started later could not get what it needed to
/// merge). Past its share it may borrow while the spilling operators
/// together hold under half the pool, which leaves the other half to what
/// cannot spill (hash joins' build sides, sorts' merges; lent the whole
/// pool, a sort's merge at 100k found it taken and the run failed). A pool
/// with memory lent out can hold more than its size, by at most the lent
/// half, when every registered operator takes its share at once.
///
/// The pool counts what operators reserve, not what the process holds
/// (Parquet buffers, Delta logs, the CLV step's histories, the allocator's
/// free lists: about as much again), so it lends only while the process's
/// resident size, read at most every 20 ms and advanced by what the pool
/// granted since, is under the pool's own size; where it cannot
/// be read nothing is lent. Lent whenever the pool had room, 1M customers ×
/// 3 months peaked at 870–917 MB against 710–747 MB (1M × 12: 1,072 MiB,
/// over the 1 GiB bound); with the process under 1.25 × the pool, 880 MB
/// (memory lent while the process is small is still held when the rest of
/// it grows); under the pool's size, 815 MB. Models-only runs of one 100k ×
/// 12 warehouse, alternating: 30.2–31.6 s of model work with DataFusion's
/// division, 27.6 s with this pool (peak RSS 534–583 against 553–576 MB);
/// `churn_rules` 2.5 → 1.5 s.
#[derive(Debug)]
struct SharedPool {
    limit: usize,
    lendable: usize,
    resident: fn() -> Option<usize>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Registered consumers that can spill.
    spillers: usize,
    spillable: usize,
    unspillable: usize,
    /// The last reading of the resident size: when, how much, and what the
    /// pool held then.
    probe: Option<(Instant, Option<usize>, usize)>,
}

impl SharedPool {
    fn new(limit: usize, resident: fn() -> Option<usize>) -> Self {
        Self {
            limit,
            lendable: limit / 2,
            resident,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The counters stay consistent under a panic elsewhere.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the process can take `additional` more bytes within its
    /// budget.
    fn process_has_room(&self, state: &mut State, additional: usize) -> bool {
        let held = state.spillable + state.unspillable;
        let stale = match state.probe {
            Some((at, _, _)) => at.elapsed() >= PROBE_EVERY,
            None => true,
        };
        if stale {
            state.probe = Some((Instant::now(), (self.resident)(), held));
        }
        let Some((_, Some(resident), held_then)) = state.probe else {
            return false;
        };
        resident + held.saturating_sub(held_then) + additional <= self.limit
    }
}

/// The process's resident set size, from `/proc/self/statm` (pages).
pub(super) fn resident_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn page_size() -> usize {
    // SAFETY: sysconf only reads a system constant.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn page_size() -> usize {
    4096
}

impl std::fmt::Display for SharedPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Worded as DataFusion's fair pool is (`pool_size: …`).
        write!(f, "fair(pool_size: {}", human_readable_size(self.limit))?;
        if self.lendable > 0 {
            write!(
                f,
                ", lending up to {} while the process holds under {}",
                human_readable_size(self.lendable),
                human_readable_size(self.limit)
            )?;
        }
        write!(f, ")")
    }
}

impl MemoryPool for SharedPool {
    fn name(&self) -> &str {
        "shared-fair"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        if consumer.can_spill() {
            self.state().spillers += 1;
        }
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        if consumer.can_spill() {
            let mut state = self.state();
            state.spillers = state.spillers.saturating_sub(1);
        }
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        let mut state = self.state();
        if reservation.consumer().can_spill() {
            state.spillable += additional;
        } else {
            state.unspillable += additional;
        }
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        let mut state = self.state();
        if reservation.consumer().can_spill() {
            state.spillable = state.spillable.saturating_sub(shrink);
        } else {
            state.unspillable = state.unspillable.saturating_sub(shrink);
        }
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let consumer = reservation.consumer();
        // DataFusion 55's `RepartitionExec` spills a batch it cannot reserve
        // memory for, and its reader can wait forever when two input tasks
        // spilled at once (apache/datafusion#24883, fixed upstream after 55):
        // every worker parks and the run neither ends nor fails. A
        // repartition buffers a few batches per partition, so its memory is
        // counted, but granted. Consumers are named `RepartitionExec[n]`
        // (and `[Merge n]`).
        if consumer.name().starts_with("RepartitionExec") {
            self.grow(reservation, additional);
            return Ok(());
        }
        let mut state = self.state();
        if consumer.can_spill() {
            let fair = self.limit.saturating_sub(state.unspillable) / state.spillers.max(1);
            let within_share = reservation.size() + additional <= fair;
            let lent = !within_share
                && state.spillable + additional <= self.lendable
                && state.spillable + state.unspillable + additional <= self.limit
                && self.process_has_room(&mut state, additional);
            if !(within_share || lent) {
                return Err(refused(reservation, additional, fair, self));
            }
            state.spillable += additional;
        } else {
            let free = self
                .limit
                .saturating_sub(state.spillable + state.unspillable);
            if additional > free {
                return Err(refused(reservation, additional, free, self));
            }
            state.unspillable += additional;
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        let state = self.state();
        state.spillable + state.unspillable
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

/// The refusal, worded like DataFusion's own (`memory_help` looks for it).
fn refused(
    reservation: &MemoryReservation,
    additional: usize,
    available: usize,
    pool: &SharedPool,
) -> datafusion::error::DataFusionError {
    resources_datafusion_err!(
        "Failed to allocate additional {} for {} with {} already allocated for this reservation - {} remain available for the total memory pool: {}",
        human_readable_size(additional),
        reservation.consumer().name(),
        human_readable_size(reservation.size()),
        human_readable_size(available),
        pool
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::execution::memory_pool::MemoryConsumer;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext};
    use std::time::Duration;

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn the_resident_set_is_read_in_bytes() {
        let rss = resident_bytes().expect("/proc/self/statm is readable");
        // Whole pages, and at least this test binary's code and the
        // runtime: a count of pages taken for bytes would be far smaller.
        assert_eq!(rss % 4096, 0);
        assert!(rss > 4 << 20, "{rss} bytes resident");
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        let kb: usize = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line in kB");
        // The same measure read a second way, within what other test
        // threads may have allocated or freed in between.
        assert!(rss.abs_diff(kb * 1024) < 256 << 20, "{rss} against {kb} kB");
    }

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

    /// A pool whose process holds `MIB` MiB besides the pool.
    fn pool_at<const MIB: usize>(limit: usize) -> Arc<dyn MemoryPool> {
        fn resident<const MIB: usize>() -> Option<usize> {
            Some(MIB << 20)
        }
        Arc::new(SharedPool::new(limit, resident::<MIB>))
    }

    fn spiller(pool: &Arc<dyn MemoryPool>, name: &str) -> MemoryReservation {
        MemoryConsumer::new(name)
            .with_can_spill(true)
            .register(pool)
    }

    /// Ten spilling operators registered, one at work: it may hold half the
    /// pool (DataFusion's fair pool stopped it at a tenth), no more.
    #[test]
    fn an_operator_at_work_borrows_what_the_idle_ones_do_not_use() {
        let pool = pool_at::<10>(100 << 20);
        let idle: Vec<_> = (0..9)
            .map(|i| spiller(&pool, &format!("idle{i}")))
            .collect();
        let busy = spiller(&pool, "busy");
        busy.try_grow(50 << 20).expect("half the pool is lent");
        assert!(busy.try_grow(1).is_err(), "lent past half the pool");
        // The others still get their fair tenth, although the lent half is
        // taken: 10 MiB each, which the pool's other half covers.
        for r in &idle {
            r.try_grow(5 << 20).expect("a fair share");
        }
        assert!(
            idle[0].try_grow((5 << 20) + 1).is_err(),
            "past a fair share"
        );
        assert_eq!(pool.reserved(), 95 << 20);
    }

    /// What cannot spill may take whatever is free, lent memory included.
    #[test]
    fn a_hash_join_gets_what_the_spillers_left() {
        let pool = pool_at::<10>(100 << 20);
        let sort = spiller(&pool, "ExternalSorter[0]");
        sort.try_grow(50 << 20).expect("lent");
        let join = MemoryConsumer::new("HashJoinInput").register(&pool);
        join.try_grow(50 << 20).expect("the free half");
        assert!(join.try_grow(1).is_err(), "the pool is full");
        drop(sort);
        join.try_grow(50 << 20).expect("freed by the sort");
        assert_eq!(pool.reserved(), 100 << 20);
    }

    /// Nothing is lent past the process's budget (the pool's size, 100
    /// MiB), counting what was granted since the size was read; a fair share
    /// still is.
    #[test]
    fn nothing_is_lent_past_the_process_budget() {
        let pool = pool_at::<75>(100 << 20);
        let idle: Vec<_> = (0..9)
            .map(|i| spiller(&pool, &format!("idle{i}")))
            .collect();
        let busy = spiller(&pool, "busy");
        busy.try_grow(25 << 20).expect("within the budget");
        assert!(busy.try_grow(1).is_err(), "75 + 25 MiB is the budget");
        idle[0].try_grow(10 << 20).expect("a fair share");
        let unknown = Arc::new(SharedPool::new(100 << 20, || None)) as Arc<dyn MemoryPool>;
        let r = spiller(&unknown, "alone");
        let _other = spiller(&unknown, "other");
        r.try_grow(50 << 20).expect("a fair share");
        assert!(
            r.try_grow(1).is_err(),
            "nothing lent when the size is unknown"
        );
    }

    /// A repartition's buffers are granted past the limit (see `try_grow`).
    #[test]
    fn a_repartition_is_never_refused() {
        let pool = bounded(1 << 20);
        let r = spiller(&pool, "RepartitionExec[0]");
        r.try_grow(8 << 20).expect("granted");
        assert_eq!(pool.reserved(), 8 << 20);
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
