#!/usr/bin/env python3
"""The signals Firecracker's handlers take (vmm/src/signal_handler.rs), as Hearth takes them
(src/vmm/runner_signals.c), under the name `firecracker`; its test_signals.py checks the same.

- SIGBUS, SIGSEGV, SIGXFSZ, SIGXCPU, SIGILL sent to the process: "Shutting down VM after
  intercepting signal N, code 0." in the log, the signal's gauge in the last metrics line,
  Firecracker's exit code (149, 150, 151, 154, 157); SIGHUP the same with Hearth's stop (3).
- SIGPIPE: "Received signal 13, code 0.", counted, and the process goes on; with stderr
  itself a pipe nobody reads (each line raising the next SIGPIPE), a SIGTERM still ends it.
- Both sent the moment the API socket exists, before the VMM's signalfd: the same.
- Jailed in a new PID namespace (pid 1 there drops a signal it has no handler for), the same.
"""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itest import check, need_kvm, need_root, run_cases_subreaper  # noqa: E402
from run_fc_process_test import TIMEOUT, Fc  # noqa: E402
from run_fc_wire_test import boot_tiny  # noqa: E402
from run_jailer_test import (GID, UID, Undo, has_jailer,  # noqa: E402
                             jailer_bin, kill_and_wait, kill_pid_file,
                             run_jailer, wait_for)

FATAL = [(signal.SIGBUS, "sigbus", 149), (signal.SIGSEGV, "sigsegv", 150),
         (signal.SIGXFSZ, "sigxfsz", 151), (signal.SIGXCPU, "sigxcpu", 154),
         (signal.SIGILL, "sigill", 157), (signal.SIGHUP, "sighup", 3)]


def last_metrics(path):
    with open(path) as f:
        lines = [x for x in f.read().splitlines() if x.strip()]
    check(lines, "no metrics line in %s" % path)
    return json.loads(lines[-1])


def case_fatal(binary, tmp):
    """Each signal Firecracker stops on: its line, its gauge, its exit code. The first with
    a guest running (where there is KVM), the others before any VM."""
    for k, (sig, name, code) in enumerate(FATAL):
        d = os.path.join(tmp, name)
        os.mkdir(d)
        fc = Fc(binary, d, level="Info")
        try:
            fc.wait_log("API server started.")
            if k == 0:
                need_kvm("the first signal, with a guest running,")
                boot_tiny(fc, d)
            fc.p.send_signal(sig)
            rc = fc.p.wait(timeout=TIMEOUT)
        finally:
            fc.stop()
        log = fc.log_data()
        words = "Shutting down VM after intercepting signal %d, code 0." % sig
        check(words in log, "%s: no %r in the log:\n%s\n%s" % (name, words, log, fc.stderr()))
        check(rc == code, "%s: exit %s, expected %d:\n%s" % (name, rc, code, log))
        check("exit_code=%d" % code in log, "%s: no exit line with %d:\n%s" % (name, code, log))
        sigs = last_metrics(fc.metrics)["signals"]
        check(sigs[name] == 1 and sum(sigs.values()) == 1,
              "%s: the last metrics line's signals: %r" % (name, sigs))


def case_pipe(binary, tmp):
    """SIGPIPE is counted and logged, and the process goes on serving."""
    fc = Fc(binary, tmp, level="Info")
    try:
        fc.wait_log("API server started.")
        fc.p.send_signal(signal.SIGPIPE)
        fc.wait_log("Received signal 13, code 0.")
        fc.expect("GET", "/", 200)
        check(fc.p.poll() is None, "exited %s on SIGPIPE" % fc.p.returncode)
    finally:
        rc = fc.stop()
    check(rc == 3, "exit %s after SIGTERM, expected 3" % rc)
    sigs = last_metrics(fc.metrics)["signals"]
    check(sigs["sigpipe"] == 1 and sigs["sigbus"] == 0, "signals %r" % sigs)


def case_pipe_closed(binary, tmp):
    """stderr a pipe whose reader is gone: the SIGPIPE line raises another SIGPIPE, which
    (the lower number) a signalfd gives before SIGTERM; the lines are bounded, so SIGTERM
    is still read and the process exits (it looped for ever, at full CPU, before)."""
    import subprocess
    sock = os.path.join(tmp, "api.sock")
    r, w = os.pipe()
    p = subprocess.Popen([binary, "serve", "--api-sock", sock], stdin=subprocess.DEVNULL,
                         stdout=w, stderr=w)
    os.close(w)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(sock):
            check(p.poll() is None and time.monotonic() < deadline, "no API socket")
            time.sleep(0.02)
        os.close(r)
        r = None
        p.send_signal(signal.SIGPIPE)
        time.sleep(0.5)
        check(p.poll() is None, "exited %s on SIGPIPE" % p.returncode)
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError("SIGTERM did not end hearth within %.0f s: its SIGPIPE lines "
                                 "to a closed stderr starve it" % TIMEOUT)
        check(rc == 3, "exit %s after SIGTERM, expected 3 (a stop from the host)" % rc)
    finally:
        if r is not None:
            os.close(r)
        if p.poll() is None:
            p.kill()
            p.wait()


