//! Extract → Arrow: finds a source's files for a period, reads them by
//! format, and conforms every row to the declared schema. Rows that fail go to
//! the quarantine with file, line, column, value and reason; the rest stream
//! out as typed batches. Counts always reconcile:
//! rows read = rows loaded + rows quarantined.

pub mod conform;
pub mod control;
pub mod evolve;
pub mod extract;
pub mod parquet;
pub mod staging;
pub mod text;
pub mod timestamp;
pub mod valueset;

use crate::pipeline::{Period, Source};
use crate::warehouse::log::Rejected;
use chrono_tz::Tz;
use conform::Conformer;
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
pub use extract::{ExtractFile, files_for};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Rows per batch handed to the warehouse writer.
pub const BATCH_ROWS: usize = 8192;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("source `{source_name}`: cannot read `{file}`: {reason}")]
    Read {
        source_name: String,
        file: String,
        reason: String,
    },
    #[error(
        "source `{source_name}`: `{file}` does not match the declared columns: {drift}\n  help: update the source's `columns` (or fix the extract); `on_schema_change: ignore` loads the declared columns and reports the drift"
    )]
    SchemaDrift {
        source_name: String,
        file: String,
        drift: Drift,
    },
    #[error("source `{source_name}`: bad file pattern `{pattern}`: {reason}")]
    Pattern {
        source_name: String,
        pattern: String,
        reason: String,
    },
    /// The file cannot be read as a whole (corrupt or truncated Parquet,
    /// a broken gzip/zstd stream): it is quarantined whole, the rest loads.
    #[error("source `{source_name}`: `{file}` is corrupt or truncated: {reason}")]
    Corrupt {
        source_name: String,
        file: String,
        reason: String,
    },
    #[error(
        "source `{source_name}`: {bad} of {read} rows failed their checks, over `{limit}`; nothing of it was committed (most common: {top})\n  help: fix the extract, or raise the limit in the source's YAML; see `touchpoint query \"SELECT * FROM _quarantine WHERE source = '{source_name}'\"` after a run without the limit"
    )]
    TooManyBad {
        source_name: String,
        bad: u64,
        read: u64,
        limit: String,
        top: String,
    },
    /// A file's rows or totals disagree with its trailer or control file.
    #[error(
        "source `{source_name}`: `{file}` failed its control totals: {reason}; nothing of the source was committed\n  help: ask for the extract to be sent again (or correct its control record), then re-run"
    )]
    Control {
        source_name: String,
        file: String,
        reason: String,
    },
    #[error("source `{source_name}`: {reason}")]
    Other { source_name: String, reason: String },
}

/// The warehouse schema of a source: declared columns, typed, then `period`
/// for periodic sources (the partition column, last).
pub fn table_schema(src: &Source) -> SchemaRef {
    let mut fields: Vec<Field> = src
        .columns
        .iter()
        .map(|c| Field::new(&c.name, c.ty.arrow(), !c.required))
        .collect();
    if src.is_periodic() {
        fields.push(Field::new("period", DataType::Utf8, false));
    }
    Arc::new(Schema::new(fields))
}

