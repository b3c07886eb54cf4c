//! Compressed and corrupt extracts: gzip and zstd files load exactly like
//! their plain copies; a truncated gzip stream, a truncated Parquet file and
//! one that breaks after its first batch are each quarantined as one
//! whole-file row with the reason, and the rest of the source loads (the
//! good copy of the broken Parquet file sent after it included). Checked
//! against a second warehouse loaded from the same extracts with the broken
//! files simply absent.

use crate::common::{copy_dir, generate, ok, ok_env, project, query_env};
use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch, StringArray};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::file::properties::WriterProperties;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

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

/// `good`'s rows, then the same rows under new `session_id`s, in row groups
/// of 1,024 rows, with the last row group's pages overwritten: a file whose
/// first batch (8,192 rows, every row of `good` among them) decodes and
/// whose last row group does not.
fn broken_after_its_first_batch(good: &Path, out: &Path) {
    let open = |p: &Path| std::fs::File::open(p).expect("open parquet");
    let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(open(good))
        .expect("parquet")
        .build()
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches");
    let schema = batches[0].schema();
    let all = datafusion::arrow::compute::concat_batches(&schema, &batches).expect("concat");
    assert!(all.num_rows() <= 8192, "the good rows fit the first batch");
    let mut parts = vec![all.clone()];
    let mut rows = all.num_rows();
    while rows < 8192 + 2048 {
        let ids: StringArray = all
            .column(0)
            .as_string::<i32>()
            .iter()
            .map(|s| s.map(|s| format!("{s}-{}", parts.len())))
            .collect();
        let mut cols: Vec<ArrayRef> = all.columns().to_vec();
        cols[0] = Arc::new(ids);
        parts.push(RecordBatch::try_new(schema.clone(), cols).expect("batch"));
        rows += all.num_rows();
    }
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(1024))
        .build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(out).expect("create"),
        schema,
        Some(props),
    )
    .expect("writer");
    for b in &parts {
        w.write(b).expect("write");
    }
    w.close().expect("close");
    let meta = ParquetRecordBatchReaderBuilder::try_new(open(out))
        .expect("parquet")
        .metadata()
        .clone();
    let last = meta.row_group(meta.num_row_groups() - 1);
    let mut bytes = std::fs::read(out).expect("read");
    for c in last.columns() {
        let (start, len) = c.byte_range();
        let start = start as usize;
        for b in &mut bytes[start..start + (len as usize).min(16)] {
            *b = 0xFF;
        }
    }
    std::fs::write(out, bytes).expect("corrupt");
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
    // The month's Parquet file breaks after its first batch, and a copy cut
    // in half follows it; the good file is sent again after both (the names
    // sort in that order). The broken files' rows must not make the good
    // copy's rows duplicates.
    let online = dir.join("data/online");
    let good = online.join("sessions_2024-01_resent.parquet");
    std::fs::rename(online.join("sessions_2024-01.parquet"), &good).expect("mv");
    broken_after_its_first_batch(&good, &online.join("sessions_2024-01.parquet"));
    let bytes = std::fs::read(&good).expect("parquet");
    std::fs::write(
        online.join("sessions_2024-01_cut.parquet"),
        &bytes[..bytes.len() / 2],
    )
    .expect("truncate");
    // The reference: the same extracts, without the broken files.
    std::fs::remove_file(dir.join("data_ref/atm/2024/01/atm_20240110.csv")).expect("rm");
    std::fs::rename(
        dir.join("data_ref/online/sessions_2024-01.parquet"),
        dir.join("data_ref/online/sessions_2024-01_resent.parquet"),
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
    let want_summary: serde_json::Value =
        serde_json::from_str(&ok_env(dir, &run, &reference)).expect("json");

    // Every good row loaded: the tables equal the reference's (each of
    // them has rows: an empty table would compare equal to anything).
    for t in ["atm", "online_sessions", "customers", "surveys"] {
        let sql = format!("SELECT * FROM {t}");
        let got = rows(dir, &[], &sql);
        let want = rows(dir, &reference, &sql);
        assert!(got.len() > 10, "{t} is (nearly) empty: {} rows", got.len());
        assert!(got == want, "{t} differs from the reference load");
    }
    // The broken files are one quarantine row each, with the reason.
    let q = query_env(
        dir,
        "SELECT source, file, line, reason FROM _quarantine WHERE line = 0 ORDER BY source, file",
        &[],
    );
    assert_eq!(q.len(), 3, "{q:?}");
    assert_eq!(q[0]["source"], "atm");
    let file = |i: usize| q[i]["file"].as_str().expect("file").to_string();
    assert!(file(0).ends_with("atm_20240110.csv.gz"), "{q:?}");
    assert!(file(1).ends_with("sessions_2024-01.parquet"), "{q:?}");
    assert!(file(2).ends_with("sessions_2024-01_cut.parquet"), "{q:?}");
    for r in &q {
        let reason = r["reason"].as_str().expect("reason");
        assert!(reason.starts_with("whole file quarantined"), "{reason}");
    }
    // The first broken file failed half-way: rows had been decoded (and
    // their keys seen) before the error.
    let half_way = q[1]["reason"].as_str().expect("reason");
    assert!(half_way.contains("8192 rows decoded"), "{half_way}");
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
    // Each broken Parquet file counts as one row read, and quarantined.
    let n = |s: &serde_json::Value, k: &str| s[k].as_i64().expect(k);
    let (got, want) = (
        crate::common::step(&summary, "online_sessions"),
        crate::common::step(&want_summary, "online_sessions"),
    );
    assert_eq!(
        (
            n(&got, "rows_read"),
            n(&got, "rows_loaded"),
            n(&got, "rows_quarantined")
        ),
        (
            n(&want, "rows_read") + 2,
            n(&want, "rows_loaded"),
            n(&want, "rows_quarantined") + 2
        ),
        "{got}"
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
        b"R999999999,C0000001,2024-01-20T02:00:00Z,branch,teller,post,5,10,1,5,5,bad \x81\x20 bytes\n",
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
