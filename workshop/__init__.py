"""An offline stand-in for AWS Lambda, API Gateway, DynamoDB and CloudWatch Logs, for the workshop."""
