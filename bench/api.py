#!/usr/bin/env python3
"""Control-plane benchmark (issue 7): Hearth's API vs QEMU microvm's QMP.

    bench/run.sh --api [-n N] [--ready-n M] [--lab-ready-n M] [--no-host] [--no-lab] [--stream]

Driven by bench/apibench.c, built here as a static binary (build/bench/apibench)
so the same driver runs on the host and inside L1, which has no Python.
Times are CLOCK_MONOTONIC of the machine the driver runs on, in µs.

1. API socket ready: fork + exec of `hearth serve --api-sock P` until the
   first `GET /` on P answers 200 (the driver tries connect() every 50 µs,
   then sends the request).  The peers, in the same rounds, interleaved:
     floor  apibench's own `serve` mode: a static program that only binds,
            listens and answers 200 -- what exec + bind + one answer costs on
            that machine, with no VMM behind it;
     qemu   qemu-system-x86_64 -M microvm -S -qmp unix:P (the lab's microvm
            argv: 2 vCPUs, 512 MiB, kernel and initrd) until QMP answers
            qmp_capabilities.  Not the same work: by then QEMU has created its
            VM, vCPUs and RAM and loaded the kernel, which Hearth does only at
            InstanceStart; it is the nearest thing QEMU has to a ready socket.
   On the host (`hearth serve` needs no /dev/kvm; QEMU runs -accel tcg there)
   --ready-n rounds, and in L1 (QEMU with KVM) --lab-ready-n rounds.
2. InstanceStart to the guest's /init, in L1 only, N rounds, interleaved:
     hearth  hearth serve; PUT /boot-source, PUT /machine-config (2 vCPUs,
             512 MiB, the lab's kernel, initrd and console=ttyS0 panic=-1);
             then "go" = PUT /actions InstanceStart;
     qemu    the same machine with -S and -qmp; after qmp_capabilities,
             "go" = QMP cont.
     hearth_run, qemu_run
             the VMM with the whole VM on its command line, no socket:
             exec -> /init, as bench/bench.py measures it.
   Measured: go -> the guest /init's first line on the serial (the VMM's
   stdout), and exec -> that line (the whole path through each control
   plane).  QEMU has built its VM before cont; Hearth builds it after
   InstanceStart, so go -> /init is QEMU's easier case and exec -> /init is
   the like-for-like one.

Prints each sample's line, then medians (p90 for the ready times) and
hearth/qemu ratios; the report also goes to build/bench/api-results.txt.
Never fails on the numbers: exit 0 when every run gave its numbers, 1 when
one did not (its lines are printed), 3 when the lab itself failed.
"""
import argparse
import datetime
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402

BENCH_DIR = os.path.join(REPO, "build", "bench")
RESULTS = os.path.join(BENCH_DIR, "api-results.txt")
DRIVER_SRC = os.path.join(REPO, "bench", "apibench.c")
DRIVER = os.path.join(BENCH_DIR, "apibench")
L1_DRIVER = "/lab/bin/apibench"
L1_INITRD = "/lab/l2/initrd0.cpio"     # the plan's one L2 initrd (the default)
CMDLINE = "console=ttyS0 panic=-1"
CPUS, MEMORY = 2, 512
BOOT_TIMEOUT = 300                     # one boot inside L1, seconds
DRIVER_LIBS = os.path.join(BENCH_DIR, "apibench-libs")
L1_DRIVER_LIBS = "/lab/bin/apibench-libs"
READY_KINDS = ["floor", "libs", "hearth", "qemu"]


def needed_libs(binary):
    """The shared libraries BINARY names itself (DT_NEEDED), libc left out."""
    out = subprocess.run(["readelf", "-d", binary], check=True, stdout=subprocess.PIPE,
                         text=True).stdout
    return [l for l in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
            if not l.startswith(("libc.so", "ld-linux"))]


