#!/usr/bin/env python3
"""Boot one Hearth test guest with the real hearth binary and check it.

    run_guest_test.py --hearth build/hearth --guest build/tests/guest/hello.elf \
                      --guestrun build/tests/guest/guestrun --test hello
    run_guest_test.py --placement      where each test runs on this host, and why

Checks Hearth's exit code, the guest's report lines on the console
(`GUEST <key>=<value>`, `GUEST FAIL ...`, `GUEST done`; see guest.h) and
Hearth's stderr. Exits 0 on pass, 1 on failure, 77 (meson's SKIP) when the
placement rule (below, and tests/lab/README.md) sends the test to the lab:
scripts/test.sh then runs it there, so it is not a skip.

The placement rule.  Each test declares what it needs from the KVM that
runs it (GuestTest.needs, from NEEDS); each kind of host provides some of
those (PROVIDES).  A test runs natively where the host provides all it
needs, otherwise in the lab, whose L1 is hardware virtualization.  The
host's kind is "none" (no usable /dev/kvm), "pvm" (/sys/module/kvm_pvm) or
"hw" (VT-x/AMD-V); HEARTH_TEST_HOST=none|pvm|hw makes the suite treat this
host as that kind (with "none", tests that need no KVM point hearth at a
device that does not exist, as they always do).

A test is a plan (one or more `Invocation`s: hearth's arguments, its stdin,
and steps such as "wait for this console line, then send SIGTERM") and a
check of the `Outcome`s.  guestrun (guestrun.c) performs an invocation and
reports what happened.  Here it runs on the host; tests/lab/test_guest.py
runs the same plans inside the lab's L1 (for hosts whose KVM cannot run
these guests) and applies the same checks.
"""

import argparse
import base64
import fcntl
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

SKIP = 77
# Generous: only there to turn a hang into a failure, never a speed check.
TIMEOUT = 60

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")


PVM_WARNING = re.compile(r"warning: .*\bPVM\b")

# For a sanitizer build of hearth, unless the caller set them: report, and
# let the checks see the report (no abort).
SANITIZER_ENV = {"ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1",
                 "UBSAN_OPTIONS": "print_stacktrace=1"}


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


# What a guest test may need from the KVM that runs it.
NEEDS = {
    "kvm": "a KVM that runs guest code at all",
    "pm32-iret": "returns from interrupts with a 32-bit iret (PVM: 'instruction emulation "
                 "failed' at the iret)",
    "ring0-bulk": "runs ring-0 code for long (PVM interprets ring 0 at about 1.4 us an "
                  "instruction: minutes instead of seconds, and the hang backstop fires)",
    "real-mode": "runs 16-bit real-mode code (CR0.PE off); PVM's emulator runs these "
                 "images (checked on the PVM host: CS:IP, 16-bit push, far jump)",
    "io-exit-pending": "leaves an I/O exit's instruction to finish at the next KVM_RUN, as "
                       "KVM's api.rst says (PVM finishes it before the exit: Hearth without "
                       "vcpu_finish_exit said no byte twice in 7 runs of pause-exit-snapshot "
                       "on a PVM host, and one at most seams in 3 of 3 in the lab)",
}
# What each kind of host's KVM does as real hardware would.  The lab's L1
# (kvm-amd under QEMU's emulated SVM) is "hw".
PROVIDES = {
    "none": set(),
    "pvm": {"kvm", "real-mode"},
    "hw": set(NEEDS),
}
HOST_KINDS = tuple(PROVIDES)
# Tests that need nothing point hearth here: they must not depend on KVM.
NO_KVM = "/nonexistent/hearth-test/kvm"


def host_kind(kvm="/dev/kvm", pvm="/sys/module/kvm_pvm", env=None, usable=None):
    """(kind, why): this host's kind, from HEARTH_TEST_HOST when set.
    usable(path) says why KVM is unusable (None: it works); kvm_usable."""
    env = os.environ if env is None else env
    usable = usable or kvm_usable
    forced = env.get("HEARTH_TEST_HOST")
    if forced:
        if forced not in PROVIDES:
            raise ValueError("HEARTH_TEST_HOST=%s: want one of %s" % (forced, ", ".join(HOST_KINDS)))
        return forced, "HEARTH_TEST_HOST=%s" % forced
    reason = usable(kvm)
    if reason:
        return "none", reason
    if os.path.exists(pvm):
        return "pvm", "%s is backed by PVM (%s exists)" % (kvm, pvm)
    return "hw", "%s runs guests with hardware virtualization" % kvm


def placement(test, kind):
    """("native" | "native+lab" | "lab", why) for a GuestTest on a host of
    this kind; "native+lab": natively, and in the lab as well (lab_too)."""
    missing = sorted(test.needs - PROVIDES[kind])
    if not missing:
        why = ("needs " + ", ".join(sorted(test.needs)) if test.needs
               else "needs no KVM (hearth gets --kvm %s)" % NO_KVM)
        if test.lab_too and kind != "hw":
            return "native+lab", why + "; shown under hardware virtualization too"
        return "native", why
    return "lab", "a %s host lacks %s" % (kind, ", ".join(missing))


def kvm_usable(path="/dev/kvm"):
    """Returns None when KVM works, else the reason it does not."""
    KVM_GET_API_VERSION = 0xAE00
    KVM_CREATE_VM = 0xAE01
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return "cannot open %s: %s" % (path, e.strerror)
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


# ------------------------------------------------- plans and outcomes

class Invocation:
    """One hearth process of a test: its arguments (after the binary), its
    stdin ("pipe": open and empty until a step sends bytes, "tty": a
    pseudo-terminal, "null", or a file path), and the steps guestrun
    performs while it runs:

        ("wait-line", LINE)   until LINE is a whole line of the console
        ("sleep", MS)
        ("alive",)            fails if hearth has exited
        ("tasks", N)          hearth's thread names, once vcpu0..vcpuN-1 exist
        ("send", BYTES)       to hearth's stdin
        ("signal", SIG)
    """

    def __init__(self, args, stdin="pipe", steps=()):
        self.args, self.stdin, self.steps = list(args), stdin, list(steps)

    def guestrun_argv(self, guestrun, hearth, timeout):
        """guestrun's command line for this invocation."""
        argv = [guestrun, "--stdin", self.stdin, "--timeout", str(int(timeout))]
        for kind, *val in self.steps:
            if kind == "send":
                val = [val[0].hex()]
            elif kind == "signal":
                val = [str(int(val[0]))]
            argv += ["--" + kind] + [str(v) for v in val]
        return argv + ["--", hearth] + self.args

    def waits(self):
        """How many steps may each wait up to the timeout (for a backstop)."""
        return 2 + sum(k in ("wait-line", "tasks") for k, *_ in self.steps)


