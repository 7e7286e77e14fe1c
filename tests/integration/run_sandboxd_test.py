#!/usr/bin/env python3
"""`hearth sandboxes` (docs/sandboxes.md), E2B's API over Hearth's VMs.

    run_sandboxd_test.py --hearth build/hearth --case CASE [--asan B] [--work DIR] [--agent A]

  bad-key           a request without X-API-Key, and one with another key: 401
                    with E2B's {"code", "message"} saying which
  unknown-sandbox   GET, DELETE, pause, timeout, connect, fork and metrics of a
                    sandbox that does not exist: 404 naming it; envd's endpoint
                    for it: 502 naming it
  unknown-template  POST /v2/sandboxes of a template that does not exist: 404
                    "template 'NAME' not found", as E2B's; a name that tries to
                    leave --templates is no template either
  malformed-body    a body that is not JSON, not an object, without templateID,
                    with a field of the wrong type or an unknown one: 400 naming
                    the fault; the server serves on
  sdk               E2B's own SDK (`e2b` from npm, pinned in tests/sandbox,
                    installed with `npm ci` into --work) drives the server end to
                    end (tests/sandbox/e2e.mjs): create, commands, files, watch,
                    two sandboxes apart, pause and connect, fork, setTimeout,
                    kill and list, on the template "base" that
                    scripts/sandbox_template.py --minimal builds into --work.
                    Both are made here first (npm's registry is reached here,
                    not in the lab); the check itself boots Debian's generic
                    kernel, which needs hardware virtualization: on a host
                    without it (no /dev/kvm, or PVM's) it says "not here:" and
                    runs again in the lab's L1 (tests/lab/test_meson.py).

  stop-while-booting
                    a template whose guest never answers (the count guest),
                    a create waiting on its boot, then SIGTERM: the server
                    ends with 0 at once, the create is answered 503 naming
                    the stop, the VM's files are gone (/dev/kvm: the guest
                    runs natively on PVM too).
  flags, jailed, sdk-jailed
                    (sandboxd_jailed.py) bad flags, exit 2; --jail-uids: every VM jailed in a
                    directory and as a uid of its own; the SDK's checks
                    against a jailed server (the lab where sdk's is).

The first four need no KVM: no VM is started.
"""
import fcntl
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
from itest import NotHere, check, need_kvm, run_cases, sanitizer_env  # noqa: E402
from sandboxd_jailed import case_flags, case_jailed, case_sdk_jailed, glob_logs  # noqa: E402
from sandboxd_jailed import env as jailed_env  # noqa: E402

KEY = "e2b_hearth-test-key"
SDK_DIR = os.path.join(REPO, "tests", "sandbox")


def free_port():
    """Two free ports in a row (the API's, envd's the next), on loopback."""
    for _ in range(50):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
        finally:
            t.close()
    raise RuntimeError("no two free ports in a row")


class Server:
    """`hearth sandboxes` in tmp, until stop()."""

    def __init__(self, hearth, tmp, templates=None, extra=(), env=None):
        self.tmp = tmp
        self.port = free_port()
        with open(os.path.join(tmp, "key"), "w") as f:
            f.write(KEY + "\n")
        self.templates = templates or os.path.join(tmp, "templates")
        os.makedirs(self.templates, exist_ok=True)
        self.log = open(os.path.join(tmp, "server.log"), "w+")
        self.p = subprocess.Popen(
            [hearth, "sandboxes", "--listen", "127.0.0.1:%d" % self.port, "--api-key-file",
             os.path.join(tmp, "key"), "--templates", self.templates, "--run-dir",
             os.path.join(tmp, "run")] + list(extra),
            stdout=self.log, stderr=subprocess.STDOUT, env=env or sanitizer_env())
        for _ in range(500):
            self.log.seek(0)
            if "sandboxes: ready" in self.log.read():
                return
            check(self.p.poll() is None, "hearth sandboxes exited at start: %s" % self.output())
            time.sleep(0.02)
        raise AssertionError("hearth sandboxes never said it was ready: " + self.output())

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def request(self, method, path, body=None, key=KEY, port=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=60)
        h = dict(headers or {})
        if key is not None:
            h["X-API-Key"] = key
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
        finally:
            c.close()
        try:
            return r.status, json.loads(data) if data else None
        except ValueError:
            return r.status, data

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        out = self.text = self.output()
        self.log.close()
        check(not any(m in out for m in ("ERROR: AddressSanitizer", "runtime error:",
                                         "LeakSanitizer")), "sanitizer report: " + out[-3000:])
        return self.p.returncode


