#!/bin/bash
# Run Firecracker's own, unmodified tests/ against Hearth, jailed through
# Hearth's `jailer`, the way Firecracker's CI runs Firecracker.
#
#   tests/fc/run.sh FC_TREE [PYTEST ARGS]
#
# FC_TREE is a checkout of Firecracker (main). Nothing in it is written: it
# is copied to $FC_WORK/tree and run there. See tests/fc/README.md.
#
# Environment:
#   HEARTH_BIN       the binary to test (default: build/hearth of this repo)
#   FC_WORK          work directory (default: /tmp/hearth-fc); wiped each run
#   FC_CASE_TIMEOUT  pytest-timeout per case, seconds (default 120)
#   FC_RUN_TIMEOUT   the whole pytest run, seconds (default 2700)
#   FC_XDIST         pytest-xdist workers (default 0: one process)
#   FC_PLACEHOLDER_KERNELS  placeholder kernels when /srv/test_artifacts is
#                    absent (default vmlinux-6.1.0, the framework's default)
#   FC_ARTIFACTS     a directory of real guest artifacts (tests/fc/artifacts.sh):
#                    used instead of placeholders, and the guest cases run
#                    (tests/fc/fc_lab.py runs them in the lab)
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [ $# -lt 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
fc_tree=$(cd "$1" && pwd) || { echo "run.sh: no such directory: $1" >&2; exit 2; }
shift
[ -f "$fc_tree/tests/conftest.py" ] || {
    echo "run.sh: $fc_tree has no tests/conftest.py: not a Firecracker tree" >&2; exit 2; }

hearth_bin=${HEARTH_BIN:-$repo/build/hearth}
work=${FC_WORK:-/tmp/hearth-fc}
case_timeout=${FC_CASE_TIMEOUT:-120}
run_timeout=${FC_RUN_TIMEOUT:-2700}
xdist=${FC_XDIST:-0}
py=/usr/bin/python3   # Debian's, with the python3-* packages below

[ "$(id -u)" = 0 ] || { echo "run.sh: Firecracker's tests run as root" >&2; exit 2; }
[ -x "$hearth_bin" ] || { echo "run.sh: no Hearth binary at $hearth_bin (make, or set HEARTH_BIN)" >&2; exit 2; }
[ -c /dev/kvm ] || echo "run.sh: warning: no /dev/kvm" >&2

# Firecracker's tests' Python dependencies, from Debian (see README.md)
missing=
for m in pytest xdist pytest_timeout requests requests_unixsocket psutil \
         tenacity packaging semver jsonschema yaml filelock urllib3; do
    "$py" -c "import $m" 2>/dev/null || missing="$missing $m"
done
command -v screen >/dev/null || missing="$missing screen"
command -v ip >/dev/null || missing="$missing ip"
if [ -n "$missing" ]; then
    echo "run.sh: missing:$missing" >&2
    echo "  apt-get install python3-pytest python3-pytest-xdist python3-pytest-timeout" \
         "python3-requests python3-requests-unixsocket python3-psutil python3-tenacity" \
         "python3-packaging python3-semver python3-jsonschema python3-yaml" \
         "python3-filelock python3-urllib3 screen iproute2" >&2
    exit 2
fi

# One run at a time: Firecracker's framework names its network namespaces
# netns-<xdist worker>-N (netns-master-N without xdist), so two runs on one
# machine take each other's TAPs.
exec 9>/tmp/hearth-fc.lock
flock -n 9 || { echo "run.sh: another run holds /tmp/hearth-fc.lock" >&2; exit 2; }

# A `firecracker` run without --api-sock binds /run/firecracker.socket;
# test_cli_no_params SIGKILLs one, which leaves the socket file, and the next
# run's would then fail to bind it (as Firecracker does). Firecracker's CI
# starts each run in a fresh container; here a stale one (nobody listening)
# is removed.
if [ -S /run/firecracker.socket ] && ! "$py" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
sys.exit(0 if s.connect_ex("/run/firecracker.socket") == 0 else 1)'; then
    echo "run.sh: removing a stale /run/firecracker.socket"
    rm -f /run/firecracker.socket
fi

# A copy of the tree: its pytest.ini writes ../build/pytest_cache and
# ../test_results, and framework/defs.py reads build/current_artifacts.
rm -rf "$work"
mkdir -p "$work/tree" "$work/bin" "$work/out"
tar -C "$fc_tree" --exclude=./.git -cf - . | tar -C "$work/tree" -xf -
placeholder_args=()
if [ -n "${FC_ARTIFACTS:-}" ]; then
    # Real guest artifacts: framework/defs.py reads build/current_artifacts
    # (relative to the tree, or absolute); every case runs, the guest ones too.
    fc_art=$(cd "$FC_ARTIFACTS" && pwd) || { echo "run.sh: no such directory: $FC_ARTIFACTS" >&2; exit 2; }
    mkdir -p "$work/tree/build"
    echo "$fc_art" > "$work/tree/build/current_artifacts"
    placeholder_args=(--hearth-fc-keep-all)
elif [ ! -d /srv/test_artifacts ]; then
    # No guest artifacts on this machine: placeholders named as Firecracker's
    # CI names its x86_64 ones (framework/artifacts.py, conftest.py's rootfs
    # fixture), so that every API step before a guest runs runs; hearth_fc.py
    # stops each case where it would need a real guest (README.md).
    ph="$work/tree/build/placeholder-artifacts"
    mkdir -p "$ph"
    for k in ${FC_PLACEHOLDER_KERNELS:-vmlinux-6.1.0}; do
        # 1 MiB, as no real kernel is smaller: Hearth checks a kernel's size
        # at PUT /boot-source, Firecracker only opens it there
        echo "hearth-fc placeholder: not a kernel" > "$ph/$k"
        truncate -s 1M "$ph/$k"
        cp "$ph/$k" "$ph/bzImage-${k#vmlinux-}"   # test_bzimage_boot.py's
    done
    for r in ubuntu-24.04 amazonlinux-2023; do
        truncate -s 64M "$ph/$r.ext4"
        mkfs.ext4 -q -F "$ph/$r.ext4" 2>/dev/null
        echo "hearth-fc placeholder: not a squashfs" > "$ph/$r.squashfs"
        echo "hearth-fc placeholder: not a key" > "$ph/$r.id_rsa"
    done
    echo "hearth-fc placeholder: not a key" > "$ph/id_rsa"
    echo "hearth-fc placeholder: not an initramfs" > "$ph/initramfs.cpio"
    echo build/placeholder-artifacts > "$work/tree/build/current_artifacts"
    placeholder_args=(--hearth-fc-placeholders="$ph")
fi
fc_commit=$(git -C "$fc_tree" rev-parse HEAD 2>/dev/null || echo unknown)
hearth_commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)

