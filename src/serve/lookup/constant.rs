//! The value a lookup looks for, when the statement computes it
//! (`'C' || lpad('42', 7, '0')`): evaluated as DataFusion would, but
//! planned once per expression shape. The shape is the expression with its
//! quoted texts and integers made the columns of a one-row batch; it is
//! used only when DataFusion's type coercion treats those columns exactly
//! as it treated the literals (checked on the first expression of the
//! shape), so the function calls and casts are the same ones.

use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::execution::SessionState;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{ColumnarValue, Expr, Volatility};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::sql::sqlparser::ast::{self, visit_expressions_mut};
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

/// Expression shapes remembered.
const SHAPES: usize = 1024;
/// The columns literals become (no column of a constant can clash).
const SLOT: &str = "__touchpoint_literal_";

/// A constant expression shape, planned.
struct Planned {
    expr: Arc<dyn PhysicalExpr>,
    schema: SchemaRef,
}

#[derive(Default)]
pub struct Constants {
    /// Shape text → its plan (`None`: evaluate each one whole).
    shapes: Mutex<HashMap<String, Option<Arc<Planned>>>>,
}

impl Constants {
    /// The value of constant expression `e`; `None` for what is not
    /// evaluated once per statement (`now()`, `random()`) or fails.
    pub fn value(&self, state: &SessionState, e: &ast::Expr) -> Option<ScalarValue> {
        // The common case, a quoted text, needs no planning.
        if let ast::Expr::Value(v) = e
            && let ast::Value::SingleQuotedString(s) = &v.value
        {
            return Some(ScalarValue::Utf8(Some(s.clone())));
        }
        let (shape, values) = slots(e);
        if values.is_empty() {
            return whole(state, e);
        }
        let key = shape.to_string();
        let known = self
            .shapes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        let planned = match known {
            Some(p) => p,
            None => {
                let p = plan(state, &shape, &values, e).map(Arc::new);
                let mut shapes = self.shapes.lock().unwrap_or_else(|p| p.into_inner());
                if shapes.len() >= SHAPES {
                    shapes.clear();
                }
                shapes.insert(key, p.clone());
                p
            }
        };
        match planned {
            Some(p) => evaluate(&p, &values).or_else(|| whole(state, e)),
            None => whole(state, e),
        }
    }
}

/// `e` with its quoted texts and integers replaced by slot columns, and
/// their values in slot order.
fn slots(e: &ast::Expr) -> (ast::Expr, Vec<ScalarValue>) {
    let mut shape = e.clone();
    let mut values = Vec::new();
    let _ = visit_expressions_mut(&mut shape, |x| {
        if let ast::Expr::Value(v) = x {
            let value = match &v.value {
                ast::Value::SingleQuotedString(s) => Some(ScalarValue::Utf8(Some(s.clone()))),
                ast::Value::Number(n, false) => n
                    .to_string()
                    .parse::<i64>()
                    .ok()
                    .map(|i| ScalarValue::Int64(Some(i))),
                _ => None,
            };
            if let Some(value) = value {
                *x = ast::Expr::Identifier(ast::Ident::new(format!("{SLOT}{}", values.len())));
                values.push(value);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    (shape, values)
}

fn logical(state: &SessionState, e: &ast::Expr, schema: &DFSchema) -> Option<Expr> {
    let with_alias = ast::ExprWithAlias {
        expr: e.clone(),
        alias: None,
    };
    let expr = state
        .create_logical_expr_from_sql_expr(with_alias, schema)
        .ok()?;
    let varies = expr
        .exists(|x| {
            Ok(matches!(x, Expr::ScalarFunction(f)
                if f.func.signature().volatility != Volatility::Immutable))
        })
        .ok()?;
    (!varies).then_some(expr)
}

fn coerced(state: &SessionState, e: Expr, schema: &DFSchema) -> Option<Expr> {
    let context = SimplifyContext::builder()
        .with_schema(Arc::new(schema.clone()))
        .with_config_options(state.config_options().clone())
        .build();
    ExprSimplifier::new(context).coerce(e, schema).ok()
}

/// The shape planned, when its coerced form, literals put back, is the
/// coerced form of the expression `original` it was taken from.
fn plan(
    state: &SessionState,
    shape: &ast::Expr,
    values: &[ScalarValue],
    original: &ast::Expr,
) -> Option<Planned> {
    let fields: Vec<Field> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Field::new(format!("{SLOT}{i}"), v.data_type(), false))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let columns = DFSchema::try_from(schema.as_ref().clone()).ok()?;
    let shaped = logical(state, shape, &columns)?;
    let literal = logical(state, original, &DFSchema::empty())?;
    let put_back = coerced(state, shaped.clone(), &columns)?
        .transform(|x| match &x {
            Expr::Column(c) => match c.name.strip_prefix(SLOT).and_then(|i| i.parse().ok()) {
                Some(i) => Ok(Transformed::yes(Expr::Literal(
                    values.get::<usize>(i).cloned().unwrap_or(ScalarValue::Null),
                    None,
                ))),
                None => Ok(Transformed::no(x)),
            },
            _ => Ok(Transformed::no(x)),
        })
        .ok()?
        .data;
    if put_back != coerced(state, literal, &DFSchema::empty())? {
        return None;
    }
    let expr = state.create_physical_expr(shaped, &columns).ok()?;
    Some(Planned { expr, schema })
}

fn evaluate(p: &Planned, values: &[ScalarValue]) -> Option<ScalarValue> {
    let columns = values
        .iter()
        .map(|v| v.to_array_of_size(1))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    let batch = RecordBatch::try_new(p.schema.clone(), columns).ok()?;
    one(p.expr.evaluate(&batch).ok()?)
}

fn one(v: ColumnarValue) -> Option<ScalarValue> {
    match v {
        ColumnarValue::Scalar(v) => Some(v),
        ColumnarValue::Array(a) if a.len() == 1 => ScalarValue::try_from_array(&a, 0).ok(),
        ColumnarValue::Array(_) => None,
    }
}

/// `e` planned and evaluated on its own.
fn whole(state: &SessionState, e: &ast::Expr) -> Option<ScalarValue> {
    let schema = DFSchema::empty();
    let expr = logical(state, e, &schema)?;
    // Coerced as the planner would, then evaluated once on one row of
    // nothing (cheaper than the simplifier's passes).
    let physical = state.create_physical_expr(expr, &schema).ok()?;
    let nothing = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )
    .ok()?;
    one(physical.evaluate(&nothing).ok()?)
}

#[cfg(test)]
impl Constants {
    /// The shapes planned once (not evaluated whole each time).
    pub fn planned(&self) -> Vec<String> {
        let shapes = self.shapes.lock().unwrap_or_else(|p| p.into_inner());
        let mut planned: Vec<String> = shapes
            .iter()
            .filter(|(_, p)| p.is_some())
            .map(|(k, _)| k.replace(SLOT, "$"))
            .collect();
        planned.sort();
        planned
    }
}
