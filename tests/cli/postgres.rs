//! Database sources against a real PostgreSQL ([`PgServer`]): the demo's
//! customers from PostgreSQL give the same warehouse as from CSV; values
//! are exact or quarantined; a wrong password names the profile only;
//! `validate --online` reads the catalog; incremental runs merge only what
//! changed; a server killed mid-extract leaves the warehouse and the
//! high-water mark as they were.

use crate::common::{
    commits, copy_dir, generate, ok_env, project, query_env, snapshot, touchpoint_env,
};
use crate::pgserver::{PASSWORD, PgServer};
use std::path::Path;

pub type Env = Vec<(&'static str, String)>;

/// The demo pipeline with `customers` read from `crm.customers`.
fn from_postgres(dir: &Path) {
    let p = dir.join("pipelines/monthly_cx.yaml");
    let text = std::fs::read_to_string(&p).expect("pipeline");
    let csv = "    path: crm/customers.csv\n    csv: {}\n";
    assert!(text.contains(csv), "the demo's customers block changed");
    let pg = "    postgres: {profile: crm, table: crm.customers}\n";
    std::fs::write(&p, text.replacen(csv, pg, 1)).expect("write");
}

/// The demo's customers CSV loaded into `crm.customers`, typed.
fn load_customers(pg: &PgServer, data: &Path) {
    pg.psql(
        "postgres",
        "CREATE SCHEMA crm; CREATE TABLE crm.customers (
           customer_id text PRIMARY KEY, full_name text, phone text, birth_year int,
           region text, home_branch text, opened_date date NOT NULL, closed_date date,
           referred_by text)",
    );
    let csv = std::fs::canonicalize(data.join("crm/customers.csv")).expect("csv");
    pg.psql(
        "postgres",
        &format!(
            "\\copy crm.customers FROM '{}' WITH (FORMAT csv, HEADER true)",
            csv.display()
        ),
    );
}

#[test]
fn demo_customers_from_postgres_equal_the_csv_run() {
    let pg = PgServer::start();
    let csv_tmp = project();
    let a = csv_tmp.path();
    generate(a, 300, 2, 11, &["--dirty-rate", "0"]);
    let pg_tmp = project();
    let b = pg_tmp.path();
    copy_dir(&a.join("data"), &b.join("data"));
    load_customers(&pg, &a.join("data"));
    from_postgres(b);
    let env: Env = pg.profile("postgres");
    let run = [
        "run",
        "pipelines/monthly_cx.yaml",
        "--period",
        "2024-01..2024-02",
    ];
    ok_env(a, &run, &[]);
    ok_env(b, &run, &env);
    let data = |d: &Path| {
        format!(
            "{}/",
            std::fs::canonicalize(d.join("data"))
                .expect("data")
                .display()
        )
    };
    let mut left = snapshot(a, &[], &data(a));
    let mut right = snapshot(b, &env, &data(b));
    // Which files (or tables) were read differs by design.
    left.remove("_loaded_files");
    right.remove("_loaded_files");
    assert!(left.len() >= 20, "tables: {:?}", left.keys());
    assert_eq!(
        left.keys().collect::<Vec<_>>(),
        right.keys().collect::<Vec<_>>()
    );
    for (t, rows) in &left {
        assert_eq!(rows.len(), right[t].len(), "{t}: row counts differ");
        assert!(
            rows == &right[t],
            "{t}: contents differ between CSV and PostgreSQL"
        );
    }
    let n = query_env(b, "SELECT count(*) AS n FROM customers", &env);
    assert_eq!(n[0]["n"], serde_json::json!(300));
}

