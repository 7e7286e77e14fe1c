"""What the lab boots (tests/lab/lab.py boots it): the stock Debian kernel
(Kernel, get_kernel), the staging Tree an initramfs is packed from, L2's
initramfs (build_l2_initrd, its /init in L2_INIT), L1's initramfs
(build_l1_initrd: busybox, the kvm modules, the VMMs, L2's kernel and
initrds and the plan; its /init in L1_INIT; L1Extra, what a plan adds to
L1) and the vmlinux inside a bzImage (extract_vmlinux, vmlinux_without_pvh).

The kernel and the L2 initrds are cached under build/lab/ (by package
version, by a hash of their inputs); L1's image is made in this process's
work_dir().  Callers use these through lab.py (`import lab as L`), which
re-exports them.
"""
import hashlib
import os
import re
import shlex
import shutil
import stat
import struct
import subprocess

import l1
from lab_base import (KERNEL_META, L1_BIN, L1_KERNEL, L1_QEMU_DATA, LAB_DIR, VMM_TEMPLATES,
                      LabError, log, sh, sh_out, work_dir)
from lab_plan import L1_LIB, vmm_binary

BUSYBOX = "/bin/busybox"
MODINFO = shutil.which("modinfo") or "/sbin/modinfo"
# The microvm peer's firmware in L1: name there -> names to look for here,
# in /usr/share/qemu, then /usr/share/seabios.  microvm's BIOS is qboot, as
# QEMU 7.2 shipped it (10.0's bios-microvm.bin is SeaBIOS's).
QEMU_FIRMWARE = {"bios-microvm.bin": ["qboot.rom", "bios-microvm.bin"], "qboot.rom": ["qboot.rom"],
                 "linuxboot_dma.bin": ["linuxboot_dma.bin"], "kvmvapic.bin": ["kvmvapic.bin"],
                 # q35 (the boot bench's PCI peer) boots through SeaBIOS.
                 "bios-256k.bin": ["bios-256k.bin"]}
QEMU_FIRMWARE_DIRS = ["/usr/share/qemu", "/usr/share/seabios"]
# The modules L1's /init loads, in this order (a plan's L1Extra adds its own).
# LAB_L1_NPT=1 (a lever of the wedge study, l1.py) gives L1's KVM nested
# paging: QEMU 10's TCG runs a stock L2 only so (test_sriov_igb.py).
L1_MODULES = [("irqbypass", ""), ("kvm", ""),
              ("kvm-amd", "npt=%d" % (os.environ.get("LAB_L1_NPT") == "1"))]


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
# The kernel's PCI lines from its own log: a quiet console (loglevel=5) leaves them out.
dmesg | grep -E 'MMCONFIG at|PCI Root Bridge|PCI: Fatal|does not support PCI' | sed 's/^/LAB dmesg /'
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


class L1Extra:
    """What one plan adds to L1: QEMU arguments (devices), words on its
    kernel command line, modules (name, args) its /init loads, and
    host_root: this host's root shared with L1 (l1.HostRoot, a virtiofsd
    for each boot)."""

    def __init__(self, qemu_args=(), cmdline="", modules=(), host_root=False):
        self.qemu_args, self.cmdline, self.modules = list(qemu_args), cmdline, list(modules)
        self.host_root = host_root


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
