#!/usr/bin/env python3
"""A state file edited to name other host files is refused and opens nothing.

Issue 18, item 2: a restore takes every host resource from its request
(`hearth restore`'s flags here), none from the state file. The state
files are written by Hearth's own writer (snap_craft: snap_builder and
snap_file_write, so the CRC is right) from the config record a save
writes, edited as an attacker would: a serial section naming an output
file, logger and metrics sections, a key the hearth part never has, and
the record's own drive image, vsock socket and KVM path in a "victim"
directory. inotify watches that directory for the whole of each restore:
nothing there may be opened, created or changed. No KVM is needed: every
case is refused before a VM is built, the last one at its --kvm, a plain
file.
"""
import ctypes
import json
import os
import struct
import subprocess
import sys

from itest import SANITIZER_MARKERS, check, run_cases

IN_ACCESS, IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x1, 0x2, 0x4, 0x8
IN_OPEN, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x20, 0x80, 0x100, 0x200
IN_NONBLOCK, IN_CLOEXEC = 0o4000, 0o2000000
WATCHED = IN_ACCESS | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_OPEN | IN_MOVED_TO | \
    IN_CREATE | IN_DELETE


class Watch:
    """Everything that happens in one directory, by inotify."""

    def __init__(self, path):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        check(self.fd >= 0, "inotify_init1: errno %d" % ctypes.get_errno())
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path), WATCHED)
        check(wd >= 0, "inotify_add_watch %s: errno %d" % (path, ctypes.get_errno()))

    def events(self):
        out = []
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return out
            off = 0
            while off < len(buf):
                _, mask, _, n = struct.unpack_from("iIII", buf, off)
                name = buf[off + 16:off + 16 + n].rstrip(b"\0").decode()
                out.append("%s(0x%x)" % (name or ".", mask))
                off += 16 + n

    def close(self):
        os.close(self.fd)


