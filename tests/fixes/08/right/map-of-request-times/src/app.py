import json
import logging
import os
import re
import secrets
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as DynamoDBUnreachable

# Made once per execution environment, at import, so warm invocations reuse the client.
# Explicit limits: a visit waits at worst 2 attempts x (1 s to connect + 3 s to read), plus a
# backoff of up to 1 s between them: 9 s, less than the function's Timeout of 10 s, so the
# handler always gets to answer before Lambda stops it. DynamoDB answers in milliseconds; 3 s
# leaves room for a slow network (or the local emulator on a busy laptop), since an attempt
# that times out may still have counted, and its retry counts again.
TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource(
    "dynamodb",
    config=Config(
        connect_timeout=1,
        read_timeout=3,
        retries={"mode": "standard", "total_max_attempts": 2},
    ),
).Table(TABLE_NAME)
# Forgetting is a write of its own, made after the visit counted: one attempt of 1 s to connect
# and 1 s to read, made only with 3 s left, so that it always leaves the visit time to answer.
pruner = boto3.resource(
    "dynamodb",
    config=Config(
        connect_timeout=1,
        read_timeout=1,
        retries={"mode": "standard", "total_max_attempts": 1},
    ),
).Table(TABLE_NAME)
# How long a request id is remembered: well past the 10 s Timeout, the last moment a retry of
# the request's update can reach DynamoDB.
REMEMBER_SECONDS = 120
# Old ids forgotten in one write at most: an expression may be 4 KB long, and each path it
# removes (`requests.#r123, `) takes 16 bytes or so; the rest wait for the next visit.
FORGET_AT_ONCE = 100

# Lambda's Python runtime writes each record with its time, level and request id.
logger = logging.getLogger(__name__)

SESSION_COOKIE = "session_id"
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{22}")  # what secrets.token_urlsafe(16) makes
SESSION_MAX_AGE = 365 * 24 * 60 * 60  # seconds: a visitor keeps their count for a year
COOKIE_ATTRIBUTES = "Path=/; HttpOnly; Secure; SameSite=Lax"
# DynamoDB's error codes for "not now": the table or the account is over its throughput.
THROTTLED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
}


class MalformedSession(ValueError):
    """The request has a session cookie, but its value is not a session id."""


def lambda_handler(event, context):
    """Count this visitor's visits in DynamoDB and greet them.

    event: the API Gateway proxy event of GET /hello; its Cookie header names the session.
    context: the Lambda context object (unused).
    Returns an API Gateway proxy response: 200 with the count, and a session cookie for a
    visitor who had none; 400 for a malformed session cookie; 503 while DynamoDB cannot count.
    Any other failure is a bug, and is left to fail: Lambda logs its traceback, and API
    Gateway answers 502.
    """
    try:
        session_id = session_from(event)
    except MalformedSession as error:
        logger.warning("Rejected a malformed session cookie: %s", error)
        # Clear it too, or the browser would send it, and be refused, on every visit.
        clear = f"{SESSION_COOKIE}=; Max-Age=0; {COOKIE_ATTRIBUTES}"
        message = f"Malformed session cookie: {error}. It is cleared: visit again for a new one."
        return respond(400, {"message": message}, {"Set-Cookie": clear})

    headers = {}
    if session_id is None:
        session_id = secrets.token_urlsafe(16)
        cookie = f"{SESSION_COOKIE}={session_id}; Max-Age={SESSION_MAX_AGE}; {COOKIE_ATTRIBUTES}"
        headers["Set-Cookie"] = cookie

    try:
        visit_count = count_visit(session_id, context)
    except ClientError as error:
        if not dynamodb_failed(error):
            raise  # not an outage, so a bug: a missing table, a denied call, a bad request
        return unavailable(error)
    except (DynamoDBUnreachable, HTTPClientError) as error:  # no answer, or none in time
        return unavailable(error)

    if visit_count == 1:
        message = "Welcome! This is your first visit."
    else:
        message = f"Welcome back! This is your {visit_count} visit."

    return respond(
        200, {"message": message, "session_id": session_id, "visit_count": visit_count}, headers
    )


