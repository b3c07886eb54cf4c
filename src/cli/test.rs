//! `touchpoint test`: the pipeline's model unit tests.

use super::PipelineArgs;
use crate::Result;
use std::io::Write;
use std::path::PathBuf;

/// Run the unit tests under the pipeline's `tests:` key: each gives rows for
/// the tables a model reads and the rows the model must produce. Runs in
/// memory; the warehouse and the extracts are not touched. Exit 1 when a
/// test fails.
///
/// Example: touchpoint test
///          touchpoint test --pipeline pipelines/monthly_cx.yaml --filter pyramid
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// The pipeline file (same as --pipeline).
    #[arg(value_name = "PIPELINE", conflicts_with = "pipeline")]
    pub file: Option<PathBuf>,
    /// Only tests whose name or model contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    let p = a.pipeline.or(a.file).load_for_reading().await?;
    let io = super::io_err("stdout");
    let selected: Vec<_> = p
        .tests
        .iter()
        .filter(|t| {
            a.filter
                .as_deref()
                .is_none_or(|f| t.name.contains(f) || t.model.contains(f))
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in selected {
        let o = crate::models::unit_test::run(&p.models, &p.schemas, p.timezone, t).await?;
        if !a.json {
            match &o.failure {
                None => writeln!(out, "ok    {} ({}: {} rows)", o.name, o.model, o.rows),
                Some(why) => writeln!(out, "FAIL  {} ({}): {why}", o.name, o.model),
            }
            .map_err(super::io_err("stdout"))?;
        }
        outcomes.push(o);
    }
    let failed = outcomes.iter().filter(|o| o.failure.is_some()).count();
    if a.json {
        let text = serde_json::to_string_pretty(&outcomes).unwrap_or_default();
        writeln!(out, "{text}").map_err(io)?;
    } else {
        writeln!(
            out,
            "{} passed, {failed} failed ({} tests in the pipeline)",
            outcomes.len() - failed,
            p.tests.len()
        )
        .map_err(io)?;
    }
    if failed > 0 {
        return Err(crate::Error::TestsFailed(failed));
    }
    Ok(())
}
