#!/usr/bin/env python3
"""Firecracker's metrics schema, line by line, from a real `hearth serve`.

    run_fc_metrics_test.py --hearth build/hearth --case serve [--asan build-asan/hearth]

A VM with two drives, a user-mode NIC, a hybrid vsock, entropy and a
balloon (the smallest guest, tests/integration/itest.py's tiny_elf), its
metrics in a file (case serve, `hearth serve`, seccomp on) or a FIFO
(case firecracker, the binary run as `firecracker`). Each line, the one
written at InstanceStart and the one FlushMetrics writes, must hold
every group and field Firecracker 1.16 emits and nothing else: the
schema Firecracker's tests/host_tools/fcmetrics.py checks with
additionalProperties false at every level, written out below. The
per-device aggregates (`block`, `net`) must be the sums of their
devices' groups, as Firecracker's FcDeviceMetrics checks them. Under
`hearth serve` one more key is allowed, `hearth` (Hearth's own
counters); under `firecracker` none. Case load: the line a snapshot's
load writes, as Firecracker writes one when it starts a VM either way.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, need_kvm, run_cases, TestFailure, tiny_elf  # noqa: E402
from run_api_test import Serve  # noqa: E402

# A latency aggregate: an object of its own with these three numbers.
LAT = ("min_us", "max_us", "sum_us")


def lat(name):
    return (name, LAT)


BLOCK = ["activate_fails", "cfg_fails", "no_avail_buffer", "event_fails", "execute_fails",
         "invalid_reqs_count", "flush_count", "queue_event_count", "rate_limiter_event_count",
         "update_count", "update_fails", "read_bytes", "write_bytes", "read_count",
         "write_count", lat("read_agg"), lat("write_agg"), "rate_limiter_throttled_events",
         "io_engine_throttled_events", "remaining_reqs_count"]

NET = ["activate_fails", "cfg_fails", "no_rx_avail_buffer", "no_tx_avail_buffer",
       "event_fails", "rx_queue_event_count", "rx_event_rate_limiter_count",
       "rx_rate_limiter_throttled", "rx_tap_event_count", "rx_bytes_count", "rx_packets_count",
       "rx_fails", "rx_count", "tap_read_fails", "tap_write_fails", lat("tap_write_agg"),
       "tx_bytes_count", "tx_malformed_frames", "tx_fails", "tx_count", "tx_packets_count",
       "tx_queue_event_count", "tx_rate_limiter_event_count", "tx_rate_limiter_throttled",
       "tx_spoofed_mac_count", "tx_remaining_reqs_count"]

PMEM = ["activate_fails", "cfg_fails", "event_fails", "queue_event_count",
        "rate_limiter_throttled_events", "rate_limiter_event_count"]

VHOST_USER = ["activate_fails", "cfg_fails", "init_time_us", "activate_time_us",
              "config_change_time_us"]

# Every group a line always has (x86: no "rtc"), with its fields.
GROUPS = {
    "api_server": ["process_startup_time_us", "process_startup_time_cpu_us"],
    "balloon": ["activate_fails", "inflate_count", "stats_updates_count", "stats_update_fails",
                "deflate_count", "event_fails", "free_page_report_count",
                "free_page_report_freed", "free_page_report_fails", "free_page_hint_count",
                "free_page_hint_freed", "free_page_hint_fails"],
    "block": BLOCK,
    "deprecated_api": ["deprecated_http_api_calls"],
    "get_api_requests": ["instance_info_count", "machine_cfg_count", "mmds_count",
                         "vmm_version_count", "hotplug_memory_count"],
    "i8042": ["error_count", "missed_read_count", "missed_write_count", "read_count",
              "reset_count", "write_count"],
    "uart": ["error_count", "flush_count", "missed_read_count", "missed_write_count",
             "read_count", "write_count", "rate_limiter_dropped_bytes"],
    "latencies_us": ["full_create_snapshot", "diff_create_snapshot", "load_snapshot",
                     "pause_vm", "resume_vm", "vmm_full_create_snapshot",
                     "vmm_diff_create_snapshot", "vmm_load_snapshot", "vmm_pause_vm",
                     "vmm_resume_vm"],
    "logger": ["missed_metrics_count", "metrics_fails", "missed_log_count",
               "rate_limited_log_count"],
    "mmds": ["rx_accepted", "rx_accepted_err", "rx_accepted_unusual", "rx_bad_eth",
             "rx_invalid_token", "rx_no_token", "rx_count", "tx_bytes", "tx_count",
             "tx_errors", "tx_frames", "connections_created", "connections_destroyed"],
    "net": NET,
    "patch_api_requests": ["drive_count", "drive_fails", "network_count", "network_fails",
                           "machine_cfg_count", "machine_cfg_fails", "mmds_count",
                           "mmds_fails", "hotplug_memory_count", "hotplug_memory_fails",
                           "pmem_count", "pmem_fails"],
    "put_api_requests": ["actions_count", "actions_fails", "boot_source_count",
                         "boot_source_fails", "drive_count", "drive_fails", "logger_count",
                         "logger_fails", "machine_cfg_count", "machine_cfg_fails",
                         "cpu_cfg_count", "cpu_cfg_fails", "metrics_count", "metrics_fails",
                         "network_count", "network_fails", "mmds_count", "mmds_fails",
                         "vsock_count", "vsock_fails", "pmem_count", "pmem_fails",
                         "serial_count", "serial_fails", "hotplug_memory_count",
                         "hotplug_memory_fails"],
    "seccomp": ["num_faults"],
    "vcpu": ["exit_io_in", "exit_io_out", "exit_mmio_read", "exit_mmio_write", "failures",
             "kvmclock_ctrl_fails", lat("exit_io_in_agg"), lat("exit_io_out_agg"),
             lat("exit_mmio_read_agg"), lat("exit_mmio_write_agg")],
    "vmm": ["panic_count"],
    "signals": ["sigbus", "sigsegv", "sigxfsz", "sigxcpu", "sigpipe", "sighup", "sigill"],
    "vsock": ["activate_fails", "cfg_fails", "rx_queue_event_fails", "tx_queue_event_fails",
              "ev_queue_event_fails", "muxer_event_fails", "conn_event_fails",
              "rx_queue_event_count", "tx_queue_event_count", "rx_bytes_count",
              "tx_bytes_count", "rx_packets_count", "tx_packets_count", "conns_added",
              "conns_killed", "conns_removed", "killq_resync", "tx_flush_fails",
              "tx_write_fails", "rx_read_fails"],
    "entropy": ["activate_fails", "entropy_event_fails", "entropy_event_count",
                "entropy_bytes", "host_rng_fails", "entropy_rate_limiter_throttled",
                "rate_limiter_event_count"],
    "interrupts": ["triggers", "config_updates"],
    "pmem": PMEM,
    "memory_hotplug": ["activate_fails", "queue_event_fails", "queue_event_count",
                       "plug_count", "plug_bytes", "plug_fails", lat("plug_agg"),
                       "unplug_count", "unplug_bytes", "unplug_fails", "unplug_discard_fails",
                       lat("unplug_agg"), "state_count", "state_fails", lat("state_agg"),
                       "unplug_all_count", "unplug_all_fails", lat("unplug_all_agg")],
}

# Per-device groups, by the prefix of their names. fcmetrics.py lists the first
# three; Firecracker also writes pmem_<id> for each pmem device.
DEVICE_GROUPS = {"block_": BLOCK, "net_": NET, "vhost_user_": VHOST_USER, "pmem_": PMEM}
# Those whose aggregate is the group named without the prefix.
AGGREGATED = ("block", "net", "pmem")


def check_fields(where, obj, fields):
    check(isinstance(obj, dict), "%s is not an object: %r" % (where, obj))
    want = {f if isinstance(f, str) else f[0] for f in fields}
    check(set(obj) == want, "%s: missing %s, unexpected %s" % (
        where, sorted(want - set(obj)), sorted(set(obj) - want)))
    for f in fields:
        if isinstance(f, str):
            v = obj[f]
            check(isinstance(v, int) and not isinstance(v, bool) and v >= 0,
                  "%s.%s is not a count: %r" % (where, f, v))
        else:
            check_fields("%s.%s" % (where, f[0]), obj[f[0]], f[1])


def check_hearth(obj):
    """Hearth's own counters: groups of named counts, nothing Firecracker reads."""
    check(isinstance(obj, dict) and obj, "the hearth group: %r" % (obj,))
    for g, fields in obj.items():
        check(isinstance(fields, dict), "hearth.%s: %r" % (g, fields))
        for k, v in fields.items():
            check(isinstance(v, int) and v >= 0, "hearth.%s.%s: %r" % (g, k, v))


