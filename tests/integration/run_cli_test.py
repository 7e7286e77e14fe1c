#!/usr/bin/env python3
"""Hearth CLI error paths, run against the real binary.

    run_cli_test.py --hearth build/hearth --case memory-zero [--asan build-asan/hearth]

Every error case must exit 2 with nothing on stdout and exactly one line on
stderr that names the problem; --help and --version exit 0. None of these
needs KVM: a bad command line or file is refused before anything runs.
With --asan (when that binary exists) the case also runs under the
sanitizer build, which must not report anything.
"""

import argparse
import fcntl
import gzip
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from itest import (SANITIZER_MARKERS, TestFailure, binaries_of, bzimage, check,  # noqa: E402
                   tiny_elf)

TIMEOUT = 30.0
FLAGS = ["--kernel", "--initrd", "--cmdline", "--cpus", "--memory", "--help", "--version"]


class Env:
    def __init__(self, tmp):
        self.tmp = tmp
        self.kernel = self.write("kernel.elf", tiny_elf())
        self.text = self.write("notes.txt", b"This is a text file, not a kernel.\n" * 20)
        # Deterministic "random" bytes, starting like nothing in particular.
        rnd = bytearray()
        x = 0x12345678
        for _ in range(65536):
            x = (x * 1103515245 + 12345) & 0x7fffffff
            rnd.append((x >> 16) & 0xff)
        self.random = self.write("random.bin", bytes(rnd))
        # bzImages whose payload the guest could not boot either: a gzip stream with
        # bytes flipped, and a sound stream of something that is no ELF kernel.
        z = bytearray(gzip.compress(tiny_elf(), mtime=0))
        for i in range(20, 40):
            z[i] ^= 0x5a
        self.bz_corrupt = self.write("bz-corrupt", bzimage(bytes(z)))
        self.bz_not_elf = self.write("bz-not-elf", bzimage(gzip.compress(b"not a kernel" * 99,
                                                                         mtime=0)))
        self.missing = os.path.join(tmp, "no-such-kernel")
        self.missing_initrd = os.path.join(tmp, "no-such-initrd")
        self.disk = self.write("disk.img", b"\0" * 65536)
        # cli; hlt, as a raw image; and one a byte larger than 16 MiB (sparse).
        self.flat = self.write("flat.bin", b"\xfa\xf4")
        self.flat_big = os.path.join(tmp, "flat-big.bin")
        with open(self.flat_big, "wb") as f:
            f.truncate((16 << 20) + 1)
        # Nobody ever writes to it: opening it for reading blocks unless O_NONBLOCK.
        self.fifo = os.path.join(tmp, "fifo")
        os.mkfifo(self.fifo)
        # Held for the whole case, as a running VM would hold its image.
        self.locked = self.write("locked.img", b"\0" * 65536)
        self._lock = open(self.locked, "rb")
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path


