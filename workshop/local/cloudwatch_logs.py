"""CloudWatch Logs, as Lambda uses it: a group per function, a stream per environment."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from workshop.errors import WorkshopError
from workshop.local.local_aws import ensure_log_group, ensure_log_stream
from workshop.types import Function, LogEvent

SHIP_WINDOW = 0.5  # seconds: the events handed over within it go in one call per stream
# PutLogEvents' limits on one call: 10,000 events, and 1,048,576 bytes, counted as the UTF-8 of
# every message plus 26 bytes for each event.
MAX_EVENTS = 10_000
MAX_BYTES = 1_048_576
EVENT_OVERHEAD = 26


@dataclass(frozen=True)
class StoredEvent:
    """A log event as `filter_log_events` returns it, its message without a final newline."""

    group: str
    stream: str
    timestamp: int
    message: str


class LogShipper:
    """Sends the invocations' log lines to CloudWatch Logs in the background, as Lambda does.

    Lambda delivers logs asynchronously, in batches. So does the shipper: what the invocations
    hand over in SHIP_WINDOW seconds goes in one PutLogEvents per stream, off the visits' path
    (one call per visit cost a visit more than its DynamoDB call, in the same process). Nothing
    is read late: `flush` stores every event handed over so far, and the embedded local AWS
    flushes before it answers any read of the logs (LocalAWS.before_logs_read).
    """

    def __init__(self, logs_client: Callable[[], Any], window: float = SHIP_WINDOW):
        # Asked for its client as it ships, not before: making one takes a tenth of a second or
        # more, which `up` spends once its API serves.
        self._logs_client = logs_client
        self.window = window
        self._changed = threading.Condition()
        self._pending: list[tuple[Function, str, list[LogEvent]]] = []
        self._handed = 0  # invocations handed over so far
        self._stored = 0  # of them, how many are shipped (or failed to be)
        self._waiting = 0  # callers of flush: the batch goes at once
        self._closed = False
        self._known: set[tuple[str, str]] = set()
        # Per group that a tail follows, every event handed over since the first tail was made.
        self._followed: dict[str, list[StoredEvent]] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def __call__(self, function: Function, stream: str, events: list[LogEvent]) -> None:
        with self._changed:
            self._pending.append((function, stream, events))
            self._handed += 1
            followed = self._followed.get(function.log_group)
            if followed is not None:
                group = function.log_group
                stored = (StoredEvent(group, stream, e.timestamp, _read(e.stored)) for e in events)
                followed += sorted(stored, key=_timestamp)
            self._changed.notify_all()

    def tail(self, group: str) -> LogTail:
        """A reader of what the invocations hand over for `group` from now on."""
        with self._changed:
            events = self._followed.setdefault(group, [])
            return LogTail(events, len(events), self._changed)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending or self._closed)
                if not self._pending:
                    return  # closed, and nothing left to ship
                # The window opens with the first event: later ones join its batch.
                self._changed.wait_for(lambda: self._waiting or self._closed, self.window)
                batch, self._pending = self._pending, []
                handed = self._handed
            try:
                self._put(batch)
            except Exception as exc:  # a fault of the harness: said, and the next batch goes on
                print(
                    f"CloudWatch Logs: {len(batch)} invocations' logs lost: {exc!r}",
                    file=sys.stderr,
                )
            finally:
                with self._changed:
                    self._stored = handed
                    self._changed.notify_all()

    def _put(self, batch: list[tuple[Function, str, list[LogEvent]]]) -> None:
        logs = self._logs_client()
        streams: dict[tuple[str, str], list[LogEvent]] = {}  # in the order they first logged
        for function, stream, events in batch:
            streams.setdefault((function.log_group, stream), []).extend(events)
        for (group, stream), events in streams.items():
            if (group, "") not in self._known:
                ensure_log_group(logs, group)
                self._known.add((group, ""))
            if (group, stream) not in self._known:
                ensure_log_stream(logs, group, stream)
                self._known.add((group, stream))
            # In chronological order, as PutLogEvents wants them (stable: events of one
            # millisecond keep theirs).
            for batch in put_batches(sorted(events, key=lambda event: event.timestamp)):
                logs.put_log_events(
                    logGroupName=group,
                    logStreamName=stream,
                    logEvents=[{"timestamp": e.timestamp, "message": e.stored} for e in batch],
                )

    def flush(self) -> None:
        """Wait until every event handed over so far is stored."""
        with self._changed:
            wanted = self._handed
            self._waiting += 1
            self._changed.notify_all()
            try:
                self._changed.wait_for(lambda: self._stored >= wanted)
            finally:
                self._waiting -= 1

    def close(self) -> None:
        """Ship what is left, and stop."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join()


def put_batches(events: list[LogEvent]) -> Iterator[list[LogEvent]]:
    """`events`, in their order, cut into as few PutLogEvents calls as its limits allow."""
    batch: list[LogEvent] = []
    size = 0
    for event in events:
        weight = len(event.stored.encode("utf-8")) + EVENT_OVERHEAD
        if batch and (len(batch) == MAX_EVENTS or size + weight > MAX_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += weight
    if batch:
        yield batch


def filter_events(logs_client: Any, group: str, pattern: str | None = None) -> list[StoredEvent]:
    """The group's events, oldest first; `pattern` is a CloudWatch Logs filter pattern."""
    args: dict[str, Any] = {"logGroupName": group}
    if pattern:
        args["filterPattern"] = pattern
    events: list[StoredEvent] = []
    try:
        for page in logs_client.get_paginator("filter_log_events").paginate(**args):
            events.extend(
                StoredEvent(group, e["logStreamName"], e["timestamp"], _read(e["message"]))
                for e in page["events"]
            )
    except logs_client.exceptions.ResourceNotFoundException:
        return []
    except ClientError as error:
        if error.response["Error"]["Code"] != "NotImplemented":
            raise
        raise WorkshopError(error.response["Error"]["Message"]) from None  # a pattern, say
    return sorted(events, key=_timestamp)


def _read(message: str) -> str:
    """What a StoredEvent holds of a message as CloudWatch Logs keeps it: no final newline."""
    return message.removesuffix("\n")


class LogTail:
    """Follows one log group: each read returns the events that the invocations handed over to
    the shipper since the read before (at first, since the tail was made).

    They are the lines CloudWatch Logs holds, or soon will: read from the shipper, not from
    CloudWatch Logs, a visit's logs cost no call (a check of many visits read the whole group
    twice a visit, and made the shipper store each visit's lines on its own).
    """

    def __init__(self, events: list[StoredEvent], position: int, lock: threading.Condition):
        self._events = events
        self._position = position
        self._lock = lock

    def read(self) -> list[StoredEvent]:
        """The events handed over since the last read, oldest first."""
        with self._lock:
            new = self._events[self._position :]
            self._position = len(self._events)
        return sorted(new, key=_timestamp)


def _timestamp(event: StoredEvent) -> int:
    return event.timestamp


def format_event(event: StoredEvent) -> str:
    """One line per event, as `sam logs` prints it: stream, time (ISO 8601, in UTC, as SAM CLI's
    timestamp_to_iso makes it), message; a JSON message stays on its one line, which `sam logs`
    spreads over several."""
    import datetime

    stamp = datetime.datetime.fromtimestamp(event.timestamp / 1000, tz=datetime.UTC)
    return f"{event.stream} {stamp.isoformat()} {event.message}"
