import json
import logging
import os
import re
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

log = logging.getLogger()
log.setLevel(logging.INFO)

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
ddb = boto3.client(
    "dynamodb",
    config=Config(
        connect_timeout=2, read_timeout=2, retries={"mode": "standard", "max_attempts": 2}
    ),
)

COOKIE = "visitor"
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
RETRYABLE = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
}


def reply(status, payload, headers=None):
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(payload),
    }


def cookie_values(event):
    """Every value of our cookie, in the order the browser sent them."""
    headers = event.get("multiValueHeaders") or {}
    found = []
    for name, lines in headers.items():
        if name.lower() != "cookie":
            continue
        for line in lines or []:
            for part in line.split(";"):
                key, sep, value = part.strip().partition("=")
                if sep and key == COOKIE:
                    found.append(value)
    return found


def lambda_handler(event, context):
    values = cookie_values(event)
    set_cookie = {}
    if values:
        visitor = values[0]
        if not UUID4.fullmatch(visitor):
            log.warning("400: cookie %s is not a visitor id", COOKIE)
            return reply(
                400,
                {"message": f"The {COOKIE} cookie is not one this site made; it is removed."},
                {"Set-Cookie": f"{COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict"},
            )
    else:
        visitor = str(uuid.uuid4())
        set_cookie["Set-Cookie"] = (
            f"{COOKIE}={visitor}; Max-Age=34560000; Path=/; Secure; HttpOnly; SameSite=Strict"
        )

    try:
        result = ddb.update_item(
            TableName=TABLE_NAME,
            Key={"session_id": {"S": visitor}},
            UpdateExpression="ADD visit_count :n",
            ExpressionAttributeValues={":n": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
    except ClientError as err:
        code = err.response["Error"]["Code"]
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in RETRYABLE or status >= 500:
            log.error("DynamoDB could not count (%s): %s", code, err)
            return reply(503, {"message": "Busy, try again."}, {"Retry-After": "2"})
        raise
    except (
        EndpointConnectionError,
        ConnectTimeoutError,
        ConnectionClosedError,
        ReadTimeoutError,
    ) as err:
        log.error("DynamoDB did not answer: %s", err)
        return reply(503, {"message": "Busy, try again."}, {"Retry-After": "2"})

    count = int(result["Attributes"]["visit_count"]["N"])
    message = (
        "Welcome! This is your first visit."
        if count == 1
        else f"Welcome back! This is your {count} visit."
    )
    return reply(200, {"message": message, "session_id": visitor, "visit_count": count}, set_cookie)