/// Parquet settings for a source's table: Snappy, statistics per column
/// chunk (what Delta's file statistics are made of; no page index), and a
/// dictionary only for columns whose values repeat. Elsewhere a dictionary
/// costs a hash per value until its page fills (1 MiB), and then the writer
/// falls back to plain encoding anyway. A column gets no dictionary when:
/// - it is the one-column key, or a timestamp (values hardly repeat);
/// - it references a set too large for one dictionary page;
/// - most values of `sample` (the load's first batch) are distinct.
///
/// Text columns other than the key carry no min/max statistics: extracts
/// are not sorted by them, so every file would span nearly the whole range
/// and skip nothing, while the writer would compare every value twice.
pub fn writer_properties(
    src: &Source,
    checks: &CheckContext,
    sample: Option<&RecordBatch>,
) -> WriterProperties {
    use datafusion::parquet::basic::Compression;
    use datafusion::parquet::file::properties::EnabledStatistics;
    use datafusion::parquet::schema::types::ColumnPath;
    let mut b = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Chunk);
    for c in &src.columns {
        let unique = src.key.len() == 1 && src.key[0] == c.name;
        let large_reference = checks
            .references
            .get(&c.name)
            .is_some_and(|set| set.len() > DICTIONARY_ENTRIES);
        let mostly_distinct = sample
            .and_then(|b| b.column_by_name(&c.name))
            .is_some_and(mostly_distinct);
        let path = || ColumnPath::from(c.name.as_str());
        if c.ty == crate::spec::types::ColumnType::String && !src.key.contains(&c.name) {
            b = b.set_column_statistics_enabled(path(), EnabledStatistics::None);
        }
        if unique
            || c.ty == crate::spec::types::ColumnType::Timestamp
            || large_reference
            || mostly_distinct
        {
            b = b.set_column_dictionary_enabled(path(), false);
        }
    }
    b.build()
}

/// Values that fit a 1 MiB dictionary page at ~16 bytes each (a 4-byte
/// length and a short identifier).
const DICTIONARY_ENTRIES: usize = 64 * 1024;

/// Whether more than half of a sample's values are distinct (judged only
/// on a sample of at least 1,000 rows). Rows are told apart by hash, which
/// can only undercount, so a wrong answer keeps the dictionary.
fn mostly_distinct(a: &ArrayRef) -> bool {
    if a.len() < 1000 {
        return false;
    }
    let mut hashes = vec![0u64; a.len()];
    let state = datafusion::common::hash_utils::RandomState::default();
    if datafusion::common::hash_utils::create_hashes(std::slice::from_ref(a), &state, &mut hashes)
        .is_err()
    {
        return false;
    }
    let distinct: datafusion::common::HashSet<u64> = hashes.into_iter().collect();
    distinct.len() * 2 > a.len()
}

/// How an extract's columns differ from the declared ones.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Drift {
    pub new: std::collections::BTreeSet<String>,
    pub missing: std::collections::BTreeSet<String>,
    /// `column (file type, declared type)`.
    pub retyped: std::collections::BTreeSet<String>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.missing.is_empty() && self.retyped.is_empty()
    }

    fn merge(&mut self, other: Drift) {
        self.new.extend(other.new);
        self.missing.extend(other.missing);
        self.retyped.extend(other.retyped);
    }

    /// Per the source's policy: fail the load, or remember the drift.
    pub fn check(self, src: &Source, file: &str, seen: &mut Drift) -> Result<(), Error> {
        if self.is_empty() {
            return Ok(());
        }
        match src.on_schema_change {
            crate::pipeline::SchemaChange::Fail => Err(Error::SchemaDrift {
                source_name: src.name.clone(),
                file: file.to_string(),
                drift: self,
            }),
            crate::pipeline::SchemaChange::Ignore => {
                seen.merge(self);
                Ok(())
            }
            // New columns were declared by evolution before the load; a
            // retyped one cannot evolve.
            crate::pipeline::SchemaChange::Evolve if !self.retyped.is_empty() => {
                Err(Error::SchemaDrift {
                    source_name: src.name.clone(),
                    file: file.to_string(),
                    drift: self,
                })
            }
            crate::pipeline::SchemaChange::Evolve => {
                seen.merge(self);
                Ok(())
            }
        }
    }
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        let list = |s: &std::collections::BTreeSet<String>| {
            s.iter().cloned().collect::<Vec<_>>().join(", ")
        };
        if !self.new.is_empty() {
            parts.push(format!("new column(s) {}", list(&self.new)));
        }
        if !self.missing.is_empty() {
            parts.push(format!("missing column(s) {}", list(&self.missing)));
        }
        if !self.retyped.is_empty() {
            parts.push(format!("retyped column(s) {}", list(&self.retyped)));
        }
        f.write_str(&parts.join("; "))
    }
}

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

