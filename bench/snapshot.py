#!/usr/bin/env python3
"""Snapshot benchmark: Hearth (File and Uffd restores) vs QEMU microvm, in one L1 boot.

    bench/run.sh --snapshot [--memory MIB] [--stream]

The same guest (the lab's kernel + busybox initrd, 2 vCPUs, --memory MiB)
prints `LAB count N` every 100 ms. Each VMM boots it, pauses it after 30
lines and saves it, is killed, and restores it in a new process:

  hearth  PATCH /vm Paused, PUT /snapshot/create (Full) on the API socket;
          `hearth restore --resume`.
  uffd    the same Hearth snapshot restored again, through the Uffd
          backend: tests/uffd's uffd_handler, already listening (as a
          Firecracker handler would be), serves vm.mem;
          `hearth restore --mem-uffd SOCKET --resume`.
  qemu    monitor `stop`, `migrate "exec:cat > FILE"` (until `info migrate`
          says completed); `-incoming "exec:cat FILE"`, then `cont` once
          `info status` says "paused" (the load completed; it says
          "paused (inmigrate)" while the stream loads, and a `cont` then
          is overridden by the saved paused state).

Measured in L1 (its /proc/uptime, 10 ms ticks; both VMMs polled the same
way): the snapshot's size (Hearth: the memory file's apparent size and the
blocks it uses, holes being zero pages, plus the state file; QEMU: the
migration stream), the time to create it, the time from the restore command
to the guest's next counter line, and the restored VMM's RSS at that line;
for uffd also the handler's RSS at that line and the faults it served
(counted up to its exit, which follows the restored VMM's, right after the
line). Both Hearth restores read a memory file that the create just wrote
(in L1's page cache). Prints the numbers and the hearth/qemu (File
restore), uffd/file and uffd/qemu ratios. Never fails on the numbers: exit
0 when all three gave their numbers, 1 when one did not, 3 when the lab
failed.
"""
import argparse
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lab"))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402

L1_INITRD = "/lab/l2/initrd0.cpio"
CMDLINE = "console=ttyS0 panic=-1 lab.bench=1"

L2_SCRIPT = r'''
grep -q lab.bench=1 /proc/cmdline || exit 0
i=0; while :; do echo "LAB count $i ."; i=$((i+1)); sleep 0.1; done
'''

# Shell functions the L1 scripts of both lab benches use (clones_lab.py too).
SHELL_HELPERS = r'''
up() { read t _ </proc/uptime; echo $t; }
waitfor() { # PATTERN FILE TENTHS (polls every 10 ms)
  n=0; while ! tr -d '\r' <"$2" 2>/dev/null | grep -q "$1"; do
    n=$((n+1)); [ $n -ge "$(($3 * 10))" ] && return 1; sleep 0.01
  done
}
lastcount() { tr -d '\r' <"$1" | grep '^LAB count ' | tail -n 1 | awk '{print $3}'; }
'''

COMMON = SHELL_HELPERS + r'''
rss() { awk '/^VmRSS:/ {print $2}' /proc/$1/status; }
mkdir -p /tmp/b && cd /tmp/b
'''

