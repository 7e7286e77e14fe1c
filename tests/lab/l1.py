"""L1, the lab's middle machine: which QEMU emulates it and how, the record
kept of every boot, and what its vCPUs were doing when it wedged.

The levers of the wedge study (tests/lab/README.md, "Wedges"), read from
the environment when this module is imported:
    LAB_QEMU       unset: the system's QEMU (Debian bookworm's 7.2);
                   "10.0": bookworm-backports' 10.0, unpacked under
                   build/lab/qemu-10.0 (nothing is installed); or a binary's
                   path (LAB_QEMU_DATA: its -L dirs, ':'-separated)
    LAB_L1_CPUS    L1's vCPUs (default 2)
    LAB_L1_CPU     L1's CPU model (default max)
    LAB_L1_APPEND  added to L1's kernel command line
    LAB_L1_KEEPER  0: no keeper VM in L1 (l1keeper.c; default on)
    LAB_L1_NPT     1: L1's kvm-amd with npt=1 (default npt=0; lab_build.py)
"""
import bisect
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_DIR = os.path.join(REPO, "build", "lab")
QEMU = "qemu-system-x86_64"
# The lead's rule: npt=0 (with NPT, L1 crashed within a few L2 boots).
L1_CPUS = int(os.environ.get("LAB_L1_CPUS") or 2)
L1_CPU_MODEL = os.environ.get("LAB_L1_CPU") or "max"
L1_QEMU_ARGS = ["-accel", "tcg,thread=multi", "-cpu", L1_CPU_MODEL, "-M", "q35",
                "-m", "3072", "-smp", str(L1_CPUS)]
L1_CMDLINE = ("console=ttyS0 panic=-1 oops=panic " + os.environ.get("LAB_L1_APPEND", "")).strip()
L1_KEEPER = os.environ.get("LAB_L1_KEEPER", "1") != "0"
# bookworm-backports' QEMU (wedge.py compares it with the system's).
QEMU_10 = "1:10.0.2+ds-2+deb13u1~bpo12+1"
QEMU_10_PKGS = ["qemu-system-x86=" + QEMU_10, "qemu-system-common=" + QEMU_10,
                "qemu-system-data=" + QEMU_10, "seabios=1.16.3-2~bpo12+1"]
BACKPORTS = "deb http://deb.debian.org/debian bookworm-backports main\n"

# Every L1 boot of every lab user, one JSON line each (wedge.py reads it).
BOOTS_LOG = os.path.join(LAB_DIR, "boots.jsonl")
WEDGE_KINDS = [
    # (kind, pattern on an unprefixed L1 line); the first kind in this order wins.
    ("soft-lockup", re.compile(r"BUG: soft lockup")),
    ("rcu-timer-wakeup", re.compile(r"timer wakeup didn't happen")),
    ("rcu-stall", re.compile(r"rcu: INFO: \w+ (self-)?detected stall")),
    ("hung-task", re.compile(r"INFO: task \S+ blocked for more than \d+ seconds")),
    ("panic", re.compile(r"Kernel panic - not syncing|Oops: |general protection fault")),
]


