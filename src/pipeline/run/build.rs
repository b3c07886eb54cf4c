//! One model's build, on a task of its own: its inputs registered (only
//! the months a rebuild by period reads), its rows computed (in parts, or
//! as one stream; a step fitted and scored) and committed. The models
//! phase ([`super::models`]) decides, journals and schedules; this does the
//! rest and reports what it did.

use super::chunks;
use super::rebuild::{self, Rebuild};
use crate::models::{Kind, Model, PERIOD, Reach, Rescore};
use crate::period::Period;
use crate::pipeline::Result;
use crate::warehouse::parts::Parts;
use crate::warehouse::transaction::Writer;
use crate::warehouse::{Warehouse, WriteMode};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::prelude::{SessionContext, col, lit};
use futures::{StreamExt, TryStreamExt};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// What building one model needs: everything owned, so it runs on a task.
pub(super) struct Job {
    pub model: Model,
    /// The warehouse the run writes (and reads its own bookkeeping from).
    pub wh: Warehouse,
    /// The warehouse as models read it ([`super::Runner::readable`]).
    pub readable: Warehouse,
    pub writer: Writer,
    pub run_id: String,
    pub timezone: chrono_tz::Tz,
    /// The model's definition tag (`rebuild::digest`).
    pub tag: String,
    /// Whole, or which periods, and why (never `Skip`).
    pub plan: Rebuild,
    /// Its inputs' row counts, when the scheduler read them to size the
    /// build (see [`chunks::input_rows`]).
    pub input_rows: Option<Vec<crate::warehouse::changes::Rows>>,
    /// The session its SQL runs in, and the one that writes (the same one
    /// unless the SQL runs on a cluster).
    pub ctx: SessionContext,
    pub local: SessionContext,
}

