"""Fixtures shared by the whole suite (plain helpers are in tests/helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from workshop.local.stack import Stack


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
