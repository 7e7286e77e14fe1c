#!/usr/bin/env python3
"""PUT /device-passthrough/{id} (Firecracker's VFIO branch) through a real
`hearth serve --enable-pci` socket, against this host's own PCI devices:

    run_passthrough_test.py --hearth PATH [--asan PATH] --case api

  api   before boot: malformed sbdfs are serde's 400 naming what is wrong
        (the device past 1f, the function past 7, digits missing, no '.');
        an id that is not the path's is Firecracker's words; a well-formed
        sbdf that no device of this host has is 400 naming its sysfs path;
        each real device of /sys/bus/pci/devices not bound to vfio-pci is
        400 naming its driver (or that it has none) and saying to bind it
        to vfio-pci, in the long and the short form of its address. A
        device that is bound to vfio-pci, where the host has one, is taken
        (204), listed in GET /vm/config's "pci": {"vfio": [...]}, replaced
        by a PUT of its id and refused under a second id. After
        InstanceStart of a tiny guest (on a /dev/kvm that runs it, PCI on)
        a PUT of a device not passed through at start is 400 saying why
        (the sealed process opens no new VFIO group), a DELETE of an id the
        VM has not is "Device not found", and a malformed body still gets
        serde's words. (Unplugging and plugging back a device given at
        start: tests/lab/test_sriov.py.) What this host cannot show (no PCI device, none bound to
        vfio-pci) is said, with where it is shown instead; what needs /dev/kvm runs in the lab
        when this host cannot (itest.NotHere).
The model's rules (replace, duplicates, the VM's other devices) without a
real device: tests/unit/test_api_passthrough.c.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, kvm_usable, need_kvm, NotHere, run_cases, tiny_elf  # noqa: E402
from run_api_test import SERDE, Serve  # noqa: E402

SYSFS = "/sys/bus/pci/devices"
CFG_ERR = "Device passthrough config error: "


def host_devices():
    """This host's PCI devices: [(sbdf, driver or None)], sorted."""
    try:
        names = sorted(os.listdir(SYSFS))
    except OSError:
        return []
    found = []
    for n in names:
        link = os.path.join(SYSFS, n, "driver")
        found.append((n, os.path.basename(os.readlink(link)) if os.path.islink(link) else None))
    return found


def put(s, dev_id, sbdf, status, **kw):
    return s.expect("PUT", "/device-passthrough/" + dev_id, status,
                    body={"id": dev_id, "sbdf": sbdf}, **kw)


def vfio_of(s):
    """GET /vm/config's pci.vfio list ([] when there is none)."""
    js = s.expect("GET", "/vm/config", 200)
    check(js.get("pci", {}).get("enabled") is True, "a PCI VM's config: %r" % js.get("pci"))
    return js["pci"].get("vfio", [])


def check_malformed(s):
    for sbdf, why in (("0000:00:20.0", "the device 20 is past 1f"),
                      ("0000:01:02.8", "the function '8' is not one digit, 0 to 7"),
                      ("0000:01:02.03", "the function '03' is not one digit, 0 to 7"),
                      ("000:01:02.3", "the domain '000' is not 4 hex digits"),
                      ("0000:1:02.3", "the bus '1' is not 2 hex digits"),
                      ("0000:01:2.3", "the device '2' is not 2 hex digits"),
                      ("0000:01:02", "no '.' before the function"),
                      ("nvme", "no colon"),
                      ("", "empty")):
        put(s, "nvme0", sbdf, 400,
            fault=[SERDE + "Invalid device passthrough SBDF: %s (%s" % (sbdf, why), " at line 1 "])
    s.expect("PUT", "/device-passthrough/nvme0", 400, body={"id": "nvme0"},
             exact=SERDE + "missing field `sbdf` at line 1 column 15.")
    s.expect("PUT", "/device-passthrough/nvme0", 400, body={"id": "nvme1", "sbdf": "00:01.0"},
             exact="The id from the path does not match the id from the body!")


