"""run_sandboxd_test.py's jailed cases: `hearth sandboxes --jail-uids --jail-gid` runs every
VM under Hearth's --jail, in a directory of its own under --run-dir, as a uid of its own
from the range (a clone as its template's), with the range's group (docs/sandboxes.md,
"Jailed").

  jailed      the count guest as a template (it never answers: no agent), natively where
              /dev/kvm runs it. Checked from /proc and the run directory: the template's
              VM and its zygote run as the range's one uid and group, no supplementary
              group, no capability, chrooted into RUN/t0; the image the jail reads is a
              link of the world-readable original, the kernel (mode 0600) a copy only the
              group may read; a second template finds the range used up: 429 naming
              --jail-uids, twice (a template is not failed for good by it). Then the
              server is SIGKILLed: its VMs go with it (the parent-death signal survives
              the jail's change of user; before, they ran on, orphaned).
  flags       bad flags of `hearth sandboxes` (no VM): --jail-uids without --jail-gid and
              the reverse, a range backwards, past 65534, of uid 0, of more than 4096 or
              not a range, --jail (refused, naming --jail-uids), --no-seccomp and
              --no-sandbox, --jail-uids run by a user that is not root, and (as root)
              --jail-uids with a --run-dir on a nodev mount: each exit 2 with one line
              naming the flag, nothing left behind.
  sdk-jailed  E2B's SDK (tests/sandbox/e2e.mjs), every check of case sdk, against a jailed
              server, in the lab's L1 where the host cannot boot the template. Every
              `hearth serve` the server starts is sampled from /proc while the SDK runs:
              each is chrooted into a directory of its own under --run-dir, as a uid of
              the range; clones share their template's root and uid, and no two roots
              share a uid at once (pause, connect and fork restore into new jails).
"""
import glob
import json
import os
import shutil
import signal
import stat
import subprocess
import threading
import time

from itest import check, need_kvm, need_root, sanitizer_env

UIDS = (2101, 2104)
GID = 2100


def env():
    e = sanitizer_env()
    # A jailed process has no /proc for LeakSanitizer's exit scan: the later option wins.
    e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    return e


def jail_flags(first, last):
    return ["--jail-uids", "%d-%d" % (first, last), "--jail-gid", str(GID)]


