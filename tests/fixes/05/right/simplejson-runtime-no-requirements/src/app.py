import os
from decimal import Decimal

import boto3
import simplejson

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)


def count_visit(session_id):
    """Add one to the session's count in DynamoDB itself and return the new count."""
    attributes = table.update_item(
        Key={"session_id": session_id},
        UpdateExpression="ADD #count :one",
        ExpressionAttributeNames={"#count": "visit_count"},
        ExpressionAttributeValues={":one": Decimal(1)},
        ReturnValues="UPDATED_NEW",
    )["Attributes"]
    return attributes["visit_count"]  # a Decimal: simplejson writes it as a JSON number


def greeting(count):
    """The story's words for visit number `count`."""
    if count == 1:
        return "Welcome! This is your first visit."
    return f"Welcome back! This is your {count} visit."


def lambda_handler(event, context):
    """Count this session's visits in DynamoDB and greet the visitor."""
    session_id = "user_123"
    try:
        count = count_visit(session_id)
        body = {"message": greeting(count), "session_id": session_id, "visit_count": count}
        return {"statusCode": 200, "body": simplejson.dumps(body, use_decimal=True)}
    except Exception as e:
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": simplejson.dumps({"message": "Error interacting with the database."}),
        }