# Each case: (argv builder, expected exit code, words the stderr line must contain).
def cases(env, version):
    k = env.kernel
    err = {
        "missing-kernel-file": (["run", "--kernel", env.missing], [env.missing]),
        "text-file-kernel": (["run", "--kernel", env.text], [env.text]),
        "random-bytes-kernel": (["run", "--kernel", env.random], [env.random]),
        # Refused on the host, naming what is wrong, not left to hang in the guest.
        "bzimage-corrupt-payload": (["run", "--kernel", env.bz_corrupt],
                                    ["--kernel", env.bz_corrupt, "gzip payload", "corrupt"]),
        "bzimage-payload-not-elf": (["run", "--kernel", env.bz_not_elf],
                                    ["--kernel", env.bz_not_elf, "no valid ELF kernel"]),
        "directory-kernel": (["run", "--kernel", env.tmp],
                             ["--kernel", env.tmp, "not a regular file", "directory"]),
        "missing-initrd-file": (["run", "--kernel", k, "--initrd", env.missing_initrd],
                                [env.missing_initrd]),
        # Not regular files: refused by their type, never waited on (open() of
        # a FIFO blocks until a writer comes, unless O_NONBLOCK) nor read.
        "fifo-kernel": (["run", "--kernel", env.fifo],
                        ["--kernel", env.fifo, "not a regular file", "FIFO"]),
        "chardev-kernel": (["run", "--kernel", "/dev/zero"],
                           ["--kernel", "/dev/zero", "not a regular file", "character device"]),
        "fifo-initrd": (["run", "--kernel", k, "--initrd", env.fifo],
                        ["--initrd", env.fifo, "not a regular file", "FIFO"]),
        "memory-zero": (["run", "--kernel", k, "--memory", "0"], ["memory"]),
        "memory-one": (["run", "--kernel", k, "--memory", "1"], ["memory"]),
        "memory-abc": (["run", "--kernel", k, "--memory", "abc"], ["memory", "abc"]),
        "memory-negative": (["run", "--kernel", k, "--memory", "-64"], ["memory", "-64"]),
        "memory-huge": (["run", "--kernel", k, "--memory", "99999999999999999999"],
                        ["memory", "99999999999999999999"]),
        "cpus-zero": (["run", "--kernel", k, "--cpus", "0"], ["cpus"]),
        "cpus-abc": (["run", "--kernel", k, "--cpus", "abc"], ["cpus", "abc"]),
        "cpus-huge": (["run", "--kernel", k, "--cpus", "100000"], ["cpus", "100000"]),
        "cpus-trailing-junk": (["run", "--kernel", k, "--cpus", "2x"], ["cpus", "2x"]),
        "unknown-flag": (["run", "--kernel", k, "--frobnicate"], ["--frobnicate"]),
        "missing-flag-value": (["run", "--kernel"], ["--kernel"]),
        "missing-memory-value": (["run", "--kernel", k, "--memory"], ["--memory"]),
        "no-kernel-flag": (["run"], ["kernel"]),
        # Device flags: refused before KVM is opened, like a bad kernel.
        "disk-missing-file": (["run", "--kernel", k, "--disk", "path=" + env.missing],
                              ["--disk", env.missing]),
        "disk-directory": (["run", "--kernel", k, "--disk", "path=" + env.tmp],
                           ["--disk", env.tmp]),
        "disk-not-a-file": (["run", "--kernel", k, "--disk", "path=/dev/null"],
                            ["--disk", "/dev/null", "regular file"]),
        "disk-locked": (["run", "--kernel", k, "--disk", "path=" + env.locked],
                        ["--disk", env.locked, "in use"]),
        # ro opens for reading only, which is what blocks on a FIFO; with
        # cache=none the refused O_DIRECT must not add a page-cache warning.
        "disk-fifo": (["run", "--kernel", k, "--disk", "path=%s,ro" % env.fifo],
                      ["--disk", env.fifo, "not a regular file or block device", "FIFO"]),
        "disk-fifo-direct": (["run", "--kernel", k, "--disk", "path=%s,cache=none" % env.fifo],
                             ["--disk", env.fifo, "not a regular file or block device", "FIFO"]),
        "disk-bad-option": (["run", "--kernel", k, "--disk", "path=%s,cache=fast" % env.disk],
                            ["--disk", "cache", "'fast'"]),
        "disk-no-path": (["run", "--kernel", k, "--disk", "ro"], ["--disk", "path"]),
        # A vhost-user disk: its backend decides read-only and its queues; never both kinds.
        "disk-socket-ro": (["run", "--kernel", k, "--disk", "socket=/run/vub.sock,ro"],
                           ["--disk", "ro with socket=", "backend decides"]),
        "disk-socket-and-path": (["run", "--kernel", k, "--disk",
                                  "socket=/run/vub.sock,path=" + env.disk],
                                 ["--disk", "path= or socket=, once"]),
        "disk-bad-queues": (["run", "--kernel", k, "--disk", "path=%s,queues=17" % env.disk],
                            ["--disk", "queues must be 1 to 16", "'17'"]),
        "net-bad-backend": (["run", "--kernel", k, "--net", "bridge=br0"], ["--net", "bridge"]),
        "net-bad-hostfwd": (["run", "--kernel", k, "--net", "user,hostfwd=tcp:99999-:22"],
                            ["--net", "hostfwd"]),
        # host-loopback takes on or off only; it is a user-backend option.
        "net-bad-host-loopback": (["run", "--kernel", k, "--net", "user,host-loopback=yes"],
                                  ["--net", "host-loopback", "'yes'"]),
        "net-empty-host-loopback": (["run", "--kernel", k, "--net", "user,host-loopback="],
                                    ["--net", "host-loopback"]),
        "net-tap-host-loopback": (["run", "--kernel", k, "--net", "tap=tap0,host-loopback=on"],
                                  ["--net", "host-loopback"]),
        "vsock-reserved-cid": (["run", "--kernel", k, "--vsock", "cid=2"], ["--vsock", "cid"]),
        "api-sock-empty": (["run", "--kernel", k, "--api-sock", ""], ["--api-sock"]),
        # --flat: each refused before KVM is opened, naming the flag, the file and the value.
        "flat-too-large": (["run", "--flat", env.flat_big, "--memory", "16"],
                           ["--flat", env.flat_big, "16777217 bytes", "raise --memory"]),
        "flat-addr-outside-ram": (["run", "--flat", env.flat + ",addr=0x8000000", "--memory", "64"],
                                  ["--flat", env.flat, "addr=0x8000000", "outside guest RAM"]),
        "flat-entry-outside": (["run", "--flat", env.flat + ",addr=0x1000,entry=0x1002"],
                               ["--flat", "entry=0x1002", "outside the image [0x1000, 0x1002)"]),
        "flat-real-entry-high": (["run", "--flat", env.flat + ",addr=0x100000"],
                                 ["--flat", "mode=real", "1 MiB"]),
        "flat-unknown-mode": (["run", "--flat", env.flat + ",mode=vm86"],
                              ["--flat", "unknown mode 'vm86'"]),
        "flat-with-kernel": (["run", "--flat", env.flat, "--kernel", k],
                             ["--flat and --kernel exclude each other"]),
        "flat-missing-file": (["run", "--flat", env.missing], ["--flat", env.missing]),
        "flat-fifo": (["run", "--flat", env.fifo], ["--flat", env.fifo, "FIFO"]),
        "flat-with-rng": (["run", "--flat", env.flat, "--rng"], ["--flat", "--rng"]),
        "flat-cpus": (["run", "--flat", env.flat, "--cpus", "2"], ["--flat", "one vCPU"]),
        "debugcon-bad-port": (["run", "--flat", env.flat, "--debugcon", "port=0x10000"],
                              ["--debugcon", "0x10000", "0xffff"]),
        "debugcon-kvm-port": (["run", "--kernel", k, "--debugcon", "port=0x40"],
                              ["--debugcon", "0x40", "PIT"]),
        "debugcon-out-unwritable": (["run", "--flat", env.flat, "--debugcon",
                                     "out=%s/no-such-dir/out.txt" % env.tmp],
                                    ["--debugcon", "no-such-dir", "No such file"]),
        "no-subcommand": ([], []),
        "unknown-subcommand": (["frobnicate"], ["frobnicate"]),
    }
    out = {name: (argv, 2, words) for name, (argv, words) in err.items()}
    # A host failure after the kernel was loaded into RAM and the disk opened
    # and locked: exit 1, one line, and (under ASan) everything unwound with
    # nothing leaked.
    out["kvm-missing-after-setup"] = (["run", "--kernel", k, "--disk", "path=" + env.disk,
                                       "--kvm", env.missing], 1, [env.missing, "KVM"])
    # With --api-sock the VM is built first, as `hearth serve --config-file`
    # does: it fails the same way, before any socket exists.
    out["api-sock-kvm-missing"] = (["run", "--kernel", k, "--api-sock", env.tmp + "/api.sock",
                                    "--kvm", env.missing], 1, [env.missing, "KVM"])
    out["kvm-not-kvm"] = (["run", "--kernel", k, "--kvm", "/dev/null"], 1, ["/dev/null"])
    # Two disks under one id: the machine model's own message, with the flag.
    out["disk-duplicate-id"] = (["run", "--kernel", k, "--disk", "path=%s,id=a" % env.disk,
                                 "--disk", "path=%s,id=a" % env.disk], 2,
                                ["--disk", "drive 'a' is given twice"])
    # --device vfio=: refused before KVM is opened, naming what is wrong.
    out["device-bad-kind"] = (["run", "--kernel", k, "--device", "nvme=/dev/x"], 2,
                              ["--device", "nvme=/dev/x", "vfio=PATH"])
    out["device-vfio-no-pci"] = (["run", "--kernel", k, "--device",
                                  "vfio=/sys/bus/pci/devices/0000:00:04.0"], 2,
                                 ["VFIO device needs PCI", "--pci"])
    out["device-vfio-twice"] = (["run", "--kernel", k, "--pci", "--device", "vfio=/sys/x",
                                 "--device", "vfio=/sys/x"], 2,
                                ["--device", "/sys/x", "given twice"])
    out["device-vfio-bad-id"] = (["run", "--kernel", k, "--pci", "--device",
                                  "vfio=/sys/x,id=a b"], 2, ["--device", "a b"])
    # --no-seccomp is a run flag like any other: taken, and the error is the kernel's.
    out["no-seccomp-missing-kernel"] = (["run", "--no-seccomp", "--kernel", env.missing], 2,
                                        [env.missing])
    out["no-seccomp-with-value"] = (["run", "--kernel", k, "--no-seccomp=yes"], 2,
                                    ["--no-seccomp"])
    out["serve-no-seccomp-bad-sock"] = (["serve", "--no-seccomp", "--api-sock", ""], 2,
                                        ["--api-sock"])
    # The sandbox's flags: usage errors name the flag, root or not.
    out["no-sandbox-missing-kernel"] = (["run", "--no-sandbox", "--kernel", env.missing], 2,
                                        [env.missing])
    out["no-sandbox-with-value"] = (["run", "--kernel", k, "--no-sandbox=yes"], 2,
                                    ["--no-sandbox"])
    out["jail-without-ids"] = (["run", "--kernel", k, "--jail", env.tmp], 2,
                               ["--jail", "--uid", "missing"])
    out["jail-and-no-sandbox"] = (["run", "--kernel", k, "--no-sandbox", "--jail", env.tmp,
                                   "--uid", "1000", "--gid", "1000"], 2, ["contradict"])
    out["serve-jail-without-ids"] = (["serve", "--api-sock", env.tmp + "/s.sock", "--gid", "5"],
                                     2, ["--jail", "missing"])
    out["sandbox-report"] = (["--sandbox-report"], 0, ["landlock: ABI", "namespaces: "])
    # Each thread kind's allowlist, the vCPU's with KVM_RUN.
    out["seccomp-report"] = (["--seccomp-report"], 0, ["vcpu: ", "io: ", "api: ", "KVM_RUN"])
    # snapshot-merge: usage errors and refused memory files, each one line, exit 2,
    # nothing written (a refused diff never reaches the base).
    out["merge-no-args"] = (["snapshot-merge"], 2, ["--base", "--diff"])
    out["merge-unknown-flag"] = (["snapshot-merge", "--base", env.disk, "--into", env.disk], 2,
                                 ["--into"])
    out["merge-not-elf"] = (["snapshot-merge", "--base", env.disk, "--diff", env.text], 2,
                            [env.text, "not an ELF file"])
    out["merge-missing"] = (["snapshot-merge", "--base", env.disk, "--diff", env.missing], 2,
                            [env.missing, "No such file"])
    out["help"] = (["--help"], 0, FLAGS)
    out["version"] = (["--version"], 0, [version])
    return out


