//! `touchpoint serve` against real clients: psql (Debian's
//! postgresql-client) and, in `serve_clients.py`, psycopg 3 and
//! SQLAlchemy. Governance through the wire: masks, grants, a regional row
//! filter, read-only, passwords, TLS, limits, and an audit line for every
//! statement.

use crate::common::{generate, ok, project};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const PASSWORDS: [(&str, &str); 3] = [
    ("TOUCHPOINT_PASSWORD_ANA", "ana-secret-1"),
    ("TOUCHPOINT_PASSWORD_KIM", "kim-secret-2"),
    ("TOUCHPOINT_PASSWORD_CARA", "cara-secret-3"),
];

pub struct Serving {
    child: Child,
    pub port: u16,
    /// Flight SQL's port, when started with `--flight`.
    pub flight: Option<u16>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `touchpoint serve` on a free port; returns once it listens.
pub fn serve(dir: &Path, extra: &[&str]) -> Serving {
    serve_env(dir, extra, &[])
}

/// [`serve`] with `env` (an engine, a bucket's credentials).
pub fn serve_env(dir: &Path, extra: &[&str], env: crate::common::Env) -> Serving {
    let mut child = Command::new(crate::common::bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--audit-log",
            "audit.jsonl",
        ])
        .args(extra)
        .current_dir(dir)
        .env_remove("TOUCHPOINT_WAREHOUSE")
        .env("TOUCHPOINT_HASH_KEY", crate::common::HASH_KEY)
        .envs(PASSWORDS.iter().map(|(k, v)| (*k, *v)))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).expect("read");
    let flight = extra.contains(&"--flight").then(|| {
        let mut l = String::new();
        reader.read_line(&mut l).expect("read");
        l.split("Flight SQL on 127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no Flight SQL port in {l:?}"))
    });
    let port = line
        .split("listening on 127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    Serving {
        child,
        port,
        flight,
    }
}

/// psql, as the README shows it, with `-v ON_ERROR_STOP=1`.
pub fn psql(port: u16, user: &str, password: &str, ssl: &str, args: &[&str]) -> Output {
    Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={port} user={user} dbname=touchpoint sslmode={ssl} connect_timeout=10"
        ))
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .env("PGPASSWORD", password)
        .output()
        .expect("psql is installed (postgresql-client); .ci/run installs it")
}

pub(crate) fn sql(port: u16, user: &str, q: &str) -> Result<String, String> {
    let password = PASSWORDS
        .iter()
        .find(|(k, _)| k.ends_with(&user.to_uppercase()))
        .map(|(_, v)| *v)
        .unwrap_or("nope");
    let out = psql(port, user, password, "disable", &["-c", q]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// A demo warehouse of two months.
pub fn demo() -> tempfile::TempDir {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 300, 2, 11, &[]);
    for p in ["2024-01", "2024-02"] {
        ok(dir, &["run", "--period", p]);
    }
    tmp
}

/// The customers CSV of the generator, by column name (the independent
/// source of the expected values).
pub fn customers_csv(dir: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut files: Vec<PathBuf> = glob_files(&dir.join("data/crm"), "customers");
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let mut r = csv::Reader::from_path(&f).expect("csv");
        let headers = r.headers().expect("headers").clone();
        for rec in r.records() {
            let rec = rec.expect("record");
            out.push(
                headers
                    .iter()
                    .zip(rec.iter())
                    .map(|(h, v)| (h.to_string(), v.to_string()))
                    .collect(),
            );
        }
    }
    out
}

/// The extract's customers by id.
type Customer = std::collections::HashMap<String, String>;

pub fn customers_by_id(dir: &Path) -> std::collections::BTreeMap<String, Customer> {
    customers_csv(dir)
        .into_iter()
        .map(|c| (c["customer_id"].clone(), c))
        .collect()
}

/// The customers table's columns, as every client must list them.
const CUSTOMER_COLUMNS: [&str; 9] = [
    "customer_id",
    "full_name",
    "phone",
    "birth_year",
    "region",
    "home_branch",
    "opened_date",
    "closed_date",
    "referred_by",
];

fn glob_files(dir: &Path, stem: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with(stem) && n.ends_with(".csv")
            }) {
                out.push(p);
            }
        }
    }
    out
}

fn audit(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
        .collect()
}

