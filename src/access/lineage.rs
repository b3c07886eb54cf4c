//! Personal data cannot leave a model undeclared: a model that reads a
//! personal column must say (`personal:`) which of its output columns carry
//! it, so masking follows personal data into every table built from it.

use super::Personal;
use crate::spec::{Diagnostic, Diags, did_you_mean};
use datafusion::arrow::datatypes::Schema;
use datafusion::prelude::SessionContext;
use std::collections::BTreeSet;
use std::path::Path;

/// A model as the rule sees it.
pub struct Declared<'a> {
    pub name: &'a str,
    pub sql: &'a str,
    pub sql_file: &'a Path,
    /// Its `personal:` declaration.
    pub personal: &'a [(String, Personal)],
}

/// Check one model: its declared columns exist, and if it declares none it
/// reads no personal column (`personal_so_far`: every personal (table,
/// column) of the tables it may read). Tables it reads are registered in
/// `ctx`. False when a problem was recorded.
pub async fn check(
    ctx: &SessionContext,
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
    if !m.personal.is_empty() {
        return ok;
    }
    let read = crate::engine::scanned_columns(ctx, m.sql).await;
    let hits: Vec<String> = read
        .iter()
        .filter(|(t, c)| personal_so_far.contains(&(t.clone(), c.clone())))
        .map(|(t, c)| format!("{t}.{c}"))
        .collect();
    if !hits.is_empty() {
        let pos = hits
            .first()
            .and_then(|h| h.split('.').nth(1))
            .and_then(|c| crate::engine::find_word(m.sql, c));
        diags.push(
            Diagnostic::new(
                m.sql_file,
                pos,
                "",
                format!(
                    "model `{}` reads personal data ({}) but does not say which of its columns carry it",
                    m.name,
                    hits.join(", ")
                ),
            )
            .with_help(format!(
                "add `personal: {{column: mask}}` (or hash, or clear) to models.{} for each output column holding it",
                m.name
            )),
        );
        ok = false;
    }
    ok
}