class Outcome:
    """What guestrun reported for one invocation: hearth's exit, stdout and
    stderr (text, carriage returns dropped), and the result of each step."""

    def __init__(self, inv, argv, timeout):
        self.inv, self.argv, self.timeout = inv, argv, timeout
        self.rc = None            # exit code, or -signal
        self.timed_out = False
        self.steps = {}           # step number (1-based) -> result words
        self.stdout = self.stderr = ""

    def exit_code(self):
        """hearth's exit code; a hang is a failure."""
        if self.timed_out or self.rc is None:
            raise TestFailure("hearth still running after %d s (killed)" % self.timeout)
        return self.rc

    def require_steps(self, exited_msg=None):
        """Raises the failure of the first step that failed, in the words
        of the check that step stands for (exited_msg: for a failed
        "alive", with %s for the exit code)."""
        for i, (kind, *val) in enumerate(self.inv.steps, 1):
            res = self.steps.get(i)
            if res is None:
                raise TestFailure("guestrun did not report step %d (%s)" % (i, kind))
            if res[0] != "failed":
                continue
            why = " ".join(res[1:])
            if kind == "alive":
                raise TestFailure((exited_msg or "hearth exited (%s) too early") % self.rc)
            if kind == "wait-line" and why == "exited":
                raise TestFailure("hearth exited (%s) before printing %r" % (self.rc, val[0]))
            if kind == "wait-line":
                raise TestFailure("no %r within %d s" % (val[0], self.timeout))
            if kind == "send":
                raise TestFailure("cannot write to hearth's stdin: %s" % why)
            raise TestFailure("step %s %s failed: %s" % (kind, val, why))

    def step(self, kind):
        """The result words of the first step of this kind."""
        for i, (k, *_) in enumerate(self.inv.steps, 1):
            if k == kind:
                return self.steps.get(i, ["missing"])
        raise KeyError(kind)


def parse_report(lines, inv, argv, timeout):
    """An Outcome from guestrun's report lines (other lines are ignored).
    Raises TestFailure when the report is incomplete or garbled."""
    o = Outcome(inv, argv, timeout)
    chunks = {"out": [], "err": []}
    ends, done = {}, False
    for line in lines:
        line = line.rstrip("\r\n")
        if not line.startswith("GUESTRUN "):
            continue
        words = line.split()[1:]
        if words[0] == "step" and len(words) >= 4 and words[1].isdigit():
            o.steps[int(words[1])] = words[3:]
        elif words[0] == "exit" and len(words) == 2:
            k, _, v = words[1].partition("=")
            if k == "timeout":
                o.timed_out = True
            else:
                o.rc = int(v) if k == "code" else -int(v)
        elif words[0] in chunks and len(words) == 2:
            chunks[words[0]].append(words[1])
        elif words[0] in ("out-end", "err-end"):
            ends[words[0][:3]] = dict(w.split("=", 1) for w in words[1:])
        elif words[0] == "done":
            done = True
    check(done, "guestrun's report is incomplete (no 'GUESTRUN done')")
    for tag in ("out", "err"):
        try:
            data = base64.b64decode("".join(chunks[tag]), validate=True)
        except ValueError:
            data = None
        end = ends.get(tag, {})
        ok = (data is not None and str(len(data)) == end.get("len") and
              "%08x" % zlib.crc32(data) == end.get("crc"))
        check(ok, "guestrun's report of hearth's std%s is garbled" % tag)
        text = data.decode("utf-8", "replace").replace("\r", "")
        if end.get("total") != end.get("len"):
            text += "\n[guestrun kept %s of %s bytes]" % (end.get("len"), end.get("total"))
        setattr(o, "stdout" if tag == "out" else "stderr", text)
    return o


class Place:
    """Where a test's processes run: the path of hearth and of the guest
    there, and the test's own files (put there by file())."""

    def __init__(self, hearth, guest, guest_host, filedir, put):
        self.hearth, self.guest, self.guest_host = hearth, guest, guest_host
        self.filedir, self.put = filedir, put

    def file(self, name, data):
        """A file with these bytes where hearth runs; returns its path."""
        path = os.path.join(self.filedir, name)
        self.put(path, data)
        return path


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


def dump(o, out=sys.stderr):
    argv = [a if len(a) < 200 else a[:40] + "...(%d chars)" % len(a) for a in o.argv]
    out.write("--- command: %s\n" % " ".join(argv))
    out.write("--- hearth stdout ---\n%s\n" % o.stdout[-8000:])
    out.write("--- hearth stderr ---\n%s\n" % o.stderr[-8000:])


def check_no_sanitizer(err):
    for m in SANITIZER_MARKERS:
        check(m not in err, "sanitizer report on stderr (%r)" % m)


def boot(place, extra=(), stdin="pipe", steps=()):
    return Invocation(["run", "--kernel", place.guest] + list(extra), stdin, steps)


def finish_ok(o, need_done=True):
    """Checks a clean exit 0 and returns the reports."""
    o.require_steps()
    rc = o.exit_code()
    out, err = o.stdout, o.stderr
    kv, fails, done = reports(out)
    check(not fails, "guest assertion failed: %s" % "; ".join(fails))
    check(rc == 0, "hearth exited %d, expected 0" % rc)
    if need_done:
        check(done, "guest never printed 'GUEST done'")
    check_no_sanitizer(err)
    return kv, out, err


# ---------------------------------------------------------------- guests
# plan_*(place) returns the invocations, check_*(outcomes) raises
# TestFailure.

HELLO_CMDLINE = "hearth-test console=ttyS0 foo=bar"


def plan_hello(place):
    return [boot(place, ["--memory", "64", "--cmdline", HELLO_CMDLINE])]


