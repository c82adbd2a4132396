import json
import os
import uuid
from datetime import UTC, datetime

import boto3
from botocore.exceptions import ClientError

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)
# Every visit is also recorded, when it came, in a table of its own.
visits = boto3.resource("dynamodb").Table(os.environ["VISITS_TABLE_NAME"])


def lambda_handler(event, context):
    session_id = "user_123"
    try:
        try:
            response = table.update_item(
                Key={"session_id": session_id},
                UpdateExpression="SET visit_count = visit_count + :one",
                ConditionExpression="attribute_exists(session_id)",
                ExpressionAttributeValues={":one": 1},
                ReturnValues="UPDATED_NEW",
            )
            visit_count = int(response["Attributes"]["visit_count"])
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # No count yet: this is the first visit.
            table.put_item(Item={"session_id": session_id, "visit_count": 1})
            visit_count = 1
        visits.put_item(Item={"visit_id": str(uuid.uuid4()), "at": datetime.now(UTC).isoformat()})
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
