#!/usr/bin/env python3
"""The orchestrators' own configuration phases, as each one drives Firecracker,
against Hearth under the name `firecracker` with the seccomp filters and the
sandbox on (their defaults), every request made with curl on the socket.
Each sequence was read from the orchestrator's code (named per case) and is
written down here anew.

    run_orchestrators_test.py --hearth build/hearth --case kata

Where the host has a /dev/kvm, the VM starts (a guest that halts for good,
so it stays Running) and what each orchestrator does after the start is
checked too; where it has none, InstanceStart must fail on KVM alone, which
shows that every request before it was taken.
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
from itest import SANITIZER_MARKERS, TestFailure, check, run_cases, tap_usable, tiny_elf  # noqa: E402

TIMEOUT = 30.0


def has_kvm():
    return os.path.exists("/dev/kvm")


class Firecracker:
    """`firecracker ARGS` (Hearth through a symlink), and curl on its socket."""

    def __init__(self, binary, tmp, args, sock):
        self.fc = os.path.join(tmp, "firecracker")
        if not os.path.exists(self.fc):
            os.symlink(os.path.abspath(binary), self.fc)
        self.sock = sock
        self.err_path = os.path.join(tmp, "fc-stderr-%d.txt" % time.monotonic_ns())
        self.err = open(self.err_path, "wb")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        self.p = subprocess.Popen([self.fc] + args, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=self.err, env=env)

    def stderr(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def request(self, method, path, body=None):
        """curl on the socket, as the orchestrators' documentation does it: (status, JSON)."""
        argv = ["curl", "-s", "--max-time", "%d" % TIMEOUT, "--unix-socket", self.sock,
                "-X", method, "-H", "Accept: application/json", "-w", "\n%{http_code}"]
        if body is not None:
            argv += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        p = subprocess.run(argv + ["http://localhost" + path], capture_output=True, text=True,
                           timeout=TIMEOUT + 5)
        if p.returncode:
            raise OSError("curl %s %s: exit %d %s" % (method, path, p.returncode, p.stderr))
        text, _, status = p.stdout.rpartition("\n")
        return int(status), (json.loads(text) if text else None)

    def expect(self, method, path, status, body=None):
        got, js = self.request(method, path, body)
        check(got == status, "%s %s: %d, expected %d: %r\n%s" % (method, path, got, status, js,
                                                                self.stderr()))
        return js

    def wait_socket(self):
        """The go-sdk's waitForSocket: the file exists and GET /machine-config answers."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            check(self.p.poll() is None, "firecracker exited %s before serving:\n%s" %
                  (self.p.returncode, self.stderr()))
            if os.path.exists(self.sock):
                try:
                    if self.request("GET", "/machine-config")[0] == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.01)
        raise TestFailure("no API after %.0f s" % TIMEOUT)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise TestFailure("firecracker did not exit %.0f s after SIGTERM" % TIMEOUT)
        self.err.close()
        err = self.stderr()
        for m in SANITIZER_MARKERS:
            check(m not in err, "sanitizer report (%r):\n%s" % (m, err))
        return rc, err


def fifo_reader(path):
    """A FIFO and its reader, opened as Kata and the go-sdk do (O_RDONLY|O_NONBLOCK)."""
    os.mkfifo(path, 0o700)
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK)


def image(path, size=1 << 20):
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def start_or_no_kvm(fc, start):
    """InstanceStart (start() sends it): Running where the host has KVM; else refused
    naming KVM and nothing else."""
    status, js = start()
    if has_kvm():
        check(status == 204, "InstanceStart: %d %r\n%s" % (status, js, fc.stderr()))
        check(fc.expect("GET", "/", 200)["state"] == "Running", "not Running after start")
        return True
    check(status == 400 and "kvm" in js["fault_message"].lower(),
          "InstanceStart without /dev/kvm: %d %r" % (status, js))
    return False


def fd_of(pid, path_suffix):
    """The (st_dev, st_ino) of the file Hearth has open whose path ends in path_suffix."""
    found = []
    for n in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, n))
            if target.endswith(path_suffix):
                st = os.stat("/proc/%d/fd/%s" % (pid, n))
                found.append((st.st_dev, st.st_ino))
        except OSError:
            pass
    return found


def case_kata(binary, tmp):
    """Kata Containers (src/runtime/virtcontainers/fc.go), unjailed: `firecracker --version`
    parsed as semver and gated at >= 0.21.1; the log and metrics FIFOs with their readers;
    one config file (MarshalIndent) with the boot source, a read-only rootfs that is not the
    root device, the pool of 8 placeholder drives (empty files), the machine, the logger and
    metrics FIFOs, the hybrid vsock (vsock_id "root") and a TAP NIC with empty rate limiters;
    `firecracker --api-sock S --config-file F`; GET / until Running; then a hotplug: the
    pool drive's file replaced on the host and PATCH /drives/drive_0 naming it."""
    fc_link = os.path.join(tmp, "firecracker")
    os.symlink(os.path.abspath(binary), fc_link)
    out = subprocess.run([fc_link, "--version"], capture_output=True, text=True, timeout=TIMEOUT)
    fields = out.stdout.split("\n")[0].split(" ")
    check(out.returncode == 0 and len(fields) > 1, "--version: %r" % out.stdout)
    version = fields[1].strip().lstrip("v")
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version)
    check(m and tuple(map(int, m.groups())) >= (0, 21, 1),
          "Kata's version gate: %r is not semver >= 0.21.1" % version)

    # Kata's directory is under /run, which a systemd host mounts shared: so is this one.
    vm = os.path.join(tmp, "vm")
    os.makedirs(vm)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "kata-run", vm], check=True)
    try:
        subprocess.run(["mount", "--make-shared", vm], check=True)
        kata_in(binary, tmp, fc_link, vm)
    finally:
        subprocess.run(["umount", "-l", vm])