/// What a build did.
pub(super) struct Built {
    pub version: i64,
    pub rows: i64,
    /// The periods replaced; `None`: the whole table.
    pub periods: Option<BTreeSet<String>>,
    /// The progress line's text after the model's name.
    pub message: String,
    /// A step's bookkeeping rows, appended by the phase after the commit.
    pub side: Option<(&'static str, RecordBatch)>,
    pub started: Instant,
    pub seconds: f64,
}

impl Job {
    pub(super) async fn run(self) -> Result<Built> {
        let started = Instant::now();
        let Job {
            model: m,
            wh,
            readable,
            writer,
            run_id,
            timezone,
            tag,
            plan,
            input_rows,
            ctx,
            local,
        } = self;
        let m = &m;
        let (mut periods, mut why) = match plan {
            Rebuild::Whole(why) => (None, why),
            Rebuild::Periods(p, why) => (Some(p), why),
            Rebuild::Skip => unreachable!("a skipped model is not built"),
        };
        // A rebuild of some periods reads only the months they need of
        // every input partitioned by period.
        let window = periods
            .as_ref()
            .zip(m.by_period)
            .map(|(p, reach)| rebuild::window(p, reach));
        // A step fits on all its input, whatever it rescores.
        let filtered = matches!(m.kind, Kind::Sql);
        let mut inputs = Vec::with_capacity(m.depends_on.len());
        for dep in &m.depends_on {
            let provider = readable.provider(dep).await?;
            // Only a SQL model rebuilt by period reads some months of
            // an input (its window, or a part's): the others do not
            // open the table to ask.
            let by_period = filtered && m.by_period.is_some() && by_period_table(&wh, dep).await?;
            match &window {
                Some(w) if by_period => {
                    ctx.register_table(dep.as_str(), in_months(&ctx, &provider, w)?)?;
                }
                _ => {
                    ctx.register_table(dep.as_str(), provider.clone())?;
                }
            }
            inputs.push(Input {
                name: dep.clone(),
                provider,
                by_period,
            });
        }
        let split = match (&m.kind, m.by_period) {
            (Kind::Sql, Some(reach)) => {
                chunks::plan_for(&wh, m, reach, periods.as_ref(), input_rows).await?
            }
            _ => None,
        };
        let (parts, one_plan) = match split {
            Some(split) => one_query_or_parts(&ctx, m, periods.as_ref(), split, &mut why).await?,
            None => (None, None),
        };
        if let Some(parts) = &parts {
            why = format!("{why}; in {}", chunks::describe(parts));
        }
        let (rows, side, summary, tag) = match (&m.kind, m.by_period) {
            (Kind::Sql, Some(reach)) => (
                match parts {
                    Some(parts) => {
                        let (schema, parts) = in_parts(&ctx, m, reach, inputs, parts).await?;
                        Rows::Parts(schema, parts)
                    }
                    None => Rows::One(match one_plan {
                        Some(plan) => planned_rows(&ctx, m, plan)?,
                        None => by_period(&ctx, m, periods.as_ref()).await?,
                    }),
                },
                None,
                String::new(),
                tag,
            ),
            _ => {
                let last_fit = match &periods {
                    Some(_) => wh.tag(&m.name).await?,
                    None => None,
                };
                let rescore = periods.as_ref().map(|p| Rescore {
                    periods: p,
                    last_fit: last_fit.as_deref().and_then(rebuild::fit_of),
                });
                let built = crate::models::build(&ctx, m, &run_id, timezone, rescore).await?;
                if periods.is_some() && !built.periods_only {
                    // The fit moved: every row was scored again.
                    periods = None;
                    why = format!("{why}; the fit changed");
                }
                let tag = rebuild::with_fit(&tag, built.fit.as_deref());
                let stream = if m.by_period.is_some() {
                    by_period_rows(m, built.stream)?
                } else {
                    built.stream
                };
                (Rows::One(stream), built.side, built.summary, tag)
            }
        };
        let rows_written = Arc::new(AtomicU64::new(0));
        let fits = match &rows {
            Rows::Parts(schema, _) => wh.parts_fit(&m.name, schema, PERIOD).await?,
            Rows::One(_) => false,
        };
        let rows = match rows {
            Rows::Parts(schema, parts) if fits => {
                Ok((schema, counted(parts, rows_written.clone())))
            }
            Rows::Parts(schema, parts) => Err(chained(schema, parts)),
            Rows::One(stream) => Err(stream),
        };
        let mode = match (&periods, m.by_period) {
            (Some(p), _) => WriteMode::ReplaceMany(
                p.iter()
                    .map(|p| vec![(PERIOD.to_string(), p.clone())])
                    .collect(),
            ),
            (None, Some(_)) => WriteMode::OverwritePartitioned(vec![PERIOD.to_string()]),
            (None, None) => WriteMode::Overwrite,
        };
        let c = match rows {
            Ok((schema, parts)) => {
                let replace: Option<Vec<String>> =
                    periods.as_ref().map(|p| p.iter().cloned().collect());
                writer
                    .write_parts(&m.name, schema, parts, PERIOD, replace.as_deref(), &tag)
                    .await?
            }
            Err(stream) => {
                let (stream, n) = crate::engine::counting(stream);
                let (stream, props) =
                    crate::warehouse::encoding::with_model_properties(stream).await;
                let c = writer
                    .write_tagged(&local, &m.name, stream, mode, Some(props), Some(&tag))
                    .await?;
                rows_written.fetch_add(n.load(Ordering::Relaxed), Ordering::Relaxed);
                c
            }
        };
        let what = match &periods {
            Some(p) => format!("rebuilt {}: {why}", rebuild::list(p)),
            None => format!("rebuilt whole: {why}"),
        };
        let message = if summary.is_empty() {
            what
        } else {
            format!("{summary}; {what}")
        };
        Ok(Built {
            version: c.version,
            rows: rows_written.load(Ordering::Relaxed) as i64,
            periods,
            message,
            side,
            started,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// The parts to build a model in, or the one query's plan instead: parts
/// that read months again cost more than one query whose memory the pool
/// bounds anyway (it spills what it outgrows). `why` says which and why.
async fn one_query_or_parts(
    ctx: &SessionContext,
    m: &Model,
    periods: Option<&BTreeSet<String>>,
    split: chunks::Split,
    why: &mut String,
) -> Result<(
    Option<Vec<BTreeSet<String>>>,
    Option<Arc<dyn ExecutionPlan>>,
)> {
    if !split.rereads() {
        return Ok((Some(split.parts), None));
    }
    let plan = period_plan(ctx, m, periods).await?;
    Ok(
        match crate::engine::footprint::unbounded(&plan, split.budget) {
            None => {
                *why = format!(
                    "{why}; in one query: {} would read its inputs {:.1}× over, and its plan \
                 streams or spills",
                    chunks::describe(&split.parts),
                    split.reread
                );
                (None, Some(plan))
            }
            Some(held) => {
                *why = format!("{why}; not in one query: {held}");
                (Some(split.parts), None)
            }
        },
    )
}

/// Whether `table` is partitioned by period (a periodic source, a model
/// rebuilt by period): a rebuild of some periods reads only theirs.
async fn by_period_table(wh: &Warehouse, table: &str) -> Result<bool> {
    Ok(wh.table(table).await?.is_some_and(|t| {
        t.snapshot()
            .is_ok_and(|s| s.metadata().partition_columns() == [PERIOD.to_string()])
    }))
}

/// A table a model reads, as the run found it.
struct Input {
    name: String,
    provider: Arc<dyn TableProvider>,
    /// Partitioned by period: a rebuild of some months reads only theirs.
    by_period: bool,
}

/// `provider`'s rows of the `months` only.
fn in_months(
    ctx: &SessionContext,
    provider: &Arc<dyn TableProvider>,
    months: &BTreeSet<String>,
) -> Result<Arc<dyn TableProvider>> {
    let df = ctx
        .read_table(provider.clone())?
        .filter(col(PERIOD).in_list(months.iter().map(lit).collect(), false))?;
    Ok(df.into_view())
}

/// A model rebuilt by period, built a few months at a time (see
/// [`chunks`]): each part's rows, one part after the other, each part
/// planned when the one before has been read, over its months' window of
/// the inputs; and the rows' schema.
async fn in_parts(
    ctx: &SessionContext,
    m: &Model,
    reach: Reach,
    inputs: Vec<Input>,
    parts: Vec<BTreeSet<String>>,
) -> Result<(SchemaRef, Parts)> {
    let part = move |ctx: SessionContext, inputs: Arc<Vec<Input>>, model: Model, months| async move {
        // What the part before freed, back to the system before this one reads.
        crate::engine::release_freed_memory();
        for input in inputs.iter() {
            let table: Arc<dyn TableProvider> = if input.by_period {
                in_months(&ctx, &input.provider, &rebuild::window(&months, reach))?
            } else {
                input.provider.clone()
            };
            ctx.deregister_table(input.name.as_str())?;
            ctx.register_table(input.name.as_str(), table)?;
        }
        by_period(&ctx, &model, Some(&months)).await
    };
    let inputs = Arc::new(inputs);
    let mut parts = parts.into_iter();
    let first = parts.next().unwrap_or_default();
    let head = part(ctx.clone(), inputs.clone(), m.clone(), first).await?;
    let schema = head.schema();
    let (ctx, model) = (ctx.clone(), m.clone());
    let rest = futures::stream::iter(parts)
        .then(move |months| part(ctx.clone(), inputs.clone(), model.clone(), months))
        .map(|s| s.map_err(|e| DataFusionError::External(Box::new(e))));
    let conform = schema.clone();
    // Every part plans the same SQL over inputs of the same schemas; a
    // batch that differed would be refused here rather than written.
    let all = futures::stream::iter([Ok(head)])
        .chain(rest)
        .map_ok(move |s| {
            let conform = conform.clone();
            let schema = conform.clone();
            let rows = s.map(move |b| {
                let b = b?;
                if b.schema() == conform {
                    Ok(b)
                } else {
                    Ok(RecordBatch::try_new(conform.clone(), b.columns().to_vec())?)
                }
            });
            Box::pin(RecordBatchStreamAdapter::new(schema, rows)) as SendableRecordBatchStream
        });
    Ok((schema, all.boxed()))
}

/// A model's rows: in one stream, or in parts.
enum Rows {
    One(SendableRecordBatchStream),
    Parts(SchemaRef, Parts),
}

/// The parts' rows as one stream (for the general write).
fn chained(schema: SchemaRef, parts: Parts) -> SendableRecordBatchStream {
    Box::pin(RecordBatchStreamAdapter::new(schema, parts.try_flatten()))
}

/// The parts, every row counted into `n`.
fn counted(parts: Parts, n: Arc<AtomicU64>) -> Parts {
    parts
        .map_ok(move |s| {
            let n = n.clone();
            let schema = s.schema();
            let rows = s.inspect(move |b| {
                if let Ok(b) = b {
                    n.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
                }
            });
            Box::pin(RecordBatchStreamAdapter::new(schema, rows)) as SendableRecordBatchStream
        })
        .boxed()
}

/// A model rebuilt by period: its rows (of `periods` only, when given),
/// every one with a period.
async fn by_period(
    ctx: &SessionContext,
    m: &Model,
    periods: Option<&BTreeSet<String>>,
) -> Result<SendableRecordBatchStream> {
    planned_rows(ctx, m, period_plan(ctx, m, periods).await?)
}

/// The rows of `plan`, a model's [`period_plan`].
fn planned_rows(
    ctx: &SessionContext,
    m: &Model,
    plan: Arc<dyn ExecutionPlan>,
) -> Result<SendableRecordBatchStream> {
    by_period_rows(m, execute_stream(plan, ctx.task_ctx())?)
}

/// The physical plan of a model rebuilt by period (of `periods` only,
/// when given).
async fn period_plan(
    ctx: &SessionContext,
    m: &Model,
    periods: Option<&BTreeSet<String>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let mut df = ctx.sql(&m.sql).await?;
    if let Some(p) = periods {
        // Rows without a period are kept here, to be refused below.
        df = df.filter(
            col(PERIOD)
                .in_list(p.iter().map(lit).collect(), false)
                .or(col(PERIOD).is_null()),
        )?;
    }
    Ok(df.create_physical_plan().await?)
}

/// The rows of a model rebuilt by period, each checked to have one.
fn by_period_rows(
    m: &Model,
    stream: SendableRecordBatchStream,
) -> Result<SendableRecordBatchStream> {
    let schema = stream.schema();
    let at = schema
        .index_of(PERIOD)
        .map_err(datafusion::error::DataFusionError::from)?;
    let name = m.name.clone();
    let checked = stream.map(move |b| {
        let b = b?;
        let text = datafusion::arrow::compute::cast(
            b.column(at),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )?;
        let periods = text.as_string::<i32>();
        if let Some(row) = (0..periods.len()).find(|&i| periods.is_null(i)) {
            return Err(datafusion::error::DataFusionError::Execution(format!(
                "model `{name}` is rebuilt by period, but row {row} of a batch has no `{PERIOD}`"
            )));
        }
        if let Some(bad) = (0..periods.len())
            .map(|i| periods.value(i))
            .find(|v| v.parse::<Period>().is_err())
        {
            return Err(datafusion::error::DataFusionError::Execution(format!(
                "model `{name}` is rebuilt by period, but `{bad}` is not a YYYY-MM period"
            )));
        }
        Ok(b)
    });
    Ok(Box::pin(RecordBatchStreamAdapter::new(schema, checked)))
}
