//! One run at a time per warehouse, and crash safety across tables.
//!
//! `_run.lock` (a file, or an object on a bucket) is created exclusively by
//! a run. It is also the run's journal: before a run first writes a table it
//! records the table's version, durably. So after a `kill -9`
//! - readers pin every journaled table to its pre-run version (a reader
//!   never sees half a run, live or dead), and
//! - the next run takes the stale lock over (its process is gone) and
//!   restores those versions before it starts.
//!
//! A lock held by a live process, or by another machine, is never taken
//! over: the error names the holder so a person can decide.

use super::{Error, Result, Warehouse};
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, path::Path as StorePath};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub const NAME: &str = "_run.lock";

/// table → its version before the run (`None`: the run created it).
pub type Journal = Vec<(String, Option<u64>)>;

/// What a run found when it took over the lock of a run that died.
#[derive(Debug, Clone)]
pub struct Stale {
    pub holder: String,
    pub journal: Journal,
}

pub struct RunLock {
    at: Where,
    holder: String,
    journal: Journal,
    released: bool,
}

#[derive(Clone)]
enum Where {
    File(PathBuf),
    Object(Arc<dyn ObjectStore>, StorePath),
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// `pid host pipeline`: enough to tell a dead local holder from a live one.
fn holder_line(pipeline: &str) -> String {
    format!("{} {} {pipeline}", std::process::id(), host())
}

/// Whether the holder line of a lock names a process of this machine that
/// has ended.
fn is_stale(holder: &str) -> bool {
    let mut parts = holder.split_whitespace();
    let pid: Option<u32> = parts.next().and_then(|p| p.parse().ok());
    let same_host = parts.next().is_some_and(|h| h == host());
    match pid {
        Some(p) => same_host && !PathBuf::from(format!("/proc/{p}")).exists(),
        None => false,
    }
}

fn render(holder: &str, journal: &Journal) -> String {
    let mut s = format!("{holder}\n");
    for (t, v) in journal {
        let v = v.map_or("-".to_string(), |v| v.to_string());
        s.push_str(&format!("T\t{t}\t{v}\n"));
    }
    s
}

/// The holder line and journal of a lock's text.
fn parse(text: &str) -> (String, Journal) {
    let mut lines = text.lines();
    let holder = lines.next().unwrap_or_default().trim().to_string();
    let journal = lines
        .filter_map(|l| {
            let mut f = l.split('\t');
            match (f.next(), f.next(), f.next()) {
                (Some("T"), Some(t), Some(v)) => Some((t.to_string(), v.parse().ok())),
                _ => None,
            }
        })
        .collect();
    (holder, journal)
}

/// Per table, the earliest recorded version: the state before any run that
/// is not finished.
pub fn pins(journal: &Journal) -> BTreeMap<String, Option<u64>> {
    let mut out = BTreeMap::new();
    for (t, v) in journal {
        out.entry(t.clone()).or_insert(*v);
    }
    out
}

impl Where {
    fn of(wh: &Warehouse) -> Result<Where> {
        match &wh.local {
            Some(dir) => Ok(Where::File(dir.join(NAME))),
            None => {
                let url = wh.root.join(NAME).unwrap_or_else(|_| wh.root.clone());
                let (store, path) = crate::store::open(&url).map_err(|e| Error::Location {
                    location: url.to_string(),
                    reason: e.to_string(),
                })?;
                Ok(Where::Object(store, path))
            }
        }
    }

    fn name(&self) -> String {
        match self {
            Where::File(p) => p.display().to_string(),
            Where::Object(_, p) => p.to_string(),
        }
    }

    fn fail(&self, reason: impl ToString) -> Error {
        Error::Location {
            location: self.name(),
            reason: reason.to_string(),
        }
    }

