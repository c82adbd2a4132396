"""ruff, lint and format, over the whole repository (notebooks included), as CI sees it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from workshop.manifest import REPO_ROOT


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=" ".join)
def test_ruff_is_clean(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "."],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    fix = "ruff check --fix ." if command == ["check"] else "ruff format ."
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\nTo mend: python -m {fix}"
