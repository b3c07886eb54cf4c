//! Rendering one report: each table read in SQL down to the rows the
//! report shows, the quality problems upstream of each, the action rules
//! that fire, and the template filled once per edition (language) from
//! those same rows: editions differ in words, never in figures.

use super::environment::{batch_rows, describe, environment};
use super::{Context, Error, Locale, MAX_ROWS, Report, Request, format};
use crate::period::{self, Period};
use crate::warehouse::Warehouse;
use datafusion::arrow::datatypes::DataType;
use futures::StreamExt;
use minijinja::value::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The model whose rows say how fresh each source is (for stale banners).
const FRESHNESS: &str = "data_freshness";

/// The months of `n` periods of the report's cadence ending at `period`.
fn window(spec: &Report, period: Period, n: u32) -> Vec<String> {
    (0..n * spec.cadence.step())
        .rev()
        .map(|i| period.back(i).to_string())
        .collect()
}

/// Render one report into `out_dir`, one file per edition the request
/// asks for (the default edition first); returns the files written.
pub async fn render(
    cx: &Context,
    spec: &Report,
    wh: &Warehouse,
    req: &Request,
    out_dir: &Path,
) -> Result<Vec<PathBuf>, Error> {
    let report = spec.name.as_str();
    let terr = |table: &str, reason: String| Error::Table {
        report: report.into(),
        table: table.to_string(),
        reason,
    };
    let period = req.period;
    let months: Vec<String> = spec
        .cadence
        .months(period)
        .iter()
        .map(|p| p.to_string())
        .collect();
    let step = spec.cadence.step();
    let ctx = crate::engine::session();
    let mut tables: BTreeMap<String, Value> = BTreeMap::new();
    let mut versions: BTreeMap<String, i64> = BTreeMap::new();
    for t in &spec.tables {
        let window = t.periods.map(|n| window(spec, period, n));
        let Some((v, df)) = filtered(&ctx, wh, spec, req, &t.name, window.as_deref())
            .await
            .map_err(|e| terr(&t.name, e))?
        else {
            // A table no run has written yet (`_checks` without checks): no rows.
            tables.insert(t.name.clone(), Value::from(Vec::<Value>::new()));
            continue;
        };
        versions.insert(t.name.clone(), v);
        let rows = collect_rows(df, report, &t.name).await?;
        tables.insert(t.name.clone(), Value::from(rows));
    }
    let run_id = match wh.as_of_run() {
        Some(r) => Some(r.to_string()),
        None => crate::warehouse::versions::read(wh, None)
            .await
            .ok()
            .flatten()
            .map(|(r, _)| r),
    };
    let quality = quality(cx, wh, spec, period, run_id.as_deref()).await;
    let fired = actions(&ctx, wh, spec, req, &months).await?;
    let template_dir = spec.template.parent().unwrap_or(Path::new("."));
    let template_name = spec
        .template
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let key = spec.cadence.key(period);
    let generated_at = chrono::Utc::now()
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string();
    std::fs::create_dir_all(out_dir).map_err(|e| Error::Write {
        path: out_dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut written = Vec::new();
    for locale in spec.locales.iter().filter(|l| req.locales.contains(&l.tag)) {
        let env = environment(template_dir, &spec.currency, locale);
        let tmpl = env
            .get_template(&template_name)
            .map_err(|e| Error::Template {
                report: report.into(),
                reason: describe(&e),
            })?;
        let context = minijinja::context! {
            period => period.to_string(),
            period_key => key.clone(),
            period_label => locale.period_label(&key),
            months => months.clone(),
            prev_period => period.back(step).to_string(),
            prev_label => locale.period_label(&spec.cadence.key(period.back(step))),
            year_ago => period.back(12).to_string(),
            title => title(spec, locale),
            params => req.params.clone(),
            locale => locale.tag.clone(),
            currency => spec.currency.clone(),
            min_cell => spec.min_cell,
            pipeline => minijinja::context! { name => cx.pipeline.clone(), currency => spec.currency.clone(), timezone => cx.timezone.to_string() },
            run_id => run_id.clone(),
            versions => versions.clone(),
            quality => said(&quality, locale),
            actions => fired.iter().map(|a| a.said(locale)).collect::<Vec<_>>(),
            rules => spec.actions.len(),
            generated_at => generated_at.clone(),
            ..Value::from(tables.clone())
        };
        let html = tmpl.render(context).map_err(|e| Error::Template {
            report: report.into(),
            reason: describe(&e),
        })?;
        let path = super::request::output_path(out_dir, spec, req, &locale.tag);
        std::fs::write(&path, html).map_err(|e| Error::Write {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        written.push(path);
    }
    super::index::write_index(out_dir)?;
    Ok(written)
}

/// The report's title in an edition: the catalog's translation of the
/// pipeline's `title:` (or of the report's name).
fn title(spec: &Report, locale: &Locale) -> String {
    let title = spec.title.as_deref().unwrap_or(&spec.name);
    locale.text(title).to_string()
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
    window: Option<&[String]>,
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
    if let Some(months) = window {
        let list = months.iter().map(|m| lit(m.clone())).collect();
        df = df
            .filter(cast(col(period::COLUMN), DataType::Utf8).in_list(list, false))
            .map_err(|e| e.to_string())?;
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

/// What a reader must know about a figure's inputs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Issue {
    /// A check of the run failed or warned on the table or upstream of it.
    Check {
        table: String,
        check: String,
        status: String,
        failing: String,
    },
    /// An upstream source's newest row is older than `stale_after_days`.
    Stale { source: String, day: String },
}

impl Issue {
    fn said(&self, locale: &Locale) -> String {
        let fill = |text: &str, values: &[(&str, &str)]| {
            super::charts::Words::fill(locale.text(text), values)
        };
        match self {
            Issue::Check {
                table,
                check,
                status,
                failing,
            } => fill(
                "check {check} on {table}: {status} ({n} rows)",
                &[
                    ("check", check),
                    ("table", table),
                    ("status", locale.label(status)),
                    ("n", failing),
                ],
            ),
            Issue::Stale { source, day } => fill(
                "stale: newest {source} row is from {day}",
                &[("source", source), ("day", day)],
            ),
        }
    }
}

/// Each table's issues as an edition says them.
fn said(quality: &BTreeMap<String, Vec<Issue>>, locale: &Locale) -> BTreeMap<String, Vec<String>> {
    quality
        .iter()
        .map(|(t, issues)| (t.clone(), issues.iter().map(|i| i.said(locale)).collect()))
        .collect()
}

/// Every table the report reads → what a reader must know about its inputs:
/// failed or warned checks of the run on it or anything upstream, and
/// upstream sources whose newest row is older than `stale_after_days`
/// before the period's end.
async fn quality(
    cx: &Context,
    wh: &Warehouse,
    spec: &Report,
    period: Period,
    run_id: Option<&str>,
) -> BTreeMap<String, Vec<Issue>> {
    let mut issues: BTreeMap<String, Vec<Issue>> = BTreeMap::new();
    let ctx = crate::engine::session();
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
        for c in read(crate::checks::CHECKS, sql).await.unwrap_or_default() {
            let get = |k: &str| c.get_attr(k).map(|v| v.to_string()).unwrap_or_default();
            let table = get("table_name");
            let issue = Issue::Check {
                table: table.clone(),
                check: get("check_name"),
                status: get("status"),
                failing: get("failing"),
            };
            issues.entry(table).or_default().push(issue);
        }
    }
    if cx.reads.contains_key(FRESHNESS) {
        let end =
            period.next().first_day() - chrono::Duration::days(i64::from(spec.stale_after_days));
        let sql = "SELECT source, newest FROM data_freshness ORDER BY source".to_string();
        for r in read(FRESHNESS, sql).await.unwrap_or_default() {
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
                let day = d.to_string();
                issues
                    .entry(source.clone())
                    .or_default()
                    .push(Issue::Stale { source, day });
            }
        }
    }
    // Each report table inherits its upstream tables' issues.
    let mut out = BTreeMap::new();
    for t in spec.table_names() {
        let mut msgs: Vec<Issue> = Vec::new();
        for up in cx.upstream(t) {
            if let Some(m) = issues.get(&up) {
                msgs.extend(m.iter().cloned());
            }
        }
        msgs.sort();
        msgs.dedup();
        out.insert(t.to_string(), msgs);
    }
    out
}

/// A rule that fired on one row: said in each edition's words.
struct Fired {
    say: String,
    row: Value,
    priority: String,
    table: String,
}

impl Fired {
    /// The action as the template sees it: the rule's `say` in this
    /// edition's language with `{column}` filled from the row.
    fn said(&self, locale: &Locale) -> Value {
        minijinja::context! {
            text => fill(locale.text(&self.say), &self.row, locale),
            priority => self.priority.clone(),
            table => self.table.clone(),
        }
    }
}

/// The report's "what to act on" list: each rule's matching rows in the
/// period, high priority first.
async fn actions(
    ctx: &datafusion::prelude::SessionContext,
    wh: &Warehouse,
    spec: &Report,
    req: &Request,
    months: &[String],
) -> Result<Vec<Fired>, Error> {
    use datafusion::logical_expr::{cast, col, lit};
    let mut out: Vec<(u8, Fired)> = Vec::new();
    for (i, a) in spec.actions.iter().enumerate() {
        let aerr = |reason: String| Error::Template {
            report: req.report.clone(),
            reason: format!("actions[{i}] (`{}`): {reason}", a.when),
        };
        let Some((_, mut df)) = filtered(ctx, wh, spec, req, &a.table, None)
            .await
            .map_err(aerr)?
        else {
            continue;
        };
        if df.schema().has_column_with_unqualified_name(period::COLUMN) {
            let list = months.iter().map(|m| lit(m.clone())).collect();
            df = df
                .filter(cast(col(period::COLUMN), DataType::Utf8).in_list(list, false))
                .map_err(|e| aerr(e.to_string()))?;
        }
        let cond = df
            .parse_sql_expr(&a.when)
            .map_err(|e| aerr(crate::engine::describe_error(&e)))?;
        let df = df
            .filter(cond)
            .map_err(|e| aerr(crate::engine::describe_error(&e)))?;
        let batches = df
            .limit(0, Some(20))
            .map_err(|e| aerr(e.to_string()))?
            .collect()
            .await
            .map_err(|e| aerr(crate::engine::describe_error(&e)))?;
        let priority = a.priority.clone().unwrap_or_else(|| "high".into());
        let rank = match priority.as_str() {
            "high" => 0,
            "medium" => 1,
            _ => 2,
        };
        for b in &batches {
            for row in batch_rows(b) {
                let fired = Fired {
                    say: a.say.clone(),
                    row,
                    priority: priority.clone(),
                    table: a.table.clone(),
                };
                out.push((rank, fired));
            }
        }
    }
    out.sort_by_key(|(r, _)| *r);
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

/// `say` with `{column}` replaced by the row's value: numbers grouped, at
/// most two decimals (the same in every language); text as the locale
/// names it (`{channel}` → `online` / `网上银行`).
fn fill(say: &str, row: &Value, locale: &Locale) -> String {
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
                    Err(_) => match v.as_str() {
                        Some(code) => locale.label(code).to_string(),
                        None => v.to_string(),
                    },
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule's `say` reads in the edition's language; numbers read the same
    /// in every edition, codes by the catalog's names.
    #[test]
    fn a_rule_says_its_row_in_each_language() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports");
        let zh = Locale::load(&dir, "zh-CN").expect("shipped catalog");
        let fired = Fired {
            say: "NPS in {channel} is negative ({nps}) — review the touchpoints behind it".into(),
            row: Value::from_serialize(serde_json::json!({"channel": "online", "nps": -31.5612})),
            priority: "medium".into(),
            table: "satisfaction_monthly".into(),
        };
        let text = |l: &Locale| {
            fired
                .said(l)
                .get_attr("text")
                .map(|v| v.to_string())
                .unwrap_or_default()
        };
        assert_eq!(
            text(&Locale::english()),
            "NPS in online is negative (-31.56) — review the touchpoints behind it"
        );
        assert_eq!(
            text(&zh),
            "网上银行的 NPS 为负（-31.56）— 检视其背后的接触点"
        );
    }

    #[test]
    fn issues_in_each_language() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports");
        let zh = Locale::load(&dir, "zh-CN").expect("shipped catalog");
        let stale = Issue::Stale {
            source: "atm".into(),
            day: "2024-11-02".into(),
        };
        assert_eq!(
            stale.said(&Locale::english()),
            "stale: newest atm row is from 2024-11-02"
        );
        assert_eq!(stale.said(&zh), "数据过期：atm 最新一行来自 2024-11-02");
    }
}
