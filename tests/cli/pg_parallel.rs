//! `parallel: N` against a real PostgreSQL: the key ranges together read
//! exactly the rows one connection reads (an int key split between its
//! bounds, a text key at its statistics, a bad value quarantined once),
//! each range on a connection of its own in the one exported snapshot, so
//! rows committed while the ranges are read are not seen.

use crate::common::{ok_env, query_env};
use crate::pgserver::PgServer;
use crate::postgres::Env;
use std::path::Path;

const TXN_COLUMNS: &str = "      txn_id: {type: int, required: true}\n      customer_id: {type: string}\n      amount: {type: \"decimal(18,2)\"}\n      txn_time: {type: timestamp}\n";
const CUSTOMER_COLUMNS: &str =
    "      customer_id: {type: string, required: true}\n      tier: {type: string}\n";

/// Two sources, `txns` (int key) and `customers` (text key), with
/// `parallel` set as given (or not at all).
fn project(dir: &Path, txns: &str, parallel: Option<u32>) {
    let p = parallel
        .map(|n| format!(", parallel: {n}"))
        .unwrap_or_default();
    std::fs::create_dir_all(dir.join("pipelines")).expect("mkdir");
    std::fs::write(
        dir.join("pipelines/db.yaml"),
        format!(
            "name: db\ntimezone: Asia/Hong_Kong\nextracts: ../data\nsources:\n  \
             txns:\n    postgres: {{profile: crm, table: {txns}{p}}}\n    key: [txn_id]\n    columns:\n{TXN_COLUMNS}  \
             customers:\n    postgres: {{profile: crm, table: crm.customers{p}}}\n    key: [customer_id]\n    columns:\n{CUSTOMER_COLUMNS}"
        ),
    )
    .expect("pipeline");
}

fn csv(dir: &Path, env: &Env, sql: &str) -> String {
    ok_env(dir, &["query", "--format", "csv", sql], env)
}

fn create(pg: &PgServer) {
    pg.psql(
        "postgres",
        "CREATE SCHEMA crm;
         CREATE TABLE crm.txns (txn_id bigint PRIMARY KEY, customer_id text,
           amount numeric(20,4), txn_time timestamptz);
         INSERT INTO crm.txns SELECT i * 3 - (i % 7), 'C' || lpad((i % 500)::text, 4, '0'),
           round((i * 1.37)::numeric, 2), timestamptz '2024-01-01 00:00+00' + (i || ' minutes')::interval
           FROM generate_series(1, 20000) i;
         UPDATE crm.txns SET amount = 1.005 WHERE txn_id = 3 * 777 - (777 % 7);
         CREATE TABLE crm.customers (customer_id text PRIMARY KEY, tier text);
         INSERT INTO crm.customers SELECT 'C' || lpad(i::text, 4, '0'),
           CASE WHEN i % 4 = 0 THEN 'Premier' ELSE 'Personal' END FROM generate_series(0, 4999) i;
         ANALYZE crm.txns; ANALYZE crm.customers;",
    );
}

#[test]
fn ranges_read_exactly_what_one_connection_reads() {
    let pg = PgServer::start();
    create(&pg);
    pg.psql("postgres", "ALTER SYSTEM SET log_statement = 'all'");
    pg.psql("postgres", "SELECT pg_reload_conf()");
    let env: Env = pg.profile("postgres");
    let run = ["run", "pipelines/db.yaml", "--period", "2024-01", "--json"];
    let (one_tmp, par_tmp) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let (one, par) = (one_tmp.path(), par_tmp.path());
    project(one, "crm.txns", None);
    project(par, "crm.txns", Some(4));
    ok_env(one, &run, &env);
    let imports_before = pg.log().matches("SET TRANSACTION SNAPSHOT").count();
    assert_eq!(imports_before, 0, "one connection imports no snapshot");
    let out = ok_env(par, &run, &env);
    // Each source: four ranges, four connections importing the snapshot.
    let log = pg.log();
    assert_eq!(
        log.matches("pg_export_snapshot()").count(),
        2,
        "one export per source"
    );
    assert_eq!(log.matches("SET TRANSACTION SNAPSHOT").count(), 8, "{log}");
    let summary: serde_json::Value = serde_json::from_str(&out).expect("json");
    let txns = crate::common::step(&summary, "txns");
    assert_eq!(txns["rows_read"], 20000, "{txns}");
    assert_eq!(txns["rows_loaded"], 19999, "{txns}");
    assert_eq!(txns["rows_quarantined"], 1, "the 4-decimal amount: {txns}");
    let customers = crate::common::step(&summary, "customers");
    assert_eq!(customers["rows_read"], 5000, "{customers}");
    for sql in [
        "SELECT * FROM txns ORDER BY txn_id",
        "SELECT * FROM customers ORDER BY customer_id",
        "SELECT file, column_name, reason FROM _quarantine ORDER BY file",
    ] {
        let (a, b) = (csv(one, &env, sql), csv(par, &env, sql));
        assert!(a.lines().count() > 1, "{sql}: {a}");
        assert_eq!(a, b, "{sql}");
    }
    // Hand check of the quarantined row's name: the key, not a line.
    let q = query_env(par, "SELECT file FROM _quarantine", &env);
    assert_eq!(q[0]["file"], "postgres:crm/crm.txns (txn_id=2331)");
}

#[test]
fn rows_committed_during_a_parallel_read_are_not_seen() {
    let pg = PgServer::start();
    create(&pg);
    // A view that streams slowly (and whose key has no index, so even its
    // bounds take a while), so the change commits mid-extract.
    pg.psql(
        "postgres",
        "CREATE FUNCTION crm.slow(i bigint) RETURNS bool LANGUAGE plpgsql AS $$
           BEGIN IF i % 500 = 0 THEN PERFORM pg_sleep(0.05); END IF; RETURN true; END $$;
         CREATE VIEW crm.txns_slow AS SELECT (txn_id + 0)::bigint AS txn_id, customer_id,
           amount, txn_time FROM crm.txns WHERE crm.slow(txn_id);",
    );
    let env: Env = pg.profile("postgres");
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    project(dir, "crm.txns_slow", Some(3));
    let child = crate::common::spawn_env(
        dir,
        &["run", "pipelines/db.yaml", "--period", "2024-01", "--json"],
        &env,
    );
    pg.wait_for_statement("SELECT min(%txns_slow%");
    // Committed while the extract looks for the key's bounds (in its
    // transaction, after its snapshot), so before any range starts: a
    // range that did not import the snapshot would see it.
    pg.psql(
        "postgres",
        "DELETE FROM crm.txns WHERE txn_id % 2 = 0;
         INSERT INTO crm.txns SELECT 100000 + i, 'C0001', 1, now() FROM generate_series(1, 1000) i;",
    );
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = query_env(
        dir,
        "SELECT count(*) AS n, max(txn_id) AS top FROM txns",
        &env,
    );
    assert_eq!(
        n[0]["n"], 19999,
        "the rows of the snapshot, one quarantined"
    );
    assert!(n[0]["top"].as_i64().expect("top") < 100000);
}
