//! What analysts can and cannot read: personal columns stay masked whatever
//! the SQL, the session is read-only, grants unmask per reader, and time
//! travel reads a table as a past run left it.

use crate::common::{bin, f, ok};
use std::path::Path;

pub(crate) const NAMES: [&str; 3] = ["Chan Tai Man", "Wong Siu Ming", "Lee Ka Yan"];
pub(crate) const PHONES: [&str; 3] = ["+852 9123 4567", "+852 6234 5678", "+852 5345 6789"];
pub(crate) const CARDS: [&str; 3] = ["4000123412341234", "4000567856785678", "4000999988887777"];

pub(crate) fn write_project(dir: &Path, grants: &str) {
    std::fs::create_dir_all(dir.join("pipelines")).expect("mkdir");
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    std::fs::create_dir_all(dir.join("queries")).expect("mkdir");
    let mut customers = String::from("customer_id,full_name,phone,tier\n");
    for i in 0..3 {
        customers.push_str(&format!("C{i},{},{},Premier\n", NAMES[i], PHONES[i]));
    }
    std::fs::write(dir.join("data/customers.csv"), customers).expect("write");
    // The last row has a bad amount: quarantined with its card number.
    let mut cards = String::from("txn_id,card_number,customer_id,amount\n");
    for (i, card) in CARDS.iter().enumerate() {
        cards.push_str(&format!("T{i},{card},C{i},{}.00\n", 100 * (i + 1)));
    }
    cards.push_str(&format!("T9,{},C0,lots\n", CARDS[0]));
    std::fs::write(dir.join("data/cards.csv"), cards).expect("write");
    std::fs::write(
        dir.join("queries/contacts.sql"),
        "SELECT c.customer_id, c.full_name, SUM(t.amount) AS spend\n\
         FROM customers c JOIN cards t ON t.customer_id = c.customer_id\n\
         GROUP BY c.customer_id, c.full_name\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("pipelines/bank.yaml"),
        format!(
            r#"name: privacy
timezone: Asia/Hong_Kong
sources:
  customers:
    path: ../data/customers.csv
    csv: {{}}
    columns:
      customer_id: {{type: string, required: true}}
      full_name: {{type: string, personal: mask}}
      phone: {{type: string, personal: hash}}
      tier: {{type: string}}
  cards:
    path: ../data/cards.csv
    csv: {{}}
    columns:
      txn_id: {{type: string, required: true}}
      card_number: {{type: string, personal: mask}}
      customer_id: {{type: string}}
      amount: {{type: "decimal(12,2)", required: true}}
models:
  contacts:
    sql: ../queries/contacts.sql
    personal: {{full_name: mask}}
{grants}"#
        ),
    )
    .expect("write");
}

pub(crate) fn run_query(dir: &Path, sql: &str, reader: &str) -> std::process::Output {
    run_query_env(dir, sql, reader, &[])
}

pub(crate) fn run_query_env(
    dir: &Path,
    sql: &str,
    reader: &str,
    env: crate::common::Env,
) -> std::process::Output {
    std::process::Command::new(bin())
        .args(["query", "--format", "csv", sql])
        .current_dir(dir)
        .env("TOUCHPOINT_READER", reader)
        .env("TOUCHPOINT_HASH_KEY", crate::common::HASH_KEY)
        .env_remove("TOUCHPOINT_WAREHOUSE")
        .env_remove("TOUCHPOINT_ENGINE")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run touchpoint")
}

