//! A source as written in the pipeline file (syntax only; [`super::compile`]
//! checks it).

use super::formats::csv::CsvSpec;
use super::formats::fixed_width::FixedWidthSpec;
use super::formats::jsonl::JsonlSpec;
use super::formats::parquet::ParquetSpec;
use super::postgres::PostgresSpec;
use crate::access::Personal;
use crate::checks::CheckSpec;
use crate::spec::Ordered;
use serde::Deserialize;

/// One declared column of a source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// string, int, double, bool, date, timestamp, decimal(P,S).
    #[serde(rename = "type")]
    pub ty: String,
    /// chrono format for date / timestamp text (`%d/%m/%Y %H:%M:%S`).
    pub format: Option<String>,
    /// IANA time zone of timestamps written without an offset.
    pub timezone: Option<String>,
    #[serde(default)]
    pub required: bool,
    pub personal: Option<Personal>,
    pub min: Option<serde_yaml::Number>,
    pub max: Option<serde_yaml::Number>,
    /// Accepted values (enums): text, or numbers and booleans written as
    /// YAML scalars (`values: [0, 1]` on an `int` column).
    #[serde(default, deserialize_with = "scalars")]
    pub values: Option<Vec<String>>,
    /// `source.column` every value must exist in (checked at load).
    pub references: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Glob relative to the pipeline file, or an object-store URL. Periodic
    /// sources use `{period}` (YYYY-MM), `{yyyy}`, `{mm}` or `{yyyymm}`, or
    /// none: then every file is read and each row goes to its own period.
    /// A database source has no path.
    pub path: Option<String>,
    pub description: Option<String>,
    pub csv: Option<CsvSpec>,
    pub jsonl: Option<JsonlSpec>,
    pub parquet: Option<ParquetSpec>,
    pub fixed_width: Option<FixedWidthSpec>,
    /// A table or query of a PostgreSQL database (instead of files).
    pub postgres: Option<PostgresSpec>,
    /// Database sources: the column whose value grows when a row changes
    /// (`updated_at`); a run then reads only rows past the high-water mark
    /// it stored, and merges them into the table by its `key`.
    pub cursor: Option<String>,
    /// How far behind the high-water mark to read again, for rows that
    /// committed late: `1h`, `30m`, `2d` (a number for an integer cursor).
    pub lookback: Option<serde_yaml::Value>,
    /// How deleted rows reach an incremental table.
    pub deletes: Option<DeletesSpec>,
    /// `gzip`, `zstd` or `none`; default by extension (`.gz`, `.zst`).
    pub compression: Option<String>,
    /// Text encoding: `utf-8` (default), `gbk`, `gb18030`, `big5`, or any
    /// WHATWG label.
    pub encoding: Option<String>,
    /// `fail` (default) or `ignore`: what a new, missing or retyped column
    /// in an extract does.
    pub on_schema_change: Option<String>,
    /// Fail the source's load (nothing committed) above this many rows in
    /// quarantine…
    pub max_bad_rows: Option<u64>,
    /// …or above this share (0-1) of the rows read.
    pub max_bad_fraction: Option<f64>,
    /// The date/timestamp column whose local month is the row's period. A
    /// source without one is a snapshot, replaced whole on every run.
    pub period_column: Option<String>,
    /// Columns that identify a record; later copies are quarantined.
    #[serde(default)]
    pub key: Vec<String>,
    pub columns: Ordered<ColumnSpec>,
    /// Data-quality checks run after the load (see [`CheckSpec`]).
    #[serde(default)]
    pub checks: Vec<CheckSpec>,
    /// Control totals each file must match (a trailer record or a control
    /// file).
    pub control: Option<ControlSpec>,
    /// Keep every version of each key in `<source>_history` (SCD type 2).
    pub history: Option<HistorySpec>,
}

/// A history (SCD type 2) of a snapshot or incremental source: a new
/// version of a key when one of `track` changes, each with its validity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistorySpec {
    /// The columns whose change opens a new version.
    pub track: Vec<String>,
    /// Column names of the history table (defaults `valid_from`,
    /// `valid_to`, `is_current`).
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub current: Option<String>,
    /// A declared date or timestamp column: when a key's first version
    /// began (an account's opening date), instead of the run's moment.
    pub since: Option<String>,
}

/// Where an extract states its own record count (and hash total).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSpec {
    /// The last record starts with this field (`TRL`): it is the trailer,
    /// not data.
    pub trailer: Option<String>,
    /// A control file beside each extract: `{name}` is the extract's file
    /// name, `{stem}` the name without its last extension.
    pub file: Option<String>,
    /// 1-based field of the trailer (or the control file's last line)
    /// holding the record count.
    pub count: usize,
    /// 1-based field holding the hash total of `total_column`.
    pub total: Option<usize>,
    pub total_column: Option<String>,
}

/// A list of YAML scalars (text, numbers, booleans) as their text.
fn scalars<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Number(serde_yaml::Number),
        Bool(bool),
    }
    let v: Option<Vec<Scalar>> = Option::deserialize(d)?;
    Ok(v.map(|v| {
        v.into_iter()
            .map(|s| match s {
                Scalar::Text(t) => t,
                Scalar::Number(n) => n.to_string(),
                Scalar::Bool(b) => b.to_string(),
            })
            .collect()
    }))
}

/// How an incremental database source learns of deleted rows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletesSpec {
    /// A declared column that marks a deleted row: true (bool) or any
    /// value (a `deleted_at` timestamp). Such rows are removed from the table.
    pub soft_column: Option<String>,
    /// Every this many incremental runs (and on `--full-refresh`), compare
    /// the table's keys with the database's and remove the missing ones.
    pub reconcile_every: Option<u32>,
}
