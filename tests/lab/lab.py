#!/usr/bin/env python3
"""The lab: boots a stock Debian kernel (L1) under QEMU TCG with emulated AMD
SVM, loads kvm-amd npt=0 inside it, and runs a plan of L2 guests with a VMM
(Hearth or QEMU microvm) inside L1.  Results are read from marker lines on
L1's serial console.

Why: this machine's /dev/kvm is PVM-backed (kvm_pvm), on which a stock kernel
cannot boot, so real-kernel tests go through a nested lab.

This file is the harness: Lab boots L1, runs a plan and retries a wedged L1
with what is left; parse_log, RunResult and L1Result read the results;
report and standalone are a lab test's main().  The other parts:
    lab_build.py   what boots: the kernel, L1's and L2's initramfs images
    lab_plan.py    the run plans: Run, CommandRun, ShellRun, and the shell
                   helpers they run with (SH_*, L1's L1_LIB)
    lab_base.py    what every part uses: paths, log, LabError, work_dir, sh
This module re-exports all of them: users `import lab as L` and use L.NAME,
and `L.NAME = value` reaches the part that reads NAME (_Module below).

Library use (see tests/lab/test_core.py, bench/run.sh):

    lab = Lab()
    runs = [Run("a", vmm="qemu", cpus=2, memory=512, cmdline="console=ttyS0")]
    result = lab.run_plan(runs)          # retries a lab failure twice, with what is left
    result.runs["a"].rc, .info["nproc"], .guest_lines, .stderr_lines

CLI:
    lab.py prepare                     build kernel + initrds (no boot)
    lab.py smoke [--vmm qemu|hearth]   one L2 boot, prints the run's output
    lab.py demo  [--vmm ...]           interactive L1 -> L2 shell (scripts/demo.sh)

Everything is cached under build/lab/ (what and by what key: lab_build.py).
Environment: LAB_STREAM=1 streams L1's serial console to stderr while it
runs.
"""
import argparse
import os
import re
import select
import subprocess
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import l1  # noqa: E402
import lab_base  # noqa: E402
import lab_build  # noqa: E402
import lab_plan  # noqa: E402
# The parts' names, re-exported (L.NAME), all but lab_base's private _work.
from lab_base import (KEEP_RUN_DIRS, KERNEL_META, KERNEL_META_GENERIC,  # noqa: E402,F401
                      L1_BIN, L1_KERNEL, L1_QEMU_DATA, LAB_DIR, REPO, VMM_TEMPLATES,
                      LabError, log, sh, sh_out, work_dir)
from lab_plan import (L1_LIB, QEMU, QEMU_MICROVM_BEST, SH_API, SH_API_AT,  # noqa: E402,F401
                      L2_CONSOLE, SH_LINES, SH_WAITFOR, SH_WAITSOCK, CommandRun, Run, ShellRun,
                      uffd_handler, vmm_binary)
from lab_build import (BUSYBOX, DECOMPRESSORS, DLOPENED, L1_INIT, L1_MODULES,  # noqa: E402,F401
                       L2_INIT, MODINFO, QEMU_FIRMWARE, QEMU_FIRMWARE_DIRS,
                       XEN_ELFNOTE_PHYS32_ENTRY, Kernel, L1Extra, Tree, apt_resolve_kernel,
                       build_l1_initrd, build_l2_initrd, digest, dlopened_paths,
                       extract_vmlinux, get_kernel, ldd_deps, vmlinux_without_pvh)

_UNSET = object()


