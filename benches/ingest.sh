#!/usr/bin/env bash
# Ingestion benchmark, touchpoint vs DuckDB: makes `duckdb` importable, then
# runs benches/ingest.py with the given arguments (see --help there).
# Builds the release binary first (into the shared target cache), unless
# TOUCHPOINT_BIN names one to measure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "${TOUCHPOINT_BIN:-}" ]]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/touchpoint-target}"
  (cd "$here/.." && cargo build --release --quiet)
fi
if ! python3 -c 'import duckdb' 2>/dev/null; then
  # Private install location, so the system Python is left alone.
  tools="$HOME/.cache/touchpoint-tools/py"
  export PYTHONPATH="$tools${PYTHONPATH:+:$PYTHONPATH}"
  if ! python3 -c 'import duckdb' 2>/dev/null; then
    python3 -m pip install --quiet --target "$tools" duckdb
  fi
fi
exec python3 "$here/ingest.py" "$@"
