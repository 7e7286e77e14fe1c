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
from itest import (check, kvm_usable, need_kvm, NOT_BEFORE_START, run_cases,  # noqa: E402
                   tap_usable, tiny_elf)
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


def case_map_private_seccomp_regression(binary, tmp):
    """test_map_private_seccomp_regression: with a 2 MiB payload limit, a 1 MiB MMDS PUT
    (a large buffer: mmap MAP_PRIVATE|MAP_ANONYMOUS on the api thread) is taken with the
    seccomp filters on, and GET /mmds before it is {}."""
    s = Serve(binary, tmp, ["--http-api-max-payload-size", str(2 << 20)])
    check(s.expect("GET", "/mmds", 200) == {}, "GET /mmds before any PUT")
    data = {"latest": {"meta-data": {"ami-id": "b" * (1 << 20)}}}
    s.expect("PUT", "/mmds", 204, body=data)
    check(s.expect("GET", "/mmds", 200) == data, "GET /mmds after the 1 MiB PUT")
    s.alive()
    s.stop()


def case_get_full_config(binary, tmp):
    """test_get_full_config: a VM configured with a root drive, a vsock, a NIC with a tx
    limiter, a balloon, the MMDS and memory hotplug is reported key for key, nulls
    included."""
    tap = "hfc%d-full" % os.getpid()
    check(tap_usable(tap), "this case needs a TAP device (root and /dev/net/tun)")
    kernel = os.path.join(tmp, "vmlinux")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    rootfs = os.path.join(tmp, "rootfs.ext4")
    with open(rootfs, "wb") as f:
        f.truncate(1 << 20)
    s = Serve(binary, tmp)
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 2, "mem_size_mib": 256})
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel, "boot_args": ""})
    s.expect("PUT", "/drives/rootfs", 204,
             body={"drive_id": "rootfs", "path_on_host": rootfs, "is_root_device": True,
                   "is_read_only": True, "io_engine": "Sync"})
    uds = os.path.join(tmp, "vsock.sock")
    s.expect("PUT", "/vsock", 204, body={"guest_cid": 15, "uds_path": uds})
    tx_rl = {"bandwidth": {"size": 1000000, "refill_time": 100, "one_time_burst": None},
             "ops": None}
    s.expect("PUT", "/network-interfaces/1", 204,
             body={"iface_id": "1", "guest_mac": "06:00:00:00:00:01", "host_dev_name": tap,
                   "tx_rate_limiter": tx_rl})
    # Firecracker's own step: a balloon of 1 MiB that deflates on OOM.
    s.expect("PUT", "/balloon", 204, body={"amount_mib": 1, "deflate_on_oom": True})
    hotplug = {"total_size_mib": 1024, "block_size_mib": 128, "slot_size_mib": 1024}
    s.expect("PUT", "/hotplug/memory", 204, body=hotplug)
    s.expect("PUT", "/mmds/config", 204, body={"version": "V2",
                                               "ipv4_address": "169.254.169.250",
                                               "network_interfaces": ["1"]})
    want = {
        "machine-config": {"vcpu_count": 2, "mem_size_mib": 256, "smt": False,
                           "track_dirty_pages": False, "huge_pages": "None"},
        "cpu-config": None,
        "boot-source": {"boot_args": "", "kernel_image_path": kernel, "initrd_path": None},
        "drives": [{"drive_id": "rootfs", "partuuid": None, "is_root_device": True,
                    "cache_type": "Unsafe", "is_read_only": True, "path_on_host": rootfs,
                    "rate_limiter": None, "io_engine": "Sync", "socket": None}],
        "balloon": {"amount_mib": 1, "deflate_on_oom": True, "stats_polling_interval_s": 0,
                    "free_page_hinting": False, "free_page_reporting": False},
        "vsock": {"guest_cid": 15, "uds_path": uds},
        "network-interfaces": [{"iface_id": "1", "host_dev_name": tap,
                                "guest_mac": "06:00:00:00:00:01", "mtu": None,
                                "rx_rate_limiter": None, "tx_rate_limiter": tx_rl}],
        "logger": None, "metrics": None,
        "entropy": None,
        "memory-hotplug": hotplug, "pmem": [],
    }
    got = s.expect("GET", "/vm/config", 200)
    mmds = got.pop("mmds-config", None)
    check(isinstance(mmds, dict) and mmds.get("version") == "V2" and
          mmds.get("ipv4_address") == "169.254.169.250" and
          mmds.get("network_interfaces") == ["1"], "mmds-config %r" % mmds)
    check(got == want, "GET /vm/config:\n%r\nwant\n%r" % (got, want))
    s.alive()
    s.stop()


