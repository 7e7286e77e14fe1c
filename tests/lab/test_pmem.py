#!/usr/bin/env python3
"""Lab test of virtio-pmem: the stock kernel's virtio_pmem and nd_pmem
drivers against Hearth's device, driven through the API (curl on the Unix
socket, in L1):

    tests/lab/test_pmem.py [--hearth PATH] [--stream]

  pmem      hearth serve, 1 vCPU, 256 MiB, one pmem device backed by an
            ext4 image made here (4 KiB blocks, a file "hello" in it).
            1. The guest's driver takes the device: /dev/pmem0, 16 MiB,
               a DAX-capable queue.
            2. mount -o dax: /proc/mounts says dax, and the file reads.
            3. The guest writes a file and syncs: the sync reaches the
               device as FLUSH requests (the metrics' pmem_p0 flushes),
               and the bytes are in the image in L1 (the window is the
               file, MAP_SHARED).
            4. A second device, read only and the root device, on a copy
               of the image: the kernel command line says root=/dev/pmem1
               ro, mount -o ro,dax reads its file with DAX on, and the
               copy is byte for byte what it was.
            5. The guest boots on from that root: the initramfs's /init
               mounts /dev/pmem1 ro,dax and switch_roots into it (as a
               distribution's initramfs does: Debian's kernel has the
               pmem drivers as modules), and the image's own /init (a
               static busybox inside it) runs as PID 1 from a / that
               /proc/mounts shows on /dev/pmem1 with DAX, then powers
               off; Hearth exits 0 and its last metrics line holds the
               flushes.

Prints one line per check and `N passed, N failed`. Exit 0 all passed, 1 a
check failed, 3 lab failure (tests/lab/README.md).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402

RUN_TIMEOUT = 600
CMDLINE = (L.L2_CONSOLE + " reboot=k panic=-1 lab.pmem=1 lab.action=switch-root "
           "lab.newroot=/dev/pmem1 lab.rootflags=ro,dax")
# The image's /init: what runs once the guest has switched to it as its root.
NEWROOT_INIT = r'''#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
echo "LAB pm newroot=$(/bin/busybox awk '$2 == "/" {print $1, $4}' /proc/mounts)"
echo "LAB pm newroot_hello=$(/bin/busybox cat /hello)"
echo "LAB pm newroot_pid=$$"
/bin/busybox poweroff -f
'''
IMAGE_MIB = 16
MARK = "pmem-lab-hello"

L2_SCRIPT = r'''
grep -q lab.pmem=1 /proc/cmdline || exit 0
n=0; while [ ! -b /dev/pmem0 ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
echo "LAB pm dev=$(ls /dev/pmem0 2>/dev/null)"
echo "LAB pm sectors=$(cat /sys/block/pmem0/size 2>/dev/null)"
echo "LAB pm qdax=$(cat /sys/block/pmem0/queue/dax 2>/dev/null)"
mkdir -p /mnt
mount -t ext4 -o dax /dev/pmem0 /mnt && echo "LAB pm mounted=1"
echo "LAB pm opts=$(grep ' /mnt ' /proc/mounts)"
echo "LAB pm hello=$(cat /mnt/hello 2>/dev/null)"
echo "guest-wrote-this" >/mnt/new && sync && echo "LAB pm synced=1"
umount /mnt && echo "LAB pm umounted=1"
echo "LAB pm cmdline=$(grep -o 'root=[^ ]* r[ow]' /proc/cmdline)"
mkdir -p /ro
mount -t ext4 -o ro,dax /dev/pmem1 /ro && echo "LAB pm ro_mounted=1"
echo "LAB pm ro_opts=$(grep ' /ro ' /proc/mounts)"
echo "LAB pm ro_hello=$(cat /ro/hello 2>/dev/null)"
umount /ro
dmesg | grep -i -e pmem -e dax -e nd_ | tail -n 8 | sed 's/^/LAB pm dmesg /'
'''

SCRIPT = L.SH_API + r'''
H=/lab/bin/hearth
S=/tmp/p.sock
cp /lab/pmem.img /tmp/pmem.img
cp /lab/pmem.img /tmp/ro.img
ro_sum=$(md5sum </tmp/ro.img)
$H serve --api-sock $S </dev/null >/tmp/g.out 2>/tmp/h.err & hp=$!
waitsock
echo "PM boot=$(api PUT /boot-source '{"kernel_image_path": "@KERNEL@", "initrd_path": "@L2_INITRD@", "boot_args": "@CMDLINE@"}')"
echo "PM machine=$(api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}')"
echo "PM metrics=$(api PUT /metrics '{"metrics_path": "/tmp/m.json"}')"
echo "PM put=$(api PUT /pmem/p0 '{"id": "p0", "path_on_host": "/tmp/pmem.img"}') $(cat /tmp/resp)"
echo "PM put_ro=$(api PUT /pmem/ro '{"id": "ro", "path_on_host": "/tmp/ro.img", "read_only": true, "root_device": true}') $(cat /tmp/resp)"
echo "PM start=$(api PUT /actions '{"action_type": "InstanceStart"}') $(cat /tmp/resp)"
# The guest powers off from its pmem root (or, that failing, from the initramfs);
# a guest that does neither within 120 s is stopped, and the exit says so.
n=0; while kill -0 $hp 2>/dev/null && [ $n -lt 1200 ]; do sleep 0.1; n=$((n+1)); done
kill -TERM $hp 2>/dev/null; wait $hp; echo "PM exit=$?"
echo "PM group=$(tail -n 1 /tmp/m.json | grep -o '"pmem_p0":{[^}]*}' | grep flushes)"
echo "PM in_image=$(grep -c guest-wrote-this /tmp/pmem.img)"
[ "$(md5sum </tmp/ro.img)" = "$ro_sum" ] && echo "PM ro_same=1"
tr -d '\r' </tmp/g.out | grep '^LAB pm ' | sed 's/^/G /'
sed 's/^/H /' /tmp/h.err | head -n 20
echo "PM done=yes"
'''


def script():
    return SCRIPT.replace("@KERNEL@", L.L1_KERNEL).replace("@CMDLINE@", CMDLINE)


def l2_initrd(kernel):
    return L.build_l2_initrd(kernel, name="l2pmem",
                             modules=["virtio_mmio", "virtio_pmem", "nd_pmem", "ext4"],
                             extra_sh=L2_SCRIPT)


def make_image(d):
    """An ext4 image with 4 KiB blocks (DAX wants the page size) holding /hello,
    and a root to boot on from: /init, a static busybox, /proc."""
    root = os.path.join(d, "root")
    os.mkdir(root)
    with open(os.path.join(root, "hello"), "w") as f:
        f.write(MARK + "\n")
    for sub in ("bin", "proc", "dev"):
        os.mkdir(os.path.join(root, sub))
    shutil.copy(L.BUSYBOX, os.path.join(root, "bin", "busybox"))
    with open(os.path.join(root, "init"), "w") as f:
        f.write(NEWROOT_INIT)
    os.chmod(os.path.join(root, "init"), 0o755)
    img = os.path.join(d, "pmem.img")
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-d", root, img,
                    "%dM" % IMAGE_MIB], check=True)
    return img


def info(r):
    out = {}
    for l in r.guest_lines:
        m = re.match(r"^(?:G LAB pm|PM) (\w+)=(.*)$", l.strip())
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2)
    return out


def check_pmem(r):
    a = info(r)
    st = lambda k: (a.get(k) or "").split(" ")[0]  # noqa: E731
    yield st("put") == "204" and st("start") == "204", \
        "PUT /pmem and InstanceStart are 204 (%s; %s)" % (a.get("put"), a.get("start"))
    yield a.get("dev") == "/dev/pmem0", "the guest's driver made /dev/pmem0 (%s)" % a.get("dev")
    yield a.get("sectors") == str(IMAGE_MIB * 2048), \
        "/dev/pmem0 is the image's %d MiB (%s sectors)" % (IMAGE_MIB, a.get("sectors"))
    yield a.get("qdax") == "1", "its queue is DAX capable (%s)" % a.get("qdax")
    yield a.get("mounted") == "1" and "dax" in a.get("opts", ""), \
        "mount -o dax: DAX is on (%s)" % a.get("opts")
    yield a.get("hello") == MARK, "the image's file reads in the guest (%r)" % a.get("hello")
    yield a.get("synced") == "1" and a.get("umounted") == "1", "the guest wrote, synced, unmounted"
    m = re.search(r'"flushes":(\d+)', a.get("group", ""))
    yield m is not None and int(m.group(1)) > 0, \
        "the sync reached the device as flushes (%s)" % a.get("group")
    yield num(a.get("in_image")) and num(a.get("in_image")) > 0, \
        "the guest's bytes are in the backing file (%s)" % a.get("in_image")
    yield st("put_ro") == "204", "PUT of a read-only root pmem device (%s)" % a.get("put_ro")
    yield a.get("cmdline") == "root=/dev/pmem1 ro", \
        "the root device is on the command line (%s)" % a.get("cmdline")
    yield a.get("ro_mounted") == "1" and "dax" in a.get("ro_opts", "") and \
        a.get("ro_hello") == MARK, "the read-only device mounts ro,dax and reads (%s; %r)" % (
            a.get("ro_opts"), a.get("ro_hello"))
    yield a.get("ro_same") == "1", "the read-only device's file is unchanged"
    root = (a.get("newroot") or "").split(" ")
    yield len(root) == 2 and root[0] == "/dev/pmem1" and "dax" in root[1] and \
        a.get("newroot_pid") == "1" and a.get("newroot_hello") == MARK, \
        "the guest booted on from the pmem root: / on /dev/pmem1 with DAX, its /init as " \
        "PID 1 (%s; pid %s; %r)" % (a.get("newroot"), a.get("newroot_pid"),
                                     a.get("newroot_hello"))
    yield st("exit") == "0", "Hearth exits 0 when the guest powers off (%s)" % a.get("exit")
    yield a.get("done") == "yes", "the plan ran to its end"


def num(v):
    m = re.match(r"\s*(\d+)", v or "")
    return int(m.group(1)) if m else None


def run(kernel):
    """The run, to be planned in any L1 boot (test_api.py shares its own); its
    image is files(d)'s, made in d."""
    r = L.ShellRun("pmem", "hearth", script(), timeout=RUN_TIMEOUT)
    r.initrd = l2_initrd(kernel)
    return r


def files(d):
    """What the run needs in L1: its ext4 image, made in d (which must outlive the plan)."""
    return {"/lab/pmem.img": make_image(d)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    curl = shutil.which("curl")
    if not curl or not shutil.which("mkfs.ext4"):
        print("FAIL curl and mkfs.ext4 are needed (scripts/deps.sh build installs them)")
        print("0 passed, 1 failed")
        return 1
    with tempfile.TemporaryDirectory() as d:
        try:
            lab = L.Lab(stream=a.stream or None)
            res = lab.run_plan([run(lab.kernel)], tag="pmem", binaries={"/bin/curl": curl},
                               files=files(d))
        except L.LabError as e:
            print("LAB FAILURE: %s" % e)
            return 3
    return L.report(res, [("pmem", check_pmem)])


if __name__ == "__main__":
    sys.exit(main())
