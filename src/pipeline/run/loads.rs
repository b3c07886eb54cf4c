//! Scheduling the source loads: snapshots first, then every period of the
//! periodic sources; up to [`load_parallelism`] loads at once, each on a
//! task of its own, in the order the [`Schedule`] allows.

use super::Runner;
use super::schedule::Schedule;
use super::stages::{Executed, Prepared, execute_load};
use crate::period::Period;
use crate::pipeline::Result;
use crate::sources::Source;
use std::collections::HashSet;
use std::time::Instant;

impl Runner<'_> {
    /// Load every source for `periods`.
    pub(super) async fn load_all(&mut self, periods: &[Period]) -> Result<()> {
        // Sources that others reference load first, so their keys are known.
        let referenced: HashSet<&str> = self
            .pipeline
            .sources
            .iter()
            .flat_map(|s| s.references())
            .collect();
        let mut ordered: Vec<&Source> = self
            .pipeline
            .sources
            .iter()
            .filter(|s| referenced.contains(s.name.as_str()))
            .collect();
        ordered.extend(
            self.pipeline
                .sources
                .iter()
                .filter(|s| !referenced.contains(s.name.as_str())),
        );
        let snapshots: Vec<&Source> = ordered
            .iter()
            .filter(|s| !s.is_periodic())
            .copied()
            .collect();
        self.load_sources(&snapshots, &[None]).await?;
        // Periods from values: one load of every file, whatever the periods.
        let by_value: Vec<&Source> = ordered
            .iter()
            .filter(|s| s.periods_from_values())
            .copied()
            .collect();
        self.load_sources(&by_value, &[None]).await?;
        let periodic: Vec<&Source> = ordered
            .iter()
            .filter(|s| s.is_periodic() && !s.periods_from_values())
            .copied()
            .collect();
        let each: Vec<Option<Period>> = periods.iter().copied().map(Some).collect();
        self.load_sources(&periodic, &each).await?;
        Ok(())
    }

    /// Load `srcs` for each of `periods`: plan and journal each load, read
    /// and write up to [`load_parallelism`] tables at once (each load on a
    /// task of its own), and record quarantine and files as each finishes
    /// (those tables take one writer at a time). Which load goes when is
    /// the [`Schedule`]'s; among those that may start, the source with the
    /// most left to read goes first, so the run does not end waiting on one
    /// big source.
    async fn load_sources(&mut self, srcs: &[&Source], periods: &[Option<Period>]) -> Result<()> {
        let named: Vec<(&str, Vec<&str>)> = srcs
            .iter()
            .map(|s| (s.name.as_str(), s.references().collect()))
            .collect();
        let mut schedule = Schedule::new(&named, periods.len());
        let mut ready: Vec<Option<Prepared>> = srcs.iter().map(|_| None).collect();
        let mut running = tokio::task::JoinSet::new();
        let result = self
            .drive(srcs, periods, &mut schedule, &mut ready, &mut running)
            .await;
        if result.is_err() {
            // Loads still in flight must stop before the run rolls back
            // what it wrote, or one could commit after the rollback.
            running.shutdown().await;
        }
        result
    }

    async fn drive(
        &mut self,
        srcs: &[&Source],
        periods: &[Option<Period>],
        schedule: &mut Schedule,
        ready: &mut [Option<Prepared>],
        running: &mut tokio::task::JoinSet<(usize, Executed)>,
    ) -> Result<()> {
        let slots = load_parallelism();
        loop {
            // A load with nothing to read finishes at once, which can let
            // others be planned: plan until none can be.
            while let Some(x) = schedule.plannable().first().copied() {
                match self
                    .prepare_load(srcs[x], periods[schedule.next(x)])
                    .await?
                {
                    Some(p) => {
                        ready[x] = Some(p);
                        schedule.planned(x);
                    }
                    None => schedule.skipped(x),
                }
            }
            while running.len() < slots {
                // Most left to read first: this load's bytes times the
                // periods after it (a Parquet load first among equals: its
                // files are staged whole, so it cannot overlap read and write).
                let left = |x: usize| {
                    let p = ready[x].as_ref()?;
                    let bytes: u64 = p.files.iter().map(|f| f.size).sum();
                    let staged = p.src.format.reader().staged();
                    let periods_left = (periods.len() - schedule.next(x) + 1) as u64;
                    Some((bytes.saturating_mul(periods_left), staged))
                };
                let Some(x) = (0..srcs.len())
                    .filter(|&x| schedule.may_start(x))
                    .max_by_key(|&x| (left(x), std::cmp::Reverse(x)))
                else {
                    break;
                };
                let Some(mut p) = ready[x].take() else {
                    break;
                };
                // A load's time is its planning and its run, not its wait.
                p.t = Instant::now().checked_sub(p.planned_in).unwrap_or(p.t);
                schedule.started(x);
                let (writer, ctx) = (self.tx.writer().clone(), self.ctx.clone());
                let bars = self.options.progress_bars;
                running.spawn(async move { (x, execute_load(&writer, &ctx, p, bars).await) });
            }
            let Some(joined) = running.join_next().await else {
                if schedule.done() {
                    return Ok(());
                }
                return Err(crate::pipeline::Error::Internal(
                    "source loads wait on each other and none can start".into(),
                ));
            };
            let (x, e) = joined
                .map_err(|e| crate::pipeline::Error::Internal(format!("a load stopped: {e}")))?;
            schedule.finished(x);
            self.finish_load(e).await?;
        }
    }
}

/// How many source loads run at once: `TOUCHPOINT_LOAD_PARALLELISM`, else
/// the number of cores (at most 4: each load is a reader and a writer).
pub(super) fn load_parallelism() -> usize {
    super::parallelism("TOUCHPOINT_LOAD_PARALLELISM", super::cores().min(4))
}
