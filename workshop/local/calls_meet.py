"""What DynamoDB may do when calls meet, and moto, applying one call at a time, never does.

- An eventually consistent read "might not reflect the results of a recently completed write
  operation"; repeated "after a short time", it returns the latest data (DynamoDB's guide, "Read
  consistency"). So a read under a lock that is not strongly consistent may miss what the last
  holder of the lock wrote.
- DynamoDB cancels a TransactWriteItems when "there is an ongoing TransactWriteItems operation
  that conflicts with a concurrent TransactWriteItems request", the reason of the item
  TransactionConflict (TransactionCanceledException, in its API reference). The SDK does not
  retry it (only TransactionInProgressException, in botocore's retry data).

While a check's visits meet (`LocalAWS.calls_meet`), the local AWS does both, at the worst that
DynamoDB allows, so that it happens each time: the first eventually consistent read of an item
after a write (GetItem, BatchGetItem, Query or Scan without ConsistentRead=True, all eventually
consistent by default) sees the item as it was before that write (and the next one, the latest);
and a transaction on an item that another transaction wrote after this one arrived is cancelled.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Iterator
from typing import Any

WRITES = ("PutItem", "UpdateItem", "DeleteItem")
KEPT = 64  # transactions remembered, to tell which met: far more than a check's visits at once
CANCELLED = "com.amazonaws.dynamodb.v20120810#TransactionCanceledException"
CANCELLED_MESSAGE = "Transaction cancelled, please refer cancellation reasons for specific reasons"
CONFLICT = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}


class CallsMeet:
    """The items' images before their last writes, and the transactions applied lately."""

    def __init__(self, account: str, region: str):
        self.account = account
        self.region = region
        self._before: dict[tuple[str, str], Any] = {}  # an item (or None) not yet read as stale
        self._transactions: list[tuple[float, set[tuple[str, str]]]] = []  # (applied, items)
        self.stale_reads = 0  # eventually consistent reads answered with an item's last image

    def _table(self, name: Any) -> Any:
        from moto.dynamodb.models import dynamodb_backends

        tables = dynamodb_backends[self.account][self.region].tables
        return tables.get(name) if isinstance(name, str) else None

    def _written(self, operation: str, request: dict[str, Any]) -> list[tuple[str, str]]:
        """(table, key) of each item a write or a transaction's part names."""
        if operation == "TransactWriteItems":
            return [item for part in self._parts(request) for item in part]
        table = self._table(request.get("TableName"))
        if table is None:
            return []
        if operation == "PutItem":
            item = request.get("Item")
            names = [table.hash_key_attr, *([table.range_key_attr] if table.range_key_attr else [])]
            key = {n: item.get(n) for n in names} if isinstance(item, dict) else None
        else:
            key = request.get("Key")
        if not isinstance(key, dict):
            return []
        return [(table.name, json.dumps(key, sort_keys=True))]

    def _parts(self, request: dict[str, Any]) -> list[list[tuple[str, str]]]:
        """The items of each part of a TransactWriteItems (Put, Update, Delete, ConditionCheck)."""
        parts = request.get("TransactItems")
        found = []
        for part in parts if isinstance(parts, list) else ():
            kind, action = next(iter(part.items())) if isinstance(part, dict) and part else ("", {})
            operation = {"Put": "PutItem"}.get(kind, "UpdateItem")  # the others name a Key
            found.append(self._written(operation, action) if isinstance(action, dict) else [])
        return found

    def _item(self, table_name: str, key: str) -> tuple[Any, Any, Any]:
        """moto's table, the item's hash and range values (as moto keys its items)."""
        from moto.dynamodb.models.dynamo_type import DynamoType

        table = self._table(table_name)
        attributes = json.loads(key)
        hash_value = DynamoType(attributes[table.hash_key_attr])
        range_name = table.range_key_attr
        return table, hash_value, DynamoType(attributes[range_name]) if range_name else None

    def before_write(self, operation: str, request: dict[str, Any]) -> dict[Any, Any]:
        """The items a write is about to change, as they are (for `applied`)."""
        images = {}
        if operation not in WRITES and operation != "TransactWriteItems":
            return images
        for table_name, key in self._written(operation, request):
            with contextlib.suppress(KeyError, TypeError, AttributeError):
                table, hash_value, range_value = self._item(table_name, key)
                item = table.get_item(hash_value, range_value)
                images[(table_name, key)] = copy.deepcopy(item)
        return images

    def stale(self, operation: str, request: dict[str, Any]) -> dict[tuple[str, str], Any]:
        """The items an eventually consistent read sees as they were before their last write
        (None: no item yet), each once after each write of it, by (table, key); none for any
        other call."""
        seen = {}
        for item in self._read(operation, request):
            if item in self._before:
                seen[item] = self._before.pop(item)
        self.stale_reads += bool(seen)
        return seen

    def _read(self, operation: str, request: dict[str, Any]) -> list[tuple[str, str]]:
        """(table, key) of each item with a write not yet read that an eventually consistent
        read may return: the keys a GetItem or a BatchGetItem names, the items of the partition
        a Query names, every item of a table that a Scan reads."""
        if operation == "BatchGetItem":
            tables = request.get("RequestItems")
            return [
                item
                for name, asked in (tables.items() if isinstance(tables, dict) else ())
                if isinstance(asked, dict) and asked.get("ConsistentRead") is not True
                for key in asked.get("Keys") or ()
                for item in self._written("GetItem", {"TableName": name, "Key": key})
            ]
        if request.get("ConsistentRead") is True:
            return []
        if operation == "GetItem":
            return self._written("GetItem", request)
        table = self._table(request.get("TableName"))
        if operation not in ("Query", "Scan") or table is None:
            return []
        pending = [(name, key) for name, key in self._before if name == table.name]
        if operation == "Scan":
            return pending
        partition = self._partition(table, request)
        return [
            (name, key)
            for name, key in pending
            if json.loads(key).get(table.hash_key_attr) == partition
        ]

    def _partition(self, table: Any, request: dict[str, Any]) -> Any:
        """The partition key value a Query on the table's own key names, or None."""
        from moto.dynamodb.parsing.key_condition_expression import parse_expression

        expression = request.get("KeyConditionExpression")
        if request.get("IndexName") or not isinstance(expression, str):
            return None
        try:
            conditions, _, _ = parse_expression(
                expression,
                request.get("ExpressionAttributeValues") or {},
                request.get("ExpressionAttributeNames") or {},
                table.schema,
            )
        except Exception:  # noqa: BLE001 - a query moto refuses reads nothing
            return None
        return next((value for name, value in conditions if name == table.hash_key_attr), None)

    @contextlib.contextmanager
    def seen_as(self, items: dict[tuple[str, str], Any]) -> Iterator[None]:
        """moto holds each of `items` in place of the current one while inside (the gate's
        lock held)."""
        current = []
        for (table_name, key), item in items.items():
            table, hash_value, range_value = self._item(table_name, key)
            now = table.get_item(hash_value, range_value)
            current.append((table, hash_value, range_value, now))
            _place(table, hash_value, range_value, item)
        try:
            yield
        finally:
            for table, hash_value, range_value, item in reversed(current):
                _place(table, hash_value, range_value, item)

    def conflict(
        self, operation: str, request: dict[str, Any], arrived: float
    ) -> dict[str, Any] | None:
        """The error that cancels a transaction meeting another, or None."""
        if operation != "TransactWriteItems":
            return None
        met = {item for applied, items in self._transactions if applied > arrived for item in items}
        reasons = [
            CONFLICT if set(part) & met else {"Code": "None"} for part in self._parts(request)
        ]
        if CONFLICT not in reasons:
            return None
        codes = ", ".join(reason["Code"] for reason in reasons)
        message = f"{CANCELLED_MESSAGE} [{codes}]"
        return {"__type": CANCELLED, "CancellationReasons": reasons, "Message": message}

    def applied(self, operation: str, request: dict[str, Any], images: dict[Any, Any]) -> None:
        """A write was applied (not refused: a refused one changed nothing): the next eventually
        consistent read of each of its items sees `images`, them before it; and a transaction is
        remembered, with its items."""
        self._before.update(images)
        if operation == "TransactWriteItems":
            items = set(self._written(operation, request))
            self._transactions = [*self._transactions[-KEPT + 1 :], (time.monotonic(), items)]


def _place(table: Any, hash_value: Any, range_value: Any, item: Any) -> None:
    """Put `item` at its key in moto's table, or take the key's item out (None)."""
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
    elif item is None:
        table.items.get(hash_value, {}).pop(range_value, None)
    else:
        table.items[hash_value][range_value] = item
