#!/usr/bin/env bash
# A short fuzz run cheap enough for `make test`: exits non-zero on a crash,
# a sanitizer report or a failed invariant; 77 when clang is missing.
# FUZZ_SECONDS overrides the length.
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
cp "$OUT"/seeds/* "$work"/
"$OUT/fuzz_virtq" -max_total_time="${FUZZ_SECONDS:-20}" -print_final_stats=1 \
  -artifact_prefix="$OUT/" "$work" >"$work/log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  tail -n 60 "$work/log"
  echo "fuzz smoke: FAILED (exit $rc); reproducer in $OUT/crash-*"
  exit 1
fi
echo "fuzz smoke: $(grep -E '^Done' "$work/log"), no crashes"
