"""run_firmware_test.py's jailed case: a firmware-booted VM's whole life under --jail, as
a kernel-booted one's (docs/firmware.md, docs/jailer.md). Debian's SeaBIOS boots
tests/guest/mbrtick.S from a qcow2 overlay on a qcow2 base; the record prints a numbered
line every 4 BIOS ticks, each after reading LBA 1 through INT 13h, until it is stopped.

Every Hearth here runs jailed as uid 1000 and sees only its jail:
  A  the VM: `hearth run --firmware /mig/bios.bin`, its chain in /mig, --snapshot-dir
     /snap, --fork-dir /fd, --migrate-dir /mig;
  B  the migration's destination, `hearth serve`, which sees A's /mig (a bind mount, as
     an orchestrator shares storage): the firmware and the chain are the same files;
  C  a `hearth serve` that loads A's snapshot, given its files and a copy of the overlay.

The checks, line for line: the snapshot's restore (C) and each of two clones go on from
the line their base was taken at; the VM moved to B goes on with the next line after the
source's last; every line read the base through the overlay ("ok"); the overlays check
clean and the base is unchanged."""
import hashlib
import json
import os
import shutil
import subprocess

from firmware_common import SEABIOS, make_chain, need_real_mode, sh
from itest import SANITIZER_MARKERS, check, need_root, sanitizer_env
from run_fork_test import at_most, from_base, get, kill_all, ticks, wait_for, whole_lines
from run_migrate_test import one_count, seam, umount
from run_vmclock_test import request

UID = "1000"
LINES = 3      # lines each VM must print past where it started


def env():
    e = sanitizer_env()
    # A jailed process has no /proc for LeakSanitizer's exit scan: the later option wins.
    e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    return e


def jailed(binary, jail, argv, out):
    return subprocess.Popen([binary] + argv + ["--jail", jail, "--uid", UID, "--gid", UID],
                            stdin=subprocess.DEVNULL, stdout=open(out, "wb"),
                            stderr=open(out + ".err", "wb"), env=env())


def chown_tree(top):
    for root, dirs, files in os.walk(top):
        for x in dirs + files:
            os.chown(os.path.join(root, x), int(UID), int(UID))
    os.chown(top, int(UID), int(UID))


def tail(path, n=1200):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")[-n:]
    except OSError as e:
        return str(e)


def wait_out(path, cond, what):
    """wait_for, and on a timeout the output and stderr of the Hearth writing path."""
    try:
        wait_for(what, cond)
    except BaseException:
        print("%s: output %r; stderr %r" % (path, tail(path), tail(path + ".err")))
        raise


def lines_ok(path, what):
    """Every whole line of a record's output read the base through the overlay."""
    with open(path, "rb") as f:
        body = whole_lines(f.read()).decode(errors="replace")
    bad = [l for l in body.splitlines() if "FAIL tick" in l]
    check(not bad, "%s: every INT 13h read of LBA 1 through the overlay brings the base's "
          "line (%s)" % (what, bad[:3]))


def said(path):
    """A Hearth's stderr, checked for sanitizer reports."""
    with open(path + ".err", "rb") as f:
        err = f.read().decode(errors="replace")
    for m in SANITIZER_MARKERS:
        check(m not in err, "%s: %s: %s" % (path, m, err[-2000:]))
    return err


def patch(sock, state):
    st, out = request(sock, "PATCH", "/vm", {"state": state})
    check(st == 204, "PATCH /vm %s, jailed: 204 (%s %s)" % (state, st, out[:300]))


