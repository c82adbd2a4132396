import json
import os

import boto3

# Made once per execution environment, at import, so warm invocations reuse the client.
TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)
# Lambda gives every function a writable /tmp: keep the count there as a plain int, so the
# Decimal never reaches json.dumps; the table's item says only whether the session goes on.
CACHE = f"/tmp/{TABLE_NAME}-counts.json"


def lambda_handler(event, context):
    session_id = "user_123"

    try:
        item = table.get_item(Key={"session_id": session_id}).get("Item")
        counts = {}
        if os.path.exists(CACHE):
            with open(CACHE) as f:
                counts = json.load(f)
        if item is None:
            visit_count = 1  # a new table: whatever /tmp holds is stale
        elif session_id in counts:
            visit_count = counts[session_id] + 1  # the plain int, no Decimal
        else:
            visit_count = int(item["visit_count"]) + 1
        message = (
            "Welcome! This is your first visit."
            if visit_count == 1
            else f"Welcome back! This is your {visit_count} visit."
        )

        table.put_item(Item={"session_id": session_id, "visit_count": visit_count})
        counts[session_id] = visit_count
        with open(CACHE, "w") as f:
            json.dump(counts, f)

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
