//! Sources: extracts → typed Arrow. A source is declared in YAML
//! ([`spec`]), checked and resolved by [`compile`], its files found for a
//! period ([`extract`]), read by its format ([`formats`]), and every row
//! conformed to the declared schema ([`conform`]). Rows that fail go to the
//! quarantine with file, line, column, value and reason; the rest stream out
//! as typed batches ([`load`]). Counts always reconcile:
//! rows read = rows loaded + rows quarantined.
//!
//! Does not write the warehouse: the run does, with what a load streams.

pub mod bounds;
pub mod compile;
pub mod conform;
pub mod control;
pub mod database;
pub mod discover;
mod drift;
mod error;
pub mod evolve;
pub mod extract;
pub mod formats;
pub mod history;
pub mod incremental;
mod load;
pub mod postgres;
pub mod rejects;
pub mod scratch;
pub mod spec;
pub mod staging;
pub mod timestamp;
pub mod valueset;
mod writer;

pub use compile::{Base, compile};
pub use drift::Drift;
pub use error::Error;
pub use extract::{ExtractFile, files_for};
pub use formats::Format;
pub use load::{BATCH_ROWS, CheckContext, Load, LoadStats, RawBatch, load};
pub use spec::SourceSpec;
pub use valueset::RefSet;
pub use writer::writer_properties;

use crate::access::Personal;
use crate::spec::types::ColumnType;
use chrono_tz::Tz;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use std::sync::Arc;

/// A compiled source: where its files are, how to read them, and the
/// columns they must hold.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    /// The path as written in the YAML (relative to `extracts:`, or a URL).
    pub path: String,
    /// Absolute glob pattern (a local path or an object-store URL),
    /// possibly with period placeholders.
    pub pattern: String,
    /// For local files: the project's folder. Every file must resolve into
    /// it (links followed), and files are named from it.
    pub root: Option<std::path::PathBuf>,
    pub format: Format,
    /// `None`: by file extension (`.gz`, `.zst`).
    pub compression: Option<Compression>,
    /// Text encoding of the extract; `None` is UTF-8.
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// What a new, missing or retyped column in an extract does.
    pub on_schema_change: SchemaChange,
    /// The load fails (nothing committed) above this many quarantined rows…
    pub max_bad_rows: Option<u64>,
    /// …or above this share of the rows read.
    pub max_bad_fraction: Option<f64>,
    pub period_column: Option<String>,
    pub key: Vec<String>,
    pub columns: Vec<Column>,
    pub description: Option<String>,
    pub control: Option<Control>,
    /// A database source: what it reads (instead of files).
    pub database: Option<database::Database>,
    /// Incremental extraction from a database (`cursor:`, `lookback:`).
    pub cursor: Option<database::Cursor>,
    /// How deleted rows reach an incremental database table.
    pub deletes: database::Deletes,
    /// Every version of each key, kept in `<name>_history` (SCD type 2).
    pub history: Option<history::History>,
}

impl Source {
    /// A source with these settings and nothing else (tests, probes).
    pub fn new(name: impl Into<String>, pattern: impl Into<String>, format: Format) -> Self {
        Source {
            name: name.into(),
            path: String::new(),
            pattern: pattern.into(),
            root: None,
            format,
            compression: None,
            encoding: None,
            on_schema_change: SchemaChange::Fail,
            max_bad_rows: None,
            max_bad_fraction: None,
            period_column: None,
            key: vec![],
            columns: vec![],
            description: None,
            control: None,
            database: None,
            cursor: None,
            deletes: database::Deletes::default(),
            history: None,
        }
    }

    pub fn is_periodic(&self) -> bool {
        self.period_column.is_some()
    }

    /// A periodic file source whose path names no period (a backfill of
    /// many months, an export of a whole table): each row goes to the
    /// period of its `period_column`, and a load replaces the periods
    /// present, all in one load per run.
    pub fn periods_from_values(&self) -> bool {
        self.is_periodic()
            && self.database.is_none()
            && !crate::period::PLACEHOLDERS
                .iter()
                .any(|p| self.path.contains(p))
    }

    /// Sources this one's `references` point at (loaded first).
    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.columns
            .iter()
            .filter_map(|c| c.references.as_ref().map(|(s, _)| s.as_str()))
    }

    /// The source's personal columns and how readers see them.
    pub fn personal(&self) -> impl Iterator<Item = (&str, Personal)> {
        self.columns
            .iter()
            .filter_map(|c| c.personal.map(|p| (c.name.as_str(), p)))
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
    pub format: Option<String>,
    pub timezone: Option<Tz>,
    pub required: bool,
    pub personal: Option<Personal>,
    pub min: Option<String>,
    pub max: Option<String>,
    pub values: Option<Vec<String>>,
    /// (source, column)
    pub references: Option<(String, String)>,
    pub description: Option<String>,
}

impl Column {
    /// A column with a name and a type and no other rules.
    pub fn new(name: impl Into<String>, ty: ColumnType) -> Self {
        Column {
            name: name.into(),
            ty,
            format: None,
            timezone: None,
            required: false,
            personal: None,
            min: None,
            max: None,
            values: None,
            references: None,
            description: None,
        }
    }
}

/// Control totals a source's files must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub at: ControlAt,
    /// 0-based field index of the record count.
    pub count_field: usize,
    /// 0-based field index of the hash total, and the declared column
    /// (index, decimal scale) it sums.
    pub total: Option<(usize, usize, i8)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlAt {
    /// The file's last record, whose first field is this marker.
    Trailer(String),
    /// A file beside the extract (`{name}` / `{stem}` template).
    File(String),
}

/// Schema drift policy (dbt's `on_schema_change`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchemaChange {
    /// The load fails and names the changed columns.
    #[default]
    Fail,
    /// Load the declared columns (missing ones as null); report the drift
    /// in the run summary and `_runs`.
    Ignore,
    /// Add new columns to the table (Delta schema evolution), missing ones
    /// load as null; a retyped column still fails.
    Evolve,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The codec a file uses: the declared one, else by its extension.
    pub fn of(declared: Option<Compression>, file_name: &str) -> Compression {
        declared.unwrap_or_else(|| {
            let lower = file_name.to_ascii_lowercase();
            if lower.ends_with(".gz") || lower.ends_with(".gzip") {
                Compression::Gzip
            } else if lower.ends_with(".zst") || lower.ends_with(".zstd") {
                Compression::Zstd
            } else {
                Compression::None
            }
        })
    }
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
        fields.push(Field::new(crate::period::COLUMN, DataType::Utf8, false));
    }
    Arc::new(Schema::new(fields))
}
