"""The requests DynamoDB and CloudWatch Logs refuse unread, refused as they refuse them.

Both speak AWS's JSON protocol: the operation is named in X-Amz-Target, its parameters are a
JSON object. A name the service does not know, a body that is not a JSON object, a required
parameter left out: the service's front end answers 400 before the operation runs, where moto
would fail with a 500 and an HTML page. An operation the service has but moto does not emulate
gets a 501 that says so: not a 500, which the SDKs and the AWS CLI would retry, in vain.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from botocore.model import ServiceModel

from workshop.local.user_aws import shared_loader

__all__ = ["Refused", "emulator_failed", "json_error", "parameters"]

# X-Amz-Target's prefix: (the service's name in botocore's models, in words, moto's handler,
# the error type of a parameter left out). moto's modules are imported at the first call, as
# moto itself does: not when `up` starts.
SERVICES = {
    "DynamoDB_20120810": (
        "dynamodb",
        "DynamoDB",
        "moto.dynamodb.responses:DynamoHandler",
        "com.amazon.coral.validate#ValidationException",
    ),
    "Logs_20140328": (
        "logs",
        "CloudWatch Logs",
        "moto.logs.responses:LogsResponse",
        "InvalidParameterException",
    ),
}
# What the services answer, as recorded from real calls in public issues: an unknown operation
# (boto/boto3#1542), a body that is not JSON (amazon-archives/aws-sdk-unity#54), a required
# parameter left out (Netflix-Skunkworks/iep-apps#527; for CloudWatch Logs,
# amazon-archives/cloudwatch-logs-centralize-logs#5). The first two were recorded from
# DynamoDB only: CloudWatch Logs is assumed to answer them alike, as its errors share the form.
UNKNOWN_OPERATION = {
    "__type": "com.amazon.coral.service#UnknownOperationException",
    "message": "Unknown operation exception",
}
NOT_JSON = {"__type": "com.amazon.coral.service#SerializationException"}

# The filter patterns moto evaluates as CloudWatch Logs does: terms that must all be in the
# message, the first beginning with a letter, and one quoted phrase. It takes any other pattern
# (a JSON or space-delimited one, ?OR, -NOT, a number) for one that matches every event: those
# are refused, rather than answered with every event.
PLAIN_TERMS = re.compile(r"[A-Za-z][^\s\"?{}\[\]]*( [^\s\"?\-{}\[\]][^\s\"{}\[\]]*)*")
QUOTED_PHRASE = re.compile(r'"[^"]*"')


class Refused(Exception):
    """The request is refused before it runs: `status` and the JSON `error` to answer."""

    def __init__(self, status: int, error: dict[str, Any]):
        super().__init__(error.get("message", error["__type"]))
        self.status = status
        self.error = error


@functools.cache
def _operations(prefix: str) -> dict[str, tuple[tuple[str, ...], bool]]:
    """Each operation of the service: (its required parameters, whether moto emulates it)."""
    from moto.core.utils import camelcase_to_underscores, method_names_from_class

    name, _, handler, _ = SERVICES[prefix]
    module, _, handler_class = handler.partition(":")
    model = ServiceModel(shared_loader().load_service_model(name, "service-2"), name)
    emulated = set(method_names_from_class(getattr(importlib.import_module(module), handler_class)))
    operations = {}
    for operation in model.operation_names:
        shape = model.operation_model(operation).input_shape
        required = tuple(shape.required_members) if shape is not None else ()
        operations[operation] = (required, camelcase_to_underscores(operation) in emulated)
    return operations


def parameters(target: str, body: bytes) -> dict[str, Any]:
    """The request's parameters; raises Refused where the service would not run it."""
    prefix, _, operation = target.partition(".")
    known = _operations(prefix).get(operation) if prefix in SERVICES else None
    if known is None:
        raise Refused(400, UNKNOWN_OPERATION)
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        request = None
    if not isinstance(request, dict):
        raise Refused(400, NOT_JSON)
    required, emulated = known
    missing = [name for name in required if request.get(name) is None]
    if missing:
        # One clause per missing member, named as the API's wire names are (lowerCamelCase).
        clauses = [
            f"Value null at '{name[0].lower()}{name[1:]}' failed to satisfy constraint: "
            "Member must not be null"
            for name in missing
        ]
        count = f"{len(missing)} validation error{'s' if len(missing) > 1 else ''} detected"
        raise Refused(
            400,
            {
                "__type": SERVICES[prefix][3],
                "message": f"{count}: {'; '.join(clauses)}",
            },
        )
    pattern = (request.get("filterPattern") or "") if operation == "FilterLogEvents" else ""
    if pattern and not (PLAIN_TERMS.fullmatch(pattern) or QUOTED_PHRASE.fullmatch(pattern)):
        raise Refused(
            501,
            {
                "__type": "NotImplemented",
                "message": "The workshop's local CloudWatch Logs filters by plain terms "
                "(Decimal, or Error Decimal for lines with both) and by one quoted phrase only; "
                f"{pattern} is neither. Give words that begin with a letter, or the phrase in "
                "double quotes within the pattern, or try this pattern against AWS itself.",
            },
        )
    if not emulated:
        service = SERVICES[prefix][1]
        raise Refused(
            501,
            {
                "__type": "NotImplemented",
                "message": f"{operation} is a real {service} operation, but the workshop's "
                "local AWS does not emulate it: try it against AWS itself.",
            },
        )
    return request


def emulator_failed(target: str, error: Exception) -> Refused:
    """A 501 for a call that moto failed on: said in one answer, not retried as a 500 would be."""
    prefix, _, operation = target.partition(".")
    service = SERVICES[prefix][1]
    return Refused(
        501,
        {
            "__type": "NotImplemented",
            "message": f"The workshop's local AWS failed on this {operation} call "
            f"({type(error).__name__}: {error}): it does not emulate {service} that far. "
            "Try it against AWS itself.",
        },
    )


def json_error(
    start_response: Callable[..., Any],
    error: dict[str, Any],
    status: int = 400,
    json_version: str = "1.0",
) -> list[bytes]:
    """Answer a WSGI request with the JSON `error`, as the services send theirs."""
    body = json.dumps(error).encode()
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [
            ("Content-Type", f"application/x-amz-json-{json_version}"),
            ("Content-Length", str(len(body))),
        ],
    )
    return [body]
