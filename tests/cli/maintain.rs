//! `touchpoint maintain`: the warehouse shrinks, no row changes, a run
//! after it rebuilds nothing, and time travel past the retention horizon
//! is refused rather than attempted.

use crate::common::{
    generate, hold_back_last_atm_day, ok, ok_all, project, query, snapshot, touchpoint,
};
use std::path::Path;

/// Data files (Parquet) and checkpoints under the warehouse.
fn files(dir: &Path) -> (usize, usize) {
    let (mut data, mut checkpoints) = (0, 0);
    let mut stack = vec![dir.join("warehouse")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            if p.is_dir() {
                stack.push(p);
            } else if name.ends_with(".checkpoint.parquet") {
                checkpoints += 1;
            } else if name.ends_with(".parquet") {
                data += 1;
            }
        }
    }
    (data, checkpoints)
}

#[test]
fn maintain_vacuums_past_the_horizon_and_changes_no_row() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 300, 2, 5, &[]);
    let file = dir.join("pipelines/monthly_cx.yaml");
    let yaml = std::fs::read_to_string(&file).expect("pipeline");
    // A horizon of seconds, so the test need not wait days.
    std::fs::write(
        &file,
        yaml.replacen("\nsources:", "\nretention: 2s\nsources:", 1),
    )
    .expect("write");
    // February's last ATM day arrives late, so `atm` has a small file to
    // compact.
    let (last, held) = hold_back_last_atm_day(dir, "2024/02");
    let run = ["run", "--period", "2024-01..2024-02"];
    ok(dir, &run);
    let first = query(dir, "SELECT run_id FROM _runs WHERE kind = 'run'");
    let first = first[0]["run_id"].as_str().expect("run id").to_string();
    // Replacing every period tombstones the first run's files.
    ok(
        dir,
        &["run", "--period", "2024-01..2024-02", "--full-refresh"],
    );
    std::fs::rename(&held, &last).expect("deliver");
    ok(dir, &["run", "--period", "2024-02"]);
    let before = snapshot(dir, &[], "");
    let (data_before, _) = files(dir);
    std::thread::sleep(std::time::Duration::from_secs(3));

    let out = ok(dir, &["maintain"]);
    assert!(out.contains("maintained"), "{out}");
    let (data_after, checkpoints) = files(dir);
    assert!(
        data_after < data_before,
        "data files {data_before} -> {data_after}: {out}"
    );
    assert!(checkpoints > 0, "maintain writes checkpoints");
    assert!(snapshot(dir, &[], "") == before, "maintain changed rows");
    let logged = query(
        dir,
        "SELECT COUNT(*) AS n, SUM(files) AS files FROM _runs WHERE kind = 'maintain'",
    );
    assert!(crate::common::f(&logged[0], "n") > 10.0);
    assert!(crate::common::f(&logged[0], "files") > 0.0);

    // Compaction moved tables that models read (`atm`'s daily files) and
    // models' own tables; it changed no row, so a run with nothing new
    // still rebuilds no model (their tags kept; compaction and vacuum
    // commits are no change).
    let atm = query(
        dir,
        "SELECT message FROM _runs WHERE kind = 'maintain' AND table_name = 'atm'",
    );
    let atm = atm[0]["message"].as_str().unwrap_or_default().to_string();
    assert!(!atm.contains("compacted 0 "), "{atm}");
    let again = ok_all(dir, &run);
    let rebuilt: Vec<&str> = again.lines().filter(|l| l.starts_with("model ")).collect();
    assert!(rebuilt.is_empty(), "rebuilt after maintain: {rebuilt:?}");
    assert!(again.contains("skip  model"), "{again}");

    // The first run's versions are past the horizon: refused, with help.
    let past = touchpoint(
        dir,
        &[
            "query",
            "--as-of",
            &first,
            "SELECT COUNT(*) AS n FROM customers",
        ],
    );
    let err = String::from_utf8_lossy(&past.stderr);
    assert_eq!(past.status.code(), Some(1), "{err}");
    assert!(err.contains("past the pipeline's retention (2s)"), "{err}");
    assert!(err.contains("help:"), "{err}");
    let at = touchpoint(
        dir,
        &[
            "query",
            "SELECT COUNT(*) AS n FROM table_at('customers', 0)",
        ],
    );
    let err = String::from_utf8_lossy(&at.stderr);
    assert!(!at.status.success(), "table_at read a vacuumed version");
    assert!(err.contains("past the pipeline's retention"), "{err}");
    // The latest state reads as before, and a run after maintain works.
    ok(dir, &["run", "--period", "2024-02"]);
    let n = query(dir, "SELECT COUNT(*) AS n FROM customers");
    assert!(crate::common::f(&n[0], "n") > 0.0);
}
