//! The masks have no way around them: keyed hashes whose key SQL cannot
//! read, every model column carrying personal data declared, no undeclared
//! table, no personal value in reasons, messages or check results, no link
//! or control-file template leading out of the project.

use crate::analyst::{PHONES, csv_of, leaks, run_query, write_project};
use crate::common::{HASH_KEY, bin, ok, touchpoint};

/// An independent HMAC-SHA-256 (Python's `hmac`), hex.
fn hmac_hex(key: &str, msg: &str) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import hmac, hashlib, sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())",
            key,
            msg,
        ])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn sha256_hex(msg: &str) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import hashlib, sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest())",
            msg,
        ])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn loaded(grants: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_project(tmp.path(), grants);
    ok(
        tmp.path(),
        &["run", "pipelines/bank.yaml", "--period", "2024-03"],
    );
    tmp
}

#[test]
fn hashes_are_keyed_and_the_key_is_not_in_sql() {
    let tmp = loaded("");
    let dir = tmp.path();
    let phones = csv_of(
        dir,
        "SELECT phone FROM customers ORDER BY customer_id",
        "analyst",
    );
    let got: Vec<&str> = phones.lines().skip(1).collect();
    let want: Vec<String> = PHONES.iter().map(|p| hmac_hex(HASH_KEY, p)).collect();
    assert_eq!(
        got, want,
        "HMAC-SHA-256 under the key, computed independently"
    );
    // Not the unkeyed digest a dictionary over 8-digit numbers recovers.
    assert!(!phones.contains(&sha256_hex(PHONES[0])));
    // The key appears in no plan, and the function cannot be called.
    let explain = csv_of(
        dir,
        "EXPLAIN VERBOSE SELECT phone FROM customers",
        "analyst",
    );
    assert!(!explain.contains(HASH_KEY), "{explain}");
    let out = run_query(dir, "SELECT pii_hash('+852 9123 4567')", "analyst");
    assert!(!out.status.success(), "pii_hash is not a SQL function");
    // Without a key, readers fail closed, saying what to set.
    let out = std::process::Command::new(bin())
        .args(["query", "SELECT 1"])
        .current_dir(dir)
        .env_remove("TOUCHPOINT_HASH_KEY")
        .env_remove("TOUCHPOINT_HASH_KEY_FILE")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("customers.phone") && err.contains("TOUCHPOINT_HASH_KEY"),
        "{err}"
    );
    // A key readers would refuse is refused by `run` too, before it writes.
    let out = std::process::Command::new(bin())
        .args(["run", "pipelines/bank.yaml", "--period", "2024-03"])
        .current_dir(dir)
        .env("TOUCHPOINT_HASH_KEY", "short")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a 5-byte key was accepted: {err}");
    assert!(
        err.contains("needs at least 16") && err.contains("help:") && !err.contains("short"),
        "{err}"
    );
    // The key from a file works the same (a mounted secret, with its newline).
    let key_file = dir.join("hash.key");
    std::fs::write(&key_file, format!("{HASH_KEY}\n")).expect("write");
    let out = std::process::Command::new(bin())
        .args([
            "query",
            "--format",
            "csv",
            "SELECT phone FROM customers ORDER BY customer_id",
        ])
        .current_dir(dir)
        .env_remove("TOUCHPOINT_HASH_KEY")
        .env("TOUCHPOINT_HASH_KEY_FILE", &key_file)
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&out.stdout), phones);
}

#[test]
fn a_hashed_number_column_works() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write_project(dir, "");
    let yaml = std::fs::read_to_string(dir.join("pipelines/bank.yaml")).expect("read");
    std::fs::write(
        dir.join("data/ids.csv"),
        "customer_id,national_id\nC0,12345678\nC1,87654321\n",
    )
    .expect("write");
    let yaml = yaml.replace(
        "models:",
        "  ids:\n    path: ../data/ids.csv\n    csv: {}\n    columns:\n      customer_id: {type: string}\n      national_id: {type: int, personal: hash}\nmodels:",
    );
    std::fs::write(dir.join("pipelines/bank.yaml"), yaml).expect("write");
    ok(dir, &["run", "pipelines/bank.yaml", "--period", "2024-03"]);
    assert_eq!(csv_of(dir, "SELECT 1 AS one", "analyst"), "one\n1\n");
    let ids = csv_of(
        dir,
        "SELECT national_id FROM ids ORDER BY customer_id",
        "analyst",
    );
    assert_eq!(
        ids.lines().nth(1),
        Some(hmac_hex(HASH_KEY, "12345678").as_str()),
        "{ids}"
    );
}

