"""A call to the local AWS for a service it does not stand in for: one clear refusal.

The local AWS serves DynamoDB and CloudWatch Logs. moto would answer other services too, from
empty accounts of its own: `aws lambda list-functions` would say there is no function while
`python run.py up` runs one. The refusal is written in the service's own protocol, so the AWS
CLI and the SDKs show it as an AWS error, and as a 501 they do not retry it.
"""

from __future__ import annotations

import functools
import json
from html import escape
from typing import Any

from botocore.exceptions import DataNotFoundError

from workshop.local.user_aws import shared_loader

__all__ = ["refusal"]

MESSAGE = (
    "The workshop's local AWS stands in for DynamoDB and CloudWatch Logs only, not for "
    "{service}: the functions, their roles and the API that `python run.py up` serves live in "
    "the workshop itself (`python run.py invoke` calls a function). Try it against AWS itself."
)


@functools.cache
def _model(service: str) -> tuple[str, str]:
    """The service's wire protocol and its name, as botocore's model of it gives them (json,
    and the name as signed, for a service it has no model of)."""
    try:
        metadata = shared_loader().load_service_model(service, "service-2")["metadata"]
    except (DataNotFoundError, ValueError):
        return "json", service
    return metadata["protocol"], metadata.get("serviceFullName") or service


def refusal(service: str, start_response: Any) -> list[bytes]:
    """Answer a request for `service` (as SigV4 signs it; "" unsigned) with a 501 that names it."""
    protocol, name = _model(service) if service else ("json", "this service")
    message = MESSAGE.format(service=name)
    if protocol in ("query", "ec2"):
        kind = "text/xml"
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>NotImplemented</Code>"
            f"<Message>{escape(message)}</Message></Error></ErrorResponse>"
        )
    elif protocol == "rest-xml":
        kind = "application/xml"
        body = f"<Error><Code>NotImplemented</Code><Message>{escape(message)}</Message></Error>"
    else:
        kind = "application/json"
        body = json.dumps({"__type": "NotImplemented", "message": message})
    data = body.encode()
    start_response(
        "501 Not Implemented",
        [
            ("Content-Type", kind),
            ("Content-Length", str(len(data))),
            ("x-amzn-ErrorType", "NotImplemented"),
        ],
    )
    return [data]
