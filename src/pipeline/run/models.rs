//! The models phase (each model built over its inputs and committed, in
//! dependency order) and the checks phase (every data-quality check over
//! the warehouse as the run left it).

use super::Runner;
use crate::period::Period;
use crate::pipeline::Result;
use crate::warehouse::WriteMode;
use std::sync::atomic::Ordering;
use std::time::Instant;

impl Runner<'_> {
    /// Build every model in dependency order; a step's fit (coefficients,
    /// metrics, parameters) is appended to its bookkeeping table.
    pub(super) async fn build_models(&mut self) -> Result<()> {
        for m in &self.pipeline.models {
            let t = Instant::now();
            let ctx = crate::engine::session();
            for dep in &m.depends_on {
                ctx.register_table(dep.as_str(), self.wh.provider(dep).await?)?;
            }
            let built = crate::models::build(&ctx, m, &self.run_id, self.pipeline.timezone).await?;
            let (stream, rows) = crate::engine::counting(built.stream);
            let c = self
                .tx
                .commit(&ctx, &m.name, stream, WriteMode::Overwrite)
                .await?;
            if let Some((table, batch)) = built.side {
                self.tx
                    .commit(
                        &ctx,
                        table,
                        crate::engine::batch_stream(batch),
                        WriteMode::Append,
                    )
                    .await?;
            }
            let n = rows.load(Ordering::Relaxed) as i64;
            self.log("model", &m.name, None, 0, n, n, 0, t, Some(c.version));
            if !built.summary.is_empty() {
                let _ = writeln!(self.progress, "model {}: {}", m.name, built.summary);
                if let Some(last) = self.steps.last_mut() {
                    last.message = Some(built.summary);
                }
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
        self.checks = crate::checks::run(
            &self.pipeline.checks,
            self.wh,
            periods,
            self.pipeline.timezone,
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
