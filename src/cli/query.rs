//! `touchpoint query`: one SQL statement over the warehouse.

use super::{PipelineArgs, WarehouseArgs};
use crate::Result;
use crate::sql::output::{OutputFormat, write_batches};
use crate::sql::params::{parse_param, typed};
use futures::StreamExt;
use std::io::{Read, Write};
use std::path::PathBuf;

/// Run one SQL statement over every warehouse table and print the result as
/// a table, CSV or JSON. Personal columns declared in the pipeline are masked.
/// SQL comes from the argument, --file, or stdin when the argument is `-`.
///
/// Example: touchpoint query "SELECT tier, customers FROM segment_pyramid WHERE period = '2024-12'"
///          touchpoint query --format csv "SELECT * FROM churn_risk ORDER BY score DESC LIMIT 20"
///          touchpoint query --file queries/adhoc/top_at_risk.sql --param tier=Premier --param period=2024-12
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The SQL text (`-` reads stdin).
    pub sql: Option<String>,
    /// Read the SQL from a file.
    #[arg(long, conflicts_with = "sql")]
    pub file: Option<PathBuf>,
    /// A named parameter, `--param tier=Premier`: `$tier` in the SQL. Bound
    /// as a value (never pasted into the SQL text): a whole number is an
    /// integer, a decimal a double, true/false a boolean, anything else text.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub reader: ReaderArgs,
}

/// Where readers (`query`, `sql`) find the warehouse and its masking policy.
#[derive(Debug, clap::Args)]
pub struct ReaderArgs {
    /// The pipeline declares which columns are personal data: readers need it.
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Read every table exactly as this run left it (a run id from `_runs`).
    #[arg(long, value_name = "RUN_ID")]
    pub as_of: Option<String>,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
}

impl ReaderArgs {
    /// The reader's session: the pipeline's warehouse, masked for whoever
    /// `TOUCHPOINT_READER` (else the login) names.
    pub async fn session(&self) -> Result<crate::sql::Session> {
        let pipeline = self.pipeline.load_for_reading().await?;
        Ok(crate::sql::Session::open(
            &pipeline,
            self.warehouse.warehouse.as_deref(),
            self.as_of.as_deref(),
            &crate::access::reader_name(),
        )
        .await?)
    }
}

pub async fn run(a: Args, out: &mut dyn Write) -> Result<()> {
    let sql = match (&a.sql, &a.file) {
        (Some(s), _) if s == "-" => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(super::io_err("stdin"))?;
            s
        }
        (Some(s), _) => s.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).map_err(|e| {
            crate::Error::usage(
                format!("cannot read `{}`: {e}", f.display()),
                "check the path",
            )
        })?,
        (None, None) => {
            return Err(crate::Error::usage(
                "no SQL given",
                "touchpoint query \"SELECT * FROM _runs\"",
            ));
        }
    };
    let session = a.reader.session().await?;
    let params = a
        .params
        .iter()
        .map(|(k, v)| (k.clone(), typed(v)))
        .collect();
    let mut stream = session.query(&sql, params).await?;
    let mut batches = Vec::new();
    while let Some(b) = stream.next().await {
        batches.push(b.map_err(crate::sql::Error::from)?);
    }
    write_batches(out, &batches, a.format).map_err(super::io_err("stdout"))?;
    Ok(())
}
