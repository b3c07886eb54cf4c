//! Cluster mode (cargo feature `cluster`): a pipeline's SQL planned here and
//! executed on an Apache Ballista cluster of `touchpoint scheduler` and
//! `touchpoint executor` processes.
//!
//! The client plans against the warehouse's pinned table versions and sends
//! the plan; every warehouse table travels as the explicit list of its live
//! Parquet files ([`crate::warehouse::pinned`]), masks and row filters as
//! the plan's own expressions above those scans, and functions by name
//! ([`functions`]). Writes stay on the client, in the run's transaction.

use crate::engine::Engine;
use datafusion::prelude::SessionContext;

#[cfg(feature = "cluster")]
mod broadcast;
#[cfg(feature = "cluster")]
mod builds;
#[cfg(feature = "cluster")]
mod codec;
#[cfg(feature = "cluster")]
pub mod functions;
#[cfg(feature = "cluster")]
mod partitions;
#[cfg(feature = "cluster")]
pub mod process;
#[cfg(feature = "cluster")]
mod route;
#[cfg(feature = "cluster")]
mod stores;
#[cfg(feature = "cluster")]
mod windows;

/// Fixes the partitions of every cluster plan (see `partitions`).
pub const PARTITIONS_VAR: &str = "TOUCHPOINT_CLUSTER_PARTITIONS";
pub const MAX_PARTITIONS: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("this touchpoint was built without cluster support, so it cannot use `{engine}`")]
    NotBuilt { engine: String },
    #[error("cannot reach the Ballista scheduler at {engine}: {reason}")]
    Unreachable { engine: String, reason: String },
    #[error("the cluster at {engine} runs {cluster}; this client is {client}")]
    Skew {
        engine: String,
        cluster: String,
        client: String,
    },
    #[error("the cluster at {engine} cannot run touchpoint's plans: {reason}")]
    NotOurs { engine: String, reason: String },
    #[error(
        "the warehouse `{location}` is a folder on this machine, which the executors of `{engine}` on other hosts cannot read"
    )]
    Unshared { engine: String, location: String },
    #[error("{PARTITIONS_VAR}=`{0}` is not a number of partitions from 1 to {MAX_PARTITIONS}")]
    Partitions(String),
    #[error("{0}")]
    Process(String),
}

