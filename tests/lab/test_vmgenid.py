#!/usr/bin/env python3
"""Lab test of VMGenID (devices/vmgenid.h): a stock Linux guest binds it,
and every restore of its snapshot, every clone of a fork and a clone's
reset is a fork its RNG hears of, in ONE L1 boot.

    tests/lab/test_vmgenid.py [--hearth PATH] [--stream] [--only vmgenid|migrate]

  L2 is Debian's generic kernel (linux-image-amd64, fetched and cached by
  lab_build.py's get_kernel like the cloud one, which is built without
  CONFIG_VMGENID): its vmgenid driver (drivers/virt/vmgenid.c) binds
  _HID VMGENCTR, reads the 16 bytes at ADDR, and on Notify(VGEN, 0x80)
  reads them again and, when they changed, reseeds the kernel's RNG with
  "random: crng reseeded due to virtual machine fork". L1 stays the cloud
  kernel. The guest prints `LAB gen N id=HEX forks=F` every 200 ms: the
  16 bytes (tests/lab/vmgenid_read.c, a static helper built here: it maps
  /dev/mem write-back as the driver does, which busybox's devmem cannot)
  and how many times dmesg has the reseed line.
  1. `hearth run --api-sock`: the driver is bound to VMGENCTR:00, the crng
     is ready, the ID is neither zeros nor all-ones and the same in every
     line, no fork is logged. PATCH /vm Paused, Resumed: the same ID, no
     fork. Paused again, a Full snapshot/create.
  2. Three restores of that one snapshot, the first two at once: `hearth
     restore` (resumed at start), `hearth serve` + PUT /snapshot/load
     {resume_vm: true}, and `hearth restore --api-sock` (left paused: no
     line while paused, then PATCH /vm Resumed). Each guest goes on
     counting from the snapshot (no second boot), logs the reseed line
     once (forks=1) and reads an ID that is neither the snapshot's VM's nor
     another restore's. Restore 1 is then paused and resumed: the same ID,
     still one fork.
  3. The fork (docs/api.md "Fork and reset"): the original has a scratch
     disk (the guest writes "DISK <its ID>" to it on every line) and
     --fork-dir; once snapshotted, PUT /fork makes three clones of it,
     each with its own disk image; the original stays paused and is
     ended, the clones run on. Each clone counts on from the fork, logs
     the reseed line, reads a generation of its own (not the original's,
     a sibling's or a restore's) and writes it to its own disk; the
     original's disk holds only its own ID. PUT /reset on clone 0 takes it
     back to the fork point (its count restarts there) and tells it: a new
     generation, and one reseed in the log it went back to.
  4. Identity: a template started from a config file (`hearth serve
     --config-file`, --fork-dir) with a TAP NIC that serves the MMDS (V1),
     forked into three clones, each with its own TAP and, in the fork
     request's `mmds`, its own MAC and address. Each clone's guest, once
     its RNG hears of the fork, reads them from its MMDS store and takes
     them (as a clone's orchestrator has it do); L1 then pings each clone
     at its address through its own TAP and finds it at its own MAC.
  Beside it, in the same L1 boot, live migration (tests/lab/migrate_plan.py):
  a guest moved idle and under a dirtier between Hearth processes, its
  counters and TAP NIC going on; a destination and a source killed
  mid-stream.

Prints one line per check and `N passed, N failed`.  Exit 0 all passed, 1 a
check failed, 3 lab failure (tests/lab/README.md).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402
import migrate_plan as MP  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_TIMEOUT = 900
L2_KERNEL = "/lab/l2/vmlinuz-generic"
# The kernel's notices too (loglevel=6, not L2_CONSOLE's 5): its fork line (random.c's
# pr_notice) on the console is half of "no fork is logged in the booted guest", the
# dmesg count on every line the other; at 5 that half could not fail.
CONSOLE_NOTICE = L.L2_CONSOLE.replace("loglevel=5", "loglevel=6")
assert CONSOLE_NOTICE != L.L2_CONSOLE, "lab_plan.L2_CONSOLE no longer says loglevel=5"
CMDLINE = CONSOLE_NOTICE + " reboot=k panic=-1 lab.vmgenid=1"
IDENT_CMDLINE = L.L2_CONSOLE + " reboot=k panic=-1 lab.ident=1"
MEM_MIB = 256
FORK_LINE = "crng reseeded due to virtual machine fork"

# L2, before "LAB ready". lab.ident=1: the identity template's guest (part 4). Its eth0
# answers at 169.254.0.2 for the MMDS; once its RNG has heard of a fork it reads its own MAC
# and address from its MMDS store, as a clone's orchestrator gives them, and takes them.
IDENT_SCRIPT = r'''
if grep -q lab.ident=1 /proc/cmdline; then
  # As test_mmds.py: eth0 once it is there, an address of its own, the MMDS routed to it.
  ip link set lo up
  i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  ip addr add 172.16.9.2/24 dev eth0 && ip link set eth0 up &&
    ip route add 169.254.169.254 dev eth0 && echo "LAB net=up"
  head -c 1 /dev/random >/dev/null && echo "LAB crng=ready"
  mmds() { # PATH: the MMDS's answer's body (V1: no token)
    printf 'GET %s HTTP/1.0\r\nHost: 169.254.169.254\r\n\r\n' "$1" |
      timeout 10 nc -w 5 169.254.169.254 80 2>/tmp/werr | tr -d '\r' >/tmp/mr
    head -n 1 /tmp/mr | grep -q ' 200' && sed '1,/^$/d' /tmp/mr
  }
  (i=0; done=0; tries=0; while :; do
     f=$(dmesg | grep -c '@FORK@')
     if [ "$f" -gt "$done" ]; then
       # busybox nc, as test_mmds.py asks (its static wget crashed here, writing to stdout).
       mac=$(mmds /clone/mac); addr=$(mmds /clone/addr)
       if [ -n "$mac" ] && [ -n "$addr" ]; then
         ip link set eth0 down; ip link set eth0 address "$mac"
         ip addr add "$addr/24" dev eth0; ip link set eth0 up
         ip route add 169.254.169.254 dev eth0 2>/dev/null
         echo "LAB ident mac=$(cat /sys/class/net/eth0/address) addr=$addr"
         done=$f
       elif [ $tries -lt 3 ]; then
         tries=$((tries+1))
         echo "LAB identfail mac=$mac addr=$addr $(tr '\n' ' ' </tmp/werr) $(head -c 200 /tmp/mr | tr '\n' ' ')"
       fi
     fi
     echo "LAB tick $i forks=$f"; i=$((i+1)); sleep 0.2
   done) &
  sleep 100000
fi
'''

# L2, before "LAB ready": the facts, then the line every 200 ms forever.
L2_SCRIPT = r'''
grep -q lab.vmgenid=1 /proc/cmdline || exit 0
# The crng ready (a blocking read waits for it), so a fork is logged: random.c reseeds
# and says so only once the crng is up.
head -c 1 /dev/random >/dev/null && echo "LAB crng=ready"
echo "LAB vgacpi=$(ls /sys/bus/acpi/devices 2>/dev/null | grep VMGENCTR | tr '\n' ' ')"
# Bound: before 6.10 as an ACPI driver, from 6.10 as a platform one.
echo "LAB vgbound=$(ls /sys/bus/acpi/drivers/vmgenid /sys/bus/platform/drivers/vmgenid 2>/dev/null | grep -c VMGENCTR)"
echo "LAB vgerr=$(/bin/vmgenid_read 2>&1 >/dev/null)"
(i=0; while :; do
   id=$(/bin/vmgenid_read 2>/dev/null)
   echo "LAB gen $i id=$id forks=$(dmesg | grep -c '@FORK@')"
   # Its disk, when it has one (the fork's clones each their own): the ID it reads now.
   [ -b /dev/vda ] && echo "DISK $id" | dd of=/dev/vda bs=512 count=1 conv=sync,fsync 2>/dev/null
   i=$((i+1)); sleep 0.2
 done) &
sleep 100000
'''

SCRIPT = L.SH_LINES + L.SH_API_AT + r'''
H=/lab/bin/hearth
lastgen() { wholelines "$1" | grep '^LAB gen ' | tail -n 1; }
gencount() { lastgen "$1" | awk '{print $3}'; }
mkdir -p /tmp/s /tmp/r1 /tmp/r2 /tmp/r3 /tmp/fd
for f in /tmp/t0.img /tmp/r1.img /tmp/r2.img /tmp/r3.img /tmp/fd/d0.img /tmp/fd/d1.img /tmp/fd/d2.img; do
  dd if=/dev/zero of=$f bs=1024 count=1024 2>/dev/null
done
LOAD='{"snapshot_path": "/tmp/s/vm.snap", "mem_backend": {"backend_type": "File", "backend_path": "/tmp/s/vm.mem"}, "resume_vm": true, "drive_overrides": [{"drive_id": "scratch", "path_on_host": "/tmp/r2.img", "is_read_only": false}]}'
FORK='{"count": 3, "clone": {"api_sock": "c{i}.sock", "serial_out": "c{i}.out", "drive_overrides": [{"drive_id": "scratch", "path_on_host": "d{i}.img", "is_read_only": false}]}}'
disk() { head -c 64 "$1" | tr -d '\000\n' | tr -c 'A-Za-z0-9 ' '.'; }

# 1. the original
cd /tmp
$H run --kernel @KERNEL@ --initrd @L2_INITRD@ --cmdline "@CMDLINE@" --cpus 1 --memory @MEM@ \
  --disk path=/tmp/t0.img,id=scratch --api-sock /tmp/a0.sock --snapshot-dir /tmp/s \
  --fork-dir /tmp/fd </dev/null >/tmp/g0.out 2>/tmp/h0.err & hp=$!
waitsock /tmp/a0.sock
waitfor '^LAB gen 10 ' /tmp/g0.out 3000 && echo "VG counting=yes"
echo "VG pause0=$(api /tmp/a0.sock PATCH /vm '{"state": "Paused"}')"
sleep 1
echo "VG resume0=$(api /tmp/a0.sock PATCH /vm '{"state": "Resumed"}')"
b=$(gencount /tmp/g0.out)
waitfor "^LAB gen $((b + 10)) " /tmp/g0.out 1200 && echo "VG counting_after_resume=yes"
echo "VG pause=$(api /tmp/a0.sock PATCH /vm '{"state": "Paused"}')"
sleep 1
echo "VG before=$(lastgen /tmp/g0.out)"
echo "VG create=$(api /tmp/a0.sock PUT /snapshot/create '{"snapshot_type": "Full", "snapshot_path": "/tmp/s/vm.snap", "mem_file_path": "/tmp/s/vm.mem"}') $(cat /tmp/resp)"
# The fork: three clones of the paused original, which stays paused, then ends; they run on.
echo "VG fork=$(api /tmp/a0.sock PUT /fork "$FORK") $(cat /tmp/resp)"
cp /tmp/resp /tmp/forkresp
kill -TERM $hp; wait $hp; echo "VG r0_exit=$?"
for i in 0 1 2; do
  waitfor "forks=1" /tmp/fd/c$i.out 1800 && echo "VG c${i}_forked=yes"
done

# 2. three restores of the one snapshot: two at once, then one left paused
cd /tmp/r1; $H restore --snapshot /tmp/s/vm.snap --mem /tmp/s/vm.mem --api-sock /tmp/a1.sock --resume \
  --drive-override scratch=rw:/tmp/r1.img \
  </dev/null >/tmp/g1.out 2>/tmp/h1.err & p1=$!
cd /tmp/r2; $H serve --api-sock /tmp/a2.sock </dev/null >/tmp/g2.out 2>/tmp/h2.err & p2=$!
cd /tmp
waitsock /tmp/a2.sock
echo "VG load2=$(api /tmp/a2.sock PUT /snapshot/load "$LOAD") $(cat /tmp/resp)"
b=$(gencount /tmp/g0.out)
for g in 1 2; do
  waitfor "^LAB gen $((b + 10)) " /tmp/g$g.out 1800 && echo "VG r${g}_counting=yes"
  waitfor "forks=1" /tmp/g$g.out 600 && echo "VG r${g}_forked=yes"
done
cd /tmp/r3; $H restore --snapshot /tmp/s/vm.snap --mem /tmp/s/vm.mem --api-sock /tmp/a3.sock \
  --drive-override scratch=rw:/tmp/r3.img \
  </dev/null >/tmp/g3.out 2>/tmp/h3.err & p3=$!
cd /tmp
waitsock /tmp/a3.sock
sleep 3
echo "VG r3_paused_lines=$(tr -d '\r' </tmp/g3.out | grep -c '^LAB gen ')"
echo "VG r3_info=$(api /tmp/a3.sock GET /) $(cat /tmp/resp)"
echo "VG r3_resume=$(api /tmp/a3.sock PATCH /vm '{"state": "Resumed"}')"
waitfor "^LAB gen $((b + 10)) " /tmp/g3.out 1800 && echo "VG r3_counting=yes"
waitfor "forks=1" /tmp/g3.out 600 && echo "VG r3_forked=yes"
# Restore 1 paused and resumed: nothing new for its RNG.
echo "VG r1_pause=$(api /tmp/a1.sock PATCH /vm '{"state": "Paused"}')"
sleep 1
echo "VG r1_resume=$(api /tmp/a1.sock PATCH /vm '{"state": "Resumed"}')"
c=$(gencount /tmp/g1.out)
waitfor "^LAB gen $((c + 10)) " /tmp/g1.out 1200 && echo "VG r1_counting_after_resume=yes"
kill -TERM $p1 $p2 $p3; wait $p1; wait $p2; wait $p3

# 3. a reset of clone 0: back to the fork point, told of a new generation
echo "VG c0_before_reset=$(lastgen /tmp/fd/c0.out)"
n=$(wholelines /tmp/fd/c0.out | grep -c '^LAB gen ')
echo "VG reset0=$(api /tmp/fd/c0.sock PUT /reset '{}') $(cat /tmp/resp)"
k=0; while [ $(wholelines /tmp/fd/c0.out | grep -c '^LAB gen ') -lt $((n + 15)) ] && [ $k -lt 1200 ]; do
  k=$((k+1)); sleep 0.1
done
# The three lines after those counted: one written as the reset was on its way may lead.
echo "VG c0_after_reset=$(wholelines /tmp/fd/c0.out | grep '^LAB gen ' | sed -n "$((n + 1)),$((n + 3))p" | tr '\n' '|')"
echo "VG c0_last=$(lastgen /tmp/fd/c0.out)"
for i in 0 1 2; do echo "VG c${i}_disk=$(disk /tmp/fd/d$i.img)"; done
for g in 0 1 2 3; do echo "VG r${g}_disk=$(disk /tmp/$([ $g = 0 ] && echo t0 || echo r$g).img)"; done
for i in 0 1 2; do
  wholelines /tmp/fd/c$i.out | grep -a "^LAB gen \|@FORK@" | sed "s/^/C$i /"
done
kill $(grep -o '"pid":[0-9]*' /tmp/forkresp | cut -d: -f2) 2>/dev/null

for g in 0 1 2 3; do
  wholelines /tmp/g$g.out | grep -a "^LAB \(init\|crng\|vg\|gen\)\|@FORK@\|vmgenid" | sed "s/^/G$g /"
  sed "s/^/H$g /" /tmp/h$g.err | head -n 20
done

# 4. identity: a template with a TAP NIC that serves the MMDS (a config file), forked into
# three clones, each given its MAC and address in its own MMDS store and its own TAP.
mkdir -p /tmp/fi
cat >/tmp/ident.json <<EOF
{"boot-source": {"kernel_image_path": "@KERNEL@", "initrd_path": "@L2_INITRD@",
                 "boot_args": "@ICMDLINE@"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": @MEM@},
 "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "ft0",
                         "guest_mac": "06:00:0a:09:09:02"}],
 "mmds-config": {"network_interfaces": ["eth0"], "version": "V1"}}
EOF
cd /tmp/fi
$H serve --api-sock /tmp/ai.sock --config-file /tmp/ident.json --fork-dir /tmp/fi --fork-taps fi \
  </dev/null >/tmp/gi.out 2>/tmp/hi.err & pi=$!
cd /tmp
waitsock /tmp/ai.sock
waitfor '^LAB tick 10 ' /tmp/gi.out 3000 && echo "VG i_counting=yes"
IFORK='{"count": 3, "template": "Paused", "clone": {"api_sock": "i{i}.sock", "serial_out": "i{i}.out", "network_overrides": [{"iface_id": "eth0", "host_dev_name": "fi{i}"}], "mmds": {"clone": {"mac": "06:00:0a:09:0{i}:02", "addr": "10.9.{i}.2"}}}}'
echo "VG ifork=$(api /tmp/ai.sock PUT /fork "$IFORK") $(cat /tmp/resp)"
cp /tmp/resp /tmp/iforkresp
kill -TERM $pi; wait $pi
for i in 0 1 2; do
  waitfor '^LAB ident ' /tmp/fi/i$i.out 600
  echo "VG i${i}_ident=$(wholelines /tmp/fi/i$i.out | grep '^LAB ident ' | tail -n 1)"
  wholelines /tmp/fi/i$i.out | grep -a '^LAB \(identfail\|net\)' | sed "s/^/I$i /"
  wholelines /tmp/fi/i$i.out | tail -n 2 | sed "s/^/I$i last: /"
  ip addr add 10.9.$i.1/24 dev fi$i && ip link set fi$i up
  if ping -c 2 -W 3 10.9.$i.2 >/tmp/ping.out 2>&1; then echo "VG i${i}_ping=ok"
  else echo "VG i${i}_ping=fail $(tr '\n' ' ' </tmp/ping.out)"; fi
  echo "VG i${i}_neigh=$(ip neigh show 10.9.$i.2 dev fi$i | tr '\n' ' ')"
done
wholelines /tmp/gi.out | grep -a "^LAB \(net\|crng\|ident\)" | sed "s/^/GI /"
sed "s/^/HI /" /tmp/hi.err | head -n 20
for i in 0 1 2; do wholelines /tmp/fi/i$i.out | grep -a "^LAB ident \|@FORK@" | sed "s/^/I$i /"; done
kill $(grep -o '"pid":[0-9]*' /tmp/iforkresp | cut -d: -f2) 2>/dev/null
echo "VG done=yes"
'''


def script():
    return (SCRIPT.replace("@KERNEL@", L2_KERNEL).replace("@CMDLINE@", CMDLINE)
            .replace("@MEM@", str(MEM_MIB)).replace("@FORK@", FORK_LINE)
            .replace("@ICMDLINE@", IDENT_CMDLINE))


def vg_info(r):
    out = {"_r": r}
    for l in r.guest_lines:
        m = re.match(r"^VG (\w+)=(.*)$", l.strip())
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2)
    return out


def guest(r, g, who="G"):
    """Guest g's facts ({key: value} of its LAB key=value lines), its gen lines
    [(n, id, forks)], and its lines naming the fork. who "C": the fork's clone g."""
    facts, gens, forks = {}, [], []
    for l in r.guest_lines:
        l = l.strip()
        if not l.startswith("%s%d " % (who, g)):
            continue
        l = l[len("%s%d " % (who, g)):]
        m = re.match(r"^LAB gen (\d+) id=([0-9a-f]*) forks=(\d+)$", l)
        if m:
            gens.append((int(m.group(1)), m.group(2), int(m.group(3))))
            continue
        m = re.match(r"^LAB (\w+)=(.*)$", l)
        if m:
            facts.setdefault(m.group(1), m.group(2).strip())
        if FORK_LINE in l:
            forks.append(l)
    return facts, gens, forks


