#!/usr/bin/env python3
"""Lab test of VFIO passthrough: a real PCI device, handed to the guest.

    tests/lab/test_vfio.py [--hearth PATH] [--stream]

L1's QEMU gets an emulated IOMMU (intel-iommu, on with intel_iommu=on; no
interrupt remapping, so vfio_iommu_type1 loads with allow_unsafe_interrupts=1)
and an emulated NVMe disk (vfio_l1_extra); L1 loads vfio-pci.

  vfio  1. L1's own nvme driver writes a mark on the disk; L1 then unbinds
           it and binds it to vfio-pci (driver_override), as the README's
           recipe does on a host.
        2. `hearth run --device vfio=...` without --pci is refused, naming
           what it needs.
        3. `hearth serve --config-file` with "pci": {"enabled": true, "vfio":
           [...]} (the sandbox and seccomp on): the stock kernel's own nvme
           driver finds
           the disk on the guest's PCI bus (its vendor, device and class as
           L1 sees them), reads L1's mark through its DMA, interrupts through
           MSI-X, formats it (mke2fs), mounts it, writes a file and reads it
           back after a remount, and writes 8 MiB it reads back the same.
           The metrics show its BAR mapped as a KVM slot: the device's
           registers and doorbells trapped to Hearth almost never (only the
           MSI-X table's accesses did).
        4. Through the API (--api-sock): a snapshot of the VM is refused with
           a message naming the device; the VM runs on after it.
        5. Hearth ends on SIGTERM; L1 binds the disk back to its nvme driver
           and reads the mark the guest wrote: the guest's writes reached
           the device itself.
        6. With the disk back on nvme, `--device vfio=` is refused: not
           bound to vfio-pci.

Prints one line per check and `N passed, N failed`. Exit 0 all passed, 1 a
check failed, 3 lab failure (tests/lab/README.md). test_api.py plans this run
in its own L1 boot (with vfio_l1_extra).
"""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402

RUN_TIMEOUT = 660
CMDLINE = L.L2_CONSOLE + " reboot=k panic=-1 lab.vfio=1"
NVME_IMAGE = os.path.join(L.LAB_DIR, "vfio-nvme.img")
NVME_SERIAL = "hearthvfio"
L1_MARK = "l1-wrote-this-mark"
L2_MARK = "l2-wrote-this-mark"

L2_SCRIPT = r'''
grep -q lab.vfio=1 /proc/cmdline || exit 0
dmesg -n 1 2>/dev/null
i=0; while [ ! -b /dev/nvme0n1 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
for p in /sys/bus/pci/devices/*; do
  echo "LAB vf fn ${p##*/}:$(cat $p/vendor):$(cat $p/device):$(cat $p/class)"
done
# The host bridge's 64-bit window (the DSDT's QWord window), as the kernel took it.
echo "LAB vf win64=$(grep 'PCI Bus 0000:00' /proc/iomem | tr -d ' ' | awk -F- 'length($1) > 8 {print $1 "-" $2; exit}')"
echo "LAB vf l1mark=$(dd if=/dev/nvme0n1 bs=512 skip=8 count=1 2>/dev/null | tr -dc 'a-z0-9-')"
# Each vector the driver took, and its kind (msi or msix), from sysfs.
nv=$(for p in /sys/bus/pci/devices/*; do [ "$(cat $p/class)" = 0x010802 ] && echo $p; done)
echo "LAB vf msix=$(cat $nv/msi_irqs/* 2>/dev/null | grep -c '^msix$') of $(ls $nv/msi_irqs 2>/dev/null | wc -l)"
mkdir -p /mnt
# A stall past 150 s says what the kernel's nvme driver said (the console is quiet: dmesg -n 1).
(sleep 150; echo "LAB vf stall $(dmesg | grep -i nvme | tail -n 4 | tr '\n' ' ')") & watch=$!
if mke2fs -q /dev/nvme0n1 >/tmp/mkfs.log 2>&1 && mount -t ext2 /dev/nvme0n1 /mnt; then
  echo l2-file-on-ext2 >/mnt/f; umount /mnt
  mount -t ext2 /dev/nvme0n1 /mnt && echo "LAB vf ext2=$(cat /mnt/f)"; umount /mnt
else
  echo "LAB vf ext2=fail $(head -c 200 /tmp/mkfs.log)"
fi
dd if=/dev/urandom of=/tmp/r bs=1M count=8 2>/dev/null
dd if=/tmp/r of=/dev/nvme0n1 bs=1M seek=32 conv=fsync 2>/dev/null
echo 3 >/proc/sys/vm/drop_caches
dd if=/dev/nvme0n1 of=/tmp/r2 bs=1M skip=32 count=8 2>/dev/null
if cmp -s /tmp/r /tmp/r2; then echo "LAB vf data=ok"; else echo "LAB vf data=differs"; fi
printf '@L2_MARK@' | dd of=/dev/nvme0n1 bs=512 seek=16 conv=notrunc,fsync 2>/dev/null
echo "LAB vf irqs=$(awk '/nvme[0-9]q/ {for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; else break} END {print s + 0}' /proc/interrupts)"
kill $watch 2>/dev/null
echo "LAB vf done"
# L1 checks the API, then ends Hearth.
sleep 600
'''.replace("@L2_MARK@", L2_MARK)

