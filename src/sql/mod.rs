//! SQL sessions over the warehouse: the memory-bounded DataFusion context,
//! registering every warehouse table (with personal data masked for
//! analysts), planning checks used by `validate`, and helpful error text.

pub mod output;
mod pool;
pub mod travel;

use crate::spec::Personal;
use crate::warehouse::Warehouse;
use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{ColumnarValue, Expr, Volatility, col, create_udf, lit};
use datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::delta_datafusion::planner::DeltaPlanner;
use std::sync::Arc;

/// Memory DataFusion may use before it spills to disk, for the whole
/// process; `TOUCHPOINT_MEMORY_MB` overrides the default of 512 MiB. The
/// process needs about as much again (Delta logs, Parquet buffers, the
/// allocator), so the default keeps a run under 1 GiB. Hash joins cannot
/// spill, so the marts pair months and combine facts by aggregation and
/// keep hash joins to lookups (at 100k customers a 256 MiB pool suffices).
pub fn memory_limit() -> usize {
    std::env::var("TOUCHPOINT_MEMORY_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(512)
        * 1024
        * 1024
}

/// One runtime (memory pool, spill files) shared by every session, so
/// concurrent loads and queries share one bound instead of one each.
static RUNTIME: std::sync::LazyLock<Arc<datafusion::execution::runtime_env::RuntimeEnv>> =
    std::sync::LazyLock::new(|| {
        RuntimeEnvBuilder::new()
            .with_memory_pool(pool::bounded(memory_limit()))
            .build_arc()
            // The builder only fails on a bad disk-manager setup.
            .unwrap_or_default()
    });

/// A session with a bounded, spilling memory pool.
pub fn session() -> SessionContext {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .set_bool("datafusion.sql_parser.collect_spans", true)
        .set_bool(
            "datafusion.execution.parquet.schema_force_view_types",
            false,
        );
    let runtime = RUNTIME.clone();
    // Delta writes plan custom nodes (write metrics, constraint checks) that
    // only delta-rs's planner can turn into execution plans.
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_query_planner(DeltaPlanner::new())
        .build();
    SessionContext::new_with_state(state)
}

/// Who is reading: `TOUCHPOINT_READER`, else the login name.
pub fn reader_name() -> String {
    ["TOUCHPOINT_READER", "USER", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// What a reader may not run: no DDL (`CREATE EXTERNAL TABLE` over the
/// warehouse's files would bypass masking), no writes, no `SET`.
pub fn read_only() -> datafusion::execution::context::SQLOptions {
    datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Register every warehouse table for a reader. Personal columns in
/// `masked` (table, column, policy) are replaced by their masked or hashed
/// form, and `_quarantine`'s copies of them too (the rejected value, and the
/// raw record of a source with personal columns); the raw table is never
/// registered, so no SQL can reach it.
pub async fn register_warehouse(
    ctx: &SessionContext,
    wh: &Warehouse,
    masked: &[(String, String, Personal)],
) -> crate::Result<Vec<String>> {
    ctx.register_udf(mask_udf());
    let names = wh.list().await?;
    for name in &names {
        let provider = wh.provider(name).await?;
        ctx.register_table(name.as_str(), masked_provider(name, provider, masked)?)?;
    }
    Ok(names)
}

/// `provider` as a reader of table `name` may see it (see [`register_warehouse`]).
pub fn masked_provider(
    name: &str,
    provider: Arc<dyn datafusion::catalog::TableProvider>,
    masked: &[(String, String, Personal)],
) -> crate::Result<Arc<dyn datafusion::catalog::TableProvider>> {
    let quarantine = name == crate::warehouse::log::QUARANTINE;
    let own: Vec<(&str, Personal)> = masked
        .iter()
        .filter(|(t, _, _)| t == name)
        .map(|(_, c, p)| (c.as_str(), *p))
        .collect();
    let withholds = quarantine && !masked.is_empty();
    if own.is_empty() && !withholds {
        return Ok(provider);
    }
    let ctx = SessionContext::new();
    let df = ctx.read_table(provider)?;
    let exprs: Vec<Expr> = df
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let c = col(format!("\"{}\"", f.name()));
            if quarantine {
                return quarantine_column(f.name(), c, masked).alias(f.name());
            }
            match own.iter().find(|(n, _)| n == f.name()) {
                Some((_, p)) => apply(*p, c).alias(f.name()),
                None => c,
            }
        })
        .collect();
    Ok(df.select(exprs)?.into_view())
}

fn apply(p: Personal, c: Expr) -> Expr {
    match p {
        Personal::Hash => datafusion::functions::expr_fn::encode(
            datafusion::functions::crypto::expr_fn::sha256(c),
            lit("hex"),
        ),
        _ => mask_expr(c),
    }
}

/// `_quarantine` keeps what was rejected, personal values included: the
/// rejected `value` of a personal column is masked like the column, and the
/// raw `record` of a source with personal columns is withheld.
fn quarantine_column(name: &str, c: Expr, masked: &[(String, String, Personal)]) -> Expr {
    use datafusion::logical_expr::when;
    let source = || datafusion::logical_expr::cast(col("source"), DataType::Utf8);
    match name {
        "value" => {
            let mut cases = masked.iter().map(|(t, k, p)| {
                (
                    source()
                        .eq(lit(t.clone()))
                        .and(col("column_name").eq(lit(k.clone()))),
                    apply(*p, c.clone()),
                )
            });
            let Some((w, t)) = cases.next() else {
                return c;
            };
            let mut b = when(w, t);
            for (w, t) in cases {
                b = b.when(w, t);
            }
            b.otherwise(c.clone()).unwrap_or(c)
        }
        "record" => {
            let mut tables: Vec<Expr> = masked.iter().map(|(t, _, _)| lit(t.clone())).collect();
            tables.dedup();
            when(
                source().in_list(tables, false),
                lit("(withheld: the record holds personal data)"),
            )
            .otherwise(c.clone())
            .unwrap_or(c)
        }
        _ => c,
    }
}

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

fn mask_expr(e: Expr) -> Expr {
    mask_udf().call(vec![datafusion::logical_expr::cast(e, DataType::Utf8)])
}

/// `****5678` for digit-like values (phones, cards), `C***` for names.
pub fn mask_value(v: &str) -> String {
    let chars: Vec<char> = v.chars().collect();
    let digits = chars.iter().filter(|c| c.is_ascii_digit()).count();
    if digits >= 6 && digits * 2 >= chars.len() {
        let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
        format!("****{tail}")
    } else {
        match chars.first() {
            Some(c) => format!("{c}***"),
            None => String::new(),
        }
    }
}

fn mask_udf() -> datafusion::logical_expr::ScalarUDF {
    create_udf(
        "pii_mask",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let a = arrays[0]
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| DataFusionError::Internal("pii_mask takes text".into()))?;
            let out: StringArray = a.iter().map(|v| v.map(mask_value)).collect();
            let out: ArrayRef = Arc::new(out);
            if matches!(args[0], ColumnarValue::Scalar(_)) {
                Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
            } else {
                Ok(ColumnarValue::Array(out))
            }
        }),
    )
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
pub async fn plan_schema(
    ctx: &SessionContext,
    sql: &str,
) -> Result<SchemaRef, (String, Option<(usize, usize)>, Option<String>)> {
    match ctx.sql(sql).await {
        Ok(df) => Ok(Arc::new(df.schema().as_arrow().clone())),
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
pub fn describe_error(e: &DataFusionError) -> String {
    if let Some(d) = e.diagnostic() {
        return d.message.clone();
    }
    let root = e.find_root();
    let s = root.to_string();
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
    fn masks_numbers_and_names() {
        assert_eq!(mask_value("+852 9123 4567"), "****4567");
        assert_eq!(mask_value("4000123412341234"), "****1234");
        assert_eq!(mask_value("Chan Tai Man"), "C***");
        assert_eq!(mask_value(""), "");
    }

    #[test]
    fn finds_whole_words() {
        assert_eq!(
            find_word("select a,\n  amount_x, amount from t", "amount"),
            Some((2, 13))
        );
        assert_eq!(find_word("select x", "amount"), None);
    }
}