def checks(r):
    a = vg_info(r)
    st = lambda k: (a.get(k) or "").split(" ")[0]  # noqa: E731
    f0, g0, k0 = guest(r, 0)
    yield a.get("counting") == "yes", "the generic kernel's guest counts on its serial line"
    yield f0.get("crng") == "ready", "its crng is ready before the snapshot (%s)" % f0.get("crng")
    yield "VMGENCTR" in f0.get("vgacpi", ""), \
        "ACPI enumerates VGEN by its _HID VMGENCTR (%r)" % f0.get("vgacpi")
    yield f0.get("vgbound") == "1", \
        "Linux's vmgenid driver is bound to it (%r; 0 with an ID it does not match)" % f0.get("vgbound")
    ids0 = {i for _, i, _ in g0}
    booted = g0[-1][1] if g0 else ""
    yield len(g0) > 10 and len(ids0) == 1 and len(booted) == 32 and \
        booted not in ("0" * 32, "f" * 32), \
        "the booted guest reads one generation, 16 bytes neither zeros nor all-ones, in " \
        "every line (%s; helper: %r)" % (sorted(ids0), f0.get("vgerr"))
    yield bool(g0) and all(f == 0 for _, _, f in g0) and not k0, \
        "no fork is logged in the booted guest, across its pause and resume (%s)" % k0
    yield st("pause0") == "204" and st("resume0") == "204" and \
        a.get("counting_after_resume") == "yes", \
        "PATCH /vm Paused and Resumed: 204, 204, and it counts on (%s %s)" % (
            a.get("pause0"), a.get("resume0"))
    yield st("create") == "204", "Full snapshot/create is 204 (got %s)" % a.get("create")
    yield st("load2") == "204", "PUT /snapshot/load (resume_vm) is 204 (got %s)" % a.get("load2")
    m = re.match(r"LAB gen (\d+) ", a.get("before", ""))
    before = int(m.group(1)) if m else None
    ids = {}
    for g, how in ((1, "hearth restore"), (2, "serve + snapshot/load"),
                   (3, "hearth restore left paused, then resumed")):
        n = "restore %d (%s)" % (g, how)
        f, gens, forks = guest(r, g)
        yield a.get("r%d_counting" % g) == "yes" and "init" not in f, \
            "%s: the guest counts on from the snapshot, no second boot" % n
        if before is not None and gens:
            yield before < gens[0][0] <= before + 2, \
                "%s: its first line continues the count (%d then %d)" % (n, before, gens[0][0])
        yield a.get("r%d_forked" % g) == "yes" and bool(gens) and gens[-1][2] == 1, \
            "%s: dmesg has '%s' once (%s)" % (n, FORK_LINE, gens[-1] if gens else None)
        last = gens[-1][1] if gens else ""
        yield len(last) == 32 and last != booted, \
            "%s: the guest reads a new generation (%s; the snapshot's VM's %s)" % (n, last, booted)
        ids[g] = last
        # What the booted guest's silent console is measured against (not a check: a
        # guest line written at the same moment can split the kernel's on the console).
        print("INFO %s: the kernel's console line: %s" % (n, forks[0] if forks else "none"))
    yield len(set(ids.values())) == 3, \
        "the three restores of one snapshot read three generations (%s)" % ids
    yield a.get("r3_paused_lines") == "0" and '"Paused"' in a.get("r3_info", ""), \
        "restore 3 stays paused until resumed: no line (%s), GET / says Paused (%s)" % (
            a.get("r3_paused_lines"), a.get("r3_info"))
    yield st("r3_resume") == "204", "restore 3: PATCH /vm Resumed is 204 (%s)" % a.get("r3_resume")
    _, g1, _ = guest(r, 1)
    yield st("r1_pause") == "204" and st("r1_resume") == "204" and \
        a.get("r1_counting_after_resume") == "yes" and bool(g1) and g1[-1][2] == 1 and \
        g1[-1][1] == ids.get(1), \
        "restore 1 paused and resumed: it counts on with the same generation and still " \
        "one fork (%s)" % ((g1[-1] if g1 else None),)
    yield from fork_checks(a, before, booted, ids)
    yield from ident_checks(a)
    yield a.get("done") == "yes", "the plan ran to its end"


