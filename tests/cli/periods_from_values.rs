//! A periodic file source whose path names no period (an 8-month backfill
//! in one file): each row goes to the period of its `period_column` (the
//! local month in the pipeline's zone), the load replaces exactly the
//! periods present and no others, and the load reconciles.

use crate::common::{ok, query, step};
use std::path::Path;

const PIPELINE: &str = "name: calls\ntimezone: Asia/Hong_Kong\nextracts: ../data\nsources:\n  calls:\n    path: calls/backfill*.csv\n    csv: {}\n    period_column: call_time\n    key: [call_id]\n    columns:\n      call_id: {type: string, required: true}\n      call_time: {type: timestamp, required: true}\n      seconds: {type: int, min: 0}\n";

/// `month` rows of each month 1..=8 of 2024 (36), two on the edges of
/// February in Hong Kong time, and two bad rows.
fn backfill() -> String {
    let mut out = String::from("call_id,call_time,seconds\n");
    for m in 1..=8u32 {
        for i in 0..m {
            out.push_str(&format!("K{m}-{i},2024-{m:02}-1{i} 09:00:00,{}\n", 60 + i));
        }
    }
    // Local midnight decides: 23:30 on the 29th is February, 00:10 on the
    // 1st is March (16:10 UTC on 29 February).
    out.push_str("E1,2024-02-29 23:30:00,30\nE2,2024-03-01 00:10:00,40\n");
    out.push_str("B1,,10\nB2,2024-05-02 10:00:00,-5\n");
    out
}

fn periods(dir: &Path) -> Vec<(String, i64)> {
    query(
        dir,
        "SELECT period, count(*) AS n FROM calls GROUP BY period ORDER BY period",
    )
    .iter()
    .map(|r| {
        (
            r["period"].as_str().expect("period").to_string(),
            r["n"].as_i64().expect("n"),
        )
    })
    .collect()
}

#[test]
fn rows_go_to_the_period_of_their_value_and_only_present_periods_are_replaced() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("pipelines")).expect("mkdir");
    std::fs::create_dir_all(dir.join("data/calls")).expect("mkdir");
    std::fs::write(dir.join("pipelines/calls.yaml"), PIPELINE).expect("pipeline");
    std::fs::write(dir.join("data/calls/backfill.csv"), backfill()).expect("csv");
    let run = [
        "run",
        "pipelines/calls.yaml",
        "--period",
        "2024-08",
        "--json",
    ];
    let out: serde_json::Value = serde_json::from_str(&ok(dir, &run)).expect("json");
    let s = step(&out, "calls");
    assert_eq!(s["rows_read"], 40, "{s}");
    assert_eq!(s["rows_loaded"], 38, "{s}");
    assert_eq!(s["rows_quarantined"], 2, "{s}");
    let mut want: Vec<(String, i64)> = (1..=8)
        .map(|m| (format!("2024-{m:02}"), i64::from(m)))
        .collect();
    want[1].1 += 1; // E1
    want[2].1 += 1; // E2
    assert_eq!(periods(dir), want);
    let q = query(
        dir,
        "SELECT line, column_name FROM _quarantine ORDER BY line",
    );
    let cols: Vec<&str> = q
        .iter()
        .map(|r| r["column_name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(cols, ["call_time", "seconds"], "{q:?}");
    // Unchanged files: nothing read.
    let again: serde_json::Value = serde_json::from_str(&ok(dir, &run)).expect("json");
    assert_eq!(step(&again, "calls")["rows_read"], 0);
    // A corrected file of March and a new September: those two periods
    // are replaced (or added); January, February and April–August stay.
    std::fs::write(
        dir.join("data/calls/backfill.csv"),
        "call_id,call_time,seconds\nM1,2024-03-05 10:00:00,1\nM2,2024-03-06 10:00:00,2\nS1,2024-09-01 08:00:00,3\n",
    )
    .expect("csv");
    let third: serde_json::Value = serde_json::from_str(&ok(dir, &run)).expect("json");
    let s = step(&third, "calls");
    assert_eq!(s["rows_read"], 3, "{s}");
    let msg = s["message"].as_str().expect("message");
    assert!(msg.contains("the periods present replaced"), "{msg}");
    want[2].1 = 2;
    want.push(("2024-09".into(), 1));
    assert_eq!(periods(dir), want);
    let march = query(
        dir,
        "SELECT call_id FROM calls WHERE period = '2024-03' ORDER BY call_id",
    );
    assert_eq!(march.len(), 2);
    assert_eq!(march[0]["call_id"], "M1");
}
