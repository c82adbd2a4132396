import json
import logging
import os
import time
import uuid
from email.utils import formatdate

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

logger = logging.getLogger()
# Short timeouts and one retry, so that a visit is answered well within the function's Timeout.
TABLE = boto3.resource(
    "dynamodb",
    config=Config(
        connect_timeout=1, read_timeout=3, retries={"mode": "standard", "total_max_attempts": 2}
    ),
).Table(os.environ["STATE_TABLE_NAME"])
COOKIE = "visitor"
ATTRIBUTES = "Path=/; Secure; HttpOnly; SameSite=Strict"
KEPT_FOR = 365 * 24 * 3600  # seconds: the cookie outlives the browser, for a year
THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
}
UNREACHABLE = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ConnectionClosedError,
    ReadTimeoutError,
)


def reply(status, body, headers=None):
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body),
    }


def visitor_id(event):
    """The visitor's id from the Cookie header; None if there is none; ValueError if malformed."""
    headers = event.get("multiValueHeaders") or {}
    for name, lines in headers.items():
        if name.lower() != "cookie":
            continue
        for line in lines:
            for pair in line.split(";"):
                key, _, value = pair.strip().partition("=")
                if key == COOKIE:
                    if str(uuid.UUID(value)) != value:  # UUID() also takes braces, urn:...
                        raise ValueError("not in the form this counter writes")
                    return value
    return None


def lambda_handler(event, context):
    try:
        session = visitor_id(event)
    except ValueError as error:
        logger.warning("Malformed visitor cookie: %s", error)
        clear = {"Set-Cookie": f"{COOKIE}=; Max-Age=0; {ATTRIBUTES}"}
        return reply(400, {"message": "Malformed visitor cookie; visit again."}, clear)
    headers = {}
    if session is None:
        session = str(uuid.uuid4())  # 122 random bits, from os.urandom
        expires = formatdate(time.time() + KEPT_FOR, usegmt=True)
        headers["Set-Cookie"] = f"{COOKIE}={session}; Expires={expires}; {ATTRIBUTES}"
    try:
        attributes = TABLE.update_item(
            Key={"session_id": session},
            UpdateExpression="ADD visit_count :one",
            ExpressionAttributeValues={":one": 1},
            ReturnValues="UPDATED_NEW",
        )["Attributes"]
    except ClientError as error:
        status = error.response["ResponseMetadata"].get("HTTPStatusCode", 0)
        if error.response["Error"]["Code"] not in THROTTLING and status < 500:
            raise
        return not_now(error)
    except UNREACHABLE as error:
        return not_now(error)
    count = int(attributes["visit_count"])
    message = (
        "Welcome! This is your first visit."
        if count == 1
        else f"Welcome back! This is your {count} visit."
    )
    return reply(200, {"message": message, "visit_count": count}, headers)


def not_now(error):
    logger.error("DynamoDB is not counting now: %r", error)
    return reply(503, {"message": "Counting is paused; try again shortly."}, {"Retry-After": "2"})
