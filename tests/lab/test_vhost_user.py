#!/usr/bin/env python3
"""Lab test of vhost-user block devices: the stock kernel's virtio_blk
driver on a disk whose rings QEMU's qemu-storage-daemon serves, Hearth
driven through the API (curl on the Unix socket, in L1):

    tests/lab/test_vhost_user.py [--hearth PATH] [--stream]

  vub       qemu-storage-daemon in L1 exports a 16 MiB raw file as
            vhost-user-blk with 2 queues; hearth serve, 2 vCPUs.
            0. First on PCI, by hearth serve --no-api --enable-pci from a
               config file: the guest's virtio-pci function (MSI-X) reads
               and writes, and the backend's calls reach the guest through
               the vectors' irqfds: the metrics count none relayed.
            1. PUT /drives with a socket is 204; one with a socket and a
               path_on_host, and one whose socket nobody serves, are 400
               naming the problem; GET /vm/config shows the socket and
               null for path_on_host and is_read_only.
            2. The guest sees /dev/vda at the file's size, writable, with
               one blk-mq queue per vCPU, reads the file's first bytes,
               and writes and reads back its own, which L1 then finds in
               the file.
            3. With the guest reading the disk in a loop: PATCH /vm Paused
               and Resumed are 204 (the backend's requests in flight are
               waited for); PUT /snapshot/create is 400 in Firecracker's
               words; PATCH /drives with only the drive's id is 204 and
               with a path_on_host 400.
            4. The daemon is killed with -9 mid-I/O: Hearth still answers
               GET / and GET /vm/config, warns that the backend closed its
               socket, and the guest's other process still ticks.

Prints one line per check and `N passed, N failed`. Exit 0 all passed, 1 a
check failed, 3 lab failure (tests/lab/README.md).
"""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402

RUN_TIMEOUT = 600
CMDLINE = L.L2_CONSOLE + " reboot=k panic=-1 lab.vub=1 lab.wait=1000"
IMAGE_MIB = 16
HEAD = "vhost-user-lab-disk-head"
MARK = "vhost-user-guest-wrote-this"
QSD = "qemu-storage-daemon"

L2_SCRIPT = r'''
grep -q lab.vub=1 /proc/cmdline || exit 0
n=0; while [ ! -b /dev/vda ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
echo "LAB vu dev=$(ls /dev/vda 2>/dev/null)"
echo "LAB vu sectors=$(cat /sys/block/vda/size 2>/dev/null)"
echo "LAB vu ro=$(cat /sys/block/vda/ro 2>/dev/null)"
echo "LAB vu queues=$(ls /sys/block/vda/mq 2>/dev/null | wc -l)"
echo "LAB vu head=$(dd if=/dev/vda bs=@HEADLEN@ count=1 2>/dev/null)"
printf '@MARK@' >/tmp/mark
dd if=/tmp/mark of=/dev/vda bs=512 seek=2048 conv=sync,fsync 2>/dev/null && echo "LAB vu wrote=1"
echo 3 >/proc/sys/vm/drop_caches
echo "LAB vu readback=$(dd if=/dev/vda bs=512 skip=2048 count=1 2>/dev/null | tr -d '\000')"
if grep -q lab.vubonce=1 /proc/cmdline; then
  echo "LAB vu pcidevs=$(ls /sys/bus/pci/drivers/virtio-pci 2>/dev/null | grep -c :)"
  echo "LAB vu msix=$(grep -c -i 'PCI-MSI' /proc/interrupts)"
  echo "LAB vu once=1"
  poweroff -f
fi
( while :; do dd if=/dev/vda of=/dev/null bs=64k 2>/dev/null; echo 3 >/proc/sys/vm/drop_caches; done ) &
echo "LAB vu busy=1"
i=0; while :; do echo "LAB tick $i"; i=$((i+1)); sleep 0.3; done
'''

