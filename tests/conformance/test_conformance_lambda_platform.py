"""The harness's Lambda platform (workshop/local/lambda_runtime.py) against what Lambda writes.

Each case runs a small function in a real environment of the harness and compares its log
lines and errors with Lambda's documentation or with logs recorded on AWS (named in the
docstring). Figures that vary (durations, memory, ids) are matched by form.
"""

from __future__ import annotations

import json
import pathlib
import re
import sqlite3
import urllib.error
import urllib.request
import uuid

import pytest

from tests.helpers import code_runtime
from workshop.local.lambda_runtime import FunctionRuntime
from workshop.local.stack import Stack

RID = r"[0-9a-f-]{36}"
MS = r"\d+\.\d\d ms"


@pytest.fixture
def make_runtime(tmp_path):
    """A function of one module, app.py, run by the harness's Lambda service."""
    runtimes: list[FunctionRuntime] = []

    def make(source: str, **config) -> FunctionRuntime:
        code = tmp_path / f"fn{len(runtimes)}"
        code.mkdir()
        (code / "app.py").write_text(source)
        runtime = code_runtime(code, **config)
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        runtime.close()


OK = "def handler(event, context):\n    return {'ok': True}\n"


def lines(inv) -> list[str]:
    return [event.message for event in inv.logs]


def test_init_start_names_the_runtime_version_at_each_cold_start_only(make_runtime):
    """https://docs.aws.amazon.com/lambda/latest/dg/runtime-management-identify.html
    (INIT_START, version and ARN separated by a tab, once per environment)."""
    runtime = make_runtime(OK)
    cold, warm = runtime.invoke({}), runtime.invoke({})
    assert re.fullmatch(
        r"INIT_START Runtime Version: python:3\.11\.v\d+\t"
        r"Runtime Version ARN: arn:aws:lambda:us-east-1::runtime:[0-9a-f]{64}",
        lines(cold)[0],
    )
    assert not any(line.startswith("INIT_START") for line in lines(warm))


def test_start_end_report_in_text(make_runtime):
    """localstack/localstack tests/aws/services/lambda_/test_lambda.snapshot.json,
    TestLambdaFeatures::test_invocation_with_logs[python3.10] (recorded on AWS 2025-11-24):
    START, END and a REPORT ending in a tab."""
    runtime = make_runtime(OK)
    inv = runtime.invoke({})
    rid = inv.request_id
    assert lines(inv)[1:] == [
        f"START RequestId: {rid} Version: $LATEST",
        f"END RequestId: {rid}",
        lines(inv)[-1],
    ]
    assert re.fullmatch(
        rf"REPORT RequestId: {rid}\tDuration: {MS}\tBilled Duration: \d+ ms\t"
        rf"Memory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: {MS}\t",
        lines(inv)[-1],
    )