SERDE = "An error occurred when deserializing the json body of a request: "


def basic_config(s, tmp):
    """Firecracker's basic_config: 2 vCPUs, 256 MiB, a kernel and a read-only root drive."""
    kernel = os.path.join(tmp, "vmlinux")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    rootfs = os.path.join(tmp, "rootfs.ext4")
    with open(rootfs, "wb") as f:
        f.truncate(1 << 20)
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 2, "mem_size_mib": 256})
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/drives/rootfs", 204, body={"drive_id": "rootfs", "path_on_host": rootfs,
                                                 "is_root_device": True, "is_read_only": True})


def case_api_mmds_config(binary, tmp):
    """test_api_mmds_config: /mmds/config before and after a NIC is attached, in
    Firecracker's words, and GET /vm/config's mmds-config after each good PUT."""
    tap = "hfc%d-mmds" % os.getpid()
    check(tap_usable(tap), "this case needs a TAP device (root and /dev/net/tun)")
    s = Serve(binary, tmp)
    basic_config(s, tmp)
    s.expect("PUT", "/mmds/config", 400, body={"network_interfaces": []},
             fault=["The list of network interface IDs that allow forwarding MMDS requests "
                    "is empty."])
    no_such = ("The list of network interface IDs provided contains at least one ID that "
               "does not correspond to any existing network interface.")
    s.expect("PUT", "/mmds/config", 400, body={"network_interfaces": ["foo"]}, fault=[no_such])
    s.expect("PUT", "/network-interfaces/1", 204,
             body={"iface_id": "1", "guest_mac": "06:00:00:00:00:01", "host_dev_name": tap})
    s.expect("PUT", "/mmds/config", 400, body={"network_interfaces": ["1", "foo"]},
             fault=[no_such])
    s.expect("PUT", "/mmds/config", 400, body={"version": "foo", "network_interfaces": ["1"]},
             fault=[SERDE + "unknown variant `foo`, expected `V1` or `V2`"])
    s.expect("PUT", "/mmds/config", 204, body={"network_interfaces": ["1"]})
    got = s.expect("GET", "/vm/config", 200)["mmds-config"]
    check(got["version"] == "V1" and got["ipv4_address"] == "169.254.169.254",
          "mmds-config after the default PUT: %r" % got)
    s.expect("PUT", "/mmds/config", 204, body={"ipv4_address": "169.254.169.250",
                                               "network_interfaces": ["1"]})
    check(s.expect("GET", "/vm/config", 200)["mmds-config"]["ipv4_address"] ==
          "169.254.169.250", "ipv4_address")
    s.expect("PUT", "/mmds/config", 204, body={"version": "V2", "ipv4_address": "169.254.169.250",
                                               "network_interfaces": ["1"]})
    check(s.expect("GET", "/vm/config", 200)["mmds-config"]["version"] == "V2", "version V2")
    s.alive()
    s.stop()


