//! A real PostgreSQL for the tests: `initdb` into a temporary folder and
//! `pg_ctl` on a free loopback port (127.0.0.1 only), password logins
//! (SCRAM), stopped when dropped. The binaries come from the Debian
//! packages (`/usr/lib/postgresql/<version>/bin`); `.ci/run` installs them.
//! Without them the tests FAIL: they never skip silently.

use crate::common::on_fresh_ports;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The test cluster's login (a throwaway password, not a secret).
pub const USER: &str = "tp";
pub const PASSWORD: &str = "tp-test-pw-7f3a";

pub struct PgServer {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    _dir: tempfile::TempDir,
    /// As root, the server runs as this user (PostgreSQL refuses root).
    run_as: Option<String>,
}

/// The newest installed PostgreSQL's binaries.
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, b)) => b,
        None => panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): \
             run `bash .ci/run`, or `apt-get install postgresql`"
        ),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PgServer {
    pub fn start() -> PgServer {
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("tmp");
        let run_as = is_root().then(|| "postgres".to_string());
        let data = dir.path().join("data");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, PASSWORD).expect("pw");
        if let Some(u) = &run_as {
            let st = Command::new("chown")
                .args(["-R", u])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(st.success(), "chown the test cluster's folder to {u}");
        }
        let mut s = PgServer {
            port: 0,
            bin,
            data,
            _dir: dir,
            run_as,
        };
        let out = s.tool(
            "initdb",
            &[
                "-D",
                s.data.to_str().expect("utf-8"),
                "-U",
                USER,
                "--auth=scram-sha-256",
                "--pwfile",
                pw.to_str().expect("utf-8"),
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        on_fresh_ports(1, "PostgreSQL (pg_ctl start)", |_, p| {
            s.port = p[0];
            s.try_start()
        });
        s
    }

    /// Start (again) on the same port.
    pub fn start_again(&self) {
        if let Err(e) = self.try_start() {
            panic!("{e}");
        }
    }

    fn try_start(&self) -> Result<(), String> {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c full_page_writes=off",
            self.port,
            self._dir.path().display()
        );
        let log = self._dir.path().join("log");
        let out = self.tool(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().expect("utf-8"),
                "-o",
                &opts,
                "-l",
                log.to_str().expect("utf-8"),
                "-w",
                "start",
            ],
        );
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "pg_ctl start on port {}: {}\n{}",
            self.port,
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        ))
    }

    /// Stop at once, as a crash would (`-m immediate`).
    pub fn kill(&self) {
        let _ = self.tool(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().expect("utf-8"),
                "-m",
                "immediate",
                "stop",
            ],
        );
    }

    fn tool(&self, name: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(name);
        let mut c = match &self.run_as {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        c.args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Wait (at most 2 minutes) until a statement `LIKE pattern` is
    /// running.
    pub fn wait_for_statement(&self, pattern: &str) {
        let t = std::time::Instant::now();
        let sql = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '{pattern}'"
        );
        while self
            .psql("postgres", &sql)
            .trim()
            .parse::<u32>()
            .unwrap_or(0)
            == 0
        {
            assert!(
                t.elapsed().as_secs() < 120,
                "no statement like {pattern} started"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("log")).unwrap_or_default()
    }

    /// Run SQL (or psql commands) through `psql`; panics on any error.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-h",
                "127.0.0.1",
            ])
            .args(["-p", &self.port.to_string(), "-U", USER, "-d", db])
            .env("PGPASSWORD", PASSWORD)
            .arg("-c")
            .arg(sql)
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql: {}\n{sql}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The variables of profile `crm` for database `db`.
    pub fn profile(&self, db: &str) -> Vec<(&'static str, String)> {
        vec![
            ("TOUCHPOINT_PROFILE_CRM_HOST", "127.0.0.1".to_string()),
            ("TOUCHPOINT_PROFILE_CRM_PORT", self.port.to_string()),
            ("TOUCHPOINT_PROFILE_CRM_USER", USER.to_string()),
            ("TOUCHPOINT_PROFILE_CRM_PASSWORD", PASSWORD.to_string()),
            ("TOUCHPOINT_PROFILE_CRM_DBNAME", db.to_string()),
            ("TOUCHPOINT_PROFILE_CRM_SSLMODE", "disable".to_string()),
        ]
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.kill();
    }
}
