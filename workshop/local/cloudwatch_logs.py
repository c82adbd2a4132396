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

    def __init__(self, logs_client: Any, window: float = SHIP_WINDOW):
        self.logs = logs_client
        self.window = window
        self._changed = threading.Condition()
        self._pending: list[tuple[Function, str, list[LogEvent]]] = []
        self._handed = 0  # invocations handed over so far
        self._stored = 0  # of them, how many are shipped (or failed to be)
        self._waiting = 0  # callers of flush: the batch goes at once
        self._closed = False
        self._known: set[tuple[str, str]] = set()
        # Per group, the earliest timestamp of each PutLogEvents stored, in turn: a LogFollower
        # reads from the earliest since its last read, and no further back.
        self._earliest: dict[str, list[int]] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def __call__(self, function: Function, stream: str, events: list[LogEvent]) -> None:
        with self._changed:
            self._pending.append((function, stream, events))
            self._handed += 1
            self._changed.notify_all()

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
        streams: dict[tuple[str, str], list[LogEvent]] = {}  # in the order they first logged
        for function, stream, events in batch:
            streams.setdefault((function.log_group, stream), []).extend(events)
        for (group, stream), events in streams.items():
            if (group, "") not in self._known:
                ensure_log_group(self.logs, group)
                self._known.add((group, ""))
            if (group, stream) not in self._known:
                ensure_log_stream(self.logs, group, stream)
                self._known.add((group, stream))
            # In chronological order, as PutLogEvents wants them (stable: events of one
            # millisecond keep theirs).
            for batch in put_batches(sorted(events, key=lambda event: event.timestamp)):
                self.logs.put_log_events(
                    logGroupName=group,
                    logStreamName=stream,
                    logEvents=[{"timestamp": e.timestamp, "message": e.stored} for e in batch],
                )
                with self._changed:
                    self._earliest.setdefault(group, []).append(batch[0].timestamp)

    def stored_since(self, group: str, mark: int) -> tuple[int, int | None]:
        """(a mark of what the group holds now, the earliest timestamp stored to it since
        `mark`, or None if nothing was), once every event handed over so far is stored."""
        self.flush()
        with self._changed:
            puts = self._earliest.get(group, [])
            return len(puts), min(puts[mark:], default=None)

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
    return sorted((_stored(group, e) for e in _filtered(logs_client, args)), key=_timestamp)


def _filtered(logs_client: Any, args: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The events FilterLogEvents answers `args` with, page after page (none without a group)."""
    try:
        for page in logs_client.get_paginator("filter_log_events").paginate(**args):
            yield from page["events"]
    except logs_client.exceptions.ResourceNotFoundException:
        return
    except ClientError as error:
        if error.response["Error"]["Code"] != "NotImplemented":
            raise
        raise WorkshopError(error.response["Error"]["Message"]) from None  # a pattern, say


def _stored(group: str, event: dict[str, Any]) -> StoredEvent:
    message = event["message"].removesuffix("\n")
    return StoredEvent(group, event["logStreamName"], event["timestamp"], message)


class LogFollower:
    """Every event of one log group, in the order they were read, read a piece at a time.

    As `sam logs --tail` does, it asks FilterLogEvents only from a time on: the earliest
    timestamp of what the shipper stored since its last read. Events already read that fall in
    that time are known by their eventId. So what a visit logged costs what the visit logged,
    not what the group holds (reading it all at each visit made a check of many visits
    quadratic). One for each group of a stack, shared by its tails.
    """

    def __init__(self, logs_client: Any, group: str, shipper: Callable[[], LogShipper | None]):
        """`shipper`: the stack's, as it is at each read (a stack started again has another)."""
        self.logs = logs_client
        self.group = group
        self.events: list[StoredEvent] = []  # each read's new events, oldest first, in turn
        self._shipper = shipper
        self._shipped: tuple[LogShipper | None, int] = (None, 0)  # a shipper and its mark
        self._seen: set[str] = set()  # the eventIds read
        self._lock = threading.Lock()

    def read(self) -> int:
        """Read what was stored since the last read; return how many events are read in all."""
        with self._lock:
            shipper = self._shipper()
            args: dict[str, Any] = {"logGroupName": self.group}
            if shipper is not None:
                last, mark = self._shipped
                now, earliest = shipper.stored_since(self.group, mark if last is shipper else 0)
                if last is shipper and earliest is None:
                    return len(self.events)
                if last is shipper:
                    args["startTime"] = earliest
                self._shipped = (shipper, now)
            new = [e for e in _filtered(self.logs, args) if e["eventId"] not in self._seen]
            self._seen.update(e["eventId"] for e in new)
            self.events += sorted((_stored(self.group, e) for e in new), key=_timestamp)
            return len(self.events)

    def tail(self) -> LogTail:
        """A reader that starts from now."""
        return LogTail(self, self.read())


class LogTail:
    """Follows one log group: each read returns the events stored since the one before."""

    def __init__(self, follower: LogFollower, position: int):
        self._follower = follower
        self._position = position

    def read(self) -> list[StoredEvent]:
        """The events stored since the last read (at first, since the tail was made), oldest
        first."""
        end = self._follower.read()
        new = self._follower.events[self._position : end]
        self._position = end
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
