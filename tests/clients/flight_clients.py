"""The ADBC Flight SQL driver against `touchpoint serve --flight`
(tests/cli/serve.rs runs this). Prints one JSON object for the test."""
import json
import sys

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow.flight as fl


def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field(number, data):
    """A length-delimited protobuf field."""
    return bytes([number << 3 | 2]) + varint(len(data)) + data


def cancel_flight_info(port, user, password):
    """Start a long query, read one batch, cancel it by its FlightInfo
    (the CancelFlightInfo action, built by hand: pyarrow has no helper),
    then read on: the stream must end with the cancel error. A second
    cancel finds nothing running."""
    client = fl.FlightClient(f"grpc://127.0.0.1:{port}")
    opts = fl.FlightCallOptions(headers=[client.authenticate_basic_token(user, password)])
    sql = (
        "SELECT a.customer_id, b.customer_id AS b, c.customer_id AS c"
        " FROM customers a CROSS JOIN customers b CROSS JOIN customers c"
    )
    command = field(1, b"type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery")
    command += field(2, field(1, sql.encode()))
    info = client.get_flight_info(fl.FlightDescriptor.for_command(command), opts)
    reader = client.do_get(info.endpoints[0].ticket, opts)
    reader.read_chunk()
    body = field(1, info.serialize())
    got = {"status": [r.body.to_pybytes().hex() for r in client.do_action(fl.Action("CancelFlightInfo", body), opts)]}
    try:
        rows = 0
        while True:
            rows += reader.read_chunk().data.num_rows
    except StopIteration:
        got["after"] = "ended without error"
    except Exception as e:
        got["after"] = str(e).splitlines()[0]
    try:
        list(client.do_action(fl.Action("CancelFlightInfo", body), opts))
        got["again"] = "cancelled again"
    except Exception as e:
        got["again"] = type(e).__name__
    return got


port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = {}
with flight_sql.connect(
    f"grpc://127.0.0.1:{port}",
    db_kwargs={"username": user, "password": password},
) as conn:
    with conn.cursor() as cur:
        cur.execute("SELECT customer_id, full_name, region FROM customers ORDER BY customer_id")
        table = cur.fetch_arrow_table()
        out["rows"] = table.num_rows
        out["types"] = [str(f.type) for f in table.schema]
        out["names"] = table.column("full_name").to_pylist()[:5]
        out["regions"] = sorted(set(table.column("region").to_pylist()))
        # Into pandas, as a notebook reads a mart (where the role may).
        try:
            cur.execute("SELECT * FROM customer_month")
            frame = cur.fetch_df()
            out["pandas"] = [len(frame), len(frame.columns)]
        except Exception as e:
            out["pandas"] = str(e).splitlines()[0]
        try:
            cur.execute("SELECT COUNT(*) AS n FROM interactions")
            out["interactions"] = cur.fetch_arrow_table().column("n").to_pylist()[0]
        except Exception as e:
            out["interactions"] = str(e).splitlines()[0]
        # A prepared statement with a bound parameter (DoPut, then the
        # handle that carries the value).
        cur.execute(
            "SELECT COUNT(DISTINCT customer_id) AS n FROM customers WHERE region = $1",
            parameters=("Kowloon",),
        )
        out["param_kowloon"] = cur.fetch_arrow_table().column("n").to_pylist()[0]
        cur.execute(
            "SELECT full_name, birth_year FROM customers WHERE customer_id = $1",
            parameters=(sys.argv[4],),
        )
        out["param_one"] = cur.fetch_arrow_table().to_pylist()
        try:
            cur.execute("SELECT $1 + 1 AS x", parameters=("a", "b"))
            out["param_count"] = cur.fetch_arrow_table().to_pylist()
        except Exception as e:
            out["param_count"] = str(e).splitlines()[0]
        try:
            cur.execute("DELETE FROM customers")
            cur.fetch_arrow_table()
            out["delete"] = "allowed"
        except Exception as e:  # the driver's error class varies by version
            out["delete"] = type(e).__name__ + ": " + str(e).splitlines()[0]
    objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
    out["tables"] = sorted(
        t["table_name"]
        for c in objects
        for s in (c["catalog_db_schemas"] or [])
        for t in (s["db_schema_tables"] or [])
    )
    out["schema"] = [f.name for f in conn.adbc_get_table_schema("customers")]
out["cancel"] = cancel_flight_info(port, user, password)
print(json.dumps(out))