def check_hello(outcomes):
    kv, out, err = finish_ok(outcomes[0])
    check("Hello from the Hearth test guest!" in out.split("\n"),
          "the hello line was not printed exactly")
    check(kv.get("cmdline") == HELLO_CMDLINE,
          "guest saw cmdline %r, expected %r" % (kv.get("cmdline"), HELLO_CMDLINE))
    ram = int(kv.get("e820_ram_kib", "0"))
    check(32 * 1024 <= ram <= 64 * 1024,
          "e820 reports %d KiB of RAM for --memory 64" % ram)


def plan_virtio_cmdline(place):
    """--virtio-cmdline: the guest's command line names each virtio-mmio
    device (disk first, then rng) at the addresses and GSIs the DSDT gives.
    Then 65500 bytes, which fit the 64 KiB command-line area but not with
    the device added: refused."""
    disk = place.file("disk.img", bytes(1 << 20))
    return [boot(place, ["--memory", "64", "--cmdline", "hearth-test",
                         "--disk", "path=" + disk, "--virtio-cmdline"]),
            boot(place, ["--memory", "64", "--cmdline", "x" * 65500, "--virtio-cmdline"],
                 stdin="null")]


def check_virtio_cmdline(outcomes):
    kv, out, err = finish_ok(outcomes[0])
    want = ("hearth-test virtio_mmio.device=0x1000@0xd0000000:16"
            " virtio_mmio.device=0x1000@0xd0001000:17")
    check(kv.get("cmdline") == want,
          "guest saw cmdline %r, expected %r" % (kv.get("cmdline"), want))
    o = outcomes[1]
    if o.timed_out:
        raise TestFailure("hearth did not refuse an over-long --virtio-cmdline command line")
    lines = [l for l in o.stderr.split("\n") if l.strip() and not PVM_WARNING.search(l)]
    check(o.rc == 2, "hearth exited %d for an over-long command line, expected 2" % o.rc)
    check(len(lines) == 1 and "command line" in lines[0],
          "expected one line about the command line, got %r" % lines)
    check(o.stdout == "", "the guest ran: %r" % o.stdout[:200])
    check_no_sanitizer(o.stderr)


def plan_bus(place):
    return [boot(place)]


def check_bus(outcomes):
    kv, out, err = finish_ok(outcomes[0])
    for k in ("pio_unclaimed", "mmio_unclaimed", "rtc", "uart_scratch"):
        check(kv.get(k) == "ok", "%s not reported ok" % k)
    check(kv.get("flood") == "10000", "flood loop did not complete")
    low = err.lower()
    check("unclaimed" in low or "unhandled" in low,
          "stderr does not mention the unclaimed accesses")
    # The rate limit may be shared, so one of the two may be crowded out.
    check("530" in low or "d8000000" in low,
          "stderr names neither port 0x530 nor MMIO 0xd8000000")
    lines = [l for l in err.split("\n") if l.strip()]
    # 20000+ unclaimed accesses: a rate-limited log stays small.
    check(len(lines) <= 60, "stderr has %d lines: unclaimed accesses not rate-limited"
          % len(lines))
    check(len(err) <= 8192, "stderr has %d bytes: not rate-limited" % len(err))


def plan_pci_enum(place):
    return [boot(place, ["--pci", "--memory", "64"])]


def check_pci_enum(outcomes):
    kv, out, err = finish_ok(outcomes[0])
    check(kv.get("host") == "ok", "the host bridge not found by both mechanisms")
    check(kv.get("rng_slot") == "1", "virtio-rng not at 00:01.0 (%s)" % kv.get("rng_slot"))
    check(kv.get("absent") == "30", "%s empty slots read all ones, want 30" % kv.get("absent"))
    check(kv.get("bar0_size") == "0x8000", "BAR 0 sized %s, want 32 KiB" % kv.get("bar0_size"))
    # virtio's common (1), notify (2), ISR (3) and PCI-config window (5), and MSI-X (7);
    # the rng has no device configuration (4).
    check(kv.get("caps") == "0xae", "capabilities %s, want 0xae" % kv.get("caps"))
    check(kv.get("filled") == "64", "the rng filled %s bytes, want 64" % kv.get("filled"))
    check(kv.get("msix_irqs") == "1", "%s MSI-X interrupts for the first buffer, want 1"
          % kv.get("msix_irqs"))
    check(kv.get("masked_irqs") == "1" and kv.get("pending") == "0x2",
          "masked: %s interrupts, pending bits %s (want 1, 0x2)" % (kv.get("masked_irqs"),
                                                                  kv.get("pending")))
    check(kv.get("unmasked_irqs") == "2", "unmasked: %s interrupts, want the pending one (2)"
          % kv.get("unmasked_irqs"))


def plan_reboot(place):
    return [boot(place, steps=[("wait-line", "GUEST rebooting")])]


def check_reboot(outcomes):
    kv, out, err = finish_ok(outcomes[0], need_done=False)
    check("reboot" in err.lower(), "stderr does not say reboot")


def plan_smp(ncpus):
    """Waits until the guest waits for input, looks at hearth's vCPU
    threads, then types 'Z' for the guest to read from COM1."""
    def plan(place):
        return [boot(place, ["--cpus", str(ncpus)],
                     steps=[("wait-line", "GUEST waiting"), ("tasks", ncpus), ("send", b"Z")])]
    return plan


def check_smp(ncpus):
    def checker(outcomes):
        o = outcomes[0]
        o.require_steps()
        names = [n for n in o.step("tasks")[0].split(",") if n != "-"]
        ids = set()
        for name in names:
            m = re.search(r"vcpu(\d+)", name)
            if m:
                ids.add(int(m.group(1)))
        check(ids == set(range(ncpus)), "vCPU threads %s (comm: %s), expected vcpu0..vcpu%d"
              % (sorted(ids), names, ncpus - 1))
        kv, out, err = finish_ok(o)
        check(kv.get("lapics") == str(ncpus),
              "MADT has %s LAPICs, expected %d" % (kv.get("lapics"), ncpus))
        check(kv.get("lapics_enabled") == str(ncpus),
              "MADT has %s enabled LAPICs, expected %d" % (kv.get("lapics_enabled"), ncpus))
        check(kv.get("apic_ids") == hex((1 << ncpus) - 1),
              "APIC IDs bitmap %s, expected %s" % (kv.get("apic_ids"), hex((1 << ncpus) - 1)))
        check(kv.get("got") == "0x5a", "guest read %s from COM1, expected 0x5a ('Z')"
              % kv.get("got"))
    return checker


