//! What a run lock says: who holds it and the journal of tables it wrote,
//! and whether its holder is still alive.
//!
//! The text is JSON lines, one value per line, so no name can forge a line
//! (a newline inside a string is escaped):
//! ```text
//! {"pid":4242,"host":"etl1","boot_id":"…","start_time":981,"pid_ns":"pid:[4026531836]","pipeline":"monthly_cx","token":"…"}
//! {"table":"atm","version":12}
//! {"table":"churn_risk","version":null}
//! ```
//! The format before it (`pid host pipeline`, then `T<TAB>table<TAB>version`
//! lines) is still read, so a crash across an upgrade is recovered. A last
//! line without its newline is an append that a crash cut short: the table
//! write it announced had not started (journal first), so it is dropped.
//! Any other line that does not parse is an error, never skipped: the
//! journal is what says which tables to restore.

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

/// table → its version before the run (`None`: the run created it).
pub type Journal = Vec<(String, Option<u64>)>;

/// A lock whose holder cannot be read is taken over only after this long
/// (a run creating a lock where hard links are not available writes its
/// holder just after creating the file).
pub const UNREADABLE_GRACE: Duration = Duration::from_secs(10);

/// The process holding a lock, precisely enough to tell it from a later
/// process that got the same pid (containers restart at pid 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    /// `/proc/sys/kernel/random/boot_id`: which boot of which kernel.
    pub boot_id: String,
    /// Clock ticks after boot at which the process started (`/proc/PID/stat`
    /// field 22): a reused pid has another start time.
    pub start_time: u64,
    /// The pid namespace the pid is counted in.
    pub pid_ns: String,
    pub pipeline: String,
    /// Random per acquisition: a release removes only its own lock.
    pub token: String,
    /// The run ended and left its journal for the next run (a table could
    /// not be restored): stale as soon as no process holds the file.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub left: bool,
}

/// Who holds a lock, as read from its first line.
#[derive(Debug, Clone, PartialEq)]
pub enum Who {
    Holder(Holder),
    /// The format before JSON lines: `pid host pipeline`.
    Old {
        pid: Option<u32>,
        host: String,
        line: String,
    },
    /// Empty, cut short or garbage.
    Unreadable,
}

/// A lock's holder and journal.
#[derive(Debug, Clone, PartialEq)]
pub struct Lock {
    pub who: Who,
    pub journal: Journal,
}

/// A journal line that does not parse (1-based line number).
#[derive(Debug, Clone, PartialEq)]
pub struct Garbled {
    pub line: usize,
    pub reason: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    table: String,
    version: Option<u64>,
}