#[test]
fn every_model_column_carrying_personal_data_is_declared() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write_project(dir, "");
    // Declares full_name, but also hands out the phone under another name.
    std::fs::write(
        dir.join("queries/contacts.sql"),
        "WITH c AS (SELECT customer_id, full_name, phone FROM customers)\n\
         SELECT c.customer_id, c.full_name, upper(c.phone) AS contact_phone, SUM(t.amount) AS spend\n\
         FROM c JOIN cards t ON t.customer_id = c.customer_id\n\
         GROUP BY c.customer_id, c.full_name, c.phone\n",
    )
    .expect("write");
    let out = touchpoint(dir, &["validate", "pipelines/bank.yaml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("undeclared column(s) `contact_phone` (customers.phone)")
            && err.contains("personal: {contact_phone: mask}"),
        "{err}"
    );
    // Declared, it validates; and counting phones needs no declaration.
    let yaml = std::fs::read_to_string(dir.join("pipelines/bank.yaml")).expect("read");
    std::fs::write(
        dir.join("pipelines/bank.yaml"),
        yaml.replace(
            "personal: {full_name: mask}",
            "personal: {full_name: mask, contact_phone: hash}",
        ),
    )
    .expect("write");
    ok(dir, &["validate", "pipelines/bank.yaml"]);
    std::fs::write(dir.join("pipelines/bank.yaml"), yaml).expect("write");
    std::fs::write(
        dir.join("queries/contacts.sql"),
        "SELECT customer_id, full_name, COUNT(phone) AS phones, 0 AS spend FROM customers GROUP BY 1, 2\n",
    )
    .expect("write");
    ok(dir, &["validate", "pipelines/bank.yaml"]);
}

#[test]
fn tables_the_pipeline_does_not_declare_are_not_there() {
    let tmp = loaded("");
    let dir = tmp.path();
    // Another pipeline's table, or a source's table kept after a rename:
    // nothing says which of its columns are personal.
    crate::common::copy_dir(
        &dir.join("warehouse/customers"),
        &dir.join("warehouse/customers_old"),
    );
    for sql in [
        "SELECT * FROM customers_old",
        "SELECT * FROM table_at('customers_old', 0)",
    ] {
        let out = run_query(dir, sql, "analyst");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{sql}: {text}");
        assert!(leaks(&text).is_empty(), "{sql}: {text}");
    }
    let tables = csv_of(
        dir,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
        "analyst",
    );
    assert!(!tables.contains("customers_old"), "{tables}");
}

