#!/usr/bin/env python3
"""Lab test of PCI: the stock kernel's virtio_pci against Hearth's virtio-pci
functions, a VM driven through the API (curl on the Unix socket, in L1):

    tests/lab/test_pci.py [--hearth PATH] [--stream]

  pci   hearth serve --enable-pci, 2 vCPUs, 256 MiB, a disk (an ext4
        image: test_pmem.py's), a user-mode NIC and virtio-rng.
        1. /sys/bus/pci lists the host bridge, the disk (1af4:1042, class
           0100), the NIC (1af4:1041, class 0200) and the rng (1af4:1044),
           with no virtio-mmio device; the disk mounts and its file reads.
        1b. Hotplug: PUT /drives after InstanceStart plugs a disk the guest
           reads with no rescan (ACPI tells it); a taken id, a root drive
           and a missing image are 400, so is DELETE of an unknown drive;
           DELETE unplugs it (the guest ejects it when asked); a disk the
           guest removes itself through sysfs (Firecracker's way) unplugs
           at once. A snapshot taken while the disk is plugged (in a slot
           a boot would not give it) records the slots: a new process
           restores it, the guest reads the disk on, and a DELETE there
           is ejected as well. A user-mode NIC plugged in the same way
           comes up in the guest with a DHCP lease, and DELETE takes it
           out again; so does a pmem device, read through /dev/pmem0.
        2. The NIC gets a DHCP lease; its interrupts and the rng's are
           MSI-X (/proc/interrupts' PCI-MSI lines).
        3. The guest counts, each line after 512 bytes from /dev/hwrng
           (an MSI-X interrupt each time).
        4. Paused and snapshotted (Full), the process killed; a new
           `hearth serve` loads the snapshot (resume_vm): the guest counts
           on from where it was, its rng still answering, without a boot.

Prints one line per check and `N passed, N failed`. Exit 0 all passed, 1 a
check failed, 3 lab failure (tests/lab/README.md). test_api.py plans this run
in its own L1 boot.
"""
import argparse
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402
import test_pmem as PM  # noqa: E402
import test_virtio_net as NET  # noqa: E402

RUN_TIMEOUT = 900
CMDLINE = L.L2_CONSOLE + " reboot=k panic=-1 lab.pci=1"

L2_SCRIPT = r'''
grep -q lab.pci=1 /proc/cmdline || exit 0
dmesg -n 1 2>/dev/null
ip link set lo up
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
mkdir -p /mnt
mount -t ext4 -o ro /dev/vda /mnt && echo "LAB px vda_hello=$(cat /mnt/hello)"
umount /mnt
if udhcpc -i eth0 -s /lab/dhcp.sh -n -q -t 5 -T 2 >/tmp/dhcp.log 2>&1; then
  echo "LAB px dhcp=ok"
else
  echo "LAB px dhcp=fail"
fi
echo "LAB px ip=$(ip -4 addr show dev eth0 | awk '/inet /{print $2; exit}')"
echo "LAB px msix=$(grep PCI-MSI /proc/interrupts | grep -c virtio)"
echo "LAB px mmio=$(ls /sys/bus/acpi/devices 2>/dev/null | grep -c LNRO0005)"
i=0
while [ $i -lt 600 ]; do
  i=$((i+1))
  # A disk plugged in while this runs: its first bytes, with no rescan asked for.
  hp=""
  [ -b /dev/vdb ] && hp=$(head -c 32 /dev/vdb 2>/dev/null | tr -dc 'a-z-')
  if [ "$hp" = "remove-me-by-hand" ] && [ -z "$byhand" ]; then
    # Firecracker's way: the guest lets go of the function itself before DELETE.
    d=$(readlink -f /sys/block/vdb/device/..)
    echo 1 >"$d/remove" && byhand=1 && echo "LAB px byhand=${d##*/}"
    hp=""
  fi
  # A NIC plugged in: its address from DHCP, once; whether it is there, each line.
  if [ -e /sys/class/net/eth1 ] && [ -z "$eth1" ]; then
    ip link set eth1 up
    if udhcpc -i eth1 -s /lab/dhcp.sh -n -q -t 5 -T 2 >/tmp/dhcp1.log 2>&1; then
      eth1=ok
    else
      eth1=fail
    fi
    echo "LAB px ip1=$(ip -4 addr show dev eth1 | awk '/inet /{print $2; exit}')"
    echo "LAB px eth1=$eth1"
  fi
  n1=0; [ -e /sys/class/net/eth1 ] && n1=1
  # A pmem device plugged in: its first bytes through /dev/pmem0.
  pm=""
  [ -b /dev/pmem0 ] && pm=$(head -c 32 /dev/pmem0 2>/dev/null | tr -dc 'a-z-')
  echo "LAB count $i rng=$(head -c 512 /dev/hwrng | wc -c) eth1=$n1 pmem=$pm vdb=$hp"
  sleep 1
done
'''

