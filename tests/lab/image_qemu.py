#!/usr/bin/env python3
"""Boots the Debian image (scripts/debian_image.sh) under QEMU on this host
(TCG, q35, a virtio-blk-pci disk, a virtio-net-pci NIC on user networking)
and checks what issue 64's lab tests will check under Hearth: each boot
reaches `login:` on the first serial port, cloud-init applied the seed's
hostname and user, the test user logs in and runs commands.

    python3 tests/lab/image_qemu.py                     # every case
    python3 tests/lab/image_qemu.py --cases seabios-raw,ovmf-qcow2

The cases (name: firmware, disk, seed):
    seabios-raw     SeaBIOS (QEMU's default bios-256k.bin), a raw copy, NoCloud seed disk
    ovmf-raw        OVMF_CODE_4M.fd + a copy of OVMF_VARS_4M.fd, a raw copy, seed disk
    seabios-qcow2   SeaBIOS, a qcow2 overlay on a qcow2 base, seed disk
    ovmf-qcow2      OVMF, a qcow2 overlay on a qcow2 base, seed disk
    mmds            SeaBIOS, qcow2 overlay, no seed disk: the SMBIOS serial
                    `ds=nocloud-net;s=http://169.254.169.254/latest/`, and QEMU's
                    user network answering that address's port 80 (guestfwd)
                    with the same documents, as the MMDS will
    noseed          SeaBIOS, raw, no seed at all (cloud-init stays off)

Each boot holds /tmp/lab.lock (flock(2), the lock `flock /tmp/lab.lock`
takes) while QEMU runs: one lab or long QEMU run at a time.  The times are
from QEMU's start to each milestone's first appearance on the serial console
(image_check.MILESTONES); they are printed and written to results.json in
the run directory (build/lab/runs/...).  Not part of `make test`: nothing
here is Hearth's; it shows the image boots as issue 64's tests expect.
"""
import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import image_check as IC  # noqa: E402
import lab_base  # noqa: E402

SEABIOS = "/usr/share/seabios/bios-256k.bin"
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
LOCK = "/tmp/lab.lock"

CASES = {
    "seabios-raw": ("seabios", "raw", "disk"),
    "ovmf-raw": ("ovmf", "raw", "disk"),
    "seabios-qcow2": ("seabios", "qcow2", "disk"),
    "ovmf-qcow2": ("ovmf", "qcow2", "disk"),
    "mmds": ("seabios", "qcow2", "mmds"),
    "noseed": ("seabios", "raw", None),
}


def serve_one(directory):
    """One HTTP request on stdin/stdout (QEMU's guestfwd cmd:): GET
    /latest/NAME answers directory/NAME, anything else 404."""
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    line = inp.readline().decode("latin-1")
    while True:
        h = inp.readline()
        if h in (b"\r\n", b"\n", b""):
            break
    parts = line.split()
    path = parts[1] if len(parts) > 1 else "/"
    name = path[len("/latest/"):] if path.startswith("/latest/") else ""
    f = os.path.join(directory, name)
    with open(os.path.join(directory, "requests.log"), "a") as lg:
        lg.write(line.strip() + "\n")
    if name and "/" not in name and os.path.isfile(f):
        body = open(f, "rb").read()
        head = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
    else:
        body = b"not found\n"
        head = "HTTP/1.0 404 Not Found\r\n"
    out.write(("%sContent-Length: %d\r\nConnection: close\r\n\r\n" % (head, len(body))).encode())
    out.write(body)
    out.flush()


def qemu_argv(firmware, disk, disk_fmt, seed, vars_copy, cpus, memory, netdev, serial_id=None):
    a = ["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-cpu", "max",
         "-smp", str(cpus), "-m", str(memory), "-nographic", "-no-reboot",
         "-nodefaults", "-no-user-config", "-serial", "mon:stdio"]
    if firmware == "seabios":
        a += ["-bios", SEABIOS]
    else:
        a += ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + OVMF_CODE,
              "-drive", "if=pflash,format=raw,unit=1,file=" + vars_copy]
    a += ["-drive", "file=%s,format=%s,if=none,id=d0,cache=unsafe" % (disk, disk_fmt),
          "-device", "virtio-blk-pci,drive=d0,bootindex=1"]
    if seed:
        a += ["-drive", "file=%s,format=raw,if=none,id=d1,readonly=on" % seed,
              "-device", "virtio-blk-pci,drive=d1"]
    a += ["-netdev", netdev, "-device", "virtio-net-pci,netdev=n0"]
    if serial_id:
        a += ["-smbios", "type=1,serial=" + serial_id]
    return a


