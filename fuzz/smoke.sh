#!/usr/bin/env bash
# A short fuzz run of every target, cheap enough for `make test`: exits
# non-zero on a crash, a sanitizer report or a failed invariant; 77 when
# clang is missing. FUZZ_SECONDS overrides each target's length.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v "${CC:-clang}" >/dev/null; then
  echo "fuzz smoke: clang not found (scripts/deps.sh fuzz); skipped"
  exit 77
fi
fuzz/build.sh >/dev/null || exit 1
OUT=${OUT:-fuzz/out}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# target, seeds, seconds by default
run() {
  local target=$1 seeds=$2 secs=$3 rc
  rm -rf "$work/corpus" && mkdir -p "$work/corpus"
  cp "$OUT/$seeds"/* "$work/corpus"/
  "$OUT/$target" -max_total_time="${FUZZ_SECONDS:-$secs}" -print_final_stats=1 \
    -artifact_prefix="$OUT/" "$work/corpus" >"$work/log" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    tail -n 60 "$work/log"
    echo "fuzz smoke: $target FAILED (exit $rc); reproducer in $OUT/crash-*"
    exit 1
  fi
  echo "fuzz smoke: $target $(grep -E '^Done' "$work/log"), no crashes"
}
run fuzz_virtq seeds 20
run fuzz_vsock_line seeds_vsock_line 10
run fuzz_snapshot seeds_snapshot 10
