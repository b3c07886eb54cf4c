//! What can stop a run.

use datafusion::error::DataFusionError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Warehouse(#[from] crate::warehouse::Error),
    #[error(transparent)]
    Source(#[from] crate::sources::Error),
    #[error(transparent)]
    Model(#[from] crate::models::Error),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::Error),
    #[error("query failed: {}", crate::engine::describe_error(.0))]
    Query(#[from] DataFusionError),
    /// Data-quality checks of severity `error` failed; the run was rolled back.
    #[error("{} data-quality check(s) failed, so the run was rolled back:\n{}", .0.len(), .0.join("\n"))]
    ChecksFailed(Vec<String>),
    /// The run failed, and putting a table back failed too.
    #[error("{first}; and rolling back `{table}` failed: {reason}")]
    RollBack {
        first: String,
        table: String,
        reason: String,
    },
    /// A model failed (several build side by side: this names which).
    #[error("model `{model}`: {source}")]
    Build { model: String, source: Box<Error> },
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    pub fn help(&self) -> Option<String> {
        match self {
            Error::Warehouse(e) => e.help(),
            Error::Source(e) => e.help(),
            Error::Model(e) => e.help(),
            Error::Cluster(e) => e.help(),
            Error::Build { source, .. } => source.help(),
            Error::ChecksFailed(_) => Some(
                "fix the data (or the check); `touchpoint query \"SELECT * FROM _checks WHERE status <> 'pass'\"` lists every result; `severity: warn` reports without failing".into(),
            ),
            Error::RollBack { .. } => Some(
                "the next run restores it (the lock keeps its earlier version); re-run the period"
                    .into(),
            ),
            Error::Query(_) | Error::Internal(_) => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
