#!/usr/bin/env python3
"""Lab tests for Hearth's core: real stock-kernel boots, in ONE L1 boot.

    tests/lab/test_core.py [--vmm hearth|qemu] [--hearth PATH] [--stream]

With Hearth, the same L1 boot also runs the sandbox probe
(HEARTH_SANDBOX_PROBE=1, src/sandbox/probe.h): sandboxed by default (as
root in L1: mount, IPC, UTS and network namespaces, the new root, limits,
capabilities, seccomp), under --jail as uid 1000, and with --no-sandbox
--no-seccomp. Sandboxed, every attempt must be refused; unsandboxed, every
one must succeed, so the check can fail. A last run adds --new-pid-ns to
--no-seccomp: the process outside must be out of reach by the PID
namespace alone (ESRCH), on L1's kernel whose Landlock may not scope
signals.

Hearth's boots: b as the bzImage is (the guest decompresses it), the
others decompressed by Hearth through PVH, c and d through one
--kernel-cache: c stores the kernel, d boots from the entry, with the
same checks (nproc, MemTotal, the PCI root, boot protocol 2.12), and
every Hearth boot's /proc/cmdline exactly the one given, on either path.
e boots the same kernel's vmlinux with its PVH note taken out (a kernel
without one): through Linux's 64-bit entry, with the same checks.

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
NO_PVH_VMLINUX = "/lab/l2/vmlinux-no-pvh"


# A directory no earlier run made: the first boot with it misses.
KCACHE_ARGS = {"hearth": ["--kernel-cache", "/tmp/lab-kcache"]}


# Boot a prints the kernel's whole log on the serial port (the port taking a
# whole boot's output); b..e boot quiet (lab_plan.L2_CONSOLE: each byte on the
# port is nested exits, 4-5 s of a boot here), and their PCI lines come from the
# guest's own dmesg (lab_build's init prints them as "LAB dmesg" lines).
QUIET = L.L2_CONSOLE + " panic=-1"


def plan(vmm):
    return [
        dict(run=L.Run("a_2cpu_512m", vmm=vmm, cpus=2, memory=512, timeout=RUN_TIMEOUT,
                       cmdline="console=ttyS0 panic=-1"),
             nproc=2, memory=512, action="poweroff"),
        # The bzImage as it is (the guest decompresses it): the others are unpacked by
        # Hearth and boot through PVH.
        dict(run=L.Run("b_1cpu_256m_reboot", vmm=vmm, cpus=1, memory=256, timeout=RUN_TIMEOUT,
                       cmdline=L.L2_CONSOLE + " reboot=k panic=-1 lab.action=reboot lab.token=hearth42",
                       extra_args=["--guest-decompress"] if vmm == "hearth" else []),
             nproc=1, memory=256, action="reboot", token="lab.token=hearth42",
             stderr_reboot=(vmm == "hearth"), guest_decompress=True),
        # These two share a kernel cache: c stores the decompressed kernel, d boots from it.
        dict(run=L.Run("c_4cpu_2048m", vmm=vmm, cpus=4, memory=2048, timeout=RUN_TIMEOUT,
                       cmdline=QUIET, extra_args=KCACHE_ARGS.get(vmm, [])),
             nproc=4, memory=2048, action="poweroff", kcache="stored in the kernel cache"),
        # Past 3 GiB: the rest of RAM must reappear above the 4 GiB hole.
        dict(run=L.Run("d_2cpu_3584m_hole", vmm=vmm, cpus=2, memory=3584, timeout=RUN_TIMEOUT,
                       cmdline=QUIET, extra_args=KCACHE_ARGS.get(vmm, [])),
             nproc=2, memory=3584, action="poweroff", kcache="from the kernel cache"),
    ] + ([
        # A kernel without a PVH note (its vmlinux with the note taken out): Hearth boots
        # its ELF through Linux's 64-bit entry and a zero page, as Firecracker does.
        dict(run=L.Run("e_vmlinux_no_pvh", vmm=vmm, cpus=2, memory=512, timeout=RUN_TIMEOUT,
                       cmdline=QUIET, kernel=NO_PVH_VMLINUX),
             nproc=2, memory=512, action="poweroff", bootver=None),
    ] if vmm == "hearth" else [])


PROBES = ["open /etc/passwd", "connect 127.0.0.1", "connect unix socket beside the API socket",
          "signal a process outside", "execve /proc/self/exe", "ptrace PTRACE_SEIZE hearth",
          "ioctl SIOCGIFCONF"]
# The probes' kernels need not tell their boot (a above does, on the whole console).
PROBE_CMDLINE = L.L2_CONSOLE + " panic=-1"


class ProbeRun(L.Run):
    """A Hearth boot with the sandbox probe on; `jail`: under --jail as uid 1000,
    with the kernel and initrd copied into the jail first."""

    def __init__(self, name, extra=(), jail=False, pidns=False):
        super().__init__(name, vmm="hearth", cpus=1, memory=256, timeout=RUN_TIMEOUT,
                         cmdline=PROBE_CMDLINE, extra_args=extra)
        self.jail, self.pidns = jail, pidns

    def argv(self, l1_initrd_path):
        if self.pidns:
            # The process started exits at once (docs/security.md, "The PID namespace"):
            # the run lasts until the pid in the file has exited (a zombie: L1's init may
            # not reap it), its output still on the run's stdout and stderr.
            cmd = " ".join("'%s'" % a for a in super().argv(l1_initrd_path))
            script = ("P=/tmp/probe-pidns.pid; rm -f $P; HEARTH_SANDBOX_PROBE=1 %s "
                      "--new-pid-ns --pid-file $P || exit $?; pid=$(cat $P); "
                      "while [ -e /proc/$pid ] && ! grep -q '^State:.*Z' /proc/$pid/status "
                      "2>/dev/null; do sleep 1; done" % cmd)
            return ["/bin/sh", "-c", script]
        if not self.jail:
            return ["env", "HEARTH_SANDBOX_PROBE=1"] + super().argv(l1_initrd_path)
        script = ("J=/tmp/jail; mkdir -p $J && cp %s $J/vmlinuz && cp %s $J/initrd && "
                  "HEARTH_SANDBOX_PROBE=1 exec %s/hearth run --jail $J --uid 1000 --gid 1000 "
                  "--kernel /vmlinuz --initrd /initrd --cmdline '%s' --memory 256"
                  % (L.L1_KERNEL, l1_initrd_path, L.L1_BIN, PROBE_CMDLINE))
        return ["/bin/sh", "-c", script]


# L1's busybox initramfs has neither /etc/passwd nor a loopback that is up:
# without them the probe's open and connect would fail with no sandbox at all.
PROBE_SETUP = ("mkdir -p /etc && echo 'root:x:0:0:root:/:/bin/sh' >/etc/passwd && "
               "(ip link set lo up || ifconfig lo 127.0.0.1 up)")


def probe_plan():
    return [
        dict(run=L.ShellRun("probe_setup", "hearth", PROBE_SETUP, timeout=30)),
        dict(run=L.CommandRun("sandbox_report", "hearth",
                              [L.L1_BIN + "/hearth", "--sandbox-report"], timeout=30)),
        dict(run=ProbeRun("probe_sandboxed"), expect="refused"),
        dict(run=ProbeRun("probe_jail", jail=True), expect="refused"),
        dict(run=ProbeRun("probe_off", extra=["--no-sandbox", "--no-seccomp"]), expect="allowed"),
        # Without filters, the PID namespace alone: the process outside has no pid inside.
        dict(run=ProbeRun("probe_pidns", extra=["--no-seccomp"], pidns=True),
             expect="refused (ESRCH)", probes=["signal a process outside"], detached=True),
    ]


def landlock_abi(res):
    """From the sandbox_report run: L1's Landlock ABI (TCP rules need 4)."""
    r = res.runs.get("sandbox_report")
    for l in (r.guest_lines if r else []):
        if l.startswith("landlock: ABI "):
            return int(l.split()[2])
    return 0