def kata_in(binary, tmp, fc_link, vm):
    root = os.path.join(vm, "root")
    os.makedirs(os.path.join(root, "run"))
    readers = [fifo_reader(os.path.join(vm, "logs.fifo")),
               fifo_reader(os.path.join(vm, "metrics.fifo"))]
    kernel = os.path.join(root, "vmlinux")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    drives = [{"drive_id": "rootfs", "is_read_only": True, "is_root_device": False,
               "path_on_host": image(os.path.join(root, "rootfs"))}]
    for i in range(8):
        p = os.path.join(root, "drive_%d" % i)
        open(p, "wb").close()
        drives.append({"drive_id": "drive_%d" % i, "is_read_only": False,
                       "is_root_device": False, "path_on_host": p})
    tap = "hk%d-kata" % os.getpid()
    check(tap_usable(tap), "this case needs a TAP device (root and /dev/net/tun)")
    params = ("root=/dev/vda1 rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4 "
              "pci=off reboot=k panic=1 iommu=off net.ifnames=0 random.trust_cpu=on acpi=off "
              "8250.nr_uarts=0 agent.log_vport=1025")
    config = {
        "boot-source": {"kernel_image_path": kernel, "boot_args": params},
        "drives": drives,
        "machine-config": {"smt": False, "mem_size_mib": 128, "vcpu_count": 1},
        "logger": {"level": "Error", "log_path": os.path.join(vm, "logs.fifo")},
        "metrics": {"metrics_path": os.path.join(vm, "metrics.fifo")},
        "vsock": {"guest_cid": 3, "uds_path": os.path.join(root, "kata.hvsock"),
                  "vsock_id": "root"},
        "network-interfaces": [{"guest_mac": "02:42:ac:11:00:02", "iface_id": "eth0",
                                "host_dev_name": tap, "rx_rate_limiter": {},
                                "tx_rate_limiter": {}}],
    }
    cfg_path = os.path.join(vm, "fcConfig.json")
    with open(cfg_path, "w") as f:
        f.write(json.dumps(config, indent="\t"))
    sock = os.path.join(root, "run", "firecracker.socket")
    fc = Firecracker(binary, tmp, ["--api-sock", sock, "--config-file", cfg_path], sock)
    try:
        if not has_kvm():
            rc = fc.p.wait(TIMEOUT)
            err = fc.stderr()
            check(rc != 0 and "kvm" in err.lower() and "drive" not in err.lower(),
                  "without /dev/kvm the config file must fail on KVM alone: %d\n%s" % (rc, err))
            return
        deadline = time.monotonic() + TIMEOUT
        while True:   # Kata's waitVMMRunning
            check(fc.p.poll() is None, "firecracker exited %s:\n%s" % (fc.p.returncode,
                                                                      fc.stderr()))
            try:
                if os.path.exists(sock) and fc.request("GET", "/")[1]["state"] == "Running":
                    break
            except (OSError, TypeError, KeyError):
                pass
            check(time.monotonic() < deadline, "not Running after %.0f s" % TIMEOUT)
            time.sleep(0.01)
        js = fc.expect("GET", "/vm/config", 200)
        check([d["drive_id"] for d in js["drives"]] == [d["drive_id"] for d in drives],
              "drives %r" % js["drives"])
        check(js["vsock"]["guest_cid"] == 3, "vsock %r" % js["vsock"])
        # The hotplug: Kata bind-mounts the container's image over the placeholder on the
        # host, then PATCHes the drive with the placeholder's path.
        new = image(os.path.join(tmp, "container.img"), 4 << 20)
        subprocess.run(["mount", "--bind", new, drives[1]["path_on_host"]], check=True)
        try:
            fc.expect("PATCH", "/drives/drive_0", 204,
                      body={"drive_id": "drive_0", "path_on_host": drives[1]["path_on_host"]})
            st = os.stat(new)
            held = fd_of(fc.p.pid, "drive_0") + fd_of(fc.p.pid, "container.img")
            check((st.st_dev, st.st_ino) in held,
                  "after PATCH /drives/drive_0 Hearth does not hold the image mounted over "
                  "the placeholder (holds %r, want %r)" % (held, (st.st_dev, st.st_ino)))
        finally:
            subprocess.run(["umount", "-l", drives[1]["path_on_host"]])
    finally:
        rc, err = fc.stop()
        for fd in readers:
            os.close(fd)
    check(rc == 3, "exit %d after SIGTERM, expected 3:\n%s" % (rc, err))


