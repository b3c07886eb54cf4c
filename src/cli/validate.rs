//! `touchpoint validate`: check a pipeline without running anything.

use super::PipelineArgs;
use crate::Result;
use std::io::Write;
use std::path::PathBuf;

/// Check a pipeline before anything runs: unknown keys, missing files, types,
/// SQL that does not plan against the declared schemas, dependency cycles.
/// Every problem is printed as file:line:column with a hint; exit code 78 when
/// there is any.
///
/// Example: touchpoint validate --pipeline pipelines/monthly_cx.yaml
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// The pipeline file (same as --pipeline).
    #[arg(value_name = "PIPELINE", conflicts_with = "pipeline")]
    pub file: Option<PathBuf>,
}

pub async fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    let args = a.pipeline.or(a.file);
    let file = args.file()?;
    let p = args.load().await?;
    let io = super::io_err("stdout");
    writeln!(
        out,
        "{}: ok — {} seeds, {} sources, {} models, {} reports",
        file.display(),
        p.seeds.len(),
        p.sources.len(),
        p.models.len(),
        p.reports.len()
    )
    .map_err(io)?;
    let order: Vec<&str> = p.models.iter().map(|m| m.name.as_str()).collect();
    writeln!(out, "model order: {}", order.join(" → ")).map_err(super::io_err("stdout"))?;
    Ok(())
}
