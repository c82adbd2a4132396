import json
import os
import time
import uuid

import boto3
from botocore.exceptions import ClientError

# Made once per execution environment, at import, so warm invocations reuse the client.
TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)

# A visit holds the session's lock at most this long: longer than the function's Timeout (10 s),
# so a visit still running never loses it, and a visit that died lets go by itself.
LEASE_SECONDS = 15
POLL_SECONDS = 0.1


class Busy(Exception):
    """The lock stayed taken until the invocation was nearly out of time."""


def take_lock(session_id, owner, context):
    """Take the session's lock (a lease on the item itself); returns the item as it now is."""
    while True:
        now = time.time()
        try:
            return table.update_item(
                Key={"session_id": session_id},
                UpdateExpression="SET lock_owner = :me, lock_until = :until",
                ConditionExpression="attribute_not_exists(lock_until) OR lock_until < :now",
                ExpressionAttributeValues={
                    ":me": owner,
                    ":until": int((now + LEASE_SECONDS) * 1000),
                    ":now": int(now * 1000),
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        if context.get_remaining_time_in_millis() < 1000:
            raise Busy("the session stayed locked")
        time.sleep(POLL_SECONDS)


def write_and_unlock(session_id, owner, count):
    """Store the new count and let go of the lock, in one write, only while we hold it."""
    table.update_item(
        Key={"session_id": session_id},
        UpdateExpression="SET visit_count = :count REMOVE lock_owner, lock_until",
        ConditionExpression="lock_owner = :me",
        ExpressionAttributeValues={":count": count, ":me": owner},
    )


def lambda_handler(event, context):
    """Count this session's visits in DynamoDB and greet the visitor.

    event: the API Gateway proxy event of GET /hello.
    context: the Lambda context object.
    Returns an API Gateway proxy response.
    """
    session_id = "user_123"
    owner = uuid.uuid4().hex

    try:
        item = take_lock(session_id, owner, context)
        visit_count = int(item.get("visit_count", 0)) + 1
        write_and_unlock(session_id, owner, visit_count)

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
        # print() goes to the function's CloudWatch Logs group.
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
