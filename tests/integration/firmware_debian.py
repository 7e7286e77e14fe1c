"""run_firmware_test.py's debian case: Debian 12 under SeaBIOS, configured through
the API, cloud-init from the MMDS; then the firmware VM snapshotted, moved live to a
second Hearth, and its snapshot restored in a third (docs/firmware.md)."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import sys
import time

from firmware_common import REPO, SEABIOS, need_real_mode, sh
from itest import SANITIZER_MARKERS, check, sanitizer_env as env
from run_fork_test import get
from run_vmclock_test import request

sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
import image_check as IC  # noqa: E402

DEBIAN_HOST = "hearth-fw"
DEBIAN_TIMEOUT = 1800  # a hung boot ends the test; nothing is timed
CS = "/sys/devices/system/clocksource/clocksource0"
DEBIAN_CHECKS = [
    ("hostname", "hostname"),
    ("datasource", "sudo cat /run/cloud-init/result.json | tr -d '\\n '"),
    ("user", "id -un"),
    ("sudo", "sudo -n true && echo sudo-ok"),
    ("booted_by", "[ -d /sys/firmware/efi ] && echo uefi || echo bios"),
    ("root", "findmnt -no SOURCE /; basename $(readlink /sys/block/vda/device/driver)"),
    ("clocksources", "cat %s/available_clocksource" % CS),
    ("clocksource", "echo hpet | sudo tee %s/current_clocksource >/dev/null; cat "
                    "%s/current_clocksource" % (CS, CS)),
    ("hpet_ticks", "a=$(cut -d' ' -f1 /proc/uptime | tr -d .); sleep 2; "
                   "b=$(cut -d' ' -f1 /proc/uptime | tr -d .); echo $a $b"),
    ("hpet_event", "sudo grep -m1 -i 'Clock Event Device: hpet' /proc/timer_list || true"),
]


def debian_image():
    """scripts/debian_image.sh's image: found in its cache (scripts/test.sh builds it on the
    host before the lab, whose L1 cannot), or built here."""
    script = os.path.join(REPO, "scripts", "debian_image.sh")
    path = sh("bash", script, "--path").strip()
    if not os.path.exists(path):
        r = subprocess.run(["bash", script], capture_output=True, text=True)
        check(r.returncode == 0, "%s: not built, and building it here failed (the lab's L1 "
              "cannot: scripts/test.sh builds it on the host first): %s" % (
                  path, r.stderr[-1500:]))
        path = r.stdout.strip()
    return path


def wait_sock(path):
    """Until a Hearth's API socket is there (at most 20 s; a request then says why not)."""
    for _ in range(1000):
        if os.path.exists(path):
            return
        time.sleep(0.02)