def check_probe(spec, r):
    n = spec["run"].name
    if r is None or not r.begun:
        yield False, "%s: run started" % n
        return
    if "expect" not in spec:
        yield r.rc == 0, "%s: exit 0 (got %s) %s" % (n, r.rc, " / ".join(r.guest_lines))
        return
    got = {}
    for l in r.stderr_lines:
        if l.startswith("probe: ") and ": " in l[7:]:
            what, verdict = l[7:].rsplit(": ", 1)
            got[what] = verdict
    for what in spec.get("probes", PROBES):
        # The jail's VM has no NIC, so it has a network namespace too.
        want = spec["expect"]
        v = got.get(what, "missing")
        yield v.startswith(want), "%s: %s: %s (want %s)" % (n, what, v, want)
    if spec.get("detached"):
        # Its exit status goes to L1's init, not the run: its last line says how it ended.
        off = any(l.endswith("hearth: guest powered off") for l in r.stderr_lines)
        yield r.ended and r.rc == 0 and off, "%s: the guest still boots and powers off " \
            "(exit %s, 'guest powered off' %s)" % (n, r.rc, "said" if off else "not said")
        return
    yield r.ended and r.rc == 0, "%s: the guest still boots and powers off: exit 0 (got %s)" % (
        n, r.rc)


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
    if spec["run"].vmm == "hearth":
        # The same command line whichever way the kernel booted: through PVH
        # (a, c, d: start_info's) or as the bzImage (b: the zero page's).
        cl = r.info.get("cmdline")
        yield cl == spec["run"].cmdline, "%s: /proc/cmdline is exactly the one given (got %r)" % (
            n, cl)
        yield from check_pci(n, r)
        if "kcache" in spec:
            said = [l for l in r.stderr_lines if "kernel cache" in l]
            yield any(spec["kcache"] in l for l in said), \
                "%s: Hearth's stderr says the kernel was %s (got %s)" % (n, spec["kcache"], said)
        # The boot protocol the kernel saw: PVH's start (Linux fills its own boot
        # parameters, version 2.12) when Hearth decompressed it, the bzImage's own
        # header (Debian's 2.15) when the guest did.
        if spec.get("bootver", True) is None:
            return
        want = "0x020f" if spec.get("guest_decompress") else "0x020c"
        got = r.info.get("bootver")
        yield got == want, "%s: the kernel booted %s (boot protocol %s, got %s)" % (
            n, "as a bzImage" if spec.get("guest_decompress") else
            "through PVH, decompressed by Hearth", want, got)


