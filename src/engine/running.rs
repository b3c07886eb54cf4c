//! Running aggregates. `SUM`, `MIN` and `MAX` over `ROWS BETWEEN UNBOUNDED
//! PRECEDING AND CURRENT ROW` (or `AND n PRECEDING`) are one value carried
//! down each partition. DataFusion 55 evaluates such a frame through the
//! aggregate's accumulator, row by row: a one-row slice of every argument,
//! an update, then a `ScalarValue` (`loyalty_ladder`'s five such windows
//! took 2.01 s of CPU at 100k customers, 1.32 s carried; the rest is the
//! window node's work per partition). The optimizer rule here puts a window
//! function that carries the value (a compare or an add per row) in the
//! aggregate's place, under the same output name, so the SQL stays standard
//! and the plan above the window does not change. Anything it is not sure
//! of (other frames, `DISTINCT`, `FILTER`, other types) it leaves alone.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use datafusion::arrow::datatypes::*;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, ScalarValue, internal_datafusion_err};
use datafusion::error::Result;
use datafusion::logical_expr::expr::{WindowFunction, WindowFunctionParams};
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    Expr, ExprSchemable, LogicalPlan, PartitionEvaluator, Signature, Volatility, WindowFrame,
    WindowFrameBound, WindowFrameUnits, WindowFunctionDefinition, WindowUDF, WindowUDFImpl, cast,
    logical_plan::Window,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

/// The longest `n PRECEDING` carried (the evaluator keeps `n` values back).
const MAX_LAG: u64 = 1024;

/// The optimizer rule: every running `SUM`/`MIN`/`MAX` becomes a carried value.
#[derive(Debug, Default)]
pub struct RunningAggregates;

impl OptimizerRule for RunningAggregates {
    fn name(&self) -> &str {
        "running_aggregates"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Window(window) = plan else {
            return Ok(Transformed::no(plan));
        };
        let input_schema = Arc::clone(window.input.schema());
        let mut changed = false;
        let mut exprs = Vec::with_capacity(window.window_expr.len());
        for expr in window.window_expr {
            match carried(&expr, &input_schema)? {
                Some(new) => {
                    changed = true;
                    exprs.push(new);
                }
                None => exprs.push(expr),
            }
        }
        // The same output fields, so nothing above needs to know.
        let window = Window::try_new_with_schema(exprs, window.input, window.schema)?;
        Ok(Transformed::new_transformed(
            LogicalPlan::Window(window),
            changed,
        ))
    }
}

/// `expr` as a carried running value under its own name, when it is one.
fn carried(expr: &Expr, schema: &DFSchema) -> Result<Option<Expr>> {
    let Expr::WindowFunction(function) = expr else {
        return Ok(None);
    };
    let WindowFunctionDefinition::AggregateUDF(aggregate) = &function.fun else {
        return Ok(None);
    };
    let kind = match aggregate.name() {
        "sum" => Kind::Sum,
        "min" => Kind::Min,
        "max" => Kind::Max,
        _ => return Ok(None),
    };
    let params = &function.params;
    let [arg] = params.args.as_slice() else {
        return Ok(None);
    };
    if params.filter.is_some() || params.distinct || params.null_treatment.is_some() {
        return Ok(None);
    }
    let Some(lag) = lag(&params.window_frame) else {
        return Ok(None);
    };
    let out = expr.get_type(schema)?;
    if !kind.carries(&out) {
        return Ok(None);
    }
    let arg = match (arg.get_type(schema)?, &out) {
        (t, out) if &t == out => arg.clone(),
        // SUM widens a decimal's precision by 10; the value is the same.
        (DataType::Decimal128(_, s), DataType::Decimal128(_, out_s)) if s == *out_s => {
            cast(arg.clone(), out.clone())
        }
        _ => return Ok(None),
    };
    let running = WindowUDF::new_from_impl(Running::new(kind, lag));
    let replaced = Expr::from(WindowFunction {
        fun: WindowFunctionDefinition::WindowUDF(Arc::new(running)),
        params: WindowFunctionParams {
            args: vec![arg],
            ..params.clone()
        },
    });
    Ok(Some(replaced.alias(expr.schema_name().to_string())))
}

