//! `touchpoint run`: load a period's extracts and rebuild the models.

use super::{PipelineArgs, WarehouseArgs};
use crate::Result;
use crate::period::Period;
use crate::warehouse::Warehouse;
use std::io::Write;
use std::path::PathBuf;

/// Run a pipeline for one period (or an inclusive range): load every source's
/// new or changed files for that period into the warehouse (re-running never
/// duplicates; `--full-refresh` reads everything again), quarantine bad rows
/// with their reason, rebuild the models in dependency order, and log every
/// step in `_runs`.
///
/// Example: touchpoint run --period 2024-06
///          touchpoint run --pipeline pipelines/monthly_cx.yaml --period 2024-01..2024-12 --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// The pipeline file (same as --pipeline).
    #[arg(value_name = "PIPELINE", conflicts_with = "pipeline")]
    pub file: Option<PathBuf>,
    /// YYYY-MM, or a range YYYY-MM..YYYY-MM.
    #[arg(long)]
    pub period: String,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Print the run summary as JSON on stdout (progress goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Read every file again and rebuild each period, ignoring which files
    /// earlier runs loaded (by default only new or changed files are read).
    #[arg(long)]
    pub full_refresh: bool,
    /// Let a period whose files were loaded before and are now all gone be
    /// replaced with no rows (without it such a run fails and changes
    /// nothing).
    #[arg(long)]
    pub allow_empty: bool,
    /// No progress bars (they are drawn only when stderr is a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

pub async fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    let periods = Period::parse_range(&a.period)?;
    let p = a.pipeline.or(a.file).load().await?;
    // A run needs no hash key (hashing happens as readers read), but a key
    // that is set and that every reader would refuse is a mistake to name
    // now, not after the run when the first report fails.
    crate::access::HashKey::from_env()
        .map_err(|e| crate::sql::Error::from(crate::access::Error::HashKey(e)))?;
    let wh = Warehouse::open(&p.warehouse_location(a.warehouse.warehouse.as_deref()))?
        .with_retention(p.retention);
    let mut err = std::io::stderr();
    let options = crate::pipeline::run::Options {
        full_refresh: a.full_refresh,
        allow_empty: a.allow_empty,
        progress_bars: crate::pipeline::run::progress::wanted(a.no_progress),
    };
    let summary = crate::pipeline::run::run(&p, &wh, &periods, options, &mut err).await?;
    let io = super::io_err("stdout");
    if a.json {
        let text = serde_json::to_string_pretty(&summary).unwrap_or_default();
        writeln!(out, "{text}").map_err(io)?;
    } else {
        let read: i64 = summary.sources().map(|s| s.rows_read).sum();
        let loaded: i64 = summary.sources().map(|s| s.rows_loaded).sum();
        let (files, skipped) = summary
            .sources()
            .fold((0, 0), |(f, k), s| (f + s.files, k + s.files_skipped));
        writeln!(
            out,
            "run {} ok in {:.1}s: {files} files read ({skipped} already loaded, skipped); {read} rows read = {loaded} loaded + {} quarantined; warehouse {}",
            summary.run_id,
            summary.seconds,
            summary.rows_quarantined(),
            wh.root()
        )
        .map_err(io)?;
    }
    Ok(())
}
