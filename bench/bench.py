#!/usr/bin/env python3
"""Boot benchmark in the lab: Hearth vs QEMU microvm, in ONE L1 boot.

Each VMM boots the same stock kernel + busybox initrd N times (2 vCPUs,
512 MiB), interleaved.  Measured inside L1: time from VMM start to the
guest /init's first line (L1's /proc/uptime, 10 ms resolution), and the VMM's
RSS without guest RAM (sum of Rss over /proc/PID/smaps, leaving out mappings
of at least a quarter of guest RAM, taken while the guest waits at /init).
Reports medians and hearth/qemu ratios.  Never fails on timing: exit 0 unless
the lab itself could not run (3).

    bench/run.sh [-n N] [--vmm hearth,qemu]
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "lab"))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402


# --vmm names: the lab VMM and its extra arguments.
VARIANTS = {"hearth": ("hearth", []), "hearth-noseccomp": ("hearth", ["--no-seccomp"]),
            "hearth-unconfined": ("hearth", ["--no-seccomp", "--no-sandbox"]),
            "qemu": ("qemu", [])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=3, help="boots per VMM")
    ap.add_argument("--vmm", default="hearth,qemu",
                    help="comma-separated: hearth, hearth-noseccomp (Hearth with its seccomp "
                         "filters off, to price them), hearth-unconfined (filters and "
                         "sandbox off), qemu")
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
    runs = []
    for i in range(a.n):
        for v in vmms:
            runs.append(L.Run("%s_%d" % (v, i + 1), vmm=VARIANTS[v][0], cpus=2, memory=512,
                              timeout=180, rss=True, extra_args=VARIANTS[v][1],
                              cmdline="console=ttyS0 panic=-1 lab.wait=3"))
    try:
        lab = L.Lab(stream=a.stream or None)
        res = lab.run_plan(runs, tag="bench")
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    if not res.ok:
        print(res.failure_line())
        return 3
    print("L1: /init at %.1f s, /dev/kvm ready at %.1f s (L1 clock); whole lab run %.0f s wall"
          % (res.l1_up or -1, res.l1_kvm or -1, res.wall))
    print("%-19s %12s %14s %14s %s" % ("run", "boot_s", "rss_kb", "guest_ram_kb", "rc"))
    med = {}
    for v in vmms:
        boots, rsss = [], []
        for i in range(a.n):
            r = res.runs.get("%s_%d" % (v, i + 1))
            if r is None:
                continue
            b = r.boot_seconds()
            rss = (r.rss or {}).get("rss_kb")
            print("%-19s %12s %14s %14s %s" % (
                r.name, "%.2f" % b if b is not None else "-", rss if rss is not None else "-",
                (r.rss or {}).get("excluded_kb", "-"), r.rc))
            if b is not None and r.rc == 0:
                boots.append(b)
            if rss is not None:
                rsss.append(rss)
        med[v] = (statistics.median(boots) if boots else None,
                  statistics.median(rsss) if rsss else None)
    print()
    for v in vmms:
        b, r = med[v]
        print("median %-16s boot %s s   rss(excl. guest RAM) %s kB" % (
            v, "%.2f" % b if b is not None else "n/a", "%d" % r if r is not None else "n/a"))
    for v in [x for x in vmms if x != "qemu"]:
        if "qemu" not in med:
            break
        hb, hr = med[v]
        qb, qr = med["qemu"]
        print("ratio %s/qemu: boot %s   rss %s" % (
            v, "%.2f" % (hb / qb) if hb and qb else "n/a",
            "%.2f" % (hr / qr) if hr and qr else "n/a"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
