#!/usr/bin/env python3
"""Firecracker's process and wire, under the name `firecracker` (issue 48,
item 4): what its own tests and orchestrators look for.

    run_fc_wire_test.py --hearth build/hearth --case NAME

  threads      the threads are Firecracker's: the main one "firecracker",
               the API's "fc_api", each vCPU's "fc_vcpu N"; under `hearth
               serve`, Hearth's "io", "api", "vcpuN". Needs a /dev/kvm that
               runs the smallest guest.
  socket-used  a socket already at the API path (bound, not listening, as
               test_api_socket_in_use leaves it): Firecracker's log line
               "Failed to open the API socket at: P. Check that it is not
               already used.", exit 1, the socket left alone; `hearth serve`
               replaces such a stale one and serves.
  deprecation  PUT /mmds/config of V1 (or no version: Firecracker's
               default) is answered "Deprecation: true" and logged in
               Firecracker's words; V2 is not.
  config-json  a config file: Firecracker's "Successfully started microvm
               that was configured from one single json" once it boots, and
               "Configuration for VMM from one single json failed" before a
               refusal. Needs a /dev/kvm that runs the smallest guest.
  snapshot-running  PUT /snapshot/create of a running VM: 400 with
               Firecracker's "save/restore unavailable while running". Needs
               a /dev/kvm that runs the smallest guest.
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, kvm_usable, run_cases, tiny_elf  # noqa: E402
from run_api_test import Serve, UnixHTTPConnection  # noqa: E402
from run_fc_process_test import Fc, TIMEOUT  # noqa: E402


def thread_names(pid):
    names = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                names.append(f.read().strip())
        except OSError:
            pass
    return sorted(names)


def wait_names(pid, want):
    """The process's thread names once every wanted one is there (vCPU threads start a
    little after InstanceStart answers); the last seen after TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    names = thread_names(pid)
    while not all(w in names for w in want) and time.monotonic() < deadline:
        time.sleep(0.05)
        names = thread_names(pid)
    return names


def boot_tiny(client, tmp, vcpus=2):
    kernel = os.path.join(tmp, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    client.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    client.expect("PUT", "/machine-config", 204, body={"vcpu_count": vcpus, "mem_size_mib": 64})
    client.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})


def case_threads(binary, tmp):
    if not kvm_usable():
        print("skip: /dev/kvm cannot be opened here")
        return
    fc = Fc(binary, tmp, level="Info")
    try:
        fc.wait_log("API server started.")
        boot_tiny(fc, tmp)
        names = wait_names(fc.p.pid, ("firecracker", "fc_api", "fc_vcpu 0", "fc_vcpu 1"))
        for want in ("firecracker", "fc_api", "fc_vcpu 0", "fc_vcpu 1"):
            check(want in names, "firecracker's threads %r lack %r" % (names, want))
        check(not {"io", "api", "vcpu0"} & set(names), "Hearth's names under firecracker: %r"
              % names)
    finally:
        fc.stop()
    d = os.path.join(tmp, "serve")
    os.mkdir(d)
    s = Serve(binary, d)
    try:
        boot_tiny(s, d)
        names = wait_names(s.p.pid, ("io", "api", "vcpu0", "vcpu1"))
        for want in ("io", "api", "vcpu0", "vcpu1"):
            check(want in names, "hearth serve's threads %r lack %r" % (names, want))
    finally:
        s.stop()


def case_socket_used(binary, tmp):
    sock = os.path.join(tmp, "fc.sock")
    held = socket.socket(socket.AF_UNIX)
    held.bind(sock)              # bound, never listening: as Firecracker's test leaves it
    try:
        fc = Fc(binary, tmp, level="Info")
        rc = fc.p.wait(timeout=TIMEOUT)
        log = fc.log_data()
        check(rc == 1, "firecracker with its socket taken: exit %d, expected 1" % rc)
        check("Failed to open the API socket at: %s. Check that it is not already used." % sock
              in log, "the log lacks Firecracker's line:\n%s" % log)
        check(os.path.exists(sock), "the socket already there was removed")
        # hearth serve: the same stale socket is replaced, and served.
        d = os.path.join(tmp, "serve")
        os.mkdir(d)
        stale = os.path.join(d, "api.sock")
        held2 = socket.socket(socket.AF_UNIX)
        held2.bind(stale)
        held2.close()
        s = Serve(binary, d)
        s.expect("GET", "/", 200)
        s.stop()
    finally:
        held.close()


def raw(sock, method, path, body):
    c = UnixHTTPConnection(sock)
    try:
        c.request(method, path, body=json.dumps(body), headers={"Content-Type":
                                                                "application/json"})
        r = c.getresponse()
        r.read()
        return r.status, r.getheader("Deprecation")
    finally:
        c.close()


def case_deprecation(binary, tmp):
    fc = Fc(binary, tmp, level="Info")
    try:
        fc.wait_log("API server started.")
        fc.expect("PUT", "/network-interfaces/eth0", 204,
                  {"iface_id": "eth0", "host_dev_name": "tap-nonexist0"})
        for body, want in (({"network_interfaces": ["eth0"], "version": "V1"}, "true"),
                           ({"network_interfaces": ["eth0"]}, "true"),
                           ({"network_interfaces": ["eth0"], "version": "V2"}, None)):
            status, dep = raw(fc.sock, "PUT", "/mmds/config", body)
            check(status == 204 and dep == want, "PUT /mmds/config %r: %d, Deprecation %r, "
                  "expected %r" % (body, status, dep, want))
        time.sleep(0.2)
        check("PUT /mmds/config: V1 is deprecated. Use V2 instead." in fc.log_data(),
              "the log lacks Firecracker's deprecation line:\n%s" % fc.log_data())
    finally:
        fc.stop()


def case_config_json(binary, tmp):
    if not kvm_usable():
        print("skip: /dev/kvm cannot be opened here")
        return
    kernel = os.path.join(tmp, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    good = os.path.join(tmp, "good.json")
    with open(good, "w") as f:
        json.dump({"boot-source": {"kernel_image_path": kernel},
                   "machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}, f)
    fc = Fc(binary, tmp, level="Info", extra=["--config-file", good])
    try:
        fc.wait_log("Successfully started microvm that was configured from one single json")
    finally:
        fc.stop()
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as f:
        f.write('{"machine-config": {"vcpu_count": 0, "mem_size_mib": 128}}')
    d = os.path.join(tmp, "bad")
    os.mkdir(d)
    fc = Fc(binary, d, level="Info", extra=["--config-file", bad])
    rc = fc.p.wait(timeout=TIMEOUT)
    check(rc != 0 and "Configuration for VMM from one single json failed" in fc.log_data(),
          "a refused config file: exit %d, log:\n%s" % (rc, fc.log_data()))


def case_snapshot_running(binary, tmp):
    if not kvm_usable():
        print("skip: /dev/kvm cannot be opened here")
        return
    fc = Fc(binary, tmp, level="Info")
    try:
        fc.wait_log("API server started.")
        boot_tiny(fc, tmp, vcpus=1)
        got, js = fc.request("PUT", "/snapshot/create",
                             {"snapshot_path": os.path.join(tmp, "s"),
                              "mem_file_path": os.path.join(tmp, "m")})
        check(got == 400 and "save/restore unavailable while running" in
              (js or {}).get("fault_message", ""), "a running VM's snapshot: %d %r" % (got, js))
    finally:
        fc.stop()


CASES = {"threads": case_threads, "socket-used": case_socket_used,
         "deprecation": case_deprecation, "config-json": case_config_json,
         "snapshot-running": case_snapshot_running}

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-fc-wire-"))
