#!/usr/bin/env python3
"""VFIO passthrough's I/O in the lab: a real (emulated) NVMe disk driven by
L1 itself, then passed through to L2 by Hearth and by QEMU, in ONE L1 boot.

    bench/run.sh --vfio [-n N] [--runtime S] [--vmm hearth,qemu] [--sriov] [--stream]

L1 is tests/lab/test_vfio.py's: QEMU's intel-iommu and an NVMe disk (a
64 MiB image). The runs, in order:

  limit          fio in L1 on /dev/nvme0n1 through L1's own nvme driver: the
                 device's own speed, what passthrough can reach.
  bind           the disk unbound from nvme, bound to vfio-pci.
  <vmm>_<i>      the VMM (2 vCPUs, 512 MiB, the stock kernel) with the disk
                 passed through (Hearth: --pci --device vfio=; QEMU at its
                 best for this: microvm,pcie=on with -device vfio-pci), fio in
                 L2 on its /dev/nvme0n1.

--sriov: L1 is tests/lab/test_sriov.py's instead (an NVMe controller with
SR-IOV in an NVMe subsystem), the limit is L1's driver on the physical
function, and the device passed through is its virtual function (made,
given its resources with nvme-cli and bound to vfio-pci by the bind run),
reaching the same shared namespace.

fio (libaio, direct=1): 4k random read iodepth 16, 1M sequential read and
write iodepth 4, each --runtime S after 2 s of ramp. The device's work is
QEMU's (TCG) emulation in every row, so the figures compare the paths to it:
L1's driver against L2's through the IOMMU, Hearth's BAR mappings and irqfds
against QEMU's. Prints a table (medians over N) with hearth/qemu and each
VMM's fraction of the limit, and writes build/bench/vfio-results.txt. Exit 0
when every run reported every figure, 1 when one could not, 3 when the lab
failed.
"""
import argparse
import importlib.util
import os
import statistics
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402
import test_sriov as SR  # noqa: E402
import test_vfio as VF  # noqa: E402

# bench/io.py's tools (fio from Debian, its libraries, its fio runner), under another
# module name: "io" is the standard library's.
_spec = importlib.util.spec_from_file_location("bench_io", os.path.join(REPO, "bench", "io.py"))
IO = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(IO)

RESULTS = os.path.join(IO.BENCH_DIR, "vfio-results.txt")
# run_fio's target ($fio_file, /dev/vda by default): the passed-through disk.
FIO_SH = IO.SH_MEASURE + "\nfio_file=/dev/nvme0n1\n"
assert "${fio_file:-/dev/vda}" in IO.SH_MEASURE
JOBS = r'''
run_fio randread --rw=randread --bs=4k --iodepth=16
run_fio seqread --rw=read --bs=1M --iodepth=4
run_fio seqwrite --rw=write --bs=1M --iodepth=4
'''
# In L2, before "LAB ready": lab.vfb=1 and lab.rt= the runtime.
L2_EXTRA = FIO_SH + r'''
on=; rt=15
for w in $(cat /proc/cmdline); do
  case "$w" in lab.vfb=*) on=1 ;; lab.rt=*) rt=${w#lab.rt=} ;; esac
done
[ -z "$on" ] && exit 0
i=0; while [ ! -b /dev/nvme0n1 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
echo "LAB nvme=$([ -b /dev/nvme0n1 ] && echo yes || echo missing)"
''' + JOBS
FIND = r'''d=""; for p in /sys/bus/pci/devices/*; do
  [ "$(cat $p/class)" = 0x010802 ] && d=${p##*/}; done
'''
L1_LIMIT = FIO_SH + FIND + r'''rt=@RT@
i=0; while [ ! -b /dev/nvme0n1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
echo "LAB nvme=$([ -b /dev/nvme0n1 ] && echo yes || echo missing) dev=$d"
''' + JOBS
L1_BIND = FIND + r'''echo $d >/sys/bus/pci/devices/$d/driver/unbind
echo vfio-pci >/sys/bus/pci/devices/$d/driver_override
echo $d >/sys/bus/pci/drivers_probe
echo "LAB bound=$(basename "$(readlink /sys/bus/pci/devices/$d/driver)")"
'''
# --sriov: the bind run makes the VF and binds it; the VMMs are given the VF.
L1_BIND_SR = SR.VF_SETUP.replace("@L1_MARK@", "bench") + r'''
echo vfio-pci >/sys/bus/pci/devices/$vf/driver_override
echo $vf >/sys/bus/pci/drivers_probe
echo "LAB bound=$(basename "$(readlink /sys/bus/pci/devices/$vf/driver)")"
'''
FIND_VF = r'''d=""; for p in /sys/bus/pci/devices/*; do
  [ -e $p/sriov_totalvfs ] && d=$(basename "$(readlink $p/virtfn0)"); done
'''
# The VMM's argv with @DEV@ replaced by the disk's PCI address, then exec'd.
L1_WRAP = FIND + r'''n=$#; i=0
while [ $i -lt $n ]; do
  a=$1; shift; set -- "$@" "$(printf '%s' "$a" | sed "s#@DEV@#$d#g")"; i=$((i+1))
done
exec "$@"
'''
METRICS = [("randread_iops", "fio 4k randread qd16", "IOPS", 3, 1),
           ("seqread_mib", "fio 1M seq read qd4", "MiB/s", 2, 1 / 1024),
           ("seqwrite_mib", "fio 1M seq write qd4", "MiB/s", 5, 1 / 1024)]
