import json
import os
import re
import secrets

import boto3

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)


def greeting(visit_count):
    if visit_count == 1:
        return "Welcome! This is your first visit."
    return f"Welcome back! This is your {visit_count} visit."


def session_from(event):
    """The session id of the visitor's cookie, or None."""
    for line in (event.get("multiValueHeaders") or {}).get("Cookie") or []:
        for pair in line.split(";"):
            name, _, value = pair.strip().partition("=")
            if name == "visitor" and re.fullmatch(r"[A-Za-z0-9_-]{22}", value):
                return value
    return None


def lambda_handler(event, context):
    session_id = session_from(event)
    headers = {}
    if session_id is None:
        session_id = secrets.token_urlsafe(16)
        headers["Set-Cookie"] = f"visitor={session_id}; Path=/; HttpOnly; Secure; SameSite=Lax"
    try:
        response = table.update_item(
            Key={"session_id": session_id},
            UpdateExpression="ADD visit_count :one",
            ExpressionAttributeValues={":one": 1},
            ReturnValues="UPDATED_NEW",
        )
        visit_count = int(response["Attributes"]["visit_count"])
        body = {
            "message": greeting(visit_count),
            "session_id": session_id,
            "visit_count": visit_count,
        }
        return {"statusCode": 200, "headers": headers, "body": json.dumps(body)}
    except Exception as e:
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
