#!/usr/bin/env bash
# The whole suite: unit, guest and integration tests on the normal and the
# sanitizer builds, then the lab (stock Debian kernel under nested KVM).
# Ends with one line "N passed, N failed"; exits non-zero on any failure.
#   HEARTH_SKIP_LAB=1   skip the lab (for quick local runs; CI never sets it)
#
# The freestanding guest tests (meson suite `guest`) need a /dev/kvm that
# runs them. Where there is one (bare metal, a PVM host), meson runs them
# and that is all. Where there is none, or KVM refuses them, meson skips
# them and the lab phase test_guest runs all of them inside L1 (one L1 boot,
# with build/hearth and, if it exists, build-asan/hearth); their meson SKIPs
# are then not counted, the lab's results are. The path taken is printed.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0 failed=0 skipped=0 phases_failed=()
declare -A guest_skipped=([build]=0 [build-asan]=0)  # meson SKIPs of the guest suite

# Adds one meson build's results from its JSON test log.
count_meson() {
  local log=$1/meson-logs/testlog.json
  [ -f "$log" ] || return 0
  read -r p f s g < <(python3 - "$log" <<'PY'
import json, sys
p = f = s = g = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    r = t.get("result")
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP":
        s += 1
        g += t.get("name", "").startswith("hearth:guest /")
    else: f += 1
print(p, f, s, g)
PY
)
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  guest_skipped[$1]=$g
}

if kvm_reason=$(python3 tests/guest/run_guest_test.py --kvm-check); then
  guest_path=native
  echo "== guest tests: KVM is usable here, meson runs them natively (no lab phase for them)"
elif [ "${HEARTH_SKIP_LAB:-0}" = 1 ]; then
  guest_path=skipped
  echo "== guest tests: KVM unusable here ($kvm_reason) and HEARTH_SKIP_LAB=1: they stay skipped"
else
  guest_path=lab
  echo "== guest tests: KVM unusable here ($kvm_reason): meson skips them, the lab runs them (test_guest)"
fi

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

echo "== fuzz smoke: every libFuzzer target for 15 s (fuzz/README.md)"
fuzz/smoke.sh
case $? in
  0) passed=$((passed + 1)) ;;
  77) skipped=$((skipped + 1)) ;;
  *) failed=$((failed + 1)); phases_failed+=(fuzz) ;;
esac

if [ "${HEARTH_SKIP_LAB:-0}" = 1 ]; then
  echo "== lab skipped (HEARTH_SKIP_LAB=1)"
else
  lab_files="test_core test_virtio_blk test_virtio_net test_virtio_vsock test_api test_snapshot"
  [ "$guest_path" = lab ] && lab_files="test_guest $lab_files"
  # Each file is one L1 boot with several L2 boots; it ends "N passed, N failed".
  for t in $lab_files; do
    args=()
    if [ "$t" = test_guest ]; then
      echo "== lab: $t (the freestanding guest tests under Hearth in nested KVM)"
      covered=${guest_skipped[build]}
      if [ -x build-asan/hearth ]; then
        args=(--asan "$PWD/build-asan/hearth")
        covered=$((covered + ${guest_skipped[build-asan]}))
      fi
    else
      echo "== lab: $t (stock Debian kernel under Hearth in nested KVM)"
    fi
    lab_out=$(mktemp)
    HEARTH="$PWD/build/hearth" python3 "tests/lab/$t.py" "${args[@]}" 2>&1 | tee "$lab_out"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$lab_out" | tail -n 1)
    if [ -n "$line" ]; then
      passed=$((passed + $(echo "$line" | awk '{print $1}')))
      failed=$((failed + $(echo "$line" | awk '{print $3}')))
      # The lab counted each guest test: meson's SKIPs of them are not skips.
      [ "$t" = test_guest ] && skipped=$((skipped - covered))
    fi
    if [ "$rc" -ne 0 ]; then
      [ -z "$line" ] && failed=$((failed + 1))
      phases_failed+=("lab:$t")
    fi
    rm -f "$lab_out"
  done
fi

[ ${#phases_failed[@]} -gt 0 ] && echo "failed phases: ${phases_failed[*]}"
echo "guest tests: $guest_path"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ ${#phases_failed[@]} -eq 0 ]
