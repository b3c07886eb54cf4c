//! Which statements are keyed lookups, and what they ask for.
//!
//! The statement's text only says where the looked-up value is: the
//! `WHERE key = value` of a single-table `SELECT`. The value is replaced by
//! a parameter and the rest is planned by DataFusion on the reader's session,
//! once per distinct statement shape; the plan, not the text, decides whether
//! the shape is one this module answers — `Projection`s of plain columns, at
//! most one `Sort` by plain columns, a `Limit` of literals, over
//! `Filter: key = $1` over the table as the session reads it. Anything else (a join, an
//! aggregate, a function of a column, a second condition) is left to
//! DataFusion.

use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::{Column, DFSchema};
use datafusion::logical_expr::{
    Expr, FetchType, LogicalPlan, Operator, SkipType, expr::BinaryExpr,
};
use datafusion::sql::sqlparser::ast::{self, visit_expressions};
use std::ops::ControlFlow;
use std::sync::Arc;

/// Where the looked-up value comes from.
#[derive(Debug, Clone)]
pub enum Value {
    /// A constant expression in the statement's text.
    Expr(Box<ast::Expr>),
    /// A bound parameter (`$1`) of a prepared statement.
    Param(String),
}

/// A statement split into its shape (the value replaced by `$1`) and value.
#[derive(Debug, Clone)]
pub struct Split {
    pub shape: Arc<ast::Statement>,
    /// The shape's text: what the plan of the shape is kept under.
    pub text: Arc<str>,
    pub value: Value,
}

/// The statement's shape and value, when it is a `SELECT … WHERE a = b`
/// with a column on one side and a constant on the other.
pub fn split(stmt: &ast::Statement) -> Option<Split> {
    let ast::Statement::Query(q) = stmt else {
        return None;
    };
    let ast::SetExpr::Select(s) = q.body.as_ref() else {
        return None;
    };
    // Cheap refusals first: what is not a lookup is never planned twice.
    let plain = |i: &ast::SelectItem| match i {
        ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
            is_column(e)
        }
        ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..) => true,
        _ => false,
    };
    let one_table = matches!(s.from.as_slice(),
        [t] if t.joins.is_empty() && matches!(&t.relation,
            ast::TableFactor::Table { name, args: None, .. } if !is_catalog(name)));
    let ungrouped = matches!(&s.group_by,
        ast::GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty());
    if q.with.is_some()
        || s.distinct.is_some()
        || s.having.is_some()
        || !one_table
        || !ungrouped
        || !s.projection.iter().all(plain)
    {
        return None;
    }
    let Some(ast::Expr::BinaryOp {
        left,
        op: ast::BinaryOperator::Eq,
        right,
    }) = &s.selection
    else {
        return None;
    };
    let value_right = if is_column(left) && is_constant(right) {
        true
    } else if is_column(right) && is_constant(left) {
        false
    } else {
        return None;
    };
    let value = if value_right { right } else { left };
    let placeholders = placeholders(stmt);
    match value.as_ref() {
        ast::Expr::Value(v) if placeholders == 1 => match &v.value {
            ast::Value::Placeholder(p) => Some(Split {
                shape: Arc::new(stmt.clone()),
                text: stmt.to_string().into(),
                value: Value::Param(p.clone()),
            }),
            _ => None,
        },
        // A parameter elsewhere (`LIMIT $1`) would clash with the `$1`
        // put in the value's place.
        _ if placeholders == 0 => {
            let mut shape = stmt.clone();
            let param = ast::Expr::Value(ast::Value::Placeholder("$1".into()).with_empty_span());
            let old = replace_value(&mut shape, value_right, param)?;
            Some(Split {
                text: shape.to_string().into(),
                shape: Arc::new(shape),
                value: Value::Expr(Box::new(old)),
            })
        }
        _ => None,
    }
}

fn replace_value(stmt: &mut ast::Statement, right: bool, by: ast::Expr) -> Option<ast::Expr> {
    let ast::Statement::Query(q) = stmt else {
        return None;
    };
    let ast::SetExpr::Select(s) = q.body.as_mut() else {
        return None;
    };
    let Some(ast::Expr::BinaryOp { left, right: r, .. }) = &mut s.selection else {
        return None;
    };
    let side = if right { r } else { left };
    Some(std::mem::replace(side.as_mut(), by))
}

/// The catalog's tables are computed per query; BI tools' catalog queries
/// go to DataFusion as they always did.
fn is_catalog(name: &ast::ObjectName) -> bool {
    name.0.len() > 1
        && name.0[name.0.len() - 2].as_ident().is_some_and(|i| {
            let s = i.value.to_ascii_lowercase();
            s == "pg_catalog" || s == "information_schema"
        })
}

fn is_column(e: &ast::Expr) -> bool {
    matches!(
        e,
        ast::Expr::Identifier(_) | ast::Expr::CompoundIdentifier(_)
    )
}

