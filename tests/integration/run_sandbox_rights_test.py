#!/usr/bin/env python3
"""The sealed sandbox's rights on what it keeps (docs/security.md, audit F2).

    run_sandbox_rights_test.py --hearth build/hearth --case CASE [--asan ...]

CASE is rights, api-thread or pci-io-uring.

A sealed Hearth with a read-only drive and a writable one, each in a
directory of its own, and a read-only drive beside a writable one in a
third (HEARTH_SANDBOX_PROBE=1: the io thread, sealed, opens each path the
sandbox kept for writing, src/sandbox/probe.h). The read-only drives must
be refused (EROFS from their read-only bind mount, or EACCES from
Landlock), the writable ones allowed; /proc/PID/mountinfo must show each
read-only drive's bind mount "ro" and each writable one's "rw". Needs a
/dev/kvm that runs the smallest guest (itest.tiny_elf); skips elsewhere.

pci-io-uring (audit F1): a --pci VM's io thread, sealed, cannot make an
io_uring ring (HEARTH_SANDBOX_PROBE=1: the probe's children install the
io thread's very filter, PCI hotplug's extension included): its line is
"refused (seccomp)" sandboxed and under seccomp alone (--no-sandbox, as
Firecracker's binary runs without --jail), "allowed" with neither, so
the check can fail. Needs /dev/kvm as `rights` does.

api-thread: `hearth serve`'s api thread, once it answers, holds no
capability in any set (the bounding set emptied too where the process
could empty it: as root), has no_new_privs and its seccomp filter on
(/proc/PID/task/TID/status). Needs no /dev/kvm.
"""

import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, need_kvm, run_cases, tiny_elf  # noqa: E402
from run_api_test import Serve  # noqa: E402

TIMEOUT = 60.0



def mount_options(pid, path):
    """The per-mount options (field 6) of the mount at path in pid's namespace."""
    with open("/proc/%d/mountinfo" % pid) as f:
        for line in f:
            fields = line.split()
            if fields[4] == path:
                opts = fields[5].split(",")
    return opts if "opts" in locals() else None


