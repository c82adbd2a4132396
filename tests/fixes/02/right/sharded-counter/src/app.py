import json
import os
import random

import boto3

# A write-sharded counter (DynamoDB's pattern for a hot key): each visit adds 1 to one of
# SHARDS items, chosen at random, and the count is the sum of them all, read strongly consistent.
TABLE_NAME = os.environ["STATE_TABLE_NAME"]
dynamodb = boto3.resource("dynamodb")
table = dynamodb.Table(TABLE_NAME)
SHARDS = 4


def lambda_handler(event, context):
    session_id = "user_123"
    keys = [{"session_id": f"{session_id}#{n}"} for n in range(SHARDS)]
    try:
        table.update_item(
            Key=random.choice(keys),
            UpdateExpression="ADD visits :one",
            ExpressionAttributeValues={":one": 1},
        )
        got = dynamodb.batch_get_item(
            RequestItems={TABLE_NAME: {"Keys": keys, "ConsistentRead": True}}
        )
        if got.get("UnprocessedKeys"):
            raise RuntimeError("some shards were not read")
        visit_count = sum(int(item.get("visits", 0)) for item in got["Responses"][TABLE_NAME])
    except Exception as e:
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
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
