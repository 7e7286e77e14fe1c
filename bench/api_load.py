#!/usr/bin/env python3
"""The API socket under a client pool's load, on the host: Hearth against the floor.

    bench/run.sh --api-load [-n ROUNDS] [--seconds S] [--clients 1,16,64] [--hearth PATH]

`hearth serve` (sandbox and seccomp filters on, as users run it) answers
GET /machine-config to bench/apiload.c's clients: C connections opened at
once with non-blocking connects, each sending its next request as soon as
the last is answered, for S seconds. The peer is `apiload serve`, a
one-thread epoll server that answers every request at once with no work
behind it: the ceiling for an HTTP server on a Unix socket on this machine
(no Firecracker binary is available here to run the same load against).
The two alternate, ROUNDS times per client count; medians of requests per
second and of p99 latency, and hearth/floor ratios. A 503 or a connect that
found the backlog full is counted, never hidden. Needs no /dev/kvm.
Results to stdout and build/bench/api-load-results.txt. Report only.
"""
import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(REPO, "build", "bench")
SRC = os.path.join(REPO, "bench", "apiload.c")
DRIVER = os.path.join(BENCH_DIR, "apiload")
LINE = re.compile(r"APIL clients=(\d+) requests=(\d+) rps=(\d+) p50_us=(-?\d+) p99_us=(-?\d+) "
                  r"max_us=(-?\d+) not200=(\d+) eagain=(\d+) reconnects=(\d+)")


def build():
    os.makedirs(BENCH_DIR, exist_ok=True)
    if not os.path.exists(DRIVER) or os.path.getmtime(DRIVER) < os.path.getmtime(SRC):
        subprocess.run([os.environ.get("CC", "cc"), "-std=gnu11", "-O2", "-Wall", "-Wextra",
                        "-Werror", "-static", "-o", DRIVER + ".tmp", SRC], check=True)
        os.replace(DRIVER + ".tmp", DRIVER)


def start(kind, hearth, sock):
    if os.path.exists(sock):
        os.unlink(sock)
    argv = ([hearth, "serve", "--api-sock", sock] if kind == "hearth"
            else [DRIVER, "serve", sock])
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(sock):
        if p.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("%s did not open %s (exit %s)" % (kind, sock, p.poll()))
        time.sleep(0.01)
    return p


def one(kind, hearth, sock, clients, seconds):
    p = start(kind, hearth, sock)
    try:
        out = subprocess.run([DRIVER, "load", sock, str(clients), str(seconds)],
                             stdout=subprocess.PIPE, text=True, timeout=seconds + 60).stdout
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    m = LINE.search(out)
    if not m:
        raise SystemExit("%s, %d clients: no result line in %r" % (kind, clients, out))
    keys = ("clients", "requests", "rps", "p50", "p99", "max", "not200", "eagain", "reconnects")
    return dict(zip(keys, (int(v) for v in m.groups())))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=3, help="alternating rounds per client count")
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--clients", default="1,16,64")
    ap.add_argument("--hearth", default=os.environ.get("HEARTH",
                                                       os.path.join(REPO, "build", "hearth")))
    a = ap.parse_args()
    build()
    tmp = tempfile.mkdtemp(prefix="apiload-")
    sock = os.path.join(tmp, "api.sock")
    rows = []
    for clients in (int(c) for c in a.clients.split(",")):
        got = {"hearth": [], "floor": []}
        for _ in range(a.n):
            for kind in ("hearth", "floor"):
                got[kind].append(one(kind, a.hearth, sock, clients, a.seconds))
        rows.append((clients, got))
    lines = ["API socket under load, host, %d alternating rounds of %d s per row, "
             "GET /machine-config with keep-alive; medians" % (a.n, a.seconds), "",
             "| clients | hearth req/s | floor req/s | ratio | hearth p99 ms | floor p99 ms "
             "| ratio | hearth non-200 | connects refused (EAGAIN) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for clients, got in rows:
        med = {k: {f: statistics.median(r[f] for r in v) for f in ("rps", "p99")}
               for k, v in got.items()}
        lines.append("| %d | %.0f | %.0f | %.2f | %.2f | %.2f | %.1f | %d | %d |" % (
            clients, med["hearth"]["rps"], med["floor"]["rps"],
            med["hearth"]["rps"] / max(med["floor"]["rps"], 1),
            med["hearth"]["p99"] / 1000, med["floor"]["p99"] / 1000,
            med["hearth"]["p99"] / max(med["floor"]["p99"], 1),
            sum(r["not200"] for r in got["hearth"]), sum(r["eagain"] for r in got["hearth"])))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    with open(os.path.join(BENCH_DIR, "api-load-results.txt"), "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
