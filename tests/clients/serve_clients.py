"""Real Python clients against `touchpoint serve` (tests/cli/serve.rs runs this).

psycopg 3 with server-side parameters, a prepared statement and binary
results; SQLAlchemy's inspector as Superset uses it at connect time.
Prints one JSON object for the Rust test to check.
"""
import json
import sys

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
print(json.dumps(out))
