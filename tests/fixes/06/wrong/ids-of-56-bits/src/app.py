import json
import logging
import os
import re
import secrets

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

# One client per execution environment. Worst case: 3 attempts x (2 s + 2 s) = 12 s is more
# than the Timeout only if both the connect and the read time out on each; a stalled DynamoDB
# accepts the connection, so 3 x 2 s of reading, plus the backoff, answers well within 10 s.
TABLE_NAME = os.environ["STATE_TABLE_NAME"]
dynamodb = boto3.client(
    "dynamodb",
    config=Config(connect_timeout=2, read_timeout=2, retries={"total_max_attempts": 3}),
)

log = logging.getLogger()
log.setLevel(logging.INFO)

COOKIE = "__Host-sid"
SESSION_ID = re.compile(r"[0-9a-f]{14}")  # secrets.token_hex(7): 56 random bits
ATTRIBUTES = "Path=/; Secure; HttpOnly; SameSite=Lax"
KEEP = f"Max-Age=31536000; {ATTRIBUTES}"
CLEAR = f"{COOKIE}=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; {ATTRIBUTES}"
OUTAGES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}
NO_ANSWER = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)


def reply(status, payload, headers=None):
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(payload),
    }


def cookie_header(event):
    """The request's Cookie header lines, however API Gateway passed them."""
    multi = event.get("multiValueHeaders") or {}
    lines = [v for k, vs in multi.items() if k.lower() == "cookie" for v in (vs or []) if v]
    if lines:
        return lines
    return [v for k, v in (event.get("headers") or {}).items() if k.lower() == "cookie" and v]


def sent_session(event):
    """The __Host-sid cookie's value ('' if empty), or None when it was not sent."""
    for line in cookie_header(event):
        for part in line.split(";"):
            name, eq, value = part.strip().partition("=")
            if eq and name == COOKIE:
                return value
    return None


def lambda_handler(event, context):
    """Count this visitor's visits; 400 for a bad or unknown session; 503 in an outage."""
    sid = sent_session(event)
    if sid is not None and not SESSION_ID.fullmatch(sid):
        log.warning("Refused a malformed session cookie (%d characters)", len(sid))
        return reply(
            400,
            {"message": "Malformed session cookie; it has been cleared, visit again."},
            {"Set-Cookie": CLEAR},
        )
    new = sid is None
    if new:
        sid = secrets.token_hex(7)
    try:
        if new:
            dynamodb.put_item(
                TableName=TABLE_NAME,
                Item={"session_id": {"S": sid}, "visit_count": {"N": "1"}},
                ConditionExpression="attribute_not_exists(session_id)",
            )
            count = 1
        else:
            result = dynamodb.update_item(
                TableName=TABLE_NAME,
                Key={"session_id": {"S": sid}},
                UpdateExpression="SET visit_count = visit_count + :one",
                ConditionExpression="attribute_exists(session_id)",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW",
            )
            count = int(result["Attributes"]["visit_count"]["N"])
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code == "ConditionalCheckFailedException" and not new:
            log.warning("Refused an unknown session")
            return reply(
                400,
                {"message": "Unknown session; it has been cleared, visit again."},
                {"Set-Cookie": CLEAR},
            )
        if code in OUTAGES or status >= 500:
            log.error("DynamoDB outage: %s (HTTP %s)", code, status)
            return reply(503, {"message": "Try again shortly."}, {"Retry-After": "2"})
        raise
    except NO_ANSWER as error:
        log.error("DynamoDB did not answer: %r", error)
        return reply(503, {"message": "Try again shortly."}, {"Retry-After": "2"})

    message = (
        "Welcome! This is your first visit."
        if count == 1
        else f"Welcome back! This is your {count} visit."
    )
    headers = {"Set-Cookie": f"{COOKIE}={sid}; {KEEP}"} if new else {}
    return reply(200, {"message": message, "visit_count": count}, headers)
