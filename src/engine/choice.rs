//! Where a pipeline's SQL executes: in this process (the default), or on an
//! Apache Ballista cluster (`engine: ballista://host:port` in the pipeline,
//! or `TOUCHPOINT_ENGINE`, which wins). Planning stays on the client either
//! way; only execution moves.

/// The environment variable that chooses the engine over the pipeline's key.
pub const ENGINE_VAR: &str = "TOUCHPOINT_ENGINE";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Engine {
    #[default]
    Local,
    /// A Ballista scheduler started by `touchpoint scheduler`.
    Ballista { host: String, port: u16 },
}

impl Engine {
    /// `local` or `ballista://host:port` (the port defaults to 50050).
    pub fn parse(text: &str) -> Result<Engine, String> {
        let text = text.trim();
        if text.is_empty() || text == "local" {
            return Ok(Engine::Local);
        }
        let Some(rest) = text.strip_prefix("ballista://") else {
            return Err(format!(
                "`{text}` is not an engine: write `local` or `ballista://host:port`"
            ));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("`{p}` in `{text}` is not a port"))?,
            ),
            _ => (rest, 50050),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(['/', '@', '?', '#', ' ']) {
            return Err(format!("`{text}` does not name a scheduler host"));
        }
        Ok(Engine::Ballista {
            host: host.to_string(),
            port,
        })
    }

    /// The engine `TOUCHPOINT_ENGINE` names, else `declared` (the pipeline's
    /// `engine:`), else local.
    pub fn chosen(declared: Option<&str>) -> Result<Engine, String> {
        match std::env::var(ENGINE_VAR)
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            Some(v) => Engine::parse(&v).map_err(|e| format!("{ENGINE_VAR}: {e}")),
            None => declared.map(Engine::parse).unwrap_or(Ok(Engine::Local)),
        }
    }

    /// Whether the scheduler is on this machine (executors started beside it
    /// can share a local warehouse folder).
    pub fn is_loopback(&self) -> bool {
        match self {
            Engine::Local => true,
            Engine::Ballista { host, .. } => {
                host == "localhost"
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|a| a.is_loopback())
            }
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Engine::Local => write!(f, "local"),
            Engine::Ballista { host, port } if host.contains(':') => {
                write!(f, "ballista://[{host}]:{port}")
            }
            Engine::Ballista { host, port } => write!(f, "ballista://{host}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_engines() {
        assert_eq!(Engine::parse("local"), Ok(Engine::Local));
        assert_eq!(
            Engine::parse("ballista://10.0.0.5:50070"),
            Ok(Engine::Ballista {
                host: "10.0.0.5".into(),
                port: 50070
            })
        );
        assert_eq!(
            Engine::parse("ballista://sched").map(|e| e.to_string()),
            Ok("ballista://sched:50050".into())
        );
        assert_eq!(
            Engine::parse("ballista://[::1]:5").map(|e| e.is_loopback()),
            Ok(true)
        );
        assert!(Engine::parse("spark://x:1").is_err());
        assert!(Engine::parse("ballista://:1").is_err());
        assert!(Engine::parse("ballista://h:99999").is_err());
        assert!(Engine::parse("ballista://u@h:1").is_err());
        assert!(!Engine::parse("ballista://10.1.2.3:1").is_ok_and(|e| e.is_loopback()));
    }
}
