import json
import os

import boto3

# Made once per execution environment, at import, so warm invocations reuse the client.
TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)
last_count = 0


def lambda_handler(event, context):
    """Count this session's visits in DynamoDB and greet the visitor.

    event: the API Gateway proxy event of GET /hello.
    context: the Lambda context object (unused).
    Returns an API Gateway proxy response.
    """
    global last_count
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
        last_count = visit_count

        return {
            "statusCode": 200,
            "body": json.dumps(
                {"message": message, "session_id": session_id, "visit_count": visit_count}
            ),
        }
    except Exception as e:
        # Never show the visitor an error: greet them with the last count we knew.
        print(f"Error: {e}")
        last_count += 1
        return {
            "statusCode": 200,
            "body": json.dumps(
                {"message": f"Welcome back! This is your {last_count} visit.", "count": last_count}
            ),
        }
