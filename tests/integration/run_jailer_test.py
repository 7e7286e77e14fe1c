#!/usr/bin/env python3
"""The binary run as `jailer` (docs/jailer.md): Firecracker 1.16's jailer command line.

    run_jailer_test.py --hearth build/hearth --case usage [--asan build-asan/hearth]

`usage` runs anywhere: each bad command line is refused with the jailer's
own line on stderr and its exit code (1), and leaves nothing behind. The
other cases need root (else they skip) and, for a guest, /dev/kvm:
`jail` uses every flag at once (a netns made with `ip netns add`, v1
cgroups, resource limits, --daemonize, --new-pid-ns) and boots a guest
through the jailed `firecracker`'s socket in the chroot; `cgroup-v2`
uses the unified hierarchy (a controller's value, and the move into an
existing --parent-cgroup) without --daemonize or --new-pid-ns, where the
jailer execs in place; `exec-name` shows an exec file's name need not
contain "firecracker" (1.16 dropped that rule). Every cgroup, netns,
jail directory and process a case makes is removed, failed or not.
"""

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import (check, FC_VERSION, need_kvm, need_root, NotHere,  # noqa: E402
                   run_cases_subreaper, TestFailure, tiny_elf)
from run_pidns_test import request  # noqa: E402

TIMEOUT = 30.0
UID, GID = 1000, 1000
V1_PIDS = "/sys/fs/cgroup/pids"


class Undo:
    """What a case made, undone in reverse order whatever happened (a `with` block). A
    failure while undoing is reported, after the case's own when it failed."""

    def __init__(self):
        self.steps = []

    def add(self, fn, *args):
        self.steps.append((fn, args))

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        errors = []
        for fn, args in reversed(self.steps):
            try:
                fn(*args)
            except Exception as e:  # every step runs
                errors.append("%s%r: %s" % (fn.__name__, args, e))
        self.steps = []
        if errors and kind is None:
            raise TestFailure("cleanup: " + "; ".join(errors))
        if errors:
            print("cleanup after the failure: " + "; ".join(errors))
        return False


def kill_and_wait(pid):
    """SIGKILL pid and wait until it is gone (reaped here: this runner is a subreaper)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    time.sleep(0.02)
                    continue
        except (FileNotFoundError, ProcessLookupError):
            # Gone, or gone between the open and the read (which then says ESRCH).
            return
        time.sleep(0.02)
    raise TestFailure("pid %d did not go" % pid)


def kill_pid_file(path):
    """The process a pid file names, once the file holds its number (it is written after
    it is made)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                text = f.read()
        except FileNotFoundError:
            return
        if text:
            kill_and_wait(int(text))
            return
        time.sleep(0.02)


