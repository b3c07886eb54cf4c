//! A reader's session: the pipeline's warehouse as the last finished run
//! left it (or as `--as-of` names), every table registered through the
//! reader's masks, and `table_at` for time travel.

use super::{Result, read_only};
use crate::access::Masks;
use crate::access::mask::mask_udf;
use crate::pipeline::Pipeline;
use crate::warehouse::Warehouse;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use std::sync::{Arc, OnceLock};

/// A read-only, masked session over the warehouse.
pub struct Session {
    pub ctx: SessionContext,
    /// Every table the reader can see.
    pub tables: Vec<String>,
    /// The context's state and task context, taken once (see [`Session::frozen`]).
    frozen: OnceLock<(Arc<SessionState>, Arc<TaskContext>)>,
}

impl Session {
    /// A session over `pipeline`'s warehouse (`warehouse` overrides its
    /// location), as the last finished run left it or as run `as_of` did,
    /// masked for `reader`.
    pub async fn open(
        pipeline: &Pipeline,
        warehouse: Option<&str>,
        as_of: Option<&str>,
        reader: &str,
    ) -> Result<Session> {
        let location = pipeline.warehouse_location(warehouse);
        // Every table is read as the files of its pinned version: on a
        // cluster the executors need that, and locally it is the faster scan
        // (text partitions as plain text; see `pipeline::run`'s `readable`).
        // The session plans here and, on a cluster, executes there.
        let base = Warehouse::open(&location)?
            .with_retention(pipeline.retention)
            .with_file_lists();
        let ctx = match &pipeline.engine {
            crate::engine::Engine::Local => crate::engine::session(),
            engine => {
                crate::cluster::check_reaches(engine, &location)?;
                crate::cluster::connect(engine).await?
            }
        };
        // Readers see the last finished run, never half of one.
        let wh = match as_of {
            Some(run) => base.clone().as_of(run).await?,
            None => base.clone().committed().await?,
        };
        Self::over(pipeline, base, wh, reader, ctx).await
    }

    /// A session over `wh` (a pinned view of `base`) in `ctx`, masked and
    /// scoped for `reader`.
    pub async fn over(
        pipeline: &Pipeline,
        base: Warehouse,
        wh: Warehouse,
        reader: &str,
        ctx: SessionContext,
    ) -> Result<Session> {
        let masks = Masks::for_reader(&pipeline.access, reader)?;
        // Only the tables this pipeline declares (and the bookkeeping every
        // run writes): it knows their personal columns. Another pipeline's
        // table, or a source's table left from before a rename, would be
        // read unmasked, so it is not there at all (fail closed).
        let declared: Vec<String> = pipeline.schemas.keys().cloned().collect();
        let tables = register_warehouse(&ctx, &wh, &masks, &declared).await?;
        ctx.register_udtf(
            "table_at",
            Arc::new(super::travel::TableAt {
                wh: base,
                masks,
                declared,
            }),
        );
        Ok(Session {
            ctx,
            tables,
            frozen: OnceLock::new(),
        })
    }

    /// A session over the tables registered in `ctx` by hand (tests).
    #[cfg(test)]
    pub fn of(ctx: SessionContext) -> Session {
        Session {
            ctx,
            tables: Vec::new(),
            frozen: OnceLock::new(),
        }
    }

    /// The state to turn SQL into a logical plan with and the task context
    /// to run with, taken at first use and shared by every statement after
    /// it: `ctx.state()` clones every registry (hundreds of functions with
    /// the server's catalog emulation) each time it is called. Not for
    /// optimising: its start time (what `now()` reads) is the first use's.
    /// Nothing registered in `ctx` after the first use is seen here, so a
    /// server registers its functions before sharing the session.
    pub fn frozen(&self) -> &(Arc<SessionState>, Arc<TaskContext>) {
        self.frozen.get_or_init(|| {
            let state = self.ctx.state();
            let task = Arc::new(TaskContext::from(&state));
            (Arc::new(state), task)
        })
    }

    /// Plan and start one statement, with named parameters bound as values.
    pub async fn query(
        &self,
        sql: &str,
        params: Vec<(String, ScalarValue)>,
    ) -> Result<SendableRecordBatchStream> {
        let mut df = match self.ctx.sql_with_options(sql, read_only()).await {
            Ok(df) => df,
            Err(e) => {
                return Err(super::explain::reader_error(&self.ctx, sql, e, &self.tables).await);
            }
        };
        if !params.is_empty() {
            df = df
                .with_param_values(params)
                .map_err(super::explain::param_hint)?;
        }
        df.execute_stream()
            .await
            .map_err(super::explain::param_hint)
    }
}

/// Register every declared warehouse table for a reader, each through the
/// reader's masks: a personal column is replaced by its masked or hashed
/// form, and `_quarantine`'s copies of personal values too (the rejected
/// value masked like its column, the raw record of a source with personal
/// columns withheld); the raw table is never registered, so no SQL can
/// reach it. Returns the tables registered.
pub async fn register_warehouse(
    ctx: &SessionContext,
    wh: &Warehouse,
    masks: &Masks,
    declared: &[String],
) -> Result<Vec<String>> {
    ctx.register_udf(mask_udf());
    let mut names = wh.list().await?;
    names.retain(|n| declared.contains(n));
    for name in &names {
        let provider = wh.provider(name).await?;
        if let Some(p) = masks.provider(name, provider)? {
            ctx.register_table(name.as_str(), p)?;
        }
    }
    // A table the reader's role may not see is not there at all.
    names.retain(|n| ctx.table_exist(n.as_str()).unwrap_or(false));
    Ok(names)
}
