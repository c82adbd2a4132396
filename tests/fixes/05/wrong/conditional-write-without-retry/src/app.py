import json
import os

import boto3

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)


def greeting(visit_count):
    if visit_count == 1:
        return "Welcome! This is your first visit."
    return f"Welcome back! This is your {visit_count} visit."


def lambda_handler(event, context):
    session_id = "user_123"
    try:
        item = table.get_item(Key={"session_id": session_id}).get("Item")
        seen = int(item["visit_count"]) if item else 0
        condition = "visit_count = :seen" if item else "attribute_not_exists(session_id)"
        values = {"ExpressionAttributeValues": {":seen": seen}} if item else {}
        visit_count = seen + 1
        table.put_item(
            Item={"session_id": session_id, "visit_count": visit_count},
            ConditionExpression=condition,
            **values,
        )
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
