"""DynamoDB's bad moments, as the local AWS plays them: an outage, and a stall.

An outage answers every call as DynamoDB does while it throttles or fails, or closes its
connection with no answer, as when DynamoDB cannot be reached; a stall applies
each call at once and holds its answer, as a slow DynamoDB or network does (LocalAWS's
dynamodb_outage and dynamodb_stall).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection
from typing import Any

from workshop.local.sam_template import ACCOUNT_ID

# What DynamoDB answers while it throttles or fails, as real calls recorded it. Throttled, a
# provisioned table says ProvisionedThroughputExceededException, an on-demand one (what SAM's
# SimpleTable makes) ThrottlingException; both list why in their ThrottlingReasons.
THROTTLED = {
    "provisioned": (
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "ThrottlingReasons",
        "ProvisionedThroughputExceeded",
        "The level of configured provisioned throughput for the table was exceeded. Consider "
        "increasing your provisioning level with the UpdateTable API.",
    ),
    "on-demand": (
        "com.amazon.coral.availability#ThrottlingException",
        "throttlingReasons",
        "KeyRangeThroughputExceeded",
        "Throughput exceeds the current capacity of your table or index. DynamoDB is "
        "automatically scaling your table or index so please try again shortly. If exceptions "
        "persist, check if you have a hot key: "
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html",
    ),
}
# Unavailable, DynamoDB's front end answers 503 with an HTML page, not JSON.
UNAVAILABLE = b"<html><body><b>Http/1.1 Service Unavailable</b></body> </html>"
# Unreachable, each call's connection is closed with no answer: botocore raises what it raises
# whenever a connection ends so, ConnectionClosedError (retried, as a ConnectionError is).
OUTAGES = ("throttled", "unavailable", "unreachable")
READS = ("Get", "BatchGet", "TransactGet", "Query", "Scan", "Describe", "List")


def outage_answer(
    kind: str, action: str, request: dict[str, Any], region: str, on_demand: dict[str, bool]
) -> tuple[int, str, bytes]:
    """(status, Content-Type, body) of DynamoDB's answer to `action` during an outage."""
    if kind == "unavailable":
        return 503, "text/html", UNAVAILABLE
    table = request.get("TableName") or next(iter(request.get("RequestItems") or {}), "")
    error_type, key, limit, message = THROTTLED[
        "on-demand" if on_demand.get(table, True) else "provisioned"
    ]
    operation = "Read" if action.startswith(READS) else "Write"
    reason = {
        "reason": f"Table{operation}{limit}",
        "resource": f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{table}",
    }
    error = {"__type": error_type, "message": message, key: [reason]}
    return 400, "application/x-amz-json-1.0", json.dumps(error).encode()


class Stall:
    """DynamoDB answering late: each call is applied at once, but its answer waits for the end.

    With `seconds`, the stall ends that long after the first answer it holds, so that answer
    is held exactly `seconds` (longer than an SDK's read timeout: the SDK gives up on it, and
    retries); without, it ends with its `with` block, or when `end()` is called. With
    `operations` ("UpdateItem", ...), only their answers are held; the others go at once.
    """

    def __init__(self, seconds: float | None = None, operations: Collection[str] = ()):
        self.seconds = seconds
        self.operations = frozenset(operations)
        self.held = 0  # how many answers it has held
        self.applied = 0  # how many of the calls that came during it have been applied
        self.admitting = True  # whether a call that comes now is one of its calls
        self._ended = threading.Event()
        self._changed = threading.Condition()

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def end(self) -> None:
        """Let every held answer go, and hold no more."""
        self._ended.set()
        with self._changed:
            self._changed.notify_all()

    def close(self) -> None:
        """Take no more calls: those that come from now on are answered at once, and those that
        came before are still held until it ends."""
        self.admitting = False

    def wait_for_applied(self, count: int, timeout: float) -> bool:
        """Wait until `count` of its calls have been applied; whether they have."""
        with self._changed:
            return self._changed.wait_for(lambda: self.applied >= count, timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the stall ends; whether it has."""
        return self._ended.wait(timeout)

    def wait_for_held(self, count: int, timeout: float) -> bool:
        """Wait until it has held `count` answers (or has ended); whether it has held them."""
        with self._changed:
            self._changed.wait_for(lambda: self.held >= count or self.ended, timeout)
            return self.held >= count

    def hold(self, operation: str) -> None:
        """Hold the answer to one call (applied already) until the stall ends."""
        with self._changed:
            self.applied += 1
            self._changed.notify_all()
        if self.ended or (self.operations and operation not in self.operations):
            return
        with self._changed:
            self.held += 1
            first = self.held == 1
            self._changed.notify_all()
        if first and self.seconds is not None and not self._ended.wait(self.seconds):
            self.end()  # the first answer has been held `seconds`: the stall is over
        self._ended.wait()
