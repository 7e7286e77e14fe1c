"""Stand-in for pytest-json-report (not packaged by Debian).

Firecracker's pytest.ini always adds `--json-report
--json-report-file=../test_results/test-report.json`, and its conftest.py
reads `--json-report-file` to place each test's results directory. Without
the plugin pytest refuses the command line. This registers both options and
writes a small report in the plugin's shape (summary and per-test outcome),
which is all that tests/fc/run.sh reads back.
"""

import json
import time
from pathlib import Path


def pytest_addoption(parser):
    """The two options Firecracker's pytest.ini passes."""
    group = parser.getgroup("jsonreport", "stand-in for pytest-json-report")
    group.addoption("--json-report", action="store_true", default=False)
    group.addoption("--json-report-file", action="store", default=".report.json")


class _Report:
    def __init__(self, path):
        self.path = Path(path)
        self.start = time.time()
        self.tests = {}
        self.collected = 0

    def pytest_collection_modifyitems(self, items):
        """Count what was collected (after deselection)."""
        self.collected = len(items)

    def pytest_runtest_logreport(self, report):
        """Keep each phase's outcome and, on failure, its message."""
        entry = self.tests.setdefault(
            report.nodeid, {"nodeid": report.nodeid, "outcome": "passed"}
        )
        phase = {"outcome": report.outcome, "duration": report.duration}
        if report.failed or report.skipped:
            phase["longrepr"] = str(report.longrepr)
        entry[report.when] = phase
        if report.failed:
            entry["outcome"] = "failed" if report.when == "call" else "error"
        elif report.skipped and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"

    def pytest_sessionfinish(self, session):
        """Write the report."""
        summary = {"collected": self.collected, "total": len(self.tests)}
        for test in self.tests.values():
            summary[test["outcome"]] = summary.get(test["outcome"], 0) + 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(
            json.dumps(
                {
                    "created": time.time(),
                    "duration": time.time() - self.start,
                    "exitcode": int(session.exitstatus),
                    "root": str(session.config.rootpath),
                    "summary": summary,
                    "tests": list(self.tests.values()),
                },
                indent=1,
            ),
            encoding="utf-8",
        )


def pytest_configure(config):
    """Register the report when --json-report is given."""
    if config.getoption("--json-report") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(
            _Report(config.getoption("--json-report-file")), "fc_jsonreport_writer"
        )
