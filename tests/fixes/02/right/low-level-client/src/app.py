import json
import os

import boto3

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
dynamodb = boto3.client("dynamodb")  # the client API: numbers come as strings, {"N": "3"}


def lambda_handler(event, context):
    session_id = "user_123"
    key = {"session_id": {"S": session_id}}
    try:
        item = dynamodb.get_item(TableName=TABLE_NAME, Key=key).get("Item")
        visit_count = int(item["visit_count"]["N"]) + 1 if item else 1
        dynamodb.put_item(
            TableName=TABLE_NAME, Item={**key, "visit_count": {"N": str(visit_count)}}
        )
        message = (
            f"Welcome back! This is your {visit_count} visit."
            if visit_count > 1
            else "Welcome! This is your first visit."
        )
        body = {"message": message, "session_id": session_id, "visit_count": visit_count}
        return {"statusCode": 200, "body": json.dumps(body)}
    except Exception as e:
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