def test_platform_records_in_json_are_compact(make_runtime):
    """https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html
    (platform.initStart, platform.start, platform.report records) and
    https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html
    (system logs as JSON objects, written without spaces)."""
    runtime = make_runtime(OK, logging_config={"LogFormat": "JSON"})
    inv = runtime.invoke({})
    records = [json.loads(line) for line in lines(inv)]
    assert all(" " not in line for line in lines(inv))
    assert [record["type"] for record in records] == [
        "platform.initStart",
        "platform.start",
        "platform.report",
    ]
    init = records[0]["record"]
    assert init["initializationType"] == "on-demand" and init["phase"] == "init"
    assert init["runtimeVersion"].startswith("python:3.11.v")
    assert init["functionName"] == "probe-ProbeFunction" and init["functionVersion"] == "$LATEST"
    assert init["instanceId"] == inv.log_stream
    assert init["instanceMaxMemory"] == 128 * 1024 * 1024
    assert records[1]["record"] == {
        "requestId": inv.request_id,
        "functionArn": runtime.function.arn,
        "version": "$LATEST",
    }
    report = records[2]["record"]
    assert report["status"] == "success" and report["requestId"] == inv.request_id
    assert set(report["metrics"]) == {
        "durationMs",
        "billedDurationMs",
        "memorySizeMB",
        "maxMemoryUsedMB",
        "initDurationMs",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", records[2]["time"])


@pytest.mark.parametrize("level, shown", [("WARN", False), ("INFO", True), ("DEBUG", True)])
def test_system_log_level_filters_platform_records(make_runtime, level, shown):
    """https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
    (system log levels DEBUG, INFO, WARN; start and report are INFO)."""
    runtime = make_runtime(
        "import logging\ndef handler(event, context):\n    logging.getLogger().error('kept')\n",
        logging_config={"LogFormat": "JSON", "SystemLogLevel": level},
    )
    inv = runtime.invoke({})
    types = [json.loads(line).get("type") for line in lines(inv)]
    assert any(kind and kind.startswith("platform.") for kind in types) is shown
    assert any(json.loads(line).get("message") == "kept" for line in lines(inv))


def test_application_log_level_filters_the_functions_lines(make_runtime):
    """https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
    (in the JSON format Lambda keeps the application's lines at or above ApplicationLogLevel;
    a line without a level counts as INFO)."""
    runtime = make_runtime(
        "import logging\n"
        "def handler(event, context):\n"
        "    print('plain')\n"
        "    logging.getLogger().info('detail')\n"
        "    logging.getLogger().warning('kept')\n",
        logging_config={"LogFormat": "JSON", "ApplicationLogLevel": "WARN"},
    )
    inv = runtime.invoke({})
    assert "plain" not in lines(inv)
    messages = [json.loads(line).get("message") for line in lines(inv)]
    assert "kept" in messages and "detail" not in messages


SLOW = (
    "import pathlib, time\n"
    "state = {'n': 0}\n"
    "def handler(event, context):\n"
    "    state['n'] += 1\n"
    "    scratch = pathlib.Path('/tmp/scratch.txt')\n"
    "    if event.get('write'):\n"
    "        scratch.write_text('kept')\n"
    "    if event.get('sleep'):\n"
    "        time.sleep(event['sleep'])\n"
    "    return {'n': state['n'], 'scratch': scratch.read_text() if scratch.exists() else None}\n"
)


def test_timeout_is_reported_only_by_report(make_runtime):
    """DataBiosphere/azul issue #8141 (a timeout recorded on AWS, June 2026: END, then REPORT
    `Duration` equal to the timeout and `Status: timeout`, no "Task timed out" line) and
    localstack/localstack tests/aws/services/lambda_/test_lambda.snapshot.json,
    TestLambdaBehavior::test_lambda_invoke_with_timeout (the error, recorded 2025-11-25)."""
    runtime = make_runtime(SLOW, timeout=1)
    inv = runtime.invoke({"sleep": 30})
    assert inv.error == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {inv.request_id} Error: Task timed out after 1.00 seconds",
    }
    assert not any("Task timed out" in line for line in lines(inv))
    assert lines(inv)[-2] == f"END RequestId: {inv.request_id}"
    assert re.fullmatch(
        rf"REPORT RequestId: {RID}\tDuration: 1000\.00 ms\tBilled Duration: \d+ ms\t"
        rf"Memory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: {MS}\tStatus: timeout",
        lines(inv)[-1],
    )


def test_after_a_timeout_the_sandbox_stays_and_the_runtime_starts_again(make_runtime):
    """localstack/localstack tests/aws/services/lambda_/test_lambda.snapshot.json,
    TestLambdaBehavior::test_lambda_invoke_timed_out_environment_reuse (recorded on AWS
    2024-04-08): after a timeout /tmp keeps its file, module state starts afresh."""
    runtime = make_runtime(SLOW, timeout=1)
    assert runtime.invoke({"write": True}).payload == {"n": 1, "scratch": "kept"}
    assert runtime.invoke({}).payload == {"n": 2, "scratch": "kept"}
    timed_out = runtime.invoke({"sleep": 30})
    after = runtime.invoke({})
    assert after.payload == {"n": 1, "scratch": "kept"}
    assert after.log_stream == timed_out.log_stream


