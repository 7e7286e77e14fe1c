#!/usr/bin/env python3
"""The lab's own failure detection, without QEMU: a shell script stands in
for L1 and prints what a real L1 printed when it wedged (tests/lab/README.md).

    tests/lab/test_harness.py

Checks boot_l1(): a plan that finishes is not a failure; L1 that stops
ticking is "silent" even while something else keeps printing; an L1
soft-lockup or RCU-stall report ends the attempt at once; the same words
inside an L2's prefixed console are L2's business, not a lab failure.
Then the record of a boot (l1.classify_boot: the wedge's kind and the L2
run it happened in), a retry of only the runs a failed boot left, and the wedge probe (l1.probe_vcpus) against a fake
QEMU monitor. And L.report, the end every lab test shares.
Prints one line per check and `N passed, N failed`.
"""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402
import l1  # noqa: E402


class FakeLab(L.Lab):
    """Lab whose "L1" is a shell script; no kernel, no QEMU."""

    def __init__(self, script):
        self.stream = False
        self.script = script

    def l1_argv(self, initrd, cmdline=None):
        # A dict of scripts stands for L1 images: the image picks its script.
        script = self.script[initrd] if isinstance(self.script, dict) else self.script
        return ["/bin/sh", "-c", script]


FINISH = 'echo "LAB-L1-UP t=1.0"; echo "LAB-L1-KVM ok t=1.5"; echo "LAB-L1-DONE"'

CASES = [
    # (name, script, silence s, timeout s, expected failure substring or None)
    ("plan that finishes", 'echo "LAB-L1-TICK t=1"; ' + FINISH, 30, 60, None),
    # Ticks stop while a guest line keeps coming every 0.5 s: still silent.
    ("ticks stop, other output goes on",
     'echo "LAB-L1-UP t=1.0"; echo "LAB-L1-TICK t=2"; '
     'while :; do echo "a| [ 1.0] still printing"; sleep 0.5; done', 2, 60, "silent"),
    ("L1 soft lockup report",
     'echo "LAB-L1-UP t=1.0"; echo "LAB-L1-TICK t=2"; '
     'echo "[  204.94] watchdog: BUG: soft lockup - CPU#1 stuck for 48s! [qemu:159]"; '
     'sleep 30', 20, 60, "stuck"),
    ("L1 RCU stall report",
     'echo "LAB-L1-UP t=1.0"; '
     'echo "[  99.1] rcu: INFO: rcu_preempt self-detected stall on CPU"; sleep 30',
     20, 60, "stuck"),
    # Seen in CI: khugepaged stuck in flush_work while a run's Hearth exited,
    # ticks going on; the run would only have been overdue minutes later.
    ("L1 hung task report",
     'echo "LAB-L1-UP t=1.0"; echo "LAB-L1-TICK t=2"; '
     'echo "[  243.42] INFO: task khugepaged:36 blocked for more than 120 seconds."; '
     'while :; do echo "LAB-L1-TICK t=3"; sleep 0.5; done', 20, 60, "stuck"),
    ("L2's own hung task is not L1's",
     'echo "LAB-L1-UP t=1.0"; echo "LAB-L1-TICK t=2"; '
     'echo "a| [ 300.0] INFO: task sh:80 blocked for more than 120 seconds."; ' + FINISH,
     30, 60, None),
    ("L2's own soft lockup is not L1's",
     'echo "LAB-L1-UP t=1.0"; echo "LAB-L1-TICK t=2"; '
     'echo "a| [ 50.0] watchdog: BUG: soft lockup - CPU#0 stuck for 22s!"; ' + FINISH,
     30, 60, None),
    ("L1 panic", 'echo "LAB-L1-UP t=1.0"; echo "[ 3.0] Kernel panic - not syncing: x"',
     30, 60, "panic"),
]


BOOT_LINES = ["LAB-L1-UP t=1.0", "LAB-L1-KVM ok t=2.0", "LAB-RUN-BEGIN a.1 t=3",
              "LAB-RUN-END a.1 rc=0 t=4", "LAB-RUN-BEGIN b.1 t=5"]