def plan_stdin_file(place):
    """stdin is a regular file (epoll refuses those): its bytes still reach COM1."""
    return [boot(place, ["--cpus", "2"], stdin=place.file("stdin.txt", b"Z"))]


def check_stdin_file(outcomes):
    o = outcomes[0]
    if o.timed_out:
        raise TestFailure("hearth did not finish with its input from a file")
    kv, fails, done = reports(o.stdout)
    check(o.rc == 0, "hearth exited %d, expected 0" % o.rc)
    check(done and kv.get("got") == "0x5a",
          "guest read %s from COM1, expected 0x5a ('Z') from the file" % kv.get("got"))
    check_no_sanitizer(o.stderr)


def plan_halt(how):
    """The guest halts for good; hearth must keep running until stopped
    from the host: a signal, or Ctrl-A x typed on a terminal."""
    def plan(place):
        stop = ("send", b"\x01x") if how == "ctrl-a-x" else ("signal", how)
        return [boot(place, stdin="tty" if how == "ctrl-a-x" else "pipe",
                     steps=[("wait-line", "GUEST halting"), ("sleep", 200), ("alive",), stop])]
    return plan


def check_halt(how):
    name = how if isinstance(how, str) else signal.Signals(how).name

    def checker(outcomes):
        o = outcomes[0]
        o.require_steps(exited_msg="hearth exited (%s) while the guest was halted")
        rc = o.exit_code()
        check(rc == 3, "hearth exited %d after %s, expected 3" % (rc, name))
        check_no_sanitizer(o.stderr)
    return checker


def plan_emufail(place):
    return [boot(place)]


def check_emufail(outcomes):
    o = outcomes[0]
    rc = o.exit_code()
    out, err = o.stdout, o.stderr
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


# ------------------------------------------------------------- chaos
# The chaos guest (chaos.c) against every device kind at once. The seed is
# fixed so CI is reproducible; a second one changes daily (UTC date) to
# widen the search. HEARTH_CHAOS_SEED=S replays exactly seed S (S,S,...:
# those seeds, one hearth run each, for a longer search).

CHAOS_SEED = 0x5eed0001
CHAOS_OPS = 1500
CHAOS_DEVICE_IDS = {1: "net", 2: "blk", 4: "rng", 19: "vsock"}
CHAOS_LINE = re.compile(r"chaos: (op \d+|seed \d+ ops \d+|seed \d+ done)$")


_chaos_seeds = []


def chaos_seeds():
    """Once per process: a plan and its check around midnight agree."""
    if not _chaos_seeds:
        if os.environ.get("HEARTH_CHAOS_SEED"):
            _chaos_seeds.extend(int(v, 0) for v in os.environ["HEARTH_CHAOS_SEED"].split(","))
        else:
            _chaos_seeds.extend([CHAOS_SEED, int(time.strftime("%Y%m%d", time.gmtime()))])
    return _chaos_seeds


def chaos_boot(place, seed, ops, sock, steps=()):
    """Every device kind: a disk, a user-mode NIC, the rng (on by
    default) and hybrid vsock; two vCPUs, the second one (ap=1) racing
    the first one's register writes."""
    disk = place.file("chaos-%s.img" % sock, bytes(1 << 20))
    return boot(place, ["--memory", "64", "--cpus", "2", "--cmdline",
                        "chaos seed=%d ops=%d devs=%d ap=1" % (seed, ops, len(CHAOS_DEVICE_IDS)),
                        "--disk", "path=" + disk, "--net", "user",
                        "--vsock", "cid=3,uds=%s/%s.sock" % (place.filedir, sock)],
                steps=steps)


def chaos_replay(o, seed):
    return ("seed %d; replay: HEARTH_CHAOS_SEED=%d tests/lab/test_guest.py --only chaos, "
            "or natively: %s" % (seed, seed, " ".join(o.argv)))


def plan_chaos(place):
    return [chaos_boot(place, s, CHAOS_OPS, "v%d" % i)
            for i, s in enumerate(chaos_seeds())]


def check_chaos_console(out, seed, ops):
    """Every line is one the guest meant, whole: its own chaos lines and
    report lines, progress in order, nothing else (the random UART writes
    never reach THR, and the UART is restored before each line)."""
    lines = [l for l in out.split("\n") if l]
    want_op = 0
    for l in lines:
        if l.startswith("GUEST "):
            continue
        check(CHAOS_LINE.match(l), "console line %r is not one the guest printed" % l[:120])
        if l.startswith("chaos: op "):
            check(int(l.split()[2]) == want_op, "progress line %r out of order (expected op %d)"
                  % (l, want_op))
            want_op += 250
    check(lines[:1] == ["chaos: seed %d ops %d" % (seed, ops)],
          "the first console line is %r, not the seed" % lines[:1])
    check(want_op >= ops, "progress stopped at op %d of %d" % (want_op - 250, ops))
    check("chaos: seed %d done" % seed in lines, "no 'chaos: seed %d done' line" % seed)


def report_int(kv, key, base=10):
    """A report value as a number; -1 when missing or garbled."""
    try:
        return int(kv.get(key, ""), base)
    except ValueError:
        return -1


def check_chaos(outcomes):
    for o, seed in zip(outcomes, chaos_seeds()):
        try:
            kv, out, err = finish_ok(o)
            check_chaos_console(out, seed, CHAOS_OPS)
            check(kv.get("ap") == "1", "the second vCPU did not run (ap=%s)" % kv.get("ap"))
            ids = report_int(kv, "device_ids", 16)
            want = sum(1 << i for i in CHAOS_DEVICE_IDS)
            check(ids == want, "the guest found devices %#x, expected %#x (%s)"
                  % (ids, want, ", ".join(CHAOS_DEVICE_IDS.values())))
            # Devices in slot order (disk, NIC, rng, vsock): each must have
            # gone live, and requests must have completed, or the chaos
            # stayed shallow. Per device the count is a sample (the guest
            # looks at a used ring only when it queues more, and the second
            # vCPU resets devices under the first): only the sum is checked.
            n = len(CHAOS_DEVICE_IDS)
            used = [report_int(kv, "used_%d" % i) for i in range(n)]
            for i in range(n):
                check(report_int(kv, "live_%d" % i) > 0,
                      "device %d never reached DRIVER_OK: the chaos never got past setup" % i)
            check(min(used) >= 0 and sum(used) >= n,
                  "requests completed per device %s: the chaos hardly reached the request "
                  "paths" % used)
        except TestFailure as e:
            raise TestFailure("%s (%s)" % (e, chaos_replay(o, seed)))


