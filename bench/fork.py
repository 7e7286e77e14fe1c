#!/usr/bin/env python3
"""Fork and reset on the host (issue 49): PUT /fork of a running VM into N
clones, against N `hearth restore` of files in the same run, and PUT
/reset against the MiB a clone dirtied.

    bench/run.sh --fork [--counts 1,10,100,1000] [--memory MIB] [--every K]
                        [--dirty-mib 0,1,4,16,64] [--resets R] [--hearth PATH]
                        [--no-restore]

The guest is tests/guest/tick.elf (bench/clones.py says why): a line
"tick N line L" on every Kth tick of 20 Hz, 32 MiB written at boot, nothing
rewritten after (dirty=0): a clone's own pages are what forking costs,
not what its guest writes. The template is `hearth run --api-sock
--fork-dir DIR` with a scratch disk and a hybrid vsock, sandbox and
seccomp on. For each N:
  - fork: one PUT /fork {"count": N, "clone": {...}}, each clone with its
    own API socket, serial file, disk image and vsock socket, the
    template running on. Measured: the answer (every clone set up and
    running: the zygote answers once each has said so), the zygote's own
    took_us, and each clone's first line after the fork in its serial
    file (median, and the last);
  - restore: the template's Full snapshot to files, then N `hearth
    restore` of them at once with the same overrides (bench/clones.py's),
    from their start to their first lines;
  - for both, per clone, once every first line is in and the clones are
    stopped (SIGSTOP: reading a thousand smaps must not starve a thousand
    guests): Pss, its own kB (dirty private pages outside
    guest RAM and its page tables: bench/clones.py's own_and_guest), the
    guest's private kB, and the host's MemAvailable drop over N.
Reset: for each MiB D in --dirty-mib, a template (memory 128 MiB) whose
guest rewrites its first D MiB on every tick, one clone of it, and
--resets times: two lines, then PUT /reset, which answers the pages it
took back and its own took_us (the dirty log read, the pages dropped,
vCPUs and devices restored; the VM's pause and resume around it are
not counted); the HTTP round trip is given beside it.

Report only: results to stdout and build/bench/fork-results.txt, a chart
to build/bench/fork.png. Needs a /dev/kvm that runs freestanding guests.
"""
import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import clones as C  # noqa: E402
from run_fork_test import ticks  # noqa: E402  (tests/integration, on the path through clones)

RESULTS = os.path.join(C.BENCH_DIR, "fork-results.txt")
TIMEOUT = 300


def call(sock, method, path, body):
    c = C.UnixHTTPConnection(sock)
    c.timeout = TIMEOUT
    c.request(method, path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    text = r.read()
    c.close()
    return r.status, text


def first_tick(path):
    try:
        with open(path, "rb") as f:
            return b"tick " in f.read()
    except OSError:
        return False


class Template:
    def __init__(self, hearth, guest, tmp, memory, cmdline, name="t"):
        self.dir = os.path.join(tmp, name + "-fd")
        os.makedirs(self.dir)
        self.sock = os.path.join(tmp, name + ".sock")
        self.out = os.path.join(tmp, name + ".out")
        C.scratch(os.path.join(tmp, name + ".img"))
        self.p = subprocess.Popen(
            [hearth, "run", "--kernel", guest, "--memory", str(memory), "--cmdline", cmdline,
             "--disk", "path=%s,id=scratch" % os.path.join(tmp, name + ".img"),
             "--vsock", "cid=3,uds=%s" % os.path.join(tmp, name + "-boot", "v.sock"),
             "--api-sock", self.sock, "--fork-dir", self.dir, "--snapshot-dir", tmp],
            stdin=subprocess.DEVNULL, stdout=open(self.out, "wb"), stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(ticks(self.out)) < 2:
            if time.monotonic() > deadline or self.p.poll() is not None:
                self.stop()
                raise SystemExit("the tick guest did not run (a /dev/kvm that runs "
                                 "freestanding guests is needed)")
            time.sleep(0.05)

    def fork(self, n, resume=True):
        for i in range(n):
            C.scratch(os.path.join(self.dir, "d%d.img" % i))
        body = {"count": n, "resume": resume, "clone": {
            "api_sock": "c{i}.sock", "serial_out": "c{i}.out",
            "drive_overrides": [{"drive_id": "scratch", "path_on_host": "d{i}.img",
                                 "is_read_only": False}],
            "vsock_override": {"uds_path": "v{i}.sock"}}}
        t0 = time.monotonic()
        status, text = call(self.sock, "PUT", "/fork", body)
        t_answer = time.monotonic() - t0
        if status != 200:
            raise SystemExit("PUT /fork of %d: %d %s" % (n, status, text[:300]))
        got = json.loads(text)
        return t0, t_answer, got["took_us"], [c["pid"] for c in got["clones"]]

    def clean(self, pids):
        kill(pids)
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))

    def stop(self):
        self.p.kill()
        self.p.wait()


