#!/usr/bin/env python3
"""virtio-pmem through a real `hearth serve` socket, seccomp filters on:
Firecracker's pmem cases of test_api.py and test_pmem.py's API side,
written anew.

    run_pmem_test.py --hearth PATH [--asan PATH] [--case NAME] [--handler PATH]

  api        before boot: PUT /pmem/{id} and its refusals in Firecracker's
             words (the id of the path, one root device, pmem or block),
             GET /vm/config's "pmem", PATCH refused before boot. After
             boot (on a /dev/kvm that runs the smallest guest): a missing
             file is InstanceStart's refusal; a file of no whole 2 MiB
             boots; PATCH changes the rate limiter, an unknown id gets
             Firecracker's words, PUT is closed.
  snapshot   a paused VM with a pmem device and dirty tracking is
             snapshotted, Full then Diff (neither memory file holds a pmem
             window), and loaded into a new process, from the File backend
             and (with --handler) through Uffd: the device comes back at its
             address; a backing file that grew past its 2 MiB line is
             refused. Every load names each pmem file and its access in
             pmem_overrides. Issue 47, F2: the state file edited (with
             --craft, Hearth's own writer) so its record names a victim
             file for the writable device is refused without an override,
             and with one the victim is neither opened nor mapped
             (inotify, and the process's /proc/PID/maps and fds), only
             the request's files are; an override whose read_only is not
             the snapshot's is refused.
"""
import json
import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, kvm_usable, need_kvm, run_cases, tiny_elf  # noqa: E402
from run_api_test import Serve  # noqa: E402

PRE = "The requested operation is not supported before starting the microVM."
POST = "The requested operation is not supported after starting the microVM."


def configure(s, tmp, track=False):
    kernel = os.path.join(tmp, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 1, "mem_size_mib": 64,
                                                  "track_dirty_pages": track})


