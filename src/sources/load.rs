//! A source load: its files read on a blocking thread, every row conformed,
//! batches streamed through a bounded channel to the warehouse writer, the
//! quarantine and counters complete when the stream ends.

use super::conform::Conformer;
use super::formats::Sink;
use super::rejects::Rejects;
use super::{Drift, Error, ExtractFile, RefSet, Source, control, staging, table_schema};
use crate::period::Period;
use crate::warehouse::log::{FileLoad, Rejected};
use chrono_tz::Tz;
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Rows per batch handed to the warehouse writer.
pub const BATCH_ROWS: usize = 8192;

/// Counters of one source load, shared with the reading thread.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct LoadStats {
    pub files: u64,
    pub bytes: u64,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_quarantined: u64,
    /// Column drift seen and ignored (`on_schema_change: ignore`).
    pub drift: Drift,
    /// Each file read, for `_loaded_files`.
    #[serde(skip)]
    pub per_file: Vec<FileLoad>,
}

/// One raw batch from a reader: a column per declared column (text as Utf8,
/// Parquet already typed) and the line (or row) each row came from.
pub struct RawBatch {
    pub file: Arc<str>,
    pub lines: Vec<i64>,
    pub columns: Vec<ArrayRef>,
}

/// Everything a load needs to check rows beyond their own values.
#[derive(Default, Clone)]
pub struct CheckContext {
    /// column → the referenced source's values.
    /// (A fast hasher: one lookup per row and referencing column.)
    pub references: HashMap<String, Arc<RefSet>>,
    /// Business time zone: periods are local months here.
    pub timezone: Option<Tz>,
}

/// A running load: its output stream, and the quarantine and counters that
/// are complete once the stream has ended.
pub struct Load {
    pub stream: SendableRecordBatchStream,
    pub rejected: Arc<Mutex<Rejects>>,
    pub stats: Arc<Mutex<LoadStats>>,
    /// Set when reading failed as a whole (the stream also ends in an error).
    pub failure: Arc<Mutex<Option<Error>>>,
}

/// Start loading `files` on a blocking thread; batches flow through a bounded
/// channel, so memory stays flat however large the extracts are.
///
/// `prior_keys` (an incremental load) streams the keys already in the
/// table's partition: a row repeating one of them is a duplicate.
pub fn load(
    src: &Source,
    files: Vec<ExtractFile>,
    period: Option<Period>,
    checks: CheckContext,
    prior_keys: Option<SendableRecordBatchStream>,
) -> Load {
    let (src2, schema) = (src.clone(), table_schema(src));
    spawn_reader(src, move |tx, rejected, stats| {
        let mut conformer = Conformer::new(&src2, schema, period, checks);
        if let Some(keys) = prior_keys {
            remember_keys(&src2, &mut conformer, keys)?;
        }
        read_all(&src2, &files, &mut conformer, tx, rejected, stats)
    })
}

/// The bounded channel a blocking reader feeds the warehouse writer by.
pub(crate) type Sender = tokio::sync::mpsc::Sender<datafusion::error::Result<RecordBatch>>;

/// Run `read` on a blocking thread and stream what it sends (at most a few
/// batches in flight). A panic fails the load rather than ending the stream
/// early like a short but successful read; an error is kept in the load's
/// `failure` and ends the stream in an error, so nothing of it commits.
pub(crate) fn spawn_reader(
    src: &Source,
    read: impl FnOnce(&Sender, &Mutex<Rejects>, &Mutex<LoadStats>) -> Result<(), Error> + Send + 'static,
) -> Load {
    let schema = table_schema(src);
    let (tx, rx) = tokio::sync::mpsc::channel::<datafusion::error::Result<RecordBatch>>(4);
    let rejected = Arc::new(Mutex::new(Rejects::default()));
    let stats = Arc::new(Mutex::new(LoadStats::default()));
    let failure = Arc::new(Mutex::new(None));
    let (name, rej2, stats2, fail2) = (
        src.name.clone(),
        rejected.clone(),
        stats.clone(),
        failure.clone(),
    );
    tokio::task::spawn_blocking(move || {
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(&tx, &rej2, &stats2)))
                .unwrap_or_else(|panic| {
                    let what = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    Err(Error::Other {
                        source_name: name,
                        reason: format!("internal error while reading: {what}"),
                    })
                });
        if let Err(e) = result {
            let msg = e.to_string();
            if let Ok(mut f) = fail2.lock() {
                *f = Some(e);
            }
            let _ = tx.blocking_send(Err(datafusion::error::DataFusionError::External(
                msg.into(),
            )));
        }
    });
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
    Load {
        stream: Box::pin(RecordBatchStreamAdapter::new(schema, stream)),
        rejected,
        stats,
        failure,
    }
}

/// Feed the keys already loaded to the duplicate check (on the blocking
/// thread, batch by batch: the keys are never collected).
fn remember_keys(
    src: &Source,
    conformer: &mut Conformer,
    mut keys: SendableRecordBatchStream,
) -> Result<(), Error> {
    use futures::StreamExt;
    let fail = |e: String| Error::Other {
        source_name: src.name.clone(),
        reason: format!("reading the keys already loaded: {e}"),
    };
    tokio::runtime::Handle::current().block_on(async {
        while let Some(b) = keys.next().await {
            conformer
                .remember(&b.map_err(|e| fail(e.to_string()))?)
                .map_err(|e| fail(e.to_string()))?;
        }
        Ok(())
    })
}

