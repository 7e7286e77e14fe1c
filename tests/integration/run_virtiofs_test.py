#!/usr/bin/env python3
"""virtio-fs (Hearth's extension: `--fs`, PUT /fs/{id}, the config file's
"fs") against Debian's virtiofsd (qemu-system-common), seccomp filters on:

    run_virtiofs_test.py --hearth PATH [--asan PATH] [--case api|cli]

  api   PUT /fs/{id}'s refusals, each named (an id unlike the path's, a tag
        too long or with a space, a tag another device has, no socket), GET
        /vm/config's "fs". After boot (on a /dev/kvm that runs the smallest
        guest; Hearth negotiates with the daemon and hands it the RAM, one
        memfd): a second PUT is refused after start; a paused VM's
        snapshot, fork and migration are 400s naming virtio-fs; the daemon
        is killed with -9 and Hearth goes on answering, says the file
        system needs a reset, and exits cleanly on SIGTERM.
  cli   `hearth run --fs`'s refusals (no tag, a key it does not take, a tag
        given twice), a socket nobody serves named at start (exit 2), and a
        config file's "fs" that boots against a live daemon.
"""
import json
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

VIRTIOFSD = "/usr/lib/qemu/virtiofsd"
AFTER = "The requested operation is not supported after starting the microVM."
MEM_MIB = 64

# One refusal, one wording, for each operation (vmm/refusal.c).
REFUSED = ("virtio-fs 'share': its open files and the guest's FUSE state are virtiofsd's, "
           "which cannot save, move or share them")


def daemon(tmp, name="fs.sock"):
    """virtiofsd sharing tmp/share on tmp/NAME; (process, socket)."""
    check(os.access(VIRTIOFSD, os.X_OK),
          "%s not found (scripts/deps.sh installs qemu-system-common)" % VIRTIOFSD)
    share, sock = os.path.join(tmp, "share"), os.path.join(tmp, name)
    os.makedirs(share, exist_ok=True)
    p = subprocess.Popen([VIRTIOFSD, "--socket-path=" + sock, "-o", "source=" + share,
                          "-o", "sandbox=chroot"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(tmp, name + ".err"), "wb"))
    for _ in range(200):
        if os.path.exists(sock):
            return p, sock
        check(p.poll() is None, "virtiofsd exited with %s" % p.returncode)
        time.sleep(0.05)
    p.kill()
    raise AssertionError("virtiofsd made no socket")


def reap(p):
    if p.poll() is None:
        p.kill()
    p.wait()


def kernel_of(tmp):
    k = os.path.join(tmp, "k.elf")
    with open(k, "wb") as f:
        f.write(tiny_elf(power_off=False))
    return k


def case_api(binary, tmp):
    q, sock = daemon(tmp)
    try:
        api(binary, tmp, q, sock)
    finally:
        reap(q)


def api(binary, tmp, q, sock):
    s = Serve(binary, tmp)
    kernel = kernel_of(tmp)
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 1, "mem_size_mib": MEM_MIB})
    fs = {"id": "share", "tag": "hostshare", "socket": sock}
    s.expect("PUT", "/fs/other", 400, body=fs, fault=["does not match the id"])
    s.expect("PUT", "/fs/share", 400, body=dict(fs, tag="t" * 37), fault=["at most 36"])
    s.expect("PUT", "/fs/share", 400, body=dict(fs, tag="a b"), fault=["printable ASCII"])
    s.expect("PUT", "/fs/share", 400, body=dict(fs, tag=""), fault=["needs a tag"])
    s.expect("PUT", "/fs/share", 400, body={"id": "share", "tag": "t"}, fault=["socket"])
    s.expect("PUT", "/fs/share", 204, body=fs)
    s.expect("PUT", "/fs/second", 400, body=dict(fs, id="second"),
             fault=["tag 'hostshare' is fs 'share''s already"])
    got = s.expect("GET", "/vm/config", 200).get("fs")
    check(got == [fs], "GET /vm/config fs: %r" % got)
    if not kvm_usable():
        s.stop()
        need_kvm("after boot, this case")
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    ram = memfd_ram_bytes(s.p.pid)
    check(ram >= MEM_MIB << 20, "guest RAM in the memfd: %d bytes of %d MiB" % (ram, MEM_MIB))
    s.expect("PUT", "/fs/second", 400, body=dict(fs, id="second", tag="x"), exact=AFTER)
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
    while "the file system needs a reset" not in s.stderr():
        check(time.monotonic() < deadline, "no warning that the daemon closed:\n%s" % s.stderr())
        time.sleep(0.05)
    check(sock in s.stderr(), "the warning names the socket:\n%s" % s.stderr())
    check(s.expect("GET", "/", 200)["state"] == "Running", "still Running after the kill")
    s.stop()


def run(binary, args, timeout=30):
    return subprocess.run([binary, "run"] + args, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def case_cli(binary, tmp):
    kernel = kernel_of(tmp)
    base = ["--kernel", kernel, "--memory", str(MEM_MIB)]
    for spec, words in [("socket=/x.sock", "needs a tag"),
                        ("tag=a,socket=/x.sock,cache=none", "'cache=none': want tag=TAG"),
                        ("tag=a,tag=b,socket=/x.sock", "'tag=b': want tag=TAG"),
                        ("tag=" + "t" * 40 + ",socket=/x.sock", "want tag=TAG"),
                        ("tag=a", "needs the socket")]:
        r = run(binary, base + ["--fs", spec])
        check(r.returncode == 2 and "--fs" in r.stderr and words in r.stderr,
              "--fs %s: exit %d, stderr %r (want 2 and %r)" % (spec, r.returncode, r.stderr, words))
    r = run(binary, base + ["--fs", "tag=a,socket=/x.sock", "--fs", "tag=a,socket=/y.sock"])
    check(r.returncode == 2 and "tag 'a' is fs 'fs0''s already" in r.stderr,
          "a tag given twice: exit %d, %r" % (r.returncode, r.stderr))
    need_kvm("the boots")
    gone = os.path.join(tmp, "nobody.sock")
    r = run(binary, base + ["--fs", "tag=a,socket=" + gone])
    check(r.returncode == 2 and gone in r.stderr, "a socket nobody serves: exit %d, %r" %
          (r.returncode, r.stderr))
    q, sock = daemon(tmp)
    try:
        cfg = os.path.join(tmp, "vm.json")
        with open(cfg, "w") as f:
            json.dump({"boot-source": {"kernel_image_path": kernel},
                       "machine-config": {"vcpu_count": 1, "mem_size_mib": MEM_MIB},
                       "fs": [{"id": "cfgfs", "tag": "cfgtag", "socket": sock}]}, f)
        s = Serve(binary, tmp, args=["--config-file", cfg])
        deadline = time.monotonic() + 10
        while s.expect("GET", "/", 200)["state"] != "Running":
            check(time.monotonic() < deadline, "not Running:\n%s" % s.stderr())
            time.sleep(0.05)
        got = s.expect("GET", "/vm/config", 200).get("fs")
        check(got == [{"id": "cfgfs", "tag": "cfgtag", "socket": sock}], "fs: %r" % got)
        check(memfd_ram_bytes(s.p.pid) >= MEM_MIB << 20, "RAM not in a memfd")
        s.stop()
    finally:
        reap(q)


CASES = {"api": case_api, "cli": case_cli}

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-vfs-"))
