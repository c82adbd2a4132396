"""Every notebook in notebooks/ runs top to bottom, and shows what its stage teaches.

Each notebook is executed in memory (the file is never written) by nbclient, in a kernel of
this interpreter, from the notebooks/ folder, as a learner would run it. A cell may raise only
if it is tagged `raises-exception`, and then it must. Afterwards the test reads the outputs of
the cells named by id below: the counts, the errors and the log lines that the stage is about.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from workshop.local.physical_names import generated_name

if TYPE_CHECKING:
    import nbformat

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
# Seconds: a bound on a hang, not a measure. The benchmark's notebook takes half a minute on a
# quiet machine, nearly all in one cell, and a busy CI machine may be several times slower.
CELL_TIMEOUT = 600
RAISES = "raises-exception"
DECIMAL = "Object of type Decimal is not JSON serializable"  # the story's error


def named(stack: str, logical_id: str) -> str:
    """The name CloudFormation gives a function, role or table of `stack`, suffix and all."""
    return generated_name(stack, logical_id, 255 if logical_id.endswith("Table") else 64)


# Run first in the kernel: fail clearly if the "python3" kernel is some other interpreter.
KERNEL_CHECK = f"""\
import sys
assert sys.prefix == {sys.prefix!r}, (
    "the python3 kernel runs " + sys.executable + ", not the tests' {sys.executable}"
)"""
# Run last: a notebook must stop every execution environment (worker process) it started.
LEFTOVERS_CHECK = """\
import psutil
left = [" ".join(p.cmdline()) for p in psutil.Process().children(recursive=True)]
assert not left, f"the notebook left processes running: {left}\""""


class Executed:
    """An executed notebook: the text each code cell printed, by cell id."""

    def __init__(self, nb: nbformat.NotebookNode):
        self.cells = {cell.id: cell for cell in nb.cells if cell.cell_type == "code"}

    def text(self, cell_id: str) -> str:
        """What the cell printed and displayed, and its error as `Name: message`."""
        parts = []
        for out in self.cells[cell_id].outputs:
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                parts.append(out.data.get("text/plain", "") + "\n")
            elif out.output_type == "error":
                parts.append(f"{out.ename}: {out.evalue}\n")
        return "".join(parts)

    def result(self, cell_id: str) -> str | None:
        """The value the cell ended on, as Jupyter shows it (`Out[n]`)."""
        results = [o for o in self.cells[cell_id].outputs if o.output_type == "execute_result"]
        return results[0].data["text/plain"] if results else None

    def error(self, cell_id: str) -> str | None:
        errors = [o for o in self.cells[cell_id].outputs if o.output_type == "error"]
        return f"{errors[0].ename}: {errors[0].evalue}" if errors else None


def execute(path: Path) -> Executed:
    # Imported here: only the workers that run a notebook need Jupyter's notebook format (with
    # its JSON schema validator) and client, and every worker collects this module.
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(KERNEL_CHECK, id="test-kernel-check"))
    nb.cells.append(nbformat.v4.new_code_cell(LEFTOVERS_CHECK, id="test-leftovers-check"))
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    env = dict(os.environ)
    # `import workshop` works from notebooks/ without an editable install, too.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    client.execute(env=env)
    return Executed(nb)


def counts(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"visit_count'?\"?:? (\d+)", text)]


def check_01(run: Executed) -> None:
    assert counts(run.text("warm-visits")) == [1, 2, 3]
    assert counts(run.text("after-idle-timeout")) == [1], "a cold start forgets the count"
    streams = re.findall(r"^(\S+) cold start", run.text("reports-after-idle"), re.MULTILINE)
    assert len(set(streams)) == 2, "the visit after the idle timeout ran in a new environment"

    rounds = run.text("concurrent-rounds").splitlines()
    assert [line.split()[3] for line in rounds[:2]] == ["cold", "cold"], "round 1 starts two"
    # One line per environment: its log stream, then the counts it answered, e.g. [1, 2, 3].
    grouped = run.text("counts-by-environment")
    by_environment = [json.loads(found) for found in re.findall(r"\[[\d, ]+\]$", grouped, re.M)]
    assert len(by_environment) >= 2, "visits at the same moment need a second environment"
    for seen in by_environment:
        assert seen == list(range(1, len(seen) + 1)), "each environment counts from 1 on its own"
    assert "visits in all: 6" in grouped


