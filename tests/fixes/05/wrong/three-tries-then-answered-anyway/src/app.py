import json
import os

import boto3
from botocore.exceptions import ClientError

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)
TRIES = 3


def lambda_handler(event, context):
    """Count this session's visits in DynamoDB and greet the visitor."""
    session_id = "user_123"

    try:
        # Optimistic: write N + 1 only if the count is still the N we read; try again if not.
        for _ in range(TRIES):
            item = table.get_item(Key={"session_id": session_id}, ConsistentRead=True).get("Item")
            old = int(item["visit_count"]) if item else 0
            visit_count = old + 1
            try:
                if item:
                    table.put_item(
                        Item={"session_id": session_id, "visit_count": visit_count},
                        ConditionExpression="visit_count = :old",
                        ExpressionAttributeValues={":old": old},
                    )
                else:
                    table.put_item(
                        Item={"session_id": session_id, "visit_count": visit_count},
                        ConditionExpression="attribute_not_exists(session_id)",
                    )
                break
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        # After TRIES conflicts, the visit is answered with the count it last computed.

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
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
