"""`--help` before the venv is set up: run.py answers it rather than install first. `test --help`
says what `test` does rather than install what only the tests use (about 700 MB) for pytest's
help; the workshop's own commands are answered by the Python that runs run.py."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUN_PY = Path(__file__).resolve().parents[1] / "run.py"


@pytest.mark.parametrize("asked", [["--help"], ["-h"], ["tests/learn", "--help"]])
def test_test_help_says_what_test_does_without_installing_the_tests_packages(tmp_path, asked):
    """Run as typed, with a venv not made yet: none is made, and pytest's help comes later."""
    venv = tmp_path / "venv"
    done = subprocess.run(
        [sys.executable, str(RUN_PY), "test", *asked],
        env={**os.environ, "WORKSHOP_VENV": str(venv)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == "", done
    assert done.stdout.startswith("`python run.py test [ARGS...]` runs the tests with pytest")
    assert "the rest into the venvs of two tools they run, checkov and the AWS CLI); then " in (
        done.stdout
    )
    assert "then `python run.py test --help` shows pytest's own" in done.stdout
    assert not venv.exists()


def test_test_help_is_pytest_s_once_the_tests_packages_are_installed(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("workshop_run_py_help", RUN_PY)
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    ran = []
    venv = tmp_path / "v"
    monkeypatch.setenv("WORKSHOP_VENV", str(venv))
    monkeypatch.setattr(run, "ensure_venv", lambda wanted: Path("/v/bin/python"))
    monkeypatch.setattr(run, "ensure_tool", lambda *args: None)
    monkeypatch.setattr(run, "run_child", lambda command, cwd: ran.append(command) or 0)
    venv.mkdir()
    run.write_stamp(venv, run.make_stamp("digest", venv, run.REPO, run.EVERYTHING))
    assert run.main(["test", "--help"]) == 0
    assert ran[0][1:3] == ["-m", "pytest"] and ran[0][-1] == "--help"


def test_notebook_help_says_first_what_notebook_does(monkeypatch, capsys):
    """JupyterLab's help follows, but its first line is the workshop's command, as typed."""
    spec = importlib.util.spec_from_file_location("workshop_run_py_nb_help", RUN_PY)
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    ran = []
    monkeypatch.setattr(run, "ensure_venv", lambda wanted: Path("/v/bin/python"))
    monkeypatch.setattr(run, "run_child", lambda command, cwd: ran.append(command) or 0)
    assert run.main(["notebook", "--help"]) == 0
    assert capsys.readouterr().out.startswith("`python run.py notebook [STAGE] [ARGS...]` starts ")
    assert ran[0][1:4] == ["-m", "jupyter", "lab"] and ran[0][-1] == "--help"


@pytest.mark.parametrize("asked", [["--help"], ["-h"], ["up", "--help"], ["race", "08", "-h"]])
def test_a_command_s_help_before_the_venv_is_made_installs_nothing(tmp_path, asked):
    """A new user's first `python run.py --help` on a fresh clone: the help at once, by a
    Python with no packages (run.py runs it with -S: no site-packages), and no venv made."""
    venv = tmp_path / "venv"
    done = subprocess.run(
        [sys.executable, str(RUN_PY), *asked],
        env={**os.environ, "WORKSHOP_VENV": str(venv)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.startswith("usage: python run.py "), done
    assert done.stderr == (
        "(Nothing is installed yet: the first command other than --help makes the venv and "
        "installs what the workshop uses, a minute or two.)\n"
    )
    assert not venv.exists()