def refused(status, body, want, words):
    """An E2B error: the status, {"code": status, "message"} with words in it."""
    check(status == want and isinstance(body, dict) and body.get("code") == want and
          words in body.get("message", ""),
          "want %d naming '%s', got %d %s" % (want, words, status, body))


def case_bad_key(hearth, tmp):
    s = Server(hearth, tmp)
    try:
        for method, path, body in (("GET", "/v2/sandboxes", None),
                                   ("POST", "/v2/sandboxes", {"templateID": "base"}),
                                   ("DELETE", "/sandboxes/abc", None)):
            st, b = s.request(method, path, body, key=None)
            refused(st, b, 401, "X-API-Key header is missing")
            for bad in ("", "e2b_hearth-test-ke", KEY + "x", "E2B_HEARTH-TEST-KEY"):
                st, b = s.request(method, path, body, key=bad)
                refused(st, b, 401, "Invalid API key")
        st, b = s.request("GET", "/v2/sandboxes")
        check(st == 200 and b == [], "with the key the list answers: %d %s" % (st, b))
    finally:
        check(s.stop() == 0, "the server ends with 0 on SIGTERM")


def case_unknown_sandbox(hearth, tmp):
    s = Server(hearth, tmp)
    try:
        words = 'sandbox "nosuchsandbox0000000" doesn\'t exist'
        for method, path, body in (
                ("GET", "/sandboxes/nosuchsandbox0000000", None),
                ("DELETE", "/sandboxes/nosuchsandbox0000000", None),
                ("POST", "/sandboxes/nosuchsandbox0000000/pause", None),
                ("POST", "/sandboxes/nosuchsandbox0000000/timeout", {"timeout": 30}),
                ("POST", "/v2/sandboxes/nosuchsandbox0000000/connect", {"timeout": 30}),
                ("POST", "/sandboxes/nosuchsandbox0000000/fork", {}),
                ("POST", "/sandboxes/nosuchsandbox0000000/snapshots", {}),
                ("GET", "/sandboxes/nosuchsandbox0000000/metrics", None)):
            st, b = s.request(method, path, body)
            refused(st, b, 404, words)
        st, b = s.request("GET", "/health", key=None, port=s.port + 1,
                          headers={"E2b-Sandbox-Id": "nosuchsandbox0000000",
                                   "E2b-Sandbox-Port": "49983"})
        refused(st, b, 502, "The sandbox nosuchsandbox0000000 was not found")
    finally:
        check(s.stop() == 0, "the server ends with 0 on SIGTERM")


def case_unknown_template(hearth, tmp):
    s = Server(hearth, tmp)
    try:
        for name in ("nosuch", "base", "../templates", "a/b", "." * 3):
            st, b = s.request("POST", "/v2/sandboxes", {"templateID": name})
            refused(st, b, 404, "template '%s' not found" % name)
        st, b = s.request("GET", "/v2/sandboxes")
        check(st == 200 and b == [], "no sandbox was made: %s" % b)
    finally:
        check(s.stop() == 0, "the server ends with 0 on SIGTERM")


def case_malformed_body(hearth, tmp):
    s = Server(hearth, tmp)
    try:
        for body, words in (("{\"templateID\":", "malformed JSON body"),
                            ("not json", "malformed JSON body"),
                            ("[1, 2]", "want a JSON object"),
                            ("{}", "templateID is required"),
                            ("{\"templateID\": 7}", "templateID"),
                            ("{\"templateID\": \"base\", \"timeout\": \"300\"}", "timeout"),
                            ("{\"templateID\": \"base\", \"envVars\": [\"A=b\"]}", "envVars"),
                            ("{\"templateID\": \"base\", \"nope\": 1}", "unknown field 'nope'"),
                            ("{\"templateID\": \"base\", \"network\": {\"allowOut\": []}}",
                             "network")):
            st, b = s.request("POST", "/v2/sandboxes", body)
            refused(st, b, 400, words)
        st, b = s.request("POST", "/sandboxes/any/timeout", "{\"timeout\": -1}")
        refused(st, b, 400, "timeout -1")
        st, b = s.request("GET", "/v2/sandboxes")
        check(st == 200 and b == [], "the server serves on: %d %s" % (st, b))
    finally:
        check(s.stop() == 0, "the server ends with 0 on SIGTERM")


