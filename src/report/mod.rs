//! Management reports: a minijinja template (`*.html.j2`, autoescaped, strict
//! about undefined names) over the warehouse tables a report declares,
//! rendered to one self-contained HTML file.

pub mod charts;
pub mod format;
pub mod i18n;

use crate::pipeline::{Period, Pipeline, Report};
use crate::warehouse::Warehouse;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use futures::StreamExt;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A report table larger than this is a mistake (point reports at marts).
const MAX_ROWS: usize = 200_000;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown report `{name}`")]
    Unknown {
        name: String,
        available: Vec<String>,
    },
    #[error(
        "report `{report}`: table `{table}` has more than {MAX_ROWS} rows; reports read marts, not raw tables"
    )]
    TooLarge { report: String, table: String },
    #[error("report `{report}`: cannot read table `{table}`: {reason}")]
    Table {
        report: String,
        table: String,
        reason: String,
    },
    #[error("report `{report}`: template error: {reason}")]
    Template { report: String, reason: String },
    #[error("cannot write report `{path}`: {reason}")]
    Write { path: String, reason: String },
    #[error("cannot print the report to PDF: {reason}")]
    Pdf { reason: String },
}

/// What to render: a report, its period and parameter values.
#[derive(Debug, Clone)]
pub struct Request {
    pub report: String,
    /// The month (for a quarterly report, the quarter's last month).
    pub period: Period,
    pub params: BTreeMap<String, String>,
}

/// `2024-12`, or `2024-Q4` for a quarterly report.
pub fn period_key(period: Period, quarterly: bool) -> String {
    if quarterly {
        format!("{}-Q{}", period.year, period.month.div_ceil(3))
    } else {
        period.to_string()
    }
}

/// Where a rendered report lands: `report-2024-12.html`, with parameter
/// values appended (`branch_network-2024-12-kowloon.html`).
pub fn output_path(out_dir: &Path, report: &Report, req: &Request) -> PathBuf {
    let mut name = format!(
        "{}-{}",
        report.name,
        period_key(req.period, report.quarterly)
    );
    for v in req.params.values() {
        name.push('-');
        name.push_str(&crate::spec::slug(v));
    }
    out_dir.join(format!("{name}.html"))
}

fn months_back(p: Period, n: u32) -> Period {
    let mut q = p;
    for _ in 0..n {
        q = q.prev();
    }
    q
}

