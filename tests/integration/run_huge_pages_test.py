#!/usr/bin/env python3
"""huge_pages "2M" on this host's KVM: a freestanding guest booted through
the API in 2 MiB hugetlbfs pages, the pool's exhaustion refused at
InstanceStart, and a snapshot restored into huge pages again; and
PUT /snapshot/load's clock_realtime on a real restore.

Needs root (it sizes /proc/sys/vm/nr_hugepages, and puts it back) and a
usable /dev/kvm; otherwise it is skipped (exit 77). The guest is
tests/guest/halt.elf: it prints one line and halts, so the VM stays up.
With --handler, the snapshot is also restored through the Uffd backend,
the handler filling whole 2 MiB pages.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itest import NOT_HERE, TestFailure, check  # noqa: E402
from run_api_test import Serve  # noqa: E402

SKIP = 77
HANDLER = None   # tests/uffd's page-fault handler, for the Uffd restore (--handler)
NR = "/proc/sys/vm/nr_hugepages"
SYSFS = "/sys/kernel/mm/hugepages/hugepages-2048kB/"
MEM_MIB = 32
PAGES = MEM_MIB // 2


def read_int(path):
    with open(path) as f:
        return int(f.read().split()[0])


def available():
    """Pages a new mapping could reserve: free less reserved."""
    return read_int(SYSFS + "free_hugepages") - read_int(SYSFS + "resv_hugepages")


def set_pool(n):
    with open(NR, "w") as f:
        f.write("%d\n" % n)


def huge_mappings(pid):
    """kB of each mapping of pid backed by 2 MiB pages (smaps' KernelPageSize)."""
    out, size = [], None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = re.match(r"Size:\s+(\d+) kB", line)
            if m:
                size = int(m.group(1))
            if re.match(r"KernelPageSize:\s+2048 kB", line):
                out.append(size)
    return out


def wait_for(pred, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not pred():
        check(time.monotonic() < deadline, "timed out waiting for %s" % what)
        time.sleep(0.05)


def wait_line(s, line=b"GUEST halting"):
    """Reads hearth's stdout (COM1) without blocking until line is in it."""
    fd = s.p.stdout.fileno()
    os.set_blocking(fd, False)
    seen = bytearray()

    def more():
        try:
            seen.extend(os.read(fd, 65536) or b"")
        except BlockingIOError:
            pass
        return line in seen
    wait_for(more, "the guest's %r on COM1" % line)


def pause_and_snapshot(s, snapdir, name):
    """PATCH /vm Paused, then a Full snapshot as snapdir/NAME.snap and NAME.mem."""
    s.expect("PATCH", "/vm", 204, body={"state": "Paused"})
    s.expect("PUT", "/snapshot/create", 204, body={
        "snapshot_path": os.path.join(snapdir, name + ".snap"),
        "mem_file_path": os.path.join(snapdir, name + ".mem")})


def machine(s, mem=MEM_MIB):
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 1, "mem_size_mib": mem,
                                                   "huge_pages": "2M"})
    js = s.expect("GET", "/machine-config", 200)
    check(js.get("huge_pages") == "2M", "GET /machine-config: %r" % js)