def digest(*paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def prepare_sdk(work):
    """npm ci of the pinned SDK into work/sdk (once per lockfile), e2e.mjs beside it."""
    sdk = os.path.join(work, "sdk")
    lock = os.path.join(SDK_DIR, "package-lock.json")
    stamp = os.path.join(sdk, ".ok-" + digest(lock, os.path.join(SDK_DIR, "package.json")))
    if not os.path.exists(stamp):
        shutil.rmtree(sdk, ignore_errors=True)
        os.makedirs(sdk)
        for f in ("package.json", "package-lock.json"):
            shutil.copy(os.path.join(SDK_DIR, f), sdk)
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                           cwd=sdk, capture_output=True, text=True)
        check(r.returncode == 0, "npm ci of the pinned e2b SDK failed (npm's registry must "
              "be reachable where this runs first): %s" % (r.stdout + r.stderr)[-2000:])
        open(stamp, "w").close()
    shutil.copy(os.path.join(SDK_DIR, "e2e.mjs"), sdk)
    return sdk


def prepare_template(work, agent):
    """The template "base" (--minimal: no network) in work/templates, once per input."""
    tpl = os.path.join(work, "templates", "base")
    script = os.path.join(REPO, "scripts", "sandbox_template.py")
    stamp = os.path.join(tpl, ".ok-" + digest(agent, script))
    if not os.path.exists(stamp):
        shutil.rmtree(tpl, ignore_errors=True)
        r = subprocess.run([sys.executable, script, tpl, "--agent", agent, "--minimal",
                            "--memory", "128"], capture_output=True, text=True)
        check(r.returncode == 0, "sandbox_template.py failed: %s" % (r.stdout + r.stderr)[-2000:])
        open(stamp, "w").close()
    return os.path.dirname(tpl)


def need_hw_kvm():
    """The template boots Debian's stock kernel: PVM's /dev/kvm cannot (tests/lab/README.md)."""
    need_kvm("E2B's SDK on a booted template")
    if os.path.exists("/sys/module/kvm_pvm"):
        raise NotHere("E2B's SDK on a booted template needs hardware virtualization; this "
                      "host's /dev/kvm is PVM's, which cannot boot a stock kernel")


def case_sdk(hearth, tmp, a):
    run_sdk(hearth, tmp, a)