def test_init_failure_is_retried_in_the_invoke_phase(make_runtime):
    """cargo-lambda/cargo-lambda issue #572 (recorded on AWS: INIT_REPORT of the init phase,
    the retry's INIT_REPORT of the invoke phase, then START, END, REPORT) and
    nishidemasami/contactform-api issue #29 (REPORT with `Status: error` and `Error Type`,
    August 2026)."""
    runtime = make_runtime("import nope_not_installed\n")
    inv = runtime.invoke({})
    reports = [line for line in lines(inv) if line.startswith("INIT_REPORT")]
    assert [re.sub(MS, "<ms>", line) for line in reports] == [
        "INIT_REPORT Init Duration: <ms>\tPhase: init\tStatus: error\t"
        "Error Type: Runtime.ImportModuleError",
        "INIT_REPORT Init Duration: <ms>\tPhase: invoke\tStatus: error\t"
        "Error Type: Runtime.ImportModuleError",
    ]
    tail = lines(inv)[-3:]
    assert tail[:2] == [
        f"START RequestId: {inv.request_id} Version: $LATEST",
        f"END RequestId: {inv.request_id}",
    ]
    assert re.fullmatch(
        rf"REPORT RequestId: {RID}\tDuration: {MS}\tBilled Duration: \d+ ms\t"
        r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\tStatus: error\t"
        r"Error Type: Runtime\.ImportModuleError",
        tail[2],
    )
    assert inv.error["errorType"] == "Runtime.ImportModuleError"
    assert inv.error["requestId"] == ""  # the init error, posted before any request
    assert sum(line.startswith("[ERROR] Runtime.ImportModuleError") for line in lines(inv)) == 2


def test_runtime_exit_is_an_exit_error(make_runtime):
    """https://repost.aws/knowledge-center/lambda-runtime-error (the error: `Runtime.ExitError`,
    `RequestId: … Error: Runtime exited with error: exit status N`), cargo-lambda/cargo-lambda
    issue #572 (the same in the logs, then the error type) and nishidemasami/contactform-api
    issue #29 (REPORT's `Status: error` and `Error Type`)."""
    runtime = make_runtime("import sys\ndef handler(event, context):\n    sys.exit(3)\n")
    inv = runtime.invoke({})
    message = f"RequestId: {inv.request_id} Error: Runtime exited with error: exit status 3"
    assert inv.error == {"errorType": "Runtime.ExitError", "errorMessage": message}
    assert f"{message}\nRuntime.ExitError" in lines(inv)
    assert lines(inv)[-1].endswith("\tStatus: error\tError Type: Runtime.ExitError")


def test_a_response_over_6_mb_is_refused_and_the_runtime_exits(make_runtime):
    """DataBiosphere/azul issues #7466 and #8258 (AWS, 2026: the caller's error names the
    6291556-byte quota; the handler had finished; REPORT says `Status: error` and `Error Type:
    Runtime.ExitError`), LocalStack's AWS-validated snapshot of `test_lambda_too_large_response`
    (recorded 2025-11-24: the caller's error, `Function.ResponseSizeTooLarge`), its
    `test_lambda_large_response` (6 MiB goes through: "+ 100 is the upper limit") and
    awslambdaric's `post_invocation_result` (its client raises when the post fails, out of the
    runtime's loop). A response of exactly the quota goes through; one byte more is refused,
    and the next invocation starts a new runtime."""
    runtime = make_runtime(
        "def handler(event, context):\n"
        "    print('returning', event['size'])\n"
        "    return 'x' * (event['size'] - 2)  # two quotes make the JSON string\n"
    )
    fits = runtime.invoke({"size": 6291556})
    assert fits.error is None and len(fits.raw_payload) == 6291556
    inv = runtime.invoke({"size": 6291557})
    assert inv.error == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "Response payload size exceeded maximum allowed payload size "
        "(6291556 bytes).",
    }
    log = lines(inv)
    assert "returning 6291557" in log
    assert "RuntimeError: Failed to post invocation response" in log
    exit_line = f"RequestId: {inv.request_id} Error: Runtime exited with error: exit status 1"
    assert f"{exit_line}\nRuntime.ExitError" in log
    assert log[-1].endswith("\tStatus: error\tError Type: Runtime.ExitError")
    assert runtime.invoke({"size": 10}).cold_start


