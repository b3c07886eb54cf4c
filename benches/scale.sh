#!/usr/bin/env bash
# One machine, a big bank (issue 23 item 7): the shipped pipeline over a
# generated CUSTOMERS × MONTHS bank in one run, with the release binary.
# Reports the run's wall time and peak RSS (/usr/bin/time -v), the load
# phase, the slowest models, the CLV step; then both CLV fits (BFGS with the
# gradient, what the step uses, and Nelder–Mead, the derivative-free second
# method) on the step's own histories, timed side by side.
#
#   bash benches/scale.sh                               # 1,000,000 customers × 12 months
#   CUSTOMERS=100000 MONTHS=3 bash benches/scale.sh
#   KEEP=/tmp/bank bash benches/scale.sh                # keep the bank and its warehouse
#
# TOUCHPOINT_BIN names a binary to measure; otherwise the release build in
# the shared target cache is built first. Needs about 1 GB of disk per
# 100,000 customer-months (extracts and warehouse).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CUSTOMERS=${CUSTOMERS:-1000000}
MONTHS=${MONTHS:-12}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/touchpoint-target}"
(cd "$here/.." && cargo build --release --quiet --bench clv_fit)
fit_bin=$(ls -t "$CARGO_TARGET_DIR"/release/deps/clv_fit-* | grep -v '\.d$' | head -1)
if [[ -z "${TOUCHPOINT_BIN:-}" ]]; then
  (cd "$here/.." && cargo build --release --quiet)
  TOUCHPOINT_BIN="$CARGO_TARGET_DIR/release/touchpoint"
fi
[[ -x /usr/bin/time ]] || { echo "error: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
export TOUCHPOINT_HASH_KEY=${TOUCHPOINT_HASH_KEY:-bench-key-not-a-secret-0123456789}
if [[ -n "${KEEP:-}" ]]; then
  work="$KEEP"; mkdir -p "$work"
else
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fi
cp -r "$here/../pipelines" "$here/../queries" "$here/../reports" "$work/"
cd "$work"
last=$(python3 -c "m=$MONTHS; print(f'{2024 + (m - 1) // 12}-{(m - 1) % 12 + 1:02d}')")
if [[ ! -d data/atm ]]; then
  echo "generating $CUSTOMERS customers × $MONTHS months…"
  /usr/bin/time -f "generate: %e s, peak %M KB" "$TOUCHPOINT_BIN" generate --customers "$CUSTOMERS" \
    --months "$MONTHS" --start 2024-01 --seed 7 --out data >/dev/null
fi
echo "running 2024-01..$last (loads, models, checks)…"
/usr/bin/time -v -o time.txt "$TOUCHPOINT_BIN" run --period "2024-01..$last" --json --no-progress \
  >run.json 2>run.err || { tail -20 run.err; grep -E "Maximum resident|Elapsed" time.txt; exit 1; }
python3 - "$CUSTOMERS" "$MONTHS" <<'PY'
import json, re, sys
steps = json.load(open("run.json"))["steps"]
t = open("time.txt").read()
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1)
parts = [float(p) for p in wall.split(":")]
secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
src = [s for s in steps if s["kind"] == "source"]
models = [s for s in steps if s["kind"] == "model"]
rows = sum(s["rows_read"] for s in src)
print(f"{int(sys.argv[1]):,} customers × {sys.argv[2]} months: {rows:,} rows read")
print(f"whole run: {secs:.1f} s wall, peak RSS {rss:.0f} MB")
print(f"models: {sum(s['seconds'] for s in models):.1f} s over {len(models)}; slowest:")
for s in sorted(models, key=lambda s: -s["seconds"])[:10]:
    print(f"  {s['table']:<28} {s['seconds']:7.2f} s  {s.get('rows_loaded', 0):>12,} rows")
for s in models:
    if s["table"] == "customer_clv":
        print(f"customer_clv step: {s['seconds']:.2f} s ({s.get('message') or ''})")
PY
"$TOUCHPOINT_BIN" query --format csv \
  "SELECT frequency, recency_weeks, age_weeks, monetary FROM customer_clv" >histories.csv
"$fit_bin" histories.csv
