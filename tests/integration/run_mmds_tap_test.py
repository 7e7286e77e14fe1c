#!/usr/bin/env python3
"""The MMDS stack behind a host TAP, the host kernel's TCP/IP as the guest.

Runs itself again inside a network namespace of its own (unshare --net: no
route but the TAP's, nothing reaches any real network). There mmds_tap
serves the MMDS at 169.254.169.254 on TAP mmds0; the kernel, at an address
outside 169.254.0.0/16 (as a guest on a TAP or --net user would be), talks
to it with curl. Each answer must be exactly what the responder says to
the same request directly (mmds_tap prints those first), also for many
connections at once (each its own HTTP connection), with a connection
left open and silent, and after the guest's address changes (libslirp
then asks the guest's MAC itself, and the kernel's reply must reach it).

Needs root, /dev/net/tun, unshare, ip and curl: exit 77 (skip) without.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys

MMDS = "169.254.169.254"
DOC = '{"latest": {"meta-data": {"ami-id": "ami-12345678", "local-ipv4": "172.16.0.2"}}}'
REQUESTS = [
    ("GET", "/", "-"),
    ("GET", "/latest/meta-data/", "-"),
    ("GET", "/latest/meta-data/ami-id", "-"),
    ("GET", "/no/such/thing", "-"),
    ("PUT", "/latest/api/token", "60"),
]


def sh(*cmd):
    subprocess.run(cmd, check=True, timeout=30)


def curl(method, path, ttl=None, timeout=20):
    cmd = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", method,
           "--max-time", str(timeout), "-H", "Accept: */*", f"http://{MMDS}{path}"]
    if ttl:
        cmd += ["-H", f"X-metadata-token-ttl-seconds: {ttl}"]
    return cmd


def parse(out):
    body, _, code = out.rpartition("\n")
    return int(code), body


def check(expected, got, what):
    status, body = got
    if status != expected["status"]:
        sys.exit(f"FAIL {what}: status {status}, the responder says {expected['status']}")
    # A token is new each time: only its presence is compared.
    if expected["path"] != "/latest/api/token" and body != expected["body"]:
        sys.exit(f"FAIL {what}: body {body!r}, the responder says {expected['body']!r}")


def inner(harness):
    args = [harness, "mmds0", MMDS, DOC, "--"]
    for r in REQUESTS:
        args += list(r)
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    expected = []
    try:
        while True:
            line = proc.stdout.readline()
            if not line:
                sys.exit("FAIL: mmds_tap ended before it was ready")
            if line.startswith("ready"):
                break
            expected.append(json.loads(line))
        sh("ip", "link", "set", "lo", "up")
        sh("ip", "addr", "add", "172.16.0.2/24", "dev", "mmds0")
        sh("ip", "link", "set", "mmds0", "up")
        # As a guest is told to in Firecracker's guide.
        sh("ip", "route", "add", MMDS, "dev", "mmds0")

        for e in expected:
            ttl = dict((r[1], r[2]) for r in REQUESTS)[e["path"]]
            out = subprocess.run(curl(e["method"], e["path"], None if ttl == "-" else ttl),
                                 capture_output=True, text=True, timeout=60).stdout
            check(e, parse(out), f"{e['method']} {e['path']}")
        print("ok: each request answered as the responder says, from 172.16.0.2")

        # Firecracker's transport headers: a token's TTL repeated, a 405's Allow.
        head = subprocess.run(["curl", "-s", "-i", "-X", "PUT", "--max-time", "20", "-H",
                               "X-metadata-token-ttl-seconds: 060",
                               f"http://{MMDS}/latest/api/token"],
                              capture_output=True, text=True, timeout=60).stdout
        if "\nX-metadata-token-ttl-seconds: 60\n" not in head:
            sys.exit(f"FAIL: the token's answer lacks its TTL header: {head!r}")
        head = subprocess.run(["curl", "-s", "-i", "-X", "DELETE", "--max-time", "20",
                               f"http://{MMDS}/"], capture_output=True, text=True,
                              timeout=60).stdout
        if not head.startswith("HTTP/1.1 405") or "\nAllow: GET, PUT\n" not in head:
            sys.exit(f"FAIL: a DELETE is not a 405 with Allow: GET, PUT: {head!r}")
        print("ok: the token's TTL header and a 405's Allow")

        # A connection that never sends a request stays open meanwhile.
        idle = socket.create_connection((MMDS, 80), timeout=20)

        # Many at once: each guest connection is its own HTTP connection.
        gets = [e for e in expected if e["method"] == "GET"] * 6
        procs = [subprocess.Popen(curl("GET", e["path"]), stdout=subprocess.PIPE, text=True)
                 for e in gets]
        for e, p in zip(gets, procs):
            out, _ = p.communicate(timeout=60)
            check(e, parse(out), f"concurrent GET {e['path']}")
        print(f"ok: {len(gets)} concurrent connections, each with its own answer")
        idle.close()

        # The guest moves to --net user's address: slirp has no ARP entry for it.
        sh("ip", "addr", "del", "172.16.0.2/24", "dev", "mmds0")
        sh("ip", "addr", "add", "10.0.2.15/24", "dev", "mmds0")
        sh("ip", "route", "replace", MMDS, "dev", "mmds0")
        e = expected[2]
        out = subprocess.run(curl("GET", e["path"]), capture_output=True, text=True,
                             timeout=60).stdout
        check(e, parse(out), "GET from 10.0.2.15")
        print("ok: answered at 10.0.2.15 too")
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            sys.exit("FAIL: mmds_tap did not stop when told")
    if proc.returncode:
        sys.exit(f"FAIL: mmds_tap exited {proc.returncode}")
    print("1 passed, 0 failed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--harness", required=True)
    ap.add_argument("--inner", action="store_true")
    a = ap.parse_args()
    if a.inner:
        inner(a.harness)
        return
    missing = [t for t in ("unshare", "ip", "curl") if not shutil.which(t)]
    if os.geteuid() != 0 or not os.path.exists("/dev/net/tun") or missing:
        print(f"SKIP: needs root, /dev/net/tun, unshare, ip, curl (missing: {missing})")
        sys.exit(77)
    r = subprocess.run(["unshare", "--net", sys.executable, __file__, "--harness", a.harness,
                        "--inner"], timeout=110)
    sys.exit(r.returncode)


if __name__ == "__main__":
    main()
