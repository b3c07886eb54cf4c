#!/usr/bin/env python3
"""The models phase, touchpoint against DuckDB on the same SQL and the same files.

    benches/models.sh --customers 20000,100000 [--months 12] [--threads 2]

For each size: generate the demo bank, load it with an ingest-only copy of
the pipeline, then run the whole pipeline (nothing new to load: the run is
the models phase) and take each model's time from `run --json` and the
run's peak RSS. DuckDB then runs the shipped SQL models, ported by the
rewrites in `DIALECT` below, in the same order over the same Delta tables'
Parquet files (the files of each table's current version), each model as
`CREATE TABLE … AS` in an on-disk database, in a child process whose peak
RSS is its own. Both sides' rows are compared model by model (numbers to
9 significant digits); a model whose rows differ is reported, not timed
away. The analytics steps (`kind: churn_model`, `kind: clv`) are not SQL:
DuckDB reads touchpoint's tables for them and neither side's total counts
them.

DuckDB runs the ports kept in benches/duckdb/ (one file per model, each
naming the dialect changes made to it); the bench stops if a kept port is
not the port of the model as it is now. `benches/models.sh --port` writes
them again.

Needs duckdb and deltalake (benches/models.sh installs them privately).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# What a shipped model's SQL needs to run in DuckDB: each entry names the
# dialect change and does it. Session settings are listed in SETTINGS.
SETTINGS = [
    # DataFusion divides integers as integers; DuckDB's `/` is a float
    # division unless told otherwise.
    "SET integer_division = true",
    # The warehouse keeps instants in UTC; date parts are taken in UTC on
    # both sides.
    "SET TimeZone = 'UTC'",
]


def split_args(text):
    """Top-level comma-separated arguments of a call's inside."""
    args, depth, cur, quote = [], 0, [], None
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    args.append("".join(cur).strip())
    return args


def rewrite_call(sql, name, render):
    """Replace every call `name(…)` (any case) by render(args)."""
    pattern = re.compile(r"\b" + re.escape(name) + r"\s*\(", re.IGNORECASE)
    out, at = [], 0
    while True:
        m = pattern.search(sql, at)
        if not m:
            out.append(sql[at:])
            return "".join(out)
        depth, i, quote = 1, m.end(), None
        while depth:
            ch = sql[i]
            if quote:
                quote = None if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            i += 1
        inner = rewrite_call(sql[m.end():i - 1], name, render)
        out.append(sql[at:m.start()])
        out.append(render(split_args(inner)))
        at = i


DIALECT = [
    ("to_char(x, fmt) -> strftime(x, fmt)",
     lambda s: rewrite_call(s, "to_char", lambda a: f"strftime({a[0]}, {a[1]})")),
    ("to_date(text) -> CAST(text AS DATE)",
     lambda s: rewrite_call(s, "to_date", lambda a: f"CAST({a[0]} AS DATE)")),
    ("percentile_exact(x, p) (touchpoint's exact interpolating percentile) -> quantile_cont(x, p)",
     lambda s: rewrite_call(s, "percentile_exact", lambda a: f"quantile_cont({a[0]}, {a[1]})")),
    ("make_array(a, …) -> [a, …] (a DuckDB list)",
     lambda s: rewrite_call(s, "make_array", lambda a: f"[{', '.join(a)}]")),
    ("arrow_cast(NULL, 'Timestamp(Microsecond, Some(\"UTC\"))') -> CAST(NULL AS TIMESTAMPTZ)",
     lambda s: rewrite_call(s, "arrow_cast", lambda a: "CAST(NULL AS TIMESTAMPTZ)")),
]