def chaos_pci_boot(place, seed, ops, sock):
    """The same devices on a PCI VM: four virtio-pci functions whose
    configuration spaces and BARs the guest writes at random."""
    disk = place.file("chaos-%s.img" % sock, bytes(1 << 20))
    return boot(place, ["--memory", "64", "--pci", "--cmdline",
                        "chaos seed=%d ops=%d pci=%d" % (seed, ops, len(CHAOS_DEVICE_IDS)),
                        "--disk", "path=" + disk, "--net", "user",
                        "--vsock", "cid=3,uds=%s/%s.sock" % (place.filedir, sock)])


def plan_chaos_pci(place):
    return [chaos_pci_boot(place, s, CHAOS_OPS, "p%d" % i)
            for i, s in enumerate(chaos_seeds())]


def check_chaos_pci(outcomes):
    for o, seed in zip(outcomes, chaos_seeds()):
        try:
            kv, out, err = finish_ok(o)
            check_chaos_console(out, seed, CHAOS_OPS)
            check(kv.get("pci_funcs") == str(len(CHAOS_DEVICE_IDS)),
                  "the guest found %s virtio-pci functions, expected %d"
                  % (kv.get("pci_funcs"), len(CHAOS_DEVICE_IDS)))
            for k in ("pci_cfg_ops", "pci_bar_ops", "pci_hotplug_ops"):
                check(report_int(kv, k) > 0, "no %s: that chaos never ran" % k)
        except TestFailure as e:
            raise TestFailure("%s (%s)" % (e, chaos_replay(o, seed)))


def plan_chaos_sigterm(place):
    """ops=0 runs for ever: SIGTERM must end hearth mid-chaos with exit 3."""
    return [chaos_boot(place, CHAOS_SEED, 0, "t",
                       steps=[("wait-line", "chaos: op 500"), ("alive",),
                              ("signal", signal.SIGTERM)])]


def check_chaos_sigterm(outcomes):
    o = outcomes[0]
    try:
        o.require_steps(exited_msg="hearth exited (%s) during the endless chaos run")
        rc = o.exit_code()
        check(rc == 3, "hearth exited %d after SIGTERM, expected 3" % rc)
        check_no_sanitizer(o.stderr)
        kv, fails, _ = reports(o.stdout)
        check(not fails, "guest assertion failed: %s" % "; ".join(fails))
    except TestFailure as e:
        raise TestFailure("%s (%s)" % (e, chaos_replay(o, CHAOS_SEED)))


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


def bad_image(name, path):
    with open(path, "rb") as f:
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


def plan_bad(name):
    def plan(place):
        path = place.file("hearth-%s.elf" % name, bad_image(name, place.guest_host))
        return [Invocation(["run", "--kernel", path, "--memory", "64", "--kvm", NO_KVM])]
    return plan


def check_bad(name):
    def checker(outcomes):
        o = outcomes[0]
        rc = o.exit_code()
        out, err = o.stdout, o.stderr
        check(rc == 2, "hearth exited %d for a bad kernel image, expected 2" % rc)
        check(out == "", "stdout is not empty: %r" % out[:200])
        # Hearth's warning that /dev/kvm is PVM is about the host, not
        # the file; it may precede errors found once KVM is open.
        lines = [l for l in err.split("\n") if l.strip() and not PVM_WARNING.search(l)]
        check(len(lines) == 1, "expected exactly one line on stderr, got %d" % len(lines))
        check("hearth-%s.elf" % name in lines[0],
              "the error line does not name the file: %r" % lines[0])
        check_no_sanitizer(err)
    return checker


class GuestTest:
    """A test: the guest it boots (tests/guest/<guest>.elf), its plan, its
    check, and what it needs from KVM (names from NEEDS; the placement
    rule).  A test that needs nothing is decided before hearth opens KVM:
    its plan points hearth at NO_KVM, and it runs natively everywhere."""

    def __init__(self, guest, plan, checker, needs=("kvm",), image=None, lab_too=False):
        self.guest, self.plan, self.check = guest, plan, checker
        # Shown under hardware virtualization too, wherever the host is not
        # hw: a test whose point is that it runs on real VT-x/AMD-V (the
        # introductory real-mode example) runs natively and in the lab.
        self.lab_too = lab_too
        # The file meson builds: <guest>.elf, or a raw image's <guest>.bin.
        self.image = image or guest + ".elf"
        self.needs = set(needs)
        unknown = self.needs - set(NEEDS)
        if unknown:
            raise ValueError("unknown needs %s" % sorted(unknown))


BAD = ["bad-empty", "bad-truncated-header", "bad-truncated-segment",
       "bad-segment-outside-ram", "bad-segment-in-hole", "bad-segment-loader-area"]

# The same names as tests/guest/meson.build.
TESTS = {
    "hello": GuestTest("hello", plan_hello, check_hello),
    "virtio-cmdline": GuestTest("hello", plan_virtio_cmdline, check_virtio_cmdline),
    "bus": GuestTest("bus", plan_bus, check_bus),
    "pci-enum": GuestTest("pcienum", plan_pci_enum, check_pci_enum),
    "reboot": GuestTest("reboot", plan_reboot, check_reboot),
    "smp-4": GuestTest("smp", plan_smp(4), check_smp(4)),
    "smp-1": GuestTest("smp", plan_smp(1), check_smp(1)),
    "smp-stdin-file": GuestTest("smp", plan_stdin_file, check_stdin_file),
    "halt-sigterm": GuestTest("halt", plan_halt(signal.SIGTERM), check_halt(signal.SIGTERM)),
    "halt-sigint": GuestTest("halt", plan_halt(signal.SIGINT), check_halt(signal.SIGINT)),
    "halt-ctrl-a-x": GuestTest("halt", plan_halt("ctrl-a-x"), check_halt("ctrl-a-x")),
    "emulation-failure": GuestTest("emufail", plan_emufail, check_emufail),
    "chaos": GuestTest("chaos", plan_chaos, check_chaos, needs=("kvm", "ring0-bulk")),
    # Register chaos is exits, not ring-0 bulk: PVM runs it (1500 ops in 0.4 s).
    "chaos-pci": GuestTest("chaos", plan_chaos_pci, check_chaos_pci),
    "chaos-sigterm": GuestTest("chaos", plan_chaos_sigterm, check_chaos_sigterm,
                               needs=("kvm", "ring0-bulk")),
}
TESTS.update({b: GuestTest("hello", plan_bad(b), check_bad(b), needs=()) for b in BAD})


