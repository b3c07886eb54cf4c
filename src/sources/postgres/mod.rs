//! The PostgreSQL dialect of database sources: `postgres: {profile: crm,
//! table: crm.customers}` or `{profile: crm, query: ../queries/x.sql}`.
//! The connection comes from the profile's environment variables
//! ([`profile`], TLS in [`tls`]); columns are described from the catalog
//! ([`catalog`]); rows stream in binary `COPY (…) TO STDOUT` ([`binary`])
//! inside one `REPEATABLE READ, READ ONLY` transaction ([`extract`]) and
//! are decoded into Arrow ([`decode`], types in [`types`]).

pub mod binary;
mod catalog;
pub mod decode;
mod extract;
mod parallel;
pub mod profile;
mod ranges;
pub mod tls;
pub mod types;

use super::Source;
use super::database::{DbColumn, Error, Extracted, Kind, Out, Plan};
use crate::spec::types::ColumnType;
use crate::spec::{Diags, Project};
use serde::Deserialize;

/// `postgres:` in a source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSpec {
    /// The credential profile: `TOUCHPOINT_PROFILE_<NAME>_URL` or its
    /// `_HOST`, `_USER`, `_PASSWORD`… variables.
    pub profile: String,
    /// A table or view, `schema.name` (or `name` on the search path).
    pub table: Option<String>,
    /// A file holding one `SELECT`, relative to the pipeline file.
    pub query: Option<String>,
    /// Read in this many key ranges at once, each on its own connection,
    /// all in one exported snapshot.
    pub parallel: Option<u32>,
}

/// What a source reads from PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postgres {
    pub profile: String,
    pub object: Object,
    /// Connections reading key ranges at once (1: one COPY).
    pub parallel: usize,
}

/// The most connections one source may read with.
pub const MAX_PARALLEL: u32 = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    /// `(schema, name)`: the schema `None` is the search path's.
    Table(Option<String>, String),
    /// The query's text and its file as written.
    Query(String, String),
}

impl Object {
    /// The relation to select from: a quoted table name or `(query)`.
    fn relation(&self) -> String {
        match self {
            Object::Table(Some(s), t) => format!("{}.{}", ident(s), ident(t)),
            Object::Table(None, t) => ident(t),
            Object::Query(q, _) => {
                // A trailing `;` (as files have) is not valid inside `( )`.
                let q = q.trim().trim_end_matches(';');
                format!("({q}\n)")
            }
        }
    }
}

/// A quoted identifier.
pub fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

impl PostgresSpec {
    pub fn compile(
        &self,
        at: &str,
        key: &[String],
        project: &Project,
        diags: &mut Diags,
    ) -> Option<Postgres> {
        let at = format!("{at}.postgres");
        let parallel = match self.parallel {
            None | Some(1) => 1,
            Some(n) if !(1..=MAX_PARALLEL).contains(&n) => {
                diags.err(
                    &format!("{at}.parallel"),
                    format!("`parallel: {n}` is out of range"),
                    Some(format!(
                        "1 to {MAX_PARALLEL} connections (each reads one key range)"
                    )),
                );
                return None;
            }
            Some(_) if key.is_empty() => {
                diags.err(
                    &format!("{at}.parallel"),
                    "`parallel` splits the rows by the source's key, and it has none",
                    Some("declare `key:` (its first column is split into ranges), or remove `parallel`".into()),
                );
                return None;
            }
            Some(n) => n as usize,
        };
        if self.profile.trim().is_empty() {
            diags.err(
                &format!("{at}.profile"),
                "`profile` is empty",
                Some(
                    "name the credential profile, e.g. `profile: crm` (TOUCHPOINT_PROFILE_CRM_URL)"
                        .into(),
                ),
            );
            return None;
        }
        let object = match (&self.table, &self.query) {
            (Some(t), None) => {
                let parts: Vec<&str> = t.split('.').collect();
                match parts.as_slice() {
                    [n] if !n.trim().is_empty() => Object::Table(None, n.trim().into()),
                    [s, n] if !s.trim().is_empty() && !n.trim().is_empty() => {
                        Object::Table(Some(s.trim().into()), n.trim().into())
                    }
                    _ => {
                        diags.err(
                            &format!("{at}.table"),
                            format!("`{t}` is not a table name"),
                            Some("write `schema.table` or `table`".into()),
                        );
                        return None;
                    }
                }
            }
            (None, Some(q)) => {
                let path = project.resolve(&format!("{at}.query"), q, diags)?;
                match std::fs::read_to_string(&path) {
                    Ok(text) if !text.trim().is_empty() => Object::Query(text, q.clone()),
                    Ok(_) => {
                        diags.err(&format!("{at}.query"), format!("`{q}` is empty"), None);
                        return None;
                    }
                    Err(e) => {
                        diags.err(
                            &format!("{at}.query"),
                            format!("cannot read `{q}`: {}", e.kind()),
                            Some("the path is relative to the pipeline file".into()),
                        );
                        return None;
                    }
                }
            }
            _ => {
                diags.err(
                    &at,
                    "a `postgres:` source needs exactly one of `table` and `query`",
                    Some("e.g. `postgres: {profile: crm, table: crm.customers}`".into()),
                );
                return None;
            }
        };
        Some(Postgres {
            profile: self.profile.trim().to_string(),
            object,
            parallel,
        })
    }
}

