#!/usr/bin/env python3
"""Lab test of virtio-fs: the stock kernel's virtiofs driver mounting a
directory of L1's that Debian's virtiofsd (QEMU 7.2's, qemu-system-common)
serves, Hearth driven by a config file and through the API (curl on the
Unix socket, in L1):

    tests/lab/test_virtiofs.py [--hearth PATH] [--stream]

  vfs       virtiofsd in L1 shares /tmp/share (sandbox=chroot).
            0. On PCI, by hearth serve --no-api --enable-pci from a config
               file's "fs": the guest mounts the tag, reads the file L1
               wrote, writes one L1 then reads, survives an fsync storm
               (200 writes of 16 KiB, each fsync'd, over 8 files, which L1
               then finds whole), unmounts and powers off.
            1. On virtio-mmio through the API: PUT /fs/{id} is 204, a tag
               too long is 400 naming it; GET /vm/config shows the device;
               the guest mounts and reads and writes again.
            2. With the guest writing and fsync'ing in a loop: PUT
               /snapshot/create of the paused VM is 400 naming virtio-fs;
               PUT /fs after start is 400; resumed, the guest goes on.
            3. The daemon is killed with -9 mid-I/O: Hearth still answers
               GET /, warns that the file system needs a reset, and the
               guest's other process still ticks (no vCPU hangs); SIGTERM
               ends Hearth cleanly.

Prints one line per check and `N passed, N failed`. Exit 0 all passed, 1 a
check failed, 3 lab failure (tests/lab/README.md).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402
import test_vhost_user as VU  # noqa: E402

RUN_TIMEOUT = 600
CMDLINE = L.L2_CONSOLE + " reboot=k panic=-1 lab.vfs=1 lab.wait=1000"
VIRTIOFSD = "/usr/lib/qemu/virtiofsd"
FROM_L1 = "virtio-fs-l1-wrote-this"
MARK = "virtio-fs-guest-wrote-this"
STORM = 200

L2_SCRIPT = r'''
grep -q lab.vfs=1 /proc/cmdline || exit 0
mkdir -p /mnt/fs
n=0; until mount -t virtiofs hostshare /mnt/fs 2>/tmp/merr; do
  n=$((n+1)); [ $n -ge 50 ] && break; sleep 0.1; done
echo "LAB fs mounted=$(grep -c ' /mnt/fs virtiofs ' /proc/mounts)"
echo "LAB fs merr=$(head -c 200 /tmp/merr | tr '\n' ' ')"
echo "LAB fs read=$(cat /mnt/fs/from_l1.txt 2>/dev/null)"
name=from_l2.txt; grep -q lab.vfsonce=1 /proc/cmdline && name=from_l2_pci.txt
printf '@MARK@' >/tmp/mark
dd if=/tmp/mark of=/mnt/fs/$name conv=fsync 2>/dev/null && echo "LAB fs wrote=1"
echo 3 >/proc/sys/vm/drop_caches
echo "LAB fs readback=$(cat /mnt/fs/$name 2>/dev/null)"
i=0; ok=0
while [ $i -lt @STORM@ ]; do
  dd if=/dev/urandom of=/mnt/fs/storm.$((i % 8)) bs=4k count=4 conv=fsync 2>/dev/null && ok=$((ok+1))
  i=$((i+1))
done
echo "LAB fs storm=$ok"
echo "LAB fs sizes=$(for f in 0 1 2 3 4 5 6 7; do stat -c %s /mnt/fs/storm.$f; done | sort -u | tr '\n' ' ')"
if grep -q lab.vfsonce=1 /proc/cmdline; then
  echo "LAB fs pcidevs=$(ls /sys/bus/pci/drivers/virtio-pci 2>/dev/null | grep -c :)"
  umount /mnt/fs && echo "LAB fs umount=1"
  echo "LAB fs once=1"
  poweroff -f
fi
( while :; do cat /mnt/fs/from_l1.txt >/dev/null; dd if=/dev/zero of=/mnt/fs/busy bs=64k count=4 conv=fsync 2>/dev/null; done ) &
echo "LAB fs busy=1"
i=0; while :; do echo "LAB tick $i"; i=$((i+1)); sleep 0.3; done
'''

SCRIPT = L.SH_API + r'''
H=/lab/bin/hearth
D=/lab/bin/virtiofsd
S=/tmp/v.sock
F=/tmp/fs.sock
ticks() { tr -d '\r' </tmp/g.out | grep -c '^LAB tick'; }
mkdir -p /tmp/share
printf '@FROM_L1@' >/tmp/share/from_l1.txt
vfsd() {
  rm -f $F
  $D --socket-path=$F -o source=/tmp/share -o sandbox=chroot >>/tmp/d.log 2>&1 & dp=$!
  waitsock $F
}
# On PCI first (MSI-X), from a config file: the guest mounts, reads, writes, and powers off.
vfsd
cat >/tmp/p.json <<EOF
{"boot-source": {"kernel_image_path": "@KERNEL@", "initrd_path": "@L2_INITRD@",
  "boot_args": "@CMDLINE@ lab.vfsonce=1"},
 "machine-config": {"vcpu_count": 2, "mem_size_mib": 256},
 "fs": [{"id": "share", "tag": "hostshare", "socket": "$F"}]}
EOF
$H serve --no-api --enable-pci --config-file /tmp/p.json </dev/null >/tmp/p.out 2>/tmp/p.err
echo "FS pci_exit=$?"
echo "FS pci_in_l1=$(cat /tmp/share/from_l2_pci.txt 2>/dev/null)"
echo "FS pci_storm_l1=$(for f in 0 1 2 3 4 5 6 7; do stat -c %s /tmp/share/storm.$f 2>/dev/null; done | sort -u | tr '\n' ' ')"
tr -d '\r' </tmp/p.out | grep '^LAB fs ' | sed 's/^/P /'
sed 's/^/PE /' /tmp/p.err | head -n 10
kill $dp 2>/dev/null; wait $dp 2>/dev/null
# Then through the API, on virtio-mmio.
vfsd
$H serve --api-sock $S </dev/null >/tmp/g.out 2>/tmp/h.err & hp=$!
waitsock
echo "FS boot=$(api PUT /boot-source '{"kernel_image_path": "@KERNEL@", "initrd_path": "@L2_INITRD@", "boot_args": "@CMDLINE@"}')"
echo "FS machine=$(api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}')"
echo "FS longtag=$(api PUT /fs/share '{"id": "share", "tag": "'$(printf 't%.0s' $(seq 40))'", "socket": "'$F'"}') $(cat /tmp/resp)"
echo "FS put=$(api PUT /fs/share '{"id": "share", "tag": "hostshare", "socket": "'$F'"}') $(cat /tmp/resp)"
api GET /vm/config >/dev/null
echo "FS config=$(tr -d ' \n' </tmp/resp | grep -o '"fs":\[[^]]*\]')"
echo "FS start=$(api PUT /actions '{"action_type": "InstanceStart"}') $(cat /tmp/resp)"
waitfor '^LAB fs busy=1' /tmp/g.out 3000
echo "FS in_l1=$(cat /tmp/share/from_l2.txt 2>/dev/null)"
echo "FS late=$(api PUT /fs/late '{"id": "late", "tag": "late", "socket": "'$F'"}') $(cat /tmp/resp)"
echo "FS pause=$(api PATCH /vm '{"state": "Paused"}') $(cat /tmp/resp)"
echo "FS snap=$(api PUT /snapshot/create '{"snapshot_path": "/tmp/s.snap", "mem_file_path": "/tmp/s.mem"}') $(cat /tmp/resp)"
echo "FS resume=$(api PATCH /vm '{"state": "Resumed"}') $(cat /tmp/resp)"
t0=$(ticks)
waitfor "^LAB tick $((t0 + 3))" /tmp/g.out 1200 && echo "FS resumed=1"
kill -9 $dp; wait $dp 2>/dev/null
sleep 2
t1=$(ticks)
waitfor "^LAB tick $((t1 + 3))" /tmp/g.out 1200 && echo "FS ticks_after_kill=1"
echo "FS info_after_kill=$(api GET /)"
kill -0 $hp 2>/dev/null && echo "FS alive=1"
grep -q 'the file system needs a reset' /tmp/h.err && echo "FS warned=1"
kill -TERM $hp; wait $hp; echo "FS exit=$?"
tr -d '\r' </tmp/g.out | grep '^LAB fs ' | sed 's/^/G /'
sed 's/^/H /' /tmp/h.err | head -n 20
sed 's/^/D /' /tmp/d.log | head -n 10
echo "FS done=yes"
'''


def script():
    return (SCRIPT.replace("@KERNEL@", L.L1_KERNEL).replace("@CMDLINE@", CMDLINE)
            .replace("@FROM_L1@", FROM_L1))


def l2_initrd(kernel):
    return L.build_l2_initrd(kernel, name="l2vfs",
                             modules=["virtio_mmio", "virtio_pci", "virtiofs"],
                             extra_sh=L2_SCRIPT.replace("@MARK@", MARK)
                             .replace("@STORM@", str(STORM)))


def info(r, prefix="G LAB fs|FS"):
    return VU.info(r, prefix)


def check_vfs(r):
    a = info(r)
    p = info(r, "P LAB fs")
    st = lambda k: (a.get(k) or "").split(" ")[0]  # noqa: E731
    for side, g in (("on PCI", p), ("on MMIO", a)):
        yield g.get("mounted") == "1", "%s: the guest mounts the tag (%s; %r)" % (
            side, g.get("mounted"), g.get("merr"))
        yield g.get("read") == FROM_L1, "%s: the guest reads the file L1 wrote (%r)" % (
            side, g.get("read"))
        yield g.get("wrote") == "1" and g.get("readback") == MARK, \
            "%s: the guest writes a file and reads it back (%r)" % (side, g.get("readback"))
        yield g.get("storm") == str(STORM) and (g.get("sizes") or "").strip() == "16384", \
            "%s: an fsync storm of %d writes, every one done, the files whole (%s; %r)" % (
                side, STORM, g.get("storm"), g.get("sizes"))
    yield a.get("pci_exit") == "0" and p.get("once") == "1" and p.get("umount") == "1", \
        "on PCI: unmounted, and hearth exits 0 after the guest's run (%s, %s)" % (
            a.get("pci_exit"), p.get("once"))
    yield (p.get("pcidevs") or "0") != "0", "on PCI: a virtio-pci function (%s)" % p.get(
        "pcidevs")
    yield a.get("pci_in_l1") == MARK and (a.get("pci_storm_l1") or "").strip() == "16384", \
        "L1 reads what the guest wrote (%r; storm files %r)" % (a.get("pci_in_l1"),
                                                             a.get("pci_storm_l1"))
    yield st("longtag") == "400" and "at most 36" in a.get("longtag", ""), \
        "a tag too long is 400 naming it (%s)" % a.get("longtag")
    yield st("put") == "204" and st("start") == "204", \
        "PUT /fs and InstanceStart are 204 (%s; %s)" % (a.get("put"), a.get("start"))
    yield '"tag":"hostshare"' in a.get("config", "") and '"socket":"/tmp/fs.sock"' in \
        a.get("config", ""), "GET /vm/config shows the device (%s)" % a.get("config")
    yield a.get("in_l1") == MARK, "L1 reads the file the guest wrote (%r)" % a.get("in_l1")
    yield st("late") == "400", "PUT /fs after start is 400 (%s)" % a.get("late")
    yield st("pause") == "204" and st("resume") == "204" and a.get("resumed") == "1", \
        "pause and resume with I/O in flight (%s; %s; %s)" % (a.get("pause"), a.get("resume"),
                                                              a.get("resumed"))
    yield st("snap") == "400" and "cannot be snapshotted: virtio-fs 'share'" in a.get("snap", ""), \
        "a snapshot is 400 naming virtio-fs (%s)" % a.get("snap")
    yield a.get("info_after_kill") == "200" and a.get("alive") == "1", \
        "the daemon killed mid-I/O: Hearth answers its API (%s)" % a.get("info_after_kill")
    yield a.get("warned") == "1", "Hearth warns that the file system needs a reset"
    yield a.get("ticks_after_kill") == "1", "the guest's vCPUs still run after the kill"
    yield st("exit") in ("0", "3"), "Hearth exits cleanly on SIGTERM (%s)" % a.get("exit")
    yield a.get("done") == "yes", "the plan ran to its end"


def run(kernel):
    """The run, to be planned in any L1 boot (test_api.py shares its own)."""
    r = L.ShellRun("vfs", "hearth", script(), timeout=RUN_TIMEOUT)
    r.initrd = l2_initrd(kernel)
    return r


def tools():
    """What the run needs in L1: curl and virtiofsd (Debian's qemu-system-common)."""
    import shutil
    return {"/bin/curl": shutil.which("curl"),
            "/lab/bin/virtiofsd": VIRTIOFSD if os.access(VIRTIOFSD, os.X_OK) else None}


def main():
    return L.standalone(__doc__, "vfs", lambda k: [run(k)], [("vfs", check_vfs)], tools=tools(),
                        hint="scripts/deps.sh installs curl and qemu-system-common")


if __name__ == "__main__":
    sys.exit(main())
