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
/// A PostgreSQL table (`postgres://user@host:5432/db/schema.table`) is read
/// from the catalog instead: types, `required` from NOT NULL, the key from
/// the primary key. The password comes from the URL or the `--profile`'s
/// `TOUCHPOINT_PROFILE_<NAME>_PASSWORD`, and the block names that profile.
///
/// Example: touchpoint discover data/callcentre/2024/01/calls_01012024.txt
///          touchpoint discover postgres://etl@db.bank:5432/crm/crm.customers --profile crm
///          touchpoint discover data/atm/2024/01/atm_20240101.csv --out atm.yaml
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The extract to sniff, or a database table as a URL.
    pub path: PathBuf,
    /// A database table: the credential profile the block names (its
    /// password variable is used when the URL has none). Default: `crm`.
    #[arg(long)]
    pub profile: Option<String>,
    /// Write the block to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub async fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    let text = a.path.to_string_lossy().into_owned();
    let block = if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        let profile = a.profile.clone().unwrap_or_else(|| "crm".into());
        let name = text.rsplit('/').next().unwrap_or("source").to_string();
        tokio::task::spawn_blocking(move || crate::sources::postgres::discover(&text, &profile))
            .await
            .map_err(|e| crate::sources::Error::Other {
                source_name: name.clone(),
                reason: format!("discover stopped: {e}"),
            })?
            .map_err(|e| crate::sources::Error::Database {
                source_name: name,
                error: Box::new(e),
            })?
    } else {
        crate::sources::discover::discover(&a.path)?
    };
    match &a.out {
        Some(p) => std::fs::write(p, &block).map_err(super::io_err(&p.display().to_string()))?,
        None => out
            .write_all(block.as_bytes())
            .map_err(super::io_err("stdout"))?,
    }
    Ok(())
}
