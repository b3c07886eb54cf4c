//! Which extract files a run must read. A source's files for a period are
//! compared with what `_loaded_files` says was loaded before: unchanged
//! files are not read again, new files are appended, and anything that
//! would make an append differ from a full refresh reloads the period.

use super::extract::CONTROL_MARK;
use super::{ExtractFile, Source};
use crate::warehouse::Result;
use crate::warehouse::Warehouse;
use crate::warehouse::log::LOADED_FILES;
use datafusion::arrow::array::{Array, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use std::collections::BTreeMap;

/// A file as it was when it was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub size: u64,
    pub version: String,
    pub checksum: String,
    /// [`definition`] of the source when the file was loaded.
    pub definition: String,
}

/// A digest of everything that decides how a source's rows are typed and
/// checked (its YAML and the business time zone): when it changes, files
/// loaded under the old definition are read again.
pub fn definition(src: &Source, timezone: chrono_tz::Tz) -> String {
    // Descriptions are documentation: editing them reloads nothing. The
    // path as written, not where the project lies: a copy of the project
    // (a new checkout, CI) must not reload everything.
    let mut src = src.clone();
    src.description = None;
    src.pattern = src.path.clone();
    src.root = None;
    for c in &mut src.columns {
        c.description = None;
    }
    // How a database is read (connections, how often keys are compared)
    // does not change what the table holds.
    src.deletes.reconcile_every = None;
    if let Some(crate::sources::database::Database::Postgres(p)) = &mut src.database {
        p.parallel = 1;
    }
    // A history is part of the definition (adding one reloads the source,
    // so its history starts from the whole table). `history` is the last
    // field: a source without one keeps the digest it had before
    // histories existed, so upgrading reloads nothing.
    let text = format!("{src:?}");
    let text = match text.strip_suffix(", history: None }") {
        Some(t) => format!("{t} }}|{timezone}"),
        None => format!("{text}|{timezone}"),
    };
    blake3::hash(text.as_bytes()).to_hex()[..16].to_string()
}

/// What to do with one source and period.
#[derive(Debug)]
pub enum Plan {
    /// Every file was loaded before and none changed: leave the partition.
    Skip { files: usize },
    /// Only new files, all sorting after the loaded ones: read just those
    /// and add their rows (keys already loaded count as duplicates).
    Append { new: Vec<ExtractFile>, kept: usize },
    /// Read every file and replace the partition.
    Reload {
        files: Vec<ExtractFile>,
        why: String,
    },
    /// Files were loaded for this period before and none is there now (a
    /// moved folder, a lost mount): replacing the period would empty it,
    /// so that is done only when asked for (`--allow-empty`).
    Vanished { missing: Vec<String> },
}

impl Plan {
    pub fn kind(&self) -> &'static str {
        match self {
            Plan::Skip { .. } => "skip",
            Plan::Append { .. } => "append",
            Plan::Reload { .. } | Plan::Vanished { .. } => "reload",
        }
    }
}

/// Decide the plan. `prior` is `None` when nothing was recorded for this
/// source and period; `force` names why everything must be read again
/// (`--full-refresh`, a referenced source changed); `append_ok` is false
/// for snapshot sources, which are always replaced whole.
pub fn plan(
    files: Vec<ExtractFile>,
    prior: Option<&BTreeMap<String, Loaded>>,
    definition: &str,
    force: Option<String>,
    append_ok: bool,
) -> Plan {
    // Whatever else holds: files gone without a word never empty a period.
    if files.is_empty()
        && let Some(prior) = prior.filter(|p| !p.is_empty())
    {
        return Plan::Vanished {
            missing: prior.keys().cloned().collect(),
        };
    }
    if let Some(why) = force {
        return Plan::Reload { files, why };
    }
    let Some(prior) = prior else {
        return Plan::Reload {
            files,
            why: "first load".into(),
        };
    };
    if prior.values().any(|l| l.definition != definition) {
        return Plan::Reload {
            files,
            why: "the source's definition changed since its files were loaded".into(),
        };
    }
    let (mut new, mut changed) = (Vec::new(), 0usize);
    for f in &files {
        match prior.get(&f.name) {
            None => new.push(f.clone()),
            Some(was) if !unchanged(f, was) => changed += 1,
            Some(_) => {}
        }
    }
    let removed = prior
        .keys()
        .filter(|n| !files.iter().any(|f| &f.name == *n))
        .count();
    if changed + removed > 0 {
        let why = [(changed, "changed"), (removed, "removed")]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, w)| format!("{n} file(s) {w} since loaded"))
            .collect::<Vec<_>>()
            .join(", ");
        return Plan::Reload { files, why };
    }
    if new.is_empty() {
        return Plan::Skip { files: files.len() };
    }
    if !append_ok {
        return Plan::Reload {
            files,
            why: format!("{} new file(s) in a snapshot source", new.len()),
        };
    }
    // Duplicates keep the copy from the file that sorts first; a new file
    // sorting before a loaded one could win a full refresh, so reload.
    let last_loaded = prior.keys().next_back();
    if let Some(last) = last_loaded
        && new.iter().any(|f| &f.name < last)
    {
        return Plan::Reload {
            files,
            why: "a new file sorts before files already loaded (a late file)".into(),
        };
    }
    Plan::Append {
        kept: files.len() - new.len(),
        new,
    }
}