def log(msg):
    print("lab: " + msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------- which QEMU

_versions = {}


def qemu_version(binary):
    if binary not in _versions:
        try:
            out = subprocess.run([binary, "--version"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True).stdout
            m = re.search(r"version (\S+)", out)
            _versions[binary] = m.group(1) if m else "unknown"
        except OSError:
            _versions[binary] = "missing"
    return _versions[binary]


def unpack_qemu_10():
    """bookworm-backports' QEMU 10.0 unpacked under build/lab/qemu-10.0, with
    apt's lists for backports kept there too: nothing on the system changes.
    Returns (binary, its -L dirs)."""
    root = os.path.join(LAB_DIR, "qemu-10.0")
    binary = os.path.join(root, "usr", "bin", QEMU)
    data = [os.path.join(root, "usr", "share", d) for d in ("qemu", "seabios")]
    if not os.path.exists(os.path.join(root, ".ok")):
        shutil.rmtree(root, ignore_errors=True)
        apt = root + ".apt"
        shutil.rmtree(apt, ignore_errors=True)
        os.makedirs(os.path.join(apt, "lists", "partial"))
        os.makedirs(os.path.join(apt, "dl"))
        with open(os.path.join(apt, "sources.list"), "w") as f:
            f.write(BACKPORTS)
        opts = ["-o", "Dir::Etc::SourceList=" + os.path.join(apt, "sources.list"),
                "-o", "Dir::Etc::SourceParts=/nonexistent", "-o",
                "Dir::State::Lists=" + os.path.join(apt, "lists"),
                "-o", "Debug::NoLocking=1"]
        log("downloading QEMU 10.0 from bookworm-backports for L1 (%s)" % " ".join(QEMU_10_PKGS))
        subprocess.run(["apt-get"] + opts + ["update"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        subprocess.run(["apt-get"] + opts + ["download"] + QEMU_10_PKGS, check=True,
                       cwd=os.path.join(apt, "dl"), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        for deb in sorted(os.listdir(os.path.join(apt, "dl"))):
            subprocess.run(["dpkg-deb", "-x", os.path.join(apt, "dl", deb), root], check=True)
        shutil.rmtree(apt)
        with open(os.path.join(root, ".ok"), "w") as f:
            f.write(QEMU_10 + "\n")
    return binary, data


def l1_qemu():
    """(binary, its -L data dirs) of the QEMU that emulates L1."""
    want = os.environ.get("LAB_QEMU", "")
    if want == "10.0":
        return unpack_qemu_10()
    if want:
        return want, [d for d in os.environ.get("LAB_QEMU_DATA", "").split(":") if d]
    return shutil.which(QEMU) or "/usr/bin/" + QEMU, []


def keeper_binary():
    """tests/lab/l1keeper.c as built next to Hearth (meson); None if not built."""
    hearth = os.environ.get("HEARTH", os.path.join(REPO, "build", "hearth"))
    for d in (os.path.dirname(os.path.abspath(hearth)), os.path.join(REPO, "build")):
        p = os.path.join(d, "tests", "l1keeper")
        if os.path.exists(p):
            return p
    return None


def l1_env():
    """The environment of L1's QEMU: an unpacked QEMU loads its own modules
    (Debian builds TCG as one) through QEMU_MODULE_DIR."""
    qemu, _ = l1_qemu()
    env = dict(os.environ)
    moddir = os.path.join(os.path.dirname(os.path.dirname(qemu)), "lib", "x86_64-linux-gnu", "qemu")
    if os.environ.get("LAB_QEMU") and os.path.isdir(moddir):
        env["QEMU_MODULE_DIR"] = moddir
    return env


# ----------------------------------------------------- the host's root

class HostRoot:
    """This host's root filesystem shared with L1 over virtiofs (Debian's
    virtiofsd, QEMU 7.2's), for a plan that runs this host's own tools and
    files in L1 as they are here (test_meson.py: meson's tests, unchanged).
    L1 mounts it read-only (MOUNT_SH) under an overlay in its RAM, so what
    a test writes stays in L1. One virtiofsd per boot: it ends with the
    connection of the QEMU it served."""

    TAG = "hostroot"
    VIRTIOFSD = "/usr/lib/qemu/virtiofsd"

    def __init__(self, work):
        self.sock = os.path.join(work, "hostroot.sock")
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        if not os.access(self.VIRTIOFSD, os.X_OK):
            raise RuntimeError("%s not found (scripts/deps.sh lab installs qemu-system-common)"
                               % self.VIRTIOFSD)
        self.log = open(os.path.join(work, "hostroot-virtiofsd.log"), "wb")
        self.p = subprocess.Popen([self.VIRTIOFSD, "--socket-path=" + self.sock, "-o",
                                   "source=/", "-o", "cache=always", "-o", "sandbox=chroot",
                                   "-o", "no_posix_lock", "-o", "log_level=err"],
                                  stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        for _ in range(100):
            if os.path.exists(self.sock) or self.p.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.exists(self.sock):
            self.stop()
            raise RuntimeError("virtiofsd did not make %s (see %s)" % (self.sock,
                                                                       self.log.name))

    def qemu_args(self):
        """L1's RAM shared (vhost-user needs it) and the device."""
        mem = L1_QEMU_ARGS[L1_QEMU_ARGS.index("-m") + 1]
        return ["-object", "memory-backend-memfd,id=l1mem,size=%sM,share=on" % mem,
                "-machine", "memory-backend=l1mem",
                "-chardev", "socket,id=%s,path=%s" % (self.TAG, self.sock),
                "-device", "vhost-user-fs-pci,chardev=%s,tag=%s" % (self.TAG, self.TAG)]

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.log.close()


# The modules L1 needs for it, and for the tests' devices (TAPs, vhost).
HOST_ROOT_MODULES = [("virtio_pci", ""), ("virtiofs", ""), ("overlay", ""), ("tun", ""),
                     ("vhost_net", ""), ("vhost_vsock", "")]

# L1's view of it, run before the plan's tests (its loopback up, as every
# host has it): the host's root read-only,
# an overlay in L1's RAM on top (a test writes where it does here), L1's
# own /dev (its KVM), /proc, /sys, a /dev/shm, and cgroups laid out as
# Debian's hybrid hosts (and this lab's hosts) have them: v1 hierarchies,
# cgroup2 at unified. The root is /lab/root.
MOUNT_SH = r"""set -e
ip link set lo up
mkdir -p /lab/hostfs /lab/ovl /lab/root
mount -t virtiofs -o ro hostroot /lab/hostfs
mount -t tmpfs -o mode=0755 ovl /lab/ovl
mkdir /lab/ovl/up /lab/ovl/work
mount -t overlay -o lowerdir=/lab/hostfs,upperdir=/lab/ovl/up,workdir=/lab/ovl/work hostroot /lab/root
mount --rbind /dev /lab/root/dev
mkdir -p /lab/root/dev/shm && mount -t tmpfs -o mode=1777 shm /lab/root/dev/shm
mount -t proc proc /lab/root/proc
mount -t sysfs sys /lab/root/sys
mount -t tmpfs -o mode=0755 cgroup /lab/root/sys/fs/cgroup
for c in pids cpu cpuacct cpuset memory devices freezer blkio; do
  mkdir /lab/root/sys/fs/cgroup/$c
  mount -t cgroup -o $c cgroup /lab/root/sys/fs/cgroup/$c
done
mkdir /lab/root/sys/fs/cgroup/unified
mount -t cgroup2 cgroup2 /lab/root/sys/fs/cgroup/unified
mount -t tmpfs -o mode=0755 run /lab/root/run
echo "LAB hostroot=ok"
"""


def host_root_run():
    """The plan's first step for a test that runs in the host's root (MOUNT_SH): a setup
    step, which a retried boot runs again before the steps left (lab.run_plan)."""
    from lab_plan import ShellRun
    r = ShellRun("hostroot", "hearth", MOUNT_SH, timeout=120)
    r.setup = True
    return r


# ------------------------------------------------------------- records

def classify_boot(lines, failure):
    """(kind, where, runs ended) of one L1 boot: kind is "ok" or the wedge's
    kind (the first L1 report in WEDGE_KINDS, else "silent", "run-overdue",
    "timeout" or "stopped"); where is the L2 run that had begun and not ended, or the
    phase ("L1 boot", "after <run>", "end")."""
    kind = "ok"
    if failure:
        order = [k for k, _ in WEDGE_KINDS]
        kinds = [k for k, rx in WEDGE_KINDS for l in lines if "| " not in l[:40] and rx.search(l)]
        if kinds:
            kind = sorted(kinds, key=order.index)[0]
        elif "silent" in failure:
            kind = "silent"
        elif "outlived its timeout" in failure:
            kind = "run-overdue"
        elif "timeout" in failure:
            kind = "timeout"
        else:
            kind = "stopped"
    open_run, ended, last = None, 0, None
    for l in lines:
        m = re.match(r"^LAB-RUN-BEGIN (\S+)", l)
        if m:
            open_run = last = m.group(1)
        elif l.startswith("LAB-RUN-END"):
            open_run, ended = None, ended + 1
    if open_run:
        where = open_run
    elif not any(l.startswith("LAB-L1-KVM") for l in lines):
        where = "L1 boot"
    elif any(l.startswith("LAB-L1-DONE") for l in lines):
        where = "end"
    else:
        where = "after " + (last or "kvm")
    return kind, where, ended


def record_boot(tag, attempt, lines, failure, wall, planned, probe=None):
    """Appends one line about this L1 boot to BOOTS_LOG; returns it."""
    kind, where, ended = classify_boot(lines, failure)
    qemu, _ = l1_qemu()
    rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "tag": tag, "attempt": attempt,
           "qemu": qemu_version(qemu), "l1_cpus": L1_CPUS, "l1_cpu": L1_CPU_MODEL,
           "l1_cmdline": L1_CMDLINE, "keeper": L1_KEEPER,
           "wall": round(wall, 1), "kind": kind, "where": where, "runs_ended": ended,
           "runs_planned": planned, "failure": failure, "vcpus": probe,
           "pid": os.getpid(), "campaign": os.environ.get("LAB_CAMPAIGN")}
    try:
        os.makedirs(os.path.dirname(BOOTS_LOG), exist_ok=True)
        with open(BOOTS_LOG, "a") as f:
            f.write(json.dumps(rec) + "\n")
    except OSError as e:
        log("cannot record the boot: %s" % e)
    return rec


# ------------------------------------------- what the vCPUs were doing

def hmp(path, command, timeout=5.0):
    """One HMP command on L1's monitor socket; its output, or None when the
    monitor does not answer in time (QEMU's own main loop is stuck)."""
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(path)
    except OSError:
        return None
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        def until_prompt():
            nonlocal buf
            while b"(qemu) " not in buf and time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    return False
                buf += chunk
            return b"(qemu) " in buf
        if not until_prompt():
            return None
        buf = b""
        s.sendall(command.encode() + b"\n")
        if not until_prompt():
            return None
        return buf.decode("utf-8", "replace").replace("\r", "")
    except OSError:
        return None
    finally:
        s.close()


MODULE_LINE = re.compile(r"^(\w+) \d+ \d+ \S+ \S+ 0x([0-9a-f]+)")


class Symbols:
    """L1 kernel addresses to names.  The table is L1's own /proc/kallsyms
    (Debian's System.map is a stub): the kernel's text symbols as offsets
    from _stext, and each module's as offsets from its base.  KASLR moves
    the whole kernel, and modules load anywhere, so one table serves every
    boot of that kernel, with the _stext and module bases that boot's /init
    reports (LAB-L1-KSYM, LAB-L1-MOD).  lab.py fetches it once per kernel
    (Lab.fetch_symbols)."""

    def __init__(self, path):
        self.tables = {}          # "" (the kernel) or a module -> (offsets, names)
        try:
            with open(path) as f:
                for line in f:
                    where, off, name = line.split()
                    t = self.tables.setdefault("" if where == "-" else where, ([], []))
                    t[0].append(int(off, 16))
                    t[1].append(name)
        except (OSError, ValueError):
            self.tables = {}

    @staticmethod
    def write(path, lines):
        """Stores the text symbols of kallsyms lines ("addr t name [mod]"),
        with the /proc/modules lines among them giving each module's base;
        False when _stext is not among them."""
        syms, bases = [], {}
        for l in lines:
            m = MODULE_LINE.match(l)
            if m:
                bases[m.group(1)] = int(m.group(2), 16)
                continue
            parts = l.split()
            if len(parts) >= 3 and parts[1] in "tT" and re.match(r"^[0-9a-f]{16}$", parts[0]):
                mod = parts[3].strip("[]") if len(parts) >= 4 else ""
                syms.append((mod, int(parts[0], 16), parts[2]))
        stext = [a for m, a, n in syms if n == "_stext" and not m]
        if not stext:
            return False
        bases[""] = stext[0]
        with open(path + ".tmp", "w") as f:
            for mod, a, n in sorted(syms):
                if mod in bases and a >= bases[mod]:
                    f.write("%s %x %s\n" % (mod or "-", a - bases[mod], n))
        os.replace(path + ".tmp", path)
        return True

    def name(self, addr, bases):
        """addr's symbol, given this boot's bases ({"": _stext, module: base})."""
        best = None
        for mod, base in bases.items():
            if base is not None and base <= addr and (best is None or base > bases[best]):
                best = mod
        if best is None:
            return None
        off = addr - bases[best]
        offs, names = self.tables.get(best, ([], []))
        i = bisect.bisect_right(offs, off) - 1
        where = "[%s]" % best if best else "_stext"
        if i < 0 or off - offs[i] > 0x10000:
            return "%s+%#x" % (where, off)
        return "%s+%#x%s" % (names[i], off - offs[i], " [%s]" % best if best else "")


def describe_rip(rip, cpl, syms, bases):
    """Where a vCPU was: L1's kernel or a module (with the symbol), L1's
    user space (Hearth, guestrun or QEMU in L1), or the L2 guest."""
    if rip >= 0xffff800000000000:
        sym = syms.name(rip, bases) if syms else None
        return "L1 kernel %s" % (sym or hex(rip))
    if cpl == 3 and rip >= 0x10000000:
        return "L1 user %#x" % rip
    return "L2 guest? %#x cpl%d" % (rip, cpl)


def probe_vcpus(monitor, syms, bases, rounds=3, gap=1.0):
    """What L1's vCPUs were doing, seen from QEMU: `info registers -a`
    `rounds` times, `gap` s apart. A list of one string per round."""
    out = []
    for i in range(rounds):
        text = hmp(monitor, "info registers -a")
        if text is None:
            out.append("the monitor did not answer (QEMU itself stuck)")
            break
        cpus = []
        for m in re.finditer(r"CPU#(\d+)\n(.*?)(?=CPU#\d+\n|\Z)", text, re.S):
            body = m.group(2)
            rip = re.search(r"RIP=([0-9a-f]+)", body)
            cpl = re.search(r"CPL=(\d)", body)
            hlt = re.search(r"HLT=(\d)", body)
            if not rip:
                continue
            cpus.append("cpu%s %s%s" % (m.group(1), describe_rip(int(rip.group(1), 16),
                                                                   int(cpl.group(1)) if cpl else -1,
                                                                   syms, bases),
                                        " halted" if hlt and hlt.group(1) == "1" else ""))
        out.append("; ".join(cpus) or "no registers in %r" % text[:200])
        if i + 1 < rounds:
            time.sleep(gap)
    return out


def runtime_bases(lines):
    """This boot's _stext and module bases from L1's /init lines."""
    bases = {}
    for l in lines:
        m = re.match(r"^LAB-L1-KSYM ([0-9a-f]+) \w _stext", l)
        if m:
            bases[""] = int(m.group(1), 16)
        m = re.match(r"^LAB-L1-MOD (.*)", l)
        if m:
            mm = MODULE_LINE.match(m.group(1))
            if mm:
                bases[mm.group(1)] = int(mm.group(2), 16)
    return bases
