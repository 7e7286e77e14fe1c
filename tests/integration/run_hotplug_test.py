#!/usr/bin/env python3
"""Memory hotplug through a real `hearth serve` socket, seccomp filters on:
Firecracker's PUT, GET and PATCH /hotplug/memory and its config file's
"memory-hotplug", written anew.

    run_hotplug_test.py --hearth PATH [--asan PATH] [--case NAME] [--handler PATH]

  api        before boot: PUT and its refusals in Firecracker's words, GET
             /vm/config's memory-hotplug, GET and PATCH refused. After boot
             (on a /dev/kvm that runs the smallest guest, which has no
             virtio-mem driver): GET answers the config with nothing plugged
             or requested, PATCH is refused as Firecracker refuses a device
             its driver never started, the metrics carry Firecracker's
             "memory_hotplug" group. A Full snapshot holds the hotplug
             region after RAM (the memory file's last PT_LOAD, at its
             address) and loads into a VM with the same region and status,
             from the File backend and through tests/uffd's handler (Uffd);
             so does a Diff snapshot taken after it (dirty pages tracked),
             its memory file laid out the same, merged onto the Full's.
  config     the config file's section boots the same VM (3200 MiB: RAM in
             two regions, around the 32-bit hole, then the hotplug region).
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, kvm_usable, need_kvm, run_cases, tiny_elf  # noqa: E402
from run_api_test import Serve  # noqa: E402
from run_pmem_test import ram_regions  # noqa: E402

HOTPLUG = {"total_size_mib": 1024, "block_size_mib": 4, "slot_size_mib": 256}
FC_PRE = "The requested operation is not supported before starting the microVM."
NOT_ACTIVE = ("Memory hotplug update error: Failed to create memory hotplug device: Device is "
              "not active")


def kernel(tmp):
    path = os.path.join(tmp, "k.elf")
    with open(path, "wb") as f:
        f.write(tiny_elf(power_off=False))
    return path


def configure(s, tmp, track=False):
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel(tmp)})
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 1, "mem_size_mib": 64,
                                                  "track_dirty_pages": track})


def after_boot(s, tmp, binary):
    st = s.expect("GET", "/hotplug/memory", 200)
    check(st == dict(HOTPLUG, plugged_size_mib=0, requested_size_mib=0), "status %r" % st)
    s.expect("PATCH", "/hotplug/memory", 400, body={"requested_size_mib": 8}, exact=NOT_ACTIVE)
    s.expect("PUT", "/hotplug/memory", 400, body=HOTPLUG,
             exact="The requested operation is not supported after starting the microVM.")
    s.expect("PATCH", "/vm", 204, body={"state": "Paused"})
    snap, mem = os.path.join(tmp, "s"), os.path.join(tmp, "m")
    s.expect("PUT", "/snapshot/create", 204, body={"snapshot_path": snap, "mem_file_path": mem})
    # A Diff of it (tracking is on), its memory file laid out as the Full's, hotplug
    # region last, folded onto it: the Full's file becomes the diff's moment.
    dsnap, dmem = os.path.join(tmp, "ds"), os.path.join(tmp, "dm")
    s.expect("PUT", "/snapshot/create", 204,
             body={"snapshot_type": "Diff", "snapshot_path": dsnap, "mem_file_path": dmem})
    check(ram_regions(dmem) == ram_regions(mem), "the diff's regions %r, the full's %r" %
          (ram_regions(dmem), ram_regions(mem)))
    r = subprocess.run([binary, "snapshot-merge", "--base", mem, "--diff", dmem],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    check(r.returncode == 0, "snapshot-merge: %d %s" % (r.returncode, r.stdout))
    return dsnap, mem


def load_one(binary, d, tmp, snap, backend, path, want):
    s = Serve(binary, d, ["--snapshot-dir", tmp])
    s.expect("PUT", "/snapshot/load", 204,
             body={"snapshot_path": snap, "mem_backend": {"backend_type": backend,
                                                          "backend_path": path}})
    check(s.expect("GET", "/vm/config", 200)["memory-hotplug"] == HOTPLUG,
          "/vm/config after a %s load" % backend)
    st = s.expect("GET", "/hotplug/memory", 200)
    check(st == want, "status after a %s load %r, was %r" % (backend, st, want))
    s.expect("PATCH", "/vm", 204, body={"state": "Resumed"})
    s.stop()


def load_again(binary, tmp, snap, mem, ram_mib, want, handler):
    """The snapshot's memory file ends with the hotplug region; a load rebuilds it."""
    loads = ram_regions(mem)
    check(sum(n for _, n in loads[:-1]) == ram_mib << 20 and
          loads[-1][1] == HOTPLUG["total_size_mib"] << 20 and
          loads[-1][0] >= max(a + n for a, n in loads[:-1]) and loads[-1][0] % (1 << 30) == 0,
          "the memory file's regions: RAM, then the hotplug region: %r" % loads)
    d = os.path.join(tmp, "load-%d" % ram_mib)
    os.mkdir(d)
    load_one(binary, d, tmp, snap, "File", mem, want)
    if not handler:
        return
    hsock = os.path.join(tmp, "handler-%d.sock" % ram_mib)
    h = subprocess.Popen([handler, hsock, mem], stderr=open(os.path.join(tmp, "h.err"), "w"))
    try:
        for _ in range(300):
            if os.path.exists(hsock):
                break
            time.sleep(0.1)
        load_one(binary, d, tmp, snap, "Uffd", hsock, want)
        h.wait(30)
        check(h.returncode == 0, "the handler exited %s" % h.returncode)
    finally:
        if h.poll() is None:
            h.kill()
            h.wait()


