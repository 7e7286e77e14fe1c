#!/usr/bin/env python3
"""Repeated and state-changing API calls, and log and metrics FIFOs, against
`hearth serve` with its seccomp filters on (as it always runs).

    run_api_repeat_test.py --hearth build/hearth --case logger-twice [--asan build-asan/hearth]

Each request a Firecracker client may send is sent twice in a row: the
process must survive both and answer each as Firecracker would. The log and
metrics FIFOs are opened the way firecracker-containerd and the Go SDK use
them: created first, read only later. No KVM is needed: --kvm names a
device that is not there, so InstanceStart fails cleanly.
"""

import http.client
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import (NOT_BEFORE_START, TestFailure, check, run_cases, tap_usable,  # noqa: E402
                   tiny_elf)
from run_api_test import NO_KVM, Serve, read_metrics  # noqa: E402

# "2025-01-31T12:00:00.123456 [id:thread...] message": a whole line of Hearth's log.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9} \[[^\]]+\] .*$")


class Api(Serve):
    """Serve whose requests say why when the process died under them."""

    started = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        Api.started.append(self.p)

    def request(self, method, path, body=None, raw=None):
        try:
            return super().request(method, path, body, raw)
        except (OSError, http.client.HTTPException) as e:
            rc = self.p.poll()
            if rc is None:
                time.sleep(0.5)
                rc = self.p.poll()
            raise TestFailure("%s %s: no answer (%s); hearth exit code %s, socket %s, "
                              "stderr:\n%s" % (method, path, e.__class__.__name__, rc,
                                               "left behind" if os.path.exists(self.sock)
                                               else "removed", self.stderr()))

    def twice(self, method, path, status, body=None, fault=(), then=None):
        """The same request twice in a row; then: the second's status if it differs."""
        self.expect(method, path, status, body=body, fault=fault)
        self.alive()
        self.expect(method, path, status if then is None else then, body=body,
                    fault=fault if then is None else ())
        self.alive()

    def finish(self):
        rc, err = self.stop()
        check(rc == 3, "exit code %d after SIGTERM, expected 3\n%s" % (rc, err))
        check(not os.path.exists(self.sock), "the API socket is still there after exit")
        return err


def read_log(path):
    with open(path) as f:
        text = f.read()
    check(text == "" or text.endswith("\n"), "%s does not end a line: %r" % (path, text[-200:]))
    for line in text.splitlines():
        check(LOG_LINE.match(line), "%s: not a whole log line: %r" % (path, line))
    return text


def fifo_reader(path):
    """Opens path's reading end (never blocks: Hearth holds the FIFO open)."""
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK)


def drain(fd):
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return out.decode("utf-8", "replace")
        if not chunk:
            return out.decode("utf-8", "replace")
        out += chunk


def read_until_eof(fd, timeout=30.0):
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            time.sleep(0.02)
            continue
        if not chunk:
            return out.decode("utf-8", "replace")
        out += chunk
    raise TestFailure("no end of file on the FIFO after %.0f s: %r" % (timeout, out[-200:]))


def guest_files(tmp):
    kernel = os.path.join(tmp, "kernel.elf")
    disk = os.path.join(tmp, "disk.img")
    with open(kernel, "wb") as f:
        f.write(tiny_elf())
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    return kernel, disk


