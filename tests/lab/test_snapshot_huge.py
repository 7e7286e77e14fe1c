#!/usr/bin/env python3
"""Lab test of huge_pages "2M" (issue 17: "a 2M-huge-page guest boots and
restores") and of PUT /snapshot/load's clock_realtime, in ONE L1 boot.

    tests/lab/test_snapshot_huge.py [--hearth PATH] [--stream]

  L1 sizes its 2 MiB pool (/proc/sys/vm/nr_hugepages). The stock kernel,
  with a counter on its serial line (`LAB count N up=UPTIME` every 100 ms),
  is booted through `hearth serve` and the API with huge_pages "2M":
  its RAM is 2 MiB-page mappings (smaps) and the pool's available pages
  drop by RAM / 2 MiB at once. Paused, snapshotted (Full), Hearth ended:
  the pool is whole again.
  1. PUT /snapshot/load {track_dirty_pages} on a fresh `hearth serve`,
     then resumed: the guest counts on from where it stopped (no second
     boot), in 2 MiB pages again, GET /vm/config says "2M". Dirty tracking
     over huge pages: a Full base, a Diff a little later (far smaller
     than RAM), merged onto the base and restored, counts on from the
     diff's moment.
  2. `hearth restore --resume --clock-realtime`: the guest counts on, and
     its uptime has moved on by at least the real time L1 spent between
     the snapshot and this restore (kvmclock advanced by KVM_CLOCK_REALTIME);
     or, where L1's KVM gave no real time to save, the restore is refused
     in words that say so.
  3. A pool too small: InstanceStart is a 400 naming nr_hugepages.

Prints one line per check and `N passed, N failed`. Exit 0 all passed, 1 a
check failed, 3 lab failure (tests/lab/README.md).
"""
import argparse
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402

RUN_TIMEOUT = 600
L1_INITRD = "/lab/l2/initrd0.cpio"
CMDLINE = L.L2_CONSOLE + " reboot=k panic=-1 lab.huge=1"
MEM_MIB = 128
PAGES = MEM_MIB // 2

L2_SCRIPT = r'''
grep -q lab.huge=1 /proc/cmdline || exit 0
(i=0; while :; do
   read up _ </proc/uptime
   echo "LAB count $i up=$up"
   i=$((i+1)); sleep 0.1
 done) &
sleep 100000
'''