fn read_all(
    src: &Source,
    files: &[ExtractFile],
    conformer: &mut Conformer,
    tx: &tokio::sync::mpsc::Sender<datafusion::error::Result<RecordBatch>>,
    rejected: &Mutex<Rejects>,
    stats: &Mutex<LoadStats>,
) -> Result<(), Error> {
    for file in files {
        let bytes = file.size;
        let mut bad = Rejects::default();
        let mut read = 0u64;
        let mut loaded = 0u64;
        let mut drift = Drift::default();
        let mut sum = String::new();
        let read_file = (|| -> Result<u64, Error> {
            let copy = file.local_copy(src)?;
            sum = copy.checksum.clone();
            let (path, name) = (copy.path.as_path(), file.name.as_str());
            // Parquet can turn out corrupt after its first pages: hold its
            // rows until the whole file has been read.
            let staged = src.format.reader().staged();
            let mut staging = staging::Staging::default();
            let writer_stopped = || Error::Other {
                source_name: src.name.clone(),
                reason: "the warehouse writer stopped".into(),
            };
            let mut emit = |raw: RawBatch, bad: &mut Rejects| -> Result<(), Error> {
                read += raw.lines.len() as u64;
                let batch = conformer.conform(raw, bad).map_err(|e| Error::Other {
                    source_name: src.name.clone(),
                    reason: format!("could not assemble rows: {e}"),
                })?;
                if batch.num_rows() > 0 {
                    loaded += batch.num_rows() as u64;
                    if staged {
                        staging.push(batch).map_err(|reason| Error::Other {
                            source_name: src.name.clone(),
                            reason: format!("staging `{name}`: {reason}"),
                        })?;
                    } else {
                        tx.blocking_send(Ok(batch)).map_err(|_| writer_stopped())?;
                    }
                }
                Ok(())
            };
            let mut tally = control::Tally::default();
            let sink = Sink {
                emit: &mut emit,
                bad: &mut bad,
                drift: &mut drift,
                tally: &mut tally,
            };
            let early = src.format.reader().read(src, path, name, sink)?;
            control::verify(src, file, &tally)?;
            staging
                .drain(&mut |b| {
                    tx.blocking_send(Ok(b))
                        .map_err(|_| "the warehouse writer stopped".to_string())
                })
                .map_err(|reason| Error::Other {
                    source_name: src.name.clone(),
                    reason,
                })?;
            Ok(early)
        })();
        let early = match read_file {
            Ok(early) => {
                conformer.file_done();
                early
            }
            Err(Error::Corrupt { reason, .. }) => {
                conformer.file_dropped();
                // One quarantine row stands for the whole file; nothing of
                // it loads.
                bad = Rejects::default();
                bad.push(Rejected {
                    file: file.name.clone(),
                    line: 0,
                    column: None,
                    value: None,
                    reason: format!(
                        "whole file quarantined, corrupt or truncated: {reason} ({read} rows decoded before the error were not loaded)"
                    ),
                    record: None,
                });
                (read, loaded) = (0, 0);
                1
            }
            Err(e) => return Err(e),
        };
        // Rows rejected before they became a batch were read too.
        read += early;
        let mut st = stats.lock().map_err(|_| Error::Other {
            source_name: src.name.clone(),
            reason: "stats lock".into(),
        })?;
        st.files += 1;
        st.bytes += bytes;
        st.rows_read += read;
        st.rows_loaded += loaded;
        st.rows_quarantined += bad.len();
        st.drift.merge(std::mem::take(&mut drift));
        st.per_file.push(FileLoad {
            name: file.name.clone(),
            size: file.size,
            version: file.version.clone(),
            checksum: sum,
            rows_read: read,
            rows_loaded: loaded,
            rows_quarantined: bad.len(),
        });
        drop(st);
        rejected
            .lock()
            .map_err(|_| "rejected rows lock".to_string())
            .and_then(|mut r| r.append(bad))
            .map_err(|reason| Error::Other {
                source_name: src.name.clone(),
                reason,
            })?;
    }
    check_threshold(src, stats, rejected)
}

/// Fail the load (before anything is committed: the error ends the stream
/// the warehouse is writing) when more rows were quarantined than the
/// source allows.
pub(super) fn check_threshold(
    src: &Source,
    stats: &Mutex<LoadStats>,
    rejected: &Mutex<Rejects>,
) -> Result<(), Error> {
    let (read, bad) = stats
        .lock()
        .map(|s| (s.rows_read, s.rows_quarantined))
        .unwrap_or_default();
    let over_rows = src
        .max_bad_rows
        .filter(|&m| bad > m)
        .map(|m| format!("max_bad_rows: {m}"));
    let over_fraction = src
        .max_bad_fraction
        .filter(|&f| read > 0 && bad as f64 > f * read as f64)
        .map(|f| format!("max_bad_fraction: {f}"));
    let Some(limit) = over_rows.or(over_fraction) else {
        return Ok(());
    };
    let mut reasons: HashMap<String, u64> = HashMap::new();
    if let Ok(r) = rejected.lock() {
        r.for_each(&mut |column, reason| {
            // The kind of problem and its column (reasons quote no value).
            let kind = match column {
                Some(c) => format!("{c}: {reason}"),
                None => reason.to_string(),
            };
            *reasons.entry(kind).or_default() += 1;
        });
    }
    let mut top: Vec<(String, u64)> = reasons.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top: Vec<String> = top
        .iter()
        .take(3)
        .map(|(k, n)| format!("{n} × {k}"))
        .collect();
    Err(Error::TooManyBad {
        source_name: src.name.clone(),
        bad,
        read,
        limit,
        top: top.join("; "),
    })
}
