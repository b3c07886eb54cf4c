//! `touchpoint tables`: what the warehouse holds.

use super::{PipelineArgs, WarehouseArgs};
use crate::Result;
use crate::warehouse::Warehouse;
use std::io::Write;

/// List the warehouse tables with their Delta version, row count and columns.
///
/// Example: touchpoint tables
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
}

pub async fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    // Without a pipeline, the warehouse named by --warehouse (or ./warehouse).
    let location = if a.pipeline.file().is_ok() {
        a.pipeline
            .load_for_reading()
            .await?
            .warehouse_location(a.warehouse.warehouse.as_deref())
    } else {
        a.warehouse
            .warehouse
            .clone()
            .unwrap_or_else(|| "warehouse".into())
    };
    // Readers see the last finished run, never half of one.
    let wh = Warehouse::open(&location)?.committed().await?;
    let io = super::io_err("stdout");
    let ctx = crate::engine::session();
    writeln!(
        out,
        "{:<28} {:>8} {:>12}  columns",
        "table", "version", "rows"
    )
    .map_err(super::io_err("stdout"))?;
    for name in wh.list().await? {
        let Some(t) = wh.table(&name).await? else {
            continue;
        };
        let provider = wh.provider_of(&name, &t).await?;
        let cols: Vec<String> = provider
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let rows = ctx
            .read_table(provider)
            .map_err(crate::warehouse::Error::from)?
            .count()
            .await
            .map_err(crate::warehouse::Error::from)?;
        writeln!(
            out,
            "{:<28} {:>8} {:>12}  {}",
            name,
            t.version().map(|v| v as i64).unwrap_or(0),
            rows,
            cols.join(", ")
        )
        .map_err(super::io_err("stdout"))?;
    }
    let _ = io;
    Ok(())
}
