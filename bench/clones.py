#!/usr/bin/env python3
"""Clones of one snapshot, on the host (issue 29): N `hearth restore` of
the same snapshot at once, what each costs and how fast all run.

    bench/run.sh --clones [--counts 1,10,30,100] [--memory MIB] [--touch MIB]
                          [--dirty MIB] [--hearth PATH] [--no-merge]
                          [--merge-counts 10,100] [--every K]

The guest is tests/guest/tick.elf, which sleeps between its lines (the
PIT's interrupt at 20 Hz wakes it; with --every K it writes a line on
every Kth tick only, for hundreds of clones), so the figures are the
restore's, not the CPU a busy guest burns: it wrote --touch MiB at boot, and each line
rewrites the first --dirty MiB with the same values, so after a restore
those pages become each clone's own copies, identical in every clone.
One VM is booted (`hearth run --api-sock`) with a scratch disk and a
hybrid vsock, paused and snapshotted (File backend); then, for each N, N
clones are started at once with `hearth restore --snapshot S --mem M`,
each with its own overrides, as an orchestrator gives them: its own disk
image (`--drive-override scratch=rw:DISK_I`) and its own vsock socket
(`--vsock-override SOCK_I`), sandbox and seccomp on. Measured:
  - the time from the start to each clone's first "tick" line after the
    restore (median, and the last: all running);
  - per clone, from /proc/PID/smaps_rollup: Pss and Rss;
  - per clone, from /proc/PID/smaps and status: the pages its guest wrote
    (guest RAM's dirty private pages: the memory file is mapped privately)
    and its own cost, every other dirty private page (heap, stacks, data)
    and the process's page tables: what a clone costs beyond what its
    guest writes, without the kernel's share (KVM's structures);
  - the host's memory used per clone: MemAvailable before less after,
    over N (it counts KVM's, the page tables' and the kernel's share, not
    only what smaps shows);
  - then, unless --no-merge, for the N in --merge-counts (default every
    N up to 100), the same N again with --mem-merge and KSM running (/sys/kernel/mm/ksm/run, set back as it was), measured once
    ksmd has had its passes: what merging the clones' identical writes
    gives back.
N up to 1,000 runs where memory allows (each clone holds a few open
files; the bench raises its open-file limit to the hard one). Needs a
/dev/kvm that runs freestanding guests. Report only: results to
stdout and build/bench/clones-results.txt, a chart to build/bench/clones.png.
"""
import argparse
import json
import os
import resource
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.dont_write_bytecode = True
from run_api_test import UnixHTTPConnection  # noqa: E402

BENCH_DIR = os.path.join(REPO, "build", "bench")
RESULTS = os.path.join(BENCH_DIR, "clones-results.txt")
KSM = "/sys/kernel/mm/ksm"
FIRST_LINE_TIMEOUT = 120


def meminfo(key="MemAvailable"):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rollup(pid):
    got = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                p = line.split()
                if len(p) >= 3 and p[2] == "kB":
                    got[p[0].rstrip(":")] = int(p[1])
    except OSError:
        pass
    return got