def run_case(name, image, work, args, qcow2_base):
    firmware, fmt, seed_kind = CASES[name]
    d = os.path.join(work, name)
    os.makedirs(d)
    hostname = "hearth-" + name
    res = {"case": name, "firmware": firmware, "disk": fmt, "seed": seed_kind or "none"}
    if fmt == "raw":
        disk = os.path.join(d, "disk.raw")
        subprocess.run(["cp", "--sparse=always", image, disk], check=True)
    else:
        disk = os.path.join(d, "overlay.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", qcow2_base,
                        "-F", "qcow2", disk], check=True)
    vars_copy = None
    if firmware == "ovmf":
        vars_copy = os.path.join(d, "OVMF_VARS_4M.fd")
        shutil.copy(OVMF_VARS, vars_copy)
    seed = None
    serial_id = None
    netdev = "user,id=n0"
    if seed_kind == "disk":
        seed = IC.make_seed(d, hostname=hostname)
    elif seed_kind == "mmds":
        www = os.path.join(d, "mmds")
        os.makedirs(www)
        for k, v in IC.seed_documents(hostname=hostname).items():
            with open(os.path.join(www, k), "w") as f:
                f.write(v)
        serial_id = IC.SMBIOS_SERIAL_MMDS
        netdev = ("user,id=n0,net=169.254.0.0/16,host=169.254.0.2,dhcpstart=169.254.0.15,"
                  "guestfwd=tcp:169.254.169.254:80-cmd:%s %s --serve-one %s"
                  % (sys.executable, os.path.abspath(__file__), www))
    argv = qemu_argv(firmware, disk, fmt, seed, vars_copy, args.cpus, args.memory, netdev,
                     serial_id)
    with open(os.path.join(d, "argv.txt"), "w") as f:
        f.write(" ".join(argv) + "\n")
    log = os.path.join(d, "serial.log")
    lock = open(LOCK, "w")
    t0 = time.monotonic()
    fcntl.flock(lock, fcntl.LOCK_EX)
    res["lock_wait_s"] = round(time.monotonic() - t0, 1)
    res["load_before"] = os.getloadavg()[0]
    print("image_qemu: %s: booting (%s)" % (name, log), file=sys.stderr, flush=True)
    vm = IC.VmProcess(argv, log)
    con = vm.console
    try:
        con.watch(IC.MILESTONES)
        seen_host = con.wait_login(timeout=args.timeout)
        res["login_s"] = con.seen["login"]
        res["load_at_login"] = os.getloadavg()[0]
        res["prompt_hostname"] = seen_host
        if seed_kind:
            con.login(IC.TEST_USER, IC.TEST_PASSWORD)
            res["cloud_init"] = con.wait_cloud_init()
            checks = {
                "hostname": "hostname",
                "user": "id -un; id -Gn",
                "sudo": "sudo -n true && echo sudo-ok",
                "hosts": "getent hosts $(hostname)",
                "booted_by": "[ -d /sys/firmware/efi ] && echo uefi || echo bios",
                "root": "findmnt -no SOURCE /; basename $(readlink /sys/block/vda/device/driver)",
                "datasource": "sed -n 's/.*\"datasource\": \"\\(.*\\)\".*/\\1/p' /run/cloud-init/result.json",
                "route": "ip -4 route | grep 169.254.169.254 || echo no-mmds-route",
                "kernel": "uname -r",
                "analyze": "systemd-analyze 2>/dev/null | head -n 1",
            }
            for k, cmd in checks.items():
                rc, out = con.run(cmd, timeout=args.timeout)
                res[k] = " | ".join(line.strip() for line in out.splitlines() if line.strip())
            ok = (res["hostname"].split(" | ")[-1] == hostname
                  and res["user"].startswith(IC.TEST_USER)
                  and "sudo-ok" in res["sudo"]
                  and res["booted_by"].endswith("uefi" if firmware == "ovmf" else "bios")
                  and "virtio_blk" in res["root"] and "/dev/vda1" in res["root"]
                  and "done" in res["cloud_init"])
            res["ok"] = ok
            con.send("sudo poweroff\r")
        else:
            res["ok"] = True
        res["milestones"] = dict(con.seen)
    except IC.ConsoleError as e:
        res["ok"] = False
        res["error"] = str(e)[:3000]
        res["milestones"] = dict(con.seen)
    finally:
        try:
            vm.wait(timeout=120)
        except subprocess.TimeoutExpired:
            pass
        vm.stop()
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    if seed_kind == "mmds":
        try:
            res["mmds_requests"] = open(os.path.join(d, "mmds", "requests.log")).read().split("\n")[:-1]
        except OSError:
            res["mmds_requests"] = []
    for f in ("disk.raw",):
        p = os.path.join(d, f)
        if os.path.exists(p) and not args.keep:
            os.unlink(p)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image", help="the raw image (default: scripts/debian_image.sh's)")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated, of: " + ", ".join(CASES))
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--memory", type=int, default=1024, help="MiB")
    ap.add_argument("--timeout", type=int, default=1800,
                    help="seconds a boot may take to login: before it is given up (a hang guard)")
    ap.add_argument("--keep", action="store_true", help="keep the raw disk copies")
    ap.add_argument("--serve-one", metavar="DIR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_one:
        serve_one(args.serve_one)
        return 0
    image = args.image or subprocess.run(
        [os.path.join(lab_base.REPO, "scripts", "debian_image.sh")],
        check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    cases = [c for c in args.cases.split(",") if c]
    for c in cases:
        if c not in CASES:
            ap.error("unknown case %s" % c)
    work = os.path.join(lab_base.work_dir(), "image")
    os.makedirs(work)
    base = None
    if any(CASES[c][1] == "qcow2" for c in cases):
        base = os.path.join(work, "base.qcow2")
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", image, base], check=True)
    results = []
    for c in cases:
        r = run_case(c, image, work, args, base)
        results.append(r)
        print(json.dumps(r, indent=1), flush=True)
        with open(os.path.join(work, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
    print("\n%-14s %-8s %-6s %-5s %8s %8s %8s %8s  %s" % (
        "case", "firmware", "disk", "seed", "grub s", "kernel s", "login s", "load", "ok"))
    for r in results:
        m = r.get("milestones", {})
        print("%-14s %-8s %-6s %-5s %8s %8s %8s %8.1f  %s" % (
            r["case"], r["firmware"], r["disk"], r["seed"], m.get("grub", "-"),
            m.get("kernel", "-"), m.get("login", "-"), r.get("load_at_login", 0.0),
            "ok" if r.get("ok") else "FAILED"))
    print("results: " + os.path.join(work, "results.json"))
    return 0 if all(r.get("ok") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
