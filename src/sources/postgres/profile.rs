//! A PostgreSQL connection from a credential profile: the pipeline names
//! the profile (`postgres: {profile: crm}`), the environment holds it —
//! `TOUCHPOINT_PROFILE_CRM_URL` (`postgres://user@host:5432/db?sslmode=…`)
//! or `…_HOST`, `…_PORT`, `…_USER`, `…_DBNAME`, `…_SSLMODE`,
//! `…_SSLROOTCERT`, `…_CONNECT_TIMEOUT` and the password as `…_PASSWORD`
//! or `…_PASSWORD_FILE` (a mounted secret). No secret is ever in the YAML,
//! in `Debug` output or in an error message.

use super::tls::{self, Verify};
use crate::sources::database::Error;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio_postgres::config::SslMode as WireSsl;
use tokio_postgres::{Client, Config, NoTls};

/// The settings a profile may have (after `TOUCHPOINT_PROFILE_<NAME>_`).
const KEYS: &[&str] = &[
    "URL",
    "HOST",
    "PORT",
    "USER",
    "PASSWORD",
    "PASSWORD_FILE",
    "DBNAME",
    "SSLMODE",
    "SSLROOTCERT",
    "CONNECT_TIMEOUT",
];

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl std::str::FromStr for SslMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode `{other}` is not one of disable, allow, prefer, require, verify-ca, verify-full"
                ));
            }
        })
    }
}

/// A profile's connection settings, read from the environment.
pub struct Settings {
    pub profile: String,
    config: Config,
    sslmode: SslMode,
    root_cert: Option<PathBuf>,
    /// The password, only to cut it out of a driver's message.
    secret: Option<String>,
    /// `host:port/database as user`, for messages.
    pub target: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Settings({} → {})", self.profile, self.target)
    }
}

/// Read profile `profile` from the environment.
pub fn settings(profile: &str) -> Result<Settings, Error> {
    let vars: BTreeMap<String, String> = std::env::vars().collect();
    settings_from(profile, &vars)
}

/// [`settings`] from a given environment (tests).
pub fn settings_from(profile: &str, env: &BTreeMap<String, String>) -> Result<Settings, Error> {
    let prefix = crate::store::profile_prefix(profile);
    let fail = |reason: String| Error::Profile {
        profile: profile.to_string(),
        reason,
    };
    let vars: BTreeMap<&str, &str> = env
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|rest| (rest, v.as_str())))
        .collect();
    if vars.is_empty() {
        return Err(fail(format!("no `{prefix}*` variables are set")));
    }
    if let Some(k) = vars.keys().find(|k| !KEYS.contains(k)) {
        return Err(fail(format!(
            "`{prefix}{k}` is not a setting of a PostgreSQL profile (settings: {})",
            KEYS.join(", ")
        )));
    }
    let mut config = Config::new();
    let mut sslmode = None;
    let mut root_cert = None;
    if let Some(url) = vars.get("URL") {
        let (rest, mode, root) = split_url(url).map_err(|r| fail(format!("`{prefix}URL` {r}")))?;
        sslmode = mode;
        root_cert = root;
        config = rest
            .parse::<Config>()
            .map_err(|e| fail(format!("`{prefix}URL` is not a PostgreSQL URL: {e}")))?;
    }
    if let Some(h) = vars.get("HOST") {
        config.host(*h);
    }
    if let Some(p) = vars.get("PORT") {
        let port: u16 = p
            .trim()
            .parse()
            .map_err(|_| fail(format!("`{prefix}PORT` is not a port number")))?;
        config.port(port);
    }
    if let Some(u) = vars.get("USER") {
        config.user(*u);
    }
    if let Some(d) = vars.get("DBNAME") {
        config.dbname(*d);
    }
    let password = match (vars.get("PASSWORD"), vars.get("PASSWORD_FILE")) {
        (Some(_), Some(_)) => {
            return Err(fail(format!(
                "both `{prefix}PASSWORD` and `{prefix}PASSWORD_FILE` are set; keep one"
            )));
        }
        (Some(p), None) => Some(p.to_string()),
        (None, Some(f)) => {
            let text = std::fs::read_to_string(f).map_err(|e| {
                fail(format!(
                    "cannot read `{prefix}PASSWORD_FILE` ({f}): {}",
                    e.kind()
                ))
            })?;
            Some(text.trim_end_matches(['\n', '\r']).to_string())
        }
        (None, None) => config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
    };
    if let Some(p) = &password {
        config.password(p.as_str());
    }
    if let Some(m) = vars.get("SSLMODE") {
        sslmode = Some(
            m.trim()
                .parse::<SslMode>()
                .map_err(|r| fail(format!("`{prefix}SSLMODE`: {r}")))?,
        );
    }
    if let Some(r) = vars.get("SSLROOTCERT") {
        root_cert = Some(PathBuf::from(r));
    }
    let timeout = match vars.get("CONNECT_TIMEOUT") {
        Some(t) => t.trim().parse::<u64>().map_err(|_| {
            fail(format!(
                "`{prefix}CONNECT_TIMEOUT` is not a number of seconds"
            ))
        })?,
        None => 30,
    };
    config
        .connect_timeout(Duration::from_secs(timeout))
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(60))
        .application_name("touchpoint");
    if config.get_hosts().is_empty() {
        return Err(fail(format!(
            "no host: set `{prefix}HOST` or `{prefix}URL`"
        )));
    }
    let Some(user) = config.get_user().map(str::to_string) else {
        return Err(fail(format!(
            "no user: set `{prefix}USER` or a user in `{prefix}URL`"
        )));
    };
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        #[cfg(unix)]
        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or(user.as_str()).to_string();
    let target = format!("{host}:{port}/{db} as {user}");
    Ok(Settings {
        profile: profile.to_string(),
        config,
        sslmode: sslmode.unwrap_or(SslMode::Prefer),
        root_cert,
        secret: password,
        target,
    })
}

