"""The Lambda service, locally: a pool of execution environments per function, and their logs.

Each environment is its own process running `workshop.lambda_worker`: it imports the handler
once (the cold start), then serves one invocation at a time while warm. A request that finds
every environment busy gets a new one; an environment idle for longer than the idle timeout
is reclaimed, so module-level state lives exactly as long as it does on Lambda.
"""

from __future__ import annotations

import json
import math
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workshop.lambda_worker import RECORD_MARK
from workshop.sam_template import Function

DEFAULT_IDLE_TIMEOUT = 300.0  # seconds; Lambda keeps an idle environment for minutes, not hours
INIT_TIMEOUT = 10.0  # Lambda's limit on the init phase of an on-demand function
INIT_SLOTS = threading.BoundedSemaphore(max(2, os.cpu_count() or 1))  # inits at once
# What a process needs from the host to start at all; nothing else of the user's shell leaks in.
HOST_VARIABLES = ("PATH", "SYSTEMROOT", "WINDIR", "COMSPEC", "PATHEXT", "TEMP", "TMP", "TMPDIR")


@dataclass
class LogEvent:
    timestamp: int  # milliseconds since the epoch, as CloudWatch Logs keeps it
    message: str


@dataclass
class Invocation:
    """The outcome of one invocation, as the Lambda service reports it."""

    request_id: str
    payload: Any = None
    error: dict[str, Any] | None = None  # errorType, errorMessage, ... when the function failed
    timed_out: bool = False
    cold_start: bool = False
    duration_ms: float = 0.0
    init_ms: float | None = None
    max_memory_mb: int | None = None
    environment: str = ""  # the log stream of the environment that served it
    logs: list[LogEvent] = field(default_factory=list)

    @property
    def log_text(self) -> str:
        return "\n".join(event.message for event in self.logs)


class Throttled(Exception):
    """The function is at its concurrency limit (Lambda's TooManyRequestsException)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _stamp(ms: float) -> str:
    seconds = ms / 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(ms % 1000):03d}Z"


class Environment:
    """One execution environment: a worker process with its own memory and log stream."""

    def __init__(self, function: Function, env: dict[str, str], python: str):
        self.function = function
        self.stream = (
            time.strftime("%Y/%m/%d/", time.gmtime()) + f"[$LATEST]{secrets.token_hex(16)}"
        )
        self.last_used = time.monotonic()
        self._pending: list[LogEvent] = []
        self._records: queue.Queue[dict[str, Any]] = queue.Queue()
        self._answers: queue.Queue[bytes] = queue.Queue()
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            [python, "-u", "-m", "workshop.lambda_worker"],
            cwd=function.code_dir,
            env={**env, "AWS_LAMBDA_LOG_STREAM_NAME": self.stream},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        threading.Thread(target=self._read_logs, daemon=True).start()
        threading.Thread(target=self._read_answers, daemon=True).start()

    def _read_answers(self) -> None:
        for line in iter(self.process.stdout.readline, b""):
            self._answers.put(line)
        self._answers.put(b"")
        self.process.stdout.close()

    def _read_logs(self) -> None:
        """Turn the log pipe into events: plain lines are the handler's, marked the runtime's."""
        for raw in iter(self.process.stderr.readline, b""):
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            plain, _, record = text.partition(RECORD_MARK)
            if plain:
                self._add(LogEvent(_now_ms(), plain))
            if record:
                data = json.loads(record)
                if data["kind"] == "log":
                    self._add(LogEvent(int(data["ts"]), data["message"]))
                else:
                    self._records.put(data)
        self._records.put({"kind": "exited"})
        self.process.stderr.close()

    def _add(self, event: LogEvent) -> None:
        with self._lock:
            self._pending.append(event)

    def take_logs(self) -> list[LogEvent]:
        with self._lock:
            events, self._pending = self._pending, []
        return events

    def wait_record(self, kind: str, timeout: float) -> bool:
        """Wait until the log pipe has carried a record of `kind` (or the process ended)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                record = self._records.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return False
            if record["kind"] == kind:
                return True
            if record["kind"] == "exited":
                return False

    def read_answer(self, timeout: float) -> dict[str, Any] | None:
        """The worker's next answer, or None if it did not come in time (or the worker died)."""
        try:
            line = self._answers.get(timeout=timeout)
        except queue.Empty:
            return None
        return json.loads(line) if line else None

    def send(self, request: dict[str, Any]) -> None:
        self.process.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
        self.process.stdin.flush()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.process.stdin.close()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


