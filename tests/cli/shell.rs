//! `touchpoint sql` in a real terminal: tmux runs the shell in a pane, the
//! test types into it (`send-keys`) and reads the screen (`capture-pane`).
//! Tab completion, continuation prompts and the history file only exist with
//! a terminal, so the scripted-stdin test in `analytics.rs` cannot see them.

use crate::common::{bin, ok};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const SESSION: &str = "shell";
const WAIT: Duration = Duration::from_secs(30);
/// Printed by the pane's `sh` after the shell, with its exit status: tmux
/// itself does not always reap a pane's process, so its `pane_dead_status`
/// cannot be relied on.
const EXITED: &str = "[touchpoint sql exited: ";

/// A private tmux server (its own socket and config in a temp dir); killed
/// on drop, also when the test panics.
struct Tmux {
    socket: PathBuf,
    config: PathBuf,
}

impl Tmux {
    fn start(dir: &Path, home: &Path, command: &[&str]) -> Tmux {
        let tmux = Tmux {
            socket: home.join("tmux.sock"),
            config: home.join("tmux.conf"),
        };
        // The pane stays after the shell quits, so its last screen can
        // still be read.
        std::fs::write(&tmux.config, "set -g remain-on-exit on\n").expect("write tmux.conf");
        let dir = dir.to_str().expect("utf8 path");
        let mut args = vec![
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            "200",
            "-y",
            "50",
            "-c",
            dir,
        ];
        args.extend_from_slice(command);
        let out = tmux.run_raw(&args);
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S")
            .arg(&self.socket)
            .arg("-f")
            .arg(&self.config)
            .args(args)
            .env_remove("TMUX")
            .env("TERM", "xterm-256color");
        c
    }

