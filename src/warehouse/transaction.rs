//! A run's writes as one transaction over many Delta tables. Delta commits
//! one table at a time, so the run lock is also a journal: before the run
//! first writes a table, its version is recorded durably; a failed run puts
//! every table back ([`Transaction::roll_back`]), and a killed one is put
//! back by the next ([`Transaction::recover`]). Bookkeeping rows (quarantine
//! and loaded files) are held and committed a few at a time, since every
//! commit replays the table's log.

use super::lock::{self, RunLock, Stale};
use super::log::{LOADED_FILES, QUARANTINE};
use super::{Committed, Error, Result, Warehouse, WriteMode};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::SessionContext;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Quarantined rows (or bytes of them in memory), or loads, whose
/// bookkeeping is held before it is committed.
const HELD_ROWS: u64 = 200_000;
const HELD_BYTES: usize = 64 << 20;
const HELD_LOADS: usize = 500;

/// One load's quarantine rows, as batches read back when committed (they
/// may be spilled on disk: memory does not grow with the rejects).
pub struct Held {
    pub rows: u64,
    /// Bytes the batches hold in memory.
    pub memory: usize,
    pub batches: Box<dyn Iterator<Item = std::result::Result<RecordBatch, String>> + Send>,
}

pub struct Transaction {
    writer: Writer,
    /// The run lock, also the journal of `before` that survives a crash.
    lock: RunLock,
    /// table → its version before this run wrote it (`None`: it is new).
    before: BTreeMap<String, Option<u64>>,
    /// Table → the last version this run committed (for `_versions`).
    written: BTreeMap<String, i64>,
    /// Quarantine and loaded-file rows of finished loads, with how to write
    /// them, until [`Transaction::flush`] commits them.
    held: Vec<(WriteMode, Held, RecordBatch)>,
}

/// What writing a table needs, without the journal: cloned into each of
/// several concurrent loads (their tables are journaled before they start).
#[derive(Debug, Clone)]
pub struct Writer {
    pub wh: Warehouse,
    pub run_id: String,
    /// Tables committed so far (for the fault-injection hook).
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Write a table in one commit (and count it).
    pub async fn write(
        &self,
        ctx: &SessionContext,
        name: &str,
        stream: SendableRecordBatchStream,
        mode: WriteMode,
        props: Option<WriterProperties>,
    ) -> Result<Committed> {
        self.write_tagged(ctx, name, stream, mode, props, None)
            .await
    }

    /// [`Writer::write`] with the commit tagged ([`Warehouse::write_tagged`]).
    pub async fn write_tagged(
        &self,
        ctx: &SessionContext,
        name: &str,
        stream: SendableRecordBatchStream,
        mode: WriteMode,
        props: Option<WriterProperties>,
        tag: Option<&str>,
    ) -> Result<Committed> {
        let c = self
            .wh
            .write_tagged(ctx, name, stream, mode, &self.run_id, props, tag)
            .await?;
        let n = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
        fault_hook(n, name);
        Ok(c)
    }

    /// A model built in parts, in one commit ([`Warehouse::write_parts`]).
    pub async fn write_parts(
        &self,
        name: &str,
        schema: datafusion::arrow::datatypes::SchemaRef,
        parts: super::parts::Parts,
        column: &str,
        replace: Option<&[String]>,
        tag: &str,
    ) -> Result<Committed> {
        let c = self
            .wh
            .write_parts(
                name,
                schema,
                parts,
                column,
                replace,
                &self.run_id,
                Some(tag),
            )
            .await?;
        let n = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
        fault_hook(n, name);
        Ok(c)
    }
}

impl Transaction {
    /// Take the warehouse's run lock for `pipeline`. When the last holder
    /// died mid-run, its journal comes back: [`Transaction::recover`] it
    /// before anything else.
    pub async fn begin(
        wh: &Warehouse,
        pipeline: &str,
        run_id: &str,
    ) -> Result<(Transaction, Option<Stale>)> {
        let (lock, stale) = RunLock::acquire(wh, pipeline).await?;
        Ok((
            Transaction {
                writer: Writer {
                    wh: wh.clone(),
                    run_id: run_id.to_string(),
                    commits: Arc::new(AtomicU64::new(0)),
                },
                lock,
                before: BTreeMap::new(),
                written: BTreeMap::new(),
                held: Vec::new(),
            },
            stale,
        ))
    }

    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Restore the tables of a run that died (killed, machine lost) to
    /// their versions before it; returns the tables restored. Every table
    /// is tried; if one fails the lock keeps the whole journal (restoring
    /// again is harmless), so the next run tries again and readers stay
    /// pinned meanwhile.
    pub async fn recover(&mut self, stale: &Stale) -> Result<Vec<String>> {
        let pins = lock::pins(&stale.journal);
        let mut first = None;
        for (table, version) in &pins {
            if let Err(e) = self.writer.wh.roll_back(table, *version).await {
                first.get_or_insert(e);
            }
        }
        match first {
            Some(e) => Err(e),
            None => {
                self.lock.restored();
                Ok(pins.keys().cloned().collect())
            }
        }
    }

    /// Remember a table's version before this run's first write, so a
    /// failed run can put it back. Journal first: if the process dies
    /// during the write, the next run (and every reader meanwhile) knows
    /// the version to go back to.
    pub async fn journal(&mut self, name: &str) -> Result<()> {
        if !self.before.contains_key(name) {
            let v = self.writer.wh.version(name).await?;
            self.lock.record(name, v).await?;
            self.before.insert(name.to_string(), v);
        }
        Ok(())
    }

