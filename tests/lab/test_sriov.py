#!/usr/bin/env python3
"""Lab test of SR-IOV: a virtual function of L1's SR-IOV device passed
through to the guest, its function-level reset forwarded, unplugged and
plugged back through the API.

    tests/lab/test_sriov.py [--hearth PATH] [--stream]

L1's QEMU (bookworm's 7.2) gets an NVMe controller with SR-IOV
(`sriov_max_vfs`, in an NVMe subsystem, one shared namespace) behind an
emulated IOMMU. QEMU's `igb` NIC (8.0 and later) is not used: as L1,
bookworm-backports' QEMU 10 boots no stock-kernel L2 (tests/lab/README.md,
"Wedges"; measured again for this test: a plain `hearth run` of Debian's
generic kernel in an L1 of QEMU 10 printed 0 lines in 120 s).

  sriov 1. L1's nvme driver takes the physical function; nvme-cli moves
           the flexible queue and interrupt resources to a secondary
           controller (virt-mgmt), `sriov_numvfs` makes the VF and brings
           it online; L1 binds it to vfio-pci, in an IOMMU group of its
           own, and writes a mark through the PF's namespace.
        2. A VF not bound to vfio-pci, and an sbdf with no device, are
           400s naming the problem.
        3. `hearth serve --enable-pci`, PUT /device-passthrough/{id} with
           the VF's sbdf (the sandbox and seccomp on): the guest's nvme
           driver finds the VF (its vendor and device IDs, MSI-X only, no
           INTx pin), reads L1's mark through the shared namespace, writes
           its own, which L1 then reads through the PF.
        4. The guest resets the function (sysfs `reset`: an FLR, which
           Hearth forwards; the metrics count it) and reads again.
        5. DELETE /device-passthrough/{id}: the guest lets the VF go (ACPI)
           and GET /vm/config drops it; PUT with its sbdf plugs it back, the
           guest finds it with no rescan and reads the mark again; a PUT of
           another device after start is 400 naming why.

Prints one line per check and `N passed, N failed`. Exit 0 all passed, 1 a
check failed, 3 lab failure (tests/lab/README.md).
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402
import test_vhost_user as VU  # noqa: E402

RUN_TIMEOUT = 600
CMDLINE = L.L2_CONSOLE + " reboot=k panic=-1 lab.sriov=1"
NVME_IMAGE = os.path.join(L.LAB_DIR, "sriov-nvme.img")
L1_MARK = "l1-wrote-this-through-the-pf"
L2_MARK = "l2-wrote-this-through-the-vf"

L2_SCRIPT = r'''
grep -q lab.sriov=1 /proc/cmdline || exit 0
dmesg -n 1 2>/dev/null
vfdev() { for p in /sys/bus/pci/devices/*; do [ "$(cat $p/class)" = 0x010802 ] && echo ${p##*/}; done | head -n 1; }
i=0; while [ ! -b /dev/nvme0n1 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
vf=$(vfdev); p=/sys/bus/pci/devices/$vf
echo "LAB sr id=$(cat $p/vendor):$(cat $p/device)"
echo "LAB sr pin=$(cat $p/irq 2>/dev/null) msix=$(cat $p/msi_irqs/* 2>/dev/null | grep -c '^msix$')"
echo "LAB sr l1mark=$(dd if=/dev/nvme0n1 bs=512 skip=8 count=1 2>/dev/null | tr -dc 'a-z0-9-')"
printf '@L2_MARK@' | dd of=/dev/nvme0n1 bs=512 seek=16 conv=notrunc,fsync 2>/dev/null && echo "LAB sr wrote=1"
echo "LAB sr reset_file=$(ls $p/reset 2>/dev/null | wc -l)"
echo 1 >$p/reset && echo "LAB sr reset=ok"
echo 3 >/proc/sys/vm/drop_caches
i=0; while [ ! -b /dev/nvme0n1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
echo "LAB sr after_reset=$(dd if=/dev/nvme0n1 bs=512 skip=8 count=1 2>/dev/null | tr -dc 'a-z0-9-')"
echo "LAB sr phase1=done"
i=0; while [ -n "$(vfdev)" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
[ -z "$(vfdev)" ] && echo "LAB sr gone=1"
i=0; while [ ! -b /dev/nvme0n1 ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i+1)); done
echo "LAB sr back=$(vfdev)"
echo 3 >/proc/sys/vm/drop_caches
echo "LAB sr l1mark2=$(dd if=/dev/nvme0n1 bs=512 skip=8 count=1 2>/dev/null | tr -dc 'a-z0-9-')"
echo "LAB sr done"
sleep 600
'''.replace("@L2_MARK@", L2_MARK)

# L1's side: the PF found, the VF's resources given and the VF made and brought online
# (bench/vfio.py --sriov does the same). "SR key=value" lines.
VF_SETUP = r'''
N=/lab/bin/nvme
pf=""
for p in /sys/bus/pci/devices/*; do [ -e $p/sriov_totalvfs ] && [ "$(cat $p/class)" = 0x010802 ] && pf=${p##*/}; done
echo "SR pf=$pf driver=$(basename "$(readlink /sys/bus/pci/devices/$pf/driver)") totalvfs=$(cat /sys/bus/pci/devices/$pf/sriov_totalvfs)"
c=/dev/$(ls /sys/bus/pci/devices/$pf/nvme | head -n 1)
i=0; while [ ! -b ${c}n1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
printf '@L1_MARK@' | dd of=${c}n1 bs=512 seek=8 conv=notrunc,fsync 2>/dev/null
# The flexible resources from the primary controller to the VF's secondary one.
$N virt-mgmt $c -c 0 -r 0 -a 1 -n 0 >/tmp/vm.log 2>&1
$N virt-mgmt $c -c 0 -r 1 -a 1 -n 0 >>/tmp/vm.log 2>&1
$N reset $c >>/tmp/vm.log 2>&1
echo 0 >/sys/bus/pci/devices/$pf/sriov_drivers_autoprobe
echo 1 >/sys/bus/pci/devices/$pf/sriov_numvfs; echo "SR numvfs=$?"
scid=$($N list-secondary $c 2>/dev/null | grep -i -m1 'SCID' | grep -o '0x[0-9a-fA-F]*' | head -n 1)
echo "SR scid=$scid"
$N virt-mgmt $c -c ${scid:-1} -r 1 -a 8 -n 1 >>/tmp/vm.log 2>&1
$N virt-mgmt $c -c ${scid:-1} -r 0 -a 8 -n 2 >>/tmp/vm.log 2>&1
$N virt-mgmt $c -c ${scid:-1} -r 0 -a 9 -n 0 >>/tmp/vm.log 2>&1; echo "SR online=$?"
sed 's/^/VM /' /tmp/vm.log | head -n 12
vf=$(basename "$(readlink /sys/bus/pci/devices/$pf/virtfn0)")
echo "SR vf=$vf id=$(cat /sys/bus/pci/devices/$vf/vendor):$(cat /sys/bus/pci/devices/$vf/device)"
g=$(basename "$(readlink /sys/bus/pci/devices/$vf/iommu_group)")
echo "SR members=$(ls /sys/kernel/iommu_groups/$g/devices | tr '\n' ' ')"
'''

SCRIPT = L.SH_API + r'''
H=/lab/bin/hearth
''' + VF_SETUP + r'''S=/tmp/sr.sock
$H serve --api-sock $S --enable-pci --metrics-path /tmp/sr.metrics </dev/null >/tmp/sr-g.out 2>/tmp/sr-h.err & hp=$!
waitsock
echo "SR unbound=$(api PUT /device-passthrough/vf0 '{"id": "vf0", "sbdf": "'$vf'"}') $(cat /tmp/resp)"
echo "SR nodev=$(api PUT /device-passthrough/vf0 '{"id": "vf0", "sbdf": "0000:7f:1f.7"}') $(cat /tmp/resp)"
echo vfio-pci >/sys/bus/pci/devices/$vf/driver_override
echo $vf >/sys/bus/pci/drivers_probe
echo "SR bound=$(basename "$(readlink /sys/bus/pci/devices/$vf/driver)")"
echo "SR boot=$(api PUT /boot-source '{"kernel_image_path": "@KERNEL@", "initrd_path": "@L2_INITRD@", "boot_args": "@CMDLINE@"}')"
echo "SR machine=$(api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}')"
echo "SR put=$(api PUT /device-passthrough/vf0 '{"id": "vf0", "sbdf": "'$vf'"}') $(cat /tmp/resp)"
echo "SR start=$(api PUT /actions '{"action_type": "InstanceStart"}') $(cat /tmp/resp)"
waitfor '^LAB sr phase1=done' /tmp/sr-g.out 1500 && echo "SR phase1=yes"
echo 3 >/proc/sys/vm/drop_caches
echo "SR l2mark=$(dd if=${c}n1 bs=512 skip=16 count=1 2>/dev/null | tr -dc 'a-z0-9-')"
echo "SR flush=$(api PUT /actions '{"action_type": "FlushMetrics"}')"
echo "SR resets=$(tail -n 1 /tmp/sr.metrics | tr -d ' \n' | grep -o '"vfio_vf0":{[^}]*}' | grep -o '"resets":[0-9]*' | cut -d: -f2)"
echo "SR other=$(api PUT /device-passthrough/vf1 '{"id": "vf1", "sbdf": "'$pf'"}') $(cat /tmp/resp)"
echo "SR unplug=$(api DELETE /device-passthrough/vf0) $(cat /tmp/resp)"
api GET /vm/config >/dev/null; echo "SR cfg_after=$(tr -d ' \n' </tmp/resp | grep -o '"vfio":\[[^]]*\]')"
waitfor '^LAB sr gone=1' /tmp/sr-g.out 600 && echo "SR guest_gone=yes"
echo "SR replug=$(api PUT /device-passthrough/vf2 '{"id": "vf2", "sbdf": "'$vf'"}') $(cat /tmp/resp)"
waitfor '^LAB sr done' /tmp/sr-g.out 1200 && echo "SR guest_done=yes"
api GET /vm/config >/dev/null; echo "SR cfg=$(tr -d ' \n' </tmp/resp | grep -o '"vfio":\[[^]]*\]')"
tr -d '\r' </tmp/sr-g.out | grep '^LAB sr ' | sed 's/^/G /'
sed 's/^/H /' /tmp/sr-h.err | head -n 20
kill -TERM $hp; i=0; while kill -0 $hp 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
kill -0 $hp 2>/dev/null && { echo "SR exit=hung"; kill -9 $hp; }
wait $hp; echo "SR exit=$?"
dmesg | grep -i -E 'nvme|vfio|DMAR' | tail -n 12 | sed 's/^/D /'
echo "SR done=yes"
'''


def script():
    return (SCRIPT.replace("@KERNEL@", L.L1_KERNEL).replace("@CMDLINE@", CMDLINE)
            .replace("@L1_MARK@", L1_MARK))


def l1_extra():
    """L1 with an IOMMU and an NVMe controller with SR-IOV (a fresh image each boot)."""
    os.makedirs(L.LAB_DIR, exist_ok=True)
    with open(NVME_IMAGE, "wb") as f:
        f.truncate(64 << 20)
    return L.L1Extra(
        qemu_args=["-device", "intel-iommu,intremap=off",
                   "-device", "nvme-subsys,id=srsub,nqn=hearth-sriov",
                   "-device", "nvme,serial=hearthsriov,subsys=srsub,sriov_max_vfs=1,"
                   "sriov_vq_flexible=2,sriov_vi_flexible=1",
                   "-drive", "file=%s,if=none,id=srd,format=raw" % NVME_IMAGE,
                   "-device", "nvme-ns,drive=srd,nsid=1,shared=on"],
        cmdline="intel_iommu=on",
        modules=[("vfio_iommu_type1", "allow_unsafe_interrupts=1"), ("vfio-pci", "")])


def checks(r):
    a = VU.info(r, "SR")
    g = VU.info(r, "G LAB sr")
    st = lambda k: (a.get(k) or "").split(" ")[0]  # noqa: E731
    yield "driver=nvme" in a.get("pf", ""), "L1's nvme driver has the PF (%s)" % a.get("pf")
    yield a.get("numvfs") == "0" and a.get("online") == "0" and bool(a.get("vf")), \
        "sriov_numvfs makes a VF, brought online with its resources (%s; online %s)" % (
            a.get("vf"), a.get("online"))
    yield len((a.get("members") or "").split()) == 1, \
        "the VF is alone in its IOMMU group (%s)" % a.get("members")
    yield st("unbound") == "400" and "not bound to vfio-pci" in a.get("unbound", ""), \
        "a VF not bound to vfio-pci is 400 naming it (%s)" % a.get("unbound")
    yield st("nodev") == "400" and "no PCI device 0000:7f:1f.7" in a.get("nodev", ""), \
        "an sbdf with no device is 400 naming it (%s)" % a.get("nodev")
    yield a.get("bound") == "vfio-pci", "L1 binds the VF to vfio-pci (%s)" % a.get("bound")
    yield st("put") == "204" and st("start") == "204", \
        "PUT /device-passthrough and InstanceStart are 204 (%s; %s)" % (a.get("put"),
                                                                       a.get("start"))
    vfid = (a.get("vf") or "").split("id=")[-1]
    yield bool(vfid) and g.get("id") == vfid, \
        "the guest sees the VF's vendor and device IDs (%s; L1: %s)" % (g.get("id"), vfid)
    yield (g.get("pin") or "").startswith("0 ") and not (g.get("pin") or "").endswith(
        "msix=0"), "no INTx, MSI-X only (%s)" % g.get("pin")
    yield g.get("l1mark") == L1_MARK, "the guest reads L1's mark through the VF (%r)" % g.get(
        "l1mark")
    yield g.get("wrote") == "1" and a.get("l2mark") == L2_MARK, \
        "L1 reads through the PF what the guest wrote through the VF (%r)" % a.get("l2mark")
    yield g.get("reset_file") == "1" and g.get("reset") == "ok" and \
        g.get("after_reset") == L1_MARK and (a.get("resets") or "0") != "0", \
        "the guest's function-level reset reaches the device, which reads on (%s, %s, %r; " \
        "metrics resets %s)" % (g.get("reset_file"), g.get("reset"), g.get("after_reset"),
                                a.get("resets"))
    yield st("other") == "400" and "not passed through at InstanceStart" in a.get("other", ""), \
        "a device not given at start is 400 after it, naming why (%s)" % a.get("other")
    yield st("unplug") == "204" and a.get("guest_gone") == "yes" and \
        a.get("cfg_after", "") == "", \
        "DELETE unplugs it: the guest lets it go, GET /vm/config drops it (%s; %s; %r)" % (
            a.get("unplug"), a.get("guest_gone"), a.get("cfg_after"))
    yield st("replug") == "204" and bool(g.get("back")) and g.get("l1mark2") == L1_MARK and \
        '"id":"vf2"' in a.get("cfg", ""), \
        "PUT plugs it back: the guest finds it and reads on (%s; %s; %r; %s)" % (
            a.get("replug"), g.get("back"), g.get("l1mark2"), a.get("cfg"))
    yield st("exit") in ("0", "3"), "Hearth exits cleanly on SIGTERM (%s)" % a.get("exit")
    yield a.get("done") == "yes", "the plan ran to its end"


def run(kernel):
    """The run, to be planned in an L1 boot with l1_extra()."""
    r = L.ShellRun("sriov", "hearth", script(), timeout=RUN_TIMEOUT)
    r.initrd = L.build_l2_initrd(kernel, name="l2sriov", extra_sh=L2_SCRIPT)
    return r


def tools():
    """What the run needs in L1: curl, and nvme-cli for the VF's resources."""
    return {"/bin/curl": shutil.which("curl"), "/lab/bin/nvme": shutil.which("nvme")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    missing = [k for k, v in tools().items() if not v]
    if missing:
        print("FAIL %s not installed (scripts/deps.sh installs curl and nvme-cli)" % missing)
        print("0 passed, 1 failed")
        return 1
    try:
        lab = L.Lab(stream=a.stream or None)
        res = lab.run_plan([run(lab.kernel)], tag="sriov", binaries=tools(),
                           l1_extra=l1_extra())
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    return L.report(res, [("sriov", checks)], tail=80)


if __name__ == "__main__":
    sys.exit(main())
