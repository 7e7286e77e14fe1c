#!/usr/bin/env python3
"""The jailer run as a session leader on a terminal, with --new-pid-ns and without
--daemonize: what Firecracker's framework does when it runs the jailer under screen
(test_jail.py::test_firecracker_kill_by_pid[True-False]).

The jailer leaves once the namespace's pid 1 exists. A session leader's exit hangs up the
terminal's foreground group, and pid 1, blocking SIGHUP until its runner reads it, would
take that SIGHUP (pending across its exec) as a stop and exit 3. The child must be in a
session of its own before the jailer exits: the VM keeps serving.
"""
import os
import pty
import select
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itest import check, need_root, run_cases_subreaper  # noqa: E402
from run_jailer_test import (GID, UID, Undo, has_jailer,  # noqa: E402
                             jailer_bin, kill_and_wait, kill_pid_file,
                             status_field, wait_for)
from run_pidns_test import request  # noqa: E402


def drain(fd):
    """What the terminal got so far (the master must be read, or writes to it block)."""
    out = b""
    while select.select([fd], [], [], 0)[0]:
        try:
            b = os.read(fd, 4096)
        except OSError:
            break
        if not b:
            break
        out += b
    return out


def serves(sock, jid, what):
    try:
        status, js = request(sock, "GET", "/")
    except OSError as e:
        check(False, "%s: the jailed VM stopped after the jailer (its session's leader) "
              "exited: %s" % (what, e))
    check(status == 200 and js.get("id") == jid, "%s: GET /: %d %r" % (what, status, js))


# Which of the jailer and its child runs first after the fork is the scheduler's: the old
# defect showed in about half the starts here, so several starts make one.
STARTS = 8


def case_session_leader(binary, tmp):
    """The jailer leads its session on a pty; after it exits, the VM still serves."""
    need_root("the jailer")
    j, fc = jailer_bin(binary, tmp)
    check(has_jailer(j), "%s does not run as `jailer`" % binary)
    for k in range(STARTS):
        start(j, fc, os.path.join(tmp, "base%d" % k), "sess-%d-%d" % (os.getpid(), k))


def start(j, fc, base, jid):
    os.mkdir(base)
    root = os.path.join(base, "firecracker", jid, "root")
    with Undo() as undo:
        undo.add(kill_pid_file, os.path.join(root, "firecracker.pid"))
        # pty.fork: the child leads a new session whose controlling terminal is the pty.
        child, master = pty.fork()
        if child == 0:
            try:
                os.execv(j, [j, "--id", jid, "--exec-file", fc, "--uid", str(UID),
                             "--gid", str(GID), "--chroot-base-dir", base, "--new-pid-ns",
                             "--", "--level", "Info", "--log-path", "fc.log"])
            finally:
                os._exit(127)
        undo.add(os.close, master)
        out = b""
        while True:
            out += drain(master)
            done, status = os.waitpid(child, os.WNOHANG)
            if done:
                break
            time.sleep(0.01)
        out += drain(master)
        check(os.waitstatus_to_exitcode(status) == 0,
              "jailer: %r:\n%s" % (status, out.decode(errors="replace")))
        pidf = os.path.join(root, "firecracker.pid")
        wait_for(lambda: os.path.exists(pidf) and os.path.getsize(pidf) > 0, "the pid file")
        with open(pidf) as f:
            pid = int(f.read())
        undo.add(kill_and_wait, pid)
        sock = os.path.join(root, "run", "firecracker.socket")
        log = os.path.join(root, "fc.log")
        wait_for(lambda: os.path.exists(log) and "API server started." in open(log).read(),
                 "'API server started.' in the log")
        # A pending SIGHUP ends the runner's first wait: the process would be going now.
        serves(sock, jid, jid)
        time.sleep(0.1)
        drain(master)
        alive = os.path.exists("/proc/%d/status" % pid) and status_field(pid, "State")[0] != "Z"
        with open(log) as f:
            text = f.read()
        check(alive and "exiting" not in text,
              "%s: the jailed VM stopped after the jailer (its session's leader) exited:\n%s"
              % (jid, text))
        check(os.getsid(pid) == pid, "pid %d does not lead its own session (sid %d)"
              % (pid, os.getsid(pid)))
        serves(sock, jid, jid + " again")


CASES = {"session-leader": case_session_leader}




if __name__ == "__main__":
    sys.exit(run_cases_subreaper(__doc__, CASES, "hearth-jailer-session-"))
