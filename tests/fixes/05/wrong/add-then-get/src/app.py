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
        table.update_item(
            Key={"session_id": session_id},
            UpdateExpression="ADD visit_count :one",
            ExpressionAttributeValues={":one": 1},
        )
        item = table.get_item(Key={"session_id": session_id})["Item"]
        visit_count = int(item["visit_count"])
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
