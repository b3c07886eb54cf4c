"""One bulk fetch through a driver, timed from connect to the last row (the
interpreter's start and the imports are not counted): prints `rows seconds`.

    python3 serve_fetch.py flightsql grpc://127.0.0.1:50051 USER PASSWORD "SELECT …"
    python3 serve_fetch.py postgresql postgresql://USER:PW@127.0.0.1:5433/db "SELECT …"

Used by benches/serve.sh for the Flight SQL and ADBC PostgreSQL (binary COPY)
rows per second, against touchpoint and against PostgreSQL.
"""

import sys
import time


def main() -> None:
    kind = sys.argv[1]
    if kind == "flightsql":
        import adbc_driver_flightsql.dbapi as driver

        uri, user, password, sql = sys.argv[2:6]

        def connect():
            return driver.connect(uri, db_kwargs={"username": user, "password": password})

    else:
        import adbc_driver_postgresql.dbapi as driver

        uri, sql = sys.argv[2:4]

        def connect():
            return driver.connect(uri)

    start = time.perf_counter()
    with connect() as conn:
        cur = conn.cursor()
        cur.execute(sql)
        rows = cur.fetch_arrow_table().num_rows
    print(rows, f"{time.perf_counter() - start:.3f}")


if __name__ == "__main__":
    main()
