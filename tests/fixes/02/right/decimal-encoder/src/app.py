import decimal
import json
import os

import boto3

TABLE_NAME = os.environ["STATE_TABLE_NAME"]
table = boto3.resource("dynamodb").Table(TABLE_NAME)


class CountEncoder(json.JSONEncoder):
    """JSON that writes DynamoDB's whole numbers (Decimal) as integers."""

    def default(self, o):
        if isinstance(o, decimal.Decimal) and o == o.to_integral_value():
            return int(o)
        return super().default(o)


def lambda_handler(event, context):
    session_id = "user_123"
    try:
        item = table.get_item(Key={"session_id": session_id}).get("Item")
        visit_count = item["visit_count"] + 1 if item else 1
        table.put_item(Item={"session_id": session_id, "visit_count": visit_count})
        if visit_count == 1:
            message = "Welcome! This is your first visit."
        else:
            message = f"Welcome back! This is your {visit_count} visit."
        body = {"message": message, "session_id": session_id, "visit_count": visit_count}
        return {"statusCode": 200, "body": json.dumps(body, cls=CountEncoder)}
    except Exception as e:
        print(f"Error: {e}")
        return {
            "statusCode": 500,
            "body": json.dumps({"message": "Error interacting with the database."}),
        }
