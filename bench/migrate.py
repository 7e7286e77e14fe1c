#!/usr/bin/env python3
"""Live migration in the lab (issue 50): Hearth against QEMU's `migrate`, the
same guest and memory, idle and under a dirtier, in one L1 boot.

    bench/run.sh --migrate [--memory MIB] [--touch MIB] [--dirty MIBS] [--stream]

The guest (the lab's stock kernel + busybox initrd, 1 vCPU, --memory MiB, a
1 MiB scratch disk) writes --touch MiB of non-zero data into a ramfs, then
prints `LAB count N` every 10 ms. With lab.dirty=R it also rewrites R/10 MiB
of a ramfs file every 100 ms (R MiB/s while its CPU keeps up; it says how
much it managed). Each VMM's VM is booted three times (idle; with the
dirtier; with the dirtier, moved by post-copy), moved once to a second
process of the same VMM in L1 over a Unix socket, and the moved guest's
counter checked going on.

  hearth  `hearth run --migrate-dir` to a `hearth serve` that PUT
          /migrate/incoming made listen; PUT /migrate with
          downtime_limit_ms 20 (idle) or 100 (dirtier); GET /migrate's
          total_ms, downtime_us (pause to the destination's RUNNING), bytes
          and the first pass's pages.
  qemu    QEMU at its best for this: microvm, `-incoming unix:`, the same
          downtime limit (`migrate_set_parameter downtime-limit`), no
          bandwidth cap (max-bandwidth 100 GiB/s; its default is 128 MiB/s);
          `info migrate`'s total time, downtime and transferred ram.
  postcopy  Hearth's `"postcopy": true` (one pass, then the pages written
          since, asked for or pushed); QEMU's postcopy-ram capability on both
          ends and `migrate_start_postcopy` right after `migrate`.

Besides each VMM's own word, the gap the guest's counter shows: each
process's console is a FIFO an awk in L1 reads, stamping each line with L1's
/proc/uptime as it arrives (10 ms ticks); over both, in time order, the
largest gap between two counter lines, less the 10 ms between lines, is the
downtime the guest's output shows. For Hearth the gap is split by GET
/migrate's paused_at_us and resumed_at_us (the same clock): the source's
last line to its pause, its downtime, and the destination's resume to the
guest's first line there. Prints
one table and the hearth/qemu ratios, and draws build/bench/migrate.png.
Report only: exit 0 when every figure was taken, 1 when one is missing, 3
when the lab failed.
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lab"))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clones import run_chart  # noqa: E402
from snapshot import SHELL_HELPERS, bench_values  # noqa: E402

CHART = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "bench",
                     "migrate.png")
CHART_SCRIPT = r"""
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
path, rows = json.load(sys.stdin)
fig, ax = plt.subplots(1, 3, figsize=(12, 4))
names = [r[0] + " " + r[1] for r in rows]
for i, (k, label) in enumerate(((2, "total s"), (4, "counter gap ms"), (5, "MiB sent"))):
    ax[i].bar(names, [r[k] for r in rows]); ax[i].set_ylabel(label)
    ax[i].tick_params(axis="x", rotation=30)