# ---------------------------------------------------------- Multiboot

MB_CMDLINE = "mb-test foo=bar"
MB_INITRD = b"HEARTH-INITRD\n" + bytes(5000)
MB_EXIT_STATUS = (0x21 << 1) | 1       # mbtest.c writes 0x21 to the debug-exit port


def plan_multiboot(place):
    """mbtest.elf as a test kernel: 4 vCPUs woken by INIT/SIPI, --initrd as
    its module, the verdict through --debug-exit; then with no --cmdline
    and one vCPU, where the command line is the kernel's path alone; then
    a reset through port 0x92's fast-reset bit, which ends hearth with 0."""
    initrd = place.file("mb-initrd.img", MB_INITRD)
    return [boot(place, ["--memory", "64", "--cpus", "4", "--cmdline", MB_CMDLINE,
                         "--initrd", initrd, "--debug-exit"]),
            boot(place, ["--memory", "64", "--debug-exit=iobase=0xf4,iosize=1"]),
            boot(place, ["--memory", "64", "--cpus", "2", "--cmdline", "reset=92",
                         "--debug-exit"])]


def check_mb_outcome(o, cmdline, ncpus):
    rc = o.exit_code()
    kv, fails, done = reports(o.stdout)
    check(not fails, "guest assertion failed: %s" % "; ".join(fails))
    check(done, "guest never printed 'GUEST done'")
    check(rc == MB_EXIT_STATUS, "hearth exited %d, expected %d from the debug-exit port"
          % (rc, MB_EXIT_STATUS))
    check("guest wrote 0x21 to the debug-exit port: exit status %d" % MB_EXIT_STATUS in o.stderr,
          "stderr does not report the debug-exit write: %r" % o.stderr[-300:])
    want = {"eax": "0x2badb002", "ebx": "0x6000", "cmdline": cmdline, "loader": "hearth",
            "mem_lower": "639", "mem_upper": str(63 * 1024),
            "mmap_ram_kib": str(639 + 63 * 1024), "fw_sig": "QEMU", "fw_cpus": str(ncpus),
            "fw_ram_mib": "64", "fw_unknown": "0x0", "bsp_apic_id": "0",
            "aps": str(ncpus - 1), "ap_mask": hex(((1 << ncpus) - 1) & ~1)}
    for k, v in want.items():
        check(kv.get(k) == v, "guest reported %s=%r, expected %r" % (k, kv.get(k), v))
    check_no_sanitizer(o.stderr)
    return kv


def check_multiboot(outcomes):
    o1, o2, o3 = outcomes
    path = o1.argv[o1.argv.index("--kernel") + 1]
    kv = check_mb_outcome(o1, path + " " + MB_CMDLINE, 4)
    initrd = o1.argv[o1.argv.index("--initrd") + 1]
    want = {"mods": "1", "mod_size": str(len(MB_INITRD)), "mod_page_aligned": "0x1",
            "mod_word": hex(struct.unpack("<I", MB_INITRD[:4])[0]), "mod_string": initrd}
    for k, v in want.items():
        check(kv.get(k) == v, "guest reported %s=%r, expected %r" % (k, kv.get(k), v))
    kv = check_mb_outcome(o2, path, 1)
    check(kv.get("mods") == "0", "a module without --initrd: %r" % kv.get("mods"))
    kv, out, err = finish_ok(o3)
    check("GUEST resetting" in out.split("\n"), "the guest did not try port 0x92")
    check(kv.get("aps") == "1", "with 2 vCPUs, %s APs reported in" % kv.get("aps"))
    check("reboot" in err.lower(), "stderr does not report the reset: %r" % err[-300:])


def plan_testdev(place):
    """tdev.elf with --test-devices (latch, window, flush, ISA IRQ 5 through
    port 0x2005), then without: nothing answers at port 0xe0."""
    return [boot(place, ["--memory", "64", "--test-devices"]),
            boot(place, ["--memory", "64"])]


def check_testdev(outcomes):
    kv, out, err = finish_ok(outcomes[0])
    want = {"testdev": "present", "latch": "0x12345678", "latch_byte": "0x1234ab78",
            "iomem": "0xdeadbeef", "iomem_end": "0x1020304", "flushed": "0x5a5a5a5a",
            "irq_before": "0", "irq_raised": "1", "irq_again": "2", "irq_unexpected": "0"}
    for k, v in want.items():
        check(kv.get(k) == v, "guest reported %s=%r, expected %r" % (k, kv.get(k), v))
    kv, out, err = finish_ok(outcomes[1])
    check(kv.get("testdev") == "absent", "pc-testdev answered without --test-devices")


def elf32_first_load(data):
    phoff, = struct.unpack_from("<I", data, 0x1c)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x2a)
    for i in range(phnum):
        off = phoff + i * phentsize
        if struct.unpack_from("<I", data, off)[0] == 1:
            return off
    raise TestFailure("guest has no PT_LOAD")


def bad_mb_image(name, elf):
    data = bytearray(elf)
    check(data[4] == 1, "mbtest.elf is not ELF32")
    if name == "bad-mb-outside-ram":
        # Physical address only: the entry point (virtual) still lies in it.
        struct.pack_into("<I", data, elf32_first_load(data) + 12, 0x10000000)
    elif name == "bad-mb-no-entry":
        struct.pack_into("<I", data, 0x18, 0)
    elif name == "bad-mb-aout-outside-file":
        off = data.find(struct.pack("<I", 0x1badb002))
        check(0 <= off < 8192, "mbtest.elf has no Multiboot header")
        flags = struct.unpack_from("<I", data, off + 4)[0] | 0x10000
        load = 0x400000
        struct.pack_into("<8I", data, off, 0x1badb002, flags, (-(0x1badb002 + flags)) & 0xffffffff,
                         load + off, load, load + len(data) + 0x10000, 0, load + off + 32)
    else:
        raise TestFailure("unknown bad image %s" % name)
    return bytes(data)


