//! The audit log: one JSON line per statement and per refused login —
//! user, role, client address, start time, duration, SQL text (quoted
//! values left out: a literal may be a customer's phone number), rows
//! returned, outcome. Appended with `O_APPEND`, one `write` per line, so
//! lines from concurrent connections never interleave.

use super::Error;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

#[derive(Debug)]
pub struct Audit {
    path: PathBuf,
    file: Mutex<File>,
}

/// How a statement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// Refused before it ran: not allowed in a read-only session, over a
    /// limit, or not valid SQL.
    Refused,
    Error,
    Cancelled,
    TimedOut,
    /// The client went away before the last row.
    Disconnected,
    LoginFailed,
}

#[derive(Debug, Serialize)]
struct Line<'a> {
    at: String,
    user: &'a str,
    role: &'a str,
    client: String,
    protocol: &'a str,
    statement: &'a str,
    duration_ms: u128,
    rows: u64,
    outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// One statement being run, written when it ends.
#[derive(Debug, Clone)]
pub struct Entry {
    pub user: String,
    pub role: String,
    pub client: SocketAddr,
    pub sql: String,
    /// `postgres` or `flight-sql`.
    pub protocol: &'static str,
    pub started: SystemTime,
    pub clock: Instant,
}

impl Entry {
    pub fn new(user: &str, role: &str, client: SocketAddr, sql: &str) -> Entry {
        Entry {
            user: user.into(),
            role: role.into(),
            client,
            sql: crate::engine::without_quoted_values(sql),
            protocol: "postgres",
            started: SystemTime::now(),
            clock: Instant::now(),
        }
    }
}

impl Audit {
    pub fn open(path: &Path) -> Result<Audit, Error> {
        let err = |e: std::io::Error| Error::Audit {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut opts = OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(path).map_err(err)?;
        Ok(Audit {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record `entry` as ended now.
    pub fn record(&self, entry: &Entry, rows: u64, outcome: Outcome, error: Option<&str>) {
        let at: chrono::DateTime<chrono::Utc> = entry.started.into();
        let line = Line {
            at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            user: &entry.user,
            role: &entry.role,
            client: entry.client.to_string(),
            protocol: entry.protocol,
            statement: &entry.sql,
            duration_ms: entry.clock.elapsed().as_millis(),
            rows,
            outcome,
            error: error.map(|e| e.trim()),
        };
        let Ok(mut text) = serde_json::to_string(&line) else {
            return;
        };
        text.push('\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // An audit line that cannot be written is reported on stderr: the
        // statement has already run, and a full disk must not hide it.
        if let Err(e) = f.write_all(text.as_bytes()) {
            eprintln!(
                "touchpoint serve: cannot write the audit log `{}`: {e}",
                self.path.display()
            );
        }
    }
}
