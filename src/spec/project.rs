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
    /// `root` with every link resolved: what a path must resolve into.
    pub real_root: PathBuf,
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
        let root = normalize(&root);
        Project {
            file: file.to_path_buf(),
            dir: normalize(&dir),
            real_root: real(&root),
            root,
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
        // A link inside the project can point anywhere: judge where it leads.
        let resolved = real(&full);
        if !resolved.starts_with(&self.real_root) {
            diags.err(
                at,
                format!(
                    "path `{p}` resolves to `{}`, outside the project folder `{}`",
                    resolved.display(),
                    self.root.display()
                ),
                Some("a link inside the project may not lead out of it; copy the file in, or use an object-store URL".into()),
            );
            return None;
        }
        Some(full)
    }
}

/// `p` with every link resolved: the longest part that exists is
/// canonicalised, the rest (not created yet) appended.
pub fn real(p: &Path) -> PathBuf {
    let mut existing = p.to_path_buf();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        if let Ok(c) = existing.canonicalize() {
            return rest.iter().rev().fold(c, |acc, part| acc.join(part));
        }
        match (
            existing.file_name().map(|f| f.to_os_string()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return p.to_path_buf(),
        }
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

    #[cfg(unix)]
    #[test]
    fn links_that_lead_out_are_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("project");
        std::fs::create_dir_all(root.join("pipelines")).expect("mkdir");
        std::fs::create_dir_all(tmp.path().join("outside")).expect("mkdir");
        std::fs::write(tmp.path().join("outside/secret.sql"), "SELECT 1").expect("write");
        std::os::unix::fs::symlink(tmp.path().join("outside"), root.join("queries")).expect("link");
        std::fs::write(root.join("pipelines/p.yaml"), "name: p").expect("write");
        let project = Project::of(&root.join("pipelines/p.yaml"));
        let loc = crate::spec::Locator::new("name: p\n");
        let mut diags = Diags::new(&project.file, &loc, Vec::new());
        assert!(
            project
                .resolve("x", "../queries/secret.sql", &mut diags)
                .is_none()
        );
        assert!(
            project
                .resolve("x", "../queries/missing.sql", &mut diags)
                .is_none()
        );
        assert_eq!(diags.count(), 2);
        assert!(project.resolve("x", "p.yaml", &mut diags).is_some());
        assert_eq!(diags.count(), 2);
    }

    #[test]
    fn normalizes_without_the_file_system() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
    }
}
