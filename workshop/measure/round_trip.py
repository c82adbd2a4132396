"""One DynamoDB request at a time, timed as a function sees it: from a process of its own.

The benchmark's yardstick for the local stack's overhead. `RoundTrips` starts this module as
Lambda starts an execution environment: a Python process of its own, with boto3, the local
AWS's endpoint and credentials in its environment, and what Lambda's runtime lacks hidden.
Each line it reads names a request, a table and an item of its own (`update_item visits-table
3`: one for each visitor of the bench, so that each is as big as that visitor's session); it
makes that request, as the apps make theirs (boto3's Table resource), and answers the
milliseconds the call took, from the first byte of Python to the parsed answer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

PROBE_KEY = "bench-round-trip"  # the items it reads and writes (numbered): no visitor's session
PROBE_CREDENTIALS = {  # its own, so that the apps' round trips are still counted exactly
    "AWS_ACCESS_KEY_ID": "ASIABENCHROUNDTRIP",
    "AWS_SECRET_ACCESS_KEY": "bench-round-trip-secret",
    "AWS_SESSION_TOKEN": "local-session-bench-round-trip",
}
OPERATIONS = ("get_item", "put_item", "update_item")
# The final app's REQUEST_MEMORY and FORGET_BATCH (stage 08): the probe's item keeps the request
# ids of the last 30 s as the app's item does, so that its update is as large as the app's
# (tests/bench checks that they agree). Forgetting is not timed: it is not the app's round trip.
REQUEST_MEMORY, FORGET_BATCH = 30, 10


class RoundTrips:
    """The probe process, started beside the apps' environments; close it when done."""

    def __init__(self, endpoint_url: str, region: str, python: str = sys.executable):
        # Imported here, not at the top: the probe process itself never needs the runtime.
        from workshop.local.lambda_runtime import HOST_VARIABLES

        package_root = str(Path(__file__).resolve().parents[2])
        host = {name: os.environ[name] for name in HOST_VARIABLES if name in os.environ}
        self.process = subprocess.Popen(
            [python, "-u", "-m", "workshop.measure.round_trip"],
            cwd=package_root,
            env={
                **host,
                **PROBE_CREDENTIALS,
                "AWS_ENDPOINT_URL": endpoint_url,
                "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region,
                "PYTHONPATH": package_root,
            },
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def time(self, operation: str, table: str, item: int = 0) -> float:
        """Milliseconds that one `operation` on `table`'s `item` took, as the probe saw it."""
        self.process.stdin.write(f"{operation} {table} {item}\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"the round-trip probe ended (exit status {self.process.wait()})")
        return float(answer)

    def close(self) -> None:
        self.process.stdin.close()  # its end of input: the probe ends
        self.process.wait()
        self.process.stdout.close()


def probe_key(item: int) -> str:
    """The session id of the probe's `item`."""
    return f"{PROBE_KEY}-{item}"


def request(table: Any, operation: str, key: str) -> dict[str, Any]:
    """One request of `operation` on the item `key`, shaped as the apps send it; its answer."""
    if operation == "get_item":  # the original's read
        return table.get_item(Key={"session_id": key})
    if operation == "put_item":  # and its write
        return table.put_item(Item={"session_id": key, "visit_count": 1})
    # The final app's one atomic, idempotent update.
    entry = f"{int(time.time())}:{uuid.uuid4()}"
    return table.update_item(
        Key={"session_id": key},
        UpdateExpression="ADD visit_count :one, counted_requests :entries",
        ConditionExpression=(
            "attribute_not_exists(counted_requests) OR NOT contains(counted_requests, :entry)"
        ),
        ExpressionAttributeValues={":one": 1, ":entry": entry, ":entries": {entry}},
        ReturnValues="UPDATED_NEW",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )


def forget_old(table: Any, key: str, answer: dict[str, Any]) -> None:
    """Remove the old request ids of the probe's item `key`, as the final app does its own."""
    oldest_kept = time.time() - REQUEST_MEMORY
    entries = answer.get("Attributes", {}).get("counted_requests", ())
    old = {entry for entry in entries if int(entry.partition(":")[0]) < oldest_kept}
    if len(old) >= FORGET_BATCH:
        table.update_item(
            Key={"session_id": key},
            UpdateExpression="DELETE counted_requests :old",
            ExpressionAttributeValues={":old": old},
        )


def main() -> None:
    from workshop.local.lambda_sandbox import only_what_lambda_has

    # Ctrl-C reaches every process of the terminal: the bench stops the probe (it closes its
    # input) and says what happened; the probe has nothing to print of it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    only_what_lambda_has(None)
    import boto3

    dynamodb = boto3.resource("dynamodb")
    tables: dict[str, Any] = {}
    for line in sys.stdin:
        operation, name, item = line.split()
        if name not in tables:
            tables[name] = dynamodb.Table(name)
        table, key = tables[name], probe_key(int(item))
        started = time.perf_counter()
        answer = request(table, operation, key)
        print((time.perf_counter() - started) * 1000, flush=True)
        forget_old(table, key, answer)


if __name__ == "__main__":
    main()
