"""Where moto answers otherwise than DynamoDB and CloudWatch Logs do, answered as they do.

Each gap was found by trying the AWS CLI against the local AWS; what AWS answers instead is
taken from a recording of real AWS or from AWS's documentation, cited beside it. Requests are
read from moto's own state (its tables, its log groups), in the account and region it serves.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from workshop.local import expression_checks
from workshop.local.json_protocol import Refused

__all__ = ["ClientTokens", "account", "answered", "refuse_before"]

# A key whose attributes are the table's, one of them of another type (a number for a string
# key): moto finds no item, or names the type (UpdateItem: "Type mismatch for key"), where
# DynamoDB refuses the key itself, for reads, updates and deletes alike (recorded against
# real AWS, GetItem, UpdateItem and BatchWriteItem: ministackorg/ministack#1432).
VALIDATION = "com.amazon.coral.validate#ValidationException"
KEY_MISMATCH = {
    "__type": VALIDATION,
    "message": "The provided key element does not match the schema",
}
# A key attribute that is an empty string or binary, in any call (recorded against real AWS in
# an SDK's conformance suite, 2026); moto refuses it for GetItem and PutItem only.
EMPTY_KEY = (
    "One or more parameter values are not valid. The AttributeValue for a key attribute cannot "
    "contain an empty {kind} value. Key: {name}"
)
# GetLogEvents on a stream that is not in an existing group: moto says the group does not
# exist (localstack/localstack#9226); CloudWatch Logs says the stream does not (recorded in
# prefect-archive/prefect-aws#177).
NO_STREAM = {
    "__type": "ResourceNotFoundException",
    "message": "The specified log stream does not exist.",
}
# TransactWriteItems with a ClientRequestToken (botocore makes one for every call, and its retries
# send it again): DynamoDB applies the call once, answers an identical call within 10 minutes of
# the first one's completion as the first without applying it, and refuses the token with other
# parameters; moto applies every call (TransactWriteItems, and its errors, in the API Reference).
# A repeated call is answered here with the first call's answer word for word; DynamoDB's
# says, in its ConsumedCapacity (only if asked for), the read capacity it used instead.
TOKEN_WINDOW = 600.0  # seconds
TOKEN_MISMATCH = {
    "__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
    "message": "DynamoDB rejected the request because you retried a request with a different "
    "payload but with an idempotent token that was already used.",
}
# The Logs Insights commands moto runs; it skips any other (filter, stats, parse, ...), and
# would answer every event of the time range as if the query had selected them.
INSIGHTS_COMMANDS = ("fields", "sort", "limit")


Answer = tuple[tuple[Any, ...], bytes]  # (start_response's arguments, the body)


class ClientTokens:
    """The transactions applied by client token, for TOKEN_WINDOW: a retry is answered as the
    first call was, and not applied again. Used inside the local AWS's lock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._applied: dict[str, tuple[float, str, Answer]] = {}  # token: (done, params, answer)

    def once(self, target: str, request: dict[str, Any], apply: Callable[[], Answer]) -> Answer:
        """`apply()`'s answer, or the answer of the call this one repeats."""
        token = request.get("ClientRequestToken")
        if not target.endswith(".TransactWriteItems") or not isinstance(token, str):
            return apply()
        now = self._clock()
        self._applied = {
            t: kept for t, kept in self._applied.items() if now - kept[0] < TOKEN_WINDOW
        }
        # The same parameters in another order are the same call (localstack/localstack#6529,
        # verified against AWS there).
        params = json.dumps(
            {k: v for k, v in request.items() if k != "ClientRequestToken"}, sort_keys=True
        )
        if token in self._applied:
            _, first, answer = self._applied[token]
            if first != params:
                raise Refused(400, TOKEN_MISMATCH)
            return answer
        answer = apply()
        if str(answer[0][0]).startswith("200"):  # a call that failed applied nothing
            self._applied[token] = (self._clock(), params, answer)
        return answer


def account(environ: dict[str, Any], access_key: str) -> str:
    """The account moto serves this request in, found as moto finds it."""
    from moto.iam.models import get_account_id_from

    return (
        os.environ.get("MOTO_ACCOUNT_ID")
        or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
        or get_account_id_from(access_key)
    )


