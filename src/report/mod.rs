//! Management reports: a minijinja template (`*.html.j2`, autoescaped, strict
//! about undefined names) over the warehouse tables a report declares, each
//! read in SQL down to the rows the report shows (its period's window and
//! its parameters' values), rendered to one self-contained HTML file.
//!
//! [`spec`] and [`compile`] read a report's YAML; [`request`] turns command
//! line values into what to render; [`render`] reads the tables and fills
//! the template ([`environment`]: filters, [`charts`], [`locale`]);
//! [`index`] lists the rendered reports and [`pdf`] prints one.

pub mod charts;
mod compile;
pub mod environment;
pub mod format;
pub mod i18n;
pub mod index;
pub mod locale;
pub mod pdf;
pub mod render;
pub mod request;
pub mod spec;

pub use compile::compile;
pub use locale::Locale;
pub use render::render;
pub use request::Request;
pub use spec::{ActionSpec, ParamSpec, ReportSpec, TableSpec};

use crate::period::Cadence;
use std::collections::HashMap;
use std::path::PathBuf;

/// A compiled report.
#[derive(Debug, Clone)]
pub struct Report {
    pub name: String,
    pub template: PathBuf,
    pub title: Option<String>,
    pub tables: Vec<TableSpec>,
    /// Its editions, one file each; never empty. The first is the default
    /// edition, whose file name carries no language.
    pub locales: Vec<Locale>,
    pub currency: String,
    pub cadence: Cadence,
    pub min_cell: u32,
    pub stale_after_days: u32,
    pub params: Vec<(String, ParamSpec)>,
    pub actions: Vec<ActionSpec>,
    /// The report `touchpoint demo` prints.
    pub default: bool,
}

impl Report {
    pub fn table_names(&self) -> impl Iterator<Item = &str> {
        self.tables.iter().map(|t| t.name.as_str())
    }

    pub fn reads(&self, table: &str) -> bool {
        self.tables.iter().any(|t| t.name == table)
    }

    /// The tags of its editions, the default edition first.
    pub fn locale_tags(&self) -> Vec<&str> {
        self.locales.iter().map(|l| l.tag.as_str()).collect()
    }
}

/// What a report needs to know of the pipeline that declares it.
#[derive(Debug, Clone)]
pub struct Context {
    pub pipeline: String,
    pub timezone: chrono_tz::Tz,
    /// Model → the tables it reads: a report table inherits the quality
    /// problems of everything upstream of it.
    pub reads: HashMap<String, Vec<String>>,
}

impl Context {
    /// `table` and every table it is built from.
    pub fn upstream(&self, table: &str) -> Vec<String> {
        let mut seen = vec![table.to_string()];
        let mut i = 0;
        while i < seen.len() {
            if let Some(deps) = self.reads.get(&seen[i]) {
                for d in deps {
                    if !seen.contains(d) {
                        seen.push(d.clone());
                    }
                }
            }
            i += 1;
        }
        seen
    }
}

/// A report table larger than this is a mistake (point reports at marts).
pub const MAX_ROWS: usize = 200_000;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown report `{name}`")]
    Unknown {
        name: String,
        available: Vec<String>,
    },
    /// A `--period`, `--param` or `--each` the report does not take.
    #[error("{message}")]
    Request { message: String, help: String },
    #[error(
        "report `{report}`: table `{table}` has more than {MAX_ROWS} rows; reports read marts, not raw tables"
    )]
    TooLarge { report: String, table: String },
    #[error("report `{report}`: cannot read table `{table}`: {reason}")]
    Table {
        report: String,
        table: String,
        reason: String,
    },
    #[error("report `{report}`: template error: {reason}")]
    Template { report: String, reason: String },
    #[error("cannot write report `{path}`: {reason}")]
    Write { path: String, reason: String },
    #[error("cannot print the report to PDF: {reason}")]
    Pdf { reason: String },
}

impl Error {
    pub fn help(&self) -> Option<String> {
        match self {
            Error::Unknown { name, available } => Some(
                match crate::spec::did_you_mean(name, available.iter().map(String::as_str)) {
                    Some(n) => format!("did you mean `{n}`? reports: {}", available.join(", ")),
                    None => format!("reports: {}", available.join(", ")),
                },
            ),
            Error::Request { help, .. } => Some(help.clone()),
            Error::Pdf { .. } => Some(
                "install Chromium (`apt-get install chromium`) or set TOUCHPOINT_CHROMIUM to its path; the HTML report was written".into(),
            ),
            _ => None,
        }
    }

    /// Whether the command line asked for something the report does not have.
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Unknown { .. } | Error::Request { .. })
    }
}