def case_boot_snapshot_restore(binary, guest, tmp):
    snapdir = os.path.join(tmp, "snaps")
    os.mkdir(snapdir)
    base = available()
    s = Serve(binary, tmp, ["--snapshot-dir", snapdir])
    try:
        machine(s)
        s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": guest})
        s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
        # The whole of RAM is reserved at once, none of it left to fault in later.
        check(available() == base - PAGES, "pool: %d available, expected %d - %d" %
              (available(), base, PAGES))
        maps = huge_mappings(s.p.pid)
        check(sum(maps) == MEM_MIB * 1024, "2 MiB-page mappings of hearth: %r kB" % maps)
        js = s.expect("GET", "/vm/config", 200)
        check(js["machine-config"]["huge_pages"] == "2M", "GET /vm/config: %r" % js)
        wait_line(s)
        pause_and_snapshot(s, snapdir, "vm")
    finally:
        s.stop()
    check(available() == base, "pool after exit: %d available, expected %d" %
          (available(), base))

    load = {"snapshot_path": os.path.join(snapdir, "vm.snap"),
            "mem_backend": {"backend_type": "File",
                            "backend_path": os.path.join(snapdir, "vm.mem")},
            "resume_vm": True}
    # A restore needs the pages too: refused, in the same words, when they are not there.
    total = read_int(NR)
    set_pool(total - available() + PAGES - 1)
    s = Serve(binary, tmp)
    try:
        s.expect("PUT", "/snapshot/load", 400, body=load,
                 fault=["/proc/sys/vm/nr_hugepages", "it needs %d" % PAGES])
    finally:
        s.stop()
    set_pool(total)
    check(available() == base, "pool: %d available, expected %d" % (available(), base))

    s = Serve(binary, tmp, ["--snapshot-dir", snapdir])
    try:
        s.expect("PUT", "/snapshot/load", 204, body=load)
        check(available() == base - PAGES, "pool after restore: %d available, expected "
              "%d - %d" % (available(), base, PAGES))
        maps = huge_mappings(s.p.pid)
        check(sum(maps) == MEM_MIB * 1024, "restored: 2 MiB-page mappings %r kB" % maps)
        js = s.expect("GET", "/vm/config", 200)
        check(js["machine-config"]["huge_pages"] == "2M", "restored /vm/config: %r" % js)
        js = s.expect("GET", "/", 200)
        check(js["state"] == "Running", "restored state %r" % js["state"])
        # The guest's RAM came back whole: a snapshot of the restored VM (halted, its
        # RAM unchanged since) holds the same memory as the first.
        pause_and_snapshot(s, snapdir, "vm2")
        with open(os.path.join(snapdir, "vm.mem"), "rb") as a, \
                open(os.path.join(snapdir, "vm2.mem"), "rb") as b:
            check(a.read() == b.read(), "the restored VM's memory differs from the snapshot's")
        s.expect("PATCH", "/vm", 204, body={"state": "Resumed"})
    finally:
        s.stop()
    check(available() == base, "pool after the restored VM: %d, expected %d" %
          (available(), base))
    if HANDLER:
        uffd_restore(binary, tmp, snapdir, base)


def uffd_restore(binary, tmp, snapdir, base):
    """Firecracker's way to restore huge pages: the Uffd backend. The handler is told the
    2 MiB unit and fills whole huge pages; the RAM is in huge pages and the VM runs."""
    hsock, cfile = os.path.join(tmp, "handler.sock"), os.path.join(tmp, "served")
    herr = open(os.path.join(tmp, "handler.err"), "w")
    h = subprocess.Popen([HANDLER, hsock, os.path.join(snapdir, "vm.mem"), "--count-file", cfile],
                         stderr=herr)
    try:
        wait_for(lambda: os.path.exists(hsock), "the handler's socket")
        s = Serve(binary, tmp, ["--snapshot-dir", snapdir])
        try:
            s.expect("PUT", "/snapshot/load", 204, body={
                "snapshot_path": os.path.join(snapdir, "vm.snap"),
                "mem_backend": {"backend_type": "Uffd", "backend_path": hsock},
                "resume_vm": True})
            maps = huge_mappings(s.p.pid)
            check(sum(maps) == MEM_MIB * 1024, "Uffd restore: 2 MiB-page mappings %r kB" % maps)
            check(s.expect("GET", "/", 200)["state"] == "Running", "Uffd restore not Running")
            # A snapshot of it reads every page through the handler: whole huge pages.
            pause_and_snapshot(s, snapdir, "vm3")
            with open(os.path.join(snapdir, "vm.mem"), "rb") as a, \
                    open(os.path.join(snapdir, "vm3.mem"), "rb") as b:
                check(a.read() == b.read(), "the Uffd-restored VM's memory differs")
        finally:
            s.stop()
        h.wait(30)
    finally:
        if h.poll() is None:
            h.kill()
            h.wait()
        herr.close()
    check(h.returncode == 0, "handler exited %s: %s" %
          (h.returncode, open(os.path.join(tmp, "handler.err")).read()))
    served = read_int(cfile)
    # One fault per 2 MiB page at most: a 4 KiB unit would take 512 times as many.
    check(0 < served <= PAGES, "the handler served %d faults for %d huge pages" % (served, PAGES))
    check(available() == base, "pool after the Uffd-restored VM: %d, expected %d" %
          (available(), base))


