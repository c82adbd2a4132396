"""The Lambda service, locally: a pool of execution environments per function, and their logs.

Each environment is its own process running `workshop.local.lambda_worker`: it imports the handler
once (the cold start), then serves one invocation at a time while warm. A request that finds
every environment busy gets a new one; an environment idle for longer than the idle timeout
is reclaimed, so module-level state (and /tmp) lives exactly as long as it does on Lambda.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workshop.local.lambda_environment import ExecutionEnvironment, packaged
from workshop.local.lambda_reports import PlatformLog, now_ms
from workshop.local.lambda_sandbox import not_installed
from workshop.local.lambda_worker import RESPONSE_LIMIT
from workshop.local.trace_header import new_root, with_parent
from workshop.types import DEFAULT_IDLE_TIMEOUT, Function, Invocation, LogEvent

__all__ = ["DEFAULT_IDLE_TIMEOUT", "FunctionRuntime", "Invocation", "LogEvent", "Throttled"]

INIT_TIMEOUT = 10.0  # Lambda's limit on the init phase of an on-demand function
INIT_SLOTS = threading.BoundedSemaphore(max(2, os.cpu_count() or 1))  # inits at once
# How long a phase's end record may lag its answer: the runtime writes it first, but a thread
# of the harness reads it from the log pipe, and a busy machine may keep that thread waiting.
RECORD_PATIENCE = 30.0
# What the caller gets for a response over 6 MB (DataBiosphere/azul issues #7466 and #8258).
TOO_LARGE = f"Response payload size exceeded maximum allowed payload size ({RESPONSE_LIMIT} bytes)."
# A runtime that is gone (killed, or ended) writes no end record: its log pipe ends, unless a
# process the handler started holds it open, so what it had written is read by then, or lost.
GONE_PATIENCE = 1.0
# What a process needs from the host to start at all; nothing else of the user's shell leaks in.
HOST_VARIABLES = ("PATH", "SYSTEMROOT", "WINDIR", "COMSPEC", "PATHEXT", "TEMP", "TMP", "TMPDIR")


class Throttled(Exception):
    """The function is at its concurrency limit (Lambda's TooManyRequestsException)."""


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
        before_invoke: Callable[[], None] | None = None,
        may_run: Callable[[], bool] | None = None,
    ):
        self.function = function
        self.before_invoke = before_invoke  # e.g. a look at whether the code changed
        # Asked once an environment is ready, before the event is sent to it: it may wait (an
        # environment may start, its init run, before what the function uses is in place), and
        # says False when the event must never be sent (the stack stopped meanwhile).
        self.may_run = may_run
        self.idle_timeout = idle_timeout
        self.python = python
        self.on_logs = on_logs  # called with (log stream, [LogEvent]) after each phase
        self._idle: list[
            ExecutionEnvironment
        ] = []  # the most recently used last: it is reused first
        self._busy = 0
        self.refused = 0  # invocations refused at the reserved concurrency (Throttled), so far
        self._made = 0  # environments made so far: the next one's `machine`
        # Seconds later than now that new environments' handlers read the time of day: a check
        # moves it to see what a visit does much later (Stack.later); an environment whose
        # handler reads otherwise is reclaimed once its invocation ends.
        self.clock_ahead = 0.0
        self._code_version = 0  # how many times the code changed since the runtime began
        self._in_use: set[ExecutionEnvironment] = set()  # busy, with their processes
        self._lock = threading.Lock()
        self._closed = False
        package_root = str(Path(__file__).resolve().parents[2])  # the folder holding `workshop`
        host = {name: os.environ[name] for name in HOST_VARIABLES if name in os.environ}
        self.variables = {
            **host,
            **function.environment,
            "PYTHONPATH": package_root,  # for the worker only; the code dir comes first
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
            self.variables["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
            self.variables["AWS_LAMBDA_LOG_LEVEL"] = config.get("ApplicationLogLevel", "INFO")
        self.platform = PlatformLog(function, region)
        self._warn_on_python_mismatch()
        missing = not_installed(packaged(function))
        if missing:
            warnings.warn(
                f"{function.logical_id}'s requirements.txt names {', '.join(missing)}, which this "
                "offline workshop has not installed: sam build would package it for Lambda, but "
                "here its import fails (Runtime.ImportModuleError).",
                stacklevel=3,
            )
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

    def _acquire(self) -> ExecutionEnvironment | None:
        # Idle past the timeout, an environment is gone, whether the reaper has been by or not:
        # on a busy machine its thread may come late, and a warm start must not come instead.
        self.expire(older_than=self.idle_timeout)
        with self._lock:
            while self._idle:
                environment = self._idle.pop()
                if environment.code_version != self._code_version:
                    # Released before the code changed, as all beneath it: new_code reclaims them.
                    self._idle.append(environment)
                    break
                if environment.alive or environment.needs_init:
                    self._busy += 1
                    self._in_use.add(environment)
                    return environment
            limit = self.function.reserved_concurrency
            if limit is not None and self._busy >= limit:
                self.refused += 1
                raise Throttled(
                    f"Rate Exceeded. ({self.function.name} is at its reserved "
                    f"concurrency of {limit})"
                )
            self._busy += 1
            return None

    def _release(self, environment: ExecutionEnvironment | None, keep: bool) -> None:
        with self._lock:
            self._busy -= 1
            self._in_use.discard(environment)
            # One whose handler reads the time of day otherwise than new ones do (it was busy when
            # Stack.later moved the clock) is not kept either: no later visit may read its clock.
            current = (
                environment is not None
                and environment.code_version == self._code_version
                and environment.clocks[1] == self.clock_ahead
            )
            if current and keep and not self._closed:
                environment.last_used = time.monotonic()
                self._idle.append(environment)
                return
        if environment is not None:
            environment.end()

    def _reap_idle(self) -> None:
        while not self._closed:
            time.sleep(min(1.0, max(0.05, self.idle_timeout / 4)))
            self.expire(older_than=self.idle_timeout)

    def expire(self, older_than: float = 0.0) -> int:
        """Reclaim the environments idle for longer than `older_than` seconds; return how many."""
        cutoff = time.monotonic() - older_than
        with self._lock:
            stale = [idle for idle in self._idle if idle.last_used <= cutoff]
            self._idle = [idle for idle in self._idle if idle.last_used > cutoff]
        for environment in stale:
            environment.end()
        return len(stale)

    def new_code(self) -> None:
        """The function's code changed, as after a deploy: the next invocation starts a new
        environment with it; idle ones are reclaimed now, busy ones once their invocation ends."""
        with self._lock:
            self._code_version += 1
        self.expire()

    @property
    def warm_environments(self) -> int:
        with self._lock:
            return len(self._idle) + self._busy

    def close(self) -> None:
        """Reclaim every environment, busy ones too, as Lambda does: no worker outlives it."""
        self._closed = True
        self.expire()
        self.crash()

    def crash(self) -> int:
        """Kill the busy environments at once, as a crash does (out of memory, a segfault): each
        invocation ends as one whose runtime exited, no `finally` of its run. How many."""
        with self._lock:
            busy = list(self._in_use)
        for environment in busy:
            environment.kill()
        return len(busy)

    # Invocations.

    def invoke(self, event: Any, request_id: str | None = None) -> Invocation:
        request_id = request_id or str(uuid.uuid4())
        if self.before_invoke is not None:
            self.before_invoke()
        code_version = self._code_version  # read before the code is: a change then retires it
        environment = self._acquire()
        inv = Invocation(
            request_id=request_id, cold_start=environment is None or environment.needs_init
        )
        keep = False
        try:
            if environment is None:
                # Lambda inits each environment on a machine of its own; here they share a
                # laptop's cores. Started all at once, 32 of them would each take 16 times
                # longer and outrun the init limit, so they start a few at a time (the wait
                # for a slot is not init time).
                with INIT_SLOTS:
                    with self._lock:
                        machine, self._made = self._made, self._made + 1
                    environment = ExecutionEnvironment(
                        self.function, self.variables, self.python, machine, self.clock_ahead
                    )
                    environment.code_version = code_version
                    with self._lock:
                        self._in_use.add(environment)
                    inv.logs.extend(self.platform.init_start(environment.stream))
                    ready = self._init(environment, inv)
            elif environment.needs_init:
                environment.start()  # a reset sandbox: the runtime restarts, in the same stream
                inv.logs.extend(self.platform.init_start(environment.stream))
                ready = self._init(environment, inv)
            else:
                ready = True
            if not ready and not self._init_again(environment, inv):
                return inv
            if self.may_run is not None and not self.may_run():
                environment.kill()  # as a stop does to a busy environment: the event never ran
                inv.error = self._exit_error(environment, request_id)
                return inv
            keep = self._run(environment, event, inv)
            return inv
        finally:
            self._release(environment, keep)
            if self.on_logs and inv.logs:
                self.on_logs(self.function, inv.log_stream, inv.logs)

    def _init(
        self,
        environment: ExecutionEnvironment,
        inv: Invocation,
        phase_timeout: float = INIT_TIMEOUT,
    ):
        """Wait for the runtime to import the handler; record its logs and Init Duration."""
        inv.log_stream = environment.stream
        ready = environment.read_answer(phase_timeout)
        inv.init_ms = (
            time.monotonic() - environment.started
        ) * 1000  # from the environment's start
        if ready is None:
            environment.kill()  # still importing when the init phase's time was up
        environment.wait_record("init_done", timeout=RECORD_PATIENCE if ready else GONE_PATIENCE)
        inv.logs.extend(self.platform.application(environment.take_logs()))
        if ready and ready.get("ready"):
            environment.memory.running(False)  # the init is over: frozen until invoked
            return True
        inv.error = (ready or {}).get("error") or self._exit_error(environment, inv.request_id)
        return False

    def _exit_error(self, environment: ExecutionEnvironment, request_id: str) -> dict[str, Any]:
        """The error Lambda reports when the runtime process ends without a word."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            environment.process.wait(timeout=5)  # its answers pipe closed: it is on its way out
        environment.kill()
        if environment.out_of_memory:
            kind, reason = "Runtime.OutOfMemory", "signal: killed"
        elif environment.process.returncode < 0:
            kind, reason = "Runtime.ExitError", "signal: killed"
        else:
            kind, reason = "Runtime.ExitError", f"exit status {environment.process.returncode}"
        message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
        return {"errorType": kind, "errorMessage": message}

    def _init_again(self, environment: ExecutionEnvironment, inv: Invocation) -> bool:
        """After a failed init Lambda tries once more, in the invoke phase; True if it worked.

        If not, both attempts get an INIT_REPORT; the invocation gets START, END and a REPORT
        with `Status: error` and the init's error type.
        """
        inv.logs.extend(self.platform.init_report(inv.init_ms, "init", inv.error["errorType"]))
        environment.kill()
        environment.start()
        started = time.monotonic()
        if self._init(environment, inv, phase_timeout=self.function.timeout):
            # It worked the second time: the invocation goes ahead (rare; a flaky init).
            inv.error = None
            inv.init_ms = (time.monotonic() - started) * 1000
            return True
        inv.logs.extend(
            self.platform.init_report(
                (time.monotonic() - started) * 1000, "invoke", inv.error["errorType"]
            )
        )
        inv.logs.extend(self.platform.start(inv.request_id))
        inv.duration_ms = (time.monotonic() - started) * 1000
        inv.init_ms = None  # REPORT carries no Init Duration for a failed init
        inv.max_memory_mb = environment.max_memory_mb
        inv.logs.extend(self.platform.end_and_report(inv, "error", inv.error["errorType"]))
        environment.kill()
        return False

    def _run(self, environment: ExecutionEnvironment, event: Any, inv: Invocation) -> bool:
        """Serve one invocation in `environment`; return whether it may be used again."""
        inv.log_stream = environment.stream
        timeout = self.function.timeout
        started = time.monotonic()
        inv.logs.extend(self.platform.start(inv.request_id))
        environment.memory.running(True)
        environment.send(
            {
                "request_id": inv.request_id,
                "event": event,
                "deadline_ms": now_ms() + timeout * 1000,
                "invoked_function_arn": self.function.arn,
                "trace_id": _trace_of(event),
            }
        )
        reply = environment.read_answer(timeout)
        environment.memory.running(False)
        if not reply:
            elapsed = time.monotonic() - started
            return self._lost(environment, inv, timed_out=reply is None, elapsed=elapsed)
        environment.wait_record("invocation_done", timeout=RECORD_PATIENCE)
        inv.logs.extend(self.platform.application(environment.take_logs()))
        inv.duration_ms = reply["duration_ms"]
        inv.max_memory_mb = environment.max_memory_mb
        if "refused" in reply:
            refused = {"errorType": "Function.ResponseSizeTooLarge", "errorMessage": TOO_LARGE}
            return self._lost(environment, inv, False, time.monotonic() - started, refused)
        if "error" in reply:
            inv.error = reply["error"]
        else:
            inv.raw_payload = base64.b64decode(reply["payload"])
            inv.payload = _decoded(inv.raw_payload)
        inv.logs.extend(self.platform.end_and_report(inv, None, None))
        inv.logs.sort(key=lambda event: event.timestamp)  # stable: same-ms events keep order
        return True

    def _lost(
        self,
        environment: ExecutionEnvironment,
        inv: Invocation,
        timed_out: bool,
        elapsed: float,
        refused: dict[str, str] | None = None,
    ) -> bool:
        """The runtime gave no answer: the time was up, or the process died (or was killed).

        Since 2026 Lambda writes no "Task timed out" line: a timeout shows in REPORT's
        `Status: timeout` and in the error the caller gets. Lambda then resets the sandbox: the
        runtime starts again at the next invocation, in the same environment. A runtime whose
        response was `refused` exits: the caller gets that error, the logs the exit.
        """
        if timed_out:
            environment.kill()
            environment.wait_record("invocation_done", timeout=GONE_PATIENCE)
            inv.logs.extend(self.platform.application(environment.take_logs()))
            inv.timed_out = True
            inv.duration_ms = self.function.timeout * 1000
            inv.max_memory_mb = environment.max_memory_mb
            message = f"Task timed out after {self.function.timeout:.2f} seconds"
            inv.error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {inv.request_id} Error: {message}",
            }
            inv.logs.extend(self.platform.end_and_report(inv, "timeout", None))
            environment.needs_init = True
            return True
        exit_error = self._exit_error(environment, inv.request_id)
        # Its last words read: a refused runtime prints its traceback as it ends, which a busy
        # machine may read late; another may have left a child holding the pipe open.
        environment.wait_record("exited", timeout=RECORD_PATIENCE if refused else GONE_PATIENCE)
        inv.logs.extend(self.platform.application(environment.take_logs()))
        inv.duration_ms = elapsed * 1000
        inv.max_memory_mb = environment.max_memory_mb
        reason = f"{exit_error['errorMessage']}\n{exit_error['errorType']}"
        inv.logs.append(LogEvent(now_ms(), reason))
        inv.logs.extend(self.platform.end_and_report(inv, "error", exit_error["errorType"]))
        inv.error = refused or exit_error
        return False


def _trace_of(event: Any) -> str:
    """The X-Ray trace header Lambda hands the runtime: the Root of API Gateway's request (its
    event's X-Amzn-Trace-Id), or a new one; a Parent of Lambda's; not sampled."""
    headers = event.get("headers") if isinstance(event, dict) else None
    sent = headers.get("X-Amzn-Trace-Id") if isinstance(headers, dict) else None
    root = next((p for p in str(sent or "").split(";") if p.startswith("Root=")), None)
    return with_parent(root or new_root())


def _decoded(raw: bytes) -> Any:
    """The response as JSON where it is JSON (bytes returned by the handler need not be)."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
