#!/usr/bin/env python3
"""`hearth serve` against its Firecracker-compatible API, over the Unix socket.

    run_api_test.py --hearth build/hearth --case bad-requests [--asan build-asan/hearth]

None of these needs KVM: the VM is configured, refused, or asked to start
with --kvm naming a device that does not exist (a host without KVM, on
every host; nothing here skips). With
--asan (when that binary exists) the case also runs under the sanitizer
build, which must not report anything.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import (FC_VERSION, NOT_BEFORE_START, SANITIZER_MARKERS, TestFailure,  # noqa: E402
                   check, run_cases, tap_usable, tiny_elf)

TIMEOUT = 30.0
# A KVM device that is not there: a host without KVM, simulated on any host.
NO_KVM = "/nonexistent/hearth-test/kvm"
# Firecracker's wrapping of what its serde_json refuses (api_server/parsed_request.rs).
SERDE = "An error occurred when deserializing the json body of a request: "


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=TIMEOUT)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(self.path)


class Serve:
    """One `hearth serve` process and a keep-alive connection to it."""

    def __init__(self, binary, tmp, args=None, cmd=None):
        self.sock = os.path.join(tmp, "api.sock") if cmd is None else cmd[-1]
        self.err_path = os.path.join(tmp, "stderr-%d.txt" % time.monotonic_ns())
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.err = open(self.err_path, "wb")
        cmd = cmd or [binary, "serve", "--api-sock", self.sock]
        self.p = subprocess.Popen(cmd + (args or []),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=self.err, env=env)
        deadline = time.monotonic() + TIMEOUT
        while not self.serving():
            check(self.p.poll() is None, "hearth serve exited with %s before serving:\n%s" %
                  (self.p.returncode, self.stderr()))
            check(time.monotonic() < deadline, "no socket after %.0f s" % TIMEOUT)
            time.sleep(0.02)
        self.conn = UnixHTTPConnection(self.sock)

    def serving(self):
        """True once something accepts on the socket (a stale one may be there first)."""
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            c.connect(self.sock)
            return True
        except OSError:
            return False
        finally:
            c.close()

    def stderr(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def request(self, method, path, body=None, raw=None):
        """Returns (status, parsed JSON or None). Reuses the connection."""
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        text = r.read()
        self.deprecation = r.getheader("Deprecation")
        if r.status == 204:
            check(text == b"", "204 with a body: %r" % text)
            return r.status, None
        try:
            return r.status, json.loads(text)
        except ValueError:
            raise TestFailure("%s %s: %d with a body that is not JSON: %r" %
                              (method, path, r.status, text))

    def expect(self, method, path, status, body=None, raw=None, fault=(), exact=None):
        """fault: words the fault_message has; exact: the whole of it, word for word."""
        got, js = self.request(method, path, body, raw)
        check(got == status, "%s %s: status %d, expected %d (%s)" % (method, path, got, status,
                                                                     js))
        if status >= 400:
            check(isinstance(js, dict) and isinstance(js.get("fault_message"), str),
                  "%s %s: no fault_message in %r" % (method, path, js))
            for w in fault:
                check(w in js["fault_message"], "%s %s: fault %r does not mention %r" %
                      (method, path, js["fault_message"], w))
            check(exact is None or js["fault_message"] == exact,
                  "%s %s: fault %r is not %r" % (method, path, js["fault_message"], exact))
        return js

    def alive(self):
        js = self.expect("GET", "/", 200)
        check(js["state"] == "Not started", "state %r" % js["state"])

    def stop(self, sig=signal.SIGTERM):
        self.conn.close()
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            rc = self.p.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise TestFailure("hearth serve did not exit %.0f s after %s" % (TIMEOUT, sig))
        self.p.stdout.close()
        self.err.close()
        err = self.stderr()
        for m in SANITIZER_MARKERS:
            check(m not in err, "sanitizer report (%r):\n%s" % (m, err))
        return rc, err


def case_info(binary, tmp):
    s = Serve(binary, tmp, ["--id", "vm-test-1"])
    js = s.expect("GET", "/", 200)
    # Firecracker 1.16's API is the contract; Hearth's own name and version are in app_name.
    check(js == {"id": "vm-test-1", "state": "Not started", "vmm_version": FC_VERSION,
                 "app_name": js["app_name"]}, "instance info %r" % js)
    check(re.fullmatch(r"hearth \d+\.\d+\.\d+.*", js["app_name"]), "app_name %r" % js)
    js = s.expect("GET", "/version", 200)
    check(js == {"firecracker_version": FC_VERSION}, "version %r" % js)
    s.stop()


def case_bad_requests(binary, tmp):
    """Bodies Firecracker's serde_json refuses: its words, its line and column, word for word."""
    s = Serve(binary, tmp)
    s.expect("PUT", "/machine-config", 400, raw="{\"vcpu_count\": 1,",
             exact=SERDE + "EOF while parsing a value at line 1 column 17.")
    s.alive()
    s.expect("PUT", "/machine-config", 400, body={"vcpu_count": 1, "mem_size_mib": 128,
                                                  "cpus": 2},
             exact=SERDE + "unknown field `cpus`, expected one of `vcpu_count`, `mem_size_mib`, "
             "`smt`, `cpu_template`, `track_dirty_pages`, `huge_pages` at line 1 column 45.")
    s.alive()
    s.expect("PUT", "/machine-config", 400, body={"vcpu_count": "1", "mem_size_mib": 128},
             exact=SERDE + "invalid type: string \"1\", expected u8 at line 1 column 18.")
    s.alive()
    # Firecracker's test_api_machine_config, its two messages word for word.
    s.expect("PUT", "/machine-config", 400, body={"mem_size_mib": 128},
             exact=SERDE + "missing field `vcpu_count` at line 1 column 21.")
    s.expect("PUT", "/machine-config", 400, body={"vcpu_count": 2},
             exact=SERDE + "missing field `mem_size_mib` at line 1 column 17.")
    s.expect("PUT", "/boot-source", 400, body={"boot_args": "x"},
             exact=SERDE + "missing field `kernel_image_path` at line 1 column 18.")
    s.alive()
    # Firecracker's method_to_error.
    s.expect("PUT", "/boot-source", 400, exact="Empty PUT request.")
    s.expect("PATCH", "/machine-config", 400, exact="Empty PATCH request.")
    s.expect("GET", "/machine-config", 400, body={}, exact="GET request cannot have a body.")
    s.alive()
    # Refused at its Content-Length, before the body is read, and the connection closed
    # (a client that writes the body after the headers in a second send may meet EPIPE
    # there, as with Firecracker's server; one send takes it whole into the socket).
    body = json.dumps({"kernel_image_path": "/k", "pad": "x" * 60000}).encode()
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.settimeout(TIMEOUT)
    raw.connect(s.sock)
    raw.sendall(b"PUT /boot-source HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body) + body)
    answer = b""
    while True:
        part = raw.recv(4096)
        if not part:
            break
        answer += part
    raw.close()
    check(answer.startswith(b"HTTP/1.1 400") and b"larger than the limit of 51200" in answer,
          "an oversized body got %r" % answer[:200])
    s.alive()
    s.expect("GET", "/no/such/thing", 400, fault=["Invalid request method and/or path"])
    s.alive()
    s.expect("DELETE", "/", 400, fault=["Invalid request method and/or path"])
    s.alive()
    s.expect("PUT", "/hotplug/other", 400, body={}, fault=["not supported yet"])
    s.alive()
    # pmem is served: an empty body is serde's refusal, a PATCH before boot the state's.
    s.expect("PUT", "/pmem/p0", 400, body={}, fault=["missing field `id`"])
    s.alive()
    s.expect("PATCH", "/pmem/p0", 400, body={"id": "p0"}, fault=[NOT_BEFORE_START])
    s.alive()
    s.expect("PATCH", "/vm", 400, body={"state": "Paused"}, fault=[NOT_BEFORE_START])
    s.alive()
    rc, err = s.stop()
    check(rc == 3, "exit code %d after SIGTERM, expected 3" % rc)


def case_machine_config(binary, tmp):
    s = Serve(binary, tmp)
    js = s.expect("GET", "/machine-config", 200)
    # Firecracker's defaults, key for key (its swagger: 1 vCPU, 128 MiB).
    check(js == {"vcpu_count": 1, "mem_size_mib": 128, "smt": False, "track_dirty_pages": False,
                 "huge_pages": "None"}, "defaults %r" % js)
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 2, "mem_size_mib": 512,
                                                  "smt": False, "track_dirty_pages": True})
    js = s.expect("GET", "/machine-config", 200)
    check(js["vcpu_count"] == 2 and js["mem_size_mib"] == 512 and js["track_dirty_pages"],
          "after PUT %r" % js)
    s.expect("PATCH", "/machine-config", 204, body={"vcpu_count": 4})
    js = s.expect("GET", "/machine-config", 200)
    check(js["vcpu_count"] == 4 and js["mem_size_mib"] == 512, "after PATCH %r" % js)
    s.expect("PUT", "/machine-config", 400, body={"vcpu_count": 2, "mem_size_mib": 8},
             fault=["The memory size (MiB) 8 is below Hearth's minimum of 16."])
    s.expect("PUT", "/machine-config", 400, body={"vcpu_count": 2, "mem_size_mib": 64,
                                                  "cpu_template": "T9"},
             exact=SERDE + "unknown variant `T9`, expected one of `C3`, `T2`, `T2S`, `None`, "
             "`T2CL`, `T2A` at line 1 column 58.")
    # A template for the other vendor: Firecracker's words, already at the PUT.
    wrong = "T2" if host_vendor() == "AuthenticAMD" else "T2A"
    s.expect("PUT", "/machine-config", 400, body={"vcpu_count": 2, "mem_size_mib": 64,
                                                  "cpu_template": wrong},
             fault=["CPU vendor mismatched between actual CPU and CPU template."])
    # smt: two threads per core, so 1 or an even count (Firecracker's rule and words).
    s.expect("PUT", "/machine-config", 400, body={"vcpu_count": 3, "mem_size_mib": 64,
                                                  "smt": True},
             fault=["must be 1 or an even number if SMT is enabled."])
    js = s.expect("GET", "/machine-config", 200)
    check(js["vcpu_count"] == 4 and js["mem_size_mib"] == 512 and "cpu_template" not in js,
          "after refusals %r" % js)
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 2, "mem_size_mib": 64,
                                                  "smt": True})
    js = s.expect("GET", "/machine-config", 200)
    check(js["smt"] is True and js["vcpu_count"] == 2, "smt %r" % js)
    right = "T2A" if host_vendor() == "AuthenticAMD" else "T2"
    if host_vendor() in ("AuthenticAMD", "GenuineIntel"):
        s.expect("PATCH", "/machine-config", 204, body={"cpu_template": right})
        js = s.expect("GET", "/machine-config", 200)
        check(js.get("cpu_template") == right, "template %r" % js)
        js = s.expect("GET", "/vm/config", 200)
        check(js["machine-config"].get("cpu_template") == right and js["cpu-config"] is None,
              "vm/config with a template %r" % js)
    # PUT /cpu-config: Firecracker's CustomCpuTemplate, checked strictly; it replaces the
    # static template, which machine-config then reports as "None".
    tmpl = {"cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "flags": 0,
                                 "modifiers": [{"register": "ecx", "bitmap": "0bx0"}]}],
            "msr_modifiers": [], "kvm_capabilities": ["!171"]}
    s.expect("PUT", "/cpu-config", 400, body={"cpuid_modifiers": [{"leaf": "0x1"}]},
             exact=SERDE + "missing field `subleaf` at line 1 column 36.")
    s.expect("PUT", "/cpu-config", 400,
             body={"msr_modifiers": [{"addr": "0x10a", "bitmap": "0b" + "1" * 65}]},
             fault=["has more than 64 bits"])
    s.expect("PUT", "/cpu-config", 204, body=tmpl)
    js = s.expect("GET", "/vm/config", 200)
    want = dict(tmpl, cpuid_modifiers=[dict(tmpl["cpuid_modifiers"][0], modifiers=[
        {"register": "ecx", "bitmap": "0b" + "x" * 30 + "x0"}])])
    check(js["cpu-config"] == want, "cpu-config %r" % js["cpu-config"])
    check(js["machine-config"].get("cpu_template") == "None", "custom: %r" % js)
    s.stop()


