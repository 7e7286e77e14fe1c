#!/usr/bin/env python3
"""VMClock (devices/vmclock.h), as Firecracker 1.15: a guest sees its page's
disruption marker move across a snapshot and restore.

    run_vmclock_test.py --hearth build/hearth --case restore-disrupts [--asan B]

The guest reads the marker (at LAYOUT_VMCLOCK + 16) and writes it as a
digit to a debug console, then again whenever it changes. Booted, it
says 0; paused, snapshotted and restored by `hearth restore`, the same
guest says 1 without being told anything else. Needs a /dev/kvm that
runs the smallest guest; skips elsewhere.
"""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, need_kvm, run_cases  # noqa: E402
from run_api_test import UnixHTTPConnection  # noqa: E402

TIMEOUT = 60.0
VMCLOCK = 0xfeffb000


def marker_elf():
    """Prints the disruption marker as a digit on port 0x402, then each change of it."""
    addr = struct.pack("<I", VMCLOCK + 16)
    code = (bytes([0xbb]) + addr +                  # mov $marker, %ebx
            bytes([0x8b, 0x0b,                      # mov (%rbx), %ecx
                   0x66, 0xba, 0x02, 0x04,          # mov $0x402, %dx
                   0x88, 0xc8, 0x04, 0x30, 0xee,    # mov %cl,%al; add $'0',%al; out
                   0x8b, 0x03,                      # 1: mov (%rbx), %eax
                   0x39, 0xc8,                      # cmp %ecx, %eax
                   0x74, 0xfa,                      # je 1b
                   0x89, 0xc1,                      # mov %eax, %ecx
                   0x04, 0x30, 0xee,                # add $'0',%al; out
                   0xeb, 0xf1]))                    # jmp 1b
    base, off = 0x200000, 0x1000
    ehdr = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, b"\0" * 7,
                       2, 0x3e, 1, base, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, off, base, base, len(code), len(code), 0x1000)
    return (ehdr + phdr).ljust(off, b"\0") + code


def wait_for(path, want, p):
    deadline = time.monotonic() + TIMEOUT
    while True:
        text = open(path).read() if os.path.exists(path) else ""
        if want in text:
            return text
        check(p.poll() is None, "exited %s before %r was written (%r)" % (p.returncode, want, text))
        check(time.monotonic() < deadline, "no %r in %s after %.0f s: %r" % (want, path, TIMEOUT, text))
        time.sleep(0.02)


def request(sock, method, path, body):
    c = UnixHTTPConnection(sock)
    try:
        c.request(method, path, body=json.dumps(body))
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def case_restore_disrupts(binary, tmp):
    """The marker is 0 at boot and 1 in the restored guest."""
    need_kvm()
    kernel = os.path.join(tmp, "vc.elf")
    with open(kernel, "wb") as f:
        f.write(marker_elf())
    snap = os.path.join(tmp, "snap")
    os.mkdir(snap)
    sock, out = os.path.join(tmp, "a.sock"), os.path.join(tmp, "dc.out")
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=0")
    p = subprocess.Popen([binary, "run", "--kernel", kernel, "--memory", "64", "--debugcon",
                          "port=0x402,out=" + out, "--api-sock", sock, "--snapshot-dir", snap],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env)
    try:
        check(wait_for(out, "0", p) == "0", "the booted guest's marker: %r" % open(out).read())
        for method, path, body in (("PATCH", "/vm", {"state": "Paused"}),
                                   ("PUT", "/snapshot/create",
                                    {"snapshot_path": os.path.join(snap, "s"),
                                     "mem_file_path": os.path.join(snap, "m")})):
            status, text = request(sock, method, path, body)
            check(status == 204, "%s %s: %d %r" % (method, path, status, text))
    finally:
        stop(p)
    restored = os.path.join(tmp, "restored.out")
    with open(restored, "wb") as f:
        q = subprocess.Popen([binary, "restore", "--snapshot", os.path.join(snap, "s"), "--mem",
                              os.path.join(snap, "m")], stdin=subprocess.DEVNULL, stdout=f,
                             stderr=subprocess.DEVNULL, env=env)
    try:
        text = wait_for(restored, "1", q)
        check(text == "1", "the restored guest said %r, expected the marker moved to 1" % text)
    finally:
        stop(q)


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, {"restore-disrupts": case_restore_disrupts}, "hearth-vmclock-"))
