#!/usr/bin/env python3
"""Boot benchmark in the lab: Hearth vs QEMU microvm at its best, in ONE L1 boot.

Each variant boots the same stock kernel + busybox initrd N times (2 vCPUs,
512 MiB), the variants alternating round by round.  Measured inside L1: time
from VMM start to the guest /init's first line (L1's /proc/uptime, 10 ms
resolution); KVM's exit counters for the VM at that moment (debugfs in L1,
summed over its vCPUs: steady where times are not); and the VMM's RSS
without guest RAM (sum of Rss over /proc/PID/smaps, leaving out mappings of
at least a quarter of guest RAM, taken while the guest waits at /init).

The kernel comes in both forms: the bzImage, and its vmlinux (decompressed
here from the bzImage's payload), which both VMMs boot through its PVH note.
QEMU runs with lab.QEMU_MICROVM_BEST (no option ROMs, PIT or PIC, and an
RTC: without one the stock kernel probes the CMOS for seconds, which is what
flattered Hearth in the figures before 2026-11-25); qemu-default is that old
configuration, for the record.

Hearth runs with --exit-stats, so each of its boots is also split into
phases (exec -> vm_create, the build, -> first KVM_RUN, -> /init) and its
exits to userspace are counted by device (port or MMIO region, the whole
run: boot, /init's wait and the poweroff).

Reports medians with min-max spread, exits by reason, and the ratios.
Never fails on timing: exit 0 unless the lab itself could not run (3).

--fc-args boots both VMMs with the command line Firecracker's own boot-time
test gives its guests (tests/integration_tests/performance/test_boottime.py:
reboot=k panic=1 nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux
i8042.nopnp i8042.dumbkbd swiotlb=noforce cryptomgr.notests), but with
8250.nr_uarts=1 and console=ttyS0, since the lab sees /init on the serial
console where Firecracker reads its boot timer: the guest skips its crypto
self-tests and the probes of absent ports, which measures the VMMs' share
of a boot as Firecracker measures its own.

    bench/run.sh [-n N] [--vmm hearth,hearth-vmlinux,qemu,qemu-pvh] [--quiet] [--fc-args]
"""
import argparse
import os
import re
import statistics
import struct
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402

L1_VMLINUX = "/lab/l2/vmlinux"
# Firecracker's boot-time test's guest command line, one serial port kept (--fc-args).
FC_BOOTTIME_ARGS = ("reboot=k nomodule 8250.nr_uarts=1 i8042.noaux i8042.nomux i8042.nopnp "
                    "i8042.dumbkbd swiotlb=noforce cryptomgr.notests")
RESULTS = os.path.join(REPO, "build", "bench", "boot-results.txt")

# --vmm names: (lab VMM, extra arguments, kernel in L1 (None: the bzImage), QEMU -M).
VARIANTS = {
    "hearth": ("hearth", [], None, None),
    # The bzImage as it is: the guest decompresses itself (Hearth's default unpacks it).
    "hearth-guest-decompress": ("hearth", ["--guest-decompress"], None, None),
    "hearth-vmlinux": ("hearth", [], L1_VMLINUX, None),
    # Guest RAM in transparent huge pages, as QEMU advises its own.
    "hearth-thp": ("hearth", ["--huge-pages", "transparent"], None, None),
    "hearth-vmlinux-thp": ("hearth", ["--huge-pages", "transparent"], L1_VMLINUX, None),
    # The bzImage through the kernel cache: the first round stores it, the others boot
    # from it (the payload neither read nor decompressed again).
    "hearth-kcache": ("hearth", ["--kernel-cache", "/tmp/bench-kcache"], None, None),
    # Its devices (virtio-rng, the default) on PCI with MSI-X instead of virtio-mmio.
    "hearth-pci": ("hearth", ["--pci"], None, None),
    "hearth-noseccomp": ("hearth", ["--no-seccomp"], None, None),
    "hearth-unconfined": ("hearth", ["--no-seccomp", "--no-sandbox"], None, None),
    "qemu": ("qemu", [], None, L.QEMU_MICROVM_BEST),
    "qemu-pvh": ("qemu", [], L1_VMLINUX, L.QEMU_MICROVM_BEST),
    "qemu-default": ("qemu", [], None, "microvm"),
    # PCI's peers, with virtio-rng on PCI as hearth-pci has: microvm at its best with its
    # PCIe host (no firmware), and q35 (SeaBIOS, the PC's own i8042).
    "qemu-pci": ("qemu", ["-device", "virtio-rng-pci"], None,
                 L.QEMU_MICROVM_BEST + ",pcie=on"),
    "qemu-q35": ("qemu", ["-device", "virtio-rng-pci"], None, "q35"),
}
class BootRun(L.Run):
    """A boot; on q35, without the template's i8042 (the PC machine has its own)."""

    def argv(self, l1_initrd_path):
        a = super().argv(l1_initrd_path)
        if self.machine.startswith("q35"):
            i = a.index("i8042")
            del a[i - 1:i + 1]
        return a


