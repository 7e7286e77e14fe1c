#!/usr/bin/env python3
"""Clones of one snapshot in the lab (issue 29): Hearth against QEMU at its
best for clones, in one L1 boot.

    bench/run.sh --clones-lab [--counts 1,10,30] [--plain-counts 1,10,30]
                              [--memory MIB] [--touch MIB] [--stream]

The same guest (the lab's stock kernel + busybox initrd, 2 vCPUs, --memory
MiB, a 1 MiB scratch disk) first writes --touch MiB of non-zero data into
its RAM (a file in a ramfs; as much of it as the guest's free memory takes,
less 24 MiB, and the guest says how much), then prints `LAB count N` every
100 ms. Each VMM boots it once, saves it after 20 counter lines, and is
killed; then, for each N, N clones start at once from that one save, each
VMM's way, and each with its own override, as an orchestrator gives them:
its own scratch disk, /tmp/c/I.img.

  fork    the VM booted again with --fork-dir DIR and left running; per N
          one PUT /fork {"count": N, ...} (docs/api.md "Fork and reset"):
          each clone's RAM a private mapping of the template's frozen RAM
          (a sealed memfd), its disk DIR/dI.img, its console the file
          DIR/cI.out (followed by tail -f); timed from the request.
  hearth  PATCH /vm Paused, PUT /snapshot/create (Full);
          N x `hearth restore --snapshot S --mem M --resume
          --drive-override scratch=rw:/tmp/c/I.img`: each clone maps the memory
          file privately, so they share its page cache.
  qemu    QEMU as Kata Containers' VM templating runs it (QEMU's own
          docs/system/vm-templating): the template's RAM is a
          memory-backend-file with share=on, saved with the x-ignore-shared
          migration capability, so the stream holds the device state only;
          N x `-object memory-backend-file,...,share=off -incoming`: each
          clone maps the template's RAM file privately. The template is
          saved running, so a clone runs as soon as its state is loaded
          (no monitor round trip).
  plain   QEMU's plain `migrate` to a file and `-incoming` from it: each
          clone reads the whole stream into its own RAM (only --plain-counts,
          as N copies of the guest's RAM must fit in L1's 12 GiB).
A QEMU clone's `-drive file=` names its own scratch image.

Measured in L1 (its /proc/uptime, 10 ms ticks), per N: the time from the
first clone's start to each clone's next counter line (an awk on the
clone's console notes the moment; median, and the last: all running); each
clone's Pss and Rss from /proc/PID/smaps_rollup at that point (median); and
L1's MemAvailable before the clones less after, over N (what a clone costs
the host, KVM's and the page tables' share included). Prints the figures
and hearth/qemu, hearth/plain ratios, and draws build/bench/clones-lab.png
(matplotlib, when installed). Report only: exit 0 when every figure
was taken, 1 when one is missing, 3 when the lab failed.
"""
import argparse
import os
import shutil
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lab"))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clones import run_chart  # noqa: E402
from snapshot import SHELL_HELPERS, bench_values  # noqa: E402

CHART = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "bench",
                     "clones-lab.png")
CHART_SCRIPT = r"""
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
path, rows = json.load(sys.stdin)
fig, ax = plt.subplots(1, 2, figsize=(10, 4))
for kind in ("fork", "hearth", "qemu", "plain"):
    r = sorted((x for x in rows if x[0] == kind), key=lambda x: x[1])
    if r:
        ax[0].plot([x[1] for x in r], [x[3] for x in r], "o-", label=kind)
        ax[1].plot([x[1] for x in r], [x[4] / 1024 for x in r], "o-", label=kind)
ax[0].set_xlabel("clones"); ax[0].set_ylabel("s until all run"); ax[0].set_yscale("log")
ax[1].set_xlabel("clones"); ax[1].set_ylabel("MiB Pss per clone"); ax[1].set_yscale("log")
ax[0].legend(); ax[1].legend(); fig.tight_layout(); fig.savefig(path)
"""

