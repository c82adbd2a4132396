"""One Lambda execution environment: imports the handler once, then serves invocations in turn.

Runs as its own process (`python -m workshop.local.lambda_worker`), started by `lambda_runtime`.
Requests come on stdin, one JSON line each; answers go back on the original stdout. Everything
the handler prints (stdout and stderr alike) goes to the log pipe, as on Lambda; the runtime's
own log records travel on that same pipe, framed by RECORD_MARK, so their order is kept.

What the handler and the logs see is what Lambda's Python runtime (awslambdaric, its
`bootstrap.py`, `lambda_runtime_log_utils.py`, `lambda_runtime_marshaller.py` and
`lambda_context.py`) gives them; tests/conformance compares the two on the same inputs.
Standard library only: it runs beside the handler's code, not the harness's.
"""

from __future__ import annotations

import base64
import decimal
import functools
import importlib
import json
import logging
import math
import os
import secrets
import sys
import sysconfig
import time
import traceback
from collections.abc import Callable
from typing import Any

from workshop.local import lambda_sandbox
from workshop.local.lambda_sandbox import (
    RUNTIME_PACKAGES,
    only_what_lambda_has,
    own_clock,
    own_tmp,
    read_only,
    site_folder,
)

# The Runtime API refuses (413) a response over Lambda's synchronous payload quota, 6 MB.
RESPONSE_LIMIT = 6291556
RECORD_MARK = "\x1e"  # starts a framed record on the log pipe; never in ordinary text
# The runtime's own clock, taken before own_clock may move the handler's later.
WALL_CLOCK = time.time
TEXT_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
SECONDS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # JSON logs and the uncaught error: to the second
ERROR_INDENT = "\u00a0"  # the runtime indents a logged traceback with no-break spaces
TASK_ROOT_ON_LAMBDA = "/var/task"  # where Lambda puts the code: the folder its tracebacks name
RUNTIME_ON_LAMBDA = "/var/runtime"  # where the runtime and the SDK are
# What the runtime logs (at WARNING) before the error of a failed init.
UNHANDLED_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function "
    "code. However, in rare cases, a Lambda runtime update can cause unexpected function "
    "behavior. For functions using managed runtimes, runtime updates can be triggered by a "
    "function change, or can be applied automatically. To determine if the runtime has been "
    "updated, check the runtime version in the INIT_START log entry. If this error correlates "
    "with a change in the runtime version, you may be able to mitigate this error by "
    "temporarily rolling back to the previous runtime version. For more information, see "
    "https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html\r"
)
# LogRecord attributes that are not `extra=` fields of the caller.
RESERVED_FIELDS = frozenset(
    {
        "name",
        "msg",
        "args",
        "levelname",
        "levelno",
        "pathname",
        "filename",
        "module",
        "exc_info",
        "exc_text",
        "stack_info",
        "lineno",
        "funcName",
        "created",
        "msecs",
        "relativeCreated",
        "thread",
        "threadName",
        "processName",
        "process",
        "aws_request_id",
        "tenant_id",
    }
)


def emit_record(kind: str, **fields: Any) -> None:
    """Write one framed record to the log pipe in a single write, so it cannot interleave."""
    sys.stdout.flush()
    sys.stderr.flush()
    line = RECORD_MARK + json.dumps({"kind": kind, "ts": WALL_CLOCK() * 1000, **fields}) + "\n"
    os.write(2, line.encode("utf-8"))


def log_to_pipe(text: str) -> None:
    """One CloudWatch Logs event, as the runtime wrote it (a log record ends with a newline)."""
    emit_record("log", message=text)


# Tracebacks, naming the function's files where Lambda has them.


def as_on_lambda(path: str) -> str:
    """A file as Lambda names it: the function's code under /var/task (app.py), the runtime's
    packages under /var/runtime (botocore), the standard library under /var/lang; others as
    they are. Only absolute paths: importlib's frames are "<frozen ...>"."""
    if not path or not os.path.isabs(path):
        return path
    full = os.path.realpath(path)
    for root, on_lambda, packages in _roots(os.environ.get("LAMBDA_TASK_ROOT")):
        if full.startswith(root) and (packages is None or _top(full[len(root) :]) in packages):
            return on_lambda + "/" + full[len(root) :].replace(os.sep, "/")
    return path


