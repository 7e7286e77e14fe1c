#!/usr/bin/env python3
"""Live migration (docs/migration.md) between two Hearth processes on this
host: the tick guest (tests/guest/tick.elf, a line "tick N line L" on every Nth
PIT tick, its counter in guest RAM) with a scratch disk and a hybrid vsock,
booted by `hearth run --api-sock --migrate-dir DIR`, sent to a fresh
`hearth serve` that PUT /migrate/incoming made listen in DIR. Sandbox and
seccomp on at both ends.

    run_migrate_test.py --hearth build/hearth --case move|large|tcp|postcopy|postcopy-cut|dest-dies|source-dies|refused|jailed|jailed-postcopy|jailed-tcp
                                                 [--asan B]

  large        move with 1 GiB, 512 MiB of it written: the sealed source's thread
               frees buffers big enough that glibc would shrink a thread's heap
               (reading /proc, which its filter forbids) were it not for one arena.
  move         the counter goes on at the destination: the source's output
               and the destination's, one after the other, count on by one,
               none lost and none repeated (a line the switch-over cut in two
               is finished by the destination); both sides' GET /migrate say
               completed, with the same bytes; the source refuses to resume;
               the destination holds the disk's lock now.
  tcp          tcp:127.0.0.1:PORT: a sandboxed source without --migrate-net is
               refused, naming it, and a host name is refused (none is resolved);
               one with --migrate-net moves the VM over TCP, counting on.
  postcopy     the same move with "postcopy": true: one pass, then the pages the
               guest wrote since, asked for or pushed; both ends say no page is
               left, and the destination took every page the source sent.
  postcopy-cut the source's pages cut off once the VM runs on the destination (a
               proxy stops forwarding them after GO, then shuts both ends): the
               destination ends with 1, saying it cannot run without the source's
               pages; the source says post-copy failed and refuses to resume.
  dest-dies    a destination that reads part of the stream and dies (a socket
               this test holds): the source runs on, counting, its GET
               /migrate failed naming why; then a destination that refuses
               the VM (its disk missing): the source runs on again, the
               destination's reason in its error; a third, real one, takes it,
               both ends asked by `hearth migrate` (--to, --incoming --wait).
  source-dies  a source that dies mid-stream (this test, cutting its stream
               after some pages), then one that sends a page outside RAM:
               each destination ends with 1, its log naming the fault, no VM
               ever ran there.
  jailed       both ends under --jail (uid 1000), each jail seeing the source's
               --migrate-dir (a bind mount): the VM moves, counting on.
  jailed-postcopy  the same by post-copy: the destination's userfaultfd comes from the
               jail's /dev/userfaultfd (uid 1000 has no CAP_SYS_PTRACE).
  jailed-tcp   the same over tcp:127.0.0.1, the jailed source with --migrate-net.
  refused      bad requests named: an unknown field, a uri that is neither unix: nor
               tcp:, a tcp: port 0,
               no destination listening, one that accepts no connection (5 s), migrate/incoming after the machine
               was configured, and a boot-source PUT while one comes in.

Needs a /dev/kvm that runs freestanding guests; skips elsewhere.
"""
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, need_kvm, need_root, run_cases, sanitizer_env as env  # noqa: E402
from run_vmclock_test import request  # noqa: E402
from run_fork_test import ticks, wait_for, whole_lines, get, TICK, TIMEOUT  # noqa: E402


def numbered(*paths):
    """The (line number, tick count) pairs in a tick guest's output, the files read one after
    the other as one stream: the switch-over can fall inside a line ("tick 6 li" | "ne 6")."""
    data = b""
    for p in paths:
        try:
            with open(p, "rb") as f:
                data += f.read()
        except OSError:
            pass
    return [(int(n), int(t)) for t, n in re.findall(rb"tick (\d+) line (\d+)$",
                                                    whole_lines(data), re.M)]


def one_count(src, dst):
    """Whether the two outputs are one run's lines: both sides have some, and over both, read
    as one stream, the line numbers go on by one (nothing lost or said twice) and the tick
    counts rise. The tick count itself may skip: two PIT ticks can reach the guest in one
    wake when its vCPU waits on a loaded host (tests/guest/tick.c), which loses no output."""
    both = numbered(src, dst)
    n = [x for x, _ in both]
    t = [y for _, y in both]
    return (bool(numbered(src)) and bool(numbered(dst)) and n == list(range(n[0], n[0] + len(n)))
            and all(y > x for x, y in zip(t, t[1:])))


