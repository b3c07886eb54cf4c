#!/usr/bin/env python3
"""Dump every Delta table of a warehouse to sorted CSV, for comparing two
warehouses built from the same data (before and after a change).

    python3 benches/dump_warehouse.py WAREHOUSE_DIR OUT_DIR [--project DIR]
    diff -r OUT_A OUT_B

Rows are sorted; floats are written with 9 significant digits; columns that
differ between any two runs by nature (run ids, timestamps of the run,
durations, file modification times) are left out, and the project folder
in file paths is replaced by `<project>`. Needs `deltalake` and `pyarrow`
(`pip install deltalake`); benches/dump_warehouse.sh installs them
privately.
"""
import argparse
import csv
import math
import os
import sys

from deltalake import DeltaTable

# Columns whose values belong to the run, not to the data.
VOLATILE = {
    "run_id", "started_at", "loaded_at", "checked_at", "fitted_at", "seconds",
    "generated_at",
}
# Per table: more such columns (`_loaded_files.version` is a file's mtime;
# `definition` is a digest of how the source was declared).
VOLATILE_IN = {
    "_loaded_files": {"version", "definition"},
    "_runs": {"table_version"},
}


def cell(v, project):
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        return f"{v:.9g}"
    s = str(v)
    if project:
        s = s.replace(project, "<project>")
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("warehouse")
    ap.add_argument("out")
    ap.add_argument("--project", help="folder replaced by <project> in values")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    project = os.path.realpath(a.project) if a.project else None
    names = sorted(
        n for n in os.listdir(a.warehouse)
        if os.path.isdir(os.path.join(a.warehouse, n, "_delta_log"))
    )
    for name in names:
        t = DeltaTable(os.path.join(a.warehouse, name)).to_pyarrow_table()
        skip = VOLATILE | VOLATILE_IN.get(name, set())
        cols = [c for c in t.column_names if c not in skip]
        data = [t.column(c).to_pylist() for c in cols]
        rows = sorted(
            [cell(col[i], project) for col in data] for i in range(t.num_rows)
        )
        with open(os.path.join(a.out, f"{name}.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols)
            w.writerows(rows)
        print(f"{name}: {t.num_rows} rows, {len(cols)} columns", file=sys.stderr)


if __name__ == "__main__":
    main()
