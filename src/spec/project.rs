//! The project a pipeline file belongs to: paths in the YAML start at the
//! pipeline's folder and may not leave the project.

use super::Diags;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Project {
    /// The pipeline file as given.
    pub file: PathBuf,
    /// Folder of the pipeline file: relative paths start here.
    pub dir: PathBuf,
    /// The project: paths in the YAML may not leave it.
    pub root: PathBuf,
}

impl Project {
    /// The project of a pipeline file: a pipeline in `<project>/pipelines/`
    /// belongs to `<project>`, any other to its own folder.
    pub fn of(file: &Path) -> Self {
        let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        let dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();
        let root = if dir.file_name().is_some_and(|n| n == "pipelines") {
            dir.parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| dir.clone())
        } else {
            dir.clone()
        };
        Project {
            file: file.to_path_buf(),
            dir: normalize(&dir),
            root: normalize(&root),
        }
    }

    /// Resolve a YAML path (at `at`) against the pipeline folder; it must
    /// stay in the project.
    pub fn resolve(&self, at: &str, p: &str, diags: &mut Diags) -> Option<PathBuf> {
        let full = normalize(&self.dir.join(p));
        if !full.starts_with(&self.root) {
            diags.err(
                at,
                format!("path `{p}` leaves the project folder `{}`", self.root.display()),
                Some("keep extracts, SQL and templates inside the project, or use an object-store URL".into()),
            );
            return None;
        }
        Some(full)
    }
}

/// Lexical normalisation: `a/b/../c` → `a/c`, without touching the file
/// system (the file may not exist yet).
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_without_the_file_system() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
    }
}
