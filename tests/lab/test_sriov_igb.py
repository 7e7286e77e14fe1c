#!/usr/bin/env python3
"""Lab test of an SR-IOV NIC's virtual function passed through: QEMU 10's
`igb` (an Intel 82576) in L1, one VF handed to the guest, whose `igbvf`
driver brings it up and pings the physical function across the NIC.

    tests/lab/test_sriov_igb.py [--hearth PATH] [--stream]

Its own L1 boot, unlike the others:
  - bookworm-backports' QEMU 10.0 (the lab unpacks it under build/lab,
    LAB_QEMU=10.0): bookworm's 7.2 has no `igb`;
  - L1's kvm-amd with npt=1: under QEMU 10's TCG a stock-kernel L2 on
    L1's shadow paging (npt=0, the other boots') prints nothing, with
    nested paging it boots as under 7.2 (tests/lab/README.md, "Wedges");
  - Debian's generic kernel as L1 and L2: the cloud kernel has neither
    `igb` (the PF's driver) nor `igbvf` (the VF's).

  igb 1. L1's igb driver takes the PF, which gets 10.77.0.1 and its link;
         `sriov_numvfs` makes one VF, given a MAC by the PF (`ip link set
         ... vf 0 mac`). The control: L1's own igbvf takes the VF first
         (no passthrough) and is asked for the PF's MAC and link. Then
         the VF goes to vfio-pci, alone in its IOMMU group.
      2. `hearth serve --enable-pci`, `PUT /device-passthrough` with the
         VF's sbdf (sandbox and seccomp on), InstanceStart: the guest finds
         the VF's vendor and device IDs, MSI-X and no INTx pin, igbvf binds
         it; its interface should take the MAC the PF gave, 10.77.0.2, and
         ping 10.77.0.1 through the NIC's switch, and L1 ping it back.
      3. QEMU (7.2, in L1) as the peer, the same VF by -device vfio-pci.

Not in `make test` (2026-11-28): QEMU 10.0.2's igb does not complete the
VF's mailbox reset with Linux 6.1's igb and igbvf under TCG. The control
fails the same way with no VMM at all ("igbvf: PF still in reset state",
a random MAC, no carrier), and so does QEMU as the peer; the three checks
that need the PF's answer (the MAC, the two pings) fail for that. The rest
passes: docs/devices.md, "SR-IOV virtual functions".

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
CMDLINE = L.L2_CONSOLE + " reboot=k panic=-1 lab.igb=1"
VF_MAC = "52:54:00:77:00:02"
IGB_PF = "0x8086:0x10c9"     # 82576
IGB_VF = "0x8086:0x10ca"     # 82576 Virtual Function

L2_SCRIPT = r'''
grep -q lab.igb=1 /proc/cmdline || exit 0
vfdev() { for p in /sys/bus/pci/devices/*; do [ "$(cat $p/vendor):$(cat $p/device)" = @IGB_VF@ ] && echo ${p##*/}; done | head -n 1; }
vf=$(vfdev); p=/sys/bus/pci/devices/$vf
echo "LAB ig id=$(cat $p/vendor):$(cat $p/device)"
echo "LAB ig pin=$(cat $p/irq 2>/dev/null) msix=$(cat $p/msi_irqs/* 2>/dev/null | grep -c '^msix$')"
i=0; while [ ! -d $p/net ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
echo "LAB ig driver=$(basename "$(readlink $p/driver)")"
n=$(ls $p/net 2>/dev/null | head -n 1)
echo "LAB ig mac=$(cat /sys/class/net/$n/address 2>/dev/null)"
ip link set $n up; ip addr add 10.77.0.2/24 dev $n
i=0; while [ "$(cat /sys/class/net/$n/carrier 2>/dev/null)" != 1 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
echo "LAB ig carrier=$(cat /sys/class/net/$n/carrier 2>/dev/null)"
if ping -c 3 -W 3 10.77.0.1 >/tmp/ping.out 2>&1; then echo "LAB ig ping=ok"
else echo "LAB ig ping=fail $(tr '\n' ' ' </tmp/ping.out)"; fi
dmesg | grep -i -E 'igbvf|mbx|mailbox|PF ' | tail -n 8 | sed 's/^/LAB igd /'
echo "LAB ig done"
sleep 600
'''.replace("@IGB_VF@", IGB_VF)

SCRIPT = L.SH_API + r'''
H=/lab/bin/hearth
pf=""
for p in /sys/bus/pci/devices/*; do [ "$(cat $p/vendor):$(cat $p/device)" = @IGB_PF@ ] && pf=${p##*/}; done
P=/sys/bus/pci/devices/$pf
i=0; while [ ! -d $P/net ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
ifc=$(ls $P/net | head -n 1)
echo "IG pf=$pf driver=$(basename "$(readlink $P/driver)") totalvfs=$(cat $P/sriov_totalvfs) ifc=$ifc"
ip link set $ifc up; ip addr add 10.77.0.1/24 dev $ifc
i=0; while [ "$(cat /sys/class/net/$ifc/carrier 2>/dev/null)" != 1 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
echo "IG pf_carrier=$(cat /sys/class/net/$ifc/carrier 2>/dev/null) after=$i"
echo 1 >$P/sriov_numvfs; echo "IG numvfs=$?"
/lab/bin/ip link set $ifc vf 0 mac @VF_MAC@; echo "IG vfmac=$?"
vf=$(basename "$(readlink $P/virtfn0)")
sleep 3
echo "IG l1vf_driver=$(basename "$(readlink /sys/bus/pci/devices/$vf/driver)") net=$(ls /sys/bus/pci/devices/$vf/net 2>/dev/null)"
vn=$(ls /sys/bus/pci/devices/$vf/net 2>/dev/null | head -n 1)
[ -n "$vn" ] && echo "IG l1vf_mac=$(cat /sys/class/net/$vn/address)"
dmesg | grep -i igbvf | tail -n 6 | sed 's/^/IGV /'
[ -n "$vn" ] && { ip link set $vn up; sleep 3; echo "IG l1vf_carrier=$(cat /sys/class/net/$vn/carrier)"; }
echo 0 >$P/sriov_drivers_autoprobe
echo $vf >/sys/bus/pci/devices/$vf/driver/unbind 2>/dev/null
echo "IG vf=$vf id=$(cat /sys/bus/pci/devices/$vf/vendor):$(cat /sys/bus/pci/devices/$vf/device)"
g=$(basename "$(readlink /sys/bus/pci/devices/$vf/iommu_group)")
echo "IG members=$(ls /sys/kernel/iommu_groups/$g/devices | tr '\n' ' ')"
echo vfio-pci >/sys/bus/pci/devices/$vf/driver_override
echo $vf >/sys/bus/pci/drivers_probe
echo "IG bound=$(basename "$(readlink /sys/bus/pci/devices/$vf/driver)")"
S=/tmp/ig.sock
$H serve --api-sock $S --enable-pci </dev/null >/tmp/ig-g.out 2>/tmp/ig-h.err & hp=$!
waitsock
echo "IG boot=$(api PUT /boot-source '{"kernel_image_path": "@KERNEL@", "initrd_path": "@L2_INITRD@", "boot_args": "@CMDLINE@"}')"
echo "IG machine=$(api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 512}')"
echo "IG put=$(api PUT /device-passthrough/vf0 '{"id": "vf0", "sbdf": "'$vf'"}') $(cat /tmp/resp)"
echo "IG start=$(api PUT /actions '{"action_type": "InstanceStart"}') $(cat /tmp/resp)"
waitfor '^LAB ig done' /tmp/ig-g.out 3000 && echo "IG guest_done=yes"
if ping -c 3 -W 3 10.77.0.2 >/tmp/ping.out 2>&1; then echo "IG ping=ok"
else echo "IG ping=fail $(tr '\n' ' ' </tmp/ping.out)"; fi
echo "IG neigh=$(ip neigh show 10.77.0.2 dev $ifc | tr '\n' ' ')"
tr -d '\r' </tmp/ig-g.out | grep '^LAB ig' | sed 's/^/G /'
tr -d '\r' </tmp/ig-g.out | grep -v '^LAB ig' | grep -i -E 'igbvf|vf|mbx|panic|BUG|Oops|DMA|reset|link' | tail -n 30 | sed 's/^/GO /'
sed 's/^/H /' /tmp/ig-h.err | head -n 20
kill -TERM $hp; i=0; while kill -0 $hp 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
kill -0 $hp 2>/dev/null && { echo "IG exit=hung"; kill -9 $hp; }
wait $hp; echo "IG exit=$?"
dmesg | grep -i -E 'igb|vfio|DMAR|VF' | tail -n 16 | sed 's/^/D /'
echo "IG done=yes"
'''.replace("@IGB_PF@", IGB_PF).replace("@VF_MAC@", VF_MAC)


# QEMU as the peer, the same VF by its address in L1 (@DEV@ in its argv).
QEMU_WRAP = r'''d=""; for p in /sys/bus/pci/devices/*; do
  [ -e $p/sriov_totalvfs ] && d=$(basename "$(readlink $p/virtfn0)"); done
n=$#; i=0
while [ $i -lt $n ]; do
  a=$1; shift; set -- "$@" "$(printf '%s' "$a" | sed "s#@DEV@#$d#g")"; i=$((i+1))
done
exec "$@"
'''


class VfRun(L.Run):
    """A VMM run given the VF by its address in L1."""

    def argv(self, l1_initrd_path):
        return ["/bin/sh", "-c", QEMU_WRAP, "igb-peer"] + super().argv(l1_initrd_path)


def script():
    return SCRIPT.replace("@KERNEL@", L.L1_KERNEL).replace("@CMDLINE@", CMDLINE)


def l1_extra():
    """L1 with an IOMMU and QEMU 10's igb, behind a user-mode backend no test uses."""
    return L.L1Extra(
        qemu_args=["-device", "intel-iommu,intremap=off",
                   "-netdev", "user,id=ign,restrict=on", "-device", "igb,netdev=ign"],
        cmdline="intel_iommu=on",
        modules=[("vfio_iommu_type1", "allow_unsafe_interrupts=1"), ("vfio-pci", ""),
                 ("igb", ""), ("igbvf", "")])


