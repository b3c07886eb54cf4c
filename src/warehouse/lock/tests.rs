//! The lock's promises, through the API its callers use (`acquire`,
//! `record`, `release`, `unfinished`), on a local folder; the bucket's are
//! tested against a real S3 server in `tests/cli/s3.rs`.

use super::*;
use crate::warehouse::Error;

fn host() -> String {
    record::HERE.host.clone()
}

// Tests below use only the API that callers use (`acquire`, `record`,
// `release`, `unfinished`), so they also run against older code.

fn warehouse() -> (tempfile::TempDir, Warehouse) {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = Warehouse::open(dir.path().to_str().expect("utf-8")).expect("open");
    (dir, wh)
}

fn lock_file(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join(NAME)
}

fn proc_text(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn own_start_time() -> u64 {
    let stat = proc_text("/proc/self/stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    after
        .split(' ')
        .nth(19)
        .expect("field 22")
        .parse()
        .expect("number")
}

/// A lock in the current format, written by hand.
fn forged(
    pid: u32,
    (host, boot_id): (&str, &str),
    start_time: u64,
    journal: &[(&str, Option<u64>)],
) -> String {
    let mut s = serde_json::json!({
        "pid": pid,
        "host": host,
        "boot_id": boot_id,
        "start_time": start_time,
        "pid_ns": std::fs::read_link("/proc/self/ns/pid")
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        "pipeline": "p",
        "token": "forged",
    })
    .to_string();
    s.push('\n');
    for (t, v) in journal {
        s.push_str(&serde_json::json!({"table": t, "version": v}).to_string());
        s.push('\n');
    }
    s
}

/// Issue 18 item 7: a refused run leaves the live run's lock alone, so
/// a third run is refused too and readers keep their pins.
#[tokio::test]
async fn a_refused_run_leaves_the_holders_lock() {
    let (dir, wh) = warehouse();
    let (mut live, stale) = RunLock::acquire(&wh, "p").await.expect("first");
    assert!(stale.is_none());
    live.record("atm", Some(4)).await.expect("record");
    for _ in 0..2 {
        match RunLock::acquire(&wh, "p").await {
            Err(Error::Locked { .. }) => {}
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a second run took a live lock"),
        }
        assert!(lock_file(&dir).exists(), "a refused run removed the lock");
        let journal = unfinished(&wh).await.expect("read").expect("lock");
        assert_eq!(journal, vec![("atm".to_string(), Some(4))]);
    }
    live.release().await.expect("release");
    assert!(!lock_file(&dir).exists());
}

/// Issue 18 item 8: sixteen runs that find the same stale lock at once:
/// exactly one takes it over (with the dead run's journal), every time.
#[test]
fn one_of_many_takes_a_stale_lock_over() {
    let (dir, wh) = warehouse();
    // The format before JSON lines: still read (a crash across an
    // upgrade), judged by pid and host.
    let dead = format!("4294967294 {} p\nT\tatm\t3\nT\tnew_table\t-\n", host());
    let want: Journal = vec![("atm".into(), Some(3)), ("new_table".into(), None)];
    for round in 0..24 {
        // A new file: the last round's winner still holds the old one.
        let _ = std::fs::remove_file(lock_file(&dir));
        std::fs::write(lock_file(&dir), &dead).expect("write");
        let start = Arc::new(std::sync::Barrier::new(16));
        let tries: Vec<_> = (0..16)
            .map(|_| {
                let (wh, start) = (wh.clone(), start.clone());
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    start.wait();
                    rt.block_on(async {
                        match RunLock::acquire(&wh, "p").await {
                            Ok((lock, stale)) => {
                                let journal = stale.map(|s| s.journal);
                                // Keep the lock past the others' tries.
                                std::mem::forget(lock);
                                Ok(journal)
                            }
                            Err(e) => Err(e.to_string()),
                        }
                    })
                })
            })
            .collect();
        let results: Vec<_> = tries
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect();
        let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "round {round}: {results:?}");
        assert_eq!(won[0].as_ref(), Some(&want), "round {round}");
        for r in &results {
            if let Err(e) = r {
                assert!(e.contains("another run is using"), "round {round}: {e}");
            }
        }
        // The winner kept the dead run's journal.
        let journal = rt_unfinished(&wh);
        assert_eq!(journal, want, "round {round}");
    }
}

