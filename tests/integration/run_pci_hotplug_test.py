#!/usr/bin/env python3
"""PCI hotplug's API through a real `hearth serve` socket, seccomp filters
and the sandbox on (Firecracker 1.16's device hotplug):

    run_pci_hotplug_test.py --hearth PATH [--asan PATH] [--case api|rings]

  api   before boot: DELETE /drives is Firecracker's state refusal. After
        boot of a tiny guest (on a /dev/kvm that runs it; the guest has no
        driver, so nothing is asked back of it):
        - on virtio-mmio, PUT /drives is 400 "PCI is not enabled";
        - on --enable-pci, PUT /drives plugs a disk (204, listed in GET
          /vm/config, its image opened on the api thread and its ring made
          on the io thread under their filters); the id again is "Device ID
          in use", a root drive and an image outside --snapshot-dir are 400
          naming why, and so are a user-mode NIC the sandbox has no
          network for; pmem devices plug and unplug, a root one and a
          missing file refused, a snapshot after the first of two went
          refused; a paused VM refuses; a user-mode
          NIC plugs into and out of a VM that started with one, the one
          the MMDS answers on cannot be unplugged; its snapshot with the disk in
          a slot a boot would not give it records the slots, and a new
          process restores it with the disk in its slot, unpluggable;
          DELETE of an unknown id is "Device not found", of a NIC "not
          supported yet"; DELETE /drives unplugs (204, gone from GET
          /vm/config), again is "Device not found"; a disk plugged and
          unplugged twice reuses its slot; then a snapshot is 204.
  rings (audit F1) no thread makes an io_uring ring after its seal, so a
        disk or pmem device plugged in runs on one made at start: after
        boot of --enable-pci, 19 disks (as many rings as a VM makes a
        family: VM_PCI_SPARE_RINGS, below the model's 31 drives) and a
        pmem device plug in and out and in again, a 20th disk is refused
        naming why, and the process holds no more rings than it did at
        start (/proc/PID/fd, where readable).
        A VM whose rings could not be made at start (too few descriptors
        then: RLIMIT_NOFILE 32 until the seal raises it) still starts, with
        a warning line, and refuses each plug with a fault naming why.
The guest's side (it finds the disk with no rescan, ejects it when
asked) is tests/lab/test_pci.py's.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, kvm_usable, need_kvm, run_cases, tiny_elf  # noqa: E402
from run_api_test import Serve  # noqa: E402

PRE = "The requested operation is not supported before starting the microVM."


def boot(binary, tmp, name, args):
    d = os.path.join(tmp, name)
    os.makedirs(os.path.join(d, "snap"), exist_ok=True)
    kernel = os.path.join(d, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    s = Serve(binary, d, args=args + ["--snapshot-dir", os.path.join(d, "snap")])
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 1, "mem_size_mib": 64})
    return s, d


def image(d, name):
    path = os.path.join(d, "snap", name)
    with open(path, "wb") as f:
        f.truncate(1 << 20)
    return path


def drive(id_, path, root=False):
    return {"drive_id": id_, "path_on_host": path, "is_root_device": root}


def pmem_ids(s):
    return [x["id"] for x in s.expect("GET", "/vm/config", 200)["pmem"] or []]


def drive_ids(s):
    return [x["drive_id"] for x in s.expect("GET", "/vm/config", 200)["drives"]]


def case_api(binary, tmp):
    s, d = boot(binary, tmp, "pre", ["--enable-pci"])
    s.expect("DELETE", "/drives/x", 400, exact=PRE)
    s.expect("DELETE", "/drives/x", 400, raw=b"{}", exact="Empty Delete request.")
    if not kvm_usable():
        s.stop()
        need_kvm("after boot, this case")
    s.stop()

    s, d = boot(binary, tmp, "mmio", [])
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    s.expect("PUT", "/drives/hp", 400, body=drive("hp", image(d, "hp.img")),
             exact="PCI is not enabled")
    s.expect("DELETE", "/drives/hp", 400, exact="PCI is not enabled")
    s.stop()

    # A NIC: plugged in and out of a VM that started with a user-mode one (the sandbox kept
    # a network); the NIC the MMDS answers on stays.
    s, d = boot(binary, tmp, "nic", ["--enable-pci"])
    s.expect("PUT", "/network-interfaces/eth0", 204, body={"iface_id": "eth0", "backend": "user"})
    s.expect("PUT", "/mmds/config", 204, body={"network_interfaces": ["eth0"]})
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    s.expect("PUT", "/network-interfaces/eth1", 204, body={"iface_id": "eth1", "backend": "user"})
    s.expect("PUT", "/network-interfaces/eth1", 400,
             body={"iface_id": "eth1", "backend": "user"}, exact="Device ID in use")
    nics = [x["iface_id"] for x in s.expect("GET", "/vm/config", 200)["network-interfaces"]]
    check(nics == ["eth0", "eth1"], "GET /vm/config lists the plugged NIC: %r" % nics)
    s.expect("DELETE", "/network-interfaces/eth0", 400, fault=["serves the MMDS"])
    s.expect("DELETE", "/network-interfaces/eth1", 204)
    s.expect("DELETE", "/network-interfaces/eth1", 400, exact="Device not found")
    s.stop()

    s, d = boot(binary, tmp, "pci", ["--enable-pci"])
    s.expect("PUT", "/entropy", 204, body={})
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    hp = image(d, "hp.img")
    s.expect("PUT", "/drives/hp", 204, body=drive("hp", hp))
    check(drive_ids(s) == ["hp"], "GET /vm/config lists the plugged drive: %r" % drive_ids(s))
    s.expect("PUT", "/drives/hp", 400, body=drive("hp", hp), exact="Device ID in use")
    s.expect("PUT", "/drives/hr", 400, body=drive("hr", hp, root=True),
             fault=["A root block device already exists"])
    outside = os.path.join(d, "outside.img")
    with open(outside, "wb") as f:
        f.truncate(1 << 20)
    s.expect("PUT", "/drives/ho", 400, body=drive("ho", outside),
             fault=["No such file or directory", "--snapshot-dir"])
    # The sandbox kept no network for a VM that started without a user-mode NIC.
    s.expect("PUT", "/network-interfaces/eth0", 400,
             body={"iface_id": "eth0", "backend": "user"},
             fault=["network interface 'eth0'", "without a user-mode interface"])
    # pmem: plugged (its window mapped past RAM, a memory slot of its own), refused
    # where Firecracker refuses, unplugged; a snapshot whose windows a restore would
    # lay out elsewhere (the first of two unplugged) is refused, naming why.
    pm0, pm1 = image(d, "pm0.img"), image(d, "pm1.img")
    s.expect("PUT", "/pmem/p0", 204, body={"id": "p0", "path_on_host": pm0})
    s.expect("PUT", "/pmem/p0", 400, body={"id": "p0", "path_on_host": pm0},
             exact="Device ID in use")
    s.expect("PUT", "/pmem/pr", 400, body={"id": "pr", "path_on_host": pm0,
                                          "root_device": True},
             fault=["cannot be its root device"])
    s.expect("PUT", "/pmem/pn", 400, body={"id": "pn", "path_on_host": outside},
             fault=["No such file or directory"])
    s.expect("PUT", "/pmem/p1", 204, body={"id": "p1", "path_on_host": pm1,
                                          "read_only": True})
    check(pmem_ids(s) == ["p0", "p1"], "GET /vm/config lists the plugged pmem: %r"
          % pmem_ids(s))
    s.expect("DELETE", "/pmem/p0", 204)
    check(pmem_ids(s) == ["p1"], "GET /vm/config after DELETE /pmem/p0: %r" % pmem_ids(s))
    s.expect("PATCH", "/vm", 204, body={"state": "Paused"})
    s.expect("PUT", "/snapshot/create", 400,
             body={"snapshot_path": os.path.join(d, "snap", "p"),
                   "mem_file_path": os.path.join(d, "snap", "pm")},
             fault=["pmem device was unplugged"])
    s.expect("PATCH", "/vm", 204, body={"state": "Resumed"})
    s.expect("DELETE", "/pmem/p1", 204)
    s.expect("DELETE", "/pmem/p1", 400, exact="Device not found")
    check(pmem_ids(s) == [], "GET /vm/config after both DELETEs: %r" % pmem_ids(s))
    s.expect("DELETE", "/drives/nope", 400, exact="Device not found")
    s.expect("DELETE", "/network-interfaces/eth0", 400, exact="Device not found")
    s.expect("PATCH", "/vm", 204, body={"state": "Paused"})
    s.expect("PUT", "/drives/hq", 400, body=drive("hq", image(d, "hq.img")),
             fault=["resume it first"])
    snap = {"snapshot_path": os.path.join(d, "snap", "s"),
            "mem_file_path": os.path.join(d, "snap", "m")}
    # The rng took slot 1 at boot, the disk slot 2, where a boot from this config would
    # put the disk first: the snapshot records both slots, and a restore keeps them.
    s.expect("PUT", "/snapshot/create", 204, body=snap)
    s.stop()
    os.makedirs(os.path.join(d, "r"), exist_ok=True)
    r = Serve(binary, os.path.join(d, "r"), args=["--snapshot-dir", os.path.join(d, "snap")])
    r.expect("PUT", "/snapshot/load", 204, body={
        "snapshot_path": snap["snapshot_path"], "resume_vm": True,
        "drive_overrides": [{"drive_id": "hp", "path_on_host": hp, "is_read_only": False}],
        "mem_backend": {"backend_type": "File", "backend_path": snap["mem_file_path"]}})
    check(drive_ids(r) == ["hp"], "the restored VM has the plugged drive: %r" % drive_ids(r))
    r.expect("DELETE", "/drives/hp", 204)
    check("unplugged from slot 2" in r.stderr(), "restored in its slot:\n%s" % r.stderr())
    check(drive_ids(r) == [], "GET /vm/config after the unplug: %r" % drive_ids(r))
    r.expect("DELETE", "/drives/hp", 400, exact="Device not found")
    for _ in range(2):
        r.expect("PUT", "/drives/hp", 204, body=drive("hp", hp))
        r.expect("DELETE", "/drives/hp", 204)
    check("plugged into slot 2" in r.stderr() and "slot 3" not in r.stderr(),
          "the freed slot is taken again:\n%s" % r.stderr())
    r.expect("PATCH", "/vm", 204, body={"state": "Paused"})
    r.expect("PUT", "/snapshot/create", 204, body=snap)
    r.stop()


def io_urings(pid):
    """How many io_uring rings pid holds; None where its fds are not ours to read."""
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return None
    n = 0
    for fd in names:
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "anon_inode:[io_uring]"
        except OSError:
            pass
    return n


SPARE_RINGS = 19   # VM_PCI_SPARE_RINGS (src/vmm/vm_pci_hotplug.h); VM_MAX_DRIVES is 31


def case_rings(binary, tmp):
    need_kvm()
    s, d = boot(binary, tmp, "rings", ["--enable-pci"])
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    at_start = io_urings(s.p.pid)
    check(at_start is None or at_start >= SPARE_RINGS + 1,
          "%s io_uring rings at start: fewer than the disks and pmem devices that may "
          "still be plugged in" % at_start)
    ids = ["d%d" % i for i in range(SPARE_RINGS)]
    for rnd in range(2):
        for i in ids:
            s.expect("PUT", "/drives/" + i, 204, body=drive(i, image(d, i + ".img")))
        # The model takes 31 drives, the VM has rings for 19: the 20th is refused, not kept.
        s.expect("PUT", "/drives/dx", 400, body=drive("dx", image(d, "dx.img")),
                 fault=["drive 'dx': no io_uring ring is left for it",
                        "the %d made are all taken by disks plugged in since" % SPARE_RINGS])
        s.expect("PUT", "/pmem/p0", 204, body={"id": "p0", "path_on_host": image(d, "pm.img")})
        check(drive_ids(s) == ids, "round %d: GET /vm/config lists %r" % (rnd, drive_ids(s)))
        now = io_urings(s.p.pid)
        check(now == at_start, "round %d: %s io_uring rings with %d disks and a pmem device "
              "plugged in, %s at start: a ring was made after the seal" %
              (rnd, now, len(ids), at_start))
        for i in ids:
            s.expect("DELETE", "/drives/" + i, 204)
        s.expect("DELETE", "/pmem/p0", 204)
        check(drive_ids(s) == [] and pmem_ids(s) == [], "round %d: not all unplugged" % rnd)
    s.stop()

    # Too few descriptors at start for the rings: none made, the VM runs, plugs are refused.
    sub = os.path.join(tmp, "norings")
    os.makedirs(os.path.join(sub, "snap"), exist_ok=True)
    kernel = os.path.join(sub, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    s = Serve(binary, sub, cmd=["prlimit", "--nofile=32:4096", binary, "serve", "--enable-pci",
                                "--snapshot-dir", os.path.join(sub, "snap"),
                                "--api-sock", os.path.join(sub, "api.sock")])
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 1, "mem_size_mib": 64})
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    err = s.stderr()
    for what in ("disks", "pmem devices"):
        check("pci: cannot make the 19 io_uring rings for %s plugged in after start "
              "(Too many open files): such a plug will be refused" % what in err,
              "no warning for the %s' rings:\n%s" % (what, err))
    s.expect("PUT", "/drives/hp", 400, body=drive("hp", image(sub, "hp.img")),
             fault=["drive 'hp': no io_uring ring for it", "made when the microVM started",
                    "none could be made then (Too many open files)"])
    s.expect("PUT", "/pmem/p0", 400, body={"id": "p0", "path_on_host": image(sub, "pm.img")},
             fault=["pmem 'p0': no io_uring ring for it", "(Too many open files)"])
    check(drive_ids(s) == [] and pmem_ids(s) == [], "a refused plug stayed in the model")
    s.stop()
    print("rings: %s at start, none made after the seal; a VM without them refuses plugs"
          % at_start)


CASES = {"api": case_api, "rings": case_rings}

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-pcihp-"))
