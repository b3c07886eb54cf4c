//! Column lineage: for each output column of a logical plan, the (table,
//! column) pairs of the scans whose values it may carry. Conservative: an
//! expression carries every column it reads, except counts (a count of
//! phones is not a phone), predicates (`EXISTS`, `IN (subquery)`) and a
//! window's partitioning and ordering. A plan shape it does not know is an
//! error, so the caller can fail closed.

use datafusion::common::DFSchema;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::expr::{AggregateFunction, WindowFunction};
use datafusion::logical_expr::{Expr, LogicalPlan, WindowFunctionDefinition};
use std::collections::BTreeSet;

/// What one column may carry: (table, column) pairs of scans.
pub type Carried = BTreeSet<(String, String)>;

/// Columns of an enclosing query a correlated subquery may name.
type Outer<'a> = Option<(&'a DFSchema, &'a [Carried])>;

/// What each output column of `plan` carries, in output order.
pub fn of_plan(plan: &LogicalPlan) -> Result<Vec<Carried>, String> {
    lineage(plan, None)
}

fn lineage(plan: &LogicalPlan, outer: Outer) -> Result<Vec<Carried>, String> {
    use LogicalPlan as P;
    Ok(match plan {
        P::TableScan(scan) => {
            let table = scan.table_name.table().to_string();
            scan.projected_schema
                .fields()
                .iter()
                .map(|f| Carried::from([(table.clone(), f.name().clone())]))
                .collect()
        }
        P::Projection(p) => {
            let input = lineage(&p.input, outer)?;
            p.expr
                .iter()
                .map(|e| carried(e, p.input.schema(), &input, outer))
                .collect::<Result<_, _>>()?
        }
        P::Filter(f) => lineage(&f.input, outer)?,
        P::Sort(s) => lineage(&s.input, outer)?,
        P::Limit(l) => lineage(&l.input, outer)?,
        P::Repartition(r) => lineage(&r.input, outer)?,
        P::SubqueryAlias(a) => lineage(&a.input, outer)?,
        P::Subquery(s) => lineage(&s.subquery, outer)?,
        P::Distinct(datafusion::logical_expr::Distinct::All(input)) => lineage(input, outer)?,
        P::Aggregate(a) => {
            let input = lineage(&a.input, outer)?;
            let mut out = Vec::new();
            for g in &a.group_expr {
                match g {
                    Expr::GroupingSet(set) => {
                        for e in set.distinct_expr() {
                            out.push(carried(e, a.input.schema(), &input, outer)?);
                        }
                    }
                    e => out.push(carried(e, a.input.schema(), &input, outer)?),
                }
            }
            for e in &a.aggr_expr {
                out.push(carried(e, a.input.schema(), &input, outer)?);
            }
            // Grouping sets add an internal grouping id.
            out.resize(a.schema.fields().len(), Carried::new());
            out
        }
        P::Window(w) => {
            let mut out = lineage(&w.input, outer)?;
            let input = out.clone();
            for e in &w.window_expr {
                out.push(carried(e, w.input.schema(), &input, outer)?);
            }
            out
        }
        P::Join(j) => {
            let (left, right) = (lineage(&j.left, outer)?, lineage(&j.right, outer)?);
            let n = j.schema.fields().len();
            if n == left.len() + right.len() {
                left.into_iter().chain(right).collect()
            } else if n == left.len() {
                left
            } else if n == right.len() {
                right
            } else if n == left.len() + 1 {
                // A mark join's extra column is a boolean.
                left.into_iter().chain([Carried::new()]).collect()
            } else {
                return Err(format!("a {} join of an unexpected shape", j.join_type));
            }
        }
        P::Union(u) => {
            let mut out = vec![Carried::new(); u.schema.fields().len()];
            for input in &u.inputs {
                for (i, c) in lineage(input, outer)?.into_iter().enumerate() {
                    if let Some(o) = out.get_mut(i) {
                        o.extend(c);
                    }
                }
            }
            out
        }
        P::Values(v) => vec![Carried::new(); v.schema.fields().len()],
        P::EmptyRelation(e) => vec![Carried::new(); e.schema.fields().len()],
        other => {
            return Err(format!(
                "`{}` is not a plan step whose columns can be traced",
                other.display()
            ));
        }
    })
}

