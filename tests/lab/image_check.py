"""A disk image's serial console, for tests that boot the Debian image
(scripts/debian_image.sh) under any VMM: wait for `login:`, log in as the
user the test seed's cloud-init created, run commands and read their output.

It knows nothing of QEMU or Hearth.  The console is a log file the VMM's
serial port output grows (read by polling), and a callable that writes bytes
to the serial port's input.  `VmProcess` gives both for a VMM whose first
serial port is its stdin/stdout (`qemu-system-x86_64 -nographic`,
`hearth run`):

    import image_check as IC
    seed = IC.make_seed(dir, hostname="guest-1")      # cloud-localds, NoCloud
    vm = IC.VmProcess(argv, os.path.join(dir, "serial.log"))
    con = vm.console
    con.watch(IC.MILESTONES)              # note when GRUB, the kernel... appear
    con.wait_login(timeout=1800)          # -> the hostname in the prompt
    con.login(IC.TEST_USER, IC.TEST_PASSWORD)
    rc, out = con.run("hostname")         # (exit status, output without \\r)
    con.seen                              # {"grub": 3.1, "kernel": 9.8, "login": 80.2}
    vm.stop()

Timeouts are only there so that a hung guest ends the test; nothing here
compares a duration with a limit.  The console is the guest's /dev/console
too: kernel and cloud-init messages can land between a command's lines, so
`wait_cloud_init()` first (cloud-init's own output stops then), and check
output for the lines you expect rather than for equality.

For an HTTP seed (the MMDS): `seed_documents()` gives the meta-data,
user-data (what the seed disk carries) and an empty vendor-data, each to
serve as MMDS_URL + its name: the URL the SMBIOS system serial
`SMBIOS_SERIAL_MMDS` names.
"""
import codecs
import os
import re
import subprocess
import tempfile
import time

TEST_USER = "hearth"
TEST_PASSWORD = "hearth-test"
TEST_HOSTNAME = "hearth-guest"
# What the SMBIOS type 1 serial carries for cloud-init's NoCloud datasource
# to fetch <URL>meta-data, <URL>user-data and <URL>vendor-data from the
# MMDS once the network is up.  Bookworm's cloud-init (22.4) needs
# `ds=nocloud-net` for an http:// seed: with `ds=nocloud;s=http://...` the
# datasource is found in the network stage but left in "local" mode, and
# cloud-init goes on with DataSourceNone (no user, no hostname).  Newer
# cloud-init takes either.
MMDS_URL = "http://169.254.169.254/latest/"
SMBIOS_SERIAL_MMDS = "ds=nocloud-net;s=" + MMDS_URL

# Where a boot is (first appearance on the console; seconds from start).
MILESTONES = {
    "firmware": r"SeaBIOS|BdsDxe|UEFI|EFI stub|iPXE",
    "grub": r"Welcome to GRUB|GRUB loading|Booting `",
    "kernel": r"Linux version \d",
    "systemd": r"systemd\[1\]: |Welcome to .*Debian",
    "cloud-init": r"cloud-init\[\d+\]: Cloud-init v\.",
    "login": r"(?m)^\S+ login: ",
}

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78cDEHMNOZ]")


def clean(text):
    """Console text without terminal escapes and carriage returns."""
    return _ANSI.sub("", text).replace("\r", "")


class ConsoleError(Exception):
    """The guest did not say what was awaited (timeout, VMM gone, login refused)."""