SCRIPT = L.SH_API + r'''
H=/lab/bin/hearth
d=""
for p in /sys/bus/pci/devices/*; do [ "$(cat $p/class)" = 0x010802 ] && d=${p##*/}; done
echo "VF dev=$d"
echo "VF id=$(cat /sys/bus/pci/devices/$d/vendor):$(cat /sys/bus/pci/devices/$d/device)"
echo "VF group=$(basename "$(readlink /sys/bus/pci/devices/$d/iommu_group)")"
i=0; while [ ! -b /dev/nvme0n1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
printf '@L1_MARK@' | dd of=/dev/nvme0n1 bs=512 seek=8 conv=notrunc,fsync 2>/dev/null
echo $d >/sys/bus/pci/devices/$d/driver/unbind
echo vfio-pci >/sys/bus/pci/devices/$d/driver_override
echo $d >/sys/bus/pci/drivers_probe
echo "VF bound=$(basename "$(readlink /sys/bus/pci/devices/$d/driver)")"
P=/sys/bus/pci/devices/$d
$H run --kernel @KERNEL@ --initrd @L2_INITRD@ --cmdline "@CMDLINE@" --memory 256 \
  --device vfio=$P </dev/null >/tmp/vf-n.out 2>/tmp/vf-n.err; echo "VF nopci=$? $(head -c 300 /tmp/vf-n.err | tr '\n' ' ')"
S=/tmp/vf.sock
mkdir -p /tmp/vfs
cat >/tmp/vf.json <<JSON
{"boot-source": {"kernel_image_path": "@KERNEL@", "initrd_path": "@L2_INITRD@", "boot_args": "@CMDLINE@"},
 "machine-config": {"vcpu_count": 2, "mem_size_mib": 256},
 "pci": {"enabled": true, "vfio": [{"id": "nvme0", "path": "$P"}]}}
JSON
$H serve --api-sock $S --config-file /tmp/vf.json --metrics-path /tmp/vf.metrics \
  --snapshot-dir /tmp/vfs </dev/null >/tmp/vf-g.out 2>/tmp/vf-h.err & hp=$!
waitfor '^LAB vf done' /tmp/vf-g.out 4800 && echo "VF guest_done=yes"
echo "VF flush=$(api PUT /actions '{"action_type": "FlushMetrics"}')"
m=$(tail -n 1 /tmp/vf.metrics | tr -d ' \n' | grep -o '"vfio_nvme0":{[^}]*}')
for k in bar_accesses_trapped msix_accesses bars_mapped failures; do
  echo "VF m_$k=$(echo "$m" | grep -o "\"$k\":[0-9]*" | cut -d: -f2)"
done
echo "VF pause=$(api PATCH /vm '{"state": "Paused"}')"
echo "VF snap=$(api PUT /snapshot/create '{"snapshot_path": "/tmp/vfs/v.snap", "mem_file_path": "/tmp/vfs/v.mem"}') $(cat /tmp/resp)"
echo "VF snapfiles=$(ls /tmp/vfs | wc -l)"
echo "VF resume=$(api PATCH /vm '{"state": "Resumed"}')"
api GET /vm/config >/dev/null; echo "VF cfg=$(tr -d ' \n' </tmp/resp | grep -o '"vfio":\[[^]]*\]')"
kill -TERM $hp; wait $hp; echo "VF exit=$?"
echo $d >/sys/bus/pci/devices/$d/driver/unbind
echo "" >/sys/bus/pci/devices/$d/driver_override
echo $d >/sys/bus/pci/drivers_probe
echo "VF rebound=$(basename "$(readlink /sys/bus/pci/devices/$d/driver)")"
i=0; while [ ! -b /dev/nvme0n1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
echo "VF l2mark=$(dd if=/dev/nvme0n1 bs=512 skip=16 count=1 2>/dev/null | tr -dc 'a-z0-9-')"
$H run --kernel @KERNEL@ --initrd @L2_INITRD@ --cmdline "@CMDLINE@" --memory 256 --pci \
  --device vfio=$P </dev/null >/tmp/vf-b.out 2>/tmp/vf-b.err; echo "VF unbound=$? $(head -c 300 /tmp/vf-b.err | tr '\n' ' ')"
tr -d '\r' </tmp/vf-g.out | grep '^LAB vf ' | sed 's/^/G /'
sed 's/^/HV /' /tmp/vf-h.err | head -n 20
echo "VF done=yes"
'''