fn proc_text(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Field 22 of `/proc/PID/stat` (after the command name, which may hold
/// spaces and parentheses).
pub fn start_time_of(pid: u32) -> Option<u64> {
    let stat = proc_text(format!("/proc/{pid}/stat"))?;
    let after = stat.get(stat.rfind(')')? + 2..)?;
    after.split(' ').nth(19)?.parse().ok()
}

/// This process, as a holder is described.
#[derive(Debug, Clone)]
pub struct Here {
    pub pid: u32,
    pub host: String,
    pub boot_id: String,
    pub start_time: u64,
    pub pid_ns: String,
}

pub static HERE: LazyLock<Here> = LazyLock::new(|| {
    let pid = std::process::id();
    Here {
        pid,
        host: proc_text("/proc/sys/kernel/hostname").unwrap_or_default(),
        boot_id: proc_text("/proc/sys/kernel/random/boot_id").unwrap_or_default(),
        start_time: start_time_of(pid).unwrap_or_default(),
        pid_ns: std::fs::read_link("/proc/self/ns/pid")
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    }
});

impl Holder {
    /// This process, running `pipeline`, with a new token.
    pub fn here(pipeline: &str) -> Holder {
        let h = &*HERE;
        Holder {
            pid: h.pid,
            host: h.host.clone(),
            boot_id: h.boot_id.clone(),
            start_time: h.start_time,
            pid_ns: h.pid_ns.clone(),
            pipeline: pipeline.to_string(),
            token: uuid::Uuid::new_v4().simple().to_string(),
            left: false,
        }
    }
}

/// The holder line (with its newline).
pub fn holder_line(h: &Holder) -> String {
    let mut s = serde_json::to_string(h).unwrap_or_default();
    s.push('\n');
    s
}

/// One journal line (with its newline).
pub fn entry_line(table: &str, version: Option<u64>) -> String {
    let e = Entry {
        table: table.to_string(),
        version,
    };
    let mut s = serde_json::to_string(&e).unwrap_or_default();
    s.push('\n');
    s
}

pub fn render(h: &Holder, journal: &Journal) -> String {
    let mut s = holder_line(h);
    for (t, v) in journal {
        s.push_str(&entry_line(t, *v));
    }
    s
}

fn who(first: &str) -> Who {
    if first.starts_with('{') {
        return serde_json::from_str(first).map_or(Who::Unreadable, Who::Holder);
    }
    let mut parts = first.split_whitespace();
    match parts.next().map(|p| p.parse::<u32>()) {
        Some(Ok(pid)) => Who::Old {
            pid: Some(pid),
            host: parts.next().unwrap_or_default().to_string(),
            line: first.to_string(),
        },
        _ => Who::Unreadable,
    }
}

fn entry(json: bool, l: &str) -> Result<(String, Option<u64>), String> {
    let (table, version) = if json {
        let e: Entry = serde_json::from_str(l).map_err(|e| e.to_string())?;
        // serde reads a missing `Option` as `None` (a created table): the
        // key must be there.
        if !l.contains("\"version\"") {
            return Err("missing field `version`".into());
        }
        (e.table, e.version)
    } else {
        let f: Vec<&str> = l.split('\t').collect();
        match f.as_slice() {
            ["T", t, "-"] => (t.to_string(), None),
            ["T", t, v] => (
                t.to_string(),
                Some(v.parse().map_err(|_| format!("`{v}` is not a version"))?),
            ),
            _ => return Err("not a journal line (`T<TAB>table<TAB>version`)".into()),
        }
    };
    // A journaled name reaches the file system when it is restored.
    super::super::check_name(&table).map_err(|e| e.to_string())?;
    Ok((table, version))
}

/// Read a lock's text. `Err` when a journal line does not parse.
pub fn parse(text: &str) -> Result<Lock, Garbled> {
    // Only complete lines: a crash can cut the last append short.
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    if complete.is_empty() && !text.ends_with('\n') {
        return Ok(Lock {
            who: Who::Unreadable,
            journal: Vec::new(),
        });
    }
    let mut lines = complete.split('\n');
    let first = lines.next().unwrap_or_default().trim_end_matches('\r');
    let who = who(first);
    let json = !matches!(who, Who::Old { .. });
    let mut journal = Vec::new();
    for (i, l) in lines.enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        let e = entry(json, l).map_err(|reason| Garbled {
            line: i + 2,
            reason,
        })?;
        journal.push(e);
    }
    Ok(Lock { who, journal })
}

/// How a lock's file is held by the operating system (none on a bucket).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Os {
    /// A process holds the file's `flock`.
    Held,
    /// Nobody does (this process has just taken it).
    Free,
    /// An object in a bucket: no OS lock.
    Bucket,
}

/// Whether a lock's holder is gone, so its lock may be taken over. A lock
/// whose liveness cannot be known (another machine, a pid of another
/// container on a bucket) is never taken over: a person decides.
pub fn is_stale(who: &Who, os: Os, age: Duration) -> bool {
    if os == Os::Held {
        return false;
    }
    let here = &*HERE;
    match who {
        Who::Holder(h) if h.left => true,
        Who::Holder(h) if h.boot_id == here.boot_id && !h.boot_id.is_empty() => {
            if h.pid_ns == here.pid_ns {
                // Same kernel, same pid numbering: the process must still
                // run and be the one that started then.
                start_time_of(h.pid) != Some(h.start_time)
            } else {
                // Same kernel, pids not comparable: only the OS lock tells.
                os == Os::Free
            }
        }
        // This machine rebooted since: no process survives that.
        Who::Holder(h) => h.host == here.host && !h.host.is_empty(),
        Who::Old { pid, host, .. } => {
            *host == here.host && pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists())
        }
        Who::Unreadable => age >= UNREADABLE_GRACE,
    }
}

/// The holder, for messages (escaped: it is read from a file).
pub fn describe(who: &Who) -> String {
    match who {
        Who::Holder(h) => format!(
            "{} on {} (pipeline `{}`{})",
            h.pid,
            h.host.escape_debug(),
            h.pipeline.escape_debug(),
            if h.left { ", ended" } else { "" }
        ),
        Who::Old { line, .. } => line.escape_debug().to_string(),
        Who::Unreadable => "unknown (the lock's holder line is unreadable)".into(),
    }
}

