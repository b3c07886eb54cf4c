//! Consistent snapshots for the server: every statement reads one set of
//! table versions — the manifest (`_versions`) of the last finished run, or
//! of the run `SET touchpoint.as_of` names — never half of a run going on.
//! Sessions are built once per (role, run) and shared by that role's
//! connections; a statement holds its session, so a run finishing while it
//! streams does not disturb it, and the next statement sees the new run.

use crate::pipeline::Pipeline;
use crate::sql::{Result, Session};
use crate::warehouse::{Warehouse, versions};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the id of the last finished run is trusted before `_versions`
/// is read again: a new run is seen by statements starting this long after
/// it finished.
const LATEST_TTL: Duration = Duration::from_secs(1);
/// Sessions kept (each holds its tables' Delta snapshots).
const KEPT: usize = 32;

/// The catalog clients see (`current_database()`).
pub const CATALOG: &str = "touchpoint";

/// (role, run, whether `as_of` named the run, its session).
type Cached = (String, Option<String>, bool, Arc<Session>);

pub struct Snapshots {
    pipeline: Arc<Pipeline>,
    base: Warehouse,
    latest: std::sync::Mutex<Option<(Instant, Option<String>)>>,
    /// (role, run, named by `as_of`, session), most recently built last.
    cache: tokio::sync::Mutex<Vec<Cached>>,
}

impl Snapshots {
    pub fn new(pipeline: Arc<Pipeline>, warehouse: Option<&str>) -> Result<Snapshots> {
        let location = pipeline.warehouse_location(warehouse);
        let mut base = Warehouse::open(&location)?.with_retention(pipeline.retention);
        // On a cluster, statements over the warehouse run on the executors,
        // which read each table as the files of its pinned version.
        if pipeline.engine != crate::engine::Engine::Local {
            crate::cluster::check_reaches(&pipeline.engine, &location)?;
            base = base.with_file_lists();
        }
        Ok(Snapshots {
            pipeline,
            base,
            latest: std::sync::Mutex::new(None),
            cache: tokio::sync::Mutex::new(Vec::new()),
        })
    }

    /// The session `role` reads with: as of run `as_of`, else as the last
    /// finished run left the warehouse. Returns the run id too (`None`
    /// before any run finished).
    pub async fn session(
        &self,
        role: &str,
        as_of: Option<&str>,
    ) -> Result<(Arc<Session>, Option<String>)> {
        let run = match as_of {
            Some(r) => Some(r.to_string()),
            None => self.latest_run().await?,
        };
        let mut cache = self.cache.lock().await;
        let named = as_of.is_some();
        if let Some((.., s)) = cache
            .iter()
            .find(|(r, id, n, _)| r == role && *id == run && *n == named)
        {
            return Ok((s.clone(), run));
        }
        let wh = match (&run, as_of) {
            (Some(id), Some(_)) => self.base.clone().as_of(id).await?,
            (Some(id), None) => self.base.clone().finished_run(id).await?,
            (None, _) => self.base.clone().committed().await?,
        };
        let config = datafusion::prelude::SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG, "public");
        let ctx = crate::cluster::connect_with(&self.pipeline.engine, config).await?;
        let session = Session::over(&self.pipeline, self.base.clone(), wh, role, ctx).await?;
        super::catalog::install(&session.ctx)?;
        let session = Arc::new(session);
        if cache.len() >= KEPT {
            cache.remove(0);
        }
        cache.push((role.to_string(), run.clone(), named, session.clone()));
        Ok((session, run))
    }

    async fn latest_run(&self) -> Result<Option<String>> {
        if let Some((at, id)) = self
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && at.elapsed() < LATEST_TTL
        {
            return Ok(id.clone());
        }
        let id = versions::read(&self.base, None).await?.map(|(id, _)| id);
        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), id.clone()));
        Ok(id)
    }
}