def test_max_memory_used_is_the_environments_own(make_runtime):
    """https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html (REPORT: Max Memory
    Used, the memory the function used): a handler that returns a constant uses a few tens
    of MB, not the harness's own 100 MB and more; one that holds 60 MB shows them."""
    light = make_runtime(OK).invoke({})
    heavy = make_runtime(
        "import time\n"
        "def handler(event, context):\n"
        "    block = b'x' * (60 * 1024 * 1024)\n"
        "    time.sleep(0.5)  # where only a watch sees memory (macOS), long enough for it\n"
    ).invoke({})
    assert light.max_memory_mb < 50
    assert heavy.max_memory_mb >= light.max_memory_mb + 55


def test_outgrowing_memory_size_kills_the_runtime(make_runtime):
    """nasa-gcn/gcn.nasa.gov PR #3628 and DataBiosphere/azul issue #7730 (functions killed on
    AWS in 2026 for their memory: `Error Type: Runtime.OutOfMemory`) and
    aws-solutions-library-samples/cloud-intelligence-dashboards-data-collection issue #201
    (the kill's `Runtime exited with error: signal: killed`). The function holds 300 MB, for
    longer than the watch needs to see it, against a MemorySize of 128 MB."""
    runtime = make_runtime(
        "import time\n"
        "def handler(event, context):\n"
        "    block = b'x' * (300 * 1024 * 1024)\n"
        "    time.sleep(20)\n",
        timeout=25,
    )
    inv = runtime.invoke({})
    assert inv.error["errorType"] == "Runtime.OutOfMemory"
    assert inv.max_memory_mb == 128
    assert re.fullmatch(
        rf"REPORT RequestId: {RID}\tDuration: {MS}\tBilled Duration: \d+ ms\t"
        rf"Memory Size: 128 MB\tMax Memory Used: 128 MB\tInit Duration: {MS}\t"
        r"Status: error\tError Type: Runtime\.OutOfMemory",
        lines(inv)[-1],
    )


def test_init_duration_counts_from_the_environments_start(make_runtime):
    """https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html (the init
    phase starts the runtime, then runs the function's static code): Init Duration covers
    the module's import and more."""
    runtime = make_runtime(
        "import time\n"
        "started = time.perf_counter()\n"
        "time.sleep(0.2)\n"
        "imported_ms = (time.perf_counter() - started) * 1000\n"
        "def handler(event, context):\n    return imported_ms\n"
    )
    inv = runtime.invoke({})
    assert inv.init_ms > inv.payload >= 200


HOG_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  HogFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.11
      MemorySize: 128
      Timeout: 25
      Events:
        Hog:
          Type: Api
          Properties:
            Path: /hog
            Method: get
"""


def test_out_of_memory_through_api_gateway_is_a_502(tmp_path):
    """https://docs.aws.amazon.com/apigateway/latest/developerguide/handle-errors-in-lambda-integration.html
    (a Lambda proxy integration answers a function's failure with 502 Internal server error)."""
    (tmp_path / "template.yaml").write_text(HOG_TEMPLATE)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(
        "import time\n"
        "def handler(event, context):\n"
        "    block = b'x' * (300 * 1024 * 1024)\n"
        "    time.sleep(20)\n"
    )
    served = []
    stack = Stack(
        tmp_path, port=0, fresh=True, stack_name="hog", on_request=lambda *args: served.append(args)
    ).start()
    try:
        request = urllib.request.Request(stack.url("/hog"))
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=60)
    finally:
        stack.stop()
    assert answer.value.code == 502
    assert json.loads(answer.value.read()) == {"message": "Internal server error"}
    (_, _, inv, _) = served[0]
    assert inv.error["errorType"] == "Runtime.OutOfMemory"