def vfio_l1_extra():
    """L1 with an IOMMU and an NVMe disk (a fresh image each boot), vfio-pci loaded."""
    os.makedirs(L.LAB_DIR, exist_ok=True)
    with open(NVME_IMAGE, "wb") as f:
        f.truncate(64 << 20)
    return L.L1Extra(
        qemu_args=["-device", "intel-iommu,intremap=off",
                   "-drive", "file=%s,if=none,id=vfnvm,format=raw" % NVME_IMAGE,
                   "-device", "nvme,drive=vfnvm,serial=%s" % NVME_SERIAL],
        cmdline="intel_iommu=on",
        # QEMU's intel-iommu under TCG without interrupt remapping (intremap needs
        # an x2APIC setup L1 does not have): type1 must be told to go on without it.
        modules=[("vfio_iommu_type1", "allow_unsafe_interrupts=1"), ("vfio-pci", "")])


def l2_initrd(kernel):
    return L.build_l2_initrd(kernel, name="l2vfio", modules=["ext4"], extra_sh=L2_SCRIPT)


def script():
    return SCRIPT.replace("@KERNEL@", L.L1_KERNEL).replace("@CMDLINE@", CMDLINE).replace(
        "@L1_MARK@", L1_MARK)


def run(kernel):
    """The run, to be planned in an L1 boot with vfio_l1_extra()."""
    r = L.ShellRun("vfio", "hearth", script(), timeout=RUN_TIMEOUT)
    r.initrd = l2_initrd(kernel)
    return r


def info(r):
    out, fns = {}, []
    for l in r.guest_lines:
        l = l.strip()
        m = re.match(r"^G LAB vf fn (\S+)$", l)
        if m:
            fns.append(m.group(1))
            continue
        m = re.match(r"^(?:G LAB vf|VF) (\w+)=(.*)$", l)
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2).strip()
    out["fns"] = fns
    return out