/// One file of a load: what it was and what came of it.
#[derive(Debug, Default, Clone)]
pub struct FileLoad {
    pub name: String,
    pub size: u64,
    pub version: String,
    pub checksum: String,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_quarantined: u64,
}

/// One raw batch from a reader: a column per declared column (text as Utf8,
/// Parquet already typed) and the line (or row) each row came from.
pub struct RawBatch {
    pub file: Arc<str>,
    pub lines: Vec<i64>,
    pub columns: Vec<ArrayRef>,
}

pub use valueset::RefSet;

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
    pub rejected: Arc<Mutex<Vec<Rejected>>>,
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
    let schema = table_schema(src);
    let (tx, rx) = tokio::sync::mpsc::channel::<datafusion::error::Result<RecordBatch>>(4);
    let rejected = Arc::new(Mutex::new(Vec::new()));
    let stats = Arc::new(Mutex::new(LoadStats::default()));
    let failure = Arc::new(Mutex::new(None));
    let (src2, rej2, stats2, fail2, schema2) = (
        src.clone(),
        rejected.clone(),
        stats.clone(),
        failure.clone(),
        schema.clone(),
    );
    tokio::task::spawn_blocking(move || {
        // A panic here must fail the load, not end the stream early and
        // look like a short (but successful) read.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut conformer = Conformer::new(&src2, schema2, period, checks);
            if let Some(keys) = prior_keys {
                remember_keys(&src2, &mut conformer, keys)?;
            }
            read_all(&src2, &files, &mut conformer, &tx, &rej2, &stats2)
        }))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(Error::Other {
                source_name: src2.name.clone(),
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
    rejected: &Mutex<Vec<Rejected>>,
    stats: &Mutex<LoadStats>,
) -> Result<(), Error> {
    for file in files {
        let bytes = file.size;
        let mut bad: Vec<Rejected> = Vec::new();
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
            let staged = matches!(src.format, crate::pipeline::Format::Parquet);
            let mut staging = staging::Staging::default();
            let writer_stopped = || Error::Other {
                source_name: src.name.clone(),
                reason: "the warehouse writer stopped".into(),
            };
            let mut emit = |raw: RawBatch, bad: &mut Vec<Rejected>| -> Result<(), Error> {
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
            let early = match src.format {
                crate::pipeline::Format::Csv { .. } => {
                    text::read_csv(src, path, name, &mut emit, &mut bad, &mut drift, &mut tally)?
                }
                crate::pipeline::Format::Jsonl => {
                    text::read_jsonl(src, path, name, &mut emit, &mut bad, &mut drift)?
                }
                crate::pipeline::Format::Parquet => {
                    parquet::read_parquet(src, path, name, &mut emit, &mut bad, &mut drift)?
                }
                crate::pipeline::Format::FixedWidth { .. } => {
                    text::read_fixed(src, path, name, &mut emit, &mut bad, &mut tally)?
                }
            };
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
            Ok(early) => early,
            Err(Error::Corrupt { reason, .. }) => {
                // One quarantine row stands for the whole file; nothing of
                // it loads.
                bad = vec![Rejected {
                    file: file.name.clone(),
                    line: 0,
                    column: None,
                    value: None,
                    reason: format!(
                        "whole file quarantined, corrupt or truncated: {reason} ({read} rows decoded before the error were not loaded)"
                    ),
                    record: None,
                }];
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
        st.rows_quarantined += bad.len() as u64;
        st.drift.merge(std::mem::take(&mut drift));
        st.per_file.push(FileLoad {
            name: file.name.clone(),
            size: file.size,
            version: file.version.clone(),
            checksum: sum,
            rows_read: read,
            rows_loaded: loaded,
            rows_quarantined: bad.len() as u64,
        });
        drop(st);
        if let Ok(mut r) = rejected.lock() {
            r.extend(bad);
        }
    }
    check_threshold(src, stats, rejected)
}

/// Fail the load (before anything is committed: the error ends the stream
/// the warehouse is writing) when more rows were quarantined than the
/// source allows.
fn check_threshold(
    src: &Source,
    stats: &Mutex<LoadStats>,
    rejected: &Mutex<Vec<Rejected>>,
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
        for x in r.iter() {
            // The kind of problem and its column, without the row's value
            // (values are quoted in backticks).
            let what = x.reason.split('`').next().unwrap_or_default().trim();
            let kind = match &x.column {
                Some(c) => format!("{c}: {what}"),
                None => what.to_string(),
            };
            *reasons.entry(kind).or_default() += 1;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Column, Format, SchemaChange};
    use crate::spec::types::ColumnType;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::parquet::file::properties::EnabledStatistics;
    use datafusion::parquet::schema::types::ColumnPath;

    fn column(name: &str, ty: ColumnType, references: bool) -> Column {
        Column {
            references: references.then(|| ("customers".into(), "customer_id".into())),
            ..Column::new(name, ty)
        }
    }

    /// Dictionary where values repeat; none for the key, timestamps, a
    /// column of mostly distinct values or one referencing a large set;
    /// min/max statistics for everything but text outside the key.
    #[test]
    fn parquet_settings_follow_the_data() {
        let src = Source {
            name: "atm".into(),
            pattern: String::new(),
            format: Format::Jsonl,
            compression: None,
            encoding: None,
            on_schema_change: SchemaChange::Fail,
            max_bad_rows: None,
            max_bad_fraction: None,
            period_column: None,
            key: vec!["txn_id".into()],
            columns: vec![
                column("txn_id", ColumnType::String, false),
                column("customer_id", ColumnType::String, true),
                column("status", ColumnType::String, false),
                column("amount", ColumnType::Int, false),
                column("at", ColumnType::Timestamp, false),
                column("card", ColumnType::String, false),
            ],
            description: None,
            control: None,
        };
        let n = 4000;
        let sample = RecordBatch::try_from_iter([
            (
                "status",
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| ["approved", "declined"][i % 2]),
                )) as ArrayRef,
            ),
            (
                "amount",
                Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| i % 50))),
            ),
            (
                "card",
                Arc::new(StringArray::from_iter_values(
                    // 3 in 4 distinct: more than half.
                    (0..n).map(|i| format!("4000{}", i - i % 4 + (i % 4).min(2))),
                )),
            ),
        ])
        .expect("sample");
        let mut refs = RefSet::default();
        let mut checks = CheckContext::default();
        for i in 0..DICTIONARY_ENTRIES + 1 {
            refs.insert(&format!("C{i:07}"));
        }
        checks
            .references
            .insert("customer_id".into(), Arc::new(refs));
        let p = writer_properties(&src, &checks, Some(&sample));
        let dict = |c: &str| p.dictionary_enabled(&ColumnPath::from(c));
        let stats = |c: &str| p.statistics_enabled(&ColumnPath::from(c)) != EnabledStatistics::None;
        assert_eq!(
            ["txn_id", "customer_id", "status", "amount", "at", "card"].map(dict),
            [false, false, true, true, false, false]
        );
        assert_eq!(
            ["txn_id", "customer_id", "status", "amount", "at", "card"].map(stats),
            [true, false, false, true, true, false]
        );
        // A small referenced set fits one dictionary page; without a
        // sample, only the declared reasons count.
        checks
            .references
            .insert("customer_id".into(), Arc::new(RefSet::default()));
        let p = writer_properties(&src, &checks, None);
        assert!(p.dictionary_enabled(&ColumnPath::from("customer_id")));
        assert!(p.dictionary_enabled(&ColumnPath::from("card")));
    }
}
