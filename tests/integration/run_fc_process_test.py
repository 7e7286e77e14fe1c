#!/usr/bin/env python3
"""Firecracker's process rules under the name `firecracker` (issue 28): how its
own test framework (tests/framework/microvm.py) starts it and what it reads
in the log file.

    run_fc_process_test.py --hearth build/hearth --case framework-start

  framework-start  started as microvm.py's spawn() starts it (--api-sock,
                   --id, --log-path with --level Debug, --show-level and
                   --show-log-origin, --metrics-path): the log file gets
                   "Running Firecracker v1.16.0" and "API server started.",
                   waited for as microvm.py waits (the file, not the socket);
                   then PUT /serial, and at SIGTERM the exit line microvm.py's
                   get_exit_code() parses.
  request-logs     test_api_requests_logs, written anew: each request's line,
                   with the body for PUT and PATCH, never the MMDS's data,
                   and the duration line _validate_api_response_times reads.
  level            --level and PUT /logger take each of Firecracker's
                   spellings (warn, Warning, WARN, trace, off...).
  config-file-log  a config file refused: its words in the log file too, and
                   the exit line, as Firecracker writes them.
  load-fatal       a snapshot load that fails is fatal under `firecracker`, as
                   in Firecracker: 400, then exit 1 and its exit line; `hearth
                   serve` answers the same 400 and goes on serving (its load
                   is check-then-apply). A load refused by its request's own
                   checks (after a boot source) is not fatal in either.
  socket-load      the API socket as a client pool uses it: 70 idle
                   connections (6 past the 64 served get Firecracker's 503 at
                   once, the others are still answered), 64 clients that
                   connect at once without blocking (all answered), and a
                   Content-Length past the limit refused at its header.
  device-budget    devices share one budget in any mix, as Firecracker's
                   legacy GSIs: 12 network interfaces and 5 drives are each
                   taken; past the budget InstanceStart is refused in
                   Firecracker's words (that step needs /dev/kvm). A refused
                   PUT replacing an interface leaves what Firecracker leaves.
  boot-timer       --boot-timer: a guest that writes 123 at 0xc0000000 gets
                   Firecracker's "Guest-boot-time = ..." line; --snapshot-version
                   and --describe-snapshot print the format version. Needs a
                   /dev/kvm that runs the smallest guest for the first part.
  snapshot-tmp     `firecracker --api-sock S` (no --jail) writes a snapshot
                   where the request says, /tmp included, as an unjailed
                   Firecracker; `hearth serve`'s sealed sandbox refuses the
                   same request naming --snapshot-dir. Needs a /dev/kvm that
                   runs the smallest guest.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, need_kvm, run_cases, tiny_elf  # noqa: E402
from run_api_test import UnixHTTPConnection  # noqa: E402

TIMEOUT = 30.0
# microvm.py's _validate_api_response_times, word for word.
API_REQUEST = re.compile(r"\] The API server received a (?P<method>\w+) request on "
                         r"\"(?P<url>(/(\w|-)*)+)\"( with body (?P<body>.*))?\.")
API_TIME = re.compile(r"\] Total previous API call duration: (?P<execution_time>\d+) us.$")
# microvm.py's get_exit_code.
EXIT_LINE = re.compile(r"Firecracker exiting (with error|successfully). exit_code=(\d+)")


class Fc:
    """`firecracker` (a link to hearth) started as microvm.py starts it."""

    def __init__(self, binary, tmp, level="Debug", extra=(), api=True):
        self.fc = os.path.join(tmp, "firecracker")
        if not os.path.exists(self.fc):
            os.symlink(os.path.abspath(binary), self.fc)
        self.sock = os.path.join(tmp, "fc.sock")
        self.log = os.path.join(tmp, "fc.log")
        self.metrics = os.path.join(tmp, "fc.ndjson")
        for path in (self.log, self.metrics):
            open(path, "w").close()  # microvm.py touches them first
        self.err_path = os.path.join(tmp, "stderr-%d.txt" % time.monotonic_ns())
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        argv = [self.fc] + (["--api-sock", self.sock] if api else []) + ["--id", "fc-test-1",
                "--log-path", self.log, "--level", level, "--show-level",
                "--show-log-origin", "--metrics-path", self.metrics] + list(extra)
        with open(self.err_path, "wb") as err:
            self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=err, env=env)

    def log_data(self):
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_log(self, text):
        deadline = time.monotonic() + TIMEOUT
        while text not in self.log_data():
            check(self.p.poll() is None or text in self.log_data(),
                  "exited %s before %r was logged:\n%s\n%s" %
                  (self.p.returncode, text, self.log_data(), self.stderr()))
            check(time.monotonic() < deadline, "no %r in the log after %.0f s:\n%s" %
                  (text, TIMEOUT, self.log_data()))
            time.sleep(0.02)

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def request(self, method, path, body=None):
        c = UnixHTTPConnection(self.sock)
        try:
            c.request(method, path, body=json.dumps(body) if body is not None else None,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            text = r.read()
            return r.status, (json.loads(text) if text else None)
        finally:
            c.close()

    def expect(self, method, path, status, body=None):
        got, js = self.request(method, path, body)
        check(got == status, "%s %s: %d, expected %d: %r" % (method, path, got, status, js))
        return js

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise


def case_framework_start(binary, tmp):
    """Started as the framework starts it, it says what the framework waits for."""
    fc = Fc(binary, tmp)
    try:
        fc.wait_log("API server started.")
        log = fc.log_data()
        check("Running Firecracker v1.16.0" in log, "no start line:\n%s" % log)
        # The start line comes first, with the instance id, the thread and the level.
        first = log.splitlines()[0]
        check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9} \[fc-test-1:[^:\]]+:INFO:"
                       r"[^\]]+\] Running Firecracker v1\.16\.0$", first),
              "first line %r" % first)
        # What spawn() does next.
        fc.expect("PUT", "/serial", 204, {"serial_out_path": os.path.join(tmp, "serial.log")})
    finally:
        rc = fc.stop()
    m = EXIT_LINE.search(fc.log_data())
    check(m and int(m.group(2)) == rc, "exit %d, exit line %r:\n%s" %
          (rc, m and m.group(0), fc.log_data()))


def case_request_logs(binary, tmp):
    """test_api_requests_logs: the request lines and their timing, as the framework reads them."""
    fc = Fc(binary, tmp)
    try:
        fc.wait_log("API server started.")
        fc.expect("PATCH", "/machine-config", 204, {"vcpu_count": 4})
        fc.expect("PUT", "/machine-config", 204, {"vcpu_count": 4, "mem_size_mib": 128})
        fc.expect("GET", "/machine-config", 200)
        fc.expect("PUT", "/mmds", 204, {"latest": {"password": "hunter2"}})
        fc.expect("GET", "/", 200)
        # A body past the old 1023-byte line: logged whole, so its timing pairs up.
        long_body = {"vcpu_count": 2, "mem_size_mib": 128, "x": "a" * 3000}
        fault = fc.expect("PUT", "/machine-config", 400, long_body)["fault_message"]
    finally:
        fc.stop()
    log = fc.log_data()
    logged = [json.loads(json.loads(m.group("body"))) for m in API_REQUEST.finditer(log)
              if m.group("body") and "aaaa" in m.group("body")]
    check(logged == [long_body], "the long body as logged: %r" % [str(b)[:80] for b in logged])
    # Firecracker's line for each refusal, after the request's own.
    want = "Received Error. Status code: 400 Bad Request. Message: " + fault
    check(want in log, "no %r in:\n%s" % (want, log[-2000:]))
    for want in ('The API server received a Patch request on "/machine-config" with body',
                 'The API server received a Put request on "/machine-config" with body',
                 'The API server received a Get request on "/machine-config".',
                 'The API server received a Put request on "/mmds".'):
        check(want in log, "no %r in:\n%s" % (want, log))
    check("hunter2" not in log, "the MMDS's data reached the log:\n%s" % log)
    reqs = [m.groupdict() for m in API_REQUEST.finditer(log)]
    check([(r["method"], r["url"]) for r in reqs] ==
          [("Patch", "/machine-config"), ("Put", "/machine-config"), ("Get", "/machine-config"),
           ("Put", "/mmds"), ("Get", "/"), ("Put", "/machine-config")], "request lines as the framework parses them: %r" % reqs)
    body = json.loads(json.loads(reqs[1]["body"]))
    check(body == {"vcpu_count": 4, "mem_size_mib": 128}, "the body as logged: %r" % body)
    # Each request's line is followed by its duration line, as the framework pairs them.
    times = [int(m.group("execution_time")) for m in
             (API_TIME.search(line) for line in log.splitlines()) if m]
    check(len(times) == len(reqs), "%d duration lines for %d requests:\n%s" %
          (len(times), len(reqs), log))


def case_level(binary, tmp):
    """Every spelling Firecracker takes, on the command line and in PUT /logger."""
    for level in ("warn", "Warn", "WARN", "warning", "Warning", "error", "info", "debug",
                  "trace", "off", "Off"):
        d = os.path.join(tmp, "lvl-" + level)
        os.mkdir(d)
        fc = Fc(binary, d, level=level)
        try:
            deadline = time.monotonic() + TIMEOUT
            while not os.path.exists(fc.sock):
                check(fc.p.poll() is None, "--level %s: exited %s:\n%s" %
                      (level, fc.p.returncode, fc.stderr()))
                check(time.monotonic() < deadline, "--level %s: no socket" % level)
                time.sleep(0.02)
            time.sleep(0.05)
            fc.expect("PUT", "/logger", 204, {"level": level})
        finally:
            fc.stop()
    # At Warn, Info's lines stay out.
    d = os.path.join(tmp, "warn-only")
    os.mkdir(d)
    fc = Fc(binary, d, level="warn")
    try:
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(fc.sock):
            check(time.monotonic() < deadline and fc.p.poll() is None, "no socket")
            time.sleep(0.02)
        time.sleep(0.05)
        fc.expect("GET", "/", 200)
    finally:
        fc.stop()
    check("The API server received" not in fc.log_data(), fc.log_data())
    # A level Firecracker does not take is refused, naming it.
    p = subprocess.run([fc.fc, "--api-sock",
                        os.path.join(tmp, "x.sock"), "--level", "loud"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    check(p.returncode != 0 and "loud" in p.stderr, "--level loud: %d %r" %
          (p.returncode, p.stderr))


def case_config_file_log(binary, tmp):
    """A refused config file: the words in the log file as well as on stderr."""
    cfg = os.path.join(tmp, "vm.json")
    with open(cfg, "w") as f:
        f.write('{"machine-config": {"vcpu_count": 0, "mem_size_mib": 128}}')
    fc = Fc(binary, tmp, level="Info", extra=["--config-file", cfg])
    rc = fc.p.wait(timeout=TIMEOUT)
    log, err = fc.log_data(), fc.stderr()
    check(rc != 0, "a bad config file started: exit 0")
    check("number of vCPUs" in err, "stderr does not name the problem: %r" % err)
    check("number of vCPUs" in log and ":ERROR:" in log, "the log file does not: %r" % log)
    m = EXIT_LINE.search(log)
    check(m and m.group(1) == "with error" and int(m.group(2)) == rc,
          "exit %d, exit line %r" % (rc, m and m.group(0)))



def paused_vm(fc, tmp):
    kernel = os.path.join(tmp, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    fc.expect("PUT", "/boot-source", 204, {"kernel_image_path": kernel})
    fc.expect("PUT", "/machine-config", 204, {"vcpu_count": 1, "mem_size_mib": 64})
    fc.expect("PUT", "/actions", 204, {"action_type": "InstanceStart"})
    fc.expect("PATCH", "/vm", 204, {"state": "Paused"})


def case_snapshot_tmp(binary, tmp):
    """Snapshots where the caller says under `firecracker`; the sealed `hearth serve` names
    the flag that keeps a directory."""
    need_kvm()
    fc = Fc(binary, tmp, level="Info")
    snap, mem = os.path.join(tmp, "vm.snap"), os.path.join(tmp, "vm.mem")
    try:
        fc.wait_log("API server started.")
        paused_vm(fc, tmp)
        fc.expect("PUT", "/snapshot/create", 204, {"snapshot_path": snap, "mem_file_path": mem})
    finally:
        fc.stop()
    check(os.path.getsize(snap) > 0 and os.path.getsize(mem) >= 64 << 20,
          "snapshot files %r %r" % (os.path.getsize(snap), os.path.getsize(mem)))
    # hearth serve, sandbox on by default: the same request is refused, naming the flag.
    d = os.path.join(tmp, "serve")
    os.mkdir(d)
    sock = os.path.join(d, "api.sock")
    err_path = os.path.join(d, "stderr.txt")
    with open(err_path, "wb") as err:
        p = subprocess.Popen([binary, "serve", "--api-sock", sock], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err)
    fc.sock = sock
    try:
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(sock):
            check(p.poll() is None and time.monotonic() < deadline, "hearth serve: no socket")
            time.sleep(0.02)
        time.sleep(0.05)
        paused_vm(fc, d)
        got, js = fc.request("PUT", "/snapshot/create",
                             {"snapshot_path": os.path.join(d, "s"),
                              "mem_file_path": os.path.join(d, "m")})
        check(got == 400 and "--snapshot-dir" in (js or {}).get("fault_message", ""),
              "hearth serve's refusal: %d %r" % (got, js))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=TIMEOUT)


def case_load_fatal(binary, tmp):
    """A failed load ends `firecracker` after its 400; `hearth serve` goes on."""
    missing = {"snapshot_path": os.path.join(tmp, "no.snap"),
               "mem_backend": {"backend_type": "File",
                               "backend_path": os.path.join(tmp, "no.mem")}}
    fc = Fc(binary, tmp, level="Info")
    try:
        fc.wait_log("API server started.")
        got, js = fc.request("PUT", "/snapshot/load", missing)
        check(got == 400, "the failed load: %d %r" % (got, js))
        rc = fc.p.wait(timeout=TIMEOUT)
    finally:
        fc.stop()
    check(rc == 1, "exit %d after a failed load, expected Firecracker's 1" % rc)
    m = EXIT_LINE.search(fc.log_data())
    check(m and m.group(2) == "1", "exit line %r" % (m and m.group(0)))
    # Refused before any restore began: not fatal.
    d = os.path.join(tmp, "boot-path")
    os.mkdir(d)
    fc = Fc(binary, d, level="Info")
    try:
        fc.wait_log("API server started.")
        fc.expect("PUT", "/machine-config", 204, {"vcpu_count": 1, "mem_size_mib": 64})
        got, js = fc.request("PUT", "/snapshot/load", missing)
        check(got == 400 and "boot-specific" in js["fault_message"], "%d %r" % (got, js))
        fc.expect("GET", "/", 200)
    finally:
        fc.stop()
    # hearth serve: the same failed load, and it still serves.
    d = os.path.join(tmp, "serve")
    os.mkdir(d)
    fc.sock = os.path.join(d, "api.sock")
    p = subprocess.Popen([binary, "serve", "--api-sock", fc.sock], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(fc.sock):
            check(p.poll() is None and time.monotonic() < deadline, "hearth serve: no socket")
            time.sleep(0.02)
        time.sleep(0.05)
        got, js = fc.request("PUT", "/snapshot/load", missing)
        check(got == 400, "hearth serve's failed load: %d %r" % (got, js))
        fc.expect("GET", "/", 200)
        check(p.poll() is None, "hearth serve exited after a failed load")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=TIMEOUT)


def read_answer(c):
    """One HTTP answer's bytes (its head and a Content-Length body), up to TIMEOUT."""
    c.settimeout(TIMEOUT)
    data = b""
    while b"\r\n\r\n" not in data:
        part = c.recv(4096)
        if not part:
            return data
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)content-length: *(\d+)", head)
    while m and len(body) < int(m.group(1)):
        part = c.recv(4096)
        if not part:
            break
        body += part
    return head + b"\r\n\r\n" + body


