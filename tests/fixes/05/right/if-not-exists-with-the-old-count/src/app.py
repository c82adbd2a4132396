import json
import os

import boto3

# Made once per execution environment, at import, so warm invocations reuse the client.
TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)


def lambda_handler(event, context):
    """Count this session's visits in DynamoDB and greet the visitor.

    event: the API Gateway proxy event of GET /hello.
    context: the Lambda context object (unused).
    Returns an API Gateway proxy response.
    """
    session_id = "user_123"

    try:
        # One atomic step: the count before it (absent on a first visit), then + 1.
        before = table.update_item(
            Key={"session_id": session_id},
            UpdateExpression="SET visit_count = if_not_exists(visit_count, :zero) + :one",
            ExpressionAttributeValues={":zero": 0, ":one": 1},
            ReturnValues="UPDATED_OLD",
        ).get("Attributes", {})
        visit_count = int(before.get("visit_count", 0)) + 1
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