CLASSIFY = [
    # (name, lines, failure, expected (kind, where, runs ended))
    ("a finished plan", ["LAB-L1-UP t=1", "LAB-L1-KVM ok t=2", "LAB-RUN-BEGIN a.1 t=3",
                         "LAB-RUN-END a.1 rc=0 t=4", "LAB-L1-DONE"], None, ("ok", "end", 1)),
    ("silent inside a run", BOOT_LINES, "L1 silent for 150s", ("silent", "b.1", 1)),
    ("an RCU stall names the run",
     BOOT_LINES + ["[ 99.1] rcu: INFO: rcu_preempt self-detected stall on CPU"],
     "L1 stuck (x)", ("rcu-stall", "b.1", 1)),
    ("the timer-wakeup report wins over the stall it comes with",
     BOOT_LINES + ["[ 99.1] rcu: INFO: rcu_preempt detected stall on CPU",
                   "[ 99.2] rcu: rcu_preempt kthread timer wakeup didn't happen for 2502 jiffies"],
     "L1 stuck (x)", ("rcu-timer-wakeup", "b.1", 1)),
    ("a hung task names the run",
     BOOT_LINES + ["[ 243.4] INFO: task io:132 blocked for more than 120 seconds."],
     "L1 stuck (x)", ("hung-task", "b.1", 1)),
    ("L2's stall is not L1's kind", BOOT_LINES + ["b.1| [ 9.0] rcu: INFO: rcu_sched detected stall"],
     "L1 silent for 150s", ("silent", "b.1", 1)),
    ("between two runs", BOOT_LINES[:4], "L1 silent for 150s", ("silent", "after a.1", 1)),
    ("before /dev/kvm", ["LAB-L1-UP t=1.0"], "L1 silent for 150s", ("silent", "L1 boot", 0)),
]

# What QEMU's HMP answers to `info registers -a` (shortened): cpu0 in L1's
# idle loop, halted; cpu1 in kvm_amd's world switch; cpu2 in user space.
FAKE_REGS = ("CPU#0\nRAX=0000000000000000 RBX=0000000000000000\n"
             "RIP=ffffffffa1000010 RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\n"
             "CPU#1\nRIP=ffffffffc0a00044 RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=0\n"
             "CPU#2\nRAX=0000000000000001\n"
             "RIP=000055d0c0ffee00 RFL=00000202 [-------] CPL=3 II=0 A20=1 SMM=0 HLT=0\n")