def craft(craft_bin, *args, stdout=None):
    r = subprocess.run([craft_bin] + list(args), stdout=stdout or subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    check(r.returncode == 0, "snap_craft %s: %s" % (args, r.stderr))
    return r.stdout


def one_line(err):
    lines = [l for l in err.splitlines() if l.strip()]
    return lines[-1] if lines else ""


def run_case(binary, tmp, victim, name, record, flags, code, words):
    """Writes record as a state file, restores it with flags; checks the exit (code
    None: any failure), the message, and that the victim directory saw nothing."""
    jpath = os.path.join(tmp, name + ".json")
    state = os.path.join(tmp, name + ".snap")
    with open(jpath, "w") as f:
        json.dump(record, f)
    craft(CRAFT, "state", state, jpath)
    w = Watch(victim)
    try:
        r = subprocess.run([binary, "restore", "--snapshot", state, "--mem",
                            os.path.join(tmp, "vm.mem"), "--no-sandbox", "--no-seccomp"] +
                           flags, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        seen = w.events()
    finally:
        w.close()
    check(not any(m in r.stderr for m in SANITIZER_MARKERS), "%s: sanitizer:\n%s" %
          (name, r.stderr))
    if code is None:
        check(r.returncode != 0, "%s: restored without KVM?\n%s" % (name, r.stderr))
    else:
        check(r.returncode == code, "%s: exit %d, expected %d\n%s" % (name, r.returncode,
                                                                      code, r.stderr))
    line = one_line(r.stderr)
    for word in words:
        check(word in line, "%s: %r does not mention %r" % (name, line, word))
    check(not seen, "%s: the state file's host files were touched: %s" % (name, seen))


def edited(record, fn):
    r = json.loads(json.dumps(record))
    fn(r)
    return r


CRAFT = None


def test(binary, tmp):
    victim = os.path.join(tmp, "victim")
    legit = os.path.join(tmp, "legit")
    os.mkdir(victim)
    os.mkdir(legit)
    for d in (victim, legit):
        for img in ("disk.img", "pm.img"):
            with open(os.path.join(d, img), "wb") as f:
                f.truncate(1 << 20)
    with open(os.path.join(victim, "kvm"), "wb"):
        pass
    with open(os.path.join(legit, "notkvm"), "wb"):
        pass
    craft(CRAFT, "mem", os.path.join(tmp, "vm.mem"), "16")
    record = json.loads(craft(CRAFT, "config", victim))
    # What a save writes is what this test edits: the record names the victim's files.
    check(record["vm"]["drives"][0]["path_on_host"] == os.path.join(victim, "disk.img"),
          "the saved record: %r" % record["vm"]["drives"])
    check(record["hearth"]["kvm_path"] == os.path.join(victim, "kvm"), "%r" % record["hearth"])
    check(record["vm"]["pmem"][0]["path_on_host"] == os.path.join(victim, "pm.img") and
          record["vm"]["pmem"][0]["read_only"], "the saved record: %r" % record["vm"]["pmem"])
    every = ["--drive-override", "rootfs=rw:" + os.path.join(legit, "disk.img"),
             "--net-override", "eth0=tap=tap7", "--net-override", "eth1=user",
             "--pmem-override", "pm0=ro:" + os.path.join(legit, "pm.img"),
             "--vsock-override", os.path.join(legit, "v.sock")]
    no_vsock = every[:-2]
    no_pmem = every[:6] + every[8:]
    pm_rw = every[:6] + ["--pmem-override", "pm0=rw:" + os.path.join(legit, "pm.img")] + \
        every[8:]
    serial = os.path.join(victim, "serial.log")

    cases = [
        # The record as saved, nothing given: its drive image is not taken.
        ("as-saved", record, [], 2, ["drive 'rootfs' needs its image in drive_overrides"]),
        ("no-tap", record, every[:2], 2,
         ["network interface 'eth0' needs its host side in network_overrides"]),
        ("no-user", record, every[:4], 2, ["network interface 'eth1' needs"]),
        ("no-vsock", record, no_vsock, 2, ["vsock device needs its socket in vsock_override"]),
        # Issue 47, F2: the record's pmem file is never opened, nor made writable.
        ("no-pmem", record, no_pmem, 2, ["pmem 'pm0' needs its file in pmem_overrides"]),
        ("pmem-writable", record, pm_rw, 2,
         ["pmem 'pm0' was read-only in the snapshot, and the request makes it writable"]),
        ("pmem-unknown", record, every + ["--pmem-override", "pm9=ro:/x"], 2,
         ["no pmem device 'pm9'"]),
        # Sections and keys no save writes.
        ("serial", edited(record, lambda r: r["vm"].update(
            serial={"serial_out_path": serial})), every, 2, ["'serial', which no save writes"]),
        ("logger", edited(record, lambda r: r["vm"].update(
            logger={"log_path": os.path.join(victim, "log")})), every, 2,
         ["'logger', which no save writes"]),
        ("metrics", edited(record, lambda r: r["vm"].update(
            metrics={"metrics_path": os.path.join(victim, "m")})), every, 2,
         ["'metrics', which no save writes"]),
        ("hearth-key", edited(record, lambda r: r["hearth"].update(
            serial_out_path=serial)), every, 2, ["'serial_out_path', which no save writes"]),
        # Overrides that do not fit the snapshot.
        ("tap-as-user", record, every[:2] + ["--net-override", "eth0=user"] + every[4:], 2,
         ["'eth0' is a TAP interface"]),
        ("user-as-tap", record, every[:4] + ["--net-override", "eth1=tap=tap8"] + every[6:], 2,
         ["'eth1' is a user-mode interface"]),
        # Issue 47: nor whether the request's image is opened for writing.
        ("drive-readonly", record, ["--drive-override", "rootfs=ro:" +
                                    os.path.join(legit, "disk.img")] + every[2:], 2,
         ["drive 'rootfs' was writable in the snapshot, and the request makes it read-only"]),
        ("vsock-cid", record, no_vsock + ["--vsock-cid", "3"], 2,
         ["the snapshot's vsock is hybrid"]),
        ("unknown-drive", record, every + ["--drive-override", "other=rw:/x"], 2,
         ["no drive 'other'"]),
        # Everything given: past the record and the memory file, refused at the
        # KVM device the command line named. The record's KVM path, drive image and
        # socket in the victim directory were never opened.
        ("all-given", record, every + ["--kvm", os.path.join(legit, "notkvm")], None,
         ["notkvm"]),
    ]
    for name, rec, flags, code, words in cases:
        run_case(binary, tmp, victim, name, rec, flags, code, words)
    check(not os.path.exists(serial), "the record's serial output file was created")


def craft_option(ap):
    ap.add_argument("--craft", required=True, help="snap_craft, Hearth's own state writer")


def case_paths(binary, tmp, args):
    global CRAFT
    CRAFT = args.craft
    test(binary, tmp)


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, {"paths": case_paths}, "hearth-snaphost-",
                       options=craft_option))