def run_sdk(hearth, tmp, a, extra=(), during=None, after=None):
    """e2e.mjs against a server with extra flags; during(server) once it is up, after()
    once the SDK is done, before the server ends."""
    check(a.work and a.agent, "--work and --agent are needed")
    os.makedirs(a.work, exist_ok=True)
    # sdk and sdk-jailed share --work, and meson runs them at once: one makes, the other waits.
    with open(os.path.join(a.work, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sdk = prepare_sdk(a.work)
        templates = prepare_template(a.work, a.agent)
    need_hw_kvm()
    s = Server(hearth, tmp, templates=templates, extra=["--op-timeout", "600",
                                                       "--boot-timeout", "900"] + list(extra),
               env=jailed_env() if extra else None)
    failed, vms = None, ""
    try:
        if during:
            during(s)
        env = dict(os.environ, E2B_API_URL="http://127.0.0.1:%d" % s.port,
                   E2B_SANDBOX_URL="http://127.0.0.1:%d" % (s.port + 1), E2B_API_KEY=KEY)
        r = subprocess.run(["node", "e2e.mjs"], cwd=sdk, env=env, capture_output=True,
                           text=True, timeout=3000)
        print(r.stdout, end="")
        print(r.stderr, end="", file=sys.stderr)
        lines = r.stdout.strip().splitlines()
        if not (r.returncode == 0 and lines and lines[-1].endswith(" 0 failed")):
            failed = "the SDK's checks failed (exit %d)" % r.returncode
            # The VMs' logs go with the server's end: their tails now.
            for log in glob_logs(tmp):
                with open(log, "rb") as f:
                    vms += "\n-- %s:\n%s" % (log, f.read()[-3000:].decode(errors="replace"))
        if after:
            after()
    finally:
        rc = s.stop()
        # Both at once: a server that then would not stop must not hide why the SDK failed.
        check(failed is None and rc == 0, "%s; the server ends with %s on SIGTERM (0 wanted); "
              "its log:\n%s%s" % (failed or "the SDK's checks passed", rc, s.text[-6000:], vms))
        left = os.listdir(os.path.join(tmp, "run")) if os.path.isdir(
            os.path.join(tmp, "run")) else []
        check(left == [], "the server removes every VM's files at its end: %s" % left)


def case_stop_while_booting(hearth, tmp, a):
    """A template whose guest never answers (tests/guest/count.c: no agent, it counts for
    ever), a create waiting on that template's boot, then SIGTERM: the server ends at once
    with exit 0, the VM killed and its files gone, and the create is answered 503 naming
    the stop. Before, the boot's wait went on to --boot-timeout, and the create's with it."""
    check(a.guest, "--guest is needed")
    need_kvm("a template's guest")
    tdir = os.path.join(tmp, "templates", "slow")
    os.makedirs(tdir)
    shutil.copyfile(a.guest, os.path.join(tdir, "kernel.elf"))
    with open(os.path.join(tdir, "rootfs.img"), "wb") as f:
        f.truncate(1 << 20)
    with open(os.path.join(tdir, "template.json"), "w") as f:
        json.dump({"kernel": "kernel.elf", "rootfs": "rootfs.img"}, f)
    s = Server(hearth, tmp, extra=["--boot-timeout", "3000", "--op-timeout", "3000"])
    got = {}

    def create():
        try:
            got["reply"] = s.request("POST", "/v2/sandboxes", {"templateID": "slow"})
        except OSError as e:
            got["reply"] = (None, str(e))

    th = threading.Thread(target=create, name="create")
    th.start()
    # The template's VM runs: its guest counts on its console (the VM's log in --run-dir).
    counting = False
    for _ in range(600):
        for log in glob_logs(tmp):
            with open(log, "rb") as f:
                counting = counting or b"count " in f.read()
        if counting or s.p.poll() is not None:
            break
        time.sleep(0.1)
    check(counting, "the template's guest counts in its VM (the server: %s)" % s.output()[-2000:])
    rc = s.stop()   # SIGTERM, then 60 s, then SIGKILL
    th.join(60)
    check(rc == 0, "SIGTERM during the template's boot ends the server with 0 (%s): %s" % (
        rc, s.text[-2000:]))
    st, body = got.get("reply", (None, None))
    check(st == 503 and "stopping" in json.dumps(body), "the create waiting on the boot is "
          "answered 503 naming the stop (%s %s)" % (st, body))
    left = os.listdir(os.path.join(tmp, "run")) if os.path.isdir(os.path.join(tmp, "run")) else []
    check(left == [], "the server removes the template VM's files at its end: %s" % left)


def options(ap):
    ap.add_argument("--work", help="the SDK's and the template's directory (sdk)")
    ap.add_argument("--agent", help="the static hearth-agent the template carries (sdk)")
    ap.add_argument("--guest", help="tests/guest's count guest, a template that never "
                    "answers (stop-while-booting, jailed)")


CASES = {
    "bad-key": case_bad_key,
    "unknown-sandbox": case_unknown_sandbox,
    "unknown-template": case_unknown_template,
    "malformed-body": case_malformed_body,
    "sdk": case_sdk,
    "stop-while-booting": case_stop_while_booting,
    "flags": case_flags,
    "jailed": case_jailed,
    "sdk-jailed": case_sdk_jailed,
}

if __name__ == "__main__":
    sys.exit(run_cases(__doc__, CASES, "hearth-sbx-", options=options))