def fake_monitor(path, answers):
    """A QEMU monitor on path: a banner and a prompt, then answers[i] to the
    i-th connection's command (None: never answers)."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)

    def serve():
        for ans in answers:
            c, _ = srv.accept()
            c.sendall(b"QEMU 10.0.2 monitor - type 'help' for more information\r\n(qemu) ")
            c.recv(4096)
            if ans is not None:
                c.sendall(ans.replace("\n", "\r\n").encode() + b"(qemu) ")
            time.sleep(0.2)
            c.close()
        srv.close()
    threading.Thread(target=serve, daemon=True).start()


def check_records(tmp):
    results = []
    for name, lines, failure, want in CLASSIFY:
        got = l1.classify_boot(lines, failure)
        results.append((got == want, "record: %s (got %r, expected %r)" % (name, got, want)))
    smap = os.path.join(tmp, "kallsyms-text")
    ok = l1.Symbols.write(smap, ["ffffffff81000000 T _stext", "ffffffff81000000 T startup_64",
                                 "ffffffff81000008 t default_idle", "ffffffff81001000 T schedule",
                                 "kvm_amd 155648 0 - Live 0xffffffffc0100000",
                                 "ffffffffc0100040 t svm_vcpu_run\t[kvm_amd]"])
    results.append((ok, "record: kallsyms text symbols are stored from _stext"))
    syms = l1.Symbols(smap)
    mon = os.path.join(tmp, "mon.sock")
    fake_monitor(mon, [FAKE_REGS, FAKE_REGS])
    got = l1.probe_vcpus(mon, syms, {"": 0xffffffffa1000000, "kvm_amd": 0xffffffffc0a00000},
                         rounds=2, gap=0.1)
    want = ("cpu0 L1 kernel default_idle+0x8 halted; cpu1 L1 kernel svm_vcpu_run+0x4 [kvm_amd]; "
            "cpu2 L1 user 0x55d0c0ffee00")
    results.append((got == [want, want], "probe: vCPUs named from a fake monitor (got %r)" % got))
    mon2 = os.path.join(tmp, "mon2.sock")
    fake_monitor(mon2, [None])
    t0 = time.monotonic()
    got = l1.probe_vcpus(mon2, syms, {}, rounds=2, gap=0.1)
    results.append((len(got) == 1 and "did not answer" in got[0],
                    "probe: a monitor that never answers is reported (got %r, %.1f s)"
                    % (got, time.monotonic() - t0)))
    got = l1.probe_vcpus(os.path.join(tmp, "none.sock"), syms, {}, rounds=1)
    results.append((got == ["the monitor did not answer (QEMU itself stuck)"],
                    "probe: no monitor socket (got %r)" % got))
    return results


def check_hung_run(tmp):
    """L1's lab_run gives up on a command that outlives its timeout's
    SIGKILL (here a grandchild keeps the output open, as a VMM stuck in
    the kernel did) and goes on with the plan."""
    script = (L.L1_LIB + "\nlab_run stuck 1 0 sh -c 'sleep 30 & echo started'\n"
              "lab_run next 5 0 echo fine\n")
    t0 = time.monotonic()
    p = subprocess.run(["sh", "-c", script], cwd=tmp, capture_output=True, text=True,
                       env=dict(os.environ, LAB_HUNG_GRACE="1", TMPDIR=tmp), timeout=25)
    took = time.monotonic() - t0
    res = L.parse_log(p.stdout.splitlines(), L.L1Result())
    stuck, nxt = res.runs.get("stuck"), res.runs.get("next")
    return [(stuck is not None and stuck.hung and stuck.rc == 137 and
             stuck.guest_lines == ["started"],
             "a run whose output outlives its SIGKILL is given up as hung, rc 137 (%s, %.1f s)"
             % (repr(stuck and (stuck.hung, stuck.rc, stuck.guest_lines)), took)),
            (nxt is not None and nxt.rc == 0 and nxt.guest_lines == ["fine"] and not nxt.hung,
             "the plan goes on after it (%r)" % (nxt and (nxt.rc, nxt.guest_lines),))]


def check_tick_silence(tmp):
    """Once L1 ticks, missed ticks fail it after TICK_SILENCE, not after the
    boot's longer silence; before its first tick (the boot's quiet spells),
    only the boot's silence counts."""
    saved = L.TICK_SILENCE
    L.TICK_SILENCE = 2
    try:
        out = []
        for what, script, want in [
                ("ticks stop", 'echo "LAB-L1-UP t=1.0"; echo "LAB-L1-TICK t=2"; sleep 20',
                 "L1 silent for 2s"),
                ("quiet before the first tick", 'echo "LAB-L1-UP t=1.0"; sleep 4; '
                 'echo "LAB-L1-TICK t=5"; ' + FINISH, None)]:
            t0 = time.monotonic()
            _, failure, _ = FakeLab(script).boot_l1("unused", os.path.join(tmp, "l1.log"),
                                                    60, 15)
            took = time.monotonic() - t0
            ok = failure == want and (want is None or took < 15)
            out.append((ok, "%s: %r after %.1f s (expected %r, before the boot's 15 s)"
                        % (what, failure, took, want)))
        return out
    finally:
        L.TICK_SILENCE = saved