def case_socket_load(binary, tmp):
    """Idle connections past the limit, a burst of connects, an oversized Content-Length."""
    import select
    import socket
    sock = os.path.join(tmp, "api.sock")
    p = subprocess.Popen([binary, "serve", "--api-sock", sock, "--http-api-max-payload-size",
                          "4096"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    held = []
    try:
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(sock):
            check(p.poll() is None and time.monotonic() < deadline, "no socket")
            time.sleep(0.02)
        time.sleep(0.05)
        # 70 connections that send nothing: 64 are served, the rest told so at once.
        for _ in range(70):
            c = socket.socket(socket.AF_UNIX)
            c.connect(sock)
            held.append(c)
        full = []
        for c in held[64:]:
            a = read_answer(c)
            check(a.startswith(b"HTTP/1.1 503") and b"Too many open connections" in a,
                  "a client past the limit got %r" % a[:120])
            full.append(c)
        # The held ones are still served, in any order.
        for c in held[:64:7]:
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            a = read_answer(c)
            check(a.startswith(b"HTTP/1.1 200"), "a held connection got %r" % a[:80])
        for c in held:
            c.close()
        held = []
        time.sleep(0.2)
        # 64 clients at once, without blocking (as Go's net package connects).
        burst = []
        for _ in range(64):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
            try:
                c.connect(sock)
            except BlockingIOError:
                check(False, "a non-blocking connect was refused with EAGAIN: the backlog "
                      "is too short")
            burst.append(c)
        for c in burst:
            select.select([], [c], [], TIMEOUT)
            c.setblocking(True)
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answered = sum(read_answer(c).startswith(b"HTTP/1.1 200") for c in burst)
        for c in burst:
            c.close()
        check(answered == 64, "%d of 64 clients connecting at once were answered" % answered)
        # A Content-Length past the limit: refused at its header, no body sent.
        c = socket.socket(socket.AF_UNIX)
        c.connect(sock)
        c.sendall(b"PUT /mmds HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n\r\n")
        a = read_answer(c)
        c.close()
        check(a.startswith(b"HTTP/1.1 400") and b"999999 is larger than the limit of 4096" in a,
              "an oversized Content-Length got %r" % a[:200])
        check(p.poll() is None, "hearth serve exited")
    finally:
        for c in held:
            c.close()
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=TIMEOUT)


def case_device_budget(binary, tmp):
    """12 NICs and 5 drives; past the budget, Firecracker's words at InstanceStart."""
    fc = Fc(binary, tmp, level="Info")
    try:
        fc.wait_log("API server started.")
        for i in range(12):
            fc.expect("PUT", "/network-interfaces/eth%d" % i, 204,
                      {"iface_id": "eth%d" % i, "backend": "user",
                       "guest_mac": "06:00:00:00:00:%02x" % i})
        for i in range(5):
            img = os.path.join(tmp, "d%d.img" % i)
            with open(img, "wb") as f:
                f.truncate(1 << 20)
            fc.expect("PUT", "/drives/d%d" % i, 204,
                      {"drive_id": "d%d" % i, "path_on_host": img, "is_root_device": False,
                       "is_read_only": False})
        cfg = fc.expect("GET", "/vm/config", 200)
        check(len(cfg["network-interfaces"]) == 12 and len(cfg["drives"]) == 5,
              "GET /vm/config: %d NICs, %d drives" % (len(cfg["network-interfaces"]),
                                                     len(cfg["drives"])))
        # A refused replacement: a MAC in use keeps it; a later refusal drops it, as
        # Firecracker's NetBuilder does.
        got, js = fc.request("PUT", "/network-interfaces/eth11",
                             {"iface_id": "eth11", "backend": "user",
                              "guest_mac": "06:00:00:00:00:00"})
        check(got == 400 and "MAC address is already in use" in js["fault_message"], js)
        got, js = fc.request("PUT", "/network-interfaces/eth11",
                             {"iface_id": "eth11", "host_dev_name": "x" * 20})
        check(got == 400 and "host_dev_name" in js["fault_message"], "%d %r" % (got, js))
        ids = [n["iface_id"] for n in fc.expect("GET", "/vm/config", 200)["network-interfaces"]]
        check("eth11" not in ids and len(ids) == 11, "after the refused replacement: %r" % ids)
        fc.expect("PUT", "/network-interfaces/eth11", 204,
                  {"iface_id": "eth11", "backend": "user", "guest_mac": "06:00:00:00:00:0b"})
        # 17 devices fit; 3 more drives make 20, past the 18 lines VMGenID leaves.
        for i in range(5, 8):
            img = os.path.join(tmp, "d%d.img" % i)
            with open(img, "wb") as f:
                f.truncate(1 << 20)
            fc.expect("PUT", "/drives/d%d" % i, 204,
                      {"drive_id": "d%d" % i, "path_on_host": img, "is_root_device": False,
                       "is_read_only": False})
        need_kvm("InstanceStart past the budget")
        kernel = os.path.join(tmp, "k.elf")
        with open(kernel, "wb") as f:
            f.write(tiny_elf(power_off=False))
        fc.expect("PUT", "/boot-source", 204, {"kernel_image_path": kernel})
        got, js = fc.request("PUT", "/actions", {"action_type": "InstanceStart"})
        check(got == 400 and "Failed to allocate requested resource: The requested "
              "resource is not available." in js["fault_message"],
              "InstanceStart past the budget: %d %r" % (got, js))
    finally:
        fc.stop()


def boot_timer_elf():
    """Writes Firecracker's magic 123 to the boot timer, then powers off (tiny_elf's way)."""
    import struct
    code = bytes([0xb8, 0x00, 0x00, 0x00, 0xc0,    # mov $0xc0000000, %eax
                  0xc6, 0x00, 0x7b,                # movb $123, (%rax)
                  0x66, 0xba, 0x00, 0x06,          # mov $0x600, %dx
                  0xb0, 0x34, 0xee,                # mov $0x34, %al; out %al, (%dx)
                  0xfa, 0xf4, 0xeb, 0xfc])
    base, off = 0x200000, 0x1000
    ehdr = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, b"\0" * 7,
                       2, 0x3e, 1, base, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, off, base, base, len(code), len(code), 0x1000)
    return (ehdr + phdr).ljust(off, b"\0") + code


