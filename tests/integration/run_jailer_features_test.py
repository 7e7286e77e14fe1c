#!/usr/bin/env python3
"""Every feature inside the jail, exactly as outside it (issue 48, item 2): a
`firecracker` started by Hearth's `jailer`, all its paths inside the jail.

    run_jailer_features_test.py --hearth build/hearth --case features|virtiofs|fork

A jailed VM with a user-mode NIC and an MMDS on it starts (libslirp is
opened lazily, inside the jail: the jailer put it there with what it
needs), its MMDS takes data; paused, it writes a snapshot at paths
relative to the jail's root ("vmstate", "mem"), as Firecracker's own
tests do; a second jail, given those files as Firecracker's framework
gives them (hard links into its root), loads them at relative paths and
runs on. virtiofs: a jailed VM with a virtio-fs device whose virtiofsd
listens inside the jail (the path relative to its root) starts, lists it
in GET /vm/config, and runs on once the daemon is killed. fork: a jailed
firecracker given `--fork-dir /fd` boots the tick guest and PUT /fork
makes 3 clones, each running in the jail as its uid, its own disk image,
serial file and API socket beneath /fd. Needs root and
a /dev/kvm that runs the smallest guest (else it skips). Everything it
made is removed, failed or not.
"""
import shutil
import signal
import subprocess
import time
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, need_kvm, need_root, reap_orphans, run_cases, tiny_elf  # noqa: E402
from run_jailer_test import (GID, UID, Undo, has_jailer, jailer_bin, kill_and_wait,  # noqa: E402
                             kill_pid_file, run_jailer, wait_for)
from run_pidns_test import request  # noqa: E402
from run_fork_test import ticks, TICK  # noqa: E402


def start_jail(j, fc, base, jid, undo, extra=()):
    """A daemonized jailed firecracker (extra: its own arguments); its root and socket."""
    root = os.path.join(base, "firecracker", jid, "root")
    undo.add(kill_pid_file, os.path.join(root, "firecracker.pid"))
    r = run_jailer(j, ["--id", jid, "--exec-file", fc, "--uid", str(UID), "--gid", str(GID),
                       "--chroot-base-dir", base, "--daemonize"] +
                   (["--"] + list(extra) if extra else []))
    check(r.returncode == 0, "jailer %s: exit %d:\n%s" % (jid, r.returncode, r.stderr.decode()))
    pid_file = os.path.join(root, "firecracker.pid")
    wait_for(lambda: os.path.exists(pid_file) and os.path.getsize(pid_file) > 0, "the pid file")
    with open(pid_file) as f:
        pid = int(f.read())
    undo.add(kill_and_wait, pid)
    sock = os.path.join(root, "run", "firecracker.socket")
    wait_for(lambda: os.path.exists(sock), "the API socket")
    return root, sock


def expect(sock, method, path, status, body=None):
    got, js = request(sock, method, path, body)
    check(got == status, "%s %s: %d, expected %d: %r" % (method, path, got, status, js))
    return js


def case_features(binary, tmp):
    need_root("the jailer")
    need_kvm()
    j, fc = jailer_bin(binary, tmp)
    check(has_jailer(j), "%s does not run as `jailer`" % binary)
    base = os.path.join(tmp, "base")
    os.mkdir(base)
    with Undo() as undo:
        root, sock = start_jail(j, fc, base, "feat-a-%d" % os.getpid(), undo)
        with open(os.path.join(root, "kernel.elf"), "wb") as f:
            f.write(tiny_elf(power_off=False))
        os.chown(os.path.join(root, "kernel.elf"), UID, GID)
        expect(sock, "PUT", "/boot-source", 204, {"kernel_image_path": "kernel.elf"})
        expect(sock, "PUT", "/machine-config", 204, {"vcpu_count": 1, "mem_size_mib": 64})
        expect(sock, "PUT", "/network-interfaces/eth0", 204,
               {"iface_id": "eth0", "backend": "user"})
        expect(sock, "PUT", "/mmds/config", 204, {"network_interfaces": ["eth0"],
                                                  "version": "V2"})
        expect(sock, "PUT", "/mmds", 204, {"latest": {"meta-data": {"id": "jailed"}}})
        # A user-mode NIC needs libslirp, opened only now, inside the jail.
        expect(sock, "PUT", "/actions", 204, {"action_type": "InstanceStart"})
        check(expect(sock, "GET", "/mmds", 200) == {"latest": {"meta-data": {"id": "jailed"}}},
              "the MMDS data")
        expect(sock, "PATCH", "/vm", 204, {"state": "Paused"})
        # Where Firecracker writes them: relative to the jail's root.
        expect(sock, "PUT", "/snapshot/create", 204, {"snapshot_path": "vmstate",
                                                      "mem_file_path": "mem"})
        for name in ("vmstate", "mem"):
            check(os.path.getsize(os.path.join(root, name)) > 0, "no %s in the jail" % name)
        # A second jail loads them, handed in as Firecracker's framework does.
        root2, sock2 = start_jail(j, fc, base, "feat-b-%d" % os.getpid(), undo)
        for name in ("vmstate", "mem"):
            os.link(os.path.join(root, name), os.path.join(root2, name))
        expect(sock2, "PUT", "/snapshot/load", 204, {
            "snapshot_path": "vmstate", "mem_backend": {"backend_type": "File",
                                                        "backend_path": "mem"},
            "network_overrides": [{"iface_id": "eth0", "backend": "user"}],
            "resume_vm": True})
        js = expect(sock2, "GET", "/", 200)
        check(js.get("state") == "Running", "the loaded VM: %r" % js)


