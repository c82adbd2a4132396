import json
import os
import random
import time

import boto3
from botocore.exceptions import ClientError

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)
MAX_ATTEMPTS = 5


def count_visit(session_id):
    """Optimistic locking: read, write N + 1 only if the count is still N; five attempts."""
    for attempt in range(MAX_ATTEMPTS):
        item = table.get_item(Key={"session_id": session_id}, ConsistentRead=True).get("Item")
        seen = int(item["visit_count"]) if item else 0
        if item:
            condition = {
                "ConditionExpression": "visit_count = :seen",
                "ExpressionAttributeValues": {":seen": seen},
            }
        else:
            condition = {"ConditionExpression": "attribute_not_exists(session_id)"}
        try:
            table.put_item(Item={"session_id": session_id, "visit_count": seen + 1}, **condition)
            return seen + 1
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        time.sleep(random.uniform(0, 0.02 * 2**attempt))  # jittered backoff
    # Five conflicts in a row: a very busy moment. The visitor still gets a page.
    print(f"WARNING: gave up counting after {MAX_ATTEMPTS} conflicts")
    return seen + 1


def lambda_handler(event, context):
    """Count this session's visits in DynamoDB and greet the visitor."""
    session_id = "user_123"
    try:
        visit_count = count_visit(session_id)
        if visit_count == 1:
            message = "Welcome! This is your first visit."
        else:
            message = f"Welcome back! This is your {visit_count} visit."
        return {
            "statusCode": 200,
            "body": json.dumps(
                {
                    "message": message,
                    "session_id": session_id,
                    "visit_count": visit_count,
                }
            ),
        }
    except Exception as e:
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
