#!/usr/bin/env python3
"""Firecracker's own API tests (tests/integration_tests/functional/test_api.py),
the cases not already written anew in run_api_test.py's fc-api, machine-config,
vm-config and drives-nics cases: each case here is named after the one it
rewrites, and checks what that one checks, through the socket with the
seccomp filters on.

    run_fc_checklist_test.py --hearth build/hearth --case net-api-put-update-pre-boot
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, run_cases, tap_usable  # noqa: E402
from run_api_test import Serve  # noqa: E402


def case_net_api_put_update_pre_boot(binary, tmp):
    """test_net_api_put_update_pre_boot: NICs may be added and replaced before boot; a MAC
    another NIC has, or a TAP another NIC holds, is refused in Firecracker's words."""
    taps = ["hfc%d-first" % os.getpid(), "hfc%d-second" % os.getpid(),
            "hfc%d-third" % os.getpid()]
    # Hearth opens each TAP at the PUT, as Firecracker does, so this needs TAPs the
    # test may create: as root with /dev/net/tun (CI's machines). Nothing is skipped.
    check(all(tap_usable(t) for t in taps),
          "this case needs TAP devices (root and /dev/net/tun): %r" % taps)
    s = Serve(binary, tmp)
    s.expect("PUT", "/network-interfaces/1", 204,
             body={"iface_id": "1", "guest_mac": "06:00:00:00:00:01", "host_dev_name": taps[0]})
    # Adding new network interfaces is allowed (a multicast MAC too, as Firecracker takes it).
    s.expect("PUT", "/network-interfaces/2", 204,
             body={"iface_id": "2", "guest_mac": "07:00:00:00:00:01", "host_dev_name": taps[1]})
    # Updates to a network interface with an unavailable MAC are not allowed.
    s.expect("PUT", "/network-interfaces/2", 400,
             body={"iface_id": "2", "host_dev_name": taps[1], "guest_mac": "06:00:00:00:00:01"},
             fault=["The MAC address is already in use: 06:00:00:00:00:01"])
    # Updates to a network interface with an available MAC are allowed.
    s.expect("PUT", "/network-interfaces/2", 204,
             body={"iface_id": "2", "host_dev_name": taps[1], "guest_mac": "08:00:00:00:00:01"})
    # Updates to a network interface with an unavailable name are not allowed.
    s.expect("PUT", "/network-interfaces/1", 400,
             body={"iface_id": "1", "host_dev_name": taps[1], "guest_mac": "06:00:00:00:00:01"},
             fault=["Could not create the network device"])
    # Updates to a network interface with an available name are allowed.
    s.expect("PUT", "/network-interfaces/1", 204,
             body={"iface_id": "1", "host_dev_name": taps[2], "guest_mac": "06:00:00:00:00:01"})
    nics = s.expect("GET", "/vm/config", 200)["network-interfaces"]
    got = [(n["iface_id"], n["host_dev_name"], n["guest_mac"]) for n in nics]
    want = [("1", taps[2], "06:00:00:00:00:01"), ("2", taps[1], "08:00:00:00:00:01")]
    check(sorted(got) == want, "NICs after the updates: %r, want %r" % (got, want))
    s.alive()
    rc, err = s.stop()
    check(rc == 3, "hearth serve exited %d after SIGTERM, expected 3:\n%s" % (rc, err))


def case_api_cpu_config(binary, tmp):
    """test_api_cpu_config: a body that is no CustomCpuTemplate is refused; a custom
    template (Firecracker's fixture's shape: CPUID and MSR modifiers, KVM capabilities)
    is taken before boot and reported by GET /vm/config."""
    s = Serve(binary, tmp)
    s.expect("PUT", "/cpu-config", 400, body={"foo": False}, fault=["foo"])
    template = {
        "kvm_capabilities": ["!56"],
        "cpuid_modifiers": [{
            "leaf": "0x1", "subleaf": "0x0", "flags": 0,
            "modifiers": [{"register": "ecx",
                           "bitmap": "0bxxxxxxxxxxxxxxxxxxxxxxxxxxx0xxxx"}],
        }],
        "msr_modifiers": [{"addr": "0x10a", "bitmap": "0b0" + "x" * 63}],
    }
    s.expect("PUT", "/cpu-config", 204, body=template)
    got = s.expect("GET", "/vm/config", 200)["cpu-config"]
    check(isinstance(got, dict) and got.get("kvm_capabilities") == ["!56"] and
          len(got.get("cpuid_modifiers", [])) == 1 and len(got.get("msr_modifiers", [])) == 1,
          "GET /vm/config cpu-config: %r" % got)
    s.alive()
    s.stop()


CASES = {
    "net-api-put-update-pre-boot": case_net_api_put_update_pre_boot,
    "api-cpu-config": case_api_cpu_config,
}

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-fc-"))
