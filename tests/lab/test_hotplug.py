#!/usr/bin/env python3
"""Lab test of memory hotplug: the stock kernel's virtio_mem driver against
Hearth's device, driven through the API (curl on the Unix socket, in L1):

    tests/lab/test_hotplug.py [--hearth PATH] [--stream]

  hotplug   hearth serve, 2 vCPUs, 256 MiB, memory hotplug of 1024 MiB
            (blocks of 2 MiB, slots of 128 MiB); the guest onlines new
            memory as movable (memhp_default_state=online_movable: the
            stock kernel does not online it by itself).
            1. GET /hotplug/memory: nothing plugged or requested.
            2. PATCH 256 MiB: the guest's MemTotal grows by 256 MiB, GET
               says 256 plugged; the guest fills 200 MiB of tmpfs (which
               lands in the new memory) and frees it.
            3. PATCH 128 MiB, then 0: MemTotal shrinks back, GET follows,
               and Hearth's RSS falls: unplugged blocks went back to the
               host.
            4. What the device refuses, in Firecracker's words: a size
               that is no multiple of the block, one past the region.
            5. PATCH 256 MiB again; the guest writes 32 MiB of random data
               to tmpfs (into the new memory) and prints its md5 every 2 s.
               A Full snapshot, the process ends; a new `hearth serve`
               loads it (File backend) and resumes: GET /hotplug/memory
               says 256 plugged, MemTotal is still grown, the data's md5
               is the same; PATCH 0 then unplugs it all (the guest moves
               the data out of the blocks first) and the md5 still holds.
            6. The same snapshot loaded once more, through tests/uffd's
               handler (Uffd, filling the 2 MiB around each fault): the
               same checks.
            7. (Tracking dirty pages from the start.) After the Full
               snapshot the first VM resumes, grows to 384 MiB (a third
               slot), the guest writes 16 MiB more into it, and a Diff
               snapshot is taken; `hearth snapshot-merge` folds it onto the
               Full's memory file at the end, and a new process loads the
               Diff's state with it: 384 MiB plugged, both data's md5s
               unchanged.

Prints one line per check and `N passed, N failed`. Exit 0 all passed, 1 a
check failed, 3 lab failure (tests/lab/README.md).
"""
import json
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402

RUN_TIMEOUT = 900
FILL_MIB = 200
KEEP_MIB = 16
CMDLINE = L.L2_CONSOLE + " reboot=k panic=-1 memhp_default_state=online_movable lab.hotplug=1 lab.wait=1000"

# In L2: whether the driver took the device, then the memory a line a second.
L2_SCRIPT = r'''
grep -q lab.hotplug=1 /proc/cmdline || exit 0
echo "LAB hp driver=$(ls /sys/bus/virtio/drivers/virtio_mem 2>/dev/null | grep -c virtio)"
(while :; do echo "LAB hp mem total=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"; sleep 1; done) &
# Once the memory has grown: fill most of it (tmpfs pages are movable, so they land in
# the hotplugged zone first), hold it, free it.
boot=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
(while :; do
   t=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
   if [ "$t" -gt $((boot + @GROW@ * 1024 - 8192)) ]; then
     mount -o remount,size=400M /tmp
     dd if=/dev/zero of=/tmp/fill bs=1M count=@FILL@ 2>/dev/null
     echo "LAB hp filled"
     sleep 8
     rm -f /tmp/fill
     echo "LAB hp freed"
     break
   fi
   sleep 1
 done
 # Back to boot size, then grown again: data to carry across a snapshot.
 while [ "$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)" -gt $((boot + 8192)) ]; do sleep 1; done
 while [ "$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)" -lt $((boot + @GROW@ * 1024 - 8192)) ]; do sleep 1; done
 dd if=/dev/urandom of=/tmp/keep bs=1M count=@KEEP@ 2>/dev/null
 # Pages in ZONE_MOVABLE (only the hotplugged memory, onlined movable): where the data went.
 echo "LAB hp movable_used=$(awk '/zone +Movable/ {m=1; next} /zone/ {m=0}
   m && $1 == "pages" && $2 == "free" {f=$3} m && $1 == "present" {p=$2} END {print p - f}' /proc/zoneinfo)"
 while :; do echo "LAB hp keep=$(md5sum </tmp/keep | cut -c1-32)"; sleep 3; done) &
# Grown past 256 MiB (only after the Full snapshot): data written into the new blocks,
# which a Diff snapshot must carry.
(while [ "$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)" -lt $((boot + @GROW2@ * 1024 - 8192)) ]; do
   sleep 1; done
 dd if=/dev/urandom of=/tmp/late bs=1M count=@KEEP@ 2>/dev/null
 while :; do echo "LAB hp late=$(md5sum </tmp/late | cut -c1-32)"; sleep 3; done) &
'''

