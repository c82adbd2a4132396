import json
import os
import time
import uuid

import boto3
from botocore.exceptions import ClientError

# Made once per execution environment, at import, so warm invocations reuse the client.
TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)

LEASE_SECONDS = 15  # longer than the function's Timeout


def count_visit(session_id, context):
    """Take a lease on the session's lock item, read-modify-write, let go."""
    lock_key = {"session_id": f"lock#{session_id}"}
    me = uuid.uuid4().hex
    while True:
        until = int(time.time()) + LEASE_SECONDS
        try:
            # Free, or held by a lease that ends before the one I ask for.
            table.put_item(
                Item={**lock_key, "holder": me, "expires": until},
                ConditionExpression="attribute_not_exists(expires) OR expires < :until",
                ExpressionAttributeValues={":until": until},
            )
            break
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            time.sleep(0.1)
    try:
        item = table.get_item(Key={"session_id": session_id}).get("Item")
        count = (int(item["visit_count"]) if item else 0) + 1
        table.put_item(Item={"session_id": session_id, "visit_count": count})
        return count
    finally:
        try:
            table.delete_item(
                Key=lock_key,
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": me},
            )
        except ClientError as error:
            # Someone else holds it now: theirs to let go.
            print(f"lock already taken over: {error}")


def lambda_handler(event, context):
    """Count this session's visits in DynamoDB and greet the visitor.

    event: the API Gateway proxy event of GET /hello.
    context: the Lambda context object.
    Returns an API Gateway proxy response.
    """
    session_id = "user_123"

    try:
        visit_count = count_visit(session_id, context)
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
