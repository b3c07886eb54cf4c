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

/// SIGKILL the run (no destructor, no cleanup runs); whether it had
/// already finished by itself.
fn kill9(child: &mut Child) -> bool {
    child.kill().expect("kill");
    child.wait().expect("wait").success()
}

/// How many journal lines the run lock holds (0 without a lock): one per
/// table a run wrote, after its holder line.
fn journal_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("warehouse/_run.lock"))
        .map(|t| {
            t.lines()
                .filter(|l| !l.trim().is_empty())
                .count()
                .saturating_sub(1)
        })
        .unwrap_or(0)
}

/// Wait until the run has journaled a table of its own (beyond the `base`
/// lines of a dead run's lock it took over), or ended.
fn wait_for_journal(dir: &Path, child: &mut Child, base: usize) {
    let start = Instant::now();
    while journal_lines(dir) <= base && child.try_wait().expect("try_wait").is_none() {
        assert!(start.elapsed() < Duration::from_secs(120), "no journal");
        std::thread::sleep(Duration::from_millis(5));
    }
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
    // Kills at arbitrary moments (inside a Delta write, between files):
    // one early, the others some time after the run's first journaled
    // write, so they land mid-run however fast the machine is.
    let mut mid_write = 0;
    for (after_journal, ms) in [(false, 150u64), (true, 0), (true, 150), (true, 700)] {
        // A dead run's journal, which this run takes over first.
        let base = journal_lines(dir);
        let mut child = spawn_run(dir, None);
        if after_journal {
            wait_for_journal(dir, &mut child, base);
        }
        std::thread::sleep(Duration::from_millis(ms));
        let finished = kill9(&mut child);
        let now = snapshot(dir, &[], "");
        if finished {
            // Too late to crash it: that run finished, and is the new state.
            before = now;
            continue;
        }
        if journal_lines(dir) > base {
            mid_write += 1;
        }
        for (t, rows) in &before {
            assert!(
                now.get(t) == Some(rows),
                "{t} changed after kill at {ms} ms"
            );
        }
        assert_eq!(now.len(), before.len(), "tables appeared (kill at {ms} ms)");
    }
    // Killed after journaling a table of its own: it was writing tables.
    assert!(mid_write >= 1, "no timed kill landed mid-write");
    // Runs of 2024-02 that die after 1, 2, 9, 16 and 27 of their table
    // commits (seeds, a source, its quarantine, models), killed -9.
    for (i, n) in [1u64, 2, 9, 16, 27].into_iter().enumerate() {
        let base = journal_lines(dir);
        let mut child = spawn_run(dir, Some(n));
        let said = wait_for_pause(&mut child);
        if i == 0 {
            // While it runs, a second run is refused and changes nothing.
            let out = touchpoint(dir, &RUN_FEB);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{err}");
            assert!(err.contains("another run is using the warehouse"), "{err}");
            // ...and leaves the live run's lock alone, so the next is
            // refused too (issue 18 item 7).
            assert!(dir.join("warehouse/_run.lock").exists(), "lock removed");
            let again = touchpoint(dir, &RUN_FEB);
            assert_eq!(again.status.code(), Some(1), "a third run started");
            // Readers see the warehouse as before the run, even now.
            assert!(
                snapshot(dir, &[], "") == before,
                "a reader saw a live run's writes"
            );
        }
        assert!(!kill9(&mut child), "the paused run finished ({said})");
        // The kill landed mid-write: the lock journals what it wrote.
        assert!(journal_lines(dir) > base, "no journal at kill -9 ({said})");
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

/// A recovery that fails (a journaled table whose log cannot be read) keeps
/// the lock and its journal: readers stay pinned, and once the table is
/// fixed the next run restores everything and proceeds (issue 18 item 9).
#[test]
fn a_failed_recovery_keeps_the_journal_for_the_next_run() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 120, 2, 7, &[]);
    ok(
        dir,
        &["run", "pipelines/monthly_cx.yaml", "--period", "2024-01"],
    );
    let before = snapshot(dir, &[], "");
    // Dies after writing two seeds (tier_rules, product_margins).
    let mut child = spawn_run(dir, Some(2));
    let said = wait_for_pause(&mut child);
    assert!(!kill9(&mut child), "{said}");
    let lock = dir.join("warehouse/_run.lock");
    // The journal: the lock's lines after its holder line.
    let entries = |text: &str| text.lines().skip(1).map(str::to_string).collect::<Vec<_>>();
    let journal = entries(&std::fs::read_to_string(&lock).expect("lock after kill"));
    assert_eq!(journal.len(), 2, "{journal:?}");
    assert!(journal[0].contains("tier_rules"), "{journal:?}");

    // A commit file that is not JSON: tier_rules cannot be restored.
    let log = dir.join("warehouse/tier_rules/_delta_log");
    let next = std::fs::read_dir(&log)
        .expect("log")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".json")?
                .parse::<u64>()
                .ok()
        })
        .max()
        .expect("a commit")
        + 1;
    let broken = log.join(format!("{next:020}.json"));
    std::fs::write(&broken, "not a commit\n").expect("break the log");
    for _ in 0..2 {
        let out = touchpoint(dir, &RUN_FEB);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("tier_rules"), "{err}");
        let kept = std::fs::read_to_string(&lock).map(|t| entries(&t));
        assert_eq!(
            kept.ok().as_ref(),
            Some(&journal),
            "the journal changed or went after a failed recovery\n{err}"
        );
    }

    std::fs::remove_file(&broken).expect("fix the log");
    let out = touchpoint(dir, &RUN_FEB);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("recovered: restored 2 table(s)"), "{err}");
    assert!(!lock.exists());
    // February is in; January's tables are still there as they were.
    let now = snapshot(dir, &[], "");
    assert_eq!(now["tier_rules"], before["tier_rules"]);
    assert!(now.len() >= before.len());
}

/// A lock written in the text format before JSON lines (a crash across an
/// upgrade): readers still pin its tables, and the next run restores them.
#[test]
fn a_lock_of_the_old_format_is_pinned_and_recovered() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 120, 2, 5, &[]);
    ok(
        dir,
        &["run", "pipelines/monthly_cx.yaml", "--period", "2024-01"],
    );
    let before = snapshot(dir, &[], "");
    // Dies after nine commits (seeds, a source and its quarantine).
    let mut child = spawn_run(dir, Some(9));
    let said = wait_for_pause(&mut child);
    assert!(!kill9(&mut child), "{said}");
    let lock = dir.join("warehouse/_run.lock");
    let text = std::fs::read_to_string(&lock).expect("lock");
    let mut lines = text.lines();
    let holder: serde_json::Value =
        serde_json::from_str(lines.next().expect("holder")).expect("json holder");
    let mut old = format!(
        "{} {} {}\n",
        holder["pid"],
        holder["host"].as_str().expect("host"),
        holder["pipeline"].as_str().expect("p")
    );
    let mut tables = 0;
    for l in lines {
        let e: serde_json::Value = serde_json::from_str(l).expect("json entry");
        let v = e["version"]
            .as_u64()
            .map_or("-".to_string(), |v| v.to_string());
        old.push_str(&format!(
            "T\t{}\t{v}\n",
            e["table"].as_str().expect("table")
        ));
        tables += 1;
    }
    assert!(tables >= 3, "{text}");
    std::fs::write(&lock, old).expect("write the old format");
    assert!(
        snapshot(dir, &[], "") == before,
        "a reader saw the dead run's writes"
    );
    let out = touchpoint(dir, &RUN_FEB);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("recovered: restored"), "{err}");
    assert!(!lock.exists());
}
