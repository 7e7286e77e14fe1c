"""pytest plugin for tests/fc/run.sh: Firecracker's tests/ against Hearth.

Loaded with `-p hearth_fc`; it changes no test. It
- sets aside, before the run, the cases that need a guest (those that use
  Firecracker's `guest_kernel` fixture: every VM it boots, builds or restores
  comes from a guest kernel artifact) and the cases that check Firecracker's
  own Rust sources (integration_tests/build/, style/, test_kani.py: clippy,
  cargo, kani, gitlint, licences), unless --hearth-fc-keep-all is given;
- counts the checks: each `assert` Firecracker's test files and conftests
  evaluate (pytest's assertion-pass hook; a case that fails on an assert
  adds one failed check), and each request and response that Firecracker's
  swagger validator (framework/swagger_validator.py) validates;
- writes a summary (text and JSON) that run.sh prints last, and each failure
  with its message.
"""

import json
import re
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

PLACEHOLDER = b"hearth-fc placeholder"

# Failures whose cause is this machine, not the VMM: what is missing here.
# Matched against the failure's message; such a case is counted apart.
MACHINE_CAUSES = (
    # (case id pattern, failure message pattern, what this machine lacks)
    (r"", r"No such file or directory: 'crosvm'",
     "crosvm (Firecracker's vhost-user block backend; not packaged by Debian 12)"),
    (r"", r"cargo_target/|toolchain '[^']*' is not installed|cargo +build",
     "a Firecracker build product or its Rust toolchain (seccompiler-bin, "
     "cpu-template-helper, clippy-tracing, its examples, cargo builds)"),
    (r"", r"musl-gcc.*\n?(.*\n)*.*linux/types\.h: No such file",
     "musl-gcc with the Linux UAPI headers for musl (Firecracker's dev container "
     "has them; Debian 12's musl-tools does not)"),
    (r"", r"Name or service not known|Max retries exceeded with url",
     "the internet (a download from GitHub)"),
    # test_api_machine_config sets RLIMIT_AS on the jailed process after its
    # API checks (mem_size_mib 2^64 among them) to see InstanceStart fail.
    (r"test_jail\.py::test_(args_default_resource_limits|args_resource_limits|"
     r"new_pid_ns_resource_limits)\[|test_api\.py::test_api_machine_config\[",
     r"PermissionError: \[Errno 1\] Operation not permitted",
     "CAP_SYS_RESOURCE: this machine's root lacks it, so prlimit() on the jailed "
     "process (another uid) fails where the framework reads or sets its limits"),
    (r"test_vulnerabilities\.py::test_vulnerabilities_on_host$",
     r"/sys/devices/system/cpu/vulnerabilities/",
     "the host kernel's own CPU mitigations (a check of the host, not the VMM)"),
)

SOURCE_CHECKS = (
    "integration_tests/build/",
    "integration_tests/style/",
    "integration_tests/test_kani.py",
)


def pytest_addoption(parser):
    """Options of this plugin."""
    group = parser.getgroup("hearth_fc", "Hearth's run of Firecracker's tests")
    group.addoption("--hearth-fc-out", action="store", default=None,
                    help="directory for summary.txt, summary.json, failures.json")
    group.addoption("--hearth-fc-keep-all", action="store_true", default=False,
                    help="run the guest and source-check cases too")
    group.addoption("--hearth-fc-placeholders", action="store", default=None,
                    help="a directory of placeholder guest artifacts (run.sh's): "
                    "cases that use them run up to the guest step")


class GuestStep(pytest.skip.Exception):
    """A case got to the step that needs a real guest."""


def _needs_guest(item):
    return "guest_kernel" in getattr(item, "fixturenames", ())


def _no_kernel(item):
    """Parametrized with a kernel family that has no (placeholder) artifact."""
    callspec = getattr(item, "callspec", None)
    return (_needs_guest(item) and callspec is not None
            and "guest_kernel" in callspec.params
            and callspec.params["guest_kernel"] is None)


def _source_check(item):
    return any(item.nodeid.startswith(p) for p in SOURCE_CHECKS)


def _message(report):
    """The assertion or error message of a failed or skipped phase."""
    rep = report.longrepr
    if rep is None:
        return ""
    if isinstance(rep, tuple):  # a skip: (file, line, reason)
        return str(rep[2])
    text = str(rep)
    lines = [l[4:] if l.startswith("E   ") else l for l in text.splitlines()
             if l.startswith("E ")]
    return "\n".join(lines).strip() or text.strip().splitlines()[-1]


