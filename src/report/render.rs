//! Rendering one report: each table read in SQL down to the rows the
//! report shows, the quality problems upstream of each, the action rules
//! that fire, and the template filled.

use super::environment::{batch_rows, describe, environment};
use super::{Context, Error, MAX_ROWS, Report, Request, format};
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

/// Render one report into `out_dir`; returns the file written.
pub async fn render(
    cx: &Context,
    spec: &Report,
    wh: &Warehouse,
    req: &Request,
    out_dir: &Path,
) -> Result<PathBuf, Error> {
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
    let actions = actions(&ctx, wh, spec, req, &months).await?;
    let template_dir = spec.template.parent().unwrap_or(Path::new("."));
    let template_name = spec
        .template
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let env = environment(template_dir, &spec.currency, &spec.locale);
    let tmpl = env
        .get_template(&template_name)
        .map_err(|e| Error::Template {
            report: report.into(),
            reason: describe(&e),
        })?;
    let key = spec.cadence.key(period);
    let context = minijinja::context! {
        period => period.to_string(),
        period_key => key.clone(),
        period_label => spec.locale.period_label(&key),
        months => months,
        prev_period => period.back(step).to_string(),
        prev_label => spec.locale.period_label(&spec.cadence.key(period.back(step))),
        year_ago => period.back(12).to_string(),
        title => spec.title.clone().unwrap_or_else(|| report.to_string()),
        params => req.params.clone(),
        locale => spec.locale.tag.clone(),
        currency => spec.currency.clone(),
        min_cell => spec.min_cell,
        pipeline => minijinja::context! { name => cx.pipeline.clone(), currency => spec.currency.clone(), timezone => cx.timezone.to_string() },
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
    let path = super::request::output_path(out_dir, spec, req);
    std::fs::write(&path, html).map_err(|e| Error::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    super::index::write_index(out_dir)?;
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
) -> BTreeMap<String, Vec<String>> {
    let mut issues: BTreeMap<String, Vec<String>> = BTreeMap::new();
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
                issues.entry(source).or_default().push(format!(
                    "stale: newest {} row is from {d}",
                    newest.get(..10).unwrap_or("")
                ));
            }
        }
    }
    // Each report table inherits its upstream tables' issues.
    let mut out = BTreeMap::new();
    for t in spec.table_names() {
        let mut msgs: Vec<String> = Vec::new();
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
