//! `touchpoint graph`: the pipeline's dependency graph.

use crate::Result;
use std::io::Write;
use std::path::PathBuf;

/// Print what each table and report reads: seeds, sources (and the sources
/// their `references` point at), models in run order with the tables their
/// SQL reads, reports with their tables. `--dot` prints Graphviz DOT.
///
/// Example: touchpoint graph pipelines/monthly_cx.yaml
///          touchpoint graph pipelines/monthly_cx.yaml --dot | dot -Tsvg > graph.svg
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The pipeline file.
    #[arg(default_value = super::DEFAULT_PIPELINE)]
    pub pipeline: PathBuf,
    /// Graphviz DOT instead of text.
    #[arg(long)]
    pub dot: bool,
}

pub async fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    let p = super::load_pipeline_for_reading(&a.pipeline).await?;
    let text = if a.dot {
        crate::pipeline::graph::dot(&p)
    } else {
        crate::pipeline::graph::text(&p)
    };
    out.write_all(text.as_bytes())
        .map_err(super::io_err("stdout"))?;
    Ok(())
}