def check_overdue_run(tmp):
    """A run that begins and never ends while L1 keeps ticking (one L1 vCPU
    stopped: the run's timeout and watchdog in L1 never fire) is L1's wedge,
    caught at its deadline rather than at the plan's overall timeout; a run
    that ends in time, or one not in the limits, is not."""
    wedged = ('echo "LAB-L1-UP t=1.0"; echo "LAB-L1-KVM ok t=1.5"; '
              'echo "LAB-RUN-BEGIN a.1 t=2"; echo "LAB-RUN-END a.1 rc=0 t=2"; '
              'echo "LAB-RUN-BEGIN b.1 t=3"; '
              'while :; do echo "LAB-L1-TICK t=4"; sleep 0.3; done')
    ended = ('echo "LAB-L1-UP t=1.0"; echo "LAB-RUN-BEGIN b.1 t=3"; sleep 2; '
             'echo "LAB-RUN-END b.1 rc=0 t=5"; echo "LAB-L1-DONE"')
    saved = L.run_overdue_after
    L.run_overdue_after = lambda tmo: tmo   # seconds, for the test
    try:
        t0 = time.monotonic()
        _, f_wedged, _ = FakeLab(wedged).boot_l1("unused", os.path.join(tmp, "o1.log"), 60, 30,
                                                  {"a.1": 1, "b.1": 1})
        took = time.monotonic() - t0
        _, f_ended, _ = FakeLab(ended).boot_l1("unused", os.path.join(tmp, "o2.log"), 60, 30,
                                                {"b.1": 5})
        _, f_unknown, _ = FakeLab(ended).boot_l1("unused", os.path.join(tmp, "o3.log"), 60, 30,
                                                  {"c.1": 0})
    finally:
        L.run_overdue_after = saved
    return [(f_wedged is not None and "run b.1 outlived" in f_wedged and took < 30,
             "a run that never ends while L1 ticks is an L1 wedge (%r, %.1f s)"
             % (f_wedged, took)),
            (f_ended is None and f_unknown is None,
             "a run that ends in time is not (%r, %r)" % (f_ended, f_unknown))]


def check_keeper_start(tmp):
    """L1 silent right after /dev/kvm (its keeper's VM never started) ends the
    attempt at KEEPER_START_LIMIT, not at the heartbeat's silence; a keeper
    that answers, then a plan that ticks, is no failure."""
    wedged = 'echo "LAB-L1-UP t=1.0"; echo "LAB-L1-KVM ok t=1.5"; sleep 30'
    fine = ('echo "LAB-L1-UP t=1.0"; echo "LAB-L1-KVM ok t=1.5"; sleep 1; '
            'echo "LAB-L1-KEEPER ok"; sleep 2; echo "LAB-L1-TICK t=4"; sleep 1; '
            'echo "LAB-L1-DONE"')
    saved = L.KEEPER_START_LIMIT
    L.KEEPER_START_LIMIT = 4
    try:
        t0 = time.monotonic()
        _, f_wedged, _ = FakeLab(wedged).boot_l1("unused", os.path.join(tmp, "k1.log"), 60, 25)
        took = time.monotonic() - t0
        _, f_fine, _ = FakeLab(fine).boot_l1("unused", os.path.join(tmp, "k2.log"), 60, 25)
    finally:
        L.KEEPER_START_LIMIT = saved
    return [(f_wedged is not None and "after /dev/kvm" in f_wedged and took < 20,
             "L1 silent after /dev/kvm is caught at the keeper's limit (%r, %.1f s)"
             % (f_wedged, took)),
            (f_fine is None, "a keeper that starts, then a plan, is not (%r)" % f_fine)]


def check_last_lines_after_exit(tmp):
    """L1 that prints its last lines and exits just after the reader's
    select gave up (the select is made to give up once, here) is read to
    its end: its LAB-L1-DONE counts.  The old reader called that "stopped
    before finishing the plan" (CI, 2026-11-27)."""
    real = L.select.select
    calls = []

    def late_select(rl, wl, xl, tmo=None):
        if not calls:
            calls.append(1)
            time.sleep(0.5)          # the script prints and exits meanwhile
            return [], [], []
        return real(rl, wl, xl, tmo)
    L.select.select = late_select
    try:
        _, failure, _ = FakeLab(FINISH).boot_l1("unused", os.path.join(tmp, "x1.log"), 60, 25)
    finally:
        L.select.select = real
    return [(failure is None and calls == [1],
             "L1's last lines written as its reader's select gives up are read (%r)" % failure)]


