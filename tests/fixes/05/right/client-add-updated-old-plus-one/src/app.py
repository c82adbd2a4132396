import json
import os

import boto3

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
client = boto3.client("dynamodb")


def lambda_handler(event, context):
    session_id = "user_123"
    try:
        # ADD is atomic; UPDATED_OLD gives what was there before this visit's +1.
        old = client.update_item(
            TableName=TABLE_NAME,
            Key={"session_id": {"S": session_id}},
            UpdateExpression="ADD visit_count :inc",
            ExpressionAttributeValues={":inc": {"N": "1"}},
            ReturnValues="UPDATED_OLD",
        ).get("Attributes", {})
        visit_count = int(old["visit_count"]["N"]) + 1 if "visit_count" in old else 1
        if visit_count == 1:
            message = "Welcome! This is your first visit."
        else:
            message = f"Welcome back! This is your {visit_count} visit."
        return {
            "statusCode": 200,
            "body": json.dumps(
                {"message": message, "session_id": session_id, "visit_count": visit_count}
            ),
        }
    except Exception as e:
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