def case_pidns(binary, tmp):
    """Jailed, pid 1 of a new PID namespace (its CI's way): SIGBUS from outside still
    reaches the VMM, which stops with its line."""
    need_root("the jailer")
    j, fc = jailer_bin(binary, tmp)
    check(has_jailer(j), "%s does not run as `jailer`" % binary)
    jid = "sig-%d" % os.getpid()
    base = os.path.join(tmp, "base")
    os.mkdir(base)
    root = os.path.join(base, "firecracker", jid, "root")
    with Undo() as undo:
        undo.add(kill_pid_file, os.path.join(root, "firecracker.pid"))
        r = run_jailer(j, ["--id", jid, "--exec-file", fc, "--uid", str(UID), "--gid", str(GID),
                           "--chroot-base-dir", base, "--daemonize", "--new-pid-ns", "--",
                           "--level", "Info", "--log-path", "fc.log"])
        check(r.returncode == 0, "jailer: exit %d:\n%s" % (r.returncode, r.stderr.decode()))
        pidf = os.path.join(root, "firecracker.pid")
        wait_for(lambda: os.path.exists(pidf) and os.path.getsize(pidf) > 0, "the pid file")
        with open(pidf) as f:
            pid = int(f.read())
        undo.add(kill_and_wait, pid)
        log = os.path.join(root, "fc.log")
        wait_for(lambda: os.path.exists(log) and "API server started." in open(log).read(),
                 "'API server started.' in the log")
        os.kill(pid, signal.SIGBUS)
        # Orphaned by the jailer, it is this subreaper's child.
        deadline = time.monotonic() + TIMEOUT
        status = None
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.02)
        with open(log) as f:
            text = f.read()
        # A sanitizer build's LeakSanitizer cannot read /proc in the jail and exits 1 after
        # Hearth's own exit (run_jailer_test.py's LSAN_IN_JAIL); the exit line says Hearth's.
        sanitized = b"__asan_init" in open(binary, "rb").read()
        want = (149, 1) if sanitized else (149,)
        check(status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) in want,
              "jailed: status %r after SIGBUS, expected exit 149:\n%s" % (status, text))
        check("exit_code=149" in text, "jailed: no exit line with 149:\n" + text)
        check("Shutting down VM after intercepting signal 7, code 0." in text,
              "jailed: no line in the log:\n" + text)


def case_early(binary, tmp):
    """SIGPIPE, then SIGTERM, sent the moment the API socket exists, with the process held
    (strace delays the return of the rename that puts it in place) before the VMM's signalfd is made: SIGPIPE is counted
    and SIGTERM is Hearth's stop (3). Both took their default action there before, ending
    the process on the signal (a sanitizer build's slower start let CI's pipe_closed hit it)."""
    import shutil
    import subprocess
    strace = shutil.which("strace")
    check(strace, "no strace (scripts/deps.sh test installs it)")
    sock = os.path.join(tmp, "api.sock")
    # The delay holds hearth once the socket is in place, before runner_init; no wall-clock
    # assertion rests on it (a slower start only shortens the window the signals land in).
    # LeakSanitizer cannot run under ptrace; the other builds' checks still run.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(x for x in (env.get("ASAN_OPTIONS"), "detect_leaks=0") if x)
    p = subprocess.Popen([strace, "-f", "-qq", "-o", os.devnull, "-e", "trace=rename,renameat,renameat2",
                          "-e", "inject=rename,renameat,renameat2:delay_exit=1500000",
                          binary, "serve", "--api-sock", sock], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(sock):
            check(p.poll() is None and time.monotonic() < deadline,
                  "no API socket:\n%s" % (p.stderr.read().decode() if p.poll() is not None
                                          else ""))
            time.sleep(0.005)
        kids = []
        while not kids and time.monotonic() < deadline:
            with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
                kids = [int(x) for x in f.read().split()]
        check(kids, "strace has no child")
        os.kill(kids[0], signal.SIGPIPE)
        os.kill(kids[0], signal.SIGTERM)
        try:
            rc = p.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError("SIGTERM sent at the socket's creation did not end hearth")
        err = p.stderr.read().decode()
        check(rc == 3, "exit %s after SIGPIPE and SIGTERM sent as the socket appeared, "
              "expected 3 (a stop from the host):\n%s" % (rc, err))
        check("Received signal 13" in err, "SIGPIPE not counted:\n" + err)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


CASES = {"fatal": case_fatal, "pipe": case_pipe, "pipe_closed": case_pipe_closed,
         "early": case_early, "pidns": case_pidns}




if __name__ == "__main__":
    sys.exit(run_cases_subreaper(__doc__, CASES, "hearth-signals-"))
