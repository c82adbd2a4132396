import json
import os
from decimal import Decimal

import boto3

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)


def as_json(value):
    if isinstance(value, Decimal):
        return int(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def lambda_handler(event, context):
    session_id = "user_123"
    try:
        item = table.update_item(
            Key={"session_id": session_id},
            UpdateExpression="ADD visit_count :n",
            ExpressionAttributeValues={":n": Decimal(1)},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        if item["visit_count"] == 1:
            message = "Welcome! This is your first visit."
        else:
            message = f"Welcome back! This is your {item['visit_count']} visit."
        return {
            "statusCode": 200,
            "body": json.dumps(
                {"message": message, "session_id": session_id, "visit_count": item["visit_count"]},
                default=as_json,
            ),
        }
    except Exception as e:
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