def host_vendor():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    return ""


def put_nic(s, iface, tap, mac):
    """PUT a NIC: 204 where this host lets us have the TAP, else Firecracker's 400 at PUT."""
    body = {"iface_id": iface, "host_dev_name": tap, "guest_mac": mac}
    if tap_usable(tap):
        s.expect("PUT", "/network-interfaces/" + iface, 204, body=body)
        return True
    s.expect("PUT", "/network-interfaces/" + iface, 400, body=body,
             fault=["Could not create the network device: Open tap device failed", tap])
    return False


def case_vm_config(binary, tmp):
    s = Serve(binary, tmp)
    disk = os.path.join(tmp, "disk.img")
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    kernel = os.path.join(tmp, "vmlinuz")
    with open(kernel, "wb") as f:
        f.write(tiny_elf())
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel,
                                               "boot_args": "console=ttyS0 quiet"})
    s.expect("PUT", "/drives/rootfs", 204, body={"drive_id": "rootfs", "path_on_host": disk,
                                                 "is_root_device": True, "is_read_only": True})
    s.expect("PUT", "/drives/other", 400, body={"drive_id": "rootfs", "path_on_host": disk,
                                                "is_root_device": False},
             exact="The id from the path does not match the id from the body!")
    nic = put_nic(s, "eth0", "tap7", "06:00:ac:10:00:02")
    s.expect("PUT", "/vsock", 204, body={"guest_cid": 3})
    s.expect("PUT", "/entropy", 204, body={})
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 2, "mem_size_mib": 128})
    s.expect("PUT", "/drives/scratch", 204,
             body={"drive_id": "scratch", "path_on_host": disk, "is_root_device": False,
                   "is_read_only": True, "cache_type": "Writeback", "io_engine": "Async",
                   "rate_limiter": {"bandwidth": {"size": 1000000, "refill_time": 100}}})
    js = s.expect("GET", "/vm/config", 200)
    # Firecracker's FullVmConfiguration for the same requests, key for key (its
    # test_api.py's test_get_full_config, for what Hearth has).
    drive = {"drive_id": "rootfs", "partuuid": None, "is_root_device": True,
             "cache_type": "Unsafe", "is_read_only": True, "path_on_host": disk,
             "rate_limiter": None, "io_engine": "Sync", "socket": None}
    scratch = dict(drive, drive_id="scratch", is_root_device=False, cache_type="Writeback",
                   io_engine="Async",
                   rate_limiter={"bandwidth": {"size": 1000000, "one_time_burst": None,
                                               "refill_time": 100}, "ops": None})
    nets = [{"iface_id": "eth0", "host_dev_name": "tap7", "guest_mac": "06:00:ac:10:00:02",
             "mtu": None, "rx_rate_limiter": None, "tx_rate_limiter": None}]
    want = {
        "boot-source": {"kernel_image_path": kernel, "initrd_path": None,
                        "boot_args": "console=ttyS0 quiet"},
        "machine-config": {"vcpu_count": 2, "mem_size_mib": 128, "smt": False,
                           "track_dirty_pages": False, "huge_pages": "None"},
        "drives": [drive, scratch],
        "network-interfaces": nets if nic else [],
        "vsock": {"guest_cid": 3, "uds_path": None},
        "entropy": {"rate_limiter": None},
        "balloon": None, "cpu-config": None, "logger": None, "metrics": None,
        "mmds-config": None, "memory-hotplug": None, "pmem": [],
    }
    check(js == want, "GET /vm/config:\n%r\nwant\n%r" % (js, want))
    # The same JSON is a config file; --no-api boots it (and fails on the kernel, gone now).
    path = os.path.join(tmp, "config.json")
    js["boot-source"]["kernel_image_path"] = "/boot/vmlinuz"
    with open(path, "w") as f:
        json.dump(js, f)
    s.stop()
    rc, out, err = run_plain(binary, ["serve", "--no-api", "--config-file", path])
    check(rc == 2, "config file from GET /vm/config: exit %d, expected 2\n%s" % (rc, err))
    check("/boot/vmlinuz" in err, "stderr does not name the kernel: %r" % err)


