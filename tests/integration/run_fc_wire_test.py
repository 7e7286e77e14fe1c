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
  payload      a Content-Length past --http-api-max-payload-size: micro_http's
               own bytes (test_config_start_with_limit's), the connection kept
               and serving; `hearth serve` closes it with a fault_message.
  metadata     --metadata as test_cmd_line_start.py's cases read the log: a
               missing file, one that is not JSON, one over --mmds-size-limit
               (exit 1 each, Firecracker's words), a good one loaded.
  vm-config-pci  --enable-pci: GET /vm/config has no "pci" as `firecracker`
               (Firecracker's swagger refuses it); `hearth serve` keeps it.
  tap-mq       a TAP created multi_queue: PUT /network-interfaces refused in
               test_multi_queue_unsupported's words; `hearth serve` takes it.
               Needs CAP_NET_ADMIN.
  budget       Firecracker's budget at InstanceStart: 17 virtio devices boot
               on virtio-mmio, the 18th and 19th are refused as its VMClock
               and VMGenID find no line; 31 boot with --enable-pci (19
               drives and 12 NICs, a drive and 30 NICs as its
               test_max_devices, 31 drives), 32 are refused in its PCI
               words; `hearth serve` boots 18. Needs a /dev/kvm that runs
               the smallest guest.
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, need_kvm, NotHere, run_cases, tap_usable, tiny_elf  # noqa: E402
from run_api_test import Serve, UnixHTTPConnection, host_vendor  # noqa: E402
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
    need_kvm()
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
    need_kvm()
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
    need_kvm()
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


def raw_exchange(sock_path, data, want_body=True):
    """Sends data on a fresh connection; returns (socket, the answer's bytes: head and body)."""
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(TIMEOUT)
    c.connect(sock_path)
    c.sendall(data)
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = c.recv(4096)
        if not chunk:
            return c, got
        got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while want_body and len(body) < length:
        chunk = c.recv(4096)
        if not chunk:
            break
        body += chunk
    return c, head + b"\r\n\r\n" + body


def case_payload(binary, tmp):
    fc = Fc(binary, tmp, level="Info", extra=["--http-api-max-payload-size", "250"])
    req = (b"PUT /mmds/config HTTP/1.1\r\nHost: localhost\r\nContent-Length: 260\r\n"
           b"Accept: application/json\r\n\r\nsome body")
    # test_cmd_line_start.py's test_config_start_with_limit, to the byte.
    want = (b"HTTP/1.1 400 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n"
            b"Content-Type: application/json\r\nContent-Length: 145\r\n\r\n"
            b'{ "error": "Request payload with size 260 is larger than the limit of 250 '
            b'allowed by server.\nAll previous unanswered requests will be dropped." }')
    try:
        fc.wait_log("API server started.")
        c, got = raw_exchange(fc.sock, req)
        try:
            check(got == want, "the answer past the limit:\n%r\nexpected\n%r" % (got, want))
            # Kept open: the rest of the body is dropped, the next request answered.
            c.sendall(b"x" * 251 + b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            more = b""
            while b"\r\n\r\n" not in more:
                chunk = c.recv(4096)
                check(chunk, "the connection closed after the refusal: %r" % more)
                more += chunk
            check(more.startswith(b"HTTP/1.1 200"), "the next request: %r" % more)
        finally:
            c.close()
    finally:
        fc.stop()
    d = os.path.join(tmp, "serve")
    os.mkdir(d)
    s = Serve(binary, d, ["--http-api-max-payload-size", "250"])
    try:
        c, got = raw_exchange(s.sock, req)
        c.close()
        check(got.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"Connection: close" in got
              and b"fault_message" in got, "hearth serve's answer: %r" % got)
    finally:
        s.stop()


# tests/data/metadata_invalid.json, as Firecracker's tests have it: cut short.
INVALID_METADATA = (
    '{\n    "latest": {\n        "meta-data": "Lorem ipsum dolor sit amet, consectetur '
    'adipiscing elit",\n        "user-data": "userdata 1 2 3 4"\n\n')
METADATA = {"latest": {"meta-data": {"ami-id": "ami-12345678", "reservation-id": "r-fea54097"}}}


def case_metadata(binary, tmp):
    good = os.path.join(tmp, "metadata.json")
    with open(good, "w") as f:
        json.dump(METADATA, f)
    bad = os.path.join(tmp, "metadata_invalid.json")
    with open(bad, "w") as f:
        f.write(INVALID_METADATA)
    for name, extra, words in (
            ("missing", ["--metadata", os.path.join(tmp, "none.json")],
             ["Unable to open or read from the mmds content file", "No such file or directory"]),
            ("invalid", ["--metadata", bad], ["MMDS error: metadata provided not valid json",
                                               "EOF while parsing an object"]),
            ("limit", ["--metadata", good, "--mmds-size-limit", "30"],
             ["Populating MMDS from file failed: The MMDS patch request doesn't fit."]),
            ("default-limit", ["--metadata", good, "--http-api-max-payload-size", "30"],
             ["Populating MMDS from file failed: The MMDS patch request doesn't fit."])):
        d = os.path.join(tmp, name)
        os.mkdir(d)
        fc = Fc(binary, d, level="Info", extra=extra)
        rc = fc.p.wait(timeout=TIMEOUT)
        log = fc.log_data()
        check(rc == 1, "--metadata %s: exit %d, expected 1:\n%s" % (name, rc, log))
        for w in words:
            check(w in log, "--metadata %s: the log lacks %r:\n%s" % (name, w, log))
        # Firecracker's VMM thread stores the file once its API thread has
        # started (its tests wait for the line first); it reads it before.
        started = log.find("API server started.")
        if name.endswith("limit"):
            check(0 <= started < log.find(words[0]),
                  "--metadata %s: no 'API server started.' before the refusal:\n%s" % (name, log))
        else:
            check(started < 0, "--metadata %s: the API started:\n%s" % (name, log))
    d = os.path.join(tmp, "good")
    os.mkdir(d)
    fc = Fc(binary, d, level="Info", extra=["--metadata", good])
    try:
        fc.wait_log("Successfully added metadata to mmds from file")
        check(fc.expect("GET", "/mmds", 200) == METADATA, "GET /mmds after --metadata")
    finally:
        fc.stop()


def case_vm_config_pci(binary, tmp):
    fc = Fc(binary, tmp, level="Info", extra=["--enable-pci"])
    try:
        fc.wait_log("API server started.")
        cfg = fc.expect("GET", "/vm/config", 200)
        check("pci" not in cfg, "GET /vm/config as firecracker has %r" % cfg.get("pci"))
    finally:
        fc.stop()
    d = os.path.join(tmp, "serve")
    os.mkdir(d)
    s = Serve(binary, d, ["--enable-pci"])
    try:
        cfg = s.expect("GET", "/vm/config", 200)
        check(cfg.get("pci") == {"enabled": True}, "hearth serve's GET /vm/config: %r" % cfg)
    finally:
        s.stop()


def case_tap_mq(binary, tmp):
    import subprocess
    tap = "hwmq%d" % (os.getpid() % 10000)
    if subprocess.run(["ip", "tuntap", "add", "name", tap, "mode", "tap", "multi_queue"],
                      stderr=subprocess.DEVNULL).returncode:
        raise NotHere("the case needs a multi_queue TAP, and none can be made here")
    try:
        fc = Fc(binary, tmp, level="Info")
        try:
            fc.wait_log("API server started.")
            got, js = fc.request("PUT", "/network-interfaces/eth0",
                                 {"iface_id": "eth0", "host_dev_name": tap,
                                  "guest_mac": "AA:FC:00:00:00:01"})
            want = ("Could not create the network device: Open tap device failed: Error while "
                    "creating ifreq structure: Invalid argument (os error 22). Invalid TUN/TAP "
                    "Backend provided by %s. Check our documentation on setting up the network "
                    "devices." % tap)
            check(got == 400 and want in (js or {}).get("fault_message", ""),
                  "a multi_queue TAP as firecracker: %d %r" % (got, js))
        finally:
            fc.stop()
        d = os.path.join(tmp, "serve")
        os.mkdir(d)
        s = Serve(binary, d)
        try:
            s.expect("PUT", "/network-interfaces/eth0", 204,
                     body={"iface_id": "eth0", "host_dev_name": tap})
        finally:
            s.stop()
    finally:
        subprocess.run(["ip", "link", "del", tap], stderr=subprocess.DEVNULL)


def add_drives(client, tmp, n):
    for i in range(n):
        img = os.path.join(tmp, "d%d.img" % i)
        if not os.path.exists(img):
            with open(img, "wb") as f:
                f.truncate(1 << 20)
        client.expect("PUT", "/drives/d%d" % i, 204,
                      body={"drive_id": "d%d" % i, "path_on_host": img,
                            "is_root_device": False, "is_read_only": False})


def budget_start(binary, tmp, name, drives, nics=0, entropy=False, pci=False):
    """firecracker with drives, user-mode NICs and entropy: InstanceStart's (status, body)."""
    d = os.path.join(tmp, name)
    os.mkdir(d)
    fc = Fc(binary, d, level="Info", extra=["--enable-pci"] if pci else [])
    try:
        fc.wait_log("API server started.")
        add_drives(fc, d, drives)
        for i in range(nics):   # TAPs: the user-mode NICs a loop takes are fewer
            fc.expect("PUT", "/network-interfaces/eth%d" % i, 204,
                      {"iface_id": "eth%d" % i, "host_dev_name": "hb%d_%d" % (os.getpid() %
                                                                            10000, i),
                       "guest_mac": "06:00:00:00:00:%02x" % i})
        if entropy:
            fc.expect("PUT", "/entropy", 204, {})
        kernel = os.path.join(d, "k.elf")
        with open(kernel, "wb") as f:
            f.write(tiny_elf(power_off=False))
        fc.expect("PUT", "/boot-source", 204, {"kernel_image_path": kernel})
        fc.expect("PUT", "/machine-config", 204, {"vcpu_count": 1, "mem_size_mib": 64})
        return fc.request("PUT", "/actions", {"action_type": "InstanceStart"})
    finally:
        fc.stop()


def case_budget(binary, tmp):
    need_kvm()
    got, js = budget_start(binary, tmp, "mmio17", 17)
    check(got == 204, "17 devices on virtio-mmio: %d %r" % (got, js))
    for name, n, words in (("mmio18", 18, "Could not attach device: Error while registering "
                            "ACPI with KVM: VMClock: Could not allocate GSI: The requested "
                            "resource is not available."),
                           ("mmio19", 19, "Could not attach device: Error while registering "
                            "ACPI with KVM: VMGenID: Could not allocate GSI: The requested "
                            "resource is not available.")):
        got, js = budget_start(binary, tmp, name, n)
        check(got == 400 and words in (js or {}).get("fault_message", ""),
              "%d devices on virtio-mmio: %d %r" % (n, got, js))
    # hearth serve keeps Hearth's budget: 18 (VMGenID's line only).
    d = os.path.join(tmp, "serve")
    os.mkdir(d)
    s = Serve(binary, d)
    try:
        add_drives(s, d, 18)
        boot_tiny(s, d, vcpus=1)
    finally:
        s.stop()
    if not tap_usable("hb%d_0" % (os.getpid() % 10000)):
        raise NotHere("the PCI budget needs a TAP, and none can be made here")
    got, js = budget_start(binary, tmp, "pci31", 19, nics=12, pci=True)
    check(got == 204, "31 devices on PCI: %d %r" % (got, js))
    got, js = budget_start(binary, tmp, "pci32", 19, nics=12, entropy=True, pci=True)
    check(got == 400 and "Could not find an available device slot on the PCI bus." in
          (js or {}).get("fault_message", ""), "32 devices on PCI: %d %r" % (got, js))
    # test_max_devices.py's shape: a drive and 30 NICs boot, every PUT of a 31st taken.
    got, js = budget_start(binary, tmp, "pci1_30", 1, nics=30, pci=True)
    check(got == 204, "a drive and 30 NICs on PCI: %d %r" % (got, js))
    got, js = budget_start(binary, tmp, "pci1_31", 1, nics=31, pci=True)
    check(got == 400 and "Could not find an available device slot on the PCI bus." in
          (js or {}).get("fault_message", ""), "a drive and 31 NICs on PCI: %d %r" % (got, js))
    got, js = budget_start(binary, tmp, "pci31d", 31, pci=True)
    check(got == 204, "31 drives on PCI: %d %r" % (got, js))


def case_template_at_start(binary, tmp):
    """A static CPU template of the other vendor: under `firecracker` the PUT takes it, as
    Firecracker's (test_api_put_update_pre_boot PUTs C3 on any host), and InstanceStart
    refuses it in Firecracker's words; `hearth serve` refuses it at the PUT already."""
    if host_vendor() not in ("AuthenticAMD", "GenuineIntel"):
        raise NotHere("the case needs an AMD or an Intel host")
    wrong = "T2" if host_vendor() == "AuthenticAMD" else "T2A"
    body = {"vcpu_count": 2, "mem_size_mib": 64, "cpu_template": wrong}
    fc = Fc(binary, tmp, level="Info")
    try:
        fc.wait_log("API server started.")
        kernel = os.path.join(tmp, "k.elf")
        with open(kernel, "wb") as f:
            f.write(tiny_elf(power_off=False))
        fc.expect("PUT", "/boot-source", 204, {"kernel_image_path": kernel})
        fc.expect("PUT", "/machine-config", 204, body)
        need_kvm("InstanceStart, where the vendor is checked,")
        got, js = fc.request("PUT", "/actions", {"action_type": "InstanceStart"})
        check(got == 400 and "CPU vendor mismatched between actual CPU and CPU template." in
              (js or {}).get("fault_message", ""), "InstanceStart: %d %r" % (got, js))
    finally:
        fc.stop()
    d = os.path.join(tmp, "serve")
    os.mkdir(d)
    s = Serve(binary, d)
    s.expect("PUT", "/machine-config", 400, body=body,
             fault=["CPU vendor mismatched between actual CPU and CPU template."])
    s.stop()


def case_bzimage_line(binary, tmp):
    """Firecracker's debug line for the kernel it loaded, "(bzImage)" for a bzImage (its
    test_bzimage_boot looks for that word); an ELF's has none."""
    need_kvm("InstanceStart, which loads the kernel,")
    import gzip
    from itest import bzimage
    for name, image, want in (("bz", bzimage(gzip.compress(tiny_elf(), mtime=0)),
                               "Kernel loaded using Linux 64-bit boot protocol (bzImage)"),
                              ("elf", tiny_elf(power_off=False), None)):
        d = os.path.join(tmp, name)
        os.mkdir(d)
        kernel = os.path.join(d, "kernel")
        with open(kernel, "wb") as f:
            f.write(image)
        fc = Fc(binary, d, level="Debug")
        try:
            fc.wait_log("API server started.")
            fc.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
            fc.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
            log = fc.log_data()
        finally:
            fc.stop()
        if want:
            check(want in log, "%s: no %r in the log:\n%s" % (name, want, log))
        else:
            check("Kernel loaded using" in log and "(bzImage)" not in log,
                  "%s: the load line:\n%s" % (name, log))


CASES = {"bzimage-line": case_bzimage_line, "payload": case_payload, "metadata": case_metadata,
         "vm-config-pci": case_vm_config_pci, "tap-mq": case_tap_mq, "budget": case_budget,
         "threads": case_threads, "socket-used": case_socket_used,
         "deprecation": case_deprecation, "config-json": case_config_json,
         "snapshot-running": case_snapshot_running, "template-at-start": case_template_at_start}

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-fc-wire-"))
