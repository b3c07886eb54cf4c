//! Compressed and corrupt extracts: gzip and zstd files load exactly like
//! their plain copies; a truncated gzip stream and a truncated Parquet file
//! are each quarantined as one whole-file row with the reason, and the rest
//! of the source loads. Checked against a second warehouse loaded from the
//! same extracts with the two broken files simply absent.

use crate::common::{copy_dir, generate, ok, ok_env, project, query_env};
use std::io::Write;
use std::path::Path;

fn gzip(path: &Path) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&std::fs::read(path).expect("read"))
        .expect("gzip");
    e.finish().expect("gzip")
}

/// A second warehouse, `warehouse_ref`, loaded from the extracts in `data_ref`.
fn reference_env(dir: &Path) -> [(&'static str, String); 2] {
    [
        ("TOUCHPOINT_WAREHOUSE", "warehouse_ref".to_string()),
        (
            "TOUCHPOINT_EXTRACTS",
            dir.join("data_ref").display().to_string(),
        ),
    ]
}

fn rows(dir: &Path, env: &[(&str, String)], sql: &str) -> Vec<String> {
    let csv = ok_env(dir, &["query", "--format", "csv", sql], env);
    let mut v: Vec<String> = csv.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn compressed_load_and_corrupt_files_are_quarantined_whole() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 200, 1, 9, &[]);
    // ATM files may now be compressed: match `atm_*.csv`, `.csv.gz`, `.csv.zst`.
    let yaml = dir.join("pipelines/monthly_cx.yaml");
    let text = std::fs::read_to_string(&yaml).expect("yaml");
    std::fs::write(&yaml, text.replace("atm_*.csv", "atm_*.csv*")).expect("yaml");

    copy_dir(&dir.join("data"), &dir.join("data_ref"));
    let atm = dir.join("data/atm/2024/01");
    // A: gzip, B: gzip cut short (corrupt), C: zstd.
    let a = atm.join("atm_20240105.csv");
    std::fs::write(atm.join("atm_20240105.csv.gz"), gzip(&a)).expect("write");
    std::fs::remove_file(&a).expect("rm");
    let b = atm.join("atm_20240110.csv");
    let gz = gzip(&b);
    std::fs::write(atm.join("atm_20240110.csv.gz"), &gz[..gz.len() * 2 / 3]).expect("write");
    std::fs::remove_file(&b).expect("rm");
    let c = atm.join("atm_20240115.csv");
    let zst = zstd::encode_all(std::fs::read(&c).expect("read").as_slice(), 3).expect("zstd");
    std::fs::write(atm.join("atm_20240115.csv.zst"), zst).expect("write");
    std::fs::remove_file(&c).expect("rm");
    // A Parquet file cut in half.
    let online = dir.join("data/online/sessions_2024-01.parquet");
    let bytes = std::fs::read(&online).expect("parquet");
    std::fs::write(&online, &bytes[..bytes.len() / 2]).expect("truncate");
    // The reference: the same extracts, without the two broken files.
    std::fs::remove_file(dir.join("data_ref/atm/2024/01/atm_20240110.csv")).expect("rm");
    // (Moved to another month: `validate` wants every source to have files.)
    std::fs::rename(
        dir.join("data_ref/online/sessions_2024-01.parquet"),
        dir.join("data_ref/online/sessions_2023-12.parquet"),
    )
    .expect("mv");

    let run = [
        "run",
        "pipelines/monthly_cx.yaml",
        "--period",
        "2024-01",
        "--json",
    ];
    let summary: serde_json::Value = serde_json::from_str(&ok(dir, &run)).expect("json");
    let reference = reference_env(dir);
    ok_env(dir, &run, &reference);

    // Every good row loaded: the tables equal the reference's.
    for t in ["atm", "online_sessions", "customers", "surveys"] {
        let sql = format!("SELECT * FROM {t}");
        let got = rows(dir, &[], &sql);
        let want = rows(dir, &reference, &sql);
        assert!(got.len() > 1 || t == "online_sessions", "{t} is empty");
        assert!(got == want, "{t} differs from the reference load");
    }
    // The broken files are one quarantine row each, with the reason.
    let q = query_env(
        dir,
        "SELECT source, file, line, reason FROM _quarantine WHERE line = 0 ORDER BY source",
        &[],
    );
    assert_eq!(q.len(), 2, "{q:?}");
    assert_eq!(q[0]["source"], "atm");
    assert!(
        q[0]["file"]
            .as_str()
            .expect("file")
            .ends_with("atm_20240110.csv.gz")
    );
    assert!(
        q[1]["file"]
            .as_str()
            .expect("file")
            .ends_with("sessions_2024-01.parquet")
    );
    for r in &q {
        let reason = r["reason"].as_str().expect("reason");
        assert!(reason.starts_with("whole file quarantined"), "{reason}");
    }
    // The rest of the quarantine is the reference's, less B's own rejects.
    let other = "SELECT file, line, column_name, reason FROM _quarantine WHERE line > 0 AND file NOT LIKE '%atm_20240110%'";
    let got: Vec<String> = rows(dir, &[], other)
        .into_iter()
        .map(|l| l.replacen("data/", "", 1))
        .map(|l| l.replace(".csv.gz", ".csv").replace(".csv.zst", ".csv"))
        .collect();
    let want: Vec<String> = rows(dir, &reference, other)
        .into_iter()
        .map(|l| l.replacen("data_ref/", "", 1))
        .collect();
    assert!(got == want, "row-level quarantine differs");
    // Reconciliation holds with the whole-file rows counted once each.
    for s in summary["steps"].as_array().expect("steps") {
        if s["kind"] == "source" {
            assert_eq!(
                s["rows_read"].as_i64(),
                Some(
                    s["rows_loaded"].as_i64().expect("n")
                        + s["rows_quarantined"].as_i64().expect("n")
                ),
                "{s}"
            );
        }
    }
    let online = crate::common::step(&summary, "online_sessions");
    assert_eq!(
        (online["rows_read"].as_i64(), online["rows_loaded"].as_i64()),
        (Some(1), Some(0))
    );
}

