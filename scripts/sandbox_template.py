#!/usr/bin/env python3
"""A template for `hearth sandboxes` (docs/sandboxes.md, "Templates"), built offline.

    scripts/sandbox_template.py OUT_DIR --agent BUILD/src/agent/hearth-agent
        [--debian [--suite bookworm] [--packages a,b,...] [--mirror URL]] [--minimal]
        [--size-mb N] [--memory MiB] [--vcpus N] [--user NAME]

OUT_DIR's name is the template's id (templates/base is what Sandbox.create()
asks for when it names none). It gets:

  vmlinuz        Debian's generic kernel (linux-image-amd64: the cloud one has no
                 CONFIG_VMGENID, which tells the agent of a fork), from apt,
                 cached where the lab keeps it (tests/lab/lab_build.py)
  initrd.img     busybox and the modules the root needs (virtio-mmio, virtio-blk,
                 ext4, overlay, vsock); its /init mounts the image read-only,
                 puts an overlay over it whose writes stay in the VM's RAM (a
                 sandbox's files are its own, kept across pause, never on the
                 shared image), and switches to it
  rootfs.ext4    the root file system: --debian (the default) Debian's packages
                 through mmdebstrap (apt-get install mmdebstrap; needs Debian's
                 mirror), --minimal the host's busybox and bash, no network
                 (what the lab's tests use: seconds to build); either way with
                 hearth-agent at /usr/local/bin, started at boot by busybox's
                 init (which reaps orphans and starts it again should it end),
                 and the user (default "user", uid 1000, home /home/user) that
                 commands run as
  template.json  the files and the VM's size, as the server reads them

Templates built from a Dockerfile are not served (docs/sandboxes.md).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "lab"))
sys.dont_write_bytecode = True
import lab_build as LB  # noqa: E402
from lab_base import KERNEL_META_GENERIC  # noqa: E402

# The modules the template's kernel needs before its root is mounted, and the agent's vsock.
MODULES = ["virtio_mmio", "virtio_blk", "crc32c_generic", "ext4", "overlay",
           "vmw_vsock_virtio_transport"]
CMDLINE = "console=ttyS0 reboot=k panic=1 quiet"

INITRD_INIT = r'''#!/bin/sh
# A Hearth sandbox template's first userspace (scripts/sandbox_template.py).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t devtmpfs dev /dev 2>/dev/null
[ -c /dev/console ] && exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
while read -r m; do insmod "/modules/$m" 2>/dev/null || echo "template: insmod $m failed"; done </modules.order
i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
mkdir -p /lower /rw /newroot
# The image is every sandbox's, read-only; what a sandbox writes stays in its RAM.
if mount -t ext4 -o ro /dev/vda /lower && mount -t tmpfs -o mode=0755 rw /rw &&
   mkdir -p /rw/upper /rw/work &&
   mount -t overlay root -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot; then
  umount /proc /sys
  mount --move /dev /newroot/dev
  exec switch_root /newroot /sbin/init
fi
echo "template: no root file system"; sleep 2; poweroff -f
'''

INITTAB = '''::sysinit:/etc/hearth/rc
::respawn:/usr/local/bin/hearth-agent
::ctrlaltdel:/bin/busybox reboot -f
::shutdown:/bin/busybox umount -a -r
'''

RC = '''#!/bin/busybox sh
# The template's boot (busybox init's sysinit): what a sandbox's processes expect.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mkdir -p /dev/pts /dev/shm
mount -t devpts -o mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t tmpfs -o mode=1777 tmp /tmp
mount -t tmpfs -o mode=755 run /run
hostname sandbox
/bin/busybox ip link set lo up 2>/dev/null
echo "template: up"
'''

PROFILE = '''export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
'''


def sh(cmd, **kw):
    subprocess.run(cmd, check=True, **kw)


def initrd(kernel, out, tmp):
    t = LB.Tree(os.path.join(tmp, "initrd"))
    t.busybox()
    t.write("/init", INITRD_INIT, 0o755)
    order = []
    for p in kernel.modules_with_deps(MODULES):
        name = os.path.basename(p)
        t.copy(p, "/modules/" + name)
        order.append(name)
    t.write("/modules.order", "".join(n + "\n" for n in order))
    t.pack(out, tmp=out + ".tmp")


def root_minimal(root):
    """The host's static busybox and its bash (with its libraries): no network needed."""
    t = LB.Tree(root)
    t.busybox()
    for b in ("/bin/bash",):
        t.binary(os.path.realpath(b), b)
    for d in ("run", "home", "root", "usr/local/bin", "var/tmp"):
        os.makedirs(os.path.join(root, d), exist_ok=True)