def case_every_endpoint_twice(binary, tmp):
    """Every route, twice: Firecracker's answer both times, and still serving."""
    kernel, disk = guest_files(tmp)
    log = os.path.join(tmp, "twice.log")
    metrics = os.path.join(tmp, "twice-metrics.json")
    s = Api(binary, tmp, ["--kvm", NO_KVM, "--id", "twice"])
    for path in ("/", "/version", "/machine-config", "/vm/config"):
        s.twice("GET", path, 200)
    s.twice("PUT", "/actions", 400, body={"action_type": "InstanceStart"},
            fault=["kernel_image_path is not set"])
    s.twice("PUT", "/actions", 400, body={"action_type": "Bogus"})
    # Pre-boot configuration: a second PUT replaces the first, as in Firecracker.
    s.twice("PUT", "/boot-source", 204, body={"kernel_image_path": kernel,
                                              "boot_args": "console=ttyS0"})
    s.twice("PUT", "/machine-config", 204, body={"vcpu_count": 1, "mem_size_mib": 64})
    s.twice("PATCH", "/machine-config", 204, body={"vcpu_count": 2})
    drive = {"drive_id": "rootfs", "path_on_host": disk, "is_root_device": True,
             "is_read_only": False}
    s.twice("PUT", "/drives/rootfs", 204, body=drive)
    # Firecracker's rule: no PATCH of a drive before boot (PUT it again).
    s.twice("PATCH", "/drives/rootfs", 400, body={"drive_id": "rootfs", "path_on_host": disk},
            fault=[NOT_BEFORE_START])
    # The TAP is opened at PUT, as in Firecracker: 204 where this host lets us have it.
    nic = {"iface_id": "eth0", "host_dev_name": "tap7", "guest_mac": "06:00:ac:10:00:02"}
    if tap_usable("tap7"):
        s.twice("PUT", "/network-interfaces/eth0", 204, body=nic)
    else:
        s.twice("PUT", "/network-interfaces/eth0", 400, body=nic,
                fault=["Could not create the network device"])
    s.twice("PATCH", "/network-interfaces/eth0", 400,
            body={"iface_id": "eth0", "rx_rate_limiter": {"ops": {"size": 1, "refill_time": 1}}},
            fault=[NOT_BEFORE_START])
    s.twice("PUT", "/vsock", 204, body={"guest_cid": 3, "uds_path": os.path.join(tmp, "v.sock")})
    s.twice("PUT", "/entropy", 204, body={})
    s.twice("PUT", "/serial", 204, body={"serial_out_path": os.path.join(tmp, "serial.out")})
    s.twice("PUT", "/cpu-config", 204, body={"cpuid_modifiers": [
        {"leaf": "0x1", "subleaf": "0x0", "flags": 0,
         "modifiers": [{"register": "eax", "bitmap": "0b1x"}]}]})
    # The logger may be configured again (Firecracker >= 1.5); metrics only once.
    s.twice("PUT", "/logger", 204, body={"log_path": log, "level": "Debug"})
    s.twice("PUT", "/metrics", 204, body={"metrics_path": metrics}, then=400)
    s.expect("PUT", "/metrics", 400, body={"metrics_path": metrics},
             fault=["Reinitialization of metrics not allowed"])
    # Runtime-only actions, refused before boot each time.
    s.twice("PUT", "/actions", 400, body={"action_type": "FlushMetrics"},
            fault=[NOT_BEFORE_START])
    s.twice("PUT", "/actions", 400, body={"action_type": "SendCtrlAltDel"})
    s.twice("PATCH", "/vm", 400, body={"state": "Paused"}, fault=[NOT_BEFORE_START])
    s.twice("PATCH", "/vm", 400, body={"state": "Resumed"}, fault=[NOT_BEFORE_START])
    s.twice("PUT", "/snapshot/create", 400,
            body={"snapshot_path": os.path.join(tmp, "s"), "mem_file_path": os.path.join(tmp, "m")},
            fault=[NOT_BEFORE_START])
    s.twice("PUT", "/snapshot/load", 400,
            body={"snapshot_path": os.path.join(tmp, "nope.snap"),
                  "mem_backend": {"backend_type": "File", "backend_path": os.path.join(tmp, "m")}})
    # InstanceStart fails on the missing KVM device and unwinds, twice.
    s.twice("PUT", "/actions", 400, body={"action_type": "InstanceStart"}, fault=[NO_KVM])
    # The balloon PUT again replaces it; GET answers the last one.
    s.twice("PUT", "/balloon", 204, body={"amount_mib": 0, "deflate_on_oom": True})
    s.twice("GET", "/balloon", 200)
    # Memory hotplug: the PUT again replaces it; a refused one changes nothing.
    s.twice("PUT", "/hotplug/memory", 204, body={"total_size_mib": 1024})
    s.twice("PUT", "/hotplug/memory", 400, body={"total_size_mib": 1000},
            fault=["Memory hotplug config error: Total size must be a multiple of slot size "
                   "(128 MiB)"])
    s.twice("GET", "/hotplug/memory", 400, fault=[NOT_BEFORE_START])
    # A pmem PUT again replaces it (Firecracker opens the file at InstanceStart, not here).
    s.twice("PUT", "/pmem/p0", 204, body={"id": "p0", "path_on_host": os.path.join(tmp, "p0")})
    # The MMDS: its data, and its config's refusal of a NIC it does not have, twice each.
    s.twice("PUT", "/mmds", 204, body={"k": "v"})
    s.twice("PATCH", "/mmds", 204, body={"l": "w"})
    s.twice("GET", "/mmds", 200)
    s.twice("PUT", "/mmds/config", 400, body={"network_interfaces": ["nope"]},
            fault=["does not correspond to any existing network interface"])
    s.twice("GET", "/no/such/path", 400, fault=["Invalid request method and/or path"])
    js = s.expect("GET", "/vm/config", 200)
    check(len(js["drives"]) == 1 and len(js["network-interfaces"]) == 1 and len(js["pmem"]) == 1,
          "a second PUT added a device instead of replacing it: %r" % js)
    check(js["machine-config"]["vcpu_count"] == 2, "machine-config %r" % js)
    check(js["memory-hotplug"] == {"total_size_mib": 1024, "block_size_mib": 2,
                                   "slot_size_mib": 128}, "memory-hotplug %r" % js)
    s.finish()
    text = read_log(log)
    check("GET /vm/config: 200" in text and "PUT /actions: 400" in text, "log %r" % text[-2000:])
    lines = read_metrics(metrics)
    check(len(lines) == 1, "one metrics line at exit, got %d" % len(lines))


