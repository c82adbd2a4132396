"""The Lambda platform's own log lines (INIT_START, INIT_REPORT, START, END, REPORT).

In the text log format they are tab-separated lines; in the JSON format (LoggingConfig
LogFormat: JSON) compact `{"time", "type": "platform.*", "record"}` objects, filtered by the
function's SystemLogLevel. The shapes follow Lambda's documentation (runtime-management-identify,
telemetry-schema-reference, monitoring-cloudwatchlogs-log-level) and logs recorded on AWS;
tests/conformance names each reference.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from typing import Any

from workshop.types import LogEvent

# The runtime version a python3.11 function ran on in us-east-1 (recorded January 2026); the
# ARN's hash names the version's image, so other runtimes get a stand-in of the same shape.
RUNTIME_VERSIONS = {
    "python3.11": (
        "python:3.11.v109",
        "49f733259c7ce7e0deee75ff91c6afe35c7d58b04ed300f32701216263b4590c",
    ),
}
SYSTEM_LEVELS = {"DEBUG": 10, "INFO": 20, "WARN": 30}
PLATFORM_LEVEL = SYSTEM_LEVELS["INFO"]  # initStart, initReport, start and report are INFO
# ApplicationLogLevel, and the `level` of a line as Python's logging spells it too.
APPLICATION_LEVELS = {
    "TRACE": 0, "DEBUG": 10, "INFO": 20, "WARN": 30, "WARNING": 30,
    "ERROR": 40, "FATAL": 50, "CRITICAL": 50,
}  # fmt: skip


def now_ms() -> int:
    return int(time.time() * 1000)


def stamp(ms: float) -> str:
    seconds = ms / 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(ms % 1000):03d}Z"


def runtime_version(runtime: str, region: str) -> tuple[str, str]:
    """(version, version ARN) of the runtime, as INIT_START names them."""
    version, digest = RUNTIME_VERSIONS.get(runtime) or (
        runtime.replace("python", "python:") + ".v1",
        hashlib.sha256(runtime.encode()).hexdigest(),
    )
    return version, f"arn:aws:lambda:{region}::runtime:{digest}"


class PlatformLog:
    """Writes one function's platform lines in its log format and at its system log level."""

    def __init__(self, function: Any, region: str):
        config = function.logging_config
        self.function = function
        self.json = config.get("LogFormat") == "JSON"
        # Log-level filtering applies to the JSON format only; INFO is Lambda's default.
        level = str(config.get("SystemLogLevel", "INFO")).upper() if self.json else "DEBUG"
        self.shown = SYSTEM_LEVELS.get(level, PLATFORM_LEVEL) <= PLATFORM_LEVEL
        app_level = str(config.get("ApplicationLogLevel", "INFO")).upper() if self.json else ""
        self.application_level = APPLICATION_LEVELS.get(app_level, 0)
        self.version, self.version_arn = runtime_version(function.runtime, region)

    def application(self, events: list[LogEvent]) -> list[LogEvent]:
        """The function's own lines that pass ApplicationLogLevel (JSON format only): a line
        without a `level` (a print(), say) counts as INFO."""
        kept = []
        for event in events:
            try:
                level = json.loads(event.message).get("level")
            except (ValueError, AttributeError):
                level = None
            rank = APPLICATION_LEVELS.get(str(level).upper(), APPLICATION_LEVELS["INFO"])
            if rank >= self.application_level:
                kept.append(event)
        return kept

    def _line(self, text: str, kind: str, record: dict[str, Any]) -> list[LogEvent]:
        if not self.shown:
            return []
        now = now_ms()
        if not self.json:
            return [LogEvent(now, text, newline=True)]
        entry = {"time": stamp(now), "type": kind, "record": record}
        return [LogEvent(now, json.dumps(entry, separators=(",", ":")))]

    def init_start(self, stream: str) -> list[LogEvent]:
        version, arn = self.version, self.version_arn
        text = f"INIT_START Runtime Version: {version}\tRuntime Version ARN: {arn}"
        record = {
            "initializationType": "on-demand",
            "phase": "init",
            "runtimeVersion": self.version,
            "runtimeVersionArn": self.version_arn,
            "functionName": self.function.name,
            "functionVersion": "$LATEST",
            "instanceId": stream,
            "instanceMaxMemory": self.function.memory_size * 1024 * 1024,
        }
        return self._line(text, "platform.initStart", record)

    def init_report(self, duration_ms: float, phase: str, error_type: str) -> list[LogEvent]:
        """A failed init: Lambda retries it once in the invoke phase and reports both."""
        text = (
            f"INIT_REPORT Init Duration: {duration_ms:.2f} ms\tPhase: {phase}\t"
            f"Status: error\tError Type: {error_type}"
        )
        record = {
            "initializationType": "on-demand",
            "phase": phase,
            "status": "error",
            "errorType": error_type,
            "metrics": {"durationMs": round(duration_ms, 3)},
        }
        return self._line(text, "platform.initReport", record)

    def start(self, request_id: str) -> list[LogEvent]:
        text = f"START RequestId: {request_id} Version: $LATEST"
        record = {"requestId": request_id, "functionArn": self.function.arn, "version": "$LATEST"}
        return self._line(text, "platform.start", record)

    def end_and_report(self, inv: Any, status: str | None, error_type: str | None):
        """END and REPORT; in the JSON format one platform.report. `status` None is success."""
        # Since August 2025 the init phase of on-demand functions is billed too.
        billed = math.ceil(inv.duration_ms + (inv.init_ms or 0))
        memory = inv.max_memory_mb or 0
        if self.json:
            metrics = {
                "durationMs": round(inv.duration_ms, 3),
                "billedDurationMs": billed,
                "memorySizeMB": self.function.memory_size,
                "maxMemoryUsedMB": memory,
            }
            if inv.init_ms is not None:
                metrics["initDurationMs"] = round(inv.init_ms, 3)
            record = {"requestId": inv.request_id, "metrics": metrics}
            record["status"] = status or "success"
            if error_type:
                record["errorType"] = error_type
            return self._line("", "platform.report", record)
        parts = [
            f"REPORT RequestId: {inv.request_id}",
            f"Duration: {inv.duration_ms:.2f} ms",
            f"Billed Duration: {billed} ms",
            f"Memory Size: {self.function.memory_size} MB",
            f"Max Memory Used: {memory} MB",
        ]
        if inv.init_ms is not None:
            parts.append(f"Init Duration: {inv.init_ms:.2f} ms")
        if status:
            parts.append(f"Status: {status}")
        if error_type:
            parts.append(f"Error Type: {error_type}")
        # A plain REPORT ends with a tab; one with a Status ends with it (AWS's own lines).
        report = "\t".join(parts) + ("" if status else "\t")
        end = self._line(f"END RequestId: {inv.request_id}", "", {})
        return end + self._line(report, "", {})
