//! A database source's load: its kind extracts on threads of its own and
//! sends raw batches here; every row is conformed exactly as a file's
//! (types, rules, period, duplicate keys, quarantine), and the typed batches
//! stream through a bounded channel to the warehouse writer. The counters,
//! the quarantine and the extract's high-water mark are complete when the
//! stream ends; a failure at any point ends the stream in an error, so
//! nothing of the load is committed.

use super::{Database, Error, Mark, Plan};
use crate::sources::conform::Conformer;
use crate::sources::rejects::Rejects;
use crate::sources::{CheckContext, Drift, Load, LoadStats, RawBatch, Source, table_schema};
use crate::warehouse::log::{FileLoad, Rejected};
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What an extraction sends to its load.
pub enum Piece {
    /// Rows, and rows rejected before they became a batch (text that is
    /// not valid UTF-8); both count as read.
    Rows(RawBatch, Vec<Rejected>),
    /// Every key of the table (deletes by reconcile), one column per key
    /// column, as the database sent them.
    Keys(Vec<ArrayRef>),
}

/// What an extraction reports once everything was read.
#[derive(Debug, Clone, Default)]
pub struct Extracted {
    /// The greatest cursor value among the rows read (loaded or not).
    pub mark: Option<Mark>,
    /// The snapshot's moment: microseconds since the epoch, UTC.
    pub at: i64,
    /// How the database's columns differ from the declared ones (when the
    /// source's policy let the load go on).
    pub drift: Drift,
}

/// A database load's results beyond the stream's rows, complete once the
/// stream has ended.
#[derive(Debug, Default)]
pub struct Outcome {
    pub extracted: Option<Extracted>,
    /// Every key the database holds, as an Arrow IPC file (deletes by
    /// reconcile), removed when the outcome is dropped.
    pub keys: Option<crate::sources::staging::Spilled>,
}

/// Start loading `src` from its database per `plan`.
pub fn load(src: &Source, plan: Plan, checks: CheckContext) -> (Load, Arc<Mutex<Outcome>>) {
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let (src2, schema, out2) = (src.clone(), table_schema(src), outcome.clone());
    let load = crate::sources::load::spawn_reader(src, move |tx, rejected, stats| {
        run(&src2, plan, checks, schema, tx, rejected, stats, &out2)
    });
    (load, outcome)
}

