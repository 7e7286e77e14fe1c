#!/usr/bin/env python3
"""What Hearth says when a guest dies (audit leftover: the chaos guest's rare triple fault).

    run_failure_report_test.py --hearth build/hearth --case recent-exits [--asan build-asan/hearth]

A guest writes 0x42 to port 0x80, loads an empty IDT and executes int3:
a triple fault on hardware (KVM_EXIT_SHUTDOWN), an emulation failure
under PVM. Either way Hearth exits 1 and its report names the vCPU's
registers and its last exits, the port write among them, so a fault that
cannot be reproduced can still be explained. Needs a /dev/kvm that runs
the smallest guest; skips elsewhere.
"""

import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import check, need_kvm, run_cases  # noqa: E402


def faulting_elf():
    code = bytes([0x66, 0xba, 0x80, 0x00,          # mov $0x80, %dx
                  0xb0, 0x42,                      # mov $0x42, %al
                  0xee,                            # out %al, (%dx)
                  0x6a, 0x00, 0x6a, 0x00,          # push $0; push $0
                  0x0f, 0x01, 0x1c, 0x24,          # lidt (%rsp): limit 0
                  0xcc,                            # int3: no handler, no double-fault one
                  0xeb, 0xfe])
    base, off = 0x200000, 0x1000
    ehdr = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, b"\0" * 7,
                       2, 0x3e, 1, base, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, off, base, base, len(code), len(code), 0x1000)
    return (ehdr + phdr).ljust(off, b"\0") + code


def case_recent_exits(binary, tmp):
    """The failing vCPU's registers and last exits, the port write among them."""
    need_kvm()
    kernel = os.path.join(tmp, "tf.elf")
    with open(kernel, "wb") as f:
        f.write(faulting_elf())
    p = subprocess.run([binary, "run", "--kernel", kernel, "--memory", "64"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    err = p.stderr
    check(p.returncode == 1, "exit %d, expected 1:\n%s" % (p.returncode, err))
    check("triple fault (KVM_EXIT_SHUTDOWN)" in err or "instruction emulation failed" in err,
          "no triple fault or emulation failure reported:\n%s" % err)
    for want in ("vcpu0 registers:", "vcpu0: its last ",
                 "io out port 0x80 size 1 count 1 data 0x42"):
        check(want in err, "no %r in:\n%s" % (want, err))


if __name__ == "__main__":
    sys.exit(run_cases(__doc__, {"recent-exits": case_recent_exits}, "hearth-failure-"))
