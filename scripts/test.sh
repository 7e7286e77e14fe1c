#!/usr/bin/env bash
# The whole suite: both builds, the unit, guest and integration tests on
# the normal and the sanitizer builds, the fuzz smoke, then the lab (stock
# Debian kernel under nested KVM). Ends with the time of each phase, the
# tests that ran in the lab because this host could not run them, and one
# line "N passed, N failed, N skipped"; exits non-zero on any failure, and
# on any skip (a skipped test proves nothing).
#   HEARTH_SKIP_LAB=1      skip the lab (quick local runs; CI never sets it);
#                          the tests placed there then count as skipped
#   HEARTH_TEST_HOST=K     treat this host as kind K: none (no /dev/kvm), pvm
#                          or hw (VT-x/AMD-V); "none" on a host that has
#                          /dev/kvm runs the host's phases where it is hidden
#                          (scripts/no_kvm.sh), as on a host without it
#
# Where a test runs: a freestanding guest test by the placement rule
# (tests/guest/run_guest_test.py, tests/lab/README.md): natively where this
# host's KVM provides what it needs, else in the lab (test_guest, one L1
# boot with both builds). Any other test that cannot try its check here
# (no usable /dev/kvm, no root, no cgroup v1) says "not here:" and exits 77
# (tests/integration/itest.py); it runs again, unchanged, in the lab's L1
# (test_meson, one L1 boot that sees this host's files). meson reports
# such tests as SKIP natively; each is counted once, by the lab.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0 failed=0 skipped=0 phases_failed=() retries=() splits=()
not_here=$(mktemp) lab_names=$(mktemp)
trap 'rm -f "$not_here" "$lab_names"' EXIT

# The host's phases, as a host without /dev/kvm would run them, when asked.
on_host=()
if [ "${HEARTH_TEST_HOST:-}" = none ] && [ -e /dev/kvm ]; then
  on_host=(scripts/no_kvm.sh)
  echo "== HEARTH_TEST_HOST=none: the host's phases run where /dev/kvm is hidden (scripts/no_kvm.sh)"
fi

# Each phase ends with its wall time, and joins the split printed at the end.
took() {
  local d=$(( SECONDS - $2 ))
  splits+=("$(printf '%6d s  %s' "$d" "$1")")
  echo "   ($1 took $d s; $SECONDS s in all)"
}

for dir in build build-asan; do
  t0=$SECONDS
  echo "== build: ninja -C $dir"
  ninja -C "$dir" >/dev/null || { echo "ninja -C $dir failed"; phases_failed+=("build:$dir"); }
  took "build $dir" "$t0"
done

if ! placement=$("${on_host[@]}" python3 tests/guest/run_guest_test.py --placement); then
  echo "$placement"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
echo "== guest tests: where each runs on this host (the placement rule)"
echo "$placement" | sed 's/^/   /'
lab_guests=$(echo "$placement" | awk '$2 == "lab" || $2 == "native+lab" {print $1}' | sort | paste -sd, -)

run_meson() {
  local dir=$1 t0=$SECONDS p f s; shift
  echo "== meson test -C $dir $*"
  rm -f "$dir/meson-logs/testlog.json"
  "${on_host[@]}" meson test -C "$dir" --print-errorlogs "$@" || phases_failed+=("$dir")
  read -r p f s < <(python3 scripts/meson_log.py "$dir" "$lab_guests" "$not_here")
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  took "meson $dir" "$t0"
}

# The sanitizer build runs every case in its own phase below: the normal build's
# phase leaves it out (tests/integration/itest.py, binaries_of).
HEARTH_ASAN_PHASE=1 run_meson build
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_meson build-asan

echo "== fuzz smoke: every libFuzzer target for ${FUZZ_SECONDS:-5} s (fuzz/README.md)"
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
n_not_here=$(grep -c . "$not_here" || true)
[ -n "$lab_guests" ] && echo "$lab_guests" | tr ',' '\n' | sed 's/$/ (guest test, both builds)/' >>"$lab_names"
sed 's/^\(.*\):\(.*\)$/\2 [\1]/' "$not_here" >>"$lab_names"
if [ "${HEARTH_SKIP_LAB:-0}" = 1 ]; then
  echo "== lab skipped (HEARTH_SKIP_LAB=1): $n_lab_guests guest test(s) and $n_not_here other" \
       "test(s) placed there stay skipped"
  skipped=$((skipped + n_lab_guests * builds + n_not_here))
else
  # firmware-debian boots scripts/debian_image.sh's image in L1, which cannot build it.
  if grep -q ':firmware-debian$' "$not_here"; then
    echo "== the Debian image for firmware-debian (scripts/debian_image.sh; cached in build/lab)"
    t0=$SECONDS
    bash scripts/debian_image.sh >/dev/null || echo "the Debian image failed to build:" \
      "firmware-debian will say so in L1"
    took "debian image" "$t0"
  fi
  lab_files="test_core test_virtio_blk test_virtio_net test_mmds test_virtio_vsock test_api test_snapshot test_snapshot_huge test_vmgenid test_sriov"
  [ "$n_not_here" -gt 0 ] && lab_files="test_meson $lab_files"
  [ -n "$lab_guests" ] && lab_files="test_guest $lab_files"
  # Each file is one L1 boot (and its retries); it ends "N passed, N failed".
  for t in $lab_files; do
    args=()
    if [ "$t" = test_guest ]; then
      echo "== lab: $t ($lab_guests, the guest tests placed in the lab)"
      args=(--only "$lab_guests")
      [ -x build-asan/hearth ] && args+=(--asan "$PWD/build-asan/hearth")
    elif [ "$t" = test_meson ]; then
      echo "== lab: $t ($n_not_here test(s) this host could not try, unchanged in L1)"
      args=(--tests "$(paste -sd, "$not_here")")
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
    # Each L1 boot of the plan, as the lab logged it (lab.py: "L1 wall").
    boots=$(grep -oE 'L1 wall [0-9.]+s' "$lab_out" | awk '{printf "%s%s", sep, $3; sep=" + "}')
    rm -f "$lab_out"
    took "lab:$t${boots:+ (L1 boots: $boots)}" "$t0"
  done
fi

echo "== the split: where the $SECONDS s went"
printf '%s\n' "${splits[@]}"
[ ${#phases_failed[@]} -gt 0 ] && echo "failed phases: ${phases_failed[*]}"
for r in "${retries[@]}"; do echo "retried: $r"; done
echo "ran in the lab because this host could not run them ($(echo "$placement" | head -n 1)):"
if [ -s "$lab_names" ]; then sed 's/^/   /' "$lab_names"; else echo "   none"; fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ ${#phases_failed[@]} -eq 0 ] &&
  { [ "$skipped" -eq 0 ] || [ "${HEARTH_SKIP_LAB:-0}" = 1 ]; }
