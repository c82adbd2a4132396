"""The story checks: does a project still show the flaw a stage is about? One definition for all.

Each exercise in `stages/stages.toml` names its check (`check = "counts_every_visit"`), one of
the functions registered here. A check takes a project folder, starts it as the stage would
run (a fresh stack on a free port, nothing saved; or the real `sam build`), drives it over
HTTP as a visitor would, reads its logs, and returns what still fails: sentences in the story's
words, such as "The second visit still answers 500 ...". An empty list means fixed.

`workshop check` runs a check on the learner's copy; the tests run the same check on the stage
folders, where it must fail on the broken stage and pass on the one that fixes it. A problem
in the project (a syntax error, a template the harness cannot run, a samconfig.toml sam
refuses) is one more sentence, never a traceback; a problem of this machine (no `sam`, no
python3.11 for `sam build`) raises a WorkshopError, since no edit of the project can mend it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import threading
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from workshop.errors import WorkshopError

# The story's words: what the original answered and logged.
SESSION = "user_123"
FIRST_VISIT = "Welcome! This is your first visit."
GENERIC_500 = '{"message": "Error interacting with the database."}'
DECIMAL_ERROR = "Error: Object of type Decimal is not JSON serializable"

VISIT_TIMEOUT = 60.0  # seconds: more than API Gateway's 29 s, which answers 504 first
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")
PLATFORM_LINES = ("START ", "END ", "REPORT ", "INIT_START ", "INIT_REPORT ")
LONGEST_QUOTE = 400  # characters of an answer or a log line quoted in a sentence


def greeting(count: int, session: str = SESSION) -> dict[str, Any]:
    """The body the story's working counter answers on visit number `count`."""
    message = FIRST_VISIT if count == 1 else f"Welcome back! This is your {count} visit."
    return {"message": message, "session_id": session, "visit_count": count}