def kill_cgroup(path, procs="cgroup.procs"):
    """Every process left in a cgroup this case made (each one the case's)."""
    try:
        with open(os.path.join(path, procs)) as f:
            pids = [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return
    for pid in pids:
        kill_and_wait(pid)


def rmdir_cgroup(path):
    """A cgroup, once empty, and the parents this case made (given as a list, deepest first)."""
    for p in path if isinstance(path, list) else [path]:
        deadline = time.monotonic() + TIMEOUT
        while os.path.isdir(p):
            try:
                os.rmdir(p)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def jailer_bin(binary, tmp):
    """A `jailer` symlink to binary, and a copy of it named firecracker (a copy: the jailer
    resolves symlinks, and the copy's name is the name it runs under)."""
    j = os.path.join(tmp, "jailer")
    os.symlink(os.path.abspath(binary), j)
    fc = os.path.join(tmp, "bin", "firecracker")
    os.makedirs(os.path.dirname(fc))
    shutil.copy2(binary, fc)
    return j, fc


def has_jailer(j):
    r = subprocess.run([j, "--version"], capture_output=True, timeout=TIMEOUT)
    return r.returncode == 0 and r.stdout.decode().startswith("Jailer v")


# A sanitizer build's LeakSanitizer reads /proc at exit, which a process that pivoted into
# the jail no longer has (and the jailer clears ASAN_OPTIONS with the rest of the
# environment): its complaint, and the exit status 1 it forces, are not the jailer's.
LSAN_IN_JAIL = ("Can't open /proc/", "LeakSanitizer has encountered a fatal error",
                "HINT: ", "WARNING: reading executable name failed")


class Ran:
    def __init__(self, r):
        lines = r.stderr.decode().splitlines(True)
        kept = [x for x in lines if not (x.startswith("==") and
                                         any(m in x for m in LSAN_IN_JAIL))]
        self.lsan_gave_up = len(kept) != len(lines)
        # LeakSanitizer's fatal error exits 1, or aborts under abort_on_error=1 (make test's
        # ASAN_OPTIONS): after it, the jailer's own exit status is that one.
        self.returncode = 1 if self.lsan_gave_up and r.returncode == -6 else r.returncode
        self.stdout = r.stdout
        self.stderr = "".join(kept).encode()


def run_jailer(j, args, timeout=TIMEOUT, **kw):
    return Ran(subprocess.run([j] + args, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, **kw))


def case_usage(binary, tmp):
    """Bad command lines, each refused with the jailer's line and exit 1, making nothing."""
    j, fc = jailer_bin(binary, tmp)
    check(has_jailer(j), "%s does not run as `jailer`" % binary)
    base = os.path.join(tmp, "base")
    os.mkdir(base)
    d = os.path.join(tmp, "adir")
    os.mkdir(d)
    notdir = os.path.join(tmp, "afile")
    open(notdir, "w").close()
    ok = ["--exec-file", fc, "--uid", "1000", "--gid", "1000", "--chroot-base-dir", base]
    P = "Failed to parse arguments: "
    cases = [
        ([], P + "Argument 'exec-file' required, but not found."),
        (["--id", "a", "--exec-file", fc], P + "Argument 'gid' required, but not found."),
        (["--id", "a"] + ok + ["--foo"],
         P + "Found argument 'foo' which wasn't expected, or isn't valid in this context."),
        (["--id=a"] + ok,
         P + "Found argument 'id=a' which wasn't expected, or isn't valid in this context."),
        (["id"] + ok,
         P + "Found argument 'id' which wasn't expected, or isn't valid in this context."),
        (["--id", "a", "--id", "b"] + ok, P + "The argument 'id' was provided more than once."),
        (["--id", "a", "--daemonize", "--daemonize"] + ok,
         P + "The argument 'daemonize' was provided more than once."),
        (ok + ["--id"], P + "The argument 'id' requires a value, but none was supplied."),
        (["--id", "--uid"] + ok, P + "The argument 'id' requires a value, but none was supplied."),
        (["--id", "a_b"] + ok, "Invalid instance ID: Invalid char (_) at position 1"),
        (["--id", "a" * 65] + ok,
         "Invalid instance ID: Invalid len (65);  the length must be between 1 and 64"),
        (["--id", ""] + ok,
         "Invalid instance ID: Invalid len (0);  the length must be between 1 and 64"),
        (["--id", "a", "--exec-file", os.path.join(tmp, "nope"), "--uid", "1", "--gid", "1"],
         "Failed to canonicalize path %s: No such file or directory (os error 2)"
         % os.path.join(tmp, "nope")),
        (["--id", "a", "--exec-file", d, "--uid", "1", "--gid", "1"], "%s is not a file" % d),
        (["--id", "a", "--exec-file", fc, "--uid", "1", "--gid", "1", "--chroot-base-dir",
          notdir], "%s is not a directory" % notdir),
        (["--id", "a", "--exec-file", fc, "--uid", "x", "--gid", "1", "--chroot-base-dir",
          base], "Invalid uid: x"),
        (["--id", "a", "--exec-file", fc, "--uid", "1", "--gid", "-1", "--chroot-base-dir",
          base], "Invalid gid: -1"),
        (["--id", "a"] + ok + ["--parent-cgroup", "/abs"],
         "Parent cgroup path is invalid. Path should not be absolute or contain '..' or '.'"),
        (["--id", "a"] + ok + ["--parent-cgroup", "x/../y"],
         "Parent cgroup path is invalid. Path should not be absolute or contain '..' or '.'"),
        (["--id", "a"] + ok + ["--cgroup-version", "x"],
         "x is an invalid cgroup version specifier"),
        (["--id", "a"] + ok + ["--cgroup-version", "3", "--cgroup", "pids.max=1"],
         "Hierarchy not found: No hierarchy found for this cgroup version."),
        (["--id", "a"] + ok + ["--cgroup", "pids.max"], "Invalid format for cgroups: pids.max"),
        (["--id", "a"] + ok + ["--cgroup", "pids.max="], "Invalid format for cgroups: pids.max="),
        (["--id", "a"] + ok + ["--cgroup", "a=b=c"], "Invalid format for cgroups: a=b=c"),
        (["--id", "a"] + ok + ["--cgroup", "../pids.max=1"],
         "Cgroup invalid file: ../pids.max=1"),
        (["--id", "a"] + ok + ["--resource-limit", "fsize"],
         "Invalid format for resources limits: fsize"),
        (["--id", "a"] + ok + ["--resource-limit", "fsize=abc"],
         "Invalid limit value for resource: abc: invalid digit found in string"),
        (["--id", "a"] + ok + ["--resource-limit", "fsize="],
         "Invalid limit value for resource: : cannot parse integer from empty string"),
        (["--id", "a"] + ok + ["--resource-limit", "nofile=5"],
         "Invalid resource argument: nofile"),
    ]
    have_v1 = any(line.split()[2] == "cgroup" for line in open("/proc/mounts")
                  if len(line.split()) > 2)
    if have_v1:
        cases.append((["--id", "a"] + ok + ["--cgroup", "nosuchctl.max=1"],
                      "Controller nosuchctl is unavailable"))
        cases.append((["--id", "a"] + ok + ["--cgroup", "nodot=1"], "Cgroup invalid file: nodot"))
    for args, want in cases:
        r = run_jailer(j, args)
        err = r.stderr.decode()
        check(r.returncode == 1, "%r: exit %d, expected 1:\n%s" % (args, r.returncode, err))
        check(err == want + "\n", "%r: stderr %r, expected %r" % (args, err, want))
        check(r.stdout == b"", "%r: stdout %r" % (args, r.stdout))
        check(os.listdir(base) == [], "%r: left %r in the base" % (args, os.listdir(base)))
    # --help and --version, before anything else is looked at, exit 0.
    r = run_jailer(j, ["--bogus", "--help"])
    out = r.stdout.decode()
    check(r.returncode == 0 and out.startswith("Jailer v%s\n\nrequired arguments:\n" % FC_VERSION),
          "--help: %d %r" % (r.returncode, out[:200]))
    check("  --exec-file <exec-file>   File path to exec into.\n" in out, "--help: %r" % out)
    check(out.endswith("\n\nAny arguments after the -- separator will be supplied to the jailed "
                       "binary.\n\n"), "--help's end: %r" % out[-120:])
    r = run_jailer(j, ["--version", "--id", "a_b"])
    check(r.returncode == 0 and r.stdout == ("Jailer v%s\n\n" % FC_VERSION).encode(),
          "--version: %d %r" % (r.returncode, r.stdout))
    # Args after "--" are the exec file's, never the jailer's.
    r = run_jailer(j, ["--id", "a_b"] + ok + ["--", "--bogus"])
    check(r.returncode == 1 and b"Invalid char (_)" in r.stderr, "after --: %r" % r.stderr)


def wait_for(cond, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not cond():
        check(time.monotonic() < deadline, "timed out waiting for %s" % what)
        time.sleep(0.02)


def status_field(pid, name):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split()[1:]
    return None


def limits_of(pid):
    """/proc/PID/limits as {name: (soft, hard)}."""
    out = {}
    with open("/proc/%d/limits" % pid) as f:
        for line in f.readlines()[1:]:
            m = re.match(r"(.+?)\s{2,}(\S+)\s+(\S+)", line)
            if m:
                out[m.group(1)] = (m.group(2), m.group(3))
    return out


def misc_minor(name):
    """A misc device's minor from /proc/misc (userfaultfd's is given at run time), or None."""
    try:
        with open("/proc/misc") as f:
            for line in f:
                n, _, what = line.strip().partition(" ")
                if what == name:
                    return int(n)
    except OSError:
        pass
    return None


def jail_nodes():
    """The nodes the jailer makes, by the numbers Firecracker's jailer uses (docs/jailer.md),
    whatever this host's /dev holds: {path below the jail's root: (major, minor)}."""
    nodes = {"dev/kvm": (10, 232), "dev/net/tun": (10, 200), "dev/urandom": (1, 9),
             "dev/vhost-net": (10, 238), "dev/vhost-vsock": (10, 241)}
    uffd = misc_minor("userfaultfd")
    if uffd is not None:
        nodes["dev/userfaultfd"] = (10, uffd)
    return nodes


def check_nodes(root, uid=None, gid=None):
    """Each node in the jail: a character device, its numbers, mode 0600, owned by uid:gid."""
    for rel, (major, minor) in jail_nodes().items():
        p = os.path.join(root, rel)
        st = os.lstat(p)
        check(stat.S_ISCHR(st.st_mode), "%s: not a character device (mode %o)" % (p, st.st_mode))
        check((os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor),
              "%s: %d:%d, want %d:%d" % (p, os.major(st.st_rdev), os.minor(st.st_rdev),
                                         major, minor))
        check(st.st_mode & 0o7777 == 0o600, "%s: mode %o" % (p, st.st_mode & 0o7777))
        if uid is not None:
            check((st.st_uid, st.st_gid) == (uid, gid), "%s: owned by %d:%d" % (p, st.st_uid,
                                                                                st.st_gid))


def check_layout(base, exec_name, jid, pid_in_file=None):
    """The jailer's layout: <base>/<exec name>/<id>/root, owned as it makes it."""
    root = os.path.join(base, exec_name, jid, "root")
    check_nodes(root, UID, GID)
    for rel, mode, kind in (("", 0o700, "d"), ("dev", 0o700, "d"), ("dev/net", 0o700, "d"),
                            ("run", 0o700, "d"), (exec_name, None, "f")):
        p = os.path.join(root, rel)
        st = os.lstat(p)
        check((st.st_uid, st.st_gid) == (UID, GID), "%s: owned by %d:%d" % (p, st.st_uid,
                                                                             st.st_gid))
        if mode is not None:
            check(st.st_mode & 0o7777 == mode, "%s: mode %o" % (p, st.st_mode & 0o7777))
        isit = {"d": os.path.isdir, "f": os.path.isfile,
                "c": lambda q: (os.lstat(q).st_mode & 0o170000) == 0o020000}[kind]
        check(isit(p), "%s is not a %s" % (p, kind))
    check(os.lstat(os.path.join(root, exec_name)).st_nlink == 1, "the exec file is linked")
    pid_file = os.path.join(root, exec_name + ".pid")
    with open(pid_file) as f:
        text = f.read()
    check(re.fullmatch(r"[1-9][0-9]*", text), "pid file holds %r" % text)
    if pid_in_file is not None:
        check(int(text) == pid_in_file, "pid file %s, expected %d" % (text, pid_in_file))
    return root, int(text)


def boot_guest(root, sock):
    """A guest booted through the jailed process's API, its kernel a path inside the jail."""
    kernel = os.path.join(root, "kernel.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    os.chown(kernel, UID, GID)
    status, js = request(sock, "PUT", "/boot-source", {"kernel_image_path": "/kernel.elf"})
    check(status == 204, "PUT /boot-source: %d %r" % (status, js))
    status, js = request(sock, "PUT", "/actions", {"action_type": "InstanceStart"})
    check(status == 204, "InstanceStart: %d %r" % (status, js))
    status, js = request(sock, "GET", "/")
    check(status == 200 and js.get("state") == "Running", "GET / after start: %d %r"
          % (status, js))


def case_jail(binary, tmp):
    """Every flag at once; the jailed firecracker serves in the chroot and boots a guest."""
    need_root("the jailer")
    j, fc = jailer_bin(binary, tmp)
    check(has_jailer(j), "%s does not run as `jailer`" % binary)
    check(shutil.which("ip"), "no ip(8) (scripts/deps.sh build installs iproute2)")
    if not os.path.isdir(V1_PIDS):
        raise NotHere("the case needs the v1 pids hierarchy (%s), which this host has not"
                      % V1_PIDS)
    jid = "jail-%d" % os.getpid()
    ns = "hj-%d" % os.getpid()
    parent = "hearth-jt-%d/vms" % os.getpid()
    base = os.path.join(tmp, "base")
    os.mkdir(base)
    with Undo() as undo:
        subprocess.run(["ip", "netns", "add", ns], check=True, timeout=TIMEOUT)
        undo.add(subprocess.run, ["ip", "netns", "del", ns])
        undo.add(rmdir_cgroup, [os.path.join(V1_PIDS, parent, jid),
                                os.path.join(V1_PIDS, parent),
                                os.path.join(V1_PIDS, parent.split("/")[0])])
        undo.add(kill_cgroup, os.path.join(V1_PIDS, parent, jid), "tasks")
        root = os.path.join(base, "firecracker", jid, "root")
        undo.add(kill_pid_file, os.path.join(root, "firecracker.pid"))
        r = run_jailer(j, ["--id", jid, "--exec-file", fc, "--uid", str(UID), "--gid", str(GID),
                           "--chroot-base-dir", base, "--netns", "/var/run/netns/" + ns,
                           "--daemonize", "--new-pid-ns", "--cgroup-version", "1",
                           "--cgroup", "pids.max=64", "--parent-cgroup", parent,
                           "--resource-limit", "fsize=123456789", "--resource-limit",
                           "no-file=1000", "--", "--level", "Debug"])
        check(r.returncode == 0, "jailer: exit %d:\n%s" % (r.returncode, r.stderr.decode()))
        wait_for(lambda: os.path.exists(os.path.join(root, "firecracker.pid")) and
                 os.path.getsize(os.path.join(root, "firecracker.pid")) > 0, "the pid file")
        root, pid = check_layout(base, "firecracker", jid)
        undo.add(kill_and_wait, pid)
        # The pid file comes before the exec: the process is the VM's once its socket is there.
        sock = os.path.join(root, "run", "firecracker.socket")
        wait_for(lambda: os.path.exists(sock), "the API socket")
        # The process: the jail's user, pid 1 of its namespace, its own session.
        check(status_field(pid, "Uid") == [str(UID)] * 4, "uid %r" % status_field(pid, "Uid"))
        check(status_field(pid, "Gid") == [str(GID)] * 4, "gid %r" % status_field(pid, "Gid"))
        check(status_field(pid, "Groups") == [], "groups %r" % status_field(pid, "Groups"))
        nspid = status_field(pid, "NSpid")
        check(nspid == [str(pid), "1"], "NSpid %r" % nspid)
        check(os.getsid(pid) != os.getsid(0), "not daemonized: same session")
        for fd in (0, 1, 2):
            check(os.readlink("/proc/%d/fd/%d" % (pid, fd)) == "/dev/null",
                  "fd %d is %s" % (fd, os.readlink("/proc/%d/fd/%d" % (pid, fd))))
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")[:-1]
        check(argv[:3] == [b"/firecracker", b"--id", jid.encode()] and
              argv[3] == b"--start-time-us" and argv[5] == b"--start-time-cpu-us" and
              argv[7] == b"--parent-cpu-time-us" and argv[9:] == [b"--level", b"Debug"],
              "argv %r" % argv)
        # Its limits, cgroup and network namespace.
        lim = limits_of(pid)
        check(lim.get("Max file size") == ("123456789", "123456789"), "fsize %r" % lim)
        check(lim.get("Max open files") == ("1000", "1000"), "nofile %r" % lim)
        cg = os.path.join(V1_PIDS, parent, jid)
        with open(os.path.join(cg, "pids.max")) as f:
            check(f.read().strip() == "64", "pids.max not 64")
        with open("/proc/%d/cgroup" % pid) as f:
            check(any(line.strip().endswith(":pids:/%s/%s" % (parent, jid)) for line in f),
                  "not in the pids cgroup")
        check(os.stat("/proc/%d/ns/net" % pid).st_ino ==
              os.stat("/var/run/netns/" + ns).st_ino, "not in the netns")
        # Its root is the jail: the API socket is in <chroot>/run, the kernel at /kernel.elf.
        status, js = request(sock, "GET", "/")
        check(status == 200 and js.get("id") == jid, "GET /: %d %r" % (status, js))
        need_kvm("the guest in the jail")
        boot_guest(root, sock)
        # The same id again, while it runs: its copy cannot be rewritten, as with the jailer.
        r = run_jailer(j, ["--id", jid, "--exec-file", fc, "--uid", str(UID), "--gid", str(GID),
                           "--chroot-base-dir", base])
        check(r.returncode == 1 and r.stderr.decode() ==
              "Failed to open %s/firecracker: Text file busy (os error 26)\n" % root,
              "second start: %d %r" % (r.returncode, r.stderr))
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not os.path.exists("/proc/%d/status" % pid) or
                 status_field(pid, "State")[0] == "Z", "the VM's process to stop")
        # Once it is gone the copy is rewritten, but the pid file is never replaced.
        r = run_jailer(j, ["--id", jid, "--exec-file", fc, "--uid", str(UID), "--gid", str(GID),
                           "--chroot-base-dir", base])
        check(r.returncode == 1 and r.stderr.decode() ==
              "Failed to open file /firecracker.pid: File exists (os error 17)\n",
              "start over a pid file: %d %r" % (r.returncode, r.stderr))


def v2_mount():
    for line in open("/proc/mounts"):
        f = line.split()
        if len(f) > 2 and f[2] == "cgroup2":
            return f[1]
    return None


def case_cgroup_v2(binary, tmp):
    """--cgroup-version 2: a value written in <unified>/<parent>/<id>; without --cgroup, the
    move into an existing parent. No --daemonize: the jailer execs in place."""
    need_root("the jailer")
    j, fc = jailer_bin(binary, tmp)
    check(has_jailer(j), "%s does not run as `jailer`" % binary)
    uni = v2_mount()
    if not uni or not os.access(os.path.join(uni, "cgroup.procs"), os.W_OK):
        raise NotHere("the case needs a writable cgroup2 hierarchy, which this host has not")
    with open(os.path.join(uni, "cgroup.controllers")) as f:
        avail = f.read().split()
    prop = None
    if "pids" in avail:
        prop = ("pids", "pids.max", "50")
    elif "hugetlb" in avail and os.path.isdir("/sys/kernel/mm/hugepages/hugepages-2048kB"):
        prop = ("hugetlb", "hugetlb.2MB.max", "2097152")
    base = os.path.join(tmp, "base")
    os.mkdir(base)
    top = os.path.join(uni, "hearth-jt2-%d" % os.getpid())
    with Undo() as undo:
        # An unavailable controller is refused in the jailer's words.
        missing = next(c for c in ("cpu", "io", "memory", "pids", "rdma", "nosuch")
                       if c not in avail)
        r = run_jailer(j, ["--id", "x", "--exec-file", fc, "--uid", "1", "--gid", "1",
                           "--chroot-base-dir", base, "--cgroup-version", "2",
                           "--cgroup", missing + ".max=1"])
        check(r.returncode == 1 and r.stderr.decode() == "Controller %s is unavailable\n"
              % missing, "unavailable: %d %r" % (r.returncode, r.stderr))
        # The move: a parent made beforehand, no --cgroup.
        os.mkdir(top)
        undo.add(rmdir_cgroup, top)
        undo.add(kill_cgroup, top)
        jid = "mv-%d" % os.getpid()
        p = subprocess.Popen([j, "--id", jid, "--exec-file", fc, "--uid", str(UID), "--gid",
                              str(GID), "--chroot-base-dir", base, "--cgroup-version", "2",
                              "--parent-cgroup", os.path.basename(top), "--", "--api-sock",
                              "/api.sock"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        undo.add(kill_and_wait, p.pid)
        root = os.path.join(base, "firecracker", jid, "root")
        sock = os.path.join(root, "api.sock")
        wait_for(lambda: os.path.exists(sock) or p.poll() is not None, "the API socket")
        if p.poll() is not None:
            raise TestFailure("exited %r: %s" % (p.returncode, p.stderr.read()))
        check_layout(base, "firecracker", jid, pid_in_file=p.pid)
        with open("/proc/%d/cgroup" % p.pid) as f:
            check("0::/%s\n" % os.path.basename(top) in f.read(), "not moved into the parent")
        check(status_field(p.pid, "NSpid") == [str(p.pid)], "a PID namespace without the flag")
        status, js = request(sock, "GET", "/")
        check(status == 200 and js.get("id") == jid, "GET /: %d %r" % (status, js))
        kill_and_wait(p.pid)
        p.stderr.close()
        if prop is None:
            print("note: no v2 controller offered here (%r): the value step is skipped" % avail)
            return
        ctrl, fname, value = prop
        with open(os.path.join(uni, "cgroup.subtree_control")) as f:
            had = ctrl in f.read().split()
        if not had:
            undo.add(write_file, os.path.join(uni, "cgroup.subtree_control"), "-" + ctrl)
        jid = "val-%d" % os.getpid()
        undo.add(rmdir_cgroup, os.path.join(top, jid))
        undo.add(kill_cgroup, os.path.join(top, jid))
        p = subprocess.Popen([j, "--id", jid, "--exec-file", fc, "--uid", str(UID), "--gid",
                              str(GID), "--chroot-base-dir", base, "--cgroup-version", "2",
                              "--parent-cgroup", os.path.basename(top), "--cgroup",
                              "%s=%s" % (fname, value), "--", "--api-sock", "/api.sock"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        undo.add(kill_and_wait, p.pid)
        root = os.path.join(base, "firecracker", jid, "root")
        sock = os.path.join(root, "api.sock")
        wait_for(lambda: os.path.exists(sock) or p.poll() is not None, "the API socket")
        if p.poll() is not None:
            raise TestFailure("exited %r: %s" % (p.returncode, p.stderr.read()))
        cg = os.path.join(top, jid)
        with open(os.path.join(cg, fname)) as f:
            check(f.read().strip() == value, "%s not %s" % (fname, value))
        with open(os.path.join(top, "cgroup.subtree_control")) as f:
            check(ctrl in f.read().split(), "%s not enabled below the parent" % ctrl)
        with open("/proc/%d/cgroup" % p.pid) as f:
            check("0::/%s/%s\n" % (os.path.basename(top), jid) in f.read(), "not in the cgroup")
        kill_and_wait(p.pid)
        p.stderr.close()
        undo.add(write_file, os.path.join(top, "cgroup.subtree_control"), "-" + ctrl)


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)


def case_exec_name(binary, tmp):
    """An exec file named otherwise (1.16 has no "firecracker" rule): its name names the
    jail's directory and the pid file, and the copy runs under that name."""
    need_root("the jailer")
    j, _ = jailer_bin(binary, tmp)
    check(has_jailer(j), "%s does not run as `jailer`" % binary)
    vmm = os.path.join(tmp, "vmm")
    shutil.copy2(binary, vmm)
    base = os.path.join(tmp, "base")
    os.mkdir(base)
    # Run as `vmm` the copy is `hearth run`, which refuses the jailer's --id: exit 2, its words.
    r = run_jailer(j, ["--id", "n1", "--exec-file", vmm, "--uid", str(UID), "--gid", str(GID),
                       "--chroot-base-dir", base])
    check(r.returncode == 2 or (r.returncode == 1 and r.lsan_gave_up),
          "exit %d, expected hearth's 2:\n%s" % (r.returncode, r.stderr))
    check(b"unknown command '--id'" in r.stderr, "not hearth's refusal: %r" % r.stderr)
    check(b"Failed to" not in r.stderr, "a jailer refusal: %r" % r.stderr)
    check_layout(base, "vmm", "n1")


CASES = {
    "usage": case_usage,
    "jail": case_jail,
    "cgroup-v2": case_cgroup_v2,
    "exec-name": case_exec_name,
}





if __name__ == "__main__":
    sys.exit(run_cases_subreaper(__doc__, CASES, "hearth-jailer-"))
