"""The story checks: each fails on the code its exercise starts from, and passes on the solution.

The exercises come from the manifest, so a stage that gains a `check` is covered here at once.
As in rustlings' CI: an exercise that is already solved fails the suite, and so does a solution
that does not pass. An exercise whose start and solution are stage folders that a stage test
drives with its check is judged there instead (OWNED_BY_THE_STAGE_TESTS), not twice. The start
of every other one is judged by the README test, which runs its README's `try NN` and `check NN
# fails` as the reader types them and asserts the story's words (STORY_WORDS): here, only that
each README does so.
"""

from __future__ import annotations

import base64
import os
import random
import shutil
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.helpers import PROBE_APP, STORY_WORDS, console_commands
from workshop import learn, manifest
from workshop.build import samconfig
from workshop.learn import checks
from workshop.learn.checks import least_privilege_and_operations as least_privilege
from workshop.learn.checks import registry
from workshop.learn.checks.counts_visits_at_once import InStep
from workshop.learn.checks.sessions_and_honest_errors import (
    NEW_VISITORS,
    REFUSED_BELOW_BITS,
    entropy_bits,
    kept_by_caches,
)
from workshop.learn.checks.story import too_slow, unexpected
from workshop.local.local_aws import LocalAWS
from workshop.visitor import Answer, get

EXERCISES = learn.exercises()
IDS = [exercise.stage.id for exercise in EXERCISES]
# Exercises whose start and solution are stage folders that a stage test already drives with
# the check itself, asserting what it says and more: one owner for each scenario.
OWNED_BY_THE_STAGE_TESTS = {
    "02": "tests/stages/test_history.py: test_02_answers_the_generic_500_from_the_second_visit_on"
    " (the start) and test_03_counts_every_visit_without_an_error (the solution, stage 03)",
    "08": "tests/stages/test_retries.py: test_07_counts_an_update_answered_later_than_the_read_"
    "timeout_twice (the start, stage 07) and test_08_counts_an_update_answered_late_once_and_a_"
    "503_at_most_once (the solution)",
}
JUDGED = [exercise for exercise in EXERCISES if exercise.stage.id not in OWNED_BY_THE_STAGE_TESTS]
JUDGED_IDS = [exercise.stage.id for exercise in JUDGED]


def solution_project(exercise: learn.Exercise, tmp_path: Path) -> Path:
    """The solved project: the solution's stage folder, or the start with the fix copied over."""
    if exercise.solution_stage:
        return exercise.solution_stage.path
    project = tmp_path / exercise.stage.folder
    learn.copy_start(exercise, project)
    shutil.copytree(exercise.solution_files, project, dirs_exist_ok=True)
    return project


def test_every_exercise_names_a_registered_check_and_every_check_is_used():
    assert IDS, "the manifest has no exercise"
    names = [exercise.check for exercise in EXERCISES]
    assert sorted(names) == sorted(checks.names()), "a check without an exercise, or the reverse"
    judged = [exercise.check for exercise in JUDGED]
    assert sorted(STORY_WORDS) == sorted(judged), "say what each check must print"
    for stage, owner in OWNED_BY_THE_STAGE_TESTS.items():
        exercise = learn.exercise(stage)
        assert exercise.solution_stage, f"{stage}: only a stage folder's test can own it"
        assert exercise.check not in judged, f"{stage}: its check is judged here too ({owner})"
    for exercise in EXERCISES:
        assert exercise.goal, f"stage {exercise.stage.id} has no goal"
        assert exercise.stage.hints, f"stage {exercise.stage.id} has no hints"
        if exercise.solution_stage is None:
            # Files kept apart, that replace files of the start (never new ones, never code).
            changed = [p for p in exercise.solution_files.rglob("*") if p.is_file()]
            assert changed
            for path in changed:
                relative = path.relative_to(exercise.solution_files)
                assert (exercise.start.path / relative).is_file(), relative


