"""What the integration runners share: the failure type, the check, the
sanitizer markers they look for on stderr, the smallest guest, and
Firecracker's version and state refusals."""
import fcntl
import os
import struct

# The Firecracker release whose API Hearth implements (HEARTH_FIRECRACKER_VERSION).
FC_VERSION = "1.16.0"
# Firecracker's refusals of an action in the wrong state, word for word.
NOT_BEFORE_START = "The requested operation is not supported before starting the microVM."
NOT_AFTER_START = "The requested operation is not supported after starting the microVM."

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer", "ThreadSanitizer")


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def bzimage(payload):
    """A bzImage (boot protocol 2.15, 64-bit, relocatable) whose payload is payload,
    as the kernel build leaves it: compressed, followed by its decompressed size."""
    setup = 5 * 512
    body = (0x100 + len(payload) + 15) // 16 * 16
    img = bytearray(setup + body)
    img[0x1f1] = 4                                      # setup_sects
    struct.pack_into('<I', img, 0x1f4, body // 16)     # syssize
    struct.pack_into('<H', img, 0x1fe, 0xaa55)
    struct.pack_into('<H', img, 0x200, 0xeb | ((0x26c - 0x202) << 8))
    struct.pack_into('<IH', img, 0x202, 0x53726448, 0x020f)
    img[0x211] = 1                                      # LOADED_HIGH
    struct.pack_into('<II', img, 0x22c, 0x7fffffff, 0x200000)
    img[0x234], img[0x235] = 1, 21
    struct.pack_into('<HI', img, 0x236, 1, 2047)        # XLF_KERNEL_64, cmdline_size
    struct.pack_into('<II', img, 0x248, 0x100, len(payload))
    struct.pack_into('<QI', img, 0x258, 0x1000000, 0x800000)
    img[setup + 0x100:setup + 0x100 + len(payload)] = payload
    return bytes(img)


def tiny_elf(power_off=True):
    """A valid ELF64 guest that powers off at once (outb 0x34 to 0x600), or with
    power_off=False halts for good (interrupts off), so the VM stays Running."""
    off_code = bytes([0x66, 0xba, 0x00, 0x06,   # mov $0x600, %dx
                      0xb0, 0x34,               # mov $0x34, %al
                      0xee])                    # out %al, (%dx)
    code = (off_code if power_off else b"") + bytes([0xfa, 0xf4,   # 1: cli; hlt
                                                     0xeb, 0xfc])  # jmp 1b
    base = 0x200000
    ehdr = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, b"\0" * 7,
                       2, 0x3e, 1, base, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    off = 0x1000
    phdr = struct.pack("<IIQQQQQQ", 1, 5, off, base, base, len(code), len(code), 0x1000)
    img = ehdr + phdr
    return img + b"\0" * (off - len(img)) + code


def memfd_ram_bytes(pid):
    """The bytes pid maps of guest RAM kept in a memfd (what a vhost-user backend
    is handed; mem/guest_mem.c names it hearth-guest-ram): 0 for anonymous RAM."""
    total = 0
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            if "/memfd:hearth-guest-ram" in line:
                a, b = (int(x, 16) for x in line.split()[0].split("-"))
                total += b - a
    return total


class NotHere(Exception):
    """This case's check needs what this host lacks (a /dev/kvm that runs its guest). The
    runner exits 77: meson counts it skipped here, and scripts/test.sh runs the case again
    in the lab's L1, which has KVM, and counts it there (tests/lab/test_integration.py)."""


# What a runner prints for a case it cannot try here; test_integration.py looks for it.
NOT_HERE = "not here:"


def need_kvm(what="this case"):
    """Raises NotHere unless /dev/kvm opens: the check that follows needs a guest to run."""
    if not kvm_usable():
        raise NotHere("%s needs /dev/kvm, which cannot be opened here" % what)


def need_root(what="this case"):
    """Raises NotHere unless this runner is root (the lab's L1 runs every case as root)."""
    if os.geteuid() != 0:
        raise NotHere("%s needs root" % what)


def kvm_usable():
    """Whether /dev/kvm opens here (a test that needs a guest to run says so when not)."""
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
        return True
    except OSError:
        return False


def sanitizer_env():
    """The environment for a Hearth the test starts: the sanitizer build reports, never aborts,
    and checks no leaks (a sealed process cannot read /proc for it)."""
    e = dict(os.environ)
    e.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=0")
    return e


def tap_usable(name):
    """Whether this process may open the TAP `name` (one it may attach to, or create).

    Hearth checks a NIC's TAP at PUT, as Firecracker does; where the test
    may not have one, the PUT's 400 is what is checked instead."""
    TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454ca, 0x0002, 0x1000
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def binaries_of(hearth, asan):
    """The builds a case runs on: hearth, and the sanitizer build when it exists and differs.
    HEARTH_ASAN_PHASE=1 (scripts/test.sh sets it for the normal build's phase) says the
    sanitizer build runs every case again in a meson phase of its own: then hearth alone,
    or `make test` would run each case under the sanitizers twice (220 cases, about 60 s
    of its wall on two cores)."""
    found = [hearth]
    if os.environ.get("HEARTH_ASAN_PHASE") == "1":
        return found
    if asan and os.path.exists(asan) and os.path.realpath(asan) != os.path.realpath(hearth):
        found.append(asan)
    return found


def run_cases(doc, cases, prefix, cleanup=None, options=None):
    """The runners' command line: --hearth B --case C [--asan B2], and each build in turn in a
    fresh temporary directory. cleanup() runs after each build's case, failed or not;
    options(parser) adds a runner's own flags, and their values come back on the parsed
    arguments passed as the case's third argument when the case takes one."""
    import argparse
    import inspect
    import tempfile

    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--hearth", required=True)
    ap.add_argument("--case", required=True, choices=sorted(cases))
    ap.add_argument("--asan", help="sanitizer build of hearth, used when it exists")
    if options:
        options(ap)
    a = ap.parse_args()
    case = cases[a.case]
    wants_args = len(inspect.signature(case).parameters) > 2
    for b in binaries_of(a.hearth, a.asan):
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            try:
                if wants_args:
                    case(b, tmp, a)
                else:
                    case(b, tmp)
            except TestFailure as e:
                print("FAIL (%s): %s" % (b, e))
                return 1
            except NotHere as e:
                print("%s %s (%s)" % (NOT_HERE, e, b))
                return 77
            finally:
                if cleanup:
                    cleanup()
        print("ok (%s)" % b)
    return 0


def reap_orphans():
    """Every orphan reparented here (a jailer's or --new-pid-ns's VMM), reaped."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def run_cases_subreaper(doc, cases, prefix):
    """run_cases as a child subreaper: the VMMs a jailer or --new-pid-ns leaves behind are
    this runner's to wait for (and to reap after each case)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0):   # PR_SET_CHILD_SUBREAPER
        print("FAIL: PR_SET_CHILD_SUBREAPER: %s" % os.strerror(ctypes.get_errno()))
        return 1
    return run_cases(doc, cases, prefix, cleanup=reap_orphans)
