//! Data-quality checks on a hand-made bank: every check fails a number of
//! rows counted by hand below, `warn` checks report without failing, and a
//! failed `error` check fails the run and rolls it back.

use crate::common::{ok, query, touchpoint};
use std::path::Path;

const PIPELINE: &str = r#"
name: checks_fixture
timezone: UTC
sources:
  accounts:
    path: ../data/accounts.csv
    csv: {}
    columns:
      account_id: {type: string}
      branch: {type: string}
    checks:
      - {check: unique, column: account_id, severity: warn}
  txns:
    path: ../data/txns_{period}.csv
    csv: {}
    period_column: booked_at
    columns:
      txn_id: {type: string}
      account_id: {type: string}
      booked_at: {type: timestamp}
      amount: {type: "decimal(12,2)"}
      status: {type: string}
    checks:
      - {check: not_null, column: account_id, severity: warn}
      - {check: unique, column: txn_id, severity: warn}
      - {check: accepted_values, column: status, values: [ok, reversed], severity: warn}
      - {check: range, column: amount, min: 0, max: 1000, severity: warn}
      - {check: relationships, column: account_id, to: accounts.account_id, severity: warn}
      - {check: freshness, column: booked_at, max_age_hours: 24, severity: warn}
      - {check: row_count_change, max_change: 0.5, severity: warn}
"#;

const HEADER: &str = "txn_id,account_id,booked_at,amount,status\n";

fn project(dir: &Path) {
    std::fs::create_dir_all(dir.join("pipelines")).expect("mkdir");
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    std::fs::write(dir.join("pipelines/p.yaml"), PIPELINE).expect("pipeline");
    // A2 twice: one duplicated value.
    std::fs::write(
        dir.join("data/accounts.csv"),
        "account_id,branch\nA1,B1\nA2,B1\nA2,B2\nA3,B3\n",
    )
    .expect("accounts");
    std::fs::write(
        dir.join("data/txns_2024-01.csv"),
        format!(
            "{HEADER}T1,A1,2024-01-05T10:00:00Z,100.00,ok\nT2,A2,2024-01-10T10:00:00Z,50.00,ok\n\
             T3,A3,2024-01-20T10:00:00Z,20.00,ok\nT4,A1,2024-01-25T10:00:00Z,10.00,ok\n"
        ),
    )
    .expect("january");
    std::fs::write(
        dir.join("data/txns_2024-02.csv"),
        format!(
            "{HEADER}\
             T10,A1,2024-02-01T08:00:00Z,100.00,ok\n\
             T11,,2024-02-02T08:00:00Z,5.00,ok\n\
             T12,A9,2024-02-03T08:00:00Z,5.00,ok\n\
             T12,A1,2024-02-04T08:00:00Z,5.00,ok\n\
             T13,A2,2024-02-05T08:00:00Z,-3.00,ok\n\
             T14,A2,2024-02-06T08:00:00Z,1500.00,pending\n\
             T15,A3,2024-02-07T08:00:00Z,7.00,REVERSED\n\
             T16,A3,2024-02-27T12:00:00Z,7.00,ok\n"
        ),
    )
    .expect("february");
}

fn results(dir: &Path) -> Vec<(String, String, i64, String)> {
    let mut out: Vec<_> = query(
        dir,
        "SELECT table_name, check_name, status, failing, detail FROM _checks \
         WHERE checked_at = (SELECT max(checked_at) FROM _checks)",
    )
    .into_iter()
    .map(|r| {
        (
            format!(
                "{}.{}",
                r["table_name"].as_str().expect("table"),
                r["check_name"].as_str().expect("check")
            ),
            r["status"].as_str().expect("status").to_string(),
            r["failing"].as_i64().expect("failing"),
            r["detail"].as_str().unwrap_or_default().to_string(),
        )
    })
    .collect();
    out.sort();
    out
}