def check_resume(tmp):
    """boot_with_retry with resume: L1 wedges (silent) after run a ended and
    while b ran; the retry boots an image of what is left, b and c, and the
    result holds a from the first boot and b and c from the second."""
    first = ('echo "LAB-L1-UP t=1.0"; echo "LAB-L1-KVM ok t=1.5"; '
             'echo "LAB-RUN-BEGIN a t=2"; echo "a| LAB x=first"; echo "LAB-RUN-END a rc=0 t=2"; '
             'echo "LAB-RUN-BEGIN b t=3"; sleep 30')
    rest = ('echo "LAB-L1-UP t=1.0"; echo "LAB-L1-KVM ok t=1.5"; '
            'echo "LAB-RUN-BEGIN b t=2"; echo "LAB-RUN-END b rc=0 t=2"; '
            'echo "LAB-RUN-BEGIN c t=3"; echo "LAB-RUN-END c rc=1 t=3"; ' + FINISH)
    asked = []

    def resume(ended):
        asked.append(sorted(ended))
        return "rest", 60, 2, {"b": 30, "c": 30}

    saved = (L.work_dir, l1.BOOTS_LOG)
    L.work_dir, l1.BOOTS_LOG = (lambda: tmp), os.path.join(tmp, "boots.jsonl")
    try:
        res = FakeLab({"all": first, "rest": rest}).boot_with_retry(
            "all", "resume", 60, 2, 1, 3, {"a": 30, "b": 30, "c": 30}, resume=resume)
        # Everything ended before the wedge: no second boot.
        done = FakeLab({"all": first.replace("sleep 30", 'echo "LAB-RUN-END b rc=0 t=4"; '
                                              'sleep 30')}).boot_with_retry(
            "all", "resume2", 60, 2, 1, 2, {"a": 30, "b": 30},
            resume=lambda ended: ("none", 60, 0, {}))
    finally:
        L.work_dir, l1.BOOTS_LOG = saved
    runs = {n: (r.ended, r.rc) for n, r in res.runs.items()}
    return [(asked == [["a"]] and res.ok and res.attempts == 2 and
             runs == {"a": (True, 0), "b": (True, 0), "c": (True, 1)} and
             res.runs["a"].info.get("x") == "first" and len(res.retried) == 1,
             "a retry runs only what the failed boot left (asked %r, runs %r, ok %r)"
             % (asked, runs, res.ok)),
            (done.ok and done.attempts == 1 and sorted(done.runs) == ["a", "b"] and
             bool(done.retried),
             "a boot that fails after its last run is not booted again (attempts %d, ok %r)"
             % (done.attempts, done.ok))]


def check_report():
    """L.report, every lab test's end: exit 3 for a failed lab, 1 for a failed check or a
    run that never ended, 0 when all passed; a failed run's last lines are printed."""
    import contextlib
    import io

    def result(ok=True, runs=()):
        res = L.L1Result()
        res.ok = ok
        res.failure = None if ok else "silent"
        for name, ended in runs:
            r = L.RunResult(name)
            r.begun = r.ended = ended
            r.guest_lines = ["guest said %s" % name]
            res.runs[name] = r
        return res

    def run(res, runs):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = L.report(res, runs)
        return rc, out.getvalue()

    good = lambda r: [(True, "%s fine" % r.name)]
    bad = lambda r: [(True, "%s half" % r.name), (False, "%s broken" % r.name)]
    rc_lab, out_lab = run(result(ok=False), [("a", good)])
    rc_ok, out_ok = run(result(runs=[("a", True), ("b", True)]), [("a", good), ("b", good)])
    rc_bad, out_bad = run(result(runs=[("a", True), ("b", True)]), [("a", good), ("b", bad)])
    rc_gone, out_gone = run(result(runs=[("a", False)]), [("a", good)])
    return [(rc_lab == 3 and "LAB FAILURE" in out_lab, "report: a failed lab is exit 3"),
            (rc_ok == 0 and "2 passed, 0 failed" in out_ok, "report: all passed is exit 0"),
            (rc_bad == 1 and "FAIL b broken" in out_bad and "guest said b" in out_bad and
             "guest said a" not in out_bad and "2 passed, 1 failed" in out_bad,
             "report: a failed check is exit 1, with that run's last lines"),
            (rc_gone == 1 and "FAIL a: run started and ended" in out_gone,
             "report: a run that never ended fails")]