def refuse_before(
    target: str, request: dict[str, Any], environ: dict[str, Any], access_key: str, region: str
) -> None:
    """Raise Refused where the service refuses a request that moto would answer otherwise."""
    prefix, _, operation = target.partition(".")
    if prefix.startswith("DynamoDB_"):
        for table, key in _keys(operation, request):  # none for most calls: no account asked
            wanted = _key_types(account(environ, access_key), region, table)
            if wanted and isinstance(key, dict) and key.keys() == wanted.keys():
                given = {name: _type_of(key[name]) for name in wanted}
                if any(given[name] not in (None, wanted[name]) for name in wanted):
                    raise Refused(400, KEY_MISMATCH)
                for name, kind in given.items():
                    if kind in ("S", "B") and key[name][kind] == "":
                        empty = EMPTY_KEY.format(
                            kind="string" if kind == "S" else "binary", name=name
                        )
                        raise Refused(400, {"__type": VALIDATION, "message": empty})
        message = expression_checks.refusal(operation, request)
        if message is not None:
            raise Refused(400, {"__type": VALIDATION, "message": message})
    elif operation == "GetLogEvents":
        streams = _streams(account(environ, access_key), region, request)
        if streams is not None and request.get("logStreamName") not in streams:
            raise Refused(400, NO_STREAM)
    elif operation == "StartQuery" and isinstance(request.get("queryString"), str):
        skipped = [c for c in _commands(request["queryString"]) if c not in INSIGHTS_COMMANDS]
        if skipped:
            raise Refused(
                501,
                {
                    "__type": "NotImplemented",
                    "message": "The workshop's local CloudWatch Logs Insights runs the commands "
                    f"{', '.join(INSIGHTS_COMMANDS)} only; this query also has "
                    f"{skipped[0]}. Find lines with python run.py logs "
                    "STAGE --filter WORDS, or run this query against AWS itself.",
                },
            )


def answered(
    target: str, request: dict[str, Any], status: str, headers: list[tuple[str, str]], body: bytes
) -> tuple[list[tuple[str, str]], bytes]:
    """moto's answer to a DynamoDB call (its headers and body), as DynamoDB gives it."""
    if not status.startswith("200"):
        return headers, body
    deleted = target.endswith(".DeleteTable")
    # ReturnConsumedCapacity NONE, the default: "No ConsumedCapacity details are included in
    # the response" (the DynamoDB API Reference); moto includes them in some answers anyway.
    unasked = b'"ConsumedCapacity"' in body and request.get("ReturnConsumedCapacity") in (
        None,
        "NONE",
    )
    if not (deleted or unasked):
        return headers, body
    answer = json.loads(body)
    if deleted:
        # The table is in the DELETING state until DynamoDB completes the deletion (DeleteTable,
        # in the API Reference); moto deletes it at once, and answers its last state.
        answer.get("TableDescription", {})["TableStatus"] = "DELETING"
    if unasked:
        answer.pop("ConsumedCapacity", None)
    body = json.dumps(answer).encode()
    # Its length and its checksum change too: the SDKs check DynamoDB's CRC32, and retry on a
    # mismatch (which would then apply the call twice).
    fresh = {"content-length": len(body), "x-amz-crc32": zlib.crc32(body)}
    return [(name, str(fresh.get(name.lower(), value))) for name, value in headers], body


def _commands(query: str) -> list[str]:
    """The first word of each command of a Logs Insights query (commands are split by |)."""
    commands, current, quote = [], "", ""
    for char in query + "|":
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"`":
            quote = char
        elif char == "|":
            words = current.split()
            commands += [words[0].lower()] if words else []
            current = ""
            continue
        current += char
    return commands


def _keys(operation: str, request: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    """(table, key) for each key of an item that `operation` reads, updates or deletes."""
    if operation in ("GetItem", "DeleteItem", "UpdateItem"):
        yield request.get("TableName"), request.get("Key")
        return
    if operation not in ("BatchGetItem", "BatchWriteItem"):
        return
    items = request.get("RequestItems")
    for table, asked in items.items() if isinstance(items, dict) else ():
        if operation == "BatchGetItem":
            keys = asked.get("Keys") if isinstance(asked, dict) else None
            yield from ((table, key) for key in (keys if isinstance(keys, list) else ()))
            continue
        for write in asked if isinstance(asked, list) else ():
            delete = write.get("DeleteRequest") if isinstance(write, dict) else None
            if isinstance(delete, dict):
                yield table, delete.get("Key")


def _key_types(account_id: str, region: str, table_name: Any) -> dict[str, str]:
    """The table's key attributes and their types ({} for a table moto does not have)."""
    from moto.dynamodb.models import dynamodb_backends

    if not isinstance(table_name, str):
        return {}
    backend = dynamodb_backends[account_id][region]
    table = backend.tables.get(table_name) or next(
        (t for t in list(backend.tables.values()) if t.table_arn == table_name), None
    )
    if table is None:
        return {}
    types = {table.hash_key_attr: table.hash_key_type}
    if table.range_key_attr:
        types[table.range_key_attr] = table.range_key_type
    return types


def _type_of(value: Any) -> str | None:
    """An attribute value's type (S, N, B, ...), or None where it is not one value."""
    return next(iter(value)) if isinstance(value, dict) and len(value) == 1 else None


def _streams(account_id: str, region: str, request: dict[str, Any]) -> Any:
    """The streams of the log group the request names, or None where moto has no such group."""
    from moto.logs.models import logs_backends

    groups = logs_backends[account_id][region].groups
    name = request.get("logGroupName")
    if isinstance(name, str):
        group = groups.get(name)
    else:  # a log group identifier: its name or its ARN
        ident = request.get("logGroupIdentifier")
        group = next(
            (
                g
                for g in list(groups.values())
                if ident in (g.name, g.arn, g.arn.removesuffix(":*"))
            ),
            None,
        )
    return None if group is None else group.streams
