"""The lab's run plans: the steps L1 performs, one after another, in one
boot (tests/lab/lab.py boots it and reads their results).  Run is one L2
boot by a VMM inside L1; CommandRun and ShellRun run a command or a shell
script in L1 instead.  The SH_* snippets are shell helpers for those
scripts (Hearth's API through curl, waiting for a socket or a line, a
guest's whole lines); L1_LIB holds the helpers L1 runs a plan with (lab_run
boots one L2 guest and marks its console); uffd_handler and vmm_binary find
the binaries a plan runs.

Callers use these through lab.py (`import lab as L`), which re-exports them.
"""
import os
import re
import shutil

from lab_base import L1_BIN, L1_KERNEL, REPO, VMM_TEMPLATES, LabError

QEMU = "qemu-system-x86_64"

# QEMU microvm at its fastest for a stock kernel (the boot bench's peer):
# no option ROMs, no PIT or PIC (KVM's LAPIC timer and IOAPIC serve), and
# an RTC, without which the kernel spends seconds probing the CMOS
# ("rtc_cmos: broken or not accessible"). The tests keep plain "microvm".
QEMU_MICROVM_BEST = "microvm,x-option-roms=off,pit=off,pic=off,rtc=on"


# L1's helpers: lab_run NAME TIMEOUT RAM_KB CMD...  runs one L2 guest.
L1_LIB = r'''
lab_rss() { # name pid ram_kb: Rss of a VMM minus its guest-RAM mapping(s)
  awk -v ram="$3" -v name="$1" '
    /^Size:/ {size=$2}
    /^Rss:/ {tot+=$2; if (size >= ram/4) {ex+=$2; exn++; exs=exs (exs==""?"":",") size} else inc+=$2}
    END {printf "LAB-RUN-RSS %s rss_kb=%d excluded_kb=%d excluded_maps=%d excluded_sizes_kb=%s total_kb=%d\n", name, inc, ex, exn, exs, tot}
  ' "/proc/$2/smaps"
}
# KVM's counters for the VM of VMM pid $2 (debugfs: the VM's directory is
# PID-FD, its vCPU counters summed over the vCPUs), at the guest's /init.
KVM_COUNTERS="exits io_exits mmio_exits halt_exits irq_exits irq_window_exits nmi_window_exits insn_emulation pf_fixed pf_guest hypercalls request_irq_exits halt_wakeup"
lab_kvm() { # name pid
  for d in /sys/kernel/debug/kvm/$2-*; do
    [ -d "$d" ] || continue
    out=""
    for k in $KVM_COUNTERS; do [ -r "$d/$k" ] && out="$out $k=$(cat "$d/$k")"; done
    echo "LAB-RUN-KVM $1$out"
  done
}
# A line every 10 s while the plan runs: a quiet L2 (fio, iperf3) must not
# look like a hung L1, and a hung L1 (seen under TCG: both vCPUs spinning,
# L1's own timeout never firing) is caught in HEARTBEAT_SILENCE seconds.
lab_heartbeat() {
  while :; do sleep 10; read up _ </proc/uptime; echo "LAB-L1-TICK t=$up"; done </dev/null
}
lab_read() { # name pid ram_kb: the run's console, prefixed, with its marks
  while IFS= read -r line; do
    case "$line" in
      *"LAB init"*) read t1 _ </proc/uptime; echo "LAB-RUN-MARK $1 init t=$t1"
                    [ "$3" != 0 ] && lab_kvm "$1" "$2" ;;
      *"LAB ready"*) read t1 _ </proc/uptime; echo "LAB-RUN-MARK $1 ready t=$t1"
                     [ "$3" != 0 ] && lab_rss "$1" "$2" "$3" ;;
    esac
    echo "$1| $line"
  done
}
# A run ends when its command's output does. A command that outlives its
# timeout's SIGKILL (seen: a VMM in D state in io_uring's exit, still holding
# the fifo) would stall the whole plan: LAB_HUNG_GRACE s after the timeout
# the run is given up, reported as LAB-RUN-HUNG and ended with rc 137.
lab_run() {
  name=$1; tmo=$2; ramkb=$3; shift 3
  t=${TMPDIR:-/tmp}
  rm -f $t/lab.fifo $t/lab.err; mkfifo $t/lab.fifo
  read t0 _ </proc/uptime
  echo "LAB-RUN-BEGIN $name t=$t0"
  timeout -s KILL "$tmo" "$@" </dev/null >$t/lab.fifo 2>$t/lab.err &
  pid=$!
  lab_read "$name" "$pid" "$ramkb" <$t/lab.fifo &
  reader=$!
  rm -f $t/lab.hung
  ( sleep $((tmo + ${LAB_HUNG_GRACE:-30})) >/dev/null 2>&1; : >$t/lab.hung
    echo "LAB-RUN-HUNG $name"; kill -9 $reader ) &
  watchdog=$!
  wait $reader
  if [ -e $t/lab.hung ]; then
    rc=137
  else
    kill $watchdog 2>/dev/null
    wait $pid; rc=$?
  fi
  read t2 _ </proc/uptime
  while IFS= read -r line; do echo "$name!| $line"; done <$t/lab.err
  echo "LAB-RUN-END $name rc=$rc t=$t2"
}
lab_interactive() { # CMD...: the VMM on L1's console (demo)
  if [ -e /lab/tty ]; then
    stty -F /dev/ttyS0 raw -echo 2>/dev/null
    "$@" </dev/ttyS0 >/dev/ttyS0 2>&1; rc=$?
    stty -F /dev/ttyS0 sane 2>/dev/null
  else
    "$@" </dev/null; rc=$?
  fi
  echo "LAB-RUN-END demo rc=$rc"
}
'''


