#!/usr/bin/env python3
"""The lab: boots a stock Debian kernel (L1) under QEMU TCG with emulated AMD
SVM, loads kvm-amd npt=0 inside it, and runs a plan of L2 guests with a VMM
(Hearth or QEMU microvm) inside L1.  Results are read from marker lines on
L1's serial console.

Why: this machine's /dev/kvm is PVM-backed (kvm_pvm), on which a stock kernel
cannot boot, so real-kernel tests go through a nested lab.

Library use (see tests/lab/test_core.py, bench/run.sh):

    lab = Lab()
    runs = [Run("a", vmm="qemu", cpus=2, memory=512, cmdline="console=ttyS0")]
    result = lab.run_plan(runs)          # retries a lab failure twice, with what is left
    result.runs["a"].rc, .info["nproc"], .guest_lines, .stderr_lines

CLI:
    lab.py prepare                     build kernel + initrds (no boot)
    lab.py smoke [--vmm qemu|hearth]   one L2 boot, prints the run's output
    lab.py demo  [--vmm ...]           interactive L1 -> L2 shell (scripts/demo.sh)

Everything is cached under build/lab/ (kernel by package version, initrds by
a hash of their contents).  Environment: LAB_STREAM=1 streams L1's serial
console to stderr while it runs.
"""
import argparse
import hashlib
import os
import re
import select
import shlex
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import l1  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_DIR = os.path.join(REPO, "build", "lab")
KERNEL_META = "linux-image-cloud-amd64"
# Debian's generic kernel, for the L2 guests that need what the cloud one is
# built without (CONFIG_VMGENID: test_vmgenid.py); L1 stays the cloud kernel.
KERNEL_META_GENERIC = "linux-image-amd64"
BUSYBOX = "/bin/busybox"
QEMU = "qemu-system-x86_64"
MODINFO = shutil.which("modinfo") or "/sbin/modinfo"
# The microvm peer's firmware in L1: name there -> names to look for here,
# in /usr/share/qemu, then /usr/share/seabios.  microvm's BIOS is qboot, as
# QEMU 7.2 shipped it (10.0's bios-microvm.bin is SeaBIOS's).
QEMU_FIRMWARE = {"bios-microvm.bin": ["qboot.rom", "bios-microvm.bin"], "qboot.rom": ["qboot.rom"],
                 "linuxboot_dma.bin": ["linuxboot_dma.bin"], "kvmvapic.bin": ["kvmvapic.bin"],
                 # q35 (the boot bench's PCI peer) boots through SeaBIOS.
                 "bios-256k.bin": ["bios-256k.bin"]}
QEMU_FIRMWARE_DIRS = ["/usr/share/qemu", "/usr/share/seabios"]

# L1: what QEMU TCG emulates, its QEMU, and the record of every boot: l1.py.
L1_QEMU_ARGS, L1_CMDLINE = l1.L1_QEMU_ARGS, l1.L1_CMDLINE
# L1 prints LAB-L1-TICK every 10 s during a plan; this long without a line
# means L1 itself hung.
HEARTBEAT_SILENCE = 150
# After /dev/kvm, L1 starts its keeper (waiting for it at most 30 s) and then
# its plan: something of either comes within this many seconds, or L1 wedged
# starting the keeper's VM (seen twice in a row in CI, 2026-11-26).
KEEPER_START_LIMIT = 60
L1_MODULES = [("irqbypass", ""), ("kvm", ""), ("kvm-amd", "npt=0")]

# Paths inside L1.
L1_KERNEL = "/lab/l2/vmlinuz"
L1_BIN = "/lab/bin"
L1_QEMU_DATA = "/usr/share/qemu"

# QEMU microvm at its fastest for a stock kernel (the boot bench's peer):
# no option ROMs, no PIT or PIC (KVM's LAPIC timer and IOAPIC serve), and
# an RTC, without which the kernel spends seconds probing the CMOS
# ("rtc_cmos: broken or not accessible"). The tests keep plain "microvm".
QEMU_MICROVM_BEST = "microvm,x-option-roms=off,pit=off,pic=off,rtc=on"

VMM_TEMPLATES = {
    # Hearth's CLI.
    "hearth": ["{bin}/hearth", "run", "--kernel", "{kernel}", "--initrd", "{initrd}",
               "--cmdline", "{cmdline}", "--cpus", "{cpus}", "--memory", "{memory}"],
    # QEMU microvm, the reference.  -no-reboot turns a guest reboot into an exit
    # (as Hearth does) instead of booting the guest again.
    "qemu": ["{bin}/qemu-system-x86_64", "-L", L1_QEMU_DATA, "-M", "{machine}",
             "-enable-kvm", "-cpu", "host", "-m", "{memory}", "-smp", "{cpus}",
             "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
             "-serial", "stdio", "-device", "i8042",
             "-kernel", "{kernel}", "-initrd", "{initrd}",
             "-append", "{cmdline}"],
}


def log(msg):
    print("lab: " + msg, file=sys.stderr, flush=True)


class LabError(Exception):
    """The lab itself failed (as opposed to a test inside it)."""


_work = None
KEEP_RUN_DIRS = 20


def work_dir():
    """This process's own directory under build/lab/runs/: its staging
    trees, its L1 image and its serial logs.  Two lab runs in one tree never
    share one (the kernel and the L2 initrds are caches keyed by their
    inputs, written atomically, and shared).  The oldest run directories
    beyond KEEP_RUN_DIRS are removed; images of earlier runs are dropped."""
    global _work
    if _work is None or not os.path.isdir(_work):
        runs = os.path.join(LAB_DIR, "runs")
        os.makedirs(runs, exist_ok=True)
        old = sorted(d for d in os.listdir(runs) if d.startswith("run-"))
        for d in old[:max(0, len(old) - KEEP_RUN_DIRS + 1)]:
            shutil.rmtree(os.path.join(runs, d), ignore_errors=True)
        for d in old[-KEEP_RUN_DIRS:]:
            for f in os.listdir(os.path.join(runs, d)) if os.path.isdir(os.path.join(runs, d)) else []:
                if f.endswith(".cpio"):
                    try:
                        os.unlink(os.path.join(runs, d, f))
                    except OSError:
                        pass
        _work = tempfile.mkdtemp(prefix=time.strftime("run-%Y%m%d-%H%M%S-"), dir=runs)
    return _work


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def sh_out(cmd):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout


