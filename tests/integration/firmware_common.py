"""What the firmware tests share (run_firmware_test.py, firmware_debian.py)."""
import os
import subprocess

from itest import NotHere, check, need_kvm

SEABIOS = "/usr/share/seabios/bios-256k.bin"
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
