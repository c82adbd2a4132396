"""Every command a README tells a user to type is run here, so the docs cannot rot.

A README's commands are the lines of its ```console blocks, run in order, from the repository
root, each as typed (`python run.py ...`, with this test's Python as `python`). A command whose
line ends in a `# fails ...` comment must fail; every other one must succeed. `up` serves
until stopped, so it is started, asked for its URL once, and stopped with Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from workshop import manifest

REPO = manifest.REPO_ROOT
READMES = [
    REPO / "README.md",
    REPO / "notebooks" / "README.md",
    *(stage.path / "README.md" for stage in manifest.stages()),
]
# `test` is the command running this test; `notebook` opens JupyterLab for a person.
NOT_RUN_HERE = {"test", "notebook"}
TABLE = re.compile(r"<!-- stages:start[^>]*-->\n(.*?)<!-- stages:end -->", re.DOTALL)


def console_commands(readme: Path) -> list[tuple[list[str], bool]]:
    """(arguments after `python run.py`, whether it must fail) for each command, in order."""
    commands = []
    blocks = re.findall(r"```console\n(.*?)```", readme.read_text(encoding="utf-8"), re.DOTALL)
    for block in blocks:
        for line in block.splitlines():
            command, _, comment = line.partition("#")
            if not command.strip():
                continue
            words = shlex.split(command)
            assert words[:2] == ["python", "run.py"], f"{readme}: {line!r} is not `python run.py`"
            commands.append((words[2:], comment.strip().startswith("fails")))
    return commands


def test_the_readme_stage_table_is_the_manifests():
    found = TABLE.search((REPO / "README.md").read_text(encoding="utf-8"))
    assert found, "README.md lost its <!-- stages:start --> ... <!-- stages:end --> markers"
    assert found.group(1) == manifest.markdown_table(), "run: python run.py stages --markdown"


def _serve_once(command: list[str], env: dict[str, str]) -> None:
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            if line.strip().startswith("API:"):
                url = line.split()[1]
                # An error status is an answer too: stage 02 answers 500 on purpose.
                with contextlib.suppress(urllib.error.HTTPError):
                    urllib.request.urlopen(url, timeout=30).close()
            if line.startswith("Press Ctrl-C"):
                break
        else:
            raise AssertionError("`up` stopped before serving:\n" + "".join(seen))
    finally:
        process.send_signal(signal.CTRL_C_EVENT if os.name == "nt" else signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, "".join(seen) + rest


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_command_in_the_readme_runs(readme, tmp_path):
    commands = console_commands(readme)
    env = {
        **os.environ,
        "WORKSHOP_STATE_DIR": str(tmp_path / "state"),
        "WORKSHOP_PLAYGROUND": str(tmp_path / "playground"),  # `try 02` never touches playground/
    }
    ran = 0
    for args, must_fail in commands:
        if args and args[0] in NOT_RUN_HERE:
            continue
        command = [sys.executable, "run.py", *args]
        if args and args[0] == "up":
            _serve_once(command, env)
        else:
            result = subprocess.run(
                command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300
            )
            outcome = f"{shlex.join(args)}\n{result.stdout}\n{result.stderr}"
            assert (result.returncode != 0) == must_fail, outcome
            assert "Traceback" not in result.stdout + result.stderr, outcome
        ran += 1
    if readme == REPO / "README.md":
        assert ran >= 1
