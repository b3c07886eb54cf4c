//! `touchpoint discover`: propose a source block from an extract.

use crate::Result;
use std::io::Write;
use std::path::PathBuf;

/// Sniff an extract (CSV or other delimited text, JSON lines, Parquet) and
/// print a source block for the pipeline: format, delimiter, header, and per
/// column the narrowest type all sampled values fit (timestamp formats
/// included), `required` when no value was empty, `personal: mask` for
/// names that look like personal data. A proposal for a person to review:
/// set the key, time zones and checks before use.
///
/// Example: touchpoint discover data/callcentre/2024/01/calls_01012024.txt
///          touchpoint discover data/atm/2024/01/atm_20240101.csv --out atm.yaml
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The extract to sniff.
    pub path: PathBuf,
    /// Write the block to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    let block = crate::sources::discover::discover(&a.path)?;
    match &a.out {
        Some(p) => std::fs::write(p, &block).map_err(super::io_err(&p.display().to_string()))?,
        None => out
            .write_all(block.as_bytes())
            .map_err(super::io_err("stdout"))?,
    }
    Ok(())
}
