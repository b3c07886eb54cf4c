//! Readers' SQL: a read-only session over the last finished run's tables
//! (or a past run's), personal columns masked below SQL as the pipeline's
//! policy says for this reader, time travel with `table_at` ([`session`],
//! [`travel`]); errors explained in words ([`explain`]); the interactive
//! shell ([`shell`]) and result formats ([`output`]).

pub mod explain;
pub mod output;
pub mod params;
pub mod session;
pub mod shell;
pub mod travel;

pub use session::Session;

use datafusion::error::DataFusionError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Warehouse(#[from] crate::warehouse::Error),
    #[error(transparent)]
    Access(#[from] crate::access::Error),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::Error),
    #[error("query failed: {}", crate::engine::describe_error(.0))]
    Query(#[from] DataFusionError),
    /// What the reader asked for cannot be: an unknown name, a statement a
    /// read-only session refuses, a missing parameter, a version out of range.
    #[error("{message}")]
    Reader { message: String, help: String },
}

impl Error {
    pub fn reader(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Reader {
            message: message.into(),
            help: help.into(),
        }
    }

    pub fn help(&self) -> Option<String> {
        match self {
            Error::Warehouse(e) => e.help(),
            Error::Access(e) => e.help(),
            Error::Cluster(e) => e.help(),
            Error::Query(_) => None,
            Error::Reader { help, .. } => Some(help.clone()),
        }
    }

    /// Whether the reader's own statement is at fault (not the warehouse).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Reader { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a reader may not run: no DDL (`CREATE EXTERNAL TABLE` over the
/// warehouse's files would bypass masking), no writes, no `SET`.
pub fn read_only() -> datafusion::execution::context::SQLOptions {
    datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}
