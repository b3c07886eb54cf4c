//! A validated pipeline that later code can trust, and running it.
//!
//! `compile` turns the `spec` structs into a [`Pipeline`] (paths resolved and
//! confined to the project, types parsed, SQL planned against the declared
//! schemas, models ordered by their dependencies), collecting every problem.
//! `run` loads sources and builds models into the warehouse.

pub mod compile;
pub mod graph;
pub mod incremental;
pub mod period;
pub mod progress;
pub mod run;
mod schedule;
pub mod unit_test;

pub use compile::{Overrides, compile, compile_with};
pub use period::Period;

use crate::spec::types::ColumnType;
use crate::spec::{Personal, SeedSpec};
use chrono_tz::Tz;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Pipeline {
    pub file: PathBuf,
    /// Folder of the pipeline file: relative paths start here.
    pub dir: PathBuf,
    /// The project: paths in the YAML may not leave it.
    pub root: PathBuf,
    pub name: String,
    pub description: Option<String>,
    pub timezone: Tz,
    pub currency: String,
    pub warehouse: Option<String>,
    /// Credential profile names for the extracts' and warehouse's stores.
    pub profiles: crate::spec::ProfilesSpec,
    pub seeds: Vec<Seed>,
    pub sources: Vec<Source>,
    /// In dependency order.
    pub models: Vec<Model>,
    pub reports: Vec<Report>,
    /// Data-quality checks, run after the models.
    pub checks: Vec<crate::quality::Check>,
    /// Model unit tests (`touchpoint test`).
    pub tests: Vec<UnitTest>,
    /// Reader → personal columns granted in clear (`table.column`, `table.*`, `*`).
    pub grants: Vec<(String, Vec<String>)>,
    /// Every table's schema: seeds, sources, bookkeeping tables, models.
    pub schemas: std::collections::HashMap<String, datafusion::arrow::datatypes::SchemaRef>,
}

/// A model unit test: given rows in, expected rows out.
#[derive(Debug, Clone)]
pub struct UnitTest {
    pub name: String,
    pub model: String,
    pub description: Option<String>,
    pub given: Vec<(String, Vec<serde_yaml::Mapping>)>,
    pub expect: Vec<serde_yaml::Mapping>,
}

#[derive(Debug, Clone)]
pub struct Seed {
    pub name: String,
    pub columns: Vec<(String, ColumnType)>,
    pub spec: SeedSpec,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Csv {
        delimiter: u8,
        header: bool,
        quote: u8,
    },
    Jsonl,
    Parquet,
    /// Byte ranges (0-based start, width) per declared column, in order.
    FixedWidth {
        skip_lines: usize,
        ranges: std::sync::Arc<[(usize, usize)]>,
    },
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

#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    /// Absolute glob pattern (a local path or an object-store URL),
    /// possibly with period placeholders.
    pub pattern: String,
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

impl Source {
    pub fn is_periodic(&self) -> bool {
        self.period_column.is_some()
    }

    /// Sources this one's `references` point at (loaded first).
    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.columns
            .iter()
            .filter_map(|c| c.references.as_ref().map(|(s, _)| s.as_str()))
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub sql_file: PathBuf,
    pub sql: String,
    pub description: Option<String>,
    /// Tables this model reads (sources, seeds, models).
    pub depends_on: Vec<String>,
    pub step: Step,
    /// Output columns carrying personal data (declared in `personal:`).
    pub personal: Vec<(String, Personal)>,
}

/// What builds a model: its SQL, or an analytics step over its SQL's rows.
#[derive(Debug, Clone)]
pub enum Step {
    Sql,
    Churn(crate::steps::churn::ChurnStep),
    Clv(crate::steps::clv::ClvStep),
}

#[derive(Debug, Clone)]
pub struct Report {
    pub name: String,
    pub template: PathBuf,
    pub title: Option<String>,
    pub tables: Vec<String>,
    pub locale: crate::report::format::Locale,
    pub currency: String,
    pub quarterly: bool,
    pub min_cell: u32,
    pub stale_after_days: u32,
    pub params: Vec<(String, crate::spec::ParamSpec)>,
    pub actions: Vec<crate::spec::ActionSpec>,
}

impl Pipeline {
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// Every table's personal columns and how analysts see them (sources'
    /// declared columns and models' `personal:`), `clear` ones left out.
    pub fn personal_columns(&self) -> Vec<(String, String, Personal)> {
        let mut out = Vec::new();
        for s in &self.sources {
            for c in &s.columns {
                if let Some(p) = c.personal.filter(|p| *p != Personal::Clear) {
                    out.push((s.name.clone(), c.name.clone(), p));
                }
            }
        }
        for m in &self.models {
            for (c, p) in &m.personal {
                if *p != Personal::Clear {
                    out.push((m.name.clone(), c.clone(), *p));
                }
            }
        }
        out
    }

    /// The personal columns `reader` must see masked: all of them but the
    /// ones the pipeline's `access.grants` give that reader.
    pub fn masked_for(&self, reader: &str) -> Vec<(String, String, Personal)> {
        let granted: &[String] = self
            .grants
            .iter()
            .find(|(r, _)| r == reader)
            .map(|(_, g)| g.as_slice())
            .unwrap_or(&[]);
        self.personal_columns()
            .into_iter()
            .filter(|(t, c, _)| {
                !granted
                    .iter()
                    .any(|g| g == "*" || *g == format!("{t}.*") || *g == format!("{t}.{c}"))
            })
            .collect()
    }

    pub fn report(&self, name: &str) -> Option<&Report> {
        self.reports.iter().find(|r| r.name == name)
    }

    /// Every table name the pipeline produces.
    pub fn table_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.seeds.iter().map(|s| s.name.clone()).collect();
        v.extend(self.sources.iter().map(|s| s.name.clone()));
        v.extend(self.models.iter().map(|m| m.name.clone()));
        v
    }

    /// `--warehouse` wins, then the pipeline's `warehouse:` (relative to the
    /// project root), then `./warehouse`.
    /// A store there uses the pipeline's `profiles.warehouse`.
    pub fn warehouse_location(&self, flag: Option<&str>) -> String {
        let location = match (flag, &self.warehouse) {
            (Some(f), _) => f.to_string(),
            (None, Some(w)) if w.contains("://") => w.clone(),
            (None, Some(w)) => self.root.join(w).display().to_string(),
            (None, None) => "warehouse".into(),
        };
        crate::store::bind_profile(&location, self.profiles.warehouse.as_deref());
        location
    }
}