def snapshot(hearth, guest, tmp, a):
    """Boots tick, waits for its lines, pauses and snapshots it; returns (state, mem)."""
    sock = os.path.join(tmp, "boot.sock")
    scratch(os.path.join(tmp, "boot.img"))
    p = subprocess.Popen([hearth, "run", "--kernel", guest, "--memory", str(a.memory),
                          "--cmdline", "touch=%d dirty=%d every=%d" % (a.touch, a.dirty, a.every),
                          "--disk", "path=%s,id=scratch" % os.path.join(tmp, "boot.img"),
                          "--vsock", "cid=3,uds=%s" % os.path.join(tmp, "boot", "v.sock"),
                          "--api-sock", sock, "--snapshot-dir", tmp],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    lines = 0
    while lines < 3:
        line = p.stdout.readline()
        if not line or time.monotonic() > deadline:
            p.kill()
            raise SystemExit("the tick guest did not run (a /dev/kvm that runs freestanding "
                             "guests is needed)")
        lines += line.startswith(b"tick ")
    state, mem = os.path.join(tmp, "vm.state"), os.path.join(tmp, "vm.mem")
    for method, path, body in (("PATCH", "/vm", {"state": "Paused"}),
                               ("PUT", "/snapshot/create",
                                {"snapshot_path": state, "mem_file_path": mem})):
        c = UnixHTTPConnection(sock)
        c.request(method, path, body=json.dumps(body),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        if r.status != 204:
            p.kill()
            raise SystemExit("%s %s: %d %s" % (method, path, r.status, r.read()))
        c.close()
    p.kill()
    p.wait()
    return state, mem


SCRATCH_BYTES = 1 << 20


def scratch(path):
    """A clone's own disk: sparse, the size of the snapshot's."""
    with open(path, "wb") as f:
        f.truncate(SCRATCH_BYTES)


def own_and_guest(pid, guest_kb):
    """(own kB, guest kB): dirty private pages outside guest RAM plus page tables; guest RAM's.

    Dirty only: a clean private page is a file's (Hearth's text while one
    clone alone maps it), which the page cache holds once for all.
    """
    own = guest = 0
    cur_guest = False
    try:
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                p = line.split()
                if "-" in p[0] and not p[0].endswith(":"):
                    a, b = (int(x, 16) for x in p[0].split("-"))
                    # Guest RAM: the memory file's private mapping, its size the guest's.
                    cur_guest = (b - a) // 1024 == guest_kb and len(p) > 5 and \
                        not p[5].startswith("[")
                elif p[0] == "Private_Dirty:":
                    if cur_guest:
                        guest += int(p[1])
                    else:
                        own += int(p[1])
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmPTE:"):
                    own += int(line.split()[1])
    except OSError:
        pass
    return own, guest


def clones(hearth, state, mem, n, merge, tmp):
    """Starts n restores at once, each with its own disk and vsock socket;
    returns the clones, their first lines' times, MemAvailable before."""
    disks = []
    for i in range(n):
        disks.append(os.path.join(tmp, "clone%d.img" % i))
        scratch(disks[-1])
    for i in range(n):
        # A socket directory Hearth makes itself, so its sandbox can keep it.
        shutil.rmtree(os.path.join(tmp, "v%d" % i), ignore_errors=True)
    before = meminfo()
    argv = [hearth, "restore", "--snapshot", state, "--mem", mem] + (["--mem-merge"] if merge else [])
    sel = selectors.DefaultSelector()
    t0 = time.monotonic()
    procs = []
    for i in range(n):
        with open(os.path.join(tmp, "clone%d.err" % i), "wb") as err:
            p = subprocess.Popen(argv + ["--drive-override", "scratch=rw:" + disks[i],
                                         "--vsock-override",
                                         os.path.join(tmp, "v%d" % i, "v.sock")],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        os.set_blocking(p.stdout.fileno(), False)
        sel.register(p.stdout, selectors.EVENT_READ, p)
        procs.append(p)
    first = {}
    bufs = {}
    # Past ~100 clones on 2 cores the guests' own timers share the CPU: more time.
    deadline = t0 + max(FIRST_LINE_TIMEOUT, n // 2)
    while len(first) < n and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            p = key.data
            try:
                data = key.fileobj.read() or b""
            except OSError:
                data = b""
            bufs[p.pid] = bufs.get(p.pid, b"") + data
            if p.pid not in first and b"tick " in bufs[p.pid]:
                first[p.pid] = time.monotonic() - t0
                sel.unregister(key.fileobj)
                bufs[p.pid] = b""
    for key in list(sel.get_map().values()):
        sel.unregister(key.fileobj)
    for i, p in enumerate(procs):
        if p.pid not in first:
            with open(os.path.join(tmp, "clone%d.err" % i), "rb") as f:
                err = f.read().decode(errors="replace").strip().splitlines()
            print("clone %d did not run (%s): %s" % (i, "exit %d" % p.returncode
                  if p.poll() is not None else "still running", " | ".join(err[-3:])), flush=True)
            break
    return procs, first, before


def settle_and_measure(procs, before, n, wait_s, guest_kb):
    time.sleep(wait_s)
    pss = [rollup(p.pid).get("Pss", 0) for p in procs]
    rss = [rollup(p.pid).get("Rss", 0) for p in procs]
    split = [own_and_guest(p.pid, guest_kb) for p in procs]
    used = (before - meminfo()) / max(n, 1)
    return (statistics.median(pss), statistics.median(rss), used,
            statistics.median(s[0] for s in split), statistics.median(s[1] for s in split))


def stop(procs):
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()
        p.stdout.close()


def ksm_wait(max_s=30):
    """Until ksmd's merged count stops growing (at most max_s)."""
    last, still = -1, 0
    for _ in range(max_s * 2):
        time.sleep(0.5)
        with open(os.path.join(KSM, "pages_sharing")) as f:
            cur = int(f.read())
        still = still + 1 if cur == last else 0
        if still >= 4:
            break
        last = cur
    return last


def chart(path, rows):
    script = r"""
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
path, rows = json.load(sys.stdin)
fig, ax = plt.subplots(1, 2, figsize=(10, 4))
for merge in (False, True):
    r = [x for x in rows if x["merge"] == merge]
    if not r:
        continue
    lab = "--mem-merge" if merge else "plain"
    ax[0].plot([x["n"] for x in r], [x["all_ms"] for x in r], "o-", label=lab)
    ax[1].plot([x["n"] for x in r], [x["used_kb"] / 1024 for x in r], "o-", label=lab)
ax[0].set_xlabel("clones"); ax[0].set_ylabel("ms until all run"); ax[0].legend()
ax[1].set_xlabel("clones"); ax[1].set_ylabel("MiB host memory per clone"); ax[1].legend()
fig.tight_layout(); fig.savefig(path)
"""
    return run_chart(script, path, rows)


def run_chart(script, path, rows):
    """Runs a matplotlib script (reading [path, rows] as JSON on stdin) under
    Debian's Python, where python3-matplotlib is; the line to print."""
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    r = subprocess.run([py, "-c", script], input=json.dumps([path, rows]), text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return "chart: " + path if not r.returncode else "no chart: " + (
        r.stdout.strip().splitlines() or ["matplotlib failed"])[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--counts", default="1,10,30,100")
    ap.add_argument("--memory", type=int, default=64)
    ap.add_argument("--touch", type=int, default=32)
    ap.add_argument("--dirty", type=int, default=4)
    ap.add_argument("--hearth", default=os.path.join(REPO, "build", "hearth"))
    ap.add_argument("--every", type=int, default=1,
                    help="a line (and the rewrite) on every Kth tick of 20 Hz (default 1)")
    ap.add_argument("--no-merge", action="store_true")
    ap.add_argument("--merge-counts", default=None,
                    help="the N also run with --mem-merge (default: each N up to 100)")
    a = ap.parse_args()
    counts = [int(x) for x in a.counts.split(",")]
    merge_counts = ([int(x) for x in a.merge_counts.split(",") if x] if a.merge_counts is not None
                    else [n for n in counts if n <= 100])
    # Each clone is a pipe here and a few descriptors in its own process.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 2 * max(counts) + 64:
        raise SystemExit("--counts up to %d needs more open files than the hard limit %d"
                         % (max(counts), hard))
    guest = os.path.join(os.path.dirname(a.hearth), "tests", "guest", "tick.elf")
    os.makedirs(BENCH_DIR, exist_ok=True)
    lines = ["Clones on the host: tick guest, %d MiB RAM, %d MiB written at boot, %d MiB "
             "rewritten after restore, a line every %d tick(s) of 20 Hz; hearth restore "
             "with its own disk and vsock, sandbox and seccomp on" %
             (a.memory, a.touch, a.dirty, a.every),
             "%5s %6s %10s %10s %9s %9s %12s %8s %9s %s" % (
                 "N", "merge", "first ms", "all ms", "Pss kB", "Rss kB", "host kB/VM", "own kB",
                 "guest kB", "ksm")]
    rows = []
    ksm_run = None
    if not a.no_merge and os.path.exists(os.path.join(KSM, "run")):
        with open(os.path.join(KSM, "run")) as f:
            ksm_run = f.read().strip()
    with tempfile.TemporaryDirectory(prefix="hearth-clones-") as tmp:
        state, mem = snapshot(a.hearth, guest, tmp, a)
        try:
            for n in counts:
                for merge in ((False,) if ksm_run is None or n not in merge_counts
                              else (False, True)):
                    if merge:
                        with open(os.path.join(KSM, "run"), "w") as f:
                            f.write("1")
                    procs, first, before = clones(a.hearth, state, mem, n, merge, tmp)
                    try:
                        sharing = ksm_wait() if merge else ""
                        pss, rss, used, own, gw = settle_and_measure(procs, before, n, 1.0,
                                                                     a.memory * 1024)
                    finally:
                        stop(procs)
                    if merge:
                        with open(os.path.join(KSM, "run"), "w") as f:
                            f.write("2")  # unmerge everything before the next round
                        time.sleep(1)
                        with open(os.path.join(KSM, "run"), "w") as f:
                            f.write("0")
                    t = sorted(first.values())
                    row = {"n": n, "merge": merge, "ran": len(t),
                           "first_ms": statistics.median(t) * 1000 if t else -1,
                           "all_ms": t[-1] * 1000 if len(t) == n else -1,
                           "pss_kb": pss, "rss_kb": rss, "used_kb": used, "own_kb": own,
                           "guest_kb": gw}
                    rows.append(row)
                    lines.append("%5d %6s %10.1f %10.1f %9d %9d %12.0f %8d %9d %s%s" % (
                        n, "yes" if merge else "no", row["first_ms"], row["all_ms"], pss, rss,
                        used, own, gw, sharing, "" if len(t) == n else
                        "  (only %d of %d ran)" % (len(t), n)))
                    print(lines[-1], flush=True)
        finally:
            if ksm_run is not None:
                with open(os.path.join(KSM, "run"), "w") as f:
                    f.write(ksm_run)
    lines.append(chart(os.path.join(BENCH_DIR, "clones.png"), rows))
    text = "\n".join(lines)
    print(text)
    with open(RESULTS, "w") as f:
        f.write(text + "\n")
    return 0 if all(r["ran"] == r["n"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
