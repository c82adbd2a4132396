import json
import os

import boto3
from botocore.exceptions import ClientError

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)


def greeting(visit_count):
    if visit_count == 1:
        return "Welcome! This is your first visit."
    return f"Welcome back! This is your {visit_count} visit."


def count_visit(session_id):
    """Read, then write only if nobody wrote in between; five attempts, then a busy answer."""
    for _attempt in range(5):
        item = table.get_item(Key={"session_id": session_id}, ConsistentRead=True).get("Item")
        seen = int(item["visit_count"]) if item else 0
        condition = (
            {
                "ConditionExpression": "visit_count = :seen",
                "ExpressionAttributeValues": {":seen": seen},
            }
            if item
            else {"ConditionExpression": "attribute_not_exists(session_id)"}
        )
        try:
            table.put_item(Item={"session_id": session_id, "visit_count": seen + 1}, **condition)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                continue  # another visit came between: read its count, and try again
            raise
        return seen + 1
    raise Busy()


class Busy(Exception):
    """Five conflicts in a row: the client should try again."""


def lambda_handler(event, context):
    session_id = "user_123"
    try:
        visit_count = count_visit(session_id)
        body = {
            "message": greeting(visit_count),
            "session_id": session_id,
            "visit_count": visit_count,
        }
        return {"statusCode": 200, "body": json.dumps(body)}
    except Busy:
        return {"statusCode": 503, "body": json.dumps({"message": "Busy, try again."})}
    except Exception as e:
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