# --binary-dir: `firecracker` is a copy of Hearth (the jailer copies the exec
# file into each jail and names the jail after it), `jailer` a symlink to it
# (the binary run under the name `jailer` is Hearth's jailer).
cp "$hearth_bin" "$work/bin/firecracker"
ln -s firecracker "$work/bin/jailer"

bin_id="$(sha256sum "$work/bin/firecracker" | cut -c1-12), built $(date -u -r "$hearth_bin" '+%Y-%m-%d %H:%M')"
echo "run.sh: Firecracker $fc_commit, Hearth $hearth_commit ($hearth_bin: sha256 $bin_id)"
echo "run.sh: work directory $work; log $work/out/pytest.log"

cd "$work/tree/tests" || exit 2
xdist_args=(-n "$xdist")
timeout --kill-after=60 "$run_timeout" \
    env -u AWS_EMF_NAMESPACE PYTHONPATH="$here:$here/stubs" PYTHONDONTWRITEBYTECODE=1 \
    "$py" -m pytest \
        -p fc_compat -p fc_jsonreport -p hearth_fc \
        -o enable_assertion_pass_hook=true --continue-on-collection-errors \
        --binary-dir="$work/bin" \
        --timeout="$case_timeout" \
        --hearth-fc-out="$work/out" \
        "${xdist_args[@]}" "${placeholder_args[@]}" \
        "$@" > "$work/out/pytest.log" 2>&1 9>&-
rc=$?
tail -n 25 "$work/out/pytest.log" | grep -E "^(=|FAILED|ERROR)" | tail -n 5
[ $rc = 124 ] && echo "run.sh: the run hit FC_RUN_TIMEOUT ($run_timeout s): counts are partial"
echo "run.sh: pytest exit $rc; failures with their messages: $work/out/failures.json"
echo
if [ -f "$work/out/summary.txt" ]; then
    echo "Firecracker $fc_commit; Hearth $hearth_commit, binary sha256 $bin_id; run $(date -u '+%Y-%m-%d %H:%M') UTC"
    cat "$work/out/summary.txt"
else
    echo "run.sh: no summary (pytest stopped before the end): see $work/out/pytest.log"
fi
exit $rc