def case_no_free_pages(binary, guest, tmp):
    """Fewer available pages than RAM needs: InstanceStart is a 400 that names the
    pool's knob and the counts, and the VM can be started after a fix."""
    have = available()
    total = read_int(NR)
    # Leave PAGES - 4 available (shrinking only ever drops free, unreserved pages).
    set_pool(total - have + PAGES - 4)
    check(available() == PAGES - 4, "could not size the pool: %d available" % available())
    s = Serve(binary, tmp)
    try:
        machine(s)
        s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": guest})
        s.expect("PUT", "/actions", 400, body={"action_type": "InstanceStart"},
                 fault=["/proc/sys/vm/nr_hugepages", "it needs %d" % PAGES,
                        "has %d free" % (PAGES - 4)])
        check(s.p.poll() is None, "hearth exited after the refusal")
        check(available() == PAGES - 4, "a refused start kept pages: %d" % available())
    finally:
        s.stop()


def case_odd_size(binary, guest, tmp):
    s = Serve(binary, tmp)
    try:
        s.expect("PUT", "/machine-config", 400, body={"vcpu_count": 1, "mem_size_mib": 33,
                                                       "huge_pages": "2M"},
                 fault=["not a multiple of the configured page size"])
    finally:
        s.stop()


def case_clock_realtime(binary, guest, tmp):
    """PUT /snapshot/load's clock_realtime end to end (4 KiB pages): the restore
    runs, or, where this host's KVM_GET_CLOCK gave no real time to save, is
    refused in words that say so; never a guest clock advanced by garbage."""
    snapdir = os.path.join(tmp, "snaps")
    os.mkdir(snapdir)
    s = Serve(binary, tmp, ["--snapshot-dir", snapdir])
    try:
        s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 1, "mem_size_mib": 32})
        s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": guest})
        s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
        wait_line(s)
        pause_and_snapshot(s, snapdir, "vm")
    finally:
        s.stop()
    s = Serve(binary, tmp)
    try:
        got, js = s.request("PUT", "/snapshot/load", {
            "snapshot_path": os.path.join(snapdir, "vm.snap"),
            "mem_backend": {"backend_type": "File",
                            "backend_path": os.path.join(snapdir, "vm.mem")},
            "resume_vm": True, "clock_realtime": True})
        if got == 204:
            js = s.expect("GET", "/", 200)
            check(js["state"] == "Running", "restored state %r" % js["state"])
            print("restored with KVM_CLOCK_REALTIME")
        else:
            check(got == 400 and ("holds no real time" in js["fault_message"] or
                                  "cannot set the clock by real time" in
                                  js["fault_message"]),
                  "clock_realtime load: %d %r" % (got, js))
            print("refused: %s" % js["fault_message"])
    finally:
        s.stop()


CASES = {
    "clock-realtime": case_clock_realtime,
    "boot-snapshot-restore": case_boot_snapshot_restore,
    "no-free-pages": case_no_free_pages,
    "odd-size": case_odd_size,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hearth", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    ap.add_argument("--handler", help="tests/uffd/uffd_handler: also restore through Uffd")
    a = ap.parse_args()
    global HANDLER
    HANDLER = a.handler and os.path.abspath(a.handler)
    if a.case not in ("odd-size", "clock-realtime"):
        if os.geteuid() != 0 or not os.path.exists(SYSFS) or not os.access(NR, os.W_OK):
            print("%s the case needs root and 2 MiB hugetlbfs pages" % NOT_HERE)
            return SKIP
    if a.case != "odd-size" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("%s the case needs /dev/kvm, which cannot be opened here" % NOT_HERE)
        return SKIP
    saved = read_int(NR) if os.access(NR, os.R_OK) else None
    tmp = tempfile.mkdtemp(prefix="hearth-huge-")
    try:
        if a.case == "boot-snapshot-restore":
            set_pool(saved + PAGES + 4)
            check(available() >= PAGES, "could not grow the pool: %d available" % available())
        CASES[a.case](os.path.abspath(a.hearth), os.path.abspath(a.guest), tmp)
    except TestFailure as e:
        print("FAIL: %s" % e)
        return 1
    finally:
        if saved is not None and a.case not in ("odd-size", "clock-realtime"):
            set_pool(saved)
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
