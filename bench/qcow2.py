#!/usr/bin/env python3
"""qcow2 in the lab: Hearth's own engine against QEMU's qcow2 and against
qemu-storage-daemon behind Hearth's vhost-user-blk, on the same image, in ONE
L1 boot (docs/devices.md, "qcow2 images": the choice this measures).

    bench/run.sh --qcow2 [-n N] [--runtime S] [--modes alloc,overlay] [--stream]

The image: 256 MiB of random data converted to qcow2 (64 KiB clusters, every
one allocated, in order), made on the host once (build/bench/qcow2-base.qcow2),
and an empty overlay over it (qcow2-ov.qcow2). L1 gets both as its virtio-pci
disks, /dev/vda and /dev/vdb (raw: their bytes are the qcow2 files'), and reads
them whole first, so L2's I/O is served from L1's page cache, as bench/io.py's.
Per repeat, mode and VMM, one L2 boot (2 vCPUs, 512 MiB, the stock kernel) runs
fio (libaio, direct=1) on its /dev/vda: 4k random read at iodepth 32 (IOPS),
then 1M sequential read and 1M sequential write at iodepth 4 (MiB/s), each
--runtime seconds (default 15) after a 2 s ramp. The three VMMs:

  hearth      Hearth's engine: --disk path=...,format=qcow2 (the fast path
              to io_uring for the image's own clusters, the rest the engine's)
  qemu        QEMU microvm at its best, its own qcow2 driver:
              -drive/-blockdev format qcow2, cache=writeback, virtio-blk-device
  hearth-qsd  qemu-storage-daemon's qcow2 driver (cache.direct=off) exporting
              vhost-user-blk, Hearth's --disk socket= forwarding the rings

Modes: alloc, the fully allocated image itself (reads and writes in place);
overlay, a fresh copy of the empty overlay in L1's tmpfs over that image as
its backing file (the reads come from the base; the first pass of the write
allocates, later passes are in place). Prints the table (medians over N, 1 by
default) with hearth/qemu and hearth/hearth-qsd, and writes it to
build/bench/qcow2-results.txt. Exit 0 every run reported, 1 a run or a
measurement did not complete, 3 the lab failed.
"""
import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.abspath(os.path.dirname(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402

# bench/io.py's tools (fio from Debian's package, its libraries, the fio helper).
_spec = importlib.util.spec_from_file_location("bench_io", os.path.join(REPO, "bench", "io.py"))
IO = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(IO)

BENCH_DIR = os.path.join(REPO, "build", "bench")
BASE = os.path.join(BENCH_DIR, "qcow2-base.qcow2")
OV = os.path.join(BENCH_DIR, "qcow2-ov.qcow2")
RESULTS = os.path.join(BENCH_DIR, "qcow2-results.txt")
IMG_MB = 256
VMMS = ("hearth", "qemu", "hearth-qsd")
MODES = ("alloc", "overlay")

L2_EXTRA = IO.SH_MEASURE + r'''
q=; rt=15
for w in $(cat /proc/cmdline); do
  case "$w" in
    lab.q=*) q=${w#lab.q=} ;;
    lab.rt=*) rt=${w#lab.rt=} ;;
  esac
done
[ -z "$q" ] && exit 0
i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
echo "LAB blk_sectors=$(cat /sys/block/vda/size 2>/dev/null || echo missing)"
run_fio randread --rw=randread --bs=4k --iodepth=32
run_fio seqread --rw=read --bs=1M --iodepth=4
run_fio seqwrite --rw=write --bs=1M --iodepth=4
'''

# L1 around each VMM: a fresh overlay for the overlay mode, the storage daemon for
# hearth-qsd. The VMM ends before the run's own timeout (LAB_TMO).
L1_WRAP = r'''
# The overlay mode's top image: a fresh copy of the empty overlay each run.
[ "$LAB_Q" = overlay ] && dd if=/dev/vdb of=/tmp/ov.qcow2 bs=64k 2>/dev/null
helper=
if [ "$LAB_QSD" = 1 ]; then
  rm -f /tmp/vub.sock
  exp="type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=/tmp/vub.sock,writable=on"
  if [ "$LAB_Q" = overlay ]; then
    /lab/bin/qemu-storage-daemon \
      --blockdev driver=host_device,node-name=b0,filename=/dev/vda,cache.direct=off,read-only=on \
      --blockdev driver=qcow2,node-name=bq,file=b0,read-only=on \
      --blockdev driver=file,node-name=f0,filename=/tmp/ov.qcow2,cache.direct=off \
      --blockdev driver=qcow2,node-name=d0,file=f0,backing=bq \
      --export "$exp" >/tmp/qsd.log 2>&1 </dev/null &
  else
    /lab/bin/qemu-storage-daemon \
      --blockdev driver=host_device,node-name=f0,filename=/dev/vda,cache.direct=off \
      --blockdev driver=qcow2,node-name=d0,file=f0 \
      --export "$exp" >/tmp/qsd.log 2>&1 </dev/null &
  fi
  helper=$!
  i=0; while [ ! -S /tmp/vub.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  [ -S /tmp/vub.sock ] || { echo "lab-q: qemu-storage-daemon made no socket:" >&2; tail -3 /tmp/qsd.log >&2; }
fi
tmo=$((LAB_TMO - 20))
timeout -s KILL $tmo "$@"; rc=$?
[ -n "$helper" ] && kill $helper 2>/dev/null; wait
rm -f /tmp/ov.qcow2
timeout 120 sync
exit $rc
'''

L1_WARM = r'''for d in vda vdb; do
  i=0; while [ ! -b /dev/$d ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  dd if=/dev/$d of=/dev/null bs=1M 2>/dev/null && r=ok || r=failed
  echo "LAB warm_$d=$r"
done'''

METRICS = [("randread_iops", "4k random read qd32", "IOPS", "randread", 3, 1),
           ("seqread_mib", "1M sequential read qd4", "MiB/s", "seqread", 2, 1 / 1024),
           ("seqwrite_mib", "1M sequential write qd4", "MiB/s", "seqwrite", 5, 1 / 1024)]


def log(msg):
    print("bench-qcow2: " + msg, flush=True)


def make_images():
    """The base (every cluster allocated, in order) and its empty overlay, made once."""
    os.makedirs(BENCH_DIR, exist_ok=True)
    if os.path.exists(BASE) and os.path.exists(OV):
        return
    raw = BASE + ".raw"
    log("creating %s (%d MiB of random data as qcow2) and %s" % (BASE, IMG_MB, OV))
    with open(raw, "wb") as f:
        for _ in range(IMG_MB):
            f.write(os.urandom(1 << 20))
    L.sh(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=65536",
          raw, BASE + ".tmp"])
    os.unlink(raw)
    os.replace(BASE + ".tmp", BASE)
    if os.path.exists(OV):
        os.unlink(OV)
    L.sh(["qemu-img", "create", "-q", "-f", "qcow2", "-b", os.path.basename(BASE), "-F",
          "qcow2", OV])


class QLab(L.Lab):
    """L1 with the base as /dev/vda and the overlay as /dev/vdb (raw: the files' bytes)."""

    def l1_argv(self, initrd, cmdline=None):
        return super().l1_argv(initrd, cmdline) + [
            "-drive", "file=%s,format=raw,if=virtio,cache=writeback" % BASE,
            "-drive", "file=%s,format=raw,if=virtio,cache=writeback,readonly=on" % OV]


class QRun(L.Run):
    def __init__(self, name, mode, qsd, **kw):
        super().__init__(name, **kw)
        self.mode, self.qsd = mode, qsd

    def argv(self, l1_initrd_path):
        return ["env", "LAB_Q=" + self.mode, "LAB_QSD=%d" % self.qsd,
                "LAB_TMO=%d" % self.timeout, "/bin/sh", "-c", L1_WRAP, "lab-q"] + \
            super().argv(l1_initrd_path)


def vmm_args(v, mode):
    top = "/tmp/ov.qcow2" if mode == "overlay" else "/dev/vda"
    if v == "hearth-qsd":
        return ["--disk", "socket=/tmp/vub.sock"]
    if v == "hearth":
        chain = ",backing=/dev/vda" if mode == "overlay" else ""
        return ["--disk", "path=%s,format=qcow2,cache=writeback%s" % (top, chain)]
    if mode == "overlay":
        return ["-blockdev", "driver=host_device,node-name=b0,filename=/dev/vda,read-only=on",
                "-blockdev", "driver=qcow2,node-name=bq,file=b0,read-only=on",
                "-blockdev", "driver=file,node-name=f0,filename=" + top,
                "-blockdev", "driver=qcow2,node-name=d0,file=f0,backing=bq",
                "-device", "virtio-blk-device,drive=d0"]
    return ["-drive", "id=d0,file=%s,format=qcow2,if=none,cache=writeback" % top,
            "-device", "virtio-blk-device,drive=d0"]


def plan(n, l2, a):
    tmo = 150 + 3 * (a.runtime + 40)
    runs = [L.ShellRun("warm", "hearth", L1_WARM, timeout=300)]
    for i in range(1, n + 1):
        for mode in a.modes:
            for v in VMMS:
                cmd = "console=ttyS0 panic=-1 lab.q=%s lab.rt=%d" % (mode, a.runtime)
                runs.append(QRun("%s_%s_%d" % (v.replace("-", "_"), mode, i), mode,
                                 v == "hearth-qsd", vmm="qemu" if v == "qemu" else "hearth",
                                 cpus=2, memory=512, timeout=tmo, initrd=l2, cmdline=cmd,
                                 machine=L.QEMU_MICROVM_BEST, extra_args=vmm_args(v, mode)))
    return runs


def metrics_of(r):
    got, bad = {}, []
    if r is None or not r.begun:
        return got, ["did not start"]
    if not r.ended:
        bad.append("did not end")
    elif r.rc != 0:
        bad.append("VMM exit code %s" % r.rc)
    if r.info.get("blk_sectors") != str(IMG_MB * 2048):
        bad.append("disk: /sys/block/vda/size %s, want %d" % (r.info.get("blk_sectors"),
                                                            IMG_MB * 2048))
    for key, _, _, job, fld, scale in METRICS:
        parts = (r.info.get("fio_" + job) or "").split(";")
        try:
            if len(parts) == 7 and parts[0] == "0":
                got[key] = float(parts[fld]) * scale
                continue
        except ValueError:
            pass
        bad.append("fio %s: %s" % (job, r.info.get("fio_" + job) or "no result"))
    return got, bad


def report(res, n, a):
    per = {(v, m): {k[0]: [] for k in METRICS} for v in VMMS for m in a.modes}
    problems = []
    for i in range(1, n + 1):
        for m in a.modes:
            for v in VMMS:
                name = "%s_%s_%d" % (v.replace("-", "_"), m, i)
                r = res.runs.get(name)
                got, bad = metrics_of(r)
                for k, val in got.items():
                    per[(v, m)][k].append(val)
                problems += ["%s: %s" % (name, b) for b in bad]
                if bad and r is not None:
                    problems += ["    | " + line for line in r.guest_lines[-8:]]
                    problems += ["    !| " + line for line in r.stderr_lines[-6:]]
    lines = ["qcow2 bench: %d repeat(s), 2 vCPUs, 512 MiB, a %d MiB qcow2 image (64 KiB "
             "clusters), fio %d s a job; L1 wall %.0f s" % (n, IMG_MB, a.runtime, res.wall or -1),
             "", "| mode | row | hearth | qemu | hearth-qsd | hearth/qemu | hearth/hearth-qsd |",
             "|---|---|---|---|---|---|---|"]

    def med(v, m, k):
        x = per[(v, m)][k]
        return statistics.median(x) if x else None

    def f(x, unit):
        return "n/a" if x is None else "%.0f" % x if unit == "IOPS" or x >= 100 else "%.1f" % x

    def ratio(x, y):
        return "%.2f" % (x / y) if x is not None and y else "n/a"
    for m in a.modes:
        for k, label, unit, _, _, _ in METRICS:
            h, q, d = med("hearth", m, k), med("qemu", m, k), med("hearth-qsd", m, k)
            lines.append("| %s | %s (%s) | %s | %s | %s | %s | %s |" % (
                m, label, unit, f(h, unit), f(q, unit), f(d, unit), ratio(h, q), ratio(h, d)))
    if n > 1:
        lines += ["", "all values:"]
        for (v, m), ks in sorted(per.items()):
            lines.append("  %s %s: %s" % (v, m, "; ".join(
                "%s %s" % (k, " ".join("%.1f" % x for x in xs)) for k, xs in ks.items())))
    return lines, problems


def main():
    ap = argparse.ArgumentParser(description="qcow2 in the lab (see bench/README.md)")
    ap.add_argument("-n", type=int, default=1, help="repeats per VMM and mode (medians)")
    ap.add_argument("--runtime", type=int, default=15, help="seconds per fio job (default 15)")
    ap.add_argument("--modes", default=",".join(MODES), help="alloc,overlay (default both)")
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    a.modes = [m for m in a.modes.split(",") if m]
    if not a.modes or any(m not in MODES for m in a.modes):
        ap.error("--modes takes alloc and overlay")
    lab_dir = os.path.join(REPO, "build", "lab", "qcow2")
    os.makedirs(lab_dir, exist_ok=True)
    klink = os.path.join(lab_dir, "kernel")
    shared_kernel = os.path.join(REPO, "build", "lab", "kernel")
    os.makedirs(shared_kernel, exist_ok=True)
    if not os.path.lexists(klink):
        os.symlink(shared_kernel, klink)
    L.LAB_DIR = lab_dir
    try:
        L.vmm_binary("hearth")
        L.vmm_binary("qemu")
        qsd = shutil.which("qemu-storage-daemon")
        if not qsd:
            raise IO.BenchError("qemu-storage-daemon not found (scripts/deps.sh lab installs "
                                "qemu-system-common)")
        root, fio, _ = IO.get_tools()
        make_images()
        lab = QLab(stream=a.stream or None)
        l2 = L.build_l2_initrd(lab.kernel, name="l2q", files=IO.binary_files(root, fio,
                                                                             "/usr/bin/fio"),
                               modules=["virtio_mmio", "virtio_blk"], extra_sh=L2_EXTRA)
        L.L1_MODULES = L.L1_MODULES + [("virtio_pci", ""), ("virtio_blk", "")]
        runs = plan(a.n, l2, a)
        log("%d L2 boots in one L1 boot" % (len(runs) - 1))
        res = lab.run_plan(runs, tag="bench-qcow2",
                           binaries={"/lab/bin/qemu-storage-daemon": qsd})
    except (L.LabError, IO.BenchError, subprocess.CalledProcessError) as e:
        print("bench-qcow2: LAB FAILURE: %s" % e)
        return 3
    if not res.ok:
        print("bench-qcow2: " + res.failure_line())
        return 3
    lines, problems = report(res, a.n, a)
    text = "\n".join(lines) + "\n"
    if problems:
        text += "\nINCOMPLETE:\n" + "\n".join(problems) + "\n"
    with open(RESULTS, "w") as f:
        f.write(text)
    print(text, end="")
    print("(written to %s; serial log %s)" % (os.path.relpath(RESULTS, REPO), res.log))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
