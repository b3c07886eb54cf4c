//! One run at a time per warehouse: a lock file created exclusively. A lock
//! left by a process that no longer exists (killed run) is taken over.

use super::{Error, Result, Warehouse};
use std::path::PathBuf;

pub struct RunLock {
    path: Option<PathBuf>,
}

impl RunLock {
    /// Take the warehouse's run lock, or explain who holds it. Object-store
    /// warehouses rely on Delta's optimistic commit conflicts instead.
    pub fn acquire(wh: &Warehouse, pipeline: &str) -> Result<Self> {
        let Some(dir) = &wh.local else {
            return Ok(RunLock { path: None });
        };
        let path = dir.join("_run.lock");
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    let _ = writeln!(f, "{} {pipeline}", std::process::id());
                    return Ok(RunLock { path: Some(path) });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    let pid: Option<u32> = holder
                        .split_whitespace()
                        .next()
                        .and_then(|p| p.parse().ok());
                    let alive = pid.is_some_and(|p| PathBuf::from(format!("/proc/{p}")).exists());
                    if alive {
                        return Err(Error::Locked {
                            path: path.display().to_string(),
                            holder: holder.trim().to_string(),
                        });
                    }
                    // Stale: its process is gone.
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
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}