/// What an expression over `input` (its schema and lineage) carries.
fn carried(
    e: &Expr,
    schema: &DFSchema,
    input: &[Carried],
    outer: Outer,
) -> Result<Carried, String> {
    let mut out = Carried::new();
    let mut failed: Option<String> = None;
    let walk = e.apply(|x| {
        match x {
            Expr::Column(c) => match schema.index_of_column(c) {
                Ok(i) => out.extend(input.get(i).cloned().unwrap_or_default()),
                Err(_) => failed = Some(format!("column `{c}` not found in its input")),
            },
            Expr::OuterReferenceColumn(_, c) => match outer {
                Some((s, l)) => match s.index_of_column(c) {
                    Ok(i) => out.extend(l.get(i).cloned().unwrap_or_default()),
                    Err(_) => failed = Some(format!("outer column `{c}` not found")),
                },
                None => failed = Some(format!("outer column `{c}` without an outer query")),
            },
            Expr::ScalarSubquery(s) => {
                match lineage(&s.subquery, Some((schema, input))) {
                    Ok(cols) => {
                        for c in cols {
                            out.extend(c);
                        }
                    }
                    Err(why) => failed = Some(why),
                }
                return Ok(TreeNodeRecursion::Jump);
            }
            // A yes/no about other rows carries none of their values.
            Expr::Exists(_) | Expr::InSubquery(_) | Expr::SetComparison(_) => {
                return Ok(TreeNodeRecursion::Jump);
            }
            Expr::AggregateFunction(AggregateFunction { func, .. }) if counts(func.name()) => {
                return Ok(TreeNodeRecursion::Jump);
            }
            Expr::WindowFunction(w) => {
                let WindowFunction { fun, params } = w.as_ref();
                let counted = match fun {
                    WindowFunctionDefinition::AggregateUDF(f) => counts(f.name()),
                    WindowFunctionDefinition::WindowUDF(_) => false,
                };
                if !counted {
                    for a in &params.args {
                        match carried(a, schema, input, outer) {
                            Ok(c) => out.extend(c),
                            Err(why) => failed = Some(why),
                        }
                    }
                }
                return Ok(TreeNodeRecursion::Jump);
            }
            _ => {}
        }
        Ok(TreeNodeRecursion::Continue)
    });
    walk.map_err(|e| e.to_string())?;
    match failed {
        Some(why) => Err(why),
        None => Ok(out),
    }
}

/// Aggregates whose result is a count, not a value of their argument.
fn counts(name: &str) -> bool {
    matches!(name, "count" | "approx_distinct")
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;
    use std::sync::Arc;

    async fn traced(sql: &str) -> Vec<(String, Vec<String>)> {
        let ctx = SessionContext::new();
        for (t, cols) in [
            ("customers", ["customer_id", "full_name", "phone"]),
            ("cards", ["customer_id", "card_number", "amount"]),
        ] {
            let schema = Arc::new(Schema::new(
                cols.iter()
                    .map(|c| Field::new(*c, DataType::Utf8, true))
                    .collect::<Vec<_>>(),
            ));
            let table = MemTable::try_new(schema, vec![vec![]]).expect("table");
            ctx.register_table(t, Arc::new(table)).expect("register");
        }
        let df = ctx.sql(sql).await.expect("plans");
        let plan = df.logical_plan();
        let names: Vec<String> = plan
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let cols = of_plan(plan).expect("traced");
        names
            .into_iter()
            .zip(cols)
            .map(|(n, c)| (n, c.into_iter().map(|(t, c)| format!("{t}.{c}")).collect()))
            .collect()
    }

    fn col<'a>(t: &'a [(String, Vec<String>)], name: &str) -> &'a [String] {
        &t.iter().find(|(n, _)| n == name).expect("column").1
    }

    #[tokio::test]
    async fn aliases_expressions_ctes_and_joins_carry_their_sources() {
        let t = traced(
            "WITH x AS (SELECT customer_id, phone AS p FROM customers)
             SELECT x.customer_id, upper(x.p) AS contact_phone, c.amount,
                    concat(x.p, c.card_number) AS both_
             FROM x JOIN cards c ON c.customer_id = x.customer_id",
        )
        .await;
        assert_eq!(col(&t, "contact_phone"), ["customers.phone"]);
        assert_eq!(col(&t, "amount"), ["cards.amount"]);
        assert_eq!(col(&t, "both_"), ["cards.card_number", "customers.phone"]);
        assert_eq!(col(&t, "customer_id"), ["customers.customer_id"]);
    }

    #[tokio::test]
    async fn counts_and_predicates_carry_nothing_but_values_do() {
        let t = traced(
            "SELECT customer_id, COUNT(phone) AS n, MAX(full_name) AS m,
                    (SELECT MIN(card_number) FROM cards) AS s,
                    EXISTS (SELECT 1 FROM cards WHERE cards.customer_id = customers.customer_id) AS e
             FROM customers GROUP BY customer_id",
        )
        .await;
        assert!(col(&t, "n").is_empty());
        assert_eq!(col(&t, "m"), ["customers.full_name"]);
        assert_eq!(col(&t, "s"), ["cards.card_number"]);
        assert!(col(&t, "e").is_empty());
    }

    #[tokio::test]
    async fn unions_and_windows() {
        let t =
            traced("SELECT full_name AS v FROM customers UNION ALL SELECT card_number FROM cards")
                .await;
        assert_eq!(col(&t, "v"), ["cards.card_number", "customers.full_name"]);
        let t = traced(
            "SELECT customer_id, lag(phone) OVER (PARTITION BY full_name ORDER BY customer_id) AS prev,
                    row_number() OVER (ORDER BY phone) AS r
             FROM customers",
        )
        .await;
        assert_eq!(col(&t, "prev"), ["customers.phone"]);
        assert!(col(&t, "r").is_empty());
    }
}