def case_logger_twice(binary, tmp):
    """PUT /logger again: every later line goes to the new file, none is lost or torn."""
    kernel, _ = guest_files(tmp)
    a, b = os.path.join(tmp, "a.log"), os.path.join(tmp, "b.log")
    s = Api(binary, tmp, ["--kvm", NO_KVM, "--id", "lg"])
    s.expect("PUT", "/logger", 204, body={"log_path": a, "level": "Debug"})
    s.expect("GET", "/machine-config", 200)
    s.expect("PUT", "/logger", 204, body={"log_path": b, "level": "Debug", "show_level": True})
    s.expect("GET", "/vm/config", 200)
    # Only the level: the file stays; Info hides the requests' Debug lines.
    s.expect("PUT", "/logger", 204, body={"level": "Info"})
    s.expect("GET", "/version", 200)
    s.expect("PUT", "/logger", 204, body={"level": "Debug"})
    # The same path again, and a path that cannot be opened (the log stays where it was).
    s.expect("PUT", "/logger", 204, body={"log_path": b})
    s.expect("PUT", "/logger", 400, body={"log_path": os.path.join(tmp, "no", "x.log")},
             fault=["cannot open the log file", "No such file"])
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    # The io thread builds the VM and unwinds it, with the new file in place.
    s.expect("PUT", "/actions", 400, body={"action_type": "InstanceStart"}, fault=[NO_KVM])
    s.expect("GET", "/machine-config", 200)
    s.finish()
    ta, tb = read_log(a), read_log(b)
    check("GET /machine-config: 200" in ta and "/vm/config" not in ta, "first log %r" % ta)
    check("GET /vm/config: 200" in tb and ":DEBUG" in tb, "second log %r" % tb)
    check("GET /version" not in tb, "a Debug line at level Info: %r" % tb)
    check(tb.count("GET /machine-config: 200") == 1 and "PUT /actions: 400" in tb and
          "PUT /logger: 400" in tb, "second log after the re-open %r" % tb)


