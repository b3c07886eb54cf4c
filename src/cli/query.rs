//! `touchpoint query`: one SQL statement over the warehouse.

use super::WarehouseArgs;
use crate::Result;
use crate::sql::output::{OutputFormat, write_batches};
use crate::warehouse::Warehouse;
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use std::io::{Read, Write};
use std::path::PathBuf;

/// Run one SQL statement over every warehouse table and print the result as
/// a table, CSV or JSON. Personal columns declared in the pipeline are masked.
/// SQL comes from the argument, --file, or stdin when the argument is `-`.
///
/// Example: touchpoint query "SELECT tier, customers FROM segment_pyramid WHERE period = '2024-12'"
///          touchpoint query --format csv "SELECT * FROM churn_risk ORDER BY score DESC LIMIT 20"
///          touchpoint query --file queries/adhoc/top_at_risk.sql --param tier=Premier --param period=2024-12
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The SQL text (`-` reads stdin).
    pub sql: Option<String>,
    /// Read the SQL from a file.
    #[arg(long, conflicts_with = "sql")]
    pub file: Option<PathBuf>,
    /// A named parameter, `--param tier=Premier`: `$tier` in the SQL. Bound
    /// as a value (never pasted into the SQL text): a whole number is an
    /// integer, a decimal a double, true/false a boolean, anything else text.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub reader: ReaderArgs,
}

/// Where readers (`query`, `sql`) find the warehouse and its masking policy.
#[derive(Debug, clap::Args)]
pub struct ReaderArgs {
    /// The pipeline that declares which columns are personal data (when
    /// the default is missing, the project's only `pipelines/*.yaml`).
    #[arg(long, default_value = super::DEFAULT_PIPELINE)]
    pub pipeline: PathBuf,
    /// Read every table exactly as this run left it (a run id from `_runs`).
    #[arg(long, value_name = "RUN_ID")]
    pub as_of: Option<String>,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
}

pub async fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    let sql = match (&a.sql, &a.file) {
        (Some(s), _) if s == "-" => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(super::io_err("stdin"))?;
            s
        }
        (Some(s), _) => s.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).map_err(|e| {
            crate::Error::usage(
                format!("cannot read `{}`: {e}", f.display()),
                "check the path",
            )
        })?,
        (None, None) => {
            return Err(crate::Error::usage(
                "no SQL given",
                "touchpoint query \"SELECT * FROM _runs\"",
            ));
        }
    };
    let (ctx, tables) = reader_session(&a.reader).await?;
    let df = ctx.sql_with_options(&sql, crate::sql::read_only()).await;
    let mut df = match df {
        Ok(df) => df,
        Err(e) => return Err(reader_error(&ctx, &sql, e, &tables).await),
    };
    if !a.params.is_empty() {
        let values: Vec<(String, ScalarValue)> = a
            .params
            .iter()
            .map(|(k, v)| (k.clone(), typed(v)))
            .collect();
        df = df.with_param_values(values).map_err(param_hint)?;
    }
    let mut stream = df.execute_stream().await.map_err(param_hint)?;
    let mut batches = Vec::new();
    while let Some(b) = stream.next().await {
        batches.push(b?);
    }
    write_batches(out, &batches, a.format).map_err(super::io_err("stdout"))?;
    Ok(())
}

/// A session over the last finished run's tables (or the one `--as-of`
/// names), personal columns masked as the pipeline declares for this
/// reader, and `table_at(name, version | run)` for time travel.
pub(super) async fn reader_session(
    reader: &ReaderArgs,
) -> Result<(datafusion::prelude::SessionContext, Vec<String>)> {
    let pipeline_file = reader_pipeline(&reader.pipeline)?;
    let pipeline = super::load_pipeline_for_reading(&pipeline_file).await?;
    let location = pipeline.warehouse_location(reader.warehouse.warehouse.as_deref());
    let base = Warehouse::open(&location)?;
    // Readers see the last finished run, never half of one.
    let wh = match &reader.as_of {
        Some(run) => base.clone().as_of(run).await?,
        None => base.clone().committed().await?,
    };
    let masked = pipeline.masked_for(&crate::sql::reader_name());
    let ctx = crate::sql::session();
    let tables = crate::sql::register_warehouse(&ctx, &wh, &masked).await?;
    ctx.register_udtf(
        "table_at",
        std::sync::Arc::new(crate::sql::travel::TableAt { wh: base, masked }),
    );
    Ok((ctx, tables))
}