SCRIPT = L.SH_API + L.SH_LINES + r'''
H=/lab/bin/hearth
mkdir -p /tmp/s
S=/tmp/c0.sock
$H serve --enable-pci --api-sock $S --snapshot-dir /tmp/s </dev/null >/tmp/g0.out 2>/tmp/h0.err & hp=$!
waitsock
echo "PX boot=$(api PUT /boot-source '{"kernel_image_path": "@KERNEL@", "initrd_path": "@L2_INITRD@", "boot_args": "@CMDLINE@"}')"
echo "PX machine=$(api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}')"
cp /lab/pmem.img /tmp/pci.img
echo "PX disk=$(api PUT /drives/d0 '{"drive_id": "d0", "path_on_host": "/tmp/pci.img", "is_root_device": false, "is_read_only": true}') $(cat /tmp/resp)"
echo "PX net=$(api PUT /network-interfaces/eth0 '{"iface_id": "eth0", "backend": "user"}') $(cat /tmp/resp)"
echo "PX rng=$(api PUT /entropy '{}') $(cat /tmp/resp)"
echo "PX start=$(api PUT /actions '{"action_type": "InstanceStart"}') $(cat /tmp/resp)"
waitfor '^LAB count 5 ' /tmp/g0.out 3000 && echo "PX counting=yes"
# Hotplug: a disk plugged in and out of the running VM, the guest told through ACPI;
# under the sandbox its image is inside --snapshot-dir.
mkimg() { dd if=/dev/zero of=$1 bs=1M count=1 2>/dev/null; printf "$2" | dd of=$1 conv=notrunc 2>/dev/null; }
mkimg /tmp/s/hp.img hotplug-disk-mark
mkimg /tmp/s/hq.img remove-me-by-hand
hpd='{"drive_id": "hp", "path_on_host": "/tmp/s/hp.img", "is_root_device": false}'
echo "PX hp_put=$(api PUT /drives/hp "$hpd") $(cat /tmp/resp)"
waitfor 'vdb=hotplug-disk-mark' /tmp/g0.out 600 && echo "PX hp_seen=yes"
api GET /vm/config >/dev/null; echo "PX hp_cfg=$(tr -d ' \n' </tmp/resp | grep -c '"drive_id":"hp"')"
echo "PX hp_pause=$(api PATCH /vm '{"state": "Paused"}')"
echo "PX hp_snap=$(api PUT /snapshot/create '{"snapshot_path": "/tmp/s/hp.snap", "mem_file_path": "/tmp/s/hp.mem"}') $(cat /tmp/resp)"
echo "PX hp_resume=$(api PATCH /vm '{"state": "Resumed"}')"
echo "PX hp_again=$(api PUT /drives/hp "$hpd") $(cat /tmp/resp)"
echo "PX hp_root=$(api PUT /drives/hr '{"drive_id": "hr", "path_on_host": "/tmp/s/hp.img", "is_root_device": true}') $(cat /tmp/resp)"
echo "PX hp_nofile=$(api PUT /drives/hn '{"drive_id": "hn", "path_on_host": "/tmp/none.img", "is_root_device": false}') $(cat /tmp/resp)"
echo "PX hp_none=$(api DELETE /drives/nope) $(cat /tmp/resp)"
echo "PX hp_del=$(api DELETE /drives/hp) $(cat /tmp/resp)"
c=$(lastcount /tmp/g0.out)
waitfor "^LAB count $((c + 2)) .*vdb=\$" /tmp/g0.out 100 && echo "PX hp_gone=yes"
api GET /vm/config >/dev/null; echo "PX hp_cfg_after=$(tr -d ' \n' </tmp/resp | grep -c '"drive_id":"hp"')"
echo "PX hq_put=$(api PUT /drives/hq '{"drive_id": "hq", "path_on_host": "/tmp/s/hq.img", "is_root_device": false}') $(cat /tmp/resp)"
waitfor 'LAB px byhand=' /tmp/g0.out 600 && echo "PX hq_byhand=yes"
echo "PX hq_del=$(api DELETE /drives/hq) $(cat /tmp/resp)"
echo "PX hq_again=$(api DELETE /drives/hq) $(cat /tmp/resp)"
echo "PX nic_put=$(api PUT /network-interfaces/eth1 '{"iface_id": "eth1", "backend": "user"}') $(cat /tmp/resp)"
waitfor 'LAB px eth1=' /tmp/g0.out 600 && echo "PX nic_seen=yes"
echo "PX nic_del=$(api DELETE /network-interfaces/eth1) $(cat /tmp/resp)"
c=$(lastcount /tmp/g0.out)
waitfor "^LAB count $((c + 2)) .*eth1=0" /tmp/g0.out 100 && echo "PX nic_gone=yes"
api GET /vm/config >/dev/null; echo "PX nic_cfg=$(tr -d ' \n' </tmp/resp | grep -c '"iface_id":"eth1"')"
# A pmem device plugged in and out: its window mapped into the running VM.
mkimg /tmp/s/pm.img pmem-plug-mark
echo "PX pm_put=$(api PUT /pmem/pm '{"id": "pm", "path_on_host": "/tmp/s/pm.img"}') $(cat /tmp/resp)"
waitfor 'pmem=pmem-plug-mark' /tmp/g0.out 600 && echo "PX pm_seen=yes"
api GET /vm/config >/dev/null; echo "PX pm_cfg=$(tr -d ' \n' </tmp/resp | grep -c '"id":"pm"')"
echo "PX pm_del=$(api DELETE /pmem/pm) $(cat /tmp/resp)"
c=$(lastcount /tmp/g0.out)
waitfor "^LAB count $((c + 2)) .*pmem= vdb=" /tmp/g0.out 100 && echo "PX pm_gone=yes"
grep -i 'hotplug\|plugged' /tmp/h0.err | head -n 10 | sed 's/^/HP /'
echo "PX pause=$(api PATCH /vm '{"state": "Paused"}')"
sleep 1
# One reading of the count at the snapshot, for the wait below and for the check.
b=$(lastcount /tmp/g0.out); echo "PX before=$b"
echo "PX create=$(api PUT /snapshot/create '{"snapshot_path": "/tmp/s/vm.snap", "mem_file_path": "/tmp/s/vm.mem"}') $(cat /tmp/resp)"
kill -TERM $hp; wait $hp; echo "PX exit0=$?"
S=/tmp/c1.sock
$H serve --api-sock $S --snapshot-dir /tmp/s </dev/null >/tmp/g1.out 2>/tmp/h1.err & p1=$!
waitsock
echo "PX load=$(api PUT /snapshot/load '{"snapshot_path": "/tmp/s/vm.snap", "mem_backend": {"backend_type": "File", "backend_path": "/tmp/s/vm.mem"}, "resume_vm": true, "drive_overrides": [{"drive_id": "d0", "path_on_host": "/tmp/pci.img", "is_read_only": true}], "network_overrides": [{"iface_id": "eth0", "backend": "user"}]}') $(cat /tmp/resp)"
# Line b+11 begun means line b+10 is whole: waitfor also matches a line still being
# written ("LAB count N rng=" before the rest), which the check's whole lines leave out.
waitfor "^LAB count $((b + 11)) " /tmp/g1.out 3000 && echo "PX r_counting=yes"
echo "PX after=$(lastline /tmp/g1.out)"
echo "PX inits=$(grep -c '^LAB init' /tmp/g1.out)"
kill -TERM $p1; wait $p1; echo "PX exit1=$?"
# The snapshot taken with the disk plugged: restored with it in its slot, the guest still
# reading it; unplugged from the restored VM, the guest ejects it.
S=/tmp/c2.sock
$H serve --api-sock $S --snapshot-dir /tmp/s </dev/null >/tmp/g2.out 2>/tmp/h2.err & p2=$!
waitsock
echo "PX hp_load=$(api PUT /snapshot/load '{"snapshot_path": "/tmp/s/hp.snap", "mem_backend": {"backend_type": "File", "backend_path": "/tmp/s/hp.mem"}, "resume_vm": true, "drive_overrides": [{"drive_id": "d0", "path_on_host": "/tmp/pci.img", "is_read_only": true}, {"drive_id": "hp", "path_on_host": "/tmp/s/hp.img", "is_read_only": false}], "network_overrides": [{"iface_id": "eth0", "backend": "user"}]}') $(cat /tmp/resp)"
waitfor 'vdb=hotplug-disk-mark' /tmp/g2.out 600 && echo "PX hp_r_seen=yes"
echo "PX hp_r_del=$(api DELETE /drives/hp) $(cat /tmp/resp)"
c=$(lastcount /tmp/g2.out)
waitfor "^LAB count $((c + 2)) .*vdb=\$" /tmp/g2.out 100 && echo "PX hp_r_gone=yes"
kill -TERM $p2; wait $p2; echo "PX exit2=$?"
sed 's/^/H2 /' /tmp/h2.err | head -n 10
tr -d '\r' </tmp/g0.out | grep -e '^LAB px ' -e '^LAB pci=' | sed 's/^/G /'
sed 's/^/H0 /' /tmp/h0.err | head -n 10
sed 's/^/H1 /' /tmp/h1.err | head -n 10
echo "PX done=yes"
'''

