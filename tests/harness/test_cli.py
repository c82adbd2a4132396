"""The `workshop` command as a user meets it: its answers, its mistakes, its clean stop."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.conftest import PROBE_APP, fetch_json
from workshop import manifest

REPO = manifest.REPO_ROOT
NAMED = ("Function:", "Role:", "Table:")  # the names `up` prints, one a line


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch) -> Path:
    """Keep what the commands store out of the repository's .workshop folder."""
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def workshop(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workshop", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_stages_lists_the_manifest():
    out = workshop("stages").stdout.splitlines()
    ids = [line.split()[0] for line in out]
    assert ids == [stage.id for stage in manifest.stages()] + ["final"]


def test_a_wrong_stage_says_which_exist():
    assert_one_line_error(workshop("invoke", "99"), "no stage '99'", "01", "workshop stages")


def test_a_folder_without_a_template_is_refused(tmp_path):
    assert_one_line_error(workshop("up", str(tmp_path)), "no template.yaml")


def test_a_broken_template_is_named(tmp_path):
    (tmp_path / "template.yaml").write_text("Resources:\n  X:\n    Type: AWS::EC2::Instance\n")
    assert_one_line_error(workshop("invoke", str(tmp_path)), "AWS::EC2::Instance")


@pytest.mark.parametrize("port", ["http", "70000"])
def test_a_bad_port_is_explained(port):
    result = workshop("up", "01", "--port", port)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "try 3000" in result.stderr


def test_a_port_in_use_is_one_line_with_what_to_do(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = workshop("up", str(PROBE_APP), "--port", str(port))
    assert_one_line_error(result, f"port {port} is in use", f"--port {port + 1}")


def test_invoke_prints_the_log_lines_and_the_response():
    result = workshop("invoke", str(PROBE_APP), "--event", str(PROBE_APP / "events" / "count.json"))
    assert result.returncode == 0, result.stderr
    assert "START RequestId:" in result.stdout and "REPORT RequestId:" in result.stdout
    assert '"statusCode": 200' in result.stdout


def test_diff_shows_the_lesson_between_two_stages():
    out = workshop("diff", "02", "03").stdout
    assert "+            visit_count = int(visit_count)" in out
    assert [line for line in out.splitlines() if line.startswith(("+++", "---"))] == [
        "--- 02/src/app.py",
        "+++ 03/src/app.py",
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_up(*args: str) -> tuple[subprocess.Popen, list[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "workshop", "up", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            return process, lines
    raise AssertionError("workshop up did not start:\n" + "".join(lines))


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.CTRL_C_EVENT if os.name == "nt" else signal.SIGINT)
    rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0, rest
    return rest


def _names(lines: list[str]) -> list[tuple[str, str, str]]:
    """(kind, name, (logical id)) of each resource name that `up` printed."""
    printed = [line.split() for line in lines]
    return [tuple(words) for words in printed if words and words[0] in NAMED]


def test_up_serves_prints_its_endpoints_stops_cleanly_and_remembers(tmp_path):
    port = _free_port()
    process, lines = _start_up(str(PROBE_APP), "--port", str(port), "--fresh")
    try:
        banner = "".join(lines)
        assert f"http://127.0.0.1:{port}/counter" in banner
        names = _names(lines)  # as CloudFormation makes them: what to look for on AWS
        assert [(kind, logical_id) for kind, _, logical_id in names] == [
            ("Function:", "(ProbeFunction)"),
            ("Role:", "(ProbeFunctionRole)"),
            ("Table:", "(ItemsTable)"),
        ]
        for _, name, logical_id in names:
            assert re.fullmatch(rf"harness-app-{logical_id[1:-1]}-[A-Za-z0-9]{{12}}", name), name
        endpoint = next(x.split()[2] for x in lines if x.strip().startswith("Local AWS:"))
        assert endpoint.startswith("http://127.0.0.1:")
        assert fetch_json(f"http://127.0.0.1:{port}/behave/add")[1] == {"hits": 1}
        logs = workshop("logs", str(PROBE_APP), "--filter", "START")
        assert logs.stdout.count("START RequestId:") == 1, logs
    finally:
        rest = _stop(process)
    assert "Stopped." in rest and "Traceback" not in rest

    process, again = _start_up(str(PROBE_APP), "--port", str(port))
    try:
        assert _names(again) == names  # a stack keeps its names from one start to the next
        assert fetch_json(f"http://127.0.0.1:{port}/behave/add")[1] == {"hits": 2}
    finally:
        _stop(process)
    saved = workshop("logs", str(PROBE_APP), "--filter", "START")
    assert "is not running" in saved.stdout and saved.stdout.count("START RequestId:") == 2