def test_cloudwatch_keeps_each_text_line_with_its_newline(tmp_path):
    """LocalStack's snapshot of `test_multi_line_prints` (recorded on AWS 2025-11-25): in the
    text format CloudWatch Logs keeps each printed line, and each platform line (INIT_START,
    START, END, and REPORT after its last tab), with the newline that ends it; a `\\r` inside a
    line stays. awslambdaric's `log_error` writes the [ERROR] record of an uncaught error
    without one, and its text formatter ends a log record with one. The workshop's own view
    of the logs shows the lines without it."""
    (tmp_path / "template.yaml").write_text(HOG_TEMPLATE)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(
        "import logging\n"
        "def handler(event, context):\n"
        "    print('multi\\nline\\nstring')\n"
        "    print('another\\rline')\n"
        "    logging.getLogger().warning('careful')\n"
        "    raise ValueError('boom')\n"
    )
    stack = Stack(tmp_path, port=0, fresh=True, stack_name="lines").start()
    try:
        inv = stack.invoke({})
        group = stack.function().log_group
        stored = stack.aws.client("logs").filter_log_events(logGroupName=group)["events"]
        shown = [event.message for event in stack.logs()]
    finally:
        stack.stop()
    messages = [event["message"] for event in stored]
    assert messages[0].startswith("INIT_START Runtime Version: ") and messages[0].endswith("\n")
    assert messages[1] == f"START RequestId: {inv.request_id} Version: $LATEST\n"
    assert messages[2:6] == ["multi\n", "line\n", "string\n", "another\rline\n"]
    assert re.fullmatch(rf"\[WARNING\]\t\S+Z\t{inv.request_id}\tcareful\n", messages[6])
    assert messages[7].startswith("[ERROR] ValueError: boom\nTraceback (most recent call last):")
    assert not messages[7].endswith("\n")
    assert messages[8] == f"END RequestId: {inv.request_id}\n"
    assert messages[9].startswith(f"REPORT RequestId: {inv.request_id}\t")
    assert messages[9].endswith(" ms\t\n")
    assert shown == [message.removesuffix("\n") for message in messages]


