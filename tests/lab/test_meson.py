#!/usr/bin/env python3
"""meson's tests that this host could not try, run unchanged inside the lab, in ONE L1 boot.

    tests/lab/test_meson.py --tests DIR:NAME[,DIR:NAME...] [--stream] [--retries N]

A test whose check needs what the host lacks (a /dev/kvm that runs its
guest, root, a cgroup hierarchy) says so on a line starting "not here:"
(tests/integration/itest.py, NotHere) and exits 77: meson counts it
skipped, and scripts/test.sh hands it here. L1 has KVM (kvm-amd under
QEMU's emulated SVM), root and the devices, so the test runs there: the
same command meson runs (`meson introspect --tests DIR`), in the same
directory, with the same binaries, Python and tools, because L1 sees this
host's root filesystem (l1.HostRoot: virtiofs, read-only, an overlay in
L1's RAM on top). Nothing is copied or rebuilt for L1.

Each DIR:NAME is one step of L1's plan and one verdict: PASS when the
command exits 0 without a "not here:" line; anything else (a failure, a
skip, a case still not tried in L1) is a FAIL. Prints one line per test
and `N passed, N failed`. Exit 0 all passed, 1 a test failed, 3 lab
failure (L1 panicked / went silent / timed out twice, or could not boot).
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.dont_write_bytecode = True
import l1  # noqa: E402
import lab as L  # noqa: E402
from itest import NOT_HERE  # noqa: E402

# A test in L1 runs under TCG: its meson timeout times this, at least MIN_TIMEOUT.
TCG_SLOWER = 6
MIN_TIMEOUT = 300
# What a test gets of this environment; the rest is the test's own (meson's "env").
KEEP_ENV = ("PATH", "LANG", "LC_ALL", "HOME", "ASAN_OPTIONS", "UBSAN_OPTIONS")


def introspect(build_dir):
    """{name: meson's test dict} for a build directory."""
    out = subprocess.run(["meson", "introspect", "--tests", build_dir], check=True,
                         capture_output=True, text=True).stdout
    return {t["name"]: t for t in json.loads(out)}


def step_name(build_dir, name):
    return "%s.%s" % (os.path.basename(os.path.normpath(build_dir)).replace("-", "_"),
                      name.replace("-", "_"))


def covered_by(wanted, cache, build_dir, name):
    """The (dir, name) whose run in L1 also runs this one: the normal build's command of a
    test that takes --asan BUILD-ASAN/hearth runs the sanitizer build too, which is all the
    sanitizer build's own command runs (itest.run_cases). None: it runs itself."""
    hearth = os.path.realpath(os.path.join(build_dir, "hearth"))
    for other, n in wanted:
        if n != name or other == build_dir:
            continue
        cmd = cache.setdefault(other, introspect(other)).get(name, {}).get("cmd", [])
        if "--asan" in cmd[:-1] and os.path.realpath(cmd[cmd.index("--asan") + 1]) == hearth \
                and cache[build_dir][name]["cmd"][:1] == cmd[:1]:
            return other, n
    return None


def plan(wanted):
    """The runs: L1's mount of the host's root, then one per (dir, test) that no other's
    run covers. Returns (runs, steps): steps (dir, name, run name, covering (dir, name))."""
    runs = [l1.host_root_run()]
    steps, cache = [], {}
    for build_dir, name in wanted:
        tests = cache.setdefault(build_dir, introspect(build_dir))
        t = tests.get(name)
        if t is None:
            raise L.LabError("%s has no test %s" % (build_dir, name))
        cover = covered_by(wanted, cache, build_dir, name)
        if cover:
            steps.append((build_dir, name, step_name(*cover), cover))
            continue
        env = ["%s=%s" % (k, os.environ[k]) for k in KEEP_ENV if k in os.environ]
        env += ["%s=%s" % kv for kv in sorted(t.get("env", {}).items())]
        env.append("MESON_TEST_ITERATION=1")
        workdir = t.get("workdir") or os.path.abspath(build_dir)
        tmo = max(MIN_TIMEOUT, TCG_SLOWER * int(t.get("timeout") or 30))
        argv = ["chroot", "/lab/root", "/usr/bin/env", "-i", "-C", workdir] + env + t["cmd"]
        run = L.CommandRun(step_name(build_dir, name), "hearth", argv, timeout=tmo)
        runs.append(run)
        steps.append((build_dir, name, run.name, None))
    return runs, steps


def verdict(r):
    """(ok, why) of one test's run in L1."""
    if r is None or not r.begun or not r.ended:
        return False, "did not run to its end in L1"
    if r.hung:
        return False, "outlived its timeout's SIGKILL in L1"
    lines = r.guest_lines + r.stderr_lines
    if any(l.startswith(NOT_HERE) for l in lines):
        return False, "not tried in L1 either: " + next(l for l in lines if l.startswith(NOT_HERE))
    if r.rc == 77:
        return False, "skipped in L1 too (exit 77)"
    if r.rc != 0:
        return False, "exit %d" % r.rc
    return True, ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tests", required=True, help="DIR:NAME,... (meson build dir, test name)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    ap.add_argument("--retries", type=int, default=1,
                    help="boot L1 again this many times after a lab failure (default 1)")
    a = ap.parse_args()
    wanted = []
    for item in filter(None, a.tests.split(",")):
        d, _, n = item.rpartition(":")
        wanted.append((d or "build", n))
    try:
        lab = L.Lab(stream=a.stream or None)
        runs, steps = plan(wanted)
        extra = L.L1Extra(modules=l1.HOST_ROOT_MODULES, host_root=True)
        res = lab.run_plan(runs, tag="meson", retries=a.retries, l1_extra=extra)
    except (L.LabError, subprocess.CalledProcessError) as e:
        print("LAB FAILURE: %s" % e)
        return 3
    if not res.ok:
        print(res.failure_line())
        return 3
    if res.retry_line():
        print(res.retry_line())
    mount = res.runs.get("hostroot")
    if mount is None or mount.rc != 0 or mount.info.get("hostroot") != "ok":
        print("LAB FAILURE: L1 could not mount this host's root: %s" % " | ".join(
            (mount.guest_lines + mount.stderr_lines)[-6:] if mount else ["no run"]))
        return 3
    passed = failed = 0
    for build_dir, name, step, cover in steps:
        r = res.runs.get(step)
        ok, why = verdict(r)
        took = ""
        if cover:
            took = " (run by %s [%s], which checks this build's binary too)" % (
                cover[1], os.path.basename(os.path.normpath(cover[0])))
        elif r is not None and r.t_begin is not None and r.t_end is not None:
            took = " (%.1f s in L1)" % (r.t_end - r.t_begin)
        label = "%s [%s]" % (name, os.path.basename(os.path.normpath(build_dir)))
        print("PASS %s%s" % (label, took) if ok else "FAIL %s: %s%s" % (label, why, took))
        if not ok and r is not None and not cover:
            for line in (r.guest_lines + ["stderr:"] + r.stderr_lines)[-30:]:
                print("  | " + line)
        passed += ok
        failed += not ok
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
