"""run.py's probe of the venv: kept in the venv, and run again whenever what it rests on changes.

Each `python run.py ...` asks whether the venv works; starting its Python for that on every
command costs more than reading the answer it gave last time. These use a real (bare) venv.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RUN_PY = Path(__file__).resolve().parents[1] / "run.py"


def load_run():
    spec = importlib.util.spec_from_file_location("workshop_run_py_probe", RUN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = load_run()


@pytest.fixture(scope="module")
def made_venv(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("probe") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv


@pytest.fixture
def venv(made_venv, tmp_path) -> Path:
    """A venv of its own for each test (a copy keeps the links of the one made once)."""
    copy = tmp_path / "venv"
    shutil.copytree(made_venv, copy, symlinks=True)
    return copy


@pytest.fixture
def pythons_started(monkeypatch) -> list[list[str]]:
    """Each command run.py starts, recorded (and still run)."""
    started: list[list[str]] = []
    real_run = subprocess.run

    def recording_run(command, *args, **kwargs):
        started.append(list(command))
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(run.subprocess, "run", recording_run)
    return started


def test_the_answer_is_kept_and_given_again_without_starting_python(venv, pythons_started):
    python = run.venv_python(venv)
    first = run.probe_venv(python)
    assert first["version"] == list(sys.version_info[:2])
    assert len(pythons_started) == 1
    assert run.probe_venv(python) == first
    assert len(pythons_started) == 1


def test_a_package_installed_or_removed_means_probing_again(venv, pythons_started):
    python = run.venv_python(venv)
    first = run.probe_venv(python)
    (Path(first["purelib"]) / "something_installed.py").write_text("", encoding="utf-8")
    assert run.probe_venv(python) == first
    assert len(pythons_started) == 2


def test_a_changed_pyvenv_cfg_means_probing_again(venv, pythons_started):
    python = run.venv_python(venv)
    run.probe_venv(python)
    cfg = venv / "pyvenv.cfg"
    cfg.write_text(cfg.read_text(encoding="utf-8") + "# changed\n", encoding="utf-8")
    run.probe_venv(python)
    assert len(pythons_started) == 2


def test_a_base_python_that_is_gone_means_probing_again(venv, pythons_started):
    python = run.venv_python(venv)
    run.probe_venv(python)
    kept = run.json.loads((venv / run.PROBE_FILE).read_text(encoding="utf-8"))
    kept["probe"]["base"] = str(venv / "no-such-python")  # as if it were uninstalled
    (venv / run.PROBE_FILE).write_text(run.json.dumps(kept), encoding="utf-8")
    assert run.probe_venv(python)["base"] != kept["probe"]["base"]
    assert len(pythons_started) == 2


def test_a_venv_without_its_python_is_broken_whatever_was_kept(venv):
    python = run.venv_python(venv)
    run.probe_venv(python)
    os.remove(python)
    assert run.probe_venv(python) is None


def test_an_unreadable_kept_answer_means_probing_again(venv, pythons_started):
    python = run.venv_python(venv)
    first = run.probe_venv(python)
    (venv / run.PROBE_FILE).write_text("{broken", encoding="utf-8")
    assert run.probe_venv(python) == first
    assert len(pythons_started) == 2
