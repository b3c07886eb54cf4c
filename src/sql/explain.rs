//! A reader's errors in words: the nearest name for an unknown table or
//! column, what a read-only session refuses, the `--param` a query needs.

use super::Error;
use crate::engine::describe_error;
use crate::spec::did_you_mean;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

/// A reader's error with the nearest name for an unknown table or column,
/// and what a read-only session refuses.
pub async fn reader_error(
    ctx: &SessionContext,
    sql: &str,
    e: DataFusionError,
    tables: &[String],
) -> Error {
    let msg = describe_error(&e);
    let usage = |message: String, help: String| Error::reader(message, help);
    if let Some(name) = msg
        .strip_prefix("table '")
        .and_then(|r| r.split('\'').next())
    {
        let bare = name.rsplit('.').next().unwrap_or(name);
        let help = match did_you_mean(bare, tables.iter().map(String::as_str)) {
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
        let read = crate::engine::table_references(ctx, sql).unwrap_or_default();
        let mut columns: Vec<String> = Vec::new();
        for t in &read {
            if let Ok(p) = ctx.table_provider(t.as_str()).await {
                columns.extend(p.schema().fields().iter().map(|f| f.name().clone()));
            }
        }
        // The column exists (DataFusion lost it on the way, e.g. ORDER BY
        // ALL): its own words say more than a suggestion of the same name.
        if columns.iter().any(|c| c == bare) {
            return Error::Query(e);
        }
        let help = match did_you_mean(bare, columns.iter().map(String::as_str)) {
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
    Error::Query(e)
}

/// A placeholder without a value names the `--param` to pass.
pub fn param_hint(e: DataFusionError) -> Error {
    // The unabridged message: the name is quoted in it (a name, no value).
    let msg = e.find_root().to_string();
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
        Some(name) => Error::reader(
            format!("the query needs a value for {name}"),
            format!("pass --param {}=VALUE", name.trim_start_matches('$')),
        ),
        None => Error::Query(e),
    }
}