def check_absent(s, devs):
    have = {n for n, _ in devs}
    absent = next(c for c in ("0000:00:1f.7", "0000:ff:1f.7", "ffff:ff:1f.7") if c not in have)
    put(s, "nvme0", absent, 400,
        exact=CFG_ERR + "no PCI device %s on this host (%s/%s)" % (absent, SYSFS, absent))
    if absent.startswith("0000:"):
        # The short form is domain 0000's, checked at the same path.
        put(s, "nvme0", absent[5:], 400, fault=["no PCI device %s on this host" % absent])


def check_not_vfio(s, devs):
    """Every device of this host not on vfio-pci: 400 naming its driver, or that it has none."""
    others = [(n, d) for n, d in devs if d != "vfio-pci"]
    if not devs:
        print("this host has no PCI device (%s is empty or missing): no real device's "
              "driver checked here (tests/lab/test_sriov.py passes real ones through)" % SYSFS)
    for n, d in others:
        words = ("its driver: %s" % d) if d else "it has no driver"
        want = (CFG_ERR + "VFIO device %s: not bound to vfio-pci (%s): bind it to vfio-pci "
                "first (docs/devices.md, Passthrough (VFIO))" % (n, words))
        put(s, "dev0", n, 400, exact=want)
        if n.startswith("0000:"):
            put(s, "dev0", n[5:].upper(), 400, exact=want)
    if others:
        print("checked %d devices not on vfio-pci: %s" % (
            len(others), ", ".join("%s (%s)" % (n, d or "no driver") for n, d in others)))
    check(vfio_of(s) == [], "nothing refused is in GET /vm/config")


def check_vfio_bound(s, devs):
    """Where the host has devices on vfio-pci: taken, listed, replaced, not given twice."""
    bound = [n for n, d in devs if d == "vfio-pci"]
    if not bound:
        print("no device of this host is bound to vfio-pci: the 204 path (listed in GET "
              "/vm/config, replaced, a second id refused) is the unit test's, and "
              "tests/lab/test_sriov.py's with a real device")
        return
    first = bound[0]
    put(s, "pt0", first, 204)
    check(vfio_of(s) == [{"id": "pt0", "path": "%s/%s" % (SYSFS, first)}],
          "GET /vm/config lists pt0: %r" % vfio_of(s))
    put(s, "pt1", first, 400, exact=CFG_ERR + "Duplicate device passthrough SBDF: %s (device "
        "'pt0' has it)" % first)
    if len(bound) > 1:
        put(s, "pt0", bound[1], 204)
        check(vfio_of(s) == [{"id": "pt0", "path": "%s/%s" % (SYSFS, bound[1])}],
              "pt0 replaced: %r" % vfio_of(s))
    else:
        put(s, "pt0", first, 204)
        check(len(vfio_of(s)) == 1, "pt0 put again is still one device: %r" % vfio_of(s))


def case_api(binary, tmp):
    devs = host_devices()
    s = Serve(binary, tmp, ["--enable-pci"])
    check_malformed(s)
    check_absent(s, devs)
    check_not_vfio(s, devs)
    check_vfio_bound(s, devs)
    if not kvm_usable():
        s.stop()
        need_kvm("the refusal after InstanceStart")
    if any(d == "vfio-pci" for _, d in devs):
        # A device taken above would be opened at start; start this VM without it.
        s.stop()
        os.unlink(s.sock)
        s = Serve(binary, tmp, ["--enable-pci"])
    kernel = os.path.join(tmp, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 1, "mem_size_mib": 64})
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    any_dev = devs[0][0] if devs else "0000:00:00.0"
    put(s, "nvme0", any_dev, 400,
        exact="VFIO device %s was not passed through at InstanceStart: after it, only a "
        "device given before it (and unplugged since) plugs in, since the sealed process "
        "opens no new VFIO group (docs/devices.md, Passthrough (VFIO))" % any_dev)
    s.expect("DELETE", "/device-passthrough/nvme0", 400, exact="Device not found")
    put(s, "nvme0", "0000:00:00.9", 400,
        exact=SERDE + "Invalid device passthrough SBDF: 0000:00:00.9 (the function '9' is not "
        "one digit, 0 to 7) at line 1 column 38.")
    check(vfio_of(s) == [], "no device after the refusals")
    s.stop()


CASES = {"api": case_api}

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-passthrough-"))
