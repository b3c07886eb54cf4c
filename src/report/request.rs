//! What to render: a report, its period, its parameters' values and its
//! editions, from the command line (`--period`, `--param`, `--each`,
//! `--locale`) or the report's defaults; and where each rendered file lands.

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
    /// Parameter → how its value is written in the file name, when the
    /// value's plain form would collide with another value's.
    pub file_parts: BTreeMap<String, String>,
    /// The editions to render (locale tags, in the report's order): every
    /// one unless `--locale` names one.
    pub locales: Vec<String>,
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
    /// per value of the `--each` parameter; every edition, or the one
    /// `--locale` names.
    pub async fn from_args(
        wh: &Warehouse,
        report: &Report,
        period: &str,
        given: &[String],
        each: Option<&str>,
        locale: Option<&str>,
    ) -> Result<Vec<Request>, Error> {
        let period = report
            .cadence
            .parse(period)
            .map_err(|e| request_error(e.to_string(), e.help().unwrap_or_default()))?;
        let tags = report.locale_tags();
        let locales: Vec<String> = match locale {
            None => tags.iter().map(|t| t.to_string()).collect(),
            Some(l) if tags.contains(&l) => vec![l.to_string()],
            Some(l) => {
                return Err(request_error(
                    format!("report `{}` has no `{l}` edition", report.name),
                    format!(
                        "editions: {} (the report's `locales:` in the pipeline)",
                        tags.join(", ")
                    ),
                ));
            }
        };
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
        let parts = file_parts(&params, each, &allowed);
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
                let mut file_parts = parts.clone();
                if let Some(name) = each {
                    let v = &params[name];
                    file_parts.insert(name.to_string(), file_part(v, &allowed[name]));
                }
                Request {
                    report: report.name.clone(),
                    period,
                    params,
                    file_parts,
                    locales: locales.clone(),
                }
            })
            .collect())
    }

    /// What `demo` renders of a report after loading up to `last_month`: its
    /// last complete period, parameters at their defaults, one file per
    /// value of a parameter without one, every edition.
    pub async fn defaults(
        wh: &Warehouse,
        report: &Report,
        last_month: Period,
    ) -> Result<Vec<Request>, Error> {
        let mut requests = vec![Request {
            report: report.name.clone(),
            period: report.cadence.last_complete(last_month),
            params: Default::default(),
            file_parts: Default::default(),
            locales: report.locale_tags().into_iter().map(String::from).collect(),
        }];
        for (name, spec) in &report.params {
            let all = param_values(wh, report, name).await?;
            let values = match &spec.default {
                Some(d) => vec![d.clone()],
                None => all.clone(),
            };
            requests = requests
                .into_iter()
                .flat_map(|req| {
                    let all = &all;
                    values.iter().map(move |v| {
                        let mut req = req.clone();
                        req.params.insert(name.clone(), v.clone());
                        req.file_parts.insert(name.clone(), file_part(v, all));
                        req
                    })
                })
                .collect();
        }
        Ok(requests)
    }
}

/// Where a rendered report lands: `report-2024-12.html`, with parameter
/// values appended (`branch_network-2024-12-kowloon.html`), and the
/// language before `.html` for every edition but the default one
/// (`executive_monthly-2024-12.zh-CN.html`). A tag is letters, digits and
/// `-`, and no other part holds a `.`, so no two editions share a file.
pub fn output_path(out_dir: &Path, report: &Report, req: &Request, locale: &str) -> PathBuf {
    let mut name = format!("{}-{}", report.name, report.cadence.key(req.period));
    for (k, v) in &req.params {
        name.push('-');
        match req.file_parts.get(k) {
            Some(part) => name.push_str(part),
            None => name.push_str(&plain(v)),
        }
    }
    if report.locales.first().is_some_and(|l| l.tag != locale) {
        name.push('.');
        name.push_str(locale);
    }
    out_dir.join(format!("{name}.html"))
}

/// A value as a file-name part: letters and digits of any script kept
/// (lowercased), anything else `_` — never a path separator.
fn plain(v: &str) -> String {
    v.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect()
}

/// [`plain`], with a digest of the value appended when another value of
/// the parameter reads the same (`A-B` and `A B`), so no two values ever
/// write the same file.
fn file_part(v: &str, values: &[String]) -> String {
    let p = plain(v);
    if values.iter().any(|o| o != v && plain(o) == p) {
        format!("{p}-{}", &blake3::hash(v.as_bytes()).to_hex()[..8])
    } else {
        p
    }
}

/// File-name parts of the parameters given (not the one burst).
fn file_parts(
    params: &BTreeMap<String, String>,
    each: Option<&str>,
    allowed: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, String> {
    params
        .iter()
        .filter(|(k, _)| Some(k.as_str()) != each)
        .map(|(k, v)| (k.clone(), file_part(v, &allowed[k])))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_never_collide() {
        let values: Vec<String> = [
            "香港島",
            "九龍",
            "新界",
            "Hong Kong Island",
            "A-B",
            "A B",
            "Kowloon",
        ]
        .map(String::from)
        .to_vec();
        let parts: Vec<String> = values.iter().map(|v| file_part(v, &values)).collect();
        let mut unique = parts.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), values.len(), "{parts:?}");
        assert_eq!(parts[0], "香港島");
        assert_eq!(parts[3], "hong_kong_island");
        assert_eq!(parts[6], "kowloon");
        assert!(parts[4].starts_with("a_b-") && parts[5].starts_with("a_b-"));
        assert!(parts.iter().all(|p| !p.contains(['/', '\\', '.'])));
    }
}

#[cfg(test)]
mod edition_tests {
    use super::*;
    use crate::report::Locale;

    fn report(tags: &[&str]) -> Report {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports");
        Report {
            name: "executive_monthly".into(),
            template: dir.join("executive_monthly.html.j2"),
            title: None,
            tables: Vec::new(),
            locales: tags
                .iter()
                .map(|t| Locale::load(&dir, t).expect("shipped catalog"))
                .collect(),
            currency: "HKD".into(),
            cadence: crate::period::Cadence::Month,
            min_cell: 30,
            stale_after_days: 7,
            params: Vec::new(),
            actions: Vec::new(),
            default: false,
        }
    }

    /// The default edition keeps the report's plain file name; each other
    /// edition adds its tag, after any parameter value, before `.html`.
    #[test]
    fn each_edition_has_its_own_file() {
        let r = report(&["en", "zh-CN"]);
        let mut req = Request {
            report: r.name.clone(),
            period: "2024-12".parse().expect("period"),
            params: BTreeMap::new(),
            file_parts: BTreeMap::new(),
            locales: vec!["en".into(), "zh-CN".into()],
        };
        let out = Path::new("out");
        let name = |req: &Request, tag: &str| {
            output_path(out, &r, req, tag)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        assert_eq!(name(&req, "en"), "executive_monthly-2024-12.html");
        assert_eq!(name(&req, "zh-CN"), "executive_monthly-2024-12.zh-CN.html");
        req.params.insert("tier".into(), "Premier".into());
        assert_eq!(
            name(&req, "zh-CN"),
            "executive_monthly-2024-12-premier.zh-CN.html"
        );
        // A Chinese-first report: its Chinese edition is the plain name.
        let zh_first = report(&["zh-CN", "en"]);
        let plain = output_path(out, &zh_first, &req, "zh-CN");
        assert!(plain.ends_with("executive_monthly-2024-12-premier.html"));
    }
}