def debian_configure(sock, top, image):
    """`hearth serve`'s VM through the API: SeaBIOS, the SMBIOS serial pointing cloud-init
    at the MMDS, the qcow2 overlay on the raw image, a user-mode NIC the MMDS answers on,
    the seed's documents in the MMDS; then InstanceStart."""
    wait_sock(sock)
    store = {"latest": IC.seed_documents(hostname=DEBIAN_HOST)}
    for method, path, body in [
            ("PUT", "/boot-source", {"firmware_path": SEABIOS,
                                     "smbios": {"serial": IC.SMBIOS_SERIAL_MMDS}}),
            ("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 768}),
            ("PUT", "/drives/disk", {"drive_id": "disk", "path_on_host": top,
                                     "is_root_device": False, "is_read_only": False,
                                     "format": "qcow2", "backing_files": [image]}),
            ("PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "backend": "user"}),
            ("PUT", "/mmds/config", {"network_interfaces": ["eth0"], "version": "V1"}),
            ("PUT", "/mmds", store),
            ("PUT", "/actions", {"action_type": "InstanceStart"})]:
        st, out = request(sock, method, path, body)
        check(st == 204, "%s %s: 204 (%s %s)" % (method, path, st, out[:500]))


def answer(out):
    """A command's output lines, joined: the kernel's console lines printed among them
    ("[  241.28] hrtimer: interrupt took ...") left out."""
    return " | ".join(l.strip() for l in out.splitlines()
                      if l.strip() and not re.match(r"^(\[ *\d+\.\d+\] |TICK \d+$)",
                                                    l.strip()))


def case_debian(binary, tmp, a):
    need_real_mode()
    binary = os.path.abspath(binary)
    image = debian_image()
    mtime = os.stat(image).st_mtime
    top = os.path.join(tmp, "top.qcow2")
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", image, top)
    sock = os.path.join(tmp, "api.sock")
    mig = os.path.join(tmp, "mig")
    os.makedirs(mig)
    # The clones' directory beside the image, whose base it links (one file system).
    fd = tempfile.mkdtemp(prefix="fork-", dir=os.path.dirname(image))
    argv = [binary, "serve", "--api-sock", sock, "--enable-pci", "--snapshot-dir", tmp,
            "--migrate-dir", mig, "--fork-dir", fd]
    vm = IC.VmProcess(argv, os.path.join(tmp, "serial.log"), env=env())
    con = boot_con = vm.console
    res, steps = {}, Steps()
    try:
        debian_configure(sock, top, image)
        con.watch(IC.MILESTONES)
        res["prompt"] = con.wait_login(timeout=DEBIAN_TIMEOUT)
        con.login(IC.TEST_USER, IC.TEST_PASSWORD, timeout=DEBIAN_TIMEOUT)
        res["cloud-init"] = con.wait_cloud_init(timeout=DEBIAN_TIMEOUT)
        steps.done("boot to login, cloud-init done")
        for k, cmd in DEBIAN_CHECKS:
            rc, out = con.run(cmd, timeout=DEBIAN_TIMEOUT)
            res[k] = answer(out)
        steps.done("the guest's checks")
        snap = debian_snapshot(sock, tmp, top)
        rc, out = con.run("echo after-$((6*7))", timeout=DEBIAN_TIMEOUT)
        res["after_snapshot"] = out.strip()
        steps.done("snapshot")
        debian_fork(sock, fd, top, image, con, res)
        steps.done("fork")
        vm = debian_migrate(binary, tmp, sock, top, image, vm, res)
        con = vm.console
        steps.done("migration")
        con.send("sudo poweroff\r")
        rc = vm.wait(timeout=DEBIAN_TIMEOUT)
        steps.done("poweroff")
    except (IC.ConsoleError, subprocess.TimeoutExpired) as e:
        vm.stop()
        check(False, "SeaBIOS, GRUB, Debian: %s (so far %s, milestones %s; console %r)" % (
            e, res, con.seen, con.tail(3000)))
    finally:
        vm.stop()
        shutil.rmtree(fd, ignore_errors=True)
    print("Debian under SeaBIOS: milestones %s" % boot_con.seen)
    print("  steps: %s" % steps)
    for k, v in res.items():
        print("  %s: %s" % (k, v))
    for name in ("serial.log", "serial-dst.log"):
        log = open(os.path.join(tmp, name), "rb").read().decode(errors="replace")
        for m in SANITIZER_MARKERS:
            check(m not in log, "hearth (%s): %s" % (name, m))
    check(rc == 0 and "guest powered off" in log, "`sudo poweroff` ends the destination's "
          "Hearth with exit 0 through ACPI's S5 (exit %s)" % rc)
    for i in range(2):
        t = res.get("clone%d" % i, [])
        check(len(t) >= 3 and t == sorted(set(t)) and t[0] > res.get("ticker_at", 1 << 30),
              "fork: clone %d, on its own overlay, runs on from the fork point: its ticker "
              "counts on past the template's %s (%s)" % (i, res.get("ticker_at"), t))
    check(res.get("template_after_fork") == "forked-42", "the template runs on after the "
          "fork (%s)" % res.get("template_after_fork"))
    check(res.get("moved") == "moved-42" and res.get("moved_clocksource") == "hpet" and
          res.get("moved_disk") == "moved", "the moved guest's shell answers at the "
          "destination, on the HPET, writing its disk (%s; %s; %s)" % (
              res.get("moved"), res.get("moved_clocksource"), res.get("moved_disk")))
    check("nocloud" in res.get("datasource", "").lower() and
          IC.MMDS_URL in res.get("datasource", ""), "cloud-init's datasource is the MMDS, "
          "named by the SMBIOS serial (%s)" % res.get("datasource"))
    check(res.get("prompt") == DEBIAN_HOST and res.get("hostname", "").endswith(DEBIAN_HOST),
          "cloud-init took the MMDS's hostname (prompt %s, hostname %s)" % (
              res.get("prompt"), res.get("hostname")))
    check(res.get("user", "").startswith(IC.TEST_USER) and "sudo-ok" in res.get("sudo", ""),
          "cloud-init made the MMDS's user, with sudo (%s; %s)" % (res.get("user"),
                                                                  res.get("sudo")))
    check("done" in res.get("cloud-init", ""), "cloud-init ran to done (%s)" % res.get(
        "cloud-init"))
    check(res.get("booted_by") == "bios" and "/dev/vda1" in res.get("root", "") and
          "virtio_blk" in res.get("root", ""), "booted by the BIOS, its root on virtio-blk's "
          "vda1 (%s; %s)" % (res.get("booted_by"), res.get("root")))
    check("hpet" in res.get("clocksources", "").split(" | ")[0].split() and
          res.get("clocksource", "").split(" | ")[-1] == "hpet", "Linux lists the HPET as a clocksource and takes "
          "it when told to (%s; now %s)" % (res.get("clocksources"), res.get("clocksource")))
    ticks = res.get("hpet_ticks", "").split()
    check(len(ticks) == 2 and ticks[0].isdigit() and ticks[1].isdigit() and
          int(ticks[1]) > int(ticks[0]), "time goes on on the HPET: CLOCK_MONOTONIC read "
          "through it advances across a sleep (%s)" % res.get("hpet_ticks"))
    check(res.get("hpet_event", "") != "", "the HPET is a clock event device: its "
          "comparators interrupt (/proc/timer_list: %s)" % res.get("hpet_event"))
    sh("qemu-img", "check", "-q", top)
    check(res.get("after_snapshot") == "after-42", "the guest runs on after its snapshot "
          "(%r)" % res.get("after_snapshot"))
    debian_restore(binary, tmp, image, snap)
    check(os.stat(image).st_mtime == mtime, "the raw base is not written")


class Steps:
    """Where the test's time went, step by step (printed to read, never judged)."""

    def __init__(self):
        self.t, self.done_at = time.monotonic(), []

    def done(self, what):
        now = time.monotonic()
        self.done_at.append("%s %.1f s" % (what, now - self.t))
        self.t = now

    def __str__(self):
        return "; ".join(self.done_at)


def debian_snapshot(sock, tmp, top):
    """The logged-in VM paused, its overlay copied (a pause flushes it), a full snapshot
    taken, the VM resumed; the snapshot's files."""
    snap = {k: os.path.join(tmp, "snap-" + k) for k in ("state", "mem", "top.qcow2")}
    st, out = request(sock, "PATCH", "/vm", {"state": "Paused"})
    check(st == 204, "PATCH /vm Paused: 204 (%s %s)" % (st, out[:300]))
    shutil.copyfile(top, snap["top.qcow2"])
    st, out = request(sock, "PUT", "/snapshot/create", {"snapshot_type": "Full",
                                                        "snapshot_path": snap["state"],
                                                        "mem_file_path": snap["mem"]})
    check(st == 204, "PUT /snapshot/create of the firmware VM: 204 (%s %s)" % (st, out[:300]))
    st, out = request(sock, "PATCH", "/vm", {"state": "Resumed"})
    check(st == 204, "PATCH /vm Resumed: 204 (%s %s)" % (st, out[:300]))
    return snap


def debian_fork(sock, fd, top, image, con, res):
    """A ticker started in the guest, the template paused and its overlay copied once per
    clone, two clones forked (the firmware, each overlay and the base named beneath
    --fork-dir, a user-mode NIC each): each clone's ticker counts on in its serial output.
    The clones are killed, the template's ticker stopped, and its shell answers."""
    rc, out = con.run("(i=0; while [ $i -lt 900 ]; do echo TICK $i; i=$((i+1)); sleep 1; "
                      "done) & t=$!", timeout=DEBIAN_TIMEOUT)
    time.sleep(3)
    st, out = request(sock, "PATCH", "/vm", {"state": "Paused"})
    check(st == 204, "PATCH /vm Paused before the fork: 204 (%s %s)" % (st, out[:300]))
    con.poll()   # all the paused template wrote
    seen = [int(m) for m in re.findall(r"^TICK (\d+)$", con.text, re.M)]
    res["ticker_at"] = max(seen) if seen else None
    shutil.copyfile(SEABIOS, os.path.join(fd, "bios.bin"))
    os.link(image, os.path.join(fd, "base.raw"))
    for i in range(2):
        shutil.copyfile(top, os.path.join(fd, "c%d.qcow2" % i))
    st, out = request(sock, "PUT", "/fork", {
        "count": 2, "template": "Resumed",
        "clone": {"api_sock": "c{i}.sock", "serial_out": "c{i}.out",
                  "firmware_override": {"firmware_path": "bios.bin"},
                  "drive_overrides": [{"drive_id": "disk", "path_on_host": "c{i}.qcow2",
                                       "is_read_only": False, "backing_files": ["base.raw"]}],
                  "network_overrides": [{"iface_id": "eth0", "backend": "user"}]}})
    check(st == 200, "PUT /fork of the firmware VM: 200 (%s %s)" % (st, out[:500]))
    pids = [c["pid"] for c in json.loads(out)["clones"]]
    try:
        for i in range(2):
            path = os.path.join(fd, "c%d.out" % i)
            for _ in range(3000):
                with open(path, "rb") as f:
                    t = [int(m) for m in re.findall(rb"^TICK (\d+)\r?$", f.read(), re.M)]
                if len(t) >= 3:
                    break
                time.sleep(0.1)
            res["clone%d" % i] = t
    finally:
        for pid in pids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
    rc, out = con.run("kill $t; echo forked-$((6*7))", timeout=DEBIAN_TIMEOUT)
    res["template_after_fork"] = answer(out).split(" | ")[-1]


def debian_migrate(binary, tmp, sock, top, image, src, res):
    """The running VM moved live to a second `hearth serve` (the same overlay, whose lock
    moves; the firmware named by the request): its shell answers there. The source, which
    never runs the VM again, is ended; the destination's VmProcess is returned."""
    dsock, uri = os.path.join(tmp, "dst.sock"), "unix:" + os.path.join(tmp, "mig", "in.sock")
    dst = IC.VmProcess([binary, "serve", "--api-sock", dsock, "--enable-pci"],
                       os.path.join(tmp, "serial-dst.log"), env=env())
    try:
        migrate_to(dst, src, sock, dsock, uri, top, image, res)
    except BaseException:
        dst.stop()
        raise
    src.stop()
    return dst


def tail_of(path, n=1500):
    with open(path, "rb") as f:
        return f.read().decode(errors="replace")[-n:]


def migrate_to(dst, src, sock, dsock, uri, top, image, res):
    wait_sock(dsock)
    st, out = request(dsock, "PUT", "/migrate/incoming", {
        "uri": uri, "firmware_override": {"firmware_path": SEABIOS},
        "drive_overrides": [{"drive_id": "disk", "path_on_host": top, "is_read_only": False,
                             "backing_files": [image]}],
        "network_overrides": [{"iface_id": "eth0", "backend": "user"}]})
    check(st == 204, "PUT /migrate/incoming for the firmware VM: 204 (%s %s)" % (st, out[:500]))
    st, out = request(sock, "PUT", "/migrate", {"uri": uri})
    check(st == 204, "PUT /migrate of the firmware VM: 204 (%s %s)" % (st, out[:500]))
    ends = []
    for s in (sock, dsock):
        for _ in range(3000):
            try:
                st, out = get(s, "/migrate")
            except OSError as e:
                st, out = None, ("%s: %s" % (s, e)).encode()
            state = json.loads(out or b"{}").get("state") if st == 200 else out.decode()
            if st != 200 or state in ("completed", "failed"):
                break
            time.sleep(0.1)
        ends.append("%s" % state)
    res["migrated"] = " ".join(ends)
    check(res["migrated"] == "completed completed", "the live migration completes on both "
          "ends (%s; the source's output %r; the destination's %r)" % (
              res["migrated"], tail_of(src.log), tail_of(dst.log)))
    con = dst.console
    con.send("\r")
    for k, cmd in [("moved", "echo moved-$((6*7))"),
                   ("moved_clocksource", "cat %s/current_clocksource" % CS),
                   ("moved_disk", "sudo sh -c 'echo moved >/var/tmp/hearth-moved && sync && "
                                  "cat /var/tmp/hearth-moved'")]:
        rc, out = con.run(cmd, timeout=DEBIAN_TIMEOUT)
        res[k] = answer(out)


def debian_restore(binary, tmp, image, snap):
    """A second Hearth loads the snapshot (the firmware, the overlay's copy and its base
    named by the request) and resumes it: the shell answers where it was, the HPET is
    still the clocksource and time goes on, the overlay's file system is the one the
    snapshot saw, and `sudo poweroff -f` ends it with 0 (the destination's orderly
    `sudo poweroff` took 31 s in the lab, this one 41 s: what it adds is systemd's)."""
    sock = os.path.join(tmp, "api2.sock")
    vm = IC.VmProcess([binary, "serve", "--api-sock", sock, "--enable-pci"],
                      os.path.join(tmp, "serial2.log"), env=env())
    con, res, rc, steps = vm.console, {}, None, Steps()
    try:
        wait_sock(sock)
        st, out = request(sock, "PUT", "/snapshot/load", {
            "snapshot_path": snap["state"],
            "mem_backend": {"backend_type": "File", "backend_path": snap["mem"]},
            "firmware_override": {"firmware_path": SEABIOS},
            "drive_overrides": [{"drive_id": "disk", "path_on_host": snap["top.qcow2"],
                                 "is_read_only": False, "backing_files": [image]}],
            "network_overrides": [{"iface_id": "eth0", "backend": "user"}],
            "resume_vm": True})
        check(st == 204, "PUT /snapshot/load of the firmware VM's snapshot: 204 (%s %s)" % (
            st, out[:500]))
        con.send("\r")
        for k, cmd in [("shell", "echo restored-$((6*7))"),
                       ("clocksource", "cat %s/current_clocksource" % CS),
                       ("ticks", DEBIAN_CHECKS[8][1]),
                       ("disk", "sudo sh -c 'echo restored >/var/tmp/hearth-restored && sync "
                                "&& cat /var/tmp/hearth-restored'"),
                       ("user", "id -un")]:
            rc, out = con.run(cmd, timeout=DEBIAN_TIMEOUT)
            res[k] = answer(out)
        steps.done("load and the guest's checks")
        con.send("sudo poweroff -f\r")
        rc = vm.wait(timeout=DEBIAN_TIMEOUT)
        steps.done("poweroff")
    except (IC.ConsoleError, subprocess.TimeoutExpired) as e:
        vm.stop()
        check(False, "the restored firmware VM: %s (so far %s; console %r)" % (
            e, res, con.tail(3000)))
    finally:
        vm.stop()
    print("Debian restored from its snapshot (steps: %s):" % steps)
    for k, v in res.items():
        print("  %s: %s" % (k, v))
    log = open(os.path.join(tmp, "serial2.log"), "rb").read().decode(errors="replace")
    for m in SANITIZER_MARKERS:
        check(m not in log, "hearth (restored): %s" % m)
    check(res.get("shell") == "restored-42" and res.get("user", "").startswith(IC.TEST_USER),
          "the restored guest's shell answers where the snapshot left it (%s; %s)" % (
              res.get("shell"), res.get("user")))
    check(res.get("clocksource") == "hpet", "the restored guest keeps the HPET as its "
          "clocksource (%s)" % res.get("clocksource"))
    ticks = res.get("ticks", "").split()
    check(len(ticks) == 2 and all(t.isdigit() for t in ticks) and int(ticks[1]) > int(ticks[0]),
          "time goes on on the restored HPET across a sleep (%s)" % res.get("ticks"))
    check(res.get("disk") == "restored", "the restored guest writes and reads its disk (%s)"
          % res.get("disk"))
    check(rc == 0 and "guest powered off" in log, "`sudo poweroff -f` ends the restored Hearth "
          "with exit 0 through S5 (exit %s)" % rc)
    sh("qemu-img", "check", "-q", snap["top.qcow2"])