/// The error of a database source as a source error.
pub fn source_error(src: &Source, e: Error) -> crate::sources::Error {
    match e {
        Error::Drift { object, drift } => crate::sources::Error::SchemaDrift {
            source_name: src.name.clone(),
            file: object,
            drift,
        },
        e => crate::sources::Error::Database {
            source_name: src.name.clone(),
            error: Box::new(e),
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    src: &Source,
    plan: Plan,
    checks: CheckContext,
    schema: datafusion::arrow::datatypes::SchemaRef,
    tx: &crate::sources::load::Sender,
    rejected: &Mutex<Rejects>,
    stats: &Mutex<LoadStats>,
    outcome: &Mutex<Outcome>,
) -> Result<(), crate::sources::Error> {
    let fail = |reason: String| crate::sources::Error::Other {
        source_name: src.name.clone(),
        reason,
    };
    let Some(db) = src.database.clone() else {
        return Err(fail("not a database source".into()));
    };
    let object = db.kind().object();
    let (out, pieces) = std::sync::mpsc::sync_channel::<Result<Piece, Error>>(4);
    let handle = tokio::runtime::Handle::current();
    let (src_x, plan_x) = (src.clone(), plan.clone());
    let extraction = handle.spawn_blocking(move || extract(&db, &src_x, &plan_x, &out));
    // A period from values when the source is periodic and the plan names
    // none (an incremental read of every period).
    let period = plan.period;
    let mut conformer = Conformer::new(src, schema, period, checks);
    let keys_at: Vec<usize> = src
        .key
        .iter()
        .filter_map(|k| src.columns.iter().position(|c| &c.name == k))
        .collect();
    let personal_key = keys_at.iter().any(|&k| src.columns[k].personal.is_some());
    let (mut read, mut loaded) = (0u64, 0u64);
    let mut bad = Rejects::default();
    let mut keys: Option<KeyFile> = None;
    let mut broken: Option<Error> = None;
    for piece in pieces.iter() {
        match piece {
            Err(e) => {
                broken = Some(e);
                break;
            }
            Ok(Piece::Rows(raw, early)) => {
                read += raw.lines.len() as u64 + early.len() as u64;
                for r in early {
                    bad.push(r);
                }
                let lines = raw.lines.clone();
                let key_cols: Vec<ArrayRef> =
                    keys_at.iter().map(|&k| raw.columns[k].clone()).collect();
                // This batch's rejects, named before they are kept.
                let mut named: Vec<Rejected> = Vec::new();
                let batch = conformer
                    .conform(raw, &mut named)
                    .map_err(|e| fail(format!("could not assemble rows: {e}")))?;
                // Name each rejected row by its key where the key is not
                // personal (a row has no line in a database).
                for mut r in named {
                    let row = lines.binary_search(&r.line).unwrap_or(0);
                    r.file = match (personal_key, key_cols.is_empty()) {
                        (false, false) => {
                            let key: Vec<String> = keys_at
                                .iter()
                                .zip(&key_cols)
                                .map(|(&k, a)| {
                                    let v = if a.is_null(row) {
                                        String::new()
                                    } else {
                                        array_value_to_string(a, row).unwrap_or_default()
                                    };
                                    format!("{}={v}", src.columns[k].name)
                                })
                                .collect();
                            format!("{object} ({})", key.join(", "))
                        }
                        _ => format!("{object} (row {})", r.line),
                    };
                    bad.push(r);
                }
                if batch.num_rows() > 0 {
                    loaded += batch.num_rows() as u64;
                    if tx.blocking_send(Ok(batch)).is_err() {
                        return Err(fail("the warehouse writer stopped".into()));
                    }
                }
            }
            Ok(Piece::Keys(cols)) => {
                let file = match keys.as_mut() {
                    Some(f) => f,
                    None => keys.insert(KeyFile::new(src).map_err(fail)?),
                };
                file.push(cols).map_err(fail)?;
            }
        }
    }
    let extracted = handle
        .block_on(extraction)
        .map_err(|e| fail(format!("the extraction stopped: {e}")))?;
    if let Some(e) = broken {
        return Err(source_error(src, e));
    }
    let extracted = extracted.map_err(|e| source_error(src, e))?;
    let mut st = stats.lock().map_err(|_| fail("stats lock".into()))?;
    st.files = 1;
    st.rows_read = read;
    st.rows_loaded = loaded;
    st.rows_quarantined = bad.len();
    st.drift = extracted.drift.clone();
    // The high-water mark goes with the run's bookkeeping, so it moves
    // only when the run commits. A full read starts the mark afresh.
    let incremental = plan.since.is_some();
    let state = super::State {
        mark: if incremental {
            Mark::max(plan.state.mark, extracted.mark)
        } else {
            extracted.mark
        },
        runs: if incremental && !plan.keys {
            plan.state.runs + 1
        } else {
            0
        },
    };
    st.per_file = vec![FileLoad {
        name: object,
        version: state.text(),
        rows_read: read,
        rows_loaded: loaded,
        rows_quarantined: bad.len(),
        ..Default::default()
    }];
    drop(st);
    rejected
        .lock()
        .map_err(|_| "rejected rows lock".to_string())
        .and_then(|mut r| r.append(bad))
        .map_err(fail)?;
    if let Ok(mut o) = outcome.lock() {
        o.extracted = Some(extracted);
        o.keys = match keys {
            Some(k) => Some(k.finish().map_err(fail)?),
            None => None,
        };
    }
    crate::sources::load::check_threshold(src, stats, rejected)
}

/// Run the extraction, and tell the load it ended (the channel closes when
/// `out` is dropped).
fn extract(db: &Database, src: &Source, plan: &Plan, out: &super::Out) -> Result<Extracted, Error> {
    db.kind().extract(src, plan, out)
}

/// Every key the database holds, typed like the table's keys, spilled to
/// an Arrow IPC file as it arrives.
struct KeyFile {
    schema: datafusion::arrow::datatypes::SchemaRef,
    writer: crate::sources::staging::SpillWriter,
}

impl KeyFile {
    fn new(src: &Source) -> Result<Self, String> {
        let schema = key_schema(src);
        let writer = crate::sources::staging::SpillWriter::new(&schema)?;
        Ok(KeyFile { schema, writer })
    }

    fn push(&mut self, cols: Vec<ArrayRef>) -> Result<(), String> {
        let typed = cols
            .iter()
            .zip(self.schema.fields())
            .map(|(a, f)| datafusion::arrow::compute::cast(a, f.data_type()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let batch = RecordBatch::try_new(self.schema.clone(), typed).map_err(|e| e.to_string())?;
        self.writer.write(&batch)
    }

    fn finish(self) -> Result<crate::sources::staging::Spilled, String> {
        self.writer.finish()
    }
}

/// The key columns as the table holds them.
pub fn key_schema(src: &Source) -> datafusion::arrow::datatypes::SchemaRef {
    use datafusion::arrow::datatypes::{Field, Schema};
    Arc::new(Schema::new(
        src.key
            .iter()
            .filter_map(|k| src.columns.iter().find(|c| &c.name == k))
            .map(|c| Field::new(&c.name, c.ty.arrow(), true))
            .collect::<Vec<_>>(),
    ))
}

/// The path of a spilled file, for DataFusion to read.
pub fn path_of(s: &crate::sources::staging::Spilled) -> PathBuf {
    s.path().to_path_buf()
}