/// A URL without its `sslmode` and `sslrootcert` (which the driver does not
/// take in libpq's spelling), and those two.
type SplitUrl = (String, Option<SslMode>, Option<PathBuf>);

fn split_url(text: &str) -> Result<SplitUrl, String> {
    let mut url = url::Url::parse(text).map_err(|e| format!("is not a URL ({e})"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err("must start with postgres://".into());
    }
    let mut mode = None;
    let mut root = None;
    let mut kept: Vec<(String, String)> = Vec::new();
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "sslmode" => mode = Some(v.parse::<SslMode>()?),
            "sslrootcert" => root = Some(PathBuf::from(v.as_ref())),
            _ => kept.push((k.into_owned(), v.into_owned())),
        }
    }
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok((url.to_string(), mode, root))
}

impl Settings {
    /// Connect, with TLS as the profile's `sslmode` says; the connection's
    /// task runs on the runtime until the client is dropped.
    pub async fn connect(&self) -> Result<Client, Error> {
        let fail = |e: String| {
            Error::Connect {
                profile: self.profile.clone(),
                target: self.target.clone(),
                reason: e,
            }
            .without(self.secret.as_deref())
        };
        let verify = match self.sslmode {
            SslMode::VerifyFull => Verify::Full,
            SslMode::VerifyCa => Verify::Chain,
            // libpq: a root certificate makes `require` check the chain.
            _ if self.root_cert.is_some() => Verify::Chain,
            _ => Verify::Nothing,
        };
        let mut config = self.config.clone();
        match self.sslmode {
            SslMode::Disable => self.plain(&config).await.map_err(fail),
            SslMode::Allow => match self.plain(&config).await {
                Ok(c) => Ok(c),
                Err(_) => {
                    config.ssl_mode(WireSsl::Require);
                    self.tls(&config, verify).await.map_err(fail)
                }
            },
            SslMode::Prefer => {
                config.ssl_mode(WireSsl::Prefer);
                self.tls(&config, verify).await.map_err(fail)
            }
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                config.ssl_mode(WireSsl::Require);
                self.tls(&config, verify).await.map_err(fail)
            }
        }
    }

    async fn plain(&self, config: &Config) -> Result<Client, String> {
        let mut config = config.clone();
        config.ssl_mode(WireSsl::Disable);
        let (client, connection) = config.connect(NoTls).await.map_err(describe)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    async fn tls(&self, config: &Config, verify: Verify) -> Result<Client, String> {
        let tls = tls::config(verify, self.root_cert.as_deref())?;
        let connector = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
        let (client, connection) = config.connect(connector).await.map_err(describe)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// The password, to cut it out of messages.
    pub fn secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }
}

