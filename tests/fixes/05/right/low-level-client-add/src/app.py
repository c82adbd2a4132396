import json
import os

import boto3

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
dynamodb = boto3.client("dynamodb")


def lambda_handler(event, context):
    session_id = "user_123"
    try:
        attributes = dynamodb.update_item(
            TableName=TABLE_NAME,
            Key={"session_id": {"S": session_id}},
            UpdateExpression="ADD visit_count :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )["Attributes"]
        visit_count = int(attributes["visit_count"]["N"])
        message = (
            "Welcome! This is your first visit."
            if visit_count == 1
            else f"Welcome back! This is your {visit_count} visit."
        )
        body = {"message": message, "session_id": session_id, "visit_count": visit_count}
        return {"statusCode": 200, "body": json.dumps(body)}
    except Exception as e:
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
