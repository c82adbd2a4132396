"""Fixtures for the harness tests: a probe app that exercises each part of the harness."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from workshop.local.physical_names import generated_name
from workshop.local.stack import Stack

PROBE_APP = Path(__file__).resolve().parent.parent / "fixtures" / "harness_app"
# The probe stack's names, as CloudFormation makes them (with its suffix).
PROBE_FUNCTION = generated_name("probe", "ProbeFunction", 64)
PROBE_TABLE = generated_name("probe", "ItemsTable", 255)


def fetch(url: str, method: str = "GET", headers: dict | None = None, data: bytes | None = None):
    """(status, headers, body) of an HTTP request; error statuses are answers, not exceptions."""
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def fetch_json(url: str, **options):
    status, _, body = fetch(url, **options)
    return status, json.loads(body)


@pytest.fixture
def make_stack():
    """Start stacks of the probe app (or another project); stop them all at the end."""
    stacks: list[Stack] = []

    def make(project: Path = PROBE_APP, **options) -> Stack:
        options.setdefault("port", 0)
        options.setdefault("fresh", True)
        options.setdefault("stack_name", "probe")
        stack = Stack(project, **options).start()
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()


@pytest.fixture
def probe(make_stack) -> Stack:
    return make_stack()