HOST_BRIDGE = "0000:00:00.0:0x8086:0x0d57:0x060000"


def check_pci(n, r):
    """The PCI root complex as the stock kernel finds it through ACPI: no
    'PCI: Fatal', ECAM from the MCFG trusted (its motherboard resource),
    the root bridge PCI0, and the host bridge in sysfs."""
    fatal = [l for l in r.guest_lines if "PCI: Fatal" in l or "does not support PCI" in l]
    yield not fatal, "%s: the kernel logs no PCI error (%s)" % (n, fatal[:1] or "none")
    mcfg = [l for l in r.guest_lines if "MMCONFIG at" in l]
    yield any("ACPI motherboard resource" in l for l in mcfg), \
        "%s: ECAM from the MCFG, reserved by a motherboard resource (%s)" % (n, mcfg[-1:])
    root = any("PCI Root Bridge [PCI0]" in l for l in r.guest_lines)
    yield root, "%s: the kernel finds the root bridge PCI0 in the DSDT" % n
    got = r.info.get("pci", "").split()
    yield got == [HOST_BRIDGE], "%s: /sys/bus/pci holds the host bridge alone (got %s)" % (n, got)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", default="hearth", choices=["hearth", "qemu"])
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    specs = plan(a.vmm)
    probes = probe_plan() if a.vmm == "hearth" else []
    try:
        L.vmm_binary(a.vmm)
    except L.LabError as e:      # not the lab's fault: Hearth is not built
        print("FAIL %s [%s]" % (e, a.vmm))
        print("0 passed, 1 failed")
        return 1
    try:
        lab = L.Lab(stream=a.stream or None)
        files = {}
        if a.vmm == "hearth":
            files[NO_PVH_VMLINUX] = L.vmlinux_without_pvh(
                L.extract_vmlinux(lab.kernel.vmlinuz, os.path.join(L.LAB_DIR, "vmlinux")),
                os.path.join(L.LAB_DIR, "vmlinux-no-pvh"))
        res = lab.run_plan([s["run"] for s in specs + probes], tag="core-" + a.vmm,
                           files=files)
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    if not res.ok:
        print(res.failure_line())
        return 3
    if res.retry_line():
        print(res.retry_line())
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
    if probes:
        print("  info: L1's Landlock ABI %d (not checked)" % landlock_abi(res))
    for s in probes:
        r = res.runs.get(s["run"].name)
        run_failed = False
        for ok, desc in check_probe(s, r):
            print("%s %s [%s]" % ("PASS" if ok else "FAIL", desc, a.vmm))
            passed += bool(ok)
            failed += not ok
            run_failed |= not ok
        if run_failed and r is not None:
            print("  log excerpt for %s (full log: %s):" % (s["run"].name, res.log))
            for l in (r.guest_lines[-10:] + ["(stderr:)"] + r.stderr_lines[-20:]):
                print("    " + l)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