def check_vfio(r):
    a = info(r)
    st = lambda k: (a.get(k) or "").split(" ")[0]  # noqa: E731
    ident = (a.get("id") or "").replace("0x", "")
    yield a.get("bound") == "vfio-pci" and a.get("group", "").isdigit(), \
        "L1: the NVMe disk (%s) is in IOMMU group %s, bound to %s" % (
            a.get("dev"), a.get("group"), a.get("bound"))
    yield st("nopci") == "2" and "needs PCI" in a.get("nopci", ""), \
        "--device vfio= without --pci is refused, exit 2, naming it (%s)" % a.get("nopci")
    fn = [f for f in a["fns"] if f.endswith(":0x010802")]
    yield len(fn) == 1 and ident and (":0x" + ident.replace(":", ":0x")) in fn[0], \
        "the guest's PCI bus has the NVMe function with L1's ids %s (%s)" % (ident, a["fns"])
    w = (a.get("win64") or "").split(":")[0]
    yield w.startswith("100000000-"), "the guest's kernel took the host bridge's 64-bit " \
        "window from the DSDT, from 4 GiB up (%r)" % a.get("win64")
    yield a.get("l1mark") == L1_MARK, \
        "the guest's nvme driver reads what L1 wrote on the disk: DMA into guest RAM " \
        "through the IOMMU (%r)" % a.get("l1mark")
    n = (a.get("msix") or "0 of 0").split(" of ")
    yield len(n) == 2 and n[0].isdigit() and int(n[0]) >= 2 and n[0] == n[1], \
        "its queues interrupt through MSI-X (%s vectors, all MSI-X)" % a.get("msix")
    yield a.get("ext2") == "l2-file-on-ext2", "mke2fs, mount, a file written and read " \
        "back after a remount (%s)" % a.get("ext2")
    yield a.get("data") == "ok", "8 MiB written and read back the same (%s)" % a.get("data")
    irqs = a.get("irqs", "0")
    yield irqs.isdigit() and int(irqs) > 10, "interrupts counted on those vectors (%s)" % irqs
    yield st("pause") == "204" and st("snap") == "400" and \
        "cannot be snapshotted" in a.get("snap", "") and a.get("snapfiles") == "0" and \
        st("resume") == "204", "a snapshot is refused, naming the device, no file " \
        "written, and the VM resumes (%s; files %s)" % (a.get("snap"), a.get("snapfiles"))
    yield "nvme0" in (a.get("cfg") or ""), "GET /vm/config lists it in pci.vfio (%s)" % (
        a.get("cfg"))
    m = {k: a.get("m_" + k) for k in ("bar_accesses_trapped", "msix_accesses", "bars_mapped",
                                      "failures")}
    yield st("flush") == "204" and m["bars_mapped"] == "1" and m["failures"] == "0" and \
        (m["bar_accesses_trapped"] or "x").isdigit() and \
        int(m["bar_accesses_trapped"]) < 100 and int(m["msix_accesses"] or 0) > 0, \
        "its BAR is a KVM slot over the device's own mapping: the registers and doorbells " \
        "of all that I/O never trapped to Hearth, only the MSI-X table did (metrics %s)" % m
    yield st("exit") in ("0", "3"), "Hearth ends on SIGTERM (%s)" % a.get("exit")
    yield a.get("rebound") == "nvme" and a.get("l2mark") == L2_MARK, \
        "back on L1's nvme driver, the disk holds what the guest wrote (%r)" % a.get("l2mark")
    yield st("unbound") not in ("", "0") and "not bound to vfio-pci" in a.get("unbound", ""), \
        "a device not bound to vfio-pci is refused, naming it (%s)" % a.get("unbound")
    yield a.get("done") == "yes", "the plan ran to its end"


def main():
    return L.standalone(__doc__, "vfio", lambda k: [run(k)], [("vfio", check_vfio)],
                        tools={"/bin/curl": shutil.which("curl")},
                        hint="scripts/deps.sh build installs curl", l1_extra=vfio_l1_extra)


if __name__ == "__main__":
    sys.exit(main())
