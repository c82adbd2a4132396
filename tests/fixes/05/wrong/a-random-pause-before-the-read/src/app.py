import json
import os
import random
import time

import boto3

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)


def lambda_handler(event, context):
    session_id = "user_123"
    try:
        time.sleep(random.uniform(0, 0.2))  # spread visits apart so they do not overlap
        response = table.get_item(Key={"session_id": session_id}, ConsistentRead=True)
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
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
