//! The crate error: one variant per module, rendered for people by the CLI.

use crate::spec::Diagnostic;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pipeline does not validate; every problem is listed.
    #[error("{}", render_diagnostics(.0))]
    Invalid(Vec<Diagnostic>),
    #[error(transparent)]
    Warehouse(#[from] crate::warehouse::Error),
    #[error(transparent)]
    Source(#[from] crate::sources::Error),
    #[error(transparent)]
    Report(#[from] crate::report::Error),
    #[error(transparent)]
    Generate(#[from] crate::generate::GenerateError),
    #[error(transparent)]
    Discover(#[from] crate::discover::Error),
    #[error("query failed: {0}")]
    Query(String),
    #[error("{message}")]
    Usage {
        message: String,
        help: Option<String>,
    },
    /// `touchpoint test`: model unit tests failed (each was printed).
    #[error("{0} model test(s) failed")]
    TestsFailed(usize),
    /// Data-quality checks of severity `error` failed; the run was rolled back.
    #[error("{} data-quality check(s) failed, so the run was rolled back:\n{}", .0.len(), .0.join("\n"))]
    ChecksFailed(Vec<String>),
    #[error("cannot write `{path}`: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl Error {
    pub fn usage(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Usage {
            message: message.into(),
            help: Some(help.into()),
        }
    }

    /// Exit codes as Vector uses them: 2 usage, 78 configuration, 1 the rest.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) => 78,
            Error::Usage { .. } => 2,
            _ => 1,
        }
    }

    /// A `help:` line for the person at the terminal, when we know one.
    pub fn help(&self) -> Option<String> {
        match self {
            Error::Usage { help, .. } => help.clone(),
            Error::Warehouse(e) => e.help(),
            Error::ChecksFailed(_) => Some(
                "fix the data (or the check); `touchpoint query \"SELECT * FROM _checks WHERE status <> 'pass'\"` lists every result; `severity: warn` reports without failing".into(),
            ),
            _ => None,
        }
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Error::Query(crate::sql::describe_error(&e))
    }
}

fn render_diagnostics(d: &[Diagnostic]) -> String {
    let mut s = String::new();
    for x in d {
        s.push_str(&x.to_string());
        s.push('\n');
    }
    s.push_str(&format!(
        "{} error{} found",
        d.len(),
        if d.len() == 1 { "" } else { "s" }
    ));
    s
}