def case_virtiofs(binary, tmp):
    vfsd = "/usr/lib/qemu/virtiofsd"
    need_root("the jailer")
    need_kvm("the smallest guest")
    check(os.access(vfsd, os.X_OK), "%s not found (scripts/deps.sh installs "
          "qemu-system-common)" % vfsd)
    j, fc = jailer_bin(binary, tmp)
    check(has_jailer(j), "%s does not run as `jailer`" % binary)
    base = os.path.join(tmp, "base")
    os.mkdir(base)
    share = os.path.join(tmp, "share")
    os.mkdir(share)
    with Undo() as undo:
        root, sock = start_jail(j, fc, base, "feat-fs-%d" % os.getpid(), undo)
        fsock = os.path.join(root, "fs.sock")
        d = subprocess.Popen([vfsd, "--socket-path=" + fsock, "-o", "source=" + share, "-o",
                              "sandbox=chroot"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        undo.add(lambda p: (p.poll() is None and p.kill(), p.wait()), d)
        wait_for(lambda: os.path.exists(fsock), "virtiofsd's socket")
        os.chown(fsock, UID, GID)       # the jailed VMM's uid connects to it
        with open(os.path.join(root, "kernel.elf"), "wb") as f:
            f.write(tiny_elf(power_off=False))
        os.chown(os.path.join(root, "kernel.elf"), UID, GID)
        expect(sock, "PUT", "/boot-source", 204, {"kernel_image_path": "kernel.elf"})
        expect(sock, "PUT", "/machine-config", 204, {"vcpu_count": 1, "mem_size_mib": 64})
        expect(sock, "PUT", "/fs/share", 204, {"id": "share", "tag": "hostshare",
                                               "socket": "fs.sock"})
        expect(sock, "PUT", "/actions", 204, {"action_type": "InstanceStart"})
        got = expect(sock, "GET", "/vm/config", 200).get("fs")
        check(got == [{"id": "share", "tag": "hostshare", "socket": "fs.sock"}], "fs: %r" % got)
        d.send_signal(signal.SIGKILL)
        d.wait()
        time.sleep(0.5)
        js = expect(sock, "GET", "/", 200)
        check(js.get("state") == "Running", "after the daemon's death: %r" % js)


def case_fork(binary, tmp):
    need_root("the jailer")
    need_kvm("the smallest guest")
    j, fc = jailer_bin(binary, tmp)
    check(has_jailer(j), "%s does not run as `jailer`" % binary)
    base = os.path.join(tmp, "base")
    os.mkdir(base)
    jid = "feat-fork-%d" % os.getpid()
    root = os.path.join(base, "firecracker", jid, "root")
    n = 3
    # The clones' directory is the jail's before the jailer makes it its root.
    os.makedirs(os.path.join(root, "fd"))
    for name in ["scratch.img"] + ["fd/d%d.img" % i for i in range(n)]:
        with open(os.path.join(root, name), "wb") as f:
            f.truncate(1 << 20)
    shutil.copy(TICK, os.path.join(root, "tick.elf"))
    for x in ["fd", "tick.elf", "scratch.img"] + ["fd/d%d.img" % i for i in range(n)]:
        os.chown(os.path.join(root, x), UID, GID)
    with Undo() as undo:
        root, sock = start_jail(j, fc, base, jid, undo, ["--fork-dir", "/fd"])
        expect(sock, "PUT", "/boot-source", 204, {"kernel_image_path": "tick.elf",
                                                  "boot_args": "every=4"})
        expect(sock, "PUT", "/machine-config", 204, {"vcpu_count": 1, "mem_size_mib": 64})
        expect(sock, "PUT", "/drives/scratch", 204, {
            "drive_id": "scratch", "path_on_host": "scratch.img", "is_root_device": False,
            "is_read_only": False})
        expect(sock, "PUT", "/actions", 204, {"action_type": "InstanceStart"})
        js = expect(sock, "PUT", "/fork", 200, {
            "count": n, "clone": {"api_sock": "c{i}.sock", "serial_out": "c{i}.out",
                                  "drive_overrides": [{"drive_id": "scratch",
                                                       "path_on_host": "d{i}.img",
                                                       "is_read_only": False}]}})
        pids = [c["pid"] for c in js["clones"]]
        for pid in pids:
            undo.add(kill_and_wait, pid)
        for i, pid in enumerate(pids):
            out = os.path.join(root, "fd", "c%d.out" % i)
            wait_for(lambda: len(ticks(out)) >= 2, "clone %d's lines" % i)
            with open("/proc/%d/status" % pid) as f:
                uid = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
            # Its root is the jail's: its own image lies at /fd there.
            check(uid == [str(UID)] * 4 and os.path.samefile(
                "/proc/%d/root/fd/d%d.img" % (pid, i), os.path.join(root, "fd", "d%d.img" % i)),
                  "clone %d runs in the jail as the jail's uid: %r" % (i, uid))
            csock = os.path.join(root, "fd", "c%d.sock" % i)
            got = expect(csock, "GET", "/", 200)
            check(got.get("state") == "Running", "clone %d's API: %r" % (i, got))
        check(expect(sock, "GET", "/", 200).get("state") == "Running",
              "the jailed template runs on")


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, {"features": case_features, "virtiofs": case_virtiofs,
                                 "fork": case_fork},
                       "hearth-jailer-feat-", cleanup=reap_orphans))