/// Per table, the earliest recorded version: the state before any run that
/// is not finished.
pub fn pins(journal: &Journal) -> std::collections::BTreeMap<String, Option<u64>> {
    let mut out = std::collections::BTreeMap::new();
    for (t, v) in journal {
        out.entry(t.clone()).or_insert(*v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_holder() -> Holder {
        let mut h = Holder::here("p");
        h.start_time += 1;
        h
    }

    #[test]
    fn round_trip_and_earliest_pin() {
        let j: Journal = vec![
            ("atm".into(), Some(3)),
            ("new_table".into(), None),
            ("atm".into(), Some(5)),
        ];
        let h = Holder::here("p\nT\tcustomers\t0");
        let lock = parse(&render(&h, &j)).expect("parse");
        assert_eq!(lock.who, Who::Holder(h));
        assert_eq!(lock.journal, j);
        let p = pins(&lock.journal);
        assert_eq!(p["atm"], Some(3));
        assert_eq!(p["new_table"], None);
    }

    #[test]
    fn the_old_format_is_still_read() {
        let lock = parse("77 etl1 monthly_cx\nT\tatm\t3\nT\tnew_table\t-\n").expect("parse");
        assert_eq!(
            lock.journal,
            vec![("atm".into(), Some(3)), ("new_table".into(), None)]
        );
        assert!(matches!(lock.who, Who::Old { pid: Some(77), ref host, .. } if host == "etl1"));
    }

    #[test]
    fn a_cut_last_line_is_dropped_and_a_bad_line_is_an_error() {
        let text = render(&Holder::here("p"), &vec![("atm".into(), Some(1))]);
        let cut = format!("{text}{{\"table\":\"custo");
        assert_eq!(parse(&cut).expect("cut").journal.len(), 1);
        // A cut holder line: nothing can be said about the holder.
        assert_eq!(parse("{\"pid\":1").expect("cut").who, Who::Unreadable);
        assert_eq!(parse("").expect("empty").who, Who::Unreadable);
        for bad in [
            "{\"table\":\"atm\"}\n",
            "{\"table\":\"atm\",\"version\":-1}\n",
            "{\"table\":\"../etc\",\"version\":1}\n",
            "T\tatm\t1\n",
        ] {
            let e = parse(&format!("{text}{bad}")).expect_err(bad);
            assert_eq!(e.line, 3, "{bad}");
        }
        // Old journal lines only in the old format, and complete.
        assert!(parse("1 h p\nT\tatm\n").is_err());
        assert!(parse("1 h p\n{\"table\":\"atm\",\"version\":1}\n").is_err());
    }

    #[test]
    fn liveness() {
        let fresh = Duration::ZERO;
        let alive = Who::Holder(Holder::here("p"));
        assert!(!is_stale(&alive, Os::Free, fresh));
        assert!(!is_stale(&alive, Os::Bucket, fresh));
        // The pid lives, but started at another time: reused.
        assert!(is_stale(&Who::Holder(dead_holder()), Os::Free, fresh));
        assert!(is_stale(&Who::Holder(dead_holder()), Os::Bucket, fresh));
        // Whatever the record says, a held OS lock is a live holder.
        assert!(!is_stale(&Who::Holder(dead_holder()), Os::Held, fresh));
        // Another pid namespace of this kernel: the OS lock decides, and a
        // bucket has none.
        let mut other_ns = dead_holder();
        other_ns.pid_ns = "pid:[1]".into();
        assert!(is_stale(&Who::Holder(other_ns.clone()), Os::Free, fresh));
        assert!(!is_stale(&Who::Holder(other_ns), Os::Bucket, fresh));
        // Another machine: never; this machine before a reboot: gone.
        let mut elsewhere = dead_holder();
        elsewhere.boot_id = "another-boot".into();
        elsewhere.host = "another-host".into();
        assert!(!is_stale(&Who::Holder(elsewhere.clone()), Os::Free, fresh));
        elsewhere.host = HERE.host.clone();
        assert!(is_stale(&Who::Holder(elsewhere), Os::Bucket, fresh));
        // A run that left its journal.
        let mut left = Holder::here("p");
        left.left = true;
        assert!(is_stale(&Who::Holder(left.clone()), Os::Free, fresh));
        assert!(!is_stale(&Who::Holder(left), Os::Held, fresh));
        // The old format: by pid and host.
        let old = |pid: u32, host: &str| Who::Old {
            pid: Some(pid),
            host: host.into(),
            line: String::new(),
        };
        assert!(is_stale(&old(4294967294, &HERE.host), Os::Free, fresh));
        assert!(!is_stale(
            &old(std::process::id(), &HERE.host),
            Os::Free,
            fresh
        ));
        assert!(!is_stale(&old(4294967294, "another-host"), Os::Free, fresh));
        // Unreadable: only once it is not being written any more.
        assert!(!is_stale(&Who::Unreadable, Os::Free, fresh));
        assert!(is_stale(&Who::Unreadable, Os::Free, UNREADABLE_GRACE));
        assert!(!is_stale(&Who::Unreadable, Os::Held, UNREADABLE_GRACE));
    }
}