def status_of(pid):
    """{field: value} of /proc/PID/status, root (its chroot) added; None once gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            st = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        st["root"] = os.readlink("/proc/%d/root" % pid)
        return st
    except OSError:
        return None


def descendants(top):
    """The pids below top (the server): templates, zygotes, clones, restores."""
    parent = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    out, todo = [], [top]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def jailed_ok(st, run, first, last):
    """Why st (a VM's status) is not jailed as the range wants, or None."""
    uids, gids = st["Uid"].split(), st["Gid"].split()
    if len(set(uids)) != 1 or not first <= int(uids[0]) <= last:
        return "uids %s, not one of %d-%d" % (uids, first, last)
    if set(gids) != {str(GID)} or st.get("Groups", "").strip():
        return "gids %s groups '%s'" % (gids, st.get("Groups"))
    if int(st["CapEff"], 16) or int(st["CapPrm"], 16):
        return "capabilities %s" % st["CapEff"]
    if os.path.dirname(st["root"]) != run:
        return "root %s, not a directory of %s" % (st["root"], run)
    return None


def case_jailed(hearth, tmp, a):
    import run_sandboxd_test as R

    check(a.guest, "--guest is needed")
    need_root("VMs jailed as other users")
    need_kvm("a template's guest")
    tpls = os.path.join(tmp, "templates")
    for name in ("slow", "slow2"):
        tdir = os.path.join(tpls, name)
        os.makedirs(tdir)
        shutil.copyfile(a.guest, os.path.join(tdir, "kernel.elf"))
        os.chmod(os.path.join(tdir, "kernel.elf"), 0o600)
        with open(os.path.join(tdir, "rootfs.img"), "wb") as f:
            f.truncate(1 << 20)
        os.chmod(os.path.join(tdir, "rootfs.img"), 0o644)
        with open(os.path.join(tdir, "template.json"), "w") as f:
            json.dump({"kernel": "kernel.elf", "rootfs": "rootfs.img"}, f)
    run = os.path.join(tmp, "run")
    s = R.Server(hearth, tmp, templates=tpls, env=env(),
                 extra=["--boot-timeout", "3000"] + jail_flags(UIDS[0], UIDS[0]))
    vms = []
    try:
        def create():
            try:
                s.request("POST", "/v2/sandboxes", {"templateID": "slow"})
            except OSError:
                pass    # the server is SIGKILLed below, with this request unanswered

        threading.Thread(target=create, name="create", daemon=True).start()
        log = os.path.join(run, "t0", "vm", "log")
        for _ in range(600):
            if os.path.exists(log) and b"count " in open(log, "rb").read():
                break
            check(s.p.poll() is None, "the server runs: %s" % s.output()[-2000:])
            time.sleep(0.1)
        check(b"count " in open(log, "rb").read(), "the jailed template's guest counts "
              "in RUN/t0/vm/log: %s" % s.output()[-2000:])
        vms = descendants(s.p.pid)
        check(len(vms) >= 2, "the template's VM and its zygote: %s" % vms)
        for pid in vms:
            st = status_of(pid)
            why = st and jailed_ok(st, run, UIDS[0], UIDS[0])
            check(st and not why and st["root"] == os.path.join(run, "t0"),
                  "VM process %d jailed in RUN/t0 as %d:%d: %s" % (pid, UIDS[0], GID, why or st))
        root, vm = os.path.join(run, "t0"), os.path.join(run, "t0", "vm")
        check(stat.S_IMODE(os.stat(root).st_mode) == 0o711 and os.stat(root).st_uid == 0,
              "the jail's root is root's, 0711 (its user cannot replace vm/)")
        check(os.stat(vm).st_uid == UIDS[0], "RUN/t0/vm is the VM user's")
        img, orig = os.stat(os.path.join(vm, "rootfs.img")), \
            os.stat(os.path.join(tpls, "slow", "rootfs.img"))
        check(img.st_ino == orig.st_ino, "the world-readable image is a link of the original")
        k = os.stat(os.path.join(vm, "vmlinuz"))
        check(k.st_ino != os.stat(os.path.join(tpls, "slow", "kernel.elf")).st_ino and
              k.st_uid == 0 and k.st_gid == GID and stat.S_IMODE(k.st_mode) == 0o440,
              "the kernel (0600 root's) is a copy, root:%d 0440: %o %d:%d" % (
                  GID, k.st_mode, k.st_uid, k.st_gid))
        for _ in range(2):
            st, body = s.request("POST", "/v2/sandboxes", {"templateID": "slow2"})
            R.refused(st, body, 429, "--jail-uids")
        # The server dies at once; the jailed VMs must not outlive it.
        s.p.kill()
        s.p.wait()
        left = []
        for _ in range(100):
            left = [p for p in vms if status_of(p) and status_of(p).get("State", "")[:1] != "Z"]
            if not left:
                break
            time.sleep(0.1)
        check(not left, "the jailed VMs end with their server (SIGKILLed): %s" % left)
    finally:
        for p in vms:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        if s.p.poll() is None:
            check(s.stop() == 0, "the server ends with 0 on SIGTERM")
        else:
            s.log.close()
        shutil.rmtree(run, ignore_errors=True)


def case_flags(hearth, tmp):
    base = [hearth, "sandboxes", "--listen", "127.0.0.1:1", "--api-key-file",
            os.path.join(tmp, "no-key"), "--templates", tmp, "--run-dir",
            os.path.join(tmp, "run")]
    as_nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
    for pre, args, words in (
            ([], ["--jail-uids", "2000-2001"], "--jail-uids and --jail-gid go together"),
            ([], ["--jail-gid", "2000"], "--jail-uids and --jail-gid go together"),
            ([], ["--jail-uids", "2001-2000", "--jail-gid", "1"], "--jail-uids '2001-2000'"),
            ([], ["--jail-uids", "0-3", "--jail-gid", "1"], "--jail-uids '0-3'"),
            ([], ["--jail-uids", "60000-65535", "--jail-gid", "1"], "uids 1 to 65534"),
            ([], ["--jail-uids", "1-5000", "--jail-gid", "1"], "at most 4096"),
            ([], ["--jail-uids", "2000", "--jail-gid", "1"], "want FIRST-LAST"),
            ([], ["--jail-uids", "2000-2001", "--jail-gid", "0"], "--jail-gid '0'"),
            ([], ["--jail", "/srv"], "each VM has a jail of its own: give --jail-uids"),
            ([], ["--no-seccomp"], "--no-seccomp is refused"),
            ([], ["--no-sandbox"], "--no-sandbox is refused"),
            (as_nobody, ["--jail-uids", "2000-2001", "--jail-gid", "2000"],
             "--jail-uids needs root")):
        if pre and os.geteuid() != 0:
            continue    # a user that is not root is what the case wants: the line above
        r = subprocess.run(pre + base + args, capture_output=True, text=True, timeout=30,
                           env=sanitizer_env())
        first = r.stderr.splitlines()[0] if r.stderr else ""
        check(r.returncode == 2 and words in first and first.startswith("hearth: sandboxes"),
              "%s: exit 2, one line naming it (%d: %r)" % (" ".join(args), r.returncode,
                                                          r.stderr[:300]))
    check(not os.path.exists(os.path.join(tmp, "run")), "no run directory was made")
    if os.geteuid() != 0:
        return
    # A run directory on a nodev file system: each jail's /dev/kvm could not be opened.
    nodev = os.path.join(tmp, "nodev")
    os.makedirs(nodev)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "nodev,size=1m", "tmpfs", nodev], check=True)
    try:
        with open(os.path.join(tmp, "key"), "w") as f:
            f.write("k\n")
        import run_sandboxd_test as R

        r = subprocess.run([hearth, "sandboxes", "--listen", "127.0.0.1:%d" % R.free_port(),
                            "--api-key-file", os.path.join(tmp, "key"), "--templates", tmp,
                                       "--run-dir", os.path.join(nodev, "run")] +
                           ["--jail-uids", "2000-2001", "--jail-gid", "2000"],
                           capture_output=True, text=True, timeout=30, env=sanitizer_env())
        check(r.returncode == 2 and "mounted nodev" in r.stderr and
              os.listdir(nodev) == [], "--run-dir on a nodev mount: exit 2 naming it, the "
              "directory it made removed (%d: %r, %s)" % (r.returncode, r.stderr[:300],
                                                          os.listdir(nodev)))
    finally:
        subprocess.run(["umount", nodev])