def case_rights(binary, tmp):
    """Read-only drives are read only to a sealed Hearth; writable ones are writable."""
    need_kvm()
    kernel = os.path.join(tmp, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    drives = {}
    for name, sub, ro in (("ro", "a", True), ("rw", "b", False),
                          ("mixed-ro", "c", True), ("mixed-rw", "c", False)):
        os.makedirs(os.path.join(tmp, sub), exist_ok=True)
        path = os.path.join(tmp, sub, name + ".img")
        with open(path, "wb") as f:
            f.write(b"\0" * 65536)
        drives[path] = ro
    argv = [binary, "run", "--kernel", kernel, "--memory", "64"]
    for path, ro in drives.items():
        argv += ["--disk", "path=%s%s" % (path, ",ro" if ro else "")]
    err_path = os.path.join(tmp, "stderr.txt")
    env = dict(os.environ, HEARTH_SANDBOX_PROBE="1")
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=0")
    with open(err_path, "wb") as err:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=err, env=env)
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            text = open(err_path).read()
            if "probe: done" in text:
                break
            check(p.poll() is None, "hearth exited %s before the probe:\n%s" % (p.returncode, text))
            check(time.monotonic() < deadline, "no 'probe: done' in %ds:\n%s" % (TIMEOUT, text))
            time.sleep(0.05)
        for path, ro in drives.items():
            line = re.search(r"^probe: write %s( \(read only\))?: (.*)$" % re.escape(path),
                             text, re.M)
            check(line, "no probe line for %s:\n%s" % (path, text))
            check(bool(line.group(1)) == ro, "%s listed %s: %r" %
                  (path, "writable" if ro else "read only", line.group(0)))
            if ro:
                check(re.fullmatch(r"refused \((EROFS|EACCES)\)", line.group(2)),
                      "a read-only drive opened for writing: %r" % line.group(0))
            else:
                check(line.group(2) == "allowed", "a writable drive refused: %r" % line.group(0))
            opts = mount_options(p.pid, path)
            check(opts is not None, "no bind mount of %s in the sealed root" % path)
            check(("ro" if ro else "rw") in opts, "%s is mounted %s" % (path, ",".join(opts)))
        print("rights: %d drives checked from inside the sealed process and in mountinfo"
              % len(drives))
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def probe_lines(binary, tmp, name, extra):
    """A --pci VM's probe lines (what: verdict) from a `hearth run` with extra flags."""
    kernel = os.path.join(tmp, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    err_path = os.path.join(tmp, "stderr-%s.txt" % name)
    env = dict(os.environ, HEARTH_SANDBOX_PROBE="1")
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=0")
    with open(err_path, "wb") as err:
        p = subprocess.Popen([os.path.abspath(binary), "run", "--pci", "--kernel", kernel,
                              "--memory", "64"] + extra, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=err, env=env, cwd=tmp)
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            text = open(err_path).read()
            if "probe: done" in text:
                break
            check(p.poll() is None, "%s: hearth exited %s before the probe:\n%s" %
                  (name, p.returncode, text))
            check(time.monotonic() < deadline, "%s: no 'probe: done' in %ds:\n%s" %
                  (name, TIMEOUT, text))
            time.sleep(0.05)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return dict(l[len("probe: "):].rsplit(": ", 1) for l in text.splitlines()
                if l.startswith("probe: ") and ": " in l[len("probe: "):])


def case_pci_io_uring(binary, tmp):
    """A sealed PCI VM's io thread makes no io_uring ring of its own, sandboxed or not."""
    need_kvm()
    for name, extra, want in (("sandboxed", [], "refused (seccomp)"),
                              ("seccomp-only", ["--no-sandbox"], "refused (seccomp)"),
                              ("unfiltered", ["--no-sandbox", "--no-seccomp"], "allowed")):
        got = probe_lines(binary, tmp, name, extra).get("io_uring_setup", "missing")
        check(got == want, "%s: probe: io_uring_setup: %s, want %s" % (name, got, want))
        print("pci-io-uring: %s: io_uring_setup %s" % (name, got))


def thread_status(pid, name):
    """The status fields of pid's thread called name."""
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            fields = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        if fields.get("Name") == name:
            return fields
    return None


def case_api_thread(binary, tmp):
    """The api thread serves with no capabilities, no_new_privs and its filter."""
    s = Serve(binary, tmp)
    try:
        status, _ = s.request("GET", "/")
        check(status == 200, "GET / answered %d" % status)
        st = thread_status(s.p.pid, "api")
        check(st is not None, "no thread named api in %d" % s.p.pid)
        sets = ["CapInh", "CapPrm", "CapEff", "CapAmb"] + (["CapBnd"] if os.geteuid() == 0 else [])
        for key in sets:
            check(int(st[key], 16) == 0, "the api thread's %s is %s, not empty" % (key, st[key]))
        check(st["NoNewPrivs"] == "1", "the api thread's NoNewPrivs is %s" % st["NoNewPrivs"])
        check(st["Seccomp"] == "2", "the api thread's Seccomp is %s, not 2 (filter)" % st["Seccomp"])
        # The main thread keeps what setting up a VM needs: the drop is the api thread's own.
        main = thread_status(s.p.pid, "io") or thread_status(s.p.pid, "hearth")
        check(main is not None and main["Seccomp"] == "0",
              "the main thread is filtered before a VM is set up")
        print("api thread: %s" % ", ".join("%s %s" % (k, st[k]) for k in sets + ["Seccomp"]))
    finally:
        s.stop()


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, {"rights": case_rights, "api-thread": case_api_thread,
                                 "pci-io-uring": case_pci_io_uring}, "hearth-rights-"))