#[test]
fn psql_reads_through_masks_grants_and_row_filters() {
    let tmp = demo();
    let dir = tmp.path();
    let s = serve(dir, &[]);
    let latest = customers_by_id(dir);
    assert!(latest.len() >= 250, "the generator wrote customers");

    // The catalog as psql reads it.
    let dt = sql(s.port, "ana", "\\dt").expect("\\dt");
    for t in ["customers", "churn_risk", "interactions"] {
        assert!(dt.contains(t), "\\dt lists {t}:\n{dt}");
    }
    let d = sql(s.port, "ana", "\\d customers").expect("\\d customers");
    assert!(d.contains("full_name") && d.contains("region"), "{d}");

    // Counts agree with the extract (distinct customers).
    let n: usize = sql(
        s.port,
        "ana",
        "SELECT COUNT(DISTINCT customer_id) FROM customers",
    )
    .expect("count")
    .trim()
    .parse()
    .expect("number");
    assert_eq!(n, latest.len());

    // Masked for an analyst: no name or phone of the extract comes back.
    let masked = sql(s.port, "ana", "SELECT full_name, phone FROM customers").expect("select");
    let names: Vec<&str> = latest.values().map(|c| c["full_name"].as_str()).collect();
    let phones: Vec<&str> = latest.values().map(|c| c["phone"].as_str()).collect();
    for v in names.iter().chain(phones.iter()).filter(|v| v.len() > 3) {
        assert!(!masked.contains(*v), "analyst saw {v}");
    }
    assert!(masked.lines().all(|l| l.contains("***")), "{masked}");
    // The same shapes as the shell's analyst test.
    for q in [
        "SELECT * FROM customers",
        "SELECT upper(full_name), substr(phone, 1, 20) FROM customers",
        "WITH x AS (SELECT full_name AS n FROM customers) SELECT n FROM x",
        "SELECT string_agg(phone, ';') FROM customers",
        "SELECT * FROM table_at('customers', 0)",
        "SELECT * FROM _quarantine",
    ] {
        let text = sql(s.port, "ana", q).unwrap_or_else(|e| e);
        for v in names.iter().chain(phones.iter()).filter(|v| v.len() > 3) {
            assert!(!text.contains(*v), "{q} revealed {v}");
        }
    }

    // Granted: customer care reads names in clear, exactly the extract's.
    let clear = sql(
        s.port,
        "cara",
        "SELECT customer_id, full_name FROM customers ORDER BY customer_id",
    )
    .expect("granted select");
    let mut seen = 0;
    for l in clear.lines() {
        let (id, name) = l.split_once('|').expect("two columns");
        assert_eq!(latest[id]["full_name"], name, "customer {id}");
        seen += 1;
    }
    assert!(seen >= latest.len());

    // Row filter: Kowloon's manager sees Kowloon only, in rows and sums.
    let kowloon = latest.values().filter(|c| c["region"] == "Kowloon").count();
    assert!(kowloon > 0 && kowloon < latest.len());
    let regions = sql(s.port, "kim", "SELECT DISTINCT region FROM customers").expect("regions");
    assert_eq!(regions.trim(), "Kowloon");
    let kn: usize = sql(
        s.port,
        "kim",
        "SELECT COUNT(DISTINCT customer_id) FROM customers",
    )
    .expect("count")
    .trim()
    .parse()
    .expect("number");
    assert_eq!(kn, kowloon);
    // The shell applies the role's filter too.
    let shell = crate::common::ok_env(
        dir,
        &[
            "query",
            "--format",
            "csv",
            "SELECT COUNT(DISTINCT customer_id) AS n FROM customers",
        ],
        &[("TOUCHPOINT_READER", "kowloon_manager".into())],
    );
    assert_eq!(shell.lines().nth(1), Some(kowloon.to_string().as_str()));
    // Keyed lookups: the first starts a copy of the table as the role reads
    // it, and later ones are answered from it — with the same rows, masks
    // and row scope as the first, planned in DataFusion.
    let region_of = |r: &str| {
        latest
            .iter()
            .find(|(_, c)| (c["region"] == "Kowloon") == (r == "Kowloon"))
            .map(|(id, _)| id.clone())
            .expect("a customer")
    };
    let (mine, other) = (region_of("Kowloon"), region_of("elsewhere"));
    for (user, id) in [
        ("ana", &mine),
        ("kim", &mine),
        ("kim", &other),
        ("cara", &other),
    ] {
        let q = format!("SELECT * FROM customers WHERE customer_id = '{id}'");
        let sorted = |t: String| {
            let mut l: Vec<String> = t.lines().map(String::from).collect();
            l.sort();
            l
        };
        let first = sorted(sql(s.port, user, &q).expect("lookup"));
        for _ in 0..20 {
            std::thread::sleep(std::time::Duration::from_millis(100));
            assert_eq!(
                sorted(sql(s.port, user, &q).expect("lookup")),
                first,
                "{user} {q}"
            );
        }
        let text = first.join("\n");
        match (user, id == &other) {
            ("kim", true) => assert!(first.is_empty(), "kim saw another region: {text}"),
            ("cara", _) => assert!(text.contains(&latest[id]["full_name"]), "{text}"),
            _ => {
                assert!(
                    !first.is_empty() && !text.contains(&latest[id]["full_name"]),
                    "{text}"
                );
                assert!(!text.contains(&latest[id]["phone"]), "{text}");
            }
        }
    }
    // A table the filter cannot scope is not there for the role.
    let hidden = sql(s.port, "kim", "SELECT COUNT(*) FROM churn_risk").expect_err("hidden");
    assert!(hidden.contains("churn_risk"), "{hidden}");
    assert!(
        !sql(s.port, "kim", "\\dt")
            .expect("dt")
            .contains("churn_risk")
    );

    // COPY … TO STDOUT, CSV with a header.
    let copy = sql(
        s.port,
        "ana",
        "COPY (SELECT DISTINCT customer_id FROM customers ORDER BY 1) TO STDOUT WITH (FORMAT csv, HEADER)",
    )
    .expect("copy");
    let lines: Vec<&str> = copy.lines().collect();
    assert_eq!(lines[0], "customer_id");
    assert_eq!(lines.len() - 1, latest.len());

    // Read-only, and only the settings the server allows.
    for q in [
        "DELETE FROM customers",
        "CREATE TABLE x AS SELECT 1",
        "INSERT INTO customers (customer_id) VALUES ('x')",
        "SET datafusion.execution.target_partitions = 1",
        "COPY customers TO '/tmp/touchpoint-escape.csv'",
        "COPY customers FROM STDIN",
    ] {
        let e = sql(s.port, "ana", q).expect_err(q);
        assert!(e.contains("ERROR"), "{q}: {e}");
    }
    assert!(!Path::new("/tmp/touchpoint-escape.csv").exists());
    sql(
        s.port,
        "ana",
        "SET statement_timeout = '5s'; SET application_name = 'bi'",
    )
    .expect("allowed settings");

    // Passwords: wrong, unknown user.
    let bad = psql(s.port, "ana", "wrong", "disable", &["-c", "SELECT 1"]);
    assert!(!bad.status.success());
    let unknown = psql(s.port, "mallory", "x", "disable", &["-c", "SELECT 1"]);
    assert!(!unknown.status.success());
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr).replace("ana", "U"),
        String::from_utf8_lossy(&unknown.stderr).replace("mallory", "U"),
        "an unknown user is refused like a wrong password"
    );

    // Every statement and refused login has an audit line; no value.
    let lines = audit(dir);
    let refused = lines.iter().filter(|l| l["outcome"] == "refused").count();
    assert!(refused >= 6, "refused statements audited: {lines:#?}");
    let logins = lines
        .iter()
        .filter(|l| l["outcome"] == "login_failed")
        .count();
    assert!(logins >= 2, "refused logins audited");
    assert!(lines.iter().any(|l| {
        l["user"] == "kim"
            && l["statement"]
                .as_str()
                .is_some_and(|s| s.contains("churn_risk"))
    }));
    assert!(lines.iter().all(
        |l| !l["statement"].as_str().unwrap_or("").contains("Kowloon")
            || l["statement"].as_str().unwrap_or("").contains("'…'")
    ));
    let text = std::fs::read_to_string(dir.join("audit.jsonl")).expect("audit");
    for v in names.iter().chain(phones.iter()).filter(|v| v.len() > 3) {
        assert!(!text.contains(*v), "the audit log holds {v}");
    }
}

