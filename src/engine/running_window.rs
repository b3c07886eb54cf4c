//! Running aggregates and row numbers in one pass over the sorted rows.
//!
//! `running` puts a carried value in place of each running `SUM`/`MIN`/
//! `MAX`, but DataFusion 55's `BoundedWindowAggExec` still works partition
//! by partition: per batch it slices out every partition's rows, copies
//! them into that partition's buffer, and asks each window function for
//! one `ScalarValue` per row. With a partition per customer that was most
//! of `loyalty_ladder` (its two window nodes: 1.77 s of CPU in a 2.6 s
//! query at 100k customers) and 0.83 s of `churn_features`. When every
//! function of a window node is a carried one (or `ROW_NUMBER()`, a count
//! carried: `profit_curve`'s and `rm_time`'s rankings) and its input
//! arrives sorted by the partition keys, this rule runs the node as
//! [`CarriedWindowExec`]: one pass per batch that finds where partitions
//! start and carries each value down a column. The node's plan properties,
//! input requirements and output schema are the window's own, so nothing
//! around it changes.

use super::running::{Carrier, Kind, carried_by, carrier};
use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt64Array};
use datafusion::arrow::compute::partition;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{ScalarValue, internal_datafusion_err};
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::functions_window::row_number::RowNumber;
use datafusion::physical_expr::window::StandardWindowExpr;
use datafusion::physical_expr::{OrderingRequirements, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowUDFExpr};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, InputDistributionRequirements, InputOrderMode,
    PlanProperties,
};
use futures::StreamExt;
use std::sync::Arc;

/// The rule (added after DataFusion's own, in every local session).
#[derive(Debug, Default)]
pub struct LinearRunning;

