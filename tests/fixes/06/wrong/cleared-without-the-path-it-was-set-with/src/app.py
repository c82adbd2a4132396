import json
import logging
import os
import secrets
import string

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

# Made once per execution environment. At worst 2 x (1 + 3) s plus a backoff: under 10 s.
TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource(
    "dynamodb",
    config=Config(
        connect_timeout=1, read_timeout=3, retries={"mode": "standard", "total_max_attempts": 2}
    ),
).Table(TABLE_NAME)
log = logging.getLogger()
log.setLevel(logging.INFO)

COOKIE = "sid"
ALPHABET = set(string.ascii_letters + string.digits + "-_")
ATTRIBUTES = "Path=/; Secure; HttpOnly; SameSite=Strict"
EXPIRED = "Expires=Thu, 01 Jan 1970 00:00:00 GMT"
NOT_NOW = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}


def cookie_value(event):
    """The sid cookie's value, '' if sent empty, or None when not sent."""
    headers = event.get("multiValueHeaders") or {}
    lines = [v for k, vs in headers.items() if k.lower() == "cookie" for v in (vs or [])]
    if not lines:
        lines = [v for k, v in (event.get("headers") or {}).items() if k.lower() == "cookie" and v]
    for line in lines:
        for part in line.split(";"):
            name, eq, value = part.strip().partition("=")
            if eq and name == COOKIE:
                return value
    return None


def reply(status, body, headers=None):
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body),
    }


def count(session_id, new):
    if new:
        # A new id: create its item, and never on top of one that exists.
        table.put_item(
            Item={"session_id": session_id, "visit_count": 1},
            ConditionExpression="attribute_not_exists(session_id)",
        )
        return 1
    response = table.update_item(
        Key={"session_id": session_id},
        UpdateExpression="ADD visit_count :one",
        ExpressionAttributeValues={":one": 1},
        ReturnValues="UPDATED_NEW",
    )
    return int(response["Attributes"]["visit_count"])


def lambda_handler(event, context):
    """Count this visitor's visits; 400 for a bad cookie, 503 while DynamoDB cannot count."""
    value = cookie_value(event)
    headers = {}
    if value is not None and (len(value) != 22 or not set(value) <= ALPHABET):
        log.warning("bad session cookie (%d characters)", len(value))
        return reply(
            400,
            {"message": "Your session cookie is malformed; it has been removed. Visit again."},
            {"Set-Cookie": f"{COOKIE}=; Max-Age=0"},
        )
    new = value is None
    session_id = secrets.token_urlsafe(16) if new else value
    if new:
        headers["Set-Cookie"] = f"{COOKIE}={session_id}; Max-Age=31536000; {ATTRIBUTES}"
    try:
        visits = count(session_id, new)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        status = error.response["ResponseMetadata"].get("HTTPStatusCode", 0)
        if code not in NOT_NOW and status < 500:
            raise
        log.error("DynamoDB cannot count now: %s %s", code, error)
        return reply(503, {"message": "Try again shortly."}, {"Retry-After": "2"})
    except (ConnectionError, HTTPClientError) as error:
        log.error("DynamoDB did not answer: %r", error)
        return reply(503, {"message": "Try again shortly."}, {"Retry-After": "2"})
    if visits == 1:
        message = "Welcome! This is your first visit."
    else:
        message = f"Welcome back! This is your {visits} visit."
    return reply(
        200, {"message": message, "session_id": session_id, "visit_count": visits}, headers
    )
