"""The Lambda runtime emulator: environments, their memory, their limits and their logs."""

from __future__ import annotations

import importlib.util
import json
import logging
import ntpath
import pathlib
import re
import shutil
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import (
    PROBE_APP,
    PROBE_FUNCTION,
    PROBE_TABLE,
    code_runtime,
    first_run_held,
    invoke_at_once,
    visit,
    wait_until,
)
from workshop.local import (
    lambda_environment,
    lambda_reports,
    lambda_runtime,
    lambda_sandbox,
    lambda_worker,
)
from workshop.local.cloudwatch_logs import put_batches
from workshop.local.lambda_runtime import FunctionRuntime
from workshop.types import LogEvent


def body(invocation) -> dict:
    assert invocation.error is None, invocation.error
    return json.loads(invocation.payload["body"])


def test_module_state_lives_while_the_environment_is_warm(probe):
    counts = [body(probe.invoke({"action": "count"}))["warm_count"] for _ in range(3)]
    assert counts == [1, 2, 3]


def test_a_cold_start_after_the_idle_timeout_forgets_module_state(probe):
    first = probe.invoke({"action": "count"})
    assert body(probe.invoke({"action": "count"}))["warm_count"] == 2
    runtime = probe.runtimes["ProbeFunction"]
    # Shortened only now: short from the start, it could pass between the two invocations
    # above on a busy machine, and the second would be a cold start.
    runtime.idle_timeout = 0.05
    wait_until(lambda: not runtime.warm_environments, 30)  # the reaper runs on its own
    again = probe.invoke({"action": "count"})
    assert again.cold_start and body(again)["warm_count"] == 1
    assert again.log_stream != first.log_stream


def test_code_changed_under_up_runs_from_the_next_invocation_in_new_environments(
    make_stack, tmp_path
):
    """As after a deploy (`sam sync --watch`): a warm environment would run the old code on."""
    shutil.copytree(PROBE_APP, tmp_path / "app")
    told = []
    stack = make_stack(tmp_path / "app", on_code_change=lambda *change: told.append(change))
    assert body(stack.invoke({"action": "count"}))["warm_count"] == 1
    assert body(stack.invoke({"action": "count"}))["warm_count"] == 2  # warm: same code
    assert told == []
    handler = tmp_path / "app" / "src" / "app.py"
    for editors_own in (".app.py.swp", "app.py~", "app.py___jb_tmp___"):  # opened, not saved
        (handler.parent / editors_own).write_text("draft")
    assert body(stack.invoke({"action": "count"}))["warm_count"] == 3 and told == []
    handler.write_text(handler.read_text() + "\n# edited\n")
    again = stack.invoke({"action": "count"})
    assert again.cold_start and body(again)["warm_count"] == 1
    assert told == [("ProbeFunction", ["app.py"])]
    assert body(stack.invoke({"action": "count"}))["warm_count"] == 2  # warm again, new code
    # The template is read as the stack starts: a change to it is told, to restart for it.
    template = tmp_path / "app" / "template.yaml"
    template.write_text(template.read_text() + "\n# edited\n")
    assert body(stack.invoke({"action": "count"}))["warm_count"] == 3
    assert told[1:] == [(None, ["template.yaml"])]


def test_concurrent_requests_get_separate_environments(probe):
    results = [body(inv) for inv in invoke_at_once(probe, [{"action": "count"}] * 2)]
    assert results[0]["stream"] != results[1]["stream"]
    assert [result["warm_count"] for result in results] == [1, 1]


def test_each_environment_reads_the_monotonic_clocks_of_a_machine_of_its_own(probe):
    """Their reference point is undefined (Python's docs): a stamp of one environment means
    nothing in another, as environments of one function run on machines of their own."""
    results = [body(inv) for inv in invoke_at_once(probe, [{"action": "count"}] * 2)]
    for clock in ("monotonic", "perf_counter"):
        apart = abs(results[1][clock] - results[0][clock])
        assert lambda_environment.UPTIME_APART - 60 < apart < lambda_environment.UPTIME_APART + 60


