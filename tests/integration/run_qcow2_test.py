#!/usr/bin/env python3
"""qcow2 drives (docs/devices.md, "qcow2 images") end to end, images made by
qemu-img and qemu-io, results judged by `qemu-img check` and `qemu-img
compare` against a raw file the test computes from what the guest wrote.

    run_qcow2_test.py --hearth build/hearth --case CASE --guest build/tests/guest/blkrw.elf
                      [--asan B]

  refused   `hearth run` refuses, before KVM is touched, naming the image and
            the header's name: a backing file the request did not name, a
            header's name with '..', an absolute one or one through a symlink
            under backing=header, a loop, a chain of 17 images, a header
            without a backing format, a backing file another VM writes.
  api       `hearth serve`: PUT /drives with format, backing_files and
            backing_from_header (204, GET /vm/config shows them); the same
            refusals at the PUT (400 in Firecracker's drive words), and the
            fields' own (backing files of a raw drive, both kinds of chain);
            a config file's qcow2 drive without its chain refused at start.
  guest     the blkrw guest (tests/guest/blkrw.c) reads and writes a qcow2
            overlay over a qcow2 base (and over a raw base, by the headers'
            names, under cache=none): what it read from the base it wrote
            back elsewhere, with a pattern and write-zeroes; the overlay
            checks clean and equals the raw file, the base unchanged.
  jailed    the same under --jail (uid 1000): the chain's paths inside the jail.
  snapshot  a guest writing its disk in rounds, paused and snapshotted (a PATCH
            of its image refused by name first); `hearth restore` without the
            chain refused by name, with it (--drive-backing) the guest writes
            on from the next round; the overlay checks clean and holds the
            last round.
  fork      a template writing its disk in rounds, paused, its overlay copied
            once per clone: a fork whose override names no chain is refused
            by name; two clones, each on its own overlay over the one base,
            write on from the fork, and no clone's round reaches another's
            overlay or the template's.
  migrate   the same guest moved live to a fresh `hearth serve` on this host,
            the chain named in its drive_overrides: it writes on there; the
            overlay checks clean (the source wrote nothing after its lock went).

The guest cases need a /dev/kvm that runs freestanding guests (itest.NotHere
elsewhere); jailed needs root too.
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import (SANITIZER_MARKERS, check, need_kvm, need_root, run_cases,  # noqa: E402
                   sanitizer_env as env)
from run_vmclock_test import request, stop  # noqa: E402
from run_fork_test import get, wait_for  # noqa: E402

NO_KVM = "/nonexistent/hearth-test/kvm"
MIB = 1 << 20
GUEST = None          # --guest, set in main


def clean_stderr(text, what):
    """A sanitizer build's report is a failure, whatever the exit code said."""
    for m in SANITIZER_MARKERS:
        check(m not in text, "%s: %s in its stderr: %s" % (what, m, text[-2000:]))


def clean_err_file(path, what):
    try:
        with open(path, "rb") as f:
            clean_stderr(f.read().decode(errors="replace"), what)
    except FileNotFoundError:
        pass


def sh(*argv):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    check(r.returncode == 0, "%s: %s" % (" ".join(argv), r.stdout.decode(errors="replace")))
    return r.stdout.decode(errors="replace")


def make_base(d, name="base.qcow2"):
    """A 32 MiB qcow2 base with data at 0 (1 MiB) and 3 MiB (512 KiB)."""
    path = os.path.join(d, name)
    sh("qemu-img", "create", "-q", "-f", "qcow2", path, "32M")
    sh("qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 1M", "-c", "write -P 0x22 3M 512k",
       path)
    return path


def overlay(d, name, backing, fmt="qcow2"):
    path = os.path.join(d, name)
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-b", backing, "-F", fmt, path)
    return path


def checked(path, leaks_ok=False):
    """qemu-img check: no errors, and no leaked cluster after a clean stop."""
    out = sh("qemu-img", "check", path)
    check("No errors were found" in out and (leaks_ok or "leaked" not in out),
          "qemu-img check %s: %s" % (path, out))