def _top(relative: str) -> str:
    """The top-level module a path below a sys.path entry belongs to (`six.py` is `six`)."""
    return relative.split(os.sep, 1)[0].removesuffix(".py")


@functools.cache
def _roots(task_root: str | None) -> list[tuple[str, str, frozenset[str] | None]]:
    """(folder, as Lambda names it, the packages it holds there or None for all), the code's
    first (LAMBDA_TASK_ROOT: here the code runs from its own folder, on Lambda /var/task)."""

    def folder(path: str) -> str:
        return os.path.realpath(path).rstrip(os.sep) + os.sep

    code = [(folder(task_root), TASK_ROOT_ON_LAMBDA, None)] if task_root else []
    sites = [(folder(e), RUNTIME_ON_LAMBDA, RUNTIME_PACKAGES) for e in sys.path if site_folder(e)]
    version = os.environ.get("AWS_EXECUTION_ENV", "").rpartition("_")[2] or "python3"
    stdlib = [(folder(sysconfig.get_paths()["stdlib"]), f"/var/lang/lib/{version}", None)]
    return code + sites + stdlib


def lambda_stack(tb: Any) -> traceback.StackSummary:
    """A traceback's frames (as traceback.extract_tb), the function's files as on Lambda."""
    stack = traceback.extract_tb(tb)  # the source lines are read now, from the real files
    _as_on_lambda(stack)
    return stack


def _as_on_lambda(stack: traceback.StackSummary) -> None:
    """Name a stack's files as Lambda does, and drop the sandbox's frames: its wrappers of the
    calls that take paths (own_tmp) stand where Lambda has the built-in calls, with no frame."""
    stack[:] = [frame for frame in stack if frame.filename != lambda_sandbox.__file__]
    for frame in stack:
        frame.filename = as_on_lambda(frame.filename)


class TextFormatter(logging.Formatter):
    """The runtime's text log line; a logged exception's traceback names files as on Lambda."""

    def formatException(self, ei: Any) -> str:
        exception = traceback.TracebackException(*ei, compact=True)
        pending, seen = [exception], set()
        while pending:  # the exception, and those chained to it (cause, context, group)
            current = pending.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            _as_on_lambda(current.stack)
            if getattr(current, "filename", None):  # a SyntaxError's file
                current.filename = as_on_lambda(current.filename)
            group = getattr(current, "exceptions", None) or ()
            chained = (current.__cause__, current.__context__, *group)
            pending.extend(other for other in chained if other is not None)
        return "".join(exception.format()).removesuffix("\n")


# Logging, as the runtime sets it up.


def level_from_env(value: str | None) -> str:
    """AWS_LAMBDA_LOG_LEVEL as the runtime reads it: TRACE is Python's DEBUG."""
    return {None: "", "TRACE": "DEBUG"}.get(value, value or "").upper()


class JsonFormatter(logging.Formatter):
    """The runtime's JSON log line: fixed keys, the exception in its own fields, then `extra=`."""

    def __init__(self):
        super().__init__(datefmt=SECONDS_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.levelno = min(50, max(0, record.levelno)) // 10 * 10
        record.levelname = logging.getLevelName(record.levelno)
        exc = record.exc_info
        entry = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "message": (
                record.msg
                if isinstance(record.msg, dict) and not record.args
                else record.getMessage()
            ),
            "logger": record.name,
            "stackTrace": lambda_stack(exc[2]).format() if exc else None,
            "errorType": exc[0].__name__ if exc else None,
            "errorMessage": str(exc[1]) if exc else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": (
                f"{as_on_lambda(record.pathname)}:{record.funcName}:{record.lineno}"
                if exc
                else None
            ),
        }
        if getattr(record, "tenant_id", None) is not None:
            entry["tenantId"] = record.tenant_id
        entry.update(
            (key, value)
            for key, value in record.__dict__.items()
            if key not in RESERVED_FIELDS and key not in entry
        )
        entry = {key: value for key, value in entry.items() if value is not None}
        return json.dumps(entry, ensure_ascii=False, default=str) + "\n"