class FunctionRuntime:
    """Invokes one function: finds a warm environment or starts one, and reports its logs."""

    def __init__(
        self,
        function: Function,
        *,
        aws_endpoint: str,
        region: str,
        credentials: dict[str, str],
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        on_logs: Any = None,
        python: str = sys.executable,
    ):
        self.function = function
        self.idle_timeout = idle_timeout
        self.python = python
        self.on_logs = on_logs  # called with (environment stream, [LogEvent]) after each phase
        self._idle: list[Environment] = []  # the most recently used last: it is reused first
        self._busy = 0
        self._lock = threading.Lock()
        self._closed = False
        package_root = str(Path(__file__).resolve().parent.parent)
        host = {name: os.environ[name] for name in HOST_VARIABLES if name in os.environ}
        self.env = {
            **host,
            **function.environment,
            "PYTHONPATH": package_root,  # for workshop.lambda_worker only; the code dir comes first
            "PYTHONIOENCODING": "utf-8",
            "PYTHONDONTWRITEBYTECODE": "1",  # Lambda's code folder is read-only: no __pycache__
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "_HANDLER": function.handler,
            "LAMBDA_TASK_ROOT": str(function.code_dir),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": function.log_group,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ENDPOINT_URL": aws_endpoint,
            **credentials,
        }
        config = function.logging_config
        self.json_logs = config.get("LogFormat") == "JSON"
        if self.json_logs:
            self.env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
            self.env["AWS_LAMBDA_LOG_LEVEL"] = config.get("ApplicationLogLevel", "INFO")
        self._warn_on_python_mismatch()
        self._reaper = threading.Thread(target=self._reap_idle, daemon=True)
        self._reaper.start()

    def _warn_on_python_mismatch(self) -> None:
        running = sys.version_info[:2] if self.python == sys.executable else None
        if running and running != self.function.python_version:
            warnings.warn(
                f"{self.function.logical_id} declares Runtime {self.function.runtime}, but the "
                f"harness runs it with Python {running[0]}.{running[1]}: behaviour may differ "
                f"from Lambda's (install Python {self.function.runtime[6:]} to match).",
                stacklevel=3,
            )

    # The pool.

    def _acquire(self) -> Environment | None:
        with self._lock:
            while self._idle:
                env = self._idle.pop()
                if env.alive:
                    self._busy += 1
                    return env
            limit = self.function.reserved_concurrency
            if limit is not None and self._busy >= limit:
                raise Throttled(
                    f"Rate Exceeded. ({self.function.name} is at its reserved "
                    f"concurrency of {limit})"
                )
            self._busy += 1
            return None

    def _release(self, env: Environment | None, keep: bool) -> None:
        with self._lock:
            self._busy -= 1
            if env is not None and keep and not self._closed:
                env.last_used = time.monotonic()
                self._idle.append(env)
                return
        if env is not None:
            env.kill()

    def _reap_idle(self) -> None:
        while not self._closed:
            time.sleep(min(1.0, max(0.05, self.idle_timeout / 4)))
            self.expire(older_than=self.idle_timeout)

    def expire(self, older_than: float = 0.0) -> int:
        """Reclaim the environments idle for longer than `older_than` seconds; return how many."""
        cutoff = time.monotonic() - older_than
        with self._lock:
            stale = [env for env in self._idle if env.last_used <= cutoff]
            self._idle = [env for env in self._idle if env.last_used > cutoff]
        for env in stale:
            env.kill()
        return len(stale)

    @property
    def warm_environments(self) -> int:
        with self._lock:
            return len(self._idle) + self._busy

    def close(self) -> None:
        self._closed = True
        self.expire()

    # Invocations.

    def invoke(self, event: Any, request_id: str | None = None) -> Invocation:
        request_id = request_id or str(uuid.uuid4())
        env = self._acquire()
        inv = Invocation(request_id=request_id, cold_start=env is None)
        keep = False
        try:
            if env is None:
                env = self._start_environment(inv)
                if env is None:
                    return inv
            keep = self._run(env, event, inv)
            return inv
        finally:
            self._release(env, keep)
            if self.on_logs and inv.logs:
                self.on_logs(self.function, inv.environment, inv.logs)

    def _start_environment(self, inv: Invocation) -> Environment | None:
        # Lambda inits each environment on a machine of its own; here they share a laptop's
        # cores. Started all at once, 32 of them would each take 16 times longer and outrun
        # the init limit, so they start a few at a time (the wait is not init time).
        with INIT_SLOTS:
            env = Environment(self.function, self.env, self.python)
            inv.environment = env.stream
            ready = env.read_answer(INIT_TIMEOUT)
        env.wait_record("init_done", timeout=1.0)
        inv.logs.extend(env.take_logs())
        if ready and ready.get("ready"):
            inv.init_ms = ready["init_ms"]
            return env
        inv.error = (ready or {}).get("error") or {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {inv.request_id} Error: Runtime exited during init",
        }
        inv.error["requestId"] = inv.request_id
        inv.logs.extend(self._end_lines(inv, status="error")[-1:])  # no END: it never started
        env.kill()
        return None

    def _run(self, env: Environment, event: Any, inv: Invocation) -> bool:
        """Serve one invocation in `env`; return whether the environment may be used again."""
        inv.environment = env.stream
        timeout = self.function.timeout
        started = time.monotonic()
        inv.logs.append(self._start_line(inv))
        env.send(
            {
                "request_id": inv.request_id,
                "event": event,
                "deadline_ms": _now_ms() + timeout * 1000,
                "invoked_function_arn": self.function.arn,
            }
        )
        reply = env.read_answer(timeout)
        elapsed_ms = (time.monotonic() - started) * 1000
        if reply is None:
            timed_out = env.alive  # still running when the time was up; else it crashed
            env.kill()
            env.wait_record("invocation_done", timeout=1.0)
            inv.logs.extend(env.take_logs())
            inv.duration_ms = timeout * 1000 if timed_out else elapsed_ms
            if timed_out:
                inv.timed_out = True
                message = f"Task timed out after {timeout:.2f} seconds"
                inv.logs.append(
                    LogEvent(_now_ms(), f"{_stamp(_now_ms())} {inv.request_id} {message}")
                )
                inv.error = {"errorType": "Sandbox.Timedout", "errorMessage": message}
            else:
                message = (
                    f"RequestId: {inv.request_id} Error: Runtime exited with error: "
                    f"exit status {env.process.returncode}"
                )
                inv.logs.append(LogEvent(_now_ms(), message))
                inv.error = {"errorType": "Runtime.ExitError", "errorMessage": message}
            inv.error["requestId"] = inv.request_id
            inv.logs.extend(self._end_lines(inv, status="timeout" if timed_out else "error"))
            return False
        env.wait_record("invocation_done", timeout=1.0)
        inv.logs.extend(env.take_logs())
        inv.duration_ms = reply["duration_ms"]
        inv.max_memory_mb = reply["max_memory_mb"]
        if "error" in reply:
            inv.error = {**reply["error"], "requestId": inv.request_id}
        else:
            inv.payload = reply["payload"]
        inv.logs.extend(self._end_lines(inv))
        inv.logs.sort(key=lambda event: event.timestamp)  # stable: same-ms events keep order
        return True

    def _platform(self, kind: str, record: dict[str, Any]) -> LogEvent:
        """A platform log line in the JSON log format: {"time", "type", "record"}."""
        now = _now_ms()
        return LogEvent(now, json.dumps({"time": _stamp(now), "type": kind, "record": record}))

    def _start_line(self, inv: Invocation) -> LogEvent:
        if self.json_logs:
            return self._platform(
                "platform.start", {"requestId": inv.request_id, "version": "$LATEST"}
            )
        return LogEvent(_now_ms(), f"START RequestId: {inv.request_id} Version: $LATEST")

    def _end_lines(self, inv: Invocation, status: str | None = None) -> list[LogEvent]:
        """END and REPORT in the text format; in the JSON format, one platform.report."""
        billed = math.ceil(inv.duration_ms + (inv.init_ms or 0))
        if self.json_logs:
            metrics = {
                "durationMs": round(inv.duration_ms, 2),
                "billedDurationMs": billed,
                "memorySizeMB": self.function.memory_size,
                "maxMemoryUsedMB": inv.max_memory_mb or 0,
            }
            if inv.init_ms is not None:
                metrics["initDurationMs"] = round(inv.init_ms, 2)
            record = {
                "requestId": inv.request_id,
                "metrics": metrics,
                "status": status or "success",
            }
            return [self._platform("platform.report", record)]
        end = LogEvent(_now_ms(), f"END RequestId: {inv.request_id}")
        return [end, self._report_line(inv, billed, status)]

    def _report_line(self, inv: Invocation, billed: int, status: str | None) -> LogEvent:
        parts = [
            f"REPORT RequestId: {inv.request_id}",
            f"Duration: {inv.duration_ms:.2f} ms",
            # Since August 2025 the init phase of on-demand functions is billed too.
            f"Billed Duration: {billed} ms",
            f"Memory Size: {self.function.memory_size} MB",
            f"Max Memory Used: {inv.max_memory_mb or 0} MB",
        ]
        if inv.init_ms is not None:
            parts.append(f"Init Duration: {inv.init_ms:.2f} ms")
        if status:
            parts.append(f"Status: {status}")
        return LogEvent(_now_ms(), "\t".join(parts) + "\t")