L1_INITRD = "/lab/l2/initrd0.cpio"
CMDLINE = "console=ttyS0 panic=-1 lab.bench=1 lab.touch=@TOUCH@"
# N copies of a plain QEMU's RAM must fit in L1 beside the saves (30 x ~280 MiB).
L1_MEMORY_MIB = 12288

L2_SCRIPT = r'''
grep -q lab.bench=1 /proc/cmdline || exit 0
t=$(sed -n 's/.*lab.touch=\([0-9]*\).*/\1/p' /proc/cmdline)
# Non-zero pages (a save may skip zero ones) in a ramfs (the initramfs, a
# tmpfs, stops at half of RAM): guest RAM the guest has written. A ramfs
# is never reclaimed, so what is written must leave the kernel room.
mkdir -p /touch && mount -t ramfs ramfs /touch
fit=$(( $(awk '/^MemAvailable:/ {print $2}' /proc/meminfo) / 1024 - 24 ))
[ -n "$t" ] && [ "$t" -gt "$fit" ] && t=$fit
[ -n "$t" ] && yes 0123456789abcdef | head -c $((t * 1048576)) >/touch/file
echo "LAB touched $(wc -c </touch/file 2>/dev/null) of $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) kB"
i=0; while :; do echo "LAB count $i ."; i=$((i+1)); sleep 0.1; done
'''