def run_one(binary, argv):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    try:
        p = subprocess.run([binary] + argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        raise TestFailure("%s still running after %.0f s" % (" ".join([binary] + argv), TIMEOUT))
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def check_case(binary, argv, want_rc, words):
    rc, out, err = run_one(binary, argv)
    shown = "$ %s\n--- exit %d\n--- stdout\n%s--- stderr\n%s" % (
        " ".join([binary] + argv), rc, out, err)
    try:
        for m in SANITIZER_MARKERS:
            check(m not in err, "sanitizer report (%r)" % m)
        check(rc == want_rc, "exit code %d, expected %d" % (rc, want_rc))
        if want_rc == 0:
            text = out
            check(out.strip() != "", "nothing on stdout")
            check(err == "", "stderr is not empty")
            for w in words:
                check(w in text, "output does not mention %r" % w)
        else:
            check(out == "", "stdout is not empty")
            lines = err.rstrip("\n").split("\n") if err else []
            check(len(lines) == 1, "expected exactly one line on stderr, got %d" % len(lines))
            check(lines[0].strip() != "", "the stderr line is blank")
            for w in words:
                check(w in lines[0], "the stderr line does not mention %r" % w)
    except TestFailure as e:
        raise TestFailure("%s\n%s" % (e, shown))
    return shown


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearth", required=True)
    ap.add_argument("--case", required=True)
    ap.add_argument("--version", required=True, help="the project version --version prints")
    ap.add_argument("--asan", help="sanitizer build of hearth, used when it exists")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="hearth-cli-") as tmp:
        env = Env(tmp)
        all_cases = cases(env, a.version)
        if a.case not in all_cases:
            print("unknown case %r; known: %s" % (a.case, ", ".join(sorted(all_cases))))
            return 1
        argv, want_rc, words = all_cases[a.case]
        binaries = binaries_of(a.hearth, a.asan)
        try:
            for b in binaries:
                print(check_case(b, argv, want_rc, words))
        except TestFailure as e:
            print("FAIL %s: %s" % (a.case, e))
            return 1
    print("PASS %s (%s)" % (a.case, ", ".join(binaries)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
