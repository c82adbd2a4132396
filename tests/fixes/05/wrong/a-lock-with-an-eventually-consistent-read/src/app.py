import json
import os
import time
import uuid

import boto3
from botocore.exceptions import ClientError

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)
client = boto3.client("dynamodb")


def answer(session_id, visit_count):
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


ERROR = {"statusCode": 500, "body": json.dumps({"message": "Error interacting with the database."})}
BUSY = {"statusCode": 503, "body": json.dumps({"message": "Busy, try again."})}


def lambda_handler(event, context):
    session_id = "user_123"
    lock_key = "lock#" + session_id
    me = uuid.uuid4().hex
    try:
        while True:
            now = time.time()
            # The lease outlasts whatever time this invocation has left, and a little more.
            until = now + context.get_remaining_time_in_millis() / 1000 + 2
            try:
                table.put_item(
                    Item={"session_id": lock_key, "owner": me, "until": int(until * 1000)},
                    ConditionExpression="attribute_not_exists(session_id) OR #u < :now",
                    ExpressionAttributeNames={"#u": "until"},
                    ExpressionAttributeValues={":now": int(now * 1000)},
                )
                break
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
            if context.get_remaining_time_in_millis() < 1500:
                return BUSY
            time.sleep(0.05)
        try:
            item = table.get_item(Key={"session_id": session_id}).get("Item")
            visit_count = int(item["visit_count"]) + 1 if item else 1
            table.put_item(Item={"session_id": session_id, "visit_count": visit_count})
        finally:
            table.delete_item(
                Key={"session_id": lock_key},
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": me},
            )
        return answer(session_id, visit_count)
    except Exception as e:
        print(f"Error: {e}")
        return ERROR