def checks(r):
    a = VU.info(r, "IG")
    g = VU.info(r, "G LAB ig")
    st = lambda k: (a.get(k) or "").split(" ")[0]  # noqa: E731
    yield "driver=igb" in a.get("pf", "") and "totalvfs=0" not in a.get("pf", ""), \
        "L1's igb driver has the PF, which offers VFs (%s)" % a.get("pf")
    yield a.get("numvfs") == "0" and a.get("vfmac") == "0" and bool(a.get("vf")), \
        "sriov_numvfs makes a VF and the PF gives it a MAC (%s)" % a.get("vf")
    yield len((a.get("members") or "").split()) == 1, \
        "the VF is alone in its IOMMU group (%s)" % a.get("members")
    yield a.get("bound") == "vfio-pci", "L1 binds the VF to vfio-pci (%s)" % a.get("bound")
    yield st("put") == "204" and st("start") == "204", \
        "PUT /device-passthrough and InstanceStart are 204 (%s; %s)" % (a.get("put"),
                                                                       a.get("start"))
    yield g.get("id") == IGB_VF and IGB_VF in a.get("vf", ""), \
        "the guest sees the VF's vendor and device IDs (%s; L1: %s)" % (g.get("id"), a.get("vf"))
    yield (g.get("pin") or "").startswith("0 ") and not (g.get("pin") or "").endswith(
        "msix=0"), "no INTx, MSI-X only (%s)" % g.get("pin")
    yield g.get("driver") == "igbvf" and g.get("mac") == VF_MAC, \
        "the guest's igbvf takes the VF, with the MAC the PF gave it (%s, %s)" % (
            g.get("driver"), g.get("mac"))
    yield g.get("ping") == "ok", \
        "the guest pings the PF's address through the VF (%s; carrier %s)" % (
            g.get("ping"), g.get("carrier"))
    yield a.get("ping") == "ok" and ("lladdr %s" % VF_MAC) in (a.get("neigh") or "").lower(), \
        "L1 pings the guest back through the PF, answered from the VF's MAC (%s; %s)" % (
            a.get("ping"), a.get("neigh"))
    yield st("exit") in ("0", "3"), "Hearth exits cleanly on SIGTERM (%s)" % a.get("exit")
    yield a.get("done") == "yes", "the plan ran to its end"


