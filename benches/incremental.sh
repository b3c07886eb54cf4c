#!/usr/bin/env bash
# What a run costs when little changed (issue 23): on a generated
# CUSTOMERS × MONTHS warehouse, the release binary's time for
#   - a full-refresh run of the last month (every model built whole),
#   - a run with nothing new,
#   - a run after one new day of ATM files (held back, then delivered),
# each the median of RUNS runs, and the ratios to the full month.
#
#   bash benches/incremental.sh                     # 20000 customers, 12 months, 3 runs
#   CUSTOMERS=100000 RUNS=5 bash benches/incremental.sh
#
# TOUCHPOINT_BIN names a binary to measure; otherwise the release build in
# the shared target cache is built first.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CUSTOMERS=${CUSTOMERS:-20000}
MONTHS=${MONTHS:-12}
RUNS=${RUNS:-3}
if [[ -z "${TOUCHPOINT_BIN:-}" ]]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/touchpoint-target}"
  (cd "$here/.." && cargo build --release --quiet)
  TOUCHPOINT_BIN="$CARGO_TARGET_DIR/release/touchpoint"
fi
export TOUCHPOINT_HASH_KEY=${TOUCHPOINT_HASH_KEY:-bench-key-not-a-secret-0123456789}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$here/../pipelines" "$here/../queries" "$here/../reports" "$work/"
cd "$work"
"$TOUCHPOINT_BIN" generate --customers "$CUSTOMERS" --months "$MONTHS" --start 2024-01 --seed 7 --out data >/dev/null
last=$(python3 -c "m=$MONTHS; print(f'{2024 + (m - 1) // 12}-{(m - 1) % 12 + 1:02d}')")
y=${last%-*}; mm=${last#*-}
day=$(ls "data/atm/$y/$mm" | sort | tail -1)
mkdir -p held
mv "data/atm/$y/$mm/$day" held/
echo "loading $CUSTOMERS customers × $MONTHS months (all but $day)…"
"$TOUCHPOINT_BIN" run --period "2024-01..$last" >/dev/null 2>&1

time_run() { # prints seconds of one run
  local t0 t1
  t0=$(date +%s.%N)
  "$TOUCHPOINT_BIN" run --period "$last" "$@" >"$work/out" 2>&1 || { cat "$work/out"; exit 1; }
  t1=$(date +%s.%N)
  python3 -c "print($t1 - $t0)"
}
median() { python3 -c "import statistics,sys; print(round(statistics.median(float(x) for x in sys.argv[1:]), 2))" "$@"; }

full=(); none=(); newday=()
for _ in $(seq "$RUNS"); do
  full+=("$(time_run --full-refresh)")
  none+=("$(time_run)")
  mv "held/$day" "data/atm/$y/$mm/"
  newday+=("$(time_run)")
  models=$(grep -c "^model " "$work/out" || true)
  skipped=$(grep -c "^skip  model" "$work/out" || true)
  # Back to the state before the day arrived (the next full refresh reads
  # the month without it again).
  mv "data/atm/$y/$mm/$day" held/
done
f=$(median "${full[@]}"); n=$(median "${none[@]}"); d=$(median "${newday[@]}")
echo "full-refresh month $last: ${f} s   (runs: ${full[*]})"
echo "nothing new:               ${n} s   (runs: ${none[*]})"
echo "one new day ($day):  ${d} s   (runs: ${newday[*]}; $models models built, $skipped skipped)"
python3 -c "print(f'ratio new day / full month: {$d / $f:.2f}; nothing new / full month: {$n / $f:.2f}')"