class HearthFc:
    """The counts."""

    def __init__(self, config):
        self.config = config
        self.out = config.getoption("--hearth-fc-out")
        self.keep_all = config.getoption("--hearth-fc-keep-all")
        ph = config.getoption("--hearth-fc-placeholders")
        self.placeholders = sorted(p.name for p in Path(ph).iterdir()) if ph else []
        self.kernels = [n for n in self.placeholders if n.startswith("vmlinux")]
        self.guest_step = {}
        self.collect_errors = {}
        self.machine_cause = {}
        self.collected = 0
        self.set_aside = Counter()
        self.set_aside_files = defaultdict(Counter)
        self.outcome = {}
        self.messages = {}
        self.phase = {}
        self.checks_passed = 0
        self.checks_failed = 0
        self.swagger = Counter()
        self.swagger_failed = []

    # -- collection --------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        """Set aside the cases that need a guest or Firecracker's sources."""
        self.collected = len(items)
        if self.keep_all:
            return
        keep, drop = [], []
        for item in items:
            why = ("guest" if _needs_guest(item) and not self.placeholders
                   else "guest" if _no_kernel(item)
                   else "source" if _source_check(item) else None)
            if why:
                self.set_aside[why] += 1
                self.set_aside_files[why][item.nodeid.split("::")[0]] += 1
                drop.append(item)
            else:
                keep.append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    def pytest_collection_finish(self, session):
        """Count the swagger validations (after conftest imported framework/)."""
        # pylint: disable=import-outside-toplevel
        try:
            from framework.swagger_validator import SwaggerValidator
        except ImportError:
            return
        plugin = self

        def wrap(name, kind):
            orig = getattr(SwaggerValidator, name)

            def counted(self, method, path, *args):
                try:
                    res = orig(self, method, path, *args)
                except Exception as exc:
                    plugin.swagger[kind + "_failed"] += 1
                    plugin.swagger_failed.append(
                        f"{kind} {method} {path}: {str(exc).splitlines()[0][:300]}")
                    raise
                plugin.swagger[kind + "_passed"] += 1
                return res

            setattr(SwaggerValidator, name, counted)

        wrap("validate_request", "request")
        wrap("validate_response", "response")
        if self.placeholders:
            self.intercept_guest_step()

    def intercept_guest_step(self):
        """Stop a case where it would need a guest to go on.

        With placeholder artifacts, every API step before InstanceStart runs
        as with Firecracker's. InstanceStart either is refused for a reason
        of its own (the case goes on: negative tests), or is refused because
        the kernel is a placeholder, or starts a VM that has no guest to run:
        in both last cases the case stops there, as "needs a guest".
        """
        # pylint: disable=import-outside-toplevel
        from framework import http_api, microvm

        plugin = self
        orig_request = http_api.Resource.request

        def request(self, method, path, **kwargs):
            if not (method.upper() == "PUT" and path == "/actions"
                    and kwargs.get("action_type") == "InstanceStart"):
                return orig_request(self, method, path, **kwargs)
            kernel = plugin.configured_placeholder(self._api)
            try:
                res = orig_request(self, method, path, **kwargs)
            except RuntimeError as exc:
                if kernel and ("kernel" in str(exc).lower() or kernel in str(exc)):
                    plugin.stop_at_guest("InstanceStart refused the placeholder kernel")
                raise
            plugin.stop_at_guest("InstanceStart accepted: the guest would run")
            return res

        http_api.Resource.request = request

        orig_spawn = microvm.Microvm.spawn

        def spawn(self, *args, **kwargs):
            """--config-file with a placeholder kernel: Hearth refuses it at start."""
            try:
                return orig_spawn(self, *args, **kwargs)
            finally:
                cfg = self.jailer.extra_args.get("config-file")
                if cfg and plugin.config_boots_placeholder(self, cfg):
                    plugin.stop_at_guest("--config-file boots the placeholder kernel")

        microvm.Microvm.spawn = spawn

        for name in ("wait_for_ssh_up", "ssh_iface"):
            def guest_only(self, *args, _name=name, **kwargs):
                plugin.stop_at_guest(f"Microvm.{_name}")

            setattr(microvm.Microvm, name, guest_only)

    @staticmethod
    def is_placeholder(path):
        """Whether the file is one of run.sh's placeholder artifacts."""
        try:
            with open(path, "rb") as f:
                return f.read(len(PLACEHOLDER)) == PLACEHOLDER
        except OSError:
            return False

    def configured_placeholder(self, api):
        """The boot source's kernel, if the VM was given a placeholder one."""
        root = next((p for p in Path(api.socket).parents if p.name == "root"), None)
        try:
            res = api.session.get(api.endpoint + "/vm/config")
            kernel = res.json()["boot-source"]["kernel_image_path"]
        except Exception:  # pylint: disable=broad-except
            return None
        if root and kernel and self.is_placeholder(root / kernel.lstrip("/")):
            return Path(kernel).name
        return None

    def config_boots_placeholder(self, vm, cfg):
        """Whether the config file boots a placeholder kernel and the log says so."""
        try:
            conf = json.loads((Path(vm.chroot()) / cfg).read_text(encoding="utf-8"))
            path = conf["boot-source"]["kernel_image_path"]
            kernel = Path(path).name
        except (OSError, ValueError, KeyError, TypeError):
            return False
        if not self.is_placeholder(Path(vm.chroot()) / path.lstrip("/")):
            return False
        for _ in range(20):  # the VMM may still be starting the VM
            try:
                log = vm.log_data or ""
            except Exception:  # pylint: disable=broad-except
                log = ""
            if any(kernel in line and "request on" not in line
                   for line in log.splitlines()):
                return True
            time.sleep(0.1)
        return False

    def stop_at_guest(self, why):
        """Stop the running case: it needs a guest from here on."""
        raise GuestStep(f"hearth-fc guest step: {why}", allow_module_level=True)

    def pytest_collectreport(self, report):
        """A file that cannot be collected."""
        if report.failed:
            self.collect_errors[report.nodeid] = _message(report).splitlines()[-1][:200]

    # -- running -----------------------------------------------------------
    def pytest_assertion_pass(self, item, lineno, orig, expl):
        """One check passed."""
        self.checks_passed += 1

    def pytest_runtest_logreport(self, report):
        """The outcome of each case: its first failed phase, else skipped, else passed."""
        nodeid = report.nodeid
        prev = self.outcome.get(nodeid)
        if report.failed:
            if prev in (None, "passed", "skipped"):
                self.outcome[nodeid] = "failed" if report.when == "call" else "error"
                self.phase[nodeid] = report.when
                self.messages[nodeid] = _message(report)
                for id_re, msg_re, what in MACHINE_CAUSES:
                    if re.search(id_re, nodeid) and re.search(msg_re, self.messages[nodeid]):
                        self.outcome[nodeid] = "machine"
                        self.machine_cause[nodeid] = what
                        break
                text = str(report.longrepr)
                if report.when == "call" and (
                        "AssertionError" in text or "\nE   assert " in text):
                    self.checks_failed += 1
        elif report.skipped:
            if prev in (None, "passed"):
                msg = _message(report)
                guest = "hearth-fc guest step:" in msg
                self.outcome[nodeid] = "guest" if guest else "skipped"
                self.messages[nodeid] = msg
        elif prev is None:
            self.outcome[nodeid] = "passed"

    # -- the summary -------------------------------------------------------
    def summary(self, session):
        """The counts as a dict."""
        counts = Counter(self.outcome.values())
        ran = counts["passed"] + counts["failed"] + counts["error"]
        skip_reasons = Counter(self.messages[n] for n, o in self.outcome.items()
                               if o in ("skipped", "guest"))
        return {
            "collected": self.collected,
            "set_aside_guest": self.set_aside["guest"],
            "set_aside_source": self.set_aside["source"],
            "selected": len(self.outcome),
            "ran_to_verdict": ran,
            "passed": counts["passed"],
            "failed": counts["failed"],
            "errors": counts["error"],
            "skipped": counts["skipped"],
            "guest_step": counts["guest"],
            "machine": counts["machine"],
            "machine_causes": dict(Counter(self.machine_cause.values())),
            "placeholders": self.placeholders,
            "pass_rate": round(100.0 * counts["passed"] / ran, 1) if ran else None,
            "checks_passed": self.checks_passed,
            "checks_failed": self.checks_failed,
            "swagger": dict(self.swagger),
            "skip_reasons": dict(skip_reasons),
            "collect_errors": self.collect_errors,
            "exitstatus": int(session.exitstatus),
            "leftover_processes_killed": getattr(self, "leftovers", 0),
        }

    def kill_leftovers(self):
        """End the VMM processes this run left behind.

        conftest.py makes pytest a child subreaper, so every jailed process
        this run started and did not end is still its descendant. A case
        stopped at the guest step skips its own cleanup; a teardown that
        then fails (e.g. test_snapshot_not_losing_dirty_pages.py unmounting
        the tmpfs under its VM's log) leaves its VMM running.
        """
        # pylint: disable=import-outside-toplevel
        import psutil

        left = psutil.Process().children(recursive=True)
        for proc in left:
            try:
                proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(left, timeout=5)
        return len(left)

    def pytest_sessionfinish(self, session):
        """Write summary.txt, summary.json, failures.json."""
        if hasattr(self.config, "workerinput"):
            return
        self.leftovers = self.kill_leftovers()
        if not self.out:
            return
        out = Path(self.out)
        out.mkdir(parents=True, exist_ok=True)
        s = self.summary(session)
        (out / "summary.json").write_text(json.dumps(s, indent=1))
        failures = [
            {"nodeid": n, "outcome": o, "phase": self.phase.get(n),
             "message": self.messages.get(n, "")}
            for n, o in sorted(self.outcome.items()) if o in ("failed", "error", "machine")
        ]
        (out / "failures.json").write_text(json.dumps(failures, indent=1))
        (out / "swagger_failures.txt").write_text("\n".join(self.swagger_failed) + "\n")
        per_file = defaultdict(Counter)
        for n, o in self.outcome.items():
            per_file[n.split("::")[0]][o] += 1
        sw = s["swagger"]
        lines = [
            "Firecracker's tests/ against Hearth (tests/fc/run.sh)",
            f"cases collected:             {s['collected']}",
            *[f"  file not collected: {f}: {m}" for f, m in s["collect_errors"].items()],
            f"  set aside, need a guest (no artifact for their kernel): {s['set_aside_guest']}",
            f"  set aside, check Firecracker's own sources (build/, style/, kani): "
            f"{s['set_aside_source']}",
            f"cases run:                   {s['selected']}"
            + (f" (with placeholder artifacts: {', '.join(s['placeholders'])})"
               if s["placeholders"] else ""),
            f"  stopped at the guest step: {s['guest_step']}"
            " (every check before it passed; they need a guest)",
            f"  could not run on this machine: {s['machine']}"
            " (failed for want of something this machine lacks; below)",
            f"  ran to a verdict:          {s['ran_to_verdict']}"
            f" (passed + failed + errors)",
            f"  passed:                    {s['passed']}"
            + (f" ({s['pass_rate']}% of those that ran to a verdict)"
               if s["pass_rate"] is not None else ""),
            f"  failed:                    {s['failed']}",
            f"  errors (setup/teardown):   {s['errors']}",
            f"  skipped:                   {s['skipped']}",
            f"checks (asserts in Firecracker's test files): "
            f"{s['checks_passed']} passed, {s['checks_failed']} failed",
            f"swagger validations: requests {sw.get('request_passed', 0)}/"
            f"{sw.get('request_passed', 0) + sw.get('request_failed', 0)}, "
            f"responses {sw.get('response_passed', 0)}/"
            f"{sw.get('response_passed', 0) + sw.get('response_failed', 0)}",
            f"VMM processes left running by the cases, ended at the end: "
            f"{s['leftover_processes_killed']}",
            "per file (passed/failed/errors/skipped):",
        ]
        for f in sorted(per_file):
            c = per_file[f]
            lines.append(f"  {f}: {c['passed']}/{c['failed']}/{c['error']}/{c['skipped']}"
                         f" (+{c['guest']} at the guest step, +{c['machine']} not runnable here)")
        if s["machine_causes"]:
            lines.append("could not run on this machine, for want of:")
            for r, k in sorted(s["machine_causes"].items(), key=lambda x: -x[1]):
                lines.append(f"  {k} x {r}")
        if s["skip_reasons"]:
            lines.append("skip reasons:")
            for r, k in sorted(s["skip_reasons"].items(), key=lambda x: -x[1]):
                reason = re.sub(r"\s+", " ", r)[:160]
                lines.append(f"  {k} x {reason}")
        lines.append(f"{s['passed']} passed, {s['failed'] + s['errors']} failed, "
                     f"{s['skipped']} skipped")
        (out / "summary.txt").write_text("\n".join(lines) + "\n")


def pytest_configure(config):
    """Register the plugin's state."""
    config.pluginmanager.register(HearthFc(config), "hearth_fc_state")