def root_debian(root, suite, packages, mirror):
    """Debian's packages (minbase) through mmdebstrap, with busybox for init."""
    if not shutil.which("mmdebstrap"):
        sh(["apt-get", "install", "-y", "-q", "mmdebstrap"])
    pkgs = ["busybox", "bash", "ca-certificates"] + [p for p in packages if p]
    cmd = ["mmdebstrap", "--variant=minbase", "--include=" + ",".join(pkgs), suite, root]
    if mirror:
        cmd.append(mirror)
    sh(cmd)


def finish_root(root, agent, user, uid):
    etc = os.path.join(root, "etc")
    os.makedirs(os.path.join(etc, "hearth"), exist_ok=True)
    with open(os.path.join(etc, "inittab"), "w") as f:
        f.write(INITTAB)
    with open(os.path.join(etc, "hearth", "rc"), "w") as f:
        f.write(RC)
    os.chmod(os.path.join(etc, "hearth", "rc"), 0o755)
    with open(os.path.join(etc, "profile"), "a") as f:
        f.write(PROFILE)
    init = os.path.join(root, "sbin", "init")
    if os.path.lexists(init):
        os.unlink(init)
    os.symlink("/bin/busybox", init)
    dst = os.path.join(root, "usr", "local", "bin", "hearth-agent")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(agent, dst)
    os.chmod(dst, 0o755)
    # The user commands run as: a line of its own in passwd and group, its home.
    passwd, group = os.path.join(etc, "passwd"), os.path.join(etc, "group")
    have = open(passwd).read() if os.path.exists(passwd) else ""
    if not have:
        have = "root:x:0:0:root:/root:/bin/bash\n"
    if not any(l.startswith(user + ":") for l in have.splitlines()):
        have += "%s:x:%d:%d::/home/%s:/bin/bash\n" % (user, uid, uid, user)
    open(passwd, "w").write(have)
    g = open(group).read() if os.path.exists(group) else "root:x:0:\n"
    if not any(l.startswith(user + ":") for l in g.splitlines()):
        g += "%s:x:%d:\n" % (user, uid)
    open(group, "w").write(g)
    home = os.path.join(root, "home", user)
    os.makedirs(home, exist_ok=True)
    os.chown(home, uid, uid)
    os.chmod(home, 0o755)


def image(root, out, size_mb):
    if os.path.exists(out):
        os.unlink(out)
    sh(["mkfs.ext4", "-q", "-F", "-L", "sandbox", "-d", root, out, "%dM" % size_mb],
       stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--agent", required=True, help="the static hearth-agent (meson builds it)")
    how = ap.add_mutually_exclusive_group()
    how.add_argument("--debian", action="store_true", help="Debian's packages (the default)")
    how.add_argument("--minimal", action="store_true", help="the host's busybox and bash")
    ap.add_argument("--suite", default="bookworm")
    ap.add_argument("--packages", default="", help="more Debian packages, comma-separated")
    ap.add_argument("--mirror", default="")
    ap.add_argument("--size-mb", type=int, default=0, help="the image (default: fitted)")
    ap.add_argument("--memory", type=int, default=256, help="the VM's RAM, MiB")
    ap.add_argument("--vcpus", type=int, default=1)
    ap.add_argument("--user", default="user")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("sandbox_template: run as root (the image's files are root's and the user's)")
    os.makedirs(a.out, exist_ok=True)
    kernel = LB.get_kernel(KERNEL_META_GENERIC)
    with tempfile.TemporaryDirectory(prefix="sbx-tpl-") as tmp:
        root = os.path.join(tmp, "root")
        if a.minimal:
            root_minimal(root)
        else:
            root_debian(root, a.suite, a.packages.split(","), a.mirror)
        finish_root(root, a.agent, a.user, 1000)
        used = int(subprocess.run(["du", "-sm", root], check=True, capture_output=True,
                                  text=True).stdout.split()[0])
        image(root, os.path.join(a.out, "rootfs.ext4"), a.size_mb or used * 2 + 64)
        initrd(kernel, os.path.join(a.out, "initrd.img"), tmp)
    shutil.copyfile(kernel.vmlinuz, os.path.join(a.out, "vmlinuz"))
    with open(os.path.join(a.out, "template.json"), "w") as f:
        json.dump({"kernel": "vmlinuz", "initrd": "initrd.img", "rootfs": "rootfs.ext4",
                   "cmdline": CMDLINE, "vcpus": a.vcpus, "memoryMB": a.memory,
                   "user": a.user, "workdir": "/home/" + a.user}, f, indent=1)
    print("template %s: kernel %s, %s" % (os.path.basename(os.path.abspath(a.out)),
                                         kernel.version, a.out))


if __name__ == "__main__":
    main()
