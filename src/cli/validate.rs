//! `touchpoint validate`: check a pipeline without running anything.

use crate::Result;
use std::io::Write;
use std::path::PathBuf;

/// Check a pipeline before anything runs: unknown keys, missing files, types,
/// SQL that does not plan against the declared schemas, dependency cycles.
/// Every problem is printed as file:line:column with a hint; exit code 78 when
/// there is any.
///
/// Example: touchpoint validate pipelines/monthly_cx.yaml
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The pipeline file.
    #[arg(default_value = super::DEFAULT_PIPELINE)]
    pub pipeline: PathBuf,
}

pub async fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    let p = super::load_pipeline(&a.pipeline).await?;
    let io = super::io_err("stdout");
    writeln!(
        out,
        "{}: ok — {} seeds, {} sources, {} models, {} reports",
        a.pipeline.display(),
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
