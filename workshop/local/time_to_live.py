"""DynamoDB's time to live (TTL), as the local AWS applies it: moto keeps expired items for good.

DynamoDB's developer guide ("Using time to live (TTL) in DynamoDB", TTL.html, and "Computing
time to live (TTL) in DynamoDB", time-to-live-ttl-before-you-start.html): on a table whose TTL
is enabled, an item whose TTL attribute is a Number of epoch seconds before now is expired, and
deleted in the background, typically within a few days (UpdateTimeToLive's API reference: within
two days); until then it is still read, and may still be updated. An item whose TTL attribute is
not a Number is ignored, and so is one that expired more than five years ago. The local AWS
deletes every expired item at once when its clock moves on (Stack.later): of what DynamoDB may
do, what a counter must be ready for.
"""

from __future__ import annotations

import contextlib
from typing import Any

FIVE_YEARS = 5 * 365.25 * 24 * 3600  # seconds: an expiry older than that is never deleted


def expired(value: dict[str, Any] | None, now: float, since: float | None = None) -> bool:
    """Whether DynamoDB's TTL deletes an item whose TTL attribute is `value` (in DynamoDB's
    JSON, as {"N": "1767225600"}; None where the item has none) by `now`, in epoch seconds, the
    clock having moved on from `since` (`now` where None): an item that expired meanwhile was
    deleted soon after, however long before `now` that was."""
    number = (value or {}).get("N")
    since = now if since is None else since
    return number is not None and since - FIVE_YEARS <= float(number) < now


def sweep(dynamodb: Any, tables: list[str], now: float, since: float | None = None) -> int:
    """Delete the items of `tables` (those whose TTL is enabled; a table deleted is passed over)
    that have expired by `now`, since `since` (see expired), as DynamoDB's TTL does; how many it
    deleted."""
    pages = dynamodb.get_paginator("list_tables").paginate()
    held = {name for page in pages for name in page["TableNames"]}
    return sum(_sweep_table(dynamodb, table, now, since) for table in tables if table in held)


def _sweep_table(dynamodb: Any, table: str, now: float, since: float | None) -> int:
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") != "ENABLED":
        return 0
    attribute = ttl["AttributeName"]
    keys = [
        part["AttributeName"]
        for part in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
    ]
    deleted = 0
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            if not expired(item.get(attribute), now, since):
                continue
            # Only as it was read: an item updated meanwhile (its expiry moved on) is kept.
            with contextlib.suppress(dynamodb.exceptions.ConditionalCheckFailedException):
                dynamodb.delete_item(
                    TableName=table,
                    Key={name: item[name] for name in keys},
                    ConditionExpression="#expiry = :seen",
                    ExpressionAttributeNames={"#expiry": attribute},
                    ExpressionAttributeValues={":seen": item[attribute]},
                )
                deleted += 1
    return deleted
