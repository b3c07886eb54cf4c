//! Private scratch files: extracts downloaded from a store, inflated from
//! gzip/zstd or transcoded to UTF-8 are written here while a load reads
//! them. The folder is the user's own (mode 0700) and each file is created
//! new with mode 0600, named by the process that made it, so a file left by
//! a killed run is found and removed by the next ([`sweep`]).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::PathBuf;

/// The scratch folder: `$TMPDIR/touchpoint-<uid>`.
pub fn dir() -> io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("touchpoint-{}", uid()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        // Someone else's folder (made first, to read our extracts) is refused.
        let meta = std::fs::symlink_metadata(&dir)?;
        if !meta.is_dir()
            || meta.uid().to_string() != uid()
            || meta.permissions().mode() & 0o077 != 0
        {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "scratch folder `{}` is not private to this user",
                    dir.display()
                ),
            ));
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A new private file in the scratch folder, and its path.
pub fn create(ext: &str) -> io::Result<(PathBuf, File)> {
    let path = dir()?.join(format!(
        "{}-{}{ext}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts.open(&path)?;
    Ok((path, file))
}

/// Remove scratch files of processes that are gone (killed mid-load).
/// Returns how many were removed.
pub fn sweep() -> usize {
    let Ok(dir) = dir() else { return 0 };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let alive = pid == std::process::id() || PathBuf::from(format!("/proc/{pid}")).exists();
        if !alive && std::fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

fn uid() -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = std::fs::metadata("/proc/self") {
            return m.uid().to_string();
        }
    }
    std::env::var("USER").unwrap_or_else(|_| "user".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn files_are_private_and_the_dead_are_swept() {
        use std::os::unix::fs::PermissionsExt;
        let (path, _f) = create(".csv").expect("create");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(dir().expect("dir"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        // A file of a process that cannot exist is swept; ours is kept.
        let dead = dir().expect("dir").join("4294967294-deadbeef.csv");
        std::fs::write(&dead, "x").expect("write");
        assert!(sweep() >= 1);
        assert!(!dead.exists() && path.exists());
        std::fs::remove_file(path).expect("rm");
    }
}