def session_from(event):
    """The session id in the request's Cookie header, or None when it has no session cookie.

    Raises MalformedSession when the session cookie is not a session id: wrong length, other
    characters (control characters too), or empty. Other cookies are left alone, whatever
    they hold; if the session cookie comes twice, the first one counts, as browsers send the
    most specific first.
    """
    multi = event.get("multiValueHeaders") or {}
    lines = [v for name, values in multi.items() if name.lower() == "cookie" for v in values or []]
    if not lines:  # an event made by hand may have only `headers`
        single = event.get("headers") or {}
        lines = [v for name, v in single.items() if name.lower() == "cookie" and v is not None]
    for line in lines:
        for pair in line.split(";"):
            name, equals, value = pair.strip(" ").partition("=")
            if equals and name == SESSION_COOKIE:
                if not value:
                    raise MalformedSession("it is empty")
                if len(value) != 22:
                    raise MalformedSession(f"it has {len(value)} characters, not 22")
                if not SESSION_ID.fullmatch(value):
                    raise MalformedSession("it has characters other than A-Z, a-z, 0-9, - and _")
                return value
    return None


def dynamodb_failed(error):
    """Whether DynamoDB refused the call for now: throttled, or failing itself (a 5xx).

    A missing table (ResourceNotFoundException), a denied call (AccessDeniedException) or a
    malformed request (ValidationException) is no outage: trying again shortly would not
    mend it, so it must surface as the bug it is, not as a 503 that says "try again".
    """
    code = error.response.get("Error", {}).get("Code")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code in THROTTLED or status >= 500


def unavailable(error):
    """503: DynamoDB could not count this visit now. The cause goes to the logs."""
    logger.error("DynamoDB could not count the visit: %s: %s", type(error).__name__, error)
    message = "The visit counter is unavailable; try again shortly."
    return respond(503, {"message": message}, {"Retry-After": "1"})


def respond(status, body, headers=None):
    """An API Gateway proxy response with a JSON body."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body),
    }


def count_visit(session_id, context):
    """Add one to the session's count, once per invocation however often the SDK retries.

    The item keeps a map `requests` of request id -> the second it counted. The update counts
    only when the map lacks this invocation's id; a retry whose first attempt counted finds
    it, and reads the count. A session without the map yet (its first visit) gets one made.
    """
    request_id = context.aws_request_id
    now = int(time.time())
    for _ in range(3):  # at most: the map is made by another visit meanwhile
        try:
            answer = table.update_item(
                Key={"session_id": session_id},
                UpdateExpression="ADD visit_count :one SET requests.#id = :now",
                ConditionExpression=(
                    "attribute_exists(requests) AND attribute_not_exists(requests.#id)"
                ),
                ExpressionAttributeNames={"#id": request_id},
                ExpressionAttributeValues={":one": 1, ":now": now},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            item = answer["Attributes"]
            forget_old(session_id, item["requests"], context)
            return int(item["visit_count"])
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            old = error.response.get("Item", {})
            if request_id in old.get("requests", {}).get("M", {}):
                return int(old["visit_count"]["N"])  # this invocation counted already
            if "requests" in old:
                continue  # made meanwhile, without our id: count again
        try:
            answer = table.update_item(
                Key={"session_id": session_id},
                UpdateExpression="ADD visit_count :one SET requests = :mine",
                ConditionExpression="attribute_not_exists(requests)",
                ExpressionAttributeValues={":one": 1, ":mine": {request_id: now}},
                ReturnValues="UPDATED_NEW",
            )
            return int(answer["Attributes"]["visit_count"])
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise  # else: the map exists now (made by our own first attempt, or another visit)
    raise RuntimeError("could not count the visit in three tries")


def forget_old(session_id, requests, context):
    """Remove the request ids older than REMEMBER_SECONDS, once there are ten of them (the
    oldest FORGET_AT_ONCE, if there are more)."""
    oldest = time.time() - REMEMBER_SECONDS
    old = sorted((second, request) for request, second in requests.items() if second < oldest)
    old = [request for _, request in old[:FORGET_AT_ONCE]]
    if len(old) < 10 or context.get_remaining_time_in_millis() < 3000:
        return
    names = {f"#r{i}": request for i, request in enumerate(old)}
    try:
        pruner.update_item(
            Key={"session_id": session_id},
            UpdateExpression="REMOVE " + ", ".join(f"requests.{name}" for name in names),
            ConditionExpression="attribute_exists(visit_count)",
            ExpressionAttributeNames=names,
        )
    except (ClientError, DynamoDBUnreachable, HTTPClientError) as error:
        logger.warning("Could not forget %d old request ids: %s", len(old), error)