COMMON = SHELL_HELPERS + r'''
memavail() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; }
rollup() { awk -v k="$2:" '$1 == k {print $2}' /proc/$1/smaps_rollup; }
mon() { # NAME: a monitor on FIFOs NAME.in / NAME.out, its output in NAME.log
  rm -f /tmp/$1.in /tmp/$1.out; mkfifo /tmp/$1.in /tmp/$1.out; : >/tmp/$1.log
}
# report KIND N DONE: the BENCH figures of N clones ($pids, started at $t0 with L1's
# MemAvailable $ma0; DONE of them ran), their first lines' times in /tmp/c/I.t.
report() {
  [ $3 -ge $2 ] || echo "BENCH $1_error=N$2_only_$3_ran"
  ma1=$(memavail)
  ts=; pss=; rss=
  for p in $pids; do pss="$pss $(rollup $p Pss)"; rss="$rss $(rollup $p Rss)"; done
  i=0; while [ $i -lt $2 ]; do ts="$ts $(cat /tmp/c/$i.t 2>/dev/null)"; i=$((i+1)); done
  echo "BENCH $1_N$2_t0=$t0"
  echo "BENCH $1_N$2_ts=$(echo $ts | tr ' ' ,)"
  echo "BENCH $1_N$2_pss=$(echo $pss | tr ' ' ,)"
  echo "BENCH $1_N$2_rss=$(echo $rss | tr ' ' ,)"
  echo "BENCH $1_N$2_host_kb=$((ma0 - ma1))"
}
# clones KIND N LAST CMD...: starts N copies of CMD at once (CLONE_I=0..N-1 in
# their environment), each console
# through an awk that writes the uptime of its first counter line past LAST
# to /tmp/c/I.t; waits for all (600 s), then prints the BENCH figures.
clones() {
  kind=$1 n=$2 last=$3; shift 3
  rm -rf /tmp/c; mkdir -p /tmp/c
  i=0; while [ $i -lt $n ]; do
    mkfifo /tmp/c/$i.fifo; dd if=/dev/zero of=/tmp/c/$i.img bs=1M count=1 2>/dev/null
    i=$((i+1)); done
  i=0; while [ $i -lt $n ]; do
    awk -v last=$last -v out=/tmp/c/$i.t '{ sub(/\r$/, "") }
      !d && $1 == "LAB" && $2 == "count" && $3 > last {
        getline u < "/proc/uptime"; split(u, f, " "); print f[1] > out; close(out); d = 1 }' \
      </tmp/c/$i.fifo &
    i=$((i+1)); done
  sync; ma0=$(memavail); t0=$(up); pids=
  i=0; while [ $i -lt $n ]; do
    CLONE_I=$i "$@" </dev/null >/tmp/c/$i.fifo 2>/tmp/c/$i.err & pids="$pids $!"
    i=$((i+1)); done
  k=0; while [ $k -lt 60000 ]; do
    done=0; i=0; while [ $i -lt $n ]; do [ -s /tmp/c/$i.t ] && done=$((done+1)); i=$((i+1)); done
    [ $done -ge $n ] && break; sleep 0.05; k=$((k+5)); done
  report $kind $n $done
  for p in $pids; do kill -9 $p 2>/dev/null; done
  for p in $pids; do wait $p 2>/dev/null; done
  for f in /tmp/c/m*.pid; do [ -e "$f" ] && kill $(cat $f) 2>/dev/null; done   # qclone.sh's feeders
  wait
  head -n 3 /tmp/c/0.err
}
# forks N: one PUT /fork of N clones of the template on /tmp/b.sock, each its own scratch
# disk and its console a file beneath --fork-dir (the zygote takes regular files only),
# followed by tail -f; the same figures as clones, from the
# request to each clone's first counter line past the template's last before it.
forks() {
  n=$1
  rm -rf /tmp/c /tmp/fd/*; mkdir -p /tmp/c
  i=0; while [ $i -lt $n ]; do
    : >/tmp/fd/c$i.out; dd if=/dev/zero of=/tmp/fd/d$i.img bs=1M count=1 2>/dev/null
    i=$((i+1)); done
  last=$(lastcount /tmp/f.out)
  # Each follower a tail into a FIFO, not a pipeline: L1's busybox has no pkill, and a
  # wait on a pipeline's awk waits for its tail -f too, which a killed clone never ends.
  apids=; tpids=
  i=0; while [ $i -lt $n ]; do
    mkfifo /tmp/c/$i.tf
    tail -n +1 -f /tmp/fd/c$i.out >/tmp/c/$i.tf 2>/dev/null &
    tpids="$tpids $!"
    awk -v last=$last -v out=/tmp/c/$i.t '
      { sub(/\r$/, "") }
      !d && $1 == "LAB" && $2 == "count" && $3 > last {
        getline u < "/proc/uptime"; split(u, f, " "); print f[1] > out; close(out); d = 1 }
      d { exit }' </tmp/c/$i.tf >/dev/null 2>&1 &
    apids="$apids $!"
    i=$((i+1)); done
  sync; ma0=$(memavail); t0=$(up)
  c=$(curl -s -m 300 -o /tmp/forkresp -w '%{http_code}' --unix-socket /tmp/b.sock -X PUT \
      -H 'Content-Type: application/json' -d "{\"count\": $n, \"clone\": {\"api_sock\": \"c{i}.sock\", \"serial_out\": \"c{i}.out\", \"drive_overrides\": [{\"drive_id\": \"scratch\", \"path_on_host\": \"d{i}.img\", \"is_read_only\": false}]}}" \
      http://localhost/fork)
  [ "$c" = 200 ] || { echo "BENCH fork_error=N${n}_$c"; head -c 300 /tmp/forkresp; echo
    echo "the template's stderr:"; tail -n 5 /tmp/f.err; }
  pids=$(grep -o '"pid":[0-9]*' /tmp/forkresp | cut -d: -f2)
  k=0; [ "$c" = 200 ] || k=60000   # no clones to wait for
  while [ $k -lt 60000 ]; do
    done=0; i=0; while [ $i -lt $n ]; do [ -s /tmp/c/$i.t ] && done=$((done+1)); i=$((i+1)); done
    [ $done -ge $n ] && break; sleep 0.05; k=$((k+5)); done
  report fork $n $done
  for p in $pids; do kill -9 $p 2>/dev/null; done
  for p in $tpids $apids; do kill $p 2>/dev/null; done
  # Its own jobs only: the template is this shell's job too, and runs on.
  for p in $tpids $apids; do wait $p 2>/dev/null; done
}
mkdir -p /tmp/b && cd /tmp/b
dd if=/dev/zero of=/tmp/b/scratch.img bs=1M count=1 2>/dev/null
'''

