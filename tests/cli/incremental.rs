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
            .starts_with("duplicate key (txn_id)"),
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

/// A file rewritten with its size and modification time kept (`cp -p`,
/// `rsync -t`) is read again; a period whose files all vanished is not
/// emptied unless `--allow-empty` says so, and the run says which files
/// are missing either way (silent change).
#[test]
fn same_size_and_mtime_reloads_and_vanished_files_stop_the_run() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 100, 2, 5, &["--dirty-rate", "0"]);
    let periods = ["run", "pipelines/monthly_cx.yaml", "--period", "2024-01"];
    ok_env(dir, &periods, &[]);
    let amount_of = |txn: &str| {
        query_env(
            dir,
            &format!("SELECT CAST(amount AS VARCHAR) AS a FROM atm WHERE txn_id = '{txn}'"),
            &[],
        )[0]["a"]
            .clone()
    };

    // Change one amount's digits in place: same size, same mtime.
    let f = dir.join("data/atm/2024/01/atm_20240105.csv");
    let mtime = std::fs::metadata(&f)
        .and_then(|m| m.modified())
        .expect("mtime");
    let text = std::fs::read_to_string(&f).expect("read");
    let line = text.lines().nth(1).expect("a transaction").to_string();
    let fields: Vec<&str> = line.split(',').collect();
    let (txn, amount) = (fields[0], fields[6]);
    let was = amount_of(txn);
    let swapped: String = amount
        .chars()
        .map(|c| match c {
            '0'..='8' => char::from(c as u8 + 1),
            '9' => '1',
            c => c,
        })
        .collect();
    assert_eq!(swapped.len(), amount.len());
    let mut changed = fields.clone();
    changed[6] = &swapped;
    std::fs::write(&f, text.replacen(&line, &changed.join(","), 1)).expect("write");
    std::fs::File::options()
        .write(true)
        .open(&f)
        .and_then(|h| h.set_modified(mtime))
        .expect("keep mtime");
    let second = run_json(dir, &[], &[]);
    let atm = loads(&second)
        .into_iter()
        .find(|l| l.0 == "atm" && l.1 == "2024-01")
        .expect("atm step");
    assert_eq!(atm.2, "reload", "{atm:?}");
    assert_ne!(amount_of(txn), was, "the changed amount loaded");

    // January's ATM files vanish (a moved folder, a lost mount).
    let before = query_env(
        dir,
        "SELECT COUNT(*) AS n FROM atm WHERE period = '2024-01'",
        &[],
    );
    std::fs::rename(dir.join("data/atm/2024/01"), dir.join("atm_01_moved")).expect("mv");
    let out = crate::common::touchpoint(dir, &periods);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("source `atm`, period 2024-01: no files found")
            && err.contains("atm_20240105.csv")
            && err.contains("--allow-empty"),
        "{err}"
    );
    let after = query_env(
        dir,
        "SELECT COUNT(*) AS n FROM atm WHERE period = '2024-01'",
        &[],
    );
    assert_eq!(after, before, "the period was left as it was");
    let logged = query_env(
        dir,
        "SELECT status, message FROM _runs WHERE kind = 'source' AND table_name = 'atm' AND status = 'failed'",
        &[],
    );
    assert!(
        logged.iter().any(|r| r["message"]
            .as_str()
            .is_some_and(|m| m.contains("no files found"))),
        "{logged:?}"
    );
    // --full-refresh does not empty it either.
    let mut full = periods.to_vec();
    full.push("--full-refresh");
    assert_eq!(crate::common::touchpoint(dir, &full).status.code(), Some(1));

    // On purpose: the period is replaced with no rows, and the run says so.
    let mut allow = periods.to_vec();
    allow.push("--allow-empty");
    let out = crate::common::touchpoint(dir, &allow);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("load  atm 2024-01: 0 file(s) (all ")
            && err.contains("loaded before are gone"),
        "{err}"
    );
    let emptied = query_env(
        dir,
        "SELECT COUNT(*) AS n FROM atm WHERE period = '2024-01'",
        &[],
    );
    assert_eq!(emptied[0]["n"], 0);
    let logged = query_env(
        dir,
        "SELECT message FROM _runs WHERE kind = 'source' AND table_name = 'atm' AND status = 'ok' AND message LIKE '%--allow-empty%'",
        &[],
    );
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(
        logged[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("file(s) loaded before are gone")),
        "{logged:?}"
    );
}
