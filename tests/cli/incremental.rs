//! Incremental loads: a run reads only new or changed files, a repeated
//! transaction in a new file is a duplicate, and the tables always equal a
//! full refresh of the same extracts.

use crate::common::{Env, generate, ok_env, project, query_env, snapshot};
use std::io::Write;
use std::path::Path;

const PERIODS: &str = "2024-01..2024-02";

/// The last day's ATM, branch and call-centre files of February.
const LAST_DAY: [&str; 3] = [
    "atm/2024/02/atm_20240229.csv",
    "branch/2024/02/tickets_20240229.jsonl",
    "callcentre/2024/02/calls_29022024.txt",
];

fn run_json(dir: &Path, env: Env, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "run",
        "pipelines/monthly_cx.yaml",
        "--period",
        PERIODS,
        "--json",
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(&ok_env(dir, &args, env)).expect("summary json")
}

/// One source step: table, period, load, files read, files skipped, rows
/// read, loaded, quarantined.
type Load = (String, String, String, i64, i64, i64, i64, i64);

fn loads(summary: &serde_json::Value) -> Vec<Load> {
    summary["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["kind"] == "source")
        .map(|s| {
            let n = |k: &str| s[k].as_i64().expect(k);
            (
                s["table"].as_str().expect("table").to_string(),
                s["period"].as_str().unwrap_or("snapshot").to_string(),
                s["load"].as_str().expect("load").to_string(),
                n("files"),
                n("files_skipped"),
                n("rows_read"),
                n("rows_loaded"),
                n("rows_quarantined"),
            )
        })
        .collect()
}

/// A one-transaction ATM file for 15 January with this amount.
fn late_file(amount: &str) -> String {
    format!(
        "txn_id,card_number,customer_id,atm_id,txn_time,txn_type,amount,currency,status\n\
         LATE0001,4000000000000001,C0000001,ATM001,2024-01-15 10:00:00,withdrawal,{amount},HKD,approved\n"
    )
}

fn lines_of(path: &Path) -> i64 {
    std::fs::read_to_string(path).expect("read").lines().count() as i64
}

#[test]
fn a_new_days_files_load_alone_and_equal_a_full_refresh() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 300, 2, 11, &[]);
    let data = dir.join("data");
    let held = dir.join("held");
    std::fs::create_dir_all(&held).expect("mkdir");
    for f in LAST_DAY {
        let p = data.join(f);
        assert!(p.is_file(), "the generator did not write {f}");
        std::fs::rename(&p, held.join(p.file_name().expect("name"))).expect("hold back");
    }
    // The day's ATM file also repeats a transaction delivered the day
    // before: the same transaction in two files is one row.
    let atm_day = held.join("atm_20240229.csv");
    let before = std::fs::read_to_string(data.join("atm/2024/02/atm_20240228.csv")).expect("read");
    let repeated = before.lines().nth(1).expect("a transaction").to_string();
    let repeated_id = repeated.split(',').next().expect("txn_id").to_string();
    let mut fh = std::fs::OpenOptions::new()
        .append(true)
        .open(&atm_day)
        .expect("open");
    let text = std::fs::read_to_string(&atm_day).expect("read");
    if !text.ends_with('\n') {
        writeln!(fh).expect("newline");
    }
    writeln!(fh, "{repeated}").expect("append");
    drop(fh);

    let inc: Env = &[("TOUCHPOINT_WAREHOUSE", "wh_incremental".to_string())];
    let first = run_json(dir, inc, &[]);
    assert!(
        loads(&first).iter().all(|l| l.2 == "reload"),
        "{:?}",
        loads(&first)
    );

    // Deliver the held-back day and run again: only those three files load.
    for f in LAST_DAY {
        let name = Path::new(f).file_name().expect("name");
        std::fs::rename(held.join(name), data.join(f)).expect("deliver");
    }
    let second = run_json(dir, inc, &[]);
    let got = loads(&second);
    let day_lines: Vec<i64> = LAST_DAY
        .iter()
        .map(|f| {
            // Text files have a header line; JSON lines do not.
            let n = lines_of(&data.join(f));
            if f.ends_with(".jsonl") { n } else { n - 1 }
        })
        .collect();
    for (table, period, load, files, skipped, read, loaded, quarantined) in &got {
        assert_eq!(read, &(loaded + quarantined), "{table} {period} reconciles");
        let day = match (table.as_str(), period.as_str()) {
            ("atm", "2024-02") => Some(0),
            ("branch_visits", "2024-02") => Some(1),
            ("calls", "2024-02") => Some(2),
            _ => None,
        };
        match day {
            Some(i) => {
                assert_eq!(load, "append", "{table} {period}");
                assert_eq!(
                    (*files, *skipped),
                    (1, 28),
                    "{table} {period}: files read, skipped"
                );
                assert_eq!(
                    *read, day_lines[i],
                    "{table} {period}: rows of the new file"
                );
            }
            None => {
                assert_eq!(load, "skip", "{table} {period} had nothing new");
                assert_eq!((*files, *read), (0, 0), "{table} {period}");
                assert!(*skipped >= 1, "{table} {period}");
            }
        }
    }
    let atm = got
        .iter()
        .find(|l| l.0 == "atm" && l.1 == "2024-02")
        .expect("atm step");
    assert!(atm.7 >= 1, "the repeated transaction is quarantined");
    let dup = query_env(
        dir,
        &format!(
            "SELECT reason FROM _quarantine WHERE source = 'atm' AND file LIKE '%atm_20240229.csv' AND value = '{repeated_id}'"
        ),
        inc,
    );
    assert_eq!(dup.len(), 1, "one duplicate row for {repeated_id}");
    assert!(
        dup[0]["reason"]
            .as_str()
            .expect("reason")
            .starts_with("duplicate key (txn_id;"),
        "{:?}",
        dup[0]
    );
    let kept = query_env(
        dir,
        &format!("SELECT count(*) AS n FROM atm WHERE txn_id = '{repeated_id}'"),
        inc,
    );
    assert_eq!(kept[0]["n"], 1, "the transaction is one row");

    // The plain summary says what was read and skipped.
    let text = ok_env(
        dir,
        &["run", "pipelines/monthly_cx.yaml", "--period", PERIODS],
        inc,
    );
    assert!(text.contains(" 0 files read ("), "{text}");

    // A full refresh of the same extracts, in a second warehouse, gives the
    // same tables; so does a full refresh in place.
    let full: Env = &[("TOUCHPOINT_WAREHOUSE", "wh_full".to_string())];
    let refreshed = run_json(dir, full, &["--full-refresh"]);
    assert!(loads(&refreshed).iter().all(|l| l.2 == "reload"));
    let incremental = snapshot(dir, inc, "");
    assert_eq!(
        incremental,
        snapshot(dir, full, ""),
        "incremental == full refresh"
    );
    run_json(dir, inc, &["--full-refresh"]);
    assert_eq!(snapshot(dir, inc, ""), incremental, "full refresh in place");

    // A late file for January sorts among the loaded ones: January's ATM
    // partition is reloaded, nothing else.
    let late = data.join("atm/2024/01/atm_20240115b.csv");
    std::fs::write(&late, late_file("100.00")).expect("late file");
    let third = run_json(dir, inc, &[]);
    for (table, period, load, ..) in loads(&third) {
        let want = if (table.as_str(), period.as_str()) == ("atm", "2024-01") {
            "reload"
        } else {
            "skip"
        };
        assert_eq!(load, want, "{table} {period}");
    }
    let late_row = query_env(dir, "SELECT period FROM atm WHERE txn_id = 'LATE0001'", inc);
    assert_eq!(late_row.len(), 1);
    assert_eq!(late_row[0]["period"], "2024-01");
    run_json(dir, full, &["--full-refresh"]);
    assert_eq!(
        snapshot(dir, inc, ""),
        snapshot(dir, full, ""),
        "after the late file"
    );

    // A corrected file (same name, new content) reloads its period only,
    // and an edit that changes nothing but the modification time reads
    // nothing.
    std::fs::write(&late, late_file("250.00")).expect("corrected file");
    let fourth = run_json(dir, inc, &[]);
    let reloaded: Vec<_> = loads(&fourth)
        .into_iter()
        .filter(|l| l.2 != "skip")
        .map(|l| (l.0, l.1))
        .collect();
    assert_eq!(reloaded, vec![("atm".to_string(), "2024-01".to_string())]);
    let amount = query_env(
        dir,
        "SELECT CAST(amount AS VARCHAR) AS a FROM atm WHERE txn_id = 'LATE0001'",
        inc,
    );
    assert_eq!(amount[0]["a"], "250.00");
    let body = std::fs::read(&late).expect("read");
    std::fs::write(&late, body).expect("touch");
    let fifth = run_json(dir, inc, &[]);
    assert!(
        loads(&fifth).iter().all(|l| l.2 == "skip"),
        "{:?}",
        loads(&fifth)
    );
}