class _Module(types.ModuleType):
    """This module's type.  Users set lab's globals (`L.L1_MODULES = ...` in
    the tests and bench/io.py, `L.LAB_DIR` and `L.build_l1_initrd` in
    bench/io.py, `L.work_dir` in test_harness.py); a part's functions look
    such a name up in their own module, so `L.NAME = value` also rebinds
    NAME in each part that holds the object lab held: every reader sees the
    new value, as when the lab was one file."""

    def __setattr__(self, name, value):
        old = self.__dict__.get(name, _UNSET)
        if old is not _UNSET:
            for part in (lab_base, lab_plan, lab_build):
                if part.__dict__.get(name, _UNSET) is old:
                    setattr(part, name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Module

# L1: what QEMU TCG emulates, its QEMU, and the record of every boot: l1.py.
L1_QEMU_ARGS, L1_CMDLINE = l1.L1_QEMU_ARGS, l1.L1_CMDLINE
# L1 prints LAB-L1-TICK every 10 s during a plan; this long without a line
# means L1 itself hung.
HEARTBEAT_SILENCE = 150
# Once L1 ticks (every 10.0 to 10.2 s in every CI log of 2026-11-28, the
# busiest plans included), six missed ticks are its wedge: waiting the boot's
# 150 s there cost each silent wedge 90 s more before its retry.
TICK_SILENCE = 60
# After /dev/kvm, L1 starts its keeper (waiting for it at most 30 s) and then
# its plan: something of either comes within this many seconds, or L1 wedged
# starting the keeper's VM (seen twice in a row in CI, 2026-11-26).
KEEPER_START_LIMIT = 60


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


# L1 runs its plans at full console log level (a wedge or a panic must show),
# and the kernel writes its messages straight to the UART, between the bytes
# of a line a plan's process has in the tty's buffer:
#     a| VG x_p[   73.408787] kvm [1614]: vcpu0, ... Unhandled WRMSR
#     ing=ok
# The cut line would be lost to its run. Only a line whose text goes on,
# unprefixed, on the next one is taken for that (a guest's own dmesg line,
# "a| [ 0.5] ...", is followed by its run's next prefixed line): the
# kernel's message is given its own line and the run's line its whole.
KMSG_MID_RE = re.compile(r"^([A-Za-z0-9_.-]+!?\| ?.+?)(\[\s*\d+\.\d{6}\] .*)$")
LINE_START_RE = re.compile(r"^([A-Za-z0-9_.-]+!?\||LAB-|\[\s*\d+\.\d+\])")


def unsplice(lines):
    cut = None      # (the run's part, the kernel's message) of the line before
    for raw in lines:
        line = raw.rstrip("\r\n").replace("\r", "")
        if cut:
            head, kmsg = cut
            cut = None
            if not LINE_START_RE.match(line):
                yield kmsg
                yield head + line
                continue
            yield head + kmsg
        m = KMSG_MID_RE.match(line)
        if m:
            cut = (m.group(1), m.group(2))
            continue
        yield line
    if cut:
        yield cut[0] + cut[1]


def parse_log(lines, result):
    runs = result.runs
    for line in unsplice(lines):
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


LAB_HUNG_GRACE = 30     # lab_run's default (L1_LIB, lab_plan.py)


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
        extra = getattr(self, "l1_extra", None)
        try:
            share = l1.HostRoot(work_dir()) if extra and extra.host_root else None
        except RuntimeError as e:
            raise LabError(str(e))
        argv = self.l1_argv(initrd) + (share.qemu_args() if share else []) + [
            "-chardev", "stdio,id=c0,signal=off", "-serial", "chardev:c0",
            "-monitor", "unix:%s,server=on,wait=off" % monitor]
        try:
            return self._boot_l1(argv, monitor, logpath, timeout, silence, run_limits)
        finally:
            if share:
                share.stop()

    def _boot_l1(self, argv, monitor, logpath, timeout, silence, run_limits):
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
                limit = min(silence, TICK_SILENCE) if ticking else silence
                if now - last > limit:
                    failure = "L1 silent for %ds" % limit
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
        boot and needs nothing from another), and the setup steps again (a
        Run's setup: L1's mount of the host root, which the steps after it
        use); the runs it did end keep their results.  The L1 limits are only against hangs: every L2 run has its
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
            # Nothing left but setup steps: nothing to boot again for.
            if all(r.name in ended for r in runs if not getattr(r, "setup", False)):
                return boot_of([])
            return boot_of([r for r in runs
                            if r.name not in ended or getattr(r, "setup", False)])

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
