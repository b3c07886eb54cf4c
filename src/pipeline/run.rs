//! Running a pipeline: seeds, then each source for each period (reading only
//! new or changed files; several loads at once, each source's periods in
//! order and after the sources it references, see `schedule`), then the
//! models in dependency order, then the
//! data-quality checks. Each table write is an atomic commit journaled in the
//! run lock, so a failed or killed run is rolled back; every step is logged
//! in `_runs`.

use super::incremental::{self, Plan};
use super::schedule::Schedule;
use super::{Period, Pipeline, Seed, Source};
use crate::Result;
use crate::sources::{self, CheckContext, LoadStats};
use crate::spec::types::ColumnType;
use crate::warehouse::log::{self, LOADED_FILES, QUARANTINE, RUNS, StepLog};
use crate::warehouse::{Warehouse, WriteMode};
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array,
    StringArray,
};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::{SessionContext, col, lit};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// What a run did, step by step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub periods: Vec<String>,
    pub steps: Vec<StepLog>,
    /// Data-quality check results (also in `_checks`).
    pub checks: Vec<crate::quality::CheckResult>,
    pub seconds: f64,
}

impl RunSummary {
    pub fn rows_quarantined(&self) -> i64 {
        self.steps
            .iter()
            .filter(|s| s.kind == "source")
            .map(|s| s.rows_quarantined)
            .sum()
    }
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

pub fn new_run_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        &id[..6]
    )
}

/// How a run treats what earlier runs loaded.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Read every file again and replace each period, ignoring
    /// `_loaded_files` (`--full-refresh`).
    pub full_refresh: bool,
    /// Draw progress bars (on a terminal; see [`super::progress::wanted`]).
    pub progress_bars: bool,
}

/// Run `pipeline` for `periods` into `wh`, writing progress lines to `progress`.
pub async fn run(
    pipeline: &Pipeline,
    wh: &Warehouse,
    periods: &[Period],
    options: Options,
    progress: &mut dyn Write,
) -> Result<RunSummary> {
    let (lock, stale) = crate::warehouse::lock::RunLock::acquire(wh, &pipeline.name).await?;
    let run_id = new_run_id();
    let started = Instant::now();
    let ctx = crate::sql::session();
    let mut r = Runner {
        pipeline,
        wh,
        ctx: &ctx,
        run_id: run_id.clone(),
        steps: Vec::new(),
        progress,
        before: BTreeMap::new(),
        lock,
        commits: Arc::new(AtomicU64::new(0)),
        options,
        changed: HashSet::new(),
        checks: Vec::new(),
        reference_cache: HashMap::new(),
        bookkeeping: Vec::new(),
        loaded_files: None,
        written: BTreeMap::new(),
    };
    let mut result = match stale {
        Some(stale) => r.recover(stale).await,
        None => Ok(()),
    };
    if result.is_ok() {
        result = r.all(periods).await;
    }
    let mut restored = true;
    if result.is_err() {
        // A failed run leaves the warehouse as it was: every table it wrote
        // goes back to its earlier version (the run itself stays in `_runs`).
        for (table, version) in std::mem::take(&mut r.before) {
            if let Err(e) = wh.roll_back(&table, version).await {
                restored = false;
                result = result.map_err(|first| {
                    crate::Error::usage(
                        format!("{first}; and rolling back `{table}` failed: {e}"),
                        "the next run restores it (the lock keeps its earlier version); re-run the period",
                    )
                });
            }
        }
    }
    let status = if result.is_ok() { "ok" } else { "failed" };
    let summary_step = StepLog {
        run_id: run_id.clone(),
        pipeline: pipeline.name.clone(),
        started_at: now_micros() - started.elapsed().as_micros() as i64,
        kind: "run".into(),
        table: String::new(),
        period: Some(
            periods
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        files: r.steps.iter().map(|s| s.files).sum(),
        rows_read: r
            .steps
            .iter()
            .filter(|s| s.kind == "source")
            .map(|s| s.rows_read)
            .sum(),
        rows_loaded: r
            .steps
            .iter()
            .filter(|s| s.kind == "source")
            .map(|s| s.rows_loaded)
            .sum(),
        rows_quarantined: r
            .steps
            .iter()
            .filter(|s| s.kind == "source")
            .map(|s| s.rows_quarantined)
            .sum(),
        seconds: started.elapsed().as_secs_f64(),
        status: status.into(),
        message: result.as_ref().err().map(|e| e.to_string()),
        table_version: None,
        files_skipped: r.steps.iter().map(|s| s.files_skipped).sum(),
        load: None,
    };
    r.steps.push(summary_step);
    let batch = log::runs_batch(&r.steps);
    let logged = wh
        .write(&ctx, RUNS, batch_stream(batch), WriteMode::Append, &run_id)
        .await;
    // Check results are kept even when they failed the run (like `_runs`):
    // they say why.
    let checked = if r.checks.is_empty() {
        Ok(None)
    } else {
        let period_list = periods
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let batch = crate::quality::checks_batch(&run_id, &period_list, &r.checks);
        wh.write(
            &ctx,
            crate::quality::CHECKS,
            batch_stream(batch),
            WriteMode::Append,
            &run_id,
        )
        .await
        .map(|c| Some(c.version))
    };
    // A finished run records every table's version, so it can be read (and
    // its reports re-rendered) exactly as it left the warehouse.
    let recorded = match (&result, &logged, &checked) {
        (Ok(()), Ok(runs), Ok(checks)) => {
            let mut written = std::mem::take(&mut r.written);
            written.insert(RUNS.into(), runs.version);
            if let Some(v) = checks {
                written.insert(crate::quality::CHECKS.into(), *v);
            }
            crate::warehouse::versions::record(wh, &ctx, &run_id, &written)
                .await
                .map_err(crate::Error::from)
        }
        _ => Ok(()),
    };
    // A table that could not be restored keeps the lock and its journal:
    // readers stay on the earlier versions and the next run restores them.
    if restored {
        r.lock.release().await;
    }
    result?;
    logged?;
    checked?;
    recorded?;
    Ok(RunSummary {
        run_id,
        periods: periods.iter().map(|p| p.to_string()).collect(),
        steps: r.steps,
        checks: r.checks,
        seconds: started.elapsed().as_secs_f64(),
    })
}

struct Runner<'a> {
    pipeline: &'a Pipeline,
    wh: &'a Warehouse,
    ctx: &'a SessionContext,
    run_id: String,
    steps: Vec<StepLog>,
    progress: &'a mut dyn Write,
    /// table → its version before this run wrote it (`None`: it is new).
    before: BTreeMap<String, Option<u64>>,
    /// The run lock, also the journal of `before` that survives a crash.
    lock: crate::warehouse::lock::RunLock,
    /// Tables committed so far (for the fault-injection hook).
    commits: Arc<AtomicU64>,
    options: Options,
    /// Sources whose rows this run changed: sources referencing them must
    /// check every row again.
    changed: HashSet<String>,
    checks: Vec<crate::quality::CheckResult>,
    /// (table, column) → its values, for `references` checks.
    reference_cache: HashMap<(String, String), Arc<sources::RefSet>>,
    /// `_loaded_files` as it was when the run started, read once.
    loaded_files: Option<incremental::LoadedFiles>,
    /// Table → the last version this run committed (for `_versions`).
    written: BTreeMap<String, i64>,
    /// Quarantine and loaded-file rows of finished loads, with how to write
    /// them, until `flush_bookkeeping` commits them.
    bookkeeping: Vec<(WriteMode, RecordBatch, RecordBatch)>,
}

