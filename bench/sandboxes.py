#!/usr/bin/env python3
"""E2B's SDK on `hearth sandboxes`, against a bare PUT /fork, in one L1 boot.

    bench/run.sh --sandboxes [-n N] [--at-once M] [--jail] [--stream]

On the template "base" that scripts/sandbox_template.py --minimal builds
(Debian's generic kernel, 128 MiB, 1 vCPU), in L1 (the lab's nested KVM,
which sees this host's files as test_meson's runs do):

  create   Sandbox.create() to its first commands.run('true') answered:
           the server's PUT /fork of the paused template, the clone's
           POST /init, the SDK's Connect stream through envd's endpoint;
           N one at a time (p50, p99) and M at once
  idle     what each of the N sandboxes, idle, costs L1: MemAvailable before
           and after, over N (3 s to settle each side)
  split    where a create goes, one at a time (p50s): the server's fork
           and /init (its log's line for each create), create() answered,
           the first command, and a later one on each idle sandbox (run
           after the memory is read)
  fork     a bare PUT /fork of the same template on its API socket (the
           server's, in its run directory), timed to its answer: the clone
           runs and serves its API; N one at a time, M at once, and the
           memory each costs the same way

With --jail the server runs with --jail-uids 2101-2199 --jail-gid 2100:
every VM in a jail of its own (docs/sandboxes.md, "Jailed"), the bare
forks of its template too.

The SDK and the template are made here first (npm's registry is reached
here, not in L1), as tests/integration/run_sandboxd_test.py's sdk case
makes them. Prints the figures and the ratios (create / fork, sandbox /
clone). Report only: exit 0 when every figure was taken, 1 when one is
missing, 3 when the lab failed.
"""
import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.dont_write_bytecode = True
import l1  # noqa: E402
import lab as L  # noqa: E402
import run_sandboxd_test as T  # noqa: E402

BUILD = os.path.join(REPO, "build")
RUN_DIR = "/tmp/sbx-bench"

