#!/usr/bin/env python3
"""--new-pid-ns (docs/running.md): the VM as pid 1 of a PID namespace of its own.

    run_pidns_test.py --hearth build/hearth --case serve [--asan build-asan/hearth]

As with Firecracker's jailer, the process started writes the pid of the
one that runs the VM to the pid file and exits 0 at once; the caller
tracks the VM by that pid. This runner makes itself a child subreaper
(PR_SET_CHILD_SUBREAPER), so the VM's process, orphaned at once, is
reparented here and its exit status can be checked. Cases that need a
guest (the smallest one, itest.tiny_elf) skip where /dev/kvm cannot be
opened; `jail` skips unless root.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import (check, need_kvm, need_root, run_cases_subreaper, SANITIZER_MARKERS,  # noqa: E402
                   TestFailure, tiny_elf)
from run_api_test import UnixHTTPConnection  # noqa: E402

TIMEOUT = 30.0


def env_for(extra=None):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    env.update(extra or {})
    return env


def spin_elf():
    """tiny_elf's guest, but one that spins for ever (jmp .): it stops only when told."""
    img = bytearray(tiny_elf())
    img[0x1000:0x1002] = b"\xeb\xfe"
    return bytes(img)



class Detached:
    """One Hearth started with --new-pid-ns, and the VM's process the pid file names."""

    def __init__(self, argv, tmp, pid_file, env=None, expect_rc=0):
        self.pid_file = pid_file
        self.pid = None
        self.err_path = os.path.join(tmp, "stderr-%d.txt" % time.monotonic_ns())
        with open(self.err_path, "wb") as err:
            # stderr is a file, not a pipe: the VM's process keeps it after the caller's exit.
            try:
                p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=err, env=env_for(env), timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                raise TestFailure("%s: the process started did not exit at once" % argv)
        self.rc = p.returncode
        check(self.rc == expect_rc, "%s: exit %d, expected %d:\n%s" %
              (argv, self.rc, expect_rc, self.stderr()))
        if self.rc != 0:
            return
        with open(pid_file) as f:
            text = f.read()
        # The jailer's format: the number alone, no newline.
        check(re.fullmatch(r"[1-9][0-9]*", text), "pid file %r holds %r" % (pid_file, text))
        self.pid = int(text)

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def check_pid1(self):
        """The pid names a process that is pid 1 of a PID namespace below ours."""
        def nspid(path):
            with open(path) as f:
                for line in f:
                    if line.startswith("NSpid:"):
                        return line.split()[1:]
            raise TestFailure("no NSpid in %s" % path)
        ours = nspid("/proc/self/status")
        theirs = nspid("/proc/%d/status" % self.pid)
        check(theirs[0] == str(self.pid) and theirs[-1] == "1" and
              len(theirs) == len(ours) + 1,
              "NSpid of %d is %r (ours %r): not pid 1 one namespace down" %
              (self.pid, theirs, ours))
        check(os.readlink("/proc/%d/ns/pid" % self.pid) != os.readlink("/proc/self/ns/pid"),
              "the VM's process is in our PID namespace")

    def wait(self):
        """Its exit status (as subprocess gives it: -N for signal N), reaped here."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                break
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                raise TestFailure("pid %d still running after %.0f s:\n%s" %
                                  (self.pid, TIMEOUT, self.stderr()))
            time.sleep(0.02)
        self.pid = None
        err = self.stderr()
        for m in SANITIZER_MARKERS:
            check(m not in err, "sanitizer report (%r):\n%s" % (m, err))
        return os.waitstatus_to_exitcode(status)

    def stop(self, sig=signal.SIGTERM):
        os.kill(self.pid, sig)
        return self.wait()

    def cleanup(self):
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass


def wait_serving(d, sock):
    deadline = time.monotonic() + TIMEOUT
    while True:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            c.connect(sock)
            return
        except OSError:
            pass
        finally:
            c.close()
        check(os.path.exists("/proc/%d" % d.pid), "the VM's process is gone:\n%s" % d.stderr())
        check(time.monotonic() < deadline, "no socket after %.0f s:\n%s" % (TIMEOUT, d.stderr()))
        time.sleep(0.02)


def request(sock, method, path, body=None):
    conn = UnixHTTPConnection(sock)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        text = r.read()
        return r.status, (json.loads(text) if text else None)
    finally:
        conn.close()


def case_serve(binary, tmp):
    """`hearth serve --new-pid-ns`: served by pid 1 of a new namespace; SIGTERM and SIGINT
    to the pid in the file end it cleanly (exit 3, socket removed); after SIGKILL, once that
    pid is reaped, the socket and the drive's lock are free for the next start at once."""
    sock = os.path.join(tmp, "api.sock")
    disk = os.path.join(tmp, "disk.img")
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    drive = {"drive_id": "rootfs", "path_on_host": disk, "is_root_device": True}
    for sig in (signal.SIGTERM, signal.SIGINT):
        pid_file = os.path.join(tmp, "hearth-%d.pid" % sig)
        d = Detached([binary, "serve", "--api-sock", sock, "--new-pid-ns", "--pid-file",
                      pid_file], tmp, pid_file)
        try:
            wait_serving(d, sock)
            d.check_pid1()
            status, js = request(sock, "GET", "/")
            check(status == 200 and js["state"] == "Not started", "GET /: %d %r" % (status, js))
            status, js = request(sock, "PUT", "/drives/rootfs", drive)
            check(status == 204, "PUT /drives: %d %r" % (status, js))
            rc = d.stop(sig)
        finally:
            d.cleanup()
        check(rc == 3, "exit %d after %s, expected 3" % (rc, signal.Signals(sig).name))
        check(not os.path.exists(sock), "the socket is still there after %s" %
              signal.Signals(sig).name)
    # SIGKILL: nothing outside lingers; once the pid is reaped, everything is free.
    for n in range(2):
        pid_file = os.path.join(tmp, "killed-%d.pid" % n)
        d = Detached([binary, "serve", "--api-sock", sock, "--new-pid-ns", "--pid-file",
                      pid_file], tmp, pid_file)
        try:
            wait_serving(d, sock)
            status, js = request(sock, "PUT", "/drives/rootfs", drive)
            check(status == 204, "start %d, PUT /drives right after the last one's end: %d %r"
                  % (n, status, js))
            if n == 0:
                rc = d.stop(signal.SIGKILL)
                check(rc == -signal.SIGKILL, "exit %d after SIGKILL" % rc)
            else:
                check(d.stop() == 3, "exit after SIGTERM")
        finally:
            d.cleanup()