def case_start_missing_kernel(binary, tmp):
    s = Serve(binary, tmp)
    missing = os.path.join(tmp, "no-such-kernel")
    s.expect("PUT", "/actions", 400, body={"action_type": "InstanceStart"},
             fault=["kernel_image_path is not set"])
    # Firecracker opens the kernel at PUT: a missing one is the PUT's 400, in its words.
    s.expect("PUT", "/boot-source", 400, body={"kernel_image_path": missing},
             fault=["The kernel file cannot be opened: No such file or directory (os error 2)"])
    check(s.expect("GET", "/vm/config", 200)["boot-source"] is None, "boot source after 400")
    s.expect("PUT", "/boot-source", 400,
             body={"kernel_image_path": os.path.join(tmp), "initrd_path": missing},
             fault=["The initrd file cannot be opened due to invalid path or invalid permissions."
                    " No such file or directory (os error 2)"])
    # One that goes away after its PUT: InstanceStart names it.
    with open(missing, "wb") as f:
        f.write(tiny_elf())
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": missing})
    os.unlink(missing)
    s.expect("PUT", "/actions", 400, body={"action_type": "InstanceStart"}, fault=[missing])
    s.alive()
    s.stop()


def case_put_checks(binary, tmp):
    """Firecracker's checks at PUT time: the drive's file and the NIC's TAP are opened then."""
    disk = os.path.join(tmp, "disk.img")
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    missing = os.path.join(tmp, "no-such.img")
    s = Serve(binary, tmp)
    s.expect("PUT", "/drives/rootfs", 400, body={"drive_id": "rootfs", "path_on_host": missing,
                                                 "is_root_device": True},
             fault=["Unable to create the virtio block device: Virtio backend error: Error "
                    "manipulating the backing file: No such file or directory (os error 2) " +
                    missing])
    # A directory opens read-only, but is no disk: refused at PUT too, not at boot.
    s.expect("PUT", "/drives/rootfs", 400, body={"drive_id": "rootfs", "path_on_host": tmp,
                                                 "is_root_device": True, "is_read_only": True},
             fault=["Unable to create the virtio block device", tmp])
    check(s.expect("GET", "/vm/config", 200)["drives"] == [], "drives after the 400s")
    s.expect("PUT", "/drives/rootfs", 204, body={"drive_id": "rootfs", "path_on_host": disk,
                                                 "is_root_device": True})
    # Firecracker's words for a second root device, checked before the file.
    s.expect("PUT", "/drives/data", 400, body={"drive_id": "data", "path_on_host": missing,
                                               "is_root_device": True},
             fault=["A root block device already exists!"])
    # lo is a network device but no TAP, for every user in every namespace.
    s.expect("PUT", "/network-interfaces/eth0", 400,
             body={"iface_id": "eth0", "host_dev_name": "lo"},
             fault=["Could not create the network device: Open tap device failed", "lo"])
    check(s.expect("GET", "/vm/config", 200)["network-interfaces"] == [], "NICs after the 400")
    s.alive()
    s.stop()


