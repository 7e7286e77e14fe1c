#!/usr/bin/env python3
"""The lab's own failure detection, without QEMU: a shell script stands in
for L1 and prints what a real L1 printed when it wedged (tests/lab/README.md).

    tests/lab/test_harness.py

Checks boot_l1(): a plan that finishes is not a failure; L1 that stops
ticking is "silent" even while something else keeps printing; an L1
soft-lockup or RCU-stall report ends the attempt at once; the same words
inside an L2's prefixed console are L2's business, not a lab failure.
Prints one line per check and `N passed, N failed`.
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402


class FakeLab(L.Lab):
    """Lab whose "L1" is a shell script; no kernel, no QEMU."""

    def __init__(self, script):
        self.stream = False
        self.script = script

    def l1_argv(self, initrd, cmdline=None):
        return ["/bin/sh", "-c", self.script]


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
    ("L2's own soft lockup is not L1's",
     'echo "LAB-L1-UP t=1.0"; echo "LAB-L1-TICK t=2"; '
     'echo "a| [ 50.0] watchdog: BUG: soft lockup - CPU#0 stuck for 22s!"; ' + FINISH,
     30, 60, None),
    ("L1 panic", 'echo "LAB-L1-UP t=1.0"; echo "[ 3.0] Kernel panic - not syncing: x"',
     30, 60, "panic"),
]


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
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