# Which peer each Hearth variant is measured against.
PEER = {"hearth": "qemu", "hearth-vmlinux": "qemu-pvh", "hearth-noseccomp": "qemu",
        "hearth-pci": "qemu-pci", "hearth-guest-decompress": "qemu", "hearth-kcache": "qemu",
        "hearth-unconfined": "qemu", "hearth-thp": "qemu", "hearth-vmlinux-thp": "qemu-pvh"}
EXIT_KEYS = ["exits", "io_exits", "mmio_exits", "halt_exits", "irq_exits", "irq_window_exits",
             "insn_emulation", "pf_fixed", "hypercalls"]

MARKS_RE = re.compile(r"exit-stats: marks \(CLOCK_BOOTTIME s\) create=([\d.]+) start=([\d.]+) "
                      r"first_run=([\d.]+) end=([\d.]+)")
DEVICE_RE = re.compile(r"exit-stats: +(\d+) (port|mmio) (0x[0-9a-f]+)\+0x[0-9a-f]+ (\S+): "
                       r"(\d+) reads, (\d+) writes")
BUILD_RE = re.compile(r"exit-stats: build [\d.]+ ms \(RAM and kernel ([\d.]+), KVM and its memory "
                      r"slots ([\d.]+), devices and vCPUs ([\d.]+)\), host setup to the start "
                      r"([\d.]+) ms")
PHASES = ["exec->create", "build", "start->run", "guest->/init"]
# The build's own steps, from Hearth's clock (vm_stats.c).
BUILD_STEPS = ["ram+kernel", "kvm+memslots", "devices+vcpus", "host-setup"]


def exit_stats(r):
    """(phases in ms, {device: exits}) from one Hearth run's --exit-stats lines."""
    phases, devices = None, {}
    for line in r.stderr_lines:
        m = MARKS_RE.search(line)
        if m and r.t_begin is not None and r.t_init is not None:
            create, start, first, _ = (float(x) for x in m.groups())
            if first:
                phases = dict(zip(PHASES, [(create - r.t_begin) * 1e3, (start - create) * 1e3,
                                           (first - start) * 1e3, (r.t_init - first) * 1e3]))
        m = BUILD_RE.search(line)
        if m and phases is not None:
            phases.update(zip(BUILD_STEPS, (float(x) for x in m.groups())))
        m = DEVICE_RE.search(line)
        if m:
            devices["%s %s %s" % (m.group(2), m.group(3), m.group(4))] = int(m.group(1))
    return phases, devices


