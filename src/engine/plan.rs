//! SQL text as a person wrote it: which tables it reads, its planned
//! schema, and errors that point at a line and column with a hint.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::DataFusionError;
use datafusion::prelude::SessionContext;
use std::sync::Arc;

/// The (table, column) pairs a query's optimized plan reads from its scans.
pub async fn scanned_columns(ctx: &SessionContext, sql: &str) -> Vec<(String, String)> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::logical_expr::LogicalPlan;
    let Ok(df) = ctx.sql(sql).await else {
        return Vec::new();
    };
    let Ok(plan) = df.into_optimized_plan() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let table = scan.table_name.table().to_string();
            for f in scan.projected_schema.fields() {
                out.push((table.clone(), f.name().clone()));
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out.sort();
    out.dedup();
    out
}

/// A message and the (line, column) it points at, when known.
pub type Located = (String, Option<(usize, usize)>);

/// The tables a SQL text reads (CTE names excluded), or a located syntax error.
pub fn table_references(ctx: &SessionContext, sql: &str) -> Result<Vec<String>, Located> {
    let state = ctx.state();
    let stmt = state
        .sql_to_statement(sql, &datafusion::config::Dialect::default())
        .map_err(|e| (describe_error(&e), locate(&e, sql)))?;
    let refs = state
        .resolve_table_references(&stmt)
        .map_err(|e| (describe_error(&e), locate(&e, sql)))?;
    let mut out: Vec<String> = Vec::new();
    for r in refs {
        let t = r.table().to_string();
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// Plan `sql` and return its output schema, or a located error with a hint.
/// The schema is the analysed plan's: before type coercion a `CASE` takes
/// its first branch's type (`THEN 0 ELSE price END` reads as an integer),
/// while the rows written carry the coerced one.
pub async fn plan_schema(
    ctx: &SessionContext,
    sql: &str,
) -> Result<SchemaRef, (String, Option<(usize, usize)>, Option<String>)> {
    let analysed = match ctx.sql(sql).await {
        Ok(df) => {
            let state = ctx.state();
            state.analyzer().execute_and_check(
                df.logical_plan().clone(),
                state.config_options(),
                |_, _| {},
            )
        }
        Err(e) => Err(e),
    };
    match analysed {
        Ok(plan) => Ok(Arc::new(plan.schema().as_arrow().clone())),
        Err(e) => {
            let msg = describe_error(&e);
            let pos = locate(&e, sql);
            let help = e.diagnostic().and_then(|d| d.helps.first().map(|h| h.message.clone())).or_else(|| {
                msg.contains("No field named").then(|| "check the column names of the tables this model reads (`touchpoint tables`)".to_string())
            });
            Err((msg, pos, help))
        }
    }
}

/// The SQL position an error points at: DataFusion's span when it has one,
/// else the first whole-word occurrence of the name the message quotes.
pub fn locate(e: &DataFusionError, sql: &str) -> Option<(usize, usize)> {
    if let Some(span) = e.diagnostic().and_then(|d| d.span)
        && span.start.line > 0
    {
        return Some((span.start.line as usize, span.start.column as usize));
    }
    let msg = e.to_string();
    // "No field named foo." / "table 'x' not found" / "column 'y'"
    let name = msg
        .split("No field named ")
        .nth(1)
        .map(|r| {
            r.split(['.', ' '])
                .next()
                .unwrap_or_default()
                .trim_matches(['"', '\''])
                .to_string()
        })
        .or_else(|| {
            msg.split('\'')
                .nth(1)
                .map(|s| s.rsplit('.').next().unwrap_or(s).to_string())
        })?;
    find_word(sql, &name)
}

/// 1-based (line, column) of the first whole-word, case-insensitive `word` in `text`.
pub fn find_word(text: &str, word: &str) -> Option<(usize, usize)> {
    if word.is_empty() {
        return None;
    }
    let lower = text.to_lowercase();
    let w = word.to_lowercase();
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut start = 0;
    while let Some(i) = lower[start..].find(&w) {
        let at = start + i;
        let before = lower[..at].chars().next_back();
        let after = lower[at + w.len()..].chars().next();
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
            let line = lower[..at].matches('\n').count() + 1;
            let col = at - lower[..at].rfind('\n').map(|n| n + 1).unwrap_or(0) + 1;
            return Some((line, col));
        }
        start = at + w.len();
    }
    None
}

/// DataFusion's message without the nested "Error during planning:" noise.
/// An error met while executing (a cast, a parse) quotes the value that
/// failed, which may be personal data: run logs and terminals are not
/// masked, so quoted values are cut from those messages (names in
/// planning errors stay).
pub fn describe_error(e: &DataFusionError) -> String {
    if let Some(d) = e.diagnostic() {
        return d.message.clone();
    }
    let root = e.find_root();
    let s = root.to_string();
    if matches!(
        root,
        DataFusionError::ArrowError(..)
            | DataFusionError::Execution(_)
            | DataFusionError::External(_)
    ) {
        return without_quoted_values(&s);
    }
    for prefix in [
        "Error during planning: ",
        "Schema error: ",
        "SQL error: ",
        "Execution error: ",
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            return unwrap_parser_error(rest);
        }
    }
    s
}

