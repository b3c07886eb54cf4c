//! One run at a time per warehouse, and crash safety across tables.
//!
//! `_run.lock` (a file, or an object on a bucket) is created exclusively by
//! a run. It is also the run's journal: before a run first writes a table it
//! records the table's version, durably. So after a `kill -9`
//! - readers pin every journaled table to its pre-run version (a reader
//!   never sees half a run, live or dead), and
//! - the next run takes the stale lock over (its process is gone) and
//!   restores those versions before it starts.
//!
//! A lock held by a live process, or by another machine, is never taken
//! over: the error names the holder so a person can decide.

use super::{Error, Result, Warehouse};
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, path::Path as StorePath};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub const NAME: &str = "_run.lock";

/// table → its version before the run (`None`: the run created it).
pub type Journal = Vec<(String, Option<u64>)>;

/// What a run found when it took over the lock of a run that died.
#[derive(Debug, Clone)]
pub struct Stale {
    pub holder: String,
    pub journal: Journal,
}

pub struct RunLock {
    at: Where,
    holder: String,
    journal: Journal,
    released: bool,
}

#[derive(Clone)]
enum Where {
    File(PathBuf),
    Object(Arc<dyn ObjectStore>, StorePath),
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// `pid host pipeline`: enough to tell a dead local holder from a live one.
fn holder_line(pipeline: &str) -> String {
    format!("{} {} {pipeline}", std::process::id(), host())
}

/// Whether the holder line of a lock names a process of this machine that
/// has ended.
fn is_stale(holder: &str) -> bool {
    let mut parts = holder.split_whitespace();
    let pid: Option<u32> = parts.next().and_then(|p| p.parse().ok());
    let same_host = parts.next().is_some_and(|h| h == host());
    match pid {
        Some(p) => same_host && !PathBuf::from(format!("/proc/{p}")).exists(),
        None => false,
    }
}

fn render(holder: &str, journal: &Journal) -> String {
    let mut s = format!("{holder}\n");
    for (t, v) in journal {
        let v = v.map_or("-".to_string(), |v| v.to_string());
        s.push_str(&format!("T\t{t}\t{v}\n"));
    }
    s
}

/// The holder line and journal of a lock's text.
fn parse(text: &str) -> (String, Journal) {
    let mut lines = text.lines();
    let holder = lines.next().unwrap_or_default().trim().to_string();
    let journal = lines
        .filter_map(|l| {
            let mut f = l.split('\t');
            match (f.next(), f.next(), f.next()) {
                (Some("T"), Some(t), Some(v)) => Some((t.to_string(), v.parse().ok())),
                _ => None,
            }
        })
        .collect();
    (holder, journal)
}

/// Per table, the earliest recorded version: the state before any run that
/// is not finished.
pub fn pins(journal: &Journal) -> BTreeMap<String, Option<u64>> {
    let mut out = BTreeMap::new();
    for (t, v) in journal {
        out.entry(t.clone()).or_insert(*v);
    }
    out
}

impl Where {
    fn of(wh: &Warehouse) -> Result<Where> {
        match &wh.local {
            Some(dir) => Ok(Where::File(dir.join(NAME))),
            None => {
                let url = wh.root.join(NAME).unwrap_or_else(|_| wh.root.clone());
                let (store, path) = crate::store::open(&url).map_err(|e| Error::Location {
                    location: url.to_string(),
                    reason: e.to_string(),
                })?;
                Ok(Where::Object(store, path))
            }
        }
    }

    fn name(&self) -> String {
        match self {
            Where::File(p) => p.display().to_string(),
            Where::Object(_, p) => p.to_string(),
        }
    }

    fn fail(&self, reason: impl ToString) -> Error {
        Error::Location {
            location: self.name(),
            reason: reason.to_string(),
        }
    }

