"""What the firmware tests share (run_firmware_test.py, firmware_debian.py)."""
import os
import subprocess

from itest import NotHere, check, need_kvm

SEABIOS = "/usr/share/seabios/bios-256k.bin"
BASE_LINE = "HEARTH-BASE-SECTOR-7"   # LBA 1 of make_chain's base
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sh(*argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    check(r.returncode == 0, "%s: exit %d: %s" % (" ".join(argv), r.returncode, r.stderr))
    return r.stdout


def need_real_mode():
    """SeaBIOS starts in real mode at the reset vector: PVM's /dev/kvm runs no real mode
    (tests/lab/README.md), so the case goes to the lab's L1 there."""
    need_kvm("a firmware boot")
    if os.path.exists("/sys/module/kvm_pvm"):
        raise NotHere("a firmware boot needs hardware virtualization; this host's /dev/kvm "
                      "is PVM's, which runs no real mode")


def make_chain(d, mbr):
    """base.qcow2 (the record at LBA 0, BASE_LINE at LBA 1) and top.qcow2 over it."""
    os.makedirs(d, exist_ok=True)
    raw = bytearray(1 << 20)
    with open(mbr, "rb") as f:
        rec = f.read()
    check(len(rec) == 512 and rec[510:] == b"\x55\xaa", "%s: a 512-byte boot record" % mbr)
    raw[0:512] = rec
    line = BASE_LINE.encode() + b"\0"
    raw[512:512 + len(line)] = line
    with open(os.path.join(d, "base.raw"), "wb") as f:
        f.write(raw)
    sh("qemu-img", "convert", "-f", "raw", "-O", "qcow2", os.path.join(d, "base.raw"),
       os.path.join(d, "base.qcow2"))
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", "base.qcow2",
       os.path.join(d, "top.qcow2"))
