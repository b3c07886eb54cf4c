//! `touchpoint scheduler` and `touchpoint executor`: the processes of a
//! cluster (cargo feature `cluster`).

use crate::Result;
use crate::cluster::process::{self, ExecutorOptions};
use std::io::Write;
use std::net::SocketAddr;

/// Run a Ballista scheduler that plans touchpoint's queries into stages.
#[derive(Debug, clap::Args)]
pub struct SchedulerArgs {
    /// Address to listen on (loopback unless told otherwise).
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub bind: SocketAddr,
    /// The host name executors and clients reach this scheduler at
    /// [default: the bind address].
    #[arg(long)]
    pub external_host: Option<String>,
}

/// Run a Ballista executor that runs touchpoint's query stages.
#[derive(Debug, clap::Args)]
pub struct ExecutorArgs {
    /// The scheduler to serve, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub scheduler: String,
    /// Address for shuffle data (Arrow Flight); its control port is the next one.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub bind: SocketAddr,
    /// Control (gRPC) port [default: the --bind port + 1].
    #[arg(long)]
    pub grpc_port: Option<u16>,
    /// The host name other processes reach this executor at.
    #[arg(long)]
    pub external_host: Option<String>,
    /// Task slots [default: one per core].
    #[arg(long, default_value_t = 0)]
    pub slots: usize,
    /// Folder for shuffle files [default: a temporary folder].
    #[arg(long)]
    pub work_dir: Option<String>,
}

pub async fn scheduler(a: SchedulerArgs, out: &mut impl Write) -> Result<()> {
    let _ = writeln!(out, "touchpoint scheduler listening on {}", a.bind);
    let _ = out.flush();
    process::scheduler(a.bind, a.external_host)
        .await
        .map_err(Into::into)
}

pub async fn executor(a: ExecutorArgs, out: &mut impl Write) -> Result<()> {
    let engine = crate::engine::Engine::parse(&format!("ballista://{}", a.scheduler))
        .map_err(|e| crate::Error::usage(e, "e.g. `--scheduler 127.0.0.1:50050`"))?;
    let crate::engine::Engine::Ballista { host, port } = engine else {
        return Err(crate::Error::usage(
            "--scheduler names no scheduler",
            "e.g. `--scheduler 127.0.0.1:50050`",
        ));
    };
    let _ = writeln!(
        out,
        "touchpoint executor on {} serving scheduler {host}:{port}; memory pool {} MiB \
         (TOUCHPOINT_MEMORY_MB) for all its task slots ({})",
        a.bind,
        crate::engine::memory_limit() / (1024 * 1024),
        if a.slots == 0 {
            "per-core".to_string()
        } else {
            a.slots.to_string()
        }
    );
    let _ = out.flush();
    process::executor(ExecutorOptions {
        scheduler: (host, port),
        bind: a.bind,
        grpc_port: a.grpc_port,
        external_host: a.external_host,
        slots: a.slots,
        work_dir: a.work_dir,
    })
    .await
    .map_err(Into::into)
}