PCI_FUNCTIONS = ["0000:00:00.0:0x8086:0x0d57:0x060000", "0000:00:01.0:0x1af4:0x1042:0x010000",
                 "0000:00:02.0:0x1af4:0x1041:0x020000", "0000:00:03.0:0x1af4:0x1044:0xff0000"]


def script():
    return SCRIPT.replace("@KERNEL@", L.L1_KERNEL).replace("@CMDLINE@", CMDLINE)


def l2_initrd(kernel):
    dhcp = os.path.join(L.LAB_DIR, "pci-dhcp.sh")
    os.makedirs(L.LAB_DIR, exist_ok=True)
    with open(dhcp, "w") as f:
        f.write(NET.DHCP_SCRIPT)
    os.chmod(dhcp, 0o755)
    return L.build_l2_initrd(kernel, name="l2pci",
                             modules=["virtio_pci", "virtio_blk", "virtio_net", "virtio_rng",
                                      "virtio_pmem", "nd_pmem", "ext4"],
                             files={"/lab/dhcp.sh": dhcp}, extra_sh=L2_SCRIPT)


def info(r):
    out = {}
    for l in r.guest_lines:
        m = re.match(r"^(?:G LAB px|PX) (\w+)=(.*)$", l.strip()) or \
            re.match(r"^G LAB (pci)=(.*)$", l.strip())
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2).strip()
    return out


