#!/usr/bin/env python3
"""A firmware boot to `login:`, Hearth against QEMU's q35, in one L1 boot.

    bench/run.sh --firmware [-n N] [--stream]

The Debian 12 image of scripts/debian_image.sh (built here first: L1
cannot), each boot on a fresh qcow2 overlay over it, no seed (cloud-init
stays off), 2 vCPUs, 768 MiB, Debian's SeaBIOS (bios-256k.bin) for both:
  hearth  hearth run --firmware bios-256k.bin --disk path=top.qcow2,format=qcow2,
          backing=IMAGE
  qemu    qemu-system-x86_64 -machine q35,accel=kvm -cpu host -bios bios-256k.bin
          -drive file=top.qcow2,if=virtio -nodefaults -serial stdio -display none
The two take turns, N boots each, in L1 (the lab's nested KVM: this host's
PVM runs no real mode). For each boot: the VMM's start to the serial
console's first kernel line ("the part before the kernel") and to
`login:` (image_check.MILESTONES), and the exits L1's KVM counted for the
VM (debugfs: /sys/kernel/debug/kvm/PID-FD/exits, read at `login:`), with
KVM's own categories beside the total (io_exits, mmio_exits, halt_exits...).
Prints one table row per VMM (medians), the ratios, and the categories,
the largest difference first. OVMF is not
benched: the lab's L0 aborts on OVMF in L2 (docs/firmware.md, Tests).
Report only: exit 0 when every figure was taken, 1 when one is missing,
3 when the lab failed.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
sys.dont_write_bytecode = True

SEABIOS = "/usr/share/seabios/bios-256k.bin"
BOOT_TIMEOUT = 1800


def exits_of(pid):
    """The exits L1's KVM counted for the VM process pid (its debugfs directory): the total
    and, by KVM's own categories, every counter whose name holds "exits" (io_exits,
    mmio_exits, halt_exits, irq_window_exits...) and insn_emulation. ({}, None) when none."""
    d = "/sys/kernel/debug/kvm"
    for n in os.listdir(d):
        if n.split("-")[0] != str(pid):
            continue
        by = {}
        for k in os.listdir(os.path.join(d, n)):
            if "exits" in k or k == "insn_emulation":
                try:
                    with open(os.path.join(d, n, k)) as f:
                        by[k] = int(f.read())
                except (OSError, ValueError):
                    pass
        return by, by.get("exits")
    return {}, None


def one_boot(vmm, hearth, image, tmp):
    import image_check as IC
    top = os.path.join(tmp, "top.qcow2")
    if os.path.exists(top):
        os.unlink(top)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", image, top],
                   check=True)
    if vmm == "hearth":
        argv = [hearth, "run", "--firmware", SEABIOS, "--memory", "768", "--cpus", "2",
                "--disk", "path=%s,format=qcow2,backing=%s" % (top, image)]
    else:
        argv = ["qemu-system-x86_64", "-machine", "q35,accel=kvm", "-cpu", "host", "-m", "768",
                "-smp", "2", "-bios", SEABIOS, "-drive", "file=%s,if=virtio,format=qcow2" % top,
                "-nodefaults", "-serial", "stdio", "-display", "none", "-monitor", "none"]
    vm = IC.VmProcess(argv, os.path.join(tmp, "%s.log" % vmm))
    con = vm.console
    try:
        con.watch(IC.MILESTONES)
        con.wait_login(timeout=BOOT_TIMEOUT)
        by, exits = exits_of(vm.proc.pid)
    finally:
        vm.stop()
    return {"vmm": vmm, "kernel_s": con.seen.get("kernel"), "login_s": con.seen.get("login"),
            "exits": exits, "by": by}


def in_l1(a):
    """In L1 (chrooted in the host's root): the boots, one BENCH line each."""
    if not os.path.ismount("/sys/kernel/debug"):
        subprocess.run(["mount", "-t", "debugfs", "debugfs", "/sys/kernel/debug"], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.n):
            for vmm in ("hearth", "qemu"):
                r = one_boot(vmm, a.hearth, a.image, tmp)
                r["i"] = i
                print("BENCH " + json.dumps(r), flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=3, help="boots of each VMM (default 3)")
    ap.add_argument("--hearth", default=os.path.join(REPO, "build", "hearth"))
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--in-l1", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--image", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.in_l1:
        return in_l1(a)
    import l1
    import lab as L
    image = subprocess.run(["bash", os.path.join(REPO, "scripts", "debian_image.sh")],
                           check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    cmd = ["chroot", "/lab/root", "/usr/bin/env", "-i", "PATH=/usr/bin:/bin:/usr/sbin:/sbin",
           "HOME=/root", "python3", os.path.abspath(__file__), "--in-l1", "-n", str(a.n),
           "--hearth", os.path.realpath(a.hearth), "--image", image]
    runs = [l1.host_root_run(),
            L.CommandRun("firmware", "hearth", cmd, timeout=a.n * 2 * (BOOT_TIMEOUT // 3))]
    try:
        res = L.Lab(stream=a.stream or None).run_plan(
            runs, tag="bench-firmware", retries=1,
            l1_extra=L.L1Extra(modules=l1.HOST_ROOT_MODULES, host_root=True))
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    if not res.ok:
        print(res.failure_line())
        return 3
    r = res.runs.get("firmware")
    lines = (r.guest_lines + r.stderr_lines) if r else []
    got = [json.loads(l[l.index("BENCH ") + 6:]) for l in lines if "BENCH {" in l]
    by = {v: [g for g in got if g["vmm"] == v] for v in ("hearth", "qemu")}
    if any(len(by[v]) < a.n or any(g[k] is None for g in by[v] for k in
                                   ("kernel_s", "login_s", "exits")) for v in by):
        print("figures missing; the run said:\n  " + "\n  ".join(lines[-40:]))
        return 1
    med = {v: {k: statistics.median(g[k] for g in by[v]) for k in ("kernel_s", "login_s",
                                                                     "exits")} for v in by}
    print("| VMM (SeaBIOS, Debian 12, L1) | to the kernel | to login: | exits to login: |")
    print("|---|---|---|---|")
    for v in ("hearth", "qemu"):
        print("| %s | %.1f s | %.1f s | %d |" % (v, med[v]["kernel_s"], med[v]["login_s"],
                                                med[v]["exits"]))
    print("Hearth / QEMU (medians of %d): to the kernel %.2f, to login: %.2f, exits %.2f" % (
        a.n, med["hearth"]["kernel_s"] / med["qemu"]["kernel_s"],
        med["hearth"]["login_s"] / med["qemu"]["login_s"],
        med["hearth"]["exits"] / med["qemu"]["exits"]))
    # Where the exits differ, by KVM's categories (medians over each VMM's boots).
    keys = sorted({k for v in by for g in by[v] for k in g.get("by", {})} - {"exits"})
    rows = []
    for k in keys:
        h, q = (statistics.median(g.get("by", {}).get(k, 0) for g in by[v])
                for v in ("hearth", "qemu"))
        if h or q:
            rows.append((abs(h - q), k, h, q))
    if rows:
        print("| KVM's exit counter to login: | hearth | qemu | hearth - qemu |")
        print("|---|---|---|---|")
        for _, k, h, q in sorted(rows, reverse=True):
            print("| %s | %d | %d | %+d |" % (k, h, q, h - q))
    return 0


if __name__ == "__main__":
    sys.exit(main())