# Changes for one model only (file -> [(what, old regex, new)]).
OVERRIDES = {
    "churn_reasons.sql": [
        ("the month's count as COUNT(*) OVER (PARTITION BY period), which it equals: DuckDB 2.0.1 "
         "fails two ROW_NUMBER windows of opposite orders over a hive partition column "
         "(INTERNAL Error: PhysicalWindow::GetPartitionData)",
         r"ROW_NUMBER\(\) OVER \(PARTITION BY period ORDER BY customer_id\)\s*"
         r"\+ ROW_NUMBER\(\) OVER \(PARTITION BY period ORDER BY customer_id DESC\) - 1",
         "COUNT(*) OVER (PARTITION BY period)"),
    ],
    "data_freshness.sql": [
        ("a timestamp as text is ISO 8601 with a Z in DataFusion, `… +00` in DuckDB",
         r"CAST\(MAX\((\w+)\) AS VARCHAR\)",
         r"CASE WHEN typeof(MAX(\1)) LIKE 'TIMESTAMP%' THEN strftime(MAX(\1), '%Y-%m-%dT%H:%M:%SZ') "
         r"ELSE CAST(MAX(\1) AS VARCHAR) END"),
    ],
}


def port(sql, file=None):
    for _, change in DIALECT:
        sql = change(sql)
    for _, old, new in OVERRIDES.get(file, []):
        sql = re.sub(old, new, sql)
    return sql


# The ported models are kept in the repo (one file per shipped SQL model),
# so what DuckDB runs can be read and diffed; `--port` writes them again.
PORTED = os.path.join(HERE, "duckdb")


def ported_text(sql, file):
    """A kept file's text: a header naming the source and the dialect
    changes that altered it, then the ported SQL."""
    changed = [what for what, change in DIALECT if change(sql) != sql]
    changed += [what for what, old, _ in OVERRIDES.get(file, []) if re.search(old, sql)]
    head = [f"-- DuckDB port of queries/{file}, written by `benches/models.sh --port`: do not edit.",
            "-- Session settings: " + "; ".join(SETTINGS) + "."]
    head += ["-- Dialect changes here: " + ("none" if not changed else changed[0])]
    head += [f"--   {what}" for what in changed[1:]]
    return "\n".join(head) + "\n" + port(sql, file)


def shipped_models():
    """(name, SQL file under queries/) of every SQL model of the shipped pipeline."""
    import yaml
    with open(os.path.join(ROOT, "pipelines/monthly_cx.yaml")) as f:
        spec = yaml.safe_load(f)
    return [(name, os.path.basename(m["sql"])) for name, m in spec["models"].items()
            if m.get("kind", "sql") == "sql" and m.get("sql")]


def write_ported():
    os.makedirs(PORTED, exist_ok=True)
    models = shipped_models()
    for _, file in models:
        with open(os.path.join(ROOT, "queries", file)) as f:
            text = ported_text(f.read(), file)
        with open(os.path.join(PORTED, file), "w") as f:
            f.write(text)
    print(f"wrote {len(models)} ported models to {os.path.relpath(PORTED, ROOT)}/")


def kept_port(sql, file):
    """The kept port of a model, refused when it is not the port of `sql`
    (the model changed since `--port` last ran)."""
    path = os.path.join(PORTED, file)
    want = ported_text(sql, file)
    try:
        with open(path) as f:
            kept = f.read()
    except FileNotFoundError:
        sys.exit(f"{os.path.relpath(path, ROOT)} is missing: run benches/models.sh --port")
    if kept != want:
        sys.exit(f"{os.path.relpath(path, ROOT)} is not the port of queries/{file} as it is now: "
                 "run benches/models.sh --port and review the diff")
    return kept


NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def close(a, b):
    """Two cells equal but for floating-point rounding: numbers within 1e-8
    relative; text whose numbers differ at most by one unit of their last
    printed digit (a half-way value rounded up on one side, down on the
    other: `round(10.35, 1)`), the rest equal."""
    if a == b:
        return True
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-8 * max(abs(a), abs(b), 1e-300) or abs(a - b) < 1e-12
    if isinstance(a, str) and isinstance(b, str):
        if NUMBER.sub("#", a) != NUMBER.sub("#", b):
            return False
        for x, y in zip(NUMBER.findall(a), NUMBER.findall(b)):
            digits = len(x.split(".")[1]) if "." in x else 0
            if abs(float(x) - float(y)) > 1.000001 * 10 ** -digits:
                return False
        return True
    return False


