//! The run lock as a local file, held with the OS's `flock` for the run's
//! whole life (released by the kernel when the process dies, whatever its
//! pid becomes later).
//!
//! - Created complete: the text goes to a temporary file, which is locked,
//!   synced and then hard-linked to `_run.lock` (fails if it exists), so no
//!   one sees a lock without its holder line.
//! - Taken over atomically: only the process that holds the stale file's
//!   `flock` (and checked that the name still points to that file) may
//!   replace it, by renaming a complete, locked new file over it. Every
//!   other taker finds the new file locked.
//! - Journal lines are appended to the same file (same inode, same `flock`)
//!   and synced before the table is written.
//! - Removed only by its holder, and only while the name still points to
//!   its file and the file carries its token.
//!
//! Each change of a name is followed by a sync of the folder, so it
//! survives a power loss.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A lock file this process holds the `flock` of.
pub struct Held {
    pub path: PathBuf,
    file: File,
}

/// An existing lock file, as found.
pub struct Found {
    /// Its `flock`, when this process could take it (its holder is gone or
    /// is this very moment releasing it).
    pub held: Option<Held>,
    pub text: String,
    pub age: Duration,
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    true
}

/// A new file next to the lock holding `text`, locked and synced.
fn prepared(path: &Path, text: &str, token: &str) -> std::io::Result<(PathBuf, File)> {
    let tmp = path.with_file_name(format!("{}.{token}.tmp", super::NAME));
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    // A new file nobody else has opened: this cannot block.
    f.lock()?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok((tmp, f))
}

impl Held {
    /// Whether `path` still names this file.
    pub fn owns_name(&self) -> std::io::Result<bool> {
        match std::fs::metadata(&self.path) {
            Ok(m) => Ok(same_file(&m, &self.file.metadata()?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub fn text(&mut self) -> std::io::Result<String> {
        let mut s = String::new();
        self.file.seek(SeekFrom::Start(0))?;
        self.file.read_to_string(&mut s)?;
        Ok(s)
    }

    /// Append `line` durably.
    pub fn append(&mut self, line: &str) -> std::io::Result<()> {
        self.file.seek(SeekFrom::End(0))?;
        self.file.write_all(line.as_bytes())?;
        self.file.sync_data()
    }

    /// Replace the lock's whole text: a complete new file, locked before it
    /// takes the name (only a holder of the current file's `flock` whose
    /// name still points to it calls this).
    pub fn replace(self, text: &str, token: &str) -> std::io::Result<Held> {
        let (tmp, file) = prepared(&self.path, text, token)?;
        if let Err(e) = std::fs::rename(&tmp, &self.path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        sync_dir(&self.path)?;
        // `self.file` (the old inode, now nameless) is closed here.
        Ok(Held {
            path: self.path,
            file,
        })
    }

    /// Remove the lock, if its name still points to this file and the file
    /// carries `token`; `false` when it is not ours any more.
    pub fn remove(mut self, token: &str) -> std::io::Result<bool> {
        let ours = self.owns_name()?
            && matches!(super::record::parse(&self.text()?),
                Ok(super::record::Lock { who: super::record::Who::Holder(h), .. }) if h.token == token);
        if !ours {
            return Ok(false);
        }
        std::fs::remove_file(&self.path)?;
        sync_dir(&self.path)?;
        Ok(true)
    }
}

/// Create the lock with `text`; `None` when one exists.
pub fn create(path: &Path, text: &str, token: &str) -> std::io::Result<Option<Held>> {
    let (tmp, file) = prepared(path, text, token)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(path)?;
            Ok(Some(Held {
                path: path.to_path_buf(),
                file,
            }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
        // A file system without hard links: create the name, then lock and
        // write (a taker waits `UNREADABLE_GRACE` for an unreadable lock).
        Err(_) => {
            drop(file);
            let mut file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(None),
                Err(e) => return Err(e),
            };
            // Blocks only while a taker reads the new, empty file.
            file.lock()?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            sync_dir(path)?;
            Ok(Some(Held {
                path: path.to_path_buf(),
                file,
            }))
        }
    }
}

/// The lock at `path`, and its `flock` when free; `None` when there is no
/// lock (it was released meanwhile).
pub fn find(path: &Path) -> std::io::Result<Option<Found>> {
    // The holder may release (or a taker replace) the file between our
    // open and our lock: then that file is not the lock any more; look
    // again, a bounded number of times.
    for _ in 0..1000 {
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let free = match file.try_lock() {
            Ok(()) => true,
            Err(std::fs::TryLockError::WouldBlock) => false,
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        };
        let mut held = Held {
            path: path.to_path_buf(),
            file,
        };
        if free && !held.owns_name()? {
            std::thread::yield_now();
            continue;
        }
        let text = held.text()?;
        let age = held
            .file
            .metadata()?
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .unwrap_or_default();
        return Ok(Some(Found {
            held: free.then_some(held),
            text,
            age,
        }));
    }
    Err(std::io::Error::other("the lock file keeps changing"))
}

/// The lock's text, without locking (readers).
pub fn read(path: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