KEYS = {"randread_iops": "randread", "seqread_mib": "seqread", "seqwrite_mib": "seqwrite"}


class DevRun(L.Run):
    """A VMM run whose arguments name the disk by its PCI address in L1 (@DEV@)."""

    wrap = L1_WRAP

    def argv(self, l1_initrd_path):
        return ["/bin/sh", "-c", self.wrap, "vfio-bench"] + super().argv(l1_initrd_path)


def vmm_args(vmm):
    if vmm == "hearth":
        return ["--pci", "--device", "vfio=/sys/bus/pci/devices/@DEV@"]
    return ["-device", "vfio-pci,host=@DEV@"]


def plan(vmms, n, l2, a):
    tmo = 150 + 3 * (a.runtime + 40)
    runs = [L.ShellRun("limit", vmms[0], L1_LIMIT.replace("@RT@", str(a.runtime)), timeout=tmo),
            L.ShellRun("bind", vmms[0], L1_BIND_SR if a.sriov else L1_BIND, timeout=120)]
    for i in range(1, n + 1):
        for v in vmms:
            r = DevRun("%s_%d" % (v, i), vmm=v, cpus=2, memory=512, timeout=tmo,
                       initrd=l2, machine="microvm,pcie=on",
                       cmdline="console=ttyS0 panic=-1 lab.vfb=1 lab.rt=%d" % a.runtime,
                       extra_args=vmm_args(v))
            if a.sriov:
                r.wrap = L1_WRAP.replace(FIND, FIND_VF)
            runs.append(r)
    return runs


def metrics_of(r):
    got, bad = {}, []
    if r is None or not r.begun:
        return got, ["did not start"]
    if not r.ended:
        bad.append("did not end")
    elif r.rc not in (0, None) and r.name != "limit":
        bad.append("VMM exit code %s%s" % (r.rc, " (killed by the timeout)" if r.rc == 137 else ""))
    if r.info.get("nvme", "").split(" ")[0] != "yes":
        bad.append("no /dev/nvme0n1 (%s)" % r.info.get("nvme"))
    for key, _, _, fld, scale in METRICS:
        parts = (r.info.get("fio_" + KEYS[key]) or "").split(";")
        try:
            if len(parts) == 7 and parts[0] == "0":
                got[key] = float(parts[fld]) * scale
                continue
        except ValueError:
            pass
        bad.append("fio %s: %s" % (KEYS[key], r.info.get("fio_" + KEYS[key]) or "no result"))
    return got, bad


