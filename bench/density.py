#!/usr/bin/env python3
"""What one VM process costs, on the host (issue 29): memory and start-up.

    bench/run.sh --density [-n ROUNDS] [--hearth PATH]

1. API socket ready: fork + exec until the first GET / answers 200, by
   bench/apibench.c's `ready` (built by bench/api.py's rules), ROUNDS
   interleaved rounds of: the floor (apibench's own `serve`, a static
   program that only binds and answers), `hearth serve` as users run it
   (sandbox and seccomp on), and `hearth serve --no-seccomp`. Medians, and
   hearth/floor.
2. Memory without guest RAM, from /proc/PID/smaps_rollup (Rss, Pss) less
   the guest RAM mapping's own Rss: `hearth serve` idle, and, where
   /dev/kvm runs the smallest guest, a booted 2-vCPU VM (64 MiB) with a
   disk and a NIC (a TAP where this user may make one, else user-mode),
   with each mapping's share, largest first. The peer: QEMU microvm built
   and stopped (-S) with the same machine, a disk and a NIC (TCG where
   KVM cannot run it), measured the same way.
Charts: build/bench/density.png (matplotlib, when installed). Results to
stdout and build/bench/density-results.txt. Report only; exit 0 when every
figure was taken.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.dont_write_bytecode = True
from itest import kvm_usable, tap_usable, tiny_elf  # noqa: E402
from run_api_test import Serve  # noqa: E402

BENCH_DIR = os.path.join(REPO, "build", "bench")
RESULTS = os.path.join(BENCH_DIR, "density-results.txt")
APIB_SRC = os.path.join(REPO, "bench", "apibench.c")
APIB = os.path.join(BENCH_DIR, "apibench")
GUEST_MIB = 64
TAP = "hdens0"


def build_apibench():
    os.makedirs(BENCH_DIR, exist_ok=True)
    if not os.path.exists(APIB) or os.path.getmtime(APIB) < os.path.getmtime(APIB_SRC):
        subprocess.run([os.environ.get("CC", "cc"), "-std=gnu11", "-O2", "-static", "-o",
                        APIB + ".tmp", APIB_SRC], check=True)
        os.replace(APIB + ".tmp", APIB)


def ready(hearth, rounds, tmp):
    kinds = [("floor", [APIB, "serve", "@"]),
             ("hearth", [hearth, "serve", "--api-sock", "@"]),
             ("hearth --no-seccomp", [hearth, "serve", "--no-seccomp", "--api-sock", "@"])]
    argv = [APIB, "ready", str(rounds)]
    for i, (_, cmd) in enumerate(kinds):
        sock = os.path.join(tmp, "r%d.sock" % i)
        argv += ["--", "http", sock] + [sock if a == "@" else a for a in cmd]
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=600).stdout
    got = {}
    for m in re.finditer(r"cmd=(\d+) kind=\w+ us=(\d+)", out):
        got.setdefault(kinds[int(m.group(1))][0], []).append(int(m.group(2)) / 1000.0)
    return {k: statistics.median(v) for k, v in got.items() if v}


def smaps(pid):
    """[(rss_kb, pss_kb, size_kb, name)] per mapping."""
    rows, cur = [], None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            p = line.split()
            if "-" in p[0] and not p[0].endswith(":"):
                a, b = (int(x, 16) for x in p[0].split("-"))
                cur = [0, 0, (b - a) // 1024, p[5] if len(p) > 5 else "[anon]"]
                rows.append(cur)
            elif p[0] == "Rss:":
                cur[0] = int(p[1])
            elif p[0] == "Pss:":
                cur[1] = int(p[1])
    return rows


def memory(pid, guest_kb):
    """(rss, pss) without the guest RAM mappings (those at least guest_kb big), and the rows."""
    rows = smaps(pid)
    vm = [r for r in rows if guest_kb and r[2] >= guest_kb and r[3] in ("[anon]", "/memfd:")]
    rest = [r for r in rows if r not in vm]
    return sum(r[0] for r in rest), sum(r[1] for r in rest), sorted(rest, reverse=True)


def hearth_booted(hearth, tmp):
    s = Serve(hearth, tmp)
    kernel = os.path.join(tmp, "k.elf")
    with open(kernel, "wb") as f:
        f.write(tiny_elf(power_off=False))
    disk = os.path.join(tmp, "disk.img")
    with open(disk, "wb") as f:
        f.truncate(64 << 20)
    s.expect("PUT", "/boot-source", 204, body={"kernel_image_path": kernel})
    s.expect("PUT", "/machine-config", 204, body={"vcpu_count": 2, "mem_size_mib": GUEST_MIB})
    s.expect("PUT", "/drives/d0", 204, body={"drive_id": "d0", "path_on_host": disk,
                                             "is_root_device": False, "is_read_only": False})
    if tap_usable(TAP):
        nic, body = "TAP", {"iface_id": "eth0", "host_dev_name": TAP}
    else:
        nic, body = "user-mode", {"iface_id": "eth0", "backend": "user"}
    s.expect("PUT", "/network-interfaces/eth0", 204, body=body)
    s.expect("PUT", "/actions", 204, body={"action_type": "InstanceStart"})
    time.sleep(0.5)
    got = memory(s.p.pid, GUEST_MIB * 1024)
    s.stop()
    return nic, got


def qemu_booted(tmp, kvm):
    disk = os.path.join(tmp, "qdisk.img")
    with open(disk, "wb") as f:
        f.truncate(64 << 20)
    argv = ["qemu-system-x86_64", "-M", "microvm", "-accel", "kvm" if kvm else "tcg",
            "-m", str(GUEST_MIB), "-smp", "2", "-nodefaults", "-no-user-config", "-nographic",
            "-display", "none", "-S",
            "-drive", "id=d0,file=%s,format=raw,if=none" % disk,
            "-device", "virtio-blk-device,drive=d0",
            "-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0"]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    time.sleep(2)
    if p.poll() is not None:
        return None, p.stderr.read().decode(errors="replace").strip()
    try:
        return memory(p.pid, GUEST_MIB * 1024), None
    finally:
        p.kill()
        p.wait()


CHART = r"""
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
path, ready_ms, mem = json.load(sys.stdin)
fig, ax = plt.subplots(1, 2, figsize=(10, 4))
names = list(ready_ms)
ax[0].bar(names, [ready_ms[n] for n in names], color=["grey", "tab:red", "tab:orange"][:len(names)])
ax[0].set_ylabel("ms, exec to first answer (median)")
ax[0].set_title("API ready")
ax[0].tick_params(axis="x", labelrotation=15)
names = list(mem)
ax[1].bar(names, [mem[n] / 1024.0 for n in names])
ax[1].set_ylabel("MiB Rss without guest RAM")
ax[1].set_title("VM process memory")
ax[1].tick_params(axis="x", labelrotation=15)
fig.tight_layout()
fig.savefig(path)
"""


def chart(path, ready_ms, mem):
    """Drawn by Debian's python3 (its matplotlib), whatever python runs this."""
    import json
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    r = subprocess.run([py, "-c", CHART], input=json.dumps([path, ready_ms, mem]), text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode:
        return ("no chart: %s (scripts/deps.sh bench installs python3-matplotlib)" %
                (r.stdout.strip().splitlines() or ["matplotlib failed"])[-1])
    return "chart: " + path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=40, help="ready rounds (default 40)")
    ap.add_argument("--hearth", default=os.path.join(REPO, "build", "hearth"))
    a = ap.parse_args()
    build_apibench()
    lines, ok = [], True
    with tempfile.TemporaryDirectory(prefix="hearth-density-") as tmp:
        r = ready(a.hearth, a.n, tmp)
        lines.append("API socket ready, host, %d interleaved rounds (median ms, exec -> 200)" % a.n)
        for k, v in r.items():
            lines.append("  %-22s %7.2f" % (k, v))
        if "floor" in r and "hearth" in r:
            lines.append("  hearth/floor %.2f   (hearth --no-seccomp)/floor %.2f" % (
                r["hearth"] / r["floor"], r.get("hearth --no-seccomp", 0) / r["floor"]))
        else:
            ok = False
        s = Serve(a.hearth, tmp)
        s.expect("GET", "/", 200)
        idle = memory(s.p.pid, 0)
        s.stop()
        mem = {"hearth serve idle": idle[0]}
        lines.append("")
        lines.append("Memory without guest RAM (kB, smaps)")
        lines.append("  hearth serve, idle:                 Rss %6d  Pss %6d" % idle[:2])
        if kvm_usable():
            nic, booted = hearth_booted(a.hearth, tmp)
            mem["hearth booted"] = booted[0]
            lines.append("  hearth, booted 2 vCPU + disk + %s NIC: Rss %6d  Pss %6d" % (
                (nic,) + booted[:2]))
            lines.append("    largest mappings (Rss kB, name):")
            for row in booted[2][:8]:
                lines.append("      %6d  %s" % (row[0], row[3]))
        else:
            lines.append("  hearth booted: not measured (/dev/kvm cannot be opened here)")
        q, why = qemu_booted(tmp, False)
        if q:
            mem["qemu microvm -S"] = q[0]
            lines.append("  QEMU microvm -S (TCG), 2 vCPU + disk + user NIC: Rss %6d  Pss %6d" %
                         q[:2])
            if "hearth booted" in mem:
                lines.append("  hearth booted / QEMU: Rss %.3f" % (mem["hearth booted"] / q[0]))
        else:
            lines.append("  QEMU: did not start: %s" % why)
            ok = False
        lines.append(chart(os.path.join(BENCH_DIR, "density.png"), r, mem))
    text = "\n".join(lines)
    print(text)
    with open(RESULTS, "w") as f:
        f.write(text + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