SCRIPT = L.SH_API + r'''
H=/lab/bin/hearth
S=/tmp/m.sock
rss() { awk '/^VmRSS:/ {print $2}' /proc/$hp/status; }
G=/tmp/g.out
lastmem() { tr -d '\r' <$G | grep '^LAB hp mem total=[0-9]*$' | tail -n 1 | sed -n 's/.*total=\([0-9]*\)$/\1/p'; }
waitmem() { # LOW HIGH [S]: up to S (120) s for MemTotal (kB) within [LOW, HIGH]
  k=0; while [ $k -lt "${3:-120}" ]; do t=$(lastmem); [ -n "$t" ] && [ "$t" -ge "$1" ] && [ "$t" -le "$2" ] && return 0; sleep 1; k=$((k+1)); done; return 1
}
lastkeep() { tr -d '\r' <$G | grep '^LAB hp keep=[0-9a-f]*$' | tail -n 1 | sed 's/.*=//'; }
nkeep() { tr -d '\r' <$G | grep -c '^LAB hp keep=[0-9a-f]*$'; }
waitkeep() { # N: up to 120 s for more than N md5 lines
  k=0; while [ $k -lt 120 ]; do [ "$(nkeep)" -gt "$1" ] && return 0; sleep 1; k=$((k+1)); done; return 1
}
lastlate() { tr -d '\r' <$G | grep '^LAB hp late=[0-9a-f]*$' | tail -n 1 | sed 's/.*=//'; }
nlate() { tr -d '\r' <$G | grep -c '^LAB hp late=[0-9a-f]*$'; }
waitlate() { # N: up to 120 s for more than N md5 lines of the late data
  k=0; while [ $k -lt 120 ]; do [ "$(nlate)" -gt "$1" ] && return 0; sleep 1; k=$((k+1)); done; return 1
}
mkdir -p /tmp/hs
$H serve --api-sock $S --snapshot-dir /tmp/hs </dev/null >/tmp/g.out 2>/tmp/h.err & hp=$!
waitsock
echo "HP boot=$(api PUT /boot-source '{"kernel_image_path": "@KERNEL@", "initrd_path": "@L2_INITRD@", "boot_args": "@CMDLINE@"}')"
echo "HP machine=$(api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256, "track_dirty_pages": true}')"
echo "HP put=$(api PUT /hotplug/memory '{"total_size_mib": 1024}') $(cat /tmp/resp)"
echo "HP start=$(api PUT /actions '{"action_type": "InstanceStart"}') $(cat /tmp/resp)"
waitfor '^LAB hp mem ' /tmp/g.out 1800
sleep 2
t0=$(lastmem); echo "HP total0=$t0"
echo "HP get0=$(api GET /hotplug/memory) $(cat /tmp/resp)"
echo "HP grow=$(api PATCH /hotplug/memory '{"requested_size_mib": 256}') $(cat /tmp/resp)"
waitmem $((t0 + 256 * 1024 - 1024)) $((t0 + 256 * 1024 + 1024)); echo "HP total_grown=$(lastmem)"
echo "HP get_grown=$(api GET /hotplug/memory) $(cat /tmp/resp)"
waitfor '^LAB hp filled' /tmp/g.out 1800 && echo "HP rss_filled=$(rss)"
waitfor '^LAB hp freed' /tmp/g.out 1800
echo "HP shrink=$(api PATCH /hotplug/memory '{"requested_size_mib": 128}') $(cat /tmp/resp)"
waitmem $((t0 + 128 * 1024 - 1024)) $((t0 + 128 * 1024 + 1024)); echo "HP total_shrunk=$(lastmem)"
sleep 2
echo "HP get_shrunk=$(api GET /hotplug/memory) $(cat /tmp/resp)"
echo "HP zero=$(api PATCH /hotplug/memory '{"requested_size_mib": 0}') $(cat /tmp/resp)"
waitmem $((t0 - 1024)) $((t0 + 1024)); echo "HP total_zero=$(lastmem)"
sleep 2
echo "HP rss_zero=$(rss)"
echo "HP get_zero=$(api GET /hotplug/memory) $(cat /tmp/resp)"
echo "HP odd=$(api PATCH /hotplug/memory '{"requested_size_mib": 3}') $(cat /tmp/resp)"
echo "HP past=$(api PATCH /hotplug/memory '{"requested_size_mib": 2048}') $(cat /tmp/resp)"
echo "HP regrow=$(api PATCH /hotplug/memory '{"requested_size_mib": 256}') $(cat /tmp/resp)"
waitmem $((t0 + 256 * 1024 - 1024)) $((t0 + 256 * 1024 + 1024))
waitkeep 0; n=$(nkeep); waitkeep $n; echo "HP keep1=$(lastkeep)"
echo "HP movable_used=$(tr -d '\r' <$G | sed -n 's/^LAB hp movable_used=\([0-9]*\)$/\1/p' | tail -n 1)"
echo "HP snap=$(api PATCH /vm '{"state": "Paused"}')$(api PUT /snapshot/create '{"snapshot_path": "/tmp/hs/s", "mem_file_path": "/tmp/hs/m"}') $(cat /tmp/resp)"
echo "HP get_snap=$(api GET /hotplug/memory) $(cat /tmp/resp)"
echo "HP memfile_kb=$(du -k /tmp/hs/m | cut -f1)"
# Then grown by a third slot, written there, and a Diff snapshot (merged at the end).
echo "HP resume=$(api PATCH /vm '{"state": "Resumed"}')"
echo "HP grow2=$(api PATCH /hotplug/memory '{"requested_size_mib": 384}') $(cat /tmp/resp)"
waitmem $((t0 + 384 * 1024 - 1024)) $((t0 + 384 * 1024 + 1024)); echo "HP total_grown2=$(lastmem)"
waitlate 0; n=$(nlate); waitlate $n; echo "HP late1=$(lastlate)"
echo "HP dsnap=$(api PATCH /vm '{"state": "Paused"}')$(api PUT /snapshot/create '{"snapshot_type": "Diff", "snapshot_path": "/tmp/hs/ds", "mem_file_path": "/tmp/hs/dm"}') $(cat /tmp/resp)"
echo "HP dmem_kb=$(du -k /tmp/hs/dm | cut -f1)"
kill -TERM $hp; wait $hp; echo "HP exit=$?"
tr -d '\r' </tmp/g.out | grep '^LAB hp driver' | sed 's/^/G /'
tr -d '\r' </tmp/g.out | grep -i 'virtio_mem' | head -n 20 | sed 's/^/G /'
sed 's/^/H /' /tmp/h.err | head -n 20
# The snapshot, in a new process.
S=/tmp/m2.sock; G=/tmp/g2.out
$H serve --api-sock $S --snapshot-dir /tmp/hs </dev/null >$G 2>/tmp/h2.err & hp=$!
waitsock
echo "HP load=$(api PUT /snapshot/load '{"snapshot_path": "/tmp/hs/s", "mem_backend": {"backend_type": "File", "backend_path": "/tmp/hs/m"}, "resume_vm": true}') $(cat /tmp/resp)"
echo "HP get_load=$(api GET /hotplug/memory) $(cat /tmp/resp)"
waitkeep 0; echo "HP keep2=$(lastkeep)"
waitmem 1 999999999; echo "HP total_load=$(lastmem)"
echo "HP unplug=$(api PATCH /hotplug/memory '{"requested_size_mib": 0}') $(cat /tmp/resp)"
waitmem $((t0 - 1024)) $((t0 + 1024)); echo "HP total_load_zero=$(lastmem)"
n=$(nkeep); waitkeep $n; echo "HP keep3=$(lastkeep)"
echo "HP get_load_zero=$(api GET /hotplug/memory) $(cat /tmp/resp)"
kill -TERM $hp; wait $hp; echo "HP exit2=$?"
tr -d '\r' <$G | grep -i 'virtio_mem\|BUG\|Oops\|panic' | head -n 20 | sed 's/^/G2 /'
sed 's/^/H2 /' /tmp/h2.err | head -n 20
# Once more, every page served by the Uffd handler. The guest zeroes each page its
# unplug takes (init_on_alloc), one fault a page: the handler fills the 2 MiB group
# around each (--batch 512), so that costs a round trip a block, not a page.
uffd_handler /tmp/hu.sock /tmp/hs/m --batch 512 2>/tmp/hu.err & pu=$!
waitsock /tmp/hu.sock
S=/tmp/m3.sock; G=/tmp/g3.out
$H serve --api-sock $S --snapshot-dir /tmp/hs </dev/null >$G 2>/tmp/h3.err & hp=$!
waitsock
echo "HP uload=$(api PUT /snapshot/load '{"snapshot_path": "/tmp/hs/s", "mem_backend": {"backend_type": "Uffd", "backend_path": "/tmp/hu.sock"}, "resume_vm": true}') $(cat /tmp/resp)"
echo "HP get_uload=$(api GET /hotplug/memory) $(cat /tmp/resp)"
waitkeep 0; echo "HP ukeep2=$(lastkeep)"
waitmem 1 999999999; echo "HP total_uload=$(lastmem)"
echo "HP uunplug=$(api PATCH /hotplug/memory '{"requested_size_mib": 0}') $(cat /tmp/resp)"
# With one page a fault, every page the guest takes was a round trip: in a slow lab
# (CI's, 2026-11-26) 120 s was not enough.
waitmem $((t0 - 1024)) $((t0 + 1024)) 360; echo "HP total_uload_zero=$(lastmem)"
n=$(nkeep); waitkeep $n; echo "HP ukeep3=$(lastkeep)"
kill -TERM $hp; wait $hp; echo "HP exit3=$?"
wait $pu; echo "HP uffd_handler=$?"
sed 's/^/H3 /' /tmp/h3.err | head -n 20
sed 's/^/U /' /tmp/hu.err | head -n 5
# The Diff folded onto the Full's memory file, loaded with the Diff's state.
$H snapshot-merge --base /tmp/hs/m --diff /tmp/hs/dm 2>/tmp/merge.err; echo "HP merge=$? $(head -c 200 /tmp/merge.err)"
S=/tmp/m4.sock; G=/tmp/g4.out
$H serve --api-sock $S --snapshot-dir /tmp/hs </dev/null >$G 2>/tmp/h4.err & hp=$!
waitsock
echo "HP dload=$(api PUT /snapshot/load '{"snapshot_path": "/tmp/hs/ds", "mem_backend": {"backend_type": "File", "backend_path": "/tmp/hs/m"}, "resume_vm": true}') $(cat /tmp/resp)"
echo "HP get_dload=$(api GET /hotplug/memory) $(cat /tmp/resp)"
waitkeep 0; echo "HP dkeep=$(lastkeep)"
waitlate 0; echo "HP dlate=$(lastlate)"
kill -TERM $hp; wait $hp; echo "HP exit4=$?"
sed 's/^/H4 /' /tmp/h4.err | head -n 20
echo "HP done=yes"
'''


