//! touchpoint: a retail-bank customer-experience warehouse.
//!
//! The data path reads like the modules: `spec` (YAML) → `pipeline`
//! (validated, ordered) → `sources` (extracts → typed Arrow, quarantine) →
//! `warehouse` (Delta tables, run log) → SQL models (`sql`) → `report`
//! (HTML). `store` opens object stores. `generate` makes a synthetic bank for the demo and the tests.

pub mod analytics;
pub mod cli;
pub mod discover;
pub mod error;
pub mod generate;
pub mod pipeline;
pub mod quality;
pub mod report;
pub mod sources;
pub mod spec;
pub mod sql;
pub mod steps;
pub mod store;
pub mod warehouse;

pub use error::{Error, Result};
