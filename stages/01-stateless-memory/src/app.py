import json

# Created once, when Python first imports this module.
visit_count = 0


def lambda_handler(event, context):
    """Greet the visitor like the sam init hello world, and say how many visits were counted.

    event: the API Gateway proxy event of GET /hello.
    context: the Lambda context object (unused).
    Returns an API Gateway proxy response.
    """
    global visit_count
    visit_count += 1

    return {
        "statusCode": 200,
        "body": json.dumps({"message": "hello world", "visit_count": visit_count}),
    }
