//! `touchpoint sql`: the interactive SQL shell (see `sql::shell`).

use crate::Result;
use crate::sql::output::OutputFormat;
use std::io::Write;

/// Open an interactive SQL shell over every warehouse table (personal
/// columns masked as the pipeline declares).
///
/// Example: touchpoint sql
///          echo "SELECT COUNT(*) FROM churn_risk;" | touchpoint sql --format csv
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub reader: super::query::ReaderArgs,
}

pub async fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    let session = a.reader.session().await?;
    crate::sql::shell::run(session, a.format, out)
        .await
        .map_err(super::io_err("the terminal"))
}