    async fn read(&self) -> Result<Option<String>> {
        match self {
            Where::File(p) => match std::fs::read_to_string(p) {
                Ok(s) => Ok(Some(s)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(self.fail(e)),
            },
            Where::Object(store, p) => match store.get(p).await {
                Ok(g) => {
                    let b = g.bytes().await.map_err(|e| self.fail(e))?;
                    Ok(Some(String::from_utf8_lossy(&b).into_owned()))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.fail(e)),
            },
        }
    }

    /// Create the lock; `false` when it already exists.
    async fn create(&self, text: &str) -> Result<bool> {
        match self {
            Where::File(p) => {
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(p)
                {
                    Ok(mut f) => {
                        use std::io::Write;
                        f.write_all(text.as_bytes()).map_err(|e| self.fail(e))?;
                        f.sync_all().map_err(|e| self.fail(e))?;
                        Ok(true)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(self.fail(e)),
                }
            }
            Where::Object(store, p) => {
                let create = PutOptions {
                    mode: PutMode::Create,
                    ..Default::default()
                };
                match store.put_opts(p, text.to_string().into(), create).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
                    Err(e) => Err(self.fail(e)),
                }
            }
        }
    }

    /// Replace the lock's text durably (only its holder, or a taker-over,
    /// does this): a temporary file renamed over it, or one PUT.
    async fn replace(&self, text: &str) -> Result<()> {
        match self {
            Where::File(p) => {
                use std::io::Write;
                let tmp = p.with_extension(format!("tmp-{}", std::process::id()));
                let mut f = std::fs::File::create(&tmp).map_err(|e| self.fail(e))?;
                f.write_all(text.as_bytes()).map_err(|e| self.fail(e))?;
                f.sync_all().map_err(|e| self.fail(e))?;
                std::fs::rename(&tmp, p).map_err(|e| self.fail(e))
            }
            Where::Object(store, p) => store
                .put(p, text.to_string().into())
                .await
                .map(|_| ())
                .map_err(|e| self.fail(e)),
        }
    }

    async fn remove(&self) {
        match self {
            Where::File(p) => {
                let _ = std::fs::remove_file(p);
            }
            Where::Object(store, p) => {
                let _ = store.delete(p).await;
            }
        }
    }
}

impl RunLock {
    /// Take the warehouse's run lock, or explain who holds it. When the
    /// holder died, the lock is taken over and its journal returned: the
    /// caller must restore those tables before writing anything.
    pub async fn acquire(wh: &Warehouse, pipeline: &str) -> Result<(Self, Option<Stale>)> {
        let at = Where::of(wh)?;
        let holder = holder_line(pipeline);
        let mut lock = RunLock {
            at: at.clone(),
            holder: holder.clone(),
            journal: Vec::new(),
            released: false,
        };
        if at.create(&render(&holder, &lock.journal)).await? {
            return Ok((lock, None));
        }
        let text = at.read().await?.unwrap_or_default();
        let (old, journal) = parse(&text);
        if !is_stale(&old) {
            return Err(Error::Locked {
                path: at.name(),
                holder: old,
            });
        }
        // Take over, keeping the dead run's journal until its tables are
        // restored (a crash now still leaves them restorable), then check
        // no other process took it over at the same time.
        lock.journal = journal.clone();
        at.replace(&render(&holder, &lock.journal)).await?;
        let now = at.read().await?.unwrap_or_default();
        if parse(&now).0 != holder {
            return Err(Error::Locked {
                path: at.name(),
                holder: parse(&now).0,
            });
        }
        Ok((
            lock,
            Some(Stale {
                holder: old,
                journal,
            }),
        ))
    }

    /// Record, durably, a table's version before this run first writes it.
    pub async fn record(&mut self, table: &str, version: Option<u64>) -> Result<()> {
        self.journal.push((table.to_string(), version));
        self.at.replace(&render(&self.holder, &self.journal)).await
    }

    /// The run is over (committed or rolled back): give the lock back.
    pub async fn release(mut self) {
        self.released = true;
        self.at.remove().await;
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // An early return without `release` is a failed run whose tables
        // may not be restored: leave the journal for the next run, unless
        // nothing was written.
        if !self.released
            && self.journal.is_empty()
            && let Where::File(p) = &self.at
        {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The journal of an unfinished run (live or dead), if there is one.
pub async fn unfinished(wh: &Warehouse) -> Result<Option<Journal>> {
    let at = Where::of(wh)?;
    Ok(at.read().await?.map(|t| parse(&t).1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staleness() {
        // This process is alive: its lock is not stale.
        assert!(!is_stale(&holder_line("p")));
        // A pid that cannot exist on this host is.
        assert!(is_stale(&format!("4294967294 {} p", host())));
        // Another machine's lock is never taken over.
        assert!(!is_stale("4294967294 some-other-host p"));
        assert!(!is_stale(""));
    }

    #[test]
    fn journal_round_trip_and_earliest_pin() {
        let j: Journal = vec![
            ("atm".into(), Some(3)),
            ("new_table".into(), None),
            ("atm".into(), Some(5)),
        ];
        let (h, back) = parse(&render("1 host p", &j));
        assert_eq!(h, "1 host p");
        assert_eq!(back, j);
        let p = pins(&back);
        assert_eq!(p["atm"], Some(3));
        assert_eq!(p["new_table"], None);
    }
}