def gen_line(text):
    m = re.match(r"^LAB gen (\d+) id=([0-9a-f]*) forks=(\d+)$", (text or "").strip())
    return (int(m.group(1)), m.group(2), int(m.group(3))) if m else None


def fork_checks(a, before, booted, restored):
    """PUT /fork of the paused original: three clones, each its own generation and disk; a
    reset of one takes it back to the fork point and tells it again."""
    r, clones = None, {}
    st = (a.get("fork") or "").split(" ", 1)
    try:
        r = json.loads(st[1]) if len(st) > 1 else None
    except ValueError:
        pass
    yield st[0] == "200" and r is not None and len(r.get("clones", [])) == 3, \
        "PUT /fork of the paused original: 200 with three clones (%s)" % a.get("fork")
    for i in range(3):
        n = "clone %d" % i
        f, gens, forks = guest(a["_r"], i, "C")
        clones[i] = gens
        yield a.get("c%d_forked" % i) == "yes" and bool(gens) and gens[0][2] <= 1 and \
            any(g[2] == 1 for g in gens), \
            "%s: dmesg has '%s' (%s)" % (n, FORK_LINE, gens[-1] if gens else None)
        if before is not None and gens:
            yield before < gens[0][0] <= before + 2, \
                "%s: its first line continues the original's count (%d then %d)" % (
                    n, before, gens[0][0])
    # A clone's first line may hold the original's ID: the guest reads the ID, then runs
    # dmesg for the line, and the fork can fall between the two (forks=1 with the old ID).
    # Its second line is read wholly after the fork.
    first = {i: g[1][1] for i, g in clones.items() if len(g) > 1}
    yield len(first) == 3 and len(set(first.values())) == 3 and \
        all(len(x) == 32 and x != booted and x not in restored.values()
            for x in first.values()), \
        "each clone reads a generation of its own from its second line on: not the " \
        "original's, not a sibling's, not a restore's (%s)" % first
    for i in range(3):
        disk = (a.get("c%d_disk" % i) or "").split()
        own = {g[1] for g in clones.get(i, [])}
        others = {g[1] for j, gs in clones.items() if j != i for g in gs}
        yield len(disk) == 2 and disk[0] == "DISK" and disk[1] in own and \
            disk[1] not in others, "clone %d wrote its own disk, d%d.img (%s)" % (
                i, i, a.get("c%d_disk" % i))
    t0 = (a.get("r0_disk") or "").split()
    yield t0 == ["DISK", booted], "the original's disk holds its own ID only (%s)" % t0
    st = (a.get("reset0") or "").split(" ", 1)
    try:
        pages = json.loads(st[1]).get("pages", 0) if len(st) > 1 else 0
    except ValueError:
        pages = 0
    yield st[0] == "200" and pages > 0, "PUT /reset on clone 0: 200, pages taken back (%s)" % (
        a.get("reset0"),)
    afters = [gen_line(x) for x in (a.get("c0_after_reset") or "").split("|") if x.strip()]
    last = gen_line(a.get("c0_last"))
    fork_n = clones[0][0][0] if clones.get(0) else None
    back = [k for k, x in enumerate(afters) if x and fork_n is not None and x[0] <= fork_n + 2]
    # The one line that may lead: written whole as the reset was on its way, or cut by it
    # (the guest, back at its fork point, ends the line it was writing there: unparseable).
    yield bool(back) and back[0] <= 1 and \
        all(x is None or x[0] > fork_n + 2 for x in afters[:back[0]]), \
        "the reset clone counts on from its fork point: the lines after the reset %s (one " \
        "written or cut as the reset was on its way may lead), its first after the fork %s" % (
            [x and x[0] for x in afters], fork_n)
    yield last is not None and last[2] == 1 and last[1] not in (first.get(0), booted) and \
        len(last[1]) == 32, \
        "the reset clone is told: a new generation (%s; its fork's %s), and its RNG " \
        "reseeds once from the fork point's log (forks=%s)" % (
            last and last[1], first.get(0), last and last[2])


