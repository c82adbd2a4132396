import json
import os
import re
import secrets
from http.cookies import CookieError, SimpleCookie

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as NoConnection

table = boto3.resource(
    "dynamodb", config=Config(connect_timeout=1, read_timeout=3, retries={"total_max_attempts": 2})
).Table(os.environ["STATE_TABLE_NAME"])

SESSION = re.compile(r"[0-9a-f]{32}")  # secrets.token_hex(16): 128 bits
SET_COOKIE = "session={}; Max-Age=31536000; Path=/; SameSite=Lax; Secure; HttpOnly"


class BadCookie(Exception):
    pass


def session_of(event):
    jar = SimpleCookie()
    headers = {
        name.lower(): values for name, values in (event.get("multiValueHeaders") or {}).items()
    }
    for line in headers.get("cookie") or []:
        try:
            jar.load(line)
        except CookieError as error:
            raise BadCookie(str(error)) from None
    if "session" not in jar:
        return None
    if not SESSION.fullmatch(jar["session"].value):
        raise BadCookie("not a session id")
    return jar["session"].value


def answer(status, body, **headers):
    return {"statusCode": status, "headers": headers, "body": json.dumps(body)}


def is_outage(error):
    """Throttled, or DynamoDB failing itself: not now, but maybe shortly."""
    if isinstance(error, (NoConnection, HTTPClientError)):
        return True
    code = error.response["Error"]["Code"]
    status = error.response["ResponseMetadata"]["HTTPStatusCode"]
    return (
        code.endswith(("ThrottlingException", "ThroughputExceededException", "LimitExceeded"))
        or status >= 500
    )


def lambda_handler(event, context):
    try:
        session = session_of(event)
    except BadCookie as error:
        print(f"400: {error}")
        return answer(400, {"message": "Bad session cookie."})
    cookie = {}
    if session is None:
        session = secrets.token_hex(16)
        cookie["Set-Cookie"] = SET_COOKIE.format(session)
    try:
        result = table.update_item(
            Key={"session_id": session},
            UpdateExpression="ADD visit_count :one",
            ExpressionAttributeValues={":one": 1},
            ReturnValues="UPDATED_NEW",
        )
    except (ClientError, NoConnection, HTTPClientError) as error:
        if not is_outage(error):
            raise
        print(f"503: DynamoDB did not count the visit: {error}")
        return answer(503, {"message": "Try again in a few seconds."}, **{"Retry-After": "3"})
    count = int(result["Attributes"]["visit_count"])
    text = (
        "Welcome! This is your first visit."
        if count == 1
        else f"Welcome back! This is your {count} visit."
    )
    return answer(200, {"message": text, "session_id": session, "visit_count": count}, **cookie)
