//! `touchpoint validate` on a corpus of invalid pipelines, one mistake per
//! file (`tests/fixtures/invalid/*.yaml`, a tiny project of its own), each
//! run's exit code, stdout and stderr snapshot-tested with insta
//! (`tests/fixtures/invalid/snapshots/`), so no diagnostic changes unnoticed.
//! After an intended change of a message: `INSTA_UPDATE=always cargo test
//! --test cli invalid`, then review the diff of the snapshots.

use std::path::PathBuf;
use std::process::Command;

/// The corpus must stay broad: a lost fixture would silently unlock messages.
const MIN_FIXTURES: usize = 40;

#[test]
fn every_invalid_pipeline_gives_its_located_error() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read tests/fixtures/invalid")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= MIN_FIXTURES,
        "only {} invalid pipelines in {}, want at least {MIN_FIXTURES}",
        files.len(),
        dir.display()
    );
    // Diagnostics name SQL files and the project folder by absolute path
    // (as the working directory reports it, so with symlinks resolved).
    let mut roots = vec![dir.to_string_lossy().into_owned()];
    if let Ok(real) = dir.canonicalize() {
        roots.insert(0, real.to_string_lossy().into_owned());
    }
    for file in &files {
        let name = file
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        let file_name = file.file_name().expect("file name");
        let out = Command::new(crate::common::bin())
            .arg("validate")
            .arg(file_name)
            .current_dir(&dir)
            .env_remove("TOUCHPOINT_WAREHOUSE")
            .env_remove("TOUCHPOINT_EXTRACTS")
            .output()
            .expect("run touchpoint");
        let code = out
            .status
            .code()
            .map_or_else(|| "signal".to_string(), |c| c.to_string());
        let mut text = format!(
            "exit: {code}\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for root in &roots {
            text = text.replace(root.as_str(), "[FIXTURES]");
        }
        insta::with_settings!({
            snapshot_path => "../fixtures/invalid/snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
            input_file => file,
            // glob counts the position of a bad pattern in the absolute
            // path, so it depends on where the project lies.
            filters => vec![(r"near position \d+", "near position [N]")],
        }, {
            insta::assert_snapshot!(name.as_str(), text);
        });
        assert_eq!(
            out.status.code(),
            Some(78),
            "{name}.yaml: `validate` must exit 78 (invalid pipeline)\n{text}"
        );
    }
}
