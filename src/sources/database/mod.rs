//! Sources read from a live database instead of files. What every kind of
//! database shares lives here: the [`Database`] a source names (PostgreSQL
//! today, in `sources/postgres/`; MySQL, SQL Server or Oracle would be
//! siblings, each a variant and a folder implementing [`Kind`]), the
//! incremental settings (`cursor`, `lookback`, `deletes`), the high-water
//! mark a run stores ([`state`]), and the load that streams an extract
//! through the same [`Conformer`](super::conform::Conformer) as the file
//! formats ([`load`]), so every value rule, quarantine reason and count
//! applies unchanged.
//!
//! Does not know the wire protocol of any database (its kind does), nor
//! write the warehouse (the run does, with what a load streams).

pub mod discover;
mod error;
pub mod load;
pub mod online;
pub mod spec;
pub mod state;

pub use error::Error;
pub use load::{Extracted, Piece};
pub use spec::{Cursor, Deletes, Lookback};
pub use state::{Mark, MarkKind, State};

use super::{RawBatch, Source};
use crate::period::Period;
use crate::spec::types::ColumnType;
use chrono_tz::Tz;

/// The database a source reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Postgres(super::postgres::Postgres),
}

impl Database {
    pub fn kind(&self) -> &dyn Kind {
        match self {
            Database::Postgres(p) => p,
        }
    }
}

/// One column of a table or query as the database's catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbColumn {
    pub name: String,
    /// The database's name for its type (`numeric(20,4)`, `timestamp with
    /// time zone`).
    pub type_name: String,
    /// The database's own id of the type (PostgreSQL's type OID).
    pub type_id: u32,
    /// The declared type that holds every value of it, when there is one
    /// (`discover` proposes it; evolution adds a new column as it).
    pub natural: Option<ColumnType>,
    /// `NOT NULL` in the catalog (unknown for a query: false).
    pub not_null: bool,
    /// Part of the primary key (its position), for `discover`.
    pub key: Option<usize>,
}

/// What one extract reads, decided by the run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Rows whose cursor is past this (an incremental run); `None` reads
    /// every row.
    pub since: Option<Mark>,
    /// Only rows of this period (a periodic source without a cursor).
    pub period: Option<Period>,
    /// Also read every key, in the same snapshot (deletes by reconcile).
    pub keys: bool,
    /// What the last committed run left (the high-water mark it read to).
    pub state: State,
    /// The business time zone: periods are its local months, and a
    /// `timestamp` column without a zone of its own is local to it.
    pub timezone: Tz,
}

/// Where an extract sends what it reads (a blocking channel: extraction
/// runs on threads of its own and waits while the load is behind).
pub type Out = std::sync::mpsc::SyncSender<Result<Piece, Error>>;

/// What each kind of database does for a source. The calls block: make
/// them from a blocking thread inside the Tokio runtime.
pub trait Kind: Send + Sync {
    /// Its key in the YAML (`postgres`).
    fn key(&self) -> &'static str;

    /// How quarantine rows, `_loaded_files` and messages name what is
    /// read: `postgres:crm/crm.customers` (the profile, then the object).
    fn object(&self) -> String;

    /// The columns of the table or query, read from the catalog (no rows).
    fn describe(&self, src: &Source) -> Result<Vec<DbColumn>, Error>;

    /// Whether a column of the database's `type_name` can be loaded into a
    /// column declared `declared` (every value exactly, or row by row with
    /// quarantine); `None` when it can, else why not.
    fn cannot_hold(&self, db: &DbColumn, declared: ColumnType) -> Option<String>;

    /// Read the rows `plan` asks for inside one consistent snapshot (read
    /// only), sending raw batches (one column per declared column) and,
    /// when asked, the keys to `out`. Returns the high-water mark of the
    /// rows read and the snapshot's moment.
    fn extract(&self, src: &Source, plan: &Plan, out: &Out) -> Result<Extracted, Error>;
}

/// A raw batch read from a database, counted like a file's lines.
pub fn raw(
    object: &std::sync::Arc<str>,
    first_line: i64,
    columns: Vec<datafusion::arrow::array::ArrayRef>,
) -> RawBatch {
    let n = columns.first().map(|c| c.len()).unwrap_or(0) as i64;
    RawBatch {
        file: object.clone(),
        lines: (first_line..first_line + n).collect(),
        columns,
    }
}
