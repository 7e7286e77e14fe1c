#!/usr/bin/env bash
# `make demo`: boot the stock Debian kernel with a busybox shell under Hearth.
#
# Natively when this host's /dev/kvm can run a stock kernel; otherwise (no
# /dev/kvm, or a PVM-backed one) through the lab: QEMU TCG emulating AMD SVM
# boots L1, which runs Hearth, which runs the L2 shell, all on this terminal.
# Leaving the shell (exit, or poweroff -f) powers the guest off; Hearth's
# Ctrl-A x stops it.  With stdin not a terminal, stdin is read up front and
# run as the guest shell's input, e.g.  echo 'uname -a' | make demo
#
# DEMO_VMM=qemu uses QEMU microvm instead of Hearth inside the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh lab
VMM=${DEMO_VMM:-hearth}
HEARTH=${HEARTH:-build/hearth}
LAB=tests/lab/lab.py

args=()
tmp=
if [ -t 0 ] && [ -t 1 ]; then
  interactive=1
else
  interactive=0
  tmp=$(mktemp)
  trap 'rm -f "$tmp"' EXIT
  if [ -t 0 ]; then : >"$tmp"; else cat >"$tmp"; fi
  # The guest's /init powers off when the shell reaches the end of it.
  args=(--input "$tmp")
fi

kvm_native() {
  [ -e /dev/kvm ] && [ ! -e /sys/module/kvm_pvm ] || return 1
  python3 - <<'EOF'
import fcntl, os, sys
try:
    fd = os.open("/dev/kvm", os.O_RDWR)
    sys.exit(0 if fcntl.ioctl(fd, 0xAE00) == 12 else 1)   # KVM_GET_API_VERSION
except OSError:
    sys.exit(1)
EOF
}

if kvm_native; then
  [ -x "$HEARTH" ] || { echo "demo: $HEARTH not built (run make)" >&2; exit 1; }
  mapfile -t info < <(python3 "$LAB" demo-initrd "${args[@]}")
  kernel=${info[0]} initrd=${info[1]} cmdline=${info[2]}
  echo "demo: booting $kernel under $HEARTH (Ctrl-A x quits)"
  if [ "$interactive" = 1 ]; then
    exec "$HEARTH" run --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline" --cpus 2 --memory 512
  else
    timeout -k 10 600 "$HEARTH" run --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline" \
      --cpus 2 --memory 512 </dev/null
  fi
  exit $?
fi

if [ ! -e /dev/kvm ]; then
  why="this host has no /dev/kvm"
elif [ -e /sys/module/kvm_pvm ]; then
  why="this host's /dev/kvm is PVM-backed (kvm_pvm) and cannot boot a stock kernel"
else
  why="this host has no usable /dev/kvm"
fi
echo "demo: $why, so the demo goes through the lab: QEMU TCG with nested SVM runs L1, which runs $VMM with the shell (slower: the prompt takes ~15-30 s)."
if [ "$interactive" = 1 ]; then
  python3 "$LAB" demo --vmm "$VMM" --tty
else
  # Runs L1 to completion; timeout only guards against a hang.
  timeout -k 10 900 python3 "$LAB" demo --vmm "$VMM" "${args[@]}" </dev/null
fi
