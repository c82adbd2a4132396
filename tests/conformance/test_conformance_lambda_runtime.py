"""The harness's Lambda runtime (workshop/local/lambda_worker.py) against awslambdaric.

Each case runs the same input through awslambdaric 4.x (PyPI, the runtime interface client
that Lambda's python3.11 runtime is built on) and through the harness, and compares what a
learner would see: log lines, error payloads, response bytes, the context object. Time stamps
are replaced by their form (`<seconds>` or `<millis>`), so a wrong precision still fails.
"""

from __future__ import annotations

import base64
import collections
import decimal
import importlib
import json
import logging
import math
import re
import sys
import time

import pytest

from workshop.local import lambda_worker

REQUEST_ID = "8f1c2a6e-0b7d-4e59-9c3a-5d2f1e0a7b64"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:probe-ProbeFunction"
SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
MILLIS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def timeless(text: str) -> str:
    return SECONDS.sub("<seconds>", MILLIS.sub("<millis>", text))


class Sink:
    """The runtime's log sink on Lambda (FramedTelemetryLogSink) without its binary frame:
    one event per message, an error's lines joined by newlines."""

    def __init__(self):
        self.events: list[str] = []

    def log(self, msg, frame_type=None):
        self.events.append(msg)

    def log_error(self, message_lines):
        self.events.append("\n".join(message_lines))


class FakeRuntimeApi:
    """What the runtime posts back to Lambda's Runtime API for one invocation."""

    def __init__(self, ric):
        self.marshaller = importlib.import_module(
            "awslambdaric.lambda_runtime_marshaller"
        ).LambdaMarshaller()
        self.result = self.error = None

    def post_invocation_result(self, invoke_id, result, content_type, invocation_id=None):
        self.result = result if isinstance(result, bytes) else result.encode("utf-8")

    def post_invocation_error(self, invoke_id, error_json, xray_json, invocation_id=None):
        self.error = json.loads(error_json)


