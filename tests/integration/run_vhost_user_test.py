#!/usr/bin/env python3
"""vhost-user block drives through a real `hearth serve` socket, seccomp
filters on, against QEMU's qemu-storage-daemon (Debian qemu-system-common)
exporting a raw file as vhost-user-blk:

    run_vhost_user_test.py --hearth PATH [--asan PATH] [--case api]

  api   before boot: PUT /drives with a socket, its refusals in
        Firecracker's words (with path_on_host, with is_read_only, a socket
        nobody serves, named), GET /vm/config's drive (socket, null
        path_on_host, is_read_only, io_engine, rate_limiter), PATCH refused
        before boot. After boot (on a /dev/kvm that runs the smallest
        guest; Hearth connects again and negotiates with the daemon; its
        guest RAM is one memfd, which the daemon maps): a VM
        with memory hotplug besides is InstanceStart's 400 naming why;
        PATCH /drives with the id alone is 204 and with a path_on_host 400;
        a paused VM's snapshot is 400 in Firecracker's words; the daemon is
        killed with -9 and Hearth goes on answering its API, says which
        backend closed, and exits cleanly on SIGTERM.
"""
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, kvm_usable, memfd_ram_bytes, need_kvm, run_cases, tiny_elf  # noqa: E402
from run_api_test import Serve  # noqa: E402

PRE = "The requested operation is not supported before starting the microVM."
INVALID = "Unable to create the virtio block device: Invalid block config."
QSD = "qemu-storage-daemon"
MEM_MIB = 64

# One refusal, one wording, for each operation (vmm/refusal.c).
REFUSED = ("vhost-user-block 'vub': its rings' state and requests in flight are its "
           "backend's, and its writes to guest memory out of the dirty log's sight")


def daemon(tmp):
    """qemu-storage-daemon exporting a 16 MiB file on tmp/vub.sock; (process, socket)."""
    qsd = shutil.which(QSD)
    check(qsd is not None, "%s not found (scripts/deps.sh lab installs qemu-system-common)" % QSD)
    img, sock = os.path.join(tmp, "vub.img"), os.path.join(tmp, "vub.sock")
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    p = subprocess.Popen([qsd, "--blockdev", "driver=file,node-name=f0,filename=" + img,
                          "--export", "type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,"
                          "addr.path=%s,writable=on" % sock],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(tmp, "qsd.err"), "wb"))
    for _ in range(200):
        if os.path.exists(sock):
            return p, sock
        check(p.poll() is None, "%s exited with %s" % (QSD, p.returncode))
        time.sleep(0.05)
    p.kill()
    raise AssertionError("%s made no socket" % QSD)


def case_api(binary, tmp):
    q, sock = daemon(tmp)
    try:
        api(binary, tmp, q, sock)
    finally:
        if q.poll() is None:
            q.kill()
        q.wait()


def refused_with(binary, tmp, sock, kernel, path, body, words):
    """A VM the backend cannot serve (its RAM out of the memfd's reach): InstanceStart's 400."""
    d = os.path.join(tmp, "refused")
    os.makedirs(d, exist_ok=True)
    s = Serve(binary, d)
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 1, "mem_size_mib": MEM_MIB})
    s.expect("PUT", "/drives/vub", 204, body={"drive_id": "vub", "socket": sock,
                                              "is_root_device": False})
    s.expect("PUT", path, 204, body=body)
    s.expect("PUT", "/actions", 400, body={"action_type": "InstanceStart"}, fault=[words])
    s.stop()


def api(binary, tmp, q, sock):
    s = Serve(binary, tmp)
    kernel = os.path.join(tmp, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 1, "mem_size_mib": MEM_MIB})
    drive = {"drive_id": "vub", "socket": sock, "is_root_device": False}
    s.expect("PUT", "/drives/vub", 400, body=dict(drive, path_on_host=kernel), fault=[INVALID])
    s.expect("PUT", "/drives/vub", 400, body=dict(drive, is_read_only=True), fault=[INVALID])
    gone = os.path.join(tmp, "nobody.sock")
    s.expect("PUT", "/drives/vub", 400, body=dict(drive, socket=gone),
             fault=["Unable to create the virtio block device", gone])
    s.expect("PUT", "/drives/vub", 204, body=drive)
    got = s.expect("GET", "/vm/config", 200)["drives"]
    want = [{"drive_id": "vub", "path_on_host": None, "is_root_device": False,
             "is_read_only": None, "cache_type": "Unsafe", "io_engine": None, "partuuid": None,
             "socket": sock, "rate_limiter": None}]
    check(got == want, "GET /vm/config drives: %r" % got)
    s.expect("PATCH", "/drives/vub", 400, body={"drive_id": "vub"}, exact=PRE)
    if not kvm_usable():
        s.stop()
        need_kvm("after boot, this case")
    refused_with(binary, tmp, sock, kernel, "/hotplug/memory", {"total_size_mib": 512},
                 "memory hotplug with a vhost-user drive")
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    # Guest RAM the backend can map: all of it in one memfd.
    ram = memfd_ram_bytes(s.p.pid)
    check(ram >= MEM_MIB << 20, "guest RAM in the memfd: %d bytes of %d MiB" % (ram, MEM_MIB))
    s.expect("PATCH", "/drives/vub", 204, body={"drive_id": "vub"})
    s.expect("PATCH", "/drives/vub", 400, body={"drive_id": "vub", "path_on_host": kernel},
             fault=["Running method expected different backend"])
    s.expect("PATCH", "/vm", 204, body={"state": "Paused"})
    s.expect("PUT", "/snapshot/create", 400,
             body={"snapshot_path": os.path.join(tmp, "s"), "mem_file_path": os.path.join(tmp, "m")},
             exact="snapshot/create: this VM cannot be snapshotted: " + REFUSED)
    s.expect("PUT", "/fork", 400, body={"count": 1, "clone": {"api_sock": "c.sock"}},
             exact="fork: this VM cannot be forked: " + REFUSED)
    s.expect("PUT", "/migrate", 400, body={"uri": "unix:" + os.path.join(tmp, "m.sock")},
             exact="migrate: this VM cannot be migrated: " + REFUSED)
    s.expect("PATCH", "/vm", 204, body={"state": "Resumed"})
    q.send_signal(signal.SIGKILL)
    q.wait()
    deadline = time.monotonic() + 10
    while "closed its socket" not in s.stderr():
        check(time.monotonic() < deadline, "no warning that the backend closed:\n%s" % s.stderr())
        time.sleep(0.05)
    check(sock in s.stderr(), "the warning names the socket:\n%s" % s.stderr())
    check(s.expect("GET", "/", 200)["state"] == "Running", "still Running after the kill")
    s.expect("GET", "/vm/config", 200)
    # The backend is gone: its config cannot be read again, and the PATCH says so.
    s.expect("PATCH", "/drives/vub", 400, body={"drive_id": "vub"}, fault=[sock])
    s.stop()


CASES = {"api": case_api}

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-vub-"))