HEARTH = COMMON + r'''
H=/lab/bin/hearth
api() { curl -s -o /tmp/resp -w '%{http_code}' --unix-socket /tmp/b.sock -X "$1" \
          -H 'Content-Type: application/json' -d "$3" "http://localhost$2"; }
$H run --kernel @KERNEL@ --initrd @INITRD@ --cmdline "@CMDLINE@" --cpus 2 --memory @MEM@ \
  --api-sock /tmp/b.sock --snapshot-dir /tmp/b </dev/null >/tmp/h.out 2>/tmp/h.err & hp=$!
waitfor '^LAB count 30 ' /tmp/h.out 1800 || echo "BENCH hearth_error=no_counter"
api PATCH /vm '{"state": "Paused"}' >/dev/null
t0=$(up)
c=$(api PUT /snapshot/create '{"snapshot_path": "/tmp/b/vm.snap", "mem_file_path": "/tmp/b/vm.mem"}')
t1=$(up)
[ "$c" = 204 ] || echo "BENCH hearth_error=create_$c_$(cat /tmp/resp)"
echo "BENCH hearth_create_s=$(awk "BEGIN {print $t1 - $t0}")"
echo "BENCH hearth_size_bytes=$(( $(stat -c %s vm.mem) + $(stat -c %s vm.snap) ))"
echo "BENCH hearth_used_kb=$(( $(du -k vm.mem | cut -f1) + $(du -k vm.snap | cut -f1) ))"
last=$(lastcount /tmp/h.out)
kill -9 $hp; wait $hp
t2=$(up)
$H restore --snapshot vm.snap --mem vm.mem --resume </dev/null >/tmp/hr.out 2>/tmp/hr.err & rp=$!
waitfor "^LAB count $((last + 1)) " /tmp/hr.out 600 || echo "BENCH hearth_error=no_restore"
t3=$(up)
echo "BENCH hearth_rss_kb=$(rss $rp)"
echo "BENCH hearth_restore_s=$(awk "BEGIN {print $t3 - $t2}")"
kill -TERM $rp; wait $rp
head -n 5 /tmp/hr.err
# The same snapshot through the Uffd backend: tests/uffd's handler, already listening
# (as a Firecracker handler would be), serves vm.mem; timed from the restore command.
/bin/uffd_handler /tmp/u.sock vm.mem --count-file /tmp/u.count 2>/tmp/u.err & uh=$!
n=0; while [ ! -S /tmp/u.sock ] && [ $n -lt 1000 ]; do sleep 0.01; n=$((n+1)); done
[ -S /tmp/u.sock ] || echo "BENCH uffd_error=no_handler_socket"
t4=$(up)
$H restore --snapshot vm.snap --mem-uffd /tmp/u.sock --resume </dev/null >/tmp/ur.out 2>/tmp/ur.err & rp=$!
waitfor "^LAB count $((last + 1)) " /tmp/ur.out 600 || echo "BENCH uffd_error=no_restore"
t5=$(up)
echo "BENCH uffd_rss_kb=$(rss $rp)"
echo "BENCH uffd_handler_rss_kb=$(rss $uh)"
echo "BENCH uffd_restore_s=$(awk "BEGIN {print $t5 - $t4}")"
kill -TERM $rp; wait $rp
wait $uh; hx=$?
[ $hx = 0 ] || echo "BENCH uffd_error=handler_exit_$hx"
echo "BENCH uffd_faults=$(cat /tmp/u.count 2>/dev/null)"
head -n 5 /tmp/ur.err; head -n 5 /tmp/u.err
'''

QEMU = COMMON + r'''
Q="/lab/bin/qemu-system-x86_64 -L @QDATA@ -M microvm -enable-kvm -cpu host -m @MEM@ -smp 2 -nodefaults -no-user-config -nographic -no-reboot -serial stdio -device i8042 -kernel @KERNEL@ -initrd @INITRD@"
mon() { # NAME: a monitor on FIFOs NAME.in / NAME.out, its output in NAME.log
  rm -f /tmp/$1.in /tmp/$1.out; mkfifo /tmp/$1.in /tmp/$1.out; : >/tmp/$1.log
}
mon m1
$Q -append "@CMDLINE@" -monitor pipe:/tmp/m1 </dev/null >/tmp/q.out 2>/tmp/q.err & qp=$!
cat /tmp/m1.out >/tmp/m1.log & c1=$!
exec 3>/tmp/m1.in
waitfor '^LAB count 30 ' /tmp/q.out 1800 || echo "BENCH qemu_error=no_counter"
echo stop >&3
t0=$(up)
echo 'migrate "exec:cat > /tmp/b/q.mig"' >&3
n=0; while ! grep -q 'Migration status: completed' /tmp/m1.log && [ $n -lt 6000 ]; do
  echo 'info migrate' >&3; sleep 0.01; n=$((n+1)); done
t1=$(up)
echo "BENCH qemu_create_s=$(awk "BEGIN {print $t1 - $t0}")"
echo "BENCH qemu_size_bytes=$(stat -c %s q.mig)"
echo "BENCH qemu_used_kb=$(du -k q.mig | cut -f1)"
last=$(lastcount /tmp/q.out)
kill -9 $qp; wait $qp; exec 3>&-; kill $c1 2>/dev/null
mon m2
t2=$(up)
$Q -append "@CMDLINE@" -monitor pipe:/tmp/m2 -incoming "exec:cat /tmp/b/q.mig" </dev/null >/tmp/qr.out 2>/tmp/qr.err & rp=$!
cat /tmp/m2.out >/tmp/m2.log & c2=$!
exec 4>/tmp/m2.in
# While the stream loads, `info status` says "paused (inmigrate)", and a `cont` then only
# sets autostart, which the source's saved "paused" state overrides: the guest would stay
# paused. So wait for the plain "paused" that follows the completed load, then `cont`.
n=0; while ! tr -d '\r' </tmp/m2.log | grep -q 'VM status: \(paused\|running\)$' && [ $n -lt 6000 ]; do
  echo 'info status' >&4; sleep 0.01; n=$((n+1)); done
[ $n -lt 6000 ] || echo "BENCH qemu_error=no_incoming"
echo cont >&4
waitfor "^LAB count $((last + 1)) " /tmp/qr.out 600 || echo "BENCH qemu_error=no_restore"
t3=$(up)
echo "BENCH qemu_rss_kb=$(rss $rp)"
echo "BENCH qemu_restore_s=$(awk "BEGIN {print $t3 - $t2}")"
echo quit >&4; sleep 1; kill -9 $rp 2>/dev/null; wait $rp; exec 4>&-; kill $c2 2>/dev/null
head -n 5 /tmp/qr.err
'''


