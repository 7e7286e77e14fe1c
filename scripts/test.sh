#!/usr/bin/env bash
# The whole suite: unit, guest and integration tests on the normal and the
# sanitizer builds, the fuzz smoke, then the lab (stock Debian kernel under
# nested KVM). Ends with one line "N passed, N failed, N skipped"; exits
# non-zero on any failure, and on any skip (a skipped test proves nothing).
#   HEARTH_SKIP_LAB=1      skip the lab (quick local runs; CI never sets it);
#                          the guest tests placed there then count as skipped
#   HEARTH_TEST_HOST=K     treat this host as kind K: none (no /dev/kvm), pvm
#                          or hw (VT-x/AMD-V), to see the other kinds' paths
#
# Where each freestanding guest test runs is the placement rule's call
# (tests/guest/run_guest_test.py, tests/lab/README.md): natively where this
# host's KVM provides what the test needs, else in the lab (test_guest, one
# L1 boot with build/hearth and build-asan/hearth). meson reports the lab's
# tests as SKIP natively; they are counted once, by the lab. The path of
# every test is printed first.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0 failed=0 skipped=0 phases_failed=() retries=()

if ! placement=$(python3 tests/guest/run_guest_test.py --placement); then
  echo "$placement"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
echo "== guest tests: where each runs on this host (the placement rule)"
echo "$placement" | sed 's/^/   /'
lab_guests=$(echo "$placement" | awk '$2 == "lab" || $2 == "native+lab" {print $1}' | sort | paste -sd, -)
# Guest tests with runners of their own whose check a lab file makes here.
lab_covered=$(echo "$placement" | awk '$2 ~ /^lab:/ {print $1}' | sort | paste -sd, -)

# Adds one meson build's results from its JSON test log. A SKIP of a guest
# test the rule placed in the lab is not counted here: the lab counts it
# (or, with HEARTH_SKIP_LAB=1, it stays a skip below).
count_meson() {
  local log=$1/meson-logs/testlog.json
  [ -f "$log" ] || return 0
  read -r p f s < <(python3 - "$log" "$lab_guests,$lab_covered" <<'PY'
import json, sys
lab = set(filter(None, sys.argv[2].split(",")))
p = f = s = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    r, name = t.get("result"), t.get("name", "")
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP":
        guest = name.startswith("hearth:guest / ") and name.split(" / ", 1)[1] in lab
        if not guest:
            s += 1
            print("   skipped: %s" % name, file=sys.stderr)
    else: f += 1
print(p, f, s)
PY
)
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

# Each phase ends with its wall time, so a slow CI run says where it went.
took() { echo "   ($1 took $(( SECONDS - $2 )) s; $SECONDS s in all)"; }

run_meson() {
  local dir=$1 t0=$SECONDS; shift
  echo "== meson test -C $dir $*"
  rm -f "$dir/meson-logs/testlog.json"
  meson test -C "$dir" --print-errorlogs "$@" || phases_failed+=("$dir")
  count_meson "$dir"
  took "$dir" "$t0"
}

run_meson build
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_meson build-asan

echo "== fuzz smoke: every libFuzzer target for 10 s (fuzz/README.md)"
t0=$SECONDS
fuzz/smoke.sh
case $? in
  0) passed=$((passed + 1)) ;;
  77) skipped=$((skipped + 1)) ;;
  *) failed=$((failed + 1)); phases_failed+=(fuzz) ;;
esac
took "fuzz smoke" "$t0"

builds=1; [ -x build-asan/hearth ] && builds=2
n_lab_guests=$(echo "$lab_guests" | tr ',' '\n' | grep -c . || true)
if [ "${HEARTH_SKIP_LAB:-0}" = 1 ]; then
  echo "== lab skipped (HEARTH_SKIP_LAB=1): $n_lab_guests guest test(s) placed there stay skipped"
  skipped=$((skipped + n_lab_guests * builds))
else
  lab_files="test_core test_virtio_blk test_virtio_net test_mmds test_virtio_vsock test_api test_snapshot test_snapshot_huge test_vmgenid test_sriov"
  [ -n "$lab_guests" ] && lab_files="test_guest $lab_files"
  # Each file is one L1 boot with several L2 boots; it ends "N passed, N failed".
  for t in $lab_files; do
    args=()
    if [ "$t" = test_guest ]; then
      echo "== lab: $t ($lab_guests, the guest tests placed in the lab)"
      args=(--only "$lab_guests")
      [ -x build-asan/hearth ] && args+=(--asan "$PWD/build-asan/hearth")
    else
      echo "== lab: $t (stock Debian kernel under Hearth in nested KVM)"
    fi
    lab_out=$(mktemp) t0=$SECONDS
    HEARTH="$PWD/build/hearth" python3 "tests/lab/$t.py" "${args[@]}" 2>&1 | tee "$lab_out"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$lab_out" | tail -n 1)
    if [ -n "$line" ]; then
      passed=$((passed + $(echo "$line" | awk '{print $1}')))
      failed=$((failed + $(echo "$line" | awk '{print $3}')))
    fi
    while IFS= read -r r; do retries+=("lab:$t: $r"); done < <(grep -E '^LAB RETRIED' "$lab_out")
    if [ "$rc" -ne 0 ]; then
      [ -z "$line" ] && failed=$((failed + 1))
      phases_failed+=("lab:$t")
    fi
    rm -f "$lab_out"
    took "lab:$t" "$t0"
  done
fi

[ ${#phases_failed[@]} -gt 0 ] && echo "failed phases: ${phases_failed[*]}"
for r in "${retries[@]}"; do echo "retried: $r"; done
echo "guest tests in the lab: ${lab_guests:-none} ($(echo "$placement" | head -n 1))"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ ${#phases_failed[@]} -eq 0 ] &&
  { [ "$skipped" -eq 0 ] || [ "${HEARTH_SKIP_LAB:-0}" = 1 ]; }
