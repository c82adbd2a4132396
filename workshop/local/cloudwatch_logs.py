"""CloudWatch Logs, as Lambda uses it: a group per function, a stream per environment."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any

from workshop.local.local_aws import ensure_log_group, ensure_log_stream
from workshop.types import Function, LogEvent


@dataclass(frozen=True)
class StoredEvent:
    """A log event as `filter_log_events` returns it."""

    group: str
    stream: str
    timestamp: int
    message: str


class LogShipper:
    """Sends each invocation's log lines to CloudWatch Logs in the background, as Lambda does."""

    def __init__(self, logs_client: Any):
        self.logs = logs_client
        self._queue: queue.Queue[tuple[Function, str, list[LogEvent]] | None] = queue.Queue()
        self._known: set[tuple[str, str]] = set()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def __call__(self, function: Function, stream: str, events: list[LogEvent]) -> None:
        self._queue.put((function, stream, events))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self._put(*item)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def _put(self, function: Function, stream: str, events: list[LogEvent]) -> None:
        group = function.log_group
        if (group, "") not in self._known:
            ensure_log_group(self.logs, group)
            self._known.add((group, ""))
        if (group, stream) not in self._known:
            ensure_log_stream(self.logs, group, stream)
            self._known.add((group, stream))
        ordered = sorted(events, key=lambda event: event.timestamp)
        self.logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": e.timestamp, "message": e.message} for e in ordered],
        )

    def flush(self) -> None:
        """Wait until every event handed over so far is stored."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()


def filter_events(logs_client: Any, group: str, pattern: str | None = None) -> list[StoredEvent]:
    """The group's events, oldest first; `pattern` is a CloudWatch Logs filter pattern."""
    args: dict[str, Any] = {"logGroupName": group}
    if pattern:
        args["filterPattern"] = pattern
    events: list[StoredEvent] = []
    try:
        for page in logs_client.get_paginator("filter_log_events").paginate(**args):
            events.extend(
                StoredEvent(group, e["logStreamName"], e["timestamp"], e["message"])
                for e in page["events"]
            )
    except logs_client.exceptions.ResourceNotFoundException:
        return []
    return sorted(events, key=lambda event: event.timestamp)


def format_event(event: StoredEvent) -> str:
    """One line per event, as `sam logs` prints them: stream, time, message."""
    import time

    seconds = event.timestamp / 1000
    stamp = time.strftime("%Y/%m/%d/%H:%M:%S", time.gmtime(seconds))
    return f"{event.stream} {stamp} {event.message}"
