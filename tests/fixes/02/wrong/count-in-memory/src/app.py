import json

visit_count = 0  # module level: lives as long as the execution environment


def lambda_handler(event, context):
    global visit_count
    visit_count += 1
    if visit_count == 1:
        message = "Welcome! This is your first visit."
    else:
        message = f"Welcome back! This is your {visit_count} visit."
    body = {"message": message, "session_id": "user_123", "visit_count": visit_count}
    return {"statusCode": 200, "body": json.dumps(body)}