impl PhysicalOptimizerRule for LinearRunning {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| match CarriedWindowExec::try_new(&node) {
            Some(carried) => Ok(Transformed::yes(Arc::new(carried) as Arc<dyn ExecutionPlan>)),
            None => Ok(Transformed::no(node)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "linear_running"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// One window function the node runs.
#[derive(Debug, Clone)]
enum Carried {
    /// A running aggregate: what it carries, over which argument, as which
    /// type.
    Value {
        kind: Kind,
        lag: usize,
        arg: Arc<dyn PhysicalExpr>,
        data_type: DataType,
    },
    /// `ROW_NUMBER()`: the partition's rows so far, counted (the input is
    /// in the window's order, which is all a row number depends on).
    RowNumber,
}

impl Carried {
    /// `udf`, whose output type is `data_type`, as a function this node
    /// runs, when it is one.
    fn of(udf: &WindowUDFExpr, data_type: &DataType) -> Option<Carried> {
        if udf.fun().inner().downcast_ref::<RowNumber>().is_some() {
            return (data_type == &DataType::UInt64).then_some(Carried::RowNumber);
        }
        let (kind, lag) = carried_by(udf.fun())?;
        let [arg] = udf.args() else {
            return None;
        };
        // The carriers are made per stream; a type they cannot carry
        // leaves the node to DataFusion rather than failing later.
        carrier(kind, lag, data_type).ok()?;
        Some(Carried::Value {
            kind,
            lag,
            arg: Arc::clone(arg),
            data_type: data_type.clone(),
        })
    }

    /// This function's state for one stream.
    fn start(&self) -> Result<FunctionState> {
        Ok(match self {
            Carried::Value {
                kind,
                lag,
                arg,
                data_type,
            } => FunctionState::Value(Arc::clone(arg), carrier(*kind, *lag, data_type)?),
            Carried::RowNumber => FunctionState::Count(0),
        })
    }
}

/// One function's state in a stream.
enum FunctionState {
    Value(Arc<dyn PhysicalExpr>, Box<dyn Carrier>),
    /// The rows of the current partition so far.
    Count(u64),
}

impl FunctionState {
    /// The function's column for `batch`, whose partitions start at `starts`.
    fn column(&mut self, batch: &RecordBatch, starts: &[usize]) -> Result<ArrayRef> {
        let rows = batch.num_rows();
        match self {
            FunctionState::Value(arg, carrier) => {
                let values = arg.evaluate(batch)?.into_array(rows)?;
                carrier.carry(&values, starts)
            }
            FunctionState::Count(n) => {
                let mut starts = starts.iter().peekable();
                let numbers = (0..rows).map(|i| {
                    if starts.next_if_eq(&&i).is_some() {
                        *n = 0;
                    }
                    *n += 1;
                    *n
                });
                Ok(Arc::new(UInt64Array::from_iter_values(numbers)))
            }
        }
    }
}

/// A `BoundedWindowAggExec` of carried functions over input sorted by its
/// partition keys, run in one pass.
#[derive(Debug)]
pub struct CarriedWindowExec {
    /// The window node replaced: its properties, requirements and schema.
    window: Arc<dyn ExecutionPlan>,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    carried: Vec<Carried>,
    metrics: ExecutionPlanMetricsSet,
}

impl CarriedWindowExec {
    /// `node` as a carried window, when it is a window node whose every
    /// function is carried, with one partitioning, over sorted input.
    fn try_new(node: &Arc<dyn ExecutionPlan>) -> Option<Self> {
        let window = node.downcast_ref::<BoundedWindowAggExec>()?;
        if window.input_order_mode != InputOrderMode::Sorted {
            return None;
        }
        let exprs = window.window_expr();
        let keys = exprs.first()?.partition_by().to_vec();
        let schema = window.schema();
        let first_output = schema.fields().len().checked_sub(exprs.len())?;
        let mut carried = Vec::with_capacity(exprs.len());
        for (k, expr) in exprs.iter().enumerate() {
            let same_keys = expr.partition_by().len() == keys.len()
                && expr.partition_by().iter().zip(&keys).all(|(a, b)| a == b);
            if !same_keys {
                return None;
            }
            let standard = expr.as_any().downcast_ref::<StandardWindowExpr>()?;
            let udf = standard
                .get_standard_func_expr()
                .as_any()
                .downcast_ref::<WindowUDFExpr>()?;
            carried.push(Carried::of(
                udf,
                schema.field(first_output + k).data_type(),
            )?);
        }
        Some(CarriedWindowExec {
            window: Arc::clone(node),
            keys,
            carried,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    fn input(&self) -> &Arc<dyn ExecutionPlan> {
        self.window.children()[0]
    }
}

impl DisplayAs for CarriedWindowExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let keys: Vec<String> = self.keys.iter().map(|k| k.to_string()).collect();
        write!(
            f,
            "CarriedWindowExec: partition_by=[{}], carried={}",
            keys.join(", "),
            self.carried.len()
        )
    }
}

impl ExecutionPlan for CarriedWindowExec {
    fn name(&self) -> &str {
        "CarriedWindowExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.window.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.window.children()
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        self.window.required_input_ordering()
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.window.input_distribution_requirements()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        self.window.benefits_from_input_partitioning()
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.window.apply_expressions(f)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let window = Arc::clone(&self.window).replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )?;
        // Over an input no longer sorted the node stays DataFusion's.
        Ok(match CarriedWindowExec::try_new(&window) {
            Some(carried) => Arc::new(carried),
            None => window,
        })
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input().execute(partition, context)?;
        let states = self
            .carried
            .iter()
            .map(Carried::start)
            .collect::<Result<Vec<_>>>()?;
        let schema = self.window.schema();
        let mut pass = Pass {
            schema: Arc::clone(&schema),
            keys: self.keys.clone(),
            states,
            last_key: None,
            metrics: BaselineMetrics::new(&self.metrics, partition),
        };
        let batches = input.map(move |batch| batch.and_then(|b| pass.next(b)));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// One stream's pass: the carried values and the last row's partition key.
struct Pass {
    schema: SchemaRef,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    states: Vec<FunctionState>,
    last_key: Option<Vec<ScalarValue>>,
    metrics: BaselineMetrics,
}

impl Pass {
    fn next(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let elapsed = self.metrics.elapsed_compute().clone();
        let _timer = elapsed.timer();
        let rows = batch.num_rows();
        let starts = self.partition_starts(&batch)?;
        let mut columns = batch.columns().to_vec();
        for state in &mut self.states {
            columns.push(state.column(&batch, &starts)?);
        }
        let out = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
        self.metrics.record_output(rows);
        Ok(out)
    }

    /// The rows of `batch` where a partition starts: where the keys differ
    /// from the row before, the first row when they differ from the last
    /// batch's last row. Without keys the stream is one partition.
    fn partition_starts(&mut self, batch: &RecordBatch) -> Result<Vec<usize>> {
        let rows = batch.num_rows();
        if self.keys.is_empty() || rows == 0 {
            return Ok(Vec::new());
        }
        let keys: Vec<ArrayRef> = self
            .keys
            .iter()
            .map(|k| k.evaluate(batch)?.into_array(rows))
            .collect::<Result<_>>()?;
        let key_at = |row: usize| -> Result<Vec<ScalarValue>> {
            keys.iter()
                .map(|k| ScalarValue::try_from_array(k, row))
                .collect()
        };
        let mut starts: Vec<usize> = partition(&keys)?.ranges().iter().map(|r| r.start).collect();
        if starts.first() != Some(&0) {
            return Err(internal_datafusion_err!(
                "CarriedWindowExec: partitions of a batch do not start at its first row"
            ));
        }
        if self.last_key.as_ref() == Some(&key_at(0)?) {
            starts.remove(0);
        }
        self.last_key = Some(key_at(rows - 1)?);
        Ok(starts)
    }
}

#[cfg(test)]
mod tests {
    use super::super::running::tests::{seeded, shuffle};
    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::datasource::MemTable;
    use datafusion::error::Result;
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::{SessionConfig, SessionContext};
    use std::sync::Arc;

    /// (customer, month, v, f)
    type Row = (Option<String>, i64, Option<i64>, Option<f64>);

    /// Customers (one of them a NULL key) whose months arrive shuffled in
    /// batches of 5 over two partitions, so a customer's rows cross batch
    /// boundaries after the sort.
    fn table() -> Result<Arc<MemTable>> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("c", datafusion::arrow::datatypes::DataType::Utf8, true),
            Field::new("m", datafusion::arrow::datatypes::DataType::Int64, false),
            Field::new("v", datafusion::arrow::datatypes::DataType::Int64, true),
            Field::new("f", datafusion::arrow::datatypes::DataType::Float64, true),
        ]));
        let mut rows = Vec::new();
        let mut next = seeded(7);
        for c in 0..40u64 {
            let id = (c != 13).then(|| format!("C{c:03}"));
            for m in 0..(1 + next(14) as i64) {
                let v = (next(4) != 0).then(|| next(100) as i64 - 30);
                let f = (next(4) != 0).then(|| next(1000) as f64 / 3.0);
                rows.push((id.clone(), m, v, f));
            }
        }
        shuffle(&mut rows, &mut next);
        let batch = |rows: &[Row]| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(StringArray::from_iter(rows.iter().map(|r| r.0.clone()))),
                    Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
                    Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.2))),
                    Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.3))),
                ],
            )
        };
        let half = rows.len() / 2;
        let parts = [&rows[..half], &rows[half..]]
            .iter()
            .map(|p| p.chunks(5).map(batch).collect::<Result<Vec<_>, _>>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(MemTable::try_new(schema, parts)?))
    }

    const QUERY: &str = "
        SELECT c, m,
               SUM(v) OVER w AS s, MAX(v) OVER w AS mx, MIN(f) OVER w AS mn,
               SUM(f) OVER w AS sf, ROW_NUMBER() OVER w AS rn,
               MAX(v) OVER (PARTITION BY c ORDER BY m ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before,
               ROW_NUMBER() OVER (PARTITION BY c ORDER BY m DESC) AS from_last
        FROM t
        WINDOW w AS (PARTITION BY c ORDER BY m ROWS UNBOUNDED PRECEDING)
        ORDER BY c, m";

    fn config() -> SessionConfig {
        SessionConfig::new()
            .with_batch_size(5)
            .with_target_partitions(2)
    }

    async fn run(ctx: &SessionContext, sql: &str) -> Result<(RecordBatch, String)> {
        ctx.register_table("t", table()?)?;
        let df = ctx.sql(sql).await?;
        let plan = df.clone().create_physical_plan().await?;
        let text = displayable(plan.as_ref()).indent(true).to_string();
        let batches = df.collect().await?;
        let all = datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches)?;
        Ok((all, text))
    }

    /// Every value equals DataFusion's own window aggregates (the second
    /// method), bit for bit, with partitions that cross batches and a NULL
    /// partition key; the windows run as `CarriedWindowExec`.
    #[tokio::test]
    async fn carried_in_one_pass_equals_datafusions_windows() -> Result<()> {
        let (ours, plan) = run(&crate::engine::session_with(config()), QUERY).await?;
        let (theirs, plain) = run(&SessionContext::new_with_config(config()), QUERY).await?;
        // The descending row number is a second sort and a second node.
        assert_eq!(plan.matches("CarriedWindowExec").count(), 2, "{plan}");
        assert!(!plan.contains("BoundedWindowAggExec"), "{plan}");
        assert!(plain.contains("BoundedWindowAggExec"), "{plain}");
        assert!(ours.num_rows() > 200, "{} rows", ours.num_rows());
        assert_eq!(ours.schema(), theirs.schema());
        for k in 0..theirs.num_columns() {
            assert_eq!(
                ours.column(k).to_data(),
                theirs.column(k).to_data(),
                "column {}",
                theirs.schema().field(k).name()
            );
        }
        Ok(())
    }

    /// Two customers worked by hand, the second's rows starting in the
    /// same batch as the first's last: running sums restart at each.
    #[tokio::test]
    async fn a_new_partition_starts_afresh() -> Result<()> {
        let ctx = crate::engine::session_with(SessionConfig::new().with_batch_size(3));
        let sql = "
            SELECT c, SUM(v) OVER w AS s, MAX(v) OVER (PARTITION BY c ORDER BY m ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before,
                   ROW_NUMBER() OVER w AS n
            FROM (VALUES ('a', 1, 5), ('a', 2, 1), ('b', 1, 2), ('b', 2, NULL), ('b', 3, 4), ('c', 1, NULL)) AS x(c, m, v)
            WINDOW w AS (PARTITION BY c ORDER BY m ROWS UNBOUNDED PRECEDING)
            ORDER BY c, m";
        let batches = ctx.sql(sql).await?.collect().await?;
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string();
        let expected = "\
+---+---+--------+---+
| c | s | before | n |
+---+---+--------+---+
| a | 5 |        | 1 |
| a | 6 | 5      | 2 |
| b | 2 |        | 1 |
| b | 2 | 2      | 2 |
| b | 6 | 2      | 3 |
| c |   |        | 1 |
+---+---+--------+---+";
        assert_eq!(text, expected);
        let plan = ctx.sql(&format!("EXPLAIN {sql}")).await?.collect().await?;
        let plan = datafusion::arrow::util::pretty::pretty_format_batches(&plan)?.to_string();
        assert!(plan.contains("CarriedWindowExec"), "{plan}");
        Ok(())
    }
}