def check_02(run: Executed) -> None:
    assert run.text("first-visit") == (
        "200 {'message': 'Welcome! This is your first visit.', 'session_id': 'user_123', "
        "'visit_count': 1}\n"
    )
    assert run.error("second-visit") == "HTTPError: HTTP Error 500: Internal Server Error"
    assert run.text("third-visit") == "500 {'message': 'Error interacting with the database.'}\n"
    error_line = f"Error: {DECIMAL}"
    assert run.text("whole-log").count(error_line) == 2
    assert (
        run.text("decimal-in-logs").splitlines()
        == [f"/aws/lambda/{named('stage02', 'HelloWorldFunction')} {error_line}"] * 2
    )
    direct = run.text("direct-invoke")
    assert "error: None" in direct and "'statusCode': 500" in direct and error_line in direct
    assert "'visit_count': Decimal('4')" in run.text("stored-item")
    assert run.text("counting-behind-errors").splitlines() == [
        f"500 Error interacting with the database. | stored count: {n}" for n in (5, 6, 7)
    ]


def check_03(run: Executed) -> None:
    assert "+            visit_count = int(visit_count)" in run.text("diff-02-03")
    assert counts(run.text("first-visit")) == [1]
    assert "decimal.Decimal" in run.text("stored-item")
    assert run.error("decimal-error") == f"TypeError: {DECIMAL}"
    assert run.text("int-fix") == "'{\"visit_count\": 2}'\n"
    refreshes = run.text("refreshes")
    assert counts(refreshes) == [2, 3, 4, 5, 6, 7, 8]
    assert refreshes.splitlines()[-1] == (  # the story's own answer, after the eighth visit
        '200 {"message": "Welcome back! This is your 8 visit.", "session_id": "user_123", '
        '"visit_count": 8}'
    )
    assert run.text("no-errors") == "[]\n"
    assert run.text("expire") == "1\n"
    assert counts(run.text("after-cold-start")) == [9], "the count survives a cold start"
    assert "Init Duration" in run.text("cold-start-report")


def check_04(run: Executed) -> None:
    assert "+cached = true" in run.text("diff-03-04")
    assert run.result("first-build") == "0"
    assert "Build Succeeded" in run.text("first-build")
    assert ".aws-sam/build/HelloWorldFunction/app.py" in run.text("built-files")
    for cell_id in ("locked-build", "locked-build-again"):  # sam build fails, and again
        assert run.result(cell_id) == "1"
        assert "[Errno 13] Permission denied (simulated" in run.text(cell_id)
    held_for_good = run.text("held-for-good")
    assert run.result("held-for-good") == "2"
    assert "trying again in 0.25 s" in held_for_good
    assert "error: Cannot delete " in held_for_good
    assert "still held after 6 tries" in held_for_good
    # Once the hold ends, clean gets through and sam build succeeds.
    assert "trying again in 0.25 s" in run.text("clean-then-build")
    assert "Build Succeeded" in run.text("clean-then-build")
    assert run.result("clean-then-build") == "0"
    assert run.result("build-elsewhere") == "0"
    assert run.result("clean-up") == "False"