def validate(line, hearth_group):
    """line against the schema; returns its per-device group names."""
    check(isinstance(line.get("utc_timestamp_ms"), int), "no utc_timestamp_ms: %r" % line)
    # fcmetrics.py: within a second of the host's UTC clock when read.
    now = int(time.time() * 1000)
    check(abs(now - line["utc_timestamp_ms"]) < 5000,
          "utc_timestamp_ms %d is not now (%d)" % (line["utc_timestamp_ms"], now))
    missing = sorted(set(GROUPS) - set(line))
    check(not missing, "groups missing: %s" % missing)
    devices = []
    for key, obj in line.items():
        if key == "utc_timestamp_ms":
            continue
        if key in GROUPS:
            check_fields(key, obj, GROUPS[key])
        elif key == "id":
            check(isinstance(obj, str), "id %r" % obj)
        elif key == "properties":
            check(isinstance(obj, dict) and all(isinstance(v, str) for v in obj.values()),
                  "properties %r" % obj)
        elif key == "hearth" and hearth_group:
            check_hearth(obj)
        else:
            prefix = [p for p in DEVICE_GROUPS if key.startswith(p) and len(key) > len(p)]
            check(prefix, "a key Firecracker's schema refuses: %r" % key)
            check_fields(key, obj, DEVICE_GROUPS[prefix[0]])
            devices.append(key)
    check(not hearth_group or "hearth" in line, "no hearth group under hearth serve")
    # Firecracker's FcDeviceMetrics: the aggregate is the sum of the devices' groups,
    # a latency aggregate's sum_us summed and its min_us and max_us 0.
    for agg in AGGREGATED:
        want = {}
        for key in devices:
            if not key.startswith(agg + "_"):
                continue
            for name, v in line[key].items():
                if isinstance(v, dict):
                    w = want.setdefault(name, {"min_us": 0, "max_us": 0, "sum_us": 0})
                    w["sum_us"] += v["sum_us"]
                else:
                    want[name] = want.get(name, 0) + v
        if want:
            check(line[agg] == want, "%s is not the sum of its devices:\n%r\nwant\n%r" %
                  (agg, line[agg], want))
    return sorted(devices)