#[test]
fn limits_and_hostile_clients_get_errors_not_crashes() {
    let tmp = demo();
    let dir = tmp.path();
    let s = serve(
        dir,
        &[
            "--max-rows",
            "50",
            "--max-connections",
            "8",
            "--statement-timeout",
            "2",
        ],
    );
    let big = sql(s.port, "ana", "SELECT * FROM interactions").expect_err("capped");
    assert!(big.contains("larger than this server allows"), "{big}");
    let slow = sql(
        s.port,
        "ana",
        "SELECT COUNT(*) FROM generate_series(1, 100000000000) WHERE value % 7 = 3",
    )
    .expect_err("timed out");
    assert!(slow.contains("timeout"), "{slow}");
    // A 10 MB statement.
    let huge = format!("SELECT '{}'", "x".repeat(10 << 20));
    let path = dir.join("huge.sql");
    std::fs::write(&path, huge).expect("write");
    let out = psql(
        s.port,
        "ana",
        "ana-secret-1",
        "disable",
        &["-f", path.to_str().expect("path")],
    );
    assert!(!out.status.success());
    // A thousand connections at once: the cap's worth wait for their
    // startup, the others are told `too many clients`, and nothing breaks.
    let many: Vec<std::net::TcpStream> = (0..1000)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", s.port)).ok())
        .collect();
    assert!(many.len() >= 100, "{} connections", many.len());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let full = psql(
        s.port,
        "ana",
        "ana-secret-1",
        "disable",
        &["-c", "SELECT 1"],
    );
    assert!(
        String::from_utf8_lossy(&full.stderr).contains("too many clients"),
        "{}",
        String::from_utf8_lossy(&full.stderr)
    );
    drop(many);
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Garbage on the wire.
    {
        use std::io::Write;
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
        let _ = c.write_all(&[0, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
        let _ = c.write_all(&[0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0]);
    }
    // A Bind whose parameter claims 2 GB, sent before authenticating: it
    // panics pgwire 0.41's decoder (found by fuzz/pg_messages). More such
    // connections than the cap of 8: each must give its slot back.
    for _ in 0..12 {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
        let mut body = Vec::new();
        for kv in ["user", "ana", "database", "touchpoint"] {
            body.extend_from_slice(kv.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut startup = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        startup.extend_from_slice(&196_608u32.to_be_bytes());
        startup.extend_from_slice(&body);
        let _ = c.write_all(&startup);
        let mut bind = vec![b'B', 0, 0, 0, 18, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff];
        bind.extend_from_slice(b"abcd");
        let _ = c.write_all(&bind);
        c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        // The server answers the startup, then closes the connection.
        let mut sink = Vec::new();
        let _ = c.read_to_end(&mut sink);
    }
    // Still serving.
    let n = sql(s.port, "ana", "SELECT 1 + 1").expect("alive");
    assert_eq!(n.trim(), "2");
    let lines = audit(dir);
    assert!(
        lines.iter().any(|l| l["outcome"] == "timed_out"),
        "{lines:#?}"
    );
}

#[test]
fn tls_can_be_required() {
    let tmp = demo();
    let dir = tmp.path();
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ])
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    assert!(made.status.success());
    let s = serve(
        dir,
        &[
            "--tls-cert",
            "cert.pem",
            "--tls-key",
            "key.pem",
            "--require-tls",
        ],
    );
    let plain = psql(
        s.port,
        "ana",
        "ana-secret-1",
        "disable",
        &["-c", "SELECT 1"],
    );
    assert!(!plain.status.success(), "plain text refused");
    assert!(String::from_utf8_lossy(&plain.stderr).contains("TLS"));
    let tls = psql(
        s.port,
        "ana",
        "ana-secret-1",
        "require",
        &["-c", "SELECT 2"],
    );
    assert!(
        tls.status.success(),
        "{}",
        String::from_utf8_lossy(&tls.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&tls.stdout).trim(), "2");
    // Beyond loopback without being asked: refused before listening.
    let out = Command::new(crate::common::bin())
        .args(["serve", "--listen", "0.0.0.0:0"])
        .current_dir(dir)
        .envs(PASSWORDS.iter().map(|(k, v)| (*k, *v)))
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}

/// The Python clients' folder `.ci/run` installs psycopg and SQLAlchemy into.
fn python_tools() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    PathBuf::from(home).join(".cache/touchpoint-tools/py")
}

#[test]
fn psycopg_and_sqlalchemy_read_through_the_server() {
    let tmp = demo();
    let dir = tmp.path();
    let s = serve(dir, &[]);
    let by_id = customers_by_id(dir);
    let count = |region: &str| by_id.values().filter(|c| c["region"] == region).count();
    let (id, one) = by_id
        .iter()
        .nth(7)
        .map(|(k, v)| (k.as_str(), v))
        .expect("a customer");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/serve_clients.py");
    let out = Command::new("python3")
        .arg(&script)
        .args([&s.port.to_string(), "ana", "ana-secret-1", id])
        .env("PYTHONPATH", python_tools())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "psycopg / SQLAlchemy (installed by .ci/run into {}):\n{}",
        python_tools().display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(got["kowloon"], count("Kowloon"));
    let prepared: Vec<u64> = serde_json::from_value(got["prepared"].clone()).expect("counts");
    assert_eq!(
        prepared,
        vec![
            count("Kowloon") as u64,
            count("New Territories") as u64,
            count("Hong Kong Island") as u64
        ]
    );
    for n in got["names"].as_array().expect("names") {
        let n = n.as_str().expect("text");
        assert!(n.ends_with("***") && n.chars().count() == 4, "masked: {n}");
    }
    assert!(
        got["version"]
            .as_str()
            .expect("version")
            .starts_with("PostgreSQL 15")
    );
    assert_eq!(
        got["binary"],
        serde_json::json!([[id, one["birth_year"], one["opened_date"]]]),
        "binary results decode to the extract's values"
    );
    assert_eq!(got["delete"], "25006", "refused as read-only");
    assert_eq!(
        got["cancel"], "57014",
        "a cancel request stops the statement"
    );
    assert!(got["cancel_seconds"].as_f64().expect("seconds") < 10.0);
    assert_eq!(got["after_cancel"], 42);
    assert!(
        got["many_params"] == 49_995_000 || got["many_params"].is_string(),
        "{}",
        got["many_params"]
    );
    let tables: Vec<String> = serde_json::from_value(got["tables"].clone()).expect("tables");
    for t in ["customers", "churn_risk", "customer_month"] {
        assert!(
            tables.iter().any(|x| x == t),
            "SQLAlchemy lists {t}: {tables:?}"
        );
    }
    let cols: Vec<String> = serde_json::from_value(got["columns"].clone()).expect("columns");
    assert_eq!(cols, CUSTOMER_COLUMNS);
    // ADBC PostgreSQL: binary COPY decodes to the extract's rows, masked.
    assert_eq!(got["adbc_ids"], by_id.len(), "every customer arrives");
    assert_eq!(
        got["adbc_rows"],
        self::count(s.port, "SELECT COUNT(*) FROM customers"),
        "every row arrives"
    );
    assert_eq!(got["adbc_kowloon"], count("Kowloon"));
    // customer_month into pandas through binary COPY equals psycopg's
    // text-format reading of it, value for value.
    let rows = got["pandas_rows"].as_array().expect("rows");
    assert!(rows[0].as_u64().is_some_and(|n| n > 0), "{rows:?}");
    assert_eq!(rows[0], rows[1]);
    assert!(got["pandas_columns"].as_u64().is_some_and(|n| n >= 20));
    assert_eq!(got["pandas_mismatches"], serde_json::json!([]));
    for n in got["adbc_names"].as_array().expect("names") {
        let n = n.as_str().expect("text");
        assert!(n.ends_with("***") && n.chars().count() == 4, "masked: {n}");
    }
    assert_eq!(
        got["adbc_one"],
        serde_json::json!([id, one["birth_year"].to_string(), one["opened_date"]]),
        "{}",
        got["adbc_types"]
    );
}

fn count(port: u16, q: &str) -> u64 {
    sql(port, "ana", q)
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .trim()
        .parse()
        .expect("a number")
}

fn latest_version(dir: &Path, table: &str) -> usize {
    std::fs::read_dir(dir.join("warehouse").join(table).join("_delta_log"))
        .expect("delta log")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .count()
        - 1
}

#[test]
fn every_statement_reads_one_finished_run() {
    let tmp = project();
    let dir = tmp.path();
    generate(dir, 200, 3, 5, &[]);
    let atm = |dir: &Path| -> u64 {
        let out = ok(
            dir,
            &["query", "--format", "csv", "SELECT COUNT(*) AS n FROM atm"],
        );
        out.lines().nth(1).expect("row").trim().parse().expect("n")
    };
    ok(dir, &["run", "--period", "2024-01"]);
    let jan = atm(dir);
    ok(dir, &["run", "--period", "2024-02"]);
    let feb = atm(dir);
    assert!(feb > jan);
    let s = serve(dir, &[]);
    assert_eq!(count(s.port, "SELECT COUNT(*) FROM atm"), feb);
    // Answers are kept per run (the same text below must see each new
    // run), never for a volatile query.
    let r1 = sql(s.port, "ana", "SELECT random()").expect("random");
    let r2 = sql(s.port, "ana", "SELECT random()").expect("random");
    assert_ne!(r1, r2, "a volatile query is never answered from the cache");
    let t1 = sql(s.port, "ana", "SELECT CAST(now() AS VARCHAR)").expect("now");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let t2 = sql(s.port, "ana", "SELECT CAST(now() AS VARCHAR)").expect("now");
    assert_ne!(
        t1, t2,
        "now() is the statement's time, never a kept answer's"
    );

    // A run of March stopped after some of its commits: statements still
    // read February's run, although atm's new version is on disk.
    let mut run = Command::new(crate::common::bin())
        .args(["run", "--period", "2024-03"])
        .current_dir(dir)
        .env("TOUCHPOINT_FAULT_PAUSE_AFTER_COMMIT", "8")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn run");
    let err = run.stderr.take().expect("stderr");
    let paused = BufReader::new(err)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.starts_with("fault: paused"));
    assert!(paused, "the run paused");
    let on_disk = count(
        s.port,
        &format!(
            "SELECT COUNT(*) FROM table_at('atm', {})",
            latest_version(dir, "atm")
        ),
    );
    assert!(on_disk > feb, "March's atm rows are committed ({on_disk})");
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_eq!(
        count(s.port, "SELECT COUNT(*) FROM atm"),
        feb,
        "half a run is never read"
    );
    // A session built while the run is stopped half way (cara's first).
    let cara = sql(s.port, "cara", "SELECT COUNT(*) FROM atm").expect("cara");
    assert_eq!(
        cara.trim(),
        feb.to_string(),
        "a new session reads the finished run"
    );
    let _ = run.kill();
    let _ = run.wait();

    // The run is done again and finishes: new statements see it.
    ok(dir, &["run", "--period", "2024-03"]);
    let mar = atm(dir);
    assert!(mar > feb);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_eq!(count(s.port, "SELECT COUNT(*) FROM atm"), mar);

    // Time travel per connection: every table as January's run left it.
    let first = sql(s.port, "ana", "SELECT MIN(run_id) FROM _versions").expect("runs");
    let both = sql(
        s.port,
        "ana",
        &format!(
            "SET touchpoint.as_of = '{}'; SELECT COUNT(*) FROM atm; SHOW touchpoint.as_of",
            first.trim()
        ),
    )
    .expect("as of");
    let lines: Vec<&str> = both
        .lines()
        .filter(|l| !l.is_empty() && *l != "SET")
        .collect();
    assert_eq!(lines, [jan.to_string().as_str(), first.trim()], "{both}");
    let bad = sql(s.port, "ana", "SET touchpoint.as_of = 'no-such-run'").expect_err("unknown");
    assert!(bad.contains("no-such-run") || bad.contains("run"), "{bad}");

    // A client that goes away mid-result: audited, and the server goes on.
    let mut psql_child = Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={} user=ana dbname=touchpoint sslmode=disable",
            s.port
        ))
        .args([
            "-X",
            "-c",
            "COPY (SELECT value FROM generate_series(1, 50000000)) TO STDOUT",
        ])
        .env("PGPASSWORD", "ana-secret-1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("psql");
    let mut some = [0u8; 4096];
    use std::io::Read;
    psql_child
        .stdout
        .as_mut()
        .expect("stdout")
        .read_exact(&mut some)
        .expect("rows arrive");
    let _ = psql_child.kill();
    let _ = psql_child.wait();
    assert_eq!(count(s.port, "SELECT COUNT(*) FROM atm"), mar);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let gone = audit(dir);
    assert!(
        gone.iter().any(|l| l["statement"]
            .as_str()
            .is_some_and(|s| s.contains("50000000"))
            && l["outcome"] != "ok"),
        "the cut-off COPY is audited as not finished"
    );
}