def ident_checks(a):
    """Part 4: each clone of the MMDS template takes the MAC and address its own MMDS store
    gives it, and L1 reaches it there, through its own TAP, at that MAC."""
    st = (a.get("ifork") or "").split(" ", 1)
    yield a.get("i_counting") == "yes" and st[0] == "200", \
        "the identity template (a TAP NIC serving the MMDS) runs and forks: 200 (%s)" % (
            a.get("ifork"),)
    macs = set()
    for i in range(3):
        mac, addr = "06:00:0a:09:0%d:02" % i, "10.9.%d.2" % i
        ident = a.get("i%d_ident" % i) or ""
        yield ident == "LAB ident mac=%s addr=%s" % (mac, addr), \
            "clone %d reads its own MAC and address from its MMDS store and takes them (%r)" % (
                i, ident)
        neigh = (a.get("i%d_neigh" % i) or "").lower()
        ping = a.get("i%d_ping" % i)
        # No line at all: show what the console carried near it.
        seen = "" if ping is not None else " lines: %r" % [
            l for l in a["_r"].guest_lines if ("i%d_" % i) in l or ("I%d " % i) in l][-6:]
        yield ping == "ok" and ("lladdr %s" % mac) in neigh, \
            "L1 pings clone %d at %s through its own TAP fi%d, answered from %s (%s; %s)%s" % (
                i, addr, i, mac, ping, neigh.strip(), seen)
        m = re.search(r"mac=(\S+)", ident)
        if m:
            macs.add(m.group(1))
    yield len(macs) == 3, "the three clones have three MACs (%s)" % sorted(macs)


