#!/usr/bin/env python3
"""What TLS costs a live migration, on the host: the same VM moved over
tcp:127.0.0.1 plain and with "tls": true (--migrate-tls at both ends,
mutual certificates made by tests/integration/run_migrate_tls_test.py), in
alternating pairs in one run, so the machine's noise falls on both.

    bench/run.sh --migrate-tls [-n N] [--memory MIB] [--touch MIB] [--hearth PATH]

The guest is tests/guest/tick.elf with --touch MiB of its RAM written at
boot (the rest stays zero, which the stream does not send) and nothing
rewritten after. Each move: a fresh source (`hearth run --api-sock
--migrate-net`) and destination (`hearth serve`), sandbox and seccomp on;
measured from the source's GET /migrate once completed: total_ms, bytes,
downtime_us. Reported: the medians, the throughput (bytes over total), and
TLS's ratio to plain. The physical limit is the loopback's copy, not a NIC.

Also the gap the guest's own output shows: its PIT ticks at 20 Hz and it
writes a line on each; both consoles are read as the lines come, stamped
with the host's clock, and the largest step between two lines less the
50 ms period is the tick gap. It holds more than the VMM's downtime: KVM's
PIT starts a whole period when its state is set (KVM_SET_PIT2 has no
phase), so the first tick after the resume comes up to 50 ms later than the
guest's own clock would have it. Each run prints the split: the source's
last tick to its pause, and the destination's resume to its first tick.

Report only: results to stdout and build/bench/migrate-tls-results.txt.
Needs a /dev/kvm that runs freestanding guests, and openssl.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import re
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.dont_write_bytecode = True
from run_migrate_tls_test import certs  # noqa: E402
from run_migrate_test import free_port  # noqa: E402
from run_vmclock_test import request  # noqa: E402
from run_fork_test import get  # noqa: E402

BENCH_DIR = os.path.join(ROOT, "build", "bench")
RESULTS = os.path.join(BENCH_DIR, "migrate-tls-results.txt")
TICK = os.path.join(ROOT, "build", "tests", "guest", "tick.elf")
TICK_HZ = 20    # the tick guest's PIT rate (tests/guest/tick.c)


def wait(what, pred, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for " + what)


class Stamped:
    """A console's tick lines, each stamped with the host's clock as it arrives."""

    def __init__(self, pipe):
        self.lines = []
        self.t = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self.t.start()

    def _read(self, pipe):
        for ln in iter(pipe.readline, b""):
            if re.search(rb"tick \d+ line \d+", ln):
                self.lines.append(time.monotonic())


def gap_ms(src, dst):
    """The largest step between two tick lines over both consoles, less the tick's
    period: the downtime the guest's own output shows."""
    ts = sorted(src.lines + dst.lines)
    steps = [b - a for a, b in zip(ts, ts[1:])]
    return max(0.0, max(steps) * 1000 - 1000.0 / TICK_HZ) if steps else None


