"""Fixtures for the harness tests: a probe app that exercises each part of the harness, a built
SAM project for the build's tests, and a state folder of its own for every test, out of the
repository."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.helpers import HERE_RUNTIME, PROBE_APP
from workshop.local.local_aws import LocalAWS
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


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A SAM project with a built `.aws-sam`, as after one `sam build`."""
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("def lambda_handler(event, context):\n    return {}\n")
    (root / "template.yaml").write_text(
        textwrap.dedent(
            f"""\
            Transform: AWS::Serverless-2016-10-31
            Resources:
              HelloWorldFunction:
                Type: AWS::Serverless::Function
                Properties:
                  CodeUri: src/
                  Handler: app.lambda_handler
                  Runtime: {HERE_RUNTIME}
            """
        )
    )
    built = root / ".aws-sam" / "build" / "HelloWorldFunction"
    built.mkdir(parents=True)
    (built / "app.py").write_text("built\n")
    (root / ".aws-sam" / "cache").mkdir()
    (root / ".aws-sam" / "build.toml").write_text("")
    return root


@pytest.fixture
def bare_aws():
    """The embedded AWS alone, with one table: pk (string) as its key.

    moto keeps one state for the whole process, so the table is deleted again at the end.
    """
    aws = LocalAWS().start()
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(
        TableName="stalled",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield aws
    dynamodb.delete_table(TableName="stalled")
    aws.stop()