def script(text, mem):
    return (text.replace("@KERNEL@", L.L1_KERNEL).replace("@INITRD@", L1_INITRD)
            .replace("@CMDLINE@", CMDLINE).replace("@MEM@", str(mem))
            .replace("@QDATA@", L.L1_QEMU_DATA))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--memory", type=int, default=512, help="guest RAM in MiB (default 512)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    try:
        lab = L.Lab(stream=a.stream or None)
        l2 = L.build_l2_initrd(lab.kernel, name="l2bench-snap", extra_sh=L2_SCRIPT)
        runs = []
        for name, vmm, text in (("hearth", "hearth", HEARTH), ("qemu", "qemu", QEMU)):
            # Hearth's run restores twice (File, then Uffd).
            run = L.ShellRun("snap_" + name, vmm, script(text, a.memory),
                             timeout=900 if name == "hearth" else 600)
            run.initrd = l2
            runs.append(run)
        handler = os.path.join(os.path.dirname(L.vmm_binary("hearth")), "tests", "uffd",
                               "uffd_handler")
        if not os.path.exists(handler):
            raise L.LabError("no %s (build Hearth with meson: it builds tests/uffd)" % handler)
        res = lab.run_plan(runs, tag="bench-snapshot", binaries={
            "/bin/curl": shutil.which("curl"), "/bin/uffd_handler": handler})
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    if not res.ok:
        print(res.failure_line())
        return 3
    vals, bad = bench_values(res, ("snap_hearth", "snap_qemu")), False
    for k, v in sorted(vals.items()):
        print("%s = %s" % (k, v))
        bad |= k.endswith("_error")
    # The whole Uffd restore's resident memory: the VMM's and the handler's.
    try:
        vals["uffd+handler_rss_kb"] = str(int(vals["uffd_rss_kb"])
                                          + int(vals["uffd_handler_rss_kb"]))
    except (KeyError, ValueError):
        pass
    for what in ("restore_s", "rss_kb"):
        if "hearth_" + what in vals:
            vals["file_" + what] = vals["hearth_" + what]
    print("guest RAM %d MiB, 2 vCPUs; hearth (File restore)/qemu ratios:" % a.memory)
    for what in ("size_bytes", "used_kb", "create_s", "restore_s", "rss_kb"):
        bad |= ratio(vals, what, "hearth", "qemu")
    print("Uffd restore of the same Hearth snapshot (uffd/file, uffd/qemu), %s faults served:"
          % vals.get("uffd_faults"))
    for what, u in (("restore_s", "uffd"), ("rss_kb", "uffd"), ("rss_kb", "uffd+handler")):
        for other in ("file", "qemu"):
            bad |= ratio(vals, what, u, other)
    return 1 if bad else 0


def bench_values(res, names):
    """The `BENCH key=value` lines of the named runs, as a dict; any other
    line those runs printed is shown, indented under the run's name."""
    vals = {}
    for name in names:
        r = res.runs.get(name)
        for line in (r.guest_lines if r else []):
            m = re.match(r"^BENCH (\w+)=(\S*)", line.strip())
            if m:
                vals[m.group(1)] = m.group(2)
            else:
                print("  %s| %s" % (name, line))
    return vals


def ratio(vals, what, a, b):
    """Prints a's WHAT against b's and their ratio; True when one is missing."""
    x, y = vals.get(a + "_" + what), vals.get(b + "_" + what)
    name = "%s/%s %s" % (a, b, what)
    try:
        print("  %-24s %10s vs %10s  ratio %.2f" % (name, x, y, float(x) / float(y)))
        return False
    except (TypeError, ValueError, ZeroDivisionError):
        print("  %-24s %s vs %s  (no ratio)" % (name, x, y))
        return True


if __name__ == "__main__":
    sys.exit(main())