def case_api(binary, tmp, args):
    s = Serve(binary, tmp, ["--snapshot-dir", tmp])
    configure(s, tmp, track=True)
    s.expect("GET", "/hotplug/memory", 400, exact=FC_PRE)
    s.expect("PATCH", "/hotplug/memory", 400, body={"requested_size_mib": 0}, exact=FC_PRE)
    s.expect("PUT", "/hotplug/memory", 400, body={"total_size_mib": 1024, "block_size_mib": 3},
             exact="Memory hotplug config error: Block size must be a power of 2")
    s.expect("PUT", "/hotplug/memory", 400, body={"total_size_mib": 100},
             exact="Memory hotplug config error: Total size must not be lower than slot size "
                   "(128 MiB)")
    s.expect("PUT", "/hotplug/memory", 204, body={"total_size_mib": 512})
    check(s.expect("GET", "/vm/config", 200)["memory-hotplug"] ==
          {"total_size_mib": 512, "block_size_mib": 2, "slot_size_mib": 128}, "defaults")
    s.expect("PUT", "/hotplug/memory", 204, body=HOTPLUG)
    check(s.expect("GET", "/vm/config", 200)["memory-hotplug"] == HOTPLUG, "/vm/config")
    if not kvm_usable():
        s.stop()
        need_kvm("after boot, this case")
    metrics = os.path.join(tmp, "m.ndjson")
    s.expect("PUT", "/metrics", 204, body={"metrics_path": metrics})
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    st = s.expect("GET", "/hotplug/memory", 200)
    snap, mem = after_boot(s, tmp, binary)
    s.expect("PUT", "/actions", 204, body={"action_type": "FlushMetrics"})
    s.stop()
    load_again(binary, tmp, snap, mem, 64, st, args.handler)
    with open(metrics) as f:
        last = json.loads(f.read().splitlines()[-1])
    group = last.get("memory_hotplug")
    check(isinstance(group, dict) and group.get("plug_count") == 0 and
          group.get("activate_fails") == 0, "the metrics' memory_hotplug group: %r" % group)


def case_config(binary, tmp, args):
    need_kvm()
    cfg = os.path.join(tmp, "vm.json")
    with open(cfg, "w") as f:
        json.dump({"boot-source": {"kernel_image_path": kernel(tmp)},
                   "machine-config": {"vcpu_count": 1, "mem_size_mib": 3200,
                                      "track_dirty_pages": True},
                   "memory-hotplug": HOTPLUG}, f)
    s = Serve(binary, tmp, ["--config-file", cfg, "--snapshot-dir", tmp])
    check(s.expect("GET", "/vm/config", 200)["memory-hotplug"] == HOTPLUG, "/vm/config")
    st = s.expect("GET", "/hotplug/memory", 200)
    snap, mem = after_boot(s, tmp, binary)
    s.stop()
    load_again(binary, tmp, snap, mem, 3200, st, args.handler)


CASES = {"api": case_api, "config": case_config}


def options(ap):
    ap.add_argument("--handler", help="tests/uffd's handler: the snapshot loaded through Uffd too")


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-hotplug-", options=options))
