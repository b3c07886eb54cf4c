//! One run at a time per warehouse, and crash safety across tables.
//!
//! `_run.lock` (a file, or an object on a bucket) is created exclusively by
//! a run. It is also the run's journal: before a run first writes a table it
//! records the table's version, durably. So after a `kill -9`
//! - readers pin every journaled table to its pre-run version (a reader
//!   never sees half a run, live or dead), and
//! - the next run takes the stale lock over (its holder is gone) and
//!   restores those versions before it starts.
//!
//! Only the holder removes its lock, and only once every table its journal
//! names is committed or restored; otherwise it leaves the journal for the
//! next run. Liveness and the text format: [`record`]; atomic creation and
//! take-over: [`file`] (`flock`) and [`object`] (conditional puts). A lock
//! whose holder may be alive (or cannot be judged: another machine) is
//! never taken over: the error names the holder so a person can decide.

mod file;
mod object;
mod record;
#[cfg(test)]
mod tests;

pub use record::{Journal, pins};

use super::{Error, Result, Warehouse};
use object_store::{ObjectStore, path::Path as StorePath};
use record::{Holder, Os};
use std::path::PathBuf;
use std::sync::Arc;

pub const NAME: &str = "_run.lock";

/// Tries at taking a lock that keeps changing under us (released, or taken
/// over by another run, between our looks).
const ATTEMPTS: usize = 20;

/// What a run found when it took over the lock of a run that died.
#[derive(Debug, Clone)]
pub struct Stale {
    pub holder: String,
    pub journal: Journal,
}

pub struct RunLock {
    at: Where,
    /// `None` once released.
    held: Option<Held>,
    holder: Holder,
    journal: Journal,
    /// The journal names tables not yet back at a consistent version (a
    /// dead run's, until recovered; this run's, when a roll-back failed):
    /// the lock must stay for the next run.
    unrestored: bool,
}

enum Held {
    File(file::Held),
    Object(object::Held),
}

#[derive(Clone)]
enum Where {
    File(PathBuf),
    Object(Arc<dyn ObjectStore>, StorePath),
}

/// An existing lock: its text, how it is held, and how to take it over.
enum Found {
    File(file::Found),
    Object(object::Found),
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

    fn garbled(&self, g: record::Garbled) -> Error {
        Error::LockGarbled {
            path: self.name(),
            line: g.line,
            reason: g.reason,
        }
    }

    fn lost(&self) -> Error {
        Error::LockLost { path: self.name() }
    }

    async fn create(&self, text: &str, token: &str) -> Result<Option<Held>> {
        Ok(match self {
            Where::File(p) => file::create(p, text, token)
                .map_err(|e| self.fail(e))?
                .map(Held::File),
            Where::Object(store, p) => object::create(store, p, text)
                .await
                .map_err(|e| self.fail(e))?
                .map(Held::Object),
        })
    }

    async fn find(&self) -> Result<Option<Found>> {
        Ok(match self {
            Where::File(p) => file::find(p).map_err(|e| self.fail(e))?.map(Found::File),
            Where::Object(store, p) => object::find(store, p)
                .await
                .map_err(|e| self.fail(e))?
                .map(Found::Object),
        })
    }

    /// The lock's text, without taking anything (readers).
    async fn read(&self) -> Result<Option<String>> {
        match self {
            Where::File(p) => file::read(p).map_err(|e| self.fail(e)),
            Where::Object(store, p) => object::read(store, p).await.map_err(|e| self.fail(e)),
        }
    }
}

impl Found {
    fn text(&self) -> &str {
        match self {
            Found::File(f) => &f.text,
            Found::Object(f) => &f.text,
        }
    }

    fn stale(&self, who: &record::Who) -> bool {
        let (os, age) = match self {
            Found::File(f) if f.held.is_some() => (Os::Free, f.age),
            Found::File(f) => (Os::Held, f.age),
            Found::Object(f) => (Os::Bucket, f.age),
        };
        record::is_stale(who, os, age)
    }

    /// Replace the stale lock with `text`; `None` when another run took it
    /// first.
    async fn take(self, at: &Where, text: &str, token: &str) -> Result<Option<Held>> {
        match (self, at) {
            (Found::File(f), _) => match f.held {
                Some(h) => Ok(Some(Held::File(
                    h.replace(text, token).map_err(|e| at.fail(e))?,
                ))),
                None => Ok(None),
            },
            (Found::Object(f), Where::Object(store, p)) => Ok(f
                .take(store, p, text)
                .await
                .map_err(|e| at.fail(e))?
                .ok()
                .map(Held::Object)),
            (Found::Object(_), Where::File(_)) => Ok(None),
        }
    }
}

