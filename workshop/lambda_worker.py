"""One Lambda execution environment: imports the handler once, then serves invocations in turn.

Runs as its own process (`python -m workshop.lambda_worker`), started by `lambda_runtime`.
Requests come on stdin, one JSON line each; answers go back on the original stdout. Everything
the handler prints (stdout and stderr alike) goes to the log pipe, as on Lambda; the runtime's
own log records travel on that same pipe, framed by RECORD_MARK, so their order is kept.
Standard library only: it runs beside the handler's code, not the harness's.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import time
import traceback
from typing import Any

RECORD_MARK = "\x1e"  # starts a framed record on the log pipe; never in ordinary text


def _utc_stamp(seconds: float) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        + f".{int(seconds % 1 * 1000):03d}Z"
    )


def emit_record(kind: str, **fields: Any) -> None:
    """Write one framed record to the log pipe in a single write, so it cannot interleave."""
    sys.stdout.flush()
    sys.stderr.flush()
    line = RECORD_MARK + json.dumps({"kind": kind, "ts": time.time() * 1000, **fields}) + "\n"
    os.write(2, line.encode("utf-8"))


class _RuntimeLogHandler(logging.Handler):
    """The Python runtime's log handler: one event per record, in text or JSON format."""

    def __init__(self, log_format: str):
        super().__init__()
        self.log_format = log_format
        self.request_id = ""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if self.log_format == "JSON":
            entry = {
                "timestamp": _utc_stamp(record.created),
                "level": record.levelname,
                "message": message,
                "logger": record.name,
                "requestId": self.request_id,
            }
            text = json.dumps(entry)
        else:
            stamp = _utc_stamp(record.created)
            text = f"[{record.levelname}]\t{stamp}\t{self.request_id}\t{message}"
        emit_record("log", message=text)


class LambdaContext:
    """The `context` argument, with the attributes and method Lambda's Python runtime gives."""

    def __init__(self, request: dict[str, Any], env: dict[str, str]):
        self.function_name = env["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = env["AWS_LAMBDA_FUNCTION_VERSION"]
        self.invoked_function_arn = request["invoked_function_arn"]
        self.memory_limit_in_mb = env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.aws_request_id = request["request_id"]
        self.log_group_name = env["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = env["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self._deadline_ms = request["deadline_ms"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


def _error(
    exc: BaseException,
    error_type: str | None = None,
    message: str | None = None,
    request_id: str = "",
):
    """Lambda's error payload, logging it as the Python runtime does.

    In the text log format: `[ERROR] Type: message` and the traceback. In the JSON format
    (LoggingConfig LogFormat: JSON): one JSON object with the payload's fields, the request id
    and a timestamp to the second.
    """
    error_type = error_type or type(exc).__name__
    message = str(exc) if message is None else message
    # Drop this module's own frames, as the real runtime hides its bootstrap.
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    stack = traceback.format_list(frames)
    if os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON":
        entry = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
            "level": "ERROR",
            "errorMessage": message,
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": stack,
        }
        text = json.dumps(entry)
    else:
        text = f"[ERROR] {error_type}: {message}"
        if stack:
            text += "\nTraceback (most recent call last):\n" + "".join(stack).rstrip("\n")
    emit_record("log", message=text)
    return {"errorMessage": message, "errorType": error_type, "stackTrace": stack}


def _max_memory_mb() -> int:
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024))
    except ImportError:  # Windows
        import ctypes
        from ctypes import wintypes

        class Counters(ctypes.Structure):
            _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD)] + [
                (name, ctypes.c_size_t)
                for name in (
                    "PeakWorkingSetSize",
                    "WorkingSetSize",
                    "QuotaPeakPagedPoolUsage",
                    "QuotaPagedPoolUsage",
                    "QuotaPeakNonPagedPoolUsage",
                    "QuotaNonPagedPoolUsage",
                    "PagefileUsage",
                    "PeakPagefileUsage",
                )
            ]

        counters = Counters()
        counters.cb = ctypes.sizeof(counters)
        process = ctypes.windll.kernel32.GetCurrentProcess()
        ctypes.windll.psapi.GetProcessMemoryInfo(process, ctypes.byref(counters), counters.cb)
        return round(counters.PeakWorkingSetSize / (1024 * 1024))


# In the harness's venv but not in Lambda's Python runtime (the SAM CLI brings them): the AWS
# CRT, which botocore would use if it could import it, and pyOpenSSL, which urllib3 would.
NOT_IN_THE_RUNTIME = ("awscrt", "OpenSSL")


def hide_what_lambda_lacks() -> None:
    """Make the handler's imports find what Lambda's runtime has, unless its code vendors more."""
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    for name in NOT_IN_THE_RUNTIME:
        if not os.path.exists(os.path.join(task_root, name)):
            sys.modules[name] = None  # `import` now raises ImportError, as it would on Lambda


def main() -> None:
    # Keep the real stdout for answers; point fd 1 at the log pipe, so that print(), C code and
    # child processes all write where Lambda would capture them.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)

    def answer(message: dict[str, Any]) -> None:
        answers.write(json.dumps(message) + "\n")
        answers.flush()

    log_handler = _RuntimeLogHandler(os.environ.get("AWS_LAMBDA_LOG_FORMAT", "Text"))
    root = logging.getLogger()
    root.handlers[:] = [log_handler]
    root.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "WARNING").upper())

    hide_what_lambda_lacks()
    module_name, function_name = os.environ["_HANDLER"].rsplit(".", 1)
    started = time.perf_counter()
    try:
        handler = getattr(importlib.import_module(module_name.replace("/", ".")), function_name)
    except Exception as exc:  # the runtime reports any init failure the same way
        kind = "ImportModuleError" if isinstance(exc, ImportError) else "UserCodeSyntaxError"
        if not isinstance(exc, (ImportError, SyntaxError)):
            kind = "HandlerNotFound" if isinstance(exc, AttributeError) else type(exc).__name__
        error = _error(exc, f"Runtime.{kind}", f"Unable to import module '{module_name}': {exc}")
        emit_record("init_done")
        answer({"ready": False, "error": error})
        return
    emit_record("init_done")
    answer({"ready": True, "init_ms": (time.perf_counter() - started) * 1000})

    for line in sys.stdin:
        request = json.loads(line)
        log_handler.request_id = request["request_id"]
        context = LambdaContext(request, os.environ)
        started = time.perf_counter()
        try:
            result = handler(request["event"], context)
            try:
                reply: dict[str, Any] = {"payload": json.loads(json.dumps(result))}
            except (TypeError, ValueError) as exc:
                reply = {
                    "error": _error(
                        exc,
                        "Runtime.MarshalError",
                        f"Unable to marshal response: {exc}",
                        request["request_id"],
                    )
                }
        except Exception as exc:
            reply = {"error": _error(exc, request_id=request["request_id"])}
        reply["duration_ms"] = (time.perf_counter() - started) * 1000
        reply["max_memory_mb"] = _max_memory_mb()
        emit_record("invocation_done", request_id=request["request_id"])
        answer(reply)


if __name__ == "__main__":
    main()
