//! The listening socket: loopback unless `--allow-remote` (and then TLS is
//! required), TLS from PEM files (a file that cannot be read stops the
//! server: never fall back to plain text), a cap on connections (the one
//! over it gets PostgreSQL's `too many clients` error), SCRAM logins, and
//! a graceful stop on SIGTERM: no new connections, running statements get
//! the grace period to finish.

use super::audit::{Entry, Outcome};
use super::handler::Queries;
use super::protocol::Handler;
use super::{Error, Options, Server};
use pgwire::api::auth::DefaultServerParameterProvider;
use pgwire::api::auth::StartupHandler;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::ScramAuth;
use pgwire::api::{ClientInfo, METADATA_USER, PgWireServerHandlers};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use std::fs::File;
use std::io::BufReader;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

tokio::task_local! {
    /// The client a connection task serves, for the panic hook.
    static PEER: SocketAddr;
}

/// pgwire 0.41 panics on some malformed messages, before authentication
/// too (a Bind whose parameter length runs past the message, found by
/// `fuzz/pg_messages`). The panic stays in that connection's task, whose
/// connection slot is released as it unwinds; this hook reports it as one
/// line naming the client instead of a backtrace.
fn contain_connection_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| match PEER.try_with(|p| *p) {
            Ok(peer) => {
                let p = info.payload();
                let what = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                eprintln!(
                    "touchpoint serve: closed the connection from {peer}: handling its input panicked ({what}{at})"
                );
            }
            Err(_) => default(info),
        }));
    });
}

pub async fn run(server: Arc<Server>, opts: &Options) -> Result<(), Error> {
    contain_connection_panics();
    let parse = |a: &str| {
        a.parse::<SocketAddr>().map_err(|e| Error::Listen {
            addr: a.to_string(),
            reason: format!("not HOST:PORT ({e})"),
        })
    };
    let addr = parse(&opts.listen)?;
    let flight = opts.flight.as_deref().map(parse).transpose()?;
    let tls = match (&opts.tls_cert, &opts.tls_key) {
        (Some(c), Some(k)) => Some(acceptor(c, k)?),
        (None, None) => None,
        _ => return Err(Error::Tls("give both --tls-cert and --tls-key".into())),
    };
    for a in std::iter::once(addr).chain(flight) {
        if a.ip().is_loopback() {
            continue;
        }
        if !opts.allow_remote {
            return Err(Error::NotLoopback {
                addr: a.to_string(),
            });
        }
        if tls.is_none() {
            return Err(Error::RemoteWithoutTls {
                addr: a.to_string(),
            });
        }
    }
    if server.require_tls && tls.is_none() {
        return Err(Error::Tls(
            "--require-tls needs --tls-cert and --tls-key".into(),
        ));
    }
    let listener = TcpListener::bind(addr).await.map_err(|e| Error::Listen {
        addr: addr.to_string(),
        reason: e.to_string(),
    })?;
    let local = listener.local_addr().map_err(|e| Error::Listen {
        addr: addr.to_string(),
        reason: e.to_string(),
    })?;
    println!(
        "touchpoint serve: listening on {local} (PostgreSQL protocol, TLS {}); audit log {}",
        match (&tls, server.require_tls || !addr.ip().is_loopback()) {
            (None, _) => "off",
            (Some(_), true) => "required",
            (Some(_), false) => "optional",
        },
        server.audit.path().display()
    );
    if let Some(f) = flight {
        // Bound now: a taken port is an error at start, and clients can
        // connect as soon as the address is printed.
        let bound = TcpListener::bind(f).await.map_err(|e| Error::Listen {
            addr: f.to_string(),
            reason: e.to_string(),
        })?;
        let f = bound.local_addr().map_err(|e| Error::Listen {
            addr: f.to_string(),
            reason: e.to_string(),
        })?;
        let pem = match (&opts.tls_cert, &opts.tls_key) {
            (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
            _ => None,
        };
        println!(
            "touchpoint serve: Flight SQL on {f} ({})",
            if pem.is_some() { "grpc+tls" } else { "grpc" }
        );
        let server = server.clone();
        tokio::spawn(async move {
            if let Err(e) = super::flight::run(server, bound, pem).await {
                eprintln!("touchpoint serve: Flight SQL stopped: {e}");
            }
        });
    }
    let slots = Arc::new(tokio::sync::Semaphore::new(opts.max_connections));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Listen {
            addr: local.to_string(),
            reason: e.to_string(),
        })?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, peer)) = accepted else { continue };
                let _ = socket.set_nodelay(true);
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    tokio::spawn(too_many(socket));
                    continue;
                };
                let conn = Arc::new(Conn::new(server.clone(), peer));
                let tls = tls.clone();
                tokio::spawn(PEER.scope(peer, async move {
                    let _permit = permit;
                    let _ = pgwire::tokio::process_socket(socket, tls, conn).await;
                }));
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    drop(listener);
    // Running statements get the grace period; idle connections close
    // with the process.
    let deadline = tokio::time::Instant::now() + opts.grace;
    while server.running.count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A statement's last rows are flushed after its stream ends.
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    eprintln!(
        "touchpoint serve: stopped ({} statement(s) still running)",
        server.running.count()
    );
    Ok(())
}

