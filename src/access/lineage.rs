//! Personal data cannot leave a model undeclared: every output column of a
//! model that carries a personal column's values (through aliases,
//! expressions, CTEs, joins, subqueries, models of models) must be declared
//! in its `personal:`, so masking follows personal data into every table
//! built from it. When the columns cannot be traced, the model fails closed.

use super::Personal;
use super::columns::{self, Carried};
use crate::engine::Planned;
use crate::spec::{Diagnostic, Diags, did_you_mean};
use datafusion::arrow::datatypes::Schema;
use std::collections::BTreeSet;
use std::path::Path;

/// A model as the rule sees it.
pub struct Declared<'a> {
    pub name: &'a str,
    pub sql: &'a str,
    pub sql_file: &'a Path,
    /// Its `personal:` declaration.
    pub personal: &'a [(String, Personal)],
    /// For an analytics step: each output column and the input columns
    /// whose values it carries (`None`: a SQL model, whose output columns
    /// are its query's).
    pub step: Option<Vec<(String, Vec<String>)>>,
}

/// Check one model, `planned` with its inputs registered: its declared
/// columns exist, and every output column carrying one of
/// `personal_so_far` (table, column) is declared. False when a problem was
/// recorded.
pub fn check(
    planned: &Planned,
    m: &Declared<'_>,
    output: &Schema,
    personal_so_far: &BTreeSet<(String, String)>,
    diags: &mut Diags<'_>,
) -> bool {
    let at = format!("models.{}", m.name);
    let mut ok = true;
    for (c, _) in m.personal {
        if output.field_with_name(c).is_err() {
            let names: Vec<&str> = output.fields().iter().map(|f| f.name().as_str()).collect();
            diags.err(
                &format!("{at}.personal"),
                format!("`{c}` is not a column of model `{}`", m.name),
                Some(match did_you_mean(c, names.iter().copied()) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => format!("columns: {}", names.join(", ")),
                }),
            );
            ok = false;
        }
    }
    // A misspelt declaration is the mistake to fix first (its column would
    // show as undeclared too).
    if !ok {
        return false;
    }
    // A model that reads no personal column carries none. Most read no
    // table that holds one: their plans need no optimizing to tell.
    let tables = planned.scanned_tables();
    if !personal_so_far.iter().any(|(t, _)| tables.contains(t)) {
        return ok;
    }
    let read = planned.scanned_columns();
    if !read.iter().any(|r| personal_so_far.contains(r)) {
        return ok;
    }
    let traced = columns::of_plan(&planned.plan).map(|c| (planned.plan.schema().clone(), c));
    let carried: Vec<(String, Carried)> = match traced {
        Ok((schema, cols)) => {
            let query: Vec<(String, Carried)> = schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .zip(cols)
                .collect();
            match &m.step {
                None => query,
                Some(outputs) => outputs
                    .iter()
                    .map(|(out, inputs)| {
                        let c = query
                            .iter()
                            .filter(|(n, _)| inputs.contains(n))
                            .flat_map(|(_, c)| c.iter().cloned())
                            .collect();
                        (out.clone(), c)
                    })
                    .collect(),
            }
        }
        Err(why) => {
            diags.push(
                Diagnostic::new(
                    m.sql_file,
                    None,
                    "",
                    format!(
                        "model `{}` reads personal data and its columns cannot be traced ({why})",
                        m.name
                    ),
                )
                .with_help(format!(
                    "declare under models.{}.personal every output column that may carry personal data, or simplify the query",
                    m.name
                )),
            );
            return false;
        }
    };
    let undeclared: Vec<(String, Vec<String>)> = carried
        .iter()
        .filter(|(name, _)| !m.personal.iter().any(|(c, _)| c == name))
        .filter_map(|(name, c)| {
            let hits: Vec<String> = c
                .iter()
                .filter(|x| personal_so_far.contains(*x))
                .map(|(t, c)| format!("{t}.{c}"))
                .collect();
            (!hits.is_empty()).then(|| (name.clone(), hits))
        })
        .collect();
    if let Some((first, _)) = undeclared.first() {
        let pos = crate::engine::find_word(m.sql, first);
        let list: Vec<String> = undeclared
            .iter()
            .map(|(c, from)| format!("`{c}` ({})", from.join(", ")))
            .collect();
        let example: Vec<String> = undeclared
            .iter()
            .map(|(c, _)| format!("{c}: mask"))
            .collect();
        diags.push(
            Diagnostic::new(
                m.sql_file,
                pos,
                "",
                format!(
                    "model `{}` carries personal data in undeclared column(s) {}",
                    m.name,
                    list.join(", ")
                ),
            )
            .with_help(format!(
                "add `personal: {{{}}}` (or hash, or clear) to models.{}",
                example.join(", "),
                m.name
            )),
        );
        ok = false;
    }
    ok
}
