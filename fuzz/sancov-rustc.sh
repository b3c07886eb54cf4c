#!/usr/bin/env bash
# RUSTC_WRAPPER for `QUICK=1 fuzz/run.sh`: libFuzzer's coverage
# instrumentation (stable codegen options, as cargo-fuzz passes them) for
# touchpoint and the fuzz targets only, so every dependency already built in
# the checkout's target/debug is reused as it is.
rustc="$1"
shift
ours=0
prev=
for a in "$@"; do
    case "$prev $a" in
    "--crate-name touchpoint" | *" fuzz_targets/"*) ours=1 ;;
    esac
    prev="$a"
done
if [ "$ours" = 1 ]; then
    exec "$rustc" "$@" -Cpasses=sancov-module \
        -Cllvm-args=-sanitizer-coverage-level=4 \
        -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
        -Cllvm-args=-sanitizer-coverage-pc-table \
        -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing
fi
exec "$rustc" "$@"
