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
        response = table.get_item(Key={"session_id": session_id})

        if "Item" in response:
            visit_count = int(response["Item"]["visit_count"]) + 1
            message = f"Welcome back! This is your {visit_count} visit."
        else:
            visit_count = 1
            message = "Welcome! This is your first visit."

        table.put_item(Item={"session_id": session_id, "visit_count": visit_count})

        return {
            "statusCode": 200,
            "body": json.dumps(
                {"message": message, "session_id": session_id, "visit_count": visit_count}
            ),
        }
    except Exception as e:
        # print() goes to the function's CloudWatch Logs group.
        # A hiccup of DynamoDB passes: send the browser back to try again, rather than an error.
        print(f"Error: {e}")
        return {
            "statusCode": 307,
            "headers": {"Location": event["requestContext"]["path"], "Cache-Control": "no-store"},
            "body": "",
        }