def control_checks(r):
    """Without any VMM: L1's own igbvf on the same VF (the NIC's emulation alone)."""
    a = VU.info(r, "IG")
    yield a.get("l1vf_mac") == VF_MAC and a.get("l1vf_carrier") == "1", \
        "control: L1's own igbvf gets the PF's MAC and a link (%s, carrier %s)" % (
            a.get("l1vf_mac"), a.get("l1vf_carrier"))


def peer_checks(r):
    """QEMU as the peer: the same VF, the same guest."""
    g = VU.info(r, "LAB ig")
    yield g.get("id") == IGB_VF and g.get("driver") == "igbvf", \
        "QEMU: the guest's igbvf takes the VF (%s, %s)" % (g.get("id"), g.get("driver"))
    yield g.get("mac") == VF_MAC and g.get("ping") == "ok", \
        "QEMU: the guest has the PF's MAC and pings the PF (%s, %s)" % (g.get("mac"),
                                                                       g.get("ping"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    # iproute2's ip for `ip link set PF vf 0 mac` (busybox's has no vf).
    tools = {"/bin/curl": shutil.which("curl"), "/lab/bin/ip": shutil.which("ip")}
    missing = [k for k, v in tools.items() if not v]
    if missing:
        print("FAIL %s not installed (scripts/deps.sh installs curl and iproute2)" % missing)
        print("0 passed, 1 failed")
        return 1
    os.environ["LAB_QEMU"] = "10.0"
    L.L1_MODULES = [m if m[0] != "kvm-amd" else ("kvm-amd", "npt=1") for m in L.L1_MODULES]
    try:
        lab = L.Lab(stream=a.stream or None)
        lab.kernel = L.get_kernel(L.KERNEL_META_GENERIC)
        run = L.ShellRun("igb", "hearth", script(), timeout=RUN_TIMEOUT)
        run.initrd = L.build_l2_initrd(lab.kernel, name="l2igb", modules=["igbvf"],
                                       extra_sh=L2_SCRIPT)
        peer = VfRun("igb_qemu", vmm="qemu", cpus=2, memory=512, timeout=300,
                     initrd=run.initrd, machine="q35", cmdline=CMDLINE,
                     extra_args=["-device", "vfio-pci,host=@DEV@"])
        res = lab.run_plan([run, peer], tag="igb", binaries=tools, l1_extra=l1_extra())
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    return L.report(res, [("igb", checks), ("igb", control_checks), ("igb_qemu", peer_checks)],
                    tail=80)


if __name__ == "__main__":
    sys.exit(main())
