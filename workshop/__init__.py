"""An offline stand-in for Lambda, API Gateway, DynamoDB and CloudWatch Logs, for the workshop."""
