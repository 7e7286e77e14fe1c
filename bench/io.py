#!/usr/bin/env python3
"""I/O benchmark in the lab: Hearth vs QEMU microvm, in ONE L1 boot.

    bench/run.sh --io [-n N] [--runtime S] [--net-time S] [--cache writeback|none]
                      [--vmm hearth,qemu,qemu-q35] [--stream]

Both VMMs boot the same stock kernel and L2 initramfs (2 vCPUs, 512 MiB) and
get the same disk: a 256 MiB raw image on the host, attached to L1 as its
virtio-pci disk and handed to the VMM as /dev/vda (cache=writeback by
default; L1 reads the whole device first, so L2's I/O is served from L1's
page cache and the numbers are about the VMM's virtio-blk path, not about the
disk that TCG emulates for L1).  Per VMM and repeat, two L2 boots:

  <vmm>_io_<i>   virtio-blk + --net user.  fio (libaio, direct=1) on /dev/vda:
                 4k random read iodepth 16, 1M sequential read iodepth 4,
                 1M sequential write iodepth 4, each --runtime S (ramp 2 s);
                 then iperf3 from L2 to a server on L1's loopback
                 (10.0.2.2 through slirp), guest->L1 (tx) and L1->guest (rx, -R).
  <vmm>_tap_<i>  --net tap: tap0 in L1 (192.168.100.1) <-> L2 (192.168.100.2),
                 iperf3 tx and rx, vhost off (Hearth's vhost=off, QEMU's vhost=off).
  <vmm>_vhost_<i> the same with vhost-net (vhost=on for both).
  <vmm>_vub_<i>  the disk as a vhost-user block device: qemu-storage-daemon in
                 L1 exports /dev/vda (host_device, through L1's page cache)
                 and the VMM forwards the rings (Hearth's --disk socket=,
                 QEMU's vhost-user-blk on a shared memfd backend); the same
                 fio jobs.
  <vmm>_vfs_<i>  virtio-fs: virtiofsd (QEMU 7.2's, the same for both) in L1
                 shares a directory holding a 256 MiB file (a copy of the
                 disk, in L1's RAM) and the VMM forwards the rings
                 (Hearth's --fs, QEMU's vhost-user-fs on a shared memfd
                 backend); the guest mounts it and runs the same fio jobs on
                 the file (direct=1, so each I/O is a FUSE request).
--modes user,tap,vhost,vub,vfs picks which (default all).
--vmm qemu-q35 adds QEMU's PC machine (q35: SeaBIOS, then the kernel through
fw_cfg), its devices always virtio-pci: the peer PCI VMs usually are;
hearth-pci and qemu-pci are Hearth and QEMU microvm on virtio-pci whatever
--transport says, so one run can hold both transports:
--vmm hearth,qemu,hearth-pci,qemu-pci,qemu-q35. Each Hearth column is set
against each QEMU one on its transport. hearth-q1 is Hearth with one queue
pair on its TAP NIC (queues=1; --net-queues sets it for every Hearth column),
qemu-mq QEMU with Hearth's default, a queue pair per vCPU (tap queues=2, mq=on).
Every fio job also counts the guest's virtio interrupts (/proc/interrupts)
over the job: the interrupts-per-I/O rows (the job's ramp is in the count, so
its I/Os are scaled up to the job's length).
And once, before them, the limit: the same fio jobs in L1 itself on /dev/vda
through its page cache (io_uring, buffered: what a VMM with cache=writeback
can reach) and iperf3 over L1's loopback; each VMM's row is also given as a
fraction of it.

fio and iperf3 come from Debian packages (apt-get download + dpkg-deb -x into
build/bench/tools/), copied into the L2 initramfs with their ldd libraries;
iperf3 is also appended to L1's initramfs (the server).  Prints a table
(metric, hearth, qemu, hearth/qemu; medians over N, 3 by default) and writes it to
build/bench/io-results.txt.  Never fails on the numbers: exit 0 when every
run completed and reported every metric, 1 when a run or a measurement could
not complete (with the reason), 3 when the lab itself failed.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402

BENCH_DIR = os.path.join(REPO, "build", "bench")
TOOLS_DIR = os.path.join(BENCH_DIR, "tools")
IMG = os.path.join(BENCH_DIR, "io-disk.img")
RESULTS = os.path.join(BENCH_DIR, "io-results.txt")
IMG_MB = 256
PACKAGES = ["fio", "iperf3", "libiperf0"]
MULTIARCH_LIB = "/lib/x86_64-linux-gnu"

# fio and iperf3 as L2 and L1 (the limit) run them: "LAB fio_<key>=..." and
# "LAB net_<key>_tx|rx=Mbit/s". $rt and $nt are the runtimes; $fio_mode the engine.
SH_MEASURE = r'''
vio_irqs() { # the interrupts of the virtio devices so far, all CPUs
  awk '/virtio/ {for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; else break}
       END {print s + 0}' /proc/interrupts
}
run_fio() { # key fio-args...: "LAB fio_<key>=error;rkB;rKiB/s;riops;wkB;wKiB/s;wiops"
  # and "LAB irq_<key>=<virtio interrupts> <seconds>" over the job (its ramp too)
  key=$1; shift
  i0=$(vio_irqs); read u0 _ </proc/uptime
  out=$(timeout $((rt + 90)) fio --name="$key" --filename=${fio_file:-/dev/vda} ${fio_mode:---ioengine=libaio --direct=1} \
        --thread --time_based --runtime="$rt" --ramp_time=2 \
        --output-format=terse --terse-version=3 "$@" 2>/tmp/fio.err)
  rc=$?
  i1=$(vio_irqs); read u1 _ </proc/uptime
  line=$(echo "$out" | grep '^3;' | tail -1)
  if [ $rc = 0 ] && [ -n "$line" ]; then
    echo "LAB irq_$key=$((i1 - i0)) $(awk "BEGIN {print $u1 - $u0}")"
    echo "LAB fio_$key=$(echo "$line" | cut -d';' -f5-8,47-49)"
  else
    echo "LAB fio_$key=failed rc=$rc"; tail -5 /tmp/fio.err; echo "$out" | tail -3
  fi
}
run_iperf() { # key server: "LAB net_<key>_tx=Mbit/s" (guest sends), _rx (-R)
  key=$1; to=$2   # not $srv: L1_LIMIT's server pid
  for dir in tx rx; do
    flag=; [ $dir = rx ] && flag=-R
    out=$(timeout $((nt + 60)) iperf3 -c "$to" -t "$nt" -f m --connect-timeout 5000 $flag 2>&1)
    rc=$?
    mb=$(echo "$out" | awk '/receiver *$/ {print $(NF-2)}' | tail -1)
    if [ $rc = 0 ] && [ -n "$mb" ]; then
      echo "LAB net_${key}_$dir=$mb"
    else
      echo "LAB net_${key}_$dir=failed rc=$rc"; echo "$out" | tail -5
    fi
  done
}
'''

# Runs before "LAB ready" in L2.  lab.io=user|tap, lab.rt= fio runtime,
# lab.nt= iperf3 time.  LAB keys allow only [a-z_].
L2_EXTRA = SH_MEASURE + r'''
io=; rt=15; nt=10
for w in $(cat /proc/cmdline); do
  case "$w" in
    lab.io=*) io=${w#lab.io=} ;;
    lab.rt=*) rt=${w#lab.rt=} ;;
    lab.nt=*) nt=${w#lab.nt=} ;;
  esac
done
[ -z "$io" ] && exit 0
ip link set lo up
wait_for() { i=0; while [ ! -e "$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; [ -e "$1" ]; }
if [ "$io" = user ] || [ "$io" = vub ]; then
  if wait_for /dev/vda; then
    echo "LAB blk_sectors=$(cat /sys/block/vda/size)"
    run_fio randread --rw=randread --bs=4k --iodepth=16
    run_fio seqread --rw=read --bs=1M --iodepth=4
    run_fio seqwrite --rw=write --bs=1M --iodepth=4
  else
    echo "LAB blk_sectors=missing"
  fi
fi
if [ "$io" = vfs ]; then
  mkdir -p /mnt/vfs
  n=0; until mount -t virtiofs bench /mnt/vfs 2>/tmp/merr; do
    n=$((n+1)); [ $n -ge 50 ] && break; sleep 0.1; done
  echo "LAB vfs_size=$(stat -c %s /mnt/vfs/f 2>/dev/null || echo missing $(head -c 100 /tmp/merr))"
  fio_file=/mnt/vfs/f
  run_fio randread --rw=randread --bs=4k --iodepth=16
  run_fio seqread --rw=read --bs=1M --iodepth=4
  run_fio seqwrite --rw=write --bs=1M --iodepth=4
  exit 0
fi
[ "$io" = vub ] && exit 0
if ! wait_for /sys/class/net/eth0; then echo "LAB nic=missing"; ls /sys/class/net; exit 0; fi
if [ "$io" = user ]; then
  ip addr add 10.0.2.15/24 dev eth0; ip link set eth0 up
  ip route add default via 10.0.2.2
  run_iperf user 10.0.2.2
else
  ip addr add 192.168.100.2/24 dev eth0; ip link set eth0 up
  i=0; until ping -c 1 -W 1 192.168.100.1 >/dev/null 2>&1; do
    i=$((i+1)); [ $i -gt 60 ] && break
  done
  echo "LAB tap_ping_tries=$i"
  run_iperf tap 192.168.100.1
fi
'''

# L1 around the VMM: an iperf3 server (and, for tap, tap0's address once the
# VMM has created it).  Helpers must not hold the console fifo open.
L1_WRAP = r'''
ip link set lo up
iperf3 -s >/dev/null 2>&1 </dev/null &
srv=$!
helper=
if [ "$LAB_IO" = vub ]; then
  rm -f /tmp/vub.sock
  /lab/bin/qemu-storage-daemon --blockdev driver=host_device,node-name=d0,filename=/dev/vda,cache.direct=off \
    --export type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=/tmp/vub.sock,writable=on \
    >/tmp/qsd.log 2>&1 </dev/null &
  helper=$! hname=qemu-storage-daemon hlog=/tmp/qsd.log hsock=/tmp/vub.sock
  i=0; while [ ! -S /tmp/vub.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
fi
if [ "$LAB_IO" = vfs ]; then
  mkdir -p /tmp/vfsdir
  [ -s /tmp/vfsdir/f ] || dd if=/dev/vda of=/tmp/vfsdir/f bs=1M 2>/dev/null
  rm -f /tmp/vfs.sock
  /lab/bin/virtiofsd --socket-path=/tmp/vfs.sock -o source=/tmp/vfsdir -o sandbox=chroot \
    >/tmp/vfsd.log 2>&1 </dev/null &
  helper=$! hname=virtiofsd hlog=/tmp/vfsd.log hsock=/tmp/vfs.sock
  i=0; while [ ! -S /tmp/vfs.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
fi
# A vhost-user daemon that failed says why itself (the VMM only sees no socket).
helper_said() {
  if [ -n "$hlog" ] && [ -z "$hsaid" ]; then
    hsaid=1
    echo "lab-io: $hname $1; its last output:" >&2
    { [ -s "$hlog" ] && tail -n 3 "$hlog" || echo "(none)"; } 2>&1 | sed 's/^/lab-io:   /' >&2
  fi
}
hsaid=
[ -n "$hsock" ] && [ ! -S "$hsock" ] && helper_said "made no $hsock in 10 s"
if [ "$LAB_IO" = tap ]; then
  (
    i=0
    while ! ip link show tap0 >/dev/null 2>&1; do
      i=$((i+1)); [ $i -gt 1200 ] && exit 0; sleep 0.1
    done
    ip addr add 192.168.100.1/24 dev tap0 && ip link set tap0 up
  ) >/dev/null 2>&1 </dev/null &
  helper=$!
fi
# The VMM ends before the run's own timeout (LAB_TMO), whose SIGKILL would end this shell
# only: a VMM left behind holds /dev/vda's lock, tap0 and its RAM through the runs after.
tmo=$((LAB_TMO - 20))
timeout -s KILL $tmo "$@"; rc=$?
[ $rc = 137 ] && echo "lab-io: the VMM had not ended after $tmo s (its run's timeout): killed" >&2
if [ -n "$hlog" ] && ! kill -0 $helper 2>/dev/null; then
  wait $helper; hrc=$?
  # virtiofsd ends by itself when the VMM's connection closes.
  [ $hrc != 0 ] || [ $rc != 0 ] && helper_said "exited (status $hrc) before the VMM was done"
fi
kill $srv $helper 2>/dev/null; wait
timeout 120 sync
exit $rc
'''

# First step in L1: read the whole disk so L2's I/O is served from L1's page cache.
L1_WARM = r'''i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
read t0 _ </proc/uptime
dd if=/dev/vda of=/dev/null bs=1M 2>/dev/null && r=ok || r=failed
read t1 _ </proc/uptime
echo "LAB warm=$r sectors=$(cat /sys/block/vda/size 2>/dev/null) t0=$t0 t1=$t1"'''

# The limit: the same jobs in L1 itself, on the device and the network stack
# the VMMs use. fio on /dev/vda through L1's page cache as a VMM with
# cache=writeback reaches it (io_uring, buffered), iperf3 over L1's loopback.
L1_LIMIT = SH_MEASURE + r'''
rt=@RT@; nt=@NT@; fio_mode="--ioengine=io_uring --direct=0"
ip link set lo up
run_fio randread --rw=randread --bs=4k --iodepth=16
run_fio seqread --rw=read --bs=1M --iodepth=4
run_fio seqwrite --rw=write --bs=1M --iodepth=4
iperf3 -s >/dev/null 2>&1 </dev/null &
srv=$!
sleep 1
run_iperf limit 127.0.0.1
# Only the server: a bare wait hung here past the run's timeout.
kill -9 $srv 2>/dev/null; wait $srv
# Its writes reach the disk now, not during the next run's measurement.
timeout 120 sync
'''

METRICS = [  # (key, label, unit, how to get it from a run's info)
    ("randread_iops", "fio 4k randread qd16", "IOPS"),
    ("seqread_mib", "fio 1M seq read qd4", "MiB/s"),
    ("seqwrite_mib", "fio 1M seq write qd4", "MiB/s"),
    ("user_tx", "iperf3 user, guest->L1", "Mbit/s"),
    ("user_rx", "iperf3 user, L1->guest", "Mbit/s"),
    ("tap_tx", "iperf3 tap, guest->L1", "Mbit/s"),
    ("tap_rx", "iperf3 tap, L1->guest", "Mbit/s"),
    ("vhost_tx", "iperf3 tap+vhost, guest->L1", "Mbit/s"),
    ("vhost_rx", "iperf3 tap+vhost, L1->guest", "Mbit/s"),
    ("vub_randread_iops", "vhost-user 4k randread qd16", "IOPS"),
    ("vub_seqread_mib", "vhost-user 1M seq read qd4", "MiB/s"),
    ("vub_seqwrite_mib", "vhost-user 1M seq write", "MiB/s"),
    ("vfs_randread_iops", "virtio-fs 4k randread qd16", "IOPS"),
    ("vfs_seqread_mib", "virtio-fs 1M seq read qd4", "MiB/s"),
    ("vfs_seqwrite_mib", "virtio-fs 1M seq write qd4", "MiB/s"),
    ("randread_irq", "interrupts per I/O, 4k randread", "irq/IO"),
    ("seqread_irq", "interrupts per I/O, 1M seq read", "irq/IO"),
    ("seqwrite_irq", "interrupts per I/O, 1M seq write", "irq/IO"),
]
MODES = ("user", "tap", "vhost", "vub", "vfs")
# Which of the limit run's figures each row is measured against.
LIMIT_OF = {"randread_iops": "randread_iops", "seqread_mib": "seqread_mib",
            "seqwrite_mib": "seqwrite_mib", "vub_randread_iops": "randread_iops",
            "vub_seqread_mib": "seqread_mib", "vub_seqwrite_mib": "seqwrite_mib",
            "vfs_randread_iops": "randread_iops", "vfs_seqread_mib": "seqread_mib",
            "vfs_seqwrite_mib": "seqwrite_mib"}
LIMIT_OF.update({k + d: "limit_" + d[1:] for k in ("user", "tap", "vhost")
                 for d in ("_tx", "_rx")})
LIMIT_OF.update({k: k for k in ("randread_irq", "seqread_irq", "seqwrite_irq")})


def log(msg):
    print("bench-io: " + msg, flush=True)


class BenchError(Exception):
    pass


# ------------------------------------------------------------------ tools

def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, **kw)


def installed(pkg):
    r = run(["dpkg-query", "-W", "-f=${Status}", pkg])
    return r.returncode == 0 and "install ok installed" in r.stdout


def direct_depends(pkg):
    """First alternative of each Depends/PreDepends of pkg."""
    r = run(["apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts",
             "--no-breaks", "--no-replaces", "--no-enhances", pkg])
    if r.returncode != 0:
        raise BenchError("apt-cache depends %s failed: %s" % (pkg, r.stdout.strip()))
    deps, alt = [], False
    for line in r.stdout.splitlines():
        m = re.match(r"^\s*(\|?)(Pre)?Depends:\s*(\S+)", line)
        if not m:
            continue
        name = m.group(3)
        if not alt and not name.startswith("<"):
            deps.append(name.split(":")[0])
        alt = m.group(1) == "|"
    return deps


def apt_update():
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run(sudo + ["apt-get", "update", "-q"], stdout=subprocess.DEVNULL)


def get_tools():
    """fio and iperf3 extracted from Debian packages (plus the library
    packages the host lacks), cached in build/bench/tools/."""
    root = os.path.join(TOOLS_DIR, "root")
    stamp = os.path.join(TOOLS_DIR, ".ok")
    if not os.path.exists(stamp):
        shutil.rmtree(TOOLS_DIR, ignore_errors=True)
        dl = os.path.join(TOOLS_DIR, "debs")
        os.makedirs(dl)
        want, queue, seen = [], list(PACKAGES), set()
        while queue:
            p = queue.pop(0)
            if p in seen:
                continue
            seen.add(p)
            if p in PACKAGES or not installed(p):
                want.append(p)
                queue += direct_depends(p)
        # Only libraries matter in the initramfs; skip maintainer-script deps.
        want = [p for p in want if p in PACKAGES or p.startswith("lib")]
        log("downloading %s" % " ".join(want))
        cmd = ["apt-get", "download"] + want
        if run(cmd, cwd=dl).returncode != 0:
            apt_update()
            r = run(cmd, cwd=dl)
            if r.returncode != 0:
                raise BenchError("apt-get download %s failed:\n%s" % (" ".join(want), r.stdout))
        for deb in sorted(os.listdir(dl)):
            L.sh(["dpkg-deb", "-x", os.path.join(dl, deb), root])
        with open(stamp, "w") as f:
            f.write(" ".join(want) + "\n")
    fio = os.path.join(root, "usr", "bin", "fio")
    iperf3 = os.path.join(root, "usr", "bin", "iperf3")
    for b in (fio, iperf3):
        if not os.path.exists(b):
            raise BenchError("%s missing after extracting the packages (rm -r %s and retry)"
                             % (b, TOOLS_DIR))
    return root, fio, iperf3


def binary_files(root, binary, dst):
    """{path in initramfs: source} for a binary from the tools tree and the
    libraries ldd resolves for it (ours first, then the host's)."""
    # Every directory of the extracted packages that holds libraries: some
    # sit in private ones found through RUNPATH (librados2's ceph/).
    libdirs = sorted({d for d, _, fs in os.walk(root) if any(".so" in f for f in fs)})
    env = dict(os.environ, LD_LIBRARY_PATH=":".join(libdirs))
    out = run(["ldd", binary], env=env).stdout
    files = {dst: binary}
    for line in out.splitlines():
        if "not found" in line:
            raise BenchError("ldd %s: %s" % (binary, line.strip()))
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if not m:
            continue
        lib = m.group(1)
        if os.path.realpath(lib).startswith(os.path.realpath(root) + os.sep):
            files[MULTIARCH_LIB + "/" + os.path.basename(lib)] = lib
        else:
            files[lib] = lib       # the loader finds it by this (soname) path
    return files


def pack_extra(files, out):
    """A newc cpio holding files; appended to L1's initramfs."""
    stage = tempfile.mkdtemp(dir=BENCH_DIR)
    try:
        for dst, src in files.items():
            p = os.path.join(stage, dst.lstrip("/"))
            os.makedirs(os.path.dirname(p), exist_ok=True)
            shutil.copyfile(src, p)
            os.chmod(p, 0o755)
        find = subprocess.Popen(["find", ".", "-mindepth", "1", "-print0"], cwd=stage,
                                stdout=subprocess.PIPE)
        with open(out, "wb") as f:
            L.sh(["cpio", "--null", "-o", "-H", "newc", "-R", "0:0", "--quiet"],
                 cwd=stage, stdin=find.stdout, stdout=f)
        find.wait()
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out


def make_image():
    os.makedirs(BENCH_DIR, exist_ok=True)
    if os.path.exists(IMG) and os.path.getsize(IMG) == IMG_MB << 20:
        return
    log("creating %s (%d MiB of random data)" % (IMG, IMG_MB))
    with open(IMG + ".tmp", "wb") as f:
        for _ in range(IMG_MB):
            f.write(os.urandom(1 << 20))
    os.replace(IMG + ".tmp", IMG)


# ------------------------------------------------------------------ plan

class IoLab(L.Lab):
    """L1 with the image as its virtio-pci disk /dev/vda."""

    def l1_argv(self, initrd, cmdline=None):
        return super().l1_argv(initrd, cmdline) + [
            "-drive", "file=%s,format=raw,if=virtio,cache=writeback" % IMG]


class WrappedRun(L.Run):
    """A VMM run inside an L1 shell script (iperf3 server, tap0 setup)."""

    def __init__(self, name, mode, **kw):
        super().__init__(name, **kw)
        self.mode = mode

    def argv(self, l1_initrd_path):
        a = super().argv(l1_initrd_path)
        if self.machine.startswith("q35"):
            i = a.index("i8042")          # the PC machine has its own
            del a[i - 1:i + 1]
        return ["env", "LAB_IO=" + self.mode, "LAB_TMO=%d" % self.timeout, "/bin/sh", "-c",
                L1_WRAP, "lab-io"] + a


def pci_devices(args):
    """QEMU's arguments with its virtio-mmio devices as virtio-pci ones (no option ROM: the
    kernel is booted directly, and L1 has none of the ROM files; vhost-user-blk-pci asks for
    a queue per vCPU by default, the daemon's export has one, as on virtio-mmio)."""
    return [a.replace("virtio-blk-device", "virtio-blk-pci")
            .replace("virtio-net-device", "virtio-net-pci,romfile=")
            .replace("vhost-user-blk,", "vhost-user-blk-pci,num-queues=1,")
            .replace("vhost-user-fs-device,", "vhost-user-fs-pci,") for a in args]


# --vmm names: (the lab's VMM, QEMU's machine on virtio-mmio, on PCI). qemu-q35 is the PC
# machine (SeaBIOS, then the kernel through fw_cfg), whose devices are always on PCI.
VMMS = {"hearth": ("hearth", "microvm", "microvm", False),
        "qemu": ("qemu", "microvm", "microvm,pcie=on", False),
        "qemu-q35": ("qemu", "q35", "q35", True),
        # On PCI whatever --transport says: one run can hold both transports.
        "hearth-pci": ("hearth", "microvm", "microvm", True),
        "qemu-pci": ("qemu", "microvm,pcie=on", "microvm,pcie=on", True),
        # Hearth with one queue pair on its TAP NIC (queues=1), beside the default.
        "hearth-q1": ("hearth", "microvm", "microvm", False),
        # QEMU with Hearth's default: a queue pair per vCPU (tap queues=2, mq=on).
        "qemu-mq": ("qemu", "microvm", "microvm,pcie=on", False)}
# A TAP NIC's queue pairs where a variant fixes them (else --net-queues' for Hearth).
NET_QUEUES_OF = {"hearth-q1": 1, "qemu-mq": 2}


def on_pci(vmm, transport):
    return transport == "pci" or VMMS[vmm][3]


def vmm_args(vmm, mode, cache, transport="mmio", memory=512):
    """The VMM's device arguments; on PCI, Hearth's --pci and QEMU's -pci devices."""
    a = vmm_mmio_args(VMMS[vmm][0], mode, cache, memory, NET_QUEUES_OF.get(vmm, NET_QUEUES))
    if not on_pci(vmm, transport):
        return a
    return a + ["--pci"] if VMMS[vmm][0] == "hearth" else pci_devices(a)


# --net-queues: Hearth's TAP NIC's queue pairs (its queues=; None: one per vCPU).
NET_QUEUES = None


def vmm_mmio_args(vmm, mode, cache, memory, queues=None):
    if mode == "vfs" and vmm == "hearth":
        return ["--fs", "tag=bench,socket=/tmp/vfs.sock"]
    if mode == "vfs":
        return ["-global", "virtio-mmio.force-legacy=false",
                "-object", "memory-backend-memfd,id=mem,size=%dM,share=on" % memory,
                "-machine", "memory-backend=mem", "-chardev", "socket,id=vfs,path=/tmp/vfs.sock",
                "-device", "vhost-user-fs-device,chardev=vfs,tag=bench"]
    if mode == "vub" and vmm == "hearth":
        return ["--disk", "socket=/tmp/vub.sock"]
    if mode == "vub":
        # The backend maps guest RAM: QEMU's must be a shared file too. microvm's
        # virtio-mmio is legacy by default, which libvhost-user refuses.
        return ["-global", "virtio-mmio.force-legacy=false",
                "-object", "memory-backend-memfd,id=mem,size=%dM,share=on" % memory,
                "-machine", "memory-backend=mem", "-chardev", "socket,id=vu,path=/tmp/vub.sock",
                "-device", "vhost-user-blk,chardev=vu"]
    if vmm == "hearth":
        a = []
        if mode == "user":
            # iperf3's server is on L1's loopback, which Hearth closes by default.
            a += ["--disk", "path=/dev/vda,cache=%s" % cache, "--net", "user,host-loopback=on"]
        else:
            a += ["--net", "tap=tap0,vhost=%s%s" % ("on" if mode == "vhost" else "off",
                                                   ",queues=%d" % queues if queues
                                                   else "")]
        return a
    if mode == "user":
        return ["-drive", "id=d0,file=/dev/vda,format=raw,if=none,cache=%s" % cache,
                "-device", "virtio-blk-device,drive=d0",
                "-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0"]
    mq = queues and queues > 1
    return ["-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=%s%s" % (
        "on" if mode == "vhost" else "off", ",queues=%d" % queues if mq else ""),
        "-device", "virtio-net-device,netdev=n0" + (",mq=on" if mq else "")]


def plan(vmms, n, l2, a):
    io_tmo = 150 + 3 * (a.runtime + 40) + 2 * (a.net_time + 40)
    tap_tmo = 150 + 2 * (a.net_time + 40) + 60
    vub_tmo = 150 + 3 * (a.runtime + 40)
    limit = L1_LIMIT.replace("@RT@", str(a.runtime)).replace("@NT@", str(a.net_time))
    runs = [L.ShellRun("warm", vmms[0], L1_WARM, timeout=300),
            L.ShellRun("limit", vmms[0], limit, timeout=io_tmo)]
    for i in range(1, n + 1):
        for mode, tmo in (("user", io_tmo), ("tap", tap_tmo), ("vhost", tap_tmo),
                          ("vub", vub_tmo), ("vfs", vub_tmo)):
            if mode not in a.modes:
                continue
            for v in vmms:
                name = "%s_%s_%d" % (v, "io" if mode == "user" else mode, i)
                # The guest's side of both TAP runs is the same.
                guest = "tap" if mode == "vhost" else mode
                cmd = "console=ttyS0 panic=-1 lab.io=%s lab.rt=%d lab.nt=%d" % (
                    guest, a.runtime, a.net_time)
                # QEMU at its best on PCI: microvm with its PCIe host (virtio-pci, MSI-X).
                machine = VMMS[v][2] if on_pci(v, a.transport) else VMMS[v][1]
                runs.append(WrappedRun(name, guest, vmm=VMMS[v][0], cpus=a.cpus, memory=512,
                                       timeout=tmo, initrd=l2, cmdline=cmd, machine=machine,
                                       extra_args=vmm_args(v, mode, a.cache, a.transport)))
    return runs


# --------------------------------------------------------------- results

def irqs_per_io(i, key, kb, bs_kb, runtime):
    """The virtio interrupts per I/O of one fio job: its interrupts over the whole
    job (ramp included) against its I/Os over the measured runtime, scaled up to
    the job's length. None where a figure is missing."""
    try:
        n, secs = i.get("irq_" + key, "").split()
        ios = float(kb) / bs_kb * float(secs) / runtime
        return float(n) / ios if ios > 0 else None
    except (ValueError, ZeroDivisionError):
        return None


def metrics_of(r, runtime=15):
    """{metric: value} from one run, and a list of problems."""
    got, bad = {}, []
    if r is None or not r.begun:
        return got, ["did not start"]
    if not r.ended:
        bad.append("did not end")
    elif r.rc != 0:
        bad.append("VMM exit code %s%s" % (r.rc, " (killed by the timeout)" if r.rc == 137 else ""))
    i = r.info
    vfs = "_vfs_" in r.name
    vub = "_vub_" in r.name or vfs
    pre = "vfs_" if vfs else "vub_" if vub else ""
    if vfs and i.get("vfs_size") != str(IMG_MB << 20):
        bad.append("virtio-fs: the shared file's size %s, want %d" % (i.get("vfs_size"),
                                                                       IMG_MB << 20))
    if r.name == "limit" or "_io_" in r.name or vub:
        if r.name != "limit" and not vfs and i.get("blk_sectors") != str(IMG_MB * 2048):
            bad.append("disk: /sys/block/vda/size %s, want %d" % (i.get("blk_sectors"),
                                                                IMG_MB * 2048))
        for key, fld, scale, metric in (("randread", 3, 1, "randread_iops"),
                                        ("seqread", 2, 1 / 1024, "seqread_mib"),
                                        ("seqwrite", 5, 1 / 1024, "seqwrite_mib")):
            v = i.get("fio_" + key)
            parts = (v or "").split(";")
            if len(parts) == 7 and parts[0] == "0":
                try:
                    got[pre + metric] = float(parts[fld]) * scale
                    per = irqs_per_io(i, key, parts[4 if key == "seqwrite" else 1],
                                      4 if key == "randread" else 1024, runtime)
                    if per is not None:
                        got[pre + key + "_irq"] = per
                    continue
                except ValueError:
                    pass
            bad.append("fio %s: %s" % (key, v or "no result"))
        nets = {"limit_tx": "limit_tx", "limit_rx": "limit_rx"} if r.name == "limit" else \
            {} if vub else {"user_tx": "user_tx", "user_rx": "user_rx"}
    elif "_vhost_" in r.name:
        nets = {"vhost_tx": "tap_tx", "vhost_rx": "tap_rx"}   # the guest's keys are tap's
    else:
        nets = {"tap_tx": "tap_tx", "tap_rx": "tap_rx"}
    if i.get("nic") == "missing" and not vub:
        bad.append("no eth0 in the guest")
    for k, key in nets.items():
        v = i.get("net_" + key)
        try:
            got[k] = float(v)
        except (TypeError, ValueError):
            bad.append("iperf3 %s: %s" % (k, v or "no result"))
    return got, bad


def fmt(v, unit):
    if v is None:
        return "n/a"
    if unit == "irq/IO":
        return "%.2f" % v
    return "%.0f" % v if unit == "IOPS" or v >= 100 else "%.1f" % v


def report(res, vmms, n, a):
    per = {v: {m[0]: [] for m in METRICS} for v in vmms}
    problems = []
    lines = []
    for i in range(1, n + 1):
        for v in vmms:
            for kind in ("io", "tap", "vhost", "vub", "vfs"):
                if (kind if kind != "io" else "user") not in a.modes:
                    continue
                name = "%s_%s_%d" % (v, kind, i)
                r = res.runs.get(name)
                got, bad = metrics_of(r, a.runtime)
                for k, val in got.items():
                    per[v].setdefault(k, []).append(val)
                for b in bad:
                    problems.append("%s: %s" % (name, b))
                if bad and r is not None:
                    problems.append("  last lines of %s (serial log %s):" % (name, res.log))
                    problems += ["    | " + l for l in r.guest_lines[-12:]]
                    # The VMM's last lines, and a vhost-user daemon's own words (L1_WRAP).
                    said = [l for l in r.stderr_lines if l.startswith("lab-io:")]
                    problems += ["    !| " + l for l in
                                 [l for l in r.stderr_lines if l not in said][-6:] + said]
    lim, lbad = metrics_of(res.runs.get("limit"), a.runtime)
    problems += ["limit (L1 itself): %s" % b for b in lbad]
    warm = (res.runs.get("warm").info.get("warm") if res.runs.get("warm") else None)
    head = ("I/O bench: %s, %d repeat(s), %d vCPUs, 512 MiB, %d MiB disk cache=%s, "
            "fio %d s, iperf3 %d s, virtio-%s" % (", ".join(vmms), n, a.cpus, IMG_MB, a.cache,
                                                  a.runtime, a.net_time, a.transport))
    lines.append(head)
    lines.append("L1: /dev/kvm at %.1f s (L1 clock); whole lab run %.0f s wall; warm-up: %s"
                 % (res.l1_kvm or -1, res.wall or -1, warm))
    lines.append("")
    # Each Hearth column against each QEMU one on its transport (q35's is PCI).
    pairs = [(h, q) for h in vmms if VMMS[h][0] == "hearth" for q in vmms
             if VMMS[q][0] == "qemu" and on_pci(h, a.transport) == on_pci(q, a.transport)]
    cols = vmms + ["%s/%s" % p for p in pairs] + ["L1 limit"] + \
        ["%s/L1" % v for v in vmms]
    w = 34
    lines.append("%-*s %-7s %s" % (w, "metric (median)", "unit",
                                   " ".join("%12s" % c for c in cols)))

    def ratio(x, y):
        return "%.2f" % (x / y) if x is not None and y else "n/a"
    for key, label, unit in METRICS:
        if not any(per[v][key] for v in vmms):
            continue    # a mode not run
        med = {v: (statistics.median(per[v][key]) if per[v][key] else None) for v in vmms}
        limit = lim.get(LIMIT_OF[key])
        row = [fmt(med[v], unit) for v in vmms]
        row += [ratio(med[h], med[q]) for h, q in pairs]
        row.append(fmt(limit, unit))
        row += [ratio(med[v], limit) for v in vmms]
        lines.append("%-*s %-7s %s" % (w, label, unit, " ".join("%12s" % c for c in row)))
    lines.append("")
    lines.append("L1 limit: fio in L1 on the same /dev/vda through its page cache (io_uring, "
                 "buffered), iperf3 over L1's loopback; tap rows: vhost=off for both VMMs, "
                 "tap+vhost rows: vhost=on for both; vhost-user rows: qemu-storage-daemon in L1 "
                 "serves /dev/vda through its page cache for both; virtio-fs rows: virtiofsd "
                 "in L1 serves a copy of the disk in L1's RAM for both (its limit row is the "
                 "disk's)")
    if n > 1:
        lines.append("")
        lines.append("all values:")
        for key, label, unit in METRICS:
            if not any(per[v][key] for v in vmms):
                continue
            lines.append("  %-24s %s" % (key, "   ".join(
                "%s %s" % (v, " ".join(fmt(x, unit) for x in per[v][key])) for v in vmms)))
    return lines, problems


def main():
    ap = argparse.ArgumentParser(description="I/O benchmark in the lab (see bench/README.md)")
    ap.add_argument("-n", type=int, default=3,
                    help="repeats per VMM, medians reported (default 3, as issue 30 asks; "
                         "-n 1 for a quick look)")
    ap.add_argument("--vmm", default="hearth,qemu")
    ap.add_argument("--runtime", type=int, default=15, help="seconds per fio job (default 15)")
    ap.add_argument("--net-time", type=int, default=10,
                    help="seconds per iperf3 direction (default 10)")
    ap.add_argument("--cpus", type=int, default=2,
                    help="vCPUs per L2 guest (default 2; Hearth's TAP gets a queue pair each)")
    ap.add_argument("--net-queues", type=int, choices=range(1, 5), metavar="1-4",
                    help="Hearth's TAP NIC's queue pairs (its queues=; default one per vCPU)")
    ap.add_argument("--cache", default="writeback", choices=["writeback", "none"],
                    help="the VMM's disk cache mode (default writeback)")
    ap.add_argument("--modes", default=",".join(MODES),
                    help="which runs: user,tap,vhost,vub,vfs (default all)")
    ap.add_argument("--transport", default="mmio", choices=["mmio", "pci"],
                    help="the devices' transport: virtio-mmio (default) or virtio-pci "
                    "(Hearth's --pci; QEMU microvm,pcie=on with -pci devices)")
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    global NET_QUEUES
    NET_QUEUES = a.net_queues
    a.modes = [m for m in a.modes.split(",") if m]
    if not a.modes or any(m not in MODES for m in a.modes):
        ap.error("--modes takes user, tap, vhost, vub and vfs")
    vmms = [v for v in a.vmm.split(",") if v]
    if not vmms or any(v not in VMMS for v in vmms):
        ap.error("--vmm takes %s" % ", ".join(VMMS))
    os.makedirs(BENCH_DIR, exist_ok=True)
    # A private lab dir (the shared build/lab/l1.cpio is rebuilt by other
    # lab users), reusing the cached kernel.
    lab_dir = os.path.join(REPO, "build", "lab", "io")
    os.makedirs(lab_dir, exist_ok=True)
    klink = os.path.join(lab_dir, "kernel")
    shared_kernel = os.path.join(REPO, "build", "lab", "kernel")
    os.makedirs(shared_kernel, exist_ok=True)    # the first lab user fills it
    if not os.path.lexists(klink):
        os.symlink(shared_kernel, klink)
    L.LAB_DIR = lab_dir
    try:
        for v in vmms:
            L.vmm_binary(VMMS[v][0])
        root, fio, iperf3 = get_tools()
        make_image()
        lab = IoLab(stream=a.stream or None)
        l1_mods = ["virtio_pci", "virtio_blk", "tun", "vhost_net"]
        l2_mods = ["virtio_mmio", "virtio_pci", "virtio_blk", "virtio_net", "virtiofs"]
        files = binary_files(root, fio, "/usr/bin/fio")
        files.update(binary_files(root, iperf3, "/usr/bin/iperf3"))
        l2 = L.build_l2_initrd(lab.kernel, name="l2io", modules=l2_mods, files=files,
                               extra_sh=L2_EXTRA)
        l1_files = binary_files(root, iperf3, "/usr/bin/iperf3")
        l1_files.update(binary_files(root, fio, "/usr/bin/fio"))   # the limit run's
        extra = pack_extra(l1_files, os.path.join(lab_dir, "l1-extra.cpio"))
        L.L1_MODULES = L.L1_MODULES + [(m, "") for m in l1_mods]
        orig = L.build_l1_initrd

        def l1_with_iperf3(*args, **kw):
            out = orig(*args, **kw)
            with open(out, "ab") as f, open(extra, "rb") as g:
                shutil.copyfileobj(g, f)     # concatenated newc archives
            return out
        L.build_l1_initrd = l1_with_iperf3
        runs = plan(vmms, a.n, l2, a)
        log("L2 initramfs %s (%.0f MiB); %d L2 boots in one L1 boot"
            % (l2, os.path.getsize(l2) / 2**20, len(runs) - 1))
        qsd = shutil.which("qemu-storage-daemon")
        if "vub" in a.modes and not qsd:
            raise BenchError("qemu-storage-daemon not found (scripts/deps.sh lab installs "
                             "qemu-system-common)")
        vfsd = "/usr/lib/qemu/virtiofsd"
        if "vfs" in a.modes and not os.access(vfsd, os.X_OK):
            raise BenchError("%s not found (scripts/deps.sh lab installs qemu-system-common)"
                             % vfsd)
        binaries = {}
        if "vub" in a.modes:
            binaries["/lab/bin/qemu-storage-daemon"] = qsd
        if "vfs" in a.modes:
            binaries["/lab/bin/virtiofsd"] = vfsd
        res = lab.run_plan(runs, tag="bench-io", binaries=binaries or None)
    except (L.LabError, BenchError, subprocess.CalledProcessError) as e:
        print("bench-io: LAB FAILURE: %s" % e)
        return 3
    if not res.ok:
        print("bench-io: " + res.failure_line())
        return 3
    lines, problems = report(res, vmms, a.n, a)
    text = "\n".join(lines) + "\n"
    if problems:
        text += "\nINCOMPLETE:\n" + "\n".join(problems) + "\n"
    with open(RESULTS, "w") as f:
        f.write(text)
    print(text, end="")
    print("(written to %s; serial log %s)" % (os.path.relpath(RESULTS, REPO), res.log))
    if problems:
        print("bench-io: FAILED: some runs or measurements did not complete (see above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
