#!/usr/bin/env bash
# PostgreSQL → Arrow extract benchmark (issue 21): a ROWS-row transactions
# table in a throwaway local PostgreSQL (initdb + pg_ctl on a loopback port),
# read by touchpoint (a one-source pipeline: binary COPY → Arrow → Delta;
# `parallel` 1 and 4),
# by ConnectorX (read_sql → Arrow, one and 4 partitions) and by psql \copy to
# CSV; rows/s and peak RSS (GNU time) of each, same table, same run.
#
#   bash benches/database.sh            # ROWS=5000000 by default
#   ROWS=500000 bash benches/database.sh
#
# Needs: the postgresql Debian package, a release build of touchpoint
# (cargo build --release), and for ConnectorX
# `pip install --target ~/.cache/touchpoint-tools/py connectorx pyarrow`
# (skipped, and said so, when it cannot be imported).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-5000000}
TP=${TP:-${CARGO_TARGET_DIR:-target}/release/touchpoint}
[ -x "$TP" ] || { echo "build touchpoint first: cargo build --release ($TP)"; exit 1; }
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[ -x "$BIN/initdb" ] || { echo "install PostgreSQL: apt-get install postgresql"; exit 1; }
WORK=$(mktemp -d)
trap 'run_pg pg_ctl -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
PW=bench-only-pw
echo "$PW" >"$WORK/pw"
AS=()
if [ "$(id -u)" = 0 ]; then chown -R postgres "$WORK"; AS=(runuser -u postgres --); fi
run_pg() { local tool=$1; shift; "${AS[@]}" "$BIN/$tool" "$@"; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run_pg initdb -D "$WORK/data" -U bench --auth=scram-sha-256 --pwfile "$WORK/pw" -E UTF8 --locale=C >/dev/null
run_pg pg_ctl -D "$WORK/data" -l "$WORK/log" -w \
  -o "-p $PORT -c listen_addresses=127.0.0.1 -k $WORK -c fsync=off -c shared_buffers=256MB" start >/dev/null
export PGPASSWORD=$PW
PSQL=("$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U bench -d postgres)
echo "loading $ROWS rows into bench.transactions…"
"${PSQL[@]}" -c "CREATE SCHEMA bench; CREATE TABLE bench.transactions (
  txn_id bigint PRIMARY KEY, customer_id text NOT NULL, amount numeric(18,2) NOT NULL,
  txn_time timestamptz NOT NULL, channel text, note text);
  INSERT INTO bench.transactions
  SELECT i, 'C' || lpad((i % 200000)::text, 7, '0'), round((random() * 100000)::numeric, 2),
         timestamptz '2024-01-01 00:00+08' + (i || ' seconds')::interval,
         (ARRAY['atm','branch','online','call_centre'])[1 + i % 4], 'payment ' || i
  FROM generate_series(1, $ROWS) i;"
"${PSQL[@]}" -c "VACUUM ANALYZE bench.transactions"

mkdir -p "$WORK/p/pipelines"
cat >"$WORK/p/pipelines/bench.yaml" <<EOF
name: bench
timezone: Asia/Hong_Kong
sources:
  transactions:
    postgres: {profile: bench, table: bench.transactions, parallel: PARALLEL}
    key: [txn_id]
    columns:
      txn_id: {type: int, required: true}
      customer_id: {type: string, required: true}
      amount: {type: "decimal(18,2)", required: true}
      txn_time: {type: timestamp, required: true}
      channel: {type: string}
      note: {type: string}
EOF
export TOUCHPOINT_PROFILE_BENCH_URL="postgres://bench@127.0.0.1:$PORT/postgres?sslmode=disable"
export TOUCHPOINT_PROFILE_BENCH_PASSWORD=$PW
export TOUCHPOINT_HASH_KEY=bench-key-not-a-secret-0123456789

measure() { # label, command…
  local label=$1; shift
  local t0 t1 rss
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$WORK/rss" "$@" >/dev/null 2>"$WORK/err" || { echo "$label failed:"; cat "$WORK/err"; return; }
  t1=$(date +%s.%N)
  rss=$(tail -1 "$WORK/rss")
  python3 - "$label" "$t0" "$t1" "$rss" "$ROWS" <<'PY'
import sys
label, t0, t1, rss, rows = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
s = t1 - t0
print(f"{label:<34} {s:7.2f} s  {rows / s / 1e6:6.2f} M rows/s  peak RSS {rss / 1024:7.0f} MiB")
PY
}

echo
echo "== $ROWS rows =="
for par in 1 4; do
  sed "s/PARALLEL/$par/" "$WORK/p/pipelines/bench.yaml" >"$WORK/p/pipelines/bench_$par.yaml"
  rm -rf "$WORK/wh"
  measure "touchpoint (parallel $par; extract + Delta)" "$TP" run "$WORK/p/pipelines/bench_$par.yaml" --period 2024-01 --warehouse "$WORK/wh"
done
measure "psql \\copy to CSV" "${PSQL[@]}" -c "\\copy bench.transactions TO '$WORK/t.csv' WITH (FORMAT csv)"
CX=$HOME/.cache/touchpoint-tools/py
if PYTHONPATH=$CX python3 -c "import connectorx, pyarrow" 2>/dev/null; then
  for parts in 1 4; do
    measure "ConnectorX → Arrow (partitions $parts)" env PYTHONPATH="$CX" python3 -c "
import connectorx as cx
q = 'SELECT * FROM bench.transactions'
url = 'postgresql://bench:$PW@127.0.0.1:$PORT/postgres'
kw = dict(partition_on='txn_id', partition_num=$parts) if $parts > 1 else {}
t = cx.read_sql(url, q, return_type='arrow', **kw)
assert t.num_rows == $ROWS, t.num_rows"
  done
else
  echo "ConnectorX: not installed (pip install --target $CX connectorx pyarrow), skipped"
fi