def test_later_moves_the_handler_s_time_of_day_on_and_not_its_deadline(probe):
    """A check's "an hour later" (Stack.later): the handler's clocks of the time of day and the
    API's event read an hour on, in new environments only; the time left to the invocation is
    Lambda's, as it was."""
    counter = probe.url("/counter")
    before = visit(counter)[2]
    with probe.later(3600):
        later = visit(counter)[2]
    after = visit(counter)[2]
    assert later["warm_count"] == after["warm_count"] == 1  # each in an environment of its own
    for clock in ("time", "now", "gmtime", "came"):
        assert 3600 - 1 <= later[clock] - before[clock] < 3600 + 60, clock
        assert 0 <= after[clock] - before[clock] + 1 < 60, clock
    timeout_ms = probe.template.functions["ProbeFunction"].timeout * 1000
    assert timeout_ms - 10_000 < later["remaining_ms"] <= timeout_ms


def test_later_within_later_reads_its_own_time_then_the_enclosing_one_s(probe):
    """Stack.later within another: the handlers read its own `seconds` on (not the sum of the
    two), and once it ends, the enclosing one's again."""
    counter = probe.url("/counter")
    before = visit(counter)[2]
    with probe.later(3600):
        with probe.later(7200):
            inner = visit(counter)[2]
        outer = visit(counter)[2]
    after = visit(counter)[2]
    assert len({before["stream"], inner["stream"], outer["stream"], after["stream"]}) == 4
    for clock in ("time", "came"):
        assert 7200 - 1 <= inner[clock] - before[clock] < 7200 + 60, clock
        assert 3600 - 1 <= outer[clock] - before[clock] < 3600 + 60, clock
        assert 0 <= after[clock] - before[clock] + 1 < 60, clock


def test_an_environment_busy_when_the_clock_moves_on_serves_none_after(probe):
    """One busy as Stack.later begins keeps its clock, and is reclaimed once its invocation ends:
    the next visit, within, runs in another environment, whose clock reads later."""
    counter = probe.url("/counter")
    before = visit(counter)[2]
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(probe.invoke, {"action": "hold", "seconds": 1})
        time.sleep(0.5)  # it runs in the environment that served `before`, the only one
        with probe.later(3600):
            assert body(held.result())["stream"] == before["stream"]
            later = visit(counter)[2]
    assert later["stream"] != before["stream"]
    assert 3600 - 1 <= later["time"] - before["time"] < 3600 + 60


def test_in_one_millisecond_the_api_s_events_say_so_each_with_its_own_request_id(probe):
    """Requests that API Gateway gets in the same millisecond (Stack.in_one_millisecond): one
    requestTimeEpoch, and a requestId each."""
    counter = probe.url("/counter")
    with probe.in_one_millisecond():
        (_, first_headers, first), (_, second_headers, second) = visit(counter), visit(counter)
    assert first["came"] == second["came"]
    assert first_headers["x-amzn-RequestId"] != second_headers["x-amzn-RequestId"]
    assert visit(counter)[2]["came"] >= first["came"]  # then the time goes on


def test_closing_the_runtime_ends_a_busy_environment_too(probe):
    """As a stack stops (Ctrl-C on `up`) mid-invocation: no worker outlives it as an orphan."""
    runtime = probe.runtimes["ProbeFunction"]
    with ThreadPoolExecutor(1) as pool, first_run_held(runtime) as (taken, release):
        held = pool.submit(probe.invoke, {"action": "count"})
        assert taken.wait(60)
        (environment,) = runtime._in_use  # busy: taken, and held before it runs
        runtime.close()
        assert not environment.alive
        release.set()
        assert "Runtime exited" in held.result(timeout=60).error["errorMessage"]


def test_init_runs_once_per_environment_and_is_reported(probe):
    cold, warm = probe.invoke({"action": "count"}), probe.invoke({"action": "count"})
    assert cold.cold_start and cold.init_ms is not None
    assert not warm.cold_start and warm.init_ms is None
    assert "init: module imported" in cold.log_text
    assert "init: module imported" not in warm.log_text
    assert "Init Duration: " in cold.logs[-1].message
    assert "Init Duration" not in warm.logs[-1].message