def go_sdk_sequence(fc, tmp, machine, drives, nics, vsock, mmds, metadata):
    """firecracker-go-sdk's default handlers (machine.go, handlers.go), in their order."""
    fc.wait_socket()
    log, metrics = os.path.join(tmp, "log.fifo"), os.path.join(tmp, "metrics.fifo")
    os.mkfifo(log, 0o700)
    os.mkfifo(metrics, 0o700)
    fc.expect("PUT", "/logger", 204, body={"log_path": log, "level": "Debug",
                                          "show_level": True, "show_log_origin": False})
    fc.expect("PUT", "/metrics", 204, body={"metrics_path": metrics})
    # The SDK reads the FIFOs only now (captureFifoToFile), after Firecracker opened them.
    readers = [os.open(log, os.O_RDONLY | os.O_NONBLOCK),
               os.open(metrics, os.O_RDONLY | os.O_NONBLOCK)]
    fc.expect("PUT", "/machine-config", 204, body=machine)
    got = fc.expect("GET", "/machine-config", 200)
    check(got["vcpu_count"] == machine["vcpu_count"] and got["smt"] == machine["smt"],
          "refreshMachineConfiguration: %r" % got)
    kernel = os.path.join(tmp, "vmlinux")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    fc.expect("PUT", "/boot-source", 204,
              body={"kernel_image_path": kernel,
                    "boot_args": "ro console=ttyS0 noapic reboot=k panic=1 pci=off nomodules"})
    for d in drives:
        fc.expect("PUT", "/drives/" + d["drive_id"], 204, body=d)
    for i, n in enumerate(nics):
        fc.expect("PUT", "/network-interfaces/%d" % (i + 1), 204, body=dict(n, iface_id=str(i + 1)))
    if vsock:
        fc.expect("PUT", "/vsock", 204, body=vsock)
    if mmds:
        fc.expect("PUT", "/mmds/config", 204, body=mmds)
    if metadata is not None:
        fc.expect("PUT", "/mmds", 204, body=metadata)
        check(fc.expect("GET", "/mmds", 200) == metadata, "GET /mmds")
    return readers


def run_go_sdk_case(binary, tmp, machine, drives, nics, vsock, mmds, metadata, extra=()):
    sock = os.path.join(tmp, "fc.sock")
    fc = Firecracker(binary, tmp, ["--api-sock", sock, "--id", "sdk-vm"] + list(extra), sock)
    readers = []
    try:
        readers = go_sdk_sequence(fc, tmp, machine, drives, nics, vsock, mmds, metadata)
        running = start_or_no_kvm(
            fc, lambda: fc.request("PUT", "/actions", {"action_type": "InstanceStart"}))
        if running and metadata is not None:
            # UpdateMetadata after the start, as the SDK offers it.
            fc.expect("PATCH", "/mmds", 204, body={"late": "yes"})
            check(fc.expect("GET", "/mmds", 200).get("late") == "yes", "PATCH /mmds")
    finally:
        rc, err = fc.stop()
        for fd in readers:
            os.close(fd)
    check(rc == 3, "exit %d after SIGTERM, expected 3:\n%s" % (rc, err))