SCRIPT = L.SH_LINES + r'''
H=/lab/bin/hearth
HP=/sys/kernel/mm/hugepages/hugepages-2048kB
api() { # SOCK METHOD PATH [BODY]: the HTTP status; the body is in /tmp/resp
  if [ -n "$4" ]; then
    curl -s -o /tmp/resp -w '%{http_code}' --unix-socket $1 -X "$2" \
      -H 'Content-Type: application/json' -d "$4" "http://localhost$3"
  else
    curl -s -o /tmp/resp -w '%{http_code}' --unix-socket $1 -X "$2" "http://localhost$3"
  fi
}
waitfor() { # PATTERN FILE TENTHS
  n=0; while ! tr -d '\r' <"$2" 2>/dev/null | grep -q "$1"; do
    n=$((n+1)); [ $n -ge "$3" ] && return 1; sleep 0.1
  done
}
''' + L.SH_WAITSOCK + r'''# Pages a new mapping could reserve: free less reserved, from one read of meminfo.
avail() { awk '/^HugePages_Free:/ {f=$2} /^HugePages_Rsvd:/ {r=$2} END {print f-r}' /proc/meminfo; }
waitrun() { # PID PATTERN FILE TENTHS: waitfor, but only while PID lives
  n=0; while ! tr -d '\r' <"$3" 2>/dev/null | grep -q "$2"; do
    kill -0 $1 2>/dev/null || return 1
    n=$((n+1)); [ $n -ge "$4" ] && return 1; sleep 0.1
  done
}
hugemaps() { awk '/^Size:/ {s=$2} /^KernelPageSize: *2048 kB/ {t+=s} END {print t+0}' /proc/$1/smaps; }
l1up() { read u _ </proc/uptime; echo $u; }
mkdir -p /tmp/s
echo @POOL@ >/proc/sys/vm/nr_hugepages
echo "HUGE pool=$(cat /proc/sys/vm/nr_hugepages) avail0=$(avail)"
BOOT='{"kernel_image_path": "@KERNEL@", "initrd_path": "@INITRD@", "boot_args": "@CMDLINE@"}'
MC='{"vcpu_count": 2, "mem_size_mib": @MEM@, "huge_pages": "2M"}'

$H serve --api-sock /tmp/a0.sock --snapshot-dir /tmp/s </dev/null >/tmp/g0.out 2>/tmp/h0.err & hp=$!
waitsock /tmp/a0.sock
echo "HUGE mc=$(api /tmp/a0.sock PUT /machine-config "$MC") $(cat /tmp/resp)"
echo "HUGE bs=$(api /tmp/a0.sock PUT /boot-source "$BOOT") $(cat /tmp/resp)"
echo "HUGE start=$(api /tmp/a0.sock PUT /actions '{"action_type": "InstanceStart"}') $(cat /tmp/resp)"
echo "HUGE maps0=$(hugemaps $hp)"
echo "HUGE getmc=$(api /tmp/a0.sock GET /machine-config) $(cat /tmp/resp)"
waitfor '^LAB count 30 ' /tmp/g0.out 3000 && echo "HUGE counting=yes"
echo "HUGE pause=$(api /tmp/a0.sock PATCH /vm '{"state": "Paused"}')"
sleep 1
# Paused: nothing faults pages in while the pool is read (free and reserved move together
# when a page is touched, but not in one instant).
echo "HUGE avail_booted=$(avail)"
echo "HUGE before=$(lastline /tmp/g0.out)"
echo "HUGE create=$(api /tmp/a0.sock PUT /snapshot/create '{"snapshot_path": "/tmp/s/vm.snap", "mem_file_path": "/tmp/s/vm.mem"}') $(cat /tmp/resp)"
t0=$(l1up)
kill -TERM $hp; wait $hp; echo "HUGE exit0=$?"
echo "HUGE avail_after=$(avail)"
sed "s/^/H0 /" /tmp/h0.err | head -n 10

# 1. the API's load
$H serve --api-sock /tmp/a1.sock --snapshot-dir /tmp/s </dev/null >/tmp/g1.out 2>/tmp/h1.err & p1=$!
waitsock /tmp/a1.sock
echo "HUGE load=$(api /tmp/a1.sock PUT /snapshot/load '{"snapshot_path": "/tmp/s/vm.snap", "mem_backend": {"backend_type": "File", "backend_path": "/tmp/s/vm.mem"}, "track_dirty_pages": true}') $(cat /tmp/resp)"
echo "HUGE maps1=$(hugemaps $p1) avail1=$(avail)"
echo "HUGE vmconfig=$(api /tmp/a1.sock GET /vm/config) $(tr -d '\n ' </tmp/resp | grep -o '"huge_pages":"[^"]*"')"
echo "HUGE resume1=$(api /tmp/a1.sock PATCH /vm '{"state": "Resumed"}')"
b=$(lastcount /tmp/g0.out)
waitrun $p1 "^LAB count $((b + 30)) " /tmp/g1.out 1800 && echo "HUGE r1_counting=yes"
# Dirty tracking over huge pages: a Full base, the guest runs on, a Diff, merged onto a
# copy of the base, restored (in huge pages again) from the diff's moment.
$H snapshot --api-sock /tmp/a1.sock --snapshot /tmp/s/f.snap --mem /tmp/s/f.mem --resume 2>/tmp/sn.err
echo "HUGE base=$? $(cat /tmp/sn.err)"
b=$(lastcount /tmp/g1.out)
waitrun $p1 "^LAB count $((b + 20)) " /tmp/g1.out 1800
$H snapshot --api-sock /tmp/a1.sock --snapshot /tmp/s/d.snap --mem /tmp/s/d.mem --diff 2>/tmp/sn.err
echo "HUGE diff=$? $(cat /tmp/sn.err)"
sleep 1
echo "HUGE diff_before=$(lastline /tmp/g1.out)"
echo "HUGE diff_kb=$(du -k /tmp/s/d.mem | cut -f1)"
kill -TERM $p1; wait $p1; echo "HUGE r1_exit=$?"
cp /tmp/s/f.mem /tmp/s/m.mem
$H snapshot-merge --base /tmp/s/m.mem --diff /tmp/s/d.mem 2>/tmp/mg.err; echo "HUGE merge=$? $(cat /tmp/mg.err)"
$H restore --snapshot /tmp/s/d.snap --mem /tmp/s/m.mem --resume </dev/null >/tmp/g3.out 2>/tmp/h3r.err & p4=$!
b=$(lastcount /tmp/g1.out)
waitrun $p4 "^LAB count $((b + 20)) " /tmp/g3.out 1800 && echo "HUGE r3_counting=yes"
echo "HUGE maps3=$(hugemaps $p4)"
kill -TERM $p4; wait $p4; echo "HUGE r3_exit=$?"
echo "HUGE r3_inits=$(tr -d '\r' </tmp/g3.out | grep -c 'LAB init')"
tr -d '\r' </tmp/g3.out | grep '^LAB count' | head -n 1 | sed 's/^/G3 /'
sed "s/^/H3 /" /tmp/h3r.err | head -n 10
echo "HUGE r1_inits=$(tr -d '\r' </tmp/g1.out | grep -c 'LAB init')"
tr -d '\r' </tmp/g1.out | grep '^LAB count' | head -n 1 | sed 's/^/G1 /'
sed "s/^/H1 /" /tmp/h1.err | head -n 10

# 2. clock_realtime, after a pause long enough to see
sleep 15
t1=$(l1up)
echo "HUGE l1_elapsed=$t0 $t1"
$H restore --snapshot /tmp/s/vm.snap --mem /tmp/s/vm.mem --resume --clock-realtime \
  </dev/null >/tmp/g2.out 2>/tmp/h2.err & p2=$!
b=$(lastcount /tmp/g0.out)
if waitrun $p2 "^LAB count $((b + 30)) " /tmp/g2.out 1800; then
  echo "HUGE r2_counting=yes"
  kill -TERM $p2; wait $p2; echo "HUGE r2_exit=$?"
else
  kill -0 $p2 2>/dev/null && kill -TERM $p2; wait $p2; echo "HUGE r2_exit=$? $(tail -n 1 /tmp/h2.err)"
fi
tr -d '\r' </tmp/g2.out | grep '^LAB count' | head -n 1 | sed 's/^/G2 /'
sed "s/^/H2 /" /tmp/h2.err | head -n 10

# 3. a pool too small
echo 4 >/proc/sys/vm/nr_hugepages
$H serve --api-sock /tmp/a3.sock </dev/null >/dev/null 2>/tmp/h3.err & p3=$!
waitsock /tmp/a3.sock
api /tmp/a3.sock PUT /machine-config "$MC" >/dev/null
api /tmp/a3.sock PUT /boot-source "$BOOT" >/dev/null
echo "HUGE nofree=$(api /tmp/a3.sock PUT /actions '{"action_type": "InstanceStart"}') $(cat /tmp/resp)"
kill -TERM $p3; wait $p3
echo "HUGE done=yes"
'''


