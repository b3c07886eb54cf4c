"""Real Python clients against `touchpoint serve` (tests/cli/serve.rs runs this).

psycopg 3 with server-side parameters, a prepared statement and binary
results; SQLAlchemy's inspector as Superset uses it at connect time; the
ADBC PostgreSQL driver (libpq, binary COPY) into pyarrow.
Prints one JSON object for the Rust test to check.
"""
import datetime
import decimal
import json
import math
import numbers
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
        # A mart with every kind of column (text, integers, floats, numeric,
        # timestamps, nulls) into pandas through binary COPY, held value for
        # value to psycopg's reading of the same rows in the text format.
        mart = "SELECT * FROM customer_month ORDER BY customer_id, period"
        cur.execute(mart)
        frame = cur.fetch_df()


def plain(v):
    """A value as both drivers can agree on it: numbers exactly, instants in UTC."""
    if v is None or v is getattr(__import__("pandas"), "NaT") or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).isoformat() if v.tzinfo else v.isoformat()
    if hasattr(v, "to_pydatetime"):
        return plain(v.to_pydatetime())
    if isinstance(v, (numbers.Number, decimal.Decimal)) and not isinstance(v, bool):
        return format(decimal.Decimal(str(v)).normalize(), "f")
    if isinstance(v, str):
        try:
            return format(decimal.Decimal(v).normalize(), "f")
        except decimal.InvalidOperation:
            return v
    return str(v)


with psycopg.connect(conninfo) as conn:
    text_rows = conn.execute(mart).fetchall()
out["pandas_rows"] = [len(frame), len(text_rows)]
out["pandas_columns"] = len(frame.columns)
mismatches = []
for i, row in enumerate(text_rows):
    for j, want in enumerate(row):
        got = frame.iat[i, j]
        if plain(got) != plain(want):
            mismatches.append(f"row {i} {frame.columns[j]}: {got!r} vs {want!r}")
out["pandas_mismatches"] = mismatches[:5]
print(json.dumps(out))
