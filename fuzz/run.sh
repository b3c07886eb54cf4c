#!/usr/bin/env bash
# Run every fuzz target for a bounded time and say what each found.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     (default 60 seconds, every target)
#
# Installs cargo-fuzz when missing, builds the targets, runs each for
# SECONDS (libFuzzer's -max_total_time) over fuzz/corpus/<target>, and prints
# per target the executions run and whether it found anything (a crash, a
# broken invariant, a hang over 10 s or more than 2 GB of memory; the input
# is left in fuzz/artifacts/<target>/). Exits 1 when any target found
# something. Not part of .ci/run: it is slow.
#
# Toolchain: stable Rust. cargo-fuzz passes -Z flags (sanitizer coverage,
# the address sanitizer), which stable accepts with RUSTC_BOOTSTRAP=1.
# SANITIZER=none builds without the address sanitizer (quicker to build and
# about twice as fast to run; safe Rust rarely needs it).
#
# The first cargo-fuzz build instruments and optimises every dependency
# (DataFusion, Delta, …): about an hour on two busy cores. QUICK=1 instead
# copies the checkout's target/debug (after any `cargo test`) to
# fuzz/target/shared once, and instruments only touchpoint and the targets
# (sancov-rustc.sh); it builds in minutes, without a sanitizer, and the
# fuzzer sees coverage of touchpoint's code only (not of the CSV, JSON or
# YAML parsers inside).
set -euo pipefail

cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
sanitizer="${SANITIZER:-address}"
quick="${QUICK:-0}"

if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(grep -A1 '^\[\[bin\]\]' Cargo.toml | sed -n 's/^name = "\(.*\)"/\1/p')
fi

if [ "$quick" = 1 ]; then
    sanitizer=none
    shared="$PWD/target/shared"
    if [ ! -d "$shared/debug" ]; then
        mkdir -p "$shared"
        cp -a "${CARGO_TARGET_DIR:-../target}/debug" "$shared/"
    fi
    # No RUSTC_BOOTSTRAP here: build scripts that probe for it would rebuild
    # every dependency of the copy.
    CARGO_TARGET_DIR="$shared" RUSTC_WRAPPER="$PWD/sancov-rustc.sh" cargo build --bins
    fuzz() {
        local t="$1"
        shift
        "$shared/debug/$t" -artifact_prefix="artifacts/$t/" "corpus/$t" "$@"
    }
else
    export RUSTC_BOOTSTRAP=1
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "installing cargo-fuzz…"
        cargo install cargo-fuzz --locked
    fi
    cargo fuzz build --sanitizer "$sanitizer"
    fuzz() {
        local t="$1"
        shift
        cargo fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" -- "$@"
    }
fi

found=0
summary=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="artifacts/$t/last-run.log"
    before=$(find "artifacts/$t" -type f ! -name '*.log' | wc -l)
    start=$(date +%s)
    set +e
    fuzz "$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1
    status=$?
    set -e
    took=$(($(date +%s) - start))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    if [ -z "$execs" ]; then
        execs=$(grep -o '^#[0-9]*' "$log" | tr -d '#' | tail -1)
    fi
    after=$(find "artifacts/$t" -type f ! -name '*.log' | wc -l)
    if [ "$status" -ne 0 ] || [ "$after" -gt "$before" ]; then
        found=1
        what=$(grep -m1 -E 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY' "$log" || echo "exit $status")
        artifact=$(grep -o 'artifacts/[^ ]*' "$log" | tail -1 || true)
        result="FOUND: $what ${artifact:+($artifact)}"
    else
        result="nothing found"
    fi
    line=$(printf '%-16s %12s execs in %5ss  %s' "$t" "${execs:-?}" "$took" "$result")
    echo "$line"
    summary+=("$line")
done

echo
build=$([ "$quick" = 1 ] && echo ", quick build" || true)
echo "fuzzing summary (${seconds}s per target, sanitizer: $sanitizer$build):"
printf '  %s\n' "${summary[@]}"
exit "$found"
