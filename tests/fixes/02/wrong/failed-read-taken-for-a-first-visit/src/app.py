import json
import os

import boto3

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)


def previous_count(session_id):
    """The count stored for the session, as an int; 0 before its first visit."""
    try:
        return int(table.get_item(Key={"session_id": session_id})["Item"]["visit_count"])
    except Exception:
        return 0  # no item yet


def lambda_handler(event, context):
    session_id = "user_123"
    try:
        visit_count = previous_count(session_id) + 1
        table.put_item(Item={"session_id": session_id, "visit_count": visit_count})
        if visit_count == 1:
            message = "Welcome! This is your first visit."
        else:
            message = f"Welcome back! This is your {visit_count} visit."
        body = {"message": message, "session_id": session_id, "visit_count": visit_count}
        return {"statusCode": 200, "body": json.dumps(body)}
    except Exception as e:
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