class RuntimeLogHandler(logging.Handler):
    """The runtime's handler on the root logger: one log event per record."""

    def __init__(self, log_format: str, sink: Callable[[str], None]):
        super().__init__()
        self.sink = sink
        self.request_id = ""  # empty while the handler's module is imported
        self.tenant_id = None
        if log_format.upper() == "JSON":
            self.setFormatter(JsonFormatter())
        else:
            self.setFormatter(TextFormatter(TEXT_FORMAT, "%Y-%m-%dT%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        record.aws_request_id = self.request_id
        record.tenant_id = self.tenant_id
        self.sink(self.format(record))


def setup_logging(log_format: str, log_level: str, sink: Callable[[str], None]):
    """Give the root logger the runtime's handler, times in UTC, and the configured level."""
    logging.Formatter.converter = time.gmtime
    handler = RuntimeLogHandler(log_format, sink)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    if log_level in logging.getLevelNamesMapping():
        root.setLevel(log_level)
    return handler


# Errors, as the runtime reports and logs them.


class InitError(Exception):
    """A failure the runtime names itself (Runtime.*), with its own message and stack."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None):
        super().__init__(message)
        self.result = make_error(message, error_type, trace)


def make_error(message, error_type, stack_trace, request_id=None) -> dict[str, Any]:
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id if request_id is not None else "",
        "stackTrace": stack_trace or [],
    }


def exception_result(exc: BaseException, request_id: str | None = None) -> dict[str, Any]:
    """An exception as the runtime reports it: its type, message and the user's frames.

    The runtime drops the frames of its own bootstrap that lead into the user's code, here
    this module's; what follows (importlib's frames for an import) stays, as on Lambda.
    """
    frames = [
        (frame.filename, frame.lineno, frame.name, frame.line)
        for frame in lambda_stack(exc.__traceback__)
    ]
    while frames and frames[0][0] == __file__:
        frames.pop(0)
    return make_error(str(exc), type(exc).__name__, traceback.format_list(frames), request_id)


def error_log_text(error: dict[str, Any], log_format: str) -> str:
    """The log event of an uncaught error: JSON to the second, or `[ERROR]` and the trace."""
    if log_format.upper() == "JSON":
        stamp = time.strftime(SECONDS_FORMAT, time.gmtime())
        return json.dumps({"timestamp": stamp, "level": "ERROR", **error})
    head = "[ERROR]"
    if error.get("errorType"):
        head += " " + error["errorType"]
    if error.get("errorMessage"):
        head += (":" if error.get("errorType") else "") + " " + error["errorMessage"]
    lines = [head]
    if error.get("stackTrace") is not None:
        lines.append("Traceback (most recent call last):")
        for element in error["stackTrace"]:
            for line in element.splitlines() if element else [""]:
                body = line.lstrip(" ")
                lines.append(ERROR_INDENT * (len(line) - len(body)) + body)
    return "\n".join(lines)


# The handler.


def load_handler(name: str) -> Callable[..., Any]:
    """Import the handler's module and find the function, failing as the runtime fails."""
    try:
        module_name, function_name = name.rsplit(".", 1)
    except ValueError as exc:
        raise InitError("Runtime.MalformedHandlerName", f"Bad handler '{name}': {exc}") from None
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise InitError(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {module_name} as a handler module",
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise InitError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from None
    except SyntaxError as exc:
        trace = [f'  File "{as_on_lambda(exc.filename)}" Line {exc.lineno}\n    {exc.text}']
        raise InitError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", trace
        ) from None
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise InitError(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        ) from None


def marshal(result: Any) -> bytes:
    """The response body as the python3.11 runtime encodes it: bytes as they are, else JSON.

    Decimals are written as the numbers they hold (simplejson's RawJSON on Lambda); the
    standard library cannot write raw JSON, so each Decimal goes in as a marker first.
    """
    if isinstance(result, bytes):
        return result
    token = secrets.token_hex(8)
    decimals: list[str] = []

    def default(obj: Any) -> Any:
        if isinstance(obj, decimal.Decimal):
            if obj.is_nan():
                return math.nan
            decimals.append(str(obj))
            return f"{token}{len(decimals) - 1}{token}"
        raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")

    text = json.dumps(_namedtuples_as_objects(result), default=default)
    for index, number in enumerate(decimals):
        text = text.replace(f'"{token}{index}{token}"', number, 1)
    return text.encode("utf-8")


def _namedtuples_as_objects(value: Any) -> Any:
    """simplejson, the runtime's encoder, writes a namedtuple as an object."""
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {key: _namedtuples_as_objects(item) for key, item in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [_namedtuples_as_objects(item) for item in value]
    if isinstance(value, dict):
        return {key: _namedtuples_as_objects(item) for key, item in value.items()}
    return value


class CognitoIdentity:
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __init__(self):
        self.cognito_identity_id = None
        self.cognito_identity_pool_id = None

    def __repr__(self):
        return (
            f"{self.__class__.__name__}([cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}])"
        )


class LambdaContext:
    """The `context` argument, with the attributes and methods the Python runtime gives it."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str, log_sink):
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = None
        self.client_context = None  # set only for a mobile SDK's invoke
        self.identity = CognitoIdentity()
        self._epoch_deadline_time_in_ms = deadline_ms
        self._log_sink = log_sink

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._epoch_deadline_time_in_ms - int(WALL_CLOCK() * 1000))

    def w3c(self) -> dict[str, str]:
        return {}  # no client context carries a W3C trace context here

    def log(self, msg: Any) -> None:
        self._log_sink(str(msg))

    def __repr__(self):
        return (
            f"{self.__class__.__name__}([aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},identity={self.identity},"
            f"tenant_id={self.tenant_id}])"
        )


def invoke(handler, event, context, log_format, log_sink) -> dict[str, Any]:
    """Run the handler once: {"payload": the body in base64} or a logged {"error": ...}."""
    try:
        result = handler(event, context)
    except Exception as exc:
        error = exception_result(exc, context.aws_request_id)
    else:
        try:
            payload = marshal(result)
        except Exception as exc:  # the runtime turns any failure to encode into this error
            error = make_error(
                f"Unable to marshal response: {exc}",
                "Runtime.MarshalError",
                None,
                context.aws_request_id,
            )
        else:
            if len(payload) > RESPONSE_LIMIT:
                return {"refused": len(payload)}
            return {"payload": base64.b64encode(payload).decode("ascii")}
    log_sink(error_log_text(error, log_format))
    return {"error": error}


def main() -> None:
    # Keep the real stdout for answers; point fd 1 at the log pipe, so that print(), C code and
    # child processes all write where Lambda would capture them.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)

    def answer(message: dict[str, Any]) -> None:
        answers.write(json.dumps(message) + "\n")
        answers.flush()

    log_format = os.environ.get("AWS_LAMBDA_LOG_FORMAT", "Text")
    logs = setup_logging(
        log_format, level_from_env(os.environ.get("AWS_LAMBDA_LOG_LEVEL")), log_to_pipe
    )
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    # Its machine's uptime, how much later it is, its own /tmp, and the distributions sam build
    # packaged.
    uptime, ahead, tmp, *packaged = sys.argv[1:]
    only_what_lambda_has(task_root, packaged)
    read_only(task_root, as_on_lambda, writable=tmp)
    own_clock(float(uptime), float(ahead))
    own_tmp(tmp, task_root)
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except InitError as exc:
        error = exc.result
    except Exception as exc:
        error = exception_result(exc)
    else:
        error = None
    if error is not None:
        logging.warning(UNHANDLED_WARNING)
        log_to_pipe(error_log_text(error, log_format))
        emit_record("init_done")
        answer({"ready": False, "error": error})
        sys.exit(1)  # the runtime reports the init error and exits
    emit_record("init_done")
    answer({"ready": True})

    for line in sys.stdin:
        request = json.loads(line)
        logs.request_id = request["request_id"]
        os.environ["_X_AMZN_TRACE_ID"] = request["trace_id"]  # as the runtime sets it, each time
        context = LambdaContext(
            request["request_id"],
            request["deadline_ms"],
            request["invoked_function_arn"],
            log_to_pipe,
        )
        started = time.perf_counter()
        reply = invoke(handler, request["event"], context, log_format, log_to_pipe)
        reply["duration_ms"] = (time.perf_counter() - started) * 1000
        emit_record("invocation_done", request_id=request["request_id"])
        answer(reply)
        if "refused" in reply:
            # awslambdaric's client raises when its post fails, out of the runtime's loop: the
            # runtime prints the traceback and exits.
            raise RuntimeError("Failed to post invocation response")


if __name__ == "__main__":
    main()
