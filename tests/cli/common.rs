//! Helpers: a temporary project with the shipped pipeline, and running the binary.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_touchpoint")
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

/// The last daily ATM file of `month` (`YYYY/MM`) moved aside, to arrive
/// late: (where it belongs, where it is held).
pub fn hold_back_last_atm_day(dir: &Path, month: &str) -> (PathBuf, PathBuf) {
    let last = std::fs::read_dir(dir.join("data/atm").join(month))
        .expect("atm")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .max()
        .expect("a day");
    let held = dir.join("held.csv");
    std::fs::rename(&last, &held).expect("hold back");
    (last, held)
}

/// A temp project holding copies of `pipelines/`, `queries/` and `reports/`.
pub fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for d in ["pipelines", "queries", "reports"] {
        copy_dir(&src.join(d), &dir.path().join(d));
    }
    dir
}

/// Extra environment for a run (warehouse and extracts locations, store
/// credentials); the caller's own settings of these are never inherited.
pub type Env<'a> = &'a [(&'a str, String)];

pub fn touchpoint(dir: &Path, args: &[&str]) -> Output {
    touchpoint_env(dir, args, &[])
}

/// The key of `personal: hash` digests in tests (readers need one).
pub const HASH_KEY: &str = "test-key-not-a-secret-0123456789";

pub fn touchpoint_env(dir: &Path, args: &[&str], env: Env) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("TOUCHPOINT_WAREHOUSE")
        .env_remove("TOUCHPOINT_EXTRACTS")
        .env_remove("TOUCHPOINT_HASH_KEY_FILE")
        .env_remove("TOUCHPOINT_MODEL_PARALLELISM")
        .env("TOUCHPOINT_HASH_KEY", HASH_KEY)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run touchpoint")
}

/// `touchpoint generate` into `dir/data`, from 2024-01, with `extra` flags.
pub fn generate(dir: &Path, customers: u32, months: u32, seed: u64, extra: &[&str]) {
    let (c, m, s) = (customers.to_string(), months.to_string(), seed.to_string());
    let mut args = vec![
        "generate",
        "--customers",
        &c,
        "--months",
        &m,
        "--start",
        "2024-01",
        "--seed",
        &s,
        "--out",
        "data",
    ];
    args.extend_from_slice(extra);
    ok(dir, &args);
}

/// Start `touchpoint` in the background (output piped), for a test that
/// acts while it runs.
pub fn spawn_env(dir: &Path, args: &[&str], env: Env) -> std::process::Child {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("TOUCHPOINT_WAREHOUSE")
        .env_remove("TOUCHPOINT_EXTRACTS")
        .env_remove("TOUCHPOINT_HASH_KEY_FILE")
        .env_remove("TOUCHPOINT_MODEL_PARALLELISM")
        .env("TOUCHPOINT_HASH_KEY", HASH_KEY)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn touchpoint")
}

/// Run and require success; returns stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    ok_env(dir, args, &[])
}

pub fn ok_env(dir: &Path, args: &[&str], env: Env) -> String {
    let out = touchpoint_env(dir, args, env);
    assert!(
        out.status.success(),
        "touchpoint {args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// A successful command's output with its progress lines (stdout, then
/// stderr).
pub fn ok_all(dir: &Path, args: &[&str]) -> String {
    ok_all_env(dir, args, &[])
}

/// [`ok_all`] with extra environment.
pub fn ok_all_env(dir: &Path, args: &[&str], env: Env) -> String {
    let out = touchpoint_env(dir, args, env);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "touchpoint {args:?} failed: {text}");
    text
}

/// A query's result as JSON rows.
pub fn query(dir: &Path, sql: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    query_env(dir, sql, &[])
}

pub fn query_env(
    dir: &Path,
    sql: &str,
    env: Env,
) -> Vec<serde_json::Map<String, serde_json::Value>> {
    json_rows(&ok_env(dir, &["query", "--format", "json", sql], env))
}

/// `query --format json` output as rows (none for an empty result).
pub fn json_rows(text: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let v: serde_json::Value =
        serde_json::from_str(text.trim()).unwrap_or(serde_json::Value::Array(vec![]));
    v.as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| r.as_object().cloned())
        .collect()
}