def test_the_code_folder_is_read_only_and_tmp_is_not(make_runtime):
    """omkarcloud/botasaurus issue #98 ("lambda cannot write into any directory other than
    /tmp"); the errors of a read-only file system as Linux gives them: a write, a new file or
    folder, a deletion, a truncation, a link fail with EROFS, in the code's folder and anywhere
    else but /tmp (the home folder); reading, and opening an existing file with O_CREAT but no
    write access, work. /tmp is writable, a folder's removal too, and the null device."""
    runtime = make_runtime(
        "import os, shutil, tempfile\n"
        "here = os.path.dirname(os.path.abspath(__file__))\n"
        "app = os.path.join(here, 'app.py')\n"
        "def attempt(action):\n"
        "    try:\n"
        "        action()\n"
        "    except OSError as error:\n"
        "        return str(error)\n"
        "    return 'done'\n"
        "def handler(event, context):\n"
        "    with tempfile.TemporaryDirectory() as scratch:\n"
        "        os.makedirs(os.path.join(scratch, 'a', 'b'))\n"
        "        open(os.path.join(scratch, 'a', 'b', 'c.txt'), 'w').write('in /tmp')\n"
        "        shutil.rmtree(os.path.join(scratch, 'a'))\n"
        "    return {\n"
        "        'read': open(app).read(3),\n"
        "        'existing': attempt(lambda: os.close(os.open(app, os.O_RDONLY | os.O_CREAT))),\n"
        "        'write': attempt(lambda: open(os.path.join(here, 'count.json'), 'w')),\n"
        "        'append': attempt(lambda: os.open(app, os.O_WRONLY | os.O_APPEND)),\n"
        "        'truncate': attempt(lambda: os.truncate(app, 0)),\n"
        "        'link': attempt(lambda: os.symlink('/tmp', os.path.join(here, 'tmp'))),\n"
        "        'mkdir': attempt(lambda: os.makedirs(os.path.join(here, 'logs'))),\n"
        "        'remove': attempt(lambda: os.remove(app)),\n"
        "        'elsewhere': attempt(lambda: open(event['elsewhere'], 'w')),\n"
        "        'devnull': attempt(lambda: open(os.devnull, 'w').write('x')),\n"
        "    }\n"
    )
    elsewhere = pathlib.Path.home().resolve() / f"count-{uuid.uuid4()}.json"  # not in /tmp
    inv = runtime.invoke({"elsewhere": str(elsewhere)})
    assert inv.error is None, inv.error
    refused = "[Errno 30] Read-only file system: '/var/task/{}'"
    assert inv.payload == {
        "read": "imp",
        "existing": "done",
        "write": refused.format("count.json"),
        "append": refused.format("app.py"),
        "truncate": refused.format("app.py"),
        "link": refused.format("tmp"),
        "mkdir": refused.format("logs"),
        "remove": refused.format("app.py"),
        "elsewhere": f"[Errno 30] Read-only file system: '{elsewhere}'",
        "devnull": "done",
    }
    assert not elsewhere.exists()


def test_sqlite3_finds_every_folder_but_tmp_read_only(make_runtime):
    """zappa/Zappa issue #700 (a database deployed with the code, written to on Lambda:
    `sqlite3.OperationalError: attempt to write a readonly database`), aws/aws-sam-cli issue
    #6561 (`unable to open database file`, on AWS too) and SQLite's src/os_unix.c (unixOpen: a
    file that cannot be opened to read and write is opened read-only, and one that cannot be
    opened at all is SQLITE_CANTOPEN): in the code's folder and anywhere else but /tmp, a
    database that exists is read and not written, a new one is not made, whatever the path's
    spelling (relative to /var/task, a pathlib path, a URI that asks for rwc, given in place);
    the traceback names no frame of the harness. /tmp's databases are written."""
    runtime = make_runtime(
        "import pathlib, sqlite3\n"
        "def attempt(action):\n"
        "    try:\n"
        "        return action()\n"
        "    except sqlite3.Error as error:\n"
        "        return f'{type(error).__name__}: {error}'\n"
        "def write(database, **options):\n"
        "    with sqlite3.connect(database, **options) as db:\n"
        "        db.execute('INSERT INTO kept VALUES (2)')\n"
        "    return 'written'\n"
        "def handler(event, context):\n"
        "    if event.get('fail'):\n"
        "        sqlite3.connect('new.db')\n"
        "    with sqlite3.connect('/tmp/scratch.db') as db:\n"
        "        db.execute('CREATE TABLE kept (value)')\n"
        "    return {\n"
        "        'read': sqlite3.connect('shipped.db').execute('SELECT * FROM kept').fetchall(),\n"
        "        'write': attempt(lambda: write('shipped.db')),\n"
        "        'uri': attempt(lambda: write('file:shipped.db?mode=rw', uri=True)),\n"
        "        'pathlib': attempt(lambda: write(pathlib.Path.cwd() / 'shipped.db')),\n"
        "        'new': attempt(lambda: sqlite3.connect('new.db')),\n"
        "        'new by uri': attempt(\n"
        "            lambda: sqlite3.connect('file:new.db?mode=rwc', 5, 0, None, True,\n"
        "                                    sqlite3.Connection, 128, True)\n"
        "        ),\n"
        "        'elsewhere': attempt(lambda: sqlite3.connect(event['elsewhere'])),\n"
        "        'tmp': attempt(lambda: write('/tmp/scratch.db')),\n"
        "    }\n"
    )
    code = pathlib.Path(runtime.function.code_dir)
    with sqlite3.connect(code / "shipped.db") as db:
        db.execute("CREATE TABLE kept (value)")
        db.execute("INSERT INTO kept VALUES (1)")
    db.close()
    elsewhere = pathlib.Path.home().resolve() / f"count-{uuid.uuid4()}.db"  # not in /tmp
    inv = runtime.invoke({"elsewhere": str(elsewhere)})
    failed = runtime.invoke({"fail": True})
    assert inv.error is None, inv.error
    readonly = "OperationalError: attempt to write a readonly database"
    cannot_open = "OperationalError: unable to open database file"
    assert inv.payload == {
        "read": [[1]],
        "write": readonly,
        "uri": readonly,
        "pathlib": readonly,
        "new": cannot_open,
        "new by uri": cannot_open,
        "elsewhere": cannot_open,
        "tmp": "written",
    }
    assert sorted(path.name for path in code.iterdir()) == ["app.py", "shipped.db"]
    assert not elsewhere.exists()
    assert failed.error["errorMessage"] == "unable to open database file"
    assert [line.split(",")[0] for line in failed.error["stackTrace"]] == [
        '  File "/var/task/app.py"'
    ]