HEARTH = COMMON + r'''
H=/lab/bin/hearth
api() { curl -s -o /tmp/resp -w '%{http_code}' --unix-socket /tmp/b.sock -X "$1" \
          -H 'Content-Type: application/json' -d "$3" "http://localhost$2"; }
$H run --kernel @KERNEL@ --initrd @INITRD@ --cmdline "@CMDLINE@" --cpus 2 --memory @MEM@ \
  --disk path=/tmp/b/scratch.img,id=scratch \
  --api-sock /tmp/b.sock --snapshot-dir /tmp/b </dev/null >/tmp/h.out 2>/tmp/h.err & hp=$!
waitfor '^LAB count 20 ' /tmp/h.out 1200 || echo "BENCH hearth_error=no_counter"
echo "BENCH hearth_touched_bytes=$(tr -d '\r' </tmp/h.out | awk '$1 == "LAB" && $2 == "touched" {print $3; exit}')"
api PATCH /vm '{"state": "Paused"}' >/dev/null
c=$(api PUT /snapshot/create '{"snapshot_path": "/tmp/b/vm.snap", "mem_file_path": "/tmp/b/vm.mem"}')
[ "$c" = 204 ] || echo "BENCH hearth_error=create_$c"
echo "BENCH hearth_written_kb=$(du -k /tmp/b/vm.mem | cut -f1)"
last=$(lastcount /tmp/h.out)
kill -9 $hp; wait $hp
cat >/tmp/hclone.sh <<HEOF
#!/bin/sh
exec $H restore --snapshot /tmp/b/vm.snap --mem /tmp/b/vm.mem --resume \
  --drive-override scratch=rw:/tmp/c/\$CLONE_I.img
HEOF
chmod +x /tmp/hclone.sh
for n in @COUNTS@; do
  clones hearth $n $last /tmp/hclone.sh
done
# Fork: the same VM booted again with --fork-dir, running; per N one PUT /fork.
rm -f /tmp/b/vm.snap /tmp/b/vm.mem
mkdir -p /tmp/fd
$H run --kernel @KERNEL@ --initrd @INITRD@ --cmdline "@CMDLINE@" --cpus 2 --memory @MEM@ \
  --disk path=/tmp/b/scratch.img,id=scratch \
  --api-sock /tmp/b.sock --fork-dir /tmp/fd </dev/null >/tmp/f.out 2>/tmp/f.err & fp=$!
waitfor '^LAB count 20 ' /tmp/f.out 1200 || echo "BENCH fork_error=no_counter"
for n in @COUNTS@; do
  forks $n
done
kill -9 $fp; wait $fp
true
'''