def same(img, raw):
    r = subprocess.run(["qemu-img", "compare", "-F", "raw", img, raw],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    check(r.returncode == 0, "qemu-img compare %s %s: %s" % (img, raw, r.stdout.decode()))


def raw_of(img, raw):
    sh("qemu-img", "convert", "-O", "raw", img, raw)
    with open(raw, "rb") as f:
        return bytearray(f.read())


def copy_result(base_bytes):
    """What blkrw's copy mode leaves on the disk over base_bytes (tests/guest/blkrw.c)."""
    b = bytearray(base_bytes)
    b[8 * MIB:8 * MIB + 0x10000] = b[0:0x10000]
    b[9 * MIB:9 * MIB + 0x20000] = b[MIB - 0x8000:MIB - 0x8000 + 0x20000]
    pat = b"".join(struct.pack("<Q", 0x51c0000000000000 ^ ((k * 0x9e3779b97f4a7c15) % (1 << 64)))
                   for k in range(0x40000 // 8))
    b[2 * MIB + 512:2 * MIB + 512 + 0x40000] = pat
    b[3 * MIB:3 * MIB + 0x10000] = bytes(0x10000)
    return b


def run_copy(binary, argv, what, cwd=None, jailed=False):
    """hearth run of blkrw in copy mode: it must power off having said blk_copy=ok."""
    e = env()
    if jailed:
        # A jailed process has no /proc for LeakSanitizer's exit scan (make test's
        # ASAN_OPTIONS ask for it): the later option wins.
        e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    r = subprocess.run([binary, "run", "--memory", "64"] + argv, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, cwd=cwd,
                       timeout=120)
    out = r.stdout.decode(errors="replace")
    clean_stderr(r.stderr.decode(errors="replace"), what)
    check(r.returncode == 0 and "LAB blk_copy=ok" in out,
          "%s: exit %d, %r %r" % (what, r.returncode, out[-400:], r.stderr.decode()[-600:]))
    # zlib (compressed clusters) is loaded before the jail hides the host's libraries.
    check(not jailed or "zlib" not in r.stderr.decode(errors="replace"),
          "%s: zlib was not there for compressed clusters: %r" % (what, r.stderr.decode()[-600:]))


def refused_run(binary, disk, want, cwd):
    r = subprocess.run([binary, "run", "--kernel", GUEST, "--kvm", NO_KVM, "--disk", disk],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env(), cwd=cwd, timeout=60)
    err = r.stderr.decode(errors="replace")
    clean_stderr(err, "--disk " + disk)
    check(r.returncode == 2 and want in err,
          "--disk %s: exit %d, want 2 and %r in %r" % (disk, r.returncode, want, err))


def no_backing_fmt(path):
    """Drops the header's backing format extension (qemu-img always writes one): the
    extension's magic becomes one no reader knows, which every reader skips."""
    with open(path, "r+b") as f:
        head = f.read(4096)
        at = head.find(bytes.fromhex("e2792aca"), 72)
        check(at > 0, "no backing format extension in %s" % path)
        f.seek(at)
        f.write(bytes.fromhex("6e6f6e65"))


def refusal_files(d):
    """The images each refusal needs, in d."""
    base = make_base(d)
    overlay(d, "top.qcow2", "base.qcow2")
    os.mkdir(os.path.join(d, "sub"))
    overlay(os.path.join(d, "sub"), "up.qcow2", "../base.qcow2")
    overlay(d, "abs.qcow2", base)
    os.symlink("base.qcow2", os.path.join(d, "link.qcow2"))
    overlay(d, "vialink.qcow2", "link.qcow2")
    sh("qemu-img", "create", "-q", "-f", "qcow2", os.path.join(d, "a.qcow2"), "1M")
    overlay(d, "b.qcow2", "a.qcow2")
    sh("qemu-img", "rebase", "-q", "-u", "-b", "b.qcow2", "-F", "qcow2",
       os.path.join(d, "a.qcow2"))
    sh("qemu-img", "create", "-q", "-f", "qcow2", os.path.join(d, "d0.qcow2"), "1M")
    for i in range(1, 17):
        overlay(d, "d%d.qcow2" % i, "d%d.qcow2" % (i - 1))
    overlay(d, "nofmt.qcow2", "base.qcow2")
    no_backing_fmt(os.path.join(d, "nofmt.qcow2"))


# (--disk spec, the words the refusal must have), run in the images' directory.
REFUSALS = [
    ("path=top.qcow2,format=qcow2",
     "disk top.qcow2: its header names backing file 'base.qcow2', which the request does not "
     "name"),
    ("path=sub/up.qcow2,format=qcow2,backing=header",
     "its header names backing file '../base.qcow2', with '..' in it"),
    ("path=abs.qcow2,format=qcow2,backing=header", "an absolute name"),
    ("path=vialink.qcow2,format=qcow2,backing=header",
     "'link.qcow2': Too many levels of symbolic links (a symbolic link on the way"),
    ("path=a.qcow2,format=qcow2,backing=b.qcow2,backing=a.qcow2",
     "backing chain loops: 'a.qcow2' is the same file as 'a.qcow2'"),
    ("path=a.qcow2,format=qcow2,backing=header", "backing chain loops"),
    ("path=d16.qcow2,format=qcow2,backing=header", "deeper than 16 images"),
    ("path=nofmt.qcow2,format=qcow2,backing=base.qcow2",
     "its header names backing file 'base.qcow2' but not its format (backing_fmt)"),
    ("path=top.qcow2,format=qcow2,backing=base.qcow2,backing=a.qcow2",
     "names backing file a.qcow2 under base.qcow2, whose header names no backing file"),
    ("path=top.qcow2,backing=base.qcow2", "backing= needs format=qcow2"),
]


def case_refused(binary, tmp):
    refusal_files(tmp)
    for disk, want in REFUSALS:
        refused_run(binary, disk, want, tmp)
    # A backing file another VM writes: its lock is exclusive, ours shared.
    with open(os.path.join(tmp, "base.qcow2"), "rb") as f:
        import fcntl
        fcntl.flock(f, fcntl.LOCK_EX)
        refused_run(binary, "path=top.qcow2,format=qcow2,backing=base.qcow2",
                    "backing file base.qcow2 is in use by another process", tmp)
    # Nothing was written to any image (a refused open writes nothing).
    checked(os.path.join(tmp, "top.qcow2"))


def put_drive(sock, body):
    status, text = request(sock, "PUT", "/drives/" + body["drive_id"], body)
    return status, text.decode("utf-8", "replace")


def case_api(binary, tmp):
    refusal_files(tmp)
    sock = os.path.join(tmp, "api.sock")
    p = subprocess.Popen([binary, "serve", "--api-sock", sock, "--kvm", NO_KVM],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env(), cwd=tmp)
    try:
        wait_for("the API socket", lambda: os.path.exists(sock))
        top = os.path.join(tmp, "top.qcow2")
        base = os.path.join(tmp, "base.qcow2")
        q = {"drive_id": "q", "path_on_host": top, "is_root_device": False,
             "format": "qcow2", "backing_files": [base]}
        status, text = put_drive(sock, q)
        check(status == 204, "PUT /drives with its chain: %d %s" % (status, text))
        status, text = put_drive(sock, {"drive_id": "h", "path_on_host": top,
                                        "is_root_device": False, "is_read_only": True,
                                        "format": "qcow2", "backing_from_header": True})
        check(status == 204, "PUT /drives, the headers' names: %d %s" % (status, text))
        status, text = get(sock, "/vm/config")
        drives = json.loads(text)["drives"]
        check(drives[0]["format"] == "qcow2" and drives[0]["backing_files"] == [base] and
              drives[0]["backing_from_header"] is False and
              drives[1]["backing_from_header"] is True and drives[1]["backing_files"] == [],
              "GET /vm/config shows the chain: %r" % drives)
        for body, want in [
                (dict(q, backing_files=[]), "its header names backing file 'base.qcow2', "
                 "which the request does not name"),
                ({"drive_id": "u", "path_on_host": os.path.join(tmp, "sub", "up.qcow2"),
                  "is_root_device": False, "format": "qcow2", "backing_from_header": True},
                 "with '..' in it"),
                ({"drive_id": "l", "path_on_host": os.path.join(tmp, "vialink.qcow2"),
                  "is_root_device": False, "format": "qcow2", "backing_from_header": True},
                 "a symbolic link on the way"),
                ({"drive_id": "a", "path_on_host": os.path.join(tmp, "a.qcow2"),
                  "is_root_device": False, "format": "qcow2", "backing_from_header": True},
                 "backing chain loops"),
                ({"drive_id": "n", "path_on_host": os.path.join(tmp, "nofmt.qcow2"),
                  "is_root_device": False, "format": "qcow2", "backing_files": [base]},
                 "but not its format (backing_fmt)"),
                ({"drive_id": "r", "path_on_host": base, "is_root_device": False,
                  "backing_files": [base]}, "backing files are a qcow2 image's"),
                (dict(q, drive_id="b", backing_from_header=True),
                 "backing_files and backing_from_header"),
                (dict(q, drive_id="f", format="vmdk"), "unknown variant `vmdk`")]:
            status, text = put_drive(sock, body)
            check(status == 400 and want in text,
                  "PUT /drives %r: %d %s (want %r)" % (body, status, text, want))
    finally:
        stop(p)
    # A config file's qcow2 drive without its chain: refused at start, by name.
    cfg = os.path.join(tmp, "vm.json")
    with open(cfg, "w") as f:
        json.dump({"boot-source": {"kernel_image_path": GUEST},
                   "drives": [{"drive_id": "q", "path_on_host": "top.qcow2",
                               "is_root_device": False, "format": "qcow2"}]}, f)
    r = subprocess.run([binary, "serve", "--api-sock", os.path.join(tmp, "c.sock"), "--kvm",
                        NO_KVM, "--config-file", cfg], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(), cwd=tmp,
                       timeout=60)
    err = r.stderr.decode(errors="replace")
    check(r.returncode != 0 and "its header names backing file 'base.qcow2'" in err,
          "a config file's qcow2 drive without its chain: exit %d %r" % (r.returncode, err))


def case_guest(binary, tmp):
    need_kvm()
    base = make_base(tmp)
    want = copy_result(raw_of(base, os.path.join(tmp, "base.raw")))
    with open(os.path.join(tmp, "want.raw"), "wb") as f:
        f.write(want)
    top = overlay(tmp, "top.qcow2", "base.qcow2")
    run_copy(binary, ["--kernel", GUEST, "--disk",
                      "path=%s,format=qcow2,backing=%s" % (top, base)], "qcow2 over qcow2")
    checked(top)
    checked(base)
    same(top, os.path.join(tmp, "want.raw"))
    same(base, os.path.join(tmp, "base.raw"))
    # Over a raw base, the headers' names taken, under cache=none (O_DIRECT fast path).
    shutil.copy(os.path.join(tmp, "base.raw"), os.path.join(tmp, "base.img"))
    top2 = overlay(tmp, "top2.qcow2", "base.img", "raw")
    run_copy(binary, ["--kernel", GUEST, "--disk",
                      "path=%s,format=qcow2,backing=header,cache=none" % top2],
             "qcow2 over raw, backing=header, cache=none")
    checked(top2)
    same(top2, os.path.join(tmp, "want.raw"))
    same(os.path.join(tmp, "base.img"), os.path.join(tmp, "base.raw"))


def case_jailed(binary, tmp):
    need_kvm()
    need_root()
    jail = os.path.join(tmp, "jail")
    os.mkdir(jail)
    os.chmod(tmp, 0o755)
    shutil.copy(GUEST, os.path.join(jail, "blkrw.elf"))
    base = make_base(jail)
    want = copy_result(raw_of(base, os.path.join(tmp, "base.raw")))
    with open(os.path.join(tmp, "want.raw"), "wb") as f:
        f.write(want)
    top = overlay(jail, "top.qcow2", "base.qcow2")
    os.chown(top, 1000, 1000)
    run_copy(binary, ["--jail", jail, "--uid", "1000", "--gid", "1000", "--kernel",
                      "/blkrw.elf", "--disk", "path=/top.qcow2,format=qcow2,backing=/base.qcow2"],
             "jailed, the chain named", jailed=True)
    checked(top)
    same(top, os.path.join(tmp, "want.raw"))
    top2 = overlay(jail, "top2.qcow2", "base.qcow2")
    os.chown(top2, 1000, 1000)
    run_copy(binary, ["--jail", jail, "--uid", "1000", "--gid", "1000", "--kernel",
                      "/blkrw.elf", "--disk", "path=/top2.qcow2,format=qcow2,backing=header"],
             "jailed, the header's name", jailed=True)
    checked(top2)
    same(top2, os.path.join(tmp, "want.raw"))


def rounds(path):
    """The round numbers blkrw's loop said, whole lines only."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    data = data[:data.rfind(b"\n") + 1]
    return [int(n) for n in re.findall(rb"blk round (\d+)$", data, re.M)]


def block_of(img, tmp, i):
    """The word loop mode's round i left in its block of img."""
    raw = raw_of(img, os.path.join(tmp, "peek.raw"))
    at = 16 * MIB + (i % 64) * 4096
    return struct.unpack_from("<Q", raw, at)[0]


def loop_vm(binary, tmp, top, base, extra, name="src"):
    out = os.path.join(tmp, name + ".out")
    p = subprocess.Popen([binary, "run", "--kernel", GUEST, "--memory", "64", "--cmdline",
                          "blk=loop", "--disk",
                          "path=%s,id=d,format=qcow2,backing=%s" % (top, base)] + extra,
                         stdin=subprocess.DEVNULL, stdout=open(out, "wb"),
                         stderr=open(os.path.join(tmp, name + ".err"), "wb"), env=env())
    wait_for("three rounds", lambda: len(rounds(out)) >= 3)
    return p, out


def case_snapshot(binary, tmp):
    need_kvm()
    base = make_base(tmp)
    top = overlay(tmp, "top.qcow2", "base.qcow2")
    sock, snap = os.path.join(tmp, "s.sock"), os.path.join(tmp, "snap")
    os.mkdir(snap)
    p, out = loop_vm(binary, tmp, top, base, ["--api-sock", sock, "--snapshot-dir", snap])
    try:
        status, text = request(sock, "PATCH", "/drives/d",
                               {"drive_id": "d", "path_on_host": base})
        check(status == 400 and b"a qcow2 drive's image is not swapped" in text,
              "PATCH of a qcow2 drive's image: %d %r" % (status, text))
        status, text = request(sock, "PATCH", "/vm", {"state": "Paused"})
        check(status == 204, "pause: %d %r" % (status, text))
        status, text = request(sock, "PUT", "/snapshot/create",
                               {"snapshot_path": os.path.join(snap, "s"),
                                "mem_file_path": os.path.join(snap, "m")})
        check(status == 204, "snapshot/create: %d %r" % (status, text))
        last = max(rounds(out))
    finally:
        p.kill()
        p.wait()
    # The pause left the overlay whole: what a copy of it would hold.
    checked(top)
    check(block_of(top, tmp, last) == last, "round %d is on the disk" % last)
    argv = [binary, "restore", "--snapshot", os.path.join(snap, "s"), "--mem",
            os.path.join(snap, "m"), "--drive-override", "d=rw:" + top]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env(), timeout=60)
    err = r.stderr.decode(errors="replace")
    check(r.returncode == 2 and "its header names backing file 'base.qcow2', which the request "
          "does not name" in err, "a restore without the chain: exit %d %r" % (r.returncode, err))
    out2 = os.path.join(tmp, "restored.out")
    q = subprocess.Popen(argv + ["--drive-backing", "d=" + base], stdin=subprocess.DEVNULL,
                         stdout=open(out2, "wb"), stderr=open(os.path.join(tmp, "r.err"), "wb"),
                         env=env())
    try:
        wait_for("the restored guest's rounds", lambda: len(rounds(out2)) >= 3)
        got = rounds(out2)
        check(got[0] in (last + 1, last + 2) and got == list(range(got[0], got[0] + len(got))),
              "the restored guest goes on from round %d: %r" % (last, got[:8]))
    finally:
        stop(q)
    for name in ("src.err", "r.err"):
        clean_err_file(os.path.join(tmp, name), name)
    checked(top)
    after = max(rounds(out2))
    check(block_of(top, tmp, after) == after, "round %d is on the disk" % after)


def case_fork(binary, tmp):
    need_kvm()
    fd = os.path.join(tmp, "fd")
    os.mkdir(fd)
    base = make_base(fd)
    top = overlay(fd, "t.qcow2", "base.qcow2")
    sock = os.path.join(tmp, "t.sock")
    p, out = loop_vm(binary, tmp, top, base, ["--api-sock", sock, "--fork-dir", fd], "t")
    clones = []
    try:
        status, text = request(sock, "PATCH", "/vm", {"state": "Paused"})
        check(status == 204, "pause: %d %r" % (status, text))
        at_fork = max(rounds(out))
        # Each clone its own overlay: a copy of the template's, over the one base.
        for i in range(2):
            shutil.copy(top, os.path.join(fd, "c%d.qcow2" % i))

        def body(chain):
            ov = {"drive_id": "d", "path_on_host": "c{i}.qcow2", "is_read_only": False}
            ov.update(chain)
            return {"count": 2, "clone": {"api_sock": "c{i}.sock", "serial_out": "c{i}.out",
                                          "drive_overrides": [ov]}}
        status, text = request(sock, "PUT", "/fork", body({}))
        check(status == 400 and b"its header names backing file 'base.qcow2'" in text,
              "a fork without the chain: %d %r" % (status, text))
        status, text = request(sock, "PUT", "/fork", body({"backing_files": ["../base.qcow2"]}))
        check(status == 400 and b"no '..'" in text,
              "a fork's backing file out of --fork-dir: %d %r" % (status, text))
        status, text = request(sock, "PUT", "/fork", body({"backing_files": ["base.qcow2"]}))
        check(status == 200, "fork: %d %r" % (status, text))
        answer = json.loads(text)
        clones = [c["pid"] for c in answer["clones"]]
        outs = [os.path.join(fd, "c%d.out" % i) for i in range(2)]
        for o in outs:
            wait_for("a clone's rounds", lambda o=o: len(rounds(o)) >= 3)
            got = rounds(o)
            check(got[0] in (at_fork + 1, at_fork + 2),
                  "a clone goes on from round %d: %r" % (at_fork, got[:5]))
        status, text = request(sock, "PATCH", "/vm", {"state": "Resumed"})
        check(status == 204, "resume: %d %r" % (status, text))
        wait_for("the template's rounds", lambda: max(rounds(out)) >= at_fork + 3)
    finally:
        for pid in clones:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in clones:
            for _ in range(200):
                try:
                    os.kill(pid, 0)
                    time.sleep(0.05)
                except ProcessLookupError:
                    break
        stop(p)
    clean_err_file(os.path.join(tmp, "t.err"), "the template")
    for i in range(2):
        img = os.path.join(fd, "c%d.qcow2" % i)
        checked(img)
        last = max(rounds(os.path.join(fd, "c%d.out" % i)))
        check(block_of(img, tmp, last) == last, "clone %d's round %d is on its disk" % (i, last))
    checked(top)
    tlast = max(rounds(out))
    check(block_of(top, tmp, tlast) == tlast, "the template's round %d on its own disk" % tlast)
    checked(base)


def case_migrate(binary, tmp):
    need_kvm()
    base = make_base(tmp)
    top = overlay(tmp, "top.qcow2", "base.qcow2")
    mig = os.path.join(tmp, "mig")
    os.mkdir(mig)
    ssock, dsock = os.path.join(tmp, "src.sock"), os.path.join(tmp, "dst.sock")
    p, out = loop_vm(binary, tmp, top, base, ["--api-sock", ssock, "--migrate-dir", mig])
    dout = os.path.join(tmp, "dst.out")
    d = subprocess.Popen([binary, "serve", "--api-sock", dsock], stdin=subprocess.DEVNULL,
                         stdout=open(dout, "wb"), stderr=open(os.path.join(tmp, "dst.err"), "wb"),
                         env=env())
    try:
        wait_for("the destination's socket", lambda: os.path.exists(dsock))
        uri = "unix:" + os.path.join(mig, "m.sock")
        status, text = request(dsock, "PUT", "/migrate/incoming", {
            "uri": uri, "drive_overrides": [{"drive_id": "d", "path_on_host": top,
                                             "is_read_only": False, "backing_files": [base]}]})
        check(status == 204, "migrate/incoming: %d %r" % (status, text))
        status, text = request(ssock, "PUT", "/migrate", {"uri": uri})
        check(status == 204, "migrate: %d %r" % (status, text))
        wait_for("the move", lambda: json.loads(get(ssock, "/migrate")[1])["state"] in
                 ("completed", "failed", "unconfirmed"))
        state = json.loads(get(ssock, "/migrate")[1])
        check(state["state"] == "completed", "the source says: %r" % state)
        wait_for("the destination's rounds", lambda: len(rounds(dout)) >= 3)
        moved = rounds(dout)
        check(moved[0] in (max(rounds(out)) + 1, max(rounds(out)) + 2),
              "the destination goes on from the source's last round: %r %r" %
              (rounds(out)[-3:], moved[:3]))
    finally:
        p.kill()
        p.wait()
        stop(d)
    for name in ("src.err", "dst.err"):
        clean_err_file(os.path.join(tmp, name), name)
    checked(top)
    last = max(rounds(dout))
    check(block_of(top, tmp, last) == last, "the destination's round %d on the disk" % last)


CASES = {"refused": case_refused, "api": case_api, "guest": case_guest, "jailed": case_jailed,
         "snapshot": case_snapshot, "fork": case_fork, "migrate": case_migrate}


def options(ap):
    ap.add_argument("--guest", required=True, help="tests/guest/blkrw.elf")


def main():
    global GUEST
    for i, a in enumerate(sys.argv):
        if a == "--guest" and i + 1 < len(sys.argv):
            GUEST = os.path.abspath(sys.argv[i + 1])
        # The cases run Hearth from their temporary directory.
        if a in ("--hearth", "--asan") and i + 1 < len(sys.argv):
            sys.argv[i + 1] = os.path.abspath(sys.argv[i + 1])
    return run_cases(__doc__, CASES, "hearth-qcow2-", options=options)


if __name__ == "__main__":
    sys.exit(main())
