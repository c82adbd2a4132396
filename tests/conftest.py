"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest

from workshop.local.stack import Stack


@pytest.fixture
def start_stage():
    """Start a stage (`"02"`) or `"final"` on a free port, from nothing; stop it after the test.

    moto keeps one state per process for every stack, so each stack starts `fresh` (its own
    tables and log groups deleted first) and saves nothing (`state_dir=None`): no test sees
    what another left behind, and nothing is written in the repository.
    """
    started: list[Stack] = []

    def start(name: str, **options) -> Stack:
        options = {"port": 0, "fresh": True, "state_dir": None, **options}
        stack = Stack.for_project(name, **options).start()
        started.append(stack)
        return stack

    yield start
    for stack in reversed(started):
        stack.stop()