impl Error {
    pub fn help(&self) -> Option<String> {
        Some(match self {
            Error::NotBuilt { .. } => {
                "build with `cargo build --release --features cluster`, or set `engine: local`"
                    .into()
            }
            Error::Unreachable { .. } => {
                "start it with `touchpoint scheduler --bind HOST:PORT` (and at least one \
                 `touchpoint executor`), or check `engine:` / TOUCHPOINT_ENGINE"
                    .into()
            }
            Error::Skew { .. } => {
                "run the same touchpoint build on the client, the scheduler and every executor"
                    .into()
            }
            Error::NotOurs { .. } => {
                "stock Ballista processes do not know touchpoint's tables and functions: \
                 start `touchpoint scheduler` and `touchpoint executor` (README: Cluster)"
                    .into()
            }
            Error::Unshared { .. } => {
                "put the warehouse where every process reaches it (`warehouse: s3://bucket/prefix`), \
                 or run the cluster on this machine"
                    .into()
            }
            Error::Partitions(_) => {
                "leave it unset for a count by the bytes each plan reads, or give a whole number \
                 (README: Memory on executors)"
                    .into()
            }
            Error::Process(_) => return None,
        })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Refuses a cluster on other hosts with a warehouse at `location` (a path
/// or URL) in a folder of this machine, which its executors cannot read.
pub fn check_reaches(engine: &Engine, location: &str) -> Result<()> {
    let local = !location.contains("://") || location.starts_with("file:");
    if local && !engine.is_loopback() {
        return Err(Error::Unshared {
            engine: engine.to_string(),
            location: location.to_string(),
        });
    }
    Ok(())
}

/// How long a client waits for the scheduler to answer its first query.
#[cfg(feature = "cluster")]
const CONNECT_SECONDS: u64 = 20;

/// A session that executes on `engine` (plain local session for `local`),
/// after checking that the cluster runs this very build.
pub async fn connect(engine: &Engine) -> Result<SessionContext> {
    connect_with(engine, datafusion::prelude::SessionConfig::new()).await
}

/// [`connect`], with `config`'s settings (the server's catalog name).
#[cfg(feature = "cluster")]
pub async fn connect_with(
    engine: &Engine,
    config: datafusion::prelude::SessionConfig,
) -> Result<SessionContext> {
    use ballista::prelude::SessionContextExt;
    use ballista_core::extension::SessionConfigExt;
    use datafusion::execution::SessionStateBuilder;
    let Engine::Ballista { host, port } = engine else {
        return Ok(crate::engine::session_with(config));
    };
    let unreachable = |reason: String| Error::Unreachable {
        engine: engine.to_string(),
        reason,
    };
    // A bad partition count is refused before anything else.
    let fixed = partitions::setting()?;
    let config = process::configure(config)
        .with_ballista_logical_extension_codec(std::sync::Arc::new(codec::Codec::default()));
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(crate::engine::runtime())
        .build();
    let ctx = SessionContext::remote_with_state(&format!("df://{host}:{port}"), state)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    // Ballista sets the client's functions to its own list: ours after it.
    for f in functions::scalar() {
        ctx.register_udf(f.as_ref().clone());
    }
    for f in functions::aggregate() {
        ctx.register_udaf(f.as_ref().clone());
    }
    let asked = async {
        let df = ctx.sql("SELECT touchpoint_version() AS v").await?;
        df.collect().await
    };
    let batches = tokio::time::timeout(std::time::Duration::from_secs(CONNECT_SECONDS), asked)
        .await
        .map_err(|_| unreachable(format!("no answer in {CONNECT_SECONDS} s")))?
        .map_err(|e| classify(engine, e))?;
    let cluster = batches
        .first()
        .filter(|b| b.num_rows() == 1)
        .and_then(|b| {
            // Whatever type the other side answered in, as text; never a panic.
            let text = datafusion::arrow::compute::cast(
                b.column(0),
                &datafusion::arrow::datatypes::DataType::Utf8,
            )
            .ok()?;
            let text = text
                .as_any()
                .downcast_ref::<datafusion::arrow::array::StringArray>()?;
            text.iter().next().flatten().map(str::to_string)
        })
        .unwrap_or_else(|| "an unreadable version".into());
    let client = functions::version_text();
    if cluster != client {
        return Err(Error::Skew {
            engine: engine.to_string(),
            cluster,
            client,
        });
    }
    // From here on only plans over the warehouse go to the cluster.
    let state = ctx.state();
    let router = route::Router {
        cluster: state.query_planner().clone(),
        partitions: fixed,
    };
    let state = datafusion::execution::SessionStateBuilder::new_from_existing(state)
        .with_query_planner(std::sync::Arc::new(router))
        .build();
    Ok(SessionContext::new_with_state(state))
}

/// A failed first query: the scheduler was not there, or it is not ours.
#[cfg(feature = "cluster")]
fn classify(engine: &Engine, e: datafusion::error::DataFusionError) -> Error {
    let text = e.to_string();
    if text.contains("touchpoint_version") {
        return Error::NotOurs {
            engine: engine.to_string(),
            reason: "it does not know the function touchpoint_version".into(),
        };
    }
    if text.contains("cannot be used with") {
        return Error::Skew {
            engine: engine.to_string(),
            cluster: "another Ballista major version".into(),
            client: format!("Ballista {}", ballista_core::BALLISTA_VERSION),
        };
    }
    Error::Unreachable {
        engine: engine.to_string(),
        reason: crate::engine::describe_error(&e),
    }
}

#[cfg(not(feature = "cluster"))]
pub async fn connect_with(
    engine: &Engine,
    config: datafusion::prelude::SessionConfig,
) -> Result<SessionContext> {
    match engine {
        Engine::Local => Ok(crate::engine::session_with(config)),
        Engine::Ballista { .. } => Err(Error::NotBuilt {
            engine: engine.to_string(),
        }),
    }
}

/// Whether this build can run on a cluster.
pub const BUILT: bool = cfg!(feature = "cluster");

#[cfg(all(test, feature = "cluster"))]
mod tests {
    #[test]
    fn cluster_sessions_fetch_a_bounded_shuffle_at_once() {
        use ballista_core::extension::SessionConfigExt;
        let config = super::process::configure(datafusion::prelude::SessionConfig::new());
        assert_eq!(
            config
                .ballista_config()
                .shuffle_reader_max_bytes_in_flight(),
            16 << 20
        );
    }
}