def case_log_path_then_logger(binary, tmp):
    """--log-path, then PUT /logger: the API's file takes over."""
    a, b = os.path.join(tmp, "flag.log"), os.path.join(tmp, "api.log")
    s = Api(binary, tmp, ["--log-path", a, "--level", "Debug", "--id", "lp"])
    s.expect("GET", "/", 200)
    s.expect("PUT", "/logger", 204, body={"log_path": b, "level": "Debug"})
    s.expect("GET", "/machine-config", 200)
    s.expect("PUT", "/logger", 204, body={"log_path": a})
    s.expect("GET", "/version", 200)
    s.finish()
    ta, tb = read_log(a), read_log(b)
    check("serving the API on" in ta and "GET /: 200" in ta and "GET /version: 200" in ta,
          "--log-path file %r" % ta)
    check("GET /machine-config: 200" in tb and "GET /version" not in tb, "API file %r" % tb)


def case_metrics_twice(binary, tmp):
    """Metrics are set once (Firecracker's "Reinitialization of metrics not allowed.")."""
    m1, m2 = os.path.join(tmp, "m1.json"), os.path.join(tmp, "m2.json")
    s = Api(binary, tmp)
    s.expect("PUT", "/metrics", 204, body={"metrics_path": m1})
    for _ in range(2):
        s.expect("PUT", "/metrics", 400, body={"metrics_path": m2},
                 fault=["Reinitialization of metrics not allowed"])
        s.alive()
    s.finish()
    check(len(read_metrics(m1)) == 1 and not os.path.exists(m2), "metrics files")
    m3 = os.path.join(tmp, "m3.json")
    s = Api(binary, tmp, ["--metrics-path", m3])
    for _ in range(2):
        s.expect("PUT", "/metrics", 400, body={"metrics_path": m2},
                 fault=["Reinitialization of metrics not allowed"])
        s.alive()
    s.finish()
    lines = read_metrics(m3)
    check(len(lines) == 1 and lines[0]["hearth"]["api_server"]["failed_requests"] == 2 and
          lines[0]["put_api_requests"]["metrics_count"] == 2 and
          lines[0]["put_api_requests"]["metrics_fails"] == 2,
          "--metrics-path file %r" % lines)


def case_logger_fifo(binary, tmp):
    """A FIFO nobody reads yet is a good log_path; a later reader gets what was written."""
    fifo = os.path.join(tmp, "log.fifo")
    os.mkfifo(fifo)
    s = Api(binary, tmp, ["--id", "ff"])
    s.expect("PUT", "/logger", 204, body={"log_path": fifo, "level": "Debug"})
    s.expect("GET", "/machine-config", 200)
    fd = fifo_reader(fifo)
    text = drain(fd)
    check("GET /machine-config: 200" in text, "lines from before the reader came: %r" % text)
    s.expect("GET", "/version", 200)
    text = drain(fd)
    check("GET /version: 200" in text, "lines after the reader came: %r" % text)
    # The reader goes away and comes back: no EPIPE, nothing written meanwhile is lost.
    os.close(fd)
    s.expect("GET", "/vm/config", 200)
    fd = fifo_reader(fifo)
    text = drain(fd)
    check("GET /vm/config: 200" in text, "lines while no reader was there: %r" % text)
    for line in text.splitlines():
        check(LOG_LINE.match(line), "not a whole line: %r" % line)
    s.finish()
    os.close(fd)