def check_05(run: Executed) -> None:
    assert '+            UpdateExpression="ADD visit_count :one",' in run.text("diff-04-05")
    # How many visits a real race loses is chance; that stage 04 loses one, and 05 none, when
    # two visits read before either writes is proved without chance by its owner,
    # tests/stages/test_beyond.py::test_two_visits_that_read_before_either_writes. Here: the
    # race ran, and its table adds up.
    sent, counted, lost = map(int, run.text("race-04").splitlines()[1].split()[2:5])
    assert sent == counted + lost == 80, "every visit of the race is counted or lost"
    assert run.text("no-errors-04") == "[]\n", "and logs nothing about them"
    assert run.result("interleaving") == "42"

    def lost_by_clients(cell_id: str) -> dict[int, int]:
        rows = re.findall(r"^ *(\d+) at once: +(\d+) of +\d+ visits lost$", run.text(cell_id), re.M)
        return {int(clients): int(lost) for clients, lost in rows}

    lost_04, lost_05 = lost_by_clients("measure-04"), lost_by_clients("measure-05")
    assert sorted(lost_04) == sorted(lost_05) == [1, 2, 4, 8, 16]
    assert lost_04[1] == 0, "one client alone loses nothing"
    assert set(lost_05.values()) == {0}, "the atomic ADD loses nothing"
    assert run.result("add-by-hand") == "Decimal('1')"
    for cell_id in ("plot-04", "plot-both"):
        (figure,) = [o for o in run.cells[cell_id].outputs if o.output_type == "display_data"]
        assert "image/png" in figure.data


def check_06(run: Executed) -> None:
    assert '-    session_id = "user_123"' in run.text("diff-05-06")
    first, second = run.text("one-session-05").splitlines()
    assert "'session_id': 'user_123', 'visit_count': 1}" in first
    assert "'session_id': 'user_123', 'visit_count': 2}" in second, "two visitors, one count"
    assert run.text("bug-05") == "500 {'message': 'Error interacting with the database.'}\n"
    assert run.result("bug-05-logs") == "[\"Error: 'visits'\"]"
    # Held through the whole Timeout (10 s): a lower bound, never an upper one, which a busy
    # machine could pass (the owner: test_beyond's test_05_holds_a_visit_..._until_the_timeout).
    held = re.fullmatch(
        r"502 \{'message': 'Internal server error'\} after (\d+\.\d) s\n", run.text("outage-05")
    )
    assert held and float(held[1]) >= 10, "stage 05 holds the visit through the whole Timeout"
    outage_05_logs = run.text("outage-05-logs")
    assert re.search(r"^REPORT RequestId: .*\tStatus: timeout$", outage_05_logs, re.M)
    assert "Task timed out" not in outage_05_logs, "no such line since 2026"
    assert "Throughput" not in outage_05_logs, "and its logs do not say why"
    assert re.search(
        r"^session_id=[A-Za-z0-9_-]{22}; Max-Age=31536000; Path=/; HttpOnly; Secure; "
        r"SameSite=Lax$",
        run.text("new-session"),
        re.M,
    )
    rows = [line.split() for line in run.text("two-counts").splitlines()]
    assert [(row[0], row[1], row[2], row[4]) for row in rows] == [
        (who, "200", count, "False")
        for who, count in [("Ana", "2"), ("Ben", "2"), ("Ana", "3"), ("Ben", "3"), ("Ana", "4")]
    ]
    assert len({row[3] for row in rows}) == 2, "two visitors, two sessions"
    assert run.text("bad-cookie").startswith(
        "400 {'message': 'Malformed session cookie: it has 8 characters, not 22."
    )
    assert "session_id=; Max-Age=0;" in run.text("bad-cookie")
    bad = run.text("bad-cookies").splitlines()
    assert [line[:31] for line in bad] == ["400 Malformed session cookie: i"] * 3
    assert run.text("bad-cookie-logs").count("Rejected a malformed session cookie") == 4
    assert run.text("outage-06").startswith(
        "503 {'message': 'The visit counter is unavailable; try again shortly.'} Retry-After: 1\n"
    )
    error = run.text("outage-06-log")
    assert error.startswith("[ERROR]\t") and "(ThrottlingException)" in error
    request_id = error.split("\t")[2]
    lines = run.text("outage-06-request").splitlines()
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert all(request_id in line for line in lines)
    across = run.text("across-outage")
    answers = {int(k): int(v) for k, v in re.findall(r"(\d+): (\d+)", across.splitlines()[0])}
    before, after = map(int, re.findall(r"count (?:before|after): (\d+)", across))
    assert answers[503] >= 4 and after - before == answers[200], "no acknowledged visit lost"
    assert "every 200 told a number of its own: True" in across
    assert run.text("bug-06") == "502 {'message': 'Internal server error'}\n"
    assert run.text("bug-06-logs").startswith(
        "[ERROR] KeyError: 'visits'\nTraceback (most recent call last):"
    )