pub fn f(row: &serde_json::Map<String, serde_json::Value>, key: &str) -> f64 {
    match row.get(key) {
        Some(serde_json::Value::Number(n)) => n.as_f64().expect("number"),
        Some(serde_json::Value::String(s)) => s
            .parse()
            .unwrap_or_else(|_| panic!("{key}: `{s}` is not a number")),
        other => panic!("{key}: {other:?} in {row:?}"),
    }
}

pub fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-6 * want.abs().max(1.0),
        "{what}: got {got}, want {want}"
    );
}

/// Every table's rows as sorted CSV lines (run logs and run ids left out); quarantine
/// file names lose `extracts` so copies of the same extracts compare equal.
pub fn snapshot(dir: &Path, env: Env, extracts: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for row in query_env(
        dir,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
        env,
    ) {
        let t = row["table_name"].as_str().expect("name").to_string();
        let sql = match t.as_str() {
            // Logs of each run: they grow by design.
            "_runs" | "_checks" | "_model_metrics" | "_model_params" | "_versions" => continue,
            // Run ids, load times and modification times differ between
            // equal loads; what was loaded does not.
            "_loaded_files" => format!(
                "SELECT replace(file, '{extracts}', '') AS file, size, checksum, rows_read, rows_loaded, rows_quarantined, source, period FROM _loaded_files"
            ),
            "_quarantine" => format!(
                "SELECT replace(file, '{extracts}', '') AS file, line, column_name, value, reason, record, source, period FROM _quarantine"
            ),
            _ => format!("SELECT * FROM \"{t}\""),
        };
        let csv = ok_env(dir, &["query", "--format", "csv", &sql], env);
        let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
        lines.sort();
        out.insert(t, lines);
    }
    out
}

/// The first step of a `--json` run summary that wrote `table`.
pub fn step(summary: &serde_json::Value, table: &str) -> serde_json::Value {
    summary["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["table"] == table)
        .cloned()
        .unwrap_or_else(|| panic!("no step for `{table}`"))
}

/// Commits of a warehouse table (its Delta log entries).
pub fn commits(dir: &Path, table: &str) -> usize {
    std::fs::read_dir(dir.join("warehouse").join(table).join("_delta_log"))
        .expect("log")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))
        })
        .count()
}

/// `n` distinct free loopback ports. Each listener is held until all are
/// chosen, so the kernel cannot hand the same port out twice; another
/// process may still take one before the caller binds it (callers that
/// start a server retry on fresh ports).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("free port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("port").port())
        .collect()
}

/// Start a server on `n` fresh loopback ports, up to three attempts: a port
/// found free can be taken by another test's process before the server
/// binds it, and the server then exits. `start` gets the attempt number (for
/// its log's name) and the ports; its error says what went wrong, and all
/// three are in the panic.
pub fn on_fresh_ports<T>(
    n: usize,
    what: &str,
    mut start: impl FnMut(u32, &[u16]) -> Result<T, String>,
) -> T {
    let mut failures = String::new();
    for attempt in 1..=3 {
        match start(attempt, &free_ports(n)) {
            Ok(server) => return server,
            Err(e) => failures.push_str(&format!("--- attempt {attempt} ---\n{e}\n")),
        }
    }
    panic!("{what} did not start in 3 attempts:\n{failures}")
}

/// Wait (60 s at most) until `child` listens on loopback `port`. An error,
/// with `log()`, when it exits first or never listens (then it is killed).
pub fn listening(child: &mut Child, port: u16, log: impl Fn() -> String) -> Result<(), String> {
    let until = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "exited ({status}) before listening on {port}:\n{}",
                log()
            ));
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("did not listen on {port} in 60 s:\n{}", log()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