def count_of(line):
    m = re.match(r"LAB count (\d+) rng=(\d+)", line or "")
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


def check_pci(r):
    a = info(r)
    st = lambda k: (a.get(k) or "").split(" ")[0]  # noqa: E731
    yield all(st(k) == "204" for k in ("boot", "machine", "disk", "net", "rng", "start")), \
        "hearth serve --enable-pci: the PUTs and InstanceStart are 204 (%s)" % (
            [a.get(k) for k in ("disk", "net", "rng", "start")])
    got = a.get("pci", "").split()
    yield got == PCI_FUNCTIONS, "/sys/bus/pci: the host bridge, the disk, the NIC and the " \
        "rng (got %s)" % got
    yield a.get("vda_hello") == PM.MARK, "the disk over PCI mounts and reads (%r)" % (
        a.get("vda_hello"))
    yield a.get("mmio") == "0", "no virtio-mmio device in the DSDT (got %s)" % a.get("mmio")
    yield a.get("dhcp") == "ok" and (a.get("ip") or "").startswith("10.0.2."), \
        "the NIC over PCI gets a DHCP lease (%s %s)" % (a.get("dhcp"), a.get("ip"))
    n = a.get("msix", "0")
    yield n.isdigit() and int(n) >= 3, "the virtio devices interrupt through MSI-X " \
        "(%s virtio PCI-MSI lines)" % n
    yield a.get("counting") == "yes", "the guest counts, reading /dev/hwrng each line"
    yield st("hp_put") == "204" and a.get("hp_seen") == "yes" and a.get("hp_cfg") == "1", \
        "PUT /drives after InstanceStart plugs a disk: the guest reads it with no rescan, " \
        "GET /vm/config lists it (%s; seen %s)" % (a.get("hp_put"), a.get("hp_seen"))
    yield st("hp_snap") == "204" and st("hp_resume") == "204", \
        "a snapshot with the disk plugged (out of the boot's order: the slots recorded) " \
        "is 204 (%s)" % a.get("hp_snap")
    yield st("hp_again") == "400" and "Device ID in use" in a.get("hp_again", ""), \
        "the same id again is 400 in Firecracker's words (%s)" % a.get("hp_again")
    yield st("hp_root") == "400" and "A root block device already exists" in \
        a.get("hp_root", ""), "a root drive is 400 (%s)" % a.get("hp_root")
    yield st("hp_nofile") == "400" and "No such file or directory" in a.get("hp_nofile", ""), \
        "a missing image is 400 naming the error (%s)" % a.get("hp_nofile")
    yield st("hp_none") == "400" and "Device not found" in a.get("hp_none", ""), \
        "DELETE of an unknown drive is 400 (%s)" % a.get("hp_none")
    yield st("hp_del") == "204" and a.get("hp_gone") == "yes" and \
        a.get("hp_cfg_after") == "0", \
        "DELETE /drives/hp: the guest lets go on its own (ACPI eject), the disk is gone " \
        "from it and from GET /vm/config (%s; gone %s)" % (a.get("hp_del"), a.get("hp_gone"))
    yield st("hq_put") == "204" and a.get("hq_byhand") == "yes" and \
        st("hq_del") == "204" and "Device not found" in a.get("hq_again", ""), \
        "Firecracker's way: the guest removes the function itself, then DELETE is 204, " \
        "and a second DELETE 400 (%s; %s; %s)" % (a.get("hq_put"), a.get("hq_del"),
                                                  a.get("hq_again"))
    yield st("nic_put") == "204" and a.get("eth1") == "ok" and \
        (a.get("ip1") or "").startswith("10.0.2."), "PUT /network-interfaces after " \
        "InstanceStart plugs a user-mode NIC the guest brings up and gets a DHCP lease on " \
        "(%s; %s %s)" % (a.get("nic_put"), a.get("eth1"), a.get("ip1"))
    yield st("nic_del") == "204" and a.get("nic_gone") == "yes" and a.get("nic_cfg") == "0", \
        "DELETE /network-interfaces/eth1: the guest ejects the NIC, GET /vm/config drops it " \
        "(%s; gone %s)" % (a.get("nic_del"), a.get("nic_gone"))
    yield st("pm_put") == "204" and a.get("pm_seen") == "yes" and a.get("pm_cfg") == "1", \
        "PUT /pmem after InstanceStart plugs a pmem device: the guest reads its file through " \
        "/dev/pmem0 with no rescan, GET /vm/config lists it (%s; seen %s)" % (
            a.get("pm_put"), a.get("pm_seen"))
    yield st("pm_del") == "204" and a.get("pm_gone") == "yes", \
        "DELETE /pmem/pm: the guest ejects it, /dev/pmem0 is gone (%s; gone %s)" % (
            a.get("pm_del"), a.get("pm_gone"))
    yield st("create") == "204", "a Full snapshot of the PCI VM is 204 (%s)" % a.get("create")
    yield st("exit0") in ("0", "3"), "the first process, disks plugged and unplugged, exits " \
        "on SIGTERM (%s)" % a.get("exit0")
    yield st("load") == "204", "a new process loads it (%s)" % a.get("load")
    before, _ = count_of("LAB count %s rng=512" % a.get("before"))
    after, rng = count_of(a.get("after"))
    yield a.get("r_counting") == "yes" and before is not None and after is not None and \
        after >= before + 10 and rng == 512, \
        "restored: the count goes on from %s to %s, the rng still answering (%s)" % (
            before, after, a.get("after"))
    yield a.get("inits") == "0", "restored without a boot (%s 'LAB init' lines)" % a.get("inits")
    yield st("exit1") in ("0", "3"), "the restored process exits on SIGTERM (%s)" % a.get("exit1")
    yield st("hp_load") == "204" and a.get("hp_r_seen") == "yes", \
        "the snapshot with the plugged disk restores in a new process, the guest reading " \
        "the disk in its slot (%s; seen %s)" % (a.get("hp_load"), a.get("hp_r_seen"))
    yield st("hp_r_del") == "204" and a.get("hp_r_gone") == "yes" and \
        st("exit2") in ("0", "3"), "DELETE on the restored VM: the guest ejects the disk " \
        "(%s; gone %s; exit %s)" % (a.get("hp_r_del"), a.get("hp_r_gone"), a.get("exit2"))
    yield a.get("done") == "yes", "the plan ran to its end"


def run(kernel):
    """The run, to be planned in any L1 boot (test_api.py shares its own) that has
    test_pmem.py's image (PM.files)."""
    r = L.ShellRun("pci", "hearth", script(), timeout=RUN_TIMEOUT)
    r.initrd = l2_initrd(kernel)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    curl = shutil.which("curl")
    if not curl:
        print("FAIL curl is needed (scripts/deps.sh build installs it)")
        print("0 passed, 1 failed")
        return 1
    if not shutil.which("mkfs.ext4"):
        print("FAIL mkfs.ext4 is needed (scripts/deps.sh lab installs it)")
        print("0 passed, 1 failed")
        return 1
    try:
        lab = L.Lab(stream=a.stream or None)
        with tempfile.TemporaryDirectory() as d:
            # test_pmem.py's ext4 image, which test_api.py's boot has in L1 anyway.
            res = lab.run_plan([run(lab.kernel)], tag="pci", binaries={"/bin/curl": curl},
                               files=PM.files(d))
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    return L.report(res, [("pci", check_pci)])


if __name__ == "__main__":
    sys.exit(main())
