#!/usr/bin/env python3
"""What a VM process maps (issue 29, density): no TLS stack ever, and
libslirp and glib only when a user-mode NIC or the MMDS needs them. Read
from /proc/PID/maps of a real `hearth serve`, seccomp filters on.

    run_libs_test.py --hearth PATH [--asan PATH] [--case NAME]

  serve      an idle `hearth serve` maps none of libgnutls, libmicrohttpd,
             libcurl, libslirp, libglib (nor their own dependencies).
  mem-merge  `hearth run --mem-merge` offers guest RAM to KSM: its mapping's
             VmFlags carry "mg" (MADV_MERGEABLE), and without the flag they
             do not; likewise `hearth restore --mem-merge` of its snapshot.
  booted     a VM booted through the API (the smallest guest, on a
             /dev/kvm that runs it) with no user-mode NIC or MMDS maps
             none of them; one with a user-mode NIC and the MMDS on it
             maps libslirp and glib, and still no TLS. Neither keeps guest
             RAM in a memfd (only a vhost-user drive needs that).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, memfd_ram_bytes, need_kvm, run_cases, tiny_elf  # noqa: E402
from run_api_test import Serve  # noqa: E402

NEVER = ("libgnutls", "libmicrohttpd", "libcurl", "libp11-kit", "libnettle", "libhogweed",
         "libgmp", "libtasn1", "libidn2", "libunistring")
ON_DEMAND = ("libslirp", "libglib")


def mapped(pid):
    """The base names of the shared objects pid maps."""
    names = set()
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and ".so" in parts[5]:
                names.add(os.path.basename(parts[5]))
    return names


def has(names, prefix):
    return any(n.startswith(prefix + ".so") or n.startswith(prefix + "-") for n in names)


def check_absent(names, libs, when):
    found = [lib for lib in libs if has(names, lib)]
    check(not found, "%s maps %s (all: %s)" % (when, ", ".join(found), ", ".join(sorted(names))))


def case_serve(binary, tmp):
    s = Serve(binary, tmp)
    s.expect("GET", "/", 200)
    names = mapped(s.p.pid)
    # A sanitizer build maps its runtime; the VM's own libraries are the same.
    # The control: the list is read (libc is shared; http-parser is in the binary now).
    check(has(names, "libc"), "libc is not mapped: %s" % sorted(names))
    check_absent(names, NEVER + ON_DEMAND, "an idle hearth serve")
    s.stop()


def boot(binary, tmp, user_nic):
    s = Serve(binary, tmp)
    kernel = os.path.join(tmp, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 2, "mem_size_mib": 64})
    if user_nic:
        s.expect("PUT", "/network-interfaces/eth0", 204,
                 body={"iface_id": "eth0", "backend": "user"})
        s.expect("PUT", "/mmds/config", 204, body={"network_interfaces": ["eth0"]})
    check_absent(mapped(s.p.pid), NEVER + ON_DEMAND, "configured, before InstanceStart")
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    names = mapped(s.p.pid)
    # Without a vhost-user drive guest RAM stays anonymous (no memfd to hand anyone).
    check(memfd_ram_bytes(s.p.pid) == 0, "guest RAM is in a memfd without a vhost-user drive")
    check(s.expect("GET", "/", 200)["state"] == "Running", "the VM does not run")
    s.stop()
    return names


def case_booted(binary, tmp):
    need_kvm()
    plain = boot(binary, os.path.join(tmp), False)
    check_absent(plain, NEVER + ON_DEMAND, "a booted VM without a user-mode NIC")
    with_user = boot(binary, tmp, True)
    check_absent(with_user, NEVER, "a booted VM with a user-mode NIC and the MMDS")
    for lib in ON_DEMAND:
        check(has(with_user, lib), "%s is not mapped with a user-mode NIC: %s" %
              (lib, sorted(with_user)))


def ram_mappings(pid, mib):
    """The VmFlags of each of pid's mappings of mib MiB (its guest RAM's)."""
    size, flags = None, []
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            p = line.split()
            if "-" in p[0] and not p[0].endswith(":"):
                a, b = (int(x, 16) for x in p[0].split("-"))
                size = (b - a) >> 20
            elif p[0] == "VmFlags:" and size == mib:
                flags.append(p[1:])
    return flags


def ram_flags(pid, mib):
    """The VmFlags of pid's guest RAM mapping (the one mapping of mib MiB)."""
    flags = ram_mappings(pid, mib)
    check(len(flags) == 1, "%d mappings of %d MiB in %d" % (len(flags), mib, pid))
    return flags[0]


def run_vm(cmd, tmp, mib=64):
    """Starts cmd (a VM whose guest halts at once), waits for its API socket and for its
    guest RAM (mib MiB) to be mapped: a slow host (the lab's L1, a sanitizer build) may
    take seconds to get there."""
    import subprocess
    import time
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    sock = cmd[cmd.index("--api-sock") + 1] if "--api-sock" in cmd else None
    def alive():
        if p.poll() is not None:
            check(False, "%s exited %s: %s" % (cmd[:3], p.returncode, p.stderr.read().decode()))

    while sock and not os.path.exists(sock):
        alive()
        check(time.monotonic() < deadline, "no API socket")
        time.sleep(0.02)
    while not ram_mappings(p.pid, mib):
        alive()
        check(time.monotonic() < deadline, "no mapping of %d MiB (its guest RAM)" % mib)
        time.sleep(0.02)
    alive()
    return p


def case_mem_merge(binary, tmp):
    need_kvm()
    import json
    from run_api_test import UnixHTTPConnection
    kernel = os.path.join(tmp, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    base = [binary, "run", "--kernel", kernel, "--memory", "64"]
    p = run_vm(base, tmp)
    check("mg" not in ram_flags(p.pid, 64), "guest RAM mergeable without --mem-merge")
    p.kill()
    p.wait()
    sock = os.path.join(tmp, "m.sock")
    p = run_vm(base + ["--mem-merge", "--api-sock", sock, "--snapshot-dir", tmp], tmp)
    check("mg" in ram_flags(p.pid, 64), "--mem-merge: guest RAM not mergeable")
    state, mem = os.path.join(tmp, "s.state"), os.path.join(tmp, "s.mem")
    for method, path, body in (("PATCH", "/vm", {"state": "Paused"}),
                               ("PUT", "/snapshot/create",
                                {"snapshot_path": state, "mem_file_path": mem})):
        c = UnixHTTPConnection(sock)
        c.request(method, path, body=json.dumps(body),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        check(r.status == 204, "%s %s: %d %s" % (method, path, r.status, r.read()))
        c.close()
    p.kill()
    p.wait()
    for extra, want in (([], False), (["--mem-merge"], True)):
        p = run_vm([binary, "restore", "--snapshot", state, "--mem", mem] + extra, tmp)
        got = "mg" in ram_flags(p.pid, 64)
        p.kill()
        p.wait()
        check(got == want, "hearth restore %s: guest RAM mergeable: %s" % (extra, got))


CASES = {"serve": case_serve, "booted": case_booted, "mem-merge": case_mem_merge}

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-libs-"))
