"""Real Python clients against `touchpoint serve` (tests/cli/serve.rs runs this).

psycopg 3 with server-side parameters, a prepared statement and binary
results; SQLAlchemy's inspector as Superset uses it at connect time; the
ADBC PostgreSQL driver (libpq, binary COPY) into pyarrow.
Prints one JSON object for the Rust test to check.
"""
import json
import sys

import adbc_driver_postgresql.dbapi as adbc_pg
import psycopg
import sqlalchemy

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = {}
conninfo = f"host=127.0.0.1 port={port} user={user} dbname=touchpoint password={password} sslmode=disable"
with psycopg.connect(conninfo) as conn:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COUNT(DISTINCT customer_id) FROM customers WHERE region = %s", ["Kowloon"]
        )
        out["kowloon"] = cur.fetchone()[0]
        # prepare=True: a named server-side prepared statement, run twice.
        counts = []
        for region in ["Kowloon", "New Territories", "Hong Kong Island"]:
            cur.execute(
                "SELECT COUNT(DISTINCT customer_id) FROM customers WHERE region = %s",
                [region],
                prepare=True,
            )
            counts.append(cur.fetchone()[0])
        out["prepared"] = counts
        cur.execute("SELECT full_name FROM customers LIMIT 5")
        out["names"] = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT pg_catalog.version()")
        out["version"] = cur.fetchone()[0]
    with conn.cursor(binary=True) as cur:
        cur.execute(
            "SELECT customer_id, birth_year, opened_date FROM customers WHERE customer_id = %s",
            [sys.argv[4]],
        )
        out["binary"] = [[str(v) for v in r] for r in cur.fetchall()]
    # A cancel request (libpq's PQcancel) stops a running statement; the
    # connection stays usable.
    import threading
    import time

    threading.Thread(target=lambda: (time.sleep(1.0), conn.cancel()), daemon=True).start()
    started = time.monotonic()
    try:
        conn.execute("SELECT COUNT(*) FROM generate_series(1, 100000000000) WHERE value % 7 = 3")
        out["cancel"] = "finished"
    except psycopg.Error as e:
        out["cancel"] = e.sqlstate
    out["cancel_seconds"] = time.monotonic() - started
    conn.rollback()
    out["after_cancel"] = conn.execute("SELECT 40 + 2").fetchone()[0]
    # 10,000 bound parameters: an answer or an error, never a crash.
    try:
        row = conn.execute("SELECT " + ", ".join(["%s"] * 10000), list(range(10000))).fetchone()
        out["many_params"] = sum(int(v) for v in row)
    except psycopg.Error as e:
        out["many_params"] = e.sqlstate
        conn.rollback()
    try:
        conn.execute("DELETE FROM customers")
        out["delete"] = "allowed"
    except psycopg.Error as e:
        out["delete"] = e.sqlstate

engine = sqlalchemy.create_engine(
    f"postgresql+psycopg://{user}:{password}@127.0.0.1:{port}/touchpoint"
)
insp = sqlalchemy.inspect(engine)
out["tables"] = insp.get_table_names()
out["columns"] = [c["name"] for c in insp.get_columns("customers")]
engine.dispose()

# The ADBC PostgreSQL driver reads pg_type at connect, describes the query,
# then fetches it as `COPY (…) TO STDOUT (FORMAT binary)`.
uri = f"postgresql://{user}:{password}@127.0.0.1:{port}/touchpoint?sslmode=disable"
with adbc_pg.connect(uri) as conn:
    with conn.cursor() as cur:
        cur.execute("SELECT customer_id, full_name, region FROM customers")
        table = cur.fetch_arrow_table()
        out["adbc_rows"] = table.num_rows
        out["adbc_ids"] = len(set(table.column("customer_id").to_pylist()))
        regions = table.column("region").to_pylist()
        out["adbc_kowloon"] = len({
            c for c, r in zip(table.column("customer_id").to_pylist(), regions) if r == "Kowloon"
        })
        out["adbc_names"] = table.column("full_name").to_pylist()[:5]
        cur.execute(
            "SELECT customer_id, birth_year, opened_date FROM customers WHERE customer_id = $1",
            parameters=(sys.argv[4],),
        )
        one = cur.fetch_arrow_table()
        out["adbc_one"] = [str(one.column(i)[0].as_py()) for i in range(one.num_columns)]
        out["adbc_types"] = [str(t) for t in one.schema.types]
print(json.dumps(out))