class Sampler(threading.Thread):
    """Every `hearth serve` below the server, sampled from /proc until stop(). A process is
    judged by the last sample it was seen in: between its fork and its jail (a few ms, more
    under TCG) it is still root's, in the host's root."""

    def __init__(self, server, run):
        super().__init__(name="sampler", daemon=True)
        self.server, self.run_dir, self.halt = server, run, False
        self.last, self.bad = {}, []

    def run_once(self):
        roots = {}
        for pid in descendants(self.server.p.pid):
            st = status_of(pid)
            if not st or st.get("State", "")[:1] == "Z":
                continue
            why = jailed_ok(st, self.run_dir, *UIDS)
            self.last[pid] = (why, st["root"])
            if not why:
                roots.setdefault(st["Uid"].split()[0], set()).add(st["root"])
        for uid, rs in roots.items():
            if len(rs) > 1:
                self.bad.append("uid %s in %s at once" % (uid, sorted(rs)))

    def run(self):
        while not self.halt:
            self.run_once()
            time.sleep(0.2)

    def stop(self):
        self.halt = True
        self.join(10)
        self.bad += ["%d: %s" % (pid, why) for pid, (why, _) in self.last.items() if why]
        return {root for why, root in self.last.values() if not why}


def case_sdk_jailed(hearth, tmp, a):
    import run_sandboxd_test as R

    sampler = {}

    def during(s):
        sampler["s"] = Sampler(s, os.path.join(tmp, "run"))
        sampler["s"].start()

    def after():
        sm = sampler["s"]
        roots = sm.stop()
        kinds = {os.path.basename(r)[0] for r in roots}
        print("jailed VMs' roots: %s" % sorted(os.path.basename(r) for r in roots))
        check(not sm.bad, "every VM jailed in a root of its own, as a uid of its own: %s" %
              sm.bad[:10])
        check({"t", "r"} <= kinds and len(roots) >= 3, "the template and at least two "
              "restores (pause and connect, fork) were seen jailed: %s" % sorted(roots))

    need_root("VMs jailed as other users")
    R.run_sdk(hearth, tmp, a, extra=jail_flags(*UIDS), during=during, after=after)


def glob_logs(tmp):
    """Every VM's log, jailed (RUN/X/vm/log) or not (RUN/X/log)."""
    return sorted(glob.glob(os.path.join(tmp, "run", "*", "log")) +
                  glob.glob(os.path.join(tmp, "run", "*", "vm", "log")))
