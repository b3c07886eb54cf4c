//! Control totals: a trailer record or a control file states the record
//! count and an amount's hash total; a file that disagrees fails its load
//! and nothing of it is committed.

use crate::common::{ok, query, touchpoint};
use std::path::Path;

const PIPELINE: &str = r#"
name: control_fixture
timezone: UTC
sources:
  payments:
    path: ../data/pay_*.csv
    csv: {delimiter: "|"}
    control: {trailer: TRL, count: 2, total: 3, total_column: amount}
    columns:
      pay_id: {type: string, required: true}
      amount: {type: "decimal(12,2)", required: true}
  ledger:
    path: ../data/ledger_*.txt
    fixed_width: {positions: {entry: [1, 6], amount: [7, 10]}}
    control: {file: "{stem}.ctl", count: 1, total: 2, total_column: amount}
    columns:
      entry: {type: string}
      amount: {type: "decimal(12,2)"}
"#;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join("data").join(name), text).expect("write");
}

fn rows(dir: &Path, table: &str) -> i64 {
    query(dir, &format!("SELECT count(*) AS n FROM {table}"))[0]["n"]
        .as_i64()
        .expect("n")
}

/// Run expecting a control failure that names `file` and says `why`.
fn fails(dir: &Path, file: &str, why: &str) {
    let out = touchpoint(dir, &["run", "pipelines/p.yaml", "--period", "2024-01"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("failed its control totals"), "{stderr}");
    assert!(stderr.contains(file), "{file}: {stderr}");
    assert!(stderr.contains(why), "{why}: {stderr}");
}

#[test]
fn files_must_match_their_trailer_or_control_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("pipelines")).expect("mkdir");
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    std::fs::write(dir.join("pipelines/p.yaml"), PIPELINE).expect("pipeline");
    // Three records were sent (one is rejected for its missing id, but it
    // still counts, and its amount is in the total): 100.00 - 20.50 + 5.00.
    write(
        dir,
        "pay_01.csv",
        "pay_id|amount\nP1|100.00\nP2|-20.50\n|5.00\nTRL|3|84.50\n",
    );
    write(dir, "ledger_01.txt", "E00001    100.00\nE00002     23.45\n");
    write(dir, "ledger_01.ctl", "2 123.45\n");
    let summary: serde_json::Value = serde_json::from_str(&ok(
        dir,
        &["run", "pipelines/p.yaml", "--period", "2024-01", "--json"],
    ))
    .expect("json");
    let step = |t: &str| crate::common::step(&summary, t);
    let pay = step("payments");
    assert_eq!(
        (
            pay["rows_read"].as_i64(),
            pay["rows_loaded"].as_i64(),
            pay["rows_quarantined"].as_i64()
        ),
        (Some(3), Some(2), Some(1)),
        "the trailer is not a row"
    );
    assert_eq!(step("ledger")["rows_loaded"].as_i64(), Some(2));

    // A transfer cut before its trailer.
    write(dir, "pay_02.csv", "pay_id|amount\nP9|1.00\n");
    fails(dir, "pay_02.csv", "no trailer record (`TRL…`) at the end");
    // A trailer counting more records than arrived.
    write(dir, "pay_02.csv", "pay_id|amount\nP9|1.00\nTRL|2|1.00\n");
    fails(dir, "pay_02.csv", "says 2 records, the file holds 1");
    // Records after the trailer (two files joined).
    write(
        dir,
        "pay_02.csv",
        "pay_id|amount\nP9|1.00\nTRL|1|1.00\nP10|2.00\n",
    );
    fails(dir, "pay_02.csv", "1 record(s) after the trailer");
    write(dir, "pay_02.csv", "pay_id|amount\nP9|1.00\nTRL|1|1.00\n");
    // A hash total that does not add up.
    write(dir, "ledger_01.ctl", "2 123.40\n");
    fails(
        dir,
        "ledger_01.txt",
        "the control total of amount is 123.40, the records sum to 123.45",
    );
    // No control file at all.
    std::fs::remove_file(dir.join("data/ledger_01.ctl")).expect("rm");
    fails(dir, "ledger_01.txt", "ledger_01.ctl");
    // Every failure left the tables as they were.
    assert_eq!((rows(dir, "payments"), rows(dir, "ledger")), (2, 2));

    write(dir, "ledger_01.ctl", "2 123.45\n");
    ok(dir, &["run", "pipelines/p.yaml", "--period", "2024-01"]);
    assert_eq!(
        rows(dir, "payments"),
        3,
        "pay_02's one record loads once it matches"
    );
}

#[test]
fn control_needs_a_text_source_and_one_place() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("pipelines")).expect("mkdir");
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    write(dir, "pay_01.csv", "pay_id|amount\n");
    write(dir, "ledger_01.txt", "");
    let bad = PIPELINE
        .replace(
            "control: {trailer: TRL, count: 2, total: 3, total_column: amount}",
            "control: {trailer: TRL, file: \"{stem}.ctl\", count: 2}",
        )
        .replace(
            "total_column: amount}\n    columns:\n      entry",
            "total_column: amnt}\n    columns:\n      entry",
        );
    std::fs::write(dir.join("pipelines/p.yaml"), bad).expect("pipeline");
    let out = touchpoint(dir, &["validate", "pipelines/p.yaml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("declare exactly one of `trailer`"),
        "{stderr}"
    );
    assert!(stderr.contains("unknown column `amnt`"), "{stderr}");
    assert!(stderr.contains("did you mean `amount`?"), "{stderr}");
}