def test_log_lines_are_lambdas(probe):
    inv = probe.invoke({"action": "count"})
    lines = [event.message for event in inv.logs]
    rid = inv.request_id
    assert re.fullmatch(
        r"INIT_START Runtime Version: python:3\.11\.v\d+\t"
        r"Runtime Version ARN: arn:aws:lambda:us-east-1::runtime:[0-9a-f]{64}",
        lines[0],
    )
    assert lines[1] == "init: module imported"
    assert lines[2] == f"START RequestId: {rid} Version: $LATEST"
    assert lines[-2] == f"END RequestId: {rid}"
    assert re.fullmatch(
        rf"REPORT RequestId: {rid}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
        r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\t",
        lines[-1],
    )


def test_an_unhandled_exception_is_logged_as_the_python_runtime_does(probe):
    inv = probe.invoke({"pathParameters": {"how": "crash"}})
    assert inv.error["errorType"] == "ZeroDivisionError"
    assert inv.error["errorMessage"] == "division by zero"
    error_line = next(e.message for e in inv.logs if e.message.startswith("[ERROR]"))
    assert error_line.startswith(
        "[ERROR] ZeroDivisionError: division by zero\nTraceback (most recent call last):\n"
    )
    assert 'app.py", line' in error_line and "in handler" in error_line
    assert "lambda_worker" not in error_line  # the runtime's own frames are hidden, as on Lambda
    assert body(probe.invoke({"action": "count"}))["warm_count"] == 2  # the environment lives on


def test_logging_records_carry_level_time_and_request_id(probe):
    inv = probe.invoke({"action": "log"})
    record = next(e.message for e in inv.logs if e.message.startswith("[WARNING]"))
    assert re.fullmatch(
        rf"\[WARNING\]\t\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t{inv.request_id}\tcareful",
        record,
    )


def test_a_timeout_is_reported_in_report_and_the_runtime_starts_again(probe):
    inv = probe.invoke({"action": "hold", "seconds": 5})
    assert inv.timed_out and inv.error == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {inv.request_id} Error: Task timed out after 2.00 seconds",
    }
    assert "Task timed out" not in inv.log_text  # since 2026, only REPORT says so
    assert inv.logs[-2].message == f"END RequestId: {inv.request_id}"
    assert re.fullmatch(
        r"REPORT .*\tDuration: 2000\.00 ms\t.*\tStatus: timeout", inv.logs[-1].message
    )
    after = probe.invoke({"action": "count"})
    assert after.cold_start and body(after)["warm_count"] == 1  # module state is gone
    assert after.log_stream == inv.log_stream  # but the sandbox, and its log stream, stay
    assert after.logs[0].message.startswith("INIT_START ")