@pytest.mark.parametrize("exercise", JUDGED, ids=JUDGED_IDS)
def test_the_readme_has_its_reader_check_the_code_the_exercise_starts_from(exercise):
    """The check's failure on the start, in the story's words, is judged by the README test
    (tests/docs/test_readme_commands.py), which runs these lines as typed: one run of it."""
    readme = exercise.stage.path / "README.md"
    typed = [step for step in console_commands(readme) if step.args[:1] in (["try"], ["check"])]
    stage = exercise.stage.id
    expected = [(["try", stage], False), (["check", stage], True)]
    assert [(step.args, step.must_fail) for step in typed] == expected, readme


@pytest.mark.slow
@pytest.mark.parametrize("exercise", JUDGED, ids=JUDGED_IDS)
def test_the_check_passes_on_the_solution(exercise, tmp_path):
    assert checks.run(exercise.check, solution_project(exercise, tmp_path)) == []


# The learners' fixes, right and wrong, are in the corpus: test_fix_corpus.py.


def test_in_step_lets_calls_through_together_and_a_lone_one_after_its_patience():
    gate = InStep(2, patience=0.3, first_patience=0.3)
    started = time.monotonic()
    gate("DynamoDB_20120810.GetItem", {})  # alone: nobody comes, so it goes after its patience
    assert time.monotonic() - started >= 0.3  # it waited: a bound that no slow machine breaks

    # A patience far longer than the joins below: only the last call of those under way, or a
    # visit's end, can let the others go.
    gate = InStep(3, patience=600, first_patience=600)
    threads = [
        threading.Thread(target=gate, args=("DynamoDB_20120810.PutItem", {}), daemon=True)
        for _ in "abc"
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "the three should go together"

    pair = [
        threading.Thread(target=gate, args=("DynamoDB_20120810.PutItem", {}), daemon=True)
        for _ in "ab"
    ]
    for thread in pair:
        thread.start()
    time.sleep(0.2)  # time to go early, were the gate wrong: a right one holds them for good
    assert all(thread.is_alive() for thread in pair), "two of three under way wait for the third"
    gate.done()  # the third visit has its answer: the two others no longer wait for it
    for thread in pair:
        thread.join(60)
    assert not any(thread.is_alive() for thread in pair), "the two should go once one is done"


def secrets_like(draw: random.Random, nbytes: int) -> str:
    """What secrets.token_urlsafe(nbytes) writes, from a seeded generator."""
    return base64.urlsafe_b64encode(draw.randbytes(nbytes)).rstrip(b"=").decode()


def test_entropy_tells_random_ids_from_a_clock_and_a_counter():
    """Fixed ids (a seeded generator, not chance): what the 06 check sees of its new visitors,
    200 draws of each kind, on the side of its line that each must be on, every time."""
    draw = random.Random(6)
    n = NEW_VISITORS
    for _ in range(200):
        # 64 random bits, as token_urlsafe(8), token_hex(8) and str(randbits(64)) write them.
        for ids in (
            [secrets_like(draw, 8) for _ in range(n)],
            [draw.randbytes(8).hex() for _ in range(n)],
            [str(draw.getrandbits(64)) for _ in range(n)],
        ):
            assert entropy_bits(ids) >= REFUSED_BELOW_BITS, ids
        assert entropy_bits([draw.randbytes(7).hex() for _ in range(n)]) < REFUSED_BELOW_BITS
    tokens = [secrets_like(draw, 16) for _ in range(n)]
    assert entropy_bits(tokens) >= 120  # 22 characters: 128 bits
    uuids = [str(uuid.UUID(int=draw.getrandbits(128), version=4)) for _ in range(n)]
    assert entropy_bits(uuids) >= 120  # 122 random bits
    clock = [
        f"{1796135867663823688 + 33_417_291 * k + draw.randrange(1000):022d}" for k in range(n)
    ]
    assert entropy_bits(clock) < REFUSED_BELOW_BITS
    counter = [f"session-{k:06d}" for k in range(n)]
    assert entropy_bits(counter) < 16
    assert entropy_bits(["same"] * n) == 0


@pytest.mark.parametrize(
    ("headers", "kept"),
    [
        ((), False),
        ((("Cache-Control", "no-store"),), False),
        ((("Cache-Control", "public, max-age=3600, no-cache"),), False),
        ((("cache-control", "private, max-age=0"),), False),
        ((("Cache-Control", "public"),), True),
        ((("Cache-Control", "private, max-age=60"),), True),
        ((("Cache-Control", "s-maxage=60"),), True),
        ((("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"),), False),
        ((("Expires", "0"),), False),  # a date that cannot be read has passed
        ((("Expires", "Fri, 01 Jan 2100 00:00:00 GMT"),), True),
        # With max-age, Expires is ignored (RFC 9111, 5.3).
        ((("Cache-Control", "max-age=0"), ("Expires", "Fri, 01 Jan 2100 00:00:00 GMT")), False),
    ],
)
def test_check_06_tells_a_counted_answer_a_cache_may_keep(headers, kept):
    assert bool(kept_by_caches(Answer(200, "{}", headers))) is kept


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("samconfig.toml", "version = 0.1\n[default.global.parameters]\ndisable_rollback = true\n"),
        (
            "samconfig.yaml",
            "version: 0.1\ndefault:\n  deploy:\n    parameters:\n      disable_rollback: true\n",
        ),
    ],
)
def test_check_07_reads_the_deploy_parameters_as_sam_cli_does(tmp_path, name, text):
    """SAM CLI reads samconfig.yaml when there is no samconfig.toml, and a command's parameters
    over the global ones (samcli/lib/config/samconfig.py): a rollback disabled in either is."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    assert samconfig.parameters(tmp_path, "deploy")["disable_rollback"] is True


def test_check_04_never_lets_sam_empty_a_folder_of_the_learners(tmp_path):
    """A build_dir from samconfig.yaml (which SAM CLI reads when there is no samconfig.toml)
    that holds the learner's files is refused, and the files stay: sam build would empty it."""
    exercise = learn.exercise("04")
    project = tmp_path / exercise.stage.folder
    learn.copy_start(exercise, project)
    theirs = tmp_path / "precious"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("keep\n", encoding="utf-8")
    (project / "samconfig.toml").unlink()
    config = "version: 0.1\ndefault:\n  build:\n    parameters:\n      build_dir: {}\n"
    (project / "samconfig.yaml").write_text(config.format(theirs.as_posix()), encoding="utf-8")
    (problem,) = checks.run(exercise.check, project)
    assert "holds files that no build made (notes.txt)" in problem
    assert (theirs / "notes.txt").read_text(encoding="utf-8") == "keep\n"


