"""Fixtures for the harness tests: a probe app that exercises each part of the harness, and a
state folder of their own for every test, out of the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import PROBE_APP
from workshop.local.stack import Stack


@pytest.fixture
def make_stack(start_stage):
    """Start stacks of the probe app (or another project), named `probe` unless told; stop
    them all at the end."""

    def make(project: Path = PROBE_APP, **options) -> Stack:
        return start_stage(project, **{"stack_name": "probe", **options})

    return make


@pytest.fixture
def probe(make_stack) -> Stack:
    return make_stack()


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch) -> Path:
    """Keep what the commands store out of the repository's .workshop folder."""
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"
