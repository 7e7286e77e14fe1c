#!/usr/bin/env bash
# A short fuzz run of every target from its committed seeds
# (fuzz/seeds/<target>/), cheap enough for `make test`: two targets at a
# time (one per core on a 2-core machine), 5 seconds each by default
# (FUZZ_SECONDS=N), about 80 seconds in all after the build. Exits
# non-zero on a crash, a sanitizer report or a failed invariant; 77 when
# clang is missing. New corpus entries go to a temporary directory, never
# into the tree.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v "${CC:-clang}" >/dev/null; then
  echo "fuzz smoke: clang not found (scripts/deps.sh fuzz); skipped"
  exit 77
fi
# The build's own output only when it fails, so a broken build says why.
if ! build_log=$(fuzz/build.sh 2>&1); then
  printf '%s\n' "$build_log" | tail -n 40
  echo "fuzz smoke: fuzz/build.sh failed"
  exit 1
fi
OUT=${OUT:-fuzz/out}
SECS=${FUZZ_SECONDS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
targets=(fuzz_virtq fuzz_blk fuzz_net fuzz_vsock fuzz_mmio fuzz_loader fuzz_cli fuzz_api
         fuzz_json_config fuzz_vsock_line fuzz_snapshot fuzz_devstate fuzz_mmds
         fuzz_uffd_msg fuzz_mmds_net fuzz_balloon fuzz_httpd fuzz_pmem
         fuzz_virtio_mem fuzz_pci fuzz_virtio_pci fuzz_vhost_user fuzz_vfio fuzz_migrate
         fuzz_hpet fuzz_agent fuzz_fwcfg fuzz_pflash fuzz_qcow2
         fuzz_sandboxd fuzz_blk_qcow2)

# Runs one target; its status and log stay in $work/<target>.{rc,log}.
run() {
  local t=$1
  mkdir -p "$work/$t"
  "$OUT/$t" -max_total_time="$SECS" -print_final_stats=1 -artifact_prefix="$OUT/" \
    "$work/$t" "fuzz/seeds/$t" >"$work/$t.log" 2>&1
  echo $? >"$work/$t.rc"
}

failed=0
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run "${targets[i]}" &
  [ $((i + 1)) -lt ${#targets[@]} ] && run "${targets[i + 1]}" &
  wait
done
for t in "${targets[@]}"; do
  if [ "$(cat "$work/$t.rc")" != 0 ]; then
    tail -n 60 "$work/$t.log"
    echo "fuzz smoke: $t FAILED (exit $(cat "$work/$t.rc")); reproducer in $OUT/crash-*"
    failed=1
  else
    echo "fuzz smoke: $t $(grep -E '^Done' "$work/$t.log"), $(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$work/$t.log" | tail -n1), no crashes"
  fi
done
exit $failed