/// A driver error in words: the server's message when there is one.
pub fn describe(e: tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(inner) = src {
                let t = inner.to_string();
                if !s.contains(&t) {
                    s = format!("{s}: {t}");
                }
                src = inner.source();
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parts_and_urls() {
        let s = settings_from(
            "crm",
            &env(&[
                ("TOUCHPOINT_PROFILE_CRM_HOST", "db.bank"),
                ("TOUCHPOINT_PROFILE_CRM_PORT", "6543"),
                ("TOUCHPOINT_PROFILE_CRM_USER", "etl"),
                ("TOUCHPOINT_PROFILE_CRM_PASSWORD", "s3cret-Pa55"),
                ("TOUCHPOINT_PROFILE_CRM_DBNAME", "crm"),
                ("TOUCHPOINT_PROFILE_CRM_SSLMODE", "verify-full"),
            ]),
        )
        .expect("settings");
        assert_eq!(s.target, "db.bank:6543/crm as etl");
        assert_eq!(s.sslmode, SslMode::VerifyFull);
        assert!(!format!("{s:?}").contains("s3cret"));
        let u = settings_from(
            "crm",
            &env(&[(
                "TOUCHPOINT_PROFILE_CRM_URL",
                "postgres://etl:pw%21x@127.0.0.1:5433/crm?sslmode=verify-ca&sslrootcert=/x/root.pem",
            )]),
        )
        .expect("url");
        assert_eq!(u.target, "127.0.0.1:5433/crm as etl");
        assert_eq!(u.sslmode, SslMode::VerifyCa);
        assert_eq!(u.root_cert, Some(PathBuf::from("/x/root.pem")));
        assert_eq!(u.secret(), Some("pw!x"));
    }

    #[test]
    fn mistakes_name_the_setting_never_the_secret() {
        let e = settings_from("crm", &env(&[])).expect_err("none");
        assert!(e.to_string().contains("TOUCHPOINT_PROFILE_CRM_"), "{e}");
        let e = settings_from(
            "crm",
            &env(&[
                ("TOUCHPOINT_PROFILE_CRM_HOST", "h"),
                ("TOUCHPOINT_PROFILE_CRM_PASWORD", "hunter22"),
            ]),
        )
        .expect_err("typo");
        assert!(e.to_string().contains("PASWORD"), "{e}");
        assert!(!e.to_string().contains("hunter22"), "{e}");
        let e = settings_from(
            "crm",
            &env(&[
                ("TOUCHPOINT_PROFILE_CRM_HOST", "h"),
                ("TOUCHPOINT_PROFILE_CRM_USER", "u"),
                ("TOUCHPOINT_PROFILE_CRM_SSLMODE", "maybe"),
            ]),
        )
        .expect_err("sslmode");
        assert!(e.to_string().contains("verify-full"), "{e}");
        let e = settings_from(
            "crm",
            &env(&[(
                "TOUCHPOINT_PROFILE_CRM_URL",
                "postgres://u:hunter22@h:notaport/db",
            )]),
        )
        .expect_err("port");
        assert!(!e.to_string().contains("hunter22"), "{e}");
        let e = settings_from("crm", &env(&[("TOUCHPOINT_PROFILE_CRM_HOST", "h")]))
            .expect_err("no user");
        assert!(e.to_string().contains("no user"), "{e}");
    }

    #[test]
    fn password_from_a_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("pw");
        std::fs::write(&f, "from-file-pw\n").expect("write");
        let s = settings_from(
            "x",
            &env(&[
                ("TOUCHPOINT_PROFILE_X_HOST", "h"),
                ("TOUCHPOINT_PROFILE_X_USER", "u"),
                (
                    "TOUCHPOINT_PROFILE_X_PASSWORD_FILE",
                    f.to_str().expect("utf-8"),
                ),
            ]),
        )
        .expect("settings");
        assert_eq!(s.secret(), Some("from-file-pw"));
    }
}