impl Runner<'_> {
    /// Remember a table's version before this run's first write, so a
    /// failed run can put it back. Journal first: if the process dies
    /// during the write, the next run (and every reader meanwhile) knows
    /// the version to go back to.
    async fn journal(&mut self, name: &str) -> Result<()> {
        if !self.before.contains_key(name) {
            let v = self.wh.version(name).await?;
            self.lock.record(name, v).await?;
            self.before.insert(name.to_string(), v);
        }
        Ok(())
    }

    /// Journal, then write a table.
    async fn commit(
        &mut self,
        ctx: &SessionContext,
        name: &str,
        stream: SendableRecordBatchStream,
        mode: WriteMode,
    ) -> Result<crate::warehouse::Committed> {
        self.journal(name).await?;
        let c = write_counted(
            self.wh,
            ctx,
            name,
            stream,
            (mode, None),
            &self.run_id,
            &self.commits,
        )
        .await?;
        self.written.insert(name.to_string(), c.version);
        Ok(c)
    }

    /// Restore the tables of a run that died (killed, machine lost) to their
    /// versions before it, and log that in `_runs`.
    async fn recover(&mut self, stale: crate::warehouse::lock::Stale) -> Result<()> {
        let t = Instant::now();
        let pins = crate::warehouse::lock::pins(&stale.journal);
        for (table, version) in &pins {
            self.wh.roll_back(table, *version).await?;
        }
        let _ = writeln!(
            self.progress,
            "recovered: restored {} table(s) written by an unfinished run ({})",
            pins.len(),
            stale.holder
        );
        self.log("recover", "", None, 0, 0, 0, 0, t, None);
        if let Some(last) = self.steps.last_mut() {
            last.message = Some(format!(
                "restored {} to their versions before the unfinished run of {}",
                pins.keys().cloned().collect::<Vec<_>>().join(", "),
                stale.holder
            ));
        }
        Ok(())
    }

    async fn all(&mut self, periods: &[Period]) -> Result<()> {
        for seed in &self.pipeline.seeds {
            let t = Instant::now();
            let batch = seed_batch(seed)?;
            let rows = batch.num_rows() as i64;
            let c = self
                .commit(
                    self.ctx,
                    &seed.name,
                    batch_stream(batch),
                    WriteMode::Overwrite,
                )
                .await?;
            self.log(
                "seed",
                &seed.name,
                None,
                0,
                rows,
                rows,
                0,
                t,
                Some(c.version),
            );
        }
        // Sources that others reference load first, so their keys are known.
        let referenced: HashSet<&str> = self
            .pipeline
            .sources
            .iter()
            .flat_map(|s| s.references())
            .collect();
        let mut ordered: Vec<&Source> = self
            .pipeline
            .sources
            .iter()
            .filter(|s| referenced.contains(s.name.as_str()))
            .collect();
        ordered.extend(
            self.pipeline
                .sources
                .iter()
                .filter(|s| !referenced.contains(s.name.as_str())),
        );
        let snapshots: Vec<&Source> = ordered
            .iter()
            .filter(|s| !s.is_periodic())
            .copied()
            .collect();
        self.load_sources(&snapshots, &[None]).await?;
        let periodic: Vec<&Source> = ordered
            .iter()
            .filter(|s| s.is_periodic())
            .copied()
            .collect();
        let each: Vec<Option<Period>> = periods.iter().copied().map(Some).collect();
        self.load_sources(&periodic, &each).await?;
        self.flush_bookkeeping().await?;
        for m in &self.pipeline.models {
            let t = Instant::now();
            let ctx = crate::sql::session();
            for dep in &m.depends_on {
                ctx.register_table(dep.as_str(), self.wh.provider(dep).await?)?;
            }
            let built = crate::steps::build(&ctx, m, &self.run_id, self.pipeline.timezone).await?;
            let (stream, rows) = counting(built.stream);
            let c = self
                .commit(&ctx, &m.name, stream, WriteMode::Overwrite)
                .await?;
            // A step's fit (coefficients, metrics, parameters) is kept per run.
            if let Some((table, batch)) = built.side {
                self.commit(&ctx, table, batch_stream(batch), WriteMode::Append)
                    .await?;
            }
            let n = rows.load(Ordering::Relaxed) as i64;
            self.log("model", &m.name, None, 0, n, n, 0, t, Some(c.version));
            if !built.summary.is_empty() {
                let _ = writeln!(self.progress, "model {}: {}", m.name, built.summary);
                if let Some(last) = self.steps.last_mut() {
                    last.message = Some(built.summary);
                }
            }
        }
        self.run_checks(periods).await
    }

    /// Run the pipeline's data-quality checks; a failed `error` check fails
    /// the run.
    async fn run_checks(&mut self, periods: &[Period]) -> Result<()> {
        if self.pipeline.checks.is_empty() {
            return Ok(());
        }
        let t = Instant::now();
        self.checks = crate::quality::run(
            &self.pipeline.checks,
            self.wh,
            periods,
            self.pipeline.timezone,
        )
        .await?;
        let count = |s: &str| self.checks.iter().filter(|c| c.status == s).count();
        let (pass, warn, fail) = (count("pass"), count("warn"), count("fail"));
        for c in self.checks.iter().filter(|c| c.status != "pass") {
            let _ = writeln!(
                self.progress,
                "{}  {}.{}: {} failing; {}",
                c.status, c.table, c.check, c.failing, c.detail
            );
        }
        let _ = writeln!(
            self.progress,
            "check {} checks: {pass} passed, {warn} warned, {fail} failed ({:.1}s)",
            self.checks.len(),
            t.elapsed().as_secs_f64()
        );
        if fail > 0 {
            return Err(crate::Error::ChecksFailed(
                self.checks
                    .iter()
                    .filter(|c| c.status == "fail")
                    .map(|c| {
                        format!(
                            "  {}.{}: {} failing; {}",
                            c.table, c.check, c.failing, c.detail
                        )
                    })
                    .collect(),
            ));
        }
        Ok(())
    }

    /// Load `srcs` for each of `periods`: plan and journal each load, read
    /// and write up to [`load_parallelism`] tables at once (each load on a
    /// task of its own), and record quarantine and files as each finishes
    /// (those tables take one writer at a time). Which load goes when is
    /// the [`Schedule`]'s; among those that may start, the source with the
    /// most left to read goes first, so the run does not end waiting on one
    /// big source.
    async fn load_sources(&mut self, srcs: &[&Source], periods: &[Option<Period>]) -> Result<()> {
        let named: Vec<(&str, Vec<&str>)> = srcs
            .iter()
            .map(|s| (s.name.as_str(), s.references().collect()))
            .collect();
        let mut schedule = Schedule::new(&named, periods.len());
        let mut ready: Vec<Option<Prepared>> = srcs.iter().map(|_| None).collect();
        let mut running = tokio::task::JoinSet::new();
        let result = self
            .drive(srcs, periods, &mut schedule, &mut ready, &mut running)
            .await;
        if result.is_err() {
            // Loads still in flight must stop before the run rolls back
            // what it wrote, or one could commit after the rollback.
            running.shutdown().await;
        }
        result
    }

    async fn drive(
        &mut self,
        srcs: &[&Source],
        periods: &[Option<Period>],
        schedule: &mut Schedule,
        ready: &mut [Option<Prepared>],
        running: &mut tokio::task::JoinSet<(usize, Executed)>,
    ) -> Result<()> {
        let slots = load_parallelism();
        loop {
            // A load with nothing to read finishes at once, which can let
            // others be planned: plan until none can be.
            while let Some(x) = schedule.plannable().first().copied() {
                match self
                    .prepare_load(srcs[x], periods[schedule.next(x)])
                    .await?
                {
                    Some(p) => {
                        ready[x] = Some(p);
                        schedule.planned(x);
                    }
                    None => schedule.skipped(x),
                }
            }
            while running.len() < slots {
                // Most left to read first: this load's bytes times the
                // periods after it (a Parquet load first among equals: its
                // files are staged whole, so it cannot overlap read and write).
                let left = |x: usize| {
                    let p = ready[x].as_ref()?;
                    let bytes: u64 = p.files.iter().map(|f| f.size).sum();
                    let staged = matches!(p.src.format, super::Format::Parquet);
                    let periods_left = (periods.len() - schedule.next(x) + 1) as u64;
                    Some((bytes.saturating_mul(periods_left), staged))
                };
                let Some(x) = (0..srcs.len())
                    .filter(|&x| schedule.may_start(x))
                    .max_by_key(|&x| (left(x), std::cmp::Reverse(x)))
                else {
                    break;
                };
                let Some(mut p) = ready[x].take() else {
                    break;
                };
                // A load's time is its planning and its run, not its wait.
                p.t = Instant::now().checked_sub(p.planned_in).unwrap_or(p.t);
                schedule.started(x);
                let (wh, ctx, run_id) = (self.wh.clone(), self.ctx.clone(), self.run_id.clone());
                let (bars, commits) = (self.options.progress_bars, self.commits.clone());
                running.spawn(async move {
                    (x, execute_load(&wh, &ctx, &run_id, p, bars, &commits).await)
                });
            }
            let Some(joined) = running.join_next().await else {
                if schedule.done() {
                    return Ok(());
                }
                return Err(crate::Error::Query(
                    "internal: source loads wait on each other and none can start".into(),
                ));
            };
            let (x, e) = joined.map_err(|e| crate::Error::Query(format!("a load stopped: {e}")))?;
            schedule.finished(x);
            self.finish_load(e).await?;
            // Held across loads (a run of many periods commits them once),
            // up to a bound so memory does not grow with the run.
            let held: usize = self.bookkeeping.iter().map(|(_, q, _)| q.num_rows()).sum();
            if held >= BOOKKEEPING_ROWS || self.bookkeeping.len() >= BOOKKEEPING_LOADS {
                self.flush_bookkeeping().await?;
            }
        }
    }

    /// Commit the held quarantine and loaded-file rows: one commit per
    /// table for the reloads (each replaces its source+period, so a re-run
    /// that fixed an extract clears the old rejects) and one for the
    /// appends (which add). Few commits, because every commit replays the
    /// table's log, which grows with each.
    async fn flush_bookkeeping(&mut self) -> Result<()> {
        let pending = std::mem::take(&mut self.bookkeeping);
        let (mut replaced, mut appended) = (Vec::new(), Vec::new());
        for (mode, q, f) in pending {
            match mode {
                WriteMode::Replace(parts) => replaced.push((parts, q, f)),
                WriteMode::AppendTo(parts) => appended.push((parts, q, f)),
                other => {
                    return Err(crate::Error::Query(format!(
                        "internal: bookkeeping written as {other:?}"
                    )));
                }
            }
        }
        type Held = Vec<(Vec<(String, String)>, RecordBatch, RecordBatch)>;
        let unzip = |held: Held| {
            let mut out = (Vec::new(), Vec::new(), Vec::new());
            for (p, q, f) in held {
                out.0.push(p);
                out.1.push(q);
                out.2.push(f);
            }
            out
        };
        let (parts, q, f) = unzip(replaced);
        if !parts.is_empty() {
            self.commit_all(QUARANTINE, q, WriteMode::ReplaceMany(parts.clone()))
                .await?;
            self.commit_all(LOADED_FILES, f, WriteMode::ReplaceMany(parts))
                .await?;
        }
        let (parts, q, f) = unzip(appended);
        if let Some(first) = parts.into_iter().next() {
            let mode = WriteMode::AppendTo(first);
            // An append without rejects adds none.
            let q: Vec<_> = q.into_iter().filter(|q| q.num_rows() > 0).collect();
            if !q.is_empty() {
                self.commit_all(QUARANTINE, q, mode.clone()).await?;
            }
            self.commit_all(LOADED_FILES, f, mode).await?;
        }
        Ok(())
    }

    /// Commit several batches of one table's rows as one write.
    async fn commit_all(
        &mut self,
        name: &str,
        batches: Vec<RecordBatch>,
        mode: WriteMode,
    ) -> Result<()> {
        let Some(schema) = batches.first().map(|b| b.schema()) else {
            return Ok(());
        };
        let all = datafusion::arrow::compute::concat_batches(&schema, &batches)
            .map_err(|e| crate::Error::Query(e.to_string()))?;
        self.commit(self.ctx, name, batch_stream(all), mode).await?;
        Ok(())
    }

    /// Decide what to read (incremental plan, evolution) and journal the
    /// tables the load writes; `None` when there is nothing to read.
    async fn prepare_load(
        &mut self,
        src: &Source,
        period: Option<Period>,
    ) -> Result<Option<Prepared>> {
        let t = Instant::now();
        let period_key = period
            .map(|p| p.to_string())
            .unwrap_or_else(|| "snapshot".into());
        let files = sources::files_for(src, period).await?;
        let prior = if self.options.full_refresh {
            None
        } else {
            if self.loaded_files.is_none() {
                self.loaded_files = Some(incremental::loaded(self.wh).await?);
            }
            self.loaded_files
                .as_ref()
                .and_then(|all| all.get(&(src.name.clone(), period_key.clone())))
                .cloned()
        };
        let force = if self.options.full_refresh {
            Some("full refresh".to_string())
        } else if prior.is_some() {
            src.references()
                .find(|r| self.changed.contains(*r))
                .map(|r| format!("`{r}` changed, so every reference is checked again"))
        } else {
            None
        };
        let definition = incremental::definition(src, self.pipeline.timezone);
        let plan = incremental::plan(files, prior.as_ref(), &definition, force, src.is_periodic());
        let part = |p: Period| vec![("period".to_string(), p.to_string())];
        let qpart = vec![
            ("source".to_string(), src.name.clone()),
            ("period".to_string(), period_key.clone()),
        ];
        let (files, prior_keys, mode, side_mode, kept, why, how) = match plan {
            Plan::Skip { files } => {
                let p = period.map(|p| format!(" {p}")).unwrap_or_default();
                let _ = writeln!(
                    self.progress,
                    "skip  {}{p}: {files} file(s) already loaded, none new or changed",
                    src.name
                );
                self.log("source", &src.name, period, 0, 0, 0, 0, t, None);
                if let Some(step) = self.steps.last_mut() {
                    step.files_skipped = files as i64;
                    step.load = Some("skip".into());
                    step.message = Some(format!("up to date: {files} file(s) already loaded"));
                }
                return Ok(None);
            }
            Plan::Append { new, kept } => {
                let keys = self.loaded_keys(src, &period_key).await?;
                let mode = match period {
                    Some(p) => WriteMode::AppendTo(part(p)),
                    None => WriteMode::Append,
                };
                let why = format!(
                    "incremental: {} new file(s) added, {kept} already loaded",
                    new.len()
                );
                (
                    new,
                    keys,
                    mode,
                    WriteMode::AppendTo(qpart),
                    kept,
                    why,
                    "append",
                )
            }
            Plan::Reload { files, why } => {
                let mode = match period {
                    Some(p) => WriteMode::Replace(part(p)),
                    None => WriteMode::Overwrite,
                };
                (
                    files,
                    None,
                    mode,
                    WriteMode::Replace(qpart),
                    0,
                    why,
                    "reload",
                )
            }
        };
        // Evolution: declare the extracts' new columns (and those earlier
        // runs added to the table) for this load.
        let (src, mode) = if src.on_schema_change == super::SchemaChange::Evolve {
            let known: Vec<String> = match self.wh.table(&src.name).await? {
                Some(_) => self
                    .wh
                    .provider(&src.name)
                    .await?
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect(),
                None => Vec::new(),
            };
            let (s2, f2) = (src.clone(), files.clone());
            let widened =
                tokio::task::spawn_blocking(move || sources::evolve::widen(&s2, &f2, &known))
                    .await
                    .map_err(|e| crate::Error::Query(e.to_string()))??;
            (widened, WriteMode::Evolving(Box::new(mode)))
        } else {
            (src.clone(), mode)
        };
        let checks = CheckContext {
            references: self.reference_sets(&src).await?,
            timezone: Some(self.pipeline.timezone),
        };
        for table in [src.name.as_str(), QUARANTINE, LOADED_FILES] {
            self.journal(table).await?;
        }
        Ok(Some(Prepared {
            src,
            period,
            period_key,
            files,
            prior_keys,
            checks,
            mode,
            side_mode,
            definition,
            kept,
            why,
            how,
            t,
            planned_in: t.elapsed(),
        }))
    }

    /// Record quarantine and loaded files for a load that wrote its table,
    /// and log it.
    async fn finish_load(&mut self, e: Executed) -> Result<()> {
        let Executed {
            p,
            nfiles,
            rejected,
            stats,
            failure,
            written,
        } = e;
        let (src, period, t) = (&p.src, p.period, p.t);
        if let Some(e) = failure.lock().ok().and_then(|mut f| f.take()) {
            self.fail("source", &src.name, period, &e.to_string(), t);
            return Err(e.into());
        }
        let committed = match written {
            Ok(c) => c,
            Err(e) => {
                self.fail("source", &src.name, period, &e.to_string(), t);
                return Err(e);
            }
        };
        let stats: LoadStats = stats.lock().map(|s| s.clone()).unwrap_or_default();
        let rejected = rejected
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        // Quarantine and file list are held and committed together with
        // other loads' (see `flush_bookkeeping`).
        let qbatch = log::quarantine_batch(&self.run_id, &src.name, &p.period_key, &rejected);
        let fbatch = log::loaded_files_batch(
            &self.run_id,
            &src.name,
            &p.period_key,
            &p.definition,
            &stats.per_file,
        );
        self.bookkeeping.push((p.side_mode.clone(), qbatch, fbatch));
        self.changed.insert(src.name.clone());
        self.written.insert(src.name.clone(), committed.version);
        self.reference_cache.retain(|(t, _), _| t != &src.name);
        self.log(
            "source",
            &src.name,
            period,
            nfiles as i64,
            stats.rows_read as i64,
            stats.rows_loaded as i64,
            stats.rows_quarantined as i64,
            t,
            Some(committed.version),
        );
        let (kept, how) = (p.kept, p.how);
        let why = p.why.clone();
        let pl = period.map(|p| format!(" {p}")).unwrap_or_default();
        let what = if how == "append" {
            format!("{nfiles} new file(s) ({kept} already loaded)")
        } else {
            format!("{nfiles} file(s) ({why})")
        };
        let _ = writeln!(
            self.progress,
            "load  {}{pl}: {what}, {} rows read = {} loaded + {} quarantined ({:.1}s)",
            src.name,
            stats.rows_read,
            stats.rows_loaded,
            stats.rows_quarantined,
            t.elapsed().as_secs_f64()
        );
        let mut message = if how == "append" {
            why
        } else {
            format!("reloaded: {why}")
        };
        let evolved: Vec<&str> = src
            .columns
            .iter()
            .filter(|c| c.description.as_deref() == Some(sources::evolve::EVOLVED))
            .map(|c| c.name.as_str())
            .collect();
        if !evolved.is_empty() {
            let what = format!(
                "schema evolved: column(s) {} added as loaded",
                evolved.join(", ")
            );
            let _ = writeln!(self.progress, "      {}: {what}", src.name);
            message = format!("{message}; {what}");
        }
        if !stats.drift.is_empty() {
            let policy = match src.on_schema_change {
                super::SchemaChange::Evolve => "evolve",
                _ => "ignore",
            };
            let what = format!("schema drift (on_schema_change: {policy}): {}", stats.drift);
            let _ = writeln!(self.progress, "      {}: {what}", src.name);
            message = format!("{message}; {what}");
        }
        if let Some(step) = self.steps.last_mut() {
            step.files_skipped = kept as i64;
            step.load = Some(how.into());
            step.message = Some(message);
        }
        Ok(())
    }

    /// The key columns of the rows already in a source's partition, as a
    /// stream (an incremental load checks new rows against them).
    async fn loaded_keys(
        &self,
        src: &Source,
        period_key: &str,
    ) -> Result<Option<SendableRecordBatchStream>> {
        if src.key.is_empty() {
            return Ok(None);
        }
        let ctx = crate::sql::session();
        let mut df = ctx.read_table(self.wh.provider(&src.name).await?)?;
        if src.is_periodic() {
            df = df.filter(col("period").eq(lit(period_key)))?;
        }
        let keys: Vec<&str> = src.key.iter().map(String::as_str).collect();
        Ok(Some(df.select_columns(&keys)?.execute_stream().await?))
    }

    /// The values of every column this source references, read from the
    /// warehouse (loaded earlier in this run).
    /// Sets are cached for the run and dropped when their table changes.
    async fn reference_sets(
        &mut self,
        src: &Source,
    ) -> Result<HashMap<String, Arc<sources::RefSet>>> {
        let mut out = HashMap::new();
        for c in &src.columns {
            let Some((rs, rc)) = &c.references else {
                continue;
            };
            let cache_key = (rs.clone(), rc.clone());
            if let Some(set) = self.reference_cache.get(&cache_key) {
                out.insert(c.name.clone(), set.clone());
                continue;
            }
            let ctx = crate::sql::session();
            ctx.register_table(rs.as_str(), self.wh.provider(rs).await?)?;
            let sql = format!(
                "SELECT DISTINCT CAST(\"{rc}\" AS VARCHAR) AS v FROM \"{rs}\" WHERE \"{rc}\" IS NOT NULL"
            );
            let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
            let mut set = sources::RefSet::default();
            while let Some(b) = stream.next().await {
                let b = b?;
                let col = datafusion::arrow::compute::cast(
                    b.column(0),
                    &datafusion::arrow::datatypes::DataType::Utf8,
                )
                .map_err(datafusion::error::DataFusionError::from)?;
                if let Some(s) = col.as_any().downcast_ref::<StringArray>() {
                    for v in s.iter().flatten() {
                        set.insert(v);
                    }
                }
            }
            let set = Arc::new(set);
            self.reference_cache.insert(cache_key, set.clone());
            out.insert(c.name.clone(), set);
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn log(
        &mut self,
        kind: &str,
        table: &str,
        period: Option<Period>,
        files: i64,
        read: i64,
        loaded: i64,
        quarantined: i64,
        t: Instant,
        version: Option<i64>,
    ) {
        let secs = t.elapsed().as_secs_f64();
        let line = match kind {
            // These print their own lines.
            "source" | "recover" => String::new(),
            _ => format!("build {table}: {loaded} rows ({secs:.1}s)"),
        };
        if !line.is_empty() {
            let _ = writeln!(self.progress, "{line}");
        }
        self.steps.push(StepLog {
            run_id: self.run_id.clone(),
            pipeline: self.pipeline.name.clone(),
            started_at: now_micros() - t.elapsed().as_micros() as i64,
            kind: kind.into(),
            table: table.into(),
            period: period.map(|p| p.to_string()),
            files,
            rows_read: read,
            rows_loaded: loaded,
            rows_quarantined: quarantined,
            seconds: secs,
            status: "ok".into(),
            message: None,
            table_version: version,
            ..Default::default()
        });
    }

    fn fail(&mut self, kind: &str, table: &str, period: Option<Period>, msg: &str, t: Instant) {
        self.steps.push(StepLog {
            run_id: self.run_id.clone(),
            pipeline: self.pipeline.name.clone(),
            started_at: now_micros() - t.elapsed().as_micros() as i64,
            kind: kind.into(),
            table: table.into(),
            period: period.map(|p| p.to_string()),
            seconds: t.elapsed().as_secs_f64(),
            status: "failed".into(),
            message: Some(msg.to_string()),
            ..Default::default()
        });
    }
}

/// A source load planned and journaled, ready to read and write.
struct Prepared {
    /// The source as loaded (with evolved columns, if any).
    src: Source,
    period: Option<Period>,
    period_key: String,
    files: Vec<sources::ExtractFile>,
    prior_keys: Option<SendableRecordBatchStream>,
    checks: CheckContext,
    mode: WriteMode,
    /// How quarantine and loaded files are written (replace or append).
    side_mode: WriteMode,
    definition: String,
    /// Files already loaded and not read again.
    kept: usize,
    why: String,
    /// `reload` or `append`.
    how: &'static str,
    t: Instant,
    /// How long planning took.
    planned_in: std::time::Duration,
}

/// A load that has read its files and written (or failed to write) its table.
struct Executed {
    p: Prepared,
    nfiles: usize,
    rejected: Arc<std::sync::Mutex<Vec<log::Rejected>>>,
    stats: Arc<std::sync::Mutex<LoadStats>>,
    failure: Arc<std::sync::Mutex<Option<sources::Error>>>,
    written: Result<crate::warehouse::Committed>,
}

/// Read a prepared load's files and write its table; no bookkeeping, so
/// several run at once.
async fn execute_load(
    wh: &Warehouse,
    ctx: &SessionContext,
    run_id: &str,
    mut p: Prepared,
    bars: bool,
    commits: &AtomicU64,
) -> Executed {
    let files = std::mem::take(&mut p.files);
    let nfiles = files.len();
    let bytes: u64 = files.iter().map(|f| f.size).sum();
    let sources::Load {
        mut stream,
        rejected,
        stats,
        failure,
    } = sources::load(
        &p.src,
        files,
        p.period,
        p.checks.clone(),
        p.prior_keys.take(),
    );
    let bar = bars.then(|| {
        let label = match p.period {
            Some(period) => format!("{} {period}", p.src.name),
            None => p.src.name.clone(),
        };
        super::progress::Bar::start(label, nfiles, bytes, stats.clone())
    });
    // The first batch samples the data for the Parquet settings; it is
    // then written first.
    let schema = stream.schema();
    let first = stream.next().await;
    let sample = first.as_ref().and_then(|b| b.as_ref().ok());
    let props = sources::writer_properties(&p.src, &p.checks, sample);
    let stream: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::iter(first).chain(stream),
    ));
    let written = write_counted(
        wh,
        ctx,
        &p.src.name,
        stream,
        (p.mode.clone(), Some(props)),
        run_id,
        commits,
    )
    .await;
    if let Some(b) = bar {
        b.finish();
    }
    Executed {
        p,
        nfiles,
        rejected,
        stats,
        failure,
        written,
    }
}