def first_break(src, dst):
    """Where one_count first fails, in words, for a failure's message."""
    both = numbered(src, dst)
    if not numbered(src) or not numbered(dst):
        return "lines: source %d, destination %d" % (len(numbered(src)), len(numbered(dst)))
    for (n0, t0), (n1, t1) in zip(both, both[1:]):
        if n1 != n0 + 1 or t1 <= t0:
            return "line %d (tick %d) then line %d (tick %d)" % (n0, t0, n1, t1)
    return "none"


def seam(src, dst):
    """The bytes either side of the switch-over, and the first break, for a failure's message."""
    with open(src, "rb") as a, open(dst, "rb") as b:
        return "...%r | %r...; first break: %s" % (a.read()[-40:], b.read(40),
                                                    first_break(src, dst))


class Source:
    def __init__(self, binary, tmp, extra=(), memory=64):
        self.dir = os.path.join(tmp, "mig")
        os.mkdir(self.dir)
        self.disk = os.path.join(tmp, "disk.img")
        with open(self.disk, "wb") as f:
            f.truncate(1 << 20)
        self.sock = os.path.join(tmp, "src.sock")
        self.out = os.path.join(tmp, "src.out")
        self.err = os.path.join(tmp, "src.err")
        self.p = subprocess.Popen(
            [binary, "run", "--kernel", TICK, "--memory", str(memory),
             "--disk", "path=%s,id=scratch" % self.disk,
             "--vsock", "cid=3,uds=%s" % os.path.join(tmp, "vs", "v.sock"),
             "--api-sock", self.sock, "--migrate-dir", self.dir] + list(extra),
            stdin=subprocess.DEVNULL, stdout=open(self.out, "wb"),
            stderr=open(self.err, "wb"), env=env())
        wait_for("the source's third line", lambda: len(ticks(self.out)) >= 3)

    def migrate(self, uri, **kw):
        body = {"uri": uri}
        body.update(kw)
        status, text = request(self.sock, "PUT", "/migrate", body)
        return status, text.decode("utf-8", "replace")

    def state(self):
        status, text = get(self.sock, "/migrate")
        check(status == 200, "GET /migrate on the source: %d %r" % (status, text))
        return json.loads(text)

    def stop(self):
        self.p.kill()
        self.p.wait()


