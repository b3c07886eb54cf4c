#!/usr/bin/env bash
# Cluster overhead (issue 20): the demo pipeline run locally and on a
# Ballista cluster of one and of two executors on this machine, the same
# data, in one script. Reports wall time, the models phase's time (from
# `_runs`), the loads' share, the overhead ratio against local, and peak RSS
# of every process.
#
#   cargo build --release --features cluster
#   CUSTOMERS=100000 MONTHS=12 bash benches/cluster.sh
#
# Knobs: CUSTOMERS, MONTHS, BIN (a touchpoint built with the cluster
# feature), WORK (scratch folder), SLOTS (task slots per executor),
# EXEC_MB (TOUCHPOINT_MEMORY_MB of each executor), MODES (default
# "local 1 2": local, then clusters of 1 and 2 executors).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CUSTOMERS=${CUSTOMERS:-100000}
MONTHS=${MONTHS:-12}
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/touchpoint}
WORK=${WORK:-/tmp/touchpoint-cluster-bench}
SLOTS=${SLOTS:-2}
EXEC_MB=${EXEC_MB:-512}
MODES=${MODES:-local 1 2}
export TOUCHPOINT_HASH_KEY=${TOUCHPOINT_HASH_KEY:-bench-key-not-a-secret-0123456789}

[ -x "$BIN" ] || { echo "no $BIN: cargo build --release --features cluster" >&2; exit 1; }
"$BIN" scheduler --help >/dev/null 2>&1 || { echo "$BIN was built without --features cluster" >&2; exit 1; }

# One project and its extracts; each mode writes its own warehouse in it.
P="$WORK/project-$CUSTOMERS-$MONTHS"
mkdir -p "$P"
rm -rf "$P/pipelines" "$P/queries" "$P/reports"
cp -r "$ROOT/pipelines" "$ROOT/queries" "$ROOT/reports" "$P/"
if [ ! -d "$P/data" ]; then
  echo "generating $CUSTOMERS customers x $MONTHS months into $P/data"
  (cd "$P" && "$BIN" generate --customers "$CUSTOMERS" --months "$MONTHS" --start 2024-01 --seed 7 --out data >/dev/null)
fi
LAST=$(printf '2024-%02d' "$MONTHS")
[ "$MONTHS" -le 12 ] || { echo "MONTHS must be at most 12" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hwm_mb() { awk '/VmHWM/ {printf "%.0f\n", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }
wait_port() { for _ in $(seq 1 300); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

PIDS=()
stop_all() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }
trap stop_all EXIT

printf '%-8s %9s %9s %9s %7s %9s %10s %s\n' mode wall_s models_s loads_s ratio client_MB sched_MB executors_MB
LOCAL_MODELS=""
for mode in $MODES; do
  export TOUCHPOINT_WAREHOUSE="$P/warehouse-$mode"
  rm -rf "$TOUCHPOINT_WAREHOUSE"
  ENGINE=local; SCHED=""; EXECS=()
  if [ "$mode" != local ]; then
    port=$(free_port)
    "$BIN" scheduler --bind "127.0.0.1:$port" >"$WORK/scheduler-$mode.log" 2>&1 &
    SCHED=$!; PIDS+=("$SCHED"); wait_port "$port"
    for i in $(seq 1 "$mode"); do
      f=$(free_port); g=$(free_port)
      TOUCHPOINT_MEMORY_MB=$EXEC_MB "$BIN" executor --scheduler "127.0.0.1:$port" \
        --bind "127.0.0.1:$f" --grpc-port "$g" --slots "$SLOTS" --work-dir "$WORK/work-$mode-$i" \
        >"$WORK/executor-$mode-$i.log" 2>&1 &
      EXECS+=($!); PIDS+=($!); wait_port "$f"
    done
    ENGINE="ballista://127.0.0.1:$port"
  fi
  start=$(date +%s.%N)
  if ! ( cd "$P" && TOUCHPOINT_ENGINE=$ENGINE /usr/bin/time -f '%M' -o "$WORK/rss-$mode" \
      "$BIN" run --period "2024-01..$LAST" --no-progress >/dev/null 2>"$WORK/run-$mode.log" ); then
    # A failed mode is a result too (e.g. executors' memory too small): say where it stopped.
    echo "$mode: run failed after $(echo "$(date +%s.%N) - $start" | bc) s: $(grep -m1 '^error' "$WORK/run-$mode.log" | cut -c1-400)"
    [ "$mode" != local ] && echo "  executors' peak RSS: $(for e in "${EXECS[@]}"; do hwm_mb "$e"; done | paste -sd/) MB"
    stop_all
    continue
  fi
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  client=$(awk '{printf "%.0f", $1/1024}' "$WORK/rss-$mode")
  sched="-"; execs="-"
  if [ "$mode" != local ]; then
    sched=$(hwm_mb "$SCHED")
    execs=$(for e in "${EXECS[@]}"; do hwm_mb "$e"; done | paste -sd/)
  fi
  stop_all
  read -r models loads < <(cd "$P" && "$BIN" query --format csv \
    "SELECT SUM(CASE WHEN kind = 'model' THEN seconds ELSE 0 END), SUM(CASE WHEN kind IN ('source', 'seed') THEN seconds ELSE 0 END) FROM _runs" \
    | tail -1 | tr ',' ' ')
  [ "$mode" = local ] && LOCAL_MODELS=$models
  ratio=$( [ -n "$LOCAL_MODELS" ] && echo "scale=2; $models / $LOCAL_MODELS" | bc || echo "-")
  printf '%-8s %9.1f %9.1f %9.1f %7s %9s %10s %s\n' "$mode" "$wall" "$models" "$loads" "$ratio" "$client" "$sched" "$execs"
done

# The same rows either way (tests/cli/cluster.rs compares every table row
# by row; here the row counts of the largest marts, as a guard).
if [ -d "$P/warehouse-local" ]; then
  for mode in $MODES; do
    [ "$mode" = local ] && continue
    for t in customer_month channel_mix_monthly churn_risk customer_clv kpi_monthly; do
      a=$(cd "$P" && TOUCHPOINT_WAREHOUSE="$P/warehouse-local" "$BIN" query --format csv "SELECT COUNT(*) FROM $t" | tail -1)
      b=$(cd "$P" && TOUCHPOINT_WAREHOUSE="$P/warehouse-$mode" "$BIN" query --format csv "SELECT COUNT(*) FROM $t" | tail -1)
      [ "$a" = "$b" ] || echo "row counts differ for $t: local $a, $mode executors $b"
    done
  done
fi
