//! Deletes by reconcile against a real PostgreSQL: rows deleted outright
//! in the database (no soft-delete column) leave the table on every N-th
//! incremental run, which reads every key in the extract's snapshot; the
//! history closes their versions; a database that returns no key at all
//! is refused, not obeyed.

use crate::common::{ok_env, query_env, touchpoint_env};
use crate::pgserver::PgServer;
use crate::postgres::{CUSTOMER_COLUMNS, Env, create_customers, one_source, step_of, table_csv};

const RECONCILE: &str = "    key: [customer_id]\n    cursor: updated_at\n    deletes: {reconcile_every: 2}\n    history: {track: [tier]}\n";

const RUN: [&str; 5] = ["run", "pipelines/db.yaml", "--period", "2024-01", "--json"];

fn message(step: &serde_json::Value) -> String {
    step["message"].as_str().expect("message").to_string()
}

#[test]
fn hard_deletes_leave_the_table_every_nth_run() {
    let pg = PgServer::start();
    create_customers(&pg);
    pg.psql(
        "postgres",
        "INSERT INTO crm.customers
           SELECT 'C' || lpad(i::text, 3, '0'), 'Personal', 'B01',
                  timestamptz '2024-01-01 00:00:00+00' - (i || ' days')::interval, false
           FROM generate_series(1, 100) i;",
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    one_source(dir, "crm.customers", CUSTOMER_COLUMNS, RECONCILE);
    let env: Env = pg.profile("postgres");
    let first = step_of(&ok_env(dir, &RUN, &env));
    assert_eq!(first["rows_loaded"], 100, "{first}");
    // Three rows deleted outright, one changed.
    pg.psql(
        "postgres",
        "DELETE FROM crm.customers WHERE customer_id IN ('C010', 'C020', 'C030');
         UPDATE crm.customers SET tier = 'Premier', updated_at = '2024-02-01 00:00:00+00'
           WHERE customer_id = 'C001';",
    );
    // The first incremental run is not the second: changes only.
    let second = step_of(&ok_env(dir, &RUN, &env));
    assert_eq!(second["rows_read"], 1, "{second}");
    let msg = message(&second);
    assert!(
        msg.contains("merged: 0 inserted, 1 updated, 0 deleted") && !msg.contains("reconciled"),
        "{msg}"
    );
    assert!(table_csv(dir, &env).contains("C010"));
    // The second compares every key, and removes the three.
    let before = chrono::Utc::now().timestamp_micros();
    let third = step_of(&ok_env(dir, &RUN, &env));
    let msg = message(&third);
    assert!(
        msg.contains("and every key (deletes by reconcile)"),
        "{msg}"
    );
    assert!(
        msg.contains("reconciled: 97 key(s) in the database, 3 row(s) no longer there deleted"),
        "{msg}"
    );
    assert_eq!(third["rows_read"], 0, "only keys cross the wire: {third}");
    let table = table_csv(dir, &env);
    assert_eq!(table.lines().count(), 1 + 97, "{table}");
    for gone in ["C010", "C020", "C030"] {
        assert!(!table.contains(gone), "{gone} still in the table");
    }
    // The table equals a fresh full extract.
    let fresh_tmp = tempfile::tempdir().expect("tmp");
    let fresh = fresh_tmp.path();
    one_source(fresh, "crm.customers", CUSTOMER_COLUMNS, RECONCILE);
    ok_env(fresh, &RUN, &env);
    assert_eq!(table, table_csv(fresh, &env));
    // The history closed exactly the three, at the reconciling run.
    let closed = query_env(
        dir,
        "SELECT customer_id, tier, CAST(valid_to AS BIGINT) AS to_us FROM src_history \
         WHERE NOT is_current ORDER BY customer_id",
        &env,
    );
    let ids: Vec<&str> = closed
        .iter()
        .map(|r| r["customer_id"].as_str().expect("id"))
        .collect();
    // C001's Personal version closed when it became Premier.
    assert_eq!(ids, ["C001", "C010", "C020", "C030"], "{closed:?}");
    for r in &closed[1..] {
        let to = r["to_us"].as_i64().expect("valid_to");
        assert!(to >= before - 5_000_000, "closed at the run: {r:?}");
    }
    let current = query_env(
        dir,
        "SELECT count(*) AS n FROM src_history WHERE is_current",
        &env,
    );
    assert_eq!(current[0]["n"], 97);
    // The count starts again: the next run reads changes only.
    let fourth = step_of(&ok_env(dir, &RUN, &env));
    assert!(!message(&fourth).contains("reconciled"), "{fourth}");
    // Every key gone (a wrong grant, an emptied view): refused, and the
    // table and its mark stay as they were.
    let mark = |dir: &std::path::Path| {
        query_env(
            dir,
            "SELECT version FROM _loaded_files WHERE source = 'src'",
            &env,
        )
    };
    let mark_before = mark(dir);
    pg.psql("postgres", "DELETE FROM crm.customers");
    let out = touchpoint_env(dir, &RUN[..4], &env);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("returned no key at all") && err.contains("all 97 rows"),
        "{err}"
    );
    assert!(
        err.contains("help:") && err.contains("--full-refresh"),
        "{err}"
    );
    assert_eq!(table_csv(dir, &env), table);
    assert_eq!(mark(dir), mark_before);
}