fig.tight_layout(); fig.savefig(path)
"""

L1_INITRD = "/lab/l2/initrd0.cpio"
CMDLINE = "console=ttyS0 panic=-1 lab.migb=1 lab.touch=@TOUCH@"

L2_SCRIPT = r'''
grep -q lab.migb=1 /proc/cmdline || exit 0
t=$(sed -n 's/.*lab.touch=\([0-9]*\).*/\1/p' /proc/cmdline)
r=$(sed -n 's/.*lab.dirty=\([0-9]*\).*/\1/p' /proc/cmdline)
mkdir -p /touch && mount -t ramfs ramfs /touch
[ -n "$t" ] && yes 0123456789abcdef | head -c $((t * 1048576)) >/touch/file
echo "LAB touched $(wc -c </touch/file 2>/dev/null)"
if [ -n "$r" ] && [ "$r" -gt 0 ]; then
  n=$(( (r + 9) / 10 ))
  head -c $((n * 1048576)) /touch/file >/touch/src
  (k=0; s=$(cut -d' ' -f1 /proc/uptime); while :; do
     dd if=/touch/src of=/touch/dirt bs=1M count=$n conv=notrunc 2>/dev/null
     k=$((k + n)); usleep 100000
     [ $((k % (n * 50))) = 0 ] && echo "LAB dirtied $k MiB at $(cut -d' ' -f1 /proc/uptime) since $s"
   done) &
fi
i=0; while :; do echo "LAB count $i ."; i=$((i+1)); usleep 10000; done
'''

COMMON = SHELL_HELPERS + r'''
mkdir -p /tmp/b /tmp/mig && cd /tmp/b
dd if=/dev/zero of=/tmp/b/scratch.img bs=1M count=1 2>/dev/null
# console NAME: a FIFO for a VMM's console, NAME.fifo, whose lines an awk copies to NAME
# and, stamped with L1's uptime as each arrives (10 ms ticks), to NAME.st
console() {
  rm -f $1.fifo; mkfifo $1.fifo; : >$1; : >$1.st
  awk -v out=$1 -v st=$1.st '{ sub(/\r$/, ""); getline u < "/proc/uptime"; close("/proc/uptime");
    split(u, f, " "); print $0 >out; print f[1], $0 >st; fflush(out); fflush(st) }' <$1.fifo &
}
# The consoles grow by 100 lines a second: look at their ends only.
tailcount() { tail -n 3 "$1" | tr -d '\r' | awk '$1 == "LAB" && $2 == "count" {c = $3} END {print c + 0}'; }
waitcount() { # N FILE SECONDS: until FILE's counter reaches N
  k=0; while [ $(tailcount $2) -lt $1 ]; do k=$((k+1)); [ $k -ge $(($3 * 10)) ] && return 1; sleep 0.1; done
}
# gap A B: the largest step between two counter lines over both stamped consoles, in ms,
# less the 10 ms between them
gap() {
  sort -n -s -k1,1 $1.st $2.st | awk '$2 == "LAB" && $3 == "count" {
       if (p != "" && $1 - p > g) g = $1 - p; p = $1 }
       END { printf "%d", (g * 1000 > 10 ? g * 1000 - 10 : 0) }'
}
# gapat S D: when the largest gap began (L1's uptime, s), and on which side
gapat() {
  { awk '{print $0, "source"}' $1.st; awk '{print $0, "destination"}' $2.st; } | sort -n -s -k1,1 |
    awk '$2 == "LAB" && $3 == "count" {
       if (p != "" && $1 - p > g) { g = $1 - p; at = p; from = w; to = $NF }; p = $1; w = $NF }
       END { printf "%.3f %s-%s", at, from, to }'
}
# dirtied OUT: the dirtier's rate, MiB/s of the guest's own clock
dirtied() { grep -a 'LAB dirtied' $1 | tr -d '\r' | awk '{m = $3; t = $6; s = $8}
  END { if (m != "" && t > s) printf "%.1f", m / (t - s) }'; }
'''

HEARTH = COMMON + r'''
H=/lab/bin/hearth
api() { # SOCK METHOD PATH [BODY]
  if [ -n "$4" ]; then curl -s -o /tmp/resp -w '%{http_code}' --unix-socket $1 -X "$2" \
      -H 'Content-Type: application/json' -d "$4" "http://localhost$3"
  else curl -s -o /tmp/resp -w '%{http_code}' --unix-socket $1 -X "$2" "http://localhost$3"; fi
}
one() { # KIND DIRTY LIMIT
  rm -f /tmp/s.sock /tmp/d.sock /tmp/mig/in.sock
  console /tmp/$1.s.out; console /tmp/$1.d.out
  $H run --kernel @KERNEL@ --initrd @INITRD@ --cmdline "@CMDLINE@ lab.dirty=$2" --cpus 1 \
    --memory @MEM@ --disk path=/tmp/b/scratch.img,id=scratch --api-sock /tmp/s.sock \
    --migrate-dir /tmp/mig </dev/null >/tmp/$1.s.out.fifo 2>/tmp/$1.s.err & sp=$!
  $H serve --api-sock /tmp/d.sock </dev/null >/tmp/$1.d.out.fifo 2>/tmp/$1.d.err & dp=$!
  waitcount 300 /tmp/$1.s.out 1800 || echo "BENCH hearth_$1_error=no_counter"
  [ "$2" -gt 0 ] && sleep 6
  echo "BENCH hearth_$1_touched=$(grep -a -m 1 'LAB touched' /tmp/$1.s.out | tr -d '\r' | awk '{print $3}')"
  c=$(api /tmp/d.sock PUT /migrate/incoming '{"uri": "unix:/tmp/mig/in.sock", "drive_overrides": [{"drive_id": "scratch", "path_on_host": "/tmp/b/scratch.img", "is_read_only": false}]}')
  [ "$c" = 204 ] || echo "BENCH hearth_$1_error=incoming_$c"
  pc=; [ "$4" = 1 ] && pc=', "postcopy": true'
  c=$(api /tmp/s.sock PUT /migrate '{"uri": "unix:/tmp/mig/in.sock", "downtime_limit_ms": '"$3$pc"'}')
  [ "$c" = 204 ] || echo "BENCH hearth_$1_error=migrate_$c"
  n=0; while :; do
    api /tmp/s.sock GET /migrate >/dev/null
    grep -q '"state":"\(completed\|failed\|unconfirmed\)"' /tmp/resp && break
    n=$((n+1)); [ $n -gt 12000 ] && break; sleep 0.05
  done
  cp /tmp/resp /tmp/$1.mig
  grep -q '"state":"completed"' /tmp/$1.mig || echo "BENCH hearth_$1_error=$(tr -d ' \n' </tmp/$1.mig | head -c 200)"
  b=$(tailcount /tmp/$1.d.out)
  waitcount $((b + 100)) /tmp/$1.d.out 300 || echo "BENCH hearth_$1_error=no_count_after"
  echo "BENCH hearth_$1_dirtied=$(dirtied /tmp/$1.s.out)"
  for k in total_ms downtime_us bytes first_pass_pages iteration pages_left; do
    echo "BENCH hearth_$1_$k=$(tr -d '\n' </tmp/$1.mig | sed -n 's/.*"'$k'":\([0-9]*\).*/\1/p')"
  done
  echo "BENCH hearth_$1_gap_ms=$(gap /tmp/$1.s.out /tmp/$1.d.out)"
  # Where the gap lies: the source's last line before its pause, the destination's first
  # after its resume (GET /migrate's paused_at_us and resumed_at_us, L1's clock).
  api /tmp/d.sock GET /migrate >/dev/null; cp /tmp/resp /tmp/$1.dmig
  pa=$(tr -d '\n' </tmp/$1.mig | sed -n 's/.*"paused_at_us":\([0-9]*\).*/\1/p')
  ra=$(tr -d '\n' </tmp/$1.dmig | sed -n 's/.*"resumed_at_us":\([0-9]*\).*/\1/p')
  # The downtime phase by phase: the source's state, its last pages and state sent, the
  # destination's READY (its load_us within), its RUNNING after GO.
  sw=$(tr -d '\n' </tmp/$1.mig | sed -n 's/.*"switch_us":{\([^}]*\)}.*/\1/p' | tr -dc '0-9,' | tr , /)
  echo "BENCH hearth_$1_switch=$sw/$(tr -d '\n' </tmp/$1.dmig | sed -n 's/.*"load_us":\([0-9]*\).*/\1/p')"
  # Where the largest gap lies, against the pause (ms; negative: before it).
  [ -n "$pa" ] && echo "BENCH hearth_$1_gap_at=$(gapat /tmp/$1.s.out /tmp/$1.d.out |
    awk -v pa=$pa '{ printf "%.0f/%s", ($1 - pa / 1e6) * 1000, $2 }')"
  [ -n "$pa" ] && [ -n "$ra" ] && echo "BENCH hearth_$1_split=$(awk -v pa=$pa -v ra=$ra '
    $2 == "LAB" && $3 == "count" {
      if (FILENAME ~ /[.]s[.]out[.]st$/ && $1 * 1e6 <= pa) l = $1
      if (FILENAME ~ /[.]d[.]out[.]st$/ && $1 * 1e6 >= ra && f == "") f = $1 }
    END { if (l != "" && f != "") printf "%.0f/%.0f", (pa / 1e6 - l) * 1000, (f - ra / 1e6) * 1000 }' \
    /tmp/$1.s.out.st /tmp/$1.d.out.st)"
  kill -9 $sp $dp 2>/dev/null; wait $sp $dp 2>/dev/null
}
one idle 0 20
one dirty @DIRTY@ 100
one postcopy @DIRTY@ 100 1
true
'''

QEMU = COMMON + r'''
Q="/lab/bin/qemu-system-x86_64 -L @QDATA@ -enable-kvm -cpu host -m @MEM@ -smp 1 -nodefaults -no-user-config -nographic -no-reboot -serial stdio -device i8042 -device virtio-blk-device,drive=scratch -drive file=/tmp/b/scratch.img,if=none,id=scratch,format=raw -kernel @KERNEL@ -initrd @INITRD@ -M @MACHINE@"
mon() { # NAME: a monitor on FIFOs NAME.in / NAME.out, its output in NAME.log
  rm -f /tmp/$1.in /tmp/$1.out; mkfifo /tmp/$1.in /tmp/$1.out; : >/tmp/$1.log
}
one() { # KIND DIRTY LIMIT
  rm -f /tmp/qmig.sock
  console /tmp/$1.s.out; console /tmp/$1.d.out
  mon ms; mon md
  $Q -append "@CMDLINE@ lab.dirty=$2" -monitor pipe:/tmp/ms </dev/null >/tmp/$1.s.out.fifo 2>/tmp/$1.s.err & sp=$!
  cat /tmp/ms.out >/tmp/ms.log & c1=$!
  # A child's end may interrupt the open: again until it holds.
  until exec 3>/tmp/ms.in; do sleep 0.1; done
  $Q -append "@CMDLINE@ lab.dirty=$2" -monitor pipe:/tmp/md -incoming unix:/tmp/qmig.sock \
    </dev/null >/tmp/$1.d.out.fifo 2>/tmp/$1.d.err & dp=$!
  cat /tmp/md.out >/tmp/md.log & c2=$!
  until exec 4>/tmp/md.in; do sleep 0.1; done
  waitcount 300 /tmp/$1.s.out 1800 || { echo "BENCH qemu_$1_error=no_counter"; head -n 3 /tmp/$1.s.err; }
  [ "$2" -gt 0 ] && sleep 6
  echo "BENCH qemu_$1_touched=$(grep -a -m 1 'LAB touched' /tmp/$1.s.out | tr -d '\r' | awk '{print $3}')"
  echo "migrate_set_parameter downtime-limit $3" >&3
  echo "migrate_set_parameter max-bandwidth 100G" >&3
  # Post-copy: the capability on both ends, then the switch asked for as soon as it runs.
  if [ "$4" = 1 ]; then
    echo "migrate_set_capability postcopy-ram on" >&3
    echo "migrate_set_capability postcopy-ram on" >&4
    sleep 0.3
  fi
  echo "migrate -d unix:/tmp/qmig.sock" >&3
  [ "$4" = 1 ] && { sleep 0.2; echo "migrate_start_postcopy" >&3; }
  n=0; while ! grep -q 'Migration status: \(completed\|failed\)' /tmp/ms.log; do
    echo 'info migrate' >&3; n=$((n+1)); [ $n -gt 12000 ] && break; sleep 0.05
  done
  sleep 0.2; echo 'info migrate' >&3; sleep 0.3
  grep -q 'Migration status: completed' /tmp/ms.log || echo "BENCH qemu_$1_error=$(grep 'Migration status' /tmp/ms.log | tail -n 1 | tr -d ' \r')"
  b=$(tailcount /tmp/$1.d.out)
  waitcount $((b + 100)) /tmp/$1.d.out 300 || echo "BENCH qemu_$1_error=no_count_after"
  echo "BENCH qemu_$1_dirtied=$(dirtied /tmp/$1.s.out)"
  tr -d '\r' </tmp/ms.log | awk -v k=$1 '
    /^total time:/ {t = $3} /^downtime:/ {d = $2} /^transferred ram:/ {b = $3}
    END { print "BENCH qemu_" k "_total_ms=" t; print "BENCH qemu_" k "_downtime_us=" d * 1000;
          print "BENCH qemu_" k "_bytes=" b * 1024 }'
  echo "BENCH qemu_$1_gap_ms=$(gap /tmp/$1.s.out /tmp/$1.d.out)"
  exec 3>&- 4>&-
  kill -9 $sp $dp $c1 $c2 2>/dev/null; wait $sp $dp 2>/dev/null
}
one idle 0 20
one dirty @DIRTY@ 100
one postcopy @DIRTY@ 100 1
true
'''


def script(text, a):
    return (text.replace("@KERNEL@", L.L1_KERNEL).replace("@INITRD@", L1_INITRD)
            .replace("@CMDLINE@", CMDLINE).replace("@TOUCH@", str(a.touch))
            .replace("@MEM@", str(a.memory)).replace("@DIRTY@", str(a.dirty))
            .replace("@MACHINE@", L.QEMU_MICROVM_BEST).replace("@QDATA@", L.L1_QEMU_DATA))


def figures(vals, vmm, kind):
    """(total s, VMM's downtime ms, counter gap ms, MiB sent, the guest's non-zero MiB) or
    None. The guest's non-zero memory is Hearth's first pass over it (the same guest, booted
    the same way, for both VMMs)."""
    try:
        return (int(vals["%s_%s_total_ms" % (vmm, kind)]) / 1000.0,
                int(vals["%s_%s_downtime_us" % (vmm, kind)]) / 1000.0,
                int(vals["%s_%s_gap_ms" % (vmm, kind)]),
                int(vals["%s_%s_bytes" % (vmm, kind)]) / 1048576.0,
                int(vals["hearth_%s_first_pass_pages" % kind]) * 4096 / 1048576.0)
    except (KeyError, ValueError):
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--memory", type=int, default=512, help="guest RAM in MiB (default 512)")
    ap.add_argument("--touch", type=int, default=256, help="MiB the guest writes (default 256)")
    ap.add_argument("--dirty", type=int, default=50, help="the dirtier's MiB/s (default 50)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    # The guest writes --touch MiB into a ramfs of its own RAM: a kernel and busybox need
    # room beside it, or the counter never starts and each case waits out its 30 minutes.
    if a.touch + 128 > a.memory:
        ap.error("--touch %d with --memory %d: leave the guest 128 MiB beside what it writes "
                 "(--touch at most %d)" % (a.touch, a.memory, max(a.memory - 128, 0)))
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    try:
        lab = L.Lab(stream=a.stream or None)
        l2 = L.build_l2_initrd(lab.kernel, name="l2bench-migrate", modules=["virtio_mmio",
                                                                            "virtio_blk"],
                               extra_sh=L2_SCRIPT)
        runs = []
        for name, text in (("hearth", HEARTH), ("qemu", QEMU)):
            run = L.ShellRun("migrate_" + name, name, script(text, a), timeout=1800)
            run.initrd = l2
            runs.append(run)
        res = lab.run_plan(runs, tag="bench-migrate", binaries={"/bin/curl": shutil.which("curl")})
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    if not res.ok:
        print(res.failure_line())
        return 3
    vals = bench_values(res, ("migrate_hearth", "migrate_qemu"))
    bad = False
    for k in sorted(k for k in vals if k.endswith("_error") or k.endswith("_dirtied")):
        print("%s = %s" % (k, vals[k]))
        bad |= k.endswith("_error")
    print("guest %d MiB, 1 vCPU, %d MiB written before the move; dirty: a dirtier asked "
          "for %d MiB/s; downtime limit 20 ms idle, 100 ms dirty; postcopy: the dirtier, "
          "switched over after the first pass (Hearth's postcopy, QEMU's postcopy-ram and "
          "migrate_start_postcopy)" % (a.memory, a.touch, a.dirty))
    print("| case | VMM | total s | VMM's downtime ms | counter gap ms | MiB sent | "
          "sent / guest's non-zero |")
    print("|---|---|---|---|---|---|---|")
    rows, got = [], {}
    for kind in ("idle", "dirty", "postcopy"):
        for vmm in ("hearth", "qemu"):
            f = figures(vals, vmm, kind)
            got[vmm, kind] = f
            if f is None:
                print("| %s | %s | (missing) | | | | |" % (kind, vmm))
                bad = True
                continue
            print("| %s | %s | %.2f | %.1f | %d | %.0f | %.2f |" % (
                kind, vmm, f[0], f[1], f[2], f[3], f[3] / f[4] if f[4] else 0))
            rows.append([kind, vmm, f[0], f[1], f[2], f[3]])
    os.makedirs(os.path.dirname(CHART), exist_ok=True)
    print(run_chart(CHART_SCRIPT, CHART, rows))
    for kind in ("idle", "dirty", "postcopy"):
        sp = vals.get("hearth_%s_split" % kind, "").split("/")
        h = got.get(("hearth", kind))
        if len(sp) == 2 and h:
            print("hearth %s: the counter's gap of %d ms: %s ms from the source's last line to "
                  "its pause, %.1f ms the VMM's downtime, %s ms from the destination's resume "
                  "to the guest's first line (L1's /proc/uptime, 10 ms ticks)" % (
                      kind, h[2], sp[0], h[1], sp[1]))
    for kind in ("idle", "dirty", "postcopy"):
        at = vals.get("hearth_%s_gap_at" % kind, "").split("/")
        if len(at) == 2:
            print("hearth %s: the largest gap began %s ms from the source's pause, between "
                  "lines of the %s" % (kind, at[0], at[1].replace("-", " and the ")))
    for kind in ("idle", "dirty", "postcopy"):
        sw = vals.get("hearth_%s_switch" % kind, "").split("/")
        if len(sw) == 5 and all(x.isdigit() for x in sw):
            print("hearth %s: its downtime's phases (us): state %s, last pages (%s) and state "
                  "sent %s, the destination's READY %s (its load %s), RUNNING after GO %s; "
                  "%s passes" % (kind, sw[0], vals.get("hearth_%s_pages_left" % kind, "?"),
                                 sw[1], sw[2], sw[4], sw[3],
                                 vals.get("hearth_%s_iteration" % kind, "?")))
    for kind in ("idle", "dirty", "postcopy"):
        h, q = got.get(("hearth", kind)), got.get(("qemu", kind))
        if h and q:
            print("hearth/qemu %s: total %.2f, downtime %.2f, counter gap %.2f, bytes %.2f" % (
                kind, h[0] / q[0] if q[0] else 0, h[1] / q[1] if q[1] else 0,
                h[2] / q[2] if q[2] else 0, h[3] / q[3] if q[3] else 0))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