def case_go_sdk(binary, tmp):
    """firecracker-go-sdk: StartVMM, waitForSocket, the FIFOs, logger and metrics, machine,
    boot source, drives, a NIC, a vsock, MMDS config and metadata, InstanceStart."""
    tap = "hg%d-sdk" % os.getpid()
    check(tap_usable(tap), "this case needs a TAP device (root and /dev/net/tun)")
    root = image(os.path.join(tmp, "root.ext4"))
    run_go_sdk_case(
        binary, tmp,
        machine={"vcpu_count": 2, "mem_size_mib": 256, "smt": True, "track_dirty_pages": False},
        drives=[{"drive_id": "1", "path_on_host": root, "is_root_device": True,
                 "is_read_only": False}],
        nics=[{"guest_mac": "AA:FC:00:00:00:01", "host_dev_name": tap}],
        vsock={"guest_cid": 3, "uds_path": os.path.join(tmp, "v.sock"), "vsock_id": "1"},
        mmds={"network_interfaces": ["1"], "ipv4_address": "169.254.169.254"},
        metadata={"latest": {"meta-data": {"instance-id": "i-123"}}})


def case_firectl(binary, tmp):
    """firectl (its options.go through the go-sdk): the root drive from --root-drive, an
    --add-drive read-only, --tap-device with its MAC, --vsock-device, --ncpus/--memory, and
    its kernel options; no MMDS unless --metadata."""
    tap = "hf%d-ctl" % os.getpid()
    check(tap_usable(tap), "this case needs a TAP device (root and /dev/net/tun)")
    root, extra = image(os.path.join(tmp, "root.img")), image(os.path.join(tmp, "data.img"))
    run_go_sdk_case(
        binary, tmp,
        machine={"vcpu_count": 1, "mem_size_mib": 512, "smt": False},
        drives=[{"drive_id": "1", "path_on_host": root, "is_root_device": True,
                 "is_read_only": False},
                {"drive_id": "2", "path_on_host": extra, "is_root_device": False,
                 "is_read_only": True}],
        nics=[{"guest_mac": "06:00:c0:a8:00:02", "host_dev_name": tap}],
        vsock={"guest_cid": 3, "uds_path": os.path.join(tmp, "firectl.vsock"), "vsock_id": "1"},
        mmds=None, metadata=None)


def case_containerd(binary, tmp):
    """firecracker-containerd (runtime/service.go through the go-sdk): the CPU template of
    its default config (T2 on Intel; on AMD hosts the vendor's T2A, as T2 is refused there),
    a root drive plus stub drives patched after the start, a NIC allowed MMDS, the vsock its
    agent speaks on, and the VM's metadata in MMDS."""
    tap = "hc%d-ctd" % os.getpid()
    check(tap_usable(tap), "this case needs a TAP device (root and /dev/net/tun)")
    with open("/proc/cpuinfo") as f:
        amd = "AuthenticAMD" in f.read()
    root = image(os.path.join(tmp, "root.img"))
    stubs = [image(os.path.join(tmp, "stub%d" % i), 512) for i in range(2)]
    drives = [{"drive_id": "root_drive", "path_on_host": root, "is_root_device": True,
               "is_read_only": True}]
    drives += [{"drive_id": "stub%d" % i, "path_on_host": p, "is_root_device": False,
                "is_read_only": False} for i, p in enumerate(stubs)]
    run_go_sdk_case(
        binary, tmp,
        machine={"vcpu_count": 2, "mem_size_mib": 2048, "smt": False,
                 "cpu_template": "T2A" if amd else "T2"},
        drives=drives,
        nics=[{"guest_mac": "AA:FC:00:00:00:02", "host_dev_name": tap}],
        vsock={"guest_cid": 3, "uds_path": os.path.join(tmp, "firecracker.vsock"),
               "vsock_id": "agent_api"},
        mmds={"network_interfaces": ["1"]},
        metadata={"TaskId": "t1", "Drives": {"stub0": "/dev/vdb"}})


CASES = {
    "kata": case_kata,
    "go-sdk": case_go_sdk,
    "firectl": case_firectl,
    "containerd": case_containerd,
}

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-orch-"))