fn rt_unfinished(wh: &Warehouse) -> Journal {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(unfinished(wh))
        .expect("read")
        .expect("lock")
}

/// Issue 18 item 10: a newline in the pipeline's name does not forge a
/// journal line.
#[tokio::test]
async fn a_pipeline_name_cannot_forge_journal_lines() {
    let (_dir, wh) = warehouse();
    let (mut lock, _) = RunLock::acquire(
        &wh,
        "p\nT\tcustomers\t0\n{\"table\":\"customers\",\"version\":0}",
    )
    .await
    .expect("acquire");
    lock.record("atm", None).await.expect("record");
    let journal = unfinished(&wh).await.expect("read").expect("lock");
    assert_eq!(journal, vec![("atm".to_string(), None)]);
    lock.release().await.expect("release");
}

/// Issue 18 item 10: a line that does not parse is an error, for readers
/// and for the next run, not skipped.
#[tokio::test]
async fn a_garbled_journal_is_an_error() {
    let (dir, wh) = warehouse();
    let (mut lock, _) = RunLock::acquire(&wh, "p").await.expect("acquire");
    lock.record("atm", Some(2)).await.expect("record");
    std::mem::forget(lock);
    let mut text = std::fs::read_to_string(lock_file(&dir)).expect("read");
    text.push_str("T\tcustomers\n");
    std::fs::write(lock_file(&dir), text).expect("write");
    let e = unfinished(&wh).await.expect_err("garbled");
    assert!(e.to_string().contains(NAME), "{e}");
    assert!(RunLock::acquire(&wh, "p").await.is_err());
    assert!(lock_file(&dir).exists());
}

/// Issue 18 item 11: a live pid is not enough, its start time must
/// match (containers reuse pids); another machine's lock is never stale;
/// a held `flock` is a live holder whatever the lock says.
#[tokio::test]
async fn a_reused_pid_does_not_keep_a_lock_alive() {
    let (dir, wh) = warehouse();
    let pid = std::process::id();
    let boot = proc_text("/proc/sys/kernel/random/boot_id");
    let here = (host(), boot.clone());
    let here = (here.0.as_str(), here.1.as_str());
    let reused = forged(pid, here, own_start_time() + 1, &[("atm", Some(1))]);
    std::fs::write(lock_file(&dir), reused).expect("write");
    let (mut lock, stale) = RunLock::acquire(&wh, "p").await.expect("taken over");
    let stale = stale.expect("stale");
    assert_eq!(stale.journal, vec![("atm".to_string(), Some(1))]);
    lock.restored();
    lock.release().await.expect("release");
    assert!(!lock_file(&dir).exists());

    let alive = forged(pid, here, own_start_time(), &[]);
    std::fs::write(lock_file(&dir), alive).expect("write");
    assert!(matches!(
        RunLock::acquire(&wh, "p").await,
        Err(Error::Locked { .. })
    ));
    let elsewhere = forged(4294967294, ("some-other-host", "another-boot"), 0, &[]);
    std::fs::write(lock_file(&dir), elsewhere).expect("write");
    assert!(matches!(
        RunLock::acquire(&wh, "p").await,
        Err(Error::Locked { .. })
    ));
    assert!(lock_file(&dir).exists());

    // This kernel, another host name (a container): judged by its pid.
    let container = forged(4294967294, ("some-container", &boot), 0, &[]);
    std::fs::remove_file(lock_file(&dir)).expect("remove");
    std::fs::write(lock_file(&dir), &container).expect("write");
    let (lock, stale) = RunLock::acquire(&wh, "p").await.expect("taken over");
    assert!(stale.is_some());
    lock.release().await.expect("release");

    // A dead-looking holder that holds the file's `flock` is alive.
    std::fs::write(lock_file(&dir), &container).expect("write");
    let held = std::fs::File::open(lock_file(&dir)).expect("open");
    held.lock().expect("flock");
    assert!(matches!(
        RunLock::acquire(&wh, "p").await,
        Err(Error::Locked { .. })
    ));
    drop(held);
    let (lock, stale) = RunLock::acquire(&wh, "p").await.expect("taken over");
    assert!(stale.is_some());
    lock.release().await.expect("release");
}

