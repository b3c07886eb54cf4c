#!/usr/bin/env bash
# Models-phase benchmark, touchpoint vs DuckDB on the same SQL: makes
# `duckdb`, `deltalake` and `yaml` importable, then runs benches/models.py
# with the given arguments (see --help there). Builds the release binary
# first (into the shared target cache), unless TOUCHPOINT_BIN names one.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/touchpoint-target}"
if [[ -z "${TOUCHPOINT_BIN:-}" && "${1:-}" != "--port" ]]; then
  (cd "$here/.." && cargo build --release --quiet)
fi
if ! python3 -c 'import duckdb, deltalake, yaml' 2>/dev/null; then
  # Private install location, so the system Python is left alone.
  tools="$HOME/.cache/touchpoint-tools/py"
  export PYTHONPATH="$tools${PYTHONPATH:+:$PYTHONPATH}"
  if ! python3 -c 'import duckdb, deltalake, yaml' 2>/dev/null; then
    python3 -m pip install --quiet --target "$tools" duckdb deltalake pyyaml
  fi
fi
exec python3 "$here/models.py" "$@"