/// No column, no subquery: a value the statement computes once.
fn is_constant(e: &ast::Expr) -> bool {
    let found = visit_expressions(e, |x| match x {
        ast::Expr::Identifier(_)
        | ast::Expr::CompoundIdentifier(_)
        | ast::Expr::CompoundFieldAccess { .. }
        | ast::Expr::Subquery(_)
        | ast::Expr::Exists { .. }
        | ast::Expr::InSubquery { .. } => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    });
    found.is_continue()
}

fn placeholders(stmt: &ast::Statement) -> usize {
    let mut n = 0;
    let _ = visit_expressions(stmt, |x| {
        if let ast::Expr::Value(v) = x
            && matches!(v.value, ast::Value::Placeholder(_))
        {
            n += 1;
        }
        ControlFlow::<()>::Continue(())
    });
    n
}

/// What a keyed lookup's plan asks for, in the table's column numbers.
pub struct Template {
    /// The table as the reader's session sees it (masked, scoped): the
    /// plan under the `Filter`, `SELECT * FROM t`.
    pub source: Arc<LogicalPlan>,
    /// `source` in words: copies of one session are told apart by it.
    pub name: String,
    /// The table's name.
    pub table: String,
    /// The key column.
    pub key: usize,
    /// The answer's columns.
    pub columns: Vec<usize>,
    pub schema: SchemaRef,
    /// `ORDER BY`, applied before `skip` and `fetch`.
    pub order: Vec<(usize, SortOptions)>,
    pub skip: usize,
    pub fetch: Option<usize>,
}

/// The template of `plan` (the planned shape), when it is a keyed lookup.
pub fn template(plan: &LogicalPlan) -> Option<Template> {
    let mut node = plan;
    let (mut skip, mut fetch) = (0, None);
    if let LogicalPlan::Limit(l) = node {
        skip = match l.get_skip_type().ok()? {
            SkipType::Literal(n) => n,
            SkipType::UnsupportedExpr => return None,
        };
        fetch = match l.get_fetch_type().ok()? {
            FetchType::Literal(n) => n,
            FetchType::UnsupportedExpr => return None,
        };
        node = l.input.as_ref();
    }
    // Projections and at most one Sort, top down, to the Filter.
    let mut above = Vec::new();
    let filter = loop {
        match node {
            LogicalPlan::Projection(p) => {
                above.push(node);
                node = p.input.as_ref();
            }
            LogicalPlan::Sort(s) if s.fetch.is_none() => {
                above.push(node);
                node = s.input.as_ref();
            }
            LogicalPlan::Filter(f) => break f,
            _ => return None,
        }
    };
    let key_column = match &filter.predicate {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => match (left.as_ref(), right.as_ref()) {
            (Expr::Column(c), Expr::Placeholder(p)) | (Expr::Placeholder(p), Expr::Column(c))
                if p.id == "$1" =>
            {
                c
            }
            _ => return None,
        },
        _ => return None,
    };
    let width = filter.input.schema().fields().len();
    // Each level's columns as the table's column numbers.
    let mut lineage: Vec<usize> = (0..width).collect();
    let key = lineage[position(filter.input.schema(), key_column)?];
    // Keys compared as they are (see `key_value`); a dictionary-encoded
    // partition column, for one, is left to DataFusion's pruning.
    let key_type = filter.input.schema().field(key).data_type();
    if !(key_type.is_integer()
        || matches!(
            key_type,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Date32
        ))
    {
        return None;
    }
    let mut order = None;
    for level in above.iter().rev() {
        match level {
            LogicalPlan::Projection(p) => {
                let schema = p.input.schema();
                lineage = p
                    .expr
                    .iter()
                    .map(|e| match e.clone().unalias() {
                        Expr::Column(c) => position(schema, &c).map(|i| lineage[i]),
                        _ => None,
                    })
                    .collect::<Option<_>>()?;
            }
            LogicalPlan::Sort(s) => {
                if order.is_some() {
                    return None;
                }
                let schema = s.input.schema();
                order = Some(
                    s.expr
                        .iter()
                        .map(|e| match &e.expr {
                            Expr::Column(c) => position(schema, c).map(|i| {
                                let descending = !e.asc;
                                (lineage[i], SortOptions::new(descending, e.nulls_first))
                            }),
                            _ => None,
                        })
                        .collect::<Option<Vec<_>>>()?,
                );
            }
            _ => return None,
        }
    }
    // The table itself, without the names the statement gave it (`FROM t
    // AS x` and `FROM t` read one copy).
    let mut source = filter.input.clone();
    let mut alias = None;
    while let LogicalPlan::SubqueryAlias(a) = source.as_ref() {
        alias = Some(a.alias.to_string());
        source = a.input.clone();
    }
    let table = match source.as_ref() {
        LogicalPlan::TableScan(scan) => scan.table_name.to_string(),
        _ => alias?,
    };
    Some(Template {
        name: format!("{table}\n{}", source.display_indent()),
        table,
        source,
        key,
        columns: lineage,
        schema: Arc::new(plan.schema().as_arrow().clone()),
        order: order.unwrap_or_default(),
        skip,
        fetch,
    })
}

fn position(schema: &DFSchema, c: &Column) -> Option<usize> {
    schema.index_of_column(c).ok()
}
