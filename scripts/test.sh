#!/usr/bin/env bash
# The whole suite: unit, guest and integration tests on the normal and the
# sanitizer builds, then the lab (stock Debian kernel under nested KVM).
# Ends with one line "N passed, N failed"; exits non-zero on any failure.
#   HEARTH_SKIP_LAB=1   skip the lab (for quick local runs; CI never sets it)
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0 failed=0 skipped=0 phases_failed=()

# Adds one meson build's results from its JSON test log.
count_meson() {
  local log=$1/meson-logs/testlog.json
  [ -f "$log" ] || return 0
  read -r p f s < <(python3 - "$log" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
)
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

run_meson() {
  local dir=$1; shift
  echo "== meson test -C $dir $*"
  rm -f "$dir/meson-logs/testlog.json"
  meson test -C "$dir" --print-errorlogs "$@" || phases_failed+=("$dir")
  count_meson "$dir"
}

run_meson build
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_meson build-asan

echo "== fuzz smoke: the virtqueue parser under libFuzzer"
fuzz/smoke.sh
case $? in
  0) passed=$((passed + 1)) ;;
  77) skipped=$((skipped + 1)) ;;
  *) failed=$((failed + 1)); phases_failed+=(fuzz) ;;
esac

if [ "${HEARTH_SKIP_LAB:-0}" = 1 ]; then
  echo "== lab skipped (HEARTH_SKIP_LAB=1)"
else
  # Each file is one L1 boot with several L2 boots; it ends "N passed, N failed".
  for t in test_core test_virtio_blk test_virtio_net test_virtio_vsock; do
    echo "== lab: $t (stock Debian kernel under Hearth in nested KVM)"
    lab_out=$(mktemp)
    HEARTH="$PWD/build/hearth" python3 "tests/lab/$t.py" 2>&1 | tee "$lab_out"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$lab_out" | tail -n 1)
    if [ -n "$line" ]; then
      passed=$((passed + $(echo "$line" | awk '{print $1}')))
      failed=$((failed + $(echo "$line" | awk '{print $3}')))
    fi
    if [ "$rc" -ne 0 ]; then
      [ -z "$line" ] && failed=$((failed + 1))
      phases_failed+=("lab:$t")
    fi
    rm -f "$lab_out"
  done
fi

[ ${#phases_failed[@]} -gt 0 ] && echo "failed phases: ${phases_failed[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ ${#phases_failed[@]} -eq 0 ]