/// Debian's PostgreSQL JDBC driver (libpostgresql-jdbc-java; .ci/run
/// installs it).
const JDBC_JAR: &str = "/usr/share/java/postgresql.jar";

#[test]
fn jdbc_reads_metadata_and_masked_rows() {
    let tmp = demo();
    let dir = tmp.path();
    let s = serve(dir, &[]);
    assert!(
        Path::new(JDBC_JAR).exists(),
        "{JDBC_JAR}: .ci/run installs libpostgresql-jdbc-java"
    );
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/JdbcProbe.java");
    let classes = dir.join("classes");
    let javac = Command::new("javac")
        .arg("-d")
        .arg(&classes)
        .arg(&src)
        .output()
        .expect("javac is installed (.ci/run installs a JDK)");
    assert!(
        javac.status.success(),
        "{}",
        String::from_utf8_lossy(&javac.stderr)
    );
    let out = Command::new("java")
        .arg("-cp")
        .arg(format!("{}:{JDBC_JAR}", classes.display()))
        .args([
            "JdbcProbe",
            &s.port.to_string(),
            "kim",
            "kim-secret-2",
            "Kowloon",
        ])
        .output()
        .expect("java");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in {text}"))
            .to_string()
    };
    assert!(get("product").starts_with("PostgreSQL 15"));
    // Kowloon's manager: only the tables the row filter scopes.
    let tables: Vec<String> = get("tables").split(',').map(String::from).collect();
    assert!(tables.contains(&"customers".to_string()), "{tables:?}");
    assert!(!tables.contains(&"churn_risk".to_string()), "{tables:?}");
    assert!(
        get("columns").starts_with("customer_id:text,full_name:text,phone:text,birth_year:int8")
    );
    let customers = customers_csv(dir);
    let kowloon: std::collections::BTreeSet<&str> = customers
        .iter()
        .filter(|c| c["region"] == "Kowloon")
        .map(|c| c["customer_id"].as_str())
        .collect();
    assert_eq!(get("count"), kowloon.len().to_string());
    assert_eq!(get("result_columns"), "full_name,phone");
    // The first three Kowloon customers, masked: the name's first letter,
    // the phone's last four digits.
    let mut first: Vec<&std::collections::HashMap<String, String>> = customers
        .iter()
        .filter(|c| kowloon.contains(c["customer_id"].as_str()))
        .collect();
    first.sort_by_key(|c| c["customer_id"].clone());
    let want: Vec<String> = first
        .iter()
        .take(3)
        .map(|c| {
            let name = c["full_name"].chars().next().expect("name");
            let phone = &c["phone"][c["phone"].len() - 4..];
            format!("{name}***|****{phone}")
        })
        .collect();
    assert_eq!(get("rows"), want.join(";"));
}