@pytest.fixture
def root_logger():
    """The root logger, restored after the case (both runtimes configure it)."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.Formatter.converter
    yield root
    root.handlers[:], level, logging.Formatter.converter = saved
    root.setLevel(level)


def logged_by_runtime(ric, root, log_format, level, action):
    log_utils = importlib.import_module("awslambdaric.lambda_runtime_log_utils")
    sink = Sink()
    root.handlers[:] = []
    root.setLevel(logging.WARNING)
    fmt = log_utils.LogFormat.JSON if log_format == "JSON" else log_utils.LogFormat.TEXT
    ric._setup_logging(fmt, log_utils._get_log_level_from_env_var(level), sink)
    ric._GLOBAL_AWS_REQUEST_ID = REQUEST_ID
    try:
        action()
    finally:
        ric._GLOBAL_AWS_REQUEST_ID = None
    return [timeless(event) for event in sink.events]


def logged_by_harness(root, log_format, level, action):
    events: list[str] = []
    root.setLevel(logging.WARNING)
    handler = lambda_worker.setup_logging(
        log_format, lambda_worker.level_from_env(level), events.append
    )
    handler.request_id = REQUEST_ID
    action()
    return [timeless(event) for event in events]


def compare_logs(ric, root, log_format, level, action):
    ours = logged_by_harness(root, log_format, level, action)
    theirs = logged_by_runtime(ric, root, log_format, level, action)
    assert ours == theirs
    return ours


def _fail():
    def inner():
        return {}["missing"]

    try:
        inner()
    except KeyError:
        logging.getLogger("app").exception("lookup failed for %s", "visits")


# Application logs.


def test_text_log_line(ric, root_logger):
    """awslambdaric 4.2.2, awslambdaric/bootstrap.py `_setup_logging` (text formatter)."""
    events = compare_logs(
        ric, root_logger, "Text", None, lambda: logging.getLogger("app").warning("careful %d", 3)
    )
    assert events == [f"[WARNING]\t<millis>\t{REQUEST_ID}\tcareful 3\n"]


def test_text_log_of_an_exception_keeps_the_traceback_in_the_line(ric, root_logger):
    """awslambdaric 4.2.2, awslambdaric/bootstrap.py `_setup_logging` (text formatter)."""
    (event,) = compare_logs(ric, root_logger, "Text", None, _fail)
    assert event.startswith(f"[ERROR]\t<millis>\t{REQUEST_ID}\tlookup failed for visits\n")


def test_json_log_line_with_extra_fields_and_non_ascii(ric, root_logger):
    """awslambdaric 4.2.2, awslambdaric/lambda_runtime_log_utils.py `JsonFormatter`."""

    def action():
        logging.getLogger("app").info("visit № %s", "ünïcode", extra={"visitor": "zoë", "n": 2})

    (event,) = compare_logs(ric, root_logger, "JSON", "INFO", action)
    assert json.loads(event) == {
        "timestamp": "<seconds>",
        "level": "INFO",
        "message": "visit № ünïcode",
        "logger": "app",
        "requestId": REQUEST_ID,
        "visitor": "zoë",
        "n": 2,
    }
    assert "ünïcode" in event  # written as is, not \\u-escaped


def test_json_log_of_an_exception_keeps_message_clean(ric, root_logger):
    """awslambdaric 4.2.2, awslambdaric/lambda_runtime_log_utils.py `JsonFormatter`."""
    (event,) = compare_logs(ric, root_logger, "JSON", "INFO", _fail)
    record = json.loads(event)
    assert record["message"] == "lookup failed for visits"
    assert record["errorType"] == "KeyError" and record["errorMessage"] == "'missing'"
    assert record["location"].endswith(":_fail:" + record["location"].rsplit(":", 1)[1])
    assert len(record["stackTrace"]) == 2


def test_json_log_of_a_dict_and_of_an_unserialisable_extra(ric, root_logger):
    """awslambdaric 4.2.2, awslambdaric/lambda_runtime_log_utils.py `JsonFormatter`."""

    def action():
        logging.getLogger("app").warning({"event": "visit", "count": 3})
        logging.getLogger("app").warning("at", extra={"when": decimal.Decimal("1.5")})

    events = compare_logs(ric, root_logger, "JSON", "INFO", action)
    assert json.loads(events[0])["message"] == {"event": "visit", "count": 3}
    assert json.loads(events[1])["when"] == "1.5"


def test_json_log_level_trace_is_debug(ric, root_logger):
    """awslambdaric 4.2.2, awslambdaric/lambda_runtime_log_utils.py, TRACE read as DEBUG."""

    def action():
        logging.getLogger("app").debug("fine detail")
        logging.getLogger("app").log(5, "finer than Python's levels")

    events = compare_logs(ric, root_logger, "JSON", "TRACE", action)
    assert [json.loads(event)["level"] for event in events] == ["DEBUG"]


def test_context_log_writes_the_message_as_is(ric, root_logger):
    """awslambdaric 4.2.2, awslambdaric/lambda_context.py `LambdaContext.log`."""
    context_module = importlib.import_module("awslambdaric.lambda_context")
    theirs = logged_by_runtime(
        ric,
        root_logger,
        "Text",
        None,
        lambda: context_module.LambdaContext(REQUEST_ID, None, None, 0, ARN).log("raw line\n"),
    )
    ours: list[str] = []
    lambda_worker.LambdaContext(REQUEST_ID, 0, ARN, ours.append).log("raw line\n")
    assert ours == theirs == ["raw line\n"]


# Invocations: the uncaught error, its log line, and the response.


def _invoke_both(ric, monkeypatch, handler, log_format, event=None):
    """Run `handler` once in each runtime; return (harness reply, harness logs, api, logs)."""
    if log_format == "JSON":
        monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", "JSON")
    ric = importlib.reload(ric)  # the runtime picks its error logger when it is imported
    try:
        api, sink = FakeRuntimeApi(ric), Sink()
        ric.handle_event_request(
            api,
            handler,
            REQUEST_ID,
            json.dumps(event or {}).encode(),
            "application/json",
            None,
            None,
            ARN,
            int(time.time() * 1000) + 60_000,
            None,
            sink,
        )
    finally:
        monkeypatch.delenv("AWS_LAMBDA_LOG_FORMAT", raising=False)
        importlib.reload(ric)
    logs: list[str] = []
    context = lambda_worker.LambdaContext(
        REQUEST_ID, int(time.time() * 1000) + 60_000, ARN, logs.append
    )
    reply = lambda_worker.invoke(handler, event or {}, context, log_format, logs.append)
    return reply, [timeless(e) for e in logs], api, [timeless(e) for e in sink.events]


def _divide(event, context):
    def ratio(a, b):
        return a / b

    return ratio(1, 0)


def _empty_message(event, context):
    raise RuntimeError()


@pytest.mark.parametrize("handler", [_divide, _empty_message], ids=["message", "empty"])
def test_uncaught_error_in_text(ric, monkeypatch, handler):
    """awslambdaric 4.2.2, awslambdaric/bootstrap.py `handle_event_request` and text
    `log_error`: no-break-space indentation, the Traceback line always, no colon without a
    message."""
    reply, ours, api, theirs = _invoke_both(ric, monkeypatch, handler, "Text")
    assert reply["error"] == api.error
    assert ours == theirs
    assert ours[0].splitlines()[1] == "Traceback (most recent call last):"
    if handler is _empty_message:
        assert ours[0].startswith("[ERROR] RuntimeError\n")


def test_uncaught_error_in_json(ric, monkeypatch):
    """awslambdaric 4.2.2, awslambdaric/bootstrap.py JSON `log_error` (`level`, not the
    `log_level` of 4.0: aws-lambda-python-runtime-interface-client PR #221, September 2026)."""
    reply, ours, api, theirs = _invoke_both(ric, monkeypatch, _divide, "JSON")
    assert reply["error"] == api.error
    assert ours == theirs
    record = json.loads(ours[0])
    assert list(record) == [
        "timestamp",
        "level",
        "errorMessage",
        "errorType",
        "requestId",
        "stackTrace",
    ]
    assert record["timestamp"] == "<seconds>" and record["level"] == "ERROR"
    assert record["requestId"] == REQUEST_ID


Point = collections.namedtuple("Point", "x y")


@pytest.mark.parametrize(
    "result",
    [
        decimal.Decimal("1.10"),
        {"count": decimal.Decimal("3"), "ratio": decimal.Decimal("0.5E+2")},
        decimal.Decimal("NaN"),
        math.inf,
        "héllo ✓",
        b"\x00raw bytes, not JSON",
        Point(1, 2),
        [(1, 2), None, True],
    ],
    ids=["decimal", "decimals", "decimal-nan", "inf", "non-ascii", "bytes", "namedtuple", "list"],
)
def test_response_bytes_as_the_marshaller_writes_them(ric, monkeypatch, result):
    """awslambdaric 4.2.2, awslambdaric/lambda_runtime_marshaller.py (Decimal via RawJSON,
    bytes as they are, ASCII-escaped JSON on python3.11)."""
    reply, _, api, _ = _invoke_both(ric, monkeypatch, lambda event, context: result, "Text")
    assert base64.b64decode(reply["payload"]) == api.result


@pytest.mark.parametrize("result", [{1, 2}, object()], ids=["set", "object"])
def test_unserialisable_response_is_a_marshal_error(ric, monkeypatch, result):
    """awslambdaric 4.2.2, awslambdaric/lambda_runtime_marshaller.py `marshal_response`."""
    reply, ours, api, theirs = _invoke_both(ric, monkeypatch, lambda event, context: result, "Text")
    assert reply["error"] == api.error
    assert api.error["errorType"] == "Runtime.MarshalError"
    assert ours == theirs


# Init: importing the handler.

MODULES = {
    "no_such_module": None,
    "imports_missing": "import nope_not_installed\n",
    "bad_syntax": "def handler(event, context)\n    return 1\n",
    "no_handler": "def other(event, context):\n    return 1\n",
    "raises_at_import": "def helper():\n    raise ValueError('no TABLE_NAME')\n\nhelper()\n",
}


@pytest.fixture
def code_dir(tmp_path, monkeypatch):
    for name, source in MODULES.items():
        if source is not None:
            (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in MODULES:
        sys.modules.pop(name, None)


def _ric_init_error(ric, handler_name):
    get_handler = getattr(ric, "get_handler", None) or ric._get_handler
    try:
        get_handler(handler_name)
    except ric.FaultException as exc:
        return ric.make_error(exc.msg, exc.exception_type, exc.trace)
    except Exception:
        return ric.build_fault_result(sys.exc_info(), None)
    raise AssertionError(f"{handler_name} loaded")


def _harness_init_error(handler_name):
    try:
        lambda_worker.load_handler(handler_name)
    except lambda_worker.InitError as exc:
        return exc.result
    except Exception as exc:
        return lambda_worker.exception_result(exc)
    raise AssertionError(f"{handler_name} loaded")


def _from_importlib(error):
    """The frames from importlib on (those before it are each runtime's own), their files
    named as on Lambda: there awslambdaric reads them from /var/lang, here from this Python."""
    frames = [
        re.sub(r'File "([^"]+)"', lambda m: f'File "{lambda_worker.as_on_lambda(m[1])}"', frame)
        for frame in error["stackTrace"]
    ]
    first = next((i for i, frame in enumerate(frames) if "importlib" in frame.split(",")[0]), 0)
    return {**error, "stackTrace": frames[first:]}


@pytest.mark.parametrize(
    "handler_name, error_type",
    [
        ("no_such_module.handler", "Runtime.ImportModuleError"),
        ("imports_missing.handler", "Runtime.ImportModuleError"),
        ("bad_syntax.handler", "Runtime.UserCodeSyntaxError"),
        ("no_handler.handler", "Runtime.HandlerNotFound"),
        ("nodots", "Runtime.MalformedHandlerName"),
        ("sys.handler", "Runtime.BuiltInModuleConflict"),
        ("raises_at_import.handler", "ValueError"),
    ],
)
def test_init_error_classification(ric, code_dir, handler_name, error_type):
    """awslambdaric 4.2.2, awslambdaric/bootstrap.py `get_handler`, `make_error` and
    `build_fault_result` (an exception at import keeps its own type; requestId empty)."""
    theirs = _ric_init_error(ric, handler_name)
    module = handler_name.split(".")[0]
    if module in MODULES:  # imported afresh by the harness, as in an environment of its own
        sys.modules.pop(module, None)
    ours = _harness_init_error(handler_name)
    assert _from_importlib(ours) == _from_importlib(theirs)
    assert ours["errorType"] == error_type and ours["requestId"] == ""


def test_init_error_log_lines(ric, code_dir):
    """awslambdaric 4.2.2, awslambdaric/bootstrap.py `run` (a WARNING, then `log_error`) and
    awslambdaric/lambda_literals.py."""
    literals = importlib.import_module("awslambdaric.lambda_literals")
    assert literals.lambda_unhandled_exception_warning_message == lambda_worker.UNHANDLED_WARNING
    error = _harness_init_error("no_such_module.handler")
    sink = Sink()
    ric.log_error(error, sink)
    assert lambda_worker.error_log_text(error, "Text") == sink.events[0]
    assert sink.events[0] == (
        "[ERROR] Runtime.ImportModuleError: Unable to import module 'no_such_module': "
        "No module named 'no_such_module'\nTraceback (most recent call last):"
    )


# The context object.


def test_context_object(ric, monkeypatch):
    """awslambdaric 4.2.2, awslambdaric/lambda_context.py `LambdaContext`."""
    for name, value in {
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/probe-ProbeFunction",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/01/[$LATEST]0123456789abcdef0123456789abcdef",
        "AWS_LAMBDA_FUNCTION_NAME": "probe-ProbeFunction",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    }.items():
        monkeypatch.setenv(name, value)
    context_module = importlib.import_module("awslambdaric.lambda_context")
    theirs = context_module.LambdaContext(REQUEST_ID, None, None, 1000, ARN, None)
    ours = lambda_worker.LambdaContext(REQUEST_ID, 1000, ARN, print)
    assert repr(ours) == repr(theirs)
    for name in (
        "aws_request_id",
        "function_name",
        "memory_limit_in_mb",
        "log_group_name",
        "log_stream_name",
        "function_version",
        "invoked_function_arn",
        "client_context",
        "tenant_id",
    ):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert repr(ours.identity) == repr(theirs.identity)
    assert ours.get_remaining_time_in_millis() == theirs.get_remaining_time_in_millis() == 0
    assert ours.w3c() == theirs.w3c() == {}