/// The pipeline that says what is personal. Without one nothing would be
/// masked, so a reader needs it: the default, else the project's only one.
fn reader_pipeline(given: &std::path::Path) -> Result<PathBuf> {
    if given.exists() {
        return Ok(given.to_path_buf());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("pipelines")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    found.sort();
    match found.as_slice() {
        [one] if given == std::path::Path::new(super::DEFAULT_PIPELINE) => Ok(one.clone()),
        [] | [_] => Err(crate::Error::usage(
            format!("pipeline file `{}` not found", given.display()),
            "readers need the pipeline: it says which columns are personal data (pass --pipeline FILE)",
        )),
        many => Err(crate::Error::usage(
            format!("pipeline file `{}` not found", given.display()),
            format!(
                "pass --pipeline with one of: {}",
                many.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// A placeholder without a value names the `--param` to pass.
fn param_hint(e: datafusion::error::DataFusionError) -> crate::Error {
    let msg = crate::sql::describe_error(&e);
    // DataFusion says it two ways, depending on whether any value was bound.
    let name = msg
        .split("placeholder with name ")
        .nth(1)
        .map(|n| n.split_whitespace().next().unwrap_or(n))
        .or_else(|| {
            msg.split("Placeholder '")
                .nth(1)
                .and_then(|n| n.split('\'').next())
        });
    match name {
        Some(name) => crate::Error::usage(
            format!("the query needs a value for {name}"),
            format!("pass --param {}=VALUE", name.trim_start_matches('$')),
        ),
        None => crate::Error::Query(msg),
    }
}

fn parse_param(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v))
            if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Ok((k.to_string(), v.to_string()))
        }
        _ => Err(format!("`{s}`: write NAME=VALUE, e.g. tier=Premier")),
    }
}

/// A parameter's value with the type it looks like.
fn typed(v: &str) -> ScalarValue {
    if let Ok(i) = v.parse::<i64>() {
        ScalarValue::Int64(Some(i))
    } else if let Ok(f) = v.parse::<f64>()
        && v.contains('.')
    {
        ScalarValue::Float64(Some(f))
    } else if v == "true" || v == "false" {
        ScalarValue::Boolean(Some(v == "true"))
    } else {
        ScalarValue::Utf8(Some(v.to_string()))
    }
}

/// A reader's error with the nearest name for an unknown table or column,
/// and what a read-only session refuses.
pub(super) async fn reader_error(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
    e: datafusion::error::DataFusionError,
    tables: &[String],
) -> crate::Error {
    let msg = crate::sql::describe_error(&e);
    let usage = |message: String, help: String| crate::Error::Usage {
        message,
        help: Some(help),
    };
    if let Some(name) = msg
        .strip_prefix("table '")
        .and_then(|r| r.split('\'').next())
    {
        let bare = name.rsplit('.').next().unwrap_or(name);
        let help = match crate::spec::did_you_mean(bare, tables.iter().map(String::as_str)) {
            Some(n) => format!("did you mean `{n}`? tables: {}", tables.join(", ")),
            None => format!("tables: {}", tables.join(", ")),
        };
        return usage(format!("unknown table `{bare}`"), help);
    }
    if let Some(name) = msg
        .strip_prefix("column '")
        .and_then(|r| r.split('\'').next())
        .or_else(|| {
            // Only the name: the message goes on to list the valid fields.
            msg.strip_prefix("No field named ").map(|r| {
                r.lines()
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches('.')
                    .trim_matches('"')
            })
        })
    {
        let bare = name.rsplit('.').next().unwrap_or(name).trim_matches('"');
        // Candidates: the columns of the tables the statement reads.
        let read = crate::sql::table_references(ctx, sql).unwrap_or_default();
        let mut columns: Vec<String> = Vec::new();
        for t in &read {
            if let Ok(p) = ctx.table_provider(t.as_str()).await {
                columns.extend(p.schema().fields().iter().map(|f| f.name().clone()));
            }
        }
        // The column exists (DataFusion lost it on the way, e.g. ORDER BY
        // ALL): its own words say more than a suggestion of the same name.
        if columns.iter().any(|c| c == bare) {
            return crate::Error::Query(msg);
        }
        let help = match crate::spec::did_you_mean(bare, columns.iter().map(String::as_str)) {
            Some(n) => format!("did you mean `{n}`?"),
            None if columns.is_empty() => {
                "`\\d TABLE` in `touchpoint sql` lists a table's columns".into()
            }
            None => format!("columns of {}: {}", read.join(", "), columns.join(", ")),
        };
        return usage(format!("unknown column `{bare}`"), help);
    }
    if msg.contains("not supported: ")
        && (msg.starts_with("DDL") || msg.starts_with("DML") || msg.starts_with("Statement"))
    {
        return usage(
            format!("the warehouse is read-only here ({msg})"),
            "readers can only query; tables are written by `touchpoint run`".into(),
        );
    }
    crate::Error::Query(msg)
}