/// A lock cut short by a crash while it was created (the holder line
/// unreadable) does not brick the warehouse, and its journal is kept.
#[tokio::test]
async fn a_cut_lock_is_taken_over_with_its_journal() {
    let (dir, wh) = warehouse();
    let path = lock_file(&dir);
    std::fs::write(&path, "{\"pid\":12").expect("write");
    // Just written: perhaps still being written.
    assert!(matches!(
        RunLock::acquire(&wh, "p").await,
        Err(Error::Locked { .. })
    ));
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    let age = |p: &PathBuf| {
        std::fs::File::options()
            .write(true)
            .open(p)
            .and_then(|f| f.set_modified(old))
            .expect("age")
    };
    age(&path);
    let (lock, stale) = RunLock::acquire(&wh, "p").await.expect("taken over");
    assert_eq!(stale.expect("stale").journal, vec![]);
    lock.release().await.expect("release");
    assert!(!path.exists());

    // A garbage holder line with a readable journal: the journal is kept
    // for recovery, not discarded with the lock.
    std::fs::write(
        &path,
        "\u{0}\u{0}garbage\n{\"table\":\"atm\",\"version\":2}\n",
    )
    .expect("write");
    age(&path);
    let (lock, stale) = RunLock::acquire(&wh, "p").await.expect("taken over");
    let want = vec![("atm".to_string(), Some(2))];
    assert_eq!(stale.expect("stale").journal, want);
    assert_eq!(unfinished(&wh).await.expect("read"), Some(want));
    // Not restored: releasing keeps the journal for the next run.
    lock.release().await.expect("release");
    assert!(path.exists());
    let (_lock, stale) = RunLock::acquire(&wh, "p").await.expect("left lock");
    assert_eq!(stale.expect("stale").journal.len(), 1);
}

/// Issue 18 items 7 and 9: a run that no longer holds the lock cannot
/// remove it, and a failed restore keeps the journal.
#[tokio::test]
async fn only_the_holder_removes_its_lock() {
    let (dir, wh) = warehouse();
    let path = lock_file(&dir);
    let (mut first, _) = RunLock::acquire(&wh, "p").await.expect("first");
    // Someone removed the lock by hand and a second run took a new one.
    std::fs::remove_file(&path).expect("remove");
    let (second, _) = RunLock::acquire(&wh, "p").await.expect("second");
    assert!(matches!(
        first.record("atm", Some(1)).await,
        Err(Error::LockLost { .. })
    ));
    assert!(matches!(first.release().await, Err(Error::LockLost { .. })));
    assert!(path.exists(), "the first run removed the second's lock");
    second.release().await.expect("release");
    assert!(!path.exists());

    // Dropped without release (a panic) after a journaled write: the lock
    // and journal stay, and are stale at once for the next run.
    let (mut third, _) = RunLock::acquire(&wh, "p").await.expect("third");
    third.record("atm", Some(1)).await.expect("record");
    drop(third);
    let (fourth, stale) = RunLock::acquire(&wh, "p").await.expect("fourth");
    assert_eq!(
        stale.expect("stale").journal,
        vec![("atm".to_string(), Some(1))]
    );
    // Its tables were not restored: the journal stays.
    fourth.release().await.expect("release");
    assert_eq!(
        unfinished(&wh).await.expect("read").map(|j| j.len()),
        Some(1)
    );
}