#[test]
fn checks_count_what_breaks_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    project(dir);
    let text = ok(
        dir,
        &["run", "pipelines/p.yaml", "--period", "2024-01..2024-02"],
    );
    assert!(text.contains("ok in"), "{text}");
    let got = results(dir);
    let failing: Vec<(&str, &str, i64)> = got
        .iter()
        .map(|(c, s, n, _)| (c.as_str(), s.as_str(), *n))
        .collect();
    // Counted by hand from the rows above.
    assert_eq!(
        failing,
        vec![
            ("accounts.unique(account_id)", "warn", 1),  // A2
            ("txns.accepted_values(status)", "warn", 2), // pending, REVERSED
            ("txns.freshness(booked_at)", "warn", 1),    // newest Feb 27 12:00, 60 h before Mar 1
            ("txns.not_null(account_id)", "warn", 1),    // T11
            ("txns.range(amount)", "warn", 2),           // -3.00 and 1500.00
            (
                "txns.relationships(account_id → accounts.account_id)",
                "warn",
                1
            ), // A9
            ("txns.row_count_change", "warn", 1),        // February 8 rows vs 4: +100% > 50%
            ("txns.unique(txn_id)", "warn", 1),          // T12
        ]
    );
    let detail = |name: &str| {
        got.iter()
            .find(|g| g.0 == name)
            .map(|g| g.3.clone())
            .expect("check")
    };
    assert!(
        detail("txns.freshness(booked_at)").contains("is 60.0 h old"),
        "{got:?}"
    );
    assert!(
        detail("txns.row_count_change").contains("2024-02: 8 vs 4 (100.0%)"),
        "{got:?}"
    );
    assert!(detail("txns.relationships(account_id → accounts.account_id)").ends_with("A9"));

    // As an `error`, the range check fails the run: March's new file is
    // not kept, and `_checks` says why.
    let p = dir.join("pipelines/p.yaml");
    let yaml = std::fs::read_to_string(&p).expect("read");
    std::fs::write(
        &p,
        yaml.replace(
            "{check: range, column: amount, min: 0, max: 1000, severity: warn}",
            "{check: range, column: amount, min: 0, max: 1000}",
        ),
    )
    .expect("write");
    std::fs::write(
        dir.join("data/txns_2024-03.csv"),
        format!("{HEADER}T20,A1,2024-03-02T08:00:00Z,9.00,ok\n"),
    )
    .expect("march");
    let out = touchpoint(
        dir,
        &["run", "pipelines/p.yaml", "--period", "2024-01..2024-03"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("1 data-quality check(s) failed"),
        "{stderr}"
    );
    assert!(stderr.contains("txns.range(amount): 2 failing"), "{stderr}");
    let march = query(
        dir,
        "SELECT count(*) AS n FROM txns WHERE period = '2024-03'",
    );
    assert_eq!(march[0]["n"], 0, "the failed run was rolled back");
    let fail: Vec<_> = results(dir).into_iter().filter(|r| r.1 == "fail").collect();
    assert_eq!(fail.len(), 1, "{fail:?}");
    assert_eq!((fail[0].0.as_str(), fail[0].2), ("txns.range(amount)", 2));
}

#[test]
fn a_mistyped_check_is_located() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    project(dir);
    let p = dir.join("pipelines/p.yaml");
    let yaml = std::fs::read_to_string(&p).expect("read");
    std::fs::write(
        &p,
        yaml.replace(
            "{check: not_null, column: account_id, severity: warn}",
            "{check: not_null, column: acount_id, severity: warn}",
        )
        .replace(
            "{check: unique, column: txn_id, severity: warn}",
            "{check: uniq, column: txn_id}",
        ),
    )
    .expect("write");
    let out = touchpoint(dir, &["validate", "pipelines/p.yaml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("p.yaml:24:"),
        "line of the column: {stderr}"
    );
    assert!(stderr.contains("unknown column `acount_id`"), "{stderr}");
    assert!(stderr.contains("did you mean `account_id`?"), "{stderr}");
    assert!(stderr.contains("unknown check `uniq`"), "{stderr}");
    assert!(stderr.contains("did you mean `unique`?"), "{stderr}");
}