def check_benchmark(run: Executed) -> None:
    table = run.text("table")
    # 1, or a little more: one visit in ten at most also forgets old request ids (stage 08).
    assert re.search(r"DynamoDB round trips per visit +2 +1(\.0\d*)? ", table), table
    assert re.search(r"lost updates, 8 clients x 3 visits +\d+ of 24 +0 of 24", table), table
    assert re.search(r"counted twice, 8 visitors, 4 s stall +0 of 24 +0 of 24 ", table), table
    # The stack's overhead beside the round trip, both measured in the run, and plotted.
    assert re.search(r"^stack overhead per warm visit, p50 \(ms\) +[\d.]+ +[\d.]+ ", table, re.M)
    assert re.search(r"^DynamoDB round trip, p50 \(ms\) +[\d.]+ +[\d.]+ ", table, re.M), table
    assert "Measured on " in table and "CPUs" in run.text("machine")
    (figure,) = [o for o in run.cells["plot"].outputs if o.output_type == "display_data"]
    assert "image/png" in figure.data


def check_07(run: Executed) -> None:
    assert "-        - DynamoDBCrudPolicy:" in run.text("diff-06-07")
    assert "+              Action: dynamodb:UpdateItem" in run.text("diff-06-07")
    # Stage 06: the function's credentials read every session id, and delete a count.
    scanned = run.text("scan-06").splitlines()
    assert sorted(line.split()[0] for line in scanned) == ["Ana", "Ben"]
    assert all(re.fullmatch(r"\S+ [A-Za-z0-9_-]{22} 1", line) for line in scanned), scanned
    assert run.text("delete-06") == "200 Welcome! This is your first visit.\n"
    # Stage 07: one action on one table; everything else refused as DynamoDB refuses it.
    policy = json.loads(run.text("policy-07"))
    assert policy[0]["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "dynamodb:UpdateItem",
            "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/"
            + named("stage07", "VisitCounterTable"),
        }
    ]
    assert run.text("visits-07").splitlines() == [
        "200 Welcome back! This is your 2 visit.",
        "200 Welcome back! This is your 3 visit.",
    ]

    def denied(stack: str, action: str) -> str:
        return (
            f"User: arn:aws:sts::123456789012:assumed-role/"
            f"{named(stack, 'HelloWorldFunctionRole')}/{named(stack, 'HelloWorldFunction')} "
            f"is not authorized to perform: dynamodb:{action} on resource: "
            f"arn:aws:dynamodb:us-east-1:123456789012:table/{named(stack, 'VisitCounterTable')} "
            f"because no identity-based policy allows the dynamodb:{action} action"
        )

    assert run.error("scan-07") == (
        "ClientError: An error occurred (AccessDeniedException) when calling the Scan "
        "operation: " + denied("stage07", "Scan")
    )
    # Narrowed too far: the visit fails as a bug, and the JSON logs say why.
    assert "- dynamodb:GetItem" in run.text("narrow-copy")
    assert run.text("narrow-visit") == "502 {'message': 'Internal server error'}\n"
    logs = run.text("narrow-logs").splitlines()
    assert logs[:3] == [
        "level: ERROR",
        "errorType: ClientError",
        "errorMessage: An error occurred (AccessDeniedException) when calling the UpdateItem "
        "operation: " + denied("narrow07", "UpdateItem"),
    ]
    assert re.fullmatch(r"requestId: [0-9a-f-]{36}", logs[3])
    assert logs[4] == "raised by: response = table.update_item("
    assert run.result("narrow-table") == "0"
    assert run.text("narrow-fixed") == "200 Welcome! This is your first visit.\n"
    # Operations.
    assert run.text("json-logs").splitlines()[1:] == [
        "platform.start | ",
        "WARNING | Rejected a malformed session cookie: it has 8 characters, not 22",
        "platform.report | ",
    ]
    assert run.text("retention") == "/aws/lambda/stage07-HelloWorldFunction 30 days\n"
    assert run.text("throttle").splitlines() == [
        "200 1",
        "200 1",
        "200 1",
        "429 {'message': 'Too Many Requests'}",
    ]
    assert run.result("reserved") == "50"
    assert run.text("pitr") == "ENABLED 35 days\n"


