#!/usr/bin/env python3
"""Every field of a state file that could name or shape a host resource,
one row each, against a real snapshot (issue 47, F2 and its review).

    run_snapshot_fields_test.py --hearth PATH --craft PATH [--asan PATH] --case fields

A freestanding guest with a disk, a pmem device, a user-mode NIC and a
hybrid vsock is snapshotted through `hearth serve` (seccomp filters on).
Then, row by row, its config record is edited as an attacker would
(`snap_craft edit`: Hearth's own writer, the CRC right) to aim one field
at a "victim" directory, and loaded into a fresh `hearth serve` with every
override pointing at the legitimate files. A row either loads, and then:
nothing in the victim directory was opened, created or changed (inotify,
for the whole load), the process has nothing of it open or mapped
(/proc/PID/maps and fds), the request's files are what it holds, and no
port the record named is listened on; or it is refused with the words the
row gives, and the victim directory saw nothing either. docs/security.md,
"What a state file can reach", is the table these rows prove.
"""
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, need_kvm, run_cases, tiny_elf  # noqa: E402
from run_api_test import Serve  # noqa: E402
from run_pmem_test import seen_by  # noqa: E402
from run_snapshot_host_test import Watch  # noqa: E402


def sized(path, size):
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening(port):
    """Whether anything on this host listens on TCP port (IPv4 or IPv6)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


def snapshot(binary, tmp, legit):
    """A paused VM's Full snapshot: (state file, memory file, its config record)."""
    kernel = os.path.join(tmp, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    d = os.path.join(tmp, "boot")
    os.mkdir(d)
    s = Serve(binary, d, ["--snapshot-dir", tmp])
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 1, "mem_size_mib": 32})
    s.expect("PUT", "/drives/rootfs", 204, body={
        "drive_id": "rootfs", "path_on_host": legit["disk"], "is_root_device": False,
        "is_read_only": True})
    s.expect("PUT", "/pmem/pm0", 204, body={"id": "pm0", "path_on_host": legit["pm"],
                                            "read_only": True})
    s.expect("PUT", "/network-interfaces/eth0", 204, body={"iface_id": "eth0",
                                                           "backend": "user"})
    s.expect("PUT", "/vsock", 204, body={"guest_cid": 3, "uds_path": legit["vsock"]})
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    s.expect("PATCH", "/vm", 204, body={"state": "Paused"})
    snap, mem = os.path.join(tmp, "vm.snap"), os.path.join(tmp, "vm.mem")
    s.expect("PUT", "/snapshot/create", 204, body={"snapshot_path": snap,
                                                   "mem_file_path": mem})
    s.stop()
    return snap, mem


def rows(victim, port):
    """(name, edit of the record, refusal words or None for a load that must succeed)."""
    def vm(*keys):
        def get(r):
            o = r["vm"]
            for k in keys:
                o = o[k]
            return o
        return get

    def nic(r):
        return r["hearth"]["nets"][0]

    return [
        ("drive-path", lambda r: vm("drives", 0)(r).update(
            path_on_host=os.path.join(victim, "disk.img")), None),
        ("drive-writable", lambda r: vm("drives", 0)(r).update(is_read_only=False),
         "drive 'rootfs' was writable in the snapshot, and the request makes it read-only"),
        ("pmem-path", lambda r: vm("pmem", 0)(r).update(
            path_on_host=os.path.join(victim, "pm.img")), None),
        ("pmem-writable", lambda r: vm("pmem", 0)(r).update(read_only=False),
         "pmem 'pm0' was writable in the snapshot, and the request makes it read-only"),
        ("vsock-socket", lambda r: vm("vsock")(r).update(
            uds_path=os.path.join(victim, "v.sock")), None),
        ("vsock-vhost", lambda r: vm("vsock")(r).pop("uds_path"),
         "is vhost-vsock, which has no socket"),
        ("kernel-initrd", lambda r: vm("boot-source")(r).update(
            kernel_image_path=os.path.join(victim, "k"),
            initrd_path=os.path.join(victim, "i")), None),
        ("kvm-path", lambda r: r["hearth"].update(kvm_path=os.path.join(victim, "kvm")), None),
        ("hostfwd", lambda r: nic(r).update(hostfwd=[[False, port, 22]], host_loopback=True),
         None),
        ("socket-cap", lambda r: nic(r).update(max_sockets=1 << 30), None),
        ("nic-kind", lambda r: nic(r).update(backend="tap"),
         "'eth0' is a TAP interface"),
        ("dirty-log", lambda r: vm("machine-config")(r).update(track_dirty_pages=True), None),
        ("serial-file", lambda r: r["vm"].update(
            serial={"serial_out_path": os.path.join(victim, "out")}),
         "'serial', which no save writes"),
        ("vfio", lambda r: r["vm"].update(pci={"enabled": True}),
         "'pci', which no save writes"),
        ("cpu-template-file", lambda r: r["vm"].update(
            **{"cpu-config": os.path.join(victim, "t.json")}),
         "names a cpu-config file"),
    ]