/// A project with one PostgreSQL source over `table`, declared by `columns`
/// (YAML lines), and `extra` keys for the source.
pub fn one_source(dir: &Path, table: &str, columns: &str, extra: &str) {
    std::fs::create_dir_all(dir.join("pipelines")).expect("mkdir");
    std::fs::write(
        dir.join("pipelines/db.yaml"),
        format!(
            "name: db\ntimezone: Asia/Hong_Kong\nextracts: ../data\nsources:\n  src:\n    postgres: {{profile: crm, table: {table}}}\n{extra}    columns:\n{columns}"
        ),
    )
    .expect("pipeline");
}

#[test]
fn values_are_exact_or_quarantined_never_rounded() {
    let pg = PgServer::start();
    pg.psql(
        "postgres",
        "CREATE SCHEMA crm; CREATE TABLE crm.amounts (
           id int PRIMARY KEY, amount numeric(20,4), at_tz timestamptz, at_local timestamp,
           doc jsonb, flag bool, day date, big bigint, note varchar(20));
         INSERT INTO crm.amounts VALUES
           (1, 12.3400, '2024-06-01 10:00:00+08', '2024-06-01 10:00:00', '{\"a\": 1}', true, '2024-06-01', 9007199254740993, '香港'),
           (2, 12.3456, '2024-06-01 00:30:00+00', '2024-06-30 23:59:59.5', '[1,2]', false, '2024-06-02', -1, NULL),
           (3, 9999999999999999.9900, NULL, NULL, NULL, NULL, NULL, NULL, 'x'),
           (4, NULL, '2024-01-01 00:00:00+00', '2024-03-10 03:30:00', 'null', NULL, 'infinity', 0, ''),
           (5, NULL, NULL, '2024-03-10 02:30:00', NULL, NULL, NULL, NULL, NULL);",
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    one_source(
        dir,
        "crm.amounts",
        "      id: {type: int, required: true}\n      amount: {type: \"decimal(18,2)\"}\n      at_tz: {type: timestamp}\n      at_local: {type: timestamp, timezone: America/New_York}\n      doc: {type: string}\n      flag: {type: bool}\n      day: {type: date}\n      big: {type: int}\n      note: {type: string}\n",
        "    key: [id]\n",
    );
    let env: Env = pg.profile("postgres");
    let out = ok_env(
        dir,
        &["run", "pipelines/db.yaml", "--period", "2024-01", "--json"],
        &env,
    );
    let summary: serde_json::Value = serde_json::from_str(&out).expect("json");
    let s = crate::common::step(&summary, "src");
    // Row 2: 4 decimals into scale 2; row 4: date `infinity`; row 5: a New
    // York wall-clock time in the spring-forward gap (it never happened).
    // Row 3 is the largest value decimal(18,2) holds, loaded exactly.
    assert_eq!(
        (
            s["rows_read"].as_i64(),
            s["rows_loaded"].as_i64(),
            s["rows_quarantined"].as_i64()
        ),
        (Some(5), Some(2), Some(3)),
        "{s}"
    );
    let rows = query_env(
        dir,
        "SELECT id, CAST(amount AS VARCHAR) AS amount, CAST(at_tz AS VARCHAR) AS at_tz, \
         CAST(at_local AS VARCHAR) AS at_local, doc, flag, CAST(day AS VARCHAR) AS day, \
         CAST(big AS VARCHAR) AS big, note FROM src ORDER BY id",
        &env,
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1]["amount"], "9999999999999999.99");
    let r = &rows[0];
    assert_eq!(r["amount"], "12.34");
    assert_eq!(r["at_tz"], "2024-06-01T02:00:00Z");
    // 10:00 in New York (EDT, UTC-4) is 14:00 UTC.
    assert_eq!(r["at_local"], "2024-06-01T14:00:00Z");
    assert_eq!(r["doc"], "{\"a\": 1}");
    assert_eq!(r["flag"], true);
    assert_eq!(r["day"], "2024-06-01");
    assert_eq!(r["big"], "9007199254740993");
    assert_eq!(r["note"], "香港");
    let q = query_env(
        dir,
        "SELECT file, column_name, reason FROM _quarantine ORDER BY file",
        &env,
    );
    assert_eq!(q.len(), 3, "{q:?}");
    assert_eq!(q[0]["file"], "postgres:crm/crm.amounts (id=2)");
    assert_eq!(q[0]["column_name"], "amount");
    let reason = q[0]["reason"].as_str().expect("reason");
    assert!(reason.contains("more than 2 decimal places"), "{reason}");
    assert_eq!(q[1]["column_name"], "day");
    assert_eq!(q[2]["file"], "postgres:crm/crm.amounts (id=5)");
    assert_eq!(q[2]["column_name"], "at_local");
    assert!(
        q[2]["reason"]
            .as_str()
            .expect("reason")
            .contains("does not exist"),
        "{q:?}"
    );
}

