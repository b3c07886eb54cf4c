//! `touchpoint report`: render a management report to HTML (and PDF).

use super::WarehouseArgs;
use crate::Result;
use crate::pipeline::Period;
use crate::warehouse::Warehouse;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// Render a report declared in the pipeline for one period into a single
/// self-contained HTML file (inline CSS and SVG charts, no network requests)
/// and print its path; `out/reports/index.html` lists every rendered report.
///
/// Example: touchpoint report executive_monthly --period 2024-12
///          touchpoint report executive_quarterly --period 2024-Q4 --pdf
///          touchpoint report segment_drilldown --period 2024-12 --param tier=Premier
///          touchpoint report branch_network --period 2024-12 --each region
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
    /// Re-render from the table versions this run left (Delta time travel).
    #[arg(long, value_name = "RUN_ID")]
    pub as_of: Option<String>,
    /// Also print each report to PDF with headless Chromium.
    #[arg(long)]
    pub pdf: bool,
    #[arg(long, default_value = super::DEFAULT_PIPELINE)]
    pub pipeline: PathBuf,
    /// Output folder (default: `out/reports` in the project).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
}

pub async fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    let p = super::load_pipeline_for_reading(&a.pipeline).await?;
    let Some(spec) = p.report(&a.report) else {
        let names: Vec<&str> = p.reports.iter().map(|r| r.name.as_str()).collect();
        let near = crate::spec::did_you_mean(&a.report, names.iter().copied());
        return Err(crate::Error::usage(
            format!("unknown report `{}`", a.report),
            match near {
                Some(n) => format!("did you mean `{n}`? reports: {}", names.join(", ")),
                None => format!("reports: {}", names.join(", ")),
            },
        ));
    };
    let period = parse_period(&a.period, spec.quarterly)?;
    let base = Warehouse::open(&p.warehouse_location(a.warehouse.warehouse.as_deref()))?;
    // Readers see the last finished run, never half of one; or exactly the
    // run `--as-of` names.
    let wh = match &a.as_of {
        Some(run) => base.as_of(run).await?,
        None => base.committed().await?,
    };
    let declared: Vec<&str> = spec.params.iter().map(|(n, _)| n.as_str()).collect();
    let unknown_param = |name: &str| {
        crate::Error::usage(
            format!("report `{}` has no parameter `{name}`", spec.name),
            if declared.is_empty() {
                "it declares no `params:`".to_string()
            } else {
                format!("parameters: {}", declared.join(", "))
            },
        )
    };
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for kv in &a.params {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| crate::Error::usage(format!("`{kv}`"), "write --param NAME=VALUE"))?;
        if !declared.contains(&k) {
            return Err(unknown_param(k));
        }
        params.insert(k.to_string(), v.to_string());
    }
    for (name, ps) in &spec.params {
        if !params.contains_key(name)
            && let Some(d) = &ps.default
            && a.each.as_deref() != Some(name.as_str())
        {
            params.insert(name.clone(), d.clone());
        }
    }
    // Values are checked against the declared (or warehouse) list.
    let mut allowed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, _) in &spec.params {
        allowed.insert(
            name.clone(),
            crate::report::param_values(&wh, spec, name).await?,
        );
    }
    for (k, v) in &params {
        if !allowed[k].contains(v) {
            return Err(crate::Error::usage(
                format!("`{v}` is not a value of parameter `{k}`"),
                format!("values: {}", allowed[k].join(", ")),
            ));
        }
    }
    let values: Vec<Option<String>> = match &a.each {
        Some(name) => {
            if !declared.contains(&name.as_str()) {
                return Err(unknown_param(name));
            }
            allowed[name].iter().cloned().map(Some).collect()
        }
        None => vec![None],
    };
    let dir = a.out.unwrap_or_else(|| p.root.join("out").join("reports"));
    for v in values {
        let mut params = params.clone();
        if let (Some(name), Some(v)) = (&a.each, v) {
            params.insert(name.clone(), v);
        }
        let req = crate::report::Request {
            report: a.report.clone(),
            period,
            params,
        };
        let path = crate::report::render(&p, &wh, &req, &dir).await?;
        writeln!(out, "{}", path.display()).map_err(super::io_err("stdout"))?;
        if a.pdf {
            let pdf = crate::report::pdf(&path).map_err(|e| {
                crate::Error::usage(
                    e.to_string(),
                    "install Chromium (`apt-get install chromium`) or set TOUCHPOINT_CHROMIUM to its path; the HTML report was written",
                )
            })?;
            writeln!(out, "{}", pdf.display()).map_err(super::io_err("stdout"))?;
        }
    }
    Ok(())
}

/// `2024-12`, or for a quarterly report `2024-Q4` (or its last month).
fn parse_period(s: &str, quarterly: bool) -> Result<Period> {
    if let Some((y, q)) = s.split_once("-Q") {
        let (Ok(year), Ok(q)) = (y.parse::<i32>(), q.parse::<u32>()) else {
            return Err(crate::Error::usage(
                format!("`{s}` is not a quarter"),
                "e.g. --period 2024-Q4",
            ));
        };
        if !quarterly || !(1..=4).contains(&q) {
            return Err(crate::Error::usage(
                format!("`{s}`: this report is monthly"),
                "e.g. --period 2024-12",
            ));
        }
        return Ok(Period { year, month: q * 3 });
    }
    let p: Period = s
        .parse()
        .map_err(|e: String| crate::Error::usage(e, "e.g. --period 2024-12"))?;
    if quarterly && !p.month.is_multiple_of(3) {
        return Err(crate::Error::usage(
            format!("`{s}` does not end a quarter"),
            format!("e.g. --period {}-Q{}", p.year, p.month.div_ceil(3)),
        ));
    }
    Ok(p)
}
