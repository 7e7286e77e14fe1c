#!/usr/bin/env python3
"""VMGenID (devices/vmgenid.h), as Firecracker has it: a guest reads its 16
bytes, and after a restore reads new ones once it is told, by an edge on
the GED's line, which its IOAPIC turns into a pending interrupt.

    run_vmgenid_test.py --hearth build/hearth --case clones|paused-restore [--asan B]

The guest (hand-assembled below, 64-bit, interrupts off as Hearth enters
it) programs IOAPIC pin 15 (LAYOUT_VMGENID_GSI) to vector 0x40 and turns
its LAPIC on, writes "I" and the 16 bytes at 0xfeffa000 to a debug
console, then polls the LAPIC's IRR for vector 0x40 (never taking the
interrupt: no IDT, and on PVM a fault is fatal); when the bit is set it
writes "N" and the 16 bytes again, then spins.

  clones          booted: "I" and an ID, and neither a pause and resume nor
                  a snapshot tells it anything; each of two `hearth restore`s
                  of that snapshot says "N" with an ID of its own, neither
                  the booted guest's.
  paused-restore  `hearth restore --api-sock` leaves the VM paused: the
                  guest says nothing; PATCH /vm Resumed, and it says "N"
                  with a new ID.

Needs a /dev/kvm that runs the smallest guest; skips elsewhere.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, need_kvm, run_cases, sanitizer_env as env  # noqa: E402
from run_vmclock_test import request  # noqa: E402

TIMEOUT = 60.0
QUIET = 1.0          # how long a guest that should say nothing is watched
ID_LEN = 16

# as --64 of (the source is the comment; objdump -d gave the bytes):
#   mov $0xfec00000,%ebx; movl $0x2f,(%rbx); movl $0,0x10(%rbx)     pin 15: destination APIC 0
#   movl $0x2e,(%rbx); movl $0x40,0x10(%rbx)    vector 0x40, fixed, edge, high, unmasked
#   mov $0xfee00000,%ebx; movl $0x1ff,0xf0(%rbx)                     LAPIC on (SVR)
#   mov $0x402,%dx; mov $'I',%al; out %al,(%dx); REPORT
#   1: mov 0x220(%rbx),%eax; test $1,%al; je 1b                       IRR bit of vector 0x40
#   mov $'N',%al; out %al,(%dx); REPORT; 2: jmp 2b
# REPORT: mov $0xfeffa000,%esi; mov $16,%ecx; 9: mov (%rsi),%al; out %al,(%dx);
#         inc %rsi; dec %ecx; jne 9b
REPORT = bytes([0xbe, 0x00, 0xa0, 0xff, 0xfe, 0xb9, 0x10, 0x00, 0x00, 0x00,
                0x8a, 0x06, 0xee, 0x48, 0xff, 0xc6, 0xff, 0xc9, 0x75, 0xf6])
CODE = (bytes([0xbb, 0x00, 0x00, 0xc0, 0xfe,
               0xc7, 0x03, 0x2f, 0x00, 0x00, 0x00,
               0xc7, 0x43, 0x10, 0x00, 0x00, 0x00, 0x00,
               0xc7, 0x03, 0x2e, 0x00, 0x00, 0x00,
               0xc7, 0x43, 0x10, 0x40, 0x00, 0x00, 0x00,
               0xbb, 0x00, 0x00, 0xe0, 0xfe,
               0xc7, 0x83, 0xf0, 0x00, 0x00, 0x00, 0xff, 0x01, 0x00, 0x00,
               0x66, 0xba, 0x02, 0x04, 0xb0, 0x49, 0xee]) + REPORT +
        bytes([0x8b, 0x83, 0x20, 0x02, 0x00, 0x00, 0xa8, 0x01, 0x74, 0xf6,
               0xb0, 0x4e, 0xee]) + REPORT + bytes([0xeb, 0xfe]))


def genid_elf():
    import struct
    base, off = 0x200000, 0x1000
    ehdr = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, b"\0" * 7,
                       2, 0x3e, 1, base, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, off, base, base, len(CODE), len(CODE), 0x1000)
    return (ehdr + phdr).ljust(off, b"\0") + CODE


def read(path):
    return open(path, "rb").read() if os.path.exists(path) else b""


def wait_len(path, n, p):
    """The file's bytes once it has at least n."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        data = read(path)
        if len(data) >= n:
            return data
        check(p.poll() is None, "exited %s with %r written" % (p.returncode, data))
        check(time.monotonic() < deadline, "only %r in %s after %.0f s" % (data, path, TIMEOUT))
        time.sleep(0.02)


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def booted_snapshot(binary, tmp):
    """Boots the guest, pauses and resumes it, snapshots it: (its ID, state, memory)."""
    kernel = os.path.join(tmp, "vg.elf")
    with open(kernel, "wb") as f:
        f.write(genid_elf())
    snap = os.path.join(tmp, "snap")
    os.mkdir(snap)
    sock, out = os.path.join(tmp, "a.sock"), os.path.join(tmp, "dc.out")
    p = subprocess.Popen([binary, "run", "--kernel", kernel, "--memory", "64", "--debugcon",
                          "port=0x402,out=" + out, "--api-sock", sock, "--snapshot-dir", snap],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env())
    try:
        data = wait_len(out, 1 + ID_LEN, p)
        check(data[:1] == b"I" and len(data) == 1 + ID_LEN,
              "the booted guest reports its ID once: %r" % data)
        booted = data[1:]
        check(booted != b"\xff" * ID_LEN and booted != b"\0" * ID_LEN,
              "the booted guest reads a generation at 0xfeffa000, not %r" % booted)
        for state in ("Paused", "Resumed"):
            status, text = request(sock, "PATCH", "/vm", {"state": state})
            check(status == 204, "PATCH /vm %s: %d %r" % (state, status, text))
        time.sleep(QUIET)
        check(read(out) == data, "a pause and resume tell the guest nothing and keep its ID: "
              "%r" % read(out))
        state, mem = os.path.join(snap, "s"), os.path.join(snap, "m")
        for method, path, body in (("PATCH", "/vm", {"state": "Paused"}),
                                   ("PUT", "/snapshot/create",
                                    {"snapshot_path": state, "mem_file_path": mem})):
            status, text = request(sock, method, path, body)
            check(status == 204, "%s %s: %d %r" % (method, path, status, text))
        check(read(out) == data, "nor does the snapshot: %r" % read(out))
    finally:
        stop(p)
    return booted, state, mem