def report_exit_stats(res, vmms, n):
    """Hearth's phases and exits by device, medians per variant."""
    lines = []
    for v in vmms:
        if VARIANTS[v][0] != "hearth":
            continue
        ph, dev = {k: [] for k in PHASES + BUILD_STEPS}, {}
        runs = 0
        for i in range(n):
            r = res.runs.get("%s_%d" % (v, i + 1))
            if r is None or r.rc != 0:
                continue
            p, d = exit_stats(r)
            if p:
                runs += 1
                for k in PHASES + BUILD_STEPS:
                    if k in p:
                        ph[k].append(p[k])
            for k, c in d.items():
                dev.setdefault(k, []).append(c)
        if not runs:
            continue
        lines += ["", "%s by phase, median ms of %d (L1's /proc/uptime: 10 ms steps): %s" % (
            v, runs, ", ".join("%s %.0f" % (k, statistics.median(ph[k])) for k in PHASES)),
                  "%s build by step, median ms: %s" % (v, ", ".join(
                      "%s %.0f" % (k, statistics.median(ph[k])) for k in BUILD_STEPS if ph[k])),
                  "%s exits to userspace by device, median of the whole run:" % v]
        for k, c in sorted(dev.items(), key=lambda kv: -statistics.median(kv[1]))[:12]:
            lines.append("    %8d  %s" % (statistics.median(c), k))
    return lines


def spread(xs):
    return "%.2f-%.2f" % (min(xs), max(xs)) if xs else "-"