def check_kvm_counters(tmp):
    """The boot bench's exits: L1's lab_kvm reads a VM's debugfs directory (PID-FD) and
    parse_log turns its LAB-RUN-KVM line into the run's counters."""
    d = os.path.join(tmp, "kvm", "4242-11")
    os.makedirs(d)
    os.makedirs(os.path.join(tmp, "kvm", "99-12"))   # another VM (the keeper's)
    for k, v in (("exits", 12700), ("io_exits", 5000), ("mmio_exits", 300)):
        with open(os.path.join(d, k), "w") as f:
            f.write("%d\n" % v)
    lib = L.L1_LIB.replace("/sys/kernel/debug/kvm", os.path.join(tmp, "kvm"))
    out = subprocess.run(["sh", "-c", lib + "\nlab_kvm r1 4242\nlab_kvm r2 7"],
                         stdout=subprocess.PIPE, text=True).stdout
    res = L.L1Result()
    L.parse_log(["LAB-RUN-BEGIN r1 t=1.0"] + out.splitlines(), res)
    r = res.runs.get("r1")
    return [(out.count("LAB-RUN-KVM") == 1 and r is not None and
             r.kvm == {"exits": 12700, "io_exits": 5000, "mmio_exits": 300},
             "lab_kvm: the VM's own counters, none for a pid without a VM (%r)" % out.strip())]


def check_unsplice(tmp):
    """A kernel message printed into the middle of a run's line (L1's console is at full
    log level): the run keeps its whole line, the message is its own."""
    res = L.L1Result()
    L.parse_log(["LAB-RUN-BEGIN a t=1.0",
                 "a| VG i1_p[   73.408787] kvm [1614]: vcpu0, Unhandled WRMSR(0xc0010007)",
                 "ing=ok",
                 "a| VG i1_neigh=10.9.1.2 [not a kernel stamp]",
                 "a| [    0.512345] ACPI: MCFG 0x000000000FFFE000 (the guest's own dmesg)",
                 "a| C0 [   17.435492] random: crng reseeded (a clone's dmesg, prefixed by the plan)",
                 "a| C0 LAB gen 21",
                 "[   74.000001] a line of L1's own",
                 "LAB-RUN-END a rc=0 t=2.0"], res)
    r = res.runs.get("a")
    got = r.guest_lines if r else None
    return [(got == ["VG i1_ping=ok", "VG i1_neigh=10.9.1.2 [not a kernel stamp]",
                     "[    0.512345] ACPI: MCFG 0x000000000FFFE000 (the guest's own dmesg)",
                     "C0 [   17.435492] random: crng reseeded (a clone's dmesg, prefixed by the plan)",
                     "C0 LAB gen 21"],
             "a kernel message inside a run's line leaves the line whole (%r)" % (got,))]


def check_wholelines(tmp):
    """SH_LINES's wholelines: a last line without its newline yet is left out, whole ones
    kept (CRs dropped), an empty file is nothing; lastcount reads the last whole count."""
    cut, whole, empty = (os.path.join(tmp, n) for n in ("cut.out", "whole.out", "empty.out"))
    for path, data in ((cut, b"LAB count 1\r\nLAB count 2\r\nLAB count 3 up="),
                       (whole, b"LAB count 1\r\nLAB count 2\r\n"), (empty, b"")):
        with open(path, "wb") as f:
            f.write(data)
    script = L.SH_LINES + 'for f in "$@"; do wholelines "$f"; echo "[last=$(lastcount "$f")]"; done'
    out = subprocess.run(["sh", "-c", script, "sh", cut, whole, empty], capture_output=True,
                         text=True).stdout
    want = ("LAB count 1\nLAB count 2\n[last=2]\n" * 2) + "[last=]\n"
    return [(out == want, "wholelines keeps whole lines only, and lastcount the last (%r)" % out)]


def main():
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, script, silence, timeout, want in CASES:
            t0 = time.monotonic()
            lines, failure, _ = FakeLab(script).boot_l1(
                "unused", os.path.join(tmp, "l1.log"), timeout, silence)
            took = time.monotonic() - t0
            if want is None:
                ok = failure is None
            else:
                # Caught by the detector, not by the overall timeout.
                ok = failure is not None and want in failure and took < timeout
            print("%s %s (failure=%r)" % ("PASS" if ok else "FAIL", name, failure))
            passed += ok
            failed += not ok
        for ok, what in check_records(tmp) + check_hung_run(tmp) + check_tick_silence(tmp) + check_overdue_run(tmp) + check_keeper_start(tmp) + check_last_lines_after_exit(tmp) + check_resume(tmp) + check_report() + \
                check_kvm_counters(tmp) + check_unsplice(tmp) + check_wholelines(tmp):
            print("%s %s" % ("PASS" if ok else "FAIL", what))
            passed += ok
            failed += not ok
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