/// Write a table and count the commit (for the fault-injection hook).
async fn write_counted(
    wh: &Warehouse,
    ctx: &SessionContext,
    name: &str,
    stream: SendableRecordBatchStream,
    (mode, props): (WriteMode, Option<WriterProperties>),
    run_id: &str,
    commits: &AtomicU64,
) -> Result<crate::warehouse::Committed> {
    let c = wh
        .write_with(ctx, name, stream, mode, run_id, props)
        .await?;
    let n = commits.fetch_add(1, Ordering::SeqCst) + 1;
    fault_hook(n, name);
    Ok(c)
}

/// Quarantined rows, or loads, whose bookkeeping is held before it is
/// committed (see `Runner::flush_bookkeeping`).
const BOOKKEEPING_ROWS: usize = 200_000;
const BOOKKEEPING_LOADS: usize = 500;

/// How many source loads run at once: `TOUCHPOINT_LOAD_PARALLELISM`, else
/// the number of cores (at most 4: each load is a reader and a writer).
fn load_parallelism() -> usize {
    std::env::var("TOUCHPOINT_LOAD_PARALLELISM")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n >= 1)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(4)
        })
}

/// Count rows as they pass, without holding them.
fn counting(stream: SendableRecordBatchStream) -> (SendableRecordBatchStream, Arc<AtomicU64>) {
    let n = Arc::new(AtomicU64::new(0));
    let n2 = n.clone();
    let schema = stream.schema();
    let s = stream.inspect(move |b| {
        if let Ok(b) = b {
            n2.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
        }
    });
    (Box::pin(RecordBatchStreamAdapter::new(schema, s)), n)
}