#[test]
fn no_personal_value_in_messages_or_check_results() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write_project(dir, "");
    let yaml = std::fs::read_to_string(dir.join("pipelines/bank.yaml")).expect("read");
    // A check on a personal column that fails, as a warning.
    let yaml = yaml.replace(
        "      amount: {type: \"decimal(12,2)\", required: true}\n",
        "      amount: {type: \"decimal(12,2)\", required: true}\n    checks:\n      - {check: accepted_values, column: card_number, values: [none], severity: warn}\n",
    );
    std::fs::write(dir.join("pipelines/bank.yaml"), &yaml).expect("write");
    let out = touchpoint(dir, &["run", "pipelines/bank.yaml", "--period", "2024-03"]);
    let run_text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{run_text}");
    assert!(
        run_text.contains("accepted_values(card_number)"),
        "{run_text}"
    );
    assert!(leaks(&run_text).is_empty(), "{run_text}");
    let checks = csv_of(dir, "SELECT * FROM _checks", "analyst");
    assert!(checks.contains("values not shown"), "{checks}");
    assert!(leaks(&checks).is_empty(), "{checks}");
    // A model that fails on a personal value: the error names no value,
    // on the terminal or in `_runs`.
    std::fs::write(
        dir.join("queries/contacts.sql"),
        "SELECT customer_id, full_name, CAST(phone AS BIGINT) AS spend FROM customers\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("pipelines/bank.yaml"),
        yaml.replace(
            "personal: {full_name: mask}",
            "personal: {full_name: mask, spend: mask}",
        ),
    )
    .expect("write");
    let out = touchpoint(dir, &["run", "pipelines/bank.yaml", "--period", "2024-03"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(leaks(&err).is_empty(), "{err}");
    let runs = csv_of(dir, "SELECT message FROM _runs", "analyst");
    assert!(runs.contains("cast") || runs.contains("Cast"), "{runs}");
    assert!(leaks(&runs).is_empty(), "{runs}");
}

#[cfg(unix)]
#[test]
fn paths_stay_inside_the_project_once_resolved() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("project");
    write_project(&root, "");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(
        outside.join("passwd.csv"),
        "root:x:0:0:root:/root:/bin/bash\n",
    )
    .expect("write");
    // A link under the extracts folder to a file outside the project.
    std::fs::create_dir_all(root.join("data/logs")).expect("mkdir");
    std::os::unix::fs::symlink(outside.join("passwd.csv"), root.join("data/logs/x.csv"))
        .expect("link");
    let yaml = std::fs::read_to_string(root.join("pipelines/bank.yaml")).expect("read");
    let with_logs = yaml.replace(
        "models:",
        "  logs:\n    path: ../data/logs/*.csv\n    csv: {header: false}\n    columns:\n      line: {type: string}\nmodels:",
    );
    std::fs::write(root.join("pipelines/bank.yaml"), &with_logs).expect("write");
    let out = touchpoint(&root, &["validate", "pipelines/bank.yaml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("is a link to") && err.contains("outside the project"),
        "{err}"
    );
    let out = touchpoint(
        &root,
        &["run", "pipelines/bank.yaml", "--period", "2024-03"],
    );
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("root:x"));
    // A control-file template that climbs out of the extracts folder.
    let with_control = yaml.replace(
        "    path: ../data/cards.csv\n    csv: {}\n",
        "    path: ../data/cards.csv\n    csv: {}\n    control: {file: \"../../outside/{stem}.ctl\", count: 1}\n",
    );
    std::fs::write(root.join("pipelines/bank.yaml"), with_control).expect("write");
    let out = touchpoint(&root, &["validate", "pipelines/bank.yaml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("must be a file name beside the extract"),
        "{err}"
    );
    // A SQL file reached through a link that leads out.
    std::fs::write(outside.join("x.sql"), "SELECT 1 AS x").expect("write");
    std::fs::remove_file(root.join("queries/contacts.sql")).expect("rm");
    std::os::unix::fs::symlink(outside.join("x.sql"), root.join("queries/contacts.sql"))
        .expect("link");
    std::fs::write(root.join("pipelines/bank.yaml"), &yaml).expect("write");
    let out = touchpoint(&root, &["validate", "pipelines/bank.yaml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("resolves to") && err.contains("outside the project"),
        "{err}"
    );
}

#[test]
fn a_copied_project_reloads_nothing() {
    let tmp = loaded("");
    let copy = tempfile::tempdir().expect("tempdir");
    crate::common::copy_dir(tmp.path(), copy.path());
    let out = ok(
        copy.path(),
        &[
            "run",
            "pipelines/bank.yaml",
            "--period",
            "2024-03",
            "--json",
        ],
    );
    let summary: serde_json::Value = serde_json::from_str(&out).expect("json");
    let loads: Vec<&str> = summary["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["kind"] == "source")
        .map(|s| s["load"].as_str().unwrap_or("-"))
        .collect();
    assert!(
        !loads.is_empty() && loads.iter().all(|l| *l == "skip"),
        "{loads:?}"
    );
}
