//! `touchpoint report`: render a management report to HTML (and PDF).

use super::{PipelineArgs, WarehouseArgs};
use crate::Result;
use crate::report::Request;
use crate::warehouse::Warehouse;
use std::io::Write;
use std::path::PathBuf;

/// Render a report declared in the pipeline for one period into a single
/// self-contained HTML file (inline CSS and SVG charts, no network requests)
/// per edition, and print their paths; `out/reports/index.html` lists every
/// rendered report. A report with `locales: [en, zh-CN]` writes
/// `executive_monthly-2024-12.html` and `executive_monthly-2024-12.zh-CN.html`.
///
/// Example: touchpoint report executive_monthly --period 2024-12
///          touchpoint report executive_quarterly --period 2024-Q4 --pdf
///          touchpoint report segment_drilldown --period 2024-12 --param tier=Premier
///          touchpoint report branch_network --period 2024-12 --each region
///          touchpoint report executive_monthly --period 2024-12 --locale zh-CN
///          touchpoint report executive_monthly --period 2024-12 --as-of 20250102T010203Z-ab12cd
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The report's name in the pipeline's `reports:`.
    pub report: String,
    /// YYYY-MM, or YYYY-Qn for a quarterly report.
    #[arg(long)]
    pub period: String,
    /// A report parameter, `--param tier=Premier` (declared under the report's `params:`).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// One file per value of this parameter, each with only that value's rows.
    #[arg(long, value_name = "PARAM")]
    pub each: Option<String>,
    /// Only this edition (a tag of the report's `locales:`); default: every edition.
    #[arg(long, value_name = "TAG")]
    pub locale: Option<String>,
    /// Re-render from the table versions this run left (Delta time travel).
    #[arg(long, value_name = "RUN_ID")]
    pub as_of: Option<String>,
    /// Also print each report to PDF with headless Chromium.
    #[arg(long)]
    pub pdf: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Output folder (default: `out/reports` in the project).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
}

pub async fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    let p = a.pipeline.load_for_reading().await?;
    let report = p.find_report(&a.report)?;
    let base = Warehouse::open(&p.warehouse_location(a.warehouse.warehouse.as_deref()))?
        .with_retention(p.retention);
    // Readers see the last finished run, never half of one; or exactly the
    // run `--as-of` names.
    let wh = match &a.as_of {
        Some(run) => base.as_of(run).await?,
        None => base.committed().await?,
    };
    let requests = Request::from_args(
        &wh,
        report,
        &a.period,
        &a.params,
        a.each.as_deref(),
        a.locale.as_deref(),
    )
    .await?;
    let dir = a
        .out
        .unwrap_or_else(|| p.project.root.join("out").join("reports"));
    let cx = p.report_context();
    for req in &requests {
        for path in crate::report::render(&cx, report, &wh, req, &dir).await? {
            writeln!(out, "{}", path.display()).map_err(super::io_err("stdout"))?;
            if a.pdf {
                let pdf = crate::report::pdf::print(&path)?;
                writeln!(out, "{}", pdf.display()).map_err(super::io_err("stdout"))?;
            }
        }
    }
    Ok(())
}
