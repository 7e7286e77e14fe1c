#!/usr/bin/env python3
"""Boot one Hearth test guest with the real hearth binary and check it.

    run_guest_test.py --hearth build/hearth --guest build/tests/guest/hello.elf \
                      --test hello

Checks Hearth's exit code, the guest's report lines on the console
(`GUEST <key>=<value>`, `GUEST FAIL ...`, `GUEST done`; see guest.h) and
Hearth's stderr. Exits 0 on pass, 1 on failure, 77 (meson's SKIP) when
/dev/kvm is missing or unusable.
"""

import argparse
import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
# Generous: only there to turn a hang into a failure, never a speed check.
TIMEOUT = 60.0

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")


PVM_WARNING = re.compile(r"warning: .*\bPVM\b")


class TestFailure(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def kvm_usable():
    """Returns None when KVM works, else the reason it does not."""
    KVM_GET_API_VERSION = 0xAE00
    KVM_CREATE_VM = 0xAE01
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return "cannot open /dev/kvm: %s" % e.strerror
    try:
        try:
            ver = fcntl.ioctl(fd, KVM_GET_API_VERSION, 0)
        except OSError as e:
            return "KVM_GET_API_VERSION failed: %s" % e.strerror
        if ver != 12:
            return "unexpected KVM API version %d" % ver
        try:
            vm = fcntl.ioctl(fd, KVM_CREATE_VM, 0)
        except OSError as e:
            return "KVM_CREATE_VM failed: %s" % e.strerror
        os.close(vm)
        return None
    finally:
        os.close(fd)


STARTED = []


class Hearth:
    """A running hearth with its stdout/stderr collected by threads."""

    def __init__(self, hearth, args, tty=False):
        """tty: stdin is a pseudo-terminal (Hearth only honours Ctrl-A x on a
        terminal); otherwise a pipe."""
        self.argv = [hearth] + args
        STARTED.append(self)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.pty_master = None
        stdin = subprocess.PIPE
        if tty:
            self.pty_master, slave = pty.openpty()
            stdin = slave
        try:
            self.proc = subprocess.Popen(self.argv, stdin=stdin,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         env=env)
        finally:
            if tty:
                os.close(slave)
        self.out = bytearray()
        self.err = bytearray()
        self.cond = threading.Condition()
        self.threads = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.out),
                                         daemon=True),
                        threading.Thread(target=self._pump, args=(self.proc.stderr, self.err),
                                         daemon=True)]
        for t in self.threads:
            t.start()

    def _pump(self, f, buf):
        while True:
            data = os.read(f.fileno(), 65536)
            with self.cond:
                if not data:
                    self.cond.notify_all()
                    return
                buf += data
                self.cond.notify_all()

    def stdout_text(self):
        with self.cond:
            return self.out.decode("utf-8", "replace").replace("\r", "")

    def stderr_text(self):
        with self.cond:
            return self.err.decode("utf-8", "replace").replace("\r", "")

    def wait_output(self, line, timeout=TIMEOUT):
        """Waits until `line` is a whole line of the console output."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                text = self.out.decode("utf-8", "replace").replace("\r", "")
                if line in text.split("\n")[:-1]:
                    return
                if self.proc.poll() is not None and not any(t.is_alive() for t in self.threads):
                    raise TestFailure("hearth exited (%s) before printing %r" %
                                      (self.proc.returncode, line))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure("no %r within %.0f s" % (line, timeout))
                self.cond.wait(min(left, 0.2))

    def send(self, data):
        try:
            if self.pty_master is not None:
                os.write(self.pty_master, data)
                return
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except OSError as e:
            raise TestFailure("cannot write to hearth's stdin: %s" % e)

    def wait(self, timeout=TIMEOUT):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure("hearth still running after %.0f s (killed)" % timeout)
        for t in self.threads:
            t.join(10)
        self.close_stdin()
        return rc

    def close_stdin(self):
        try:
            if self.pty_master is not None:
                os.close(self.pty_master)
                self.pty_master = None
            elif self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.close_stdin()


def reports(text):
    """The guest's report lines as a dict, plus FAIL lines and done flag."""
    kv, fails, done = {}, [], False
    for line in text.split("\n"):
        if not line.startswith("GUEST "):
            continue
        body = line[len("GUEST "):]
        if body.startswith("FAIL"):
            fails.append(line)
        elif body == "done":
            done = True
        elif "=" in body:
            k, v = body.split("=", 1)
            kv[k] = v
    return kv, fails, done


