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
    /// Also connect to each database source and check its declared columns
    /// against the catalog (types it cannot hold, missing or extra columns).
    /// Without it, validate never connects to anything.
    #[arg(long)]
    pub online: bool,
}

pub async fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    let args = a.pipeline.or(a.file);
    let file = args.file()?;
    let p = args.load().await?;
    if a.online {
        online(&file, &p).await?;
    }
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

/// Check every database source against its catalog; every problem becomes
/// a diagnostic located at the column it is about.
async fn online(file: &std::path::Path, p: &crate::pipeline::Pipeline) -> Result<()> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let loc = crate::spec::Locator::new(&text);
    let mut found = Vec::new();
    for src in p.sources.iter().filter(|s| s.database.is_some()) {
        let s2 = src.clone();
        let checked =
            tokio::task::spawn_blocking(move || crate::sources::database::online::check(&s2))
                .await
                .map_err(|e| crate::sources::Error::Other {
                    source_name: src.name.clone(),
                    reason: format!("the catalog check stopped: {e}"),
                })?
                .map_err(|e| crate::sources::database::load::source_error(src, e))?;
        for f in checked {
            let mut d = crate::spec::Diagnostic::new(file, loc.value(&f.at), &f.at, f.message);
            d.help = f.help;
            found.push(d);
        }
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(crate::Error::Invalid(found))
    }
}