    fn run_raw(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap_or_else(|e| {
            panic!(
                "cannot run tmux ({e}): this test drives `touchpoint sql` in a real \
                     terminal and needs tmux; install it (Debian/Ubuntu: apt-get install tmux)"
            )
        })
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.run_raw(args);
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}\nscreen:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.screen()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Type text as is (tmux would take an argument ending in `;` as its own
    /// command separator unless escaped).
    fn type_text(&self, text: &str) {
        let text = match text.strip_suffix(';') {
            Some(t) => format!("{t}\\;"),
            None => text.to_string(),
        };
        self.run(&["send-keys", "-t", SESSION, "-l", "--", &text]);
    }

    /// Press a named key (`Tab`, `Enter`).
    fn key(&self, key: &str) {
        self.run(&["send-keys", "-t", SESSION, key]);
    }

    /// The pane's text, scrollback included, wrapped lines joined.
    fn screen(&self) -> String {
        let out = self.run_raw(&["capture-pane", "-p", "-J", "-S", "-", "-t", SESSION]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait until the screen satisfies `ok`; panic with the screen after 30 s.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            if start.elapsed() > WAIT {
                panic!("no {what} after {WAIT:?}; the pane shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until the screen's last non-blank line (where the cursor is),
    /// trimmed, is `line`.
    fn wait_for_line(&self, what: &str, line: &str) -> String {
        self.wait_for(what, |s| last_line(s) == line)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Never panics: a panic while unwinding would abort the test run.
        let _ = self.command(&["kill-server"]).output();
    }
}

fn last_line(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
}

/// Cells of the result-table rows (`| a | b |`) on the screen.
fn table_rows(screen: &str) -> Vec<Vec<String>> {
    screen
        .lines()
        .filter_map(|l| l.trim().strip_prefix('|')?.strip_suffix('|'))
        .map(|l| l.split('|').map(|c| c.trim().to_string()).collect())
        .collect()
}

#[test]
fn sql_shell_in_a_terminal_completes_and_runs_a_multi_line_query() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("project");
    let home = tmp.path().join("home");
    for d in [dir.join("pipelines"), dir.join("data"), home.clone()] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    // Branch queue tickets; the totals are worked out here, not by touchpoint.
    let branches = ["KWT", "MKK", "TST", "CWB"];
    let mut csv = String::from("branch_code,ticket_no,wait_minutes\n");
    let (mut n, mut total) = (0u64, 0u64);
    for i in 0..300u64 {
        let wait = (i * 37 + 11) % 53;
        csv.push_str(&format!("{},T{i:04},{wait}\n", branches[(i % 4) as usize]));
        n += 1;
        total += wait;
    }
    std::fs::write(dir.join("data/visits.csv"), csv).expect("write");
    std::fs::write(
        dir.join("pipelines/queues.yaml"),
        r#"name: queues
timezone: Asia/Hong_Kong
currency: HKD
sources:
  visits:
    path: ../data/visits.csv
    csv: {}
    columns:
      branch_code: {type: string, required: true}
      ticket_no: {type: string, required: true}
      wait_minutes: {type: int, required: true, min: 0}
"#,
    )
    .expect("write");
    ok(
        &dir,
        &["run", "pipelines/queues.yaml", "--period", "2024-05"],
    );

    let home_s = format!("HOME={}", home.to_str().expect("utf8 path"));
    let tmux = Tmux::start(
        &dir,
        &home,
        &[
            "sh",
            "-c",
            &format!("\"$@\"; echo \"{EXITED}$?]\""),
            "sh",
            "env",
            "-u",
            "TOUCHPOINT_WAREHOUSE",
            "-u",
            "TOUCHPOINT_EXTRACTS",
            &home_s,
            "TERM=xterm-256color",
            bin(),
            "sql",
        ],
    );
    tmux.wait_for_line("`touchpoint>` prompt", "touchpoint>");

    // A command by Tab: `\ti` becomes `\timing`.
    tmux.type_text("\\ti");
    tmux.key("Tab");
    tmux.wait_for_line("completed `\\timing`", "touchpoint> \\timing");
    tmux.key("Enter");
    tmux.wait_for("`timing on`", |s| {
        s.contains("\ntiming on\n") && last_line(s) == "touchpoint>"
    });

    // A column by Tab, then a second line: the continuation prompt.
    tmux.type_text("SELECT COUNT(*) AS n, SUM(wait_m");
    tmux.key("Tab");
    tmux.wait_for_line(
        "completed column `wait_minutes`",
        "touchpoint> SELECT COUNT(*) AS n, SUM(wait_minutes",
    );
    tmux.type_text(") AS total");
    tmux.key("Enter");
    tmux.wait_for_line("continuation prompt", "...>");

    // A table by Tab; `;` ends the statement.
    tmux.type_text("FROM vis");
    tmux.key("Tab");
    tmux.wait_for_line("completed table `visits`", "...> FROM visits");
    tmux.type_text(";");
    tmux.key("Enter");
    let screen = tmux.wait_for("the result and a fresh prompt", |s| {
        s.contains("1 row(s)") && s.contains("time: ") && last_line(s) == "touchpoint>"
    });
    let want = vec![n.to_string(), total.to_string()];
    let rows = table_rows(&screen);
    assert!(
        rows.contains(&vec!["n".to_string(), "total".to_string()]) && rows.contains(&want),
        "want n = {n}, total = {total}; the pane shows:\n{screen}"
    );

    // `\q` quits and writes the history file into $HOME.
    tmux.type_text("\\q");
    tmux.key("Enter");
    let screen = tmux.wait_for("exit on \\q", |s| s.contains(EXITED));
    assert!(
        screen.contains(&format!("{EXITED}0]")),
        "exit status not 0; the pane shows:\n{screen}"
    );
    let history = std::fs::read_to_string(home.join(".touchpoint_history"))
        .unwrap_or_else(|e| panic!("no ~/.touchpoint_history after \\q: {e}"));
    // One entry per line typed; the file escapes backslashes (`\\timing`).
    for line in [
        "timing",
        "SELECT COUNT(*) AS n, SUM(wait_minutes) AS total",
        "FROM visits;",
        "q",
    ] {
        assert!(
            history.lines().any(|l| l.trim_start_matches('\\') == line),
            "`{line}` not in the history:\n{history}"
        );
    }
}
