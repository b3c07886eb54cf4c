#!/usr/bin/env bash
# Ingestion benchmark, touchpoint vs DuckDB: makes `duckdb` importable, then
# runs benches/ingest.py with the given arguments (see --help there).
# Uses the already-built binary: TOUCHPOINT_BIN, default
# ${CARGO_TARGET_DIR:-$HOME/.cache/touchpoint-target}/release/touchpoint.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! python3 -c 'import duckdb' 2>/dev/null; then
  # Private install location, so the system Python is left alone.
  tools="$HOME/.cache/touchpoint-tools/py"
  export PYTHONPATH="$tools${PYTHONPATH:+:$PYTHONPATH}"
  if ! python3 -c 'import duckdb' 2>/dev/null; then
    python3 -m pip install --quiet --target "$tools" duckdb
  fi
fi
exec python3 "$here/ingest.py" "$@"