def run_row(binary, tmp, craft, snap, mem, base, legit, victim, row, port):
    name, edit, refusal = row
    rec = json.loads(json.dumps(base))
    edit(rec)
    jpath = os.path.join(tmp, name + ".json")
    state = os.path.join(tmp, name + ".snap")
    with open(jpath, "w") as f:
        json.dump(rec, f)
    subprocess.run([craft, "edit", snap, state, jpath], check=True)
    d = os.path.join(tmp, "load-" + name)
    os.mkdir(d)
    victims = sorted(os.listdir(victim))    # before the watch: a listing is an open
    w = Watch(victim)
    try:
        s = Serve(binary, d, ["--snapshot-dir", tmp])
        body = {"snapshot_path": state,
                "mem_backend": {"backend_type": "File", "backend_path": mem},
                "drive_overrides": [{"drive_id": "rootfs", "path_on_host": legit["disk"],
                                     "is_read_only": True}],
                "pmem_overrides": [{"id": "pm0", "path_on_host": legit["pm"],
                                    "read_only": True}],
                "network_overrides": [{"iface_id": "eth0", "backend": "user"}],
                "vsock_override": {"uds_path": legit["vsock"]}}
        if refusal:
            js = s.expect("PUT", "/snapshot/load", 400, body=body)
            check(refusal in js["fault_message"], "%s: %r does not say %r" %
                  (name, js["fault_message"], refusal))
        else:
            s.expect("PUT", "/snapshot/load", 204, body=body)
            pid = s.p.pid
            for v in victims:
                check(not seen_by(pid, os.path.join(victim, v)),
                      "%s: the record's %s is open or mapped" % (name, v))
            check(seen_by(pid, legit["disk"]) and seen_by(pid, legit["pm"]),
                  "%s: the request's disk and pmem file are not what it holds" % name)
            check(not listening(port), "%s: the record's hostfwd port %d is listened on" %
                  (name, port))
            cfg = s.expect("GET", "/vm/config", 200)
            check(cfg["drives"][0]["path_on_host"] == legit["disk"] and
                  cfg["pmem"][0]["path_on_host"] == legit["pm"] and
                  cfg["vsock"]["uds_path"] == legit["vsock"],
                  "%s: GET /vm/config names other files: %r" % (name, cfg))
            check(not cfg["machine-config"]["track_dirty_pages"],
                  "%s: dirty tracking the request did not ask for" % name)
        s.stop()
        events = w.events()
    finally:
        w.close()
    check(not events, "%s: the victim directory saw %s" % (name, events))


def case_fields(binary, tmp, args):
    need_kvm()
    legit_dir, victim = os.path.join(tmp, "legit"), os.path.join(tmp, "victim")
    os.mkdir(legit_dir)
    os.mkdir(victim)
    legit = {"disk": sized(os.path.join(legit_dir, "disk.img"), 1 << 20),
             "pm": sized(os.path.join(legit_dir, "pm.img"), 2 << 20),
             "vsock": os.path.join(legit_dir, "v.sock")}
    for name in ("disk.img", "pm.img", "k", "i", "kvm", "t.json"):
        sized(os.path.join(victim, name), 2 << 20)
    snap, mem = snapshot(binary, tmp, legit)
    base = json.loads(subprocess.run([args.craft, "config-of", snap], check=True,
                                     stdout=subprocess.PIPE).stdout)
    port = free_port()
    for row in rows(victim, port):
        run_row(binary, tmp, args.craft, snap, mem, base, legit, victim, row, port)
    for name in os.listdir(victim):
        with open(os.path.join(victim, name), "rb") as f:
            check(f.read() == bytes(2 << 20), "the victim's %s changed" % name)


def options(ap):
    ap.add_argument("--craft", required=True, help="snap_craft, Hearth's own state writer")


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, {"fields": case_fields}, "hearth-snapfields-", options=options))
