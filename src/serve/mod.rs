//! `touchpoint serve`: the warehouse over the PostgreSQL wire protocol, for
//! BI tools, notebooks and drivers. Each user logs in with SCRAM-SHA-256
//! and reads through the same reader session as `touchpoint sql` — masks,
//! grants and row scope of their role, read-only, one consistent snapshot
//! per statement — under the server's limits, every statement audited.
//!
//! Layers: [`users`] (who may connect), [`snapshot`] (sessions per role and
//! run), [`statement`] (what a statement is), [`handler`] (running one), [`protocol`] (the pgwire handlers over it),
//! [`govern`] (limits, cancel, audit while rows stream), [`listen`] (the
//! socket, TLS, connection cap, shutdown); [`copy`] (COPY's encodings),
//! [`rewrite`] (catalog queries as DataFusion plans them), [`flight`] and
//! [`prepared`] (Flight SQL and its stateless prepared statements).

pub mod audit;
pub mod catalog;
pub mod cells;
pub mod copy;
pub mod flight;
pub mod govern;
pub mod handler;
mod json;
pub mod listen;
pub mod lookup;
pub mod prepared;
pub mod protocol;
pub mod results;
pub mod rewrite;
pub mod rows;
pub mod snapshot;
pub mod statement;
pub mod users;

use crate::pipeline::Pipeline;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
    #[error("{addr} is not a loopback address")]
    NotLoopback { addr: String },
    #[error("listening on {addr}, beyond this machine, needs TLS")]
    RemoteWithoutTls { addr: String },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("the pipeline declares no users (access.users)")]
    NoUsers,
    #[error("no password for user `{user}`")]
    NoPassword { user: String },
    #[error("cannot read the secrets file `{path}`: {reason}")]
    Secrets { path: String, reason: String },
    #[error("cannot open the audit log `{path}`: {reason}")]
    Audit { path: String, reason: String },
    #[error(transparent)]
    Sql(#[from] crate::sql::Error),
}

impl Error {
    pub fn help(&self) -> Option<String> {
        Some(match self {
            Error::Listen { .. } => "pick a free port with --listen HOST:PORT".into(),
            Error::NotLoopback { .. } => {
                "the server listens on loopback unless told otherwise: add --allow-remote (with TLS)".into()
            }
            Error::RemoteWithoutTls { .. } => {
                "pass --tls-cert and --tls-key (or TOUCHPOINT_TLS_CERT / TOUCHPOINT_TLS_KEY)".into()
            }
            Error::Tls(_) => "check the PEM certificate chain and private key paths".into(),
            Error::NoUsers => {
                "declare users under access.users, each with a role: `ana: {role: analyst}`".into()
            }
            Error::NoPassword { user } => format!(
                "set {} or give a secrets file (--secrets FILE, `{user}: …` lines)",
                users::password_var(user)
            ),
            Error::Secrets { .. } => {
                "a YAML mapping `user: password`, readable by its owner only (chmod 600)".into()
            }
            Error::Audit { .. } => "pass --audit-log with a writable path".into(),
            Error::Sql(e) => return e.help(),
        })
    }
}

/// How the server runs (command line and environment).
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: String,
    /// Arrow Flight SQL's address, when asked for.
    pub flight: Option<String>,
    pub allow_remote: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub require_tls: bool,
    pub max_connections: usize,
    /// Statements executing at once; more wait for a slot.
    pub max_running: usize,
    pub limits: govern::Limits,
    pub grace: std::time::Duration,
    pub audit_log: PathBuf,
    /// Memory for repeated queries' answers (0: none).
    pub result_cache_bytes: usize,
    /// Memory for tables held for keyed lookups (0: none).
    pub lookup_cache_bytes: usize,
    pub secrets: Option<PathBuf>,
    pub warehouse: Option<String>,
}

/// What every connection shares.
pub struct Server {
    pub pipeline: Arc<Pipeline>,
    pub users: Arc<users::Users>,
    pub snapshots: snapshot::Snapshots,
    pub audit: Arc<audit::Audit>,
    pub limits: govern::Limits,
    pub cancels: Arc<govern::Cancels>,
    pub running: Arc<govern::Running>,
    pub results: Arc<results::Results>,
    pub lookups: Arc<lookup::Lookups>,
    pub require_tls: bool,
}

/// Serve `pipeline` until SIGTERM or Ctrl-C.
pub async fn serve(pipeline: Pipeline, opts: Options) -> Result<(), Error> {
    let users = Arc::new(users::Users::load(
        &pipeline.access,
        opts.secrets.as_deref(),
    )?);
    let pipeline = Arc::new(pipeline);
    let snapshots = snapshot::Snapshots::new(pipeline.clone(), opts.warehouse.as_deref())?;
    let audit = Arc::new(audit::Audit::open(&opts.audit_log)?);
    let server = Arc::new(Server {
        pipeline,
        users,
        snapshots,
        audit,
        limits: opts.limits,
        cancels: Arc::new(govern::Cancels::default()),
        running: Arc::new(govern::Running::new(opts.max_running)),
        results: Arc::new(results::Results::new(opts.result_cache_bytes)),
        lookups: Arc::new(lookup::Lookups::new(opts.lookup_cache_bytes)),
        // Beyond loopback, TLS is never optional.
        require_tls: opts.require_tls
            || opts
                .listen
                .parse::<std::net::SocketAddr>()
                .is_ok_and(|a| !a.ip().is_loopback()),
    });
    listen::run(server, &opts).await
}
