//! `checks:` entries → [`Check`]s, each against its table's schema.

use super::{Check, CheckKind, CheckSpec, Severity};
use crate::spec::{Diags, did_you_mean};
use datafusion::arrow::datatypes::SchemaRef;
use std::collections::{BTreeSet, HashMap};

/// Compile the `checks:` of every table against its schema: `tables` are
/// (YAML section, table, its checks, whether it is a periodic source);
/// `personal` holds the personal (table, column) pairs, whose values a
/// check's result never shows. A table missing from `schemas` failed to
/// compile itself; its checks are not looked at.
pub fn compile(
    tables: &[(&str, &str, &[CheckSpec], bool)],
    schemas: &HashMap<String, SchemaRef>,
    personal: &BTreeSet<(String, String)>,
    diags: &mut Diags,
) -> Vec<Check> {
    let mut out = Vec::new();
    for &(section, table, specs, periodic) in tables {
        let Some(schema) = schemas.get(table) else {
            continue;
        };
        for (i, c) in specs.iter().enumerate() {
            let at = format!("{section}.{table}.checks.{i}");
            if let Some(kind) = check_kind(&at, c, schema, schemas, periodic, diags) {
                let severity = match c.severity.as_deref() {
                    None | Some("error") => Severity::Error,
                    Some("warn") => Severity::Warn,
                    Some(other) => {
                        diags.err(
                            &format!("{at}.severity"),
                            format!("unknown severity `{other}`"),
                            Some("use `error` (fails the run) or `warn`".into()),
                        );
                        continue;
                    }
                };
                let personal = kind
                    .column()
                    .is_some_and(|c| personal.contains(&(table.to_string(), c.to_string())));
                out.push(Check {
                    table: table.to_string(),
                    kind,
                    severity,
                    periodic,
                    personal,
                });
            }
        }
    }
    out
}

fn check_kind(
    at: &str,
    c: &CheckSpec,
    schema: &SchemaRef,
    schemas: &HashMap<String, SchemaRef>,
    periodic: bool,
    diags: &mut Diags,
) -> Option<CheckKind> {
    const KINDS: [&str; 7] = [
        "not_null",
        "unique",
        "accepted_values",
        "range",
        "relationships",
        "freshness",
        "row_count_change",
    ];
    let has = |col: &str| schema.field_with_name(col).is_ok();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let column = |diags: &mut Diags, key: &str, name: Option<&String>| -> Option<String> {
        let Some(name) = name else {
            diags.err(at, format!("`{}` needs `{key}`", c.check), None);
            return None;
        };
        if !has(name) {
            let near = did_you_mean(name, names.iter().map(String::as_str));
            diags.err(
                &format!("{at}.{key}"),
                format!("unknown column `{name}`"),
                near.map(|n| format!("did you mean `{n}`?")),
            );
            return None;
        }
        Some(name.clone())
    };
    let kind = match c.check.as_str() {
        "not_null" => CheckKind::NotNull {
            column: column(diags, "column", c.column.as_ref())?,
        },
        "unique" => {
            let list: Vec<String> = match (&c.columns, &c.column) {
                (Some(cols), _) => cols.clone(),
                (None, Some(one)) => vec![one.clone()],
                (None, None) => {
                    diags.err(at, "`unique` needs `column` or `columns`", None);
                    return None;
                }
            };
            let mut ok = Vec::new();
            for n in &list {
                ok.push(column(diags, "columns", Some(n))?);
            }
            CheckKind::Unique { columns: ok }
        }
        "accepted_values" => {
            let col = column(diags, "column", c.column.as_ref())?;
            let Some(values) = c.values.clone() else {
                diags.err(at, "`accepted_values` needs `values`", None);
                return None;
            };
            CheckKind::AcceptedValues {
                column: col,
                values,
            }
        }
        "range" => {
            let col = column(diags, "column", c.column.as_ref())?;
            if c.min.is_none() && c.max.is_none() {
                diags.err(at, "`range` needs `min`, `max` or both", None);
                return None;
            }
            CheckKind::Range {
                column: col,
                min: c.min,
                max: c.max,
            }
        }
        "relationships" => {
            let col = column(diags, "column", c.column.as_ref())?;
            let target = c.to.clone().unwrap_or_default();
            let Some((t, tc)) = target.split_once('.') else {
                diags.err(
                    &format!("{at}.to"),
                    "`relationships` needs `to: table.column`",
                    None,
                );
                return None;
            };
            let ok = schemas.get(t).map(|s| s.field_with_name(tc).is_ok());
            if ok != Some(true) {
                let what = if ok.is_none() { "table" } else { "column" };
                diags.err(
                    &format!("{at}.to"),
                    format!("unknown {what} in `{target}`"),
                    Some("`to` names a seed, source or model and one of its columns".into()),
                );
                return None;
            }
            CheckKind::Relationships {
                column: col,
                table: t.to_string(),
                to_column: tc.to_string(),
            }
        }
        "freshness" => {
            let col = column(diags, "column", c.column.as_ref())?;
            let ty = schema
                .field_with_name(&col)
                .map(|f| f.data_type().clone())
                .ok();
            if !matches!(
                ty,
                Some(datafusion::arrow::datatypes::DataType::Timestamp(..))
                    | Some(datafusion::arrow::datatypes::DataType::Date32)
            ) {
                diags.err(
                    &format!("{at}.column"),
                    format!("`freshness` needs a date or timestamp column; `{col}` is not"),
                    None,
                );
                return None;
            }
            let Some(h) = c.max_age_hours.filter(|h| *h > 0.0) else {
                diags.err(at, "`freshness` needs `max_age_hours` (> 0)", None);
                return None;
            };
            CheckKind::Freshness {
                column: col,
                max_age_hours: h,
            }
        }
        "row_count_change" => {
            let default = if periodic {
                Some(crate::period::COLUMN.to_string())
            } else {
                None
            };
            let col = column(diags, "column", c.column.as_ref().or(default.as_ref()))?;
            let Some(m) = c.max_change.filter(|m| *m >= 0.0) else {
                diags.err(
                    at,
                    "`row_count_change` needs `max_change` (a fraction, 0.5 = ±50%)",
                    None,
                );
                return None;
            };
            CheckKind::RowCountChange {
                column: col,
                max_change: m,
            }
        }
        other => {
            let near = did_you_mean(other, KINDS.iter().copied());
            diags.err(
                &format!("{at}.check"),
                format!("unknown check `{other}`"),
                Some(
                    near.map(|n| format!("did you mean `{n}`?"))
                        .unwrap_or_else(|| format!("checks are {}", KINDS.join(", "))),
                ),
            );
            return None;
        }
    };
    Some(kind)
}