QEMU = COMMON + r'''
Q="/lab/bin/qemu-system-x86_64 -L @QDATA@ -enable-kvm -cpu host -m @MEM@ -smp 2 -nodefaults -no-user-config -nographic -no-reboot -serial stdio -device i8042 -device virtio-blk-device,drive=scratch -kernel @KERNEL@ -initrd @INITRD@ -append"
drive() { echo "-drive file=$1,if=none,id=scratch,format=raw"; }
MEMF="-object memory-backend-file,id=mem0,size=@MEM@M,mem-path=/tmp/b/tmpl.mem"
# The template: RAM in a shared file, saved running without it (x-ignore-shared).
mon m1
$Q "@CMDLINE@" -M @MACHINE@,memory-backend=mem0 $MEMF,share=on $(drive /tmp/b/scratch.img) \
  -monitor pipe:/tmp/m1 </dev/null >/tmp/q.out 2>/tmp/q.err & qp=$!
cat /tmp/m1.out >/tmp/m1.log & c1=$!
exec 3>/tmp/m1.in
waitfor '^LAB count 20 ' /tmp/q.out 1200 || { echo "BENCH qemu_error=no_counter"; head -n 5 /tmp/q.err; }
echo "BENCH qemu_touched_bytes=$(tr -d '\r' </tmp/q.out | awk '$1 == "LAB" && $2 == "touched" {print $3; exit}')"
echo 'migrate_set_capability x-ignore-shared on' >&3
echo 'migrate "exec:cat > /tmp/b/tmpl.state"' >&3
n=0; while ! grep -q 'Migration status: completed' /tmp/m1.log && [ $n -lt 6000 ]; do
  echo 'info migrate' >&3; sleep 0.01; n=$((n+1)); done
[ $n -lt 6000 ] || echo "BENCH qemu_error=no_template_save"
echo "BENCH qemu_state_bytes=$(stat -c %s tmpl.state)"
last=$(lastcount /tmp/q.out)
kill -9 $qp; wait $qp; exec 3>&-; kill $c1 2>/dev/null
# A clone: its RAM the template's file mapped privately. QEMU 7.2 takes the
# capability from a monitor only, so each clone has one (FIFOs) fed at start.
cat >/tmp/qclone.sh <<QEOF
#!/bin/sh
m=/tmp/c/m\$CLONE_I
mkfifo \$m.in \$m.out
cat \$m.out >/dev/null &
( printf 'migrate_set_capability x-ignore-shared on\nmigrate_incoming "exec:cat /tmp/b/tmpl.state"\n'; exec sleep 100000 ) >\$m.in &
echo \$! >\$m.pid
exec $Q "@CMDLINE@" -M @MACHINE@,memory-backend=mem0 $MEMF,share=off \
  -drive file=/tmp/c/\$CLONE_I.img,if=none,id=scratch,format=raw -monitor pipe:\$m -incoming defer
QEOF
chmod +x /tmp/qclone.sh
for n in @COUNTS@; do
  clones qemu $n $last /tmp/qclone.sh
done
rm -f /tmp/b/tmpl.mem /tmp/b/tmpl.state
# Plain: the whole RAM in the stream, read by every clone.
mon m2
$Q "@CMDLINE@" -M @MACHINE@ $(drive /tmp/b/scratch.img) -monitor pipe:/tmp/m2 </dev/null >/tmp/p.out 2>/tmp/p.err & qp=$!
cat /tmp/m2.out >/tmp/m2.log & c2=$!
exec 4>/tmp/m2.in
waitfor '^LAB count 20 ' /tmp/p.out 1200 || { echo "BENCH plain_error=no_counter"; head -n 5 /tmp/p.err; }
echo 'migrate "exec:cat > /tmp/b/plain.mig"' >&4
n=0; while ! grep -q 'Migration status: completed' /tmp/m2.log && [ $n -lt 12000 ]; do
  echo 'info migrate' >&4; sleep 0.01; n=$((n+1)); done
[ $n -lt 12000 ] || echo "BENCH plain_error=no_save"
echo "BENCH plain_state_bytes=$(stat -c %s plain.mig)"
last=$(lastcount /tmp/p.out)
kill -9 $qp; wait $qp; exec 4>&-; kill $c2 2>/dev/null
cat >/tmp/pclone.sh <<PEOF
#!/bin/sh
exec $Q "@CMDLINE@" -M @MACHINE@ -drive file=/tmp/c/\$CLONE_I.img,if=none,id=scratch,format=raw \
  -incoming "exec:cat /tmp/b/plain.mig"
PEOF
chmod +x /tmp/pclone.sh
for n in @PLAIN_COUNTS@; do
  clones plain $n $last /tmp/pclone.sh
done
'''


def script(text, a):
    return (text.replace("@KERNEL@", L.L1_KERNEL).replace("@INITRD@", L1_INITRD)
            .replace("@CMDLINE@", CMDLINE).replace("@TOUCH@", str(a.touch))
            .replace("@MEM@", str(a.memory)).replace("@MACHINE@", L.QEMU_MICROVM_BEST).replace("@QDATA@", L.L1_QEMU_DATA)
            .replace("@COUNTS@", " ".join(map(str, a.counts)))
            .replace("@PLAIN_COUNTS@", " ".join(map(str, a.plain_counts))))


def ints(s):
    return [int(x) for x in s.split(",") if x]