def case_fc_api(binary, tmp):
    """Firecracker's test_api.py, the cases (or their pre-boot halves) Hearth has the features
    for, written anew: its words, shapes and headers, through the socket with seccomp on."""
    kernel = os.path.join(tmp, "vmlinux")
    with open(kernel, "wb") as f:
        f.write(tiny_elf())
    disks = {}
    for name in ("rootfs", "scratch", "otherscratch"):
        disks[name] = os.path.join(tmp, name + ".ext4")
        with open(disks[name], "wb") as f:
            f.truncate(1 << 20)
    log = os.path.join(tmp, "fc.log")
    s = Serve(binary, tmp, ["--log-path", log, "--level", "Warning"])
    # test_api_version, before boot: Firecracker's version, as semver.
    js = s.expect("GET", "/version", 200)
    check(re.fullmatch(r"\d+\.\d+\.\d+", js["firecracker_version"]) and
          js["firecracker_version"] == FC_VERSION, "version %r" % js)
    # basic_config: 2 vCPUs, 256 MiB, a kernel and a read-only root.
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 2, "mem_size_mib": 256})
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/drives/rootfs", 204, body={"drive_id": "rootfs", "is_root_device": True,
                                                 "is_read_only": True,
                                                 "path_on_host": disks["rootfs"]})
    # test_api_put_update_pre_boot
    s.expect("PUT", "/drives/scratch", 204,
             body={"drive_id": "scratch", "path_on_host": disks["scratch"],
                   "is_root_device": False, "is_read_only": False, "io_engine": "Sync"})
    s.expect("PUT", "/boot-source", 400, body={"kernel_image_path": "foo.bar"},
             fault=["The kernel file cannot be opened: No such file or directory (os error 2)"])
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/drives/rootfs", 400,
             body={"drive_id": "rootfs", "path_on_host": "foo.bar", "is_read_only": True,
                   "is_root_device": True, "io_engine": "Sync"},
             fault=["No such file or directory"])
    s.expect("PUT", "/drives/scratch", 400,
             body={"drive_id": "scratch", "path_on_host": disks["scratch"],
                   "is_read_only": False, "is_root_device": True, "io_engine": "Sync"},
             fault=["A root block device already exists"])
    s.expect("PUT", "/drives/scratch", 204,
             body={"drive_id": "scratch", "path_on_host": disks["otherscratch"],
                   "is_read_only": True, "is_root_device": False, "io_engine": "Sync"})
    # test_api_patch_pre_boot
    s.expect("PATCH", "/boot-source", 400, body={"kernel_image_path": "otherfile"},
             fault=["Invalid request method"])
    s.expect("PATCH", "/machine-config", 204, body={"vcpu_count": 4})
    check(s.expect("GET", "/machine-config", 200)["vcpu_count"] == 4, "PATCH /machine-config")
    s.expect("PATCH", "/logger", 400, body={"level": "Error"}, fault=["Invalid request method"])
    s.expect("PATCH", "/drives/scratch", 400, body={"drive_id": "scratch",
                                                    "path_on_host": "foo.bar"},
             fault=[NOT_BEFORE_START])
    s.expect("PATCH", "/network-interfaces/1", 400, body={"iface_id": "1"},
             fault=[NOT_BEFORE_START])
    # test_api_machine_config, the parts without CPU templates or a boot
    s.expect("PUT", "/machine-config", 400, body={"vcpu_count": "-2"})
    s.expect("PUT", "/machine-config", 400, body={"smt": "random_string"})
    s.expect("PUT", "/machine-config", 400, body={"cpu_template": "random_string"})
    s.expect("PATCH", "/machine-config", 204, body={"track_dirty_pages": True})
    s.expect("PUT", "/machine-config", 204, body={"mem_size_mib": 128, "vcpu_count": 1})
    check(s.expect("GET", "/machine-config", 200)["smt"] is False, "default smt")
    s.expect("PUT", "/machine-config", 400, body={"mem_size_mib": "-2"})
    s.expect("PUT", "/machine-config", 400, body={"mem_size_mib": 1 << 64, "vcpu_count": 1})
    # Taken at PUT, refused at InstanceStart, as Firecracker; past 2^63 - 1 jansson reads no
    # integer, so Hearth refuses those at PUT (docs/api.md).
    s.expect("PATCH", "/machine-config", 204, body={"mem_size_mib": (1 << 63) - 1})
    s.expect("PATCH", "/machine-config", 400, body={"mem_size_mib": 0},
             fault=["The memory size (MiB) is either 0, or not a multiple of the configured "
                    "page size."])
    s.expect("PATCH", "/machine-config", 204, body={"mem_size_mib": 256})
    # test_negative_machine_config_api: the deprecated cpu_template, even "None"
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 2, "mem_size_mib": 256,
                                                  "cpu_template": "None"})
    check(s.deprecation == "true", "PUT cpu_template: Deprecation %r" % s.deprecation)
    s.expect("PATCH", "/machine-config", 204, body={"cpu_template": "None"})
    check(s.deprecation == "true", "PATCH cpu_template: Deprecation %r" % s.deprecation)
    s.expect("PATCH", "/machine-config", 204, body={"vcpu_count": 2})
    check(s.deprecation is None, "Deprecation without the field: %r" % s.deprecation)
    # test_api_vsock, before boot
    uds = os.path.join(tmp, "vsock.sock")
    s.expect("PUT", "/vsock", 204, body={"guest_cid": 15, "uds_path": uds})
    s.expect("PUT", "/vsock", 204, body={"guest_cid": 166, "uds_path": uds})
    s.expect("PUT", "/vsock", 204, body={"vsock_id": "vsock1", "guest_cid": 15, "uds_path": uds})
    check(s.deprecation == "true", "vsock_id: Deprecation %r" % s.deprecation)
    # test_api_entropy, before boot
    s.expect("PUT", "/entropy", 204, body={})
    s.expect("PUT", "/entropy", 204, body={})
    # test_negative_snapshot_load_api: the deprecated mem_file_path, on a refusal too
    s.expect("PUT", "/snapshot/load", 400, body={"snapshot_path": "foo",
                                                 "mem_file_path": "bar"})
    check(s.deprecation == "true", "mem_file_path: Deprecation %r" % s.deprecation)
    s.alive()
    s.stop()
    with open(log) as f:
        text = f.read()
    for words in ("PUT /machine-config: cpu_template field is deprecated.",
                  "PATCH /machine-config: cpu_template field is deprecated."):
        check(words in text, "the log does not say %r:\n%s" % (words, text))


def case_start_no_kvm(binary, tmp):
    """A host without KVM, on every host: --kvm names a device that is not there."""
    kernel = os.path.join(tmp, "kernel.elf")
    disk = os.path.join(tmp, "disk.img")
    with open(kernel, "wb") as f:
        f.write(tiny_elf())
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    s = Serve(binary, tmp, args=["--kvm", NO_KVM])
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 2, "mem_size_mib": 64})
    s.expect("PUT", "/drives/rootfs", 204, body={"drive_id": "rootfs", "path_on_host": disk,
                                                 "is_root_device": True,
                                                 "is_read_only": False})
    s.expect("PUT", "/entropy", 204, body={})
    s.expect("PUT", "/actions", 400, body={"action_type": "InstanceStart"}, fault=[NO_KVM])
    # Everything was unwound: still "Not started", the disk's lock is released.
    s.alive()
    s.expect("PUT", "/actions", 400, body={"action_type": "InstanceStart"}, fault=[NO_KVM])
    s.alive()
    rc, err = s.stop()
    check(rc == 3, "exit code %d after SIGTERM, expected 3" % rc)