# An L2 kernel's console, taking warnings and worse only (loglevel=5). Each byte through
# the emulated 8250 is an LSR read and a THR write, each a nested exit through L1's KVM
# and the VMM under TCG: with it test_core's probes reached /init in 12-15 s, against
# 16-22 s with a stock kernel's 22 KB of info lines. The checks read the init's LAB lines
# and the guest's own dmesg; a panic, an oops or a WARN still reaches the console.
L2_CONSOLE = "console=ttyS0 loglevel=5"


class Run:
    """One L2 boot inside L1."""

    def __init__(self, name, vmm="qemu", cpus=2, memory=512,
                 cmdline="console=ttyS0 panic=-1", timeout=240, initrd=None,
                 rss=False, extra_args=(), kernel=None, machine="microvm"):
        """kernel: the guest kernel's path in L1 (default the stock bzImage);
        machine: QEMU's -M (the bench gives its fastest microvm options)."""
        if not re.match(r"^[A-Za-z0-9_.-]+$", name):
            raise ValueError("bad run name " + name)
        self.name, self.vmm, self.cpus, self.memory = name, vmm, cpus, memory
        self.cmdline, self.timeout, self.initrd = cmdline, timeout, initrd
        self.rss, self.extra_args = rss, list(extra_args)
        self.kernel, self.machine = kernel or L1_KERNEL, machine
        # A step the later ones need (l1.MOUNT_SH's host root): a retried boot runs it again.
        self.setup = False

    def argv(self, l1_initrd_path):
        subst = dict(bin=L1_BIN, kernel=self.kernel, initrd=l1_initrd_path,
                     cmdline=self.cmdline, cpus=str(self.cpus), memory=str(self.memory),
                     machine=self.machine)
        return [a.format(**subst) for a in VMM_TEMPLATES[self.vmm]] + self.extra_args


class CommandRun(Run):
    """A step in L1's plan that runs a command (paths inside L1) instead of
    a VMM boot; `vmm` still puts that VMM's binary in /lab/bin."""

    def __init__(self, name, vmm, argv, timeout=120):
        super().__init__(name, vmm=vmm, timeout=timeout)
        self.command = list(argv)

    def argv(self, l1_initrd_path):
        return self.command