def check_08(run: Executed) -> None:
    assert '+            ReturnValuesOnConditionCheckFailure="ALL_OLD",' in run.text("diff-07-08")
    assert run.text("visitor-07") == "200 1\n"
    # 07: the update is applied twice, the first answer too late: visit 2 answers "3".
    assert run.text("held-07") == "updates sent: 2\n200 Welcome back! This is your 3 visit.\n"
    assert run.text("next-07") == (
        "200 Welcome back! This is your 4 visit.\nerrors in the logs: []\n"
        "warnings in the logs: []\n"
    )
    # 08: the same two updates, counted once.
    assert run.text("held-08") == (
        "200 1\nupdates sent: 2\n200 Welcome back! This is your 2 visit.\n"
    )
    assert run.text("next-08") == "200 Welcome back! This is your 3 visit.\n"
    assert run.text("item-08") == (
        "['counted_requests', 'session_id', 'visit_count']\n3 3 request ids kept\n"
    )
    assert run.text("refused").splitlines() == [
        "stage 07: answered 503; the 503 visit added 2 to the count",
        "stage 08: answered 503; the 503 visit added 1 to the count",
    ]
    races = run.text("races")
    # How many of 07's updates the stall caught in flight varies: one or more (none would read
    # "No visit was counted twice", which only 08's race may say).
    twice = r"^(1 visit was|\d+ visits were) answered once but counted twice: "
    assert re.search(twice, races, re.M), races
    assert races.count("No visit was counted twice, although DynamoDB answered late.") == 1


# The key outputs of each notebook; a new notebook gets its own check here.
CHECKS: dict[str, Callable[[Executed], None]] = {
    "benchmark.ipynb": check_benchmark,
    "05-lost-updates.ipynb": check_05,
    "06-sessions-and-errors.ipynb": check_06,
    "07-least-privilege.ipynb": check_07,
    "08-idempotent-retries.ipynb": check_08,
    "01-stateless-memory.ipynb": check_01,
    "02-decimal-bug.ipynb": check_02,
    "03-int-fix.ipynb": check_03,
    "04-locked-build.ipynb": check_04,
}


def test_every_notebook_is_checked():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOKS_DIR}"
    unchecked = sorted({path.name for path in NOTEBOOKS} - set(CHECKS))
    assert not unchecked, f"add the key outputs of {unchecked} to CHECKS in {__file__}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_runs_and_shows_its_lesson(path: Path):
    run = execute(path)
    for cell in run.cells.values():
        assert cell.execution_count is not None, f"cell {cell.id} did not run"
        if RAISES in cell.metadata.get("tags", []):
            assert run.error(cell.id), f"cell {cell.id} is tagged {RAISES} but raised nothing"
    if path.name in CHECKS:  # else test_every_notebook_is_checked fails
        CHECKS[path.name](run)


def markdown_of(path: Path) -> str:
    return "\n".join(
        "".join(cell["source"])
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]
        if cell["cell_type"] == "markdown"
    )


def test_the_notebooks_give_hints_by_the_command_not_the_manifest():
    """`python run.py hint NN` gives one hint at a time; stages.toml shows every one at once."""
    for path in NOTEBOOKS:
        assert "stages.toml" not in markdown_of(path), path.name
    assert "`python run.py hint 02`" in markdown_of(NOTEBOOKS_DIR / "02-decimal-bug.ipynb")


def test_notebook_04_says_the_lock_is_pretend_everywhere_and_why():
    """On Windows, the system stage 04 is about, programs do hold files: only Linux and macOS
    cannot, and the workshop pretends on every system alike."""
    text = " ".join(markdown_of(NOTEBOOKS_DIR / "04-locked-build.ipynb").split())
    assert "Nothing on this machine can hold" not in text
    assert "on Linux and macOS nothing holds a file that way" in text
    assert "the workshop pretends, on every system alike" in text