def report(res, vmms, n, cmdline):
    lines = ["L1: /init at %.1f s, /dev/kvm ready at %.1f s (L1 clock); whole lab run %.0f s "
             "wall" % (res.l1_up or -1, res.l1_kvm or -1, res.wall),
             "guest cmdline: %s" % cmdline,
             "QEMU -M %s (qemu, qemu-pvh)" % L.QEMU_MICROVM_BEST, "",
             "%-22s %8s %7s %s" % ("run", "boot_s", "rss_kb", " ".join(
                 "%9s" % k.replace("_exits", "").replace("insn_emulation", "emul")[:9]
                 for k in EXIT_KEYS))]
    med = {}
    for v in vmms:
        boots, rsss, ex = [], [], {k: [] for k in EXIT_KEYS}
        for i in range(n):
            r = res.runs.get("%s_%d" % (v, i + 1))
            if r is None:
                continue
            b = r.boot_seconds()
            rss = (r.rss or {}).get("rss_kb")
            kvm = r.kvm or {}
            lines.append("%-22s %8s %7s %s %s" % (
                r.name, "%.2f" % b if b is not None else "-", rss if rss is not None else "-",
                " ".join("%9s" % kvm.get(k, "-") for k in EXIT_KEYS),
                "" if r.rc == 0 else "rc=%s" % r.rc))
            if b is None or r.rc != 0:
                continue
            boots.append(b)
            if rss is not None:
                rsss.append(rss)
            for k in EXIT_KEYS:
                if k in kvm:
                    ex[k].append(kvm[k])
        med[v] = dict(boot=statistics.median(boots) if boots else None, boots=boots,
                      rss=statistics.median(rsss) if rsss else None,
                      exits={k: statistics.median(x) for k, x in ex.items() if x})
    lines += ["", "%-18s %8s %11s %9s %9s" % ("median", "boot_s", "spread", "rss_kb", "exits")]
    for v in vmms:
        m = med[v]
        lines.append("%-18s %8s %11s %9s %9s" % (
            v, "%.2f" % m["boot"] if m["boot"] is not None else "n/a", spread(m["boots"]),
            "%d" % m["rss"] if m["rss"] is not None else "n/a",
            "%d" % m["exits"]["exits"] if "exits" in m["exits"] else "n/a"))

    def ratio(a, b):
        return "%.2f" % (a / b) if a and b else "n/a"
    lines.append("")
    for v in vmms:
        p = PEER.get(v)
        if p not in med:
            continue
        a, b = med[v], med[p]
        lines.append("ratio %s/%s: boot %s   exits %s   rss %s" % (
            v, p, ratio(a["boot"], b["boot"]),
            ratio(a["exits"].get("exits"), b["exits"].get("exits")), ratio(a["rss"], b["rss"])))
        by = ["%s %s" % (k, ratio(a["exits"].get(k), b["exits"].get(k))) for k in EXIT_KEYS[1:]
              if a["exits"].get(k) or b["exits"].get(k)]
        lines.append("    exits by reason: " + ", ".join(by))
    if "hearth" in med and "hearth-vmlinux" in med:
        lines.append("ratio hearth (bzImage)/hearth-vmlinux: boot %s   exits %s" % (
            ratio(med["hearth"]["boot"], med["hearth-vmlinux"]["boot"]),
            ratio(med["hearth"]["exits"].get("exits"), med["hearth-vmlinux"]["exits"].get("exits"))))
    # A run that did not reach /init (hung, killed by its timeout, failed): its last lines.
    for v in vmms:
        for i in range(n):
            r = res.runs.get("%s_%d" % (v, i + 1))
            if r is None or (r.rc == 0 and r.boot_seconds() is not None):
                continue
            lines += ["", "%s did not reach /init (%s); its last lines (serial log %s):" % (
                r.name, "rc=137, killed by its timeout" if r.rc == 137 else "rc=%s" % r.rc,
                res.log)]
            lines += ["    | " + l for l in r.guest_lines[-12:]]
            lines += ["    !| " + l for l in r.stderr_lines[-6:]]
    return lines + report_exit_stats(res, vmms, n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=5, help="rounds (each variant boots once a round)")
    ap.add_argument("--vmm", default="hearth,hearth-vmlinux,qemu,qemu-pvh",
                    help="comma-separated: %s" % ", ".join(VARIANTS))
    ap.add_argument("--quiet", action="store_true",
                    help="boot with quiet: the kernel's log off the serial console, whose "
                         "port writes (an exit a byte) otherwise make most of the exits")
    ap.add_argument("--fc-args", action="store_true",
                    help="boot with Firecracker's boot-time test's command line (one serial "
                         "port kept for the console)")
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--stream", action="store_true")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    vmms = [v for v in a.vmm.split(",") if v]
    unknown = [v for v in vmms if v not in VARIANTS]
    if unknown:
        print("bench: unknown --vmm %s (want %s)" % (",".join(unknown), ", ".join(VARIANTS)))
        return 2
    if any(VARIANTS[v][0] == "hearth" for v in vmms):
        try:
            L.vmm_binary("hearth")
        except L.LabError as e:
            print("bench: %s; benchmarking without Hearth" % e)
            vmms = [v for v in vmms if VARIANTS[v][0] != "hearth"]
    if not vmms:
        print("bench: nothing to run")
        return 0
    cmdline = "console=ttyS0 panic=-1 lab.wait=3" + (" quiet" if a.quiet else "")
    if a.fc_args:
        cmdline += " " + FC_BOOTTIME_ARGS
    runs = []
    for i in range(a.n):
        for v in vmms:
            vmm, args, kernel, machine = VARIANTS[v]
            if vmm == "hearth":
                args = args + ["--exit-stats"]
            runs.append(BootRun("%s_%d" % (v, i + 1), vmm=vmm, cpus=2, memory=512,
                              timeout=180, rss=True, extra_args=args, kernel=kernel,
                              machine=machine or "microvm",
                              cmdline=cmdline))
    try:
        lab = L.Lab(stream=a.stream or None)
        files = {}
        if any(VARIANTS[v][2] for v in vmms):
            os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
            files[L1_VMLINUX] = L.extract_vmlinux(
                lab.kernel.vmlinuz, os.path.join(os.path.dirname(RESULTS), "vmlinux"))
        res = lab.run_plan(runs, tag="bench", files=files)
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    if not res.ok:
        print(res.failure_line())
        return 3
    lines = report(res, vmms, a.n, cmdline)
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        f.write(text)
    print(text, end="")
    print("(written to %s; serial log %s)" % (os.path.relpath(RESULTS, REPO), res.log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
