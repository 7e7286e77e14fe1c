"""The lab's shared basics, used by every part of it (tests/lab/lab.py, the
harness; lab_plan.py, the run plans; lab_build.py, what boots): where things
are (the repository, build/lab/, the paths inside L1), the kernel
metapackages, the VMMs' command lines in L1, the log, LabError, this
process's own work directory and the subprocess helpers.

Callers use these through lab.py (`import lab as L`), which re-exports them.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_DIR = os.path.join(REPO, "build", "lab")
KERNEL_META = "linux-image-cloud-amd64"
# Debian's generic kernel, for the L2 guests that need what the cloud one is
# built without (CONFIG_VMGENID: test_vmgenid.py); L1 stays the cloud kernel.
KERNEL_META_GENERIC = "linux-image-amd64"

# Paths inside L1.
L1_KERNEL = "/lab/l2/vmlinuz"
L1_BIN = "/lab/bin"
L1_QEMU_DATA = "/usr/share/qemu"

# Each VMM's command line in L1 (Run.argv fills it in; build_l1_initrd puts
# its binary at the first word).
VMM_TEMPLATES = {
    # Hearth's CLI.
    "hearth": ["{bin}/hearth", "run", "--kernel", "{kernel}", "--initrd", "{initrd}",
               "--cmdline", "{cmdline}", "--cpus", "{cpus}", "--memory", "{memory}"],
    # QEMU microvm, the reference.  -no-reboot turns a guest reboot into an exit
    # (as Hearth does) instead of booting the guest again.
    "qemu": ["{bin}/qemu-system-x86_64", "-L", L1_QEMU_DATA, "-M", "{machine}",
             "-enable-kvm", "-cpu", "host", "-m", "{memory}", "-smp", "{cpus}",
             "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
             "-serial", "stdio", "-device", "i8042",
             "-kernel", "{kernel}", "-initrd", "{initrd}",
             "-append", "{cmdline}"],
}


def log(msg):
    print("lab: " + msg, file=sys.stderr, flush=True)


class LabError(Exception):
    """The lab itself failed (as opposed to a test inside it)."""


_work = None
KEEP_RUN_DIRS = 20


def work_dir():
    """This process's own directory under build/lab/runs/: its staging
    trees, its L1 image and its serial logs.  Two lab runs in one tree never
    share one (the kernel and the L2 initrds are caches keyed by their
    inputs, written atomically, and shared).  The oldest run directories
    beyond KEEP_RUN_DIRS are removed; images of earlier runs are dropped."""
    global _work
    if _work is None or not os.path.isdir(_work):
        runs = os.path.join(LAB_DIR, "runs")
        os.makedirs(runs, exist_ok=True)
        old = sorted(d for d in os.listdir(runs) if d.startswith("run-"))
        for d in old[:max(0, len(old) - KEEP_RUN_DIRS + 1)]:
            shutil.rmtree(os.path.join(runs, d), ignore_errors=True)
        for d in old[-KEEP_RUN_DIRS:]:
            for f in os.listdir(os.path.join(runs, d)) if os.path.isdir(os.path.join(runs, d)) else []:
                if f.endswith(".cpio"):
                    try:
                        os.unlink(os.path.join(runs, d, f))
                    except OSError:
                        pass
        _work = tempfile.mkdtemp(prefix=time.strftime("run-%Y%m%d-%H%M%S-"), dir=runs)
    return _work


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def sh_out(cmd):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
