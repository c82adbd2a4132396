import json
import os

import boto3

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)


def greeting(n):
    return (
        "Welcome! This is your first visit." if n == 1 else f"Welcome back! This is your {n} visit."
    )


def lambda_handler(event, context):
    session_id = "user_123"
    try:
        item = table.get_item(Key={"session_id": session_id}, ConsistentRead=True).get("Item")
        stats = item.get("stats", {}) if item else {}
        visit_count = int(stats.get("visits", 0)) + 1
        table.put_item(Item={"session_id": session_id, "stats": {"visits": visit_count}})
        body = {
            "message": greeting(visit_count),
            "session_id": session_id,
            "visit_count": visit_count,
        }
        return {"statusCode": 200, "body": json.dumps(body)}
    except Exception as e:
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