def case_usage(binary, tmp):
    """The process started keeps the usual codes for what it checks itself (2: a flag, a pid
    file that exists); what the VM's process meets later is its own exit status."""
    fc = os.path.join(tmp, "firecracker")
    os.symlink(os.path.abspath(binary), fc)
    sock = os.path.join(tmp, "api.sock")
    taken = os.path.join(tmp, "taken.pid")
    with open(taken, "w") as f:
        f.write("keep me")
    missing_dir = os.path.join(tmp, "no-such-dir", "h.pid")
    kernel = os.path.join(tmp, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf())
    for argv, words in (
            ([binary, "serve", "--api-sock", sock, "--new-pid-ns"], ["--new-pid-ns", "--pid-file"]),
            ([fc, "--api-sock", sock, "--new-pid-ns"], ["--pid-file", "firecracker.pid"]),
            ([binary, "run", "--kernel", kernel, "--new-pid-ns"], ["--pid-file", "hearth.pid"]),
            ([binary, "restore", "--snapshot", "s", "--mem", "m", "--new-pid-ns"],
             ["--pid-file"]),
            ([binary, "serve", "--api-sock", sock, "--pid-file", taken], ["--pid-file",
                                                                          "--new-pid-ns"]),
            ([binary, "run", "--kernel", kernel, "--new-pid-ns", "--pid-file",
              os.path.join(tmp, "x.pid"), "--no-sandbox"], ["--new-pid-ns", "--no-sandbox"]),
            ([binary, "serve", "--api-sock", sock, "--new-pid-ns", "--pid-file", ""],
             ["--pid-file"]),
            ([binary, "serve", "--api-sock", sock, "--new-pid-ns", "--pid-file", taken],
             [taken, "exists"]),
            ([fc, "--api-sock", sock, "--new-pid-ns", "--pid-file", missing_dir],
             [missing_dir, "No such file or directory"])):
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env_for(), timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise TestFailure("%s still running" % argv)
        err = p.stderr.decode("utf-8", "replace")
        lines = err.rstrip("\n").split("\n")
        check(p.returncode == 2 and len(lines) == 1, "%s: exit %d, expected 2 and one line:\n%s"
              % (argv, p.returncode, err))
        for w in words:
            check(w in lines[0], "%s: %r does not mention %r" % (argv, lines[0], w))
        check(not os.path.exists(sock), "%s: a socket was made" % argv)
    with open(taken) as f:
        check(f.read() == "keep me", "the pid file that was there was overwritten")
    check(not os.path.exists(os.path.join(tmp, "x.pid")), "a refused start left a pid file")
    # The restore fails after the fork: 0 here, its 2 to whoever reaps the pid.
    pid_file = os.path.join(tmp, "restore.pid")
    d = Detached([binary, "restore", "--snapshot", os.path.join(tmp, "nope.snap"), "--mem",
                  "m", "--new-pid-ns", "--pid-file", pid_file], tmp, pid_file)
    try:
        rc = d.wait()
    finally:
        d.cleanup()
    check(rc == 2 and "nope.snap" in d.stderr(), "restore of a missing snapshot: the VM's "
          "process exited %d:\n%s" % (rc, d.stderr()))