def case_boot_timer(binary, tmp):
    """Firecracker's boot timer and snapshot-format flags."""
    fc_bin = os.path.join(tmp, "firecracker")
    os.symlink(os.path.abspath(binary), fc_bin)
    p = subprocess.run([fc_bin, "--snapshot-version"], capture_output=True, text=True,
                       timeout=TIMEOUT)
    check(p.returncode == 0 and re.fullmatch(r"v\d+\.\d+\.\d+\n", p.stdout),
          "--snapshot-version: %d %r" % (p.returncode, p.stdout))
    notsnap = os.path.join(tmp, "not-a-snapshot")
    with open(notsnap, "w") as f:
        f.write("hello")
    p = subprocess.run([fc_bin, "--describe-snapshot", notsnap], capture_output=True,
                       text=True, timeout=TIMEOUT)
    check(p.returncode == 2 and notsnap in p.stderr, "--describe-snapshot of junk: %d %r" %
          (p.returncode, p.stderr))
    need_kvm("the boot timer's guest")
    kernel = os.path.join(tmp, "bt.elf")
    with open(kernel, "wb") as f:
        f.write(boot_timer_elf())
    cfg = os.path.join(tmp, "vm.json")
    with open(cfg, "w") as f:
        json.dump({"boot-source": {"kernel_image_path": kernel},
                   "machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}, f)
    fc = Fc(binary, tmp, level="Info", extra=["--no-api", "--config-file", cfg, "--boot-timer"],
            api=False)
    fc.sock = None
    rc = fc.p.wait(timeout=TIMEOUT)
    log = fc.log_data()
    check(rc == 0, "exit %d:\n%s\n%s" % (rc, log, fc.stderr()))
    check(re.search(r"Guest-boot-time = +\d+ us \d+ ms, +\d+ CPU us \d+ CPU ms", log),
          "no boot time line:\n%s" % log)


CASES = {
    "framework-start": case_framework_start,
    "request-logs": case_request_logs,
    "level": case_level,
    "config-file-log": case_config_file_log,
    "snapshot-tmp": case_snapshot_tmp,
    "load-fatal": case_load_fatal,
    "socket-load": case_socket_load,
    "device-budget": case_device_budget,
    "boot-timer": case_boot_timer,
}

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-fc-process-"))
