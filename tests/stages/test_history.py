"""Each stage of the story breaks the way the story says, and the stage that fixes it does not.

The exact answers and log lines that `stages/stages.toml` quotes in a symptom are checked
against what the running stage really printed, so the manifest cannot drift from the code.
Where an exercise's story check (workshop/learn/checks/, named in the manifest) covers the same
ground, it is the check that drives the stage here, and the sentences it answers are the ones
a learner reads from `workshop check`.
"""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
from collections import defaultdict

import pytest

from tests.helpers import invoke_at_once, project_files
from workshop import learn, manifest
from workshop.learn import checks
from workshop.learn.checks.story import DECIMAL_ERROR, FIRST_VISIT, GENERIC_500, SESSION, greeting
from workshop.visitor import get

INT_FIX = "visit_count = int(visit_count)"
# The story check of the exercise that starts from stage 02 and ends with stage 03.
COUNTS_EVERY_VISIT = checks.get(learn.exercise("02").check)


def visit(url: str) -> tuple[int, str]:
    """(status, body) of one GET, as a browser's refresh would do it; a 500 is an answer too."""
    answer = get(url)
    return answer.status, answer.body


def stored_count(stack) -> int:
    return int(stack.table().get_item(Key={"session_id": SESSION})["Item"]["visit_count"])


def error_lines(stack) -> list[str]:
    return [event.message for event in stack.logs() if "Error" in event.message]


def log_streams(stack) -> set[str]:
    """One CloudWatch Logs stream per execution environment that ever ran."""
    return {event.stream for event in stack.logs()}


# 01: memory that does not last, and 03, where the count lives in the table.


@pytest.mark.parametrize(
    ("stage", "after_cold_start"),
    [
        pytest.param("01", [1, 2], id="01-forgets"),
        pytest.param("03", [4, 5], id="03-remembers"),
    ],
)
def test_a_cold_start_forgets_the_count_only_in_memory(start_stage, stage, after_cold_start):
    stack = start_stage(stage)
    warm = [json.loads(visit(stack.url())[1])["visit_count"] for _ in range(3)]
    assert warm == [1, 2, 3]

    assert stack.expire_environments() == 1  # as after the idle timeout: the next one is cold
    cold = [json.loads(visit(stack.url())[1])["visit_count"] for _ in range(2)]
    assert cold == after_cold_start
    assert len(log_streams(stack)) == 2  # two environments served, one after the other


def test_01_environments_running_at_once_count_separately(start_stage):
    stack = start_stage("01")
    first = [stack.invoke() for _ in range(3)]
    warm_env = first[0].log_stream
    assert [inv.cold_start for inv in first] == [True, False, False]
    assert {inv.log_stream for inv in first} == {warm_env}

    # A burst of simultaneous requests: one takes the warm environment, and every request that
    # finds it busy gets a new one, as Lambda does.
    burst = 6
    invocations = invoke_at_once(stack, [None] * burst)

    counts: dict[str, list[int]] = defaultdict(list)
    for inv in invocations:
        assert inv.error is None, inv.error
        counts[inv.log_stream].append(json.loads(inv.payload["body"])["visit_count"])
    # Each environment counts on from what it alone has seen: the warm one from 3, each new
    # one from nothing. All of them stay alive (no idle timeout passes).
    assert counts.pop(warm_env) == [4]
    assert sorted(counts.values()) == [[1]] * (burst - 1)
    assert sum(inv.cold_start for inv in invocations) == burst - 1
    new_envs = set(counts)
    assert log_streams(stack) == {warm_env, *new_envs}


# 02: the Decimal bug, and 03, its one-line fix.


def test_02_answers_the_generic_500_from_the_second_visit_on(start_stage):
    stage = manifest.find("02")
    stack = start_stage(stage.id)

    # The check greets the first visit as the story does, and stops at the second, which fails
    # as the symptom says: the generic 500, and the true cause only in the logs.
    assert COUNTS_EVERY_VISIT(stack) == [
        f"The second visit still answers 500 {GENERIC_500}, and the logs still say "
        f"`{DECIMAL_ERROR}`."
    ]
    assert f'"{FIRST_VISIT}"' in stage.symptom
    assert stored_count(stack) == 2  # put_item ran before json.dumps failed

    assert visit(stack.url()) == (500, GENERIC_500)
    assert stored_count(stack) == 3

    # The true cause is only in CloudWatch Logs: one line per failed visit.
    assert error_lines(stack) == [DECIMAL_ERROR, DECIMAL_ERROR]
    assert [e.message for e in stack.logs(f'"{DECIMAL_ERROR}"')] == [DECIMAL_ERROR] * 2
    assert GENERIC_500 in stage.symptom
    assert DECIMAL_ERROR in stage.symptom


def test_03_counts_every_visit_without_an_error(start_stage):
    stage = manifest.find("03")
    stack = start_stage(stage.id)

    # The check makes visits 1 to 11 (the fourth after a cold start; then three while DynamoDB
    # fails, every call and then only the reads, which count nothing, since the handler reads
    # before it writes; then pairs in two environments), counts 12 and 13 in the
    # table as another environment would, then makes visits 14 and 15, and 16 as the visitor
    # comes back 400 days later, and finds nothing wrong. Then the session starts over, as the
    # story's did.
    assert COUNTS_EVERY_VISIT(stack) == []
    assert stored_count(stack) == 16
    stack.table().delete_item(Key={"session_id": "user_123"})
    answers = [visit(stack.url()) for _ in range(8)]
    assert [status for status, _ in answers] == [200] * 8
    assert [json.loads(body) for _, body in answers] == [greeting(n) for n in range(1, 9)]
    assert stored_count(stack) == 8
    # The only error logged is the one the check caused: a visit while DynamoDB denied the calls.
    assert [line for line in error_lines(stack) if "AccessDeniedException" not in line] == []
    # The manifest quotes the eighth answer, byte for byte, as the story's proof of state.
    assert answers[-1][1] in stage.symptom


# The fix is one line, and `workshop diff` shows exactly that line.


def test_03_differs_from_02_by_the_int_line_alone():
    broken, fixed = project_files(manifest.find("02").path), project_files(manifest.find("03").path)
    assert broken.keys() == fixed.keys()
    differing = [n for n in broken if not filecmp.cmp(broken[n], fixed[n], shallow=False)]
    assert differing == ["src/app.py"]

    old = broken["src/app.py"].read_text(encoding="utf-8").splitlines()
    new = fixed["src/app.py"].read_text(encoding="utf-8").splitlines()
    added = [line for line in new if line.strip() == INT_FIX]
    assert len(added) == 1
    assert [line for line in new if line not in added] == old
    # Right after the read that adds one, as in the story.
    read = new.index(added[0]) - 1
    assert new[read].strip() == 'visit_count = response["Item"]["visit_count"] + 1'
    assert INT_FIX in manifest.find("02").fix
    assert INT_FIX in manifest.find("03").fix


def test_workshop_diff_02_03_shows_the_int_line():
    # The repository on the path, as in a venv where it is installed with `pip install -e .`.
    path = [str(manifest.REPO_ROOT), os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=os.pathsep.join(filter(None, path)))
    result = subprocess.run(
        [sys.executable, "-m", "workshop", "diff", "02", "03"],
        cwd=manifest.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith(("---", "+++"))] == [
        "--- 02/src/app.py",
        "+++ 03/src/app.py",
    ]
    changes = [line for line in lines if line[:1] in "+-" and not line.startswith(("---", "+++"))]
    assert len(changes) == 1, changes
    assert changes[0].startswith("+")
    assert changes[0][1:].strip() == INT_FIX
