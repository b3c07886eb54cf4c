//! The stages of one source load: planned and journaled on the run
//! ([`Runner::prepare_load`]: which files, incremental or reload, evolved
//! columns, reference sets), executed on a task of its own
//! ([`execute_load`]: read and write the table), and finished on the run
//! ([`Runner::finish_load`]: bookkeeping held, the step logged).

use super::Runner;
use crate::period::{self, Period};
use crate::pipeline::Result;
use crate::sources::incremental::{self, Plan};
use crate::sources::{self, CheckContext, LoadStats, SchemaChange, Source};
use crate::warehouse::WriteMode;
use crate::warehouse::log::{self, LOADED_FILES, QUARANTINE};
use crate::warehouse::transaction::{Held, Writer};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Instant;

impl Runner<'_> {
    /// Decide what to read (incremental plan, evolution) and journal the
    /// tables the load writes; `None` when there is nothing to read.
    pub(super) async fn prepare_load(
        &mut self,
        src: &Source,
        period: Option<Period>,
    ) -> Result<Option<Prepared>> {
        if src.database.is_some() {
            return self.prepare_database(src, period).await;
        }
        let t = Instant::now();
        let period_key = period::key_of(period);
        let files = sources::files_for(src, period).await?;
        // Read with `--full-refresh` too: files that vanished must not
        // empty a period then either.
        if self.loaded_files.is_none() {
            self.loaded_files = Some(incremental::loaded(self.wh).await?);
        }
        let prior = self
            .loaded_files
            .as_ref()
            .and_then(|all| all.get(&(src.name.clone(), period_key.clone())))
            .cloned();
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
        // Periods from values: like a snapshot, read again whole when any
        // file changed (new files cannot be appended to one period).
        let by_value = src.periods_from_values();
        let plan = incremental::plan(
            files,
            prior.as_ref(),
            &definition,
            force,
            src.is_periodic() && !by_value,
        );
        let part = |p: Period| vec![(period::COLUMN.to_string(), p.to_string())];
        let qpart = vec![
            ("source".to_string(), src.name.clone()),
            (period::COLUMN.to_string(), period_key.clone()),
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
            Plan::Vanished { missing } => {
                if !self.options.allow_empty {
                    let shown: Vec<&str> = missing.iter().take(10).map(String::as_str).collect();
                    let more = missing.len().saturating_sub(shown.len());
                    let e = sources::Error::Vanished {
                        source_name: src.name.clone(),
                        period: period
                            .map(|p| p.to_string())
                            .unwrap_or_else(|| "(snapshot)".into()),
                        count: missing.len(),
                        files: if more > 0 {
                            format!("{}, and {more} more", shown.join(", "))
                        } else {
                            shown.join(", ")
                        },
                    };
                    self.fail("source", &src.name, period, &e.to_string(), t);
                    return Err(e.into());
                }
                let mode = match period {
                    Some(p) => WriteMode::Replace(part(p)),
                    None => WriteMode::Overwrite,
                };
                let why = format!(
                    "all {} file(s) loaded before are gone: the period is replaced with no rows (--allow-empty)",
                    missing.len()
                );
                (
                    Vec::new(),
                    None,
                    mode,
                    WriteMode::Replace(qpart),
                    0,
                    why,
                    "reload",
                )
            }
            Plan::Reload { files, why } => {
                let mode = match period {
                    Some(p) => WriteMode::Replace(part(p)),
                    None if by_value => WriteMode::ReplacePresent(period::COLUMN.into()),
                    None => WriteMode::Overwrite,
                };
                let why = match (&src.period_column, by_value) {
                    (Some(pc), true) => {
                        format!(
                            "{why}; each row to the period of its `{pc}`, the periods present replaced"
                        )
                    }
                    _ => why,
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
        let (src, mode) = if src.on_schema_change == SchemaChange::Evolve {
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
                    .map_err(|e| crate::pipeline::Error::Internal(e.to_string()))??;
            (widened, WriteMode::Evolving(Box::new(mode)))
        } else {
            (src.clone(), mode)
        };
        let checks = CheckContext {
            references: self.reference_sets(&src).await?,
            timezone: Some(self.pipeline.timezone),
        };
        self.journal_load(&src).await?;
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
            database: None,
            as_of: self.as_of,
        }))
    }

    /// Journal the tables a load writes: its own, its history, and the
    /// bookkeeping.
    pub(super) async fn journal_load(&mut self, src: &Source) -> Result<()> {
        let history = src
            .history
            .as_ref()
            .map(|_| sources::history::table_name(&src.name));
        for table in [Some(src.name.as_str()), history.as_deref()]
            .into_iter()
            .flatten()
            .chain([QUARANTINE, LOADED_FILES])
        {
            self.tx.journal(table).await?;
        }
        Ok(())
    }

    /// Record quarantine and loaded files for a load that wrote its table,
    /// and log it.
    pub(super) async fn finish_load(&mut self, e: Executed) -> Result<()> {
        let Executed {
            p,
            nfiles,
            rejected,
            stats,
            failure,
            written,
            history,
            reconciled,
        } = e;
        let (src, period, t) = (&p.src, p.period, p.t);
        if let Some(e) = failure.lock().ok().and_then(|mut f| f.take()) {
            self.fail("source", &src.name, period, &e.to_string(), t);
            return Err(e.into());
        }
        let (committed, history) = match (written, history) {
            (Ok(c), Ok(h)) => (c, h),
            (Err(e), _) | (_, Err(e)) => {
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
        // other loads' (see `Transaction::hold`); the quarantine as its
        // batches are read back (they may be spilled on disk).
        let held = Held {
            rows: rejected.len(),
            memory: rejected.memory(),
            batches: rejected.into_quarantine(&self.run_id, &src.name, &p.period_key),
        };
        let fbatch = log::loaded_files_batch(
            &self.run_id,
            &src.name,
            &p.period_key,
            &p.definition,
            &stats.per_file,
        );
        self.tx
            .hold(self.ctx, p.side_mode.clone(), held, fbatch)
            .await?;
        self.changed.insert(src.name.clone());
        self.tx.committed(&src.name, committed);
        if let Some(c) = history.committed {
            self.tx
                .committed(&sources::history::table_name(&src.name), c);
        }
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
        let what = if src.database.is_some() {
            why.clone()
        } else if how == "append" {
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
        let mut message = if how == "append" || how == "merge" {
            why
        } else {
            format!("reloaded: {why}")
        };
        if let Some(m) = committed.merged {
            let what = format!(
                "merged: {} inserted, {} updated, {} deleted",
                m.inserted, m.updated, m.deleted
            );
            let _ = writeln!(self.progress, "      {}: {what}", src.name);
            message = format!("{message}; {what}");
        }
        if let Some(r) = reconciled {
            let what = format!(
                "reconciled: {} key(s) in the database, {} row(s) no longer there deleted",
                r.keys, r.deleted
            );
            let _ = writeln!(self.progress, "      {}: {what}", src.name);
            message = format!("{message}; {what}");
        }
        if src.history.is_some() {
            let what = history.describe();
            let _ = writeln!(self.progress, "      {}: {what}", src.name);
            message = format!("{message}; {what}");
        }
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
                SchemaChange::Evolve => "evolve",
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
}

/// A source load planned and journaled, ready to read and write.
pub(super) struct Prepared {
    /// The source as loaded (with evolved columns, if any).
    pub(super) src: Source,
    pub(super) period: Option<Period>,
    pub(super) period_key: String,
    pub(super) files: Vec<sources::ExtractFile>,
    pub(super) prior_keys: Option<SendableRecordBatchStream>,
    pub(super) checks: CheckContext,
    pub(super) mode: WriteMode,
    /// How quarantine and loaded files are written (replace or append).
    pub(super) side_mode: WriteMode,
    pub(super) definition: String,
    /// Files already loaded and not read again.
    pub(super) kept: usize,
    pub(super) why: String,
    /// `reload` or `append`.
    pub(super) how: &'static str,
    pub(super) t: Instant,
    /// How long planning took.
    pub(super) planned_in: std::time::Duration,
    /// A database source: what to extract.
    pub(super) database: Option<sources::database::Plan>,
    /// The run's start (microseconds, UTC): the moment of a history's
    /// changes that carry none of their own.
    pub(super) as_of: i64,
}

/// A load that has read its files and written (or failed to write) its table.
pub(super) struct Executed {
    p: Prepared,
    nfiles: usize,
    rejected: Arc<std::sync::Mutex<sources::rejects::Rejects>>,
    stats: Arc<std::sync::Mutex<LoadStats>>,
    failure: Arc<std::sync::Mutex<Option<sources::Error>>>,
    written: Result<crate::warehouse::Committed>,
    history: Result<super::history::Written>,
    /// Deletes by reconcile, when this run compared every key.
    reconciled: Option<super::reconcile::Reconciled>,
}

/// Read a prepared load's files and write its table; no bookkeeping, so
/// several run at once.
pub(super) async fn execute_load(
    writer: &Writer,
    ctx: &SessionContext,
    mut p: Prepared,
    bars: bool,
) -> Executed {
    let files = std::mem::take(&mut p.files);
    let nfiles = files.len();
    // A database load that also read every key (deletes by reconcile).
    let mut outcome = None;
    let bytes: u64 = files.iter().map(|f| f.size).sum();
    let sources::Load {
        mut stream,
        rejected,
        stats,
        failure,
    } = match p.database.take() {
        Some(plan) => {
            let keys = plan.keys;
            let (load, o) = sources::database::load::load(&p.src, plan, p.checks.clone());
            outcome = keys.then_some(o);
            load
        }
        None => sources::load(
            &p.src,
            files,
            p.period,
            p.checks.clone(),
            p.prior_keys.take(),
        ),
    };
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
    let (stream, deleted) = super::history::watch(&p.src, stream);
    let written = writer
        .write(ctx, &p.src.name, stream, p.mode.clone(), Some(props))
        .await
        .map_err(crate::pipeline::Error::from);
    if let Some(b) = bar {
        b.finish();
    }
    // The history follows the table only once its load succeeded (a failed
    // one is rolled back with the run).
    let loaded = failure.lock().map(|f| f.is_none()).unwrap_or(false);
    let (written, reconciled) = match outcome {
        Some(o) if loaded => super::reconcile::after(writer, ctx, &p.src, written, &o).await,
        _ => (written, None),
    };
    let history = match &written {
        Ok(c) if loaded && p.src.history.is_some() => {
            // Rows a reconcile removed are changes the history must see.
            let mut seen = *c;
            if let (Some(r), Some(m)) = (reconciled, seen.merged.as_mut()) {
                m.deleted += r.deleted;
            }
            super::history::write(writer, ctx, &p.src, &seen, &deleted, p.as_of).await
        }
        _ => Ok(Default::default()),
    };
    Executed {
        p,
        nfiles,
        rejected,
        stats,
        failure,
        written,
        history,
        reconciled,
    }
}
