//! `touchpoint report`: render a management report to HTML.

use super::WarehouseArgs;
use crate::Result;
use crate::pipeline::Period;
use crate::warehouse::Warehouse;
use std::io::Write;
use std::path::PathBuf;

/// Render a report declared in the pipeline for one period into a single
/// self-contained HTML file (inline CSS and SVG charts, no network requests)
/// and print its path.
///
/// Example: touchpoint report executive_monthly --period 2024-12
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The report's name in the pipeline's `reports:`.
    pub report: String,
    /// YYYY-MM
    #[arg(long)]
    pub period: String,
    #[arg(long, default_value = super::DEFAULT_PIPELINE)]
    pub pipeline: PathBuf,
    /// Output folder (default: `out/reports` in the project).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
}

pub async fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    let period: Period = a
        .period
        .parse()
        .map_err(|e: String| crate::Error::usage(e, "e.g. --period 2024-12"))?;
    let p = super::load_pipeline_for_reading(&a.pipeline).await?;
    if p.report(&a.report).is_none() {
        let names: Vec<&str> = p.reports.iter().map(|r| r.name.as_str()).collect();
        let near = crate::spec::did_you_mean(&a.report, names.iter().copied());
        return Err(crate::Error::usage(
            format!("unknown report `{}`", a.report),
            match near {
                Some(n) => format!("did you mean `{n}`? reports: {}", names.join(", ")),
                None => format!("reports: {}", names.join(", ")),
            },
        ));
    }
    // Readers see the last finished run, never half of one.
    let wh = Warehouse::open(&p.warehouse_location(a.warehouse.warehouse.as_deref()))?
        .committed()
        .await?;
    let dir = a.out.unwrap_or_else(|| p.root.join("out").join("reports"));
    let path = crate::report::render(&p, &wh, &a.report, period, &dir).await?;
    writeln!(out, "{}", path.display()).map_err(super::io_err("stdout"))?;
    Ok(())
}
