//! What to render: a report, its period and its parameters' values, from
//! the command line (`--period`, `--param`, `--each`) or the report's
//! defaults; and where each rendered file lands.

use super::{Error, Report};
use crate::period::Period;
use crate::warehouse::Warehouse;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to render: a report, its period and parameter values.
#[derive(Debug, Clone)]
pub struct Request {
    pub report: String,
    /// The month (for a quarterly report, the quarter's last month).
    pub period: Period,
    pub params: BTreeMap<String, String>,
}

fn request_error(message: impl Into<String>, help: impl Into<String>) -> Error {
    Error::Request {
        message: message.into(),
        help: help.into(),
    }
}

impl Request {
    /// The requests a command line asks for: the period in the report's
    /// cadence, `--param NAME=VALUE` pairs (checked against the declared
    /// parameters and their values), defaults for the rest, and one request
    /// per value of the `--each` parameter.
    pub async fn from_args(
        wh: &Warehouse,
        report: &Report,
        period: &str,
        given: &[String],
        each: Option<&str>,
    ) -> Result<Vec<Request>, Error> {
        let period = report
            .cadence
            .parse(period)
            .map_err(|e| request_error(e.to_string(), e.help().unwrap_or_default()))?;
        let declared: Vec<&str> = report.params.iter().map(|(n, _)| n.as_str()).collect();
        let unknown_param = |name: &str| {
            request_error(
                format!("report `{}` has no parameter `{name}`", report.name),
                if declared.is_empty() {
                    "it declares no `params:`".to_string()
                } else {
                    format!("parameters: {}", declared.join(", "))
                },
            )
        };
        let mut params: BTreeMap<String, String> = BTreeMap::new();
        for kv in given {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| request_error(format!("`{kv}`"), "write --param NAME=VALUE"))?;
            if !declared.contains(&k) {
                return Err(unknown_param(k));
            }
            params.insert(k.to_string(), v.to_string());
        }
        for (name, ps) in &report.params {
            if !params.contains_key(name)
                && let Some(d) = &ps.default
                && each != Some(name.as_str())
            {
                params.insert(name.clone(), d.clone());
            }
        }
        // Values are checked against the declared (or warehouse) list.
        let mut allowed: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, _) in &report.params {
            allowed.insert(name.clone(), param_values(wh, report, name).await?);
        }
        for (k, v) in &params {
            if !allowed[k].contains(v) {
                return Err(request_error(
                    format!("`{v}` is not a value of parameter `{k}`"),
                    format!("values: {}", allowed[k].join(", ")),
                ));
            }
        }
        let values: Vec<Option<String>> = match each {
            Some(name) => {
                if !declared.contains(&name) {
                    return Err(unknown_param(name));
                }
                allowed[name].iter().cloned().map(Some).collect()
            }
            None => vec![None],
        };
        Ok(values
            .into_iter()
            .map(|v| {
                let mut params = params.clone();
                if let (Some(name), Some(v)) = (each, v) {
                    params.insert(name.to_string(), v);
                }
                Request {
                    report: report.name.clone(),
                    period,
                    params,
                }
            })
            .collect())
    }

    /// What `demo` renders of a report after loading up to `last_month`: its
    /// last complete period, parameters at their defaults, and one file per
    /// value of a parameter without one.
    pub async fn defaults(
        wh: &Warehouse,
        report: &Report,
        last_month: Period,
    ) -> Result<Vec<Request>, Error> {
        let mut requests = vec![Request {
            report: report.name.clone(),
            period: report.cadence.last_complete(last_month),
            params: Default::default(),
        }];
        for (name, spec) in &report.params {
            let values = match &spec.default {
                Some(d) => vec![d.clone()],
                None => param_values(wh, report, name).await?,
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
        Ok(requests)
    }
}

/// Where a rendered report lands: `report-2024-12.html`, with parameter
/// values appended (`branch_network-2024-12-kowloon.html`).
pub fn output_path(out_dir: &Path, report: &Report, req: &Request) -> PathBuf {
    let mut name = format!("{}-{}", report.name, report.cadence.key(req.period));
    for v in req.params.values() {
        name.push('-');
        name.push_str(&crate::spec::slug(v));
    }
    out_dir.join(format!("{name}.html"))
}

/// The values a report parameter takes: its `values:`, or the distinct
/// values of its `values_from: table.column` in the warehouse, sorted.
pub async fn param_values(wh: &Warehouse, spec: &Report, name: &str) -> Result<Vec<String>, Error> {
    let Some((_, p)) = spec.params.iter().find(|(n, _)| n == name) else {
        return Ok(Vec::new());
    };
    if let Some(v) = &p.values {
        return Ok(v.clone());
    }
    let Some((table, column)) = p.values_from.as_deref().and_then(|v| v.split_once('.')) else {
        return Ok(Vec::new());
    };
    let terr = |reason: String| Error::Table {
        report: spec.name.clone(),
        table: table.to_string(),
        reason,
    };
    let ctx = crate::engine::session();
    let provider = wh.provider(table).await.map_err(|e| terr(e.to_string()))?;
    ctx.register_table("t", provider)
        .map_err(|e| terr(e.to_string()))?;
    let df = ctx
        .sql(&format!(
            "SELECT DISTINCT CAST(\"{column}\" AS VARCHAR) AS v FROM t WHERE \"{column}\" IS NOT NULL ORDER BY v"
        ))
        .await
        .map_err(|e| terr(crate::engine::describe_error(&e)))?;
    let mut out = Vec::new();
    for b in df.collect().await.map_err(|e| terr(e.to_string()))? {
        for row in super::environment::batch_rows(&b) {
            out.push(row.get_attr("v").map(|v| v.to_string()).unwrap_or_default());
        }
    }
    Ok(out)
}
