//! SQL text as a person wrote it: which tables it reads, its planned
//! schema, and errors that point at a line and column with a hint.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::DataFusionError;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement;
use std::sync::Arc;

/// A message and the (line, column) it points at, when known.
pub type Located = (String, Option<(usize, usize)>);

/// A SQL text parsed once: its statement and the tables it reads.
pub struct Parsed {
    /// The tables read, CTE names excluded, each once, in order.
    pub tables: Vec<String>,
    pub statement: Statement,
}

/// Parse `sql` (see [`Parsed`]), or a located syntax error.
pub fn parse(state: &SessionState, sql: &str) -> Result<Parsed, Located> {
    // The generic dialect: the engine's sessions parse models with it.
    let statement = state
        .sql_to_statement(sql, &datafusion::config::Dialect::default())
        .map_err(|e| (describe_error(&e), locate(&e, sql)))?;
    let refs = state
        .resolve_table_references(&statement)
        .map_err(|e| (describe_error(&e), locate(&e, sql)))?;
    let mut tables: Vec<String> = Vec::new();
    for r in refs {
        let t = r.table().to_string();
        if !tables.contains(&t) {
            tables.push(t);
        }
    }
    Ok(Parsed { tables, statement })
}

/// The tables a SQL text reads (CTE names excluded), or a located syntax error.
pub fn table_references(ctx: &SessionContext, sql: &str) -> Result<Vec<String>, Located> {
    parse(&ctx.state(), sql).map(|p| p.tables)
}

/// A query planned once, for everything a pipeline's compile asks of it
/// (its schema, the columns it reads, what its columns carry): planning a
/// model is most of a reader's start-up, so it is not done three times.
pub struct Planned {
    /// The plan as written (what column lineage walks).
    pub plan: LogicalPlan,
    /// The analysed plan (types coerced).
    analysed: LogicalPlan,
    state: SessionState,
}

impl Planned {
    /// The output schema: the analysed plan's. Before type coercion a
    /// `CASE` takes its first branch's type (`THEN 0 ELSE price END` reads
    /// as an integer), while the rows written carry the coerced one.
    pub fn schema(&self) -> SchemaRef {
        Arc::new(self.analysed.schema().as_arrow().clone())
    }

    /// The tables the plan as written scans (with its subqueries'): the
    /// optimized plan scans no others, so a query none of whose tables
    /// holds a column of interest needs no optimizing to say it reads none.
    pub fn scanned_tables(&self) -> std::collections::BTreeSet<String> {
        use datafusion::common::tree_node::TreeNodeRecursion;
        let mut out = std::collections::BTreeSet::new();
        let _ = self.plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node {
                out.insert(scan.table_name.table().to_string());
            }
            Ok(TreeNodeRecursion::Continue)
        });
        out
    }

    /// The (table, column) pairs the optimized plan reads from its scans
    /// (empty when it cannot be optimized).
    pub fn scanned_columns(&self) -> Vec<(String, String)> {
        use datafusion::common::tree_node::TreeNodeRecursion;
        // As `SessionState::optimize`, without analysing again.
        let Ok(plan) =
            self.state
                .optimizer()
                .optimize(self.analysed.clone(), &self.state, |_, _| {})
        else {
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
}

/// A planning error: the message, the (line, column) it points at and a hint.
pub type PlanError = (String, Option<(usize, usize)>, Option<String>);

/// Plan and analyse `sql`, parsed already by [`parse`] (as
/// `SessionContext::sql` plans a query, without parsing it again), or a
/// located error with a hint.
pub async fn plan_parsed(
    state: &SessionState,
    sql: &str,
    statement: Statement,
) -> Result<Planned, PlanError> {
    let planned = match state.statement_to_plan(statement).await {
        Ok(plan) => state
            .analyzer()
            .execute_and_check(plan.clone(), state.config_options(), |_, _| {})
            .map(|analysed| Planned {
                plan,
                analysed,
                state: state.clone(),
            }),
        Err(e) => Err(e),
    };
    planned.map_err(|e| {
        let msg = describe_error(&e);
        let pos = locate(&e, sql);
        let help = e
            .diagnostic()
            .and_then(|d| d.helps.first().map(|h| h.message.clone()))
            .or_else(|| {
                msg.contains("No field named").then(|| {
                    "check the column names of the tables this model reads (`touchpoint tables`)"
                        .to_string()
                })
            });
        (msg, pos, help)
    })
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

    /// Parse and plan `sql` in `ctx`'s state, as a model's compile does.
    async fn plan(ctx: &SessionContext, sql: &str) -> Result<Planned, PlanError> {
        let state = ctx.state();
        let parsed = parse(&state, sql).map_err(|(msg, pos)| (msg, pos, None))?;
        plan_parsed(&state, sql, parsed.statement).await
    }

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
        let schema = plan(
            &ctx,
            "SELECT CASE WHEN n = 0 THEN 0 ELSE n * CAST(1.5 AS DECIMAL(9, 2)) END AS cost FROM (VALUES (0), (2)) t(n)",
        )
        .await
        .expect("plans")
        .schema();
        assert!(
            matches!(schema.field(0).data_type(), DataType::Decimal128(..)),
            "{schema:?}"
        );
    }

    /// The columns a query reads are those left at its scans once the plan
    /// is optimized (by hand: `secret` and `y` are never read), through a
    /// join and a subquery.
    #[tokio::test]
    async fn scanned_columns_are_the_ones_read() {
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        use datafusion::datasource::MemTable;
        let ctx = SessionContext::new();
        for (name, cols) in [("a", ["id", "x", "secret"].as_slice()), ("b", &["id", "y"])] {
            let schema = Arc::new(Schema::new(
                cols.iter()
                    .map(|c| Field::new(*c, DataType::Int64, true))
                    .collect::<Vec<_>>(),
            ));
            let t = MemTable::try_new(schema, vec![vec![]]).expect("table");
            ctx.register_table(name, Arc::new(t)).expect("register");
        }
        let planned = plan(
            &ctx,
            "SELECT a.x FROM a JOIN b ON a.id = b.id WHERE a.id IN (SELECT id FROM b)",
        )
        .await
        .expect("plans");
        let pair = |t: &str, c: &str| (t.to_string(), c.to_string());
        assert_eq!(
            planned.scanned_columns(),
            vec![pair("a", "id"), pair("a", "x"), pair("b", "id")]
        );
        let tables: Vec<String> = planned.scanned_tables().into_iter().collect();
        assert_eq!(tables, ["a", "b"]);
        let only_b = plan(&ctx, "SELECT y FROM (SELECT * FROM b) s")
            .await
            .expect("plans");
        assert_eq!(
            only_b.scanned_tables().into_iter().collect::<Vec<_>>(),
            ["b"]
        );
    }
}