def restore(binary, tmp, name, state, mem, extra=()):
    out = os.path.join(tmp, name + ".out")
    with open(out, "wb") as f:
        q = subprocess.Popen([binary, "restore", "--snapshot", state, "--mem", mem] + list(extra),
                             stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.DEVNULL,
                             env=env())
    return q, out


def notified_id(out, q, booted, who):
    data = wait_len(out, 1 + ID_LEN, q)
    check(data[:1] == b"N" and len(data) == 1 + ID_LEN,
          "%s: the restored guest is notified once and reports its ID: %r" % (who, data))
    check(data[1:] != booted, "%s: a new generation, not the snapshot's VM's %r" % (who, booted))
    return data[1:]


def case_clones(binary, tmp):
    """Two restores of one snapshot: each notified, each its own ID."""
    need_kvm()
    booted, state, mem = booted_snapshot(binary, tmp)
    ids = []
    for n in (1, 2):
        q, out = restore(binary, tmp, "r%d" % n, state, mem)
        try:
            ids.append(notified_id(out, q, booted, "restore %d" % n))
        finally:
            stop(q)
    check(ids[0] != ids[1], "two clones of one snapshot have two generations: %r" % ids)


def case_paused_restore(binary, tmp):
    """A restore left paused tells the guest when it is resumed."""
    need_kvm()
    booted, state, mem = booted_snapshot(binary, tmp)
    sock = os.path.join(tmp, "r.sock")
    q, out = restore(binary, tmp, "rp", state, mem, ["--api-sock", sock])
    try:
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(sock):
            check(q.poll() is None and time.monotonic() < deadline,
                  "no API socket from the paused restore (rc %s)" % q.returncode)
            time.sleep(0.02)
        time.sleep(QUIET)
        check(read(out) == b"", "paused, the guest says nothing: %r" % read(out))
        status, text = request(sock, "PATCH", "/vm", {"state": "Resumed"})
        check(status == 204, "PATCH /vm Resumed: %d %r" % (status, text))
        notified_id(out, q, booted, "the paused restore, resumed")
    finally:
        stop(q)


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, {"clones": case_clones, "paused-restore": case_paused_restore},
                       "hearth-vmgenid-"))