def case_flag_fifos(binary, tmp):
    """--log-path and --metrics-path naming FIFOs no one reads yet: Hearth serves."""
    log, met = os.path.join(tmp, "log.fifo"), os.path.join(tmp, "metrics.fifo")
    os.mkfifo(log)
    os.mkfifo(met)
    s = Api(binary, tmp, ["--log-path", log, "--level", "Info", "--metrics-path", met])
    s.alive()
    lfd, mfd = fifo_reader(log), fifo_reader(met)
    check("serving the API on" in drain(lfd), "the startup line was not kept for the reader")
    s.finish()
    text = read_until_eof(mfd)
    os.close(lfd)
    os.close(mfd)
    check(text.endswith("\n") and text.count("\n") == 1, "metrics at exit %r" % text)
    m = json.loads(text)
    check(m["hearth"]["api_server"]["get_requests"] == 1 and
          m["get_api_requests"]["instance_info_count"] == 1, "metrics %r" % text)


def case_metrics_fifo(binary, tmp):
    """PUT /metrics with a FIFO nobody reads yet: 204; a reader gets the line whole."""
    met = os.path.join(tmp, "metrics.fifo")
    os.mkfifo(met)
    s = Api(binary, tmp)
    s.expect("PUT", "/metrics", 204, body={"metrics_path": met})
    s.expect("GET", "/", 200)
    fd = fifo_reader(met)
    s.finish()
    text = read_until_eof(fd)
    os.close(fd)
    check(text.endswith("\n") and text.count("\n") == 1, "metrics at exit %r" % text)
    m = json.loads(text)
    own = m["hearth"]["api_server"]
    check(own["put_requests"] == 1 and own["get_requests"] == 1 and
          m["put_api_requests"]["metrics_count"] == 1 and
          m["get_api_requests"]["instance_info_count"] == 1, "metrics %r" % m)


def case_fifo_full(binary, tmp):
    """A log FIFO whose reader never comes fills up: lines are dropped whole and
    counted, requests are answered at once, nothing blocks or crashes."""
    fifo, met = os.path.join(tmp, "full.fifo"), os.path.join(tmp, "m.json")
    os.mkfifo(fifo)
    s = Api(binary, tmp, ["--metrics-path", met, "--id", "full"])
    s.expect("PUT", "/logger", 204, body={"log_path": fifo, "level": "Debug",
                                          "show_level": True, "show_log_origin": True})
    n, slowest = 1500, 0.0
    for i in range(n):
        t = time.monotonic()
        s.expect("GET", "/machine-config", 200)
        slowest = max(slowest, time.monotonic() - t)
    check(slowest < 5.0, "a request took %.1f s with the log FIFO full" % slowest)
    s.alive()
    fd = fifo_reader(fifo)
    text = drain(fd)
    lines = text.splitlines()
    check(text.endswith("\n") and 100 < len(lines) < n, "%d lines kept of %d" % (len(lines), n))
    for line in lines:
        check(LOG_LINE.match(line), "a torn line: %r" % line)
    # Room again: new lines get through.
    s.expect("GET", "/version", 200)
    check("GET /version: 200" in drain(fd), "no line after the reader drained the FIFO")
    s.finish()
    os.close(fd)
    m = read_metrics(met)[-1]
    missed = m["logger"]["missed_log_count"]
    check(missed >= n - len(lines), "missed_log_count %d, %d lines were kept of %d" %
          (missed, len(lines), n))


CASES = {
    "every-endpoint-twice": case_every_endpoint_twice,
    "logger-twice": case_logger_twice,
    "log-path-then-logger": case_log_path_then_logger,
    "metrics-twice": case_metrics_twice,
    "logger-fifo": case_logger_fifo,
    "flag-fifos": case_flag_fifos,
    "metrics-fifo": case_metrics_fifo,
    "fifo-full": case_fifo_full,
}


def reap_servers():
    """A failed case leaves its server running: it goes with the case."""
    for p in Api.started:
        if p.poll() is None:
            p.kill()
            p.wait()
    Api.started.clear()


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-api-", cleanup=reap_servers))
