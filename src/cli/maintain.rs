//! `touchpoint maintain`: keep the warehouse small and quick to open.

use super::{PipelineArgs, WarehouseArgs};
use crate::Result;
use crate::warehouse::Warehouse;
use std::io::Write;

/// Compact each table's small files, write a checkpoint, and vacuum the
/// files and log entries that no version within the pipeline's
/// `retention:` (default 30d) needs. Takes the run lock (a run and
/// `maintain` never overlap) and logs what it removed in `_runs`
/// (kind `maintain`). Versions older than the horizon can no longer be
/// read with `--as-of` or `table_at`.
///
/// Example: touchpoint maintain
///          touchpoint maintain --pipeline pipelines/monthly_cx.yaml
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
}

pub async fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    let p = a.pipeline.load().await?;
    let wh = Warehouse::open(&p.warehouse_location(a.warehouse.warehouse.as_deref()))?
        .with_retention(p.retention);
    let mut err = std::io::stderr();
    let done = crate::pipeline::maintain::maintain(&p, &wh, &mut err).await?;
    let sum =
        |f: fn(&crate::warehouse::maintain::Maintained) -> u64| done.iter().map(f).sum::<u64>();
    writeln!(
        out,
        "maintained {} table(s): compacted {} file(s) into {}, vacuumed {} file(s), removed {} log entries (retention {})",
        done.len(),
        sum(|m| m.files_compacted),
        sum(|m| m.files_written),
        sum(|m| m.files_vacuumed),
        sum(|m| m.logs_removed),
        crate::warehouse::maintain::describe(p.retention)
    )
    .map_err(super::io_err("stdout"))?;
    Ok(())
}