def dump(h):
    sys.stderr.write("--- command: %s\n" % " ".join(h.argv))
    sys.stderr.write("--- hearth stdout ---\n%s\n" % h.stdout_text()[-8000:])
    sys.stderr.write("--- hearth stderr ---\n%s\n" % h.stderr_text()[-8000:])


def check_no_sanitizer(err):
    for m in SANITIZER_MARKERS:
        check(m not in err, "sanitizer report on stderr (%r)" % m)


def boot(hearth, guest, extra=(), tty=False):
    return Hearth(hearth, ["run", "--kernel", guest] + list(extra), tty=tty)


def finish_ok(h, need_done=True):
    """Waits for a clean exit 0 and returns the reports."""
    rc = h.wait()
    out, err = h.stdout_text(), h.stderr_text()
    kv, fails, done = reports(out)
    check(not fails, "guest assertion failed: %s" % "; ".join(fails))
    check(rc == 0, "hearth exited %d, expected 0" % rc)
    if need_done:
        check(done, "guest never printed 'GUEST done'")
    check_no_sanitizer(err)
    return kv, out, err


# ---------------------------------------------------------------- guests

def t_hello(a):
    cmdline = "hearth-test console=ttyS0 foo=bar"
    h = boot(a.hearth, a.guest, ["--memory", "64", "--cmdline", cmdline])
    try:
        kv, out, err = finish_ok(h)
        check("Hello from the Hearth test guest!" in out.split("\n"),
              "the hello line was not printed exactly")
        check(kv.get("cmdline") == cmdline,
              "guest saw cmdline %r, expected %r" % (kv.get("cmdline"), cmdline))
        ram = int(kv.get("e820_ram_kib", "0"))
        check(32 * 1024 <= ram <= 64 * 1024,
              "e820 reports %d KiB of RAM for --memory 64" % ram)
    finally:
        h.kill()
    return h


