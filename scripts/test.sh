#!/usr/bin/env bash
# The whole suite: both builds, the unit, guest and integration tests on
# the normal and the sanitizer builds, then the lab (stock Debian kernel
# under nested KVM) with the fuzz smoke beside it (niced; in front of it
# under HEARTH_SKIP_LAB=1). Ends with the time of each phase, the
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

run_meson build
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_meson build-asan

# The fuzz smoke, and the Debian image firmware-debian boots in L1, need no
# KVM. With the lab they run beside it, niced and one target at a time: L0's
# TCG leaves about a third of the two cores idle (67% busy over test_core),
# which they take. Each writes its output, status and time to $bg; bg_join
# prints them.
bg=$(mktemp -d) bg_pid=''
# An interrupted suite ends the job beside the lab too (a background job ignores ^C).
trap 'rm -f "$not_here" "$lab_names"; rm -rf "$bg"
      [ -n "$bg_pid" ] && { pkill -P "$bg_pid"; kill "$bg_pid"; } 2>/dev/null' EXIT
# With "lab", it then builds the image when firmware-debian is placed there.
fuzz_smoke() {
  local t0=$SECONDS
  if [ "${1:-}" = lab ]; then FUZZ_JOBS=1 nice -n 19 fuzz/smoke.sh; else fuzz/smoke.sh; fi \
    >"$bg/fuzz.log" 2>&1
  echo "$? $((SECONDS - t0))" >"$bg/fuzz.rc"
  [ "${1:-}" = lab ] && grep -q ':firmware-debian$' "$not_here" || return 0
  t0=$SECONDS
  nice -n 19 bash scripts/debian_image.sh >/dev/null 2>"$bg/image.log"
  echo "$? $((SECONDS - t0))" >"$bg/image.rc"
}
# Waits for fuzz_smoke, prints what it wrote and counts its result.
bg_join() {
  local rc d where=$1
  [ -n "$bg_pid" ] && wait "$bg_pid"
  bg_pid=''
  echo "== fuzz smoke: every libFuzzer target for 10 s (fuzz/README.md)$where"
  cat "$bg/fuzz.log"
  read -r rc d <"$bg/fuzz.rc"
  case $rc in
    0) passed=$((passed + 1)) ;;
    77) skipped=$((skipped + 1)) ;;
    *) failed=$((failed + 1)); phases_failed+=(fuzz) ;;
  esac
  splits+=("$(printf '%6d s  %s' "$d" "fuzz smoke$where")")
  [ -f "$bg/image.rc" ] || return 0
  echo "== the Debian image for firmware-debian (scripts/debian_image.sh; cached in build/lab)$where"
  read -r rc d <"$bg/image.rc"
  if [ "$rc" = 0 ]; then grep '^debian_image: ' "$bg/image.log"; else
    tail -n 40 "$bg/image.log"
    echo "the Debian image failed to build (exit $rc): firmware-debian will say so in L1"
  fi
  splits+=("$(printf '%6d s  %s' "$d" "debian image$where")")
}

# One lab file: one L1 boot (and its retries); it ends "N passed, N failed".
run_lab() {
  local t=$1 args=() lab_out rc line boots t0
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
}

builds=1; [ -x build-asan/hearth ] && builds=2
n_lab_guests=$(echo "$lab_guests" | tr ',' '\n' | grep -c . || true)
n_not_here=$(grep -c . "$not_here" || true)
[ -n "$lab_guests" ] && echo "$lab_guests" | tr ',' '\n' | sed 's/$/ (guest test, both builds)/' >>"$lab_names"
sed 's/^\(.*\):\(.*\)$/\2 [\1]/' "$not_here" >>"$lab_names"
if [ "${HEARTH_SKIP_LAB:-0}" = 1 ]; then
  echo "== lab skipped (HEARTH_SKIP_LAB=1): $n_lab_guests guest test(s) and $n_not_here other" \
       "test(s) placed there stay skipped"
  skipped=$((skipped + n_lab_guests * builds + n_not_here))
  fuzz_smoke; bg_join ''
else
  fuzz_smoke lab & bg_pid=$!
  lab_files="test_core test_virtio_blk test_virtio_net test_mmds test_virtio_vsock test_api test_snapshot test_snapshot_huge test_vmgenid test_sriov"
  [ -n "$lab_guests" ] && lab_files="test_guest $lab_files"
  # test_meson comes last: firmware-debian boots the image built beside the lab.
  for t in $lab_files; do run_lab "$t"; done
  bg_join " (beside the lab)"
  [ "$n_not_here" -gt 0 ] && run_lab test_meson
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
