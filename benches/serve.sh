#!/usr/bin/env bash
# `touchpoint serve` against PostgreSQL 15 (issue 19): the demo warehouse
# (CUSTOMERS × MONTHS), the three marts the query shapes read copied into a
# throwaway local PostgreSQL (initdb + pg_ctl on a loopback port; COPY, an
# index on customer_month.customer_id, ANALYZE), and pgbench custom scripts
# over 1, 8 and 32 clients for three shapes — a dashboard aggregate (NPS by
# channel and tier for a month), a filtered top-50 (customers at risk in a
# tier), a point lookup (one customer's months), each run 3 s untimed on
# both servers first. Throughput, p50 / p99
# latency (pgbench's per-transaction log) for both and the ratio; then a
# 1M-row COPY TO STDOUT and a 1M-row Flight SQL fetch (rows/s), and the
# server's peak RSS.
#
#   bash benches/serve.sh                            # 100k × 12, 20 s per run
#   CUSTOMERS=20000 MONTHS=3 SECONDS_PER_RUN=5 bash benches/serve.sh
#   SHAPES="point" CLIENTS="32" bash benches/serve.sh   # one cell
#   CACHE_MB=0 bash benches/serve.sh                 # without the answers cache
#
# Needs: a release build (cargo build --release), the postgresql Debian
# package (initdb, pg_ctl, pgbench, psql), and for the Flight SQL fetch the
# ADBC driver `.ci/run` installs into ~/.cache/touchpoint-tools/py.
set -euo pipefail
cd "$(dirname "$0")/.."
CUSTOMERS=${CUSTOMERS:-100000}
MONTHS=${MONTHS:-12}
SECS=${SECONDS_PER_RUN:-20}
TP=$(realpath "${TP:-${CARGO_TARGET_DIR:-target}/release/touchpoint}")
[ -x "$TP" ] || { echo "build touchpoint first: cargo build --release ($TP)"; exit 1; }
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[ -x "$BIN/pgbench" ] || { echo "install PostgreSQL: apt-get install postgresql"; exit 1; }
WORK=$(mktemp -d)
SERVE_PID=
cleanup() {
  [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null || true
  run_pg pg_ctl -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
AS=()
if [ "$(id -u)" = 0 ]; then chown -R postgres "$WORK"; AS=(runuser -u postgres --); fi
run_pg() { local tool=$1; shift; "${AS[@]}" "$BIN/$tool" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PW=bench-only-pw
export TOUCHPOINT_HASH_KEY=bench-key-not-a-secret-0123456789
export TOUCHPOINT_PASSWORD_ANA=$PW TOUCHPOINT_PASSWORD_KIM=$PW TOUCHPOINT_PASSWORD_CARA=$PW

# The demo warehouse, in a project of its own.
P=$WORK/project
mkdir -p "$P"
cp -r pipelines queries reports "$P/"
echo "building the demo warehouse ($CUSTOMERS customers × $MONTHS months)…"
last=$(python3 -c "m=$MONTHS; y=2024+(m-1)//12; print(f'{y}-{(m-1)%12+1:02d}')")
(cd "$P" && "$TP" generate --customers "$CUSTOMERS" --months "$MONTHS" --start 2024-01 --seed 42 --out data >/dev/null \
  && "$TP" run --period "2024-01..$last" >/dev/null 2>&1)

# touchpoint serve.
TPORT=$(free_port); FPORT=$(free_port)
(cd "$P" && exec "$TP" serve --listen "127.0.0.1:$TPORT" --flight "127.0.0.1:$FPORT" \
  --audit-log "$WORK/audit.jsonl" --max-connections 128 --result-cache-mb "${CACHE_MB:-64}" \
  >"$WORK/serve.log" 2>&1) &
SERVE_PID=$!
for _ in $(seq 50); do grep -q "Flight SQL on" "$WORK/serve.log" 2>/dev/null && break; sleep 0.2; done
SERVE_PID=$(pgrep -f "serve --listen 127.0.0.1:$TPORT" | head -1)
export PGPASSWORD=$PW
TPSQL=("$BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$TPORT user=ana dbname=touchpoint sslmode=disable")

# PostgreSQL 15 with the same marts.
PPORT=$(free_port)
echo "$PW" >"$WORK/pw"; chmod 644 "$WORK/pw"
[ ${#AS[@]} -gt 0 ] && chown -R postgres "$WORK"
run_pg initdb -D "$WORK/data" -U ana --auth=scram-sha-256 --pwfile "$WORK/pw" -E UTF8 --locale=C >/dev/null
run_pg pg_ctl -D "$WORK/data" -l "$WORK/pglog" -w \
  -o "-p $PPORT -c listen_addresses=127.0.0.1 -k $WORK -c fsync=off -c shared_buffers=256MB -c max_connections=100" start >/dev/null
PGSQL=("$BIN/psql" -X -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$PPORT user=ana dbname=postgres")
for t in satisfaction_monthly churn_risk customer_month; do
  ddl=$("${TPSQL[@]}" -c "SELECT column_name || ' ' || data_type FROM information_schema.columns WHERE table_name = '$t' ORDER BY ordinal_position" \
    | python3 -c '
import re, sys
def pg(t):
    if "Utf8" in t or "Dictionary" in t: return "text"
    if t.startswith("Int"): return "bigint"
    if t.startswith("Float"): return "double precision"
    if t.startswith("Decimal"): return "numeric"
    if t == "Boolean": return "boolean"
    if t.startswith("Date"): return "date"
    if t.startswith("Timestamp"): return "timestamptz"
    raise SystemExit("no PostgreSQL type for " + t)
cols = [l.split(" ", 1) for l in sys.stdin.read().splitlines() if l]
print(", ".join(f"\"{c}\" {pg(t)}" for c, t in cols))')
  "${PGSQL[@]}" -c "CREATE TABLE $t ($ddl)"
  "${TPSQL[@]}" -c "COPY (SELECT * FROM $t) TO STDOUT WITH (FORMAT csv, HEADER)" \
    | "${PGSQL[@]}" -c "\\copy $t FROM STDIN WITH (FORMAT csv, HEADER)"
done
"${PGSQL[@]}" -c "CREATE INDEX ON customer_month (customer_id)"
"${PGSQL[@]}" -c "VACUUM ANALYZE"
for t in satisfaction_monthly churn_risk customer_month; do
  a=$("${TPSQL[@]}" -c "SELECT COUNT(*) FROM $t"); b=$("${PGSQL[@]}" -At -c "SELECT COUNT(*) FROM $t")
  [ "$a" = "$b" ] || { echo "$t: touchpoint $a rows, PostgreSQL $b"; exit 1; }
  echo "$t: $a rows in both"
done
TIER=$("${TPSQL[@]}" -c "SELECT tier FROM churn_risk WHERE period = '$last' GROUP BY tier ORDER BY COUNT(*) LIMIT 1")

cat >"$WORK/aggregate.sql" <<EOF
SELECT channel, tier, SUM(responses) AS responses, AVG(nps) AS nps FROM satisfaction_monthly WHERE period = '$last' GROUP BY channel, tier ORDER BY channel, tier;
EOF
cat >"$WORK/top50.sql" <<EOF
SELECT customer_id, score, balance_at_risk FROM churn_risk WHERE period = '$last' AND tier = '$TIER' ORDER BY balance_at_risk DESC LIMIT 50;
EOF
cat >"$WORK/point.sql" <<EOF
\\set id random(1, $CUSTOMERS)
SELECT * FROM customer_month WHERE customer_id = 'C' || lpad(:id::text, 7, '0') ORDER BY period;
EOF
# The same answers from both before timing anything.
for s in aggregate top50; do
  a=$("${TPSQL[@]}" -f "$WORK/$s.sql" | md5sum); b=$("${PGSQL[@]}" -At -f "$WORK/$s.sql" | md5sum)
  [ "$a" = "$b" ] || echo "note: $s answers differ in text (float formatting?)"
done

bench() { # label port script clients → "tps p50 p99"
  local port=$1 script=$2 clients=$3 dir
  dir=$(mktemp -d -p "$WORK"); [ ${#AS[@]} -gt 0 ] && chmod 777 "$dir"
  (cd "$dir" && "$BIN/pgbench" -n -M simple -f "$WORK/$script.sql" -c "$clients" -j "$clients" -T "$SECS" \
    -l --log-prefix=tx "host=127.0.0.1 port=$port user=ana dbname=$4 sslmode=disable" >"$dir/out" 2>&1) \
    || { echo "pgbench failed on port $port ($script, $clients clients):" >&2; grep -i error "$dir/out" | head -3 >&2
         grep -v '"outcome":"ok"' "$WORK/audit.jsonl" | tail -2 | cut -c1-400 >&2; echo "0 0 0"; return 0; }
  cat "$dir"/tx* | python3 -c '
import sys
lat = sorted(int(l.split()[2]) for l in sys.stdin if l.strip())
n = len(lat); secs = float(sys.argv[1])
print(f"{n / secs:9.1f} {lat[n // 2] / 1000:8.2f} {lat[min(n - 1, n * 99 // 100)] / 1000:8.2f}")' "$SECS"
}

echo
printf "%-10s %7s | %-28s | %-28s | %s\n" shape clients "touchpoint: tps  p50 ms  p99" "PostgreSQL: tps  p50 ms  p99" "tps ratio (tp/pg)"
warm() { # port script dbname: 3 s untimed
  "$BIN/pgbench" -n -M simple -f "$WORK/$2.sql" -c 1 -j 1 -T 3 \
    "host=127.0.0.1 port=$1 user=ana dbname=$3 sslmode=disable" >/dev/null 2>&1 || true
}
for s in ${SHAPES:-aggregate top50 point}; do
  # Untimed first, on both servers: PostgreSQL's buffers fill, and
  # touchpoint's copy for keyed lookups is made (as PostgreSQL's index was
  # made before anything was timed).
  warm "$TPORT" "$s" touchpoint; warm "$PPORT" "$s" postgres
  for c in ${CLIENTS:-1 8 32}; do
    read -r ttps tp50 tp99 < <(bench "$TPORT" "$s" "$c" touchpoint)
    read -r ptps pp50 pp99 < <(bench "$PPORT" "$s" "$c" postgres)
    ratio=$(python3 -c "print(f'{$ttps / $ptps:.2f}' if $ptps else 'n/a')")
    printf "%-10s %7s | %9s %8s %8s | %9s %8s %8s | %s\n" "$s" "$c" "$ttps" "$tp50" "$tp99" "$ptps" "$pp50" "$pp99" "$ratio"
  done
done
echo "touchpoint serve peak RSS after 32 clients: $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' /proc/"$SERVE_PID"/status)"

# Bulk export: 1M rows through COPY TO STDOUT (text through psql, binary
# through psql and through the ADBC PostgreSQL driver) and Flight SQL, from
# touchpoint and the same rows from PostgreSQL; medians of 3.
N=$("${TPSQL[@]}" -c "SELECT LEAST(COUNT(*), 1000000) FROM customer_month")
Q="SELECT * FROM customer_month LIMIT $N"
median3() { # command… → "rows seconds" (the median of 3 runs by seconds)
  for _ in 1 2 3; do "$@"; done | sort -k2 -g | sed -n 2p
}
psql_copy() { # port db format → "rows seconds"
  local t0 t1 rows
  t0=$(date +%s.%N)
  rows=$("$BIN/psql" -X -q -At "host=127.0.0.1 port=$1 user=ana dbname=$2 sslmode=disable" \
    -c "COPY ($Q) TO STDOUT (FORMAT $3)" | wc -c)
  t1=$(date +%s.%N)
  echo "$rows $(python3 -c "print(f'{$t1 - $t0:.3f}')")"
}
fetch() { PYTHONPATH=$HOME/.cache/touchpoint-tools/py python3 benches/serve_fetch.py "$@"; }
rate() { # label "rows seconds" "rows seconds" (touchpoint, PostgreSQL)
  python3 - "$@" <<'PY'
import sys
label, (tr, ts), (pr, ps) = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
if sys.argv[4] == "bytes":
    print(f"{label:34s} touchpoint {float(ts):6.2f} s ({int(tr) / 1e6:7.1f} MB) | PostgreSQL {float(ps):6.2f} s ({int(pr) / 1e6:7.1f} MB) | {int(sys.argv[5]) / float(ts) / 1e6:5.2f} vs {int(sys.argv[5]) / float(ps) / 1e6:5.2f} M rows/s | ratio {float(ps) / float(ts):.2f}")
else:
    print(f"{label:34s} touchpoint {float(ts):6.2f} s ({tr} rows) | PostgreSQL {float(ps):6.2f} s ({pr} rows) | {int(tr) / float(ts) / 1e6:5.2f} vs {int(pr) / float(ps) / 1e6:5.2f} M rows/s | ratio {float(ps) / float(ts):.2f}")
PY
}
echo
echo "Bulk export of $N customer_month rows (median of 3; ratio = PostgreSQL time / touchpoint time):"
rate "COPY TO STDOUT, text (psql)" "$(median3 psql_copy "$TPORT" touchpoint text)" "$(median3 psql_copy "$PPORT" postgres text)" bytes "$N"
rate "COPY TO STDOUT, binary (psql)" "$(median3 psql_copy "$TPORT" touchpoint binary)" "$(median3 psql_copy "$PPORT" postgres binary)" bytes "$N"
rate "ADBC PostgreSQL (binary COPY)" \
  "$(median3 fetch postgresql "postgresql://ana:$PW@127.0.0.1:$TPORT/touchpoint?sslmode=disable" "$Q")" \
  "$(median3 fetch postgresql "postgresql://ana:$PW@127.0.0.1:$PPORT/postgres?sslmode=disable" "$Q")" rows
ft=$(median3 fetch flightsql "grpc://127.0.0.1:$FPORT" ana "$PW" "$Q")
echo "Flight SQL (ADBC, one stream)      touchpoint $(echo "$ft" | awk -v n="$N" '{printf "%6.2f s (%d rows) = %.2f M rows/s", $2, $1, $1 / $2 / 1e6}')"
echo "touchpoint serve peak RSS overall: $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' /proc/"$SERVE_PID"/status)"
