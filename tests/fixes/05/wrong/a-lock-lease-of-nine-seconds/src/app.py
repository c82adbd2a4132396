import json
import os
import time
from decimal import Decimal

import boto3
from botocore.exceptions import ClientError

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)
# Just under the function's Timeout (10 s): the lock of a visit that crashed lapses by itself,
# and soon.
LEASE_SECONDS = 9
WAIT_SECONDS = 8  # how long a visit waits for the lock before it answers busy


def acquire(lock_key, owner):
    """Take the session's lock, free or lapsed; False if it stays held for WAIT_SECONDS."""
    give_up = time.time() + WAIT_SECONDS
    while True:
        now = Decimal(repr(time.time()))  # the resource API takes no float
        try:
            table.put_item(
                Item={"session_id": lock_key, "holder": owner, "expires": now + LEASE_SECONDS},
                ConditionExpression="attribute_not_exists(session_id) OR expires < :now",
                ExpressionAttributeValues={":now": now},
            )
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        if time.time() > give_up:
            return False
        time.sleep(0.05)


def release(lock_key, owner):
    try:
        table.delete_item(
            Key={"session_id": lock_key},
            ConditionExpression="holder = :me",
            ExpressionAttributeValues={":me": owner},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise


def lambda_handler(event, context):
    session_id = "user_123"
    lock_key = f"lock#{session_id}"
    owner = context.aws_request_id
    try:
        if not acquire(lock_key, owner):
            return {"statusCode": 503, "body": json.dumps({"message": "Busy, try again."})}
        try:
            item = table.get_item(Key={"session_id": session_id}, ConsistentRead=True).get("Item")
            visit_count = int(item["visit_count"]) + 1 if item else 1
            table.put_item(Item={"session_id": session_id, "visit_count": visit_count})
        finally:
            release(lock_key, owner)
        if visit_count == 1:
            message = "Welcome! This is your first visit."
        else:
            message = f"Welcome back! This is your {visit_count} visit."
        body = {"message": message, "session_id": session_id, "visit_count": visit_count}
        return {"statusCode": 200, "body": json.dumps(body)}
    except Exception as e:
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