def kill(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(os.path.exists("/proc/%d" % p) for p in pids):
        time.sleep(0.05)


def freeze(pids):
    """Stops the clones once their first lines are in, before their memory is read: a
    thousand processes' smaps read in Python take seconds of CPU, and a thousand
    running guests already take most of both cores (their timers' catch-up then
    snowballs). A stopped process's pages are what they were."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:
            pass


class Pid:
    """What bench/clones.py's settle_and_measure reads of a process."""
    def __init__(self, pid):
        self.pid = pid


KERNEL_PARTS = ("SUnreclaim", "KernelStack", "PageTables", "SecPageTables", "VmallocUsed",
                "Percpu", "AnonPages")


def kernel_parts():
    """The host's /proc/meminfo lines a VM process's kernel side shows in (kB)."""
    return {k: C.meminfo(k) for k in KERNEL_PARTS}


def fork_round(t, n, guest_kb):
    parts0 = kernel_parts()
    before = C.meminfo()
    t0, t_answer, took_us, pids = t.fork(n)
    first = {}
    deadline = t0 + max(C.FIRST_LINE_TIMEOUT, n // 2)
    while len(first) < n and time.monotonic() < deadline:
        for i in range(n):
            if i not in first and first_tick(os.path.join(t.dir, "c%d.out" % i)):
                first[i] = time.monotonic() - t0
        time.sleep(0.002)
    try:
        freeze(pids)
        pss, _, used, own, gw = C.settle_and_measure([Pid(p) for p in pids], before, n, 1.0,
                                                     guest_kb)
        parts1 = kernel_parts()
    finally:
        t.clean(pids)
    split = {k: (parts1[k] - parts0[k]) / n for k in KERNEL_PARTS}
    f = sorted(first.values())
    return {"how": "fork", "n": n, "ran": len(f), "answer_ms": t_answer * 1000,
            "zygote_ms": took_us / 1000, "first_ms": statistics.median(f) * 1000 if f else -1,
            "all_ms": f[-1] * 1000 if len(f) == n else -1, "pss_kb": pss, "own_kb": own,
            "guest_kb": gw, "used_kb": used, "split": split}


def restore_round(hearth, state, mem, n, tmp, guest_kb):
    procs, first, before = C.clones(hearth, state, mem, n, False, tmp)
    try:
        freeze([p.pid for p in procs])
        pss, _, used, own, gw = C.settle_and_measure(procs, before, n, 1.0, guest_kb)
    finally:
        C.stop(procs)
    f = sorted(first.values())
    return {"how": "restore", "n": n, "ran": len(f), "answer_ms": -1, "zygote_ms": -1,
            "first_ms": statistics.median(f) * 1000 if f else -1,
            "all_ms": f[-1] * 1000 if len(f) == n else -1, "pss_kb": pss, "own_kb": own,
            "guest_kb": gw, "used_kb": used}


def snapshot_of(t, tmp):
    state, mem = os.path.join(tmp, "vm.state"), os.path.join(tmp, "vm.mem")
    for method, path, body in (("PATCH", "/vm", {"state": "Paused"}),
                               ("PUT", "/snapshot/create",
                                {"snapshot_path": state, "mem_file_path": mem}),
                               ("PATCH", "/vm", {"state": "Resumed"})):
        status, text = call(t.sock, method, path, body)
        if status != 204:
            raise SystemExit("%s %s: %d %s" % (method, path, status, text[:300]))
    return state, mem


def reset_rows(hearth, guest, tmp, mibs, resets):
    rows = []
    for d in mibs:
        t = Template(hearth, guest, tmp, 128, "touch=%d dirty=%d every=1" % (max(d, 1), d),
                     name="r%d" % d)
        pids = []
        try:
            _, _, _, pids = t.fork(1)
            out, sock = os.path.join(t.dir, "c0.out"), os.path.join(t.dir, "c0.sock")
            took, rtt, pages = [], [], []
            for _ in range(resets):
                n = len(ticks(out))
                deadline = time.monotonic() + 60
                while len(ticks(out)) < n + 2 and time.monotonic() < deadline:
                    time.sleep(0.01)
                t0 = time.monotonic()
                status, text = call(sock, "PUT", "/reset", {})
                rtt.append((time.monotonic() - t0) * 1000)
                if status != 200:
                    raise SystemExit("PUT /reset: %d %s" % (status, text[:300]))
                got = json.loads(text)
                took.append(got["took_us"] / 1000)
                pages.append(got["pages"])
            rows.append({"mib": d, "pages": statistics.median(pages),
                         "took_ms": statistics.median(took), "max_ms": max(took),
                         "http_ms": statistics.median(rtt)})
        finally:
            t.clean(pids)
            t.stop()
    return rows


def every_for(n):
    """A line on every tick up to 10 clones (the first after the fork within 50 ms);
    fewer beyond, so a thousand guests' serial exits do not take both cores."""
    return 1 if n <= 10 else 2 if n <= 100 else 20


KVM_CREATE_VM, KVM_CREATE_VCPU = 0xAE01, 0xAE41


def kvm_floor(n):
    """ms for n VMs with a vCPU each, made one after another and all kept open: the
    part of a clone no VMM can skip (on this host it does not scale with cores)."""
    import fcntl
    kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    fds = []
    try:
        t0 = time.monotonic()
        for _ in range(n):
            vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
            fds.append(vm)
            fds.append(fcntl.ioctl(vm, KVM_CREATE_VCPU, 0))
        return (time.monotonic() - t0) * 1000
    finally:
        for fd in fds:
            os.close(fd)
        os.close(kvm)


def chart(path, rows, resets):
    script = r"""
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
path, (rows, resets) = json.load(sys.stdin)
fig, ax = plt.subplots(1, 3, figsize=(14, 4))
for how in ("fork", "restore"):
    r = [x for x in rows if x["how"] == how and x["all_ms"] > 0]
    ax[0].plot([x["n"] for x in r], [x["all_ms"] for x in r], "o-", label=how)
    ax[1].plot([x["n"] for x in r], [x["own_kb"] for x in r], "o-", label=how + " own")
    ax[1].plot([x["n"] for x in r], [x["used_kb"] for x in r], "x--", label=how + " host")
for a in ax[:2]:
    a.set_xscale("log"); a.set_xlabel("clones"); a.legend()
ax[0].set_ylabel("ms until every clone's first line"); ax[0].set_yscale("log")
ax[1].set_ylabel("kB per clone")
ax[2].plot([x["mib"] for x in resets], [x["took_ms"] for x in resets], "o-", label="reset")
ax[2].set_xlabel("MiB dirtied"); ax[2].set_ylabel("ms"); ax[2].legend()
fig.tight_layout(); fig.savefig(path)
"""
    return C.run_chart(script, path, [rows, resets])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--counts", default="1,10,100,1000")
    ap.add_argument("--memory", type=int, default=64)
    ap.add_argument("--every", type=int, default=0,
                    help="a line every K ticks (default: 1 up to 10 clones, 2 up to 100, "
                         "20 beyond)")
    ap.add_argument("--dirty-mib", default="0,1,4,16,64")
    ap.add_argument("--resets", type=int, default=5)
    ap.add_argument("--hearth", default=os.path.join(C.REPO, "build", "hearth"))
    ap.add_argument("--no-restore", action="store_true",
                    help="leave out the hearth restore baseline")
    a = ap.parse_args()
    counts = [int(x) for x in a.counts.split(",") if x]
    mibs = [int(x) for x in a.dirty_mib.split(",") if x]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    guest = os.path.join(os.path.dirname(a.hearth), "tests", "guest", "tick.elf")
    os.makedirs(C.BENCH_DIR, exist_ok=True)
    guest_kb = a.memory * 1024
    # Sockets and small files of a thousand VMs: on a tmpfs, as /run is, for both ways.
    where = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    lines = ["Fork on the host: tick guest, %d MiB RAM, 32 MiB written at boot, a line every "
             "`every` ticks of 20 Hz, its own disk, vsock, API socket and serial file per "
             "clone (in %s), sandbox and seccomp on; KVM ms: N KVM_CREATE_VM + KVM_CREATE_VCPU alone, "
             "the host's floor" % (a.memory, where or tempfile.gettempdir()),
             "%5s %5s %8s %10s %10s %10s %10s %8s %8s %9s %10s %9s" % (
                 "N", "every", "how", "answer ms", "zygote ms", "first ms", "all ms", "Pss kB",
                 "own kB", "guest kB", "host kB/VM", "KVM ms")]
    rows, resets = [], []
    with tempfile.TemporaryDirectory(prefix="hearth-fork-bench-", dir=where) as tmp:
        for n in counts:
            every = a.every or every_for(n)
            floor = kvm_floor(n)
            t = Template(a.hearth, guest, tmp, a.memory, "touch=32 dirty=0 every=%d" % every,
                         name="t%d" % n)
            try:
                state, mem = (None, None) if a.no_restore else snapshot_of(t, tmp)
                for how in ("fork",) if a.no_restore else ("fork", "restore"):
                    r = fork_round(t, n, guest_kb) if how == "fork" else \
                        restore_round(a.hearth, state, mem, n, tmp, guest_kb)
                    r.update(every=every, floor_ms=floor)
                    rows.append(r)
                    lines.append("%5d %5d %8s %10.1f %10.1f %10.1f %10.1f %8d %8d %9d %10.0f "
                                 "%9.1f%s" % (
                                     n, every, how, r["answer_ms"], r["zygote_ms"],
                                     r["first_ms"], r["all_ms"], r["pss_kb"], r["own_kb"],
                                     r["guest_kb"], r["used_kb"], floor,
                                     "" if r["ran"] == n else
                                     "  (only %d of %d ran)" % (r["ran"], n)))
                    print(lines[-1], flush=True)
            finally:
                t.stop()
        for r in rows:
            if r.get("split") and r["n"] >= 100:
                lines.append("N=%d fork, the host's kB per clone by /proc/meminfo line (the "
                             "kernel's side: slab, kernel stacks, page tables, KVM's secondary "
                             "page tables, vmalloc, per-CPU; and anonymous pages): %s" % (
                                 r["n"], ", ".join("%s %.0f" % (k, v)
                                                   for k, v in r["split"].items())))
                print(lines[-1], flush=True)
        if mibs:
            resets = reset_rows(a.hearth, guest, tmp, mibs, a.resets)
            lines.append("Reset of one clone (memory 128 MiB), median of %d: its guest "
                         "rewrites its first D MiB on every tick" % a.resets)
            lines.append("%8s %8s %10s %10s %10s" % ("MiB", "pages", "reset ms", "max ms",
                                                     "HTTP ms"))
            for r in resets:
                lines.append("%8d %8d %10.3f %10.3f %10.2f" % (r["mib"], r["pages"],
                                                               r["took_ms"], r["max_ms"],
                                                               r["http_ms"]))
                print(lines[-1], flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
    lines.append(chart(os.path.join(C.BENCH_DIR, "fork.png"), rows, resets))
    text = "\n".join(lines)
    print(text)
    with open(RESULTS, "w") as f:
        f.write(text + "\n")
    return 0 if all(r["ran"] == r["n"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