def plan_bad_mb(name):
    def plan(place):
        with open(place.guest_host, "rb") as f:
            data = bad_mb_image(name, f.read())
        path = place.file("hearth-%s.elf" % name, data)
        return [Invocation(["run", "--kernel", path, "--memory", "64", "--kvm", NO_KVM])]
    return plan


def plan_debug_exit_clash(place):
    """--debug-exit on COM1's ports: found once the devices are built (KVM is
    open by then), still one line and exit 2, and the guest never runs."""
    return [boot(place, ["--memory", "64", "--debug-exit=iobase=0x3f8,iosize=2"],
                 stdin="null")]


def check_debug_exit_clash(outcomes):
    o = outcomes[0]
    rc = o.exit_code()
    lines = [l for l in o.stderr.split("\n") if l.strip() and not PVM_WARNING.search(l)]
    check(rc == 2, "hearth exited %d for --debug-exit on taken ports, expected 2" % rc)
    check(len(lines) == 1 and "--debug-exit" in lines[0] and "0x3f8" in lines[0],
          "expected one line naming --debug-exit and 0x3f8, got %r" % lines)
    check(o.stdout == "", "the guest ran: %r" % o.stdout[:200])
    check_no_sanitizer(o.stderr)


BAD_MB = ["bad-mb-outside-ram", "bad-mb-no-entry", "bad-mb-aout-outside-file"]
TESTS.update({
    "multiboot": GuestTest("mbtest", plan_multiboot, check_multiboot),
    # Its interrupt handler ends with a 32-bit iret.
    "testdev": GuestTest("tdev", plan_testdev, check_testdev, needs=("kvm", "pm32-iret")),
    "bad-debug-exit-port": GuestTest("mbtest", plan_debug_exit_clash, check_debug_exit_clash),
})
TESTS.update({b: GuestTest("mbtest", plan_bad_mb(b), check_bad(b), needs=())
              for b in BAD_MB})


# ------------------------------------------------ flat images (--flat)
# The introductory example (hello16.S) and its 32- and 64-bit siblings:
# "Hello\n" through --debugcon, then cli; hlt, which ends the VM.

FLAT_ARGS = {
    "flat-real": ["--debugcon", "port=0xf1"],
    "flat-prot32": [",addr=0x100000,mode=prot32", "--debugcon"],
    "flat-long": [",addr=0x1000,entry=0x1010,mode=long", "--debugcon=port=0xe9"],
}


def plan_flat(name):
    def plan(place):
        args = FLAT_ARGS[name]
        spec = place.guest + (args[0] if args[0].startswith(",") else "")
        rest = args[1:] if args[0].startswith(",") else args
        return [Invocation(["run", "--flat", spec] + rest, stdin="null")]
    return plan


def check_flat(outcomes):
    o = outcomes[0]
    rc = o.exit_code()
    check(rc == 0, "hearth exited %d, expected 0 (the guest halted)" % rc)
    check(o.stdout == "Hello\n", "stdout is %r, expected exactly 'Hello\\n'" % o.stdout[:200])
    lines = [l for l in o.stderr.split("\n") if l.strip() and not PVM_WARNING.search(l)]
    check(lines == ["hearth: guest halted"], "stderr is %r, expected 'hearth: guest halted'"
          % lines)
    check_no_sanitizer(o.stderr)


def plan_flat_exit_stats(place):
    """hello32 with --exit-stats: its six port writes, counted by device."""
    return [Invocation(["run", "--flat", place.guest + ",addr=0x100000,mode=prot32",
                        "--debugcon", "--exit-stats"], stdin="null")]


def check_flat_exit_stats(outcomes):
    o = outcomes[0]
    check(o.exit_code() == 0, "hearth exited %d, expected 0" % o.exit_code())
    check(o.stdout == "Hello\n", "stdout is %r, expected 'Hello\\n'" % o.stdout[:200])
    err = o.stderr
    m = re.search(r"exit-stats: marks \(CLOCK_BOOTTIME s\) create=([\d.]+) start=([\d.]+) "
                  r"first_run=([\d.]+) end=([\d.]+)", err)
    check(m, "no exit-stats marks line in %r" % err[-800:])
    marks = [float(x) for x in m.groups()]
    check(0 < marks[0] <= marks[1] <= marks[2] <= marks[3],
          "the marks are not in the order create <= start <= first_run <= end: %s" % marks)
    check("to userspace by kind: exit_io_out=6 exit_hlt=1\n" in err,
          "expected 6 port writes and 1 hlt by kind, got %r" % err[-800:])
    check(re.search(r"exit-stats: +6 port 0xe9\+0x1 debugcon: 0 reads, 6 writes\n", err),
          "expected debugcon's 6 writes by device, got %r" % err[-800:])
    check("6 port and MMIO exits to devices, 0 port and 0 MMIO to nothing" in err,
          "expected 6 exits to devices and none unclaimed, got %r" % err[-800:])
    check_no_sanitizer(err)


def plan_debugcon_clash(place):
    """--debugcon on COM1's port: found once the devices are built (KVM is
    open by then), still one line and exit 2, and the guest never runs."""
    return [Invocation(["run", "--flat", place.guest, "--debugcon", "port=0x3f8"],
                       stdin="null")]


def check_debugcon_clash(outcomes):
    o = outcomes[0]
    rc = o.exit_code()
    lines = [l for l in o.stderr.split("\n") if l.strip() and not PVM_WARNING.search(l)]
    check(rc == 2, "hearth exited %d for --debugcon on COM1's port, expected 2" % rc)
    check(len(lines) == 1 and "--debugcon" in lines[0] and "0x3f8" in lines[0],
          "expected one line naming --debugcon and 0x3f8, got %r" % lines)
    check(o.stdout == "", "the guest ran: %r" % o.stdout[:200])
    check_no_sanitizer(o.stderr)