def test_lambda_sets_its_variables(probe):
    env = body(probe.invoke({"pathParameters": {"how": "env"}}))
    fn = probe.template.functions["ProbeFunction"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == PROBE_FUNCTION
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{PROBE_FUNCTION}"
    assert re.fullmatch(
        r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", env["AWS_LAMBDA_LOG_STREAM_NAME"]
    )
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ENDPOINT_URL"] == probe.aws.endpoint_url
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA") and "AWS_SESSION_TOKEN" in env
    assert env["TABLE_NAME"] == fn.environment["TABLE_NAME"] == PROBE_TABLE
    assert env["GREETING"] == "hello"  # from Globals


def test_the_runtime_warns_when_python_differs_from_the_template(probe, recwarn):
    fn = probe.template.functions["ProbeFunction"]
    fn.runtime = "python3.9"
    FunctionRuntime(fn, aws_endpoint="", region="us-east-1", credentials={}).close()
    assert "declares Runtime python3.9" in str(recwarn.pop(UserWarning).message)


def test_logs_land_in_the_functions_group_one_stream_per_environment(probe):
    invocations = invoke_at_once(probe, [{"action": "count"}] * 2)
    events = probe.logs()
    assert {event.group for event in events} == {f"/aws/lambda/{PROBE_FUNCTION}"}
    for inv in invocations:
        starts = [
            e for e in events if e.message == f"START RequestId: {inv.request_id} Version: $LATEST"
        ]
        assert [e.stream for e in starts] == [inv.log_stream]
    assert len({inv.log_stream for inv in invocations}) == 2
    assert [e.message for e in probe.logs('"Task timed out"')] == []


def test_a_log_tail_reads_each_event_once_however_late_it_was_stored(probe):
    """A tail (a visit's logs, for the checks) reads each event once, even one handed over
    after events stamped later than it were read (a long invocation's first line, handed over
    as it ends), and events of one millisecond; CloudWatch Logs holds them too."""
    tail = probe.log_tail()
    invocation = probe.invoke({"action": "count"})
    lines = [event.message for event in tail.read()]
    assert lines[0].startswith("INIT_START")  # a cold start's
    assert f"START RequestId: {invocation.request_id} Version: $LATEST" in lines
    assert lines[-1].startswith(f"REPORT RequestId: {invocation.request_id}")
    assert tail.read() == []
    function = probe.function()
    earliest = min(event.timestamp for event in probe.logs())
    late = ["stamped first, stored last", "in the same millisecond"]
    probe.runtimes[function.logical_id].on_logs(
        function, "late", [LogEvent(earliest, message) for message in late]
    )
    assert [event.message for event in tail.read()] == late
    assert tail.read() == []
    assert [event.message for event in probe.logs()].count(late[0]) == 1


def test_the_handler_sees_the_packages_of_lambdas_runtime_not_the_harness_venv(probe):
    """Lambda's runtime has the SDK and what it needs, and the runtime's own packages
    (simplejson, which the tests' venv has); not the AWS CRT nor pyOpenSSL, which botocore and
    urllib3 would use, nor the harness's packages, the workshop's own among them."""
    runtime = "boto3,botocore,s3transfer,jmespath,dateutil,six,urllib3,simplejson"
    harness = "awscrt,OpenSSL,pydantic,moto,yaml,jupyter,workshop,tests"
    names = {"queryStringParameters": {"names": f"{runtime},{harness}"}}
    found = body(probe.invoke({"pathParameters": {"how": "imports"}, **names}))
    assert found == {name: name in runtime.split(",") for name in f"{runtime},{harness}".split(",")}


def test_what_requirements_txt_names_is_packaged_with_what_it_needs(tmp_path):
    """What `sam build` would package into the code (the packages requirements.txt names, and
    theirs) is found in the harness's venv; a module of the code shadows a package."""
    (tmp_path / "requirements.txt").write_text(
        "# the API's models\npydantic>=2 ; python_version>'3'\n"
    )
    (tmp_path / "jmespath.py").write_text("VENDORED = True\n")
    (tmp_path / "app.py").write_text(
        "import jmespath\nimport pydantic\n"
        "def handler(event, context):\n"
        "    try:\n        import yaml\n    except ImportError:\n        yaml = None\n"
        "    return {'vendored': jmespath.VENDORED, 'core': pydantic.VERSION > '2',"
        " 'yaml': yaml is not None}\n"
    )
    runtime = code_runtime(tmp_path)
    try:
        inv = runtime.invoke({})
    finally:
        runtime.close()
    assert inv.error is None, inv.error
    assert inv.payload == {"vendored": True, "core": True, "yaml": False}


def test_a_requirement_whose_marker_fails_on_lambda_is_not_packaged(tmp_path):
    """pip skips a requirement whose environment marker is false for the runtime's Python on
    Linux (x86_64): sam build does not package it, and its import fails as on Lambda. Extras
    and options keep a requirement listed."""
    (tmp_path / "requirements.txt").write_text(
        'pydantic==2.* ; python_version < "3.11"\n'
        "PyYAML[extra]>=6 ; sys_platform == 'linux' --hash=sha256:00\n"
        "psutil ; sys_platform == 'linux' and platform_machine == 'x86_64' # its memory\n"
        "-r other.txt\n"
    )
    (tmp_path / "app.py").write_text(
        "import importlib.util\n"
        "def handler(event, context):\n"
        "    return {name: importlib.util.find_spec(name) is not None"
        " for name in ('pydantic', 'yaml', 'psutil')}\n"
    )
    runtime = code_runtime(tmp_path)
    try:
        inv = runtime.invoke({})
    finally:
        runtime.close()
    assert inv.error is None, inv.error
    assert inv.payload == {"pydantic": False, "yaml": True, "psutil": True}


def test_a_package_listed_but_not_installed_is_named_when_the_function_starts(tmp_path):
    """Offline, nothing installs what requirements.txt names: where the venv lacks it, its
    import fails as an unpackaged one would, and the harness says why."""
    (tmp_path / "requirements.txt").write_text("boto3\nno-such-package-here==1.0\n")
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return 1\n")
    with pytest.warns(UserWarning, match=r"names no-such-package-here, which this offline"):
        runtime = code_runtime(tmp_path)
    runtime.close()


def test_each_environment_has_a_tmp_of_its_own_empty_at_its_start_and_gone_at_its_end(tmp_path):
    """As on Lambda, where /tmp is unique to each execution environment: what one environment
    keeps there (with open, pathlib, os, shutil and tempfile) its next invocations find, a new
    environment does not, and none of it lands in the host's /tmp."""
    code = tmp_path / "code"  # under the host's /tmp: the code's own folder is not /tmp's
    code.mkdir()
    (code / "data.txt").write_text("the code's")
    (code / "app.py").write_text(
        "import os, pathlib, shutil, tempfile\n"
        "def handler(event, context):\n"
        "    found = sorted(os.listdir('/tmp'))\n"
        "    name = event['name']\n"
        "    if event.get('keep'):\n"
        "        (pathlib.Path('/tmp') / 'cache').mkdir()\n"
        "        with open(f'/tmp/cache/{name}', 'w') as file:\n"
        "            file.write(event['keep'])\n"
        "        os.replace(f'/tmp/cache/{name}', os.path.join('/tmp', name))\n"
        "        os.makedirs('/tmp/a/b')\n"
        "        shutil.rmtree('/tmp/a')\n"
        "        with tempfile.NamedTemporaryFile(delete=False) as file:\n"
        "            temporary = file.name\n"
        "        os.remove(temporary)\n"
        "    kept = pathlib.Path('/tmp', name)\n"
        "    return {'found': found, 'kept': kept.read_text() if kept.exists() else None,\n"
        "            'tempdir': tempfile.gettempdir(),\n"
        "            'code': open(os.path.join(os.path.dirname(__file__), 'data.txt')).read()}\n"
    )
    name = f"kept-{uuid.uuid4()}"  # in no /tmp yet, the host's included
    runtime = code_runtime(code)
    try:
        first = runtime.invoke({"name": name, "keep": "by the first"})
        again = runtime.invoke({"name": name})
        (environment,) = runtime._idle
        folder = pathlib.Path(environment.tmp)
        in_folder = sorted(path.name for path in folder.iterdir())
        runtime.expire()
        gone = not folder.exists()
        new = runtime.invoke({"name": name})
    finally:
        runtime.close()
    assert first.error is None, first.error
    assert first.payload == {
        "found": [],
        "kept": "by the first",
        "tempdir": "/tmp",
        "code": "the code's",
    }
    assert again.payload["found"] == in_folder == ["cache", name]
    assert again.payload["kept"] == "by the first"
    assert gone and not pathlib.Path("/tmp", name).exists()
    assert new.cold_start and new.payload["found"] == [] and new.payload["kept"] is None


def test_what_the_code_is_told_of_a_path_in_tmp_names_it_as_the_code_did(tmp_path):
    """An error's filename and an open file's name are /tmp/..., as on Lambda, not the folder
    the environment's /tmp is here; and the traceback of an error has no frame of the harness."""
    (tmp_path / "app.py").write_text(
        "import pathlib\n"
        "def handler(event, context):\n"
        "    with open('/tmp/kept.txt', 'w') as file:\n"
        "        name = file.name\n"
        "    try:\n"
        "        pathlib.Path('/tmp/missing').read_text()\n"
        "    except OSError as error:\n"
        "        said = str(error)\n"
        "    if event.get('fail'):\n"
        "        open('/tmp/nowhere/file')\n"
        "    return {'name': name, 'said': said}\n"
    )
    runtime = code_runtime(tmp_path)
    try:
        told = runtime.invoke({})
        failed = runtime.invoke({"fail": True})
    finally:
        runtime.close()
    assert told.payload == {
        "name": "/tmp/kept.txt",
        "said": "[Errno 2] No such file or directory: '/tmp/missing'",
    }
    assert (
        failed.error["errorMessage"] == "[Errno 2] No such file or directory: '/tmp/nowhere/file'"
    )
    assert [line.split(",")[0] for line in failed.error["stackTrace"]] == [
        '  File "/var/task/app.py"'
    ]


def test_a_path_under_tmp_leads_to_the_environment_s_own_folder():
    """Every spelling of a path under /tmp, on Linux, macOS and Windows; other paths, those
    under the harness's folders and the environment's own folder's name are themselves."""
    folder = "/tmp/lambda-tmp-abc"  # where the host's temporary folder is /tmp (Linux)
    where = lambda_sandbox.in_own_tmp(folder, [folder, "/tmp/pytest/code", "/opt/venv"])
    assert where("/tmp") == where("/tmp/") == folder
    assert where("/tmp/key") == where(pathlib.PurePosixPath("/tmp") / "key") == f"{folder}/key"
    assert where("/tmp//cache/./key") == f"{folder}/cache/key"
    assert where(b"/tmp/key") == f"{folder}/key".encode()
    assert where(f"{folder}/key") == f"{folder}/key"  # led already (os.scandir's entries)
    assert where(f"{folder}-other/key") == f"{folder}/lambda-tmp-abc-other/key"
    for itself in (
        "/tmpfile",
        "/var/tmp/key",
        "tmp/key",
        "/tmp/../etc/key",
        "/tmp/pytest/code/app.py",
        3,
    ):
        assert where(itself) == itself
    on_windows = lambda_sandbox.in_own_tmp(r"C:\Temp\lambda-tmp-abc", [], ntpath)
    assert on_windows("/tmp/key") == on_windows(r"\tmp\key") == r"C:\Temp\lambda-tmp-abc\key"
    assert on_windows(r"D:\tmp\key") == r"C:\Temp\lambda-tmp-abc\key"  # abspath's drive
    assert on_windows(r"C:\Users\key") == r"C:\Users\key"
    assert on_windows(r"\\server\share\tmp\key") == r"\\server\share\tmp\key"


def test_sqlite3_keeps_a_database_in_tmp_in_the_environment_s_own_tmp(tmp_path):
    """sqlite3 opens its files in C, past the wrappers of open and os: its connect leads a path
    under /tmp too. What one environment keeps in a database there its next invocations find,
    whatever the path's spelling, a new environment does not, and none of it lands in the
    host's /tmp."""
    (tmp_path / "app.py").write_text(
        "import os, pathlib, sqlite3\n"
        "def handler(event, context):\n"
        "    name = event['name']\n"
        "    if event.get('keep'):\n"
        "        with sqlite3.connect(f'/tmp/{name}') as db:\n"
        "            db.execute('CREATE TABLE kept (value)')\n"
        "            db.execute('INSERT INTO kept VALUES (?)', (event['keep'],))\n"
        "        db.close()\n"
        "    read = 'SELECT value FROM kept'\n"
        "    ways = [(f'file:/tmp/{name}?mode=ro', True), (pathlib.Path('/tmp', name), False),\n"
        "            (f'file://localhost/tmp//{name}', True), (os.fsencode(f'/tmp/{name}'), 0)]\n"
        "    try:\n"
        "        kept = [sqlite3.connect(path, uri=uri).execute(read).fetchall()\n"
        "                for path, uri in ways]\n"
        "    except sqlite3.Error as error:\n"
        "        kept = str(error)\n"
        "    return {'found': sorted(os.listdir('/tmp')), 'kept': kept}\n"
    )
    name = f"kept-{uuid.uuid4()}.db"  # in no /tmp yet, the host's included
    runtime = code_runtime(tmp_path)
    try:
        first = runtime.invoke({"name": name, "keep": "by the first"})
        (environment,) = runtime._idle
        in_folder = sorted(path.name for path in pathlib.Path(environment.tmp).iterdir())
        runtime.expire()
        new = runtime.invoke({"name": name})
    finally:
        runtime.close()
    assert first.error is None, first.error
    assert first.payload == {"found": [name], "kept": [[["by the first"]]] * 4}
    assert in_folder == [name]
    assert not pathlib.Path("/tmp", name).exists()
    # A new environment's /tmp is empty: the database cannot be opened read-only (mode=ro).
    assert new.cold_start and new.payload == {"found": [], "kept": "unable to open database file"}


def test_sqlite3_is_imported_only_by_code_that_imports_it(tmp_path):
    """Its connect is wrapped as the code imports it, not at every cold start: an init
    measures what the code's own imports cost, as on Lambda; imported by the handler, late,
    it leads /tmp all the same."""
    (tmp_path / "app.py").write_text(
        "import os, sys\n"
        "def handler(event, context):\n"
        "    before = sorted(name for name in sys.modules if 'sqlite' in name)\n"
        "    import sqlite3\n"
        "    sqlite3.connect('/tmp/late.db').close()\n"
        "    return {'before': before, 'found': os.listdir('/tmp')}\n"
    )
    runtime = code_runtime(tmp_path)
    try:
        inv = runtime.invoke({})
    finally:
        runtime.close()
    assert inv.payload == {"before": [], "found": ["late.db"]}


def test_what_sqlite3_opens_as_on_lambda(tmp_path, monkeypatch):
    """A database under /tmp, in any spelling sqlite3.connect takes, is that file in the
    environment's own /tmp; one elsewhere (here the code's folder, under the host's /tmp) is
    opened read-only, by a URI that asks for it; one in memory, SQLite's own temporary one, and
    a URI SQLite refuses, are left as they are."""
    folder = "/tmp/lambda-tmp-abc"
    where = lambda_sandbox.in_own_tmp(folder, [folder, str(tmp_path)])
    monkeypatch.chdir(tmp_path)  # the code's folder: /var/task

    def opened(database, uri=False):
        return lambda_sandbox.sqlite_database(database, uri, where, folder)

    assert opened("/tmp/keys.db") == (f"{folder}/keys.db", False)
    assert opened(pathlib.PurePosixPath("/tmp/keys.db")) == (f"{folder}/keys.db", False)
    assert opened(b"/tmp/keys.db") == (f"{folder}/keys.db", False)
    assert opened("/tmp/keys.db", uri=True) == (f"{folder}/keys.db", True)  # not a URI
    assert opened("file:/tmp/keys.db?mode=rwc&cache=shared", uri=True) == (
        f"file:{folder}/keys.db?mode=rwc&cache=shared",
        True,
    )
    assert opened("file:///tmp/my%20keys.db#part", uri=True) == (
        f"file:{folder}/my%20keys.db",
        True,
    )
    assert opened("file://localhost/tmp/keys.db", uri=True) == (f"file:{folder}/keys.db", True)
    code = str(tmp_path)
    assert opened("keys.db") == (f"file:{code}/keys.db?mode=ro", True)
    assert opened("file:keys.db?mode=rwc&cache=shared", uri=True) == (
        f"file:{code}/keys.db?cache=shared&mode=ro",
        True,
    )
    assert opened("file:/tmp/keys.db", uri=False) == (
        f"file:{code}/file%3A/tmp/keys.db?mode=ro",
        True,
    )
    assert opened("/srv/a b?#%.db") == ("file:/srv/a%20b%3F%23%25.db?mode=ro", True)
    assert opened("/srv/keys.db", uri=True) == ("file:/srv/keys.db?mode=ro", True)
    assert opened("/tmp/../srv/keys.db") == ("file:/srv/keys.db?mode=ro", True)
    for itself, uri in (
        (f"{folder}/keys.db", False),  # led already
        (":memory:", False),
        ("", False),
        ("file::memory:?cache=shared", True),
        ("file:shared?mode=memory", True),
        ("file:/tmp/keys.db?vfs=memdb", True),
        ("file://elsewhere/tmp/keys.db", True),  # SQLite refuses its authority
        (3, False),  # sqlite3.connect refuses it
    ):
        assert opened(itself, uri) == (itself, uri)


def test_a_line_read_late_keeps_its_place_before_a_record_written_after_it(tmp_path, monkeypatch):
    """A printed line is stamped when the harness reads it, a record when the worker wrote it:
    on a busy machine, reading late, that is after a record written after the line. Here the
    harness's clock runs a second ahead of the worker's, as if it read everything that late."""
    (tmp_path / "app.py").write_text(
        "import logging\n"
        "def handler(event, context):\n"
        "    print('first')\n"
        "    logging.getLogger().warning('second')\n"
    )
    real = lambda_runtime.now_ms
    for module in (lambda_environment, lambda_runtime, lambda_reports):
        monkeypatch.setattr(module, "now_ms", lambda: real() + 1000)
    runtime = code_runtime(tmp_path)
    try:
        inv = runtime.invoke({})
    finally:
        runtime.close()
    lines = [event.message for event in inv.logs]
    assert lines[2] == "first" and lines[3].endswith("\tsecond"), lines


def test_a_traceback_names_the_code_where_lambda_has_it(probe):
    """Lambda runs the code from /var/task (its LAMBDA_TASK_ROOT): its tracebacks say so."""
    inv = probe.invoke({"pathParameters": {"how": "crash"}})
    here = str((PROBE_APP / "src").resolve())
    assert inv.error["stackTrace"][-1].startswith('  File "/var/task/app.py", line ')
    error_line = next(e.message for e in inv.logs if e.message.startswith("[ERROR]"))
    assert 'File "/var/task/app.py", line ' in error_line
    assert here not in error_line and not [f for f in inv.error["stackTrace"] if here in f]


def test_a_logged_exception_names_the_code_where_lambda_has_it(tmp_path, monkeypatch):
    """`logger.exception(...)` in the function's code, as a text log line and as JSON."""
    code = tmp_path / "lib" / "deep.py"
    code.parent.mkdir()
    code.write_text("def fail():\n    raise KeyError('visits')\n", encoding="utf-8")
    spec = importlib.util.spec_from_file_location("deep", code)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    try:
        module.fail()
    except KeyError:
        info = sys.exc_info()
    record = logging.LogRecord("app", logging.ERROR, str(code), 2, "no", None, info, "fail")
    record.aws_request_id = "r"
    text = lambda_worker.TextFormatter(lambda_worker.TEXT_FORMAT).format(record)
    assert 'File "/var/task/lib/deep.py", line 2, in fail\n' in text
    entry = json.loads(lambda_worker.JsonFormatter().format(record))
    assert entry["stackTrace"][-1].startswith('  File "/var/task/lib/deep.py", line 2, in fail\n')
    assert entry["location"] == "/var/task/lib/deep.py:fail:2"
    assert str(tmp_path) not in text + json.dumps(entry)


@pytest.mark.parametrize(
    ("messages", "calls"),
    [
        pytest.param(["x"] * 10_001, [10_000, 1], id="10,000-events-a-call"),
        # Two of these fill a call exactly: 2 x (524,262 + 26) bytes = 1,048,576.
        pytest.param(["x" * 524_262] * 3, [2, 1], id="1-MB-a-call"),
        pytest.param(["é" * 262_131] * 3, [2, 1], id="bytes-of-utf-8-not-characters"),
        pytest.param(["x" * 524_263, "x" * 524_262], [1, 1], id="one-byte-over"),
    ],
)
def test_logs_are_shipped_within_put_log_events_limits(messages, calls):
    events = [LogEvent(timestamp=index, message=m) for index, m in enumerate(messages)]
    batches = list(put_batches(events))
    assert [len(batch) for batch in batches] == calls
    assert [event for batch in batches for event in batch] == events
