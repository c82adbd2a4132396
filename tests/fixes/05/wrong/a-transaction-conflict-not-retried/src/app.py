import json
import os

import boto3

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
    key = {"session_id": {"S": session_id}}
    try:
        while True:
            item = client.get_item(TableName=TABLE_NAME, Key=key, ConsistentRead=True).get("Item")
            old = int(item["visit_count"]["N"]) if item else 0
            update = {
                "TableName": TABLE_NAME,
                "Key": key,
                "UpdateExpression": "SET visit_count = :new",
                "ExpressionAttributeValues": {":new": {"N": str(old + 1)}},
            }
            if item:
                update["ConditionExpression"] = "visit_count = :old"
                update["ExpressionAttributeValues"][":old"] = {"N": str(old)}
            else:
                update["ConditionExpression"] = "attribute_not_exists(session_id)"
            try:
                client.transact_write_items(TransactItems=[{"Update": update}])
                return answer(session_id, old + 1)
            except client.exceptions.TransactionCanceledException as error:
                codes = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
                if codes != ["ConditionalCheckFailed"]:
                    raise  # anything but a changed count is a real error
    except Exception as e:
        print(f"Error: {e}")
        return ERROR
