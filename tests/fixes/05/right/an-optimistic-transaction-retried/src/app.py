import json
import os

import boto3

# Made once per execution environment, at import, so warm invocations reuse the client.
TABLE_NAME = os.environ["STATE_TABLE_NAME"]
client = boto3.client("dynamodb")


def count_visit(session_id):
    """Read the count, then write count + 1 in a transaction that holds only if nobody
    wrote in between; on a conflict, read again and retry."""
    while True:
        item = client.get_item(
            TableName=TABLE_NAME, Key={"session_id": {"S": session_id}}, ConsistentRead=True
        ).get("Item")
        old = int(item["visit_count"]["N"]) if item else 0
        if item:
            condition = "visit_count = :old"
            values = {":old": {"N": str(old)}}
        else:
            condition = "attribute_not_exists(session_id)"
            values = {}
        put = {
            "TableName": TABLE_NAME,
            "Item": {"session_id": {"S": session_id}, "visit_count": {"N": str(old + 1)}},
            "ConditionExpression": condition,
        }
        if values:
            put["ExpressionAttributeValues"] = values
        try:
            client.transact_write_items(TransactItems=[{"Put": put}])
            return old + 1
        except client.exceptions.TransactionCanceledException as e:
            reasons = {r.get("Code") for r in e.response.get("CancellationReasons", [])}
            # Another visit changed the count first, or its transaction met ours: read again.
            if not reasons & {"ConditionalCheckFailed", "TransactionConflict"}:
                raise


def lambda_handler(event, context):
    """Count this session's visits in DynamoDB and greet the visitor."""
    session_id = "user_123"

    try:
        visit_count = count_visit(session_id)
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
