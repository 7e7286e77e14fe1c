#!/usr/bin/env python3
"""Booting through firmware (docs/firmware.md): the refusals, and Debian's
SeaBIOS booting a disk's master boot record from a qcow2 overlay on a qcow2
base, judged against QEMU's q35 booting the same image with the same file.

    run_firmware_test.py --hearth build/hearth --case CASE --mbr build/tests/guest/mbr.bin
                         [--mbr-tick build/tests/guest/mbrtick.bin] [--asan B]

  refused   `hearth run` refuses, each in one line naming it and exit 2, before
            KVM is touched: --firmware with --kernel, --initrd, --cmdline or
            --flat; --firmware-vars or --smbios without --firmware; an image that
            is not a regular file; a ROM that is not whole 64 KiB blocks; a bad
            --smbios item; and `hearth serve`'s PUT /boot-source naming a
            firmware and a kernel (400 naming both).
  seabios   /usr/share/seabios/bios-256k.bin (package seabios, as Debian ships
            it) boots tests/guest/mbr.S from the first sector of a qcow2
            overlay over a qcow2 base holding it: the record prints what the
            firmware tells it (its drive, INT 15h E820's memory map, LBA 1 read
            through INT 13h from the base), writes LBA 2 and powers off through
            the ICH9's PM1 control: Hearth exits 0, "guest powered off". The
            overlay checks clean and holds the write, the base is unchanged.
            QEMU's q35 (KVM where it has it) boots a copy of the same chain with
            the same file: the same lines, but for the two differences named in
            same_map(). As root, the same boot under --jail (uid 1000), the
            firmware and the chain inside the jail: the same lines.

  jailed    (firmware_jailed.py) SeaBIOS boots tests/guest/mbrtick.S, a record that
            prints a numbered line every 4 BIOS ticks after reading LBA 1, from a
            qcow2 overlay, and every Hearth is jailed as uid 1000: the VM is
            snapshotted, forked into two clones (each its own overlay), moved live
            to a `hearth serve` in a second jail, and its snapshot loaded in a third.
            Each goes on line for line from where its base was taken, every read
            brings the base's line, the overlays check clean, the base is unchanged.
  debian    `hearth serve`, through the API: the Debian 12 image of
            scripts/debian_image.sh as a qcow2 overlay's raw base, SeaBIOS, the
            SMBIOS serial `ds=nocloud-net;s=http://169.254.169.254/latest/`, a
            user-mode NIC the MMDS answers on, the cloud-init documents in the
            MMDS (V1: cloud-init sends no token). SeaBIOS, GRUB and Debian boot to
            login on ttyS0; cloud-init ran from the MMDS (its result names it)
            and took its hostname and user, who logs in and has sudo; the root
            is vda1 on virtio-blk; Linux lists the HPET as a clocksource, takes
            it when told to and keeps time on it, and names it a clock event
            device; `sudo poweroff` ends Hearth with exit 0. The overlay checks
            clean, the base is not written.
  ovmf      /usr/share/OVMF/OVMF_CODE_4M.fd with a copy of OVMF_VARS_4M.fd (package
            ovmf) finds no boot option on a qcow2 overlay whose base is one FAT
            file system, starts its built-in UEFI shell, which runs startup.nsh
            from it: a line, the base's file, a file written, `reset -s`, and
            Hearth exits 0. The overlay checks clean and holds the file, the base
            is unchanged, and the VM's variable store holds what OVMF wrote. (No
            QEMU beside it: QEMU 7.2's TCG, the lab's L0, aborts when an L2 QEMU
            runs OVMF under L1's KVM.)

seabios, jailed, debian and ovmf need a /dev/kvm that runs real mode (PVM's cannot: itest.NotHere
and the lab's L1).
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import SANITIZER_MARKERS, check, run_cases, sanitizer_env as env  # noqa: E402
from firmware_common import BASE_LINE, SEABIOS, make_chain, need_real_mode, sh  # noqa: E402
from firmware_debian import case_debian  # noqa: E402
from firmware_jailed import case_jailed  # noqa: E402

NO_KVM = "/nonexistent/hearth-test/kvm"
MEM_MIB = 256
WROTE = b"HEARTH-WROTE-LBA2\0"
RUN_TIMEOUT = 300     # a hung firmware ends the test, nothing else is timed
OVMF_TIMEOUT = 1800   # OVMF's boot under the lab's emulation is minutes
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
# The UEFI shell's script, run from the disk's file system after its 5 s countdown.
STARTUP_NSH = ["echo HEARTH-UEFI-SHELL", "fs0:", "type hearth.txt", "echo HEARTH-WROTE >a out.txt",
               "reset -s"]


def refused(binary, tmp, argv, want):
    r = subprocess.run([binary, "run", "--kvm", NO_KVM] + argv, capture_output=True,
                       text=True, cwd=tmp, env=env(), timeout=60)
    err = r.stderr.strip()
    for m in SANITIZER_MARKERS:
        check(m not in err, "%s: %s: %s" % (argv, m, err[-2000:]))
    check(r.returncode == 2 and want in err and len(err.splitlines()) == 1,
          "hearth run %s: exit 2 and one line naming %r (exit %d: %s)" % (
              " ".join(argv), want, r.returncode, err))


def case_refused(binary, tmp, a):
    binary = os.path.abspath(binary)
    odd = os.path.join(tmp, "odd.rom")
    with open(odd, "wb") as f:
        f.write(b"\0" * 100000)
    cases = [
        (["--firmware", SEABIOS, "--kernel", a.mbr], "--firmware and --kernel exclude each other"),
        (["--firmware", SEABIOS, "--initrd", a.mbr], "--initrd"),
        (["--firmware", SEABIOS, "--cmdline", "x"], "--cmdline"),
        (["--firmware", SEABIOS, "--flat", a.mbr], "--flat"),
        (["--firmware-vars", odd, "--kernel", a.mbr], "--firmware-vars needs --firmware"),
        (["--smbios", "serial=x", "--kernel", a.mbr], "--smbios: the SMBIOS tables are the firmware's to build: they need --firmware"),
        (["--firmware", tmp], "not a regular file"),
        (["--firmware", odd], "100000 bytes: a firmware image is a multiple of 64 KiB"),
        (["--firmware", SEABIOS, "--smbios", "bogus=1"], "want serial=, uuid= or product="),
    ]
    for argv, want in cases:
        refused(binary, tmp, argv, want)
    # The API: a boot-source naming both is the PUT's 400, in one message naming both.
    sock = os.path.join(tmp, "api.sock")
    p = subprocess.Popen([binary, "serve", "--api-sock", sock, "--kvm", NO_KVM],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env())
    try:
        from run_vmclock_test import request
        import time
        for _ in range(500):
            if os.path.exists(sock):
                break
            time.sleep(0.01)
        st, body = request(sock, "PUT", "/boot-source",
                           {"firmware_path": SEABIOS, "kernel_image_path": a.mbr})
        body = body.decode(errors="replace")
        check(st == 400 and "firmware_path" in body and "kernel_image_path" in body,
              "PUT /boot-source with a firmware and a kernel: 400 naming both (%s %s)" % (st, body))
    finally:
        p.terminate()
        _, err = p.communicate(timeout=30)
        for m in SANITIZER_MARKERS:
            check(m not in err.decode(errors="replace"), "hearth serve: %s" % m)


def lines_of(out):
    """The record's lines (what came before "MBR" is SeaBIOS's own console)."""
    text = out.decode(errors="replace").replace("\r", "")
    at = text.find("MBR drive=")
    return [l for l in text[at:].split("\n") if l.strip()] if at >= 0 else []


def same_map(hearth, qemu):
    """Hearth's memory map is QEMU's, but for (1) how much of RAM's top SeaBIOS keeps for
    the tables it was handed (QEMU's tables are larger): the RAM from 1 MiB and that
    reserve end at the same address; and (2) QEMU's reservation at 1 TiB - 12 GiB, the
    HyperTransport range it keeps on an AMD host. None, or what differs."""
    def entries(ls):
        return [tuple(int(x, 16) for x in l.split()[1:4]) for l in ls if l.startswith("E820 ")]

    def norm(es):
        out, i = [], 0
        while i < len(es):
            b, n, t = es[i]
            if t == 1 and b == 1 << 20 and i + 1 < len(es) and es[i + 1][2] == 2 and \
                    es[i + 1][0] == b + n:
                out.append(("ram+reserve", b, b + n + es[i + 1][1]))
                i += 2
                continue
            if not (t == 2 and b == 0xfd00000000 and n == 0x300000000):
                out.append((t, b, n))
            i += 1
        return out
    h, q = norm(entries(hearth)), norm(entries(qemu))
    return None if h == q and h else "Hearth %s, QEMU %s" % (h, q)


def case_seabios(binary, tmp, a):
    need_real_mode()
    binary = os.path.abspath(binary)
    check(os.path.exists(SEABIOS), "%s: install the seabios package" % SEABIOS)
    hd, qd = os.path.join(tmp, "hearth"), os.path.join(tmp, "qemu")
    make_chain(hd, a.mbr)
    make_chain(qd, a.mbr)
    with open(os.path.join(hd, "base.qcow2"), "rb") as f:
        base_sum = hashlib.sha256(f.read()).hexdigest()
    argv = [binary, "run", "--firmware", SEABIOS, "--memory", str(MEM_MIB),
            "--disk", "path=top.qcow2,format=qcow2,backing=base.qcow2"]
    try:
        r = subprocess.run(argv, cwd=hd, stdin=subprocess.DEVNULL, capture_output=True,
                           env=env(), timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        check(False, "hearth run --firmware: no power-off in %d s; its output: %r" % (
            RUN_TIMEOUT, (e.stdout or b"")[-2000:]))
    err = r.stderr.decode(errors="replace")
    for m in SANITIZER_MARKERS:
        check(m not in err, "hearth run --firmware: %s: %s" % (m, err[-2000:]))
    hl = lines_of(r.stdout)
    print("hearth:\n  " + "\n  ".join(hl))
    check(r.returncode == 0 and "guest powered off" in err,
          "SeaBIOS and the record end in the ICH9's S5: exit 0, 'guest powered off' "
          "(exit %d: %s; lines %s)" % (r.returncode, err.strip()[-1000:], hl))
    check(hl[:1] == ["MBR drive=80"], "SeaBIOS boots the record from drive 0x80 (%s)" % hl[:1])
    check("BASE " + BASE_LINE in hl, "INT 13h reads LBA 1 from the base through the "
          "overlay (%s)" % hl)
    check("WROTE" in hl and not any(l.startswith("FAIL") for l in hl),
          "INT 13h writes LBA 2, nothing failed (%s)" % hl)
    sh("qemu-img", "check", "-q", os.path.join(hd, "top.qcow2"))
    sh("qemu-img", "convert", "-O", "raw", os.path.join(hd, "top.qcow2"),
       os.path.join(hd, "top.raw"))
    with open(os.path.join(hd, "top.raw"), "rb") as f:
        f.seek(1024)
        got = f.read(len(WROTE))
    check(got == WROTE, "the overlay holds the record's write at LBA 2 (%r)" % got)
    with open(os.path.join(hd, "base.qcow2"), "rb") as f:
        check(hashlib.sha256(f.read()).hexdigest() == base_sum, "the base is unchanged")

    # Jailed, exactly as unjailed: the firmware, the chain and the same lines inside the jail.
    if os.geteuid() == 0:
        jail = os.path.join(tmp, "jail")
        make_chain(jail, a.mbr)
        shutil.copyfile(SEABIOS, os.path.join(jail, "bios.bin"))
        os.chmod(tmp, 0o755)
        os.chown(os.path.join(jail, "top.qcow2"), 1000, 1000)
        e = env()
        # A jailed process has no /proc for LeakSanitizer's exit scan: the later option wins.
        e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        j = subprocess.run([binary, "run", "--jail", jail, "--uid", "1000", "--gid", "1000",
                            "--firmware", "/bios.bin", "--memory", str(MEM_MIB), "--disk",
                            "path=/top.qcow2,format=qcow2,backing=/base.qcow2"],
                           stdin=subprocess.DEVNULL, capture_output=True, env=e,
                           timeout=RUN_TIMEOUT)
        jerr = j.stderr.decode(errors="replace")
        for m in SANITIZER_MARKERS:
            check(m not in jerr, "hearth run --jail --firmware: %s: %s" % (m, jerr[-2000:]))
        jl = lines_of(j.stdout)
        check(j.returncode == 0 and jl == hl, "jailed (uid 1000), the same boot: exit 0 and "
              "the same lines (exit %d: %s; lines %s)" % (j.returncode, jerr.strip()[-800:], jl))
        sh("qemu-img", "check", "-q", os.path.join(jail, "top.qcow2"))
    else:
        print("jailed: not tried (not root; the lab's L1 runs it as root)")

    qemu = shutil.which("qemu-system-x86_64")
    check(qemu is not None, "qemu-system-x86_64: the reference q35 (package qemu-system-x86)")
    q = subprocess.run([qemu, "-machine", "q35,accel=kvm:tcg", "-m", str(MEM_MIB), "-bios",
                        SEABIOS, "-drive", "file=top.qcow2,if=virtio,format=qcow2",
                        "-display", "none", "-serial", "stdio", "-monitor", "none",
                        "-no-reboot", "-nodefaults"], cwd=qd, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=RUN_TIMEOUT)
    ql = lines_of(q.stdout)
    print("QEMU q35:\n  " + "\n  ".join(ql))
    check(q.returncode == 0 and "WROTE" in ql, "QEMU q35 boots the same chain (exit %d: %s)" % (
        q.returncode, q.stderr.decode(errors="replace")[-500:]))
    drop = lambda ls: [l for l in ls if not l.startswith(("E820 ", "FAIL"))]  # noqa: E731
    check(drop(hl) == drop(ql), "the record's lines are QEMU's (Hearth %s, QEMU %s)" % (hl, ql))
    diff = same_map(hl, ql)
    check(diff is None, "SeaBIOS's E820 map under Hearth is QEMU q35's: %s" % diff)


def make_fat_chain(d):
    """base.qcow2: a FAT file system on the whole disk (no partition table, which UEFI
    takes as one file system) with the shell's startup.nsh and a file; top.qcow2 over it."""
    os.makedirs(d, exist_ok=True)
    raw = os.path.join(d, "fat.raw")
    with open(raw, "wb") as f:
        f.truncate(16 << 20)
    nsh, txt = os.path.join(d, "startup.nsh"), os.path.join(d, "hearth.txt")
    with open(nsh, "w", newline="") as f:
        f.write("".join(l + "\r\n" for l in STARTUP_NSH))
    with open(txt, "w", newline="") as f:
        f.write(BASE_LINE + "\r\n")
    sh("mformat", "-i", raw, "-v", "HEARTH", "::")
    sh("mcopy", "-i", raw, nsh, txt, "::")
    sh("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, os.path.join(d, "base.qcow2"))
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", "base.qcow2",
       os.path.join(d, "top.qcow2"))


def case_ovmf(binary, tmp, a):
    need_real_mode()
    binary = os.path.abspath(binary)
    for f in (OVMF_CODE, OVMF_VARS):
        check(os.path.exists(f), "%s: install the ovmf package" % f)
    make_fat_chain(tmp)
    with open(os.path.join(tmp, "base.qcow2"), "rb") as f:
        base_sum = hashlib.sha256(f.read()).hexdigest()
    shutil.copyfile(OVMF_VARS, os.path.join(tmp, "vars.fd"))
    argv = [binary, "run", "--firmware", OVMF_CODE, "--firmware-vars", "vars.fd",
            "--memory", str(MEM_MIB), "--disk", "path=top.qcow2,format=qcow2,backing=base.qcow2"]
    try:
        r = subprocess.run(argv, cwd=tmp, stdin=subprocess.DEVNULL, capture_output=True,
                           env=env(), timeout=OVMF_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        check(False, "hearth run --firmware OVMF: no power-off in %d s; its output: %r" % (
            OVMF_TIMEOUT, (e.stdout or b"")[-3000:]))
    err = r.stderr.decode(errors="replace")
    for m in SANITIZER_MARKERS:
        check(m not in err, "hearth run --firmware OVMF: %s: %s" % (m, err[-2000:]))
    # The shell's console is a terminal's: its colours and modes out, the text kept.
    out = re.sub(r"\x1b\[[0-9;=?]*[A-Za-z]", "", r.stdout.decode(errors="replace"))
    out = out.replace("\r", "")
    tail = out[-3000:]
    check(r.returncode == 0 and "guest powered off" in err,
          "OVMF's shell ends with `reset -s`: exit 0, 'guest powered off' (exit %d: %s; "
          "output %r)" % (r.returncode, err.strip()[-1000:], tail))
    lines = [l.strip() for l in out.split("\n")]
    check("HEARTH-UEFI-SHELL" in lines, "the UEFI shell runs startup.nsh from the disk's "
          "file system (%r)" % tail)
    check(BASE_LINE in lines, "the shell reads the base's file through the overlay (%r)" % tail)
    sh("qemu-img", "check", "-q", os.path.join(tmp, "top.qcow2"))
    sh("qemu-img", "convert", "-O", "raw", os.path.join(tmp, "top.qcow2"),
       os.path.join(tmp, "top.raw"))
    got = subprocess.run(["mcopy", "-i", os.path.join(tmp, "top.raw"), "::out.txt", "-"],
                         capture_output=True).stdout
    check(got == b"HEARTH-WROTE\r\n", "the overlay holds the file the shell wrote (%r)" % got)
    with open(os.path.join(tmp, "base.qcow2"), "rb") as f:
        check(hashlib.sha256(f.read()).hexdigest() == base_sum, "the base is unchanged")
    with open(os.path.join(tmp, "vars.fd"), "rb") as f, open(OVMF_VARS, "rb") as g:
        check(f.read() != g.read(), "the boot options OVMF wrote are in the VM's variable "
              "store, vars.fd (it still equals %s)" % OVMF_VARS)


def options(ap):
    ap.add_argument("--mbr", required=True, help="tests/guest/mbr.bin")
    ap.add_argument("--mbr-tick", help="tests/guest/mbrtick.bin (the jailed case's record)")


CASES = {"refused": case_refused, "seabios": case_seabios, "ovmf": case_ovmf,
         "debian": case_debian, "jailed": case_jailed}

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-firmware-", options=options))