def case_probe(binary, tmp):
    """From inside (the sandbox probe), a process outside cannot even be named: ESRCH, where
    without the namespace Landlock's scope says EPERM (Linux 6.12+) or the signal goes
    through (older kernels), with --no-seccomp, from the io and the api thread. With the
    filters, Hearth's own tgkill (the vCPUs' kick at SIGTERM) still passes: the filters
    were built again for pid 1."""
    need_kvm()
    kernel = os.path.join(tmp, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf())
    sock = os.path.join(tmp, "api.sock")
    pid_file = os.path.join(tmp, "probe.pid")
    d = Detached([binary, "serve", "--api-sock", sock, "--no-seccomp", "--new-pid-ns",
                  "--pid-file", pid_file], tmp, pid_file, env={"HEARTH_SANDBOX_PROBE": "1"})
    try:
        wait_serving(d, sock)
        status, js = request(sock, "PUT", "/boot-source", {"kernel_image_path": kernel})
        check(status == 204, "PUT /boot-source: %d %r" % (status, js))
        status, js = request(sock, "PUT", "/actions", {"action_type": "InstanceStart"})
        check(status == 204, "InstanceStart: %d %r" % (status, js))
        # The guest powers off at once: exit 0.
        rc = d.wait()
    finally:
        d.cleanup()
    err = d.stderr()
    check(rc == 0, "exit %d after the guest's power-off:\n%s" % (rc, err))
    for line in ("probe: signal a process outside: refused (ESRCH)",
                 "probe: api thread: signal a process outside: refused (ESRCH)",
                 "probe: done"):
        check(line in err, "no %r in:\n%s" % (line, err))
    # With the filters: a guest that runs until SIGTERM, whose stop kicks the vCPU (tgkill).
    with open(kernel, "wb") as f:
        f.write(spin_elf())
    pid_file = os.path.join(tmp, "spin.pid")
    d = Detached([binary, "run", "--kernel", kernel, "--memory", "64", "--new-pid-ns",
                  "--pid-file", pid_file], tmp, pid_file, env={"HEARTH_SANDBOX_PROBE": "1"})
    try:
        deadline = time.monotonic() + TIMEOUT
        while "probe: done" not in d.stderr():
            check(time.monotonic() < deadline, "no probe: done:\n%s" % d.stderr())
            time.sleep(0.02)
        rc = d.stop()
    finally:
        d.cleanup()
    err = d.stderr()
    check(rc == 3, "exit %d after SIGTERM, expected 3:\n%s" % (rc, err))
    # The filter's trap, or (the sanitizer build's filters allow tgkill) the namespace's ESRCH.
    check(re.search(r"probe: signal a process outside: refused \((seccomp|ESRCH)\)", err), err)


def case_jail(binary, tmp):
    """--jail with --new-pid-ns: the namespace made as root, its pid 1 the jail's user; the pid
    file is the jailer's JAIL/<name>.pid, name the binary's (hearth or firecracker)."""
    need_root("--jail")
    fc = os.path.join(tmp, "firecracker")
    os.symlink(os.path.abspath(binary), fc)
    # LeakSanitizer reads /proc/PID/task at exit, and the jail has no /proc (with or without
    # the namespace): the jailed sanitizer build runs without the leak check.
    env = {"ASAN_OPTIONS": "abort_on_error=0:detect_leaks=0"}
    for name, argv0 in (("hearth", [binary, "serve"]), ("firecracker", [fc])):
        jail = os.path.join(tmp, "jail-" + name)
        os.mkdir(jail)
        os.chown(jail, 1000, 1000)
        pid_file = os.path.join(jail, name + ".pid")
        d = Detached(argv0 + ["--api-sock", "/api.sock", "--jail", jail, "--uid", "1000",
                              "--gid", "1000", "--new-pid-ns"], tmp, pid_file, env=env)
        sock = os.path.join(jail, "api.sock")
        try:
            wait_serving(d, sock)
            d.check_pid1()
            with open("/proc/%d/status" % d.pid) as f:
                uid = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
            check(uid == ["1000"] * 4, "the VM's process runs as %r" % uid)
            check(os.stat(pid_file).st_uid == 0, "the pid file is not root's")
            status, js = request(sock, "GET", "/")
            check(status == 200, "GET /: %d %r" % (status, js))
            rc = d.stop()
        finally:
            d.cleanup()
        check(rc == 3, "%s: exit %d after SIGTERM, expected 3:\n%s" % (name, rc, d.stderr()))
        check(not os.path.exists(sock), "%s: the socket is still there" % name)


CASES = {
    "serve": case_serve,
    "usage": case_usage,
    "probe": case_probe,
    "jail": case_jail,
}





if __name__ == "__main__":
    sys.exit(run_cases_subreaper(__doc__, CASES, "hearth-pidns-"))