impl RunLock {
    /// Take the warehouse's run lock, or explain who holds it. When the
    /// holder died, the lock is taken over and its journal returned: the
    /// caller must restore those tables ([`RunLock::restored`]) before
    /// writing anything.
    pub async fn acquire(wh: &Warehouse, pipeline: &str) -> Result<(Self, Option<Stale>)> {
        let at = Where::of(wh)?;
        let holder = Holder::here(pipeline);
        let lock = |held, journal: Journal| RunLock {
            at: at.clone(),
            held: Some(held),
            holder: holder.clone(),
            unrestored: !journal.is_empty(),
            journal,
        };
        let fresh = record::render(&holder, &Vec::new());
        for _ in 0..ATTEMPTS {
            if let Some(held) = at.create(&fresh, &holder.token).await? {
                return Ok((lock(held, Vec::new()), None));
            }
            // Released since: try to create it again.
            let Some(found) = at.find().await? else {
                continue;
            };
            let old = record::parse(found.text()).map_err(|g| at.garbled(g))?;
            if !found.stale(&old.who) {
                return Err(Error::Locked {
                    path: at.name(),
                    holder: record::describe(&old.who),
                });
            }
            // Keep the dead run's journal until its tables are restored: a
            // crash now still leaves them restorable.
            let text = record::render(&holder, &old.journal);
            if let Some(held) = found.take(&at, &text, &holder.token).await? {
                let stale = Stale {
                    holder: record::describe(&old.who),
                    journal: old.journal.clone(),
                };
                return Ok((lock(held, old.journal), Some(stale)));
            }
        }
        Err(Error::Locked {
            path: at.name(),
            holder: "unknown (the lock kept changing while this run tried to take it)".into(),
        })
    }

    /// Record, durably, a table's version before this run first writes it.
    pub async fn record(&mut self, table: &str, version: Option<u64>) -> Result<()> {
        self.journal.push((table.to_string(), version));
        let text = record::render(&self.holder, &self.journal);
        match &mut self.held {
            Some(Held::File(h)) => {
                if !h.owns_name().map_err(|e| self.at.fail(e))? {
                    return Err(self.at.lost());
                }
                h.append(&record::entry_line(table, version))
                    .map_err(|e| self.at.fail(e))
            }
            Some(Held::Object(h)) => match h.rewrite(&text).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(object::Lost)) => Err(self.at.lost()),
                Err(e) => Err(self.at.fail(e)),
            },
            None => Err(self.at.lost()),
        }
    }

    /// Every table of the dead run's journal is restored.
    pub fn restored(&mut self) {
        self.unrestored = false;
    }

    /// A table this run wrote could not be put back: keep the journal.
    pub fn keep_journal(&mut self) {
        self.unrestored = true;
    }

    /// The run is over: give the lock back (only if it is still ours). When
    /// a journaled table was not restored, the lock stays, marked as left,
    /// for the next run to restore.
    pub async fn release(mut self) -> Result<()> {
        let Some(held) = self.held.take() else {
            return Ok(());
        };
        if self.unrestored {
            self.holder.left = true;
            let text = record::render(&self.holder, &self.journal);
            return match held {
                Held::File(h) => h
                    .replace(&text, &self.holder.token)
                    .map(drop)
                    .map_err(|e| self.at.fail(e)),
                Held::Object(mut h) => match h.rewrite(&text).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(object::Lost)) => Err(self.at.lost()),
                    Err(e) => Err(self.at.fail(e)),
                },
            };
        }
        let ours = match held {
            Held::File(h) => h.remove(&self.holder.token).map_err(|e| self.at.fail(e))?,
            Held::Object(h) => h.remove().await.map_err(|e| self.at.fail(e))?,
        };
        if ours { Ok(()) } else { Err(self.at.lost()) }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Dropped without `release` (a panic): a file lock whose journal is
        // empty goes (token-checked); one with a journal stays, marked as
        // left, so the next run restores its tables. The `flock` goes with
        // the file handle. A bucket's lock stays until its holder exits.
        if let Some(Held::File(h)) = self.held.take() {
            if self.journal.is_empty() && !self.unrestored {
                let _ = h.remove(&self.holder.token);
            } else {
                self.holder.left = true;
                let text = record::render(&self.holder, &self.journal);
                let _ = h.replace(&text, &self.holder.token);
            }
        }
    }
}

/// The journal of an unfinished run (live or dead), if there is one. A
/// journal that does not parse is an error: readers must not guess.
pub async fn unfinished(wh: &Warehouse) -> Result<Option<Journal>> {
    let at = Where::of(wh)?;
    match at.read().await? {
        Some(text) => Ok(Some(
            record::parse(&text).map_err(|g| at.garbled(g))?.journal,
        )),
        None => Ok(None),
    }
}
