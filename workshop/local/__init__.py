"""The local stand-in for AWS: DynamoDB and CloudWatch Logs (moto), IAM, Lambda, API Gateway.

`sam_template` reads a SAM project; `stack.Stack` puts the parts together for one project.
"""
