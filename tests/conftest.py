"""Fixtures shared by the whole suite, and the order the workers get the tests in (plain helpers
are in tests/helpers.py)."""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workshop.local.stack import Stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `slow` first, in their order, then the rest in theirs: handed out first, the
    long ones are spread over the workers, and the short ones fill in at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def start_stage():
    """Start a stage (`"02"`), `"final"` or a project folder on a free port, from nothing; stop
    it after the test. A `stack_name` among the options names the stack as given, instead of
    as the manifest would.

    moto keeps one state per process for every stack, so each stack starts `fresh` (its own
    tables and log groups deleted first) and saves nothing (`state_dir=None`): no test sees
    what another left behind, and nothing is written in the repository.
    """
    started: list[Stack] = []

    def start(name: str | Path, **options) -> Stack:
        options = {"port": 0, "fresh": True, "state_dir": None, **options}
        if "stack_name" in options:
            stack = Stack(Path(name), **options).start()
        else:
            stack = Stack.for_project(str(name), **options).start()
        started.append(stack)
        return stack

    yield start
    for stack in reversed(started):
        stack.stop()


@pytest.fixture(scope="session")
def once_per_session(request, tmp_path_factory) -> Callable[[str, Callable[[], Any]], Any]:
    """`once_per_session(name, compute)`: compute() in whichever xdist worker asks first, and
    its (pickled) result for every worker that asks after it, as pytest-xdist's guide does it.

    Not an `xdist_group`: with pytest 9.2, pytest-xdist 3.8's `--dist loadgroup` groups
    nothing (pytest-dev/pytest-xdist#1386), so a module fixture runs once per worker. The
    first worker claims the name by creating a file (atomic on every system); the others wait
    for the result file, which the first writes whether compute() returned or raised.
    """
    # Each worker's basetemp is a folder of the session's own: its parent is shared. Asked of
    # the config, not of PYTEST_XDIST_WORKER, which a pytest started by a test inherits.
    worker = hasattr(request.config, "workerinput")
    root = tmp_path_factory.getbasetemp().parent if worker else tmp_path_factory.getbasetemp()

    def once(name: str, compute: Callable[[], Any], timeout: float = 1200) -> Any:
        result = root / f"once-{name}.pickle"
        try:
            os.close(os.open(root / f"once-{name}.claimed", os.O_CREAT | os.O_EXCL))
            first = True
        except FileExistsError:
            first = False
        if not first:
            deadline = time.monotonic() + timeout
            while not result.exists():
                if time.monotonic() > deadline:
                    pytest.fail(f"the worker computing {name!r} wrote no result in {timeout} s")
                time.sleep(0.2)
            ok, value = pickle.loads(result.read_bytes())
            if not ok:
                pytest.fail(f"computing {name!r} failed in another worker:\n{value}")
            return value
        try:
            outcome = (True, compute())
        except BaseException as error:
            outcome = (False, f"{type(error).__name__}: {error}")
            raise
        finally:
            try:
                data = pickle.dumps(outcome)
            except Exception as error:  # or the others would wait for it in vain
                data = pickle.dumps((False, f"its result cannot be pickled: {error!r}"))
            partial = result.with_suffix(".partial")
            partial.write_bytes(data)
            partial.replace(result)  # whole, or not there at all
        return outcome[1]

    return once