class ShellRun(CommandRun):
    """A step in L1's plan that runs a shell command instead of a VMM."""

    def __init__(self, name, vmm, script, timeout=120):
        super().__init__(name, vmm, ["/bin/sh", "-c", script], timeout=timeout)
        self.script = script

    def argv(self, l1_initrd_path):
        # @L2_INITRD@: where L1 keeps this run's own L2 initrd (a plan numbers them).
        return ["/bin/sh", "-c", self.script.replace("@L2_INITRD@", l1_initrd_path)]


# Shell helpers for an L1 script that drives Hearth's API with curl: api METHOD PATH [BODY]
# prints the HTTP status (the body is in /tmp/resp) on the socket $S names when it runs;
# waitfor PATTERN FILE TENTHS waits for a line.
# Every lab script that starts a Hearth (or a backend) waits for its socket the same way.
SH_WAITSOCK = r"""waitsock() { # [PATH]: up to 10 s for a socket at PATH (default $S)
  n=0; while [ ! -S "${1:-$S}" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
}
"""

SH_WAITFOR = r"""waitfor() { # PATTERN FILE TENTHS
  n=0; while ! tr -d '\r' <"$2" 2>/dev/null | grep -q "$1"; do
    n=$((n+1)); [ $n -ge "$3" ] && return 1; sleep 0.1
  done
}
"""

SH_API = SH_WAITSOCK + r"""api() { # METHOD PATH [BODY]: the HTTP status; the body is in /tmp/resp
  if [ -n "$3" ]; then
    curl -s -o /tmp/resp -w '%{http_code}' --unix-socket $S -X "$1" \
      -H 'Content-Type: application/json' -d "$3" "http://localhost$2"
  else
    curl -s -o /tmp/resp -w '%{http_code}' --unix-socket $S -X "$1" "http://localhost$2"
  fi
}
""" + SH_WAITFOR

# The same api for a script that drives several Hearths: api SOCK METHOD PATH [BODY].
SH_API_AT = SH_WAITSOCK + r"""api() { # SOCK METHOD PATH [BODY]: the HTTP status; the body is in /tmp/resp
  if [ -n "$4" ]; then
    curl -s -o /tmp/resp -w '%{http_code}' --unix-socket $1 -X "$2" \
      -H 'Content-Type: application/json' -d "$4" "http://localhost$3"
  else
    curl -s -o /tmp/resp -w '%{http_code}' --unix-socket $1 -X "$2" "http://localhost$3"
  fi
}
""" + SH_WAITFOR


# A guest's serial output, whole lines only: a VM paused for a snapshot may stop mid-line
# ("LAB count 83 up=") and the restored VM writes the rest, so the last line of a paused
# VM's output is not yet a fact. The file is read once, with a marker after it: the marker
# ends a last line that had no newline yet (that line is dropped with it), or is a line of
# its own. (Looking at the file's last byte first, then reading it, raced a running VM: a
# clone's "LAB tick 17 forks=1" came out without its newline, and the next echo joined it.)
# lastcount: N of the last whole "LAB count N ..." line.
SH_LINES = r"""wholelines() { # FILE
  { cat "$1"; echo '@WHOLE@'; } | sed '$d' | tr -d '\r'
}
lastline() { wholelines "$1" | grep '^LAB count ' | tail -n 1; }
lastcount() { lastline "$1" | awk '{print $3}'; }
"""


def uffd_handler():
    """tests/uffd's handler, built beside the Hearth binary the lab runs; None if missing."""
    p = os.path.join(os.path.dirname(os.environ.get("HEARTH", os.path.join(
        REPO, "build", "hearth"))), "tests", "uffd", "uffd_handler")
    return p if os.path.exists(p) else None


def vmm_binary(vmm):
    if vmm == "hearth":
        p = os.environ.get("HEARTH", os.path.join(REPO, "build", "hearth"))
        if not os.path.exists(p):
            raise LabError("no Hearth binary at %s (run make)" % p)
        return p
    return shutil.which(QEMU) or "/usr/bin/" + QEMU

