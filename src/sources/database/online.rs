//! `validate --online`: each database source's columns read from the
//! catalog and compared with the declaration (a missing column, a type the
//! declared one cannot hold, a column the declaration lacks), without
//! reading a row. Plain `validate` never connects.

use super::Error;
use crate::sources::{SchemaChange, Source};

/// One problem of a source against its database: the YAML path it is at,
/// what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub at: String,
    pub message: String,
    pub help: Option<String>,
}

/// Compare `src` with its database's catalog. Blocks: call from a blocking
/// thread inside the Tokio runtime. An error is a connection or query that
/// failed.
pub fn check(src: &Source) -> Result<Vec<Finding>, Error> {
    let Some(db) = &src.database else {
        return Ok(Vec::new());
    };
    let kind = db.kind();
    let cols = kind.describe(src)?;
    let at = format!("sources.{}", src.name);
    let mut out = Vec::new();
    for c in &src.columns {
        let here = format!("{at}.columns.{}", c.name);
        match cols.iter().find(|d| d.name == c.name) {
            None => out.push(Finding {
                at: here,
                message: format!("`{}` has no column `{}`", kind.object(), c.name),
                help: Some(format!(
                    "its columns: {}",
                    cols.iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }),
            Some(d) => {
                if let Some(reason) = kind.cannot_hold(d, c.ty) {
                    out.push(Finding {
                        at: format!("{here}.type"),
                        message: reason,
                        help: d
                            .natural
                            .map(|t| format!("declare it `{t}`"))
                            .or(Some("declare it `string`".into())),
                    });
                }
            }
        }
    }
    if src.on_schema_change == SchemaChange::Fail {
        let extra: Vec<&str> = cols
            .iter()
            .filter(|d| !src.columns.iter().any(|c| c.name == d.name))
            .map(|d| d.name.as_str())
            .collect();
        if !extra.is_empty() {
            out.push(Finding {
                at: format!("{at}.columns"),
                message: format!(
                    "`{}` has columns the declaration lacks: {}",
                    kind.object(),
                    extra.join(", ")
                ),
                help: Some(
                    "declare them, select only the declared ones in a `query:`, or set `on_schema_change: ignore`".into(),
                ),
            });
        }
    }
    Ok(out)
}