/// The same size and, on local disk, the same bytes (a size and a
/// modification time say nothing: `cp -p` and `rsync -t` keep both); in a
/// bucket, the same ETag (reading the object to hash it would download it).
fn unchanged(f: &ExtractFile, was: &Loaded) -> bool {
    if f.size != was.size {
        return false;
    }
    // A different control file is a change whatever the extract's bytes.
    let control = |v: &str| v.split_once(CONTROL_MARK).map(|(_, c)| c.to_string());
    if control(&f.version) != control(&was.version) {
        return false;
    }
    match f.local_checksum() {
        Some(sum) => !was.checksum.is_empty() && sum == was.checksum,
        None => f.version == was.version,
    }
}

/// Every recorded file, by (source, period key).
pub type LoadedFiles = std::collections::HashMap<(String, String), BTreeMap<String, Loaded>>;

/// What `_loaded_files` records, read once per run (one row per file).
pub async fn loaded(wh: &Warehouse) -> Result<LoadedFiles> {
    let mut out = LoadedFiles::new();
    if wh.version(LOADED_FILES).await?.is_none() {
        return Ok(out);
    }
    let ctx = SessionContext::new();
    let batches = ctx
        .read_table(wh.provider(LOADED_FILES).await?)?
        .select_columns(&[
            "source",
            "period",
            "file",
            "size",
            "version",
            "checksum",
            "definition",
        ])?
        .collect()
        .await?;
    let types = [
        DataType::Utf8,
        DataType::Utf8,
        DataType::Utf8,
        DataType::Int64,
        DataType::Utf8,
        DataType::Utf8,
        DataType::Utf8,
    ];
    for b in &batches {
        // Delta scans may give string views: cast to plain arrays.
        let cols = b
            .columns()
            .iter()
            .zip(types.iter())
            .map(|(a, t)| cast(a, t))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(datafusion::error::DataFusionError::from)?;
        let s = |i: usize| cols[i].as_any().downcast_ref::<StringArray>();
        let size = cols[3].as_any().downcast_ref::<Int64Array>();
        let (Some(src), Some(period), Some(file), Some(size), Some(version), Some(sum), Some(def)) =
            (s(0), s(1), s(2), size, s(4), s(5), s(6))
        else {
            continue;
        };
        for r in 0..b.num_rows() {
            if file.is_null(r) {
                continue;
            }
            out.entry((src.value(r).to_string(), period.value(r).to_string()))
                .or_default()
                .insert(
                    file.value(r).to_string(),
                    Loaded {
                        size: size.value(r) as u64,
                        version: version.value(r).to_string(),
                        checksum: sum.value(r).to_string(),
                        definition: def.value(r).to_string(),
                    },
                );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &std::path::Path, name: &str, body: &str) -> ExtractFile {
        let p = dir.join(name);
        std::fs::write(&p, body).expect("write");
        ExtractFile::local(p)
    }

    fn record(files: &[&ExtractFile]) -> BTreeMap<String, Loaded> {
        files
            .iter()
            .map(|f| {
                (
                    f.name.clone(),
                    Loaded {
                        size: f.size,
                        version: f.version.clone(),
                        checksum: f.local_checksum().expect("local"),
                        definition: "d1".into(),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn plans_follow_what_changed() {
        let d = tempfile::tempdir().expect("tempdir");
        let a = file(d.path(), "a_01.csv", "x\n1\n");
        let b = file(d.path(), "a_02.csv", "x\n2\n");
        let prior = record(&[&a, &b]);
        let kind = |files: Vec<ExtractFile>, force: Option<String>, append_ok| {
            plan(files, Some(&prior), "d1", force, append_ok).kind()
        };
        // Nothing new.
        assert_eq!(kind(vec![a.clone(), b.clone()], None, true), "skip");
        // Never loaded.
        assert_eq!(
            plan(vec![a.clone()], None, "d1", None, true).kind(),
            "reload"
        );
        // A new file after the loaded ones.
        let c = file(d.path(), "a_03.csv", "x\n3\n");
        match plan(
            vec![a.clone(), b.clone(), c.clone()],
            Some(&prior),
            "d1",
            None,
            true,
        ) {
            Plan::Append { new, kept } => {
                assert_eq!(kept, 2);
                assert_eq!(new.len(), 1);
                assert_eq!(new[0].name, c.name);
            }
            other => panic!("expected append, got {other:?}"),
        }
        // The source's definition changed.
        assert_eq!(
            plan(vec![a.clone(), b.clone()], Some(&prior), "d2", None, true).kind(),
            "reload"
        );
        // The same in a snapshot source, or forced: reload.
        assert_eq!(
            kind(vec![a.clone(), b.clone(), c.clone()], None, false),
            "reload"
        );
        assert_eq!(
            kind(
                vec![a.clone(), b.clone()],
                Some("full refresh".into()),
                true
            ),
            "reload"
        );
        // A late file sorting among the loaded ones.
        let late = file(d.path(), "a_015.csv", "x\n4\n");
        assert_eq!(kind(vec![a.clone(), late, b.clone()], None, true), "reload");
        // A removed file.
        assert_eq!(kind(vec![a.clone()], None, true), "reload");
        // Changed content (same name, different size).
        let b2 = file(d.path(), "a_02.csv", "x\n22\n");
        assert_eq!(kind(vec![a.clone(), b2], None, true), "reload");
    }

    #[test]
    fn a_touched_file_with_the_same_bytes_is_unchanged() {
        let d = tempfile::tempdir().expect("tempdir");
        let a = file(d.path(), "a.csv", "x\n1\n");
        let mut prior = record(&[&a]);
        // As if the file had been touched since it was loaded.
        if let Some(l) = prior.get_mut(&a.name) {
            l.version = "0".into();
        }
        assert_eq!(
            plan(vec![a.clone()], Some(&prior), "d1", None, true).kind(),
            "skip"
        );
        // Same size, other bytes: changed.
        let a2 = file(d.path(), "a.csv", "x\n2\n");
        if let Some(l) = prior.get_mut(&a.name) {
            l.version = "0".into();
        }
        assert_eq!(
            plan(vec![a2.clone()], Some(&prior), "d1", None, true).kind(),
            "reload"
        );
        // Same size and the recorded modification time, other bytes (as
        // `cp -p` leaves them): changed.
        if let Some(l) = prior.get_mut(&a.name) {
            l.version = a2.version.clone();
        }
        assert_eq!(
            plan(vec![a2], Some(&prior), "d1", None, true).kind(),
            "reload"
        );
    }

    #[test]
    fn vanished_files_are_not_a_reload() {
        let d = tempfile::tempdir().expect("tempdir");
        let a = file(d.path(), "a.csv", "x\n1\n");
        let prior = record(&[&a]);
        for force in [None, Some("full refresh".to_string())] {
            match plan(vec![], Some(&prior), "d1", force, true) {
                Plan::Vanished { missing } => assert_eq!(missing, vec![a.name.clone()]),
                other => panic!("expected vanished, got {other:?}"),
            }
        }
        // Nothing recorded: an empty first load is no loss.
        assert_eq!(plan(vec![], None, "d1", None, true).kind(), "reload");
    }
}
