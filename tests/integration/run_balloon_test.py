#!/usr/bin/env python3
"""The balloon through a real `hearth serve` socket, seccomp filters on:
Firecracker's test_api_balloon and the balloon parts of its
test_get_full_config, written anew.

    run_balloon_test.py --hearth PATH [--asan PATH] [--case NAME]

  api        before boot: PUT, GET and refusals in Firecracker's words,
             GET /vm/config's balloon. After boot (on a
             /dev/kvm that runs the smallest guest, which has no balloon
             driver): PATCH /balloon is refused as Firecracker refuses a
             device its driver never started, the statistics answer the
             target, their interval may change but not to 0, hinting that
             was not enabled is refused, the metrics carry the balloon's
             group. A VM booted from a config file with a balloon
             object has that balloon (GET /balloon, /vm/config, the
             statistics' target).
  snapshot   a paused VM with a balloon is snapshotted and loaded into a
             new process: the balloon comes back with its config and its
             device state (GET /balloon, the statistics' target).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, kvm_usable, need_kvm, run_cases, tiny_elf  # noqa: E402
from run_api_test import Serve  # noqa: E402

BALLOON = {"amount_mib": 62, "deflate_on_oom": True, "stats_polling_interval_s": 1,
           "free_page_hinting": False, "free_page_reporting": True}



def configure(s, tmp):
    kernel = os.path.join(tmp, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 1, "mem_size_mib": 64})


def case_api(binary, tmp):
    s = Serve(binary, tmp)
    configure(s, tmp)
    s.expect("PATCH", "/balloon", 400, body={"amount_mib": 0},
             exact="The requested operation is not supported before starting the microVM.")
    s.expect("GET", "/balloon", 400, exact="Balloon config error: No balloon device found.")
    s.expect("PUT", "/balloon", 204, body={"amount_mib": 1, "deflate_on_oom": True})
    s.expect("PUT", "/balloon", 400, body={"amount_mib": 1024, "deflate_on_oom": False},
             exact="Balloon config error: Amount of pages requested is too large.")
    s.expect("PUT", "/balloon", 204, body=BALLOON)
    check(s.expect("GET", "/balloon", 200) == BALLOON, "GET /balloon")
    check(s.expect("GET", "/vm/config", 200)["balloon"] == BALLOON, "GET /vm/config's balloon")
    s.expect("PATCH", "/machine-config", 400, body={"mem_size_mib": 60},
             exact="Machine config error: The memory size (MiB) is smaller than the previously "
                   "set balloon device target size.")
    s.expect("GET", "/balloon/statistics", 400,
             exact="The requested operation is not supported before starting the microVM.")
    if not kvm_usable():
        s.stop()
        need_kvm("after boot, this case")
    metrics = os.path.join(tmp, "m.ndjson")
    s.expect("PUT", "/metrics", 204, body={"metrics_path": metrics})
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    # The smallest guest has no driver: Firecracker's words for a device never started.
    s.expect("PATCH", "/balloon", 400, body={"amount_mib": 8},
             exact="Balloon update error: Balloon: Device not activated yet.")
    s.expect("PATCH", "/balloon", 400, body={"amount_mib": 100},
             exact="Balloon update error: Balloon: Requested memory should be less than 100MiB")
    st = s.expect("GET", "/balloon/statistics", 200)
    check(st.get("target_pages") == 62 * 256 and st.get("target_mib") == 62 and
          st.get("actual_pages") == 0, "statistics before the driver: %r" % st)
    s.expect("PATCH", "/balloon/statistics", 204, body={"stats_polling_interval_s": 3})
    s.expect("PATCH", "/balloon/statistics", 400, body={"stats_polling_interval_s": 0},
             exact="Balloon update error: Balloon: Statistics cannot be enabled/disabled after "
                   "activation.")
    check(s.expect("GET", "/balloon", 200)["stats_polling_interval_s"] == 3, "new interval")
    s.expect("PATCH", "/balloon/hinting/start", 400,
             exact="Balloon update error: Balloon: Attempting to use hinting when not enabled")
    s.expect("GET", "/balloon/hinting/status", 400,
             exact="Balloon update error: Balloon: Attempting to use hinting when not enabled")
    s.expect("PUT", "/actions", 204, body={"action_type": "FlushMetrics"})
    s.stop()
    with open(metrics) as f:
        last = json.loads(f.read().splitlines()[-1])
    # Firecracker's keys (its BalloonDeviceMetrics), each a count.
    fc_keys = ["activate_fails", "inflate_count", "stats_updates_count", "stats_update_fails",
               "deflate_count", "event_fails", "free_page_report_count",
               "free_page_report_freed", "free_page_report_fails", "free_page_hint_count",
               "free_page_hint_freed", "free_page_hint_fails"]
    group = last.get("balloon")
    check(isinstance(group, dict) and all(isinstance(group.get(k), int) for k in fc_keys),
          "the metrics' balloon group has Firecracker's keys: %r" % group)
    # The config file's balloon: a VM booted from it has the device as configured.
    kernel = os.path.join(tmp, "k.elf")
    cfg = os.path.join(tmp, "vm.json")
    with open(cfg, "w") as f:
        json.dump({"boot-source": {"kernel_image_path": kernel},
                   "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
                   "balloon": BALLOON}, f)
    os.unlink(s.sock)
    s = Serve(binary, tmp, args=["--config-file", cfg])
    check(s.expect("GET", "/balloon", 200) == BALLOON, "the config file's balloon, GET /balloon")
    check(s.expect("GET", "/vm/config", 200)["balloon"] == BALLOON,
          "the config file's balloon, GET /vm/config")
    st = s.expect("GET", "/balloon/statistics", 200)
    check(st.get("target_mib") == 62, "the config file's balloon, its target: %r" % st)
    s.stop()


def case_snapshot(binary, tmp):
    need_kvm()
    snap, mem = os.path.join(tmp, "vm.snap"), os.path.join(tmp, "vm.mem")
    s = Serve(binary, tmp, ["--snapshot-dir", tmp])
    configure(s, tmp)
    s.expect("PUT", "/balloon", 204, body=BALLOON)
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    s.expect("PATCH", "/vm", 204, body={"state": "Paused"})
    s.expect("PUT", "/snapshot/create", 204, body={"snapshot_path": snap, "mem_file_path": mem})
    s.stop()
    d = os.path.join(tmp, "load")
    os.mkdir(d)
    s = Serve(binary, d, ["--snapshot-dir", tmp])
    s.expect("PUT", "/snapshot/load", 204,
             body={"snapshot_path": snap, "mem_backend": {"backend_type": "File",
                                                          "backend_path": mem}})
    check(s.expect("GET", "/balloon", 200) == BALLOON, "GET /balloon after load")
    check(s.expect("GET", "/vm/config", 200)["balloon"] == BALLOON, "/vm/config after load")
    st = s.expect("GET", "/balloon/statistics", 200)
    check(st.get("target_mib") == 62, "the device's own target after load: %r" % st)
    s.stop()


CASES = {"api": case_api, "snapshot": case_snapshot}

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-balloon-"))
