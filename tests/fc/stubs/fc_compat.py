"""Stand-ins for two things Debian 12 (bookworm) packages too old for
Firecracker's tests/ (main). Loaded with `-p fc_compat` before its conftest.py.

1. pluggy >= 1.2's new-style hook wrappers. Firecracker's conftest.py has
   `@pytest.hookimpl(wrapper=True, tryfirst=True)`; Debian's pytest 7.2.1
   runs on pluggy 1.0.0, whose hookimpl marker knows only `hookwrapper=True`
   (the generator gets a `_Result`, not the value). `wrapper=True` is turned
   into an old-style wrapper that drives the new-style generator: it gets
   the inner result sent in, and what it returns becomes the result.
2. semver >= 3's `semver.Version`: Debian's python3-semver is 2.10.2, where
   the same class is `semver.VersionInfo` (3.0 renamed it and kept the old
   name). test_api.py and framework/utils.py call `semver.Version.parse`.
"""

import functools
import inspect

import pluggy
import semver

if not hasattr(semver, "Version"):
    semver.Version = semver.VersionInfo


def _old_style(func):
    """An old-style hookwrapper that runs the new-style generator `func`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        gen = func(*args, **kwargs)
        next(gen)
        outcome = yield
        try:
            result = outcome.get_result()
        except BaseException as exc:  # pylint: disable=broad-except
            try:
                gen.throw(exc)
            except StopIteration as stop:
                outcome.force_result(stop.value)
            except BaseException:  # pylint: disable=broad-except
                pass  # the inner exception stands
            return
        try:
            gen.send(result)
        except StopIteration as stop:
            outcome.force_result(stop.value)

    # pluggy reads a hook's argument names from its signature
    wrapper.__signature__ = inspect.signature(func)
    return wrapper


_orig_call = pluggy.HookimplMarker.__call__
if "wrapper" not in inspect.signature(_orig_call).parameters:

    def _call(self, function=None, wrapper=False, **kwargs):
        if not wrapper:
            return _orig_call(self, function, **kwargs)
        kwargs["hookwrapper"] = True

        def mark(func):
            return _orig_call(self, _old_style(func), **kwargs)

        return mark if function is None else mark(function)

    pluggy.HookimplMarker.__call__ = _call
