//! Extract formats, one file each: its YAML spec, how the spec compiles into
//! a [`Format`], how one file is read into raw batches (a [`Reader`]), and
//! how `discover` sniffs a sample of it. Adding a format is a file here and
//! a variant of [`Format`].

pub mod csv;
pub mod fixed_width;
pub mod jsonl;
mod lines;
pub mod parquet;

use super::control::Tally;
use super::rejects::Rejects;
use super::{Drift, Error, RawBatch, Source};
use crate::spec::types::ColumnType;
use std::path::Path;

/// Where a reader sends each raw batch (and the rows it rejects).
pub type Emit<'a> = dyn FnMut(RawBatch, &mut Rejects) -> Result<(), Error> + 'a;

/// What reading one file reports besides its batches.
pub struct Sink<'a, 'e> {
    pub emit: &'a mut Emit<'e>,
    /// Rows rejected before they became a batch.
    pub bad: &'a mut Rejects,
    /// Columns the file has or lacks against the declaration.
    pub drift: &'a mut Drift,
    /// Record counts and totals for control-total checks.
    pub tally: &'a mut Tally,
}

/// Reading one format.
pub trait Reader {
    /// Read `path` (its name in messages: `name`) into raw batches; returns
    /// how many rows were rejected before reaching a batch (they count as read).
    fn read(&self, src: &Source, path: &Path, name: &str, sink: Sink<'_, '_>)
    -> Result<u64, Error>;

    /// The columns a file carries (names, and types where the format has
    /// them), for schema evolution; empty when the format names none.
    fn columns(
        &self,
        src: &Source,
        path: &Path,
    ) -> Result<Vec<(String, Option<ColumnType>)>, String>;

    /// Whether a file can turn out unreadable after its first rows (so its
    /// rows are held until the whole file has been read).
    fn staged(&self) -> bool {
        false
    }

    /// Whether a file names its columns (a header, keys, a schema): schema
    /// evolution needs names.
    fn names_columns(&self) -> bool;

    /// Whether the format is text read in the source's `encoding:` (and
    /// whether control totals can be read from it).
    fn is_text(&self) -> bool;

    /// Split a control file's last line into fields.
    fn control_fields(&self, line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }
}

/// A source's format, compiled from its spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Csv(csv::Csv),
    Jsonl(jsonl::Jsonl),
    Parquet(parquet::Parquet),
    FixedWidth(fixed_width::FixedWidth),
}

impl Format {
    pub fn reader(&self) -> &dyn Reader {
        match self {
            Format::Csv(f) => f,
            Format::Jsonl(f) => f,
            Format::Parquet(f) => f,
            Format::FixedWidth(f) => f,
        }
    }

    /// Its key in the YAML (`csv:`, `jsonl:`, …).
    pub fn key(&self) -> &'static str {
        match self {
            Format::Csv(_) => "csv",
            Format::Jsonl(_) => "jsonl",
            Format::Parquet(_) => "parquet",
            Format::FixedWidth(_) => "fixed_width",
        }
    }
}