/// `Cannot cast string '+852 9123 4567' to …` → `Cannot cast string '…' to …`.
pub fn without_quoted_values(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut inside = false;
    for c in s.chars() {
        if c == '\'' {
            if !inside {
                out.push_str("'…");
            } else {
                out.push('\'');
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// sqlparser's errors print as `ParserError("…")`: keep the sentence only.
fn unwrap_parser_error(s: &str) -> String {
    for kind in ["ParserError(\"", "TokenizerError(\""] {
        if let Some(inner) = s.strip_prefix(kind).and_then(|r| r.strip_suffix("\")")) {
            return format!("SQL syntax: {}", inner.replace("\\\"", "\""));
        }
    }
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_read_as_sentences() {
        assert_eq!(
            unwrap_parser_error(
                r#"ParserError("Expected: an SQL statement, found: SELEC at Line: 1, Column: 1")"#
            ),
            "SQL syntax: Expected: an SQL statement, found: SELEC at Line: 1, Column: 1"
        );
        assert_eq!(unwrap_parser_error("No field named x"), "No field named x");
    }

    #[test]
    fn execution_errors_lose_their_values() {
        assert_eq!(
            without_quoted_values(
                "Cast error: Cannot cast string '+852 9123 4567' to value of Int64 type"
            ),
            "Cast error: Cannot cast string '…' to value of Int64 type"
        );
        let e = DataFusionError::ArrowError(
            Box::new(datafusion::arrow::error::ArrowError::CastError(
                "Cannot cast string '4000123412341234' to value of Int32 type".into(),
            )),
            None,
        );
        assert!(
            !describe_error(&e).contains("4000"),
            "{}",
            describe_error(&e)
        );
    }

    #[test]
    fn finds_whole_words() {
        assert_eq!(
            find_word("select a,\n  amount_x, amount from t", "amount"),
            Some((2, 13))
        );
        assert_eq!(find_word("select x", "amount"), None);
    }

    /// A model's declared schema is the one its rows are written with:
    /// `CASE WHEN … THEN 0 ELSE <decimal> END` is a decimal, not the first
    /// branch's integer (the unanalysed plan said Int64, and writing 161.6
    /// into it failed the run).
    #[tokio::test]
    async fn schemas_are_the_coerced_ones() {
        use datafusion::arrow::datatypes::DataType;
        let ctx = SessionContext::new();
        let schema = plan_schema(
            &ctx,
            "SELECT CASE WHEN n = 0 THEN 0 ELSE n * CAST(1.5 AS DECIMAL(9, 2)) END AS cost FROM (VALUES (0), (2)) t(n)",
        )
        .await
        .expect("plans");
        assert!(
            matches!(schema.field(0).data_type(), DataType::Decimal128(..)),
            "{schema:?}"
        );
    }
}