def case_jailed(binary, tmp, a):
    need_real_mode()
    need_root("--jail")
    check(a.mbr_tick is not None, "--mbr-tick: tests/guest/mbrtick.bin")
    binary = os.path.abspath(binary)
    ja, jb, jc = (os.path.join(tmp, j) for j in ("ja", "jb", "jc"))
    mig = os.path.join(ja, "mig")
    make_chain(mig, a.mbr_tick)
    shutil.copyfile(SEABIOS, os.path.join(mig, "bios.bin"))
    for d in (os.path.join(ja, "snap"), os.path.join(ja, "fd"), os.path.join(jb, "mig"), jc):
        os.makedirs(d)
    base = os.path.join(mig, "base.qcow2")
    with open(base, "rb") as f:
        base_sum = hashlib.sha256(f.read()).hexdigest()
    for j in (ja, jb, jc):
        chown_tree(j)
    os.chmod(tmp, 0o755)
    subprocess.run(["mount", "--bind", mig, os.path.join(jb, "mig")], check=True)
    chain = {"drive_id": "disk", "path_on_host": "/mig/top.qcow2", "is_read_only": False,
             "backing_files": ["/mig/base.qcow2"]}
    out = {k: os.path.join(tmp, k + ".out") for k in ("a", "b", "c")}
    procs, pids = [], []
    try:
        procs.append(jailed(binary, ja, [
            "run", "--firmware", "/mig/bios.bin", "--memory", "64", "--disk",
            "path=/mig/top.qcow2,id=disk,format=qcow2,backing=/mig/base.qcow2",
            "--api-sock", "/a.sock", "--snapshot-dir", "/snap", "--fork-dir", "/fd",
            "--migrate-dir", "/mig"], out["a"]))
        sock = os.path.join(ja, "a.sock")
        wait_out(out["a"], lambda: len(ticks(out["a"])) >= LINES, "the jailed firmware VM's lines")

        # The snapshot: paused, the overlay copied for C, a Full snapshot, resumed.
        patch(sock, "Paused")
        snap_at = at_most(out["a"])
        shutil.copyfile(os.path.join(mig, "top.qcow2"), os.path.join(jc, "top.qcow2"))
        st, text = request(sock, "PUT", "/snapshot/create", {
            "snapshot_type": "Full", "snapshot_path": "/snap/state",
            "mem_file_path": "/snap/mem"})
        check(st == 204, "PUT /snapshot/create of the jailed firmware VM: 204 (%s %s)" % (
            st, text[:300]))
        snap_after = at_most(out["a"])
        patch(sock, "Resumed")

        # The fork: paused, the overlay copied once per clone beside the firmware and a
        # link to the base in --fork-dir; two clones, each its own overlay.
        wait_out(out["a"], lambda: at_most(out["a"]) >= snap_after + 2,
                 "the jailed VM to go on after its snapshot")
        patch(sock, "Paused")
        fork_at = at_most(out["a"])
        fd = os.path.join(ja, "fd")
        shutil.copyfile(SEABIOS, os.path.join(fd, "bios.bin"))
        os.link(base, os.path.join(fd, "base.qcow2"))
        for i in range(2):
            shutil.copyfile(os.path.join(mig, "top.qcow2"), os.path.join(fd, "c%d.qcow2" % i))
        chown_tree(fd)
        st, text = request(sock, "PUT", "/fork", {
            "count": 2, "template": "Paused",
            "clone": {"api_sock": "c{i}.sock", "serial_out": "c{i}.out",
                      "firmware_override": {"firmware_path": "bios.bin"},
                      "drive_overrides": [{"drive_id": "disk", "path_on_host": "c{i}.qcow2",
                                           "is_read_only": False,
                                           "backing_files": ["base.qcow2"]}]}})
        check(st == 200, "PUT /fork of the jailed firmware VM: 200 (%s %s)" % (st, text[:500]))
        pids = [c["pid"] for c in json.loads(text)["clones"]]
        fork_after = at_most(out["a"])
        for i, pid in enumerate(pids):
            c = os.path.join(fd, "c%d.out" % i)
            wait_out(c, lambda: len(ticks(c)) >= LINES, "clone %d's lines" % i)
            from_base(ticks(c)[0], fork_at, fork_after, "jailed clone %d" % i)
            lines_ok(c, "clone %d" % i)
            with open("/proc/%d/status" % pid) as f:
                uid = [l.split()[1:] for l in f if l.startswith("Uid:")][0]
            check(uid == [UID] * 4 and os.readlink("/proc/%d/root" % pid) != "/",
                  "clone %d runs in the jail as uid %s (%s)" % (i, UID, uid))
        kill_all(pids)
        patch(sock, "Resumed")
        wait_out(out["a"], lambda: at_most(out["a"]) >= fork_after + 2,
                 "the jailed template to go on after the fork")

        # The migration: B's `hearth serve` takes the VM through A's --migrate-dir.
        procs.append(jailed(binary, jb, ["serve", "--api-sock", "/b.sock"], out["b"]))
        bsock = os.path.join(jb, "b.sock")
        wait_for("the jailed destination's socket", lambda: os.path.exists(bsock))
        st, text = request(bsock, "PUT", "/migrate/incoming", {
            "uri": "unix:/mig/in.sock", "firmware_override": {"firmware_path": "/mig/bios.bin"},
            "drive_overrides": [chain]})
        check(st == 204, "PUT /migrate/incoming of the jailed firmware VM: 204 (%s %s)" % (
            st, text[:500]))
        st, text = request(sock, "PUT", "/migrate", {"uri": "unix:/mig/in.sock"})
        check(st == 204, "PUT /migrate of the jailed firmware VM: 204 (%s %s)" % (st, text[:500]))
        wait_for("the jailed source to finish", lambda: json.loads(get(sock, "/migrate")[1])[
            "state"] in ("completed", "failed", "unconfirmed"))
        state = json.loads(get(sock, "/migrate")[1])["state"]
        check(state == "completed", "the jailed firmware VM's migration completes (%s; %r)" % (
            state, said(out["a"])[-1000:]))
        n = len(ticks(out["b"]))
        wait_out(out["b"], lambda: len(ticks(out["b"])) >= n + LINES, "the moved VM to go on")
        check(one_count(out["a"], out["b"]), "the moved firmware VM goes on line for line: " +
              seam(out["a"], out["b"]))
        lines_ok(out["b"], "the destination")
        procs[0].kill()
        procs[1].kill()

        # The snapshot's restore, in a jail of its own.
        for k in ("state", "mem"):
            os.link(os.path.join(ja, "snap", k), os.path.join(jc, k))
        shutil.copyfile(SEABIOS, os.path.join(jc, "bios.bin"))
        os.link(base, os.path.join(jc, "base.qcow2"))
        chown_tree(jc)
        procs.append(jailed(binary, jc, ["serve", "--api-sock", "/c.sock"], out["c"]))
        csock = os.path.join(jc, "c.sock")
        wait_for("the restoring Hearth's socket", lambda: os.path.exists(csock))
        st, text = request(csock, "PUT", "/snapshot/load", {
            "snapshot_path": "/state", "mem_backend": {"backend_type": "File",
                                                       "backend_path": "/mem"},
            "firmware_override": {"firmware_path": "/bios.bin"},
            "drive_overrides": [{"drive_id": "disk", "path_on_host": "/top.qcow2",
                                 "is_read_only": False, "backing_files": ["/base.qcow2"]}],
            "resume_vm": True})
        check(st == 204, "PUT /snapshot/load of the jailed firmware VM's snapshot: 204 (%s %s)"
              % (st, text[:500]))
        wait_out(out["c"], lambda: len(ticks(out["c"])) >= LINES, "the restored VM's lines")
        from_base(ticks(out["c"])[0], snap_at, snap_after, "the jailed restore")
        lines_ok(out["c"], "the restored VM")
    finally:
        kill_all(pids)
        for p in procs:
            p.kill()
            p.wait()
        umount(os.path.join(jb, "mig"))
    lines_ok(out["a"], "the jailed VM")
    for k in ("a", "b", "c"):
        said(out[k])
    for top in [os.path.join(mig, "top.qcow2"), os.path.join(jc, "top.qcow2")] + [
            os.path.join(ja, "fd", "c%d.qcow2" % i) for i in range(2)]:
        sh("qemu-img", "check", "-q", top)
    with open(base, "rb") as f:
        check(hashlib.sha256(f.read()).hexdigest() == base_sum, "the base is unchanged")
    print("jailed firmware VM: snapshot at line %d-%d, fork at %d-%d, moved after line %d, "
          "restored from line %d" % (snap_at, snap_after, fork_at, fork_after,
                                     at_most(out["a"]), ticks(out["c"])[0]))
