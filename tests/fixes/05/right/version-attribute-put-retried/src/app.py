import json
import os
import random
import time

import boto3
from botocore.exceptions import ClientError

# Made once per execution environment, at import, so warm invocations reuse the client.
TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)


def read_counter(session_id):
    """(count, version) as stored; (0, 0) for a session with no item yet."""
    item = table.get_item(Key={"session_id": session_id}, ConsistentRead=True).get("Item")
    if item is None:
        return 0, 0
    return int(item["visit_count"]), int(item.get("version", 0))


def write_counter(session_id, count, version):
    """Store count with version + 1, only if nobody wrote since we read `version`."""
    if version == 0:
        condition = "attribute_not_exists(session_id)"
        values = {}
    else:
        condition = "version = :seen"
        values = {"ExpressionAttributeValues": {":seen": version}}
    table.put_item(
        Item={"session_id": session_id, "visit_count": count, "version": version + 1},
        ConditionExpression=condition,
        **values,
    )


def count_visit(session_id):
    """Optimistic locking: read, write if unchanged, else read again. Returns the new count."""
    attempt = 0
    while True:
        count, version = read_counter(session_id)
        try:
            write_counter(session_id, count + 1, version)
            return count + 1
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            attempt += 1
            print(f"write conflict on attempt {attempt}, reading again")
            time.sleep(random.uniform(0, min(0.05 * 2**attempt, 0.5)))


def lambda_handler(event, context):
    """Count this session's visits in DynamoDB and greet the visitor.

    event: the API Gateway proxy event of GET /hello.
    context: the Lambda context object (unused).
    Returns an API Gateway proxy response.
    """
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
                {"message": message, "session_id": session_id, "visit_count": visit_count}
            ),
        }
    except Exception as e:
        # print() goes to the function's CloudWatch Logs group.
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