def key(row):
    """Sort key pairing rows of the two sides: text and whole numbers first."""
    return tuple((0, str(v)) if not isinstance(v, float) else (1, "") for v in row) + tuple(
        (v if isinstance(v, float) else 0.0) for v in row)


def within_rounding(only_d, only_t):
    if len(only_d) != len(only_t):
        return False
    return all(all(close(x, y) for x, y in zip(a, b))
               for a, b in zip(sorted(only_d, key=key), sorted(only_t, key=key)))


def run_timed(cmd, cwd, stdout=None):
    """Run a child; its wall seconds and its own peak RSS (MB)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    err = proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-4000:]}")
    return wall, usage.ru_maxrss / 1024.0


def prepare(work, customers, months, seed, binary):
    import yaml
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    for d in ("pipelines", "queries", "reports"):
        shutil.copytree(os.path.join(ROOT, d), os.path.join(work, d))
    run_timed([binary, "generate", "--customers", str(customers), "--months", str(months),
               "--seed", str(seed), "--out", "data"], work, stdout=subprocess.DEVNULL)
    # The same sources under the same pipeline name, without models: the
    # full run after it finds every file loaded and only builds models.
    with open(os.path.join(work, "pipelines/monthly_cx.yaml")) as f:
        spec = yaml.safe_load(f)
    for key in ("models", "reports", "tests"):
        spec.pop(key, None)
    with open(os.path.join(work, "pipelines/ingest_only.yaml"), "w") as f:
        yaml.safe_dump(spec, f, sort_keys=False, allow_unicode=True)


def touchpoint_models(work, periods, binary):
    run_timed([binary, "run", "pipelines/ingest_only.yaml", "--period", periods, "--no-progress"],
              work, stdout=subprocess.DEVNULL)
    out = os.path.join(work, "run.json")
    with open(out, "w") as f:
        wall, rss = run_timed([binary, "run", "pipelines/monthly_cx.yaml", "--period", periods,
                               "--json", "--no-progress"], work, stdout=f)
    with open(out) as f:
        steps = json.load(f)["steps"]
    loaded = [s for s in steps if s["kind"] == "source" and s["rows_loaded"]]
    if loaded:
        sys.exit(f"the models run loaded {loaded[0]['table']} again: not a models-only run")
    ran = [s for s in steps if s["kind"] == "model"]
    models = [(s["table"], s["seconds"]) for s in ran]
    # Models run side by side: the phase is from the first model's start
    # to the last one's end (the analytics steps inside it), not the sum.
    phase = (max(s["started_at"] / 1e6 + s["seconds"] for s in ran)
             - min(s["started_at"] / 1e6 for s in ran))
    return models, wall, rss, phase


def model_kinds(work):
    import yaml
    with open(os.path.join(work, "pipelines/monthly_cx.yaml")) as f:
        spec = yaml.safe_load(f)
    return {name: (m.get("kind", "sql"), m.get("sql")) for name, m in spec["models"].items()}


# ---------------------------------------------------------------- DuckDB side

def normalised(con, schema, table):
    """A SELECT list that makes two tables' rows comparable."""
    cols = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table]).fetchall()
    exprs = []
    for name, kind in cols:
        q = '"' + name.replace('"', '""') + '"'
        k = kind.upper()
        if k.startswith(("DOUBLE", "FLOAT", "REAL", "DECIMAL", "HUGEINT")):
            x = f"CAST({q} AS DOUBLE)"
            exprs.append(f"CASE WHEN {x} IS NULL OR {x} = 0 OR isnan({x}) THEN {x} "
                         f"ELSE round({x}, 8 - CAST(floor(log10(abs({x}))) AS INTEGER)) END AS {q}")
        elif k.startswith("TIMESTAMP"):
            exprs.append(f"epoch_us({q}) AS {q}")
        elif k in ("DATE",):
            exprs.append(f"CAST({q} AS VARCHAR) AS {q}")
        elif k.startswith(("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER")):
            exprs.append(f"CAST({q} AS BIGINT) AS {q}")
        else:
            exprs.append(q)
    return [c[0] for c in cols], ", ".join(exprs)


