"""One execution environment of a function: its runtime process, the pipes to it, its logs.

The harness's Lambda service (`lambda_runtime`) keeps a pool of them per function.
"""

from __future__ import annotations

import contextlib
import json
import queue
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import weakref
from typing import Any

from packaging.markers import InvalidMarker, Marker

from workshop.local.lambda_memory import MemoryWatch
from workshop.local.lambda_reports import now_ms
from workshop.local.lambda_sandbox import requirements
from workshop.local.lambda_worker import RECORD_MARK
from workshop.types import Function, LogEvent

# Environments of one function run on machines of their own (Lambda's Workers), each up for its
# own time, and Python says only that the reference point of time.monotonic() and
# time.perf_counter() is undefined: comparing their values across environments is meaningless.
# Here every environment shares the laptop's clock, so each reads those clocks as from a machine
# up this much longer than the last one's: a stamp one environment makes, another cannot read.
UPTIME_APART = 86400.0  # seconds


def packaged(function: Function) -> list[str]:
    """The distributions of the function's requirements.txt that `sam build` packages: those
    whose environment marker (PEP 508) holds where the function runs. pip skips the others.

    pip judges a marker for the Python it runs with: sam build's is the runtime's version
    (python3.11's, say). The platform is taken as Lambda's, and that of its build image (sam
    build --use-container): Linux, x86_64, as the harness reads no Architectures (arm64). A
    marker pip cannot read fails the build; here its requirement is left listed.
    """
    version = ".".join(map(str, function.python_version))
    lambda_python = {
        "python_version": version,
        "python_full_version": f"{version}.0",  # the patch release changes with runtime updates
        "implementation_name": "cpython",
        "implementation_version": f"{version}.0",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
    }
    listed = []
    for name, marker in requirements(str(function.code_dir)):
        try:
            holds = not marker or Marker(marker).evaluate(lambda_python)
        except InvalidMarker:
            holds = True
        if holds:
            listed.append(name)
    return listed


class ExecutionEnvironment:
    """One execution environment: a worker process with its own memory and log stream.

    The runtime process can be restarted in the same environment (after a timeout, as Lambda
    resets its sandbox): the log stream and /tmp stay, module state does not.
    """

    def __init__(
        self,
        function: Function,
        variables: dict[str, str],
        python: str,
        machine: int = 0,
        ahead: float = 0.0,
    ):
        """`machine`: which of the function's environments this is, from 0 (see UPTIME_APART);
        `ahead`: how many seconds later than now the handler's time of day reads."""
        self.function = function
        self.clocks = [machine * UPTIME_APART, ahead]
        self.code_version = 0  # the function's code it runs (FunctionRuntime.new_code)
        self.stream = (
            time.strftime("%Y/%m/%d/", time.gmtime()) + f"[$LATEST]{secrets.token_hex(16)}"
        )
        self.last_used = time.monotonic()
        self.needs_init = False  # the runtime was stopped; the next invocation starts it again
        self._variables = {**variables, "AWS_LAMBDA_LOG_STREAM_NAME": self.stream}
        self._python = python
        self._pending: list[LogEvent] = []
        self._lock = threading.Lock()
        # Its own /tmp (lambda_sandbox.own_tmp), empty: kept through a restart of its runtime,
        # removed when it ends, or when the harness does.
        self.tmp = tempfile.mkdtemp(prefix="lambda-tmp-")
        self._remove_tmp = weakref.finalize(self, shutil.rmtree, self.tmp, ignore_errors=True)
        self.start()

    def start(self) -> None:
        """Start the runtime process (its init phase begins)."""
        self.started = time.monotonic()
        self._records: queue.Queue[dict[str, Any]] = queue.Queue()
        self._answers: queue.Queue[bytes] = queue.Queue()
        self.process = subprocess.Popen(
            [
                self._python,
                "-u",
                "-m",
                "workshop.local.lambda_worker",
                *map(repr, self.clocks),
                self.tmp,
                *packaged(self.function),
            ],
            cwd=self.function.code_dir,
            env=self._variables,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.needs_init = False
        process = self.process
        threading.Thread(target=self._read_logs, args=(process,), daemon=True).start()
        threading.Thread(target=self._read_answers, args=(process,), daemon=True).start()
        self.memory = MemoryWatch(process, self.function.memory_size)

    @property
    def out_of_memory(self) -> bool:
        return self.memory.out_of_memory

    @property
    def max_memory_mb(self) -> int:
        return self.memory.max_memory_mb

    def _read_answers(self, process: subprocess.Popen) -> None:
        answers = self._answers
        for line in iter(process.stdout.readline, b""):
            answers.put(line)
        answers.put(b"")
        process.stdout.close()

    def _read_logs(self, process: subprocess.Popen) -> None:
        """Turn the log pipe into events: plain lines are the handler's, marked the runtime's."""
        records = self._records
        # In the text format CloudWatch keeps a line with its newline (LocalStack's snapshot of
        # test_multi_line_prints, recorded on AWS 2025-11-25): a printed line, a log record;
        # not the runtime's [ERROR] record, which ends without one.
        text_format = self._variables.get("AWS_LAMBDA_LOG_FORMAT") != "JSON"
        # A printed line is stamped when it is read, a record when it was written: on a busy
        # machine a line read late would sort after a record written after it. The pipe keeps
        # their order, so no event is stamped before the one read ahead of it.
        last = 0
        for raw in iter(process.stderr.readline, b""):
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            plain, _, record = text.partition(RECORD_MARK)
            if plain:
                last = max(last, now_ms())
                self._add(LogEvent(last, plain, text_format and raw.endswith(b"\n")))
            if record:
                data = json.loads(record)
                if data["kind"] == "log":
                    message = data["message"]
                    ends = text_format and message.endswith("\n")
                    last = max(last, int(data["ts"]))
                    self._add(LogEvent(last, message.removesuffix("\n"), ends))
                else:
                    records.put(data)
        records.put({"kind": "exited"})
        process.stderr.close()

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
        """The worker's next answer; None if it did not come in time, {} if the worker ended."""
        try:
            line = self._answers.get(timeout=timeout)
        except queue.Empty:
            return None
        return json.loads(line) if line else {}

    def send(self, request: dict[str, Any]) -> None:
        """Hand the runtime its next request; one that is gone gets none, and answers {}."""
        with contextlib.suppress(OSError, ValueError):  # ValueError: its stdin is closed
            self.process.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
            self.process.stdin.flush()

    def kill(self) -> None:
        """Stop the runtime process (the environment may start it again)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.process.stdin.close()

    def end(self) -> None:
        """End the environment: stop its runtime process, and remove its /tmp."""
        self.kill()
        self._remove_tmp()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None