@dataclass(frozen=True)
class Answer:
    """What one visit got back."""

    status: int
    body: str
    cookie: str | None = None  # the `name=value` of a Set-Cookie, if the answer set one
    retry_after: str | None = None  # the Retry-After header, if the answer had one

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def visit(url: str, cookie: str | None = None) -> Answer:
    """One GET of `url`, as a browser's refresh does it, sending `cookie` back; 500 is an answer.

    A new connection each time, with nothing but the Cookie header, so that visits made at the
    same moment from threads are truly separate visitors' requests.
    """
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port or 80, timeout=VISIT_TIMEOUT
    )
    try:
        connection.request("GET", parts.path or "/", headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
    finally:
        connection.close()
    set_cookie = response.getheader("Set-Cookie")
    return Answer(
        response.status,
        body,
        set_cookie.split(";", 1)[0].strip() if set_cookie else None,
        response.getheader("Retry-After"),
    )


def printed_lines(messages: list[str]) -> list[str]:
    """What the function itself logged, a line each: without Lambda's START, END and REPORT,
    and in the JSON log format (LoggingConfig LogFormat: JSON) as `[LEVEL] message`."""
    lines = []
    for message in messages:
        if message.startswith(PLATFORM_LINES):
            continue
        try:
            record = json.loads(message)
        except ValueError:
            record = None
        if isinstance(record, dict):
            if str(record.get("type", "")).startswith("platform."):
                continue
            level = f"[{record['level']}] " if "level" in record else ""
            if "errorType" in record:
                message = f"{level}{record['errorType']}: {record.get('errorMessage', '')}"
            elif "message" in record:
                message = f"{level}{record['message']}"
        first = str(message).strip().splitlines()
        if first:
            lines.append(first[0].rstrip())
    return lines


def error_line(messages: list[str]) -> str | None:
    """The line of the logs that names the error: the first at level ERROR, else the first one
    saying Error or Exception (the runtime's WARNING before an init error says "error" too)."""
    lines = printed_lines(messages)
    named = [line for line in lines if line.startswith("[ERROR]")] or [
        line for line in lines if "error" in line.lower() or "exception" in line.lower()
    ]
    return (named or lines or [None])[0]


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= LONGEST_QUOTE else text[: LONGEST_QUOTE - 3] + "..."


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."


# ------------------------------------------------------------------ the registry ----------


@dataclass(frozen=True)
class Check:
    """A registered check: `check(project)` returns what still fails (empty: fixed)."""

    name: str
    function: Callable[..., list[str]]
    needs_stack: bool  # True: the function takes a started Stack; False: a project folder

    def __call__(self, project: Any) -> list[str]:
        """Run on a project folder (started here from nothing) or, for a stack check, on a
        started Stack as it is (the stage tests pass their own)."""
        from workshop.stack import Stack

        if isinstance(project, Stack):
            if not self.needs_stack:
                return self.function(project.project_dir)
            return self.function(project)
        folder = Path(project)
        if not self.needs_stack:
            return self.function(folder)
        with started(folder) as (stack, problem):
            return [problem] if problem else self.function(stack)


CHECKS: dict[str, Check] = {}


def stack_check(function: Callable[..., list[str]]) -> Callable[..., list[str]]:
    """Register a check that runs on a started stack of the project."""
    CHECKS[function.__name__] = Check(function.__name__, function, needs_stack=True)
    return function


def folder_check(function: Callable[..., list[str]]) -> Callable[..., list[str]]:
    """Register a check that works on the project folder itself (such as a build)."""
    CHECKS[function.__name__] = Check(function.__name__, function, needs_stack=False)
    return function


def get(name: str) -> Check:
    try:
        return CHECKS[name]
    except KeyError:
        raise WorkshopError(
            f"no check {name!r} in workshop/checks.py (it has {', '.join(sorted(CHECKS))})"
        ) from None


def run(name: str, project: Any) -> list[str]:
    """Run the check called `name` on a project folder (or a started Stack)."""
    return get(name)(project)


@contextlib.contextmanager
def started(folder: Path) -> Iterator[tuple[Any, str | None]]:
    """(stack, None) for the project started from nothing, or (None, why it would not start)."""
    from workshop.manifest import project
    from workshop.stack import Stack

    try:
        found = project(str(Path(folder).resolve()))
        stack = Stack(found.path, stack_name=found.stack_name, port=0, fresh=True).start()
    except WorkshopError as error:
        yield None, _sentence(f"The project does not start: {error}")
        return
    except Exception as error:  # a template the harness trips over is the learner's to mend
        yield None, _sentence(f"The project does not start: {type(error).__name__}: {error}")
        return
    try:
        yield stack, None
    finally:
        stack.stop()


class Visitor:
    """One visitor of a started stack: keeps the cookie it was given; reads each visit's logs."""

    def __init__(self, stack: Any):
        self.stack = stack
        self.url = stack.url()
        self.cookie: str | None = None
        self.answer: Answer | None = None  # the first answer it got

    def visit(self, patience: float | None = None) -> tuple[Answer, list[str]]:
        """(answer, the log messages that appeared since the last visit).

        No answer is an Answer too, with status 0. With `patience`, a visit not answered by
        then is given up, but its connection is left open in the background until the stack
        answers or stops, so that the server never writes to a connection closed under it.
        """
        answers: list[Answer] = []
        seen = len(self.stack.logs())

        def go() -> None:
            try:
                answers.append(visit(self.url, self.cookie))
            except (OSError, http.client.HTTPException) as error:
                answers.append(Answer(0, f"no answer ({error})"))

        visiting = threading.Thread(target=go, daemon=True)
        visiting.start()
        visiting.join(patience)
        answer = answers[0] if answers else Answer(0, f"no answer within {patience:g} seconds")
        self.cookie = answer.cookie or self.cookie
        self.answer = self.answer or answer
        return answer, [event.message for event in self.stack.logs()[seen:]]


def unexpected(which: str, answer: Answer, logs: list[str], expected: dict[str, Any]) -> str:
    """The sentence for a visit that did not answer what the story's working counter answers."""
    if answer.status == 0:
        return f"The {which} visit got {answer.body}."
    if answer.status != 200:
        still = "still " if answer.body == GENERIC_500 else ""
        sentence = f"The {which} visit {still}answers {answer.status} {_quote(answer.body)}"
        line = error_line(logs)
        if line:
            still = "still " if line == DECIMAL_ERROR else ""
            return f"{sentence}, and the logs {still}say `{_quote(line)}`."
        return f"{sentence}, and the logs name no error."
    return (
        f"The {which} visit answers 200 {_quote(answer.body)}, where the story's counter "
        f"answers {json.dumps(expected)}."
    )


def _count(answer: Answer) -> int | None:
    """The visit_count a 200 answered, or None."""
    body = answer.json()
    if answer.status != 200 or not isinstance(body, dict):
        return None
    count = body.get("visit_count")
    return count if type(count) is int else None


def _is_greeting(answer: Answer, count: int, session: str = SESSION) -> bool:
    body = answer.json()
    return (
        answer.status == 200
        and body == greeting(count, session)
        and type(body["visit_count"]) is int  # 2.0 equals 2 in Python, not on the page
    )


def counts_in_a_row(visitor: Visitor, visits: int, first: int = 1) -> list[str]:
    """Visit `visits` times in a row: each must answer 200 and count one more."""
    for count in range(first, first + visits):
        answer, logs = visitor.visit()
        if not _is_greeting(answer, count):
            which = ORDINALS[count - 1] if count <= len(ORDINALS) else f"visit number {count}:"
            return [unexpected(which, answer, logs, greeting(count))]
    return []


# ------------------------------------------------------------------ the checks ------------


@stack_check
def counts_every_visit(stack: Any) -> list[str]:
    """Every visit answers 200 and counts one more, even after a cold start (stage 02 -> 03)."""
    visitor = Visitor(stack)
    problems = counts_in_a_row(visitor, 3)
    if problems:
        return problems
    stack.expire_environments()  # as after the idle timeout: the next visit is a cold start
    answer, logs = visitor.visit()
    if _is_greeting(answer, 4):
        return []
    body = answer.json()
    if answer.status == 200 and isinstance(body, dict) and body.get("visit_count") == 1:
        return [
            "After a cold start the count starts again at 1: it was kept in the function's "
            "memory, which a new execution environment does not have, and not in the table."
        ]
    return [unexpected("first visit after a cold start (the fourth)", answer, logs, greeting(4))]


class InStep:
    """Lets the function's DynamoDB calls through two at a time, as two visits meet.

    Installed in front of the local AWS's IAM check, it holds each call until another arrives,
    then lets both go: two visits started together then read together, and write together,
    which is the worst moment for a read-modify-write. A call left alone (a visit that makes
    more calls than the other) goes on after `patience` seconds; the first call waits longer,
    while the other visit's execution environment may still be starting (a cold start).
    """

    def __init__(self, patience: float = 1.0, first_patience: float = 15.0):
        self.patience = patience
        self.first_patience = first_patience
        self._condition = threading.Condition()
        self._waiting = False
        self._pairs = 0

    def __call__(self, target: str, body: dict[str, Any]) -> None:
        with self._condition:
            if self._waiting:  # the other one is waiting: go together
                self._waiting = False
                self._pairs += 1
                self._condition.notify_all()
                return
            self._waiting = True
            pairs = self._pairs
            self._condition.wait_for(
                lambda: self._pairs != pairs,
                timeout=self.first_patience if pairs == 0 else self.patience,
            )
            if self._pairs == pairs:  # nobody came: go alone
                self._waiting = False


@contextlib.contextmanager
def in_step(stack: Any) -> Iterator[None]:
    """Hold the stack's function's DynamoDB calls with `InStep` while inside."""
    from workshop.iam import function_credentials

    key = function_credentials(stack.function())["AWS_ACCESS_KEY_ID"]
    gate = stack.aws.gate
    if gate is None:
        raise WorkshopError("this check needs the embedded local AWS (unset AWS_ENDPOINT_URL)")
    authorize = gate.authorizers.get(key)
    pairs = InStep()

    def held(target: str, body: dict[str, Any]) -> dict[str, Any] | None:
        pairs(target, body)
        return authorize(target, body) if authorize else None

    stack.aws.authorize(key, held)
    try:
        yield
    finally:
        stack.aws.authorize(key, authorize)


@stack_check
def counts_visits_at_once(stack: Any) -> list[str]:
    """Two visits at the same moment count two: no update is lost (stage 04 -> 05)."""
    visitor = Visitor(stack)
    problems = counts_in_a_row(visitor, 2)
    if problems:
        return problems
    with in_step(stack), ThreadPoolExecutor(2) as pool:
        pair = list(pool.map(lambda _: visit(visitor.url, visitor.cookie), range(2)))
    for answer in pair:
        if answer.status != 200:
            return [
                f"Of two visits at the same moment, one answers {answer.status} "
                f"{_quote(answer.body)}."
            ]
    closing, logs = visitor.visit()
    count = _count(closing)
    if count is None:
        return [unexpected("next", closing, logs, greeting(5))]
    counted = count - 2 - 1  # before the two: 2; the closing visit counts itself
    if counted >= 2:
        return []
    told = sorted(str(_count(answer)) for answer in pair)
    told_text = (
        f'both were told "This is your {told[0]} visit."'
        if told[0] == told[1]
        else f"they were told visits {told[0]} and {told[1]}"
    )
    lost = "one of them was lost" if counted == 1 else "both were lost"
    return [
        f"Two visits at the same moment were both answered 200 ({told_text}), but the count "
        f"rose by only {counted}: {lost} (a lost update)."
    ]


OUTAGE_PATIENCE = 6.0  # seconds a visit may take to answer during an outage


def _sessions(stack: Any) -> tuple[Visitor, list[str]]:
    """Two new visitors, two visits each: (the first visitor, what fails)."""
    first, second = Visitor(stack), Visitor(stack)
    for visitor, which in ((first, "first visit"), (second, "first visit of a second visitor")):
        answer, logs = visitor.visit()
        body = answer.json() if isinstance(answer.json(), dict) else {}
        if visitor is second and answer.status == 200 and body.get("visit_count") != 1:
            message, session = body.get("message"), body.get("session_id")
            return first, [
                f'A second visitor, with no cookie, is told "{message}" (session {session}): '
                "every visitor still counts on one session."
            ]
        if answer.status != 200 or body.get("message") != FIRST_VISIT:
            expected = greeting(1, body.get("session_id", "<a new session id>"))
            return first, [unexpected(which, answer, logs, expected)]
    if first.cookie is None or second.cookie is None:
        return first, [
            f"A new visitor is answered 200 {_quote(answer.body)} but gets no session cookie "
            "(no Set-Cookie header), so their next visit cannot find their session."
        ]
    if first.cookie == second.cookie:
        return first, [f"Two new visitors get the same session cookie, {first.cookie}."]
    for visitor, which in ((first, "first"), (second, "second")):
        answer, logs = visitor.visit()
        expected = greeting(2, visitor.cookie.partition("=")[2])
        if not (answer.status == 200 and answer.json() == expected):
            return first, [
                unexpected(f"second visit of the {which} visitor", answer, logs, expected)
            ]
    return first, []


@stack_check
def sessions_and_honest_errors(stack: Any) -> list[str]:
    """Each visitor counts on a session of their own, a malformed session id gets 400, and an
    outage of DynamoDB gets 503 with Retry-After, its cause in the logs (stage 05 -> 06)."""
    visitor, problems = _sessions(stack)
    if visitor.answer is None or visitor.answer.status != 200:
        return problems  # a counter that does not answer at all: that comes first

    bad = f"{visitor.cookie.partition('=')[0] if visitor.cookie else 'session_id'}={SESSION}"
    answer = visit(visitor.url, bad)
    if answer.status != 400:
        problems.append(
            f"A visit whose cookie is {bad}, the original's id and not one that this counter "
            f"makes, answers {answer.status} {_quote(answer.body)}, where a malformed session "
            "id should get 400."
        )

    with stack.aws.dynamodb_outage("throttled"):
        answer, logs = visitor.visit(patience=OUTAGE_PATIENCE)
    during = "While DynamoDB throttles every call, a visit"
    if answer.status == 0:
        problems.append(
            f"{during} still has no answer after {OUTAGE_PATIENCE:g} seconds, where it should "
            "get 503 with a Retry-After header within a few seconds."
        )
    elif answer.status != 503:
        line = error_line(logs)
        problems.append(
            f"{during} answers {answer.status} {_quote(answer.body)}"
            + (f" (the logs say `{_quote(line)}`)" if line else "")
            + ", where it should get 503 with a Retry-After header."
        )
    elif not answer.retry_after:
        problems.append(
            f"{during} answers 503 but without a Retry-After header: clients cannot tell when "
            "to try again."
        )
    elif not printed_lines(logs):
        problems.append(
            f"{during} answers 503, but the logs do not say why: log the cause, so that an "
            "outage can be told from a bug."
        )
    return problems


# What a function might be allowed to do to a table: the data calls, and the table itself.
DYNAMODB_ACTIONS = (
    "BatchGetItem",
    "BatchWriteItem",
    "ConditionCheckItem",
    "DeleteItem",
    "DeleteTable",
    "DescribeTable",
    "GetItem",
    "PartiQLDelete",
    "PartiQLInsert",
    "PartiQLSelect",
    "PartiQLUpdate",
    "PutItem",
    "Query",
    "Scan",
    "UpdateItem",
    "UpdateTable",
)
OTHER_TABLE = "another-teams-table"


@contextlib.contextmanager
def dynamodb_calls(stack: Any) -> Iterator[set[str]]:
    """The IAM actions (`dynamodb:UpdateItem`) that the function's DynamoDB calls needed."""
    from workshop.iam import function_credentials, requested

    key = function_credentials(stack.function())["AWS_ACCESS_KEY_ID"]
    gate = stack.aws.gate
    if gate is None:
        raise WorkshopError("this check needs the embedded local AWS (unset AWS_ENDPOINT_URL)")
    authorize = gate.authorizers.get(key)
    actions: set[str] = set()

    def watched(target: str, body: dict[str, Any]) -> dict[str, Any] | None:
        operation = target.rsplit(".", 1)[-1]
        actions.update(action for action, _ in requested(operation, body, stack.aws.region))
        return authorize(target, body) if authorize else None

    stack.aws.authorize(key, watched)
    try:
        yield actions
    finally:
        stack.aws.authorize(key, authorize)


def _listed(actions: list[str]) -> str:
    return actions[0] if len(actions) == 1 else ", ".join(actions[:-1]) + " and " + actions[-1]


@stack_check
def least_privilege_and_operations(stack: Any) -> list[str]:
    """The function may make only the DynamoDB calls it makes, on its own table; its logs are
    JSON and kept for a limited time; the API is throttled, the function's concurrency reserved
    and the table recoverable to any second (stage 06 -> 07)."""
    from moto.iam.access_control import PermissionResult

    from workshop.iam import decide
    from workshop.sam_template import ACCOUNT_ID

    visitor = Visitor(stack)
    printed: list[str] = []
    with dynamodb_calls(stack) as called:
        for count in (1, 2):
            answer, logs = visitor.visit()
            session = (visitor.cookie or f"={SESSION}").partition("=")[2]
            if not _is_greeting(answer, count, session):
                return [unexpected(ORDINALS[count - 1], answer, logs, greeting(count, session))]
            printed += logs

    function = stack.function()
    tables = f"arn:aws:dynamodb:{stack.aws.region}:{ACCOUNT_ID}:table/"
    table = tables + stack.table().name

    def allowed(resource: str) -> list[str]:
        actions = [f"dynamodb:{action}" for action in DYNAMODB_ACTIONS]
        return [
            action
            for action in actions
            if decide(function.policies, action, resource) == PermissionResult.PERMITTED
        ]

    problems = []
    unused = [action for action in allowed(table) if action not in called]
    if unused:
        calls = _listed(sorted(called)) if called else "none of them"
        harm = [
            words
            for action, words in (
                ("dynamodb:Scan", "a Scan reads every visitor's session id"),
                ("dynamodb:DeleteItem", "a DeleteItem erases any count"),
            )
            if action in unused
        ]
        problems.append(
            f"The function's policy still allows {_listed(unused)} on its table, where the "
            f"handler calls only {calls}"
            + (f": with the function's credentials, {_listed(harm)}." if harm else ".")
        )
    elsewhere = allowed(tables + OTHER_TABLE)
    if elsewhere:
        problems.append(
            f"The function's policy allows {_listed(elsewhere)} on other tables too, such as "
            f"{tables + OTHER_TABLE}, where only its own table ({table}) is needed."
        )
    problems += _operations(stack, printed)
    return problems


def _operations(stack: Any, printed: list[str]) -> list[str]:
    """What running the counter in production needs, read from the running stack."""
    function, table = stack.function(), stack.table().name
    problems = []
    if not any(_is_json_record(message) for message in printed):
        problems.append(
            "The function's logs are plain text, such as "
            f"`{_quote(printed[0].splitlines()[0]) if printed else 'START RequestId: ...'}`, "
            "where JSON records (LoggingConfig LogFormat: JSON) can be queried field by field."
        )
    logs = stack.aws.client("logs")
    groups = logs.describe_log_groups(logGroupNamePrefix=function.log_group)["logGroups"]
    retention = [
        g.get("retentionInDays") for g in groups if g["logGroupName"] == function.log_group
    ]
    if not retention or not retention[0]:
        problems.append(
            f"The function's log group, {function.log_group}, keeps its logs for ever (no "
            "RetentionInDays), and every day kept is paid for."
        )
    if all(api.throttle_rate is None for api in stack.template.apis.values()):
        problems.append(
            "The API has no throttling (MethodSettings ThrottlingRateLimit and "
            "ThrottlingBurstLimit): any flood of requests reaches the function."
        )
    if function.reserved_concurrency is None:
        problems.append(
            "The function has no reserved concurrency (ReservedConcurrentExecutions): a flood "
            "can take every execution environment the account has."
        )
    deploy = _samconfig(stack.project_dir).get("deploy", {}).get("parameters", {})
    if deploy.get("disable_rollback") is True:
        problems.append(
            "The project's samconfig.toml keeps a failed deploy as it is (disable_rollback = "
            "true): its half-made resources stay in the account, where a rollback removes them."
        )
    backups = stack.aws.client("dynamodb").describe_continuous_backups(TableName=table)
    recovery = backups["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
    if recovery.get("PointInTimeRecoveryStatus") != "ENABLED":
        problems.append(
            f"The table {table} has no point-in-time recovery "
            "(PointInTimeRecoverySpecification): a bad write or a deleted item is lost for good."
        )
    return problems


def _is_json_record(message: str) -> bool:
    try:
        return isinstance(json.loads(message), dict)
    except ValueError:
        return False


# ------------------------------------------------------------------ the build (stage 04) --

BUILD_SKIP = shutil.ignore_patterns(".aws-sam", "__pycache__", "*.pyc", ".ipynb_checkpoints")
SYNCED_WORDS = "the project folder (simulated: the check holds every file a build writes there)"


def _samconfig(project: Path) -> dict[str, Any]:
    """The `default` environment of the project's samconfig.toml ({} if none, or unreadable)."""
    try:
        config = tomllib.loads((project / "samconfig.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    default = config.get("default", {})
    return default if isinstance(default, dict) else {}


def _configured_build_dir(samconfig: Path) -> tuple[str | None, str | None]:
    """(build_dir from samconfig.toml's default build or global parameters, or None; an error)."""
    if not samconfig.is_file():
        return None, None
    try:
        config = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        return None, f"samconfig.toml is not valid TOML ({error}): sam build would stop on it too."
    default = config.get("default", {})
    for command in ("build", "global"):
        parameters = default.get(command, {}).get("parameters", {})
        if isinstance(parameters, dict) and "build_dir" in parameters:
            return str(parameters["build_dir"]), None
    return None, None


def _sam_build(sandbox: Path, build_dir: Path | None) -> subprocess.CompletedProcess:
    """`sam build` in the sandbox's project, as configured, with the simulated holds passed on."""
    from workshop import build

    command = [build._sam_executable(), "build"]
    if build_dir is not None:
        command += ["--build-dir", str(build_dir)]
    with build._sam_environment() as env:
        return subprocess.run(
            command,
            cwd=sandbox,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=300,
        )


def _sam_error(result: subprocess.CompletedProcess) -> str:
    lines = [line.strip() for line in (result.stderr + "\n" + result.stdout).splitlines()]
    errors = [line for line in lines if line.startswith("Error:")]
    return _quote((errors or [line for line in lines if line] or ["(no output)"])[-1])


def _written(project: Path, before: set[Path]) -> list[str]:
    """What appeared in the project since `before`, two levels deep (`.aws-sam/deps`)."""
    new = {path.relative_to(project) for path in project.rglob("*") if path not in before}
    shallow = {Path(*path.parts[:2]) for path in new}
    return sorted(
        path.as_posix() for path in shallow if not any(path in other.parents for other in shallow)
    )


@folder_check
def builds_while_synced(folder: Path) -> list[str]:
    """`sam build` succeeds twice in a row while OneDrive holds what it wrote (stage 04).

    The project is copied to a scratch folder that stands for the learner's OneDrive folder,
    and built there with the real `sam build`, configured by the copy's samconfig.toml. Then
    every file and folder the build wrote inside the project is held, as OneDrive holds files
    while it uploads them (workshop.build.simulated_lock), and it is built again: the second
    build must succeed, and must not have written anything into the project at all.
    A build_dir outside the project goes to a scratch folder beside it: where exactly does not
    matter here, only that it is out of the synced folder (and sam empties a build_dir before
    it builds, which must never happen to a real folder of the learner's).
    """
    from workshop import build

    folder = Path(folder).resolve()
    if not (folder / "template.yaml").is_file():
        return [f"There is no template.yaml in {folder}: sam build needs one."]
    build._check_python(folder, ())  # no python3.11: this machine's problem, not the project's
    configured, problem = _configured_build_dir(folder / "samconfig.toml")
    if problem:
        return [problem]
    with tempfile.TemporaryDirectory(prefix="workshop-check-") as scratch:
        sandbox = Path(scratch) / "synced" / folder.name
        shutil.copytree(folder, sandbox, ignore=BUILD_SKIP)
        build_dir = None
        if configured is not None:
            wanted = Path(configured)
            target = Path(os.path.abspath(wanted if wanted.is_absolute() else folder / wanted))
            if target == folder or folder in target.parents:
                build_dir = sandbox / target.relative_to(folder)
            else:
                build_dir = Path(scratch) / "elsewhere" / "build"
        sources = set(sandbox.rglob("*"))

        first = _sam_build(sandbox, build_dir)
        if first.returncode != 0:
            return [f"`sam build` fails even with nothing held: sam said `{_sam_error(first)}`"]
        built = [path for path in sandbox.rglob("*") if path not in sources]
        with contextlib.ExitStack() as holds:
            for path in built:
                holds.enter_context(build.simulated_lock(path))
            second = _sam_build(sandbox, build_dir)
        written = _written(sandbox, sources)
    if second.returncode != 0:
        return [
            "The second `sam build` in a row stops with a PermissionError: OneDrive holds what "
            f"the first build wrote in {SYNCED_WORDS}, and sam said `{_sam_error(second)}`. "
            "Deleting .aws-sam mends one build, not the next."
        ]
    if written:
        return [
            f"`sam build` succeeds, but it still writes into {SYNCED_WORDS}: "
            f"{', '.join(written)}. A cached build keeps .aws-sam/cache and .aws-sam/deps in "
            "the project whatever build_dir says."
        ]
    return []