SCRIPT = L.SH_API + r'''
H=/lab/bin/hearth
Q=/lab/bin/qemu-storage-daemon
S=/tmp/v.sock
V=/tmp/vub.sock
ticks() { tr -d '\r' </tmp/g.out | grep -c '^LAB tick'; }
dd if=/dev/zero of=/tmp/vub.img bs=1M count=@MIB@ 2>/dev/null
printf '@HEAD@' | dd of=/tmp/vub.img conv=notrunc 2>/dev/null
qsd() {
  rm -f $V
  $Q --blockdev driver=file,node-name=f0,filename=/tmp/vub.img \
    --export type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path=$V,writable=on,num-queues=2 \
    >>/tmp/q.log 2>&1 & qp=$!
  waitsock $V
}
# On PCI first (MSI-X), from a config file: the guest reads and writes, and powers off.
qsd
cat >/tmp/p.json <<EOF
{"boot-source": {"kernel_image_path": "@KERNEL@", "initrd_path": "@L2_INITRD@",
  "boot_args": "@CMDLINE@ lab.vubonce=1"},
 "machine-config": {"vcpu_count": 2, "mem_size_mib": 256},
 "drives": [{"drive_id": "vub", "socket": "$V", "is_root_device": false}]}
EOF
$H serve --no-api --enable-pci --config-file /tmp/p.json --metrics-path /tmp/p.metrics \
  </dev/null >/tmp/p.out 2>/tmp/p.err
echo "VU pci_exit=$?"
# The interrupts the I/O thread relayed from the backend's call fds: none on PCI.
echo "VU pci_relayed=$(tail -n 1 /tmp/p.metrics | tr -d ' \n' | grep -o '"block_vub":{[^}]*}' | grep -o '"interrupts":[0-9]*' | cut -d: -f2)"
tr -d '\r' </tmp/p.out | grep '^LAB vu ' | sed 's/^/P /'
sed 's/^/PE /' /tmp/p.err | head -n 10
kill $qp; wait $qp 2>/dev/null
# Then through the API, on virtio-mmio.
qsd
$H serve --api-sock $S </dev/null >/tmp/g.out 2>/tmp/h.err & hp=$!
waitsock
echo "VU boot=$(api PUT /boot-source '{"kernel_image_path": "@KERNEL@", "initrd_path": "@L2_INITRD@", "boot_args": "@CMDLINE@"}')"
echo "VU machine=$(api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}')"
echo "VU both=$(api PUT /drives/bad '{"drive_id": "bad", "socket": "'$V'", "path_on_host": "/tmp/vub.img", "is_root_device": false}') $(cat /tmp/resp)"
echo "VU nobody=$(api PUT /drives/bad '{"drive_id": "bad", "socket": "/tmp/none.sock", "is_root_device": false}') $(cat /tmp/resp)"
echo "VU put=$(api PUT /drives/vub '{"drive_id": "vub", "socket": "'$V'", "is_root_device": false, "cache_type": "Writeback"}') $(cat /tmp/resp)"
echo "VU start=$(api PUT /actions '{"action_type": "InstanceStart"}') $(cat /tmp/resp)"
api GET /vm/config >/dev/null
echo "VU config=$(tr -d ' \n' </tmp/resp | grep -o '"drives":\[[^]]*\]')"
waitfor '^LAB vu busy=1' /tmp/g.out 3000
echo "VU in_file=$(grep -c '@MARK@' /tmp/vub.img)"
sleep 1
echo "VU pause=$(api PATCH /vm '{"state": "Paused"}') $(cat /tmp/resp)"
echo "VU snap=$(api PUT /snapshot/create '{"snapshot_path": "/tmp/s.snap", "mem_file_path": "/tmp/s.mem"}') $(cat /tmp/resp)"
echo "VU resume=$(api PATCH /vm '{"state": "Resumed"}') $(cat /tmp/resp)"
t0=$(ticks)
waitfor "^LAB tick $((t0 + 3))" /tmp/g.out 1200 && echo "VU resumed=1"
echo "VU patch=$(api PATCH /drives/vub '{"drive_id": "vub"}') $(cat /tmp/resp)"
echo "VU patch_path=$(api PATCH /drives/vub '{"drive_id": "vub", "path_on_host": "/tmp/vub.img"}') $(cat /tmp/resp)"
kill -9 $qp; wait $qp 2>/dev/null
sleep 2
t1=$(ticks)
waitfor "^LAB tick $((t1 + 3))" /tmp/g.out 1200 && echo "VU ticks_after_kill=1"
echo "VU info_after_kill=$(api GET /)"
echo "VU config_after_kill=$(api GET /vm/config)"
kill -0 $hp 2>/dev/null && echo "VU alive=1"
grep -q 'closed its socket' /tmp/h.err && echo "VU warned=1"
kill -TERM $hp; wait $hp; echo "VU exit=$?"
tr -d '\r' </tmp/g.out | grep '^LAB vu ' | sed 's/^/G /'
sed 's/^/H /' /tmp/h.err | head -n 20
sed 's/^/Q /' /tmp/q.log | head -n 10
echo "VU done=yes"
'''


def script():
    return (SCRIPT.replace("@KERNEL@", L.L1_KERNEL).replace("@CMDLINE@", CMDLINE)
            .replace("@MIB@", str(IMAGE_MIB)).replace("@HEAD@", HEAD).replace("@MARK@", MARK))


def l2_initrd(kernel):
    return L.build_l2_initrd(kernel, name="l2vub",
                             modules=["virtio_mmio", "virtio_pci", "virtio_blk"],
                             extra_sh=L2_SCRIPT.replace("@MARK@", MARK)
                             .replace("@HEADLEN@", str(len(HEAD))))


def info(r, prefix="G LAB vu|VU"):
    out = {}
    for l in r.guest_lines:
        m = re.match(r"^(?:%s) (\w+)=(.*)$" % prefix, l.strip())
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2)
    return out