# ---------------------------------------------------------------- kernel

class Kernel:
    def __init__(self, root, version):
        self.root = root                      # extracted package
        self.version = version                # e.g. 6.1.0-56-cloud-amd64
        self.vmlinuz = os.path.join(root, "boot", "vmlinuz-" + version)
        self.moddir = os.path.join(root, "lib", "modules", version)
        self._index = None

    def module_index(self):
        if self._index is None:
            self._index = {}
            for d, _, files in os.walk(self.moddir):
                for f in files:
                    if f.endswith(".ko"):
                        name = f[:-3]
                        self._index[name] = os.path.join(d, f)
                        self._index[name.replace("-", "_")] = os.path.join(d, f)
        return self._index

    def module(self, name):
        p = self.module_index().get(name) or self.module_index().get(name.replace("-", "_"))
        if not p:
            raise LabError("kernel module %s not found in %s" % (name, self.moddir))
        return p

    def builtin(self):
        """Names of the modules built into the kernel image."""
        path = os.path.join(self.moddir, "modules.builtin")
        if not os.path.exists(path):
            return set()
        with open(path) as f:
            return {os.path.basename(l.strip())[:-3].replace("-", "_") for l in f if l.strip()}

    def modules_with_deps(self, names):
        """Module files in load order, dependencies first; built-in ones
        are left out."""
        out, seen = [], set()
        builtin = self.builtin()

        def visit(n):
            if n.replace("-", "_") in builtin:
                return
            p = self.module(n)
            if p in seen:
                return
            seen.add(p)
            deps = sh_out([MODINFO, "-F", "depends", p]).strip()
            for d in filter(None, deps.split(",")):
                visit(d)
            out.append(p)
        for n in names:
            visit(n)
        return out


def apt_resolve_kernel(meta=KERNEL_META):
    """(package, version) of the versioned kernel the metapackage meta points at
    (linux-image-FLAVOUR depends on linux-image-VERSION-FLAVOUR)."""
    flavour = meta[len("linux-image-"):]

    def query():
        deps = sh_out(["apt-cache", "depends", meta])
        m = re.search(r"Depends:\s*(linux-image-\S+-%s)\b" % re.escape(flavour), deps)
        if not m:
            return None
        pkg = m.group(1)
        pol = sh_out(["apt-cache", "policy", pkg])
        v = re.search(r"Candidate:\s*(\S+)", pol)
        return pkg, (v.group(1) if v else "unknown")
    try:
        r = query()
    except subprocess.CalledProcessError:
        r = None
    if r is None:
        log("apt-cache knows no %s; running apt-get update" % meta)
        SUDO = [] if os.geteuid() == 0 else ["sudo"]
        sh(SUDO + ["apt-get", "update", "-q"], stdout=subprocess.DEVNULL)
        r = query()
    if r is None:
        raise LabError("cannot resolve %s with apt-cache" % meta)
    return r


def get_kernel(meta=KERNEL_META):
    """Download + extract the stock kernel meta points at (the cloud one by
    default); cached by package version, each metapackage's in a directory
    of its own (build/lab/kernel for the cloud one, build/lab/kernel-META
    for another), so fetching one never drops the other.
    LAB_KERNEL_OFFLINE=1 reuses whatever is cached without asking apt."""
    kdir = os.path.join(LAB_DIR, "kernel" if meta == KERNEL_META else "kernel-" + meta)
    os.makedirs(kdir, exist_ok=True)
    cached = [d for d in sorted(os.listdir(kdir)) if os.path.exists(os.path.join(kdir, d, ".ok"))]
    if os.environ.get("LAB_KERNEL_OFFLINE") and cached:
        key = cached[-1]
    else:
        pkg, ver = apt_resolve_kernel(meta)
        key = "%s_%s" % (pkg, ver)
    root = os.path.join(kdir, key)
    stamp = os.path.join(root, ".ok")
    if not os.path.exists(stamp):
        pkg = key.split("_")[0]
        log("downloading %s" % key)
        shutil.rmtree(root, ignore_errors=True)
        dl = os.path.join(kdir, "dl")
        shutil.rmtree(dl, ignore_errors=True)
        os.makedirs(dl)
        dlcmd = ["apt-get", "download", pkg]
        if subprocess.run(dlcmd, cwd=dl, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode != 0:
            log("apt-get download failed; running apt-get update and retrying")
            SUDO = [] if os.geteuid() == 0 else ["sudo"]
            sh(SUDO + ["apt-get", "update", "-q"], stdout=subprocess.DEVNULL)
            sh(dlcmd, cwd=dl, stdout=subprocess.DEVNULL)
        deb = [f for f in os.listdir(dl) if f.endswith(".deb")][0]
        sh(["dpkg-deb", "-x", os.path.join(dl, deb), root])
        shutil.rmtree(dl)
        # Decompress modules if the package ships them compressed.
        for d, _, files in os.walk(os.path.join(root, "lib", "modules")):
            for f in files:
                p = os.path.join(d, f)
                if f.endswith(".ko.xz"):
                    sh(["xz", "-d", "-f", p])
                elif f.endswith(".ko.zst"):
                    sh(["zstd", "-q", "-d", "--rm", "-f", p])
                elif f.endswith(".ko.gz"):
                    sh(["gzip", "-d", "-f", p])
        open(stamp, "w").write(key + "\n")
        # Drop older cached kernels (of this metapackage: the directory is its own).
        for d in os.listdir(kdir):
            if d != key:
                shutil.rmtree(os.path.join(kdir, d), ignore_errors=True)
    vers = os.listdir(os.path.join(root, "lib", "modules"))
    if len(vers) != 1:
        raise LabError("unexpected module dirs in %s: %s" % (root, vers))
    k = Kernel(root, vers[0])
    if not os.path.exists(k.vmlinuz):
        raise LabError("no vmlinuz in " + root)
    return k


# ------------------------------------------------------------- initramfs

def ldd_deps(binary):
    """The shared libraries (and the dynamic loader) a binary needs."""
    try:
        out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True).stdout
    except OSError:
        return []
    if "not a dynamic executable" in out or "statically linked" in out:
        return []
    libs = []
    for line in out.splitlines():
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if m:
            libs.append(m.group(1))
        elif "not found" in line:
            raise LabError("ldd %s: %s" % (binary, line.strip()))
    return libs


