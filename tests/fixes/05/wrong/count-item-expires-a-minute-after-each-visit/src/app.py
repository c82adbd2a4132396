import json
import os
import time

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
        # One atomic step: DynamoDB adds 1 to the stored count (to 0 when there is no item
        # yet) and returns the new count, so no other visit can come between a read and a write.
        response = table.update_item(
            Key={"session_id": session_id},
            # An idle session is cleaned up: DynamoDB's TTL deletes it a minute after its last
            # visit.
            UpdateExpression="ADD visit_count :one SET expires_at = :expiry",
            ExpressionAttributeValues={":one": 1, ":expiry": int(time.time()) + 60},
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
        # print() goes to the function's CloudWatch Logs group.
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
