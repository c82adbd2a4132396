"""What the tests share: visits, waiting with a deadline, the files of a SAM project, acting as
the function, and the probe app of the harness tests.

Fixtures live in the conftest files (tests/conftest.py for the whole suite); plain helpers live
here, imported by name, so that no test module imports another or a conftest.
"""

from __future__ import annotations

import contextlib
import filecmp
import importlib.util
import json
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest

from workshop import cli, interrupt, manifest
from workshop.local.iam import function_credentials
from workshop.local.lambda_runtime import FunctionRuntime
from workshop.local.physical_names import generated_name
from workshop.local.sam_template import load
from workshop.types import Function

PROBE_APP = Path(__file__).resolve().parent / "fixtures" / "harness_app"


# The probe stack's names, as CloudFormation makes them (with its suffix).
PROBE_FUNCTION = generated_name("probe", "ProbeFunction", 64)


PROBE_TABLE = generated_name("probe", "ItemsTable", 255)


def fetch(url: str, method: str = "GET", headers: dict | None = None, data: bytes | None = None):
    """(status, headers, body) of an HTTP request; error statuses are answers, not exceptions."""
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def raw_http(url: str, data: bytes, *, end: bool = False) -> list[tuple[int | None, dict, bytes]]:
    """(status, headers by lower-case name, body) of each answer a server writes to `data`,
    sent as is on a new connection to `url`'s host, up to the server's closing it.

    `end` closes the sending half after `data`, as a client that stops halfway does. A server
    that keeps the connection open fails the call after 10 s, where a client would hang.
    """
    raw, where = b"", urlsplit(url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        sock.sendall(data)
        if end:
            sock.shutdown(socket.SHUT_WR)
        while piece := sock.recv(65536):
            raw += piece
    if raw and not raw.startswith(b"HTTP/"):
        return [(None, {}, raw)]  # an HTTP/0.9 answer: a body alone, ended by the closing
    answers = []
    while raw:
        head, _, raw = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", 0))
        answers.append((int(status_line.split()[1]), headers, raw[:length]))
        raw = raw[length:]
    return answers


def fetch_json(url: str, **options):
    status, _, body = fetch(url, **options)
    return status, json.loads(body)


SESSION = "user_123"


FIRST_VISIT = "Welcome! This is your first visit."


UNAVAILABLE = {"message": "The visit counter is unavailable; try again shortly."}


BAD_GATEWAY = {"message": "Internal server error"}  # API Gateway's, when the function fails


COOKIE = re.compile(
    r"session_id=([A-Za-z0-9_-]{22}); Max-Age=31536000; Path=/; HttpOnly; Secure; SameSite=Lax"
)


def visit(url: str, cookie: str | None = None) -> tuple[int, dict, dict]:
    """(status, headers, JSON body) of one GET, sending `cookie` as the Cookie header."""
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def count_of(url: str, cookie: str | None = None) -> int:
    status, _, body = visit(url, cookie)
    assert status == 200, body
    return body["visit_count"]


@contextlib.contextmanager
def dynamodb_calls(stack, before: Callable[[str], None] | None = None) -> Iterator[list[str]]:
    """The DynamoDB operations the stack's function calls while inside, in order.

    The local AWS shows a hook each call signed with the function's credentials before its IAM
    check (`LocalAWS.intercept_dynamodb`): it sees exactly the calls the handler makes, and
    nothing else's (the tests' own reads are signed otherwise); `before(operation)` runs first
    and may hold the call back, to force an interleaving.
    """
    key = function_credentials(stack.function())["AWS_ACCESS_KEY_ID"]
    calls: list[str] = []

    def watch(target: str, _body: dict) -> None:
        operation = target.rsplit(".", 1)[-1]
        calls.append(operation)
        if before is not None:
            before(operation)

    with stack.aws.intercept_dynamodb(key, watch):
        yield calls


@contextlib.contextmanager
def before_each_run(runtime, hook: Callable[[], None]) -> Iterator[None]:
    """Call `hook` as each invocation of `runtime` is about to run in the environment it got,
    which stays busy meanwhile: how a test holds invocations in flight, with no sleep."""
    run = runtime._run

    def hooked(*args):
        hook()
        return run(*args)

    runtime._run = hooked  # on this instance only, until the end
    try:
        yield
    finally:
        del runtime._run


@contextlib.contextmanager
def first_run_held(runtime) -> Iterator[tuple[threading.Event, threading.Event]]:
    """(taken, release): the first invocation holds its environment from `taken` on, until the
    test sets `release` (or leaves the block)."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        if not taken.is_set():
            taken.set()
            release.wait(60)

    try:
        with before_each_run(runtime, hold):
            yield taken, release
    finally:
        release.set()


def invoke_at_once(stack, events: list) -> list:
    """Invoke the stack's one function with every event at the same time; the invocations.

    Each invocation holds the environment it got until all of them have one, so they are truly
    in flight together: left to the scheduler, a warm invocation of a few milliseconds may end
    before the next one starts, and reuse would hide the concurrency a test is about.
    """
    (runtime,) = stack.runtimes.values()
    all_in_flight = threading.Barrier(len(events), timeout=60)
    with before_each_run(runtime, all_in_flight.wait), ThreadPoolExecutor(len(events)) as pool:
        return list(pool.map(stack.invoke, events))


def project_files(root: Path) -> dict[str, Path]:
    """What sam reads of a project: template.yaml, samconfig.toml and src/ (no __pycache__)."""
    paths = [root / "template.yaml", root / "samconfig.toml", *sorted((root / "src").rglob("*"))]
    return {
        path.relative_to(root).as_posix(): path
        for path in paths
        if path.is_file() and "__pycache__" not in path.parts
    }


def changed_files(a: str, b: str) -> list[str]:
    """The files that differ from stage `a` to stage `b`, which must have the same files."""
    old, new = project_files(manifest.find(a).path), project_files(manifest.find(b).path)
    assert old.keys() == new.keys()
    return [name for name in new if not filecmp.cmp(old[name], new[name], shallow=False)]


def stage_module(stage: str, monkeypatch):
    """A stage's app.py, imported here as the runtime would (nothing is called at import)."""
    monkeypatch.setenv("STATE_TABLE_NAME", "not-used")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    path = manifest.find(stage).path / "src" / "app.py"
    spec = importlib.util.spec_from_file_location(f"stage{stage}_app", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def new_session(url: str) -> tuple[str, dict]:
    """Visit without a cookie; return the `session_id=...` cookie to send back, and the body."""
    status, headers, body = visit(url)
    assert status == 200, body
    found = COOKIE.fullmatch(headers["Set-Cookie"])
    assert found, headers["Set-Cookie"]
    assert body == {"message": FIRST_VISIT, "session_id": found[1], "visit_count": 1}
    return f"session_id={found[1]}", body


def as_the_function(stack):
    """A DynamoDB client signed with the function's own credentials, as its code would be."""
    credentials = function_credentials(stack.function())
    return boto3.client(
        "dynamodb",
        endpoint_url=stack.aws.endpoint_url,
        region_name=stack.aws.region,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )


LIFECYCLE_DATA = "LmbdRuntimeLifecycle.json"


# What cfn-lint reports from each date of a runtime's lifecycle on (the rules' own ids).
FROM = {"deprecated": "W2531", "create-block": "E2531", "update-block": "E2533"}


def lifecycle() -> dict[str, dict[str, str]]:
    """cfn-lint's data: for each runtime, its deprecated, create-block and update-block dates."""
    # Found, not imported: importing cfnlint takes half a second, in every worker that collects.
    (package,) = importlib.util.find_spec("cfnlint").submodule_search_locations
    data = Path(package, "data", "AdditionalSpecs", LIFECYCLE_DATA)
    return json.loads(data.read_text(encoding="utf-8"))


def runtimes(name: str) -> set[str]:
    """The runtimes of a project's functions."""
    template = load(manifest.project(name).path / "template.yaml", stack_name="check")
    return {function.runtime for function in template.functions.values()}


def lifecycle_findings(runtime: str, day: date) -> set[str]:
    """The rule cfn-lint reports for a function on `runtime` on `day`: none while supported."""
    dates = lifecycle().get(runtime)
    if dates is None:
        return set()
    reached = [FROM[key] for key in FROM if date.fromisoformat(dates[key]) <= day]
    return set(reached[-1:])  # the latest stage reached: each rule stops where the next starts


CHROMIUM_NAMES = ("chromium", "chromium-browser")


# No sandbox (tests may run as root), and none of the calls home a fresh profile makes.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_executable() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        f"no Chromium on PATH (looked for {', '.join(CHROMIUM_NAMES)}): install one, "
        "e.g. `apt-get install chromium`, to run the browser test"
    )


def shown_json(page) -> dict:
    """The JSON body as the browser shows it: Chromium puts a JSON answer in a <pre>."""
    return json.loads(page.locator("pre").first.inner_text())


def wait_until(
    condition: Callable[[], object], timeout: float, what: Callable[[], str] = str
) -> None:
    """Wait for `condition()` to hold, however fast the machine is; fail after `timeout` seconds,
    saying `what()`."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what() or "timed out"
        time.sleep(0.02)


# The READMEs, and the commands each tells its reader to type: its ```console blocks.

READMES = [
    manifest.REPO_ROOT / "README.md",
    manifest.REPO_ROOT / "notebooks" / "README.md",
    *(stage.path / "README.md" for stage in manifest.stages()),
]


@dataclass
class Command:
    """One line of a ```console block: what follows `python run.py`, and what its comment says."""

    args: list[str]
    must_fail: bool = False
    shows: str | None = None  # text it must print
    visits: int = 0  # for `up`: how many times the reader opens its URL

    @classmethod
    def parse(cls, line: str) -> Command:
        command, _, comment = line.partition("#")
        comment = comment.strip()
        words = shlex.split(command)
        assert words[:2] == ["python", "run.py"], f"{line!r} is not `python run.py`"
        return cls(
            args=words[2:],
            must_fail=comment.startswith("fails"),
            shows=comment.removeprefix("shows ") if comment.startswith("shows ") else None,
            visits=(2 if "refresh" in comment else 1) if "open its URL" in comment else 0,
        )


# Words of the story that each check must say on the code its exercise starts from. Each
# stage's README has its reader type `try NN`, then `check NN  # fails`: tests/docs runs those
# and asserts them there (tests/learn/test_checks.py makes sure every exercise's README does).
# The checks of 02 and 08 are judged on their start by the stage tests (OWNED_BY_THE_STAGE_TESTS).
STORY_WORDS = {
    "builds_while_synced": ["is refused the files it must replace", "Permission denied"],
    "counts_visits_at_once": ["both answered 200", "(a lost update)"],
    "sessions_and_honest_errors": ["every visitor still counts on one session", "400", "503"],
    "least_privilege_and_operations": [
        "The function's policy still allows",
        "a Scan reads every visitor's session id and a DeleteItem erases any count.",
        "point-in-time recovery",
    ],
}


def problems_printed(stdout: str) -> list[str]:
    """What `python run.py check` printed as still failing: the lines after "Not yet."."""
    _, found, rest = stdout.partition("Not yet. What still fails:\n")
    assert found, f"`check` printed no problems:\n{stdout}"
    return [line.removeprefix("  - ") for line in rest.splitlines() if line.startswith("  - ")]


def console_commands(readme: Path) -> list[Command]:
    """Each command of the README's ```console blocks, in order."""
    return console_commands_in(readme.read_text(encoding="utf-8"))


def console_commands_in(text: str) -> list[Command]:
    blocks = re.findall(r"```console\n(.*?)```", text, re.DOTALL)
    return [
        Command.parse(line)
        for block in blocks
        for line in block.splitlines()
        if line.partition("#")[0].strip()
    ]


# Ports a test holds, for `up` to find taken.


@contextlib.contextmanager
def held_ports(*offsets: int, reserve: bool = False) -> Iterator[int]:
    """A port P, with P + each offset listened on by this test while the block runs.

    With `reserve`, P is bound and not listening, with SO_REUSEADDR: free to a program that asks
    for it so (as `up` does), to no other. Every port is held, not merely found taken: one that
    was busy when looked at (another test's connection) may be free when the program asks.
    """
    for _ in range(50):
        with contextlib.ExitStack() as held:
            first = held.enter_context(socket.socket())
            if reserve:
                first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            first.bind(("127.0.0.1", 0))
            if not reserve:
                first.listen()
            port = first.getsockname()[1]
            try:
                for offset in offsets:
                    other = held.enter_context(socket.socket())
                    other.bind(("127.0.0.1", port + offset))
                    other.listen()
            except (OSError, OverflowError):  # one of them in use, or past 65535: another P
                continue
            yield port
            return
    pytest.fail(f"no free port P with P + {offsets} free too, in 50 tries")


# The `workshop` command as the CLI tests run it.


def workshop(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workshop", *args],
        capture_output=True,
        text=True,
        cwd=manifest.REPO_ROOT,
        timeout=120,
    )


def here(capsys, *args: str) -> subprocess.CompletedProcess:
    """One command run by `cli.main` in this process, as `python -m workshop` runs it: for what
    happens inside a command (reading its files, its one-line errors), without the cost of a
    new Python that imports the harness. The subprocess tests keep what only a process shows
    (its exit on Ctrl-C or a closed pipe, run.py, the user's AWS setup read at start)."""
    caught = [getattr(signal, name) for name in interrupt.STOPPING if hasattr(signal, name)]
    handlers = {name: signal.getsignal(name) for name in caught}
    capsys.readouterr()
    try:
        code = cli.main(list(args))
    except SystemExit as stop:  # argparse's end after a usage mistake: `python -m workshop` exits
        code = stop.code
    finally:
        for name, handler in handlers.items():  # `up`, `race`, `check` take Ctrl-C over
            signal.signal(name, handler)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


# A built SAM project (tests/harness/conftest.py `project`): the runtime of this Python, and the
# file that a simulated OneDrive holds.

HERE_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


def held_file(project: Path) -> Path:
    return project / ".aws-sam" / "build" / "HelloWorldFunction" / "app.py"


# A request's headers as the SDK signs it for the local AWS (moto checks no signature).
SIGNED = {
    "Content-Type": "application/x-amz-json-1.0",
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/dynamodb/"
    "aws4_request, SignedHeaders=host, Signature=0",
}


def code_runtime(code: Path, **config) -> FunctionRuntime:
    """A function whose code is the folder `code` (its handler `app.handler` unless told),
    run by the harness's Lambda service with no AWS to reach; the caller closes it."""
    function = Function(
        logical_id="ProbeFunction",
        name="probe-ProbeFunction",
        arn="arn:aws:lambda:us-east-1:123456789012:function:probe-ProbeFunction",
        code_dir=Path(code),
        handler=config.pop("handler", "app.handler"),
        runtime="python3.11",
        timeout=config.pop("timeout", 3),
        memory_size=config.pop("memory_size", 128),
        environment={},
        policies=[],
        role_name="probe-role",
        logging_config=config.pop("logging_config", {}),
    )
    return FunctionRuntime(
        function, aws_endpoint="http://127.0.0.1:9", region="us-east-1", credentials={}
    )