def figures(vals, kind, n):
    """(median first-line s, last s, median Pss kB, median Rss kB, host kB per clone) or None."""
    try:
        t0 = float(vals["%s_N%d_t0" % (kind, n)])
        ts = [float(x) - t0 for x in vals["%s_N%d_ts" % (kind, n)].split(",") if x]
        pss = [int(x) for x in vals["%s_N%d_pss" % (kind, n)].split(",") if x]
        rss = [int(x) for x in vals["%s_N%d_rss" % (kind, n)].split(",") if x]
        host = int(vals["%s_N%d_host_kb" % (kind, n)]) / n
    except (KeyError, ValueError):
        return None
    if len(ts) != n or not pss or not rss:
        return None
    return (statistics.median(ts), max(ts), statistics.median(pss), statistics.median(rss), host)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--counts", type=ints, default=[1, 10, 30])
    ap.add_argument("--plain-counts", type=ints, default=[1, 10, 30])
    ap.add_argument("--memory", type=int, default=256, help="guest RAM in MiB (default 256)")
    ap.add_argument("--touch", type=int, default=200,
                    help="MiB the guest writes before the save (default 200; at most its "
                         "free memory less 24 MiB)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    try:
        lab = L.Lab(stream=a.stream or None)
        l2 = L.build_l2_initrd(lab.kernel, name="l2bench-clones", extra_sh=L2_SCRIPT)
        runs = []
        for name, text in (("hearth", HEARTH), ("qemu", QEMU)):
            run = L.ShellRun("clones_" + name, name, script(text, a), timeout=2400)
            run.initrd = l2
            runs.append(run)
        res = lab.run_plan(runs, tag="bench-clones", binaries={"/bin/curl": shutil.which("curl")},
                           l1_extra=L.L1Extra(qemu_args=["-m", str(L1_MEMORY_MIB)]))
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    if not res.ok:
        print(res.failure_line())
        return 3
    vals, bad = bench_values(res, ("clones_hearth", "clones_qemu")), False
    for k in sorted(k for k in vals if k.endswith("_error") or k.endswith("_bytes") or
                    k.endswith("_kb") and "_N" not in k):
        print("%s = %s" % (k, vals[k]))
        bad |= k.endswith("_error")
    try:
        touched = "%.0f MiB" % (int(vals["hearth_touched_bytes"]) / 1048576)
    except (KeyError, ValueError):
        touched, bad = "(unknown)", True
    print("guest %d MiB, %s written before the save (%d asked), 2 vCPUs, a scratch disk each; "
          "per N: median s to a clone's first line, s until all ran, median Pss/Rss kB per "
          "clone, L1 kB per clone" % (a.memory, touched, a.touch))
    print("| N | VMM | first s | all s | Pss kB | Rss kB | host kB/clone |")
    print("|---|---|---|---|---|---|---|")
    got = {}
    for n in sorted(set(a.counts) | set(a.plain_counts)):
        for kind in ("fork", "hearth", "qemu", "plain"):
            if n not in (a.plain_counts if kind == "plain" else a.counts):
                continue
            f = figures(vals, kind, n)
            got[kind, n] = f
            if f is None:
                print("| %d | %s | (missing) | | | | |" % (n, kind))
                bad = True
                continue
            print("| %d | %s | %.2f | %.2f | %d | %d | %d |" % ((n, kind) + f))
    os.makedirs(os.path.dirname(CHART), exist_ok=True)
    print(run_chart(CHART_SCRIPT, CHART, [[k, n] + list(f) for (k, n), f in got.items() if f]))
    print("ratios fork/qemu, hearth/qemu (templating), hearth/plain: first, all, Pss, host")
    for n in a.counts:
        for mine, peer in (("fork", "qemu"), ("hearth", "qemu"), ("hearth", "plain")):
            h, q = got.get((mine, n)), got.get((peer, n))
            if h and q:
                print("  N=%-3d %s/%-6s first %.3f  all %.3f  Pss %.3f  host %.3f" % (
                    n, mine, peer, h[0] / q[0], h[1] / q[1], h[2] / q[2],
                    h[4] / q[4] if q[4] > 0 else float("nan")))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
