#!/usr/bin/env python3
"""A pause that lands in the middle of an I/O exit, saved and restored: nothing said twice.

    run_pause_exit_test.py --hearth build/hearth --guest build/tests/guest/stream.elf
                           --case snapshot [--asan build-asan/hearth]

KVM finishes an I/O instruction (RIP past an OUT, an IN's data in its
register) only when KVM_RUN is entered again, and keeps that in no state
userspace reads. The stream guest (tests/guest/stream.c) writes "s N"
lines as fast as it can, every byte an exit, so a pause nearly always
lands between an exit and that next entry. Hearth must finish the
instruction before it parks the vCPU (src/vcpu/vcpu.c, vcpu_finish_exit),
or a snapshot, a fork or a migration saves it unfinished and the restored
VM runs it again, and a reset's restored registers get the unfinished
instruction's end applied to them.

Where the host's KVM finishes the instruction before the exit (PVM), the
check cannot fail: the placement rule (tests/guest/run_guest_test.py,
"io-exit-pending") sends it to the lab.

  snapshot  six rounds of pause, PUT /snapshot/create, a new `hearth
            serve` that loads it: the rounds' outputs, one after the other,
            are one stream, "s 0" on, no byte twice, none lost (the old
            code said a byte again at most seams).
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "guest"))
sys.dont_write_bytecode = True
import run_guest_test as G  # noqa: E402
from itest import NotHere, check, need_kvm, run_cases, sanitizer_env as env  # noqa: E402
from run_vmclock_test import request, stop  # noqa: E402

ROUNDS = 6
TIMEOUT = 60.0


def whole(data):
    """data up to its last newline (a line still being written is not one yet)."""
    return data[:data.rfind(b"\n") + 1]


def stream_errors(data, start=0):
    """Where data (whole lines) stops being "s start", "s start+1", ...: None when it never does."""
    want = start
    for k, line in enumerate(whole(data).split(b"\n")[:-1]):
        if line != b"s %d" % want:
            return "line %d is %r, want %r" % (k, line, b"s %d" % want)
        want += 1
    return None


def lines_in(path):
    try:
        with open(path, "rb") as f:
            return whole(f.read()).count(b"\n")
    except OSError:
        return 0


def wait_lines(path, n, p):
    deadline = time.monotonic() + TIMEOUT
    while lines_in(path) < n:
        check(p.poll() is None, "hearth exited %s: %s" % (p.returncode, open(path + ".err",
                                                                            "rb").read()[-400:]))
        check(time.monotonic() < deadline, "%s: no %d lines in %d s" % (path, n, TIMEOUT))
        time.sleep(0.02)


def serve(binary, tmp, i, snapdir):
    sock, out = os.path.join(tmp, "a%d.sock" % i), os.path.join(tmp, "out%d" % i)
    p = subprocess.Popen([binary, "serve", "--api-sock", sock, "--snapshot-dir", snapdir],
                         stdin=subprocess.DEVNULL, stdout=open(out, "wb"),
                         stderr=open(out + ".err", "wb"), env=env())
    deadline = time.monotonic() + TIMEOUT
    while not os.path.exists(sock):
        check(p.poll() is None and time.monotonic() < deadline, "no API socket %s" % sock)
        time.sleep(0.02)
    return p, sock, out


def ok(got, what):
    status, text = got
    check(status == 204, "%s: %d %r" % (what, status, text))


def boot(binary, tmp, guest, snapdir):
    p, sock, out = serve(binary, tmp, 0, snapdir)
    ok(request(sock, "PUT", "/boot-source", {"kernel_image_path": guest}), "PUT /boot-source")
    ok(request(sock, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 32}),
       "PUT /machine-config")
    ok(request(sock, "PUT", "/actions", {"action_type": "InstanceStart"}), "InstanceStart")
    return p, sock, out


def save(sock, snapdir, i):
    state, mem = os.path.join(snapdir, "s%d.snap" % i), os.path.join(snapdir, "s%d.mem" % i)
    ok(request(sock, "PATCH", "/vm", {"state": "Paused"}), "pause %d" % i)
    ok(request(sock, "PUT", "/snapshot/create", {"snapshot_path": state, "mem_file_path": mem}),
       "snapshot %d" % i)
    return state, mem


def load(binary, tmp, i, snapdir, state, mem):
    p, sock, out = serve(binary, tmp, i, snapdir)
    ok(request(sock, "PUT", "/snapshot/load", {
        "snapshot_path": state, "mem_backend": {"backend_type": "File", "backend_path": mem},
        "resume_vm": True}), "load %d" % i)
    return p, sock, out


def case_snapshot(binary, tmp, a):
    need_kvm()
    why = G.external_not_here("pause-exit-snapshot")
    if why:
        raise NotHere(why)
    snapdir = os.path.join(tmp, "snaps")
    os.mkdir(snapdir)
    p, sock, out = boot(binary, tmp, a.guest, snapdir)
    outs = [out]
    try:
        for i in range(ROUNDS):
            wait_lines(out, 40, p)
            state, mem = save(sock, snapdir, i)
            stop(p)
            p, sock, out = load(binary, tmp, i + 1, snapdir, state, mem)
            outs.append(out)
        wait_lines(out, 40, p)
    finally:
        stop(p)
    data = b"".join(open(o, "rb").read() for o in outs)
    err = stream_errors(data)
    seams = [len(b"".join(open(o, "rb").read() for o in outs[:k])) for k in range(1, len(outs))]
    check(err is None, "the rounds' outputs are not one stream: %s (seams at bytes %s: %s)"
          % (err, seams, [data[s - 12:s + 12] for s in seams]))


CASES = {"snapshot": case_snapshot}


def options(ap):
    ap.add_argument("--guest", required=True, help="tests/guest/stream.elf")


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-pause-exit-", options=options))
