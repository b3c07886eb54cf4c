//! The models phase (each model built over its inputs and committed, in
//! dependency order, or left as it is when nothing it reads changed — see
//! [`super::rebuild`]) and the checks phase (every data-quality check over
//! the warehouse as the run left it).
//!
//! Models whose inputs are all built run side by side, as [`Slots`]
//! allows, each on a task of its own (see [`super::build`]); their lines
//! and `_runs` steps come out in the pipeline's order whatever order they
//! finish in.

use super::Runner;
use super::build::{Built, Job};
use super::rebuild::{self, Rebuild};
use crate::period::Period;
use crate::pipeline::Result;
use crate::warehouse::WriteMode;
use crate::warehouse::log::StepLog;
use std::collections::HashSet;
use std::time::Instant;

/// How a model ended in this run.
enum Done {
    Skipped { started: Instant, seconds: f64 },
    Built(Box<Built>),
}

impl Runner<'_> {
    /// Build every model that needs it, each once all the models it reads
    /// are done, several at once; a step's fit (coefficients, metrics,
    /// parameters) is appended to its bookkeeping table. On the first
    /// failure no model starts; those running finish (their tables are
    /// journaled, so the run's roll-back restores them) and the first
    /// error is the run's.
    pub(super) async fn build_models(&mut self) -> Result<()> {
        let manifest = crate::warehouse::versions::read(self.wh, None)
            .await?
            .map(|(_, m)| m);
        let models = &self.pipeline.models;
        let names: HashSet<&str> = models.iter().map(|m| m.name.as_str()).collect();
        let cores = super::cores();
        // A cluster session holds one model's tables at a time.
        let slots = if self.pipeline.engine == crate::engine::Engine::Local {
            Slots::from_env(cores)
        } else {
            Slots::Fixed(1)
        };
        let mut finished: HashSet<String> = HashSet::new();
        let mut started = vec![false; models.len()];
        // A model decided on but not yet started (its slot was taken).
        let mut decided: Vec<Option<(Rebuild, Size)>> = models.iter().map(|_| None).collect();
        let mut small = vec![false; models.len()];
        let mut big_running = 0;
        let mut done: Vec<Option<Done>> = models.iter().map(|_| None).collect();
        let mut reported = 0;
        let mut running = tokio::task::JoinSet::new();
        let mut first_error = None;
        loop {
            // Start what may start, in the pipeline's order (an input comes
            // before the models reading it, so one pass sees every skip's
            // effect); a big model waiting for the big one running lets
            // small ones after it start.
            for (i, m) in models.iter().enumerate() {
                if first_error.is_some() || !slots.admits(running.len(), big_running, true) {
                    break;
                }
                let ready = m
                    .depends_on
                    .iter()
                    .all(|d| !names.contains(d.as_str()) || finished.contains(d));
                if started[i] || !ready {
                    continue;
                }
                let t = Instant::now();
                let tag = rebuild::digest(m, self.pipeline.timezone);
                let (plan, sized) = match decided[i].take() {
                    Some(d) => d,
                    None => {
                        let plan = match rebuild::decide(
                            self.wh,
                            m,
                            &tag,
                            manifest.as_ref(),
                            self.options.full_refresh,
                        )
                        .await
                        {
                            Ok(plan) => plan,
                            Err(e) => {
                                first_error = Some(e);
                                break;
                            }
                        };
                        let sized = match &plan {
                            Rebuild::Skip => Size::default(),
                            Rebuild::Whole(_) => slots.size(self.wh, m, None).await,
                            Rebuild::Periods(p, _) => slots.size(self.wh, m, Some(p)).await,
                        };
                        (plan, sized)
                    }
                };
                if let Rebuild::Skip = plan {
                    started[i] = true;
                    done[i] = Some(Done::Skipped {
                        started: t,
                        seconds: t.elapsed().as_secs_f64(),
                    });
                    finished.insert(m.name.clone());
                    continue;
                }
                if !slots.admits(running.len(), big_running, sized.small) {
                    decided[i] = Some((plan, sized));
                    continue;
                }
                started[i] = true;
                small[i] = sized.small;
                if !sized.small {
                    big_running += 1;
                }
                crate::engine::release_freed_memory();
                // Journaled before it starts: a failed or killed run puts
                // the table back even if this task's commit is never seen.
                let prepared = async {
                    self.tx.journal(&m.name).await?;
                    let ctx = self.sql_session().await?;
                    Ok::<_, crate::pipeline::Error>(ctx)
                }
                .await;
                let ctx = match prepared {
                    Ok(ctx) => ctx,
                    Err(e) => {
                        first_error = Some(e);
                        break;
                    }
                };
                // N at once when asked for: each model plans for its share
                // of the cores (2 cores, 2 at once: one partition each,
                // which also halves the operators sharing the memory pool),
                // even while it happens to run alone. Otherwise, for every
                // core (see `Slots::Small`).
                let ctx = match slots {
                    Slots::Fixed(n) if self.cluster.is_none() && n > 1 => {
                        crate::engine::session_with(
                            datafusion::prelude::SessionConfig::new()
                                .with_target_partitions((cores / n).max(1)),
                        )
                    }
                    _ => ctx,
                };
                // Writes plan delta-rs's own nodes: always in this process.
                let local = if self.cluster.is_some() {
                    crate::engine::session()
                } else {
                    ctx.clone()
                };
                let job = Job {
                    model: m.clone(),
                    wh: self.wh.clone(),
                    readable: self.readable(),
                    writer: self.tx.writer().clone(),
                    run_id: self.run_id.clone(),
                    timezone: self.pipeline.timezone,
                    tag,
                    plan,
                    input_rows: sized.counted,
                    ctx,
                    local,
                };
                running.spawn(async move { (i, job.run().await) });
            }
            self.report(&mut done, &mut reported).await?;
            let Some(joined) = running.join_next().await else {
                break;
            };
            let (i, built) = match joined {
                Ok(r) => r,
                Err(e) => {
                    first_error.get_or_insert(crate::pipeline::Error::Internal(format!(
                        "a model build stopped: {e}"
                    )));
                    continue;
                }
            };
            if !small[i] {
                big_running -= 1;
            }
            match built {
                Ok(b) => {
                    let name = &models[i].name;
                    self.tx
                        .committed(name, crate::warehouse::Committed::at(b.version));
                    finished.insert(name.clone());
                    done[i] = Some(Done::Built(Box::new(b)));
                }
                Err(e) => {
                    first_error.get_or_insert(crate::pipeline::Error::Build {
                        model: models[i].name.clone(),
                        source: Box::new(e),
                    });
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Report the models done so far in the pipeline's order, up to the
    /// first one still running; a step's bookkeeping rows are appended here
    /// (one writer per table).
    async fn report(&mut self, done: &mut [Option<Done>], reported: &mut usize) -> Result<()> {
        while let Some(Some(d)) = done.get_mut(*reported).map(Option::take) {
            let m = &self.pipeline.models[*reported];
            *reported += 1;
            match d {
                Done::Skipped { started, seconds } => {
                    let _ = writeln!(
                        self.progress,
                        "skip  model {}: nothing it reads changed",
                        m.name
                    );
                    let _ = writeln!(self.progress, "build {}: 0 rows ({seconds:.1}s)", m.name);
                    let mut step = self.model_step(&m.name, started, seconds);
                    step.load = Some("skip".into());
                    step.message = Some("up to date: nothing it reads changed".into());
                    self.steps.push(step);
                }
                Done::Built(b) => {
                    if let Some((table, batch)) = b.side {
                        let ctx = crate::engine::session();
                        self.tx
                            .commit(
                                &ctx,
                                table,
                                crate::engine::batch_stream(batch),
                                WriteMode::Append,
                            )
                            .await?;
                    }
                    let _ = writeln!(
                        self.progress,
                        "build {}: {} rows ({:.1}s)",
                        m.name, b.rows, b.seconds
                    );
                    let _ = writeln!(self.progress, "model {}: {}", m.name, b.message);
                    let mut step = self.model_step(&m.name, b.started, b.seconds);
                    step.rows_read = b.rows;
                    step.rows_loaded = b.rows;
                    step.table_version = Some(b.version);
                    step.load = Some(
                        if b.periods.is_some() {
                            "periods"
                        } else {
                            "reload"
                        }
                        .into(),
                    );
                    step.message = Some(b.message);
                    self.steps.push(step);
                }
            }
        }
        Ok(())
    }

    /// A model's `_runs` step: it started at `started` and took `seconds`.
    fn model_step(&self, name: &str, started: Instant, seconds: f64) -> StepLog {
        StepLog {
            run_id: self.run_id.clone(),
            pipeline: self.pipeline.name.clone(),
            started_at: super::now_micros() - started.elapsed().as_micros() as i64,
            kind: "model".into(),
            table: name.into(),
            seconds,
            status: "ok".into(),
            ..Default::default()
        }
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
}

/// How many models build at once, and which.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Slots {
    /// `TOUCHPOINT_MODEL_PARALLELISM=N`: up to N at once, each planned for
    /// its share of the cores.
    Fixed(usize),
    /// The default: up to `cores` at once, at most one of them big (it
    /// reads more than `rows` input rows). Two big builds side by side
    /// each hold their own Parquet and write buffers beside the shared
    /// pool: a 1M customers × 12 months run peaked at 1,143 MiB that way
    /// (848-905 MiB one at a time), over the 1 GiB a run is kept within;
    /// the small ones beside a big one read no more than one big part
    /// together. Each keeps every core's partitions, so a model's rows do
    /// not depend on what built beside it (a floating-point sum over
    /// other partitions may differ in its last bit).
    Small { cores: usize, rows: u64 },
}

impl Slots {
    fn from_env(cores: usize) -> Slots {
        match super::asked_parallelism("TOUCHPOINT_MODEL_PARALLELISM") {
            Some(n) => Slots::Fixed(n),
            None => Slots::Small {
                cores,
                rows: super::chunks::budget(crate::engine::memory_limit()) / cores.max(1) as u64,
            },
        }
    }

    /// Whether a build (small or not) may start beside `running` builds,
    /// `big` of them not small.
    fn admits(self, running: usize, big: usize, small: bool) -> bool {
        match self {
            Slots::Fixed(n) => running < n,
            Slots::Small { cores, .. } => running == 0 || (running < cores && (small || big == 0)),
        }
    }

    /// Whether building `m` (`periods` of it, or whole) is small, and the
    /// inputs' row counts read to tell (the build uses them again). Never
    /// small when builds do not share by size, or a row count is not in
    /// the log (a table that cannot be read fails its build, with the
    /// error).
    async fn size(
        self,
        wh: &crate::warehouse::Warehouse,
        m: &crate::models::Model,
        periods: Option<&std::collections::BTreeSet<String>>,
    ) -> Size {
        let Slots::Small { cores: 2.., rows } = self else {
            return Size::default();
        };
        let counted = super::chunks::input_rows(wh, m).await.ok().flatten();
        Size {
            small: counted
                .as_ref()
                .is_some_and(|c| super::chunks::rows_to_read(m, periods, c) <= rows),
            counted,
        }
    }
}

/// A build's size, as [`Slots::size`] found it.
#[derive(Default)]
struct Size {
    small: bool,
    counted: Option<Vec<crate::warehouse::changes::Rows>>,
}

#[cfg(test)]
mod tests {
    use super::Slots;

    /// By default a big build runs alone or beside small ones, never
    /// beside another big one; small ones fill the cores.
    #[test]
    fn at_most_one_big_build_at_a_time() {
        let s = Slots::Small {
            cores: 2,
            rows: 1000,
        };
        // (running, big running, small) → may start
        assert!(s.admits(0, 0, false));
        assert!(s.admits(0, 0, true));
        assert!(s.admits(1, 1, true));
        assert!(!s.admits(1, 1, false));
        assert!(s.admits(1, 0, false));
        assert!(!s.admits(2, 0, true));
        // One core: one at a time.
        let one = Slots::Small {
            cores: 1,
            rows: 1000,
        };
        assert!(one.admits(0, 0, false));
        assert!(!one.admits(1, 0, true));
        // Asked for: N at once, whatever their size.
        let fixed = Slots::Fixed(3);
        assert!(fixed.admits(2, 2, false));
        assert!(!fixed.admits(3, 0, true));
    }
}