class Dest:
    def __init__(self, binary, tmp, name="dst", extra=()):
        self.sock = os.path.join(tmp, name + ".sock")
        self.out = os.path.join(tmp, name + ".out")
        self.err = os.path.join(tmp, name + ".err")
        self.p = subprocess.Popen([binary, "serve", "--api-sock", self.sock] + list(extra),
                                  stdin=subprocess.DEVNULL, stdout=open(self.out, "wb"),
                                  stderr=open(self.err, "wb"), env=env())
        wait_for("the destination's socket", lambda: os.path.exists(self.sock))

    def incoming(self, uri, disk, **kw):
        body = {
            "uri": uri, "drive_overrides": [{"drive_id": "scratch", "path_on_host": disk,
                                             "is_read_only": False}],
            "vsock_override": {"uds_path": os.path.join(os.path.dirname(self.sock),
                                                        "dvs", "v.sock")}}
        body.update(kw)
        status, text = request(self.sock, "PUT", "/migrate/incoming", body)
        return status, text.decode("utf-8", "replace")

    def state(self):
        status, text = get(self.sock, "/migrate")
        check(status == 200, "GET /migrate on the destination: %d %r" % (status, text))
        return json.loads(text)

    def log(self):
        with open(self.err, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def wait_state(side, states, what):
    wait_for(what, lambda: side.state()["state"] in states)
    return side.state()


def counts_on(out, what):
    n = len(ticks(out))
    wait_for(what, lambda: len(ticks(out)) >= n + 3)


def move(binary, tmp, postcopy, big=False):
    need_kvm()
    # big: 1 GiB, half of it written at boot, so the migrate thread's buffers come and go
    # at sizes that make glibc shrink a heap (an open a sealed thread must not make).
    s = Source(binary, tmp, ["--cmdline", "touch=512 dirty=0"] if big else [],
               memory=1024 if big else 64)
    d = Dest(binary, tmp)
    try:
        uri = "unix:" + os.path.join(s.dir, "m.sock")
        status, text = d.incoming(uri, s.disk)
        check(status == 204, "PUT /migrate/incoming: %d %r" % (status, text))
        check(d.state()["state"] == "waiting", "the destination waits: %r" % d.state())
        if postcopy:
            status, text = s.migrate(uri, postcopy=True)
        else:
            status, text = s.migrate(uri, downtime_limit_ms=50)
        check(status == 204, "PUT /migrate: %d %r" % (status, text))
        got = wait_state(s, ("completed", "failed", "unconfirmed"), "the source to finish")
        check(got["state"] == "completed", "the source says completed: %r" % got)
        dst = wait_state(d, ("completed", "failed"), "the destination to finish")
        check(dst["state"] == "completed", "the destination says completed: %r" % dst)
        check(dst["bytes"] == got["bytes"] and got["bytes"] > 0,
              "both count the same bytes: %r %r" % (got, dst))
        check(got["iteration"] >= 1 and got["downtime_us"] > 0, "passes and downtime: %r" % got)
        sw = got.get("switch_us", {})
        check(sorted(sw) == ["ready", "running", "send", "state"] and
              all(v > 0 for v in sw.values()) and sum(sw.values()) == got["downtime_us"],
              "the downtime's four phases, each taken, add up to it: %r" % got)
        if not postcopy:
            # One clock on one host: the resume lies inside the source's downtime.
            check(0 < got["paused_at_us"] <= dst["resumed_at_us"] <=
                  got["paused_at_us"] + got["downtime_us"] + 1000,
                  "the pause and the resume, against the downtime: %r %r" % (got, dst))
        if postcopy:
            # One pass, then the pages the guest wrote since: asked for or pushed, all in.
            check(got["iteration"] == 1 and got["pages_left"] == 0 and dst["pages_left"] == 0,
                  "post-copy: one pass, and no page left on either side: %r %r" % (got, dst))
            check(dst["pages"] == got["pages"] and dst["pages"] > got["first_pass_pages"],
                  "post-copy: the destination took every page the source sent, more than "
                  "the first pass's: %r %r" % (got, dst))
            check("every page" in d.log() or "runs here" in d.log(),
                  "the destination's log: %r" % d.log()[-400:])
        counts_on(d.out, "the destination to count on")
        at_src = ticks(s.out)
        time.sleep(0.3)
        check(ticks(s.out) == at_src, "the source counts no more")
        check(one_count(s.out, d.out),
              "one count across both, none lost, none repeated: " + seam(s.out, d.out))
        status, text = request(s.sock, "PATCH", "/vm", {"state": "Resumed"})
        check(status == 400 and b"migrated" in text,
              "the source refuses to run the VM again: %d %r" % (status, text))
        status, text = request(d.sock, "PUT", "/migrate/incoming", {"uri": uri})
        check(status == 400, "a second incoming is refused: %d %r" % (status, text))
        # The disk's lock is the destination's: a third process cannot take it.
        r = subprocess.run(["flock", "-n", "-x", s.disk, "true"])
        check(r.returncode != 0, "the destination holds the disk's lock")
    finally:
        s.stop()
        d.stop()


def fake_dest(path, take):
    """A destination that reads take bytes and dies."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    return srv


def case_dest_dies(binary, tmp):
    need_kvm()
    s = Source(binary, tmp)
    d = None
    try:
        path = os.path.join(s.dir, "fake.sock")
        srv = fake_dest(path, 0)
        status, text = s.migrate("unix:" + path)
        check(status == 204, "PUT /migrate to the fake destination: %d %r" % (status, text))
        c, _ = srv.accept()
        got = 0
        while got < (4 << 20):
            b = c.recv(1 << 16)
            if not b:
                break
            got += len(b)
        c.close()
        srv.close()
        st = wait_state(s, ("failed", "completed"), "the source to see the destination die")
        check(st["state"] == "failed" and "destination" in st.get("error", ""),
              "the source's migration failed, naming the destination: %r" % st)
        counts_on(s.out, "the source to count on after the destination died")
        # A destination that refuses the VM: its disk is not there.
        d = Dest(binary, tmp)
        uri = "unix:" + os.path.join(s.dir, "m.sock")
        status, text = d.incoming(uri, os.path.join(tmp, "missing.img"))
        check(status == 204, "PUT /migrate/incoming: %d %r" % (status, text))
        status, text = s.migrate(uri)
        check(status == 204, "PUT /migrate: %d %r" % (status, text))
        st = wait_state(s, ("failed", "completed", "unconfirmed"), "the refusal")
        check(st["state"] == "failed" and "missing.img" in st.get("error", ""),
              "the source names the destination's refusal: %r" % st)
        check(d.p.wait(timeout=TIMEOUT) == 1, "the refusing destination ends with 1")
        counts_on(s.out, "the source to count on after the refusal")
        # Then a real one takes it, both ends through the CLI twin, `hearth migrate`.
        d = Dest(binary, tmp, "dst2")
        recv = subprocess.Popen(
            [binary, "migrate", "--api-sock", d.sock, "--incoming", uri,
             "--drive-override", "scratch=rw:" + s.disk,
             "--vsock-override", os.path.join(tmp, "dvs2", "v.sock"), "--wait"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env())
        wait_for("the destination to listen", lambda: d.state()["state"] == "waiting")
        r = subprocess.run([binary, "migrate", "--api-sock", s.sock, "--to", uri,
                            "--downtime-ms", "50"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env(), timeout=TIMEOUT)
        check(r.returncode == 0 and json.loads(r.stdout)["state"] == "completed",
              "hearth migrate --to: %d %r %r" % (r.returncode, r.stdout, r.stderr))
        out, errs = recv.communicate(timeout=TIMEOUT)
        check(recv.returncode == 0 and json.loads(out)["state"] == "completed",
              "hearth migrate --incoming --wait: %d %r %r" % (recv.returncode, out, errs))
        counts_on(d.out, "the destination to count on")
    finally:
        s.stop()
        if d:
            d.stop()


def rec(t, payload=b""):
    return struct.pack("<IIQ", t, 0, len(payload)) + payload


def layout(ram):
    """LAYOUT for one region of ram bytes at GPA 0 (the memory file's ELF core header)."""
    eh = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    eh += struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, 2, 0, 0, 0)
    note = struct.pack("<IIQQQQQQ", 4, 0, 176, 0, 0, 0, 0, 4)
    load = struct.pack("<IIQQQQQQ", 1, 6, 4096, 0, 0, ram, ram, 4096)
    return rec(1, struct.pack("<Q", 4096 + ram) + eh + note + load)


def case_source_dies(binary, tmp):
    need_kvm()
    head = b"HEARTHMG" + struct.pack("<II", 1, 0)
    page = rec(2, struct.pack("<Q", 0x1000) + b"\xab" * 4096)
    for name, stream, fault in (
            ("cut", head + layout(64 << 20) + page * 8 + page[:1000], "cut short"),
            ("outside", head + layout(64 << 20) + rec(2, struct.pack("<Q", 64 << 20) +
                                                     bytes(4096)), "not inside"),
            ("version", b"HEARTHMG" + struct.pack("<II", 9, 0), "version 9")):
        d = Dest(binary, tmp, name)
        try:
            path = os.path.join(tmp, name + "-m.sock")
            status, text = d.incoming("unix:" + path, os.path.join(tmp, "x.img"))
            check(status == 204, "PUT /migrate/incoming: %d %r" % (status, text))
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(path)
            c.sendall(stream)
            c.close()
            code = d.p.wait(timeout=TIMEOUT)
            check(code == 1, "%s: the destination ends with 1: %r" % (name, code))
            log = d.log()
            check(fault in log and "never ran" in log,
                  "%s: its log names the fault (%r): %s" % (name, fault, log[-400:]))
            check(not ticks(d.out), "%s: no VM ran there" % name)
        finally:
            d.stop()


def case_refused(binary, tmp):
    need_kvm()
    s = Source(binary, tmp)
    d = Dest(binary, tmp)
    try:
        for body, words in (({"uri": "unix:x", "speed": 1}, "unknown field 'speed'"),
                            ({"uri": "ftp:1.2.3.4:5"}, "want unix:PATH or tcp:ADDR:PORT"),
                            ({"uri": "tcp:1.2.3.4:0"}, "PORT 1 to 65535"),
                            ({"uri": "unix:" + os.path.join(s.dir, "none.sock")},
                             "is a destination listening"),
                            ({"uri": "unix:x", "downtime_limit_ms": 0}, "downtime_limit_ms")):
            status, text = request(s.sock, "PUT", "/migrate", body)
            check(status == 400 and words.encode() in text,
                  "PUT /migrate %r: %d %r, want %r" % (body, status, text, words))
        # A listener that accepts nothing (its backlog full): refused after the deadline.
        path = os.path.join(s.dir, "full.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(0)
        hold = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        hold.connect(path)
        status, text = s.migrate("unix:" + path)
        check(status == 400 and b"accepts no connection" in text.encode(),
              "PUT /migrate to a destination that accepts nothing: %d %r" % (status, text))
        hold.close()
        srv.close()
        counts_on(s.out, "the source to count on")
        status, text = request(d.sock, "PUT", "/machine-config",
                               {"vcpu_count": 1, "mem_size_mib": 64})
        check(status == 204, "PUT /machine-config: %d %r" % (status, text))
        status, text = request(d.sock, "PUT", "/migrate/incoming",
                               {"uri": "unix:" + os.path.join(tmp, "m.sock")})
        check(status == 400 and b"boot-specific" in text,
              "incoming after a machine config: %d %r" % (status, text))
        d.stop()
        d = Dest(binary, tmp, "dst2")
        status, text = request(d.sock, "PUT", "/migrate/incoming",
                               {"uri": "unix:" + os.path.join(tmp, "m2.sock")})
        check(status == 204, "PUT /migrate/incoming: %d %r" % (status, text))
        status, text = request(d.sock, "PUT", "/boot-source", {"kernel_image_path": TICK})
        check(status == 400 and b"migration is coming in" in text,
              "a boot source while one comes in: %d %r" % (status, text))
        d.stop()
        # The request bounds the RAM a stream may lay out before its state is read (issue
        # 62: whoever connects first to a plain listener filled up to the host's RAM).
        d = Dest(binary, tmp, "dst3")
        status, text = d.incoming("unix:" + os.path.join(tmp, "m3.sock"), s.disk,
                                  max_mem_mib=0)
        check(status == 400 and "max_mem_mib: want a whole number from 1 to 1048576" in text,
              "max_mem_mib 0: %d %r" % (status, text))
        uri = "unix:" + os.path.join(s.dir, "small.sock")
        status, text = d.incoming(uri, s.disk, max_mem_mib=32)
        check(status == 204, "PUT /migrate/incoming, max_mem_mib 32: %d %r" % (status, text))
        status, text = s.migrate(uri)
        check(status == 204, "PUT /migrate to it: %d %r" % (status, text))
        # A destination whose stream failed before its VM existed ends, saying why.
        wait_for("the destination to end", lambda: d.p.poll() is not None)
        check("64 MiB of RAM, more than this destination takes (32 MiB)" in d.log(),
              "64 MiB into a 32 MiB bound: %r" % d.log()[-400:])
        got = wait_state(s, ("completed", "failed", "unconfirmed"), "the source to fail")
        check(got["state"] == "failed", "the source says failed: %r" % got)
        counts_on(s.out, "the source to count on after the refusal")
    finally:
        s.stop()
        d.stop()


def jailed(binary, tmp, postcopy, tcp=False, certs=None):
    """Both ends jailed (--jail, uid 1000), each in a jail of its own that sees one
    directory of the other's (a bind mount, as an orchestrator shares storage): the
    source's --migrate-dir, holding the disk and the destination's socket. postcopy: the
    same by post-copy (the destination's userfaultfd from the jail's /dev/userfaultfd).
    tcp: over tcp:127.0.0.1 instead, the source started with --migrate-net. certs: a
    function that writes --migrate-tls's files into a directory: each jail gets its own
    /tls, and the stream is TLS."""
    need_kvm()
    need_root("--jail")
    import shutil
    ja, jb = os.path.join(tmp, "ja"), os.path.join(tmp, "jb")
    for j in (ja, jb):
        os.makedirs(os.path.join(j, "mig"))
        if certs:
            os.makedirs(os.path.join(j, "tls"))
            certs(os.path.join(j, "tls"))
    tls = ["--migrate-tls", "/tls"] if certs else []
    shutil.copy(TICK, os.path.join(ja, "tick.elf"))
    with open(os.path.join(ja, "mig", "disk.img"), "wb") as f:
        f.truncate(1 << 20)
    for j in (ja, jb):
        for root, dirs, files in os.walk(j):
            for x in dirs + files:
                os.chown(os.path.join(root, x), 1000, 1000)
        os.chown(j, 1000, 1000)
    subprocess.run(["mount", "--bind", os.path.join(ja, "mig"), os.path.join(jb, "mig")],
                   check=True)
    jail = lambda j: ["--jail", j, "--uid", "1000", "--gid", "1000"]  # noqa: E731
    sout, dout = os.path.join(tmp, "s.out"), os.path.join(tmp, "d.out")
    procs = []
    try:
        procs.append(subprocess.Popen(
            [binary, "run", "--kernel", "/tick.elf", "--memory", "64",
             "--disk", "path=/mig/disk.img,id=scratch", "--api-sock", "/s.sock",
             "--migrate-dir", "/mig"] + (["--migrate-net"] if tcp else []) + tls + jail(ja),
            stdin=subprocess.DEVNULL,
            stdout=open(sout, "wb"), stderr=subprocess.DEVNULL, env=env()))
        procs.append(subprocess.Popen(
            [binary, "serve", "--api-sock", "/d.sock"] + tls + jail(jb),
            stdin=subprocess.DEVNULL,
            stdout=open(dout, "wb"), stderr=subprocess.DEVNULL, env=env()))
        wait_for("the jailed source's lines", lambda: len(ticks(sout)) >= 3)
        dsock, ssock = os.path.join(jb, "d.sock"), os.path.join(ja, "s.sock")
        wait_for("the jailed destination's socket", lambda: os.path.exists(dsock))
        uri = "tcp:127.0.0.1:%d" % free_port() if tcp else "unix:/mig/in.sock"
        status, text = request(dsock, "PUT", "/migrate/incoming", dict({
            "uri": uri, "drive_overrides": [
                {"drive_id": "scratch", "path_on_host": "/mig/disk.img", "is_read_only": False}]},
            **({"tls": True} if certs else {})))
        check(status == 204, "PUT /migrate/incoming, jailed: %d %r" % (status, text))
        body = {"uri": uri}
        if postcopy:
            body["postcopy"] = True
        if certs:
            body["tls"] = True
        status, text = request(ssock, "PUT", "/migrate", body)
        check(status == 204, "PUT /migrate, jailed: %d %r" % (status, text))
        wait_for("the jailed source to finish", lambda: json.loads(get(ssock, "/migrate")[1])[
            "state"] in ("completed", "failed", "unconfirmed"))
        st = json.loads(get(ssock, "/migrate")[1])
        check(st["state"] == "completed" and st["postcopy"] == postcopy,
              "the jailed source says completed (post-copy %s): %r" % (postcopy, st))
        check(bool(certs) == str(st["tls"]).startswith("TLS"),
              "the jailed stream's TLS is as asked (%s): %r" % (bool(certs), st["tls"]))
        counts_on(dout, "the jailed destination to count on")
        check(one_count(sout, dout),
              "one count across both jails: " + seam(sout, dout))
        pid = procs[1].pid
        with open("/proc/%d/status" % pid) as f:
            uid = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
        check(uid == ["1000"] * 4 and os.readlink("/proc/%d/root" % pid) != "/",
              "the destination runs the VM in its jail, as uid 1000: %r" % uid)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        umount(os.path.join(jb, "mig"))


def umount(path):
    """A bind mount a killed VMM's jail saw, undone: its mount namespace may outlive it a
    moment (its teardown is the kernel's), so tried again for a while, then detached lazily."""
    for _ in range(50):
        if subprocess.run(["umount", path], stderr=subprocess.DEVNULL).returncode == 0:
            return
        time.sleep(0.1)
    subprocess.run(["umount", "-l", path])


def free_port():
    with socket.socket() as t:
        t.bind(("127.0.0.1", 0))
        return t.getsockname()[1]


def thread_nets(pid):
    """Each thread of pid: (name, its network namespace, how many seccomp filters it has)."""
    out = []
    for t in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, t)
        st = dict(line.split(":", 1) for line in open(base + "status") if ":" in line)
        out.append((open(base + "comm").read().strip(), os.readlink(base + "ns/net"),
                    int(st.get("Seccomp_filters", "0").strip())))
    return sorted(out)


def case_tcp(binary, tmp):
    """tcp:ADDR:PORT: a source whose sandbox keeps no network is refused, naming
    --migrate-net; one started with it moves the VM over TCP on the loopback, counting
    on; a name in place of an address is refused (nothing is resolved)."""
    need_kvm()
    s = Source(binary, os.path.join(tmp))
    d = Dest(binary, tmp)
    try:
        # Every thread of the sealed source is out of this host's network but the
        # migration thread, which runs since before the seal (a namespace is a thread's
        # own); that one carries a second filter, which refuses it any socket but a Unix
        # one (issue 62: on a kernel whose Landlock has no TCP rules it reached the
        # host's network).
        host = os.readlink("/proc/self/ns/net")
        names = thread_nets(s.p.pid)
        check(all(ns != host for name, ns, _ in names if name != "migrate"),
              "a thread of the sealed source is in the host's network namespace %s: %r"
              % (host, names))
        check([n for name, _, n in names if name == "migrate"] == [2],
              "the migration thread carries its own filter and the seal's: %r" % names)
        uri = "tcp:127.0.0.1:%d" % free_port()
        status, text = d.incoming(uri, s.disk)
        check(status == 204, "PUT /migrate/incoming %s: %d %r" % (uri, status, text))
        status, text = s.migrate(uri)
        check(status == 400 and "--migrate-net" in text,
              "a sandboxed source without --migrate-net is refused, naming it: %d %r (its "
              "log: %r)" % (status, text, open(s.err, "rb").read()[-600:]))
        status, text = s.migrate("tcp:localhost:%d" % free_port())
        check(status == 400 and "no name is resolved" in text,
              "a name is refused: %d %r" % (status, text))
        counts_on(s.out, "the refused source to count on")
    finally:
        s.stop()
        d.stop()
    os.mkdir(os.path.join(tmp, "n"))
    s = Source(binary, os.path.join(tmp, "n"), ["--migrate-net"])
    d = Dest(binary, tmp, "dst2")
    try:
        # --migrate-net keeps the host's network for the migration thread alone: the io
        # thread (no user-mode NIC, no PCI) takes the socket filter, the vCPUs with it.
        names = thread_nets(s.p.pid)
        check([n for name, _, n in names if name in ("io", "vcpu0")] == [2, 2] and
              [n for name, _, n in names if name == "migrate"] == [1],
              "with --migrate-net, the io thread and the vCPU carry the socket filter, the "
              "migration thread not: %r" % names)
        uri = "tcp:127.0.0.1:%d" % free_port()
        status, text = d.incoming(uri, s.disk)
        check(status == 204, "PUT /migrate/incoming %s: %d %r" % (uri, status, text))
        status, text = s.migrate(uri)
        check(status == 204, "PUT /migrate over TCP: %d %r" % (status, text))
        got = wait_state(s, ("completed", "failed", "unconfirmed"), "the source to finish")
        dst = wait_state(d, ("completed", "failed"), "the destination to finish")
        check(got["state"] == "completed" and dst["state"] == "completed" and
              got["bytes"] == dst["bytes"] and got["uri"] == uri,
              "both ends say completed over %s: %r %r" % (uri, got, dst))
        counts_on(d.out, "the destination to count on")
        check(one_count(s.out, d.out),
              "one count across both, none lost, none repeated: " + seam(s.out, d.out))
    finally:
        s.stop()
        d.stop()


# Two parameters each: run_cases hands a case with a third its parsed arguments.
def case_move(binary, tmp):
    move(binary, tmp, False)


def case_postcopy(binary, tmp):
    move(binary, tmp, True)


def case_large(binary, tmp):
    move(binary, tmp, False, big=True)


def case_jailed(binary, tmp):
    jailed(binary, tmp, False)


def case_jailed_postcopy(binary, tmp):
    jailed(binary, tmp, True)


def case_jailed_tcp(binary, tmp):
    jailed(binary, tmp, False, tcp=True)


def read_exact(c, n):
    b = b""
    while len(b) < n:
        got = c.recv(n - len(b))
        if not got:
            return None
        b += got
    return b


def records(c, first=0):
    """(type, bytes) of each record on c, after first raw bytes (the stream's header)."""
    if first:
        head = read_exact(c, first)
        if head is None:
            return
        yield None, head
    while True:
        h = read_exact(c, 16)
        if h is None:
            return
        t, _, n = struct.unpack("<IIQ", h)
        body = read_exact(c, n) if n else b""
        if body is None:
            return
        yield t, h + body


def case_postcopy_cut(binary, tmp):
    """The source's pages cut off once the VM runs on the destination (a proxy that stops
    forwarding the source's records after GO, then closes both ends): the destination, whose
    guest waits on pages it can never get, ends with 1 and says why; the source says the
    migration failed and refuses to run the VM (it may have run there)."""
    need_kvm()
    import threading
    s = Source(binary, tmp)
    d = Dest(binary, tmp)
    real = os.path.join(s.dir, "real.sock")
    front = os.path.join(s.dir, "m.sock")
    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lst.bind(front)
    lst.listen(1)
    seen = {"go": False, "running": threading.Event()}

    def forward():
        a, _ = lst.accept()
        b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        b.connect(real)
        seen["socks"] = (a, b)

        def back():
            for t, raw in records(b):
                a.sendall(raw)
                if t == 9:
                    seen["running"].set()
        threading.Thread(target=back, daemon=True).start()
        for t, raw in records(a, 16):
            if not seen["go"]:
                b.sendall(raw)
            if t == 6:
                seen["go"] = True
        seen["source_closed"] = True

    fwd = threading.Thread(target=forward, daemon=True)
    fwd.start()
    try:
        status, text = d.incoming("unix:" + real, s.disk)
        check(status == 204, "PUT /migrate/incoming: %d %r" % (status, text))
        status, text = s.migrate("unix:" + front, postcopy=True)
        check(status == 204, "PUT /migrate: %d %r" % (status, text))
        check(seen["running"].wait(TIMEOUT), "the destination says RUNNING")
        time.sleep(0.5)
        # The link cut: both ends of the proxy shut.
        for c in seen["socks"]:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass    # closed already: the proxy saw one end go
        lst.close()
        code = d.p.wait(timeout=TIMEOUT)
        log = d.log()
        check(code == 1 and "cannot run without the source's pages" in log and
              "closed" in log, "the destination ends with 1, naming why (the source closed "
              "the connection): %r %s (source: %r %s)" % (
                  code, log[-500:], s.state(), open(s.err, "rb").read()[-1500:]))
        got = wait_state(s, ("completed", "failed", "unconfirmed"), "the source to finish")
        check(got["state"] == "failed" and "post-copy" in got.get("error", ""),
              "the source says post-copy failed: %r" % got)
        status, text = request(s.sock, "PATCH", "/vm", {"state": "Resumed"})
        check(status == 400 and b"migrated" in text,
              "the source refuses to run the VM again: %d %r" % (status, text))
    finally:
        s.stop()
        d.stop()


CASES = {"move": case_move, "large": case_large, "tcp": case_tcp, "postcopy": case_postcopy,
         "postcopy-cut": case_postcopy_cut, "dest-dies": case_dest_dies,
         "source-dies": case_source_dies, "jailed-postcopy": case_jailed_postcopy,
         "jailed-tcp": case_jailed_tcp,
         "refused": case_refused, "jailed": case_jailed}

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-migrate-"))