fn read(p: &std::path::Path) -> Result<Vec<u8>, Error> {
    std::fs::read(p).map_err(|e| Error::Tls(format!("`{}`: {e}", p.display())))
}

fn acceptor(cert: &std::path::Path, key: &std::path::Path) -> Result<TlsAcceptor, Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let open = |p: &std::path::Path| {
        File::open(p)
            .map(BufReader::new)
            .map_err(|e| Error::Tls(format!("`{}`: {e}", p.display())))
    };
    let certs = rustls_pemfile::certs(&mut open(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(format!("`{}`: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(Error::Tls(format!(
            "`{}` holds no certificate",
            cert.display()
        )));
    }
    let key = rustls_pemfile::private_key(&mut open(key)?)
        .map_err(|e| Error::Tls(format!("`{}`: {e}", key.display())))?
        .ok_or_else(|| Error::Tls(format!("`{}` holds no private key", key.display())))?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Tls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// PostgreSQL's answer to a connection over the cap: FATAL 53300.
async fn too_many(mut socket: tokio::net::TcpStream) {
    let mut body = Vec::new();
    for (tag, v) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "53300"),
        (b'M', "sorry, too many clients already"),
    ] {
        body.push(tag);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = vec![b'E'];
    msg.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    msg.extend_from_slice(&body);
    let _ = socket.write_all(&msg).await;
    let _ = socket.shutdown().await;
}

/// One connection's handlers.
struct Conn {
    startup: Arc<Startup>,
    handler: Arc<Handler>,
    cancels: Arc<super::govern::Cancels>,
}

impl Conn {
    fn new(server: Arc<Server>, peer: SocketAddr) -> Conn {
        let mut params = DefaultServerParameterProvider::default();
        params.server_version = super::catalog::SERVER_VERSION.into();
        params.is_superuser = false;
        params.default_transaction_read_only = true;
        let mut scram = ScramAuth::new(server.users.clone());
        scram.set_iterations(super::users::ITERATIONS);
        let sasl = SASLAuthStartupHandler::new(Arc::new(params)).with_scram(scram);
        Conn {
            startup: Arc::new(Startup {
                inner: sasl,
                server: server.clone(),
                peer,
            }),
            cancels: server.cancels.clone(),
            handler: Arc::new(Handler(Arc::new(Queries::new(server, peer)))),
        }
    }
}

impl PgWireServerHandlers for Conn {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        self.handler.clone()
    }
    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        self.handler.clone()
    }
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.cancels.clone()
    }
}

/// SCRAM login, after the TLS rule; a refused login is audited.
struct Startup {
    inner: SASLAuthStartupHandler<DefaultServerParameterProvider>,
    server: Arc<Server>,
    peer: SocketAddr,
}

#[async_trait::async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + futures::Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        let refuse = |user: &str, why: &str| {
            let role = self
                .server
                .pipeline
                .access
                .role_of(user)
                .unwrap_or("")
                .to_string();
            let entry = Entry::new(user, &role, self.peer, "(login)");
            self.server
                .audit
                .record(&entry, 0, Outcome::LoginFailed, Some(why));
        };
        if let PgWireFrontendMessage::Startup(s) = &message
            && self.server.require_tls
            && !client.is_secure()
        {
            let user = s.parameters.get(METADATA_USER).cloned().unwrap_or_default();
            refuse(&user, "TLS required");
            return Err(super::govern::error(
                "28000",
                "this server requires TLS",
                Some("connect with sslmode=require".into()),
            ));
        }
        let r = self.inner.on_startup(client, message).await;
        if let Err(e) = &r {
            let user = client
                .metadata()
                .get(METADATA_USER)
                .cloned()
                .unwrap_or_default();
            refuse(&user, &e.to_string());
        }
        r
    }
}
