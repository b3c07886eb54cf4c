//! Management reports: a minijinja template (`*.html.j2`, autoescaped, strict
//! about undefined names) over the warehouse tables a report declares,
//! rendered to one self-contained HTML file.

pub mod charts;
pub mod format;

use crate::pipeline::{Period, Pipeline};
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
}

/// Where a rendered report lands.
pub fn output_path(out_dir: &Path, report: &str, period: Period) -> PathBuf {
    out_dir.join(format!("{report}-{period}.html"))
}

/// Render `report` for `period` into `out_dir`; returns the file written.
pub async fn render(
    pipeline: &Pipeline,
    wh: &Warehouse,
    report: &str,
    period: Period,
    out_dir: &Path,
) -> Result<PathBuf, Error> {
    let spec = pipeline.report(report).ok_or_else(|| Error::Unknown {
        name: report.to_string(),
        available: pipeline.reports.iter().map(|r| r.name.clone()).collect(),
    })?;
    let ctx = crate::sql::session();
    let mut tables: BTreeMap<String, Value> = BTreeMap::new();
    for t in &spec.tables {
        let terr = |reason: String| Error::Table {
            report: report.into(),
            table: t.clone(),
            reason,
        };
        // A pipeline without checks never writes `_checks`: no results.
        if t == crate::quality::CHECKS && wh.version(t).await.ok().flatten().is_none() {
            tables.insert(t.clone(), Value::from(Vec::<Value>::new()));
            continue;
        }
        let provider = wh.provider(t).await.map_err(|e| terr(e.to_string()))?;
        let df = ctx.read_table(provider).map_err(|e| terr(e.to_string()))?;
        let mut stream = df.execute_stream().await.map_err(|e| terr(e.to_string()))?;
        let mut rows: Vec<Value> = Vec::new();
        while let Some(b) = stream.next().await {
            let b = b.map_err(|e| terr(e.to_string()))?;
            rows.extend(batch_rows(&b));
            if rows.len() > MAX_ROWS {
                return Err(Error::TooLarge {
                    report: report.into(),
                    table: t.clone(),
                });
            }
        }
        tables.insert(t.clone(), Value::from(rows));
    }
    let template_dir = spec.template.parent().unwrap_or(Path::new("."));
    let template_name = spec
        .template
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let env = environment(template_dir, &pipeline.currency);
    let tmpl = env
        .get_template(&template_name)
        .map_err(|e| Error::Template {
            report: report.into(),
            reason: describe(&e),
        })?;
    let context = minijinja::context! {
        period => period.to_string(),
        prev_period => period.prev().to_string(),
        year_ago => Period { year: period.year - 1, month: period.month }.to_string(),
        title => spec.title.clone().unwrap_or_else(|| report.to_string()),
        pipeline => minijinja::context! { name => pipeline.name.clone(), currency => pipeline.currency.clone(), timezone => pipeline.timezone.to_string() },
        generated_at => chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
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
    let path = output_path(out_dir, report, period);
    std::fs::write(&path, html).map_err(|e| Error::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(path)
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
pub fn environment(dir: &Path, currency: &str) -> Environment<'static> {
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
    env.add_filter("money", move |v: Value| format::money(&v, &cur));
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
