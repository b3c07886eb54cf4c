//! Catalog queries as drivers write them, in a shape DataFusion plans:
//! SQLAlchemy's column reflection (what Superset runs at connect time)
//! selects correlated scalar subqueries over `pg_catalog` (`(SELECT
//! typcollation FROM pg_type WHERE oid = atttypid)`), which DataFusion
//! refuses unless aggregated. Over catalog tables each such subquery finds
//! at most one row, so `max(…)` of it is the same value. A catalog subquery
//! whose select list reads the outer row (SQLAlchemy's identity options)
//! cannot be decorrelated by DataFusion at all; it describes identity
//! columns and sequences, which this catalog never has, so it is NULL.
//! Subqueries that read a warehouse table are left as written.
//!
//! `pg_type`'s `regproc` columns (`typreceive`, …) hold function names in
//! the emulated catalog, as PostgreSQL displays them; drivers compare them
//! with the oid 0 (the ADBC PostgreSQL driver's `typreceive != 0`), which
//! PostgreSQL displays as `-`.

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, Query, SelectItem, SetExpr, Statement, TableFactor, Value,
    visit_expressions, visit_expressions_mut, visit_relations,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use std::ops::ControlFlow;

const AGGREGATES: &[&str] = &[
    "max",
    "min",
    "count",
    "sum",
    "avg",
    "array_agg",
    "string_agg",
];

/// The `regproc` columns of `pg_type` and `pg_proc`.
const REGPROC: &[&str] = &[
    "typinput",
    "typoutput",
    "typreceive",
    "typsend",
    "typmodin",
    "typmodout",
    "typanalyze",
    "typsubscript",
    "prosupport",
];

/// Whether `name` is a `regproc` column of the catalog, compared with 0 by
/// clients and rewritten here.
pub fn is_regproc(name: &str) -> bool {
    REGPROC.contains(&name.to_lowercase().as_str())
}

/// Every rewrite a catalog query needs, in place.
pub fn catalog_dialect(stmt: &mut Statement) {
    catalog_subqueries(stmt);
    regproc_zero(stmt);
}

