//! `touchpoint demo`: generate, run, report — the whole path in one command.

use super::WarehouseArgs;
use crate::Result;
use crate::generate::{GenerateOptions, generate};
use crate::pipeline::Period;
use crate::warehouse::Warehouse;
use std::io::Write;
use std::path::PathBuf;

/// Generate the demo bank into `data/`, run the shipped pipeline for every
/// month, render the executive report for the last month, and print its path.
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
    #[arg(long, default_value = super::DEFAULT_PIPELINE)]
    pub pipeline: PathBuf,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
}

pub async fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    if !a.pipeline.exists() {
        return Err(crate::Error::usage(
            format!("`{}` not found", a.pipeline.display()),
            "run the demo from the project folder (where README.md is)",
        ));
    }
    let start: Period = a
        .start
        .parse()
        .map_err(|e: String| crate::Error::usage(e, "e.g. --start 2024-01"))?;
    let abs = std::path::absolute(&a.pipeline).unwrap_or_else(|_| a.pipeline.clone());
    let project = abs
        .parent()
        .and_then(|d| d.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let data = project.join("data");
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
    let p = super::load_pipeline(&a.pipeline).await?;
    let wh = Warehouse::open(&p.warehouse_location(a.warehouse.warehouse.as_deref()))?;
    let mut periods = vec![start];
    for _ in 1..a.months {
        let next = periods.last().map(|p| p.next()).unwrap_or(start);
        periods.push(next);
    }
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
    let dir = p.root.join("out").join("reports");
    let mut path = None;
    for r in &p.reports {
        // A quarterly report covers the last full quarter.
        let mut period = last;
        while r.quarterly && !period.month.is_multiple_of(3) {
            period = period.prev();
        }
        // Parameters take their defaults; one without is burst over its values.
        let mut requests = vec![crate::report::Request {
            report: r.name.clone(),
            period,
            params: Default::default(),
        }];
        for (name, spec) in &r.params {
            let values = match &spec.default {
                Some(d) => vec![d.clone()],
                None => crate::report::param_values(&wh, r, name).await?,
            };
            requests = requests
                .into_iter()
                .flat_map(|req| {
                    values.iter().map(move |v| {
                        let mut req = req.clone();
                        req.params.insert(name.clone(), v.clone());
                        req
                    })
                })
                .collect();
        }
        for req in &requests {
            let written = crate::report::render(&p, &wh, req, &dir).await?;
            if r.name == "executive_monthly" || path.is_none() {
                path = Some(written);
            }
        }
    }
    if let Some(path) = path {
        writeln!(out, "{}", path.display()).map_err(super::io_err("stdout"))?;
    }
    Ok(())
}
