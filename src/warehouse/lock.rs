//! One run at a time per warehouse: a `_run.lock` file (or object) created
//! exclusively. A lock left by a process of this machine that no longer
//! exists (a killed run) is taken over; any other holder is named in the
//! error so a person can decide.

use super::{Error, Result, Warehouse};
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, path::Path as StorePath};
use std::path::PathBuf;
use std::sync::Arc;

pub struct RunLock {
    held: Held,
}

enum Held {
    File(PathBuf),
    Object(Arc<dyn ObjectStore>, StorePath),
    Released,
}

const NAME: &str = "_run.lock";

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// `pid host pipeline`: enough to tell a dead local holder from a live one.
fn holder_line(pipeline: &str) -> String {
    format!("{} {} {pipeline}\n", std::process::id(), host())
}

/// Whether the holder described by a lock's text is a process of this
/// machine that has ended.
fn is_stale(text: &str) -> bool {
    let mut parts = text.split_whitespace();
    let pid: Option<u32> = parts.next().and_then(|p| p.parse().ok());
    let same_host = parts.next().is_some_and(|h| h == host());
    match pid {
        Some(p) => same_host && !PathBuf::from(format!("/proc/{p}")).exists(),
        None => false,
    }
}

impl RunLock {
    /// Take the warehouse's run lock, or explain who holds it.
    pub async fn acquire(wh: &Warehouse, pipeline: &str) -> Result<Self> {
        match &wh.local {
            Some(dir) => Self::acquire_file(dir.join(NAME), pipeline),
            None => Self::acquire_object(wh, pipeline).await,
        }
    }

    fn acquire_file(path: PathBuf, pipeline: &str) -> Result<Self> {
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    let _ = f.write_all(holder_line(pipeline).as_bytes());
                    return Ok(RunLock {
                        held: Held::File(path),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    if !is_stale(&holder) {
                        return Err(Error::Locked {
                            path: path.display().to_string(),
                            holder: holder.trim().to_string(),
                        });
                    }
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => {
                    return Err(Error::Location {
                        location: path.display().to_string(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Err(Error::Locked {
            path: path.display().to_string(),
            holder: String::new(),
        })
    }

    async fn acquire_object(wh: &Warehouse, pipeline: &str) -> Result<Self> {
        let url = wh.root.join(NAME).unwrap_or_else(|_| wh.root.clone());
        let fail = |reason: String| Error::Location {
            location: url.to_string(),
            reason,
        };
        let (store, path) = crate::store::open(&url).map_err(|e| fail(e.to_string()))?;
        for _ in 0..2 {
            let create = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            match store
                .put_opts(&path, holder_line(pipeline).into(), create)
                .await
            {
                Ok(_) => {
                    return Ok(RunLock {
                        held: Held::Object(store, path),
                    });
                }
                Err(object_store::Error::AlreadyExists { .. }) => {
                    let holder = match store.get(&path).await {
                        Ok(g) => g
                            .bytes()
                            .await
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                            .unwrap_or_default(),
                        Err(_) => String::new(),
                    };
                    if !is_stale(&holder) {
                        return Err(Error::Locked {
                            path: url.to_string(),
                            holder: holder.trim().to_string(),
                        });
                    }
                    let _ = store.delete(&path).await;
                }
                Err(e) => return Err(fail(e.to_string())),
            }
        }
        Err(Error::Locked {
            path: url.to_string(),
            holder: String::new(),
        })
    }

    /// Give the lock back (an object-store lock needs a request, so the run
    /// releases it explicitly; `Drop` covers early returns on local disk).
    pub async fn release(mut self) {
        match std::mem::replace(&mut self.held, Held::Released) {
            Held::File(p) => {
                let _ = std::fs::remove_file(p);
            }
            Held::Object(store, path) => {
                let _ = store.delete(&path).await;
            }
            Held::Released => {}
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.held, Held::Released) {
            Held::File(p) => {
                let _ = std::fs::remove_file(p);
            }
            Held::Object(store, path) => {
                // Best effort on an unexpected exit path; the normal path
                // awaits `release`.
                if let Ok(h) = tokio::runtime::Handle::try_current() {
                    h.spawn(async move {
                        let _ = store.delete(&path).await;
                    });
                }
            }
            Held::Released => {}
        }
    }
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
}