#[test]
fn flight_sql_serves_adbc_with_the_same_governance() {
    let tmp = demo();
    let dir = tmp.path();
    let s = serve(dir, &["--flight", "127.0.0.1:0"]);
    let flight = s.flight.expect("flight port");
    let customers = customers_csv(dir);
    // A customer outside Kowloon, for the parameterised lookup.
    let other = customers
        .iter()
        .find(|c| c["region"] != "Kowloon" && c["birth_year"].parse::<i64>().is_ok())
        .expect("a customer outside Kowloon");
    let run = |user: &str, password: &str| -> serde_json::Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/flight_clients.py");
        let out = Command::new("python3")
            .arg(&script)
            .args([&flight.to_string(), user, password, &other["customer_id"]])
            .env("PYTHONPATH", python_tools())
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "ADBC Flight SQL (installed by .ci/run into {}):\n{}",
            python_tools().display(),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let ids: std::collections::BTreeSet<&str> = customers
        .iter()
        .map(|c| c["customer_id"].as_str())
        .collect();
    let kowloon: std::collections::BTreeSet<&str> = customers
        .iter()
        .filter(|c| c["region"] == "Kowloon")
        .map(|c| c["customer_id"].as_str())
        .collect();

    let kim = run("kim", "kim-secret-2");
    assert_eq!(kim["rows"], kowloon.len());
    assert_eq!(kim["regions"], serde_json::json!(["Kowloon"]));
    assert_eq!(
        kim["types"],
        serde_json::json!(["string", "string", "string"]),
        "plain Utf8"
    );
    for n in kim["names"].as_array().expect("names") {
        assert!(
            n.as_str()
                .is_some_and(|n| n.ends_with("***") && n.chars().count() == 4)
        );
    }
    assert!(
        kim["interactions"]
            .as_str()
            .is_some_and(|e| e.contains("interactions"))
    );
    let tables = kim["tables"].to_string();
    assert!(
        tables.contains("\"customers\"") && !tables.contains("churn_risk"),
        "{tables}"
    );
    assert!(kim["delete"].as_str().is_some_and(|e| e.contains("DML")));
    // Bound parameters: the row filter still applies (kim sees nobody
    // outside Kowloon), and a wrong count is an error, not a guess.
    assert_eq!(kim["param_kowloon"], kowloon.len());
    assert_eq!(kim["param_one"], serde_json::json!([]));
    assert!(
        kim["param_count"]
            .as_str()
            .is_some_and(|e| e.contains("takes 1 parameters; 2 were bound")),
        "{}",
        kim["param_count"]
    );

    let ana = run("ana", "ana-secret-1");
    assert_eq!(ana["rows"].as_u64(), Some(ids.len() as u64));
    // CancelFlightInfo stops the running stream of that FlightInfo; a second
    // one finds nothing running.
    let cancel = &ana["cancel"];
    assert_eq!(cancel["status"], serde_json::json!(["0801"]), "{cancel}");
    assert!(
        cancel["after"]
            .as_str()
            .is_some_and(|e| e.contains("canceling statement due to user request")),
        "{cancel}"
    );
    assert_ne!(cancel["again"], "cancelled again", "{cancel}");
    assert_eq!(ana["param_kowloon"], kowloon.len());
    let initial = other["full_name"].chars().next().expect("name");
    assert_eq!(
        ana["param_one"],
        serde_json::json!([{
            "full_name": format!("{initial}***"),
            "birth_year": other["birth_year"].parse::<i64>().expect("year")
        }]),
        "a parameterised lookup is masked like any query"
    );
    // A mart into pandas: every row and column.
    assert_eq!(
        ana["pandas"][0].as_u64(),
        Some(count(s.port, "SELECT COUNT(*) FROM customer_month"))
    );
    assert!(ana["pandas"][1].as_u64().is_some_and(|n| n >= 20));
    // The same count through the PostgreSQL side.
    assert_eq!(
        ana["interactions"].as_u64(),
        Some(count(s.port, "SELECT COUNT(*) FROM interactions"))
    );
    assert_eq!(ana["schema"], serde_json::json!(CUSTOMER_COLUMNS));
    // A wrong password is refused and audited.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/flight_clients.py");
    let bad = Command::new("python3")
        .arg(&script)
        .args([&flight.to_string(), "ana", "wrong", "x"])
        .env("PYTHONPATH", python_tools())
        .output()
        .expect("python3");
    assert!(!bad.status.success());
    let lines = audit(dir);
    assert!(
        lines
            .iter()
            .any(|l| l["protocol"] == "flight-sql" && l["outcome"] == "login_failed")
    );
    assert!(lines.iter().any(|l| l["protocol"] == "flight-sql"
        && l["user"] == "kim"
        && l["outcome"] == "ok"
        && l["rows"] == kowloon.len()));
}

#[test]
fn sigterm_lets_a_running_statement_finish() {
    let tmp = demo();
    let dir = tmp.path();
    let mut s = serve(dir, &["--grace", "300"]);
    let n: u64 = 100_000_000;
    let q = format!("SELECT COUNT(*) FROM generate_series(1, {n}) WHERE value % 7 = 3");
    let port = s.port;
    let running = std::thread::spawn(move || sql(port, "ana", &q));
    // Long enough for the login (SCRAM in a debug build on a busy machine)
    // to be over and the statement running.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let pid = s.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    // No new connection is taken once stopping.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        sql(s.port, "ana", "SELECT 1").is_err(),
        "a new connection after SIGTERM"
    );
    let got = running
        .join()
        .expect("thread")
        .expect("the running statement finished");
    // Every 7th number from 3 on: (n - 3) / 7 + 1, by hand.
    assert_eq!(got.trim(), ((n - 3) / 7 + 1).to_string());
    let status = s.child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
}