def script():
    return SCRIPT.replace("@KERNEL@", L.L1_KERNEL).replace("@CMDLINE@", CMDLINE)


def l2_initrd(kernel):
    return L.build_l2_initrd(kernel, name="l2hotplug", modules=["virtio_mmio", "virtio_mem"],
                             extra_sh=L2_SCRIPT.replace("@GROW@", "256")
                             .replace("@FILL@", str(FILL_MIB))
                             .replace("@KEEP@", str(KEEP_MIB)).replace("@GROW2@", "384"))


def info(r):
    out = {}
    for l in r.guest_lines:
        m = re.match(r"^HP (\w+)=(.*)$", l.strip())
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2)
    return out


def num(v):
    m = re.match(r"\s*(\d+)", v or "")
    return int(m.group(1)) if m else None


def body(a, k):
    v = a.get(k, "")
    try:
        return json.loads(v.split(" ", 1)[1]) if " " in v else {}
    except ValueError:
        return {}


def check_hotplug(r):
    a = info(r)
    st = lambda k: (a.get(k) or "").split(" ")[0]  # noqa: E731
    yield st("put") == "204" and st("start") == "204", \
        "PUT /hotplug/memory and InstanceStart are 204 (%s; %s)" % (a.get("put"), a.get("start"))
    g = [l for l in r.guest_lines if l.startswith("G LAB hp driver=")]
    yield bool(g) and g[0].endswith("=1"), "the guest's virtio_mem driver took the device (%s)" % g
    base = {"total_size_mib": 1024, "block_size_mib": 2, "slot_size_mib": 128}
    yield body(a, "get0") == dict(base, plugged_size_mib=0, requested_size_mib=0), \
        "GET /hotplug/memory before any request (%s)" % a.get("get0")
    t0 = num(a.get("total0"))
    for key, get, mib in (("total_grown", "get_grown", 256), ("total_shrunk", "get_shrunk", 128),
                          ("total_zero", "get_zero", 0)):
        t = num(a.get(key))
        yield t is not None and t0 is not None and abs(t - (t0 + mib * 1024)) <= 1024, \
            "requested %d MiB: the guest's MemTotal is %s kB (%s at boot)" % (mib, t, t0)
        yield body(a, get) == dict(base, plugged_size_mib=mib, requested_size_mib=mib), \
            "GET /hotplug/memory follows: %s" % a.get(get)
    r1, r2 = num(a.get("rss_filled")), num(a.get("rss_zero"))
    if None not in (r1, r2):
        print("INFO Hearth RSS: %d KiB with the %d MiB fill, %d once all is unplugged"
              % (r1, FILL_MIB, r2))
    # Some of the fill may land in boot RAM, which stays resident: at least half went back.
    yield None not in (r1, r2) and r1 - r2 >= FILL_MIB * 1024 // 2, \
        "unplugged blocks went back to the host: Hearth's RSS fell from %s to %s KiB" % (r1, r2)
    yield st("grow") == "204" and st("shrink") == "204" and st("zero") == "204", \
        "the PATCHes are 204 (%s; %s; %s)" % (a.get("grow"), a.get("shrink"), a.get("zero"))
    yield st("odd") == "400" and "Size 3145728 is invalid" in a.get("odd", ""), \
        "a size no multiple of the block is refused in Firecracker's words (%s)" % a.get("odd")
    yield st("past") == "400" and "less than the total size" in a.get("past", ""), \
        "a size past the region is refused (%s)" % a.get("past")
    yield st("regrow") == "204", "PATCH 256 MiB again (%s)" % a.get("regrow")
    yield st("snap") == "204204", "paused and a Full snapshot taken (%s)" % a.get("snap")
    grown = dict(base, plugged_size_mib=256, requested_size_mib=256)
    yield body(a, "get_snap") == grown, "GET at the snapshot: %s" % a.get("get_snap")
    if a.get("memfile_kb"):
        print("INFO the memory file holds %s KiB (256 MiB RAM, 256 MiB plugged)" % a["memfile_kb"])
    yield st("exit") in ("0", "3"), "Hearth exits cleanly on SIGTERM (%s)" % a.get("exit")
    yield st("load") == "204", "a new process loads the snapshot (File) and resumes (%s)" \
        % a.get("load")
    yield body(a, "get_load") == grown, \
        "GET /hotplug/memory after the load: %s" % a.get("get_load")
    mv = num(a.get("movable_used"))
    yield mv is not None and mv >= KEEP_MIB * 256 // 4, \
        "the guest's data is in the hotplugged (movable) memory: %s pages used there" % mv
    k1, k2, k3 = a.get("keep1"), a.get("keep2"), a.get("keep3")
    yield bool(k1) and len(k1) == 32 and k1 == k2, \
        "the %d MiB the guest wrote into plugged memory read the same after the restore " \
        "(md5 %s, then %s)" % (KEEP_MIB, k1, k2)
    t = num(a.get("total_load"))
    yield t is not None and t0 is not None and abs(t - (t0 + 256 * 1024)) <= 1024, \
        "the restored guest's MemTotal is still grown: %s kB" % t
    t = num(a.get("total_load_zero"))
    yield st("unplug") == "204" and t is not None and t0 is not None and abs(t - t0) <= 1024, \
        "the restored guest unplugs it all: MemTotal %s kB (%s)" % (t, a.get("unplug"))
    yield body(a, "get_load_zero") == dict(base, plugged_size_mib=0, requested_size_mib=0), \
        "GET follows: %s" % a.get("get_load_zero")
    yield bool(k3) and k3 == k1, "the data moved out of the unplugged blocks intact (md5 %s)" % k3
    yield st("exit2") in ("0", "3"), "the restored Hearth exits cleanly (%s)" % a.get("exit2")
    yield st("uload") == "204", "Uffd: the snapshot loads through the handler (%s)" % a.get("uload")
    yield body(a, "get_uload") == grown, "Uffd: GET after the load: %s" % a.get("get_uload")
    yield a.get("ukeep2") == k1, "Uffd: the guest's data read the same (md5 %s)" % a.get("ukeep2")
    t = num(a.get("total_uload"))
    yield t is not None and t0 is not None and abs(t - (t0 + 256 * 1024)) <= 1024, \
        "Uffd: MemTotal is still grown: %s kB" % t
    t = num(a.get("total_uload_zero"))
    yield st("uunplug") == "204" and t is not None and t0 is not None and abs(t - t0) <= 1024, \
        "Uffd: the guest unplugs it all: MemTotal %s kB (%s)" % (t, a.get("uunplug"))
    yield a.get("ukeep3") == k1, "Uffd: the data moved out intact (md5 %s)" % a.get("ukeep3")
    yield st("exit3") in ("0", "3") and st("uffd_handler") == "0", \
        "Uffd: Hearth and the handler exit cleanly (%s; %s)" % (a.get("exit3"),
                                                              a.get("uffd_handler"))
    # The Diff: a third slot plugged after the Full, written, logged, merged, loaded.
    yield st("resume") == "204" and st("grow2") == "204", \
        "resumed after the Full snapshot and grown to 384 MiB (%s; %s)" % (a.get("resume"),
                                                                        a.get("grow2"))
    l1 = a.get("late1")
    yield st("dsnap") == "204204" and bool(l1) and len(l1) == 32, \
        "data written into the new blocks (md5 %s), then a Diff snapshot (%s)" % (l1, a.get("dsnap"))
    if a.get("dmem_kb"):
        print("INFO the Diff's memory file holds %s KiB" % a["dmem_kb"])
    yield st("merge") == "0", "snapshot-merge folds the Diff onto the Full (%s)" % a.get("merge")
    yield st("dload") == "204", "the Diff's state with the merged memory loads (%s)" % a.get("dload")
    yield body(a, "get_dload") == dict(base, plugged_size_mib=384, requested_size_mib=384), \
        "GET after it: %s" % a.get("get_dload")
    yield a.get("dkeep") == k1 and a.get("dlate") == l1, \
        "both the data from before the Full (md5 %s) and the data written after it into the " \
        "new blocks (md5 %s) read the same" % (a.get("dkeep"), a.get("dlate"))
    yield st("exit4") in ("0", "3"), "that Hearth exits cleanly (%s)" % a.get("exit4")
    yield a.get("done") == "yes", "the plan ran to its end"


def run(kernel):
    r = L.ShellRun("hotplug", "hearth", script(), timeout=RUN_TIMEOUT)
    r.initrd = l2_initrd(kernel)
    return r


def main():
    tools = {"/bin/curl": shutil.which("curl"), "/bin/uffd_handler": L.uffd_handler()}
    return L.standalone(__doc__, "hotplug", lambda k: [run(k)], [("hotplug", check_hotplug)],
                        tools=tools,
                        hint="scripts/deps.sh build installs curl; make builds the handler")


if __name__ == "__main__":
    sys.exit(main())