@pytest.mark.parametrize(
    "build_dir, said",
    [
        ("~/visit-counter-build", "starts with ~, which SAM does not expand"),
        ("$TMPDIR/visit-counter-build", "names a $VARIABLE, which SAM does not expand"),
        ("C:/sam-builds/visit-counter", "is a Windows path, and off Windows C:/... is a relative"),
    ],
)
def test_check_04_says_a_build_dir_written_for_a_shell_lands_in_the_project(
    tmp_path, build_dir, said
):
    """SAM expands neither ~ nor $VARIABLES, and C:/... is relative off Windows: the build
    lands in the project, and the refusal says why, before any build."""
    if os.name == "nt" and build_dir.startswith("C:"):
        pytest.skip("C:/... is a folder of its own on Windows")
    exercise = learn.exercise("04")
    project = tmp_path / exercise.stage.folder
    learn.copy_start(exercise, project)
    solution = manifest.REPO_ROOT / "solutions" / "04-locked-build" / "samconfig.toml"
    config = solution.read_text(encoding="utf-8").replace("/tmp/visit-counter-build", build_dir)
    (project / "samconfig.toml").write_text(config, encoding="utf-8")
    (problem,) = checks.run(exercise.check, project)
    assert said in problem and str(project / build_dir) in problem


def test_check_04_follows_a_link_to_where_sam_really_builds(tmp_path):
    """A build_dir that reaches into the project through a link is in the project: the
    solution's config, its build_dir so given, is refused, and as it is, passes."""
    exercise = learn.exercise("04")
    project = tmp_path / "synced" / exercise.stage.folder  # the link, out of the synced folder
    learn.copy_start(exercise, project)
    try:
        (tmp_path / "link").symlink_to(project, target_is_directory=True)
    except OSError as error:  # Windows makes links only in Developer Mode, or as admin
        pytest.skip(f"this machine makes no symbolic link here ({error})")
    solution = manifest.REPO_ROOT / "solutions" / "04-locked-build" / "samconfig.toml"
    out = (tmp_path / "link" / ".aws-sam" / "out").as_posix()
    config = solution.read_text(encoding="utf-8").replace("/tmp/visit-counter-build", out)
    (project / "samconfig.toml").write_text(config, encoding="utf-8")
    assert checks.run(exercise.check, project) != []
    (project / "samconfig.toml").write_text(solution.read_text(encoding="utf-8"))
    assert checks.run(exercise.check, project) == []


TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t-VisitCounterTable-ABC123"


@pytest.mark.parametrize(
    "statement, said",
    [
        (
            {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"},
            f"A Deny in the function's policy refuses dynamodb:UpdateItem on {TABLE_ARN}.",
        ),
        (
            {"Effect": "Allow", "Action": ["DynamoDB:Update*"], "Resource": TABLE_ARN[:-7]},
            f"The function's policy allows dynamodb:UpdateItem only on {TABLE_ARN[:-7]}, and the "
            f"handler calls it on {TABLE_ARN}: name the table by its real ARN "
            "(!GetAtt VisitCounterTable.Arn).",
        ),
        (
            {
                "Effect": "Allow",
                "Action": "dynamodb:UpdateItem",
                "Resource": TABLE_ARN,
                "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
            },
            f"The statement that allows dynamodb:UpdateItem on {TABLE_ARN} has a Condition "
            "that the handler's call does not meet "
            '({"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}): it goes over HTTPS, to '
            "the table's own region.",
        ),
        (
            {
                "Effect": "Allow",
                "Action": "dynamodb:UpdateItem",
                "Resource": TABLE_ARN,
                "Condition": {"Bool": {"aws:ViaAWSService": "true"}},
            },
            f"The statement that allows dynamodb:UpdateItem on {TABLE_ARN} has a Condition "
            "that the handler's call does not meet "
            '({"Bool": {"aws:ViaAWSService": "true"}}): it goes over HTTPS, to the table\'s '
            "own region, made by the function itself, not by a service on its behalf.",
        ),
        (
            {"Effect": "Allow", "Action": "dynamodb:*", "NotResource": TABLE_ARN},
            f"The statement that allows dynamodb:UpdateItem leaves {TABLE_ARN} out "
            "(NotResource): name the table under Resource (!GetAtt VisitCounterTable.Arn).",
        ),
        (  # the Condition of a statement on another table is not what refuses the call
            {
                "Effect": "Allow",
                "Action": "dynamodb:UpdateItem",
                "Resource": TABLE_ARN[:-7],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            f"The function's policy allows dynamodb:UpdateItem only on {TABLE_ARN[:-7]}, and the "
            f"handler calls it on {TABLE_ARN}: name the table by its real ARN "
            "(!GetAtt VisitCounterTable.Arn).",
        ),
        (
            {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE_ARN},
            "No statement of the function's policy allows dynamodb:UpdateItem, which the handler "
            "calls: allow it on the table's real ARN (!GetAtt VisitCounterTable.Arn).",
        ),
    ],
)
def test_a_refused_call_is_told_by_what_in_the_policy_refuses_it(statement, said):
    """The AccessDenied that the function logs reads the same for each mistake: the check
    says which it is, read from the policy."""
    policies = [{"Version": "2012-10-17", "Statement": [statement]}]
    assert least_privilege.why_refused(policies, "dynamodb:UpdateItem", TABLE_ARN) == said


@pytest.mark.parametrize(
    ("action", "principal", "source", "account", "said"),
    [
        ("lambda:InvokeFunction", "*", None, None, "anyone with AWS credentials, of any account"),
        ("lambda:*", "210987654321", None, None, "any user or role of the account 210987654321"),
        (
            "lambda:InvokeFunction",
            "arn:aws:iam::210987654321:root",
            None,
            None,
            "of the account 210987654321",
        ),
        (
            "lambda:InvokeFunction",
            "apigateway.amazonaws.com",
            None,
            "123456789012",
            "any API of the account 123456789012 (it names the service apigateway.amazonaws.com "
            "without a SourceArn)",
        ),
        ("lambda:InvokeFunction", "sns.amazonaws.com", None, None, "any resource of sns of any"),
        # The API's own methods, the account's own identities, and another action: fine.
        (
            "lambda:InvokeFunction",
            "apigateway.amazonaws.com",
            "arn:aws:execute-api:us-east-1:123456789012:abc123/*/GET/hello",
            None,
            None,
        ),
        ("lambda:InvokeFunction", "123456789012", None, None, None),
        ("lambda:GetFunction", "*", None, None, None),
    ],
)
def test_check_07_refuses_a_permission_that_lets_others_than_the_api_invoke(
    action, principal, source, account, said
):
    function = SimpleNamespace(logical_id="HelloWorldFunction")
    opened = least_privilege._open_permission(function, "Perm", action, principal, source, account)
    if said is None:
        assert opened is None
    else:
        assert said in opened
        assert "where the API's throttling does not apply" in opened


@pytest.mark.parametrize("log_format", ["Text", "JSON"])
def test_a_visit_that_timed_out_is_told_by_its_report_where_the_handler_logged_no_error(
    start_stage, tmp_path, log_format
):
    """The handler logs nothing when Lambda stops it at its Timeout: the REPORT says so."""
    project = tmp_path / "app"
    shutil.copytree(PROBE_APP, project)
    template = project / "template.yaml"
    logging = f"    LoggingConfig:\n      LogFormat: {log_format}\n"
    text = template.read_text(encoding="utf-8").replace(
        "    MemorySize: 128\n", "    MemorySize: 128\n" + logging, 1
    )
    template.write_text(text, encoding="utf-8")
    stack = start_stage(project, stack_name="probe")
    answer = get(stack.url("/behave/sleep?s=5"))  # its Timeout is 2 s
    stack.flush_logs()
    logs = [event.message for event in stack.logs()]
    said = unexpected("visit", answer, logs, {"visit_count": 1})
    assert said.startswith("The visit answers 502")
    assert "its REPORT says Status: timeout: it ran past its Timeout" in said


@pytest.mark.parametrize("slowed", [1, 2])
def test_a_stack_check_this_machine_slowed_runs_again_and_says_so_if_it_is_slowed_again(
    monkeypatch, slowed
):
    """A failure after a write that the local AWS answered so late that the SDK sent it again
    is not the learner's: the check runs again on a new stack, and tells the machine's slowness
    only if that run is slowed too."""
    stacks: list = []

    def judge(stack) -> list[str]:
        stacks.append(stack)
        return ["The first visit answers 2."]

    # The first `slowed` stacks' AWS answered a write 3.2 s late, and the SDK sent it again.
    def late_retries(aws) -> list[float]:
        return [3.2] if [s.aws for s in stacks].index(aws) < slowed else []

    monkeypatch.setattr(LocalAWS, "late_retries", late_retries)
    check = registry.Check("spoiled", judge, needs_stack=True)
    said = check(learn.exercise("07").start.path)
    assert len(stacks) == 2 and stacks[0] is not stacks[1]
    assert said == ([too_slow([3.2])] if slowed == 2 else ["The first visit answers 2."])
    assert "only after 3.2 seconds" in too_slow([0.4, 3.2]) and said[0].endswith(".")