pub(crate) fn csv_of(dir: &Path, sql: &str, reader: &str) -> String {
    let out = run_query(dir, sql, reader);
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every personal value of the project, in the form an analyst may see it
/// (the mask shows a card's or phone's last four characters and a name's
/// first letter).
pub(crate) fn personal_values() -> Vec<(&'static str, &'static str)> {
    NAMES
        .iter()
        .map(|n| (*n, &n[..1]))
        .chain(
            PHONES
                .iter()
                .chain(CARDS.iter())
                .map(|v| (*v, &v[v.len() - 4..])),
        )
        .collect()
}

/// Whether `piece` is in `text`. A piece of digits only must stand as a whole
/// digit run: "9988" of a phone number is not leaked by the microseconds of a
/// timestamp such as `03:32:53.199884`. Longer digit runs are covered by the
/// eight-digit check in `leaks`.
fn appears(text: &str, piece: &str) -> bool {
    if !piece.chars().all(|c| c.is_ascii_digit()) {
        return text.contains(piece);
    }
    text.match_indices(piece).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + piece.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

/// A personal value in any form an analyst could use: any piece of four or
/// more characters of it that its mask does not itself show, as written or
/// as its digits (eight or more) with separators dropped. Hex digests (the
/// hashed form) are skipped: their digits are not the value's.
pub(crate) fn leaks(text: &str) -> Vec<String> {
    let text: String = text
        .split(|c: char| !c.is_ascii_hexdigit())
        .filter(|w| w.len() == 64)
        .fold(text.to_string(), |t, digest| t.replace(digest, "<digest>"));
    let digits_of = |s: &str| -> String {
        let mut out = String::new();
        let chars: Vec<char> = s.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            let between = |j: usize| chars.get(j).is_some_and(char::is_ascii_digit);
            if c.is_ascii_digit() {
                out.push(*c);
            } else if !(matches!(c, ' ' | '-' | '+') && i > 0 && between(i - 1) && between(i + 1)) {
                out.push('|');
            }
        }
        out
    };
    let text_digits = digits_of(&text);
    let mut found = Vec::new();
    for (value, shown) in personal_values() {
        let chars: Vec<char> = value.chars().collect();
        for len in 4..=chars.len() {
            for start in 0..=chars.len() - len {
                let piece: String = chars[start..start + len].iter().collect();
                if !shown.contains(&piece) && appears(&text, &piece) {
                    found.push(piece);
                }
            }
        }
        let d: String = value.chars().filter(char::is_ascii_digit).collect();
        for len in 8..=d.len() {
            for start in 0..=d.len() - len {
                let piece = &d[start..start + len];
                if text_digits.contains(piece) {
                    found.push(piece.to_string());
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The SQL shapes an analyst might try to reach personal values with (the
/// warehouse of the project in `dir`).
pub(crate) fn attempts(dir: &Path) -> Vec<String> {
    let mut attempts: Vec<String> = [
        "SELECT * FROM customers",
        "SELECT * FROM cards",
        "SELECT * FROM contacts",
        "SELECT c.*, t.* FROM customers c JOIN cards t USING (customer_id)",
        "SELECT full_name FROM (SELECT * FROM customers) s",
        "WITH x AS (SELECT full_name AS n, phone AS p FROM customers) SELECT n, p FROM x",
        "SELECT (SELECT MAX(card_number) FROM cards) AS m",
        "SELECT full_name FROM customers UNION ALL SELECT card_number FROM cards",
        "SELECT reverse(full_name), upper(full_name), substr(phone, 1, 20) FROM customers",
        "SELECT string_agg(card_number, ';') FROM cards",
        "SELECT CAST(card_number AS BIGINT) + 0 AS n FROM cards",
        "SELECT * FROM _quarantine",
        "SELECT * FROM table_at('customers', 0)",
        "SELECT * FROM table_at('cards', 0)",
        "SELECT * FROM table_at('_quarantine', 0)",
        "SELECT full_name, phone FROM table_at('./customers', 0)",
        "SELECT full_name, phone FROM table_at('_runs/../customers', 0)",
        "SELECT full_name, phone FROM table_at('customers/.', 0)",
        "SELECT * FROM table_at('./_quarantine', 0)",
        "SELECT * FROM table_at('CUSTOMERS', 0)",
        "SELECT * FROM _runs",
        "SELECT * FROM _checks",
        "SELECT * FROM _loaded_files",
        "EXPLAIN SELECT phone FROM customers",
        "SELECT pii_hash(phone) FROM customers",
        "SELECT column_name FROM information_schema.columns",
        "EXPLAIN ANALYZE SELECT * FROM customers",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    attempts.push(format!(
        "SELECT full_name, phone FROM table_at('{}', 0)",
        dir.join("warehouse/customers").display()
    ));
    attempts
}

#[test]
fn no_sql_reveals_a_masked_column() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write_project(dir, "access:\n  grants:\n    dpo: [customers.full_name]\n");
    ok(dir, &["validate", "pipelines/bank.yaml"]);
    ok(dir, &["run", "pipelines/bank.yaml", "--period", "2024-03"]);

    // The control: the raw values are in the warehouse, so the checks below
    // can fail. `leaks` sees them in the files' bytes read back unmasked.
    let dpo = csv_of(dir, "SELECT full_name, phone FROM customers", "dpo");
    for name in NAMES {
        assert!(
            leaks(&dpo).contains(&name.to_string()),
            "a granted reader sees names: {dpo}"
        );
    }

    for sql in attempts(dir) {
        let sql = sql.as_str();
        let out = run_query(dir, sql, "analyst");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            leaks(&text).is_empty(),
            "{sql} revealed {:?}:\n{text}",
            leaks(&text)
        );
    }
    // Masked means masked below SQL: a filter on the real value matches nothing.
    for (sql, what) in [
        (
            format!(
                "SELECT COUNT(*) AS n FROM customers WHERE full_name = '{}'",
                NAMES[0]
            ),
            "name",
        ),
        (
            format!(
                "SELECT COUNT(*) AS n FROM cards WHERE card_number LIKE '{}%'",
                &CARDS[1][..8]
            ),
            "card prefix",
        ),
        (
            format!(
                "SELECT COUNT(*) AS n FROM _quarantine WHERE record LIKE '%{}%'",
                CARDS[0]
            ),
            "quarantined record",
        ),
    ] {
        assert_eq!(csv_of(dir, &sql, "analyst"), "n\n0\n", "{what}");
    }
    // What the analyst does see: the mask, the last four digits, a digest.
    let seen = csv_of(
        dir,
        "SELECT full_name, phone FROM customers ORDER BY customer_id",
        "analyst",
    );
    let first = seen.lines().nth(1).expect("row");
    assert!(first.starts_with("C***,"), "{seen}");
    let digest = first.split(',').nth(1).expect("phone");
    assert_eq!(digest.len(), 64, "HMAC-SHA-256 hex: {seen}");
    // Time travel takes table names only, checked like a plain FROM.
    for name in [
        "./customers",
        "customers/.",
        "_runs/../customers",
        "CUSTOMERS",
    ] {
        let out = run_query(
            dir,
            &format!("SELECT * FROM table_at('{name}', 0)"),
            "analyst",
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("is not a table of this pipeline"),
            "{name}: {err}"
        );
    }
    let cards = csv_of(
        dir,
        "SELECT card_number FROM cards ORDER BY txn_id",
        "analyst",
    );
    assert_eq!(cards, "card_number\n****1234\n****5678\n****7777\n");
    // The grant is per column: the DPO still sees phones hashed, cards masked.
    let dpo = csv_of(
        dir,
        "SELECT phone FROM customers UNION ALL SELECT card_number FROM cards",
        "dpo",
    );
    assert!(leaks(&dpo).is_empty(), "{dpo}");

    // Nothing can be created, written or reconfigured.
    for sql in [
        "CREATE EXTERNAL TABLE raw STORED AS CSV LOCATION 'data/customers.csv'",
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO customers VALUES ('C9', 'x', 'y', 'z')",
        "COPY (SELECT 1) TO 'out.csv'",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let out = run_query(dir, sql, "analyst");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{sql} was allowed");
        assert!(err.contains("read-only"), "{sql}: {err}");
    }
    assert!(!dir.join("out.csv").exists());

    // A misspelt column gets the nearest name; a name that is no column
    // at all lists the columns (never "did you mean" the same name).
    let out = run_query(dir, "SELECT c.custmer_id FROM customers c", "analyst");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean `customer_id`?"), "{err}");
    let out = run_query(
        dir,
        "SELECT customer_id FROM customers ORDER BY ALL",
        "analyst",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("unknown column `all`"), "{err}");
    assert!(err.contains("columns of customers: customer_id"), "{err}");
}

#[test]
fn a_model_copying_personal_data_must_declare_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write_project(dir, "");
    let yaml = std::fs::read_to_string(dir.join("pipelines/bank.yaml")).expect("read");
    std::fs::write(
        dir.join("pipelines/bank.yaml"),
        yaml.replace("    personal: {full_name: mask}\n", ""),
    )
    .expect("write");
    let out = crate::common::touchpoint(dir, &["validate", "pipelines/bank.yaml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("contacts.sql:1:")
            && err.contains("undeclared column(s) `full_name` (customers.full_name)")
            && err.contains("personal: {full_name: mask}"),
        "{err}"
    );
    // A grant must name a personal column.
    write_project(dir, "access:\n  grants:\n    dpo: [customers.tier]\n");
    let out = crate::common::touchpoint(dir, &["validate", "pipelines/bank.yaml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("`customers.tier` is not a personal column"),
        "{err}"
    );
}

#[test]
fn analysts_read_tables_as_a_past_run_left_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write_project(dir, "");
    ok(dir, &["run", "pipelines/bank.yaml", "--period", "2024-03"]);
    let first_run = csv_of(
        dir,
        "SELECT run_id FROM _runs WHERE kind = 'run' AND status = 'ok'",
        "analyst",
    );
    let first_run = first_run.lines().nth(1).expect("run id").to_string();
    // A fourth card transaction arrives; the second run reloads the file.
    let mut cards = std::fs::read_to_string(dir.join("data/cards.csv")).expect("read");
    cards.push_str("T3,4000111122223333,C1,50.00\n");
    std::fs::write(dir.join("data/cards.csv"), cards).expect("write");
    ok(dir, &["run", "pipelines/bank.yaml", "--period", "2024-03"]);

    let spend = "SELECT SUM(spend) AS s FROM contacts";
    let now = crate::common::json_rows(&ok(dir, &["query", "--format", "json", spend]));
    assert_eq!(f(&now[0], "s"), 650.0, "100 + 200 + 300 + 50");
    let then = crate::common::json_rows(&ok(
        dir,
        &["query", "--format", "json", "--as-of", &first_run, spend],
    ));
    assert_eq!(f(&then[0], "s"), 600.0, "before the fourth transaction");
    // Per table: by run id, and by Delta version (0 = the first load).
    let sql = format!(
        "SELECT (SELECT COUNT(*) FROM table_at('cards', '{first_run}')) AS by_run, \
                (SELECT COUNT(*) FROM table_at('cards', 0)) AS by_version, \
                (SELECT COUNT(*) FROM cards) AS now"
    );
    let r = crate::common::json_rows(&ok(dir, &["query", "--format", "json", &sql]));
    assert_eq!(
        (f(&r[0], "by_run"), f(&r[0], "by_version"), f(&r[0], "now")),
        (3.0, 3.0, 4.0)
    );
    // An unknown run names the runs it knows.
    let out = crate::common::touchpoint(dir, &["query", "--as-of", "nope", "SELECT 1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("run `nope`") && err.contains(&first_run),
        "{err}"
    );
}

/// Quarantine reasons are read unmasked, so they never quote the value:
/// a personal value that fails a type, a key, accepted values, a
/// reference or a range shows only masked, in `value` (personal data in
/// text).
#[test]
fn quarantine_reasons_never_quote_a_value() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write_project(dir, "");
    let pipeline = std::fs::read_to_string(dir.join("pipelines/bank.yaml")).expect("read");
    let contacts = r#"  contacts_in:
    path: ../data/contacts.csv
    csv: {}
    key: [card_number]
    columns:
      card_number: {type: string, personal: mask}
      phone: {type: int, personal: hash}
      full_name: {type: string, personal: mask, values: [Chan Tai Man, Lee Ka Yan]}
      customer_id: {type: string, references: customers.customer_id}
      amount: {type: "decimal(12,2)", min: 0}
models:
"#;
    let pipeline = pipeline.replacen("models:\n", contacts, 1);
    std::fs::write(dir.join("pipelines/bank.yaml"), pipeline).expect("write");
    let rows = [
        format!("{},85291234567,{},C0,1.00", CARDS[0], NAMES[0]),
        // The same card again: a duplicate key.
        format!("{},85291234567,{},C0,2.00", CARDS[0], NAMES[0]),
        // A phone that is not an int.
        format!("{},{},{},C1,3.00", CARDS[1], PHONES[1], NAMES[2]),
        // A name that is not an accepted value.
        format!("{},85253456789,{},C2,4.00", CARDS[2], NAMES[1]),
        // A customer id that is no customer's.
        format!(
            "4000222233334444,85253456789,{},C0000042424242,5.00",
            NAMES[2]
        ),
        // An amount below the minimum.
        format!("4000555566667777,85253456789,{},C1,-1234567.89", NAMES[2]),
    ];
    std::fs::write(
        dir.join("data/contacts.csv"),
        format!(
            "card_number,phone,full_name,customer_id,amount\n{}\n",
            rows.join("\n")
        ),
    )
    .expect("write");
    ok(dir, &["run", "pipelines/bank.yaml", "--period", "2024-03"]);
    let reasons = csv_of(
        dir,
        "SELECT column_name, reason FROM _quarantine WHERE source = 'contacts_in' ORDER BY line",
        "analyst",
    );
    assert_eq!(reasons.lines().count(), 6, "{reasons}");
    assert!(
        leaks(&reasons).is_empty(),
        "{:?}:\n{reasons}",
        leaks(&reasons)
    );
    for value in ["C0000042424242", "1234567.89"] {
        assert!(!reasons.contains(value), "{value} in\n{reasons}");
    }
    // Each still says what is wrong with which column.
    for want in [
        "card_number,duplicate key (card_number)",
        "phone,not an int",
        // (A personal column's accepted values are not listed.)
        "full_name,not an accepted value (see the column's `values:`)",
        "customer_id,not found in customers.customer_id",
        "amount,below the minimum 0",
    ] {
        assert!(reasons.contains(want), "{want} missing in\n{reasons}");
    }
    // The values themselves are in `value`, masked like their column.
    let values = csv_of(
        dir,
        "SELECT value FROM _quarantine WHERE source = 'contacts_in'",
        "analyst",
    );
    assert!(leaks(&values).is_empty(), "{values}");
}
