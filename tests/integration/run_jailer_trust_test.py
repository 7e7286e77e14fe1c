#!/usr/bin/env python3
"""The jailer against a jail its own jailed user had: nothing planted there is followed.

    run_jailer_trust_test.py --hearth build/hearth --case planted [--asan build-asan/hearth]

The jail's root belongs to the jailed uid, so a VM that ran there (and a
guest that took it over) can leave anything in it before the next start
with the same id. The jailer runs as root: it must never follow what it
finds there (docs/security.md, "The jailer"). `planted` starts a jail once
(its exec file is a copy of Hearth named `vmm`, which refuses the jailer's
--id and exits 2 at once, leaving the jail made), then plants, one at a
time, what its user could: `run`, `dev`, `dev/net` and the loader's
directory as symlinks to directories of this host, a node in `dev` as a
symlink to a host file, and a FIFO at the exec file's path. Each next start
with the same id is refused naming what it found, in bounded time (a FIFO
once blocked it for good), and every target is left as it was: owner,
mode, entries and bytes (the old jailer gave the uid the targets of `run`
and `dev`, made its nodes in `dev`'s, and copied the loader over the file
the loader's directory led to). Without a plant the same jail is reused.
"""
import os
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import TestFailure, check, need_root, run_cases_subreaper  # noqa: E402
from run_jailer_test import GID, UID, has_jailer, jailer_bin, run_jailer  # noqa: E402

JID = "planted"


def interp(path):
    """The ELF interpreter path of path (PT_INTERP), as readelf prints it."""
    out = subprocess.run(["readelf", "-l", path], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "Requesting program interpreter:" in line:
            return line.split(":", 1)[1].strip().rstrip("]").strip()
    return None


def host_dir(tmp, name):
    """A directory of this host's, root's 0755, with a file the jailer must never touch."""
    d = os.path.join(tmp, "host-" + name)
    os.mkdir(d, 0o755)
    os.chmod(d, 0o755)
    with open(os.path.join(d, "keep"), "w") as f:
        f.write("host's own\n")
    return d


def snapshot(d):
    """What a target is: its owner, mode and each entry's, and each file's bytes."""
    st = os.lstat(d)
    got = {".": (st.st_uid, st.st_gid, st.st_mode)}
    for n in sorted(os.listdir(d)):
        p = os.path.join(d, n)
        s = os.lstat(p)
        data = open(p, "rb").read() if stat.S_ISREG(s.st_mode) else None
        got[n] = (s.st_uid, s.st_gid, s.st_mode, s.st_size, data)
    return got


def case_planted(binary, tmp):
    need_root("the jailer")
    j, _ = jailer_bin(binary, tmp)
    check(has_jailer(j), "%s does not run as `jailer`" % binary)
    vmm = os.path.join(tmp, "vmm")
    shutil.copy2(binary, vmm)
    base = os.path.join(tmp, "base")
    os.mkdir(base)
    root = os.path.join(base, "vmm", JID, "root")
    pid_file = os.path.join(root, "vmm.pid")
    args = ["--id", JID, "--exec-file", vmm, "--uid", str(UID), "--gid", str(GID),
            "--chroot-base-dir", base]

    def start(what):
        try:
            return run_jailer(j, args, timeout=30)
        except subprocess.TimeoutExpired:
            raise TestFailure("%s: the jailer did not end in 30 s" % what)

    def reused(what):
        """A start over a jail with nothing planted: made again, the exec file run (exit 2)."""
        if os.path.exists(pid_file):
            os.unlink(pid_file)
        r = start(what)
        check(r.returncode == 2 or (r.returncode == 1 and r.lsan_gave_up),
              "%s: exit %d, expected the exec file's 2: %r" % (what, r.returncode, r.stderr))
        check(b"unknown command '--id'" in r.stderr, "%s: %r" % (what, r.stderr))

    reused("the first start")
    reused("a second start over the same jail")
    loader = interp(vmm)
    check(loader and loader.startswith("/"), "the exec file's interpreter: %r" % loader)
    loader_dir, loader_name = os.path.split(loader.lstrip("/"))
    top = loader_dir.split("/")[0]
    host_file = os.path.join(tmp, "host-file")
    with open(host_file, "w") as f:
        f.write("host's own file\n")
    os.chmod(host_file, 0o644)
    # (what is planted, where): a directory of the jail's made a symlink to one of the
    # host's (refused), a file or the exec file made a symlink to the host's file, or a FIFO
    # (refused), a node made a symlink (replaced: a node is never reused, so never followed).
    plants = [("dir", "run"), ("dir", "dev"), ("dir", "dev/net"), ("dir", top),
              ("file", os.path.join(loader_dir, loader_name)), ("file", "vmm"),
              ("fifo", "vmm"), ("node", "dev/kvm")]
    for kind, rel in plants:
        where = os.path.join(root, rel)
        target = host_file
        if kind == "dir":
            target = host_dir(tmp, rel.replace("/", "-"))
            if rel == top:
                # The loader's own name below it: what a followed link would overwrite.
                sub = os.path.join(target, *loader_dir.split("/")[1:])
                os.makedirs(sub, exist_ok=True)
                with open(os.path.join(sub, loader_name), "w") as f:
                    f.write("host's own loader\n")
            os.rename(where, where + ".jail")
            os.symlink(target, where)
        elif kind == "fifo":
            os.unlink(where)
            os.mkfifo(where, 0o600)
        else:
            os.unlink(where)
            os.symlink(host_file, where)
        before = snapshot(target) if os.path.isdir(target) else None
        before_file = (os.lstat(host_file), open(host_file, "rb").read())
        if os.path.exists(pid_file):
            os.unlink(pid_file)
        r = start("planted %s (%s)" % (rel, kind))
        err = r.stderr.decode()
        if before is not None:
            check(snapshot(target) == before, "planted %s: the host's %s changed: %r -> %r"
                  % (rel, target, before, snapshot(target)))
        after_file = os.lstat(host_file)
        check((after_file.st_uid, after_file.st_gid, after_file.st_mode,
               open(host_file, "rb").read()) ==
              (before_file[0].st_uid, before_file[0].st_gid, before_file[0].st_mode,
               before_file[1]), "planted %s (%s): the host's file changed" % (rel, kind))
        word = {"dir": "a symlink", "file": "a symlink", "fifo": "a FIFO"}.get(kind)
        if word:
            check(r.returncode == 1 and rel.split("/")[-1] in err and word in err,
                  "planted %s (%s): exit %d, expected a refusal naming it and %r: %r"
                  % (rel, kind, r.returncode, word, err))
        else:
            check(r.returncode == 2 or (r.returncode == 1 and r.lsan_gave_up),
                  "planted %s (%s): exit %d, expected the exec file's 2: %r"
                  % (rel, kind, r.returncode, err))
            st = os.lstat(where)
            check(stat.S_ISCHR(st.st_mode), "planted %s: not made a node again" % rel)
        # The jail put back as the jailer made it, then reused.
        if kind == "dir":
            os.unlink(where)
            os.rename(where + ".jail", where)
        elif kind in ("file", "fifo"):
            os.unlink(where)
        reused("a start after %s was put back" % rel)


CASES = {"planted": case_planted}

if __name__ == "__main__":
    sys.exit(run_cases_subreaper(__doc__, CASES, "hearth-jailer-trust-"))