def case_patch_bad_bodies(binary, tmp):
    disk = os.path.join(tmp, "disk.img")
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    s = Serve(binary, tmp)
    s.expect("PUT", "/drives/rootfs", 204, body={"drive_id": "rootfs", "path_on_host": disk,
                                                 "is_root_device": True})
    put_nic(s, "eth0", "tap0", "06:00:ac:10:00:03")
    too_long = {"bandwidth": {"size": 1, "refill_time": 99999999999999}}
    bad = [
        ({"drive_id": "rootfs", "is_read_only": True},
         SERDE + "unknown field `is_read_only`, expected one of `drive_id`, `path_on_host`, "
         "`rate_limiter` at line 1 column 37."),
        ({"drive_id": "other"}, "The id from the path does not match the id from the body!"),
        ({"path_on_host": "/d"}, SERDE + "missing field `drive_id` at line 1 column 22."),
        ({"drive_id": "rootfs", "path_on_host": 5},
         SERDE + "invalid type: integer `5`, expected a string at line 1 column 40."),
        ({"drive_id": "rootfs", "rate_limiter": 1},
         SERDE + "invalid type: integer `1`, expected struct RateLimiterConfig at line 1 "
         "column 40."),
        ({"drive_id": "rootfs", "rate_limiter": {"bw": {}}},
         SERDE + "unknown field `bw`, expected `bandwidth` or `ops` at line 1 column 44."),
        ({"drive_id": "rootfs", "rate_limiter": {"ops": {"size": 5}}},
         SERDE + "missing field `refill_time` at line 1 column 58."),
        ({"drive_id": "rootfs", "rate_limiter": {"ops": {"size": -5, "refill_time": 1}}},
         SERDE + "invalid value: integer `-5`, expected u64 at line 1 column 58."),
    ]
    for body, fault in bad:
        s.expect("PATCH", "/drives/rootfs", 400, body=body, exact=fault)
        s.alive()
    s.expect("PATCH", "/drives/rootfs", 400, raw=b'{"drive_id": "rootfs",',
             exact=SERDE + "EOF while parsing a value at line 1 column 22.")
    # Well-formed bodies then meet the state rule (what follows it is test_api_patch.c's).
    for body in ({"drive_id": "rootfs", "path_on_host": ""}, {"drive_id": "rootfs",
                                                             "rate_limiter": too_long},
                 {"drive_id": "nope"}):
        s.expect("PATCH", "/drives/" + body["drive_id"], 400, body=body,
                 fault=[NOT_BEFORE_START])
    # The same bad limiter in a PUT: the same words.
    s.expect("PUT", "/drives/rootfs", 400,
             body={"drive_id": "rootfs", "path_on_host": disk, "is_root_device": True,
                   "rate_limiter": too_long},
             fault=["drive 'rootfs': rate_limiter: bandwidth: refill_time 99999999999999"])
    s.expect("PATCH", "/network-interfaces/eth0", 400,
             body={"iface_id": "eth0", "rx_rate_limiter": {"ops": {"size": 1}}},
             exact=SERDE + "missing field `refill_time` at line 1 column 59.")
    s.expect("PATCH", "/network-interfaces/eth0", 400,
             body={"iface_id": "eth0", "host_dev_name": "tap1"},
             exact=SERDE + "unknown field `host_dev_name`, expected one of `iface_id`, "
             "`rx_rate_limiter`, `tx_rate_limiter` at line 1 column 36.")
    s.expect("PATCH", "/network-interfaces/eth0", 400, body={"iface_id": "eth1"},
             exact="The id from the path [eth0] does not match the id from the body [eth1]!")
    s.expect("PATCH", "/network-interfaces/eth0", 400,
             body={"iface_id": "eth0", "tx_rate_limiter": {"ops": {"size": 1,
                                                                   "refill_time": 1}}},
             fault=[NOT_BEFORE_START])
    # Before boot a good PATCH is refused too, in Firecracker's words, and changes nothing.
    s.expect("PATCH", "/drives/rootfs", 400,
             body={"drive_id": "rootfs", "rate_limiter": {"ops": {"size": 100,
                                                                  "refill_time": 1000}}},
             fault=[NOT_BEFORE_START])
    js = s.expect("GET", "/vm/config", 200)
    rl = js["drives"][0].get("rate_limiter")
    check(rl is None, "rate_limiter in GET /vm/config: %r" % rl)
    rc, err = s.stop()
    check(rc == 3, "exit code %d after SIGTERM, expected 3" % rc)


def case_sigterm(binary, tmp):
    s = Serve(binary, tmp)
    s.alive()
    rc, err = s.stop(signal.SIGTERM)
    check(rc == 3, "exit code %d after SIGTERM, expected 3" % rc)
    check(not os.path.exists(s.sock), "the socket is still there after exit")
    # SIGINT too, and a stale socket left by a killed server is replaced.
    s = Serve(binary, tmp)
    s.p.kill()
    s.p.wait()
    s.conn.close()
    s.p.stdout.close()
    s.err.close()
    check(os.path.exists(s.sock), "SIGKILL removed the socket?")
    s = Serve(binary, tmp)
    s.alive()
    rc, err = s.stop(signal.SIGINT)
    check(rc == 3, "exit code %d after SIGINT, expected 3" % rc)
    check(not os.path.exists(s.sock), "the socket is still there after exit")


