//! Models: the marts. A model is a SQL file, or an analytics step (a churn
//! model, customer lifetime value) that reads a table or a query and fits a
//! statistical model ([`analytics`]); each kind's spec is a variant of
//! [`spec::KindSpec`] beside its code. [`compile`] reads the SQL, finds what
//! each model reads, orders them and plans each against its inputs'
//! schemas; [`build`] streams a model's rows. Seeds (small tables declared
//! in the YAML) and model unit tests (`touchpoint test`) live here too.
//!
//! Does not write the warehouse: the run commits what a model streams.

pub mod analytics;
pub mod churn;
pub mod clv;
mod compile;
mod order;
pub mod record;
pub mod seeds;
pub mod spec;
mod step;
pub mod unit_test;

pub use compile::{Schemas, compile};
pub use record::{MODEL_METRICS, MODEL_METRICS_SCHEMA, MODEL_PARAMS, MODEL_PARAMS_SCHEMA};
pub use seeds::Seed;
pub use spec::ModelSpec;
pub use step::{Built, Rescore};
pub use unit_test::UnitTest;

use crate::access::Personal;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub sql_file: PathBuf,
    pub sql: String,
    pub description: Option<String>,
    /// Tables this model reads (sources, seeds, models).
    pub depends_on: Vec<String>,
    pub kind: Kind,
    /// Output columns carrying personal data (declared in `personal:`).
    pub personal: Vec<(String, Personal)>,
    /// `incremental: {by: period, …}`: the months around its own that a
    /// month of the model reads (`None`: rebuilt whole).
    pub by_period: Option<Reach>,
}

/// The months a month of a model rebuilt by period reads besides its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// Months before it (a `LAG`, the month before, a rolling window).
    pub lookback: u32,
    /// Months after it (an outcome within the next N months).
    pub lookahead: u32,
}

/// The column a model rebuilt by period is partitioned by.
pub const PERIOD: &str = "period";

/// What builds a model: its SQL, or an analytics step over its SQL's rows.
#[derive(Debug, Clone)]
pub enum Kind {
    Sql,
    Churn(churn::ChurnStep),
    Clv(clv::ClvStep),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("query failed: {}", crate::engine::describe_error(.0))]
    Query(#[from] DataFusionError),
    /// A step met data it cannot fit (the message names the model).
    #[error("{message}")]
    Step { message: String, help: String },
    #[error("seed `{seed}`: {message}")]
    Seed {
        seed: String,
        message: String,
        help: String,
    },
}

impl Error {
    pub fn step(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Step {
            message: message.into(),
            help: help.into(),
        }
    }

    pub fn help(&self) -> Option<String> {
        match self {
            Error::Query(_) => None,
            Error::Step { help, .. } | Error::Seed { help, .. } => Some(help.clone()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Build a model over a session where its inputs are registered: its SQL
/// as a stream, or its step.
pub async fn build(
    ctx: &SessionContext,
    model: &Model,
    run_id: &str,
    tz: chrono_tz::Tz,
    rescore: Option<Rescore<'_>>,
) -> Result<Built> {
    match &model.kind {
        Kind::Sql => Ok(Built {
            stream: ctx.sql(&model.sql).await?.execute_stream().await?,
            side: None,
            summary: String::new(),
            fit: None,
            periods_only: false,
        }),
        Kind::Churn(c) => {
            c.execute(ctx, &model.sql, &model.name, run_id, rescore)
                .await
        }
        Kind::Clv(c) => c.execute(ctx, &model.sql, &model.name, run_id, tz).await,
    }
}