/// Render one report into `out_dir`; returns the file written.
pub async fn render(
    pipeline: &Pipeline,
    wh: &Warehouse,
    req: &Request,
    out_dir: &Path,
) -> Result<PathBuf, Error> {
    let report = req.report.as_str();
    let spec = pipeline.report(report).ok_or_else(|| Error::Unknown {
        name: report.to_string(),
        available: pipeline.reports.iter().map(|r| r.name.clone()).collect(),
    })?;
    let terr = |table: &str, reason: String| Error::Table {
        report: report.into(),
        table: table.to_string(),
        reason,
    };
    let period = req.period;
    let months: Vec<String> = if spec.quarterly {
        (0..3)
            .rev()
            .map(|i| months_back(period, i).to_string())
            .collect()
    } else {
        vec![period.to_string()]
    };
    let step = if spec.quarterly { 3 } else { 1 };
    let ctx = crate::sql::session();
    let mut tables: BTreeMap<String, Value> = BTreeMap::new();
    let mut versions: BTreeMap<String, i64> = BTreeMap::new();
    for t in &spec.tables {
        let Some((v, df)) = filtered(&ctx, wh, spec, req, t)
            .await
            .map_err(|e| terr(t, e))?
        else {
            // A table no run has written yet (`_checks` without checks): no rows.
            tables.insert(t.clone(), Value::from(Vec::<Value>::new()));
            continue;
        };
        versions.insert(t.clone(), v);
        let rows = collect_rows(df, report, t).await?;
        tables.insert(t.clone(), Value::from(rows));
    }
    let run_id = match wh.as_of_run() {
        Some(r) => Some(r.to_string()),
        None => crate::warehouse::versions::read(wh, None)
            .await
            .ok()
            .flatten()
            .map(|(r, _)| r),
    };
    let quality = quality(pipeline, wh, spec, period, run_id.as_deref()).await;
    let actions = actions(&ctx, wh, spec, req, &months).await?;
    let template_dir = spec.template.parent().unwrap_or(Path::new("."));
    let template_name = spec
        .template
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let env = environment(template_dir, &spec.currency, spec.locale);
    let tmpl = env
        .get_template(&template_name)
        .map_err(|e| Error::Template {
            report: report.into(),
            reason: describe(&e),
        })?;
    let key = period_key(period, spec.quarterly);
    let context = minijinja::context! {
        period => period.to_string(),
        period_key => key.clone(),
        period_label => format::period_label(&key, spec.locale),
        months => months,
        prev_period => months_back(period, step).to_string(),
        prev_label => format::period_label(&period_key(months_back(period, step), spec.quarterly), spec.locale),
        year_ago => months_back(period, 12).to_string(),
        title => spec.title.clone().unwrap_or_else(|| report.to_string()),
        params => req.params.clone(),
        locale => spec.locale.tag(),
        currency => spec.currency.clone(),
        min_cell => spec.min_cell,
        pipeline => minijinja::context! { name => pipeline.name.clone(), currency => spec.currency.clone(), timezone => pipeline.timezone.to_string() },
        run_id => run_id,
        versions => versions,
        quality => quality,
        actions => actions,
        generated_at => chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        ..Value::from(tables)
    };
    let html = tmpl.render(context).map_err(|e| Error::Template {
        report: report.into(),
        reason: describe(&e),
    })?;
    std::fs::create_dir_all(out_dir).map_err(|e| Error::Write {
        path: out_dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let path = output_path(out_dir, spec, req);
    std::fs::write(&path, html).map_err(|e| Error::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    write_index(out_dir)?;
    Ok(path)
}

/// A report table as the report sees it: only the rows of its parameters'
/// values, in one deterministic order (every column ascending), so the same
/// table versions always render the same bytes. With the version read;
/// `None` when no run has written the table.
async fn filtered(
    ctx: &datafusion::prelude::SessionContext,
    wh: &Warehouse,
    spec: &Report,
    req: &Request,
    table: &str,
) -> Result<Option<(i64, datafusion::dataframe::DataFrame)>, String> {
    use datafusion::logical_expr::{cast, col, lit};
    // One log read per table: its version and its provider.
    let Some(t) = wh.table(table).await.map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let version = t.version().unwrap_or_default() as i64;
    let provider = wh.provider_of(table, &t).await.map_err(|e| e.to_string())?;
    let mut df = ctx.read_table(provider).map_err(|e| e.to_string())?;
    for (name, value) in &req.params {
        let column = spec
            .params
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, p)| p.column.clone())
            .unwrap_or_else(|| name.clone());
        if df.schema().has_column_with_unqualified_name(&column) {
            df = df
                .filter(cast(col(format!("\"{column}\"")), DataType::Utf8).eq(lit(value.clone())))
                .map_err(|e| e.to_string())?;
        }
    }
    let order: Vec<_> = df
        .schema()
        .fields()
        .iter()
        .filter(|f| {
            !matches!(
                f.data_type(),
                DataType::List(_) | DataType::Struct(_) | DataType::Map(..)
            )
        })
        .map(|f| col(format!("\"{}\"", f.name())).sort(true, true))
        .collect();
    df.sort(order)
        .map(|df| Some((version, df)))
        .map_err(|e| e.to_string())
}

async fn collect_rows(
    df: datafusion::dataframe::DataFrame,
    report: &str,
    table: &str,
) -> Result<Vec<Value>, Error> {
    let terr = |reason: String| Error::Table {
        report: report.into(),
        table: table.to_string(),
        reason,
    };
    let mut stream = df.execute_stream().await.map_err(|e| terr(e.to_string()))?;
    let mut rows: Vec<Value> = Vec::new();
    while let Some(b) = stream.next().await {
        let b = b.map_err(|e| terr(e.to_string()))?;
        rows.extend(batch_rows(&b));
        if rows.len() > MAX_ROWS {
            return Err(Error::TooLarge {
                report: report.into(),
                table: table.to_string(),
            });
        }
    }
    Ok(rows)
}

/// Every table the report reads → what a reader must know about its inputs:
/// failed or warned checks of the run on it or anything upstream, and
/// upstream sources whose newest row is older than `stale_after_days`
/// before the period's end.
async fn quality(
    pipeline: &Pipeline,
    wh: &Warehouse,
    spec: &Report,
    period: Period,
    run_id: Option<&str>,
) -> BTreeMap<String, Vec<String>> {
    let mut issues: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let ctx = crate::sql::session();
    let read = |name: &'static str, sql: String| {
        let ctx = ctx.clone();
        async move {
            let provider = wh.provider(name).await.ok()?;
            ctx.register_table(name, provider).ok()?;
            let df = ctx.sql(&sql).await.ok()?;
            let mut rows = Vec::new();
            for b in df.collect().await.ok()? {
                rows.extend(batch_rows(&b));
            }
            Some(rows)
        }
    };
    if let Some(run) = run_id {
        let sql = format!(
            "SELECT table_name, check_name, status, failing, detail FROM _checks \
             WHERE run_id = '{}' AND status <> 'pass' ORDER BY table_name, check_name",
            run.replace('\'', "''")
        );
        for c in read(crate::quality::CHECKS, sql).await.unwrap_or_default() {
            let table = c
                .get_attr("table_name")
                .map(|v| v.to_string())
                .unwrap_or_default();
            let msg = format!(
                "check {} on {}: {} ({} rows)",
                c.get_attr("check_name")
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                table,
                c.get_attr("status")
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                c.get_attr("failing")
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            );
            issues.entry(table).or_default().push(msg);
        }
    }
    if pipeline.models.iter().any(|m| m.name == "data_freshness") {
        let end =
            period.next().first_day() - chrono::Duration::days(i64::from(spec.stale_after_days));
        let sql = "SELECT source, newest FROM data_freshness ORDER BY source".to_string();
        for r in read("data_freshness", sql).await.unwrap_or_default() {
            let source = r
                .get_attr("source")
                .map(|v| v.to_string())
                .unwrap_or_default();
            let newest = r
                .get_attr("newest")
                .map(|v| v.to_string())
                .unwrap_or_default();
            let day = chrono::NaiveDate::parse_from_str(newest.get(..10).unwrap_or(""), "%Y-%m-%d");
            if let Ok(d) = day
                && d < end
            {
                issues.entry(source).or_default().push(format!(
                    "stale: newest {} row is from {d}",
                    newest.get(..10).unwrap_or("")
                ));
            }
        }
    }
    // Each report table inherits its upstream tables' issues.
    let mut out = BTreeMap::new();
    for t in &spec.tables {
        let mut msgs: Vec<String> = Vec::new();
        for up in upstream(pipeline, t) {
            if let Some(m) = issues.get(&up) {
                msgs.extend(m.iter().cloned());
            }
        }
        msgs.sort();
        msgs.dedup();
        out.insert(t.clone(), msgs);
    }
    out
}