def run_plain(binary, argv):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    try:
        p = subprocess.run([binary] + argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        raise TestFailure("%s still running after %.0f s" % (" ".join(argv), TIMEOUT))
    err = p.stderr.decode("utf-8", "replace")
    for m in SANITIZER_MARKERS:
        check(m not in err, "sanitizer report (%r):\n%s" % (m, err))
    return p.returncode, p.stdout.decode("utf-8", "replace"), err


def one_line(err):
    lines = err.rstrip("\n").split("\n") if err else []
    check(len(lines) == 1, "expected one line on stderr, got %d: %r" % (len(lines), err))
    return lines[0]


def case_usage(binary, tmp):
    notsock = os.path.join(tmp, "file")
    with open(notsock, "w") as f:
        f.write("keep me\n")
    for argv, words in (
            (["serve"], ["--api-sock"]),
            (["serve", "--api-sock", notsock], [notsock, "not a socket"]),
            (["serve", "--api-sock", os.path.join(tmp, "a.sock"), "--id", "bad_id!"],
             ["--id", "bad_id!"]),
            (["serve", "--api-sock", os.path.join(tmp, "a.sock"), "--id", "x" * 65], ["--id"]),
            (["serve", "--no-api"], ["--no-api", "--config-file"]),
            (["serve", "--api-sock", os.path.join(tmp, "a.sock"), "--bogus"], ["--bogus"]),
            (["serve", "--no-api", "--config-file", os.path.join(tmp, "missing.json")],
             ["missing.json"]),
            # A sandbox that would keep a directory others share: refused, naming it.
            (["serve", "--api-sock", os.path.join(tmp, "a.sock"), "--snapshot-dir", "/tmp"],
             ["--snapshot-dir '/tmp'", "exposes /tmp", "other programs share"]),
            (["serve", "--api-sock", os.path.join(tmp, "a.sock"), "--snapshot-dir", "/var/run"],
             ["--snapshot-dir '/var/run'", "exposes /", "other programs share"]),
            (["serve", "--api-sock", os.path.join(tmp, "a.sock"), "--snapshot-dir", "/"],
             ["exposes /"])):
        rc, out, err = run_plain(binary, argv)
        check(rc == 2, "%s: exit %d, expected 2\n%s" % (argv, rc, err))
        line = one_line(err)
        for w in words:
            check(w in line, "%s: %r does not mention %r" % (argv, line, w))
    with open(notsock) as f:
        check(f.read() == "keep me\n", "the file at --api-sock was changed")
    rc, out, err = run_plain(binary, ["serve", "--help"])
    check(rc == 0 and "--api-sock" in out, "serve --help: %d %r" % (rc, out))


def case_config_file(binary, tmp):
    """A config file's error has the PUT's words after the file's and the section's names
    (the PUT's wrapped as Firecracker's api_server wraps them, with a line and column)."""
    path = os.path.join(tmp, "bad.json")
    with open(path, "w") as f:
        json.dump({"boot-source": {"kernel_image_path": "/k"},
                   "machine-config": {"vcpu_count": 1, "mem_size_mib": 128, "cpus": 1}}, f)
    rc, out, err = run_plain(binary, ["serve", "--no-api", "--config-file", path])
    check(rc == 2, "exit %d, expected 2\n%s" % (rc, err))
    line = one_line(err)
    s = Serve(binary, tmp)
    js = s.expect("PUT", "/machine-config", 400,
                  body={"vcpu_count": 1, "mem_size_mib": 128, "cpus": 1})
    s.stop()
    words = ("unknown field `cpus`, expected one of `vcpu_count`, `mem_size_mib`, `smt`, "
             "`cpu_template`, `track_dirty_pages`, `huge_pages`")
    check(line.endswith("%s: machine-config: %s" % (path, words)),
          "file error %r is not the words after the path and section" % line)
    check(js["fault_message"] == SERDE + words + " at line 1 column 45.",
          "PUT error %r" % js["fault_message"])
    kernel = os.path.join(tmp, "kernel.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf())
    good = os.path.join(tmp, "good.json")
    with open(good, "w") as f:
        json.dump({"boot-source": {"kernel_image_path": kernel},
                   "machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}, f)
    rc, out, err = run_plain(binary, ["serve", "--no-api", "--config-file", good, "--kvm", NO_KVM])
    check(rc == 1, "no KVM: exit %d, expected 1\n%s" % (rc, err))
    check(NO_KVM in one_line(err), "stderr does not name %s: %r" % (NO_KVM, err))


def read_metrics(path):
    with open(path) as f:
        text = f.read()
    check(text.endswith("\n"), "metrics file does not end a line: %r" % text)
    return [json.loads(line) for line in text.splitlines()]


def case_metrics(binary, tmp):
    path = os.path.join(tmp, "metrics.json")
    s = Serve(binary, tmp, ["--metrics-path", path])
    s.expect("PUT", "/actions", 400, body={"action_type": "FlushMetrics"},
             fault=[NOT_BEFORE_START])
    s.expect("PUT", "/metrics", 400, body={"metrics_path": os.path.join(tmp, "m2")},
             fault=["already configured"])
    s.alive()
    rc, err = s.stop()
    check(rc == 3, "exit code %d after SIGTERM, expected 3" % rc)
    lines = read_metrics(path)
    check(len(lines) == 1, "one line at exit, got %r" % lines)
    m = lines[0]
    check(isinstance(m.get("utc_timestamp_ms"), int), "no utc_timestamp_ms in %r" % m)
    # Hearth's own counts by method, and Firecracker's by endpoint.
    api = m["hearth"]["api_server"]
    check(api["put_requests"] == 2 and api["get_requests"] == 1 and
          api["failed_requests"] == 2, "api_server counts %r" % api)
    put = m["put_api_requests"]
    check(put["actions_count"] == 1 and put["actions_fails"] == 1 and
          put["metrics_count"] == 1 and put["metrics_fails"] == 1 and
          m["get_api_requests"]["instance_info_count"] == 1, "Firecracker's counts %r" % m)
    check(m["api_server"] == {"process_startup_time_us": 0, "process_startup_time_cpu_us": 0},
          "Firecracker's api_server %r" % m["api_server"])
    check(m["logger"]["missed_metrics_count"] == 0, "logger %r" % m)
    # Through the API: a file that cannot be opened is a 400, a good one is taken once.
    s = Serve(binary, tmp)
    s.expect("PUT", "/metrics", 400, body={"metrics_path": os.path.join(tmp, "no", "m")},
             fault=["cannot open the metrics file", "No such file"])
    # FIFOs and repeated PUTs: run_api_repeat_test.py.
    path2 = os.path.join(tmp, "metrics2.json")
    s.expect("PUT", "/metrics", 204, body={"metrics_path": path2})
    s.expect("GET", "/", 200)
    rc, err = s.stop()
    lines = read_metrics(path2)
    check(len(lines) == 1 and lines[0]["get_api_requests"]["instance_info_count"] == 1,
          "API-configured metrics %r" % lines)
    # The command line's: exit 2 with one line, before anything serves.
    rc, out, err = run_plain(binary, ["serve", "--api-sock", os.path.join(tmp, "b.sock"),
                                      "--metrics-path", os.path.join(tmp, "no", "m")])
    check(rc == 2, "bad --metrics-path: exit %d, expected 2\n%s" % (rc, err))
    check("cannot open the metrics file" in one_line(err), "stderr %r" % err)


def case_logger(binary, tmp):
    log = os.path.join(tmp, "hearth.log")
    s = Serve(binary, tmp, ["--id", "log-vm"])
    s.expect("PUT", "/logger", 400, body={"log_path": log, "module": "api"},
             fault=["module is not supported"])
    s.expect("PUT", "/logger", 204, body={"log_path": log, "level": "Debug",
                                          "show_level": True, "show_log_origin": True})
    s.expect("GET", "/machine-config", 200)
    rc, err = s.stop()
    with open(log) as f:
        text = f.read()
    check("[log-vm:api:DEBUG:src/api/routes.c:" in text and "GET /machine-config: 200" in text,
          "log file %r" % text)
    check("machine-config" not in err, "the request went to stderr too: %r" % err)
    # --log-path: the startup line goes to the file, not to stderr.
    log2 = os.path.join(tmp, "flag.log")
    s = Serve(binary, tmp, ["--log-path", log2, "--level", "Info"])
    s.alive()
    rc, err = s.stop()
    with open(log2) as f:
        text = f.read()
    check("serving the API on" in text, "log file %r" % text)
    check("serving the API" not in err, "stderr %r" % err)
    rc, out, err = run_plain(binary, ["serve", "--api-sock", os.path.join(tmp, "b.sock"),
                                      "--log-path", tmp])
    check(rc == 2, "a directory as --log-path: exit %d, expected 2\n%s" % (rc, err))
    check("cannot open the log file" in one_line(err), "stderr %r" % err)


def case_serial(binary, tmp):
    kernel = os.path.join(tmp, "kernel.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf())
    s = Serve(binary, tmp)
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 1, "mem_size_mib": 64})
    s.expect("PUT", "/serial", 400, body={"serial_out_path": 7},
             exact=SERDE + "invalid type: integer `7`, expected path string at line 1 column 21.")
    # Opened at InstanceStart, before KVM: a path that cannot be opened is a 400 naming it.
    bad = os.path.join(tmp, "no", "serial.out")
    s.expect("PUT", "/serial", 204, body={"serial_out_path": bad})
    s.expect("PUT", "/actions", 400, body={"action_type": "InstanceStart"},
             fault=["serial_out_path", bad])
    fifo = os.path.join(tmp, "serial.fifo")
    os.mkfifo(fifo)
    s.expect("PUT", "/serial", 204, body={"serial_out_path": fifo})
    s.expect("PUT", "/actions", 400, body={"action_type": "InstanceStart"},
             fault=["serial_out_path", "FIFO"])
    s.alive()
    rc, err = s.stop()
    check(rc == 3, "exit code %d after SIGTERM, expected 3" % rc)


def case_firecracker(binary, tmp):
    fc = os.path.join(tmp, "firecracker")
    os.symlink(os.path.abspath(binary), fc)
    rc, out, err = run_plain(fc, ["--version"])
    # The first line is Firecracker's, which version checks parse as semver.
    check(rc == 0 and out.splitlines()[0] == "Firecracker v" + FC_VERSION and "hearth " in out,
          "--version: %d %r %r" % (rc, out, err))
    for argv, words in ((["--enable-pci=1"], ["--enable-pci", "takes no value"]),
                        (["--mmds-size-limit", "0"], ["--mmds-size-limit '0'"]),
                        (["--seccomp-filter", "f.bpf"], ["--seccomp-filter", "not supported"]),
                        (["--bogus"], ["--bogus"]),
                        (["--level", "loud"], ["--level 'loud'"])):
        rc, out, err = run_plain(fc, argv)
        check(rc == 2, "%s: exit %d, expected 2\n%s" % (argv, rc, err))
        line = one_line(err)
        for w in words:
            check(w in line, "%s: %r does not mention %r" % (argv, line, w))
    # A --metadata file that cannot be read: Firecracker's panic words, exit 1 (issue 48).
    rc, out, err = run_plain(fc, ["--metadata", "/no/such.json"])
    check(rc == 1 and "Unable to open or read from the mmds content file: No such file or "
          "directory (os error 2)" in one_line(err), "--metadata: exit %d\n%s" % (rc, err))
    rc, out, err = run_plain(fc, ["--help"])
    check(rc == 0 and "--api-sock" in out and "/run/firecracker.socket" in out,
          "--help: %d %r" % (rc, out))
    # Served as `hearth serve` would: Firecracker's flags, the same API.
    sock = os.path.join(tmp, "fc.sock")
    metrics = os.path.join(tmp, "fc-metrics.json")
    s = Serve(fc, tmp, ["--id", "fc-1", "--no-seccomp", "--metrics-path", metrics],
              cmd=[fc, "--api-sock", sock])
    js = s.expect("GET", "/", 200)
    check(js["id"] == "fc-1" and js["state"] == "Not started", "instance info %r" % js)
    rc, err = s.stop()
    check(rc == 3, "exit code %d after SIGTERM, expected 3" % rc)
    lines = read_metrics(metrics)
    check(len(lines) == 1, "no metrics line at exit")
    # Firecracker's schema allows no key of Hearth's own under its name.
    check("hearth" not in lines[0] and "put_api_requests" in lines[0], "metrics %r" % lines)


def case_relative_paths(binary, tmp):
    """--api-sock and --snapshot-dir relative to where Hearth starts: the
    sandbox takes them from there (a relative socket was once refused as
    'path too long'); an empty --snapshot-dir is one line and exit 2."""
    err_path = os.path.join(tmp, "rel-stderr.txt")
    with open(err_path, "wb") as err:
        p = subprocess.Popen([os.path.abspath(binary), "serve", "--api-sock", "rel.sock",
                              "--snapshot-dir", "snaps"],
                             cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=err)
        sock = os.path.join(tmp, "rel.sock")
        deadline = time.monotonic() + TIMEOUT
        try:
            while not os.path.exists(sock):
                check(p.poll() is None, "hearth serve --api-sock rel.sock exited %s:\n%s" %
                      (p.returncode, open(err_path, errors="replace").read()))
                check(time.monotonic() < deadline, "no socket after %.0f s" % TIMEOUT)
                time.sleep(0.02)
            c = UnixHTTPConnection(sock)
            c.request("GET", "/")
            r = c.getresponse()
            check(r.status == 200, "GET / on rel.sock: %d" % r.status)
            r.read()
            c.close()
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(TIMEOUT)
    rc, out, err = run_plain(binary, ["serve", "--api-sock", os.path.join(tmp, "e.sock"),
                                      "--snapshot-dir", ""])
    check(rc == 2, "empty --snapshot-dir: exit %s, expected 2 (%s)" % (rc, err))
    check("--snapshot-dir" in one_line(err), "empty --snapshot-dir: %r" % err)


def case_snapshot(binary, tmp):
    """Snapshot requests refused before any KVM is needed: each is a 400 (or
    exit 2) naming the problem, and the instance stays Not started."""
    import struct
    trunc = os.path.join(tmp, "trunc.snap")
    with open(trunc, "wb") as f:
        f.write(b"HEARTHSN\x01\x00")
    v2 = os.path.join(tmp, "v2.snap")
    with open(v2, "wb") as f:
        f.write(b"HEARTHSN" + struct.pack("<IIQII", 2, 64, 64, 0, 0) + b"0.1.0".ljust(32, b"\0"))
    s = Serve(binary, tmp)
    s.expect("PUT", "/snapshot/create", 400, body={"snapshot_path": "a", "mem_file_path": "b"},
             fault=[NOT_BEFORE_START])
    s.alive()

    def load(path, backend="File"):
        return {"snapshot_path": path, "mem_backend": {"backend_type": backend,
                                                       "backend_path": os.path.join(tmp, "m")}}
    s.expect("PUT", "/snapshot/load", 400, body=load(os.path.join(tmp, "nope.snap")),
             fault=["nope.snap", "No such file"])
    s.expect("PUT", "/snapshot/load", 400, body=load(trunc), fault=["trunc.snap"])
    s.expect("PUT", "/snapshot/load", 400, body=load(v2), fault=["format version 2"])
    # Uffd: the state file is checked before any handler is contacted (there is none here).
    s.expect("PUT", "/snapshot/load", 400, body=load(v2, "Uffd"), fault=["format version 2"])
    s.alive()
    js = s.expect("GET", "/", 200)
    check(js["state"] == "Not started", "after refused loads: %r" % js)
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": v2})
    s.expect("PUT", "/snapshot/load", 400, body=load(v2),
             fault=["Loading a microVM snapshot not allowed after configuring boot-specific"])
    rc, err = s.stop()
    check(rc == 3, "exit code %d after SIGTERM, expected 3" % rc)
    for argv, code, words in (
            (["restore", "--snapshot", os.path.join(tmp, "nope.snap"), "--mem", "m"], 2,
             ["nope.snap"]),
            (["restore", "--snapshot", v2, "--mem", "m"], 2, ["format version 2"]),
            (["restore"], 2, ["--snapshot FILE and --mem FILE"]),
            (["snapshot", "--snapshot", "a"], 2, ["--api-sock"]),
            (["snapshot", "--api-sock", os.path.join(tmp, "none.sock"), "--snapshot", "a",
              "--mem", "b"], 1, ["none.sock"])):
        rc, out, err = run_plain(binary, argv)
        check(rc == code, "%s: exit %d, expected %d\n%s" % (argv, rc, code, err))
        line = one_line(err)
        for w in words:
            check(w in line, "%s: %r does not mention %r" % (argv, line, w))


def case_drives_nics(binary, tmp):
    """Kata's shape and more under Firecracker's name: a root drive with a partuuid and
    30 pool drives (31, one a PCI slot, the most the model takes), each drive's cache_type
    and io_engine as given, a NIC's mtu and a multicast MAC, all reported by GET
    /vm/config."""
    fc = os.path.join(tmp, "firecracker")
    os.symlink(os.path.abspath(binary), fc)
    s = Serve(binary, tmp, cmd=[fc, "--api-sock", os.path.join(tmp, "fc.sock")])
    kernel = os.path.join(tmp, "vmlinuz")
    with open(kernel, "wb") as f:
        f.write(tiny_elf())
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    want = []
    for i in range(31):
        disk = os.path.join(tmp, "disk%d.img" % i)
        with open(disk, "wb") as f:
            f.truncate(1 << 20)
        d = {"drive_id": "rootfs" if i == 0 else "pool%d" % i, "path_on_host": disk,
             "is_root_device": i == 0, "is_read_only": i % 2 == 1}
        if i == 0:
            d["partuuid"] = "0eaa91a0-01"
        if i % 3:
            d["cache_type"] = "Writeback" if i % 3 == 1 else "Unsafe"
        if i % 4:
            d["io_engine"] = "Async" if i % 4 == 1 else "Sync"
        s.expect("PUT", "/drives/" + d["drive_id"], 204, body=d)
        want.append(dict({"partuuid": None, "cache_type": "Unsafe", "io_engine": "Sync",
                          "rate_limiter": None, "socket": None}, **d))
    extra = os.path.join(tmp, "extra.img")
    with open(extra, "wb") as f:
        f.truncate(1 << 20)
    s.expect("PUT", "/drives/extra", 400, body={"drive_id": "extra", "path_on_host": extra,
                                                "is_root_device": False},
             fault=["drive 'extra': at most 31 drives"])
    s.expect("PUT", "/drives/rootfs", 400,
             body=dict(want[0], partuuid="0eaa91a0-01 init=/bin/sh", rate_limiter=None),
             fault=["partuuid '0eaa91a0-01 init=/bin/sh' has a space"])
    js = s.expect("GET", "/vm/config", 200)
    check(js["drives"] == want, "GET /vm/config drives:\n%r\nwant\n%r" % (js["drives"], want))

    # mtu: Firecracker's 68 to 65535. A multicast MAC and an mtu pass every check;
    # only the TAP, opened at the PUT, can still refuse the NIC here.
    nic = {"iface_id": "eth0", "host_dev_name": "tap7", "guest_mac": "01:00:5e:00:00:fb"}
    for bad in (0, 67):
        s.expect("PUT", "/network-interfaces/eth0", 400, body=dict(nic, mtu=bad),
                 fault=["mtu %d is out of range (68 to 65535)" % bad])
    # Past a u16: the deserializer's words, as Firecracker's for any integer field.
    s.expect("PUT", "/network-interfaces/eth0", 400, body=dict(nic, mtu=65536),
             exact=SERDE + "invalid value: integer `65536`, expected u16 at line 1 column 92.")
    nic_taken = tap_usable("tap7")
    if nic_taken:
        s.expect("PUT", "/network-interfaces/eth0", 204, body=dict(nic, mtu=9000))
        js = s.expect("GET", "/vm/config", 200)
        check(js["network-interfaces"] == [dict(nic, mtu=9000, rx_rate_limiter=None,
                                                tx_rate_limiter=None)],
              "GET /vm/config NICs: %r" % js["network-interfaces"])
    else:
        s.expect("PUT", "/network-interfaces/eth0", 400, body=dict(nic, mtu=9000),
                 fault=["Could not create the network device: Open tap device failed"])
    # Every virtio device needs an interrupt line of its own, and as `firecracker`
    # VMGenID and VMClock hold one each of the 19, as in Firecracker: 31 drives and the
    # entropy device are too many, refused at InstanceStart before KVM, by name.
    s.expect("PUT", "/entropy", 204, body={})
    s.expect("PUT", "/actions", 400, body={"action_type": "InstanceStart"},
             fault=["too many virtio devices: 31 drives",
                    "%d in all; at most 17 as `firecracker`, VMGenID and VMClock holding a "
                    "line each" % (33 if nic_taken else 32)])
    s.alive()
    s.stop()


def case_mmds(binary, tmp):
    """The MMDS's API through the socket with seccomp on: the data, its limit, the config,
    --metadata and --mmds-size-limit."""
    meta = os.path.join(tmp, "meta.json")
    with open(meta, "w") as f:
        f.write('{"latest": {"meta-data": {"id": "i-1"}}}')
    s = Serve(binary, tmp, ["--metadata", meta, "--mmds-size-limit", "100"])
    check(s.expect("GET", "/mmds", 200) == {"latest": {"meta-data": {"id": "i-1"}}},
          "--metadata not loaded")
    for _ in range(2):
        s.expect("PATCH", "/mmds", 204, body={"latest": {"user-data": "u", "meta-data": None}})
    check(s.expect("GET", "/mmds", 200) == {"latest": {"user-data": "u"}}, "PATCH")
    for _ in range(2):
        s.expect("PUT", "/mmds", 204, body={"a": ["b", 1]})
    check(s.expect("GET", "/mmds", 200) == {"a": ["b", 1]}, "PUT")
    # Over --mmds-size-limit: Firecracker's 413 and words, the store unchanged.
    for _ in range(2):
        s.expect("PUT", "/mmds", 413, body={"k": "x" * 100},
                 fault=["MMDS limit exceeded error: The MMDS patch request doesn't fit."])
        s.expect("PATCH", "/mmds", 413, body={"k": "x" * 100})
    check(s.expect("GET", "/mmds", 200) == {"a": ["b", 1]}, "store changed by a 413")
    s.expect("PUT", "/mmds", 400, raw="{\"a\":", fault=["not JSON"])
    check(s.expect("GET", "/vm/config", 200)["mmds-config"] is None, "mmds-config before PUT")
    for _ in range(2):
        s.expect("PUT", "/mmds/config", 400, body={"network_interfaces": ["eth0"]},
                 fault=["does not correspond to any existing network interface"])
        s.expect("PUT", "/mmds/config", 400, body={"network_interfaces": []},
                 fault=["allow forwarding MMDS requests is empty"])
    if put_nic(s, "eth0", "hearth-mmds0", "06:00:00:00:00:01"):
        cfg = {"network_interfaces": ["eth0"], "version": "V2", "ipv4_address": "169.254.1.1",
               "imds_compat": True}
        for _ in range(2):
            s.expect("PUT", "/mmds/config", 204, body=cfg)
        got = s.expect("GET", "/vm/config", 200)["mmds-config"]
        check(got == cfg, "mmds-config %r" % got)
        s.expect("PUT", "/mmds/config", 400, body=dict(cfg, ipv4_address="10.0.0.1"),
                 fault=["The MMDS IPv4 address is not link local."])
    s.alive()
    rc, err = s.stop()
    check(rc == 3, "exit code %d after SIGTERM, expected 3" % rc)
    # A --metadata file that is not JSON, or does not fit: exit 2, named.
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as f:
        f.write("{nope")
    for args, words in ((["--metadata", bad], ["--metadata '%s'" % bad, "not JSON"]),
                        (["--metadata", meta, "--mmds-size-limit", "10"],
                         ["MMDS limit exceeded"])):
        rc, out, err = run_plain(binary, ["serve", "--api-sock", os.path.join(tmp, "x.sock")] +
                                 args)
        check(rc == 2, "%s: exit %d, expected 2\n%s" % (args, rc, err))
        for w in words:
            check(w in err, "%s: %r does not mention %r" % (args, err, w))


CASES = {
    "mmds": case_mmds,
    "snapshot": case_snapshot,
    "relative-paths": case_relative_paths,
    "info": case_info,
    "bad-requests": case_bad_requests,
    "machine-config": case_machine_config,
    "vm-config": case_vm_config,
    "start-missing-kernel": case_start_missing_kernel,
    "put-checks": case_put_checks,
    "fc-api": case_fc_api,
    "start-no-kvm": case_start_no_kvm,
    "sigterm": case_sigterm,
    "usage": case_usage,
    "config-file": case_config_file,
    "patch-bad-bodies": case_patch_bad_bodies,
    "metrics": case_metrics,
    "logger": case_logger,
    "serial": case_serial,
    "firecracker": case_firecracker,
    "drives-nics": case_drives_nics,
}


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-api-"))