def test_a_traceback_names_the_runtimes_files_where_lambda_has_them(make_runtime):
    """Tracebacks recorded on Lambda: the standard library's frames under /var/lang (the
    Decimal error of python3.11, `File "/var/lang/lib/python3.11/json/__init__.py", line 231,
    in dumps`) and the SDK's under /var/runtime (`File "/var/runtime/botocore/client.py"`),
    in public repositories found by those strings; the code's under /var/task."""
    runtime = make_runtime(
        "import decimal, json\n"
        "import boto3\n"
        "def handler(event, context):\n"
        "    if event.get('sdk'):\n"
        "        boto3.client('dynamodb', region_name='us-east-1').get_item(TableName=1)\n"
        "    return json.dumps({'visit_count': decimal.Decimal(2)})\n"
    )
    files = [
        [re.search(r'File "([^"]+)"', frame)[1] for frame in inv.error["stackTrace"]]
        for inv in (runtime.invoke({}), runtime.invoke({"sdk": True}))
    ]
    assert files[0][0] == "/var/task/app.py"
    assert files[0][1:] and all(
        f.startswith("/var/lang/lib/python3.11/json/") for f in files[0][1:]
    )
    assert files[1][0] == "/var/task/app.py"
    assert any(f.startswith("/var/runtime/botocore/") for f in files[1][1:])
    assert all(f.startswith(("/var/task/", "/var/runtime/", "/var/lang/")) for f in files[1])


def test_each_invocation_sets_the_trace_header_variable(make_runtime):
    """https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html (the reserved
    `_X_AMZN_TRACE_ID`, the X-Ray tracing header), LocalStack's snapshot of a function's
    environment (`test_lambda_init_environment`, recorded 2026-02-18: it is set) and
    awslambdaric's `update_xray_env_variable` (set at each invocation). Behind API Gateway, the
    trace's Root is the request's."""
    runtime = make_runtime(
        "import os\ndef handler(event, context):\n    return os.environ['_X_AMZN_TRACE_ID']\n"
    )
    root = "Root=1-3152b799-8954dae64eda91bc9a23a7e8"
    alone, behind = runtime.invoke({}), runtime.invoke({"headers": {"X-Amzn-Trace-Id": root}})
    assert re.fullmatch(
        r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0", alone.payload
    )
    assert re.fullmatch(rf"{root};Parent=[0-9a-f]{{16}};Sampled=0", behind.payload)