/// `table` and every table it is built from.
fn upstream(pipeline: &Pipeline, table: &str) -> Vec<String> {
    let mut seen = vec![table.to_string()];
    let mut i = 0;
    while i < seen.len() {
        if let Some(m) = pipeline.models.iter().find(|m| m.name == seen[i]) {
            for d in &m.depends_on {
                if !seen.contains(d) {
                    seen.push(d.clone());
                }
            }
        }
        i += 1;
    }
    seen
}

/// The report's "what to act on" list: each rule's matching rows in the
/// period, its `{column}` placeholders filled, high priority first.
async fn actions(
    ctx: &datafusion::prelude::SessionContext,
    wh: &Warehouse,
    spec: &Report,
    req: &Request,
    months: &[String],
) -> Result<Vec<Value>, Error> {
    use datafusion::logical_expr::{cast, col, lit};
    let mut out: Vec<(u8, Value)> = Vec::new();
    for (i, a) in spec.actions.iter().enumerate() {
        let aerr = |reason: String| Error::Template {
            report: req.report.clone(),
            reason: format!("actions[{i}] (`{}`): {reason}", a.when),
        };
        let Some((_, mut df)) = filtered(ctx, wh, spec, req, &a.table).await.map_err(aerr)? else {
            continue;
        };
        if df.schema().has_column_with_unqualified_name("period") {
            let list = months.iter().map(|m| lit(m.clone())).collect();
            df = df
                .filter(cast(col("period"), DataType::Utf8).in_list(list, false))
                .map_err(|e| aerr(e.to_string()))?;
        }
        let cond = df
            .parse_sql_expr(&a.when)
            .map_err(|e| aerr(crate::sql::describe_error(&e)))?;
        let df = df
            .filter(cond)
            .map_err(|e| aerr(crate::sql::describe_error(&e)))?;
        let batches = df
            .limit(0, Some(20))
            .map_err(|e| aerr(e.to_string()))?
            .collect()
            .await
            .map_err(|e| aerr(crate::sql::describe_error(&e)))?;
        let priority = a.priority.clone().unwrap_or_else(|| "high".into());
        let rank = match priority.as_str() {
            "high" => 0,
            "medium" => 1,
            _ => 2,
        };
        for b in &batches {
            for row in batch_rows(b) {
                let text = fill(&a.say, &row);
                out.push((
                    rank,
                    minijinja::context! { text => text, priority => priority.clone(), table => a.table.clone() },
                ));
            }
        }
    }
    out.sort_by_key(|(r, _)| *r);
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

/// `say` with `{column}` replaced by the row's value (numbers grouped, at
/// most two decimals).
fn fill(say: &str, row: &Value) -> String {
    let mut out = String::new();
    let mut rest = say;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let key = &after[..close];
                let v = row.get_attr(key).unwrap_or_default();
                let shown = match f64::try_from(v.clone()) {
                    Ok(x) if x.fract() == 0.0 => format::group(x, 0),
                    Ok(x) => format::group(x, 2),
                    Err(_) if v.is_undefined() => format!("{{{key}}}"),
                    Err(_) => v.to_string(),
                };
                out.push_str(&shown);
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// `index.html`: every rendered report in `out_dir`, newest period first.
pub fn write_index(out_dir: &Path) -> Result<(), Error> {
    let werr = |e: std::io::Error| Error::Write {
        path: out_dir.display().to_string(),
        reason: e.to_string(),
    };
    let mut files: Vec<String> = std::fs::read_dir(out_dir)
        .map_err(werr)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".html") && n != "index.html")
        .collect();
    files.sort();
    // `name-YYYY-MM[-…].html` or `name-YYYY-Qn[-…].html`: group by period.
    let mut by_period: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &files {
        let stem = f.trim_end_matches(".html");
        let period = stem
            .match_indices('-')
            .map(|(i, _)| &stem[i + 1..])
            .find(|rest| {
                rest.len() >= 7
                    && rest[..4].chars().all(|c| c.is_ascii_digit())
                    && &rest[4..5] == "-"
            })
            .map(|rest| rest[..7].to_string())
            .unwrap_or_else(|| "other".into());
        by_period.entry(period).or_default().push(f.clone());
    }
    let mut html = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>Reports</title><style>body{font-family:sans-serif;max-width:800px;margin:24px auto;color:#1b1f24}\
         h2{font-size:16px;border-bottom:1px solid #d0d7de}li{margin:2px 0}</style></head><body>\n<h1>Reports</h1>\n",
    );
    for (period, list) in by_period.iter().rev() {
        html.push_str(&format!("<h2>{}</h2>\n<ul>\n", charts::esc(period)));
        for f in list {
            html.push_str(&format!(
                "<li><a href=\"{0}\">{0}</a></li>\n",
                charts::esc(f)
            ));
        }
        html.push_str("</ul>\n");
    }
    html.push_str("</body></html>\n");
    std::fs::write(out_dir.join("index.html"), html).map_err(werr)
}

/// Print `html` to PDF with headless Chromium (`TOUCHPOINT_CHROMIUM`, else
/// `chromium` / `chromium-browser` / `google-chrome` on the PATH).
pub fn pdf(html: &Path) -> Result<PathBuf, Error> {
    let browser = std::env::var("TOUCHPOINT_CHROMIUM")
        .ok()
        .into_iter()
        .chain(["chromium", "chromium-browser", "google-chrome"].map(String::from))
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .ok_or_else(|| Error::Pdf {
            reason: "Chromium is not installed".into(),
        })?;
    let out = html.with_extension("pdf");
    // A fresh profile per print: Chromium refuses to share one.
    let profile = std::env::temp_dir().join(format!("touchpoint-pdf-{}", std::process::id()));
    let abs = std::fs::canonicalize(html).map_err(|e| Error::Pdf {
        reason: e.to_string(),
    })?;
    let status = std::process::Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--print-to-pdf={}", out.display()))
        .arg(format!("file://{}", abs.display()))
        .output()
        .map_err(|e| Error::Pdf {
            reason: e.to_string(),
        })?;
    let _ = std::fs::remove_dir_all(&profile);
    if !status.status.success() || !out.is_file() {
        return Err(Error::Pdf {
            reason: format!(
                "{browser} failed: {}",
                String::from_utf8_lossy(&status.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ),
        });
    }
    Ok(out)
}

fn describe(e: &minijinja::Error) -> String {
    let mut s = e.to_string();
    if let (Some(name), Some(line)) = (e.name(), e.line()) {
        s = format!("{s} ({name}:{line})");
    }
    s
}

/// The template environment: HTML autoescaping for `.html.j2`, strict
/// undefined (a typo fails the render instead of leaving an empty cell), the
/// number filters and the chart functions.
pub fn environment(dir: &Path, currency: &str, locale: format::Locale) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_loader(minijinja::path_loader(dir));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html.j2") || name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    let cur = currency.to_string();
    env.add_filter("money", move |v: Value| format::money_in(&v, &cur, locale));
    env.add_filter("period_label", move |v: String| {
        format::period_label(&v, locale)
    });
    let catalog = i18n::catalog(dir, locale);
    env.add_function("t", move |key: String, kwargs: minijinja::value::Kwargs| {
        i18n::translate(&catalog, &key, &kwargs)
    });
    env.add_filter("num", |v: Value, digits: Option<usize>| {
        format::number(&v, digits.unwrap_or(0))
    });
    env.add_filter("pct", |v: Value, digits: Option<usize>| {
        format::percent(&v, digits.unwrap_or(1))
    });
    env.add_filter("signed", |v: Value, digits: Option<usize>| {
        format::signed(&v, digits.unwrap_or(1))
    });
    env.add_function("line_chart", charts::line_chart);
    env.add_function("stacked_bar", charts::stacked_bar);
    env.add_function("pyramid", charts::pyramid);
    env.add_function("stacked_area", charts::stacked_area);
    env.add_function("funnel", charts::funnel);
    env.add_function("heatmap", charts::heatmap);
    env.add_function("sparkline", charts::sparkline);
    env
}

/// Arrow rows → template values: numbers stay numbers (decimals as floats,
/// for display only), time as ISO text.
pub fn batch_rows(b: &RecordBatch) -> Vec<Value> {
    let schema = b.schema();
    (0..b.num_rows())
        .map(|r| {
            let mut m: BTreeMap<String, Value> = BTreeMap::new();
            for (i, f) in schema.fields().iter().enumerate() {
                let a = b.column(i);
                let v = if a.is_null(r) {
                    Value::from(())
                } else {
                    match a.data_type() {
                        DataType::Int8
                        | DataType::Int16
                        | DataType::Int32
                        | DataType::Int64
                        | DataType::UInt32
                        | DataType::UInt64 => array_value_to_string(a, r)
                            .ok()
                            .and_then(|s| s.parse::<i64>().ok())
                            .map(Value::from)
                            .unwrap_or_default(),
                        DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => {
                            array_value_to_string(a, r)
                                .ok()
                                .and_then(|s| s.parse::<f64>().ok())
                                .map(Value::from)
                                .unwrap_or_default()
                        }
                        DataType::Boolean => Value::from(a.as_boolean().value(r)),
                        _ => Value::from(array_value_to_string(a, r).unwrap_or_default()),
                    }
                };
                m.insert(f.name().clone(), v);
            }
            Value::from(m)
        })
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
    let ctx = crate::sql::session();
    let provider = wh.provider(table).await.map_err(|e| terr(e.to_string()))?;
    ctx.register_table("t", provider)
        .map_err(|e| terr(e.to_string()))?;
    let df = ctx
        .sql(&format!(
            "SELECT DISTINCT CAST(\"{column}\" AS VARCHAR) AS v FROM t WHERE \"{column}\" IS NOT NULL ORDER BY v"
        ))
        .await
        .map_err(|e| terr(crate::sql::describe_error(&e)))?;
    let mut out = Vec::new();
    for b in df.collect().await.map_err(|e| terr(e.to_string()))? {
        for row in batch_rows(&b) {
            out.push(row.get_attr("v").map(|v| v.to_string()).unwrap_or_default());
        }
    }
    Ok(out)
}
