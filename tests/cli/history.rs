//! History (SCD type 2) of a CSV snapshot source, with no database: a
//! changed tracked column closes a version and opens one, an untracked
//! change and a re-run write nothing, a key gone from the snapshot closes
//! its version; readers see the history masked like its source, and a run
//! that fails leaves the history as it was. Every interval is written out
//! by hand.

use crate::common::{commits, ok, touchpoint};
use std::path::Path;

const PIPELINE: &str = r#"name: hist
timezone: Asia/Hong_Kong
sources:
  customers:
    path: ../data/customers.csv
    csv: {}
    key: [customer_id]
    history: {track: [tier, home_branch, phone], since: opened}
    columns:
      customer_id: {type: string, required: true}
      full_name: {type: string}
      phone: {type: string, personal: mask}
      tier: {type: string}
      home_branch: {type: string}
      opened: {type: date, required: true}
    checks:
      - {check: accepted_values, column: tier, values: [Personal, Premier]}
"#;

const FIRST: &str = "customer_id,full_name,phone,tier,home_branch,opened\n\
C1,Ann,+852 9000 0001,Personal,B01,2020-01-15\n\
C2,Bob,+852 9000 0002,Premier,B02,2021-06-01\n\
C3,Cy,+852 9000 0003,Personal,B03,2022-03-10\n\
C4,Di,+852 9000 0004,Personal,B04,2023-09-30\n";

/// C1 becomes Premier, C2 changes only its (untracked) name, C3 is gone,
/// C4 has a new phone, C5 is new.
const SECOND: &str = "customer_id,full_name,phone,tier,home_branch,opened\n\
C1,Ann,+852 9000 0001,Premier,B01,2020-01-15\n\
C2,Robert,+852 9000 0002,Premier,B02,2021-06-01\n\
C4,Di,+852 9000 0044,Personal,B04,2023-09-30\n\
C5,Ed,+852 9000 0005,Personal,B05,2024-02-01\n";

fn project(dir: &Path) {
    std::fs::create_dir_all(dir.join("pipelines")).expect("mkdir");
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    std::fs::write(dir.join("pipelines/h.yaml"), PIPELINE).expect("pipeline");
    std::fs::write(dir.join("data/customers.csv"), FIRST).expect("csv");
}

fn run(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["run", "pipelines/h.yaml", "--period", "2024-01", "--json"];
    args.extend_from_slice(extra);
    ok(dir, &args)
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as i64
}

/// The history as `id tier branch phone from..to current` lines (`from` and
/// `to` as dates, or `T` for the moment given).
fn intervals(dir: &Path, t: i64) -> Vec<String> {
    let sql = format!(
        "SELECT customer_id || ' ' || tier || ' ' || home_branch || ' ' || phone || ' ' \
           || CASE WHEN CAST(valid_from AS BIGINT) = {t} THEN 'T' \
                   ELSE CAST(CAST(valid_from AS DATE) AS VARCHAR) END || '..' \
           || CASE WHEN valid_to IS NULL THEN '' WHEN CAST(valid_to AS BIGINT) = {t} THEN 'T' \
                   ELSE CAST(CAST(valid_to AS DATE) AS VARCHAR) END \
           || CASE WHEN is_current THEN ' current' ELSE '' END AS x \
         FROM customers_history ORDER BY customer_id, valid_from"
    );
    let out = ok(dir, &["query", "--format", "csv", &sql]);
    out.lines().skip(1).map(str::to_string).collect()
}

/// The one moment the second run stamped (the run's start).
fn moment(dir: &Path) -> i64 {
    let out = ok(
        dir,
        &[
            "query",
            "--format",
            "csv",
            "SELECT DISTINCT CAST(valid_to AS BIGINT) FROM customers_history WHERE valid_to IS NOT NULL",
        ],
    );
    let lines: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(lines.len(), 1, "one moment for the run's changes: {out}");
    lines[0].trim().parse().expect("micros")
}

#[test]
fn a_csv_snapshot_keeps_every_version_of_its_tracked_columns() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    project(dir);
    run(dir, &[]);
    // First versions begin at `since` (the opening date), phones masked.
    assert_eq!(
        intervals(dir, 0),
        [
            "C1 Personal B01 ****0001 2020-01-15.. current",
            "C2 Premier B02 ****0002 2021-06-01.. current",
            "C3 Personal B03 ****0003 2022-03-10.. current",
            "C4 Personal B04 ****0004 2023-09-30.. current",
        ]
    );
    std::fs::write(dir.join("data/customers.csv"), SECOND).expect("csv");
    let before = now_micros();
    let out = run(dir, &[]);
    let after = now_micros();
    assert!(
        out.contains("history: 3 version(s) opened, 3 closed"),
        "{out}"
    );
    // Changes are stamped with the run's start: one moment, during the run.
    let t = moment(dir);
    assert!(before <= t && t <= after, "{before} <= {t} <= {after}");
    let want = [
        "C1 Personal B01 ****0001 2020-01-15..T",
        "C1 Premier B01 ****0001 T.. current",
        "C2 Premier B02 ****0002 2021-06-01.. current",
        "C3 Personal B03 ****0003 2022-03-10..T",
        "C4 Personal B04 ****0004 2023-09-30..T",
        "C4 Personal B04 ****0044 T.. current",
        "C5 Personal B05 ****0005 2024-02-01.. current",
    ];
    assert_eq!(intervals(dir, t), want);
    // No raw phone reaches a reader.
    let raw = ok(
        dir,
        &[
            "query",
            "--format",
            "csv",
            "SELECT * FROM customers_history",
        ],
    );
    assert!(!raw.contains("+852"), "{raw}");
    // The same extract again, skipped or reloaded in full: nothing written.
    let n = commits(dir, "customers_history");
    run(dir, &[]);
    let full = run(dir, &["--full-refresh"]);
    assert!(
        full.contains("history: 0 version(s) opened, 0 closed"),
        "{full}"
    );
    assert_eq!(commits(dir, "customers_history"), n);
    assert_eq!(intervals(dir, t), want);
    // An AS-OF join: each customer's home branch at the end of 2023.
    let asof = ok(
        dir,
        &[
            "query",
            "--format",
            "csv",
            "SELECT customer_id, home_branch FROM customers_history \
             WHERE valid_from <= TIMESTAMP '2023-12-31 23:59:59' \
               AND (valid_to IS NULL OR valid_to > TIMESTAMP '2023-12-31 23:59:59') \
             ORDER BY customer_id",
        ],
    );
    assert_eq!(
        asof,
        "customer_id,home_branch\nC1,B01\nC2,B02\nC3,B03\nC4,B04\n"
    );
}

/// A run whose check fails is rolled back: the table and its history too.
#[test]
fn a_failed_run_leaves_the_history_as_it_was() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    project(dir);
    run(dir, &[]);
    let before = intervals(dir, 0);
    let n = commits(dir, "customers_history");
    std::fs::write(
        dir.join("data/customers.csv"),
        SECOND.replace("Premier,B01", "Gold,B01"),
    )
    .expect("csv");
    let out = touchpoint(dir, &["run", "pipelines/h.yaml", "--period", "2024-01"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("accepted_values"), "{err}");
    assert_eq!(intervals(dir, 0), before);
    // The rollback restored the earlier version (a new commit, same rows)
    // or left it: either way the history reads as before, and the next
    // good run starts from it.
    assert!(commits(dir, "customers_history") >= n);
    std::fs::write(dir.join("data/customers.csv"), SECOND).expect("csv");
    let out = run(dir, &[]);
    assert!(
        out.contains("history: 3 version(s) opened, 3 closed"),
        "{out}"
    );
}