    /// Journal, then write a table.
    pub async fn commit(
        &mut self,
        ctx: &SessionContext,
        name: &str,
        stream: SendableRecordBatchStream,
        mode: WriteMode,
    ) -> Result<Committed> {
        self.commit_tagged(ctx, name, stream, mode, None).await
    }

    /// [`Transaction::commit`] with the commit tagged.
    pub async fn commit_tagged(
        &mut self,
        ctx: &SessionContext,
        name: &str,
        stream: SendableRecordBatchStream,
        mode: WriteMode,
        tag: Option<&str>,
    ) -> Result<Committed> {
        self.journal(name).await?;
        let c = self
            .writer
            .write_tagged(ctx, name, stream, mode, None, tag)
            .await?;
        self.written.insert(name.to_string(), c.version);
        Ok(c)
    }

    /// Record a commit a [`Writer`] made (its table was journaled).
    pub fn committed(&mut self, name: &str, c: Committed) {
        self.written.insert(name.to_string(), c.version);
    }

    /// Hold a finished load's quarantine and loaded-file rows (`mode`:
    /// replace or append to the load's source and period); commit the held
    /// rows once they reach a bound, so memory does not grow with the run.
    pub async fn hold(
        &mut self,
        ctx: &SessionContext,
        mode: WriteMode,
        quarantine: Held,
        files: RecordBatch,
    ) -> Result<()> {
        self.held.push((mode, quarantine, files));
        let rows: u64 = self.held.iter().map(|(_, q, _)| q.rows).sum();
        let bytes: usize = self.held.iter().map(|(_, q, _)| q.memory).sum();
        if rows >= HELD_ROWS || bytes >= HELD_BYTES || self.held.len() >= HELD_LOADS {
            self.flush(ctx).await?;
        }
        Ok(())
    }

    /// Commit the held quarantine and loaded-file rows: one commit per
    /// table for the reloads (each replaces its source+period, so a re-run
    /// that fixed an extract clears the old rejects) and one for the
    /// appends (which add).
    pub async fn flush(&mut self, ctx: &SessionContext) -> Result<()> {
        type Group = Vec<(Vec<(String, String)>, Held, RecordBatch)>;
        let (mut replaced, mut appended): (Group, Group) = (Vec::new(), Vec::new());
        for (mode, q, f) in std::mem::take(&mut self.held) {
            match mode {
                WriteMode::Replace(parts) => replaced.push((parts, q, f)),
                WriteMode::AppendTo(parts) => appended.push((parts, q, f)),
                other => {
                    return Err(Error::Internal(format!("bookkeeping written as {other:?}")));
                }
            }
        }
        let unzip = |held: Group| {
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
            self.commit_rows(ctx, q, WriteMode::ReplaceMany(parts.clone()))
                .await?;
            self.commit_all(ctx, LOADED_FILES, f, WriteMode::ReplaceMany(parts))
                .await?;
        }
        let (parts, q, f) = unzip(appended);
        if let Some(first) = parts.into_iter().next() {
            let mode = WriteMode::AppendTo(first);
            // An append without rejects adds none.
            let q: Vec<_> = q.into_iter().filter(|q| q.rows > 0).collect();
            if !q.is_empty() {
                self.commit_rows(ctx, q, mode.clone()).await?;
            }
            self.commit_all(ctx, LOADED_FILES, f, mode).await?;
        }
        Ok(())
    }

    /// Commit several loads' quarantine rows as one write, streamed.
    async fn commit_rows(
        &mut self,
        ctx: &SessionContext,
        held: Vec<Held>,
        mode: WriteMode,
    ) -> Result<()> {
        use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
        let batches = held
            .into_iter()
            .flat_map(|h| h.batches)
            .map(|b| b.map_err(|e| datafusion::error::DataFusionError::Execution(e.to_string())));
        let stream = RecordBatchStreamAdapter::new(
            super::log::QUARANTINE_SCHEMA.clone(),
            futures::stream::iter(batches),
        );
        self.commit(ctx, QUARANTINE, Box::pin(stream), mode).await?;
        Ok(())
    }

    /// Commit several batches of one table's rows as one write.
    async fn commit_all(
        &mut self,
        ctx: &SessionContext,
        name: &str,
        batches: Vec<RecordBatch>,
        mode: WriteMode,
    ) -> Result<()> {
        let Some(schema) = batches.first().map(|b| b.schema()) else {
            return Ok(());
        };
        let all = datafusion::arrow::compute::concat_batches(&schema, &batches)
            .map_err(datafusion::error::DataFusionError::from)?;
        self.commit(ctx, name, crate::engine::batch_stream(all), mode)
            .await?;
        Ok(())
    }

    /// Put every table this run wrote back to its version before the run
    /// (tables it created are removed). The failures, by table: those keep
    /// the lock and its journal, so the next run restores them.
    pub async fn roll_back(&mut self) -> Vec<(String, Error)> {
        let mut failed = Vec::new();
        for (table, version) in std::mem::take(&mut self.before) {
            if let Err(e) = self.writer.wh.roll_back(&table, version).await {
                failed.push((table, e));
            }
        }
        if !failed.is_empty() {
            self.lock.keep_journal();
        }
        self.written.clear();
        failed
    }

    /// Every table this run journaled, at its version before the run.
    pub fn before(&self) -> &BTreeMap<String, Option<u64>> {
        &self.before
    }

    /// Every table this run committed, at its last version (for `_versions`).
    pub fn written(&self) -> &BTreeMap<String, i64> {
        &self.written
    }

    /// The run is over: give the lock back (only its owner does). The lock
    /// stays, with its journal, while a journaled table is not restored.
    pub async fn release(self) -> Result<()> {
        self.lock.release().await
    }
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