def duckdb_side_by_side(con, work, order, kinds, workers, threads):
    """The SQL models as touchpoint runs them: up to `workers` at once, each
    when the models it reads are built (DuckDB shares its threads among
    them). Times only; the rows are compared in the one-at-a-time pass."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
    deps = model_deps(work)
    sql_models = [n for n in order if kinds[n][0] == "sql"]
    done = {n for n in order if kinds[n][0] != "sql"}  # steps: touchpoint's tables

    def build(name):
        with open(os.path.join(work, "pipelines", kinds[name][1])) as f:
            sql = kept_port(f.read(), os.path.basename(kinds[name][1]))
        cur = con.cursor()
        for setting in SETTINGS:  # a cursor is a connection of its own
            cur.execute(setting)
        cur.execute(f'CREATE TABLE main."{name}" AS {sql}')
        cur.close()
        return name

    start = time.monotonic()
    pending, running = list(sql_models), {}
    with ThreadPoolExecutor(workers) as pool:
        while pending or running:
            for name in list(pending):
                if len(running) >= workers:
                    break
                if all(d in done or d not in kinds for d in deps.get(name, ())):
                    pending.remove(name)
                    running[pool.submit(build, name)] = name
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in finished:
                done.add(running.pop(f))
                f.result()
    con.execute("CHECKPOINT")
    seconds = time.monotonic() - start
    import resource
    json.dump({"duckdb_version": duckdb_version(), "threads": threads, "workers": workers,
               "seconds": seconds,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0},
              sys.stdout)


def duckdb_version():
    import duckdb
    return duckdb.__version__


def model_deps(work):
    """What each model reads, from `touchpoint graph --dot` (saved by main)."""
    deps = {}
    with open(os.path.join(work, "graph.dot")) as f:
        for a, b in re.findall(r'^\s*"([^"]+)" -> "([^"]+)";', f.read(), re.M):
            deps.setdefault(b, []).append(a)
    return deps


def duckdb_main(args):
    import duckdb
    from deltalake import DeltaTable
    work, threads = args.work, args.threads
    order = json.loads(args.order)
    kinds = model_kinds(work)
    side = args.side_by_side
    db = os.path.join(work, "duck_side.db" if side else "duck.db")
    if os.path.exists(db):
        os.remove(db)
    con = duckdb.connect(db)
    con.execute(f"SET threads = {threads}")
    for s in SETTINGS:
        con.execute(s)
    con.execute("CREATE SCHEMA tp")
    warehouse = os.path.join(work, "warehouse")
    for table in sorted(os.listdir(warehouse)):
        path = os.path.join(warehouse, table)
        if not os.path.isdir(os.path.join(path, "_delta_log")):
            continue
        dt = DeltaTable(path)
        files = dt.file_uris()
        if not files:
            continue
        parts = dt.metadata().partition_columns
        listing = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
        hive = ", hive_partitioning = true, hive_types = {" + ", ".join(
            f"'{p}': VARCHAR" for p in parts) + "}" if parts else ""
        con.execute(f'CREATE VIEW tp."{table}" AS SELECT * FROM read_parquet({listing}{hive})')
        if table in kinds and kinds[table][0] == "sql":
            continue  # DuckDB builds it
        con.execute(f'CREATE VIEW main."{table}" AS SELECT * FROM tp."{table}"')
    if side:
        return duckdb_side_by_side(con, work, order, kinds, side, threads)
    results = []
    for name in order:
        kind, sql_file = kinds[name]
        if kind != "sql":
            continue  # a step: its view over touchpoint's table is made above
        with open(os.path.join(work, "pipelines", sql_file)) as f:
            sql = kept_port(f.read(), os.path.basename(sql_file))
        start = time.monotonic()
        try:
            con.execute(f'CREATE TABLE main."{name}" AS {sql}')
            con.execute("CHECKPOINT")
        except duckdb.Error as e:
            results.append({"model": name, "error": str(e).splitlines()[0][:300]})
            con.execute(f'CREATE VIEW main."{name}" AS SELECT * FROM tp."{name}"')
            continue
        seconds = time.monotonic() - start
        results.append({"model": name, "seconds": seconds})
    # Compared after every model ran, so the comparisons are not timed.
    for r in results:
        if "error" in r:
            continue
        name = r["model"]
        cols_d, sel_d = normalised(con, "main", name)
        cols_t, sel_t = normalised(con, "tp", name)
        if sorted(cols_d) != sorted(cols_t):
            r["differs"] = f"columns {cols_d} vs {cols_t}"
            continue
        # Same column order on both sides.
        order_cols = ", ".join('"' + c.replace('"', '""') + '"' for c in cols_t)
        a = f'SELECT {order_cols} FROM (SELECT {sel_d} FROM main."{name}")'
        b = f'SELECT {order_cols} FROM (SELECT {sel_t} FROM tp."{name}")'
        only_d = con.execute(f"SELECT COUNT(*) FROM ({a} EXCEPT ALL {b})").fetchone()[0]
        only_t = con.execute(f"SELECT COUNT(*) FROM ({b} EXCEPT ALL {a})").fetchone()[0]
        rows = con.execute(f'SELECT COUNT(*) FROM tp."{name}"').fetchone()[0]
        r["rows"] = rows
        if only_d or only_t:
            if only_d == only_t and only_d <= 100_000:
                rows_d = con.execute(f"{a} EXCEPT ALL {b}").fetchall()
                rows_t = con.execute(f"{b} EXCEPT ALL {a}").fetchall()
                if within_rounding(rows_d, rows_t):
                    r["rounding"] = only_d
                    continue
            sample = con.execute(f"{a} EXCEPT ALL {b} LIMIT 2").fetchall()
            r["differs"] = f"{only_d} rows only in DuckDB, {only_t} only in touchpoint; e.g. {sample}"
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    json.dump({"duckdb_version": duckdb.__version__, "threads": threads, "peak_rss_mb": peak,
               "models": results}, sys.stdout)


# ------------------------------------------------------------------- driver

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--customers", default="20000", help="comma-separated sizes")
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2,
                   help="DuckDB threads (touchpoint uses every core)")
    p.add_argument("--work", default=os.path.join(ROOT, "target", "bench-models"))
    p.add_argument("--bin", default=os.environ.get("TOUCHPOINT_BIN"))
    p.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 4),
                   help="models at once: touchpoint's TOUCHPOINT_MODEL_PARALLELISM (unless set) "
                        "and DuckDB's second pass")
    p.add_argument("--port", action="store_true",
                   help="write the DuckDB ports of the shipped models to benches/duckdb/ and stop")
    p.add_argument("--duckdb-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--order", help=argparse.SUPPRESS)
    p.add_argument("--side-by-side", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.port:
        return write_ported()
    if args.duckdb_only:
        return duckdb_main(args)
    binary = args.bin or os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                                      "release", "touchpoint")
    periods = f"2024-01..2024-{args.months:02d}" if args.months <= 12 else sys.exit("at most 12 months")
    # touchpoint builds models one at a time unless asked: the bench asks
    # for --workers at once, as DuckDB's second pass runs them.
    os.environ.setdefault("TOUCHPOINT_MODEL_PARALLELISM", str(args.workers))
    print(f"touchpoint: TOUCHPOINT_MODEL_PARALLELISM={os.environ['TOUCHPOINT_MODEL_PARALLELISM']}")
    print("dialect changes:", *[f"  {d}" for d, _ in DIALECT], *[f"  {s}" for s in SETTINGS],
          *[f"  {f}: {what}" for f, changes in OVERRIDES.items() for what, _, _ in changes], sep="\n")
    for n in [int(x) for x in args.customers.split(",")]:
        work = os.path.join(args.work, str(n))
        prepare(work, n, args.months, args.seed, binary)
        tp, tp_wall, tp_rss, tp_phase = touchpoint_models(work, periods, binary)
        out = os.path.join(work, "duck.json")
        with open(out, "w") as f:
            duck_wall, duck_rss = run_timed(
                [sys.executable, os.path.abspath(__file__), "--duckdb-only", "--work", work,
                 "--threads", str(args.threads), "--order", json.dumps([m for m, _ in tp])],
                work, stdout=f)
        with open(out) as f:
            duck = json.load(f)
        # The same models two at a time, as touchpoint runs them.
        with open(os.path.join(work, "graph.dot"), "w") as f:
            subprocess.run([binary, "graph", "--dot"], cwd=work, stdout=f, check=True)
        side_out = os.path.join(work, "duck_side.json")
        with open(side_out, "w") as f:
            run_timed([sys.executable, os.path.abspath(__file__), "--duckdb-only", "--work", work,
                       "--threads", str(args.threads), "--side-by-side", str(args.workers),
                       "--order", json.dumps([m for m, _ in tp])], work, stdout=f)
        with open(side_out) as f:
            duck["side_by_side"] = json.load(f)
        report(n, args.months, tp, tp_wall, tp_rss, tp_phase, duck, args.threads)


def report(n, months, tp, tp_wall, tp_rss, tp_phase, duck, threads):
    by = {r["model"]: r for r in duck["models"]}
    print(f"\n## {n:,} customers x {months} months (DuckDB {duck['duckdb_version']}, {threads} threads)")
    print("| model | touchpoint s | DuckDB s | ratio | rows | same rows |")
    print("|---|---|---|---|---|---|")
    total_t = total_d = 0.0
    different = []
    for name, secs in tp:
        r = by.get(name)
        if r is None:
            continue
        if "error" in r:
            print(f"| {name} | {secs:.3f} | error | | | {r['error']} |")
            different.append(name)
            continue
        same = ("NO: " + r["differs"][:200] if "differs" in r
                else f"yes ({r['rounding']} within float rounding)" if "rounding" in r else "yes")
        if "differs" in r:
            different.append(name)
        total_t += secs
        total_d += r["seconds"]
        ratio = secs / r["seconds"] if r["seconds"] > 0 else float("inf")
        print(f"| {name} | {secs:.3f} | {r['seconds']:.3f} | {ratio:.2f} | {r.get('rows', '')} | {same} |")
    ratio = tp_phase / total_d if total_d else float("inf")
    print(f"\nmodels phase: touchpoint {tp_phase:.2f} s (first model's start to last one's end, "
          f"{len(tp)} models side by side, the analytics steps included), DuckDB {total_d:.2f} s "
          f"(its SQL models one after another): ratio {ratio:.2f}x (< 1: touchpoint faster)")
    print(f"SQL models' own times added up: touchpoint {total_t:.2f} s (they overlap), "
          f"DuckDB {total_d:.2f} s")
    side = duck.get("side_by_side")
    if side:
        print(f"DuckDB with the same models {side['workers']} at a time (each when its inputs are "
              f"built): {side['seconds']:.2f} s: touchpoint's phase / this = "
              f"{tp_phase / side['seconds']:.2f}x; its peak RSS {side['peak_rss_mb']:.0f} MB")
    print(f"touchpoint models run: {tp_wall:.1f} s wall, peak RSS {tp_rss:.0f} MB; "
          f"DuckDB process peak RSS {duck['peak_rss_mb']:.0f} MB")
    if different:
        print(f"rows differ or failed: {', '.join(different)}")


if __name__ == "__main__":
    main()