def build_driver(hearth):
    """apibench, static; and apibench-libs, the same program linked against
    the shared libraries Hearth links against (the `libs` reference)."""
    os.makedirs(BENCH_DIR, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    flags = [cc, "-std=gnu11", "-O2", "-Wall", "-Wextra"]
    libs = ["-l:" + l for l in needed_libs(hearth)]
    for out, extra in ((DRIVER, ["-static"]),
                       (DRIVER_LIBS, ["-Wl,--no-as-needed"] + libs)):
        stamp = out + ".cmd"
        cmd = flags + ["-o", out + ".tmp", DRIVER_SRC] + extra
        if (os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(DRIVER_SRC)
                and os.path.exists(stamp) and open(stamp).read() == repr(cmd)):
            continue
        subprocess.run(cmd, check=True)
        os.replace(out + ".tmp", out)
        with open(stamp, "w") as f:
            f.write(repr(cmd))
    return DRIVER, DRIVER_LIBS


def qemu_argv(qemu, kernel, initrd, sock, kvm=True):
    """The lab's microvm argv (tests/lab/lab.py) at its fastest, stopped (-S) with QMP on sock."""
    subst = dict(bin=os.path.dirname(qemu), kernel=kernel, initrd=initrd, cmdline=CMDLINE,
                 cpus=str(CPUS), memory=str(MEMORY), machine=L.QEMU_MICROVM_BEST)
    argv = [a.format(**subst) for a in L.VMM_TEMPLATES["qemu"]]
    argv[0] = qemu
    if not kvm:
        argv.remove("-enable-kvm")
        argv[argv.index("host")] = "max"
        argv[1:1] = ["-accel", "tcg"]
    return argv + ["-S", "-qmp", "unix:%s,server=on,wait=off" % sock]


def ready_argv(driver, driver_libs, rounds, hearth, qemu, sock_dir):
    """One apibench ready invocation: floor, libs, hearth, qemu in each round."""
    floor_sock, libs_sock, hearth_sock, qemu_sock = (
        os.path.join(sock_dir, k + ".sock") for k in ("f", "l", "h", "q"))
    return ([driver, "ready", str(rounds),
             "--", "http", floor_sock, driver, "serve", floor_sock,
             "--", "http", libs_sock, driver_libs, "serve", libs_sock,
             "--", "http", hearth_sock, hearth, "serve", "--api-sock", hearth_sock,
             "--", "qmp", qemu_sock] + qemu)


def boot_source(kernel, initrd):
    return ('{"kernel_image_path": "%s", "initrd_path": "%s", "boot_args": "%s"}'
            % (kernel, initrd, CMDLINE))


MACHINE = '{"vcpu_count": %d, "mem_size_mib": %d}' % (CPUS, MEMORY)
# Per round, in this order: through the API / QMP, then from the command line.
BOOT_KINDS = ["hearth", "qemu", "hearth_run", "qemu_run"]


def boot_argv(kind):
    """The apibench boot command, inside L1, of one run of KIND."""
    drv = [L1_DRIVER, "boot", str(BOOT_TIMEOUT)]
    qemu = L.L1_BIN + "/qemu-system-x86_64"
    if kind == "hearth":
        return drv + ["http", "/tmp/h.sock", boot_source(L.L1_KERNEL, L1_INITRD), MACHINE, "--",
                      L.L1_BIN + "/hearth", "serve", "--api-sock", "/tmp/h.sock"]
    if kind == "qemu":
        return drv + ["qmp", "/tmp/q.sock", "--"] + qemu_argv(qemu, L.L1_KERNEL, L1_INITRD,
                                                            "/tmp/q.sock")
    # hearth run / QEMU without -S: the lab's own argv, as bench/bench.py boots.
    r = L.Run(kind, vmm=kind.split("_")[0], cpus=CPUS, memory=MEMORY, cmdline=CMDLINE)
    return drv + ["exec", "-", "--"] + r.argv(L1_INITRD)


def parse_ready(lines):
    """{kind: [µs]} and the failure lines of an apibench ready run."""
    out, fails = {k: [] for k in READY_KINDS}, []
    for l in lines:
        m = re.search(r"APIB ready i=\d+ cmd=(\d+) kind=\w+ us=(\d+)", l)
        if m:
            out[READY_KINDS[int(m.group(1))]].append(int(m.group(2)))
        elif "APIB fail" in l:
            fails.append(l.strip())
    return out, fails


def parse_boot(lines):
    for l in lines:
        m = re.search(r"APIB boot kind=\w+ (.*)", l)
        if m:
            kv = dict(re.findall(r"(\w+)=(\S+)", m.group(1)))
            if "failed" in kv:
                return None
            return {k: int(v) for k, v in kv.items() if v.lstrip("-").isdigit()}
    return None


def p90(v):
    s = sorted(v)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def ms(us):
    return "%.2f" % (us / 1000.0) if us is not None else "n/a"


def ready_table(title, samples):
    rows = ["%s (ms, before fork -> answer)" % title,
            "  %-7s %5s %9s %9s %9s %9s" % ("", "runs", "median", "p90", "min", "max")]
    for k in READY_KINDS:
        v = samples.get(k) or []
        if v:
            rows.append("  %-7s %5d %9s %9s %9s %9s" % (
                k, len(v), ms(statistics.median(v)), ms(p90(v)), ms(min(v)), ms(max(v))))
        else:
            rows.append("  %-7s %5d %9s" % (k, 0, "n/a"))
    h, q, f, li = (statistics.median(samples[k]) if samples.get(k) else None for k in
                   ("hearth", "qemu", "floor", "libs"))
    if h and q:
        rows.append("  hearth/qemu %.3f   hearth - floor %s ms   hearth - libs %s ms" % (
            h / q, ms(h - f) if f else "n/a", ms(h - li) if li else "n/a"))
    return rows


def run_host(driver, driver_libs, rounds, hearth, kernel, initrd):
    qemu = shutil.which(L.QEMU)
    tmp = tempfile.mkdtemp(prefix="apibench-")
    try:
        argv = ready_argv(driver, driver_libs, rounds, hearth,
                          qemu_argv(qemu, kernel, initrd, os.path.join(tmp, "q.sock"), kvm=False),
                          tmp)
        p = subprocess.run(argv, stdout=subprocess.PIPE, text=True,
                           timeout=120 + rounds * 30)
        return parse_ready(p.stdout.splitlines())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=5, help="InstanceStart/cont boots per VMM in L1")
    ap.add_argument("--ready-n", type=int, default=100, help="socket-ready rounds on the host")
    ap.add_argument("--lab-ready-n", type=int, default=50, help="socket-ready rounds in L1")
    ap.add_argument("--no-host", action="store_true", help="skip the host measurement")
    ap.add_argument("--no-lab", action="store_true", help="host measurement only")
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--stream", action="store_true")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    try:
        hearth = L.vmm_binary("hearth")
    except L.LabError as e:
        print("bench: %s" % e)
        return 1
    driver, driver_libs = build_driver(hearth)
    report = ["bench/api.py %s, %s" % (" ".join(sys.argv[1:]),
                                       datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))]
    incomplete = []
    try:
        lab = L.Lab(stream=a.stream or None)
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    l2 = lab.l2_initrd()

    if not a.no_host:
        L.log("host: %d socket-ready rounds (floor, libs, hearth, qemu tcg)" % a.ready_n)
        try:
            host, fails = run_host(driver, driver_libs, a.ready_n, hearth, lab.kernel.vmlinuz, l2)
        except subprocess.TimeoutExpired:
            host, fails = {}, ["host: apibench ready timed out"]
        incomplete += ["host: " + f for f in fails]
        report += [""] + ready_table("API socket ready, host (load average %s after it)" %
                                     open("/proc/loadavg").read().split()[0], host)
        print("\n".join(report), flush=True)

    shown = len(report)
    if a.no_lab:
        return finish(report, incomplete, 0)

    q_ready = qemu_argv(L.L1_BIN + "/qemu-system-x86_64", L.L1_KERNEL, L1_INITRD, "/tmp/q.sock")
    runs = [L.CommandRun("ready", "qemu",
                         ready_argv(L1_DRIVER, L1_DRIVER_LIBS, a.lab_ready_n,
                                    L.L1_BIN + "/hearth", q_ready, "/tmp"),
                         timeout=120 + a.lab_ready_n * 20)]
    for i in range(1, a.n + 1):
        for kind in BOOT_KINDS:
            runs.append(L.CommandRun("%s_%d" % (kind, i), kind.split("_")[0],
                                     boot_argv(kind), timeout=BOOT_TIMEOUT + 30))
    try:
        res = lab.run_plan(runs, tag="bench-api", binaries={L1_DRIVER: driver, L1_DRIVER_LIBS: driver_libs})
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    if not res.ok:
        print(res.failure_line())
        return 3

    r = res.runs.get("ready")
    ready, fails = parse_ready(r.guest_lines if r else [])
    if r is None or r.rc != 0:
        fails.append("ready: rc=%s" % (r.rc if r else "never ran"))
    incomplete += ["L1: " + f for f in fails]
    report += [""] + ready_table("API socket ready, L1 (QEMU with KVM)", ready)

    boots = {k: [] for k in BOOT_KINDS}
    rows = ["", "Boot to the guest /init, L1 (ms since before fork; go->init since the go request)",
            "  %-13s %9s %9s %9s %10s %10s %4s" % ("run", "ready", "config", "answer",
                                                  "go->init", "exec->init", "rc")]
    for i in range(1, a.n + 1):
        for v in BOOT_KINDS:
            name = "%s_%d" % (v, i)
            r = res.runs.get(name)
            b = parse_boot(r.guest_lines) if r else None
            if b is None or r.rc != 0:
                incomplete.append("%s: no figures (rc=%s)" % (name, r.rc if r else "never ran"))
                incomplete += ["  | " + l for l in (r.guest_lines + r.stderr_lines)[-20:]] if r else []
                rows.append("  %-13s %9s" % (name, "failed"))
                continue
            b["go_init_us"] = b["init_us"] - b["go_us"]
            boots[v].append(b)
            api = v in ("hearth", "qemu")
            rows.append("  %-13s %9s %9s %9s %10s %10s %4d" % (
                name, ms(b["ready_us"]) if api else "-", ms(b["config_us"]) if api else "-",
                ms(b["answer_us"]) if api else "-", ms(b["go_init_us"]) if api else "-",
                ms(b["init_us"]), b["rc"]))
    med = {}
    for v in BOOT_KINDS:
        if boots[v]:
            med[v] = {k: statistics.median(x[k] for x in boots[v])
                      for k in ("go_init_us", "init_us", "answer_us")}
    rows.append("  medians:")
    if "hearth" in med:
        rows.append("    hearth API  InstanceStart->init %s ms, exec->init %s ms, InstanceStart "
                    "answered in %s ms (%d runs)" % (ms(med["hearth"]["go_init_us"]), ms(med["hearth"]["init_us"]),
                                         ms(med["hearth"]["answer_us"]), len(boots["hearth"])))
    if "qemu" in med:
        rows.append("    qemu QMP    cont->init %s ms, exec->init %s ms, cont answered in %s ms "
                    "(%d runs)" % (
            ms(med["qemu"]["go_init_us"]), ms(med["qemu"]["init_us"]),
            ms(med["qemu"]["answer_us"]), len(boots["qemu"])))
    for v, what in (("hearth_run", "hearth run "), ("qemu_run", "qemu plain ")):
        if v in med:
            rows.append("    %s exec->init %s ms (%d runs)" % (what, ms(med[v]["init_us"]), len(boots[v])))

    def ratio(x, kx, y, ky):
        return "%.2f" % (med[x][kx] / med[y][ky]) if x in med and y in med else "n/a"
    rows.append("  hearth/qemu: InstanceStart->init / cont->init %s; exec->init through the API / "
                "QMP %s; exec->init from the command line %s" % (
                    ratio("hearth", "go_init_us", "qemu", "go_init_us"),
                    ratio("hearth", "init_us", "qemu", "init_us"),
                    ratio("hearth_run", "init_us", "qemu_run", "init_us")))
    report += rows
    report.append("")
    report.append("L1: /init at %.1f s, /dev/kvm at %.1f s (L1 clock); whole lab run %.0f s wall; "
                  "serial log %s" % (res.l1_up or -1, res.l1_kvm or -1, res.wall, res.log))
    print("\n".join(report[shown:]))
    return finish(report, incomplete, 0)


def finish(report, incomplete, rc):
    if incomplete:
        report += ["", "INCOMPLETE"] + incomplete
        print("\n".join(["", "INCOMPLETE"] + incomplete))
        rc = 1
    os.makedirs(BENCH_DIR, exist_ok=True)
    with open(RESULTS, "w") as f:
        f.write("\n".join(report) + "\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
