#!/usr/bin/env python3
"""PUT /fork and PUT /reset (docs/api.md "Fork and reset") on a running
template: the tick guest (tests/guest/tick.elf, a line "tick N line L" on every
Nth PIT tick, its counter in guest RAM) with a scratch disk and a hybrid
vsock, booted by `hearth run --api-sock --fork-dir DIR`, sandbox and
seccomp on.

    run_fork_test.py --hearth build/hearth --case clones|reset|refused [--asan B]

  clones   10 clones in one request: each is a process of its own whose
           first line continues the template's count from the fork, each
           holds its own disk image and socket, and its MMDS its own
           identity (the spec's mmds, "{i}" expanded); the template runs on; a
           clone left paused and resumed later counts on from the fork
           however far the template went meanwhile (the template's later
           writes never reach a clone); one killed, the rest run on.
  reset    a clone counts on, PUT /reset: it answers the pages it took
           back, and its next line is its first again; again through `hearth
           reset`; the booted template, which has no base, is refused.
  reuse    a paused template forked twice, unchanged between: both clones
           map one frozen base (the RAM copied once) and count on from the
           pause; resumed and paused again, the next fork writes a new one.
  usernet  a template with a user-mode NIC: a fork that leaves the NIC out
           is refused naming it; `hearth fork --net-override eth0=user`
           gives each clone a user-mode NIC of its own.
  tmpfs    the template's --fork-dir on a tmpfs (/dev/shm, as /run): two
           clones, asked for by `hearth fork`, start and count on from the fork (the zygote opens the
           directory again in its own mount namespace: through the
           template's mount, which the template's pivot detaches, a clone
           had no working directory to name and refused to start).
  jailed   the template under --jail (uid 1100, its own): 20 clones, each in the
           jail as that uid, each running with its own image.
  refused  bad requests (a path out of --fork-dir, an image missing, a
           drive left out, a socket that exists, 0 or 1001 clones, two
           clones on one writable image, an mmds not an object) are refused whole with a line
           naming the fault: no clone process, nothing made in the
           directory, the template still counting.

Needs a /dev/kvm that runs freestanding guests; skips elsewhere.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, need_kvm, need_root, run_cases, sanitizer_env as env  # noqa: E402
from run_vmclock_test import request  # noqa: E402
from run_api_test import UnixHTTPConnection  # noqa: E402

TIMEOUT = 60.0
TICK = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "build", "tests", "guest", "tick.elf")


def get(sock, path):
    c = UnixHTTPConnection(sock)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def ticks(path):
    """The line numbers in a serial file ("tick N line L": L). These tests ask whether a
    clone or a reset goes on from where its base was, line for line: the tick count N skips
    when two PIT ticks reach a guest in one wake (a loaded host, the lab's L1), L never
    does (tests/guest/tick.c). A reset that lands while the guest is halfway through a line
    leaves that line cut ("tic"), and the guest's next one, from the fork point, follows it
    on the same line ("tictick 4 line 4"): a line's number ends it, not starts it. Only
    whole lines count: the last one, still being written, may be cut ("line 6" of "line 61")."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    return [int(m) for m in re.findall(rb"tick \d+ line (\d+)$", whole_lines(data), re.M)]


def whole_lines(data):
    """data up to its last newline: a line still being written is not one yet."""
    return data[:data.rfind(b"\n") + 1]


def at_most(path):
    """The last whole line's number in a serial file (0 before the first)."""
    got = ticks(path)
    return max(got) if got else 0


def from_base(first, before, after, what):
    """A clone's (or a reset's) first line, where its base was taken after a line numbered
    `before` and before one numbered `after + 1` was out: the next line, or the one after
    when the base cut a line in two (the clone finishes it; only its end is whole)."""
    check(before + 1 <= first <= after + 2,
          "%s continues from its base: first line %d, the base between lines %d and %d"
          % (what, first, before, after))


def wait_for(what, cond, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not cond():
        check(time.monotonic() < deadline, "timed out waiting for " + what)
        time.sleep(0.05)


class Template:
    def __init__(self, binary, tmp, fork_dir=None, extra=()):
        self.dir = fork_dir or os.path.join(tmp, "fd")
        os.mkdir(self.dir)
        with open(os.path.join(tmp, "boot.img"), "wb") as f:
            f.truncate(1 << 20)
        for i in range(12):
            with open(os.path.join(self.dir, "d%d.img" % i), "wb") as f:
                f.truncate(1 << 20)
        self.sock = os.path.join(tmp, "t.sock")
        self.out = os.path.join(tmp, "t.out")
        self.p = subprocess.Popen(
            [binary, "run", "--kernel", TICK, "--memory", "64",
             "--disk", "path=%s,id=scratch" % os.path.join(tmp, "boot.img"),
             "--vsock", "cid=3,uds=%s" % os.path.join(tmp, "boot", "v.sock"),
             "--api-sock", self.sock, "--fork-dir", self.dir] + list(extra),
            stdin=subprocess.DEVNULL, stdout=open(self.out, "wb"), stderr=subprocess.PIPE,
            env=env())
        wait_for("the template's third line", lambda: len(ticks(self.out)) >= 3)

    def fork(self, body):
        status, text = request(self.sock, "PUT", "/fork", body)
        return status, text.decode("utf-8", "replace")

    def stop(self):
        self.p.kill()
        self.p.wait()


def spec(i=None, **kw):
    s = {"api_sock": "c{i}.sock", "serial_out": "c{i}.out",
         "drive_overrides": [{"drive_id": "scratch", "path_on_host": "d{i}.img",
                              "is_read_only": False}],
         "vsock_override": {"uds_path": "v{i}.sock"}}
    s.update(kw)
    return s


def spec_n(i, **kw):
    """spec() for the clones list, whose strings are not expanded: clone i's own names."""
    return json.loads(json.dumps(spec(**kw)).replace("{i}", str(i)))


def kill_all(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def fork_ok(t, body):
    status, text = t.fork(body)
    check(status == 200, "PUT /fork: %d %r" % (status, text))
    return json.loads(text)["clones"]


def pipe_fds(pid):
    """How many pipes pid holds now; an fd closed while it is looked at is not counted."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("pipe:")
        except FileNotFoundError:
            pass
    return n


def case_clones(binary, tmp):
    need_kvm()
    t = Template(binary, tmp)
    pids = []
    try:
        before = at_most(t.out)
        clones = fork_ok(t, {"count": 10, "clone": spec(mmds={"id": "clone-{i}",
                                                                "net": {"ip": "10.0.0.{i}"}})})
        after = at_most(t.out)
        pids = [c["pid"] for c in clones]
        check(len(set(pids)) == 10 and os.getpid() not in pids and t.p.pid not in pids,
              "10 processes of their own: %r" % pids)
        for i in range(10):
            out = os.path.join(t.dir, "c%d.out" % i)
            wait_for("clone %d's lines" % i, lambda: len(ticks(out)) >= 2)
            from_base(ticks(out)[0], before, after, "clone %d" % i)
            img = os.path.realpath(os.path.join(t.dir, "d%d.img" % i))
            held = [os.readlink("/proc/%d/fd/%s" % (pids[i], fd))
                    for fd in os.listdir("/proc/%d/fd" % pids[i])]
            check(img in held and not any(re.search(r"/d(?!%d\.img)\d+\.img$" % i, h)
                                          for h in held),
                  "clone %d holds its own image and no other: %r" % (i, held))
            check(os.path.exists(os.path.join(t.dir, "c%d.sock" % i)),
                  "clone %d serves its API socket" % i)
            status, text = get(os.path.join(t.dir, "c%d.sock" % i), "/mmds")
            check(status == 200 and json.loads(text) == {"id": "clone-%d" % i,
                                                         "net": {"ip": "10.0.0.%d" % i}},
                  "clone %d's MMDS holds its own identity: %d %r" % (i, status, text))
        # Each clone closed its elder siblings' pipes to the zygote: the tenth holds no more
        # pipes than the first (the fewest of three looks: a running clone's fds come and go).
        pipes = [min(pipe_fds(pid) for _ in range(3)) for pid in pids]
        check(len(set(pipes)) == 1, "every clone holds as many pipes, none of its siblings': %r"
              % pipes)
        n = len(ticks(t.out))
        wait_for("the template's next line", lambda: len(ticks(t.out)) > n)
        # A clone left paused while the template counts far on.
        before = at_most(t.out)
        late = fork_ok(t, {"clones": [spec(api_sock="p.sock", serial_out="p.out",
                                           drive_overrides=[{"drive_id": "scratch",
                                                             "path_on_host": "d10.img",
                                                             "is_read_only": False}],
                                           vsock_override={"uds_path": "vp.sock"})],
                           "resume": False})
        pids.append(late[0]["pid"])
        at_late = max(ticks(t.out))
        wait_for("the template to count on", lambda: max(ticks(t.out)) >= at_late + 6)
        check(ticks(os.path.join(t.dir, "p.out")) == [], "the paused clone says nothing")
        status, text = request(os.path.join(t.dir, "p.sock"), "PATCH", "/vm",
                               {"state": "Resumed"})
        check(status == 204, "PATCH /vm Resumed on the paused clone: %d %r" % (status, text))
        pout = os.path.join(t.dir, "p.out")
        wait_for("the resumed clone's line", lambda: ticks(pout))
        from_base(ticks(pout)[0], before, at_late, "the resumed clone (not from the "
                  "template's later line %d; its output %r)" % (max(ticks(t.out)),
                                                                open(pout, "rb").read()[:300]))
        os.kill(pids[3], signal.SIGKILL)
        wait_for("clone 3 to go", lambda: not alive(pids[3]))
        counts = [len(ticks(os.path.join(t.dir, "c%d.out" % i))) for i in range(10)]
        for i in range(10):
            if i != 3:
                out = os.path.join(t.dir, "c%d.out" % i)
                wait_for("clone %d to go on after clone 3's kill" % i,
                         lambda: len(ticks(out)) > counts[i])
        check(t.p.poll() is None, "the template runs on")
    finally:
        kill_all(pids)
        t.stop()


def counts_again(out, n, m, first, what):
    """After `what`, asked for when out had n lines and answered when it had m: the clone's
    first line again, then on from there. Lines written while the request was on its way
    (any number, on a slow host) carry the old count, past it; none follows the answer."""
    wait_for("two lines after " + what, lambda: len(ticks(out)) > max(n, m) + 2)
    lines = ticks(out)[n:]
    k = lines.index(first) if first in lines else -1
    check(0 <= k <= m - n and all(x > first for x in lines[:k]),
          "after %s the clone says its first line (%d) again, and no old line after the "
          "answer (%d lines came before it): %r" % (what, first, m - n, lines))
    check(lines[k + 1] == first + 1, "and counts on from there: %r" % lines)


def case_reset(binary, tmp):
    need_kvm()
    t = Template(binary, tmp)
    pids = []
    try:
        pids = [c["pid"] for c in fork_ok(t, {"count": 1, "clone": spec()})]
        out = os.path.join(t.dir, "c0.out")
        wait_for("the clone's fourth line", lambda: len(ticks(out)) >= 4)
        first = ticks(out)[0]
        n = len(ticks(out))
        status, text = request(os.path.join(t.dir, "c0.sock"), "PUT", "/reset", {})
        m = len(ticks(out))
        check(status == 200, "PUT /reset: %d %r" % (status, text))
        got = json.loads(text)
        check(got["pages"] > 0, "the reset took pages back: %r" % got)
        counts_again(out, n, m, first, "the reset")
        # Again through the CLI twin, `hearth reset`, which prints the answer.
        n = len(ticks(out))
        r = subprocess.run([binary, "reset", "--api-sock", os.path.join(t.dir, "c0.sock")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(),
                           timeout=TIMEOUT)
        m = len(ticks(out))
        check(r.returncode == 0 and json.loads(r.stdout)["pages"] > 0,
              "hearth reset: %d %r %r" % (r.returncode, r.stdout, r.stderr))
        counts_again(out, n, m, first, "hearth reset")
        r = subprocess.run([binary, "reset", "--api-sock", t.sock], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env(), timeout=TIMEOUT)
        check(r.returncode == 1 and b"no base" in r.stderr,
              "hearth reset of the booted template is refused, saying why: %d %r"
              % (r.returncode, r.stderr))
    finally:
        kill_all(pids)
        t.stop()


def ram_inode(pid):
    """The inode of the RAM memfd a clone maps (its frozen base)."""
    for fd in os.listdir("/proc/%d/fd" % pid):
        if "hearth-fork-ram" in os.readlink("/proc/%d/fd/%s" % (pid, fd)):
            return os.stat("/proc/%d/fd/%s" % (pid, fd)).st_ino
    return None


def case_reuse(binary, tmp):
    """A paused template forked again, unchanged: the same frozen base (its RAM copied
    once); once it ran, a new one, and the new clones count on from where it ran to."""
    need_kvm()
    t = Template(binary, tmp)
    pids = []
    try:
        status, text = request(t.sock, "PATCH", "/vm", {"state": "Paused"})
        check(status == 204, "PATCH /vm Paused: %d %r" % (status, text))
        at_pause = at_most(t.out)

        def one(i):
            got = fork_ok(t, {"clones": [spec_n(i)]})
            pids.append(got[0]["pid"])
            out = os.path.join(t.dir, "c%d.out" % i)
            wait_for("clone %d's line" % i, lambda: ticks(out))
            return got[0]["pid"], ticks(out)[0]

        a, first_a = one(0)
        b, first_b = one(1)
        check(ram_inode(a) is not None and ram_inode(a) == ram_inode(b),
              "two forks of the unchanged paused template share one base: %r %r" % (
                  ram_inode(a), ram_inode(b)))
        check(first_a == first_b, "both count on from one base: %d, %d" % (first_a, first_b))
        from_base(first_a, at_pause, at_pause, "the clones of the paused template")
        status, text = request(t.sock, "PATCH", "/vm", {"state": "Resumed"})
        check(status == 204, "PATCH /vm Resumed: %d %r" % (status, text))
        wait_for("the template to count on", lambda: max(ticks(t.out)) >= at_pause + 3)
        status, text = request(t.sock, "PATCH", "/vm", {"state": "Paused"})
        check(status == 204, "PATCH /vm Paused again: %d %r" % (status, text))
        at_pause2 = at_most(t.out)
        c, first_c = one(2)
        check(ram_inode(c) not in (None, ram_inode(a)),
              "the template ran: the next fork writes a new base (%r, was %r)" % (
                  ram_inode(c), ram_inode(a)))
        from_base(first_c, at_pause2, at_pause2, "the clone of the second pause")
    finally:
        kill_all(pids)
        t.stop()


def case_usernet(binary, tmp):
    """A template with a user-mode NIC: a fork without the NIC's host side is refused naming
    it; with `--net-override eth0=user` (hearth fork) each clone runs with a NIC of its own."""
    need_kvm()
    t = Template(binary, tmp, extra=["--net", "user"])
    pids = []
    try:
        status, text = t.fork({"count": 1, "clone": spec()})
        check(status == 400 and "eth0" in text and "network_overrides" in text,
              "a fork that leaves the NIC out is refused naming it: %d %r" % (status, text))
        # The host's loopback and ports only with the template's --fork-hostfwd: a request
        # comes through the template, which may be a compromised guest's (issue 62).
        for backend, words in (("user,host-loopback=on", "host-loopback needs the template's "
                                "--fork-hostfwd"),
                               ("user,hostfwd=tcp::%d-:80" % (20000 + os.getpid() % 10000),
                                "a hostfwd needs the template's --fork-hostfwd")):
            status, text = t.fork({"count": 1, "clone": spec(network_overrides=[
                {"iface_id": "eth0", "backend": backend}])})
            check(status == 400 and words in text, "%s refused: %d %r" % (backend, status, text))
        r = subprocess.run([binary, "fork", "--api-sock", t.sock, "--count", "2",
                            "--clone-sock", "c{i}.sock", "--serial-out", "c{i}.out",
                            "--drive-override", "scratch=rw:d{i}.img",
                            "--vsock-override", "v{i}.sock", "--net-override", "eth0=user"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(),
                           timeout=TIMEOUT)
        check(r.returncode == 0, "hearth fork --net-override eth0=user: %d %r" % (
            r.returncode, r.stderr))
        pids = [c["pid"] for c in json.loads(r.stdout)["clones"]]
        for i, pid in enumerate(pids):
            out = os.path.join(t.dir, "c%d.out" % i)
            wait_for("clone %d's line" % i, lambda: ticks(out))
            status, text = get(os.path.join(t.dir, "c%d.sock" % i), "/vm/config")
            nics = json.loads(text).get("network-interfaces", []) if status == 200 else []
            check([n.get("iface_id") for n in nics] == ["eth0"],
                  "clone %d has its NIC: %d %r" % (i, status, text[:200]))
    finally:
        kill_all(pids)
        t.stop()


def case_tmpfs(binary, tmp):
    need_kvm()
    import tempfile
    check(os.path.isdir("/dev/shm"), "/dev/shm is there")
    with tempfile.TemporaryDirectory(prefix="hearth-fork-", dir="/dev/shm") as shm:
        t = Template(binary, tmp, fork_dir=os.path.join(shm, "fd"))
        pids = []
        try:
            # Through the CLI twin, `hearth fork`, which sends PUT /fork.
            before = at_most(t.out)
            r = subprocess.run([binary, "fork", "--api-sock", t.sock, "--count", "2",
                                "--clone-sock", "c{i}.sock", "--serial-out", "c{i}.out",
                                "--drive-override", "scratch=rw:d{i}.img",
                                "--vsock-override", "v{i}.sock"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(),
                               timeout=TIMEOUT)
            check(r.returncode == 0, "hearth fork with --fork-dir on a tmpfs: %d %r" % (
                r.returncode, r.stderr))
            pids = [c["pid"] for c in json.loads(r.stdout)["clones"]]
            check(len(pids) == 2, "two clones: %r" % r.stdout)
            after = at_most(t.out)
            for i in range(2):
                out = os.path.join(t.dir, "c%d.out" % i)
                wait_for("clone %d's line" % i, lambda: ticks(out))
                from_base(ticks(out)[0], before, after, "clone %d" % i)
        finally:
            kill_all(pids)
            t.stop()


# The jailed template's uid, its own: RLIMIT_NPROC counts per uid, and its 20 clones' threads
# would take the limit of another jailed test's VM running beside it as uid 1000
# (docs/security.md: give templates whose clones must be counted apart a uid each).
JAIL_UID = 1100


def case_jailed(binary, tmp):
    """The template jailed (--jail, uid JAIL_UID): 20 clones, each in the jail as the
    template's uid, each running, each its own image; the template's RLIMIT_NPROC is
    its own business, not its clones' (they all count against one uid). Then the
    template, paused, writes a Full snapshot into its --snapshot-dir, the jail's own
    /tmp (not the host's, which nothing jailed shares)."""
    need_kvm()
    need_root("--jail")
    import shutil
    jail = os.path.join(tmp, "jail")
    fd = os.path.join(jail, "fd")
    os.makedirs(fd)
    os.makedirs(os.path.join(jail, "tmp"))
    shutil.copy(TICK, os.path.join(jail, "tick.elf"))
    n = 20
    for name in ["boot.img"] + ["fd/d%d.img" % i for i in range(n)]:
        with open(os.path.join(jail, name), "wb") as f:
            f.truncate(1 << 20)
    for root, dirs, files in os.walk(jail):
        for x in dirs + files:
            os.chown(os.path.join(root, x), JAIL_UID, JAIL_UID)
    os.chown(jail, JAIL_UID, JAIL_UID)
    out = os.path.join(tmp, "t.out")
    p = subprocess.Popen([binary, "run", "--kernel", "/tick.elf", "--memory", "64",
                          "--cmdline", "every=4", "--disk", "path=/boot.img,id=scratch",
                          "--api-sock", "/t.sock", "--fork-dir", "/fd", "--jail", jail,
                          "--uid", str(JAIL_UID), "--gid", str(JAIL_UID), "--snapshot-dir", "/tmp"],
                         stdin=subprocess.DEVNULL, stdout=open(out, "wb"),
                         stderr=subprocess.PIPE, env=env())
    pids = []
    try:
        wait_for("the jailed template's line", lambda: ticks(out))
        status, text = request(os.path.join(jail, "t.sock"), "PUT", "/fork", {
            "count": n, "clone": {"api_sock": "c{i}.sock", "serial_out": "c{i}.out",
                                  "drive_overrides": [{"drive_id": "scratch",
                                                       "path_on_host": "d{i}.img",
                                                       "is_read_only": False}]}})
        check(status == 200, "PUT /fork of %d on the jailed template: %d %r" % (n, status, text))
        pids = [c["pid"] for c in json.loads(text)["clones"]]
        for i, pid in enumerate(pids):
            c = os.path.join(fd, "c%d.out" % i)
            wait_for("clone %d's lines" % i, lambda: len(ticks(c)) >= 2)
            with open("/proc/%d/status" % pid) as f:
                uid = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
            check(uid == [str(JAIL_UID)] * 4, "clone %d runs as the template's uid: %r" % (i, uid))
            check(os.readlink("/proc/%d/root" % pid) != "/",
                  "clone %d's root is not the host's" % i)
            held = [os.readlink("/proc/%d/fd/%s" % (pid, x))
                    for x in os.listdir("/proc/%d/fd" % pid)]
            check(any(h.endswith("/d%d.img" % i) for h in held),
                  "clone %d holds its own image: %r" % (i, held))
        zyg = children(p.pid)
        check(len(zyg) == 1 and zygote_filtered(zyg[0]),
              "the jailed template's zygote runs under its filter: %r" % zyg)
        check(p.poll() is None, "the jailed template runs on")
        sock = os.path.join(jail, "t.sock")
        status, text = request(sock, "PATCH", "/vm", {"state": "Paused"})
        check(status == 204, "PATCH /vm Paused, jailed: %d %r" % (status, text))
        status, text = request(sock, "PUT", "/snapshot/create", {
            "snapshot_type": "Full", "snapshot_path": "/tmp/state", "mem_file_path": "/tmp/mem"})
        check(status == 204 and all(os.path.getsize(os.path.join(jail, "tmp", f)) > 0
                                    for f in ("state", "mem")),
              "the jailed template writes its snapshot into --snapshot-dir /tmp, the jail's "
              "own: %d %r" % (status, text))
    finally:
        kill_all(pids)
        p.kill()
        p.wait()


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def zygote_filtered(pid):
    """Whether the process is under a seccomp filter with no_new_privs, as its status says."""
    with open("/proc/%d/status" % pid) as f:
        st = dict(line.split(":\t", 1) for line in f if ":\t" in line)
    return st.get("Seccomp", "").strip() == "2" and st.get("NoNewPrivs", "").strip() == "1"


def case_refused(binary, tmp):
    need_kvm()
    t = Template(binary, tmp)
    try:
        zyg = [c for c in children(t.p.pid)]
        check(len(zyg) == 1, "the template has one child, its zygote: %r" % zyg)
        check(zygote_filtered(zyg[0]), "the zygote runs under its filter (sandbox/zygote.h)")
        # One file under two names (issue 62, F2): the zygote compares files, not names.
        os.link(os.path.join(t.dir, "d0.img"), os.path.join(t.dir, "same.img"))
        before = sorted(os.listdir(t.dir))
        with open(os.path.join(tmp, "outside.img"), "wb") as f:
            f.truncate(1 << 20)
        open(os.path.join(t.dir, "taken.sock"), "w").close()
        bad = [
            ({"count": 2, "clone": spec(drive_overrides=[
                {"drive_id": "scratch", "path_on_host": "../outside.img",
                 "is_read_only": False}])}, "no '..'"),
            ({"count": 2, "clone": spec(drive_overrides=[
                {"drive_id": "scratch", "path_on_host": "/etc/passwd",
                 "is_read_only": True}])}, "relative to the template's --fork-dir"),
            ({"count": 2, "clone": spec(drive_overrides=[
                {"drive_id": "scratch", "path_on_host": "missing{i}.img",
                 "is_read_only": False}])}, "missing0.img"),
            ({"count": 2, "clone": spec(drive_overrides=[])}, "scratch"),
            ({"clones": [spec_n(0), spec_n(1, api_sock="taken.sock")]}, "already exists"),
            ({"count": 0, "clone": spec()}, "from 1 to 1000"),
            ({"count": 1001, "clone": spec()}, "from 1 to 1000"),
            ({"count": 2, "clone": spec(drive_overrides=[
                {"drive_id": "scratch", "path_on_host": "d0.img", "is_read_only": False}])},
             "share the drive image"),
            ({"count": 1, "clone": spec(), "bogus": 1}, "bogus"),
            ({"clones": [spec_n(0), spec_n(1, drive_overrides=[
                {"drive_id": "scratch", "path_on_host": "same.img", "is_read_only": False}])]},
             "clone 1: drive 'scratch': the same file as clone 0: drive 'scratch'"),
            ({"clones": [spec_n(0, serial_out="d0.img")]},
             "clone 0's serial_out 'd0.img' is clone 0's drive image"),
            ({"clones": [spec_n(0, serial_out="same.img")]},
             "clone 0: serial_out 'same.img' is clone 0: drive 'scratch''s file"),
            ({"count": 1, "clone": spec(mmds=[1])}, "expected MMDS contents"),
        ]
        for body, words in bad:
            status, text = t.fork(body)
            check(status == 400 and words in text,
                  "refused with %r: %d %r" % (words, status, text))
            check(children(zyg[0]) == [], "no clone left behind: %r" % children(zyg[0]))
            check(sorted(os.listdir(t.dir)) == sorted(before + ["taken.sock"]),
                  "nothing made in --fork-dir: %r" % sorted(os.listdir(t.dir)))
        # A clone's serial_out may not be a running VM's disk: a clone's own image is locked.
        held = fork_ok(t, {"clones": [spec_n(7)]})
        status, text = t.fork({"clones": [spec_n(8, serial_out="d7.img")]})
        check(status == 400 and "serial_out 'd7.img' is a running VM's disk or pmem file" in
              text, "a serial_out on a running clone's disk: %d %r" % (status, text))
        kill_all([c["pid"] for c in held])
        n = len(ticks(t.out))
        wait_for("the template to count on", lambda: len(ticks(t.out)) > n)
    finally:
        t.stop()


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, {"clones": case_clones, "reset": case_reset,
                                 "refused": case_refused, "tmpfs": case_tmpfs,
                                 "jailed": case_jailed, "reuse": case_reuse,
                                 "usernet": case_usernet}, "hearth-fork-"))
