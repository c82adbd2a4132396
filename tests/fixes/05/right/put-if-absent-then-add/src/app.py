import json
import logging
import os

import boto3
from botocore.exceptions import ClientError

logger = logging.getLogger()
TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)


def count_visit(session_id):
    """Create the session at 1 if nobody has yet; otherwise add 1 atomically."""
    try:
        table.put_item(
            Item={"session_id": session_id, "visit_count": 1},
            ConditionExpression="attribute_not_exists(session_id)",
        )
        return 1
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    new = table.update_item(
        Key={"session_id": session_id},
        UpdateExpression="ADD visit_count :one",
        ExpressionAttributeValues={":one": 1},
        ReturnValues="UPDATED_NEW",
    )
    return int(new["Attributes"]["visit_count"])


def lambda_handler(event, context):
    session_id = "user_123"
    try:
        visit_count = count_visit(session_id)
    except Exception:
        logger.exception("counting failed")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
    message = (
        "Welcome! This is your first visit."
        if visit_count == 1
        else f"Welcome back! This is your {visit_count} visit."
    )
    return {
        "statusCode": 200,
        "body": json.dumps(
            {"message": message, "session_id": session_id, "visit_count": visit_count}
        ),
    }