def script():
    return (SCRIPT.replace("@KERNEL@", L.L1_KERNEL).replace("@INITRD@", L1_INITRD)
            .replace("@CMDLINE@", CMDLINE).replace("@MEM@", str(MEM_MIB))
            .replace("@POOL@", str(PAGES + 16)))


def info(r):
    out = {}
    for l in r.guest_lines:
        m = re.match(r"^HUGE (\w+)=(.*)$", l.strip())
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2)
    return out


def first_count(r, prefix):
    for l in r.guest_lines:
        m = re.match(r"^%s LAB count (\d+) up=([\d.]+)" % prefix, l.strip())
        if m:
            return int(m.group(1)), float(m.group(2))
    return None


def checks(r):
    a = info(r)
    st = lambda k: (a.get(k) or "").split(" ")[0]  # noqa: E731
    num = lambda k: int(st(k)) if st(k).lstrip("-").isdigit() else None  # noqa: E731
    m = re.match(r"(\d+) avail0=(\d+)", a.get("pool", ""))
    avail0 = int(m.group(2)) if m else None
    yield avail0 is not None and avail0 >= PAGES, "L1's pool has room for %d pages (%s)" % (
        PAGES, a.get("pool"))
    yield st("mc") == "204", "PUT /machine-config huge_pages 2M is 204 (got %s)" % a.get("mc")
    yield st("start") == "204", "InstanceStart is 204 (got %s)" % a.get("start")
    yield avail0 is not None and num("avail_booted") == avail0 - PAGES, \
        "the pool lost exactly %d pages to the VM, all reserved at once (%s then %s)" % (
            PAGES, avail0, a.get("avail_booted"))
    yield num("maps0") == MEM_MIB * 1024, \
        "Hearth's RAM is %d KiB of 2 MiB-page mappings (smaps: %s)" % (MEM_MIB * 1024, a.get("maps0"))
    yield '"huge_pages":"2M"' in a.get("getmc", "").replace(" ", ""), \
        "GET /machine-config says huge_pages 2M (%s)" % a.get("getmc")
    yield a.get("counting") == "yes", "the stock kernel boots and counts in huge pages"
    yield st("create") == "204", "Full snapshot/create is 204 (got %s)" % a.get("create")
    yield avail0 is not None and num("avail_after") == avail0, \
        "the pool is whole again after Hearth exits (%s)" % a.get("avail_after")
    mb = re.match(r"LAB count (\d+) up=([\d.]+)", a.get("before", ""))
    before = (int(mb.group(1)), float(mb.group(2))) if mb else None
    yield st("load") == "204", "PUT /snapshot/load (track_dirty_pages) is 204 (got %s)" % a.get("load")
    yield st("resume1") == "204", "PATCH /vm Resumed after the load is 204 (got %s)" % a.get("resume1")
    m = re.match(r"(\d+) avail1=(\d+)", a.get("maps1", ""))
    yield m is not None and int(m.group(1)) == MEM_MIB * 1024 and avail0 is not None and \
        int(m.group(2)) == avail0 - PAGES, \
        "the restored RAM is in 2 MiB pages again, %d of them (%s)" % (PAGES, a.get("maps1"))
    yield '"huge_pages":"2M"' in a.get("vmconfig", ""), \
        "the restored GET /vm/config says huge_pages 2M (%s)" % a.get("vmconfig")
    c1 = first_count(r, "G1")
    yield a.get("r1_counting") == "yes" and a.get("r1_inits") == "0", \
        "restore 1: the guest counts on without booting again"
    yield before is not None and c1 is not None and before[0] < c1[0] <= before[0] + 2, \
        "restore 1: the count continues from the snapshot (%s then %s)" % (before, c1)
    yield st("r1_exit") == "3", "restore 1: SIGTERM ends it with exit 3 (got %s)" % a.get("r1_exit")
    yield st("base") == "0", "hearth snapshot (Full) of restore 1 exits 0 (got %s)" % a.get("base")
    yield st("diff") == "0", "hearth snapshot --diff exits 0 (got %s)" % a.get("diff")
    dk = num("diff_kb")
    if dk is not None:
        print("INFO diff memory file: %d KiB on disk (RAM %d KiB)" % (dk, MEM_MIB * 1024))
    yield dk is not None and dk < MEM_MIB * 1024 // 2, \
        "the diff holds only the pages dirtied since the base, far less than RAM (%s KiB)" % dk
    yield st("merge") == "0", "snapshot-merge folds the diff onto the base (got %s)" % a.get("merge")
    md = re.match(r"LAB count (\d+) up=([\d.]+)", a.get("diff_before", ""))
    c3 = first_count(r, "G3")
    yield a.get("r3_counting") == "yes" and a.get("r3_inits") == "0" and \
        num("maps3") == MEM_MIB * 1024, \
        "the merged diff restores in huge pages (%s KiB) and counts on without booting again" % (
            a.get("maps3"))
    yield md is not None and c3 is not None and int(md.group(1)) < c3[0] <= int(md.group(1)) + 2, \
        "after the merged diff the count continues from the diff's moment (%s then %s)" % (
            md.group(1) if md else "?", c3)
    yield st("r3_exit") == "3", "the merged restore: SIGTERM ends it with exit 3 (got %s)" % (
        a.get("r3_exit"))
    el = (a.get("l1_elapsed") or "").split()
    gap = float(el[1]) - float(el[0]) if len(el) == 2 else None
    c2 = first_count(r, "G2")
    if a.get("r2_counting") == "yes":
        yield before is not None and c2 is not None and before[0] < c2[0] <= before[0] + 2, \
            "clock_realtime restore: the count continues (%s then %s)" % (before, c2)
        yield before is not None and c2 is not None and gap is not None and \
            c2[1] - before[1] >= gap, \
            "clock_realtime restore: the guest's uptime moved on by at least the %.1f s L1 " \
            "spent between snapshot and restore (%s then %s)" % (gap or 0, before, c2)
        if c1 and before:
            print("INFO uptime jump: plain restore %.1f s, clock_realtime restore %.1f s" % (
                c1[1] - before[1], c2[1] - before[1] if c2 else -1))
    else:
        r2 = a.get("r2_exit", "")
        yield st("r2_exit") == "2" and ("holds no real time" in r2 or
                                        "cannot set the clock by real time" in r2), \
            "clock_realtime refused in clear words where L1 cannot honour it (%s)" % r2
    nf = a.get("nofree", "")
    yield st("nofree") == "400" and "/proc/sys/vm/nr_hugepages" in nf and \
        ("it needs %d" % PAGES) in nf, \
        "a pool too small: InstanceStart is 400 naming nr_hugepages (%s)" % nf
    yield a.get("done") == "yes", "the plan ran to its end"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    tools = {"/bin/curl": shutil.which("curl")}
    if not tools["/bin/curl"]:
        print("FAIL curl not installed (scripts/deps.sh build installs it)")
        print("0 passed, 1 failed")
        return 1
    try:
        lab = L.Lab(stream=a.stream or None)
        l2 = L.build_l2_initrd(lab.kernel, name="l2huge", extra_sh=L2_SCRIPT)
        run = L.ShellRun("huge", "hearth", script(), timeout=RUN_TIMEOUT)
        run.initrd = l2
        res = lab.run_plan([run], tag="huge", binaries=tools)
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    return L.report(res, [("huge", checks)], tail=60)


if __name__ == "__main__":
    sys.exit(main())