pub fn batch_stream(batch: RecordBatch) -> SendableRecordBatchStream {
    let schema = batch.schema();
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::iter(vec![Ok(batch)]),
    ))
}

pub fn seed_schema(seed: &Seed) -> SchemaRef {
    Arc::new(Schema::new(
        seed.columns
            .iter()
            .map(|(n, t)| Field::new(n, t.arrow(), true))
            .collect::<Vec<_>>(),
    ))
}

/// Build a seed's rows from its YAML values.
/// Parse a seed column's cells; the first that does not parse is an error.
fn parse_cells<T>(
    vals: &[Option<String>],
    parse: impl Fn(&str) -> Option<T>,
    fail: impl Fn(usize) -> crate::Error,
) -> Result<Vec<Option<T>>> {
    vals.iter()
        .enumerate()
        .map(|(r, v)| match v {
            None => Ok(None),
            Some(s) => parse(s).map(Some).ok_or_else(|| fail(r)),
        })
        .collect()
}

pub fn seed_batch(seed: &Seed) -> Result<RecordBatch> {
    let bad = |col: &str, v: &serde_yaml::Value, t: &ColumnType| crate::Error::Usage {
        message: format!(
            "seed `{}`: value {v:?} in column `{col}` is not a {t}",
            seed.name
        ),
        help: Some("fix the seed's rows in the pipeline file".into()),
    };
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (i, (name, ty)) in seed.columns.iter().enumerate() {
        let vals: Vec<Option<String>> = seed
            .spec
            .rows
            .iter()
            .map(|r| r.get(i).and_then(crate::spec::scalar_text))
            .collect();
        let raw = &seed.spec.rows;
        let fail = |r: usize| bad(name, &raw[r][i], ty);
        let arr: ArrayRef = match ty {
            ColumnType::String => Arc::new(StringArray::from(vals)),
            ColumnType::Int => Arc::new(Int64Array::from(parse_cells(
                &vals,
                |s| s.parse().ok(),
                fail,
            )?)),
            ColumnType::Double => Arc::new(Float64Array::from(parse_cells(
                &vals,
                |s| s.parse().ok(),
                fail,
            )?)),
            ColumnType::Bool => Arc::new(BooleanArray::from(parse_cells(
                &vals,
                |s| s.parse().ok(),
                fail,
            )?)),
            ColumnType::Decimal { precision, scale } => {
                let cells = parse_cells(
                    &vals,
                    |s| sources::conform::parse_decimal(s, *precision, *scale).ok(),
                    fail,
                )?;
                Arc::new(
                    Decimal128Array::from(cells)
                        .with_precision_and_scale(*precision, *scale)
                        .map_err(|e| crate::Error::Query(e.to_string()))?,
                )
            }
            ColumnType::Date => {
                let epoch = chrono::DateTime::UNIX_EPOCH.date_naive();
                let cells = parse_cells(
                    &vals,
                    |s| {
                        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                            .ok()
                            .map(|d| (d - epoch).num_days() as i32)
                    },
                    fail,
                )?;
                Arc::new(Date32Array::from(cells))
            }
            ColumnType::Timestamp => {
                return Err(crate::Error::usage(
                    format!(
                        "seed `{}`: timestamp columns are not supported in seeds",
                        seed.name
                    ),
                    "use a date or string column",
                ));
            }
        };
        cols.push(arr);
    }
    RecordBatch::try_new(seed_schema(seed), cols).map_err(|e| crate::Error::Query(e.to_string()))
}

/// Fault injection for the crash tests: with
/// `TOUCHPOINT_FAULT_PAUSE_AFTER_COMMIT=N` the run stops dead after its Nth
/// table commit (says so on stderr) and waits to be killed.
fn fault_hook(commits: u64, table: &str) {
    let Some(n) = std::env::var("TOUCHPOINT_FAULT_PAUSE_AFTER_COMMIT")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    if commits == n {
        eprintln!("fault: paused after commit {n} ({table})");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