def configure(s, tmp, net=True):
    kernel = os.path.join(tmp, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 1, "mem_size_mib": 64})
    for i, d in enumerate(("rootfs", "data")):
        img = os.path.join(tmp, d + ".img")
        with open(img, "wb") as f:
            f.truncate(1 << 20)
        s.expect("PUT", "/drives/" + d, 204, body={"drive_id": d, "path_on_host": img,
                                                   "is_root_device": i == 0,
                                                   "is_read_only": False})
    # A refused PUT: counted, and counted as failed.
    s.expect("PUT", "/drives/bad", 400, body={"drive_id": "bad"})
    if net:
        s.expect("PUT", "/network-interfaces/eth0", 204,
                 body={"iface_id": "eth0", "backend": "user",
                       "guest_mac": "06:00:00:00:00:01"})
    s.expect("PUT", "/vsock", 204, body={"guest_cid": 3,
                                         "uds_path": os.path.join(tmp, "v.sock")})
    s.expect("PUT", "/entropy", 204, body={})
    s.expect("PUT", "/balloon", 204, body={"amount_mib": 0, "deflate_on_oom": False})
    s.expect("GET", "/", 200)


def check_counts(first, second):
    """Hearth's counts where Firecracker's names have them, as deltas."""
    put = first["put_api_requests"]
    check(put["drive_count"] == 3 and put["drive_fails"] == 1 and put["vsock_count"] == 1 and
          put["machine_cfg_count"] == 1 and put["boot_source_count"] == 1,
          "put_api_requests at InstanceStart: %r" % put)
    # The InstanceStart is counted before its line is written, as Firecracker counts it.
    check(put["actions_count"] == 1 and put["actions_fails"] == 0, "actions: %r" % put)
    check(first["get_api_requests"]["instance_info_count"] == 1,
          "get_api_requests %r" % first["get_api_requests"])
    # The next line counts what came since: the FlushMetrics only.
    put = second["put_api_requests"]
    check(put["actions_count"] == 1 and put["drive_count"] == 0,
          "put_api_requests at FlushMetrics: %r" % put)
    check(second["get_api_requests"]["instance_info_count"] == 0, "GETs since: %r" %
          second["get_api_requests"])


def read_lines(path):
    with open(path) as f:
        text = f.read()
    check(text == "" or text.endswith("\n"), "a torn line: %r" % text[-200:])
    return [json.loads(l) for l in text.splitlines()]


