//! `touchpoint demo`: generate, run, report — the whole path in one command.

use super::{PipelineArgs, WarehouseArgs};
use crate::Result;
use crate::generate::{GenerateOptions, generate};
use crate::period::Period;
use crate::report::Request;
use crate::warehouse::Warehouse;
use std::io::Write;

/// Generate the demo bank into `data/`, run the shipped pipeline for every
/// month, render every report (every edition) for the last month (or
/// quarter), and print the path of the pipeline's default report.
///
/// Example: cargo run --release -- demo
///          touchpoint demo --customers 50000
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[arg(long, default_value_t = 20_000)]
    pub customers: u64,
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    #[arg(long, default_value = "2024-01")]
    pub start: String,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
}

pub async fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    let file = a.pipeline.file().map_err(|_| {
        crate::Error::usage(
            "the demo pipeline `pipelines/monthly_cx.yaml` not found",
            "run the demo from the project folder (where README.md is)",
        )
    })?;
    let start: Period = a.start.parse()?;
    let project = crate::spec::Project::of(&file);
    let data = project.root.join("data");
    let mut err = std::io::stderr();
    let _ = writeln!(
        err,
        "generating {} customers x {} months into {}",
        a.customers,
        a.months,
        data.display()
    );
    let g = generate(&GenerateOptions {
        customers: a.customers,
        months: a.months,
        start: start.first_day(),
        seed: a.seed,
        out: data,
        ..GenerateOptions::default()
    })?;
    let _ = writeln!(
        err,
        "generated {} events in {:.1}s ({:.0} events/s)",
        g.events,
        g.seconds,
        g.events as f64 / g.seconds.max(1e-9)
    );
    let p = a.pipeline.load().await?;
    let wh = Warehouse::open(&p.warehouse_location(a.warehouse.warehouse.as_deref()))?
        .with_retention(p.retention);
    let periods: Vec<Period> = (0..a.months.max(1)).map(|i| start.forward(i)).collect();
    let summary =
        crate::pipeline::run::run(&p, &wh, &periods, Default::default(), &mut err).await?;
    let _ = writeln!(
        err,
        "run {} done in {:.1}s, {} rows quarantined",
        summary.run_id,
        summary.seconds,
        summary.rows_quarantined()
    );
    let last = *periods.last().unwrap_or(&start);
    let dir = p.project.root.join("out").join("reports");
    let cx = p.report_context();
    let default = p.default_report().map(|r| r.name.clone());
    let mut shown = None;
    for r in &p.reports {
        for req in Request::defaults(&wh, r, last).await? {
            let written = crate::report::render(&cx, r, &wh, &req, &dir).await?;
            // The default report's default edition (written first).
            if Some(&r.name) == default.as_ref() && shown.is_none() {
                shown = written.into_iter().next();
            }
        }
    }
    if let Some(path) = shown {
        writeln!(out, "{}", path.display()).map_err(super::io_err("stdout"))?;
    }
    Ok(())
}
