#!/usr/bin/env bash
# fuzz/run.sh TARGET [SECONDS]: builds, then fuzzes TARGET for SECONDS
# (default 600) from its committed seeds, keeping what it finds in
# fuzz/out/corpus/TARGET (ignored by git) for the next run. A crash leaves
# fuzz/out/crash-*; replay it with fuzz/out/TARGET fuzz/out/crash-<hash>.
# Extra libFuzzer flags go in FUZZ_FLAGS (e.g. FUZZ_FLAGS=-jobs=2).
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:?usage: fuzz/run.sh TARGET [SECONDS]}
OUT=${OUT:-fuzz/out}
[ -d "fuzz/seeds/$t" ] || { echo "no such target: $t (see fuzz/seeds/)" >&2; exit 2; }
fuzz/build.sh >/dev/null
mkdir -p "$OUT/corpus/$t"
# shellcheck disable=SC2086
exec "$OUT/$t" -max_total_time="${2:-600}" -print_final_stats=1 -artifact_prefix="$OUT/" \
  ${FUZZ_FLAGS:-} "$OUT/corpus/$t" "fuzz/seeds/$t"