def backing(tmp, name, size):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def ram_regions(mem):
    """The memory file's PT_LOAD segments (it is an ELF core): (guest address, size)."""
    with open(mem, "rb") as f:
        hdr = f.read(64)
        phoff = struct.unpack_from("<Q", hdr, 0x20)[0]
        phentsize, phnum = struct.unpack_from("<HH", hdr, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    out = []
    for i in range(phnum):
        ptype, _, _, _, paddr, _, memsz = struct.unpack_from("<IIQQQQQ", table, i * phentsize)
        if ptype == 1:
            out.append((paddr, memsz))
    return out


def case_api(binary, tmp):
    s = Serve(binary, tmp)
    configure(s, tmp)
    p0 = backing(tmp, "p0", 3 * 1024 * 1024 + 1)
    s.expect("PATCH", "/pmem/p0", 400, body={"id": "p0"}, exact=PRE)
    s.expect("PUT", "/pmem/p0", 400, body={"id": "p1", "path_on_host": p0},
             exact="The id from the path does not match the id from the body!")
    s.expect("PUT", "/pmem/p0", 400, body={"id": "p0"},
             fault=["missing field `path_on_host`"])
    s.expect("PUT", "/pmem/p0", 400, body={"id": "p0", "path_on_host": p0, "nope": 1},
             fault=["unknown field `nope`"])
    s.expect("PUT", "/pmem/p0", 204, body={"id": "p0", "path_on_host": p0, "root_device": True})
    s.expect("PUT", "/pmem/p1", 400, body={"id": "p1", "path_on_host": p0, "root_device": True},
             exact="Pmem config error: A root pmem device already exist")
    s.expect("PUT", "/drives/root", 400, body={"drive_id": "root", "path_on_host": p0,
                                               "is_root_device": True, "is_read_only": True},
             exact="Drive config error: Attempt to add block as a root device while the root "
                   "device defined as a pmem device")
    # The root device again (same id) stays allowed; then not root, so a drive may be.
    s.expect("PUT", "/pmem/p0", 204, body={"id": "p0", "path_on_host": p0, "root_device": True})
    s.expect("PUT", "/pmem/p0", 204, body={"id": "p0", "path_on_host": p0, "read_only": True})
    s.expect("PUT", "/drives/root", 204, body={"drive_id": "root", "path_on_host": p0,
                                               "is_root_device": True, "is_read_only": True})
    s.expect("PUT", "/pmem/p1", 400, body={"id": "p1", "path_on_host": p0, "root_device": True},
             exact="Pmem config error: Attempt to add pmem as a root device while the root "
                   "device defined as a block device")
    rl = {"bandwidth": {"size": 1 << 30, "refill_time": 1000}}
    s.expect("PUT", "/pmem/p1", 204, body={"id": "p1", "path_on_host": os.path.join(tmp, "gone"),
                                           "rate_limiter": rl})
    pm = s.expect("GET", "/vm/config", 200)["pmem"]
    check([p["id"] for p in pm] == ["p0", "p1"] and pm[0]["read_only"] and
          not pm[0]["root_device"] and pm[0]["rate_limiter"] is None and
          pm[1]["rate_limiter"]["bandwidth"]["size"] == 1 << 30, "GET /vm/config: %r" % pm)
    if not kvm_usable():
        s.stop()
        need_kvm("after boot, this case")
    # Firecracker opens the file at InstanceStart: a missing one fails the start.
    s.expect("PUT", "/actions", 400, body={"action_type": "InstanceStart"},
             fault=["Cannot create pmem device: Error accessing backing file: No such file or "
                    "directory (os error 2)"])
    p1 = backing(tmp, "p1", 4096)
    s.expect("PUT", "/pmem/p1", 204, body={"id": "p1", "path_on_host": p1})
    metrics = os.path.join(tmp, "m.ndjson")
    s.expect("PUT", "/metrics", 204, body={"metrics_path": metrics})
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    # Locked as a disk is (issue 62, F2): p1 is mapped shared and written by this VM, so a
    # second VM cannot map it writable; p0, read-only here, it may map read-only.
    d2 = os.path.join(tmp, "second")
    os.mkdir(d2)
    s2 = Serve(binary, d2)
    try:
        configure(s2, d2)
        s2.expect("PUT", "/pmem/p0", 204, body={"id": "p0", "path_on_host": p0,
                                                 "read_only": True})
        s2.expect("PUT", "/pmem/p1", 204, body={"id": "p1", "path_on_host": p1})
        s2.expect("PUT", "/actions", 400, body={"action_type": "InstanceStart"},
                  fault=["Cannot create pmem device: backing file %s is in use by another "
                         "process" % p1])
        s2.expect("PUT", "/pmem/p1", 204, body={"id": "p1", "path_on_host": p1,
                                                 "read_only": True})
        s2.expect("PUT", "/actions", 400, body={"action_type": "InstanceStart"},
                  fault=["in use by another process"])
        s2.expect("PUT", "/pmem/p1", 204,
                  body={"id": "p1", "path_on_host": backing(d2, "own", 4096)})
        s2.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    finally:
        s2.stop()
    # Firecracker 1.16: after boot a PUT hotplugs, on a PCI VM only.
    s.expect("PUT", "/pmem/p1", 400, body={"id": "p1", "path_on_host": p0},
             exact="PCI is not enabled")
    s.expect("PATCH", "/pmem/p1", 204, body={"id": "p1", "rate_limiter": {
        "ops": {"size": 10, "refill_time": 100}}})
    check(s.expect("GET", "/vm/config", 200)["pmem"][1]["rate_limiter"]["ops"]["size"] == 10,
          "the patched limiter in GET /vm/config")
    s.expect("PATCH", "/pmem/p1", 204, body={"id": "p1"})
    s.expect("PATCH", "/pmem/p9", 400, body={"id": "p9", "rate_limiter": {}},
             exact="Pmem config error: Unable to patch the pmem device: Failed perform action "
                   "on device: Device not found Please verify the request arguments.")
    s.expect("PATCH", "/pmem/p9", 400, body={"id": "p1"},
             exact="The id from the path does not match the id from the body!")
    s.expect("PUT", "/actions", 204, body={"action_type": "FlushMetrics"})
    s.stop()
    with open(metrics) as f:
        last = json.loads(f.read().splitlines()[-1])
    # Firecracker's per-device groups and their sum, and Hearth's own counts.
    check(all(isinstance(last.get(g), dict) and "rate_limiter_throttled_events" in last[g] and
              "flushes" in last["hearth"][g] for g in ("pmem_p0", "pmem_p1")) and
          "cfg_fails" in last["pmem"], "the metrics' pmem groups: %r" % sorted(last))


def load_uffd(binary, tmp, handler, snap, mem, want):
    """The same snapshot through the Uffd backend: RAM from the handler, the windows mapped again."""
    hsock = os.path.join(tmp, "handler.sock")
    h = subprocess.Popen([handler, hsock, mem], stderr=open(os.path.join(tmp, "h.err"), "w"))
    try:
        for _ in range(300):
            if os.path.exists(hsock):
                break
            time.sleep(0.1)
        d = os.path.join(tmp, "load-uffd")
        os.mkdir(d)
        s = Serve(binary, d, ["--snapshot-dir", tmp])
        s.expect("PUT", "/snapshot/load", 204,
                 body={"snapshot_path": snap, "resume_vm": True,
                       "mem_backend": {"backend_type": "Uffd", "backend_path": hsock},
                       "pmem_overrides": overrides(want)})
        check(s.expect("GET", "/vm/config", 200)["pmem"] == want, "GET /vm/config after a Uffd load")
        s.expect("PATCH", "/vm", 204, body={"state": "Paused"})
        s.stop()
        h.wait(30)
        check(h.returncode == 0, "the handler exited %s" % h.returncode)
    finally:
        if h.poll() is None:
            h.kill()
            h.wait()


def overrides(want, **paths):
    """pmem_overrides for the devices GET /vm/config listed, each its own file unless
    paths gives another."""
    return [{"id": p["id"], "path_on_host": paths.get(p["id"], p["path_on_host"]),
             "read_only": p.get("read_only", False)} for p in want]


def seen_by(pid, path):
    """Whether process pid has path open or mapped."""
    real = os.path.realpath(path)
    with open("/proc/%d/maps" % pid) as f:
        if any(line.rstrip().endswith(" " + real) for line in f):
            return True
    fds = "/proc/%d/fd" % pid
    for fd in os.listdir(fds):
        try:
            if os.readlink(os.path.join(fds, fd)) == real:
                return True
        except OSError:
            pass
    return False


def edited_state(craft, snap, out, victim):
    """snap with its record's pmem 'b' naming victim, the CRC right: what an attacker
    who can write state files makes."""
    rec = json.loads(subprocess.run([craft, "config-of", snap], check=True,
                                    stdout=subprocess.PIPE).stdout)
    for p in rec["vm"]["pmem"]:
        if p["id"] == "b":
            p["path_on_host"] = victim
    jpath = out + ".json"
    with open(jpath, "w") as f:
        json.dump(rec, f)
    subprocess.run([craft, "edit", snap, out, jpath], check=True)


def case_edited_record(binary, tmp, craft, snap, mem, want):
    """Issue 47, F2: a state file naming a host file for pmem opens nothing of it."""
    from run_snapshot_host_test import Watch
    vdir = os.path.join(tmp, "victim")
    os.mkdir(vdir)
    victim = backing(vdir, "secret", 4096)
    bad = os.path.join(tmp, "edited.snap")
    edited_state(craft, snap, bad, victim)
    d = os.path.join(tmp, "load-edited")
    os.mkdir(d)
    w = Watch(vdir)
    try:
        s = Serve(binary, d, ["--snapshot-dir", tmp])
        load = {"snapshot_path": bad, "mem_backend": {"backend_type": "File",
                                                       "backend_path": mem}}
        js = s.expect("PUT", "/snapshot/load", 400, body=load)
        check("pmem 'a' needs its file in pmem_overrides" in js["fault_message"], "%r" % js)
        ro = overrides(want)
        ro[1]["read_only"] = True
        js = s.expect("PUT", "/snapshot/load", 400, body=dict(load, pmem_overrides=ro))
        check("pmem 'b' was writable in the snapshot" in js["fault_message"], "%r" % js)
        check(not seen_by(s.p.pid, victim), "the refused loads left the victim open")
        s.expect("PUT", "/snapshot/load", 204, body=dict(load, pmem_overrides=overrides(want)))
        got = s.expect("GET", "/vm/config", 200)["pmem"]
        check(got == want, "GET /vm/config after the edited load: %r" % got)
        check(not seen_by(s.p.pid, victim), "the record's file is open or mapped")
        check(all(seen_by(s.p.pid, p["path_on_host"]) for p in want),
              "the request's pmem files are not mapped")
        s.stop()
        events = w.events()
        check(not events, "the victim directory saw: %s" % events)
    finally:
        w.close()
    with open(victim, "rb") as f:
        check(f.read() == bytes(4096), "the victim file changed")


def case_snapshot(binary, tmp, args):
    need_kvm()
    snap, mem = os.path.join(tmp, "vm.snap"), os.path.join(tmp, "vm.mem")
    p0 = backing(tmp, "p0", 2 * 1024 * 1024)
    p1 = backing(tmp, "p1", 5000)
    s = Serve(binary, tmp, ["--snapshot-dir", tmp])
    configure(s, tmp, track=True)
    s.expect("PUT", "/pmem/a", 204, body={"id": "a", "path_on_host": p0, "read_only": True})
    s.expect("PUT", "/pmem/b", 204, body={"id": "b", "path_on_host": p1})
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    want = s.expect("GET", "/vm/config", 200)["pmem"]
    s.expect("PATCH", "/vm", 204, body={"state": "Paused"})
    s.expect("PUT", "/snapshot/create", 204, body={"snapshot_path": snap, "mem_file_path": mem})
    # Dirty tracking goes on for RAM alone: a Diff snapshot after it.
    diff_snap, diff_mem = os.path.join(tmp, "d.snap"), os.path.join(tmp, "d.mem")
    s.expect("PATCH", "/vm", 204, body={"state": "Resumed"})
    s.expect("PATCH", "/vm", 204, body={"state": "Paused"})
    s.expect("PUT", "/snapshot/create", 204, body={"snapshot_type": "Diff",
                                                   "snapshot_path": diff_snap,
                                                   "mem_file_path": diff_mem})
    s.stop()
    for path in (mem, diff_mem):
        loads = ram_regions(path)
        check(sum(n for _, n in loads) == 64 << 20 and all(a + n <= 1 << 32 for a, n in loads),
              "%s holds RAM only, no pmem window: %r" % (os.path.basename(path), loads))
    d = os.path.join(tmp, "load")
    os.mkdir(d)
    s = Serve(binary, d, ["--snapshot-dir", tmp])
    # Issue 47, F2: without its files a load is refused, naming the first device.
    js = s.expect("PUT", "/snapshot/load", 400,
                  body={"snapshot_path": snap, "mem_backend": {"backend_type": "File",
                                                               "backend_path": mem}})
    check("pmem 'a' needs its file in pmem_overrides" in js["fault_message"], "%r" % js)
    s.expect("PUT", "/snapshot/load", 204,
             body={"snapshot_path": snap, "mem_backend": {"backend_type": "File",
                                                          "backend_path": mem},
                   "pmem_overrides": overrides(want)})
    check(s.expect("GET", "/vm/config", 200)["pmem"] == want, "GET /vm/config after load")
    s.stop()
    if args.craft:
        case_edited_record(binary, tmp, args.craft, snap, mem, want)
    if args.handler:
        load_uffd(binary, tmp, args.handler, snap, mem, want)
    # A file that grew past its 2 MiB line moves every window after it: refused.
    with open(p0, "r+b") as f:
        f.truncate(3 * 1024 * 1024)
    d = os.path.join(tmp, "load2")
    os.mkdir(d)
    s = Serve(binary, d, ["--snapshot-dir", tmp])
    js = s.expect("PUT", "/snapshot/load", 400,
                  body={"snapshot_path": snap, "mem_backend": {"backend_type": "File",
                                                               "backend_path": mem},
                        "pmem_overrides": overrides(want)})
    check("device 'a' refused its state" in js["fault_message"], "refusal %r" % js)
    s.stop()


CASES = {"api": case_api, "snapshot": case_snapshot}


def options(ap):
    ap.add_argument("--handler", help="tests/uffd's handler: the snapshot loaded through Uffd too")
    ap.add_argument("--craft", help="snap_craft: a state file edited to name a victim's file")


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-pmem-", options=options))
