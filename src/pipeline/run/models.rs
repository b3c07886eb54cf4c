//! The models phase (each model built over its inputs and committed, in
//! dependency order, or left as it is when nothing it reads changed — see
//! [`super::rebuild`]) and the checks phase (every data-quality check over
//! the warehouse as the run left it).

use super::Runner;
use super::chunks;
use super::rebuild::{self, Rebuild};
use crate::models::{Kind, Model, PERIOD, Reach, Rescore};
use crate::period::Period;
use crate::pipeline::Result;
use crate::warehouse::WriteMode;
use crate::warehouse::parts::Parts;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::{SessionContext, col, lit};
use futures::{StreamExt, TryStreamExt};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

impl Runner<'_> {
    /// Build every model that needs it, in dependency order; a step's fit
    /// (coefficients, metrics, parameters) is appended to its bookkeeping
    /// table.
    pub(super) async fn build_models(&mut self) -> Result<()> {
        let manifest = crate::warehouse::versions::read(self.wh, None)
            .await?
            .map(|(_, m)| m);
        for m in &self.pipeline.models {
            crate::engine::release_freed_memory();
            let t = Instant::now();
            let tag = rebuild::digest(m, self.pipeline.timezone);
            let plan = rebuild::decide(
                self.wh,
                m,
                &tag,
                manifest.as_ref(),
                self.options.full_refresh,
            )
            .await?;
            let (mut periods, mut why) = match plan {
                Rebuild::Skip => {
                    let _ = writeln!(
                        self.progress,
                        "skip  model {}: nothing it reads changed",
                        m.name
                    );
                    self.log("model", &m.name, None, 0, 0, 0, 0, t, None);
                    if let Some(last) = self.steps.last_mut() {
                        last.load = Some("skip".into());
                        last.message = Some("up to date: nothing it reads changed".into());
                    }
                    continue;
                }
                Rebuild::Whole(why) => (None, why),
                Rebuild::Periods(p, why) => (Some(p), why),
            };
            let ctx = self.sql_session().await?;
            // Writes plan delta-rs's own nodes: always in this process.
            let local = if self.cluster.is_some() {
                crate::engine::session()
            } else {
                ctx.clone()
            };
            let readable = self.readable();
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
                let by_period =
                    filtered && m.by_period.is_some() && self.by_period_table(dep).await?;
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
            let parts = match (&m.kind, m.by_period) {
                (Kind::Sql, Some(reach)) => {
                    chunks::plan_for(self.wh, m, reach, periods.as_ref()).await?
                }
                _ => None,
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
                        None => Rows::One(by_period(&ctx, m, periods.as_ref()).await?),
                    },
                    None,
                    String::new(),
                    tag,
                ),
                _ => {
                    let last_fit = match &periods {
                        Some(_) => self.wh.tag(&m.name).await?,
                        None => None,
                    };
                    let rescore = periods.as_ref().map(|p| Rescore {
                        periods: p,
                        last_fit: last_fit.as_deref().and_then(rebuild::fit_of),
                    });
                    let built = crate::models::build(
                        &ctx,
                        m,
                        &self.run_id,
                        self.pipeline.timezone,
                        rescore,
                    )
                    .await?;
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
            let rows = match rows {
                Rows::Parts(schema, parts)
                    if self.wh.parts_fit(&m.name, &schema, PERIOD).await? =>
                {
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
                    self.tx
                        .commit_parts(&m.name, schema, parts, PERIOD, replace.as_deref(), &tag)
                        .await?
                }
                Err(stream) => {
                    let (stream, n) = crate::engine::counting(stream);
                    let c = self
                        .tx
                        .commit_tagged(&local, &m.name, stream, mode, Some(&tag))
                        .await?;
                    rows_written.fetch_add(n.load(Ordering::Relaxed), Ordering::Relaxed);
                    c
                }
            };
            if let Some((table, batch)) = side {
                self.tx
                    .commit(
                        &local,
                        table,
                        crate::engine::batch_stream(batch),
                        WriteMode::Append,
                    )
                    .await?;
            }
            let n = rows_written.load(Ordering::Relaxed) as i64;
            self.log("model", &m.name, None, 0, n, n, 0, t, Some(c.version));
            let what = match &periods {
                Some(p) => format!("rebuilt {}: {why}", rebuild::list(p)),
                None => format!("rebuilt whole: {why}"),
            };
            let message = if summary.is_empty() {
                what
            } else {
                format!("{summary}; {what}")
            };
            let _ = writeln!(self.progress, "model {}: {message}", m.name);
            if let Some(last) = self.steps.last_mut() {
                last.load = Some(
                    if periods.is_some() {
                        "periods"
                    } else {
                        "reload"
                    }
                    .into(),
                );
                last.message = Some(message);
            }
        }
        Ok(())
    }

    /// Run the pipeline's data-quality checks; a failed `error` check fails
    /// the run.
    pub(super) async fn run_checks(&mut self, periods: &[Period]) -> Result<()> {
        if self.pipeline.checks.is_empty() {
            return Ok(());
        }
        let t = Instant::now();
        let ctx = self.sql_session().await?;
        let on_cluster = self.cluster.is_some();
        let session = move || {
            if on_cluster {
                ctx.clone()
            } else {
                crate::engine::session()
            }
        };
        self.checks = crate::checks::run(
            &self.pipeline.checks,
            &self.readable(),
            periods,
            self.pipeline.timezone,
            &session,
        )
        .await?;
        let count = |s: &str| self.checks.iter().filter(|c| c.status == s).count();
        let (pass, warn, fail) = (count("pass"), count("warn"), count("fail"));
        for c in self.checks.iter().filter(|c| c.status != "pass") {
            let _ = writeln!(
                self.progress,
                "{}  {}.{}: {} failing; {}",
                c.status, c.table, c.check, c.failing, c.detail
            );
        }
        let _ = writeln!(
            self.progress,
            "check {} checks: {pass} passed, {warn} warned, {fail} failed ({:.1}s)",
            self.checks.len(),
            t.elapsed().as_secs_f64()
        );
        if fail > 0 {
            return Err(crate::pipeline::Error::ChecksFailed(
                self.checks
                    .iter()
                    .filter(|c| c.status == "fail")
                    .map(|c| {
                        format!(
                            "  {}.{}: {} failing; {}",
                            c.table, c.check, c.failing, c.detail
                        )
                    })
                    .collect(),
            ));
        }
        Ok(())
    }

    /// Whether `table` is partitioned by period (a periodic source, a model
    /// rebuilt by period): a rebuild of some periods reads only theirs.
    async fn by_period_table(&self, table: &str) -> Result<bool> {
        Ok(self.wh.table(table).await?.is_some_and(|t| {
            t.snapshot()
                .is_ok_and(|s| s.metadata().partition_columns() == [PERIOD.to_string()])
        }))
    }
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
    let mut df = ctx.sql(&m.sql).await?;
    if let Some(p) = periods {
        // Rows without a period are kept here, to be refused below.
        df = df.filter(
            col(PERIOD)
                .in_list(p.iter().map(lit).collect(), false)
                .or(col(PERIOD).is_null()),
        )?;
    }
    by_period_rows(m, df.execute_stream().await?)
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