/// `max_bad_rows` / `max_bad_fraction`: over the limit the run fails, says
/// why, and leaves the source's table (and every other) as it was.
#[test]
fn a_source_over_its_bad_row_limit_commits_nothing() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 150, 1, 4, &["--dirty-rate", "0.02"]);
    let run = ["run", "pipelines/monthly_cx.yaml", "--period", "2024-01"];
    ok(dir, &run);
    let before = crate::common::snapshot(dir, &[], "");
    let atm_bad = crate::common::f(
        &crate::common::query(
            dir,
            "SELECT COUNT(*) AS n FROM _quarantine WHERE source = 'atm'",
        )[0],
        "n",
    );
    assert!(
        atm_bad > 2.0,
        "the generator should have made dirty ATM rows"
    );

    let yaml = dir.join("pipelines/monthly_cx.yaml");
    let text = std::fs::read_to_string(&yaml).expect("yaml");
    let with = |limit: &str| {
        text.replacen(
            "    key: [txn_id]\n",
            &format!("    key: [txn_id]\n    {limit}\n"),
            1,
        )
    };
    // One fewer than the ATM rejects: over the limit.
    std::fs::write(
        &yaml,
        with(&format!("max_bad_rows: {}", atm_bad as u64 - 1)),
    )
    .expect("yaml");
    let out = crate::common::touchpoint(dir, &run);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("source `atm`: {} of", atm_bad as u64)),
        "{err}"
    );
    assert!(err.contains("max_bad_rows"), "{err}");
    assert!(
        crate::common::snapshot(dir, &[], "") == before,
        "a failed source changed tables"
    );
    // Exactly at the limit passes; so does a generous fraction.
    std::fs::write(&yaml, with(&format!("max_bad_rows: {}", atm_bad as u64))).expect("yaml");
    ok(dir, &run);
    std::fs::write(&yaml, with("max_bad_fraction: 0.0001")).expect("yaml");
    let out = crate::common::touchpoint(dir, &run);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_bad_fraction"));
    std::fs::write(&yaml, with("max_bad_fraction: 0.5")).expect("yaml");
    ok(dir, &run);
    std::fs::write(&yaml, with("max_bad_fraction: 2")).expect("yaml");
    let out = crate::common::touchpoint(dir, &["validate", "pipelines/monthly_cx.yaml"]);
    assert_eq!(out.status.code(), Some(78));
}