#[test]
fn a_wrong_password_names_the_profile_and_never_the_password() {
    let pg = PgServer::start();
    pg.psql("postgres", "CREATE SCHEMA crm; CREATE TABLE crm.t (id int)");
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    one_source(dir, "crm.t", "      id: {type: int}\n", "");
    let mut env: Env = pg.profile("postgres");
    let wrong = "Wr0ng-pa55word-xyz";
    for (k, v) in &mut env {
        if *k == "TOUCHPOINT_PROFILE_CRM_PASSWORD" {
            *v = wrong.to_string();
        }
    }
    let out = touchpoint_env(
        dir,
        &["run", "pipelines/db.yaml", "--period", "2024-01"],
        &env,
    );
    assert_eq!(out.status.code(), Some(1));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("profile `crm`"), "{text}");
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(text.contains("help:"), "{text}");
    assert!(!text.contains(wrong) && !text.contains(PASSWORD), "{text}");
    // The warehouse has no table of the failed load.
    assert!(!dir.join("warehouse/src").exists());
}

#[test]
fn validate_is_offline_and_online_reads_the_catalog() {
    let pg = PgServer::start();
    pg.psql(
        "postgres",
        "CREATE SCHEMA crm; CREATE TABLE crm.t (id int PRIMARY KEY, amount numeric(20,4), extra text)",
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    one_source(
        dir,
        "crm.t",
        "      id: {type: int}\n      amount: {type: double}\n      gone: {type: string}\n",
        "",
    );
    // Offline: no profile, no server needed.
    ok_env(dir, &["validate", "pipelines/db.yaml"], &[]);
    let env: Env = pg.profile("postgres");
    let out = touchpoint_env(dir, &["validate", "--online", "pipelines/db.yaml"], &env);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sources.src.columns.amount.type"), "{err}");
    assert!(err.contains("numeric(20,4)"), "{err}");
    assert!(err.contains("has no column `gone`"), "{err}");
    assert!(err.contains("extra"), "{err}");
}

#[test]
fn discover_proposes_a_block_from_the_catalog() {
    let pg = PgServer::start();
    pg.psql(
        "postgres",
        "CREATE SCHEMA crm; CREATE TABLE crm.customers (
           customer_id text, branch int, full_name text, phone varchar(20),
           balance numeric(18,2) NOT NULL, seen timestamptz, tags text[],
           PRIMARY KEY (customer_id, branch))",
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let url = format!(
        "postgres://{}@127.0.0.1:{}/postgres/crm.customers",
        crate::pgserver::USER,
        pg.port
    );
    let env: Env = vec![("TOUCHPOINT_PROFILE_CRM_PASSWORD", PASSWORD.to_string())];
    let block = ok_env(dir, &["discover", &url, "--profile", "crm"], &env);
    assert!(
        block.contains("    postgres: {profile: crm, table: crm.customers}\n"),
        "{block}"
    );
    assert!(
        block.contains("    key: [customer_id, branch]\n"),
        "{block}"
    );
    assert!(
        block.contains("customer_id: {type: string, required: true}"),
        "{block}"
    );
    assert!(
        block.contains("full_name: {type: string, personal: mask}"),
        "{block}"
    );
    assert!(
        block.contains("phone: {type: string, personal: mask}"),
        "{block}"
    );
    assert!(
        block.contains("balance: {type: \"decimal(18,2)\", required: true}"),
        "{block}"
    );
    assert!(block.contains("seen: {type: timestamp}"), "{block}");
    assert!(!block.contains(PASSWORD), "{block}");
    // The proposal is a valid pipeline once wrapped.
    std::fs::create_dir_all(dir.join("pipelines")).expect("mkdir");
    std::fs::write(dir.join("pipelines/d.yaml"), format!("name: d\n{block}")).expect("write");
    ok_env(dir, &["validate", "pipelines/d.yaml"], &[]);
}

const INCREMENTAL: &str = "    key: [customer_id]\n    cursor: updated_at\n    lookback: 1h\n    deletes: {soft_column: is_deleted}\n    history: {track: [tier, home_branch]}\n";
pub const CUSTOMER_COLUMNS: &str = "      customer_id: {type: string, required: true}\n      tier: {type: string}\n      home_branch: {type: string}\n      updated_at: {type: timestamp}\n      is_deleted: {type: bool}\n";

/// `crm.customers` as the incremental tests use it (no rows).
pub fn create_customers(pg: &PgServer) {
    pg.psql(
        "postgres",
        "CREATE SCHEMA crm; CREATE TABLE crm.customers (
           customer_id text PRIMARY KEY, tier text, home_branch text,
           updated_at timestamptz NOT NULL, is_deleted bool NOT NULL DEFAULT false)",
    );
}