def plan_multiboot_low(place):
    """mblow.bin: a Multiboot kernel (a.out kludge) loaded at 0x8000, below
    1 MiB, as real-mode test kernels are; it reports through --debugcon."""
    return [boot(place, ["--memory", "64", "--debugcon", "--debug-exit"], stdin="null")]


def check_multiboot_low(outcomes):
    o = outcomes[0]
    rc = o.exit_code()
    check(rc == MB_EXIT_STATUS, "hearth exited %d, expected %d from the debug-exit port"
          % (rc, MB_EXIT_STATUS))
    check(o.stdout == "low Y\n", "stdout is %r, expected 'low Y\\n' (Y: EAX held the "
          "Multiboot magic)" % o.stdout[:200])
    check_no_sanitizer(o.stderr)


TESTS.update({
    "flat-real": GuestTest("hello16", plan_flat("flat-real"), check_flat,
                           needs=("kvm", "real-mode"), image="hello16.bin", lab_too=True),
    "flat-prot32": GuestTest("hello32", plan_flat("flat-prot32"), check_flat,
                             image="hello32.bin"),
    "flat-long": GuestTest("hello64", plan_flat("flat-long"), check_flat, image="hello64.bin"),
    "flat-exit-stats": GuestTest("hello32", plan_flat_exit_stats, check_flat_exit_stats,
                                 image="hello32.bin"),
    "bad-debugcon-port": GuestTest("hello16", plan_debugcon_clash, check_debugcon_clash,
                                   image="hello16.bin"),
    "multiboot-low": GuestTest("mblow", plan_multiboot_low, check_multiboot_low,
                               image="mblow.bin"),
})


# ---------------------------------------------------------- on the host

def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def run_native(guestrun, hearth, inv, timeout=TIMEOUT):
    """Performs one invocation with guestrun on this host."""
    argv = inv.guestrun_argv(guestrun, hearth, timeout)
    env = dict(SANITIZER_ENV, **os.environ)
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env,
                           timeout=timeout * inv.waits() + 30)
    except subprocess.TimeoutExpired:
        raise TestFailure("guestrun itself hung: %s" % " ".join(argv[:8]))
    err = p.stderr.decode(errors="replace")
    check(p.returncode == 0 and not err, "guestrun failed (rc %d): %s"
          % (p.returncode, err.strip()[:500]))
    return parse_report(p.stdout.decode(errors="replace").split("\n"), inv,
                        [hearth] + inv.args, timeout)


# Guest tests with runners of their own (meson's guest suite, not TESTS):
# what each needs. Where the host lacks a need, the native run says "not
# here:" and skips, and the lab runs the same test, unchanged, in L1
# (tests/lab/test_meson.py, which scripts/test.sh runs for such tests).
EXTERNAL = {
    "snapshot-uffd": ("kvm",),
    "huge-pages-boot-snapshot-restore": ("kvm",),
    "huge-pages-no-free-pages": ("kvm",),
    # The lab's L1 records no real time (TCG's clock is not a stable master clock):
    # there the case shows the refusal, and only a KVM host shows the clock moved on.
    "huge-pages-clock-realtime": ("kvm",),
    "pause-exit-snapshot": ("kvm", "io-exit-pending"),
}


def external_not_here(name):
    """For an EXTERNAL test's runner: why this host cannot run it (None: it can)."""
    kind, why = host_kind()
    missing = sorted(set(EXTERNAL[name]) - PROVIDES[kind])
    if not missing:
        return None
    return "a %s host (%s) lacks %s" % (kind, why, "; ".join(
        "%s: %s" % (m, NEEDS.get(m, "a KVM")) for m in missing))


def external_placement(needs, kind):
    """("native" | "lab:meson", why) for an EXTERNAL test on a host of this kind."""
    missing = sorted(set(needs) - PROVIDES[kind])
    if not missing:
        return "native", "needs " + ", ".join(sorted(needs))
    return "lab:meson", "a %s host lacks %s; it runs unchanged in L1 (tests/lab/test_meson.py)" \
        % (kind, ", ".join(missing))


def print_placement(kind, why, out=sys.stdout):
    """One line per test: NAME native|lab|native+lab|lab:FILE why; scripts/test.sh reads them."""
    out.write("host: %s (%s)\n" % (kind, why))
    for name, test in TESTS.items():
        where, reason = placement(test, kind)
        out.write("%s %s %s\n" % (name, where, reason))
    for name, needs in EXTERNAL.items():
        where, reason = external_placement(needs, kind)
        out.write("%s %s %s\n" % (name, where, reason))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--placement", action="store_true",
                    help="only print where each test runs on this host, and why")
    ap.add_argument("--hearth")
    ap.add_argument("--guest")
    ap.add_argument("--guestrun")
    ap.add_argument("--test")
    a = ap.parse_args()
    try:
        kind, why = host_kind()
    except ValueError as e:
        print("FAIL: %s" % e)
        return 1
    if a.placement:
        print_placement(kind, why)
        return 0
    if not (a.hearth and a.guest and a.guestrun and a.test):
        ap.error("--hearth, --guest, --guestrun and --test are required")

    outcomes = []
    try:
        test = TESTS.get(a.test)
        check(test is not None, "unknown test %r" % a.test)
        check(os.path.basename(a.guest) == test.image,
              "%s boots %s, not %s" % (a.test, test.image, a.guest))
        where, reason = placement(test, kind)
        if where == "lab":
            # Not a skip: scripts/test.sh runs it in the lab (tests/lab/test_guest.py).
            print("SKIP: placed in the lab: %s (host: %s)" % (reason, why))
            return SKIP
        with tempfile.TemporaryDirectory(prefix="hearth-guest-") as tmp:
            place = Place(a.hearth, a.guest, a.guest, tmp, write_file)
            for inv in test.plan(place):
                outcomes.append(run_native(a.guestrun, a.hearth, inv))
            test.check(outcomes)
    except TestFailure as e:
        print("FAIL %s: %s" % (a.test, e))
        for o in outcomes:
            dump(o)
        return 1
    print("PASS %s (native: %s)" % (a.test, reason))
    for o in outcomes:
        dump(o)
    return 0


if __name__ == "__main__":
    sys.exit(main())