# Libraries Hearth dlopens (slirp/slirp_lib.c: a user-mode NIC's and the
# MMDS's stack; boot/decompress.c: a bzImage's payload), which ldd does not
# list: copied with their own.
DLOPENED = {"hearth": ("libslirp.so.0", "liblz4.so.1", "libz.so.1", "liblzma.so.5",
                       "libzstd.so.1", "libnettle.so.8")}


def dlopened_paths(binary):
    """Paths of the libraries binary loads at run time (DLOPENED), found as the loader would."""
    names = DLOPENED.get(os.path.basename(binary), ())
    if not names:
        return []
    out = subprocess.run(["ldconfig", "-p"], stdout=subprocess.PIPE, text=True).stdout
    paths = []
    for name in names:
        m = re.search(r"^\s*%s \(libc6,x86-64\) => (\S+)$" % re.escape(name), out, re.M)
        if not m:
            raise LabError("%s loads %s, which this host does not have (scripts/deps.sh)" %
                           (binary, name))
        paths.append(m.group(1))
    return paths


class Tree:
    """A staging directory that becomes a newc cpio archive."""

    def __init__(self, path):
        shutil.rmtree(path, ignore_errors=True)
        self.path = path
        os.makedirs(path)
        for d in ("bin", "sbin", "dev", "proc", "sys", "tmp", "etc", "lab",
                  "usr/bin", "usr/sbin", "lib", "lib64"):
            os.makedirs(os.path.join(path, d), exist_ok=True)
        try:
            os.mknod(os.path.join(path, "dev", "console"), 0o600 | stat.S_IFCHR,
                     os.makedev(5, 1))
        except PermissionError:
            pass  # /init remounts devtmpfs and reopens the console itself

    def _dst(self, rel):
        dst = os.path.join(self.path, rel.lstrip("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        return dst

    def copy(self, src, rel, mode=None):
        dst = self._dst(rel)
        shutil.copyfile(src, dst)            # dereferences symlinks
        shutil.copymode(src, dst)
        if mode is not None:
            os.chmod(dst, mode)

    def write(self, rel, text, mode=0o644):
        dst = self._dst(rel)
        with open(dst, "w") as f:
            f.write(text)
        os.chmod(dst, mode)

    def busybox(self):
        self.copy(BUSYBOX, "/bin/busybox", 0o755)
        for applet in sh_out([BUSYBOX, "--list-full"]).split():
            dst = self._dst(applet)
            if not os.path.lexists(dst):
                os.symlink("/bin/busybox", dst)

    def binary(self, src, rel=None):
        """A binary plus its ldd libraries at their own paths, and those it dlopens
        (known by the name it gets in the tree: bench/run.sh --hearth /tmp/h-old
        is still Hearth)."""
        self.copy(src, rel or src, 0o755)
        for lib in dlopened_paths(rel or src):
            if not os.path.exists(self._dst(lib)):
                self.binary(lib, lib)
        for lib in ldd_deps(src):
            if not os.path.exists(self._dst(lib)):
                self.copy(lib, lib, 0o755)
            # Also where the loader's default search path finds it.
            real = os.path.realpath(lib)
            if real != lib and not os.path.exists(self._dst(real)):
                self.copy(lib, real, 0o755)

    def write_modules(self, kernel, specs):
        """L1's /lab/modules and the /lab/modules.order its /init insmods
        from: each (name, args) of specs after its dependencies, once."""
        order, loaded = "", set()
        for m, args in specs:
            main = kernel.module(m)
            for p in kernel.modules_with_deps([m]):
                name = os.path.basename(p)[:-3]
                if name in loaded:
                    continue
                loaded.add(name)
                self.copy(p, "/lab/modules/%s.ko" % name)
                order += ("%s %s" % (name, args if p == main else "")).strip() + "\n"
        self.write("/lab/modules.order", order)

    def pack(self, out, tmp=None):
        """Packs the tree into out (through tmp, on the same file system,
        so a reader sees the old file or the whole new one)."""
        tmp = tmp or out + ".tmp"
        find = subprocess.Popen(["find", ".", "-mindepth", "1", "-print0"],
                                cwd=self.path, stdout=subprocess.PIPE)
        with open(tmp, "wb") as f:
            sh(["cpio", "--null", "-o", "-H", "newc", "-R", "0:0", "--quiet"],
               cwd=self.path, stdin=find.stdout, stdout=f)
        find.wait()
        os.replace(tmp, out)
        shutil.rmtree(self.path)
        return out


def digest(*parts):
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, str) and os.path.isfile(p):
            st = os.stat(p)
            h.update(("%s:%d:%d" % (p, st.st_size, st.st_mtime_ns)).encode())
        else:
            h.update(repr(p).encode())
    return h.hexdigest()[:16]


# L2's /init.  Prints "LAB init" first, then facts, then does lab.action.
L2_INIT = r'''#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t devtmpfs dev /dev 2>/dev/null
[ -c /dev/console ] && exec </dev/console >/dev/console 2>&1
echo "LAB init"
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmp /tmp
action=poweroff; wait=0; newroot=; rootflags=ro
for w in $(cat /proc/cmdline); do
  case "$w" in
    lab.action=*) action=${w#lab.action=} ;;
    lab.wait=*) wait=${w#lab.wait=} ;;
    lab.newroot=*) newroot=${w#lab.newroot=} ;;
    lab.rootflags=*) rootflags=${w#lab.rootflags=} ;;
  esac
done
[ -f /lab/modules.order ] && while read -r m args; do
  insmod "/lab/modules/$m" $args || echo "LAB insmod-failed=$m"
done </lab/modules.order
echo "LAB nproc=$(nproc)"
echo "LAB online=$(cat /sys/devices/system/cpu/online)"
echo "LAB memtotal_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
echo "LAB cmdline=$(cat /proc/cmdline)"
echo "LAB kernel=$(uname -r)"
echo "LAB bootver=$(cat /sys/kernel/boot_params/version 2>/dev/null)"
echo "LAB pci=$(for d in /sys/bus/pci/devices/*; do [ -e "$d/vendor" ] && printf '%s:%s:%s:%s ' "${d##*/}" "$(cat "$d/vendor")" "$(cat "$d/device")" "$(cat "$d/class")"; done)"
[ -x /lab/extra.sh ] && /lab/extra.sh
echo "LAB ready action=$action"
[ "$wait" != 0 ] && sleep "$wait"
case "$action" in
  reboot) echo "LAB doing reboot"; reboot -f ;;
  switch-root)
    # Boots on from lab.newroot (an ext4 device, mounted lab.rootflags),
    # whose own /init goes on as PID 1, as a distribution's initramfs does.
    mkdir -p /newroot
    mount -t ext4 -o "$rootflags" "$newroot" /newroot && echo "LAB doing switch-root" &&
      exec switch_root /newroot /init
    echo "LAB doing poweroff"; poweroff -f ;;
  shell)
    if [ -f /lab/input ]; then sh </lab/input; else setsid cttyhack sh; fi
    echo "LAB doing poweroff"; poweroff -f ;;
  *) echo "LAB doing poweroff"; poweroff -f ;;
esac
sleep 5; echo "LAB action-failed"; exit 1
'''


def build_l2_initrd(kernel, name="l2", modules=(), binaries=(), files=None,
                    extra_sh=None):
    """L2 initramfs: busybox static + /init.  Extend with kernel modules
    (names, deps resolved), binaries (copied with ldd libs), files {dst: src}
    and an /lab/extra.sh run before the action."""
    files = dict(files or {})
    mods = kernel.modules_with_deps(list(modules)) if modules else []
    key = digest(L2_INIT, BUSYBOX, kernel.version, mods, list(binaries),
                 sorted(files.items()), [files[k] for k in sorted(files)], extra_sh,
                 *binaries)
    out = os.path.join(LAB_DIR, "%s-%s.cpio" % (name, key))
    if os.path.exists(out):
        return out
    t = Tree(os.path.join(work_dir(), "stage-" + name))
    t.busybox()
    t.write("/init", L2_INIT, 0o755)
    if mods:
        t.write("/lab/modules.order", "".join(os.path.basename(m) + "\n" for m in mods))
        for m in mods:
            t.copy(m, "/lab/modules/" + os.path.basename(m))
    for b in binaries:
        t.binary(b)
    for dst, src in files.items():
        t.copy(src, dst)
    if extra_sh:
        t.write("/lab/extra.sh", "#!/bin/sh\n" + extra_sh, 0o755)
    for old in os.listdir(LAB_DIR):
        if old.startswith(name + "-") and old.endswith(".cpio"):
            os.unlink(os.path.join(LAB_DIR, old))
    return t.pack(out, tmp=os.path.join(work_dir(), os.path.basename(out) + ".tmp"))


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

L1_INIT = r'''#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t devtmpfs dev /dev 2>/dev/null
[ -c /dev/console ] && exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tmpfs tmp /tmp
mkdir -p /dev/pts && mount -t devpts -o ptmxmode=0666 devpts /dev/pts
read up _ </proc/uptime; echo "LAB-L1-UP t=$up"
# Where the kernel text landed (KASLR): the wedge probe names L1's functions.
echo "LAB-L1-KSYM $(grep -m1 ' _stext$' /proc/kallsyms)"
while read -r m args; do
  insmod "/lab/modules/$m.ko" $args || echo "LAB-L1-INSMOD-FAILED $m"
done </lab/modules.order
while read -r m; do echo "LAB-L1-MOD $m"; done </proc/modules
if [ -c /dev/kvm ]; then
  read up _ </proc/uptime; echo "LAB-L1-KVM ok t=$up"
  # One idle VM for the whole plan, so L2 runs do not make L1 patch its text
  # (l1keeper.c). Its own start is the last patch: the plan waits for it.
  if [ -x /lab/bin/l1keeper ]; then
    /lab/bin/l1keeper </dev/null >/tmp/keeper.out 2>&1 &
    i=0; while [ $i -lt 300 ] && ! grep -q LAB-L1-KEEPER /tmp/keeper.out; do sleep 0.1; i=$((i+1)); done
    cat /tmp/keeper.out
  fi
  # Not as PID 1: orphans (busybox timeout's watcher) become PID 1's
  # children, and their SIGCHLD made ash's blocking open of /tmp/lab.fifo
  # in lab_run fail with EINTR (the run then hung until its timeout).
  sh -c '. /lab/lib.sh; . /lab/runs.sh'
else
  echo "LAB-L1-KVM missing"; dmesg | tail -20
fi
echo "LAB-L1-DONE"
poweroff -f
'''


# The payload's first bytes name its compression; the tools are Debian's.
DECOMPRESSORS = [(b"\x1f\x8b", ["gzip", "-dc"]), (b"\xfd7zXZ\x00", ["xz", "-dc"]),
                 (b"\x28\xb5\x2f\xfd", ["zstd", "-dc"]), (b"\x02\x21\x4c\x18", ["lz4", "-dc"]),
                 (b"BZh", ["bzip2", "-dc"]), (b"\x5d\x00", ["xz", "--format=lzma", "-dc"]),
                 (b"\x89LZO", ["lzop", "-dc"])]


def extract_vmlinux(bzimage, out):
    """The ELF inside a bzImage (its setup header's payload), cached in out."""
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(bzimage):
        return out
    with open(bzimage, "rb") as f:
        d = f.read()
    setup_sects = d[0x1f1] or 4
    off, length = struct.unpack_from("<II", d, 0x248)
    payload = d[(setup_sects + 1) * 512 + off:][:length]
    for magic, cmd in DECOMPRESSORS:
        if payload.startswith(magic):
            # The kernel's build appends the size after the stream; the tools
            # may complain of it (exit 1) after writing everything.
            r = subprocess.run(cmd, input=payload, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
            if r.stdout[:4] != b"\x7fELF":
                raise LabError("%s: %s gave no ELF (exit %d)" % (bzimage, cmd[0],
                                                                   r.returncode))
            with open(out + ".tmp", "wb") as f:
                f.write(r.stdout)
            os.replace(out + ".tmp", out)
            return out
    raise LabError("%s: payload compression not recognised (%s)" % (bzimage,
                                                                      payload[:6].hex()))

# A PT_NOTE's PVH entry (Xen's XEN_ELFNOTE_PHYS32_ENTRY), which a loader looks for.
XEN_ELFNOTE_PHYS32_ENTRY = 18


def vmlinux_without_pvh(vmlinux, out):
    """vmlinux with its PVH entry note's type changed, so no loader finds it (a
    kernel built without CONFIG_PVH, as far as a loader can tell), cached in out."""
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(vmlinux):
        return out
    with open(vmlinux, "rb") as f:
        d = bytearray(f.read())
    phoff, = struct.unpack_from("<Q", d, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", d, 0x36)
    found = 0
    for i in range(phnum):
        ptype, _, off, _, _, filesz = struct.unpack_from("<IIQQQQ", d, phoff + i * phentsize)
        pos = off
        while ptype == 4 and pos + 12 <= off + filesz:
            namesz, descsz, ntype = struct.unpack_from("<III", d, pos)
            name = bytes(d[pos + 12:pos + 12 + namesz])
            if name.rstrip(b"\0") == b"Xen" and ntype == XEN_ELFNOTE_PHYS32_ENTRY:
                struct.pack_into("<I", d, pos + 8, 0x7fffffff)
                found += 1
            pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    if not found:
        raise LabError("%s: no PVH entry note to take out" % vmlinux)
    with open(out + ".tmp", "wb") as f:
        f.write(d)
    os.replace(out + ".tmp", out)
    return out


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
# VM's output is not yet a fact. lastcount: N of the last whole "LAB count N ..." line.
SH_LINES = r"""wholelines() { # FILE
  if [ -n "$(tail -c 1 "$1")" ]; then sed '$d' "$1"; else cat "$1"; fi | tr -d '\r'
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


class L1Extra:
    """What one plan adds to L1: QEMU arguments (devices), words on its
    kernel command line, and modules (name, args) its /init loads."""

    def __init__(self, qemu_args=(), cmdline="", modules=()):
        self.qemu_args, self.cmdline, self.modules = list(qemu_args), cmdline, list(modules)


def build_l1_initrd(kernel, runs, l2_default, interactive=None, tty=False,
                    binaries=None, files=None, l1_modules=()):
    """L1 initramfs: busybox, kvm modules, VMMs + libs, L2 kernel + initrds,
    and /lab/runs.sh generated from the plan (or the demo command).
    binaries {dst: src} are copied with their ldd libraries, files {dst: src}
    as they are."""
    t = Tree(os.path.join(work_dir(), "stage-l1"))
    t.busybox()
    for dst, src in sorted((binaries or {}).items()):
        t.binary(src, dst)
    for dst, src in sorted((files or {}).items()):
        t.copy(src, dst)
    t.write("/init", L1_INIT, 0o755)
    t.write("/lab/lib.sh", L1_LIB)
    if l1.L1_KEEPER:
        keeper = l1.keeper_binary()
        if not keeper:
            raise LabError("tests/l1keeper is not built next to Hearth (run make), or set "
                           "LAB_L1_KEEPER=0")
        t.binary(keeper, L1_BIN + "/l1keeper")
    t.write_modules(kernel, L1_MODULES + list(l1_modules))
    t.copy(kernel.vmlinuz, L1_KERNEL)
    vmms = sorted({r.vmm for r in runs} | ({interactive.vmm} if interactive else set()))
    for v in vmms:
        src = vmm_binary(v)
        t.binary(src, L1_BIN + "/" + os.path.basename(VMM_TEMPLATES[v][0]))
        if v == "qemu":
            for fw, names in QEMU_FIRMWARE.items():
                found = [os.path.join(d, n) for n in names for d in QEMU_FIRMWARE_DIRS
                         if os.path.exists(os.path.join(d, n))]
                if found:
                    t.copy(found[0], L1_QEMU_DATA + "/" + fw)
    initrds = {}
    for r in runs + ([interactive] if interactive else []):
        src = r.initrd or l2_default
        if src not in initrds:
            initrds[src] = "/lab/l2/initrd%d.cpio" % len(initrds)
            t.copy(src, initrds[src])
    lines = ["# generated by tests/lab/lab.py"]
    if runs:
        lines.append("lab_heartbeat & heartbeat=$!")
    for r in runs:
        ramkb = r.memory * 1024 if r.rss else 0
        lines.append("lab_run %s %d %d %s" % (r.name, r.timeout, ramkb,
                     " ".join(shlex.quote(a) for a in r.argv(initrds[r.initrd or l2_default]))))
    if interactive:
        if tty:
            t.write("/lab/tty", "")
        lines.append("lab_interactive " + " ".join(
            shlex.quote(a) for a in interactive.argv(initrds[interactive.initrd or l2_default])))
    if runs:
        lines.append("kill $heartbeat")
    t.write("/lab/runs.sh", "\n".join(lines) + "\n")
    return t.pack(os.path.join(work_dir(), "l1.cpio"))


# ---------------------------------------------------------------- results

class RunResult:
    def __init__(self, name):
        self.name = name
        self.begun = self.ended = False
        self.rc = None
        self.t_begin = self.t_init = self.t_ready = self.t_end = None
        self.guest_lines, self.stderr_lines = [], []
        self.info = {}          # LAB key=value lines from the guest
        self.rss = None         # dict from LAB-RUN-RSS
        self.kvm = None         # KVM's counters at /init, from LAB-RUN-KVM (rss runs)
        self.hung = False       # outlived its timeout's SIGKILL (LAB-RUN-HUNG); rc is 137

    def boot_seconds(self):
        """VMM start -> guest /init's first line (L1 clock)."""
        if self.t_begin is None or self.t_init is None:
            return None
        return self.t_init - self.t_begin


class L1Result:
    def __init__(self):
        self.ok = False
        self.failure = None     # why the lab failed, or None
        self.runs = {}
        self.l1_up = self.l1_kvm = None
        self.log = None
        self.wall = None
        self.attempts = 1
        self.retried = []       # each failed attempt before this one: "kind at where (log)"

    def failure_line(self):
        """One line for a plan the lab could not run, with the log to read."""
        return "LAB FAILURE (after %d attempts): %s; serial log: %s" % (
            self.attempts, self.failure, self.log)

    def retry_line(self):
        """One line saying that this result needed the retry, and why; None
        when the first boot did it.  scripts/test.sh repeats these lines."""
        if not self.retried:
            return None
        return "LAB RETRIED: %s" % "; ".join(self.retried)


def parse_log(lines, result):
    runs = result.runs
    for raw in lines:
        line = raw.rstrip("\r\n").replace("\r", "")
        m = re.match(r"^LAB-RUN-BEGIN (\S+) t=([\d.]+)", line)
        if m:
            r = runs.setdefault(m.group(1), RunResult(m.group(1)))
            r.begun, r.t_begin = True, float(m.group(2))
            continue
        m = re.match(r"^LAB-RUN-END (\S+) rc=(\d+)(?: t=([\d.]+))?", line)
        if m:
            r = runs.setdefault(m.group(1), RunResult(m.group(1)))
            r.ended, r.rc = True, int(m.group(2))
            r.t_end = float(m.group(3)) if m.group(3) else None
            continue
        m = re.match(r"^LAB-RUN-HUNG (\S+)", line)
        if m and m.group(1) in runs:
            runs[m.group(1)].hung = True
            continue
        m = re.match(r"^LAB-RUN-MARK (\S+) (init|ready) t=([\d.]+)", line)
        if m and m.group(1) in runs:
            r = runs[m.group(1)]
            if m.group(2) == "init" and r.t_init is None:
                r.t_init = float(m.group(3))
            elif m.group(2) == "ready" and r.t_ready is None:
                r.t_ready = float(m.group(3))
            continue
        m = re.match(r"^LAB-RUN-KVM (\S+) (.*)", line)
        if m and m.group(1) in runs:
            kv = dict(re.findall(r"(\w+)=(\S+)", m.group(2)))
            runs[m.group(1)].kvm = {k: int(v) for k, v in kv.items() if v.isdigit()}
            continue
        m = re.match(r"^LAB-RUN-RSS (\S+) (.*)", line)
        if m and m.group(1) in runs:
            kv = dict(re.findall(r"(\w+)=(\S+)", m.group(2)))
            runs[m.group(1)].rss = {k: int(v) for k, v in kv.items() if v.isdigit()}
            continue
        m = re.match(r"^LAB-L1-UP t=([\d.]+)", line)
        if m:
            result.l1_up = float(m.group(1))
        m = re.match(r"^LAB-L1-KVM ok t=([\d.]+)", line)
        if m:
            result.l1_kvm = float(m.group(1))
        m = re.match(r"^([A-Za-z0-9_.-]+)(\||!\|) ?(.*)$", line)
        if m and m.group(1) in runs:
            r = runs[m.group(1)]
            if m.group(2) == "|":
                r.guest_lines.append(m.group(3))
                g = re.search(r"\bLAB ([a-z_]+)=(.*)$", m.group(3))
                if g and g.group(1) not in r.info:
                    r.info[g.group(1)] = g.group(2).strip()
            else:
                r.stderr_lines.append(m.group(3))
    return result


PANIC_RE = re.compile(r"Kernel panic - not syncing|BUG: kernel NULL pointer|general protection fault|"
                      r"Oops: |KVM internal error", re.I)
# L1 wedged: under TCG one L1 vCPU can stop answering IPIs while it runs L2,
# and the other then waits for it forever (seen with both VMMs).  L1 keeps
# printing the watchdog's reports, so silence alone would not catch it.
# A task of L1's own in D state for 120 s (khugepaged in flush_work, an
# exiting io_uring worker) is the same wedge, seen minutes before the run
# that hit it would be overdue: retried at once.
STUCK_RE = re.compile(r"BUG: soft lockup|rcu: INFO: \w+ (self-)?detected stall|"
                      r"INFO: task \S+ blocked for more than \d+ seconds")
# A run's own timeout and its LAB-RUN-HUNG watchdog live in L1. When one L1
# vCPU stops running tasks (seen: chaos-sigterm.1 begun, L1's ticks going on
# from the other vCPU, a kworker "blocked for more than 120 seconds", and
# neither the timeout nor the watchdog ever firing), only the plan's overall
# timeout would end the boot, 30 minutes later. So a run that has not ended
# well after both should have fired is L1's wedge, retried like the others.
# The slack covers L1's clock running slower than ours under TCG.
def run_overdue_after(tmo):
    return tmo * 1.25 + LAB_HUNG_GRACE + 60


LAB_HUNG_GRACE = 30     # lab_run's default (L1_LIB)


class Lab:
    def __init__(self, stream=None):
        os.makedirs(LAB_DIR, exist_ok=True)
        self.stream = stream if stream is not None else bool(os.environ.get("LAB_STREAM"))
        self.kernel = get_kernel()
        self._l2 = None
        self.l1_extra = None    # the L1Extra of the plan booting now

    def symbols_path(self):
        return os.path.join(self.kernel.root, "kallsyms-text")

    def symbols(self):
        """L1's kernel text symbols for the wedge probe, when fetched
        (fetch_symbols); without them, offsets from _stext."""
        kernel = getattr(self, "kernel", None)
        return l1.Symbols(self.symbols_path()) if kernel else None

    def fetch_symbols(self):
        """Boots L1 once to read its /proc/kallsyms (text symbols) into
        the kernel's cache; True when it is there."""
        if os.path.exists(self.symbols_path()):
            return True
        run = ShellRun("kallsyms", "hearth", "cat /proc/modules; grep ' [tT] ' /proc/kallsyms",
                       timeout=600)
        res = self.run_plan([run], tag="kallsyms", retries=1)
        r = res.runs.get("kallsyms")
        return bool(r) and l1.Symbols.write(self.symbols_path(), r.guest_lines)

    def l2_initrd(self):
        if self._l2 is None:
            self._l2 = build_l2_initrd(self.kernel)
        return self._l2

    def l1_argv(self, initrd, cmdline=None):
        cmdline = cmdline or L1_CMDLINE
        extra = getattr(self, "l1_extra", None)
        if extra and extra.cmdline:
            cmdline += " " + extra.cmdline
        qemu, data = l1.l1_qemu()
        return [qemu] + [a for d in data for a in ("-L", d)] + L1_QEMU_ARGS + (
            extra.qemu_args if extra else []) + [
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-kernel", self.kernel.vmlinuz, "-initrd", initrd, "-append", cmdline]

    def boot_l1(self, initrd, logpath, timeout, silence, run_limits=None):
        """run_limits: {run name: its timeout in L1}; a run that outlives it
        by run_overdue_after() is an L1 wedge (see there)."""
        """Boot L1 once, capture its serial console.  Returns (lines, failure)."""
        # The monitor: when L1 wedges, what its vCPUs were doing (l1.probe_vcpus).
        monitor = os.path.join(work_dir(), "l1-monitor.sock")
        if os.path.exists(monitor):
            os.unlink(monitor)
        argv = self.l1_argv(initrd) + ["-chardev", "stdio,id=c0,signal=off",
                                       "-serial", "chardev:c0",
                                       "-monitor", "unix:%s,server=on,wait=off" % monitor]
        self.last_probe = None
        start = time.monotonic()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, env=l1.l1_env())
        lines, buf, failure, last = [], b"", None, start
        done = panic = stuck = ticking = exited = False
        kvm_at = None        # when L1 said /dev/kvm is there, until its plan is under way
        run_limits, overdue = run_limits or {}, {}   # overdue: name -> deadline
        with open(logpath, "wb") as logf:
            while True:
                now = time.monotonic()
                if now - start > timeout:
                    failure = "L1 overall timeout (%ds)" % timeout
                    break
                if now - last > silence:
                    failure = "L1 silent for %ds" % silence
                    break
                if stuck:
                    failure = "L1 stuck (%s)" % stuck
                    break
                if kvm_at is not None and now - kvm_at > KEEPER_START_LIMIT:
                    failure = ("L1 silent for %ds after /dev/kvm (starting the keeper's VM)"
                               % KEEPER_START_LIMIT)
                    break
                late = [n for n, d in overdue.items() if now > d]
                if late:
                    failure = ("L1 stuck (run %s outlived its timeout and its watchdog: "
                               "neither fired in L1)" % late[0])
                    break
                r, _, _ = select.select([p.stdout], [], [], 1.0)
                if not r:
                    if p.poll() is not None:
                        # L1 may have written its last lines (LAB-L1-DONE)
                        # and exited after this select gave up: read once
                        # more before calling it stopped (CI, 2026-11-27).
                        if exited:
                            break
                        exited = True
                    continue
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                if not ticking:
                    last = time.monotonic()
                logf.write(chunk)
                logf.flush()
                if self.stream:
                    sys.stderr.buffer.write(chunk)
                    sys.stderr.flush()
                buf += chunk
                while b"\n" in buf:
                    ln, buf = buf.split(b"\n", 1)
                    s = ln.decode("utf-8", "replace")
                    lines.append(s)
                    if s.startswith("LAB-L1-DONE"):
                        done = True
                    if s.startswith("LAB-L1-KVM ok"):
                        kvm_at = time.monotonic()
                    elif s.startswith(("LAB-L1-KEEPER", "LAB-L1-TICK", "LAB-RUN-", "LAB-L1-DONE")):
                        kvm_at = None
                    m = re.match(r"^LAB-RUN-(BEGIN|END|HUNG) (\S+)", s)
                    if m and m.group(1) == "BEGIN" and m.group(2) in run_limits:
                        overdue[m.group(2)] = time.monotonic() + \
                            run_overdue_after(run_limits[m.group(2)])
                    elif m:
                        overdue.pop(m.group(2), None)
                    # Once L1 ticks, only its ticks prove it alive.
                    if s.startswith("LAB-L1-TICK") or s.startswith("LAB-RUN-END"):
                        ticking, last = True, time.monotonic()
                    if STUCK_RE.search(s) and "| " not in s[:40]:
                        stuck = s.strip()[:120]
                    # L1's own panic: an unprefixed kernel line (L2 output is
                    # prefixed with "name| ").
                    if PANIC_RE.search(s) and "| " not in s[:40]:
                        panic = True
            if buf:
                lines.append(buf.decode("utf-8", "replace"))
        if failure and p.poll() is None and os.path.exists(monitor):
            self.last_probe = l1.probe_vcpus(monitor, self.symbols(), l1.runtime_bases(lines))
            log("L1's vCPUs when it failed: " + " | ".join(self.last_probe))
        if p.poll() is None:
            p.kill()
        p.wait()
        wall = time.monotonic() - start
        if failure is None:
            if panic:
                failure = "L1 kernel panic/oops (see log)"
            elif not done:
                if not any(l.startswith("LAB-L1-UP") for l in lines):
                    failure = "L1 never reached /init (qemu rc=%s)" % p.returncode
                elif any(l.startswith("LAB-L1-KVM missing") for l in lines):
                    failure = "L1 has no /dev/kvm after loading kvm-amd"
                else:
                    failure = "L1 stopped before finishing the plan (qemu rc=%s)" % p.returncode
        return lines, failure, wall

    def run_plan(self, runs, tag="plan", retries=2, timeout=None, silence=None,
                 binaries=None, files=None, l1_extra=None):
        """Boots one L1 that performs all runs.  A lab failure (L1 panic,
        silence, timeout) is retried `retries` times, by an L1 that performs
        only the runs the failed boot did not end (each run is its own L2
        boot and needs nothing from another); the runs it did end keep their
        results.  The L1 limits are only against hangs: every L2 run has its
        own timeout inside L1.  binaries and files ({path in L1: path here})
        go into L1's image.  Two retries by default: a retry costs only what
        is left, and a wedge may come twice in a row (CI, 2026-11-26)."""
        def boot_of(todo):
            image = build_l1_initrd(self.kernel, todo, self.l2_initrd(), binaries=binaries,
                                    files=files,
                                    l1_modules=l1_extra.modules if l1_extra else ())
            limit = timeout or 300 + sum(r.timeout + 30 for r in todo)
            return image, limit, len(todo), {r.name: r.timeout for r in todo}

        def resume(ended):
            return boot_of([r for r in runs if r.name not in ended])

        image, limit, planned, limits = boot_of(runs)
        self.l1_extra = l1_extra
        try:
            return self.boot_with_retry(image, tag, limit, silence or HEARTBEAT_SILENCE,
                                        retries, planned, limits, resume=resume)
        finally:
            self.l1_extra = None

    def boot_with_retry(self, image, tag, timeout, silence, retries=1, planned=0,
                        run_limits=None, resume=None):
        """Boots L1 from this image until it runs to its end, at most
        1 + retries times; every boot is recorded in build/lab/boots.jsonl
        and a retried one is named in the result (retry_line).  With
        resume(names of the runs ended so far) -> (image, timeout, planned,
        run_limits), a retry boots only what is left, and the runs an
        earlier attempt ended stay in the result; when none is left, the
        failed boot's runs are the result."""
        result, retried, kept = None, [], {}
        for attempt in range(1 + retries):
            logpath = os.path.join(work_dir(), "%s-%d.log" % (tag, attempt + 1))
            log("booting L1 (attempt %d%s), serial log: %s"
                % (attempt + 1, ", %d runs left" % planned if kept else "", logpath))
            lines, failure, wall = self.boot_l1(image, logpath, timeout, silence, run_limits)
            rec = l1.record_boot(tag, attempt + 1, lines, failure, wall, planned,
                                 getattr(self, "last_probe", None))
            result = parse_log(lines, L1Result())
            result.log, result.failure, result.wall = logpath, failure, wall
            result.attempts = attempt + 1
            result.ok = failure is None
            result.retried = list(retried)
            result.runs = dict(kept, **result.runs)
            if result.l1_kvm is not None:
                log("L1 /init at %.1fs, /dev/kvm at %.1fs (L1 clock); L1 wall %.1fs"
                    % (result.l1_up or -1, result.l1_kvm, wall))
            if result.ok:
                if retried:
                    log(result.retry_line())
                break
            retried.append("attempt %d: %s at %s (%s; log %s)"
                           % (attempt + 1, rec["kind"], rec["where"], failure, logpath))
            log("LAB FAILURE: %s (%s at %s)" % (failure, rec["kind"], rec["where"]))
            for l in lines[-15:]:
                log("  | " + l)
            if resume is None:
                continue
            kept = {n: r for n, r in result.runs.items() if r.ended}
            image, timeout, planned, run_limits = resume(set(kept))
            if planned == 0:
                # Every run ended before L1 failed: nothing to boot again for.
                result.ok, result.retried = True, list(retried)
                log(result.retry_line() + "; every run had ended")
                break
        return result

    def demo_initrd(self, input_text=None):
        """L2 initrd whose /init gives a shell on the console (or, with
        input_text, runs it as the shell's stdin), then powers off."""
        if input_text is not None:
            d = os.path.join(LAB_DIR, "demo-input")
            with open(d, "w") as f:
                f.write(input_text)
            return build_l2_initrd(self.kernel, name="l2demo-in", files={"/lab/input": d})
        return build_l2_initrd(self.kernel, name="l2demo")

    def demo_argv(self, vmm, tty, input_text=None):
        """QEMU argv for the demo: L1 whose serial is this terminal, running
        the VMM on its console, which runs L2's shell."""
        l2 = self.demo_initrd(input_text)
        r = Run("demo", vmm=vmm, cpus=2, memory=512, initrd=l2, cmdline=DEMO_CMDLINE)
        image = build_l1_initrd(self.kernel, [], l2, interactive=r, tty=tty)
        return self.l1_argv(image, L1_CMDLINE + " quiet loglevel=1") + [
            "-chardev", "stdio,id=c0,signal=off", "-serial", "chardev:c0"]


DEMO_CMDLINE = "console=ttyS0 panic=-1 quiet lab.action=shell"


def report(res, runs, tail=40):
    """The end of a lab test's main(): the lab's failure line (exit 3), a
    retried boot's line, then each run's checks as PASS/FAIL lines, a
    failed run's last lines after them, and the count. runs is
    [(name, checks)], checks(r) yielding (ok, description). Returns the
    exit code: 0 all passed, 1 a check failed, 3 the lab failed."""
    if not res.ok:
        print(res.failure_line())
        return 3
    if res.retry_line():
        print(res.retry_line())
    passed = failed = 0
    for name, checks in runs:
        r = res.runs.get(name)
        results = [(False, "%s: run started and ended" % name)] if r is None or not r.ended \
            else list(checks(r))
        for ok, desc in results:
            print("%s %s" % ("PASS" if ok else "FAIL", desc))
            passed += ok
            failed += not ok
        if r is not None and not all(ok for ok, _ in results):
            for line in (r.guest_lines + ["stderr:"] + r.stderr_lines)[-tail:]:
                print("  | " + line)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def standalone(doc, tag, plan, checks, tools=None, files=None, hint="", l1_extra=None):
    """main() of a lab test whose runs also join another L1 boot (test_api.py's):
    --hearth and --stream; the tools it needs in L1 ({path in L1: path here})
    checked first (a missing one fails, naming hint); plan(kernel) -> runs and
    files(tmpdir) -> {path in L1: path here}, made in a directory that outlives
    the boot; l1_extra() -> the L1Extra the boot needs; then one L1 boot and
    report(res, checks). Returns the exit code."""
    import tempfile
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    tools = tools or {}
    missing = [k for k, v in tools.items() if not v]
    if missing:
        print("FAIL %s not found (%s)" % (missing, hint))
        print("0 passed, 1 failed")
        return 1
    with tempfile.TemporaryDirectory() as d:
        try:
            lab = Lab(stream=a.stream or None)
            res = lab.run_plan(plan(lab.kernel), tag=tag, binaries=tools,
                               files=files(d) if files else None,
                               l1_extra=l1_extra() if l1_extra else None)
        except LabError as e:
            print("LAB FAILURE: %s" % e)
            return 3
    return report(res, checks)


def fmt_run(r):
    out = ["--- run %s rc=%s boot=%s" % (r.name, r.rc, r.boot_seconds())]
    out += ["  guest| " + l for l in r.guest_lines]
    out += ["  stderr| " + l for l in r.stderr_lines]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["prepare", "smoke", "demo", "demo-initrd", "kernel-path"])
    ap.add_argument("--vmm", default="qemu", choices=sorted(VMM_TEMPLATES))
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--cmdline", default="console=ttyS0 panic=-1 lab.wait=2",
                    help="smoke: L2 kernel command line")
    ap.add_argument("--input", help="demo: file with shell input (non-interactive)")
    ap.add_argument("--tty", action="store_true", help="demo: L1 console is a terminal")
    a = ap.parse_args()
    try:
        lab = Lab(stream=a.stream or None)
        if a.cmd == "prepare":
            print(lab.l2_initrd())
        elif a.cmd == "kernel-path":
            print(lab.kernel.vmlinuz)
        elif a.cmd == "smoke":
            res = lab.run_plan([Run("smoke", vmm=a.vmm, rss=True,
                                    cmdline=a.cmdline, timeout=120)], tag="smoke")
            for r in res.runs.values():
                print(fmt_run(r))
                print("rss:", r.rss)
            print("lab ok" if res.ok else "LAB FAILURE: %s" % res.failure)
            return 0 if res.ok else 3
        elif a.cmd == "demo-initrd":
            text = open(a.input).read() if a.input else None
            print(lab.kernel.vmlinuz)
            print(lab.demo_initrd(text))
            print(DEMO_CMDLINE)
        elif a.cmd == "demo":
            text = open(a.input).read() if a.input else None
            argv = lab.demo_argv(a.vmm, a.tty, text)
            sys.stdout.flush()
            os.execvp(argv[0], argv)
    except LabError as e:
        print("LAB FAILURE: %s" % e, file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