SCRIPT = r'''
set -u
cd @SDK@
rm -rf @RUN@; echo @KEY@ > /tmp/sbx-bench.key
@HEARTH@ sandboxes --listen 127.0.0.1:3000 --api-key-file /tmp/sbx-bench.key \
  --templates @TPL@ --run-dir @RUN@ --op-timeout 600 --boot-timeout 900 \
  --max-sandboxes 64 -v @JAIL@ >/tmp/sbx-bench.log 2>&1 &
srv=$!
i=0; while ! grep -q 'sandboxes: ready' /tmp/sbx-bench.log && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
E2B_API_URL=http://127.0.0.1:3000 E2B_SANDBOX_URL=http://127.0.0.1:3001 E2B_API_KEY=@KEY@ \
  TPL_API_SOCK=@RUN@/t0@VM@/api.sock BENCH_N=@N@ BENCH_AT_ONCE=@M@ node sandboxes.mjs 2>&1
rc=$?
echo "node rc=$rc"
if [ $rc != 0 ]; then
  # What the server and its VMs were doing when the SDK gave up.
  ps -eo pid,ppid,stat,etime,time,args | grep -E 'hearth (serve|sandboxes)' | grep -v grep | cut -c1-200
  for f in @RUN@/*/log @RUN@/*/vm/log @RUN@/*/*.log @RUN@/*/vm/*.log; do
    [ -f "$f" ] && { echo "-- $f"; tail -c 1500 "$f"; }
  done
fi
kill -TERM $srv
i=0; while kill -0 $srv 2>/dev/null && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done
kill -0 $srv 2>/dev/null && { echo "server still there 60 s after SIGTERM: SIGKILL"; kill -9 $srv; }
wait $srv
grep -v 'created from template' /tmp/sbx-bench.log | tail -n 60
grep 'created from template' /tmp/sbx-bench.log | sed 's/^/SPLIT /'
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=10, help="sandboxes one at a time (default 10)")
    ap.add_argument("--at-once", type=int, default=10, help="sandboxes at once (default 10)")
    ap.add_argument("--hearth", default=os.path.join(BUILD, "hearth"))
    ap.add_argument("--agent", default=os.path.join(BUILD, "src", "agent", "hearth-agent"))
    ap.add_argument("--work", default=os.path.join(BUILD, "bench", "sandboxes"),
                    help="where the SDK and the template are made")
    ap.add_argument("--jail", action="store_true", help="every VM jailed (--jail-uids)")
    ap.add_argument("--stream", action="store_true")
    a = ap.parse_args()
    work = a.work
    os.makedirs(work, exist_ok=True)
    sdk = T.prepare_sdk(work)
    subprocess.run(["cp", os.path.join(HERE, "sandboxes.mjs"), sdk], check=True)
    tpl = T.prepare_template(work, os.path.realpath(a.agent))
    script = (SCRIPT.replace("@SDK@", sdk).replace("@RUN@", RUN_DIR).replace("@KEY@", T.KEY)
              .replace("@HEARTH@", os.path.realpath(a.hearth)).replace("@TPL@", tpl)
              .replace("@N@", str(a.n)).replace("@M@", str(a.at_once))
              .replace("@JAIL@", "--jail-uids 2101-2199 --jail-gid 2100" if a.jail else "")
              .replace("@VM@", "/vm" if a.jail else ""))
    runs = [l1.host_root_run(),
            L.CommandRun("sandboxes", "hearth", ["chroot", "/lab/root", "/bin/sh", "-c", script],
                         timeout=3600)]
    try:
        res = L.Lab(stream=a.stream or None).run_plan(
            runs, tag="bench-sandboxes", retries=1,
            l1_extra=L.L1Extra(modules=l1.HOST_ROOT_MODULES, host_root=True))
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    if not res.ok:
        print(res.failure_line())
        return 3
    r = res.runs.get("sandboxes")
    lines = (r.guest_lines + r.stderr_lines) if r else []
    got = [l for l in lines if l.startswith("BENCH ")]
    if not got:
        print("no figures; the run said:\n  " + "\n  ".join(lines[-40:]))
        return 1
    b = json.loads(got[-1][6:])
    print("template boot (first create, not counted): %.1f s%s" % (
        b["templateBootMs"] / 1000, "; every VM jailed" if a.jail else ""))
    print("| what | one at a time p50 | p99 | %d at once p50 | p99 | idle, each |" % b["atOnce"])
    print("|---|---|---|---|---|---|")
    for name, k, mem in (("Sandbox.create() to first commands.run('true')", "create",
                          "sandboxKiBEach"), ("bare PUT /fork (the clone serving)", "fork",
                                              "bareKiBEach")):
        print("| %s | %.0f ms | %.0f ms | %.0f ms | %.0f ms | %d KiB |" % (
            name, b[k + "Seq"]["p50"], b[k + "Seq"]["p99"], b[k + "AtOnce"]["p50"],
            b[k + "AtOnce"]["p99"], b[mem]))
    print("create / fork (p50, one at a time): %.2f; at once: %.2f; sandbox / clone memory: "
          "%.2f" % (b["createSeq"]["p50"] / b["forkSeq"]["p50"],
                    b["createAtOnce"]["p50"] / b["forkAtOnce"]["p50"],
                    b["sandboxKiBEach"] / max(1, b["bareKiBEach"])))
    print_split(b, lines)
    return 0


def print_split(b, lines):
    """Where a create's time goes, one at a time (p50s): the server's own
    log of each create's VM and /init (the first, the template's boot, and
    the ten at once left out), the SDK's create() answered, its first
    command, and a later command on the same sandbox."""
    vm, init = [], []
    for l in lines:
        m = re.search(r"SPLIT .*: VM (\d+) ms, /init (\d+) ms", l)
        if m:
            vm.append(int(m.group(1)))
            init.append(int(m.group(2)))
    vm, init = vm[1:1 + b["n"]], init[1:1 + b["n"]]
    sp = b.get("split", {})
    med = lambda xs: sorted(xs)[(len(xs) - 1) // 2] if xs else float("nan")  # noqa: E731
    print("one at a time, p50: server's fork %.0f ms + /init %.0f ms; create() answered %.0f ms; "
          "first commands.run('true') %.0f ms; a later one %.0f ms" % (
              med(vm), med(init), sp.get("createP50", float("nan")),
              sp.get("firstRunP50", float("nan")), sp.get("laterRunP50", float("nan"))))


if __name__ == "__main__":
    sys.exit(main())