/// `typreceive != 0` as `typreceive <> '-'` (and `= 0` likewise).
fn regproc_zero(stmt: &mut Statement) {
    let regproc_column = |e: &Expr| {
        let name = match e {
            Expr::Identifier(i) => &i.value,
            Expr::CompoundIdentifier(parts) => match parts.last() {
                Some(i) => &i.value,
                None => return false,
            },
            _ => return false,
        };
        is_regproc(name)
    };
    let is_zero = |e: &Expr| matches!(e, Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if n == "0"));
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::BinaryOp { left, op, right } = e
            && matches!(op, BinaryOperator::Eq | BinaryOperator::NotEq)
        {
            let dash = Expr::Value(Value::SingleQuotedString("-".into()).into());
            if regproc_column(left) && is_zero(right) {
                **right = dash;
            } else if is_zero(left) && regproc_column(right) {
                **left = dash;
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

fn catalog_subqueries(stmt: &mut Statement) {
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Subquery(q) = e {
            if only_catalog(q) && selects_outer_row(q) {
                *e = Expr::Value(datafusion::sql::sqlparser::ast::Value::Null.into());
            } else {
                aggregate(q);
                if let Some(hoisted) = hoist_outer_conditions(q) {
                    *e = hoisted;
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

fn only_catalog(q: &Query) -> bool {
    let mut any = false;
    let all = visit_relations(q, |r| {
        any = true;
        let first =
            r.0.first()
                .map(|p| p.to_string().to_lowercase())
                .unwrap_or_default();
        if first == "pg_catalog" || (r.0.len() == 1 && first.starts_with("pg_")) {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    });
    any && all.is_continue()
}

/// The names (tables and aliases) a subquery's FROM brings.
fn inner_names(select: &datafusion::sql::sqlparser::ast::Select) -> Vec<String> {
    let mut inner: Vec<String> = Vec::new();
    for t in &select.from {
        let rels = std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation));
        for r in rels {
            if let TableFactor::Table { name, alias, .. } = r {
                if let Some(last) = name.0.last() {
                    inner.push(last.to_string().to_lowercase());
                }
                if let Some(a) = alias {
                    inner.push(a.name.value.to_lowercase());
                }
            }
        }
    }
    inner
}

/// Whether `e` names columns, all of them of the outer query.
fn outer_only(e: &Expr, inner: &[String]) -> bool {
    let mut outer = 0;
    let mut other = false;
    let _ = visit_expressions(e, |x| {
        match x {
            Expr::CompoundIdentifier(parts)
                if parts.len() >= 2
                    && !inner.contains(&parts[parts.len() - 2].value.to_lowercase()) =>
            {
                outer += 1
            }
            Expr::CompoundIdentifier(_) | Expr::Identifier(_) | Expr::Subquery(_) => other = true,
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    outer > 0 && !other
}

/// `(SELECT … WHERE outer_cond AND rest)`, `outer_cond` over the outer row
/// only, as `CASE WHEN outer_cond THEN (SELECT … WHERE rest) END`: DataFusion
/// decorrelates the second, not the first.
fn hoist_outer_conditions(q: &mut Query) -> Option<Expr> {
    let SetExpr::Select(select) = q.body.as_mut() else {
        return None;
    };
    let inner = inner_names(select);
    let mut conjuncts = Vec::new();
    split_and(select.selection.take()?, &mut conjuncts);
    let (outer, rest): (Vec<Expr>, Vec<Expr>) =
        conjuncts.into_iter().partition(|c| outer_only(c, &inner));
    select.selection = rest.into_iter().reduce(|a, b| Expr::BinaryOp {
        left: Box::new(a),
        op: datafusion::sql::sqlparser::ast::BinaryOperator::And,
        right: Box::new(b),
    });
    if outer.is_empty() {
        return None;
    }
    let cond = outer
        .iter()
        .map(|c| format!("({c})"))
        .collect::<Vec<_>>()
        .join(" AND ");
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&format!("CASE WHEN {cond} THEN ({q}) END"))
        .and_then(|mut p| p.parse_expr())
        .ok()
}

fn split_and(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: datafusion::sql::sqlparser::ast::BinaryOperator::And,
            right,
        } => {
            split_and(*left, out);
            split_and(*right, out);
        }
        Expr::Nested(inner) if matches!(*inner, Expr::BinaryOp { .. }) => split_and(*inner, out),
        other => out.push(other),
    }
}

/// Whether the subquery's select list names a column of a table its FROM
/// does not have (a column of the outer query).
fn selects_outer_row(q: &Query) -> bool {
    let SetExpr::Select(select) = q.body.as_ref() else {
        return false;
    };
    let inner = inner_names(select);
    let mut outer = false;
    for item in &select.projection {
        let _ = visit_expressions(item, |e| {
            if let Expr::CompoundIdentifier(parts) = e
                && parts.len() >= 2
                && !inner.contains(&parts[parts.len() - 2].value.to_lowercase())
            {
                outer = true;
            }
            ControlFlow::<()>::Continue(())
        });
    }
    outer
}

fn aggregate(q: &mut Query) {
    if !only_catalog(q) {
        return;
    }
    let SetExpr::Select(select) = q.body.as_mut() else {
        return;
    };
    if !matches!(&select.group_by, GroupByExpr::Expressions(v, _) if v.is_empty()) {
        return;
    }
    let [item] = select.projection.as_mut_slice() else {
        return;
    };
    let expr = match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return,
    };
    if let Expr::Function(f) = expr
        && AGGREGATES.contains(&f.name.to_string().to_lowercase().as_str())
    {
        return;
    }
    let wrapped = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&format!("max({expr})"))
        .and_then(|mut p| p.parse_expr());
    if let Ok(w) = wrapped {
        *expr = w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(sql: &str) -> String {
        let mut s = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses");
        catalog_subqueries(&mut s[0]);
        s[0].to_string()
    }

    #[test]
    fn regproc_columns_compare_with_their_display_of_oid_zero() {
        let mut s = Parser::parse_sql(
            &PostgreSqlDialect {},
            "SELECT oid FROM pg_catalog.pg_type WHERE (typreceive != 0 OR t.typsend = 0) AND 0 <> typinput AND typlen != 0",
        )
        .expect("parses");
        catalog_dialect(&mut s[0]);
        assert_eq!(
            s[0].to_string(),
            "SELECT oid FROM pg_catalog.pg_type WHERE (typreceive <> '-' OR t.typsend = '-') AND '-' <> typinput AND typlen <> 0"
        );
    }

    #[test]
    fn only_catalog_subqueries_are_aggregated() {
        assert_eq!(
            rewrite(
                "SELECT (SELECT t.typcollation FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid) FROM pg_attribute a"
            ),
            "SELECT (SELECT max(t.typcollation) FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid) FROM pg_attribute a"
        );
        let user = "SELECT (SELECT c.region FROM customers c WHERE c.customer_id = o.customer_id) FROM churn_risk o";
        assert_eq!(
            rewrite(user),
            Parser::parse_sql(&PostgreSqlDialect {}, user).expect("p")[0].to_string()
        );
        let counted = "SELECT (SELECT count(*) FROM pg_class) AS n";
        assert_eq!(rewrite(counted), counted);
        assert_eq!(
            rewrite(
                "SELECT CASE WHEN a.attidentity != '' THEN (SELECT json_build_object('always', pg_catalog.pg_attribute.attidentity = 'a') FROM pg_catalog.pg_sequence) END FROM pg_catalog.pg_attribute"
            ),
            "SELECT CASE WHEN a.attidentity <> '' THEN NULL END FROM pg_catalog.pg_attribute"
        );
        assert_eq!(
            rewrite(
                "SELECT (SELECT d.adbin FROM pg_catalog.pg_attrdef d WHERE pg_attribute.atthasdef AND d.adnum = pg_attribute.attnum) FROM pg_catalog.pg_attribute"
            ),
            "SELECT CASE WHEN (pg_attribute.atthasdef) THEN (SELECT max(d.adbin) FROM pg_catalog.pg_attrdef d WHERE d.adnum = pg_attribute.attnum) END FROM pg_catalog.pg_attribute"
        );
    }
}
