"""A pytest plugin for tests/fc/fc_lab.py: writes the node ids of the collected
cases that need a guest (they use the guest_kernel fixture, as hearth_fc.py
decides) and that Firecracker's pytest.ini marker filter keeps, to
--fc-guestlist=FILE, one per line, and runs nothing."""
import pytest


def pytest_addoption(parser):
    parser.addoption("--fc-guestlist", default=None,
                     help="write the guest cases' node ids here and run nothing")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """After Firecracker's marker filter (-m 'not nonci ...') deselected its own."""
    path = config.getoption("--fc-guestlist")
    if not path:
        return
    with open(path, "w", encoding="utf-8") as f:
        for item in items:
            if "guest_kernel" in getattr(item, "fixturenames", ()):
                f.write(item.nodeid + "\n")
    config.hook.pytest_deselected(items=list(items))
    items[:] = []