def helper():
    """tests/lab/vmgenid_read.c, static, into this lab run's directory."""
    out = os.path.join(L.work_dir(), "vmgenid_read")
    cc = shutil.which("gcc") or "cc"
    subprocess.run([cc, "-static", "-O2", "-Wall", "-o", out,
                    os.path.join(HERE, "vmgenid_read.c")], check=True)
    return out


def vmgenid_built_in(kernel):
    """'y', 'm' or None: CONFIG_VMGENID in the package's boot/config-VERSION."""
    path = os.path.join(kernel.root, "boot", "config-" + kernel.version)
    try:
        with open(path) as f:
            m = re.search(r"^CONFIG_VMGENID=(\w)", f.read(), re.M)
    except OSError:
        return None
    return m.group(1) if m else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    ap.add_argument("--only", choices=("vmgenid", "migrate"),
                    help="one of the two runs (the whole test runs both)")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    tools = {"/bin/curl": shutil.which("curl")}
    missing = [k for k, v in tools.items() if not v]
    if missing:
        print("FAIL %s not installed (scripts/deps.sh build installs them)" % missing)
        print("0 passed, 1 failed")
        return 1
    try:
        lab = L.Lab(stream=a.stream or None)
        generic = L.get_kernel(L.KERNEL_META_GENERIC)
        built = vmgenid_built_in(generic)
        if built != "y":
            print("FAIL %s has CONFIG_VMGENID=%s, not built in: no driver to test" % (
                generic.version, built))
            print("0 passed, 1 failed")
            return 1
        l2 = L.build_l2_initrd(generic, name="l2vmgenid",
                               modules=["virtio_mmio", "virtio_blk", "virtio_net"],
                               files={"/bin/vmgenid_read": helper()},
                               extra_sh=(IDENT_SCRIPT + L2_SCRIPT).replace("@FORK@", FORK_LINE))
        run = L.ShellRun("vmgenid", "hearth", script(), timeout=RUN_TIMEOUT)
        run.initrd = l2
        mig = L.ShellRun("migrate", "hearth", MP.script(L2_KERNEL), timeout=MP.TIMEOUT)
        mig.initrd = L.build_l2_initrd(
            generic, name="l2mig", modules=["virtio_mmio", "virtio_blk", "virtio_net"],
            files={"/bin/vmgenid_read": helper()}, extra_sh=MP.l2_script(FORK_LINE))
        # The migrate run's TAPs sit on a bridge in L1.
        runs = [x for x in (run, mig) if a.only in (None, x.name)]
        res = lab.run_plan(runs, tag="vmgenid", binaries=tools,
                           files={L2_KERNEL: generic.vmlinuz},
                           l1_extra=L.L1Extra(modules=[("tun", ""), ("bridge", "")]))
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    return L.report(res, [x for x in (("vmgenid", checks), ("migrate", MP.checks))
                          if a.only in (None, x[0])], tail=80)


if __name__ == "__main__":
    sys.exit(main())
