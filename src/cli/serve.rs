//! `touchpoint serve`: the warehouse over the PostgreSQL wire protocol.

use crate::Result;
use crate::serve::{Options, govern::Limits};
use std::io::Write;
use std::path::PathBuf;

/// Serve the warehouse to BI tools, notebooks and drivers over the
/// PostgreSQL protocol. Users and their roles are `access.users` in the
/// pipeline; each user's password is TOUCHPOINT_PASSWORD_<USER> or a line
/// of the --secrets file. Every statement is read-only, masked, scoped to
/// the role's rows and written to the audit log.
///
/// Example: TOUCHPOINT_PASSWORD_ANA=… touchpoint serve --listen 127.0.0.1:5433
///          psql "host=127.0.0.1 port=5433 user=ana dbname=touchpoint"
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    pub pipeline: super::PipelineArgs,
    #[command(flatten)]
    pub warehouse: super::WarehouseArgs,
    /// Address to listen on (PostgreSQL protocol); port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:5433", env = "TOUCHPOINT_LISTEN")]
    pub listen: String,
    /// Also serve Arrow Flight SQL on this address (e.g. 127.0.0.1:50051).
    #[arg(long, value_name = "HOST:PORT", env = "TOUCHPOINT_FLIGHT")]
    pub flight: Option<String>,
    /// Allow listening beyond loopback (TLS is then required).
    #[arg(long)]
    pub allow_remote: bool,
    /// PEM certificate chain for TLS.
    #[arg(long, value_name = "FILE", env = "TOUCHPOINT_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS.
    #[arg(long, value_name = "FILE", env = "TOUCHPOINT_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Refuse connections without TLS.
    #[arg(long)]
    pub require_tls: bool,
    /// A YAML file of `user: password` lines, readable by its owner only.
    #[arg(long, value_name = "FILE", env = "TOUCHPOINT_SECRETS_FILE")]
    pub secrets: Option<PathBuf>,
    /// JSON-lines audit log, one line per statement and refused login.
    #[arg(long, value_name = "FILE", default_value = "logs/audit.jsonl")]
    pub audit_log: PathBuf,
    #[arg(long, default_value_t = 64)]
    pub max_connections: usize,
    /// Statements executing at once (more wait for a slot, within their
    /// timeout) [default: twice the CPU cores, at least 4].
    #[arg(long)]
    pub max_running: Option<usize>,
    /// Longest a statement may run, in seconds (clients may set less).
    #[arg(long, default_value_t = 300)]
    pub statement_timeout: u64,
    /// Most rows one statement may return.
    #[arg(long, default_value_t = 10_000_000)]
    pub max_rows: u64,
    /// Most bytes one statement may return (as encoded on the wire).
    #[arg(long, default_value_t = 2 << 30)]
    pub max_bytes: u64,
    /// Longest statement text accepted, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_statement_bytes: usize,
    /// On SIGTERM, seconds running statements get to finish.
    #[arg(long, default_value_t = 30)]
    pub grace: u64,
    /// MiB of memory for the answers of repeated queries, kept per user
    /// and finished run (0 turns the cache off).
    #[arg(long, default_value_t = 64)]
    pub result_cache_mb: usize,
    /// MiB of memory for tables held for keyed lookups
    /// (`WHERE customer_id = …`), per role and run (0 turns lookups off).
    #[arg(long, default_value_t = 512)]
    pub lookup_cache_mb: usize,
}

pub async fn run(a: Args, _out: &mut dyn Write) -> Result<()> {
    let pipeline = a.pipeline.load_for_reading().await?;
    let opts = Options {
        listen: a.listen,
        flight: a.flight,
        allow_remote: a.allow_remote,
        tls_cert: a.tls_cert,
        tls_key: a.tls_key,
        require_tls: a.require_tls,
        max_connections: a.max_connections.max(1),
        max_running: a.max_running.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(4, |n| (2 * n.get()).max(4))
        }),
        limits: Limits {
            statement_timeout: std::time::Duration::from_secs(a.statement_timeout.max(1)),
            max_rows: a.max_rows,
            max_bytes: a.max_bytes,
            max_statement_bytes: a.max_statement_bytes,
        },
        grace: std::time::Duration::from_secs(a.grace),
        audit_log: a.audit_log,
        result_cache_bytes: a.result_cache_mb.saturating_mul(1 << 20),
        lookup_cache_bytes: a.lookup_cache_mb.saturating_mul(1 << 20),
        secrets: a.secrets,
        warehouse: a.warehouse.warehouse,
    };
    Ok(crate::serve::serve(pipeline, opts).await?)
}