    async fn read(&self) -> Result<Option<String>> {
        match self {
            Where::File(p) => match std::fs::read_to_string(p) {
                Ok(s) => Ok(Some(s)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(self.fail(e)),
            },
            Where::Object(store, p) => match store.get(p).await {
                Ok(g) => {
                    let b = g.bytes().await.map_err(|e| self.fail(e))?;
                    Ok(Some(String::from_utf8_lossy(&b).into_owned()))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.fail(e)),
            },
        }
    }

    /// Create the lock; `false` when it already exists.
    async fn create(&self, text: &str) -> Result<bool> {
        match self {
            Where::File(p) => {
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(p)
                {
                    Ok(mut f) => {
                        use std::io::Write;
                        f.write_all(text.as_bytes()).map_err(|e| self.fail(e))?;
                        f.sync_all().map_err(|e| self.fail(e))?;
                        Ok(true)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(self.fail(e)),
                }
            }
            Where::Object(store, p) => {
                let create = PutOptions {
                    mode: PutMode::Create,
                    ..Default::default()
                };
                match store.put_opts(p, text.to_string().into(), create).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
                    Err(e) => Err(self.fail(e)),
                }
            }
        }
    }

    /// Replace the lock's text durably (only its holder, or a taker-over,
    /// does this): a temporary file renamed over it, or one PUT.
    async fn replace(&self, text: &str) -> Result<()> {
        match self {
            Where::File(p) => {
                use std::io::Write;
                let tmp = p.with_extension(format!("tmp-{}", std::process::id()));
                let mut f = std::fs::File::create(&tmp).map_err(|e| self.fail(e))?;
                f.write_all(text.as_bytes()).map_err(|e| self.fail(e))?;
                f.sync_all().map_err(|e| self.fail(e))?;
                std::fs::rename(&tmp, p).map_err(|e| self.fail(e))
            }
            Where::Object(store, p) => store
                .put(p, text.to_string().into())
                .await
                .map(|_| ())
                .map_err(|e| self.fail(e)),
        }
    }

    async fn remove(&self) {
        match self {
            Where::File(p) => {
                let _ = std::fs::remove_file(p);
            }
            Where::Object(store, p) => {
                let _ = store.delete(p).await;
            }
        }
    }
}

impl RunLock {
    /// Take the warehouse's run lock, or explain who holds it. When the
    /// holder died, the lock is taken over and its journal returned: the
    /// caller must restore those tables before writing anything.
    pub async fn acquire(wh: &Warehouse, pipeline: &str) -> Result<(Self, Option<Stale>)> {
        let at = Where::of(wh)?;
        let holder = holder_line(pipeline);
        let mut lock = RunLock {
            at: at.clone(),
            holder: holder.clone(),
            journal: Vec::new(),
            released: false,
        };
        if at.create(&render(&holder, &lock.journal)).await? {
            return Ok((lock, None));
        }
        let text = at.read().await?.unwrap_or_default();
        let (old, journal) = parse(&text);
        if !is_stale(&old) {
            return Err(Error::Locked {
                path: at.name(),
                holder: old,
            });
        }
        // Take over, keeping the dead run's journal until its tables are
        // restored (a crash now still leaves them restorable), then check
        // no other process took it over at the same time.
        lock.journal = journal.clone();
        at.replace(&render(&holder, &lock.journal)).await?;
        let now = at.read().await?.unwrap_or_default();
        if parse(&now).0 != holder {
            return Err(Error::Locked {
                path: at.name(),
                holder: parse(&now).0,
            });
        }
        Ok((
            lock,
            Some(Stale {
                holder: old,
                journal,
            }),
        ))
    }

    /// Record, durably, a table's version before this run first writes it.
    pub async fn record(&mut self, table: &str, version: Option<u64>) -> Result<()> {
        self.journal.push((table.to_string(), version));
        self.at.replace(&render(&self.holder, &self.journal)).await
    }

    /// The run is over (committed or rolled back): give the lock back.
    pub async fn release(mut self) {
        self.released = true;
        self.at.remove().await;
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // An early return without `release` is a failed run whose tables
        // may not be restored: leave the journal for the next run, unless
        // nothing was written.
        if !self.released
            && self.journal.is_empty()
            && let Where::File(p) = &self.at
        {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The journal of an unfinished run (live or dead), if there is one.
pub async fn unfinished(wh: &Warehouse) -> Result<Option<Journal>> {
    let at = Where::of(wh)?;
    Ok(at.read().await?.map(|t| parse(&t).1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staleness() {
        // This process is alive: its lock is not stale.
        assert!(!is_stale(&holder_line("p")));
        // A pid that cannot exist on this host is.
        assert!(is_stale(&format!("4294967294 {} p", host())));
        // Another machine's lock is never taken over.
        assert!(!is_stale("4294967294 some-other-host p"));
        assert!(!is_stale(""));
    }

    #[test]
    fn journal_round_trip_and_earliest_pin() {
        let j: Journal = vec![
            ("atm".into(), Some(3)),
            ("new_table".into(), None),
            ("atm".into(), Some(5)),
        ];
        let (h, back) = parse(&render("1 host p", &j));
        assert_eq!(h, "1 host p");
        assert_eq!(back, j);
        let p = pins(&back);
        assert_eq!(p["atm"], Some(3));
        assert_eq!(p["new_table"], None);
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
    fn forged(pid: u32, host: &str, start_time: u64, journal: &[(&str, Option<u64>)]) -> String {
        let mut s = serde_json::json!({
            "pid": pid,
            "host": host,
            "boot_id": proc_text("/proc/sys/kernel/random/boot_id"),
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
        live.release().await;
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
        lock.release().await;
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
    /// match (containers reuse pids); another host's lock is never stale.
    #[tokio::test]
    async fn a_reused_pid_does_not_keep_a_lock_alive() {
        let (dir, wh) = warehouse();
        let pid = std::process::id();
        let reused = forged(pid, &host(), own_start_time() + 1, &[("atm", Some(1))]);
        std::fs::write(lock_file(&dir), reused).expect("write");
        let (lock, stale) = RunLock::acquire(&wh, "p").await.expect("taken over");
        let stale = stale.expect("stale");
        assert_eq!(stale.journal, vec![("atm".to_string(), Some(1))]);
        lock.release().await;

        let alive = forged(pid, &host(), own_start_time(), &[]);
        std::fs::write(lock_file(&dir), alive).expect("write");
        assert!(matches!(
            RunLock::acquire(&wh, "p").await,
            Err(Error::Locked { .. })
        ));
        let elsewhere = forged(4294967294, "some-other-host", 0, &[]);
        std::fs::write(lock_file(&dir), elsewhere).expect("write");
        assert!(matches!(
            RunLock::acquire(&wh, "p").await,
            Err(Error::Locked { .. })
        ));
        assert!(lock_file(&dir).exists());
    }
}
