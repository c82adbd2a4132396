"""The conformance suite's fixture: Lambda's own Python runtime, where it can be installed."""

from __future__ import annotations

import pytest


@pytest.fixture
def ric(monkeypatch):
    """awslambdaric's bootstrap (Lambda's Python runtime), set up as in a python3.11 function."""
    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda_python3.11")
    monkeypatch.delenv("AWS_LAMBDA_LOG_FORMAT", raising=False)
    return pytest.importorskip(
        "awslambdaric.bootstrap",
        reason="awslambdaric, Lambda's Python runtime, ships wheels for Linux and macOS only",
    )