def report(res, vmms, n, a):
    per = {v: {} for v in vmms}
    problems = []
    limit, bad = metrics_of(res.runs.get("limit"))
    problems += ["limit: " + b for b in bad]
    if res.runs.get("bind") is None or res.runs["bind"].info.get("bound") != "vfio-pci":
        problems.append("bind: the disk was not bound to vfio-pci")
    for v in vmms:
        for i in range(1, n + 1):
            r = res.runs.get("%s_%d" % (v, i))
            got, bad = metrics_of(r)
            problems += ["%s_%d: %s" % (v, i, b) for b in bad]
            if bad and r is not None:
                problems.append("  last lines of %s (serial log %s):" % (r.name, res.log))
                problems += ["    | " + l for l in r.guest_lines[-12:]]
                problems += ["    !| " + l for l in r.stderr_lines[-6:]]
            for k, val in got.items():
                per[v].setdefault(k, []).append(val)
    med = {v: {k: statistics.median(x) for k, x in per[v].items()} for v in vmms}
    lines = ["VFIO passthrough, L1's emulated NVMe %s (one lab run, %d repeat%s, fio "
             "runtime %d s)" % ("controller's SR-IOV virtual function" if a.sriov else "disk",
                                n, "" if n == 1 else "s", a.runtime),
             "%-24s %10s %10s %10s %12s %12s" % ("metric", "L1 itself", "hearth", "qemu",
                                                   "hearth/qemu", "hearth/L1")]

    def ratio(x, y):
        return "%.2f" % (x / y) if x is not None and y else "-"

    for key, label, unit, _, _ in METRICS:
        h, q, lim = med.get("hearth", {}).get(key), med.get("qemu", {}).get(key), limit.get(key)
        lines.append("%-24s %10s %10s %10s %12s %12s" % (
            "%s (%s)" % (label, unit), "%.0f" % lim if lim else "-",
            "%.0f" % h if h else "-", "%.0f" % q if q else "-", ratio(h, q), ratio(h, lim)))
    return lines, problems


def main():
    ap = argparse.ArgumentParser(description="VFIO passthrough I/O in the lab "
                                 "(see bench/README.md)")
    ap.add_argument("-n", type=int, default=1, help="repeats per VMM (default 1)")
    ap.add_argument("--vmm", default="hearth,qemu")
    ap.add_argument("--runtime", type=int, default=15, help="seconds per fio job (default 15)")
    ap.add_argument("--sriov", action="store_true",
                    help="pass through an SR-IOV virtual function (test_sriov.py's L1)")
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    vmms = [v for v in a.vmm.split(",") if v]
    if not vmms or any(v not in ("hearth", "qemu") for v in vmms):
        ap.error("--vmm takes hearth and/or qemu")
    try:
        for v in vmms:
            L.vmm_binary(v)
        root, fio, _ = IO.get_tools()
        lab = L.Lab(stream=a.stream or None)
        l2 = L.build_l2_initrd(lab.kernel, name="l2vfb", files=IO.binary_files(
            root, fio, "/usr/bin/fio"), extra_sh=L2_EXTRA)
        if a.sriov and not SR.tools()["/lab/bin/nvme"]:
            raise IO.BenchError("nvme-cli not found (scripts/deps.sh lab installs it)")
        res = lab.run_plan(plan(vmms, a.n, l2, a), tag="bench-vfio",
                           files=IO.binary_files(root, fio, "/usr/bin/fio"),
                           binaries={"/lab/bin/nvme": SR.tools()["/lab/bin/nvme"]}
                           if a.sriov else None,
                           l1_extra=SR.l1_extra() if a.sriov else VF.vfio_l1_extra())
    except (L.LabError, IO.BenchError) as e:
        print("bench-vfio: LAB FAILURE: %s" % e)
        return 3
    if not res.ok:
        print("bench-vfio: " + res.failure_line())
        return 3
    lines, problems = report(res, vmms, a.n, a)
    text = "\n".join(lines) + "\n"
    if problems:
        text += "\nINCOMPLETE:\n" + "\n".join(problems) + "\n"
    os.makedirs(IO.BENCH_DIR, exist_ok=True)
    with open(RESULTS, "w") as f:
        f.write(text)
    print(text, end="")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
