#!/usr/bin/env python3
"""A snapshot restored through the Uffd memory backend continues its count.

Issue 17, item 7, natively (no lab): the freestanding count guest
(tests/guest/count.c) runs under `hearth run --api-sock`, is paused and
snapshotted (a Full snapshot into --snapshot-dir: the sandbox is on), and
that Hearth is killed. tests/uffd's handler then listens on a socket with
the memory file, and a `hearth serve --snapshot-dir` (sandboxed too) is
asked PUT /snapshot/load with mem_backend {"backend_type": "Uffd",
"backend_path": SOCKET}, track_dirty_pages and resume_vm: every page of
its RAM comes from the handler. Then `hearth restore --mem-uffd` of the
same snapshot, which must also continue.
Checked: the guest counts on from where it stopped, with the same table
sum (its RAM came back whole), and never starts over; once the restored
Hearth exits the handler exits 0, having served more than zero faults
and fewer than the RAM's pages (lazily). `hearth restore --mem-uffd`
counts on too, and a Full snapshot of it reads every page of its RAM
through the handler (it served exactly all of them) and restores again
from its file, counting on from there; the same with the handler's
--batch 512, which fills the 2 MiB around each fault (at most one fault
a group, and the snapshot taken through it as whole).

Skipped (exit 77) without /dev/kvm or a userfaultfd for this process.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from itest import NOT_HERE, TestFailure, check

MEM_MIB = 64
PAGES = MEM_MIB * 256


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(self.path)


def api(sock, method, path, body):
    c = UnixHTTP(sock)
    c.request(method, path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    check(r.status == 204, "%s %s: %d %s" % (method, path, r.status, text))


def wait_for(pred, what, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise TestFailure("timed out waiting for %s" % what)


def counts(path):
    """The guest's whole lines: one still being written (no newline yet) is not counted,
    or its sum, cut short, would read as a different one."""
    with open(path, errors="replace") as f:
        return [(int(n), s) for n, s in re.findall(r"^count (\d+) sum (\d+)\r?\n", f.read(), re.M)]


def start(argv, out, err):
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=open(out, "w"),
                            stderr=open(err, "w"))


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hearth", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--handler", required=True)
    a = ap.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("%s the case needs /dev/kvm, which cannot be opened here" % NOT_HERE)
        return 77
    tmp = tempfile.mkdtemp(prefix="hearth-uffd-it-")
    procs = []
    try:
        snap = os.path.join(tmp, "snap")
        os.mkdir(snap)
        api1, api2 = os.path.join(tmp, "a1.sock"), os.path.join(tmp, "a2.sock")
        hsock = os.path.join(tmp, "handler.sock")
        state, mem = os.path.join(snap, "vm.snap"), os.path.join(snap, "vm.mem")
        out1 = os.path.join(tmp, "out1")
        p = start([a.hearth, "run", "--kernel", a.guest, "--memory", str(MEM_MIB),
                   "--api-sock", api1, "--snapshot-dir", snap], out1, out1 + ".err")
        procs.append(p)
        wait_for(lambda: len(counts(out1)) >= 3, "the guest's third count")
        api(api1, "PATCH", "/vm", {"state": "Paused"})
        api(api1, "PUT", "/snapshot/create", {"snapshot_path": state, "mem_file_path": mem})
        p.kill()
        p.wait()
        before = counts(out1)
        last, sum0 = before[-1]
        check(all(s == sum0 for _, s in before), "sums differ before the snapshot")

        # The restore: every page through the handler.
        cfile = os.path.join(tmp, "served")
        h = subprocess.Popen([a.handler, hsock, mem, "--count-file", cfile],
                             stderr=open(os.path.join(tmp, "handler.err"), "w"))
        procs.append(h)
        wait_for(lambda: os.path.exists(hsock), "the handler's socket", 30)
        out2 = os.path.join(tmp, "out2")
        r = start([a.hearth, "serve", "--api-sock", api2, "--snapshot-dir", snap],
                  out2, out2 + ".err")
        procs.append(r)
        wait_for(lambda: os.path.exists(api2), "the second API socket", 30)
        api(api2, "PUT", "/snapshot/load", {
            "snapshot_path": state, "track_dirty_pages": True, "resume_vm": True,
            "mem_backend": {"backend_type": "Uffd", "backend_path": hsock}})
        wait_for(lambda: len(counts(out2)) >= 3 or r.poll() is not None,
                 "the restored guest's counts")
        after = counts(out2)
        check(len(after) >= 3, "restored guest printed %r; stderr %s" %
              (after, open(out2 + ".err").read()[-600:]))
        check(after[0][0] in (last + 1, last + 2),
              "restored count starts at %d, the snapshot's last was %d" % (after[0][0], last))
        check(all(n == after[0][0] + i for i, (n, _) in enumerate(after)), "counts skip")
        check(all(s == sum0 for _, s in after), "the restored table's sum differs")
        print("ok: the restored guest counts on from %d to %d, sum unchanged" %
              (last, after[-1][0]))

        stop(r)
        h.wait(30)
        check(h.returncode == 0, "handler exited %s: %s" %
              (h.returncode, open(os.path.join(tmp, "handler.err")).read()))
        served = int(open(cfile).read())
        check(0 < served < PAGES, "handler served %d faults for %d pages" % (served, PAGES))
        print("ok: the handler served %d of %d pages, lazily, and exited with Hearth" %
              (served, PAGES))

        # hearth restore --mem-uffd; a Full snapshot of it reads all its RAM through the
        # handler: a fault a page, then with --batch 512 a fault per 2 MiB group.
        for n, batch in enumerate((None, 512)):
            argv = [a.handler, hsock, mem, "--count-file", cfile]
            h = subprocess.Popen(argv + (["--batch", str(batch)] if batch else []),
                                 stderr=open(os.path.join(tmp, "handler.err"), "w"))
            procs.append(h)
            wait_for(lambda: os.path.exists(hsock), "the handler's socket", 30)
            api3, out4 = os.path.join(tmp, "a3-%d.sock" % n), os.path.join(tmp, "out4-%d" % n)
            r = start([a.hearth, "restore", "--snapshot", state, "--mem-uffd", hsock,
                       "--api-sock", api3, "--resume", "--no-sandbox"], out4, out4 + ".err")
            procs.append(r)
            wait_for(lambda: len(counts(out4)) >= 2 or r.poll() is not None,
                     "the CLI restore's counts")
            check(counts(out4) and counts(out4)[0][0] in (last + 1, last + 2),
                  "CLI restore printed %r; stderr %s" % (counts(out4)[:3],
                                                          open(out4 + ".err").read()[-600:]))
            state2 = os.path.join(snap, "vm2-%d.snap" % n)
            mem2 = os.path.join(snap, "vm2-%d.mem" % n)
            api(api3, "PATCH", "/vm", {"state": "Paused"})
            api(api3, "PUT", "/snapshot/create", {"snapshot_path": state2, "mem_file_path": mem2})
            mid = counts(out4)[-1][0]
            stop(r)
            h.wait(30)
            check(h.returncode == 0, "handler exited %s" % h.returncode)
            served = int(open(cfile).read())
            if batch:
                check(0 < served <= PAGES // batch,
                      "with --batch %d the snapshot took %d faults, more than its %d groups" %
                      (batch, served, PAGES // batch))
                print("ok: with --batch %d a Full snapshot of it took %d faults" % (batch, served))
            else:
                check(served == PAGES, "the snapshot read %d pages through the handler, not "
                      "all %d" % (served, PAGES))
                print("ok: a Full snapshot of it read all %d pages through the handler" % served)

            out3 = os.path.join(tmp, "out3-%d" % n)
            r3 = start([a.hearth, "restore", "--snapshot", state2, "--mem", mem2,
                        "--no-sandbox"], out3, out3 + ".err")
            procs.append(r3)
            wait_for(lambda: len(counts(out3)) >= 2 or r3.poll() is not None,
                     "the second restore's counts")
            third = counts(out3)
            check(third and third[0][0] in (mid + 1, mid + 2) and third[0][1] == sum0,
                  "second restore printed %r after %d; stderr %s" %
                  (third[:3], mid, open(out3 + ".err").read()[-600:]))
            print("ok: the snapshot taken through the handler restores from its file at %d" %
                  third[0][0])
            stop(r3)
    except TestFailure as e:
        print("FAIL: %s" % e)
        return 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
