//! Crash safety: a run killed with SIGKILL at several points leaves every
//! table as it was before the run (for readers at once, and for real after
//! the next run restores them); a second run at the same time is refused;
//! the run after a crash completes and equals a run that never crashed.

use crate::common::{bin, generate, ok, ok_env, project, query, snapshot, touchpoint};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RUN_FEB: [&str; 4] = ["run", "pipelines/monthly_cx.yaml", "--period", "2024-02"];

fn spawn_run(dir: &Path, pause_after: Option<u64>) -> Child {
    let mut c = Command::new(bin());
    // A full refresh always writes every table: if an earlier run in this
    // test got to finish February, an incremental run would skip the loads
    // and never reach the commit it is told to pause after.
    c.args(RUN_FEB)
        .arg("--full-refresh")
        .current_dir(dir)
        .env_remove("TOUCHPOINT_WAREHOUSE")
        .env_remove("TOUCHPOINT_EXTRACTS")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(n) = pause_after {
        c.env("TOUCHPOINT_FAULT_PAUSE_AFTER_COMMIT", n.to_string());
    }
    c.spawn().expect("spawn run")
}

/// Wait until the run says it paused after its Nth commit.
fn wait_for_pause(child: &mut Child) -> String {
    let err = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(err).lines();
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < Duration::from_secs(120), "no pause");
        match lines.next() {
            Some(Ok(l)) if l.starts_with("fault: paused") => return l,
            Some(Ok(_)) => {}
            _ => panic!("the run ended before pausing"),
        }
    }
}

fn kill9(child: &mut Child) {
    // `Child::kill` is SIGKILL on Unix: no destructor, no cleanup runs.
    child.kill().expect("kill");
    child.wait().expect("wait");
}

#[test]
fn kill_9_at_any_point_leaves_the_warehouse_as_it_was() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 300, 2, 5, &[]);
    // What a run that never crashes gives, in a warehouse of its own.
    let reference = [("TOUCHPOINT_WAREHOUSE", "reference".to_string())];
    ok_env(
        dir,
        &["run", "pipelines/monthly_cx.yaml", "--period", "2024-01"],
        &reference,
    );
    ok_env(dir, &RUN_FEB, &reference);
    let want = snapshot(dir, &reference, "");

    ok(
        dir,
        &["run", "pipelines/monthly_cx.yaml", "--period", "2024-01"],
    );
    let mut before = snapshot(dir, &[], "");
    // Kills at arbitrary moments (inside a Delta write, between files).
    for ms in [150u64, 700, 1500] {
        let mut child = spawn_run(dir, None);
        std::thread::sleep(Duration::from_millis(ms));
        let finished = child.try_wait().expect("try_wait").is_some();
        kill9(&mut child);
        let now = snapshot(dir, &[], "");
        if finished {
            // Too late to crash it: that run finished, and is the new state.
            before = now;
            continue;
        }
        for (t, rows) in &before {
            assert!(
                now.get(t) == Some(rows),
                "{t} changed after kill at {ms} ms"
            );
        }
        assert_eq!(now.len(), before.len(), "tables appeared (kill at {ms} ms)");
    }
    // Runs of 2024-02 that die after 1, 2, 9, 16 and 27 of their table
    // commits (seeds, a source, its quarantine, models), killed -9.
    for (i, n) in [1u64, 2, 9, 16, 27].into_iter().enumerate() {
        let mut child = spawn_run(dir, Some(n));
        let said = wait_for_pause(&mut child);
        if i == 0 {
            // While it runs, a second run is refused and changes nothing.
            let out = touchpoint(dir, &RUN_FEB);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{err}");
            assert!(err.contains("another run is using the warehouse"), "{err}");
            // Readers see the warehouse as before the run, even now.
            assert!(
                snapshot(dir, &[], "") == before,
                "a reader saw a live run's writes"
            );
        }
        kill9(&mut child);
        let now = snapshot(dir, &[], "");
        for (t, rows) in &before {
            assert!(
                now.get(t) == Some(rows),
                "{t} changed after kill -9 ({said})"
            );
        }
        assert_eq!(now.len(), before.len(), "tables appeared ({said})");
    }

    // The next run restores what the dead runs wrote, then completes, and
    // the warehouse equals the one that never crashed.
    let out = touchpoint(dir, &RUN_FEB);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("recovered: restored"), "{err}");
    assert!(!dir.join("warehouse/_run.lock").exists());
    let got = snapshot(dir, &[], "");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (t, rows) in &want {
        assert!(&got[t] == rows, "{t} differs from a run that never crashed");
    }
    let rec = query(
        dir,
        "SELECT COUNT(*) AS n FROM _runs WHERE kind = 'recover' AND message LIKE 'restored %'",
    );
    // At least the last run's recovery (a timed kill may also have come
    // too late, and that finished run recovered from the one before).
    assert!(crate::common::f(&rec[0], "n") >= 1.0);
}