pub fn step_of(out: &str) -> serde_json::Value {
    let summary: serde_json::Value = serde_json::from_str(out).expect("json");
    crate::common::step(&summary, "src")
}

pub fn table_csv(dir: &Path, env: &Env) -> String {
    ok_env(
        dir,
        &[
            "query",
            "--format",
            "csv",
            "SELECT * FROM src ORDER BY customer_id",
        ],
        env,
    )
}

#[test]
fn incremental_runs_merge_only_what_changed() {
    let pg = PgServer::start();
    create_customers(&pg);
    pg.psql(
        "postgres",
        "INSERT INTO crm.customers
           SELECT 'C' || lpad(i::text, 3, '0'), CASE WHEN i % 3 = 0 THEN 'Premier' ELSE 'Personal' END,
                  'B' || lpad((i % 12 + 1)::text, 2, '0'),
                  timestamptz '2024-01-01 00:00:00+00' - (i || ' days')::interval, false
           FROM generate_series(1, 100) i;",
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    one_source(dir, "crm.customers", CUSTOMER_COLUMNS, INCREMENTAL);
    let env: Env = pg.profile("postgres");
    let run = ["run", "pipelines/db.yaml", "--period", "2024-01", "--json"];
    let first = step_of(&ok_env(dir, &run, &env));
    assert_eq!(first["rows_loaded"], 100, "{first}");
    // 10 updated (C001 a tier, C002 a home branch, the rest both), 5 new,
    // 2 soft-deleted. (C001 held the mark: the only row the 1h lookback
    // would read again, and it changed anyway.)
    pg.psql(
        "postgres",
        "UPDATE crm.customers SET tier = 'Advance', updated_at = '2024-02-01 00:00:00+00'
           WHERE customer_id = 'C001';
         UPDATE crm.customers SET home_branch = 'B12', updated_at = '2024-02-01 00:00:00+00'
           WHERE customer_id = 'C002';
         UPDATE crm.customers SET tier = 'Premier Top', home_branch = 'B01',
           updated_at = '2024-02-01 00:00:00+00'
           WHERE customer_id BETWEEN 'C003' AND 'C010';
         INSERT INTO crm.customers
           SELECT 'C' || i, 'Personal', 'B05', '2024-02-01 00:00:01+00', false
           FROM generate_series(101, 105) i;
         UPDATE crm.customers SET is_deleted = true, updated_at = '2024-02-01 00:00:02+00'
           WHERE customer_id IN ('C050', 'C051');",
    );
    let second = step_of(&ok_env(dir, &run, &env));
    assert_eq!(
        second["rows_read"], 17,
        "only the changed rows are read: {second}"
    );
    let msg = second["message"].as_str().expect("message");
    assert!(
        msg.contains("merged: 5 inserted, 10 updated, 2 deleted"),
        "{msg}"
    );
    // The table equals a fresh full extract of the database.
    let fresh_tmp = tempfile::tempdir().expect("tmp");
    let fresh = fresh_tmp.path();
    one_source(fresh, "crm.customers", CUSTOMER_COLUMNS, INCREMENTAL);
    ok_env(fresh, &run, &env);
    let merged = table_csv(dir, &env);
    assert_eq!(merged.lines().count(), 1 + 103, "{merged}");
    assert_eq!(merged, table_csv(fresh, &env));
    assert!(!merged.contains("C050") && merged.contains("C105"));
    // The history: every version with the moment the database stamped it.
    let history = history_csv(dir, &env);
    let want = expected_history();
    assert_eq!(history, want);
    let history_commits = commits(dir, "src_history");
    // Nothing changed since: the lookback reads the last hour again and
    // changes nothing.
    let third = step_of(&ok_env(dir, &run, &env));
    let msg = third["message"].as_str().expect("message");
    assert!(
        msg.contains("merged: 0 inserted, 0 updated, 0 deleted"),
        "{msg}"
    );
    assert_eq!(table_csv(dir, &env), merged);
    // --full-refresh reads everything again, and gives the same table.
    let full = step_of(&ok_env(
        dir,
        &[
            "run",
            "pipelines/db.yaml",
            "--period",
            "2024-01",
            "--json",
            "--full-refresh",
        ],
        &env,
    ));
    assert_eq!(full["rows_read"], 103, "{full}");
    assert_eq!(table_csv(dir, &env), merged);
    // Neither the lookback's re-read nor the full extract wrote a version.
    assert_eq!(commits(dir, "src_history"), history_commits);
    assert_eq!(history_csv(dir, &env), want);
}

/// `src_history` as `id,tier,home_branch,from,to,current` lines.
fn history_csv(dir: &Path, env: &Env) -> Vec<String> {
    let out = ok_env(
        dir,
        &[
            "query",
            "--format",
            "csv",
            "SELECT customer_id, tier, home_branch, to_char(valid_from, '%Y-%m-%d %H:%M:%S'), \
               coalesce(to_char(valid_to, '%Y-%m-%d %H:%M:%S'), '-'), is_current \
             FROM src_history ORDER BY customer_id, valid_from",
        ],
        env,
    );
    out.lines().skip(1).map(str::to_string).collect()
}

/// The history the incremental test's two runs must leave, computed by hand
/// from its SQL: customer i was last stamped `2024-01-01 - i days` (tier
/// Premier when 3 divides i, branch `B(i mod 12 + 1)`); on 2024-02-01
/// C001 became Advance, C002 moved to B12, C003..C010 became Premier Top at
/// B01 (each closing its version and opening one at midnight), C101..C105
/// opened at 00:00:01, and C050, C051 were deleted at 00:00:02.
fn expected_history() -> Vec<String> {
    let day = |i: u32| {
        let d = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date")
            - chrono::Duration::days(i64::from(i));
        format!("{} 00:00:00", d.format("%Y-%m-%d"))
    };
    let mut out = Vec::new();
    for i in 1..=100u32 {
        let id = format!("C{i:03}");
        let tier = if i % 3 == 0 { "Premier" } else { "Personal" };
        let branch = format!("B{:02}", i % 12 + 1);
        let next = match i {
            1 => Some(("Advance".to_string(), branch.clone())),
            2 => Some((tier.to_string(), "B12".to_string())),
            3..=10 => Some(("Premier Top".to_string(), "B01".to_string())),
            _ => None,
        };
        let end = match (i, &next) {
            (50 | 51, _) => "2024-02-01 00:00:02".to_string(),
            (_, Some(_)) => "2024-02-01 00:00:00".to_string(),
            _ => "-".to_string(),
        };
        let current = end == "-";
        out.push(format!("{id},{tier},{branch},{},{end},{current}", day(i)));
        if let Some((t, b)) = next {
            out.push(format!("{id},{t},{b},2024-02-01 00:00:00,-,true"));
        }
    }
    for i in 101..=105 {
        out.push(format!("C{i},Personal,B05,2024-02-01 00:00:01,-,true"));
    }
    out
}

#[test]
fn a_server_killed_mid_extract_leaves_table_and_mark_unchanged() {
    let pg = PgServer::start();
    // A view that streams slowly (a pause every 10,000 rows), so the kill
    // lands while rows are flowing.
    pg.psql(
        "postgres",
        "CREATE SCHEMA crm; CREATE TABLE crm.big (
           customer_id text PRIMARY KEY, tier text, home_branch text,
           updated_at timestamptz NOT NULL, is_deleted bool NOT NULL DEFAULT false);
         CREATE FUNCTION crm.slow(i int) RETURNS bool LANGUAGE plpgsql AS $$
           BEGIN IF i % 10000 = 0 THEN PERFORM pg_sleep(0.1); END IF; RETURN true; END $$;
         CREATE VIEW crm.big_slow AS
           SELECT * FROM crm.big WHERE crm.slow(substr(customer_id, 2)::int);
         INSERT INTO crm.big SELECT 'C' || i, 'Personal', 'B01', '2024-01-01 00:00:00+00', false
           FROM generate_series(1, 1000) i;",
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    one_source(
        dir,
        "crm.big_slow",
        CUSTOMER_COLUMNS,
        "    key: [customer_id]\n    cursor: updated_at\n",
    );
    let env: Env = pg.profile("postgres");
    ok_env(
        dir,
        &["run", "pipelines/db.yaml", "--period", "2024-01"],
        &env,
    );
    let state = |dir: &Path| {
        (
            query_env(dir, "SELECT count(*) AS n FROM src", &env),
            query_env(
                dir,
                "SELECT version FROM _loaded_files WHERE source = 'src'",
                &env,
            ),
        )
    };
    let before = state(dir);
    assert_eq!(before.0[0]["n"], 1000);
    assert!(
        before.1[0]["version"]
            .as_str()
            .expect("mark")
            .contains("instant"),
        "{:?}",
        before.1
    );
    pg.psql(
        "postgres",
        "INSERT INTO crm.big SELECT 'C' || i, 'Advance', 'B02', '2024-02-01 00:00:00+00', false
           FROM generate_series(1001, 200000) i;",
    );
    let child = crate::common::spawn_env(
        dir,
        &["run", "pipelines/db.yaml", "--period", "2024-01"],
        &env,
    );
    pg.wait_for_statement("COPY%");
    std::thread::sleep(std::time::Duration::from_millis(300));
    pg.kill();
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "the run fails: {err}");
    assert!(err.contains("postgres:crm/crm.big_slow"), "{err}");
    pg.start_again();
    assert_eq!(
        state(dir),
        before,
        "warehouse and high-water mark unchanged"
    );
    // The next run resumes from the same mark.
    let s = step_of(&ok_env(
        dir,
        &["run", "pipelines/db.yaml", "--period", "2024-01", "--json"],
        &env,
    ));
    assert_eq!(s["rows_read"], 199_000, "{s}");
    let after = state(dir);
    assert_eq!(after.0[0]["n"], 200_000);
    assert_ne!(after.1, before.1, "the mark moved with the commit");
}
