//! The `touchpoint` command line: argument parsing and printing only; the
//! work is in the library. One file per subcommand.

#[cfg(feature = "cluster")]
pub mod cluster;
pub mod demo;
pub mod discover;
pub mod generate;
pub mod graph;
pub mod maintain;
pub mod query;
pub mod report;
pub mod run;
pub mod serve;
pub mod sql;
pub mod tables;
pub mod test;
pub mod validate;

use crate::Result;
use crate::pipeline::Pipeline;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

const ABOUT: &str = "touchpoint: a retail-bank customer-experience warehouse.\n\n\
YAML pipelines load channel extracts (ATM, branch, online, call centre, surveys, CRM) into Delta tables, \
SQL models build the marts (channel mix, satisfaction, value pyramid, churn risk, CLV), and minijinja \
templates render management reports.";

#[derive(Debug, Parser)]
#[command(name = "touchpoint", version, about = ABOUT, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Generate(generate::Args),
    Validate(validate::Args),
    Graph(graph::Args),
    Discover(discover::Args),
    Run(run::Args),
    Query(query::Args),
    Sql(sql::Args),
    Serve(serve::Args),
    Report(report::Args),
    Tables(tables::Args),
    Maintain(maintain::Args),
    Test(test::Args),
    Demo(demo::Args),
    #[cfg(feature = "cluster")]
    Scheduler(cluster::SchedulerArgs),
    #[cfg(feature = "cluster")]
    Executor(cluster::ExecutorArgs),
}

pub const DEFAULT_PIPELINE: &str = "pipelines/monthly_cx.yaml";

/// Which pipeline a command works on: `--pipeline FILE`, else
/// `pipelines/monthly_cx.yaml`, else the project's only `pipelines/*.yaml`.
#[derive(Debug, clap::Args, Clone, Default)]
pub struct PipelineArgs {
    /// The pipeline file [default: pipelines/monthly_cx.yaml, or the
    /// project's only pipelines/*.yaml].
    #[arg(long, short = 'p', value_name = "FILE")]
    pub pipeline: Option<PathBuf>,
}

impl PipelineArgs {
    /// With a command's positional pipeline (the older spelling of
    /// `run`, `validate`, `graph` and `test`), which wins when given.
    pub fn or(&self, positional: Option<PathBuf>) -> PipelineArgs {
        PipelineArgs {
            pipeline: positional.or_else(|| self.pipeline.clone()),
        }
    }

    /// The pipeline file, or what to pass when there is none.
    pub fn file(&self) -> Result<PathBuf> {
        if let Some(p) = &self.pipeline {
            if p.exists() {
                return Ok(p.clone());
            }
            return Err(crate::Error::usage(
                format!("pipeline file `{}` not found", p.display()),
                "pass the pipeline file, e.g. `--pipeline pipelines/monthly_cx.yaml`, or run from the project folder",
            ));
        }
        let default = PathBuf::from(DEFAULT_PIPELINE);
        if default.exists() {
            return Ok(default);
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir("pipelines")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        found.sort();
        match found.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(crate::Error::usage(
                format!("pipeline file `{DEFAULT_PIPELINE}` not found"),
                "pass the pipeline file, e.g. `--pipeline pipelines/monthly_cx.yaml`, or run from the project folder",
            )),
            many => Err(crate::Error::usage(
                format!("pipeline file `{DEFAULT_PIPELINE}` not found"),
                format!(
                    "pass --pipeline with one of: {}",
                    many.iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// Compile the pipeline (every source's files listed).
    pub async fn load(&self) -> Result<Pipeline> {
        load(&self.file()?, false).await
    }

    /// Compile the pipeline for a command that only reads the warehouse:
    /// the extracts are not listed (on a bucket that is a request per source).
    pub async fn load_for_reading(&self) -> Result<Pipeline> {
        load(&self.file()?, true).await
    }
}

/// Where to find the warehouse: `--warehouse`, then `TOUCHPOINT_WAREHOUSE`.
#[derive(Debug, clap::Args, Clone)]
pub struct WarehouseArgs {
    /// Warehouse location: a folder or an object-store URL (s3://, gs://, az://).
    /// Default: the pipeline's `warehouse:` key, else ./warehouse.
    #[arg(long, env = "TOUCHPOINT_WAREHOUSE")]
    pub warehouse: Option<String>,
}

pub async fn run(cli: Cli) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Generate(a) => generate::run(a, &mut out),
        Command::Validate(a) => validate::run(a, &mut out).await,
        Command::Graph(a) => graph::run(a, &mut out).await,
        Command::Discover(a) => discover::run(a, &mut out).await,
        Command::Run(a) => run::run(a, &mut out).await,
        Command::Query(a) => query::run(a, &mut out).await,
        Command::Sql(a) => sql::run(a, &mut out).await,
        Command::Serve(a) => serve::run(a, &mut out).await,
        Command::Report(a) => report::run(a, &mut out).await,
        Command::Tables(a) => tables::run(a, &mut out).await,
        Command::Maintain(a) => maintain::run(a, &mut out).await,
        Command::Test(a) => test::run(a, &mut out).await,
        Command::Demo(a) => demo::run(a, &mut out).await,
        #[cfg(feature = "cluster")]
        Command::Scheduler(a) => cluster::scheduler(a, &mut out).await,
        #[cfg(feature = "cluster")]
        Command::Executor(a) => cluster::executor(a, &mut out).await,
    }
}

async fn load(path: &Path, skip_file_checks: bool) -> Result<Pipeline> {
    // `TOUCHPOINT_EXTRACTS` points the same pipeline at another copy of the
    // extracts (a bucket, a test folder) without editing the file.
    let over = crate::pipeline::Overrides {
        extracts: std::env::var("TOUCHPOINT_EXTRACTS")
            .ok()
            .filter(|v| !v.is_empty()),
        skip_file_checks,
    };
    crate::pipeline::compile_with(path, &over)
        .await
        .map_err(crate::Error::Invalid)
}

pub fn io_err(path: &str) -> impl FnOnce(std::io::Error) -> crate::Error + '_ {
    move |source| crate::Error::Io {
        path: path.to_string(),
        source,
    }
}
