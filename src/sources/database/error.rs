//! What can go wrong reading a database. Messages name the profile and the
//! object, never a password: the connection's secrets live only in the
//! environment, and a driver's message that quotes one is cut.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The profile's variables are missing, unknown or malformed.
    #[error("profile `{profile}`: {reason}")]
    Profile { profile: String, reason: String },
    /// The server could not be reached, refused the login or the TLS
    /// handshake.
    #[error("profile `{profile}`: cannot connect to {target}: {reason}")]
    Connect {
        profile: String,
        /// `host:port/database as user` (no password).
        target: String,
        reason: String,
    },
    /// A statement failed (no such table, a query that does not run).
    #[error("`{object}`: {reason}")]
    Query { object: String, reason: String },
    /// The connection broke while rows were streaming.
    #[error("`{object}`: the connection was lost while reading: {reason}")]
    Lost { object: String, reason: String },
    /// The server sent data this reader cannot decode.
    #[error("`{object}`: unreadable data from the server: {reason}")]
    Decode { object: String, reason: String },
    /// The database's columns differ from the declared ones, and the
    /// source's `on_schema_change` says to fail.
    #[error("`{object}` does not match the declared columns: {drift}")]
    Drift {
        object: String,
        drift: crate::sources::Drift,
    },
    /// A column of the database and its declaration do not agree.
    #[error("`{object}`: column `{column}`: {reason}")]
    Column {
        object: String,
        column: String,
        reason: String,
    },
}

impl Error {
    pub fn help(&self) -> Option<String> {
        match self {
            Error::Profile { profile, .. } => {
                let p = crate::store::profile_prefix(profile);
                Some(format!(
                    "set {p}URL (postgres://user@host:5432/db) or {p}HOST, {p}USER, {p}DBNAME and {p}PASSWORD (or {p}PASSWORD_FILE)"
                ))
            }
            Error::Connect { profile, .. } => {
                let p = crate::store::profile_prefix(profile);
                Some(format!(
                    "check the server is up and the profile's settings ({p}*): user, password, database, {p}SSLMODE"
                ))
            }
            Error::Lost { .. } => Some(
                "nothing of this load was committed and the high-water mark did not move: run again once the database is back".into(),
            ),
            Error::Column { .. } => Some(
                "declare a type the column can hold (see `touchpoint validate --online`), or cast it in a `query:`".into(),
            ),
            Error::Query { .. } | Error::Decode { .. } | Error::Drift { .. } => None,
        }
    }

    /// This error with every occurrence of `secret` in its text cut (a
    /// driver quoting a connection setting must not print a password).
    pub fn without(self, secret: Option<&str>) -> Error {
        let Some(secret) = secret.filter(|s| s.len() >= 3) else {
            return self;
        };
        let cut = |s: String| s.replace(secret, "****");
        match self {
            Error::Profile { profile, reason } => Error::Profile {
                profile,
                reason: cut(reason),
            },
            Error::Connect {
                profile,
                target,
                reason,
            } => Error::Connect {
                profile,
                target: cut(target),
                reason: cut(reason),
            },
            Error::Query { object, reason } => Error::Query {
                object,
                reason: cut(reason),
            },
            Error::Lost { object, reason } => Error::Lost {
                object,
                reason: cut(reason),
            },
            Error::Decode { object, reason } => Error::Decode {
                object,
                reason: cut(reason),
            },
            Error::Column {
                object,
                column,
                reason,
            } => Error::Column {
                object,
                column,
                reason: cut(reason),
            },
            e @ Error::Drift { .. } => e,
        }
    }
}