/// A GB18030 survey extract (Chinese comments) loads exactly like its UTF-8
/// original; a line with bytes that are not GB18030 is quarantined with
/// the reason, not loaded with a guessed character.
#[test]
fn gb18030_extracts_load_as_text() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 150, 1, 8, &[]);
    copy_dir(&dir.join("data"), &dir.join("data_ref"));
    let surveys = dir.join("data/surveys/surveys_2024-01.csv");
    let text = std::fs::read_to_string(&surveys).expect("utf-8 original");
    assert!(
        text.contains("还可以") || text.contains("一般般") || text.chars().any(|c| c > '\u{2E80}')
    );
    let (mut bytes, _, unmappable) = encoding_rs::GB18030.encode(&text);
    assert!(!unmappable);
    let mut bytes = bytes.to_mut().clone();
    if !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    // 0x81 0x20 is not a GB18030 character.
    bytes.extend_from_slice(
        b"R999999999,C0000001,2024-01-20T02:00:00Z,branch,teller,post,5,10,1,5,bad \x81\x20 bytes\n",
    );
    std::fs::write(&surveys, &bytes).expect("write");

    let yaml = dir.join("pipelines/monthly_cx.yaml");
    let y = std::fs::read_to_string(&yaml).expect("yaml");
    std::fs::write(
        &yaml,
        y.replacen(
            "    path: surveys/surveys_{period}.csv\n",
            "    path: surveys/surveys_{period}.csv\n    encoding: gb18030\n",
            1,
        ),
    )
    .expect("yaml");
    let run = ["run", "pipelines/monthly_cx.yaml", "--period", "2024-01"];
    ok(dir, &run);
    // The reference reads the UTF-8 original (declared GB18030 would not
    // apply to it), from a pipeline copy without `encoding:`.
    std::fs::write(dir.join("pipelines/reference.yaml"), &y).expect("yaml");
    let reference = reference_env(dir);
    ok_env(
        dir,
        &["run", "pipelines/reference.yaml", "--period", "2024-01"],
        &reference,
    );
    let sql = "SELECT * FROM surveys";
    let got = rows(dir, &[], sql);
    assert!(
        got == rows(dir, &reference, sql),
        "surveys differ from the UTF-8 load"
    );
    assert!(
        got.iter()
            .any(|l| l.contains("还可以") || l.contains("一般般"))
    );
    let q = query_env(
        dir,
        "SELECT line, column_name, reason FROM _quarantine WHERE source = 'surveys' AND reason LIKE 'not valid gb18030%'",
        &[],
    );
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0]["column_name"], "comment");
}

/// A gzip bomb (a few KB that inflate to 300 MB of one line) is quarantined
/// whole once it inflates past its cap; nothing of it stays on disk.
#[test]
fn a_gzip_bomb_is_quarantined_not_inflated() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    std::fs::create_dir_all(dir.join("pipelines")).expect("mkdir");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(b"id,note\n").expect("gzip");
    let zeros = vec![b'0'; 1 << 20];
    for _ in 0..300 {
        e.write_all(&zeros).expect("gzip");
    }
    let bomb = e.finish().expect("gzip");
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    std::fs::write(dir.join("data/a_bomb.csv.gz"), &bomb).expect("write");
    std::fs::write(dir.join("data/b_good.csv"), "id,note\n1,fine\n").expect("write");
    std::fs::write(
        dir.join("pipelines/p.yaml"),
        "name: p\nsources:\n  notes:\n    path: ../data/*.csv*\n    csv: {}\n    columns:\n      id: {type: int}\n      note: {type: string}\n",
    )
    .expect("write");
    let scratch = std::env::temp_dir();
    let out = ok_env(
        dir,
        &["run", "pipelines/p.yaml", "--period", "2024-01"],
        &[("TOUCHPOINT_MAX_INFLATED_MB", "64".to_string())],
    );
    assert!(out.contains("1 loaded + 1 quarantined"), "{out}");
    let q = query_env(dir, "SELECT file, reason FROM _quarantine", &[]);
    assert_eq!(q.len(), 1, "{q:?}");
    let reason = q[0]["reason"].as_str().expect("reason");
    assert!(reason.contains("inflates past"), "{reason}");
    // No inflated copy left behind in the scratch folder.
    let leftover: u64 = std::fs::read_dir(&scratch)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("touchpoint-"))
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum();
    assert!(leftover < 64 << 20, "{leftover} bytes left in scratch");
}
