import json
import os
import time
import uuid

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)
# The function's Timeout (10 s): no visit runs longer, and the lock of a visit that crashed
# lapses by itself. DynamoDB's TTL attributes count whole epoch seconds: so does the lease.
LEASE_SECONDS = 10
BUSY = {"statusCode": 503, "body": json.dumps({"message": "Busy, try again."})}


def take_lock(lock_key, owner, context):
    """Take the session's lock (a lease on an item of its own); False if it stays held."""
    while True:
        now = int(time.time())
        try:
            table.put_item(
                Item={
                    "session_id": lock_key,
                    "holder": owner,
                    "until": now + LEASE_SECONDS,
                },
                ConditionExpression="attribute_not_exists(session_id) OR #until <= :now",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues={":now": now},
            )
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        if context.get_remaining_time_in_millis() < 1500:
            return False
        time.sleep(0.05)


def let_go(lock_key, owner):
    """Delete the lock, only while we hold it."""
    try:
        table.delete_item(
            Key={"session_id": lock_key},
            ConditionExpression="holder = :me",
            ExpressionAttributeValues={":me": owner},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise


def read_count(session_id):
    """The session's count as stored, 0 before its first visit."""
    items = table.query(
        KeyConditionExpression=Key("session_id").eq(session_id), ConsistentRead=True
    )["Items"]
    return int(items[0]["visit_count"]) if items else 0


def lambda_handler(event, context):
    """Count this session's visits in DynamoDB, under a lock, and greet the visitor."""
    session_id = "user_123"
    lock_key = f"lock#{session_id}"
    owner = uuid.uuid4().hex
    try:
        if not take_lock(lock_key, owner, context):
            return BUSY
        try:
            visit_count = read_count(session_id) + 1
            table.put_item(Item={"session_id": session_id, "visit_count": visit_count})
        finally:
            let_go(lock_key, owner)
        if visit_count == 1:
            message = "Welcome! This is your first visit."
        else:
            message = f"Welcome back! This is your {visit_count} visit."
        body = {
            "message": message,
            "session_id": session_id,
            "visit_count": visit_count,
        }
        return {"statusCode": 200, "body": json.dumps(body)}
    except Exception as e:
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
