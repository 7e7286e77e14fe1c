#!/usr/bin/env python3
"""Lab tests for Hearth's core: real stock-kernel boots, in ONE L1 boot.

    tests/lab/test_core.py [--vmm hearth|qemu] [--hearth PATH] [--stream]

Prints one line per check and `N passed, N failed`.  Exit 0 all passed,
1 a check failed, 3 lab failure (L1 panicked / went silent / timed out twice,
or the lab could not be built).  --vmm qemu runs the same plan with QEMU
microvm, which validates the harness itself.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402

RUN_TIMEOUT = 180   # per L2 boot, against hangs only (a boot takes ~20-40 s)


def plan(vmm):
    return [
        dict(run=L.Run("a_2cpu_512m", vmm=vmm, cpus=2, memory=512, timeout=RUN_TIMEOUT,
                       cmdline="console=ttyS0 panic=-1"),
             nproc=2, memory=512, action="poweroff"),
        dict(run=L.Run("b_1cpu_256m_reboot", vmm=vmm, cpus=1, memory=256, timeout=RUN_TIMEOUT,
                       cmdline="console=ttyS0 reboot=k panic=-1 lab.action=reboot lab.token=hearth42"),
             nproc=1, memory=256, action="reboot", token="lab.token=hearth42",
             stderr_reboot=(vmm == "hearth")),
        dict(run=L.Run("c_4cpu_2048m", vmm=vmm, cpus=4, memory=2048, timeout=RUN_TIMEOUT,
                       cmdline="console=ttyS0 panic=-1"),
             nproc=4, memory=2048, action="poweroff"),
        # Past 3 GiB: the rest of RAM must reappear above the 4 GiB hole.
        dict(run=L.Run("d_2cpu_3584m_hole", vmm=vmm, cpus=2, memory=3584, timeout=RUN_TIMEOUT,
                       cmdline="console=ttyS0 panic=-1"),
             nproc=2, memory=3584, action="poweroff"),
    ]


def mem_range_kb(mib):
    """MemTotal is RAM minus what the kernel reserves for itself."""
    return int((mib - max(72, mib * 0.06)) * 1024), mib * 1024


def check_run(spec, r):
    """Yields (ok, description) for one run."""
    n = spec["run"].name
    if r is None or not r.begun:
        yield False, "%s: run started" % n
        return
    reached = r.t_init is not None or any(l.strip() == "LAB init" for l in r.guest_lines)
    yield reached, "%s: guest reached /init" % n
    got = r.info.get("nproc")
    yield got == str(spec["nproc"]), "%s: nproc == %d (got %s)" % (n, spec["nproc"], got)
    lo, hi = mem_range_kb(spec["memory"])
    got = r.info.get("memtotal_kb")
    ok = got is not None and got.isdigit() and lo <= int(got) <= hi
    yield ok, "%s: MemTotal in [%d, %d] kB (got %s)" % (n, lo, hi, got)
    if "token" in spec:
        cl = r.info.get("cmdline", "")
        yield spec["token"] in cl.split(), "%s: /proc/cmdline has %s (got %r)" % (n, spec["token"], cl)
    did = any(l.strip() == "LAB doing " + spec["action"] for l in r.guest_lines)
    yield did, "%s: guest ran %s -f" % (n, spec["action"])
    yield r.ended and r.rc == 0, "%s: VMM exit code 0 (got %s%s)" % (
        n, r.rc, "" if r.ended else ", run never ended")
    if spec.get("stderr_reboot"):
        said = any("reboot" in l.lower() for l in r.stderr_lines)
        yield said, "%s: Hearth's stderr reports a reboot" % n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", default="hearth", choices=["hearth", "qemu"])
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    specs = plan(a.vmm)
    try:
        L.vmm_binary(a.vmm)
    except L.LabError as e:      # not the lab's fault: Hearth is not built
        print("FAIL %s [%s]" % (e, a.vmm))
        print("0 passed, 1 failed")
        return 1
    try:
        lab = L.Lab(stream=a.stream or None)
        res = lab.run_plan([s["run"] for s in specs], tag="core-" + a.vmm)
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    if not res.ok:
        print(res.failure_line())
        return 3
    passed = failed = 0
    for s in specs:
        r = res.runs.get(s["run"].name)
        run_failed = False
        for ok, desc in check_run(s, r):
            print("%s %s [%s]" % ("PASS" if ok else "FAIL", desc, a.vmm))
            passed += ok
            failed += not ok
            run_failed |= not ok
        if run_failed and r is not None:
            print("  serial log excerpt for %s (full log: %s):" % (s["run"].name, res.log))
            for l in (r.guest_lines[-25:] + ["(stderr:)"] + r.stderr_lines[-15:]):
                print("    " + l)
        if r is not None and r.boot_seconds() is not None:
            print("  info %s: VMM start -> /init %.1f s (L1 clock, not checked)"
                  % (s["run"].name, r.boot_seconds()))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
