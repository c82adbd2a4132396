import json
import os

import boto3

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)


def lambda_handler(event, context):
    session_id = "user_123"
    try:
        response = table.get_item(Key={"session_id": session_id})
        if "Item" not in response:
            table.put_item(Item={"session_id": session_id, "visit_count": 1})
            visit_count = 1
        else:
            response = table.update_item(
                Key={"session_id": session_id},
                UpdateExpression="ADD visit_count :one",
                ExpressionAttributeValues={":one": 1},
                ReturnValues="UPDATED_NEW",
            )
            visit_count = int(response["Attributes"]["visit_count"])
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
