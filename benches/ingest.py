#!/usr/bin/env python3
"""Ingestion benchmark: touchpoint's loader against DuckDB on the same extracts.

For each size (customers x months) it:
  1. generates the synthetic bank with `touchpoint generate` (timed),
  2. copies pipelines/, queries/, reports/ into a scratch project,
  3. runs the shipped pipeline over every month under `/usr/bin/time -v`
     (whole-run wall and peak RSS; load time = the load phase's wall span),
  4. loads the same files with DuckDB into one Parquet file per source, with
     the pipeline's column types, timestamp formats and time zones, in a child
     process under `/usr/bin/time -v` (so its peak RSS is measured apart),
  5. prints a table, reconciles the per-source row counts and values against
     touchpoint's warehouse, and writes results.json.

Layout of --out DIR: DIR/results.json, and per size DIR/<N>x<M>/ with
project/ (pipelines, queries, reports, and the extracts in project/data: the
pipeline's `extracts: ../data` is relative to pipelines/ and must stay inside
the project), wh/ (touchpoint's warehouse), duck/ (DuckDB's Parquet) and
touchpoint.stderr. Without --keep, data, wh and duck are deleted afterwards.

Example: benches/ingest.sh --sizes 2000x2 --keep

Only the standard library and duckdb are needed; run it through
benches/ingest.sh, which builds the release binary and makes duckdb
importable. The binary measured is $TOUCHPOINT_BIN, default
${CARGO_TARGET_DIR:-$HOME/.cache/touchpoint-target}/release/touchpoint.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parent.parent
PIPELINE = "pipelines/monthly_cx.yaml"
START = "2024-01"
SEED = 7
HK = "Asia/Hong_Kong"
SOURCES = ["customers", "leads", "balances", "atm", "branch_visits", "online_sessions", "calls",
           "surveys", "complaints", "rm_contacts"]


def default_bin():
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser("~/.cache/touchpoint-target")
    return os.environ.get("TOUCHPOINT_BIN") or os.path.join(target, "release", "touchpoint")


def parse_sizes(text):
    sizes = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)x(\d+)\s*", part)
        if not m:
            sys.exit(f"bad size {part!r}: want CUSTOMERSxMONTHS, e.g. 100000x12")
        sizes.append((int(m.group(1)), int(m.group(2))))
    return sizes


def month_range(start, months):
    y, m = map(int, start.split("-"))
    out = []
    for i in range(months):
        yy, mm = y + (m - 1 + i) // 12, (m - 1 + i) % 12 + 1
        out.append(f"{yy:04d}-{mm:02d}")
    return out


def timed(cmd, cwd=None, env=None):
    """Run cmd under `/usr/bin/time -v`. Returns rc, stdout, stderr and:
      wall    seconds, monotonic clock here (finer than time's m:ss.cc)
      cpu     user + system seconds of the process (time -v); less sensitive
              than wall to other work on the machine
      rss_mb  peak resident set (time -v "Maximum resident set size")
      other_cpu  CPU seconds the rest of the machine used meanwhile (all
              busy CPU time from /proc/stat minus ours): ~0 = undisturbed
      rss     [(unix time, MB)] sampled every 50 ms, to split peaks by phase
    time's report goes to its own file (-o) so the program's stderr stays
    readable."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        busy0 = busy_ticks()
        t0 = time.monotonic()
        p = subprocess.Popen(["/usr/bin/time", "-v", "-o", tf.name, *map(str, cmd)], cwd=cwd,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        samples = []
        sampler = threading.Thread(target=sample_rss, args=(p, samples), daemon=True)
        sampler.start()
        stdout, stderr = p.communicate()
        wall = time.monotonic() - t0
        busy1 = busy_ticks()
        sampler.join()
        report = tf.read()
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
    rss_mb = int(m.group(1)) / 1024 if m else float("nan")
    cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", report))
    other = (busy1 - busy0) / os.sysconf("SC_CLK_TCK") - cpu if busy0 is not None else None
    return SimpleNamespace(rc=p.returncode, wall=wall, cpu=cpu, rss_mb=rss_mb, other_cpu=other,
                           rss=samples, stdout=stdout, stderr=stderr)


def busy_ticks():
    """Non-idle CPU ticks of the whole machine so far (/proc/stat)."""
    try:
        v = [int(x) for x in open("/proc/stat").readline().split()[1:8]]
    except OSError:
        return None
    return sum(v) - v[3] - v[4]  # minus idle and iowait


def sample_rss(proc, samples):
    """Poll the RSS of the program /usr/bin/time runs (its child) until it ends."""
    pid = None
    while proc.poll() is None:
        try:
            if pid is None:
                kids = open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split()
                pid = kids[0] if kids else None
            if pid is not None:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmRSS:"):
                        samples.append((time.time(), int(line.split()[1]) / 1024))
                        break
        except (OSError, IndexError):
            pass
        time.sleep(0.05)


def peak_between(samples, start, end):
    """Highest sampled RSS (MB) between two unix times."""
    inside = [mb for t, mb in samples if start <= t <= end]
    return max(inside) if inside else None


def cpu_busy(seconds=1.0):
    """Share of all CPUs busy over `seconds`, from /proc/stat. Taken while this
    script is idle just before a measurement, so it is other work's share
    (a cargo build on a 2-core machine would skew every timing)."""
    def sample():
        v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait
    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
    except OSError:
        return None
    return round(1 - (i1 - i0) / max(t1 - t0, 1), 2)


def settle(wait_s, label):
    """Measure other work before a timing; with --wait-idle, first wait (up to
    wait_s) until under 25% of the CPUs are busy."""
    deadline = time.monotonic() + wait_s
    busy = cpu_busy()
    while busy is not None and busy > 0.25 and time.monotonic() < deadline:
        print(f"  waiting for an idle machine before {label} (CPU {busy:.0%} busy) ...",
              file=sys.stderr, flush=True)
        time.sleep(10)
        busy = cpu_busy()
    return busy


# ---------------------------------------------------------------------------
# DuckDB side (runs in a child process: `ingest.py --duckdb-only ...`)
# ---------------------------------------------------------------------------
#
# The column types below mirror pipelines/monthly_cx.yaml and the Delta schema
# touchpoint writes: string -> VARCHAR, int -> BIGINT, date -> DATE,
# decimal(18,2) -> DECIMAL(18,2), timestamp -> TIMESTAMPTZ (UTC instants).
# Each output also gets touchpoint's `period` column (local month of the
# source's period_column), so the two outputs hold the same columns.

CUSTOMERS = {"customer_id": "VARCHAR", "full_name": "VARCHAR", "phone": "VARCHAR",
             "birth_year": "BIGINT", "region": "VARCHAR", "home_branch": "VARCHAR",
             "opened_date": "DATE", "closed_date": "DATE", "referred_by": "VARCHAR"}
BALANCES = {"customer_id": "VARCHAR", "as_of_date": "DATE", "product": "VARCHAR",
            "balance": "DECIMAL(18,2)"}
# txn_time / call_start are local Hong Kong wall-clock text: read as naive
# TIMESTAMP with the pipeline's format, then converted to UTC below.
ATM = {"txn_id": "VARCHAR", "card_number": "VARCHAR", "customer_id": "VARCHAR",
       "atm_id": "VARCHAR", "txn_time": "TIMESTAMP", "txn_type": "VARCHAR",
       "amount": "DECIMAL(18,2)", "currency": "VARCHAR", "status": "VARCHAR"}
CALLS = {"call_id": "VARCHAR", "customer_id": "VARCHAR", "call_start": "TIMESTAMP",
         "queue_seconds": "BIGINT", "handle_seconds": "BIGINT", "reason": "VARCHAR",
         "outcome": "VARCHAR"}
SURVEYS = {"response_id": "VARCHAR", "customer_id": "VARCHAR", "responded_at": "TIMESTAMPTZ",
           "channel": "VARCHAR", "touchpoint": "VARCHAR", "stage": "VARCHAR", "csat": "BIGINT",
           "nps": "BIGINT", "effort": "BIGINT", "experience": "BIGINT", "expectation": "BIGINT",
           "comment": "VARCHAR"}
LEADS = {"lead_id": "VARCHAR", "full_name": "VARCHAR", "phone": "VARCHAR", "source": "VARCHAR",
         "known_date": "DATE", "contacted_date": "DATE", "assessed_date": "DATE",
         "assessment": "VARCHAR", "converted_customer_id": "VARCHAR"}
COMPLAINTS = {"case_id": "VARCHAR", "customer_id": "VARCHAR", "opened_at": "TIMESTAMPTZ",
              "channel": "VARCHAR", "touchpoint": "VARCHAR", "category": "VARCHAR",
              "first_response_at": "TIMESTAMPTZ", "resolved_at": "TIMESTAMPTZ", "reopened": "BIGINT"}
RM_CONTACTS = {"contact_id": "VARCHAR", "rm_id": "VARCHAR", "customer_id": "VARCHAR",
               "contacted_at": "TIMESTAMPTZ", "kind": "VARCHAR", "minutes": "BIGINT"}
BRANCH = {"ticket_id": "VARCHAR", "branch_id": "VARCHAR", "customer_id": "VARCHAR",
          "service_type": "VARCHAR", "issued_at": "TIMESTAMPTZ", "called_at": "TIMESTAMPTZ",
          "served_at": "TIMESTAMPTZ"}
ONLINE = {"session_id": "VARCHAR", "customer_id": "VARCHAR", "channel": "VARCHAR",
          "device": "VARCHAR", "login_at": "TIMESTAMPTZ", "duration_seconds": "BIGINT",
          "actions": "BIGINT", "transactions": "BIGINT", "amount": "DECIMAL(18,2)",
          "failures": "BIGINT"}


def sql_str(s):
    return "'" + str(s).replace("'", "''") + "'"


def sql_list(paths):
    return "[" + ", ".join(sql_str(p) for p in paths) + "]"


def sql_struct(cols):
    return "{" + ", ".join(f"{sql_str(k)}: {sql_str(v)}" for k, v in cols.items()) + "}"


def duckdb_loads(data, periods, icu):
    """(source, SQL of the SELECT) for every source, over the same files the
    pipeline's path globs pick for these periods."""
    ym = [(p, p[:4], p[5:]) for p in periods]

    def files(pattern):
        return [str(Path(data) / pattern.format(period=p, yyyy=y, mm=m)) for p, y, m in ym]

    # Local Hong Kong text -> UTC instant, and a UTC instant -> local month.
    # With ICU: timezone(). Without it: Hong Kong has had a fixed +08:00 offset
    # (no DST) since 1979, so shifting by 8 hours is exact.
    if icu:
        def local_to_utc(c):
            return f"timezone('{HK}', {c})"

        def local_month(c):
            return f"strftime(timezone('{HK}', {c}), '%Y-%m')"
    else:
        def local_to_utc(c):
            return f"CAST({c} - INTERVAL 8 HOUR AS TIMESTAMPTZ)"

        def local_month(c):
            return f"strftime(CAST({c} AS TIMESTAMP) + INTERVAL 8 HOUR, '%Y-%m')"

    def read_csv(paths, cols, delim=",", tsformat=None):
        # Explicit dialect and columns (no sniffing); ignore_errors drops rows
        # with the wrong field count or a value that does not cast, which is
        # what touchpoint quarantines as "malformed record" / "cannot parse".
        opts = [f"columns={sql_struct(cols)}", "header=true", "auto_detect=false",
                f"delim={sql_str(delim)}", "quote='\"'", "escape='\"'",
                "dateformat='%Y-%m-%d'", "ignore_errors=true"]
        if tsformat:
            opts.append(f"timestampformat={sql_str(tsformat)}")
        return f"read_csv({sql_list(paths)}, {', '.join(opts)})"

    loads = []
    loads.append(("customers", f"SELECT * FROM {read_csv([str(Path(data) / 'crm/customers.csv')], CUSTOMERS)}"))
    loads.append(("leads", f"SELECT * FROM {read_csv([str(Path(data) / 'crm/leads.csv')], LEADS)}"))
    loads.append(("balances", f"SELECT *, strftime(as_of_date, '%Y-%m') AS period FROM "
                  f"{read_csv(files('crm/balances/balances_{period}.csv'), BALANCES)}"))
    atm_cols = ", ".join(local_to_utc(c) + " AS txn_time" if c == "txn_time" else c for c in ATM)
    loads.append(("atm", f"SELECT {atm_cols}, {local_month(local_to_utc('txn_time'))} AS period FROM "
                  f"{read_csv(files('atm/{yyyy}/{mm}/atm_*.csv'), ATM, tsformat='%Y-%m-%d %H:%M:%S')}"))

    # JSON lines: read_json's ignore_errors turns a malformed line into an
    # all-NULL row and an unparseable value into NULL instead of dropping the
    # row. To reject rows the way read_csv does, read every field as text,
    # TRY_CAST, and drop rows that were malformed or had a value that failed
    # to cast. (Text with an offset is parsed to the instant it names.)
    raw = {c: "VARCHAR" for c in BRANCH}
    casts = ", ".join(f"TRY_CAST({c} AS {t}) AS {c}" if t != "VARCHAR" else c for c, t in BRANCH.items())
    ok = " AND ".join(f"({c} IS NULL OR TRY_CAST({c} AS {t}) IS NOT NULL)"
                      for c, t in BRANCH.items() if t != "VARCHAR")
    not_blank = "NOT (" + " AND ".join(f"{c} IS NULL" for c in BRANCH) + ")"
    loads.append(("branch_visits",
                  f"SELECT {casts}, {local_month('TRY_CAST(issued_at AS TIMESTAMPTZ)')} AS period FROM "
                  f"read_json({sql_list(files('branch/{yyyy}/{mm}/tickets_*.jsonl'))}, "
                  f"format='newline_delimited', columns={sql_struct(raw)}, ignore_errors=true) "
                  f"WHERE {not_blank} AND {ok}"))

    # Parquet is already typed; CAST to the warehouse types (INT32 -> BIGINT).
    online_cols = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in ONLINE.items())
    loads.append(("online_sessions", f"SELECT {online_cols}, {local_month('login_at')} AS period FROM "
                  f"read_parquet({sql_list(files('online/sessions_{period}*.parquet'))})"))

    call_cols = ", ".join(local_to_utc(c) + " AS call_start" if c == "call_start" else c for c in CALLS)
    loads.append(("calls", f"SELECT {call_cols}, {local_month(local_to_utc('call_start'))} AS period FROM "
                  f"{read_csv(files('callcentre/{yyyy}/{mm}/calls_*.txt'), CALLS, delim='|', tsformat='%d/%m/%Y %H:%M:%S')}"))
    loads.append(("surveys", f"SELECT *, {local_month('responded_at')} AS period FROM "
                  f"{read_csv(files('surveys/surveys_{period}.csv'), SURVEYS)}"))
    loads.append(("complaints", f"SELECT *, {local_month('opened_at')} AS period FROM "
                  f"{read_csv(files('complaints/cases_{period}.csv'), COMPLAINTS)}"))
    loads.append(("rm_contacts", f"SELECT *, {local_month('contacted_at')} AS period FROM "
                  f"{read_csv(files('rm/contacts_{period}.csv'), RM_CONTACTS)}"))
    assert [s for s, _ in loads] == SOURCES
    return loads


def duckdb_main(args):
    """Child process: load every source with DuckDB, print JSON to stdout."""
    import duckdb

    con = duckdb.connect()  # in-memory, default threads (all cores)
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    # Text timestamps without an offset are read in the session zone; the
    # pipeline reads such text in its own zone, Hong Kong, so match it.
    icu = not args.fixed_offset
    if icu:
        try:
            con.execute("LOAD icu")
            con.execute(f"SET TimeZone = '{HK}'")
        except duckdb.Error:
            icu = False  # offline without the extension: fixed +08:00 below
    if not icu:
        try:  # if ICU is there after all, keep it from shifting the casts
            con.execute("SET TimeZone = 'UTC'")
        except duckdb.Error:
            pass
    out = Path(args.duck_out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"duckdb_version": duckdb.__version__, "threads": threads, "icu": icu, "sources": {}}
    t_all = time.monotonic()
    for source, select in duckdb_loads(args.data, args.periods.split(","), icu):
        target = out / f"{source}.parquet"
        t0 = time.monotonic()
        # COPY returns the number of rows it wrote.
        rows = con.execute(f"COPY ({select}) TO {sql_str(target)} (FORMAT parquet)").fetchone()[0]
        result["sources"][source] = {"rows_loaded": rows, "seconds": time.monotonic() - t0,
                                     "sql": select}
    result["seconds"] = time.monotonic() - t_all
    json.dump(result, sys.stdout)


# ---------------------------------------------------------------------------
# Parent: generate, run touchpoint, run the DuckDB child, compare
# ---------------------------------------------------------------------------

# Quarantine reasons touchpoint writes (src/sources/conform/), grouped.
# "parse" ones are rows DuckDB's loader drops too (bad field count, a value
# that does not cast); "check" ones are pipeline rules DuckDB does not apply,
# so DuckDB loads those rows.
CATEGORY_SQL = """
SELECT source,
  CASE
    WHEN reason LIKE 'malformed%' THEN 'malformed'
    WHEN reason LIKE 'cannot parse%' THEN 'unparseable value'
    WHEN reason LIKE 'not a number (NaN)%' THEN 'out of range'
    WHEN reason LIKE 'not a %' OR reason LIKE 'not an %' THEN 'unparseable value'
    WHEN reason LIKE 'out of the range of %' OR reason LIKE 'no period: %' THEN 'unparseable value'
    WHEN reason LIKE '%decimal places%' THEN 'too many decimals'
    WHEN reason LIKE '%does not fit decimal%' THEN 'decimal overflow'
    WHEN reason LIKE 'whole file quarantined%' THEN 'corrupt file'
    WHEN reason LIKE '%does not exist in time zone%' THEN 'nonexistent local time'
    WHEN reason LIKE 'duplicate key%' THEN 'duplicate key'
    WHEN reason LIKE '%not found in %' THEN 'unknown reference'
    WHEN reason LIKE '%below the minimum%' OR reason LIKE '%above the maximum%' THEN 'out of range'
    WHEN reason LIKE '%is not an accepted value%' THEN 'not an accepted value'
    WHEN reason = 'missing required value' THEN 'missing required value'
    WHEN reason LIKE 'belongs to period%' THEN 'outside the period'
    ELSE 'other: ' || reason
  END AS category,
  COUNT(*) AS n
FROM _quarantine GROUP BY 1, 2 ORDER BY 1, 3 DESC
"""
PARSE_CATEGORIES = {"malformed", "unparseable value", "decimal overflow", "corrupt file",
                    "nonexistent local time"}
# Kept by DuckDB although touchpoint rejects them: every check category, and
# "too many decimals" (DuckDB rounds 1.234 into DECIMAL(18,2); we quarantine).


def run_touchpoint(binary, project, wh, period_arg, env, args):
    """`touchpoint run` over every month into a fresh warehouse: it loads each
    source per month, then builds the SQL models. Returns the measurements."""
    cmd = [binary, "run", PIPELINE, "--period", period_arg, "--json", "--warehouse", wh]
    busy = settle(args.wait_idle, "touchpoint run")
    t = timed(cmd, cwd=project, env=env)
    (wh.parent / "touchpoint.stderr").write_text(t.stderr)  # its per-load progress lines
    if t.rc != 0:
        hint = ("\n(exit 78 = the pipeline does not validate with this binary; if pipelines/ has "
                "edits newer than the build, try --project-rev HEAD)" if t.rc == 78 else "")
        sys.exit(f"touchpoint run failed ({t.rc}):\n{t.stderr[-3000:]}{hint}")
    summary = json.loads(t.stdout)
    steps = summary["steps"]
    src_steps = [s for s in steps if s["kind"] == "source"]
    per = {s: {"rows_read": 0, "rows_loaded": 0, "rows_quarantined": 0, "seconds": 0.0, "files": 0,
               "loads": 0} for s in SOURCES}
    for s in src_steps:
        p = per[s["table"]]
        for k in ("rows_read", "rows_loaded", "rows_quarantined", "seconds", "files"):
            p[k] += s[k]
        p["loads"] += 1
    # The load phase: from the first source step's start to the last one's end
    # (steps carry started_at in microseconds since the epoch).
    load_start = min(s["started_at"] for s in src_steps) / 1e6
    load_end = max(s["started_at"] / 1e6 + s["seconds"] for s in src_steps)
    return {
        "command": f"cd {project} && " + " ".join(map(str, cmd)),
        "cpu_busy_before": busy,
        "wall_seconds": t.wall, "cpu_seconds": t.cpu, "peak_rss_mb": t.rss_mb,
        "load_phase_peak_rss_mb": peak_between(t.rss, load_start, load_end),
        "other_cpu_seconds": t.other_cpu,
        "run_seconds": summary.get("seconds"),
        # Loads run concurrently: the phase's wall time, not the sum of steps.
        "load_seconds": load_end - load_start,
        "load_step_seconds": sum(s["seconds"] for s in src_steps),
        "model_seconds": sum(s["seconds"] for s in steps if s["kind"] == "model"),
        "source_loads": len(src_steps),
        "rows_read": sum(s["rows_read"] for s in src_steps),
        "rows_loaded": sum(s["rows_loaded"] for s in src_steps),
        "rows_quarantined": sum(s["rows_quarantined"] for s in src_steps),
        "sources": per,
    }


def run_duckdb(data, periods, duck, env, args):
    """The DuckDB loads, in a child process so /usr/bin/time measures its own
    peak RSS. Returns the measurements."""
    cmd = [sys.executable, Path(__file__).resolve(), "--duckdb-only", "--data", data,
           "--periods", ",".join(periods), "--duck-out", duck]
    if args.fixed_offset:
        cmd.append("--fixed-offset")
    busy = settle(args.wait_idle, "DuckDB")
    d = timed(cmd, env=env)
    if d.rc != 0:
        sys.exit(f"duckdb child failed ({d.rc}):\n{d.stderr[-3000:]}")
    dres = json.loads(d.stdout)
    return {"command": " ".join(map(str, cmd)), "cpu_busy_before": busy,
            "process_wall_seconds": d.wall, "process_cpu_seconds": d.cpu,
            "peak_rss_mb": d.rss_mb, "other_cpu_seconds": d.other_cpu, **dres,
            "rows_loaded": sum(s["rows_loaded"] for s in dres["sources"].values())}


def median_run(runs, key):
    """The run with the median `key` (the lower middle one for an even count),
    with every run's headline numbers attached for the record."""
    chosen = dict(sorted(runs, key=lambda r: r[key])[(len(runs) - 1) // 2])
    if len(runs) > 1:
        chosen["all_runs"] = [{k: r[k] for k in r if k not in ("sources", "command")} for r in runs]
    return chosen


def run_size(binary, customers, months, sdir, args):
    sdir.mkdir(parents=True)
    project = sdir / "project"
    data = project / "data"  # `extracts: ../data` is relative to pipelines/, and must stay in the project
    wh, duck = sdir / "wh", sdir / "duck"
    periods = month_range(START, months)
    period_arg = periods[0] if months == 1 else f"{periods[0]}..{periods[-1]}"
    env = {k: v for k, v in os.environ.items() if k not in ("TOUCHPOINT_EXTRACTS", "TOUCHPOINT_WAREHOUSE")}
    res = {"customers": customers, "months": months, "dir": str(sdir), "period": period_arg}

    # 1. Generate the extracts.
    project.mkdir()
    cmd = [binary, "generate", "--customers", customers, "--months", months, "--start", START,
           "--seed", SEED, "--out", data]
    print(f"[{customers}x{months}] generate ...", file=sys.stderr, flush=True)
    g = timed(cmd, env=env)
    if g.rc != 0:
        sys.exit(f"generate failed ({g.rc}):\n{g.stderr[-3000:]}")
    manifest = json.loads((data / "_truth" / "manifest.json").read_text())
    size_mb = sum(f.stat().st_size for f in data.rglob("*") if f.is_file() and "_truth" not in f.parts) / 2**20
    res["generate"] = {"command": " ".join(map(str, cmd)), "output": g.stdout.strip(),
                       "seconds": g.wall, "cpu_seconds": g.cpu, "peak_rss_mb": g.rss_mb,
                       "extract_mb": size_mb,
                       "manifest_rows": {k: v.get("rows_written") for k, v in manifest.items()}}

    # 2. The project: the shipped pipeline, SQL and templates, unchanged; from
    # the working tree, or with --project-rev from a git revision (so edits in
    # progress that the built binary does not know cannot break the run).
    dirs = ("pipelines", "queries", "reports")
    if args.project_rev:
        tar = subprocess.run(["git", "-C", REPO, "archive", args.project_rev, *dirs],
                             capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", project], input=tar, check=True)
    else:
        for d in dirs:
            shutil.copytree(REPO / d, project / d)

    # 3-4. touchpoint, then DuckDB, each on a fresh output; --repeat N runs
    # the pair N times (interleaved, so both see the same machine) and keeps
    # the median run of each, by load time.
    tp_runs, dk_runs = [], []
    for i in range(args.repeat):
        tag = f"[{customers}x{months}]" + (f" {i + 1}/{args.repeat}" if args.repeat > 1 else "")
        for old in (wh, duck):
            shutil.rmtree(old, ignore_errors=True)
        print(f"{tag} touchpoint run ...", file=sys.stderr, flush=True)
        tp_runs.append(run_touchpoint(binary, project, wh, period_arg, env, args))
        print(f"{tag} duckdb ...", file=sys.stderr, flush=True)
        dk_runs.append(run_duckdb(data, periods, duck, env, args))
    for runs in (tp_runs, dk_runs):  # the loads are deterministic: same rows every time
        assert len({r["rows_loaded"] for r in runs}) == 1, [r["rows_loaded"] for r in runs]
    res["touchpoint"] = median_run(tp_runs, "load_seconds")
    res["duckdb"] = median_run(dk_runs, "seconds")
    per = res["touchpoint"]["sources"]
    dres = res["duckdb"]

    # 5. Compare, on the last run's outputs (not timed). Why touchpoint
    # quarantined rows, per source:
    q = subprocess.run([binary, "query", "--warehouse", wh, "--format", "json", CATEGORY_SQL],
                       cwd=project, capture_output=True, text=True, env=env)
    if q.returncode != 0:
        sys.exit(f"quarantine query failed:\n{q.stderr[-3000:]}")
    quarantine = {}
    for r in json.loads(q.stdout or "[]"):
        quarantine.setdefault(r["source"], {})[r["category"]] = r["n"]
    res["touchpoint"]["quarantine_by_category"] = quarantine

    res["compare"] = compare_outputs(wh, duck)

    # Reconcile rows per source: DuckDB should load what touchpoint loaded
    # plus what touchpoint quarantined for a check rule DuckDB does not apply.
    recon = {}
    for s in SOURCES:
        ts, qs = per[s], quarantine.get(s, {})
        kept_by_duck = sum(n for c, n in qs.items() if c not in PARSE_CATEGORIES)
        dn = dres["sources"][s]["rows_loaded"]
        recon[s] = {"touchpoint_read": ts["rows_read"], "touchpoint_loaded": ts["rows_loaded"],
                    "touchpoint_quarantined": ts["rows_quarantined"], "duckdb_loaded": dn,
                    "difference": dn - ts["rows_loaded"],
                    "explained_by_checks": kept_by_duck,
                    "unexplained": dn - ts["rows_loaded"] - kept_by_duck,
                    "touchpoint_rows_not_in_duckdb": res["compare"][s]["touchpoint_rows_not_in_duckdb"],
                    "quarantine": qs}
    res["rows_by_source"] = recon

    tp, dk = res["touchpoint"], res["duckdb"]
    res["ratio_load"] = tp["load_seconds"] / dk["seconds"]
    res["ratio_whole"] = tp["wall_seconds"] / dk["process_wall_seconds"]
    if not args.keep:
        for d in (data, wh, duck):
            shutil.rmtree(d, ignore_errors=True)
    return res


def delta_files(table):
    """The data files of a Delta table's current version: replay the add and
    remove actions of its JSON commit log (a fresh warehouse after one run has
    no checkpoint files to read)."""
    live = {}
    for commit in sorted(Path(table, "_delta_log").glob("*.json")):
        for line in commit.read_text().splitlines():
            action = json.loads(line) if line.strip() else {}
            if "add" in action:
                live[action["add"]["path"]] = True
            elif "remove" in action:
                live.pop(action["remove"]["path"], None)
    return [str(Path(table, p)) for p in live]


def compare_outputs(wh, duck):
    """Per source: are the column names and types of touchpoint's Delta table
    and DuckDB's Parquet the same, and how many of touchpoint's loaded rows
    are missing from DuckDB's output or differ in any value (EXCEPT ALL over
    every column, `period` included)? Not timed."""
    import duckdb

    con = duckdb.connect()
    out = {}
    for s in SOURCES:
        files = delta_files(Path(wh, s))
        # Periodic sources are partitioned by `period` (kept in the path).
        hive = (", hive_partitioning=true, hive_types={'period': 'VARCHAR'}"
                if any("period=" in f for f in files) else ", hive_partitioning=false")
        tp_rel = f"read_parquet({sql_list(files)}{hive})"
        dk_rel = f"read_parquet({sql_str(Path(duck, s + '.parquet'))})"
        tp = [tuple(r[:2]) for r in con.execute(f"DESCRIBE SELECT * FROM {tp_rel}").fetchall()]
        dk = [tuple(r[:2]) for r in con.execute(f"DESCRIBE SELECT * FROM {dk_rel}").fetchall()]
        same = sorted(tp) == sorted(dk)
        cols = ", ".join(f'"{c}"' for c, _ in tp)
        missing = con.execute(f"SELECT count(*) FROM (SELECT {cols} FROM {tp_rel} "
                              f"EXCEPT ALL SELECT {cols} FROM {dk_rel})").fetchone()[0] if same else None
        out[s] = {"schema": "same" if same else {"touchpoint": tp, "duckdb": dk},
                  "touchpoint_rows_not_in_duckdb": missing}
    return out


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

def fmt_table(headers, rows, right=None):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    right = right if right is not None else set(range(1, len(headers)))

    def line(cells):
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def print_report(results):
    print("\nIngestion: touchpoint vs DuckDB (same extracts, same column types)")
    rows = []
    for r in results:
        tp, dk = r["touchpoint"], r["duckdb"]
        n = tp["rows_read"]
        rows.append([f"{r['customers']}x{r['months']}", f"{n:,}",
                     f"{tp['load_seconds']:.2f}", f"{n / tp['load_seconds']:,.0f}",
                     f"{tp['wall_seconds']:.2f}",
                     f"{tp['load_phase_peak_rss_mb'] or float('nan'):.0f} / {tp['peak_rss_mb']:.0f}",
                     f"{dk['seconds']:.2f}", f"{n / dk['seconds']:,.0f}",
                     f"{dk['process_wall_seconds']:.2f}", f"{dk['peak_rss_mb']:.0f}",
                     f"{r['ratio_load']:.2f}x", f"{r['ratio_whole']:.2f}x"])
    print(fmt_table(["size", "rows read", "tp load s", "tp rows/s", "tp wall s", "tp RSS MB load/all",
                     "duck s", "duck rows/s", "duck wall s", "duck RSS MB",
                     "ratio load", "ratio whole"], rows))
    print("""
  tp load s    touchpoint's load phase, first source step's start to the last one's end (parse,
               type, check, quarantine, Delta commit; loads may run concurrently, so per-source
               "tp s" below are each source's own step seconds and can add up to more)
  tp wall s    whole `touchpoint run` process: seeds + loads + SQL models, /usr/bin/time
  duck s       DuckDB's COPY ... TO parquet statements; duck wall s: its whole child process
               (python start + import duckdb + the loads)
  rows/s       touchpoint's rows read (every data line, bad ones too) / that tool's load seconds
  ratio load   tp load s / duck s;  ratio whole: tp wall s / duck wall s (tp also builds models)
  RSS MB       peak resident memory of each process (/usr/bin/time); for touchpoint also the
               peak while loading (sampled every 50 ms, first source step to last), since the
               whole run's peak may come from the model build DuckDB does not do""")
    for r in results:
        print(f"\nRows per source, {r['customers']}x{r['months']} "
              f"(generate: {r['generate']['seconds']:.1f} s, {r['generate']['extract_mb']:.0f} MB, "
              f"peak {r['generate']['peak_rss_mb']:.0f} MB)")
        rows = []
        for s, c in r["rows_by_source"].items():
            t = r["touchpoint"]["sources"][s]
            d = r["duckdb"]["sources"][s]
            why = ", ".join(f"{k} {v}" for k, v in c["quarantine"].items()) or "-"
            rows.append([s, f"{c['touchpoint_read']:,}", f"{c['touchpoint_loaded']:,}",
                         f"{c['touchpoint_quarantined']:,}", f"{c['duckdb_loaded']:,}",
                         f"{c['difference']:+,}", f"{c['unexplained']:+,}",
                         c["touchpoint_rows_not_in_duckdb"],
                         f"{t['seconds']:.2f}", f"{d['seconds']:.2f}", why])
        print(fmt_table(["source", "tp read", "tp loaded", "tp quarant.", "duck loaded",
                         "duck-tp", "unexplained", "tp-duck", "tp s", "duck s",
                         "touchpoint quarantine reasons"], rows, right=set(range(1, 10))))
        schema_bad = {s: v["schema"] for s, v in r["compare"].items() if v["schema"] != "same"}
        print("  duck-tp      rows DuckDB loaded beyond touchpoint's"
              "\n  unexplained  duck-tp minus the rows touchpoint quarantined for a check DuckDB does not"
              "\n               apply (duplicate key, unknown reference, out of range, accepted values,"
              "\n               required, period, too many decimals); 0 = the difference is exactly those"
              "\n  tp-duck      touchpoint's loaded rows missing from DuckDB's output or differing in any"
              "\n               value (EXCEPT ALL over every column incl. period); 0 = same values")
        print("  column names and types vs touchpoint's Delta table: " +
              ("identical for every source" if not schema_bad else json.dumps(schema_bad)))
        print(f"  CPU time (user+sys) of the whole process: touchpoint run {r['touchpoint']['cpu_seconds']:.1f} s, "
              f"DuckDB child {r['duckdb']['process_cpu_seconds']:.1f} s")
        tp_o, dk_o = r["touchpoint"]["other_cpu_seconds"], r["duckdb"]["other_cpu_seconds"]
        print(f"  other work on the machine meanwhile (CPU s): during touchpoint {tp_o:.1f}, "
              f"during DuckDB {dk_o:.1f}")
        # /proc/stat counts in 10 ms ticks: ignore under half a CPU second.
        if (tp_o > max(0.5, 0.1 * r["touchpoint"]["wall_seconds"])
                or dk_o > max(0.5, 0.1 * r["duckdb"]["process_wall_seconds"])):
            print(f"  WARNING: other work used over a tenth of a core during a measurement; wall"
                  f"\n           times on this {os.cpu_count()}-core machine are noisy (CPU times less so).")
        print(f"  DuckDB {r['duckdb']['duckdb_version']}, threads={r['duckdb']['threads']}, "
              f"time zones via {'ICU timezone()' if r['duckdb']['icu'] else 'fixed +08:00 offset'}; "
              f"CPUs busy with other work just before tp/duck: "
              f"{r['touchpoint']['cpu_busy_before']:.0%}/{r['duckdb']['cpu_busy_before']:.0%}")
        if "all_runs" in r["touchpoint"]:
            print(f"  median of {len(r['touchpoint']['all_runs'])} runs; all runs, tp load s: " +
                  ", ".join(f"{x['load_seconds']:.2f}" for x in r["touchpoint"]["all_runs"]) +
                  "; duck s: " + ", ".join(f"{x['seconds']:.2f}" for x in r["duckdb"]["all_runs"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000x12,20000x12", help="CUSTOMERSxMONTHS,... (default %(default)s)")
    ap.add_argument("--out", help="work directory (default: a new temp dir under /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep generated data, warehouse and DuckDB output")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run touchpoint and DuckDB N times per size, report the median (default 1)")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="before each timing, wait up to SECONDS for other work to stop "
                         "(under 25%% of the CPUs busy); default: do not wait")
    ap.add_argument("--project-rev", metavar="REV",
                    help="take pipelines/, queries/, reports/ from this git revision "
                         "(default: the working tree)")
    ap.add_argument("--fixed-offset", action="store_true",
                    help="convert Hong Kong time with a fixed +08:00 offset instead of ICU time zones")
    # Internal: the DuckDB child process.
    ap.add_argument("--duckdb-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--periods", help=argparse.SUPPRESS)
    ap.add_argument("--duck-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.duckdb_only:
        return duckdb_main(args)

    if args.repeat < 1:
        sys.exit("--repeat must be at least 1")
    binary = default_bin()
    if not os.access(binary, os.X_OK):
        sys.exit(f"touchpoint binary not found at {binary}; set TOUCHPOINT_BIN")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="touchpoint-bench-", dir="/tmp"))
    out.mkdir(parents=True, exist_ok=True)
    sizes = parse_sizes(args.sizes)
    for c, m in sizes:
        if (out / f"{c}x{m}").exists():
            sys.exit(f"{out / f'{c}x{m}'} exists; use a fresh --out")

    # Measure a private copy: the target dir is shared, and a rebuild there
    # mid-benchmark would otherwise mix two builds in one set of results.
    bstat = os.stat(binary)
    snapshot = out / "touchpoint"
    shutil.copy2(binary, snapshot)
    version = subprocess.run([snapshot, "--version"], capture_output=True, text=True).stdout.strip()
    git = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    meta = {"binary": binary, "binary_copy": str(snapshot), "binary_version": version,
            "binary_mtime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(bstat.st_mtime)),
            "repo_head": git, "project_from": args.project_rev or "working tree",
            "cpus": os.cpu_count(),
            "touchpoint_memory_mb": os.environ.get("TOUCHPOINT_MEMORY_MB", "default"),
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    results = []
    for c, m in sizes:
        results.append(run_size(str(snapshot), c, m, out / f"{c}x{m}", args))
        # Write after every size so a later failure keeps earlier results.
        (out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print_report(results)
    print(f"\nresults: {out / 'results.json'}")
    if not args.keep:
        snapshot.unlink()
        print(f"(generated data, warehouses, DuckDB outputs and the binary copy removed; "
              f"--keep keeps them)")


if __name__ == "__main__":
    main()