/// How many rows before the current one the frame ends, for a frame that
/// starts at the partition's first row; `None` for any other frame.
fn lag(frame: &WindowFrame) -> Option<usize> {
    if frame.units != WindowFrameUnits::Rows || !frame.start_bound.is_unbounded() {
        return None;
    }
    let n = match &frame.end_bound {
        WindowFrameBound::CurrentRow => 0,
        WindowFrameBound::Preceding(ScalarValue::UInt64(Some(n))) => *n,
        WindowFrameBound::Preceding(ScalarValue::Int64(Some(n))) => u64::try_from(*n).ok()?,
        _ => return None,
    };
    (n <= MAX_LAG).then_some(n as usize)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    Sum,
    Min,
    Max,
}

impl Kind {
    /// The result types carried: those `SUM` returns (its argument already
    /// widened), and the ordered primitive types for `MIN`/`MAX`.
    fn carries(self, t: &DataType) -> bool {
        use DataType::*;
        match self {
            Kind::Sum => matches!(t, Int64 | UInt64 | Float64 | Decimal128(_, _)),
            Kind::Min | Kind::Max => matches!(
                t,
                Int8 | Int16
                    | Int32
                    | Int64
                    | UInt8
                    | UInt16
                    | UInt32
                    | UInt64
                    | Float32
                    | Float64
                    | Decimal128(_, _)
                    | Date32
                    | Date64
                    | Timestamp(_, _)
            ),
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Running {
    kind: Kind,
    lag: usize,
    name: String,
    signature: Signature,
}

impl Running {
    fn new(kind: Kind, lag: usize) -> Self {
        let what = match kind {
            Kind::Sum => "sum",
            Kind::Min => "min",
            Kind::Max => "max",
        };
        let name = match lag {
            0 => format!("running_{what}"),
            n => format!("running_{what}_to_{n}_preceding"),
        };
        Running {
            kind,
            lag,
            name,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl WindowUDFImpl for Running {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        let field = args
            .input_fields()
            .first()
            .ok_or_else(|| internal_datafusion_err!("{} takes one argument", self.name))?;
        evaluator(self.kind, self.lag, field.data_type())
    }

    fn field(&self, args: WindowUDFFieldArgs) -> Result<FieldRef> {
        let input = args
            .get_input_field(0)
            .ok_or_else(|| internal_datafusion_err!("{} takes one argument", self.name))?;
        Ok(Arc::new(Field::new(
            args.name(),
            input.data_type().clone(),
            true,
        )))
    }
}

/// The kind and lag of a window function that is one of this module's
/// running aggregates (see `running_window`, which runs them in one pass).
pub(super) fn carried_by(udf: &WindowUDF) -> Option<(Kind, usize)> {
    udf.inner()
        .downcast_ref::<Running>()
        .map(|r| (r.kind, r.lag))
}

/// `$make!(ArrowType)` for the Arrow type of `$t`, a carried type.
macro_rules! with_carry {
    ($t:expr, $make:ident) => {{
        use DataType::*;
        match $t {
            Int8 => $make!(Int8Type),
            Int16 => $make!(Int16Type),
            Int32 => $make!(Int32Type),
            Int64 => $make!(Int64Type),
            UInt8 => $make!(UInt8Type),
            UInt16 => $make!(UInt16Type),
            UInt32 => $make!(UInt32Type),
            UInt64 => $make!(UInt64Type),
            Float32 => $make!(Float32Type),
            Float64 => $make!(Float64Type),
            Decimal128(_, _) => $make!(Decimal128Type),
            Date32 => $make!(Date32Type),
            Date64 => $make!(Date64Type),
            Timestamp(TimeUnit::Second, _) => $make!(TimestampSecondType),
            Timestamp(TimeUnit::Millisecond, _) => $make!(TimestampMillisecondType),
            Timestamp(TimeUnit::Microsecond, _) => $make!(TimestampMicrosecondType),
            Timestamp(TimeUnit::Nanosecond, _) => $make!(TimestampNanosecondType),
            other => Err(internal_datafusion_err!(
                "no running aggregate over {other}"
            )),
        }
    }};
}

fn evaluator(kind: Kind, lag: usize, t: &DataType) -> Result<Box<dyn PartitionEvaluator>> {
    macro_rules! carry {
        ($arrow:ty) => {
            Ok(Box::new(Carry::<$arrow>::new(kind, lag, t.clone())))
        };
    }
    with_carry!(t, carry)
}

/// A running aggregate over a stream of rows in which partitions start at
/// given rows: what `running_window` keeps per window expression.
pub(super) trait Carrier: Send {
    /// The results for `values` (one batch), starting the running value
    /// afresh at each row in `starts` (ascending).
    fn carry(&mut self, values: &ArrayRef, starts: &[usize]) -> Result<ArrayRef>;
}

pub(super) fn carrier(kind: Kind, lag: usize, t: &DataType) -> Result<Box<dyn Carrier>> {
    macro_rules! carry {
        ($arrow:ty) => {
            Ok(Box::new(Carry::<$arrow>::new(kind, lag, t.clone())))
        };
    }
    with_carry!(t, carry)
}

/// One partition's running value, and the last `lag` values for a frame
/// that ends `lag` rows back.
#[derive(Debug)]
struct Carry<T: ArrowPrimitiveType> {
    kind: Kind,
    lag: usize,
    data_type: DataType,
    value: Option<T::Native>,
    back: VecDeque<Option<T::Native>>,
}

impl<T: ArrowPrimitiveType> Carry<T> {
    fn new(kind: Kind, lag: usize, data_type: DataType) -> Self {
        Carry {
            kind,
            lag,
            data_type,
            value: None,
            back: VecDeque::with_capacity(lag + 1),
        }
    }

    /// Take in the next row's value; the frame's result for that row.
    fn push(&mut self, next: Option<T::Native>) -> Option<T::Native> {
        if let Some(v) = next {
            self.value = Some(match (self.kind, self.value) {
                // DataFusion's sum starts from zero (0.0 + -0.0 is 0.0),
                // wraps on overflow, and adds in row order: so does this.
                (Kind::Sum, s) => s.unwrap_or(T::Native::ZERO).add_wrapping(v),
                // Total order for floats, as DataFusion's MIN/MAX.
                (Kind::Max, Some(s)) if !v.is_gt(s) => s,
                (Kind::Min, Some(s)) if !v.is_lt(s) => s,
                (Kind::Max | Kind::Min, _) => v,
            });
        }
        if self.lag == 0 {
            return self.value;
        }
        self.back.push_back(self.value);
        if self.back.len() > self.lag {
            self.back.pop_front().flatten()
        } else {
            None
        }
    }

    /// A new partition: nothing carried.
    fn reset(&mut self) {
        self.value = None;
        self.back.clear();
    }

    /// The one argument, as the type this evaluator was made for.
    fn input(values: &[ArrayRef]) -> Result<&PrimitiveArray<T>> {
        values
            .first()
            .and_then(|a| a.as_primitive_opt::<T>())
            .ok_or_else(|| internal_datafusion_err!("running aggregate: unexpected input"))
    }
}

impl<T: ArrowPrimitiveType + std::fmt::Debug> PartitionEvaluator for Carry<T> {
    fn is_causal(&self) -> bool {
        true
    }

    fn supports_bounded_execution(&self) -> bool {
        true
    }

    fn evaluate(&mut self, values: &[ArrayRef], range: &Range<usize>) -> Result<ScalarValue> {
        let array = Self::input(values)?;
        let i = range.start;
        let out = self.push(array.is_valid(i).then(|| array.value(i)));
        ScalarValue::new_primitive::<T>(out, &self.data_type)
    }

    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let array = Self::input(values)?;
        let out: PrimitiveArray<T> = (0..num_rows)
            .map(|i| self.push(array.is_valid(i).then(|| array.value(i))))
            .collect();
        Ok(Arc::new(out.with_data_type(self.data_type.clone())))
    }
}

impl<T: ArrowPrimitiveType + std::fmt::Debug> Carrier for Carry<T> {
    fn carry(&mut self, values: &ArrayRef, starts: &[usize]) -> Result<ArrayRef> {
        let array = Self::input(std::slice::from_ref(values))?;
        let mut starts = starts.iter().peekable();
        let out: PrimitiveArray<T> = (0..array.len())
            .map(|i| {
                if starts.next_if_eq(&&i).is_some() {
                    self.reset();
                }
                self.push(array.is_valid(i).then(|| array.value(i)))
            })
            .collect();
        Ok(Arc::new(out.with_data_type(self.data_type.clone())))
    }
}

#[cfg(test)]
#[path = "running_tests.rs"]
pub(super) mod tests;