def one(hearth, tmp, memory, touch, tls, tlsdir):
    d = tempfile.mkdtemp(dir=tmp)
    disk = os.path.join(d, "disk.img")
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    extra = ["--migrate-tls", tlsdir] if tls else []
    ssock, dsock = os.path.join(d, "s.sock"), os.path.join(d, "d.sock")
    procs = [subprocess.Popen(
        [hearth, "run", "--kernel", TICK, "--memory", str(memory),
         "--cmdline", "touch=%d dirty=0 every=1" % touch,
         "--disk", "path=%s,id=scratch" % disk, "--api-sock", ssock, "--migrate-net"] + extra,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)]
    procs.append(subprocess.Popen([hearth, "serve", "--api-sock", dsock] + extra,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL))
    src, dst = Stamped(procs[0].stdout), Stamped(procs[1].stdout)
    try:
        wait("the source's first lines", lambda: len(src.lines) >= 5)
        wait("the destination's socket", lambda: os.path.exists(dsock))
        uri = "tcp:127.0.0.1:%d" % free_port()
        body = {"uri": uri, "drive_overrides": [
            {"drive_id": "scratch", "path_on_host": disk, "is_read_only": False}]}
        if tls:
            body["tls"] = True
        st, text = request(dsock, "PUT", "/migrate/incoming", body)
        if st != 204:
            raise RuntimeError("PUT /migrate/incoming: %d %r" % (st, text))
        st, text = request(ssock, "PUT", "/migrate", dict({"uri": uri}, **(
            {"tls": True} if tls else {})))
        if st != 204:
            raise RuntimeError("PUT /migrate: %d %r" % (st, text))
        wait("the source to finish", lambda: json.loads(get(ssock, "/migrate")[1])["state"] in (
            "completed", "failed", "unconfirmed"))
        got = json.loads(get(ssock, "/migrate")[1])
        if got["state"] != "completed":
            raise RuntimeError("the migration ended %r" % got)
        dgot = json.loads(get(dsock, "/migrate")[1])
        got["load_us"] = dgot.get("load_us", 0)
        # Ten ticks on the destination, and the gap across the move, split by the
        # source's pause and the destination's resume (CLOCK_MONOTONIC, as time.monotonic).
        n = len(dst.lines)
        wait("the destination's ticks", lambda: len(dst.lines) >= n + 10)
        got["gap_ms"] = gap_ms(src, dst)
        pa, ra = got.get("paused_at_us", 0) / 1e6, dgot.get("resumed_at_us", 0) / 1e6
        last = max([t for t in src.lines if t <= pa] or [pa])
        first = min([t for t in dst.lines if t >= ra] or [ra])
        got["split_ms"] = ((pa - last) * 1000, (first - ra) * 1000)
        return got
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=5, help="pairs (plain, TLS) to run")
    ap.add_argument("--memory", type=int, default=1024, help="guest MiB")
    ap.add_argument("--touch", type=int, default=512, help="MiB the guest writes at boot")
    ap.add_argument("--hearth", default=os.path.join(ROOT, "build", "hearth"))
    a = ap.parse_args()
    if not shutil.which("openssl"):
        sys.exit("bench: no openssl to make the certificates (scripts/deps.sh build)")
    os.makedirs(BENCH_DIR, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="hearth-bench-mtls-")
    runs = {False: [], True: []}
    try:
        tlsdir = os.path.join(tmp, "tls")
        certs(tlsdir)
        for i in range(a.n):
            # Alternating which goes first: a warm-up then leans on neither.
            for tls in ((False, True) if i % 2 == 0 else (True, False)):
                r = one(a.hearth, tmp, a.memory, a.touch, tls, tlsdir)
                runs[tls].append(r)
                sw = r.get("switch_us", {})
                print("run %d %s: total %d ms, %.1f MB, downtime %.1f ms, gap %.1f ms (last "
                      "tick to pause %.1f, resume to first tick %.1f) (%s), %s" % (
                    i + 1, "tls  " if tls else "plain", r["total_ms"], r["bytes"] / 1e6,
                    r["downtime_us"] / 1e3, r["gap_ms"], r["split_ms"][0], r["split_ms"][1], " ".join("%s %d" % (k, sw[k]) for k in
                    ("state", "send", "ready", "running") if k in sw) + " load %d" % r["load_us"],
                    r["tls"]), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {}
    for tls in (False, True):
        rs = runs[tls]
        med[tls] = {k: statistics.median(r[k] for r in rs)
                    for k in ("total_ms", "bytes", "downtime_us", "gap_ms")}
    lines = ["migration over tcp:127.0.0.1, %d MiB guest, %d MiB written, %d pairs (medians)" % (
        a.memory, a.touch, a.n),
        "| stream | total ms | MB sent | MB/s | downtime ms | tick gap ms |",
        "|---|---|---|---|---|---|"]
    for tls in (False, True):
        m = med[tls]
        lines.append("| %s | %d | %.1f | %.0f | %.1f | %.1f |" % (
            runs[True][0]["tls"] if tls else "plain", m["total_ms"], m["bytes"] / 1e6,
            m["bytes"] / 1e3 / max(m["total_ms"], 1), m["downtime_us"] / 1e3, m["gap_ms"]))
    lines.append("TLS / plain: total %.2fx, downtime %.2fx" % (
        med[True]["total_ms"] / max(med[False]["total_ms"], 1),
        med[True]["downtime_us"] / max(med[False]["downtime_us"], 1)))
    text = "\n".join(lines)
    print(text)
    with open(RESULTS, "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
