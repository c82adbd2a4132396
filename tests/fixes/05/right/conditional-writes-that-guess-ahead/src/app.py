import json
import os

import boto3

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
client = boto3.client("dynamodb")


def count_visit(session_id):
    """Read once; then claim count+1, count+2, ... each only if the item still holds the one
    before: every visit gets exactly one number, and none is skipped."""
    item = client.get_item(
        TableName=TABLE_NAME, Key={"session_id": {"S": session_id}}, ConsistentRead=True
    ).get("Item")
    seen = int(item["visit_count"]["N"]) if item else 0
    while True:
        if seen == 0:
            condition = {"ConditionExpression": "attribute_not_exists(visit_count)"}
        else:
            condition = {
                "ConditionExpression": "visit_count = :seen",
                "ExpressionAttributeValues": {":seen": {"N": str(seen)}},
            }
        try:
            client.put_item(
                TableName=TABLE_NAME,
                Item={"session_id": {"S": session_id}, "visit_count": {"N": str(seen + 1)}},
                **condition,
            )
            return seen + 1
        except client.exceptions.ConditionalCheckFailedException:
            seen += 1  # someone took that number: try the next


def lambda_handler(event, context):
    session_id = "user_123"
    try:
        visit_count = count_visit(session_id)
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
    except Exception as e:
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