def case_negative_snapshot_load_api(binary, tmp):
    """test_negative_snapshot_load_api: each malformed load in Firecracker's words, and the
    deprecated mem_file_path answered with a Deprecation header even when refused."""
    s = Serve(binary, tmp)
    s.expect("PUT", "/snapshot/load", 400,
             body={"snapshot_path": "foo", "mem_file_path": "bar",
                   "mem_backend": {"backend_type": "File", "backend_path": "bar"}},
             fault=["too many fields: either `mem_backend` or `mem_file_path` exclusively is "
                    "required."])
    s.expect("PUT", "/snapshot/load", 400,
             body={"snapshot_path": "foo", "mem_backend": {"backend_path": "bar"}},
             fault=["missing field `backend_type`"])
    s.expect("PUT", "/snapshot/load", 400,
             body={"snapshot_path": "foo", "mem_backend": {"backend_type": "File"}},
             fault=["missing field `backend_path`"])
    s.expect("PUT", "/snapshot/load", 400,
             body={"snapshot_path": "foo",
                   "mem_backend": {"backend_type": "foo", "backend_path": "bar"}},
             fault=["unknown variant `foo`, expected `File` or `Uffd`"])
    s.expect("PUT", "/snapshot/load", 400,
             body={"mem_backend": {"backend_type": "File", "backend_path": "bar"}},
             fault=["missing field `snapshot_path`"])
    s.expect("PUT", "/snapshot/load", 400, body={"snapshot_path": "foo"},
             fault=["missing field: either `mem_backend` or `mem_file_path` is required"])
    s.expect("PUT", "/snapshot/load", 400, body={"snapshot_path": "foo",
                                                 "mem_file_path": "bar"})
    check(s.deprecation == "true", "mem_file_path: Deprecation %r" % s.deprecation)
    # Firecracker exits on a load of files that are not there; Hearth answers 400 and serves on.
    s.alive()
    s.stop()


def case_api_memory_hotplug(binary, tmp):
    """test_api_memory_hotplug: PUT /hotplug/memory before boot, again with defaults; GET
    and PATCH refused before boot, PUT after it; GET after boot answers the config. Its
    PATCH after boot is taken by Firecracker's guest, whose driver started the device;
    the smallest guest here has none, so Firecracker's words for that are checked."""
    kernel = os.path.join(tmp, "vmlinux")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    s = Serve(binary, tmp)
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 2, "mem_size_mib": 256})
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/hotplug/memory", 204,
             body={"total_size_mib": 1024, "block_size_mib": 128, "slot_size_mib": 1024})
    s.expect("PUT", "/hotplug/memory", 204, body={"total_size_mib": 1024})
    s.expect("GET", "/hotplug/memory", 400, fault=[NOT_BEFORE_START])
    s.expect("PATCH", "/hotplug/memory", 400, body={"requested_size_mib": 512},
             fault=[NOT_BEFORE_START])
    if not kvm_usable():
        s.stop()
        need_kvm("after boot, this case")
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    s.expect("PUT", "/hotplug/memory", 400, body={"total_size_mib": 1024},
             exact="The requested operation is not supported after starting the microVM.")
    st = s.expect("GET", "/hotplug/memory", 200)
    check(st.get("total_size_mib") == 1024 and st.get("requested_size_mib") == 0, "GET %r" % st)
    s.expect("PATCH", "/hotplug/memory", 400, body={"requested_size_mib": 512},
             exact="Memory hotplug update error: Failed to create memory hotplug device: "
                   "Device is not active")
    check(s.expect("GET", "/", 200)["state"] == "Running", "the VM runs on after the refusals")
    s.stop()


CASES = {
    "api-memory-hotplug": case_api_memory_hotplug,
    "api-mmds-config": case_api_mmds_config,
    "negative-snapshot-load-api": case_negative_snapshot_load_api,
    "map-private-seccomp-regression": case_map_private_seccomp_regression,
    "get-full-config": case_get_full_config,
    "net-api-put-update-pre-boot": case_net_api_put_update_pre_boot,
    "api-cpu-config": case_api_cpu_config,
}

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-fc-"))
