import json
import os

import boto3

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)


def lambda_handler(event, context):
    session_id = "user_123"
    try:
        # One atomic step: DynamoDB adds 1 (creating the item on the first visit) and returns
        # the new count, a Decimal, turned into an int for json.dumps.
        updated = table.update_item(
            Key={"session_id": session_id},
            UpdateExpression="ADD visit_count :one",
            ExpressionAttributeValues={":one": 1},
            ReturnValues="UPDATED_NEW",
        )
        visit_count = int(updated["Attributes"]["visit_count"])
    except Exception as e:
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
    if visit_count == 1:
        message = "Welcome! This is your first visit."
    else:
        message = f"Welcome back! This is your {visit_count} visit."
    body = {"message": message, "session_id": session_id, "visit_count": visit_count}
    return {"statusCode": 200, "body": json.dumps(body)}
