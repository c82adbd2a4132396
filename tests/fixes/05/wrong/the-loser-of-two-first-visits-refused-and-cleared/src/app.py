import json
import os
import re
import uuid

import boto3
from botocore.exceptions import ClientError

# Made once per execution environment, at import, so warm invocations reuse the client.
TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)

COOKIE = "sid"
SESSION_ID = re.compile(r"[0-9a-f]{32}")  # uuid.uuid4().hex
ATTRIBUTES = "Path=/; HttpOnly; Secure; SameSite=Lax"


def session_cookie(event):
    """The sid cookie's value, or None when the request has none."""
    headers = event.get("headers") or {}
    line = next((v for k, v in headers.items() if k.lower() == "cookie" and v), "")
    for part in line.split(";"):
        name, eq, value = part.strip().partition("=")
        if eq and name == COOKIE:
            return value
    return None


def refuse(reason):
    """400, and the cookie cleared, so that the next visit starts a new session."""
    return {
        "statusCode": 400,
        "headers": {"Set-Cookie": f"{COOKIE}=; Max-Age=0; {ATTRIBUTES}"},
        "body": json.dumps({"message": f"{reason}; it is cleared: visit again."}),
    }


def lambda_handler(event, context):
    """Count this visitor's visits in DynamoDB and greet them (a session per visitor)."""
    session_id = session_cookie(event)
    headers = {}
    try:
        if session_id is None:
            session_id = uuid.uuid4().hex
            headers["Set-Cookie"] = f"{COOKIE}={session_id}; Max-Age=31536000; {ATTRIBUTES}"
            # A new session's item, never over one that exists.
            table.put_item(
                Item={"session_id": session_id, "visit_count": 1},
                ConditionExpression="attribute_not_exists(session_id)",
            )
            visit_count = 1
        elif not SESSION_ID.fullmatch(session_id):
            return refuse("Malformed session cookie")
        else:
            # One atomic step on a session that must exist: no read, so no lost update.
            try:
                response = table.update_item(
                    Key={"session_id": session_id},
                    UpdateExpression="SET visit_count = visit_count + :one",
                    ConditionExpression="attribute_exists(session_id)",
                    ExpressionAttributeValues={":one": 1},
                    ReturnValues="UPDATED_NEW",
                )
                visit_count = int(response["Attributes"]["visit_count"])
            except ClientError as e:
                if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                # The item is gone: a first visit; the loser of a race is refused (and cleared).
                table.put_item(
                    Item={"session_id": session_id, "visit_count": 1},
                    ConditionExpression="attribute_not_exists(session_id)",
                )
                visit_count = 1

        if visit_count == 1:
            message = "Welcome! This is your first visit."
        else:
            message = f"Welcome back! This is your {visit_count} visit."

        return {
            "statusCode": 200,
            "headers": headers,
            "body": json.dumps(
                {"message": message, "session_id": session_id, "visit_count": visit_count}
            ),
        }
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return refuse("Unknown session")
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
    except Exception as e:
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
