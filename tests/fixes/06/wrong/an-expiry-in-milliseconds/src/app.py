"""Visit counter: a session per visitor, in a sliding cookie; honest errors."""

import json
import logging
import os
import re
import time
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

TABLE = os.environ["STATE_TABLE_NAME"]
dynamodb = boto3.client(
    "dynamodb",
    config=Config(
        connect_timeout=1, read_timeout=2, retries={"mode": "adaptive", "max_attempts": 2}
    ),
)
log = logging.getLogger()
log.setLevel(logging.INFO)

COOKIE = "vc_sid"
ID = re.compile(r"[0-9a-f]{32}")  # uuid4().hex
LIFETIME = 180 * 86400  # seconds; sent anew on every visit, so it slides
GRACE = 2 * 86400  # the item outlives the cookie by two days
RETRYABLE_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}


def _cookies(event):
    headers = event.get("multiValueHeaders") or {}
    values = [v for k, vs in headers.items() if k.lower() == "cookie" for v in (vs or [])]
    if not values:
        values = [v for k, v in (event.get("headers") or {}).items() if k.lower() == "cookie" and v]
    jar = {}
    for value in values:
        for crumb in value.split(";"):
            if "=" in crumb:
                k, v = crumb.split("=", 1)
                jar.setdefault(k.strip(), v.strip())
    return jar


def _reply(code, payload, **headers):
    headers.setdefault("Content-Type", "application/json")
    headers.setdefault("Cache-Control", "no-store")
    return {"statusCode": code, "headers": headers, "body": json.dumps(payload)}


def _cookie(value, max_age):
    return f"{COOKIE}={value}; Max-Age={max_age}; Path=/; Secure; HttpOnly; SameSite=Strict"


def lambda_handler(event, context):
    jar = _cookies(event)
    sid = jar.get(COOKIE)
    if sid is not None and not ID.fullmatch(sid):
        log.warning(json.dumps({"event": "malformed_cookie", "length": len(sid)}))
        return _reply(
            400,
            {"message": "Bad session cookie; it has been cleared."},
            **{"Set-Cookie": _cookie("", 0)},
        )
    if sid is None:
        sid = uuid.uuid4().hex
    now = int(time.time() * 1000)  # epoch milliseconds
    try:
        out = dynamodb.update_item(
            TableName=TABLE,
            Key={"session_id": {"S": sid}},
            UpdateExpression="ADD visit_count :one SET expires_at = :exp",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":exp": {"N": str(now + (LIFETIME + GRACE) * 1000)},
            },
            ReturnValues="UPDATED_NEW",
        )
    except ClientError as err:
        code = err.response["Error"]["Code"]
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code not in RETRYABLE_CODES and status < 500:
            raise
        log.error(json.dumps({"event": "dynamodb_unavailable", "error": code}))
        return _reply(503, {"message": "Try again shortly."}, **{"Retry-After": "2"})
    except (ConnectionError, HTTPClientError) as err:
        log.error(
            json.dumps(
                {"event": "dynamodb_unreachable", "error": type(err).__name__, "detail": str(err)}
            )
        )
        return _reply(503, {"message": "Try again shortly."}, **{"Retry-After": "2"})
    count = int(out["Attributes"]["visit_count"]["N"])
    message = (
        "Welcome! This is your first visit."
        if count == 1
        else f"Welcome back! This is your {count} visit."
    )
    return _reply(
        200, {"message": message, "visit_count": count}, **{"Set-Cookie": _cookie(sid, LIFETIME)}
    )
