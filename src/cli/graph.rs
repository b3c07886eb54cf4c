//! `touchpoint graph`: the pipeline's dependency graph.

use super::PipelineArgs;
use crate::Result;
use std::io::Write;
use std::path::PathBuf;

/// Print what each table and report reads: seeds, sources (and the sources
/// their `references` point at), models in run order with the tables their
/// SQL reads, reports with their tables. `--dot` prints Graphviz DOT.
///
/// Example: touchpoint graph
///          touchpoint graph --pipeline pipelines/monthly_cx.yaml --dot | dot -Tsvg > graph.svg
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// The pipeline file (same as --pipeline).
    #[arg(value_name = "PIPELINE", conflicts_with = "pipeline")]
    pub file: Option<PathBuf>,
    /// Graphviz DOT instead of text.
    #[arg(long)]
    pub dot: bool,
}

pub async fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    let p = a.pipeline.or(a.file).load_for_reading().await?;
    let text = if a.dot {
        crate::pipeline::graph::dot(&p)
    } else {
        crate::pipeline::graph::text(&p)
    };
    out.write_all(text.as_bytes())
        .map_err(super::io_err("stdout"))?;
    Ok(())
}