impl Kind for Postgres {
    fn key(&self) -> &'static str {
        "postgres"
    }

    fn object(&self) -> String {
        let what = match &self.object {
            Object::Table(Some(s), t) => format!("{s}.{t}"),
            Object::Table(None, t) => t.clone(),
            Object::Query(_, file) => file.clone(),
        };
        format!("postgres:{}/{what}", self.profile)
    }

    fn describe(&self, _src: &Source) -> Result<Vec<DbColumn>, Error> {
        let settings = profile::settings(&self.profile)?;
        let handle = tokio::runtime::Handle::current();
        handle
            .block_on(async {
                let client = settings.connect().await?;
                catalog::describe(&client, self).await
            })
            .map_err(|e| e.without(settings.secret()))
    }

    fn cannot_hold(&self, db: &DbColumn, declared: ColumnType) -> Option<String> {
        types::cannot_hold(catalog::wire_of(db), &db.type_name, declared)
    }

    fn extract(&self, src: &Source, plan: &Plan, out: &Out) -> Result<Extracted, Error> {
        let settings = profile::settings(&self.profile)?;
        let handle = tokio::runtime::Handle::current();
        handle
            .block_on(extract::extract(&settings, self, src, plan, out))
            .map_err(|e| e.without(settings.secret()))
    }
}

/// `discover postgres://user@host:5432/db/schema.table`: the proposed
/// source block for that table, naming credential profile `profile` (whose
/// password is used when the URL has none). Blocks: call from a blocking
/// thread inside the Tokio runtime.
pub fn discover(url: &str, profile: &str) -> Result<String, Error> {
    let fail = |reason: String| Error::Profile {
        profile: profile.to_string(),
        reason,
    };
    let (conn, table) = url
        .trim_end_matches('/')
        .rsplit_once('/')
        .filter(|(c, t)| !t.is_empty() && c.matches('/').count() >= 3)
        .ok_or_else(|| {
            fail(
                "write the table after the database: postgres://user@host:5432/db/schema.table"
                    .into(),
            )
        })?;
    let prefix = crate::store::profile_prefix(profile);
    let mut env: std::collections::BTreeMap<String, String> = Default::default();
    env.insert(format!("{prefix}URL"), conn.to_string());
    for k in ["PASSWORD", "PASSWORD_FILE", "SSLMODE", "SSLROOTCERT"] {
        if let Ok(v) = std::env::var(format!("{prefix}{k}")) {
            env.insert(format!("{prefix}{k}"), v);
        }
    }
    let settings = profile::settings_from(profile, &env)?;
    let object = match table.split_once('.') {
        Some((s, t)) => Object::Table(Some(s.to_string()), t.to_string()),
        None => Object::Table(None, table.to_string()),
    };
    let pg = Postgres {
        profile: profile.to_string(),
        object,
        parallel: 1,
    };
    let handle = tokio::runtime::Handle::current();
    let cols = handle
        .block_on(async {
            let client = settings.connect().await?;
            catalog::describe(&client, &pg).await
        })
        .map_err(|e| e.without(settings.secret()))?;
    let name = crate::spec::slug(table.rsplit('.').next().unwrap_or(table));
    Ok(super::database::discover::render(
        &name,
        "postgres",
        &format!("{{profile: {profile}, table: {table}}}"),
        &cols,
    ))
}