def case_serve(binary, tmp):
    need_kvm()
    s = Serve(binary, tmp)
    configure(s, tmp)
    metrics = os.path.join(tmp, "metrics.ndjson")
    s.expect("PUT", "/metrics", 204, body={"metrics_path": metrics})
    check(read_lines(metrics) == [], "a line before the VM started")
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    lines = read_lines(metrics)
    check(len(lines) == 1, "one line at InstanceStart, got %d" % len(lines))
    devices = validate(lines[0], True)
    check(devices == ["block_data", "block_rootfs", "net_eth0"],
          "per-device groups %r" % devices)
    # Hearth's own counters, out of Firecracker's groups.
    check("uart_com1" in lines[0]["hearth"] and "api_server" in lines[0]["hearth"],
          "hearth's groups %r" % sorted(lines[0]["hearth"]))
    # Timed as Firecracker times them: the request's and the VM's part.
    s.expect("PATCH", "/vm", 204, body={"state": "Paused"})
    s.expect("PATCH", "/vm", 204, body={"state": "Resumed"})
    s.expect("PUT", "/actions", 204, body={"action_type": "FlushMetrics"})
    lines = read_lines(metrics)
    check(len(lines) == 2, "two lines after FlushMetrics, got %d" % len(lines))
    check(validate(lines[1], True) == devices, "the devices changed")
    check_counts(lines[0], lines[1])
    lat = lines[1]["latencies_us"]
    check(lat["pause_vm"] >= lat["vmm_pause_vm"] > 0 and lat["full_create_snapshot"] == 0,
          "latencies_us %r" % lat)
    s.stop()
    lines = read_lines(metrics)
    check(len(lines) == 3, "and one at exit, got %d" % len(lines))
    validate(lines[2], True)


def case_firecracker(binary, tmp):
    need_kvm()
    fc = os.path.join(tmp, "firecracker")
    os.symlink(os.path.abspath(binary), fc)
    fifo = os.path.join(tmp, "metrics.fifo")
    os.mkfifo(fifo)
    s = Serve(binary, tmp, cmd=[fc, "--api-sock", os.path.join(tmp, "fc.sock")])
    configure(s, tmp)
    s.expect("PUT", "/metrics", 204, body={"metrics_path": fifo, "emit_id": True,
                                           "properties": {"team": "hearth"}})
    rd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    buf = b""
    try:
        s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
        s.expect("PUT", "/actions", 204, body={"action_type": "FlushMetrics"})
        deadline = time.monotonic() + 10
        while buf.count(b"\n") < 2 and time.monotonic() < deadline:
            try:
                buf += os.read(rd, 1 << 20)
            except BlockingIOError:
                time.sleep(0.02)
    finally:
        os.close(rd)
        s.stop()
    lines = [json.loads(l) for l in buf.decode().splitlines()]
    check(len(lines) == 2, "two lines (InstanceStart, FlushMetrics), got %d" % len(lines))
    for line in lines:
        validate(line, False)
        check(line["id"] == "anonymous-instance" and line["properties"] == {"team": "hearth"},
              "labels %r %r" % (line.get("id"), line.get("properties")))
    check_counts(lines[0], lines[1])


def case_load(binary, tmp):
    """A snapshot loaded starts the VM too: Firecracker's line then, with its timings after."""
    need_kvm()
    snap, mem = os.path.join(tmp, "vm.snap"), os.path.join(tmp, "vm.mem")
    kernel = os.path.join(tmp, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    s = Serve(binary, tmp, ["--snapshot-dir", tmp])
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 1, "mem_size_mib": 64})
    s.expect("PUT", "/entropy", 204, body={})
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    s.expect("PATCH", "/vm", 204, body={"state": "Paused"})
    s.expect("PUT", "/snapshot/create", 204, body={"snapshot_path": snap, "mem_file_path": mem})
    s.stop()
    d = os.path.join(tmp, "load")
    os.mkdir(d)
    metrics = os.path.join(d, "metrics.ndjson")
    s = Serve(binary, d, ["--snapshot-dir", tmp, "--metrics-path", metrics])
    # Its socket listens before the instance is made (and the file opened); an answer
    # comes after (CI 2026-11-27: read before the file was there, under load).
    s.expect("GET", "/", 200)
    check(read_lines(metrics) == [], "a line before the load")
    s.expect("PUT", "/snapshot/load", 204,
             body={"snapshot_path": snap, "resume_vm": True,
                   "mem_backend": {"backend_type": "File", "backend_path": mem}})
    lines = read_lines(metrics)
    check(len(lines) == 1, "one line at the load, got %d" % len(lines))
    validate(lines[0], True)
    s.expect("PUT", "/actions", 204, body={"action_type": "FlushMetrics"})
    lines = read_lines(metrics)
    check(len(lines) == 2, "two lines after FlushMetrics, got %d" % len(lines))
    validate(lines[1], True)
    lat = lines[1]["latencies_us"]
    check(lat["load_snapshot"] >= lat["vmm_load_snapshot"] > 0, "latencies_us %r" % lat)
    s.stop()


CASES = {"serve": case_serve, "firecracker": case_firecracker, "load": case_load}

if __name__ == "__main__":
    try:
        sys.exit(run_cases(__doc__, CASES, "hearth-fcmetrics-"))
    except TestFailure as e:
        print("FAIL: %s" % e)
        sys.exit(1)