def t_virtio_cmdline(a):
    """--virtio-cmdline: the guest's command line names each virtio-mmio
    device (disk first, then rng) at the addresses and GSIs the DSDT gives."""
    with tempfile.NamedTemporaryFile(prefix="hearth-disk-") as disk:
        disk.truncate(1 << 20)
        disk.flush()
        h = boot(a.hearth, a.guest, ["--memory", "64", "--cmdline", "hearth-test",
                                     "--disk", "path=" + disk.name, "--virtio-cmdline"])
        try:
            kv, out, err = finish_ok(h)
            want = ("hearth-test virtio_mmio.device=0x1000@0xd0000000:16"
                    " virtio_mmio.device=0x1000@0xd0001000:17")
            check(kv.get("cmdline") == want,
                  "guest saw cmdline %r, expected %r" % (kv.get("cmdline"), want))
        finally:
            h.kill()
    # 65500 bytes fit the 64 KiB command-line area; with the device added
    # they do not.  Run directly: the argv is too long for the dump.
    try:
        p = subprocess.run([a.hearth, "run", "--kernel", a.guest, "--memory", "64",
                            "--cmdline", "x" * 65500, "--virtio-cmdline"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise TestFailure("hearth did not refuse an over-long --virtio-cmdline command line")
    err = p.stderr.decode(errors="replace")
    lines = [l for l in err.split("\n") if l.strip() and not PVM_WARNING.search(l)]
    check(p.returncode == 2, "hearth exited %d for an over-long command line, expected 2"
          % p.returncode)
    check(len(lines) == 1 and "command line" in lines[0],
          "expected one line about the command line, got %r" % lines)
    check(p.stdout == b"", "the guest ran: %r" % p.stdout[:200])
    check_no_sanitizer(err)
    return h


def t_bus(a):
    h = boot(a.hearth, a.guest)
    try:
        kv, out, err = finish_ok(h)
        for k in ("pio_unclaimed", "mmio_unclaimed", "rtc", "uart_scratch"):
            check(kv.get(k) == "ok", "%s not reported ok" % k)
        check(kv.get("flood") == "10000", "flood loop did not complete")
        low = err.lower()
        check("unclaimed" in low or "unhandled" in low,
              "stderr does not mention the unclaimed accesses")
        # The rate limit may be shared, so one of the two may be crowded out.
        check("510" in low or "d8000000" in low,
              "stderr names neither port 0x510 nor MMIO 0xd8000000")
        lines = [l for l in err.split("\n") if l.strip()]
        # 20000+ unclaimed accesses: a rate-limited log stays small.
        check(len(lines) <= 60, "stderr has %d lines: unclaimed accesses not rate-limited"
              % len(lines))
        check(len(err) <= 8192, "stderr has %d bytes: not rate-limited" % len(err))
    finally:
        h.kill()
    return h


def t_reboot(a):
    h = boot(a.hearth, a.guest)
    try:
        h.wait_output("GUEST rebooting")
        kv, out, err = finish_ok(h, need_done=False)
        check("reboot" in err.lower(), "stderr does not say reboot")
    finally:
        h.kill()
    return h


def vcpu_thread_ids(pid):
    ids = set()
    names = []
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return ids, names
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/comm" % (pid, t)) as f:
                name = f.read().strip()
        except OSError:
            continue
        names.append(name)
        m = re.search(r"vcpu(\d+)", name)
        if m:
            ids.add(int(m.group(1)))
    return ids, names


def t_smp(a, ncpus):
    h = boot(a.hearth, a.guest, ["--cpus", str(ncpus)])
    try:
        h.wait_output("GUEST waiting")
        kv, _, _ = reports(h.stdout_text())
        want = set(range(ncpus))
        deadline = time.monotonic() + 10
        while True:
            ids, names = vcpu_thread_ids(h.proc.pid)
            if ids == want or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        check(ids == want, "vCPU threads %s (comm: %s), expected vcpu0..vcpu%d"
              % (sorted(ids), names, ncpus - 1))
        h.send(b"Z")
        kv, out, err = finish_ok(h)
        check(kv.get("lapics") == str(ncpus),
              "MADT has %s LAPICs, expected %d" % (kv.get("lapics"), ncpus))
        check(kv.get("lapics_enabled") == str(ncpus),
              "MADT has %s enabled LAPICs, expected %d" % (kv.get("lapics_enabled"), ncpus))
        check(kv.get("apic_ids") == hex((1 << ncpus) - 1),
              "APIC IDs bitmap %s, expected %s" % (kv.get("apic_ids"), hex((1 << ncpus) - 1)))
        check(kv.get("got") == "0x5a", "guest read %s from COM1, expected 0x5a ('Z')"
              % kv.get("got"))
    finally:
        h.kill()
    return h


def t_stdin_file(a):
    """stdin is a regular file (epoll refuses those): its bytes still reach COM1."""
    with tempfile.NamedTemporaryFile(prefix="hearth-stdin-") as f:
        f.write(b"Z")
        f.flush()
        try:
            out = subprocess.run([a.hearth, "run", "--kernel", a.guest, "--cpus", "2"],
                                 stdin=open(f.name, "rb"), capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise TestFailure("hearth did not finish with its input from a file")
    kv, fails, done = reports(out.stdout.decode(errors="replace"))
    check(out.returncode == 0, "hearth exited %d, expected 0" % out.returncode)
    check(done and kv.get("got") == "0x5a",
          "guest read %s from COM1, expected 0x5a ('Z') from the file" % kv.get("got"))
    check_no_sanitizer(out.stderr.decode(errors="replace"))


def t_halt(a, how):
    h = boot(a.hearth, a.guest, tty=(how == "ctrl-a-x"))
    try:
        h.wait_output("GUEST halting")
        time.sleep(0.2)
        check(h.proc.poll() is None, "hearth exited (%s) while the guest was halted"
              % h.proc.returncode)
        if how == "ctrl-a-x":
            h.send(b"\x01x")
        else:
            h.proc.send_signal(how)
        rc = h.wait(30)
        check(rc == 3, "hearth exited %d after %s, expected 3" % (rc, how))
        check_no_sanitizer(h.stderr_text())
    finally:
        h.kill()
    return h


def t_emufail(a):
    h = boot(a.hearth, a.guest)
    try:
        rc = h.wait()
        out, err = h.stdout_text(), h.stderr_text()
        kv, fails, _ = reports(out)
        check(not fails, "guest survived the emulation failure: %s" % "; ".join(fails))
        check(rc == 1, "hearth exited %d, expected 1" % rc)
        check("rip" in err.lower(), "stderr shows no RIP")
        rip = kv.get("rip")
        check(rip is not None, "guest did not report its RIP")
        ripnum = int(rip, 16)
        check(re.search(r"(?i)\b(0x)?0*%x\b" % ripnum, err) is not None,
              "stderr does not show RIP %#x" % ripnum)
        # popcnt (%rdx), %rax = f3 48 0f b8 02, in whatever byte format.
        hexonly = re.sub(r"[^0-9a-f]", "", err.lower())
        check("f3480fb802" in hexonly, "stderr does not show the code bytes at RIP "
              "(f3 48 0f b8 02)")
        check_no_sanitizer(err)
    finally:
        h.kill()
    return h


# ---------------------------------------------------------- bad images

def elf_phdrs(data):
    check(data[:4] == b"\x7fELF", "guest is not an ELF")
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    out = []
    for i in range(phnum):
        off = phoff + i * phentsize
        p_type, = struct.unpack_from("<I", data, off)
        out.append((off, p_type))
    return out


def first_load(data):
    for off, p_type in elf_phdrs(data):
        if p_type == 1:
            return off
    raise TestFailure("guest has no PT_LOAD")


def move_first_load(data, paddr):
    data = bytearray(data)
    off = first_load(data)
    struct.pack_into("<Q", data, off + 0x10, paddr)  # p_vaddr
    struct.pack_into("<Q", data, off + 0x18, paddr)  # p_paddr
    return bytes(data)


def bad_image(name, data):
    with open(data, "rb") as f:
        elf = f.read()
    if name == "bad-empty":
        return b""
    if name == "bad-truncated-header":
        return elf[:48]  # inside the ELF header
    if name == "bad-truncated-segment":
        off = first_load(elf)
        p_offset, = struct.unpack_from("<Q", elf, off + 0x08)
        p_filesz, = struct.unpack_from("<Q", elf, off + 0x20)
        check(p_filesz > 16, "guest's first segment is too small to cut")
        return elf[:p_offset + p_filesz // 2]
    if name == "bad-segment-outside-ram":
        return move_first_load(elf, 0x10000000)  # 256 MiB; --memory 64
    if name == "bad-segment-in-hole":
        return move_first_load(elf, 0xd0000000)  # in the 3-4 GiB MMIO hole
    if name == "bad-segment-loader-area":
        return move_first_load(elf, 0x1000)  # GDT, page tables, zero page
    raise TestFailure("unknown bad image %s" % name)


def t_bad(a, kvm_reason):
    data = bad_image(a.test, a.guest)
    fd, path = tempfile.mkstemp(prefix="hearth-%s-" % a.test, suffix=".elf")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        h = boot(a.hearth, path, ["--memory", "64"])
        try:
            rc = h.wait()
            out, err = h.stdout_text(), h.stderr_text()
            if rc != 2 and kvm_reason:
                raise Skip("%s (hearth exited %d: %s)" % (kvm_reason, rc, err.strip()[:200]))
            check(rc == 2, "hearth exited %d for a bad kernel image, expected 2" % rc)
            check(out == "", "stdout is not empty: %r" % out[:200])
            # Hearth's warning that /dev/kvm is PVM is about the host, not
            # the file; it may precede errors found once KVM is open.
            lines = [l for l in err.split("\n") if l.strip() and not PVM_WARNING.search(l)]
            check(len(lines) == 1, "expected exactly one line on stderr, got %d" % len(lines))
            check(os.path.basename(path) in lines[0],
                  "the error line does not name the file: %r" % lines[0])
            check_no_sanitizer(err)
        finally:
            h.kill()
        return h
    finally:
        os.unlink(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearth", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--test", required=True)
    a = ap.parse_args()

    reason = kvm_usable()
    try:
        if a.test.startswith("bad-"):
            t_bad(a, reason)
        else:
            if reason:
                raise Skip(reason)
            if a.test == "hello":
                t_hello(a)
            elif a.test == "bus":
                t_bus(a)
            elif a.test == "virtio-cmdline":
                t_virtio_cmdline(a)
            elif a.test == "reboot":
                t_reboot(a)
            elif a.test == "smp-stdin-file":
                t_stdin_file(a)
            elif a.test.startswith("smp-"):
                t_smp(a, int(a.test[4:]))
            elif a.test == "halt-sigterm":
                t_halt(a, signal.SIGTERM)
            elif a.test == "halt-sigint":
                t_halt(a, signal.SIGINT)
            elif a.test == "halt-ctrl-a-x":
                t_halt(a, "ctrl-a-x")
            elif a.test == "emulation-failure":
                t_emufail(a)
            else:
                raise TestFailure("unknown test %r" % a.test)
    except Skip as e:
        print("SKIP: %s" % e)
        return SKIP
    except TestFailure as e:
        print("FAIL %s: %s" % (a.test, e))
        for h in STARTED:
            dump(h)
        return 1
    finally:
        for h in STARTED:
            h.kill()
    print("PASS %s" % a.test)
    for h in STARTED:
        dump(h)
    return 0


if __name__ == "__main__":
    sys.exit(main())
