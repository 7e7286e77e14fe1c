#!/usr/bin/env python3
"""The freestanding guest tests (tests/guest) inside the lab, in ONE L1 boot.

    tests/lab/test_guest.py [--hearth build/hearth] [--asan build-asan/hearth]
                            [--only NAME,...] [--stream]

For hosts whose /dev/kvm cannot run these guests (there meson's `guest`
suite skips them; scripts/test.sh then runs this file).  The plans and the
checks are run_guest_test.py's own, unchanged: only the place differs.
Every invocation becomes one step of L1's plan in which guestrun (built
by meson next to hearth, copied into L1 with its libraries) runs
/lab/bin/hearth on /dev/kvm of L1 (kvm-amd npt=0) and prints its report on
L1's console; the report is read back from the serial log and checked here.

guestrun and the guests are taken from the build directory of --hearth
(<dir>/tests/guest/guestrun and <dir>/tests/guest/*.elf, *.bin).  With --asan,
every test also runs with that (sanitizer) build of hearth, in the same
L1 boot, reported as "NAME [asan]".

Prints one line per test and `N passed, N failed`.  Exit 0 all passed,
1 a test failed, 3 lab failure (L1 panicked / went silent / timed out
twice, or the lab could not be built).
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "guest"))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402
import run_guest_test as G  # noqa: E402

L1_HEARTH = L.L1_BIN + "/hearth"
L1_HEARTH_ASAN = L.L1_BIN + "/hearth-asan"
L1_GUESTRUN = L.L1_BIN + "/guestrun"
L1_GUESTS = "/lab/guest"
# Each wait of guestrun (a console line, hearth's exit) inside L1, against
# hangs only: nested SVM under TCG is slow, a guest here takes seconds (a
# whole run 10 s at most, ASan's chaos, in CI on 2026-11-28). An L1 that
# wedges in a run is only caught at that run's timeout and more
# (lab.run_overdue_after): 180 s a wait made that 14 minutes for a
# three-wait run, where 60 s makes it 6.
WAIT_TIMEOUT = 60


class Planned:
    """One test's invocations with one hearth (variant "" or "asan"), and
    the names of their runs in L1's plan."""

    def __init__(self, name, test, variant, hearth):
        self.name, self.test, self.variant, self.hearth = name, test, variant, hearth
        self.invocations, self.runs = [], []
        self.error = None       # a TestFailure while planning


    def label(self):
        return self.name + (" [%s]" % self.variant if self.variant else "")


def plan_all(names, variants, guests_dir, stage):
    """Plans the tests for each (variant, hearth path in L1): returns
    (planned, runs, files for L1)."""
    files, planned, runs = {}, [], []

    def put(path, data):
        host = os.path.join(stage, os.path.relpath(path, L1_GUESTS))
        os.makedirs(os.path.dirname(host), exist_ok=True)
        with open(host, "wb") as f:
            f.write(data)
        files[path] = host

    env = ["env"] + ["%s=%s" % kv for kv in sorted(G.SANITIZER_ENV.items())]
    for variant, hearth in variants:
        for name in names:
            test = G.TESTS[name]
            p = Planned(name, test, variant, hearth)
            planned.append(p)
            elf = os.path.join(guests_dir, test.image)
            l1_elf = "%s/%s" % (L1_GUESTS, test.image)
            files[l1_elf] = elf
            tag = "%s.%s" % (variant, name) if variant else name
            place = G.Place(hearth, l1_elf, elf, "%s/%s" % (L1_GUESTS, tag), put)
            try:
                p.invocations = test.plan(place)
            except G.TestFailure as e:
                p.error = "cannot plan: %s" % e
                continue
            for i, inv in enumerate(p.invocations, 1):
                argv = env + inv.guestrun_argv(L1_GUESTRUN, hearth, WAIT_TIMEOUT)
                run = L.CommandRun("%s.%d" % (tag, i), "hearth", argv,
                                   timeout=WAIT_TIMEOUT * inv.waits() + 60)
                p.runs.append(run.name)
                runs.append(run)
    return planned, runs, files


def evaluate(p, result):
    """(ok, message, outcomes, seconds in L1) for one planned test."""
    if p.error:
        return False, p.error, [], None
    outcomes, seconds = [], 0.0
    try:
        for inv, rn in zip(p.invocations, p.runs):
            r = result.runs.get(rn)
            G.check(r is not None and r.begun and r.ended,
                    "%s did not run to its end in L1" % rn)
            G.check(not r.hung, "%s outlived its timeout's SIGKILL in L1 (a process stuck in "
                    "the kernel?), given up after %d s" % (rn, WAIT_TIMEOUT * inv.waits() + 60))
            G.check(r.rc == 0, "guestrun failed in L1 (%s, rc %s): %s"
                    % (rn, r.rc, " | ".join(r.stderr_lines[-5:])))
            if r.t_begin is not None and r.t_end is not None:
                seconds += r.t_end - r.t_begin
            outcomes.append(G.parse_report(r.guest_lines, inv, [p.hearth] + inv.args,
                                           WAIT_TIMEOUT))
        p.test.check(outcomes)
    except G.TestFailure as e:
        return False, str(e), outcomes, seconds
    return True, "", outcomes, seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--asan", help="also run every test with this sanitizer build of hearth")
    ap.add_argument("--only", help="comma-separated test names (default: all)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    ap.add_argument("--retries", type=int, default=2,
                    help="boot L1 again this many times after a lab failure (default 2)")
    a = ap.parse_args()
    hearth = os.path.abspath(a.hearth or os.environ.get("HEARTH") or
                             os.path.join(L.REPO, "build", "hearth"))
    os.environ["HEARTH"] = hearth
    guests_dir = os.path.join(os.path.dirname(hearth), "tests", "guest")
    guestrun = os.path.join(guests_dir, "guestrun")
    names = a.only.split(",") if a.only else list(G.TESTS)
    unknown = [n for n in names if n not in G.TESTS]
    binaries = {L1_GUESTRUN: guestrun}
    variants = [("", L1_HEARTH)]
    if a.asan:
        binaries[L1_HEARTH_ASAN] = os.path.abspath(a.asan)
        variants.append(("asan", L1_HEARTH_ASAN))
    missing = [p for p in list(binaries.values()) + [hearth] +
               [os.path.join(guests_dir, G.TESTS[n].image) for n in names
                if n in G.TESTS] if not os.path.exists(p)]
    if unknown or missing:       # not the lab's fault: not built, or a typo
        print("FAIL unknown tests %s, missing files %s (run make)" % (unknown, missing))
        print("0 passed, 1 failed")
        return 1
    try:
        lab = L.Lab(stream=a.stream or None)
        stage = os.path.join(L.work_dir(), "guest-files")
        planned, runs, files = plan_all(names, variants, guests_dir, stage)
        res = lab.run_plan(runs, tag="guest", binaries=binaries, files=files,
                           retries=a.retries)
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    if not res.ok:
        print(res.failure_line())
        return 3
    if res.retry_line():
        print(res.retry_line())
    passed = failed = 0
    for p in planned:
        ok, msg, outcomes, seconds = evaluate(p, res)
        took = " (%.1f s in L1, not checked)" % seconds if seconds is not None else ""
        print("PASS %s%s" % (p.label(), took) if ok else
              "FAIL %s: %s%s" % (p.label(), msg, took))
        if not ok:
            print("  serial log: %s" % res.log)
            for o in outcomes:
                G.dump(o, sys.stdout)
        passed += ok
        failed += not ok
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
