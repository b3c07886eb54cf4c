//! touchpoint: a retail-bank customer-experience warehouse.
//!
//! The data path reads like the modules, each layer using only those below
//! it (ARCHITECTURE.md draws them):
//! - `cli` parses arguments and prints; `error` folds every module's error;
//! - `serve` is the PostgreSQL-protocol server over readers' sessions;
//! - `sql` is the readers' masked session and shell; `pipeline` compiles a
//!   pipeline file and runs it;
//! - `report` renders HTML; `models` builds the marts (SQL and analytics
//!   steps); `sources` turns extracts into typed Arrow with quarantine;
//!   `checks` are data-quality tests; `cluster` runs SQL on Ballista (feature
//!   `cluster`); `access` is who sees personal data how;
//! - `warehouse` is the Delta tables, the run log, the lock and the run's
//!   transaction; `engine` the DataFusion sessions; `store` object stores;
//!   `spec` the YAML machinery; `period` months and quarters.
//!
//! `generate` makes a synthetic bank for the demo and the tests.

pub mod access;
pub mod checks;
pub mod cli;
pub mod cluster;
pub mod engine;
pub mod error;
pub mod generate;
pub mod models;
pub mod period;
pub mod pipeline;
pub mod report;
pub mod serve;
pub mod sources;
pub mod spec;
pub mod sql;
pub mod store;
pub mod warehouse;

pub use error::{Error, Result};