class SerialConsole:
    """A guest serial console: `log` is the file its output grows, `send`
    a callable taking bytes for its input (None: read only), `alive` a
    callable saying whether the VMM still runs (None: assume it does)."""

    def __init__(self, log, send=None, alive=None, start=None):
        self.log = log
        self.send_fn = send
        self.alive = alive
        self.start = time.monotonic() if start is None else start
        self.text = ""          # everything read so far, cleaned
        self.cursor = 0         # waits look from here on
        self._off = 0
        self._dec = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._watch = {}
        self.seen = {}
        self._n = 0

    # -- reading
    def poll(self):
        """Reads what the log has grown by; stamps milestones."""
        try:
            with open(self.log, "rb") as f:
                f.seek(self._off)
                data = f.read()
        except FileNotFoundError:
            data = b""
        if data:
            self._off += len(data)
            # An escape sequence or a UTF-8 character cut by this read waits
            # for the rest.
            s = self._pending + self._dec.decode(data)
            i = s.rfind("\x1b")
            if i != -1 and len(s) - i < 32 and not _ANSI.match(s, i):
                self._pending, s = s[i:], s[:i]
            else:
                self._pending = ""
            self.text += clean(s)
        now = time.monotonic() - self.start
        for name, rx in list(self._watch.items()):
            if rx.search(self.text):
                self.seen[name] = round(now, 2)
                del self._watch[name]
        return bool(data)

    def watch(self, milestones):
        """Notes in self.seen when each {name: regex} first appears."""
        for name, rx in milestones.items():
            if name not in self.seen:
                self._watch[name] = re.compile(rx)
        self.poll()

    def wait_for(self, pattern, timeout):
        """Waits for regex pattern in the output after the cursor; moves
        the cursor past the match and returns it."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            m = rx.search(self.text, self.cursor)
            if m:
                self.cursor = m.end()
                return m
            if self.alive is not None and not self.alive():
                self.poll()
                m = rx.search(self.text, self.cursor)
                if m:
                    self.cursor = m.end()
                    return m
                raise ConsoleError("the VMM exited before %r; console ends:\n%s"
                                   % (rx.pattern, self.tail()))
            if time.monotonic() > deadline:
                raise ConsoleError("no %r within %d s; console ends:\n%s"
                                   % (rx.pattern, timeout, self.tail()))
            time.sleep(0.1)

    def tail(self, n=2000):
        return self.text[-n:]

    # -- the guest
    def wait_login(self, timeout=1800):
        """Waits for getty's `HOSTNAME login: ` prompt; returns HOSTNAME.
        Its time since start is self.seen["login"]."""
        m = self.wait_for(r"(?m)^(\S+) login: ", timeout)
        self.seen.setdefault("login", round(time.monotonic() - self.start, 2))
        return m.group(1)

    def send(self, text):
        if self.send_fn is None:
            raise ConsoleError("this console is read-only")
        self.send_fn(text.encode() if isinstance(text, str) else text)

    def login(self, user=TEST_USER, password=TEST_PASSWORD, timeout=600):
        """Logs in at a login prompt (wait_login first) and waits for a
        shell; then turns the terminal's echo off and sets a plain prompt.
        A refused login raises ConsoleError."""
        self.send(user + "\r")
        self.wait_for(r"Password: ?", timeout)
        self.send(password + "\r")
        m = self.wait_for(r"Login incorrect|[$#] ?$|\$ |# ", timeout)
        if m.group(0).startswith("Login incorrect"):
            raise ConsoleError("login as %s refused" % user)
        rc, _ = self.run("stty -echo; PS1='$ '; export PAGER=cat SYSTEMD_PAGER= TERM=dumb",
                         timeout=timeout)
        if rc != 0:
            raise ConsoleError("the shell after login did not answer")

    def run(self, cmd, timeout=600):
        """Runs one shell command line in the logged-in shell; returns
        (exit status, its output) with the output's lines as printed."""
        self._n += 1
        n = self._n
        # One line (typed ahead, a second line would be echoed into the
        # first one's output before `stty -echo`); the markers as typed
        # ("HC""B1") differ from the markers printed (HCB1).
        self.send('echo "HC""B%d"; %s; echo "HC""E%d $?"\r' % (n, cmd, n))
        # (After the prompt, not at a line's start: the shell prints its
        # prompt before it reads the line.)
        self.wait_for(r"HCB%d\n" % n, timeout)
        begin = self.cursor
        m = self.wait_for(r"HCE%d (\d+)\n" % n, timeout)
        out = self.text[begin:m.start()].strip("\n")
        return int(m.group(1)), out

    def wait_cloud_init(self, timeout=1800):
        """What `cloud-init status --wait` would say, read by the shell: "status: done"
        once cloud-init's last stage has written /run/cloud-init/result.json with no
        error, "status: error" (and the file) with one, "status: disabled" when its
        generator left it off (no /run/cloud-init/enabled). Not the command itself:
        that is one more Python start under cloud-init's imports, 15 s and more of an
        L2 boot in the lab, to read the same two files."""
        rc, out = self.run(
            "if [ ! -e /run/cloud-init/enabled ]; then echo 'status: disabled'; else "
            "while [ ! -e /run/cloud-init/result.json ]; do sleep 0.5; done; "
            "if tr -d ' \\t\\n' </run/cloud-init/result.json | grep -q '\"errors\":\\[\\]'; "
            "then echo 'status: done'; else tr -d '\\n' </run/cloud-init/result.json; echo; "
            "echo 'status: error'; fi; fi", timeout)
        return out.strip().splitlines()[-1] if out.strip() else ""


class VmProcess:
    """A VMM whose first serial port is its stdin/stdout: stdout (and
    stderr) go to log, input goes to its stdin.  stop() ends it."""

    def __init__(self, argv, log, env=None):
        self.argv = list(argv)
        self.log = log
        self._out = open(log, "wb")
        self.start = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=self._out,
                                     stderr=subprocess.STDOUT, env=env)
        self.console = SerialConsole(log, send=self._send, alive=self.alive, start=self.start)

    def _send(self, data):
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise ConsoleError("the VMM's input is closed")

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        """Waits for the VMM to exit by itself (a guest poweroff); its status."""
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self._out.close()
        return self.proc.returncode


def seed_documents(hostname=TEST_HOSTNAME, user=TEST_USER, password=TEST_PASSWORD,
                   instance_id=None):
    """{"meta-data", "user-data", "vendor-data": text} of the test seed: the hostname,
    and one user with a known password (sudo without one), both applied in
    cloud-init's init stage, before getty offers `login:`."""
    iid = instance_id or "iid-%s" % hostname
    meta = "instance-id: %s\nlocal-hostname: %s\n" % (iid, hostname)
    userdata = """#cloud-config
hostname: %(h)s
users:
  - name: %(u)s
    gecos: Hearth test user
    shell: /bin/bash
    lock_passwd: false
    plain_text_passwd: %(p)s
    sudo: ALL=(ALL) NOPASSWD:ALL
""" % {"h": hostname, "u": user, "p": password}
    # vendor-data, empty: served over HTTP too, or cloud-init asks for it
    # 11 times (read_seeded's retries) before it goes on.
    return {"meta-data": meta, "user-data": userdata, "vendor-data": ""}


def make_seed(directory, hostname=TEST_HOSTNAME, user=TEST_USER, password=TEST_PASSWORD,
              instance_id=None, name="seed.img"):
    """A NoCloud seed disk (`cloud-localds`, label cidata) in directory,
    from seed_documents(); returns its path.  Attach it as a second disk."""
    docs = seed_documents(hostname, user, password, instance_id)
    with tempfile.TemporaryDirectory(dir=directory) as d:
        for k, v in docs.items():
            if k == "vendor-data":
                continue
            with open(os.path.join(d, k), "w") as f:
                f.write(v)
        out = os.path.join(directory, name)
        subprocess.run(["cloud-localds", out, os.path.join(d, "user-data"),
                        os.path.join(d, "meta-data")], check=True)
    return out
