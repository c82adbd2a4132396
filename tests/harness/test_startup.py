"""What each start of a command or a stack leaves out, and how `up` tells when it is ready.

Every `python run.py ...` starts a fresh Python, and the tests start hundreds: what a command
imports without needing it is paid on each start. Each check runs in a fresh interpreter, as a
command does, since this one has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from types import SimpleNamespace
from typing import Any

from workshop import manifest

# Modules a command that only reads the manifest or parses its arguments never needs.
HEAVY = ("boto3", "moto", "psutil", "jsonschema", "workshop.local.lambda_runtime")


def printed_after(code: str) -> Any:
    """The JSON that a fresh interpreter prints last, once it has run `code`."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=manifest.REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout.splitlines()[-1])


def imported_after(code: str, modules: tuple[str, ...] = HEAVY) -> list[str]:
    """Which of `modules` a fresh interpreter has imported once it has run `code`."""
    return printed_after(
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {modules!r} if m in sys.modules]))"
    )


def test_the_cli_starts_without_aws_the_runtime_or_psutil():
    assert imported_after("import workshop.cli; workshop.cli.parser()") == []


def test_listing_the_stages_imports_nothing_heavy():
    assert imported_after("from workshop import cli; cli.main(['stages'])") == []


def test_a_stack_serves_its_api_before_moto_is_loaded():
    # It takes about half a second to load, with Flask: `up` serves its API first, so that a
    # first visit's cold start runs meanwhile (Stack.start; test_persistence holds the serve).
    code = (
        "import contextlib\n"
        "from workshop.local import local_aws, stack\n"
        "class Held(Exception):\n"
        "    pass\n"
        "def serve(aws):\n"
        "    raise Held('where moto would load')\n"
        "local_aws.LocalAWS.serve = serve\n"
        "with contextlib.suppress(Held):  # the start reached it, or this raises\n"
        "    stack.Stack.for_project('02', port=0, fresh=True).start()\n"
    )
    assert imported_after(code, ("moto", "flask")) == []


def test_a_stack_s_start_and_first_calls_parse_each_of_botocore_s_models_once():
    # The harness's clients, its check of each call's parameters and moto's backends share
    # one loader (user_aws.shared_loader): each loader parses a model it is asked for anew.
    code = (
        "import collections, json\n"
        "from botocore import loaders\n"
        "parsed = collections.Counter()\n"
        "load = loaders.JSONFileLoader.load_file\n"
        "def counted(self, path):\n"
        "    found = load(self, path)\n"
        "    if found is not None:\n"
        "        parsed[path.rsplit('/data/', 1)[-1]] += 1\n"
        "    return found\n"
        "loaders.JSONFileLoader.load_file = counted\n"
        "from workshop.local.stack import Stack\n"
        "with Stack.for_project('02', port=0, fresh=True) as stack:\n"
        "    stack.invoke()\n"
        "    stack.logs()\n"
        "print(json.dumps(parsed))\n"
    )
    parsed = printed_after(code)
    models = {"endpoints", "dynamodb/2012-08-10/service-2", "logs/2014-03-28/service-2"}
    assert models <= set(parsed)
    assert {path: times for path, times in parsed.items() if times != 1} == {}


def test_a_template_with_a_sam_policy_template_is_read_without_jsonschema():
    # Stage 02's DynamoDBCrudPolicy is expanded from SAM's own file of policy templates, not
    # through a validation of that whole file (jsonschema alone took over a second to import).
    code = (
        "from workshop import manifest\n"
        "from workshop.local import sam_template\n"
        "stage = manifest.project('02')\n"
        "fn = sam_template.load(stage.path / 'template.yaml', stack_name='s')"
        ".functions['HelloWorldFunction']\n"
        "assert 'dynamodb:UpdateItem' in fn.policies[0]['Statement'][0]['Action']"
    )
    assert "jsonschema" not in imported_after(code)


def test_seconds_since_start_counts_from_the_process_s_own_start():
    code = "from workshop import served; print(served.seconds_since_start())"
    before = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    outer = time.monotonic() - before
    seconds = float(done.stdout)
    # The child started after `before` and measured before it ended; the kernel keeps a
    # process's start in ticks (1/100 s), which may put it up to one tick earlier.
    assert 0 < seconds <= outer + 0.02


def test_seconds_since_start_asks_psutil_where_there_is_no_proc(monkeypatch):
    import psutil

    from workshop import served

    class StartedAMinuteAgo:
        def create_time(self) -> float:
            return 1_000.0

    monkeypatch.setattr(served.sys, "platform", "darwin")
    monkeypatch.setattr(psutil, "Process", StartedAMinuteAgo)
    monkeypatch.setattr(served, "time", SimpleNamespace(time=lambda: 1_060.0))  # a minute on
    assert served.seconds_since_start() == 60.0


def test_the_first_answer_tool_times_up_and_reads_its_cold_start_line():
    """tools/first_answer.py (the README names it) measures a stage, and finds the init that
    `up` prints on its cold-start line: a change to that line would leave it a "-"."""
    done = subprocess.run(
        [sys.executable, "tools/first_answer.py", "01", "--runs", "1"],
        cwd=manifest.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.splitlines()
    assert header.split()[:3] == ["stage", "first", "answer"]
    stage, seconds, cpu, init, runs = row.split()
    assert (stage, runs) == ("01", "1")
    assert float(seconds) > 0 and float(init) >= 0  # numbers, not "-"
    assert cpu == "-" or float(cpu) >= 0
