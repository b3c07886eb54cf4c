//! The two bookkeeping tables every run writes: `_runs` (one row per run step
//! with its row reconciliation) and `_quarantine` (every rejected row with
//! where it came from and why).

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::sync::{Arc, LazyLock};

pub const RUNS: &str = "_runs";
pub const QUARANTINE: &str = "_quarantine";

/// One step of a run, as logged in `_runs`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StepLog {
    pub run_id: String,
    pub pipeline: String,
    /// Microseconds since the epoch, UTC.
    pub started_at: i64,
    /// `source`, `seed`, `model` or `run` (the whole run's summary row).
    pub kind: String,
    pub table: String,
    pub period: Option<String>,
    pub files: i64,
    pub rows_read: i64,
    pub rows_loaded: i64,
    pub rows_quarantined: i64,
    pub seconds: f64,
    /// `ok` or `failed`.
    pub status: String,
    pub message: Option<String>,
    /// The Delta version this step committed.
    pub table_version: Option<i64>,
    /// A source step: files already loaded and not read again.
    pub files_skipped: i64,
    /// A source step: `reload` (every file), `append` (new files only) or
    /// `skip` (nothing new). Not a `_runs` column: the message says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<String>,
}

pub static RUNS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("pipeline", DataType::Utf8, false),
        Field::new(
            "started_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("kind", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("period", DataType::Utf8, true),
        Field::new("files", DataType::Int64, false),
        Field::new("rows_read", DataType::Int64, false),
        Field::new("rows_loaded", DataType::Int64, false),
        Field::new("rows_quarantined", DataType::Int64, false),
        Field::new("seconds", DataType::Float64, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("message", DataType::Utf8, true),
        Field::new("table_version", DataType::Int64, true),
    ]))
});

pub fn runs_batch(steps: &[StepLog]) -> RecordBatch {
    let s = |f: fn(&StepLog) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(steps.iter().map(f)))
    };
    let i = |f: fn(&StepLog) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(steps.iter().map(f)))
    };
    let cols: Vec<ArrayRef> = vec![
        s(|x| &x.run_id),
        s(|x| &x.pipeline),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(steps.iter().map(|x| x.started_at))
                .with_timezone("UTC"),
        ),
        s(|x| &x.kind),
        s(|x| &x.table),
        Arc::new(StringArray::from_iter(
            steps.iter().map(|x| x.period.as_deref()),
        )),
        i(|x| x.files),
        i(|x| x.rows_read),
        i(|x| x.rows_loaded),
        i(|x| x.rows_quarantined),
        Arc::new(Float64Array::from_iter_values(
            steps.iter().map(|x| x.seconds),
        )),
        s(|x| &x.status),
        Arc::new(StringArray::from_iter(
            steps.iter().map(|x| x.message.as_deref()),
        )),
        Arc::new(Int64Array::from_iter(steps.iter().map(|x| x.table_version))),
    ];
    // The columns are built to match RUNS_SCHEMA exactly.
    RecordBatch::try_new(RUNS_SCHEMA.clone(), cols)
        .unwrap_or_else(|e| unreachable!("runs schema: {e}"))
}

/// A rejected row.
#[derive(Debug, Clone, Default)]
pub struct Rejected {
    pub file: String,
    /// 1-based line (text) or row (Parquet) in the file; 0 = the whole file.
    pub line: i64,
    pub column: Option<String>,
    pub value: Option<String>,
    pub reason: String,
    /// The record as read, for a person to fix and resend.
    pub record: Option<String>,
}

pub static QUARANTINE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("line", DataType::Int64, false),
        Field::new("column_name", DataType::Utf8, true),
        Field::new("value", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, false),
        Field::new("record", DataType::Utf8, true),
        // Partition columns last (delta-rs writes them out of the data files).
        Field::new("source", DataType::Utf8, false),
        Field::new("period", DataType::Utf8, false),
    ]))
});

/// Every extract file loaded, per source and period: what makes a run
/// incremental (a file already here, unchanged, is not read again).
pub const LOADED_FILES: &str = "_loaded_files";

pub static LOADED_FILES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("file", DataType::Utf8, false),
        Field::new("size", DataType::Int64, false),
        // Modification time (ns) on disk, ETag in an object store.
        Field::new("version", DataType::Utf8, false),
        Field::new("checksum", DataType::Utf8, false),
        // How the source was declared (a digest): a new definition reloads.
        Field::new("definition", DataType::Utf8, false),
        Field::new("rows_read", DataType::Int64, false),
        Field::new("rows_loaded", DataType::Int64, false),
        Field::new("rows_quarantined", DataType::Int64, false),
        Field::new("run_id", DataType::Utf8, false),
        Field::new(
            "loaded_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("source", DataType::Utf8, false),
        Field::new("period", DataType::Utf8, false),
    ]))
});

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

pub fn loaded_files_batch(
    run_id: &str,
    source: &str,
    period: &str,
    definition: &str,
    files: &[FileLoad],
) -> RecordBatch {
    let n = files.len();
    let rep = |v: &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(v, n)))
    };
    let int = |f: fn(&FileLoad) -> u64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            files.iter().map(|x| f(x) as i64),
        ))
    };
    let now = chrono::Utc::now().timestamp_micros();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            files.iter().map(|f| f.name.as_str()),
        )),
        int(|f| f.size),
        Arc::new(StringArray::from_iter_values(
            files.iter().map(|f| f.version.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            files.iter().map(|f| f.checksum.as_str()),
        )),
        rep(definition),
        int(|f| f.rows_read),
        int(|f| f.rows_loaded),
        int(|f| f.rows_quarantined),
        rep(run_id),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(now, n))
                .with_timezone("UTC"),
        ),
        rep(source),
        rep(period),
    ];
    RecordBatch::try_new(LOADED_FILES_SCHEMA.clone(), cols)
        .unwrap_or_else(|e| unreachable!("loaded files schema: {e}"))
}
