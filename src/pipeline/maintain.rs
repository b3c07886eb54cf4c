//! `touchpoint maintain`: compact, checkpoint and vacuum the pipeline's
//! tables under the run lock, and say in `_runs` what was removed.

use super::{Pipeline, Result};
use crate::warehouse::log::{self, RUNS, StepLog};
use crate::warehouse::maintain::Maintained;
use crate::warehouse::transaction::Transaction;
use crate::warehouse::{Warehouse, WriteMode};
use std::io::Write;
use std::time::Instant;

/// Maintain every table of `pipeline` that exists in `wh`.
pub async fn maintain(
    pipeline: &Pipeline,
    wh: &Warehouse,
    progress: &mut dyn Write,
) -> Result<Vec<Maintained>> {
    let run_id = super::run::new_run_id();
    // The run lock keeps runs out while files are rewritten and removed.
    let (mut tx, stale) = Transaction::begin(wh, &pipeline.name, &run_id).await?;
    if let Some(stale) = stale {
        // A dead run's tables go back first, as a run would do; if that
        // fails, the lock keeps its journal for the next run.
        let restored = tx.recover(&stale).await?;
        let _ = writeln!(
            progress,
            "recovered: restored {} table(s) written by an unfinished run ({})",
            restored.len(),
            stale.holder
        );
    }
    let outcome = async {
        let existing = wh.list().await?;
        let mut names: Vec<String> = pipeline
            .schemas
            .keys()
            .filter(|t| existing.contains(t))
            .cloned()
            .collect();
        if existing
            .iter()
            .any(|t| t == crate::warehouse::versions::VERSIONS)
        {
            names.push(crate::warehouse::versions::VERSIONS.into());
        }
        let mut done = Vec::new();
        let mut steps = Vec::new();
        for name in &names {
            let t = Instant::now();
            let started_at = chrono::Utc::now().timestamp_micros();
            let m = wh.maintain(name, wh.retention(), &run_id).await?;
            let _ = writeln!(progress, "{}", m.describe());
            steps.push(StepLog {
                run_id: run_id.clone(),
                pipeline: pipeline.name.clone(),
                started_at,
                kind: "maintain".into(),
                table: name.clone(),
                files: (m.files_compacted + m.files_vacuumed) as i64,
                seconds: t.elapsed().as_secs_f64(),
                status: "ok".into(),
                message: Some(m.describe()),
                table_version: wh.version(name).await?.map(|v| v as i64),
                ..StepLog::default()
            });
            done.push(m);
        }
        let ctx = crate::engine::session();
        wh.write(
            &ctx,
            RUNS,
            crate::engine::batch_stream(log::runs_batch(&steps)),
            WriteMode::Append,
            &run_id,
        )
        .await?;
        Ok::<_, super::Error>(done)
    }
    .await;
    let released = tx.release().await;
    let done = outcome?;
    released?;
    Ok(done)
}