def check_vub(r):
    a = info(r)
    p = info(r, "P LAB vu")
    st = lambda k: (a.get(k) or "").split(" ")[0]  # noqa: E731
    yield a.get("pci_exit") == "0" and p.get("once") == "1", \
        "on PCI: hearth run exits 0 after the guest's run (%s, %s)" % (a.get("pci_exit"),
                                                                     p.get("once"))
    yield p.get("head") == HEAD and p.get("readback") == MARK and p.get("queues") == "2", \
        "on PCI: the disk reads, writes back, two queues (%r, %r, %s)" % (
            p.get("head"), p.get("readback"), p.get("queues"))
    yield (p.get("pcidevs") or "0") != "0" and (p.get("msix") or "0") != "0", \
        "on PCI: a virtio-pci function interrupting through MSI-X (%s devices, %s lines)" % (
            p.get("pcidevs"), p.get("msix"))
    yield a.get("pci_relayed") == "0", \
        "on PCI: the backend's used-buffer calls reach the guest through irqfds, none " \
        "relayed by Hearth's I/O thread (metrics' interrupts: %r)" % a.get("pci_relayed")
    yield st("put") == "204" and st("start") == "204", \
        "PUT /drives with a socket and InstanceStart are 204 (%s; %s)" % (a.get("put"),
                                                                          a.get("start"))
    yield st("both") == "400" and "Invalid block config" in a.get("both", ""), \
        "socket with path_on_host is 400 (%s)" % a.get("both")
    yield st("nobody") == "400" and "/tmp/none.sock" in a.get("nobody", ""), \
        "a socket nobody serves is 400 naming it (%s)" % a.get("nobody")
    cfg = a.get("config", "")
    yield '"socket":"/tmp/vub.sock"' in cfg and '"path_on_host":null' in cfg and \
        '"is_read_only":null' in cfg, "GET /vm/config shows the socket, null path (%s)" % cfg
    yield a.get("dev") == "/dev/vda", "the guest's driver made /dev/vda (%s)" % a.get("dev")
    yield a.get("sectors") == str(IMAGE_MIB * 2048), \
        "/dev/vda is the file's %d MiB (%s sectors)" % (IMAGE_MIB, a.get("sectors"))
    yield a.get("ro") == "0", "the disk is writable (ro=%s)" % a.get("ro")
    yield a.get("queues") == "2", "one blk-mq queue per vCPU (%s)" % a.get("queues")
    yield a.get("head") == HEAD, "the guest reads the file's head (%r)" % a.get("head")
    yield a.get("wrote") == "1" and a.get("readback") == MARK, \
        "the guest writes and reads back (%r)" % a.get("readback")
    yield (a.get("in_file") or "0") != "0", "L1 finds the guest's bytes in the file"
    yield st("pause") == "204" and st("resume") == "204" and a.get("resumed") == "1", \
        "pause and resume with I/O in flight (%s; %s; %s)" % (a.get("pause"), a.get("resume"),
                                                              a.get("resumed"))
    yield st("snap") == "400" and "cannot be snapshotted: vhost-user-block 'vub'" in a.get("snap", ""), \
        "a snapshot is 400 naming the vhost-user disk (%s)" % a.get("snap")
    yield st("patch") == "204", "PATCH /drives with the id only is 204 (%s)" % a.get("patch")
    yield st("patch_path") == "400", "PATCH with a path_on_host is 400 (%s)" % a.get("patch_path")
    yield a.get("info_after_kill") == "200" and a.get("config_after_kill") == "200" and \
        a.get("alive") == "1", "the backend killed mid-I/O: Hearth answers its API (%s, %s)" % (
            a.get("info_after_kill"), a.get("config_after_kill"))
    yield a.get("warned") == "1", "Hearth warns that the backend closed its socket"
    yield a.get("ticks_after_kill") == "1", "the guest's vCPUs still run after the kill"
    yield st("exit") in ("0", "3"), "Hearth exits cleanly on SIGTERM (%s)" % a.get("exit")
    yield a.get("done") == "yes", "the plan ran to its end"


def run(kernel):
    """The run, to be planned in any L1 boot (test_api.py shares its own)."""
    r = L.ShellRun("vub", "hearth", script(), timeout=RUN_TIMEOUT)
    r.initrd = l2_initrd(kernel)
    return r


def tools():
    """What the run needs in L1: curl and qemu-storage-daemon (Debian's qemu-system-common)."""
    return {"/bin/curl": shutil.which("curl"), "/lab/bin/" + QSD: shutil.which(QSD)}


def main():
    return L.standalone(__doc__, "vub", lambda k: [run(k)], [("vub", check_vub)], tools=tools(),
                        hint="scripts/deps.sh installs curl and qemu-system-common")


if __name__ == "__main__":
    sys.exit(main())
