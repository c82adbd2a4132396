"""IAM for the local functions: their own credentials, and their policies enforced on DynamoDB.

moto's own IAM checks ignore the resource ARN for DynamoDB, so the harness evaluates each call
itself, with moto's policy evaluator, before moto sees it, and refuses it as DynamoDB does.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

from moto.iam.access_control import IAMPolicy, PermissionResult

from workshop.local.sam_template import ACCOUNT_ID
from workshop.types import Function

# Items in a transaction are authorised as the single-item actions they stand for.
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def function_credentials(function: Function) -> dict[str, str]:
    """The temporary credentials Lambda gives an environment of this function's role."""
    digest = hashlib.sha256(function.arn.encode()).hexdigest().upper()
    return {
        "AWS_ACCESS_KEY_ID": "ASIA" + digest[:16],
        "AWS_SECRET_ACCESS_KEY": digest[16:56],
        "AWS_SESSION_TOKEN": "local-session-" + digest[:32],
    }


def _table_arn(name: str, region: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{name}"


def requested(operation: str, body: dict[str, Any], region: str) -> Iterator[tuple[str, str]]:
    """The (action, resource ARN) pairs that one DynamoDB request needs to be allowed."""
    if operation in ("TransactWriteItems", "TransactGetItems"):
        for item in body.get("TransactItems", []):
            ((kind, detail),) = item.items()
            yield f"dynamodb:{TRANSACT_ACTIONS[kind]}", _table_arn(detail["TableName"], region)
    elif operation in ("BatchGetItem", "BatchWriteItem"):
        for table in body.get("RequestItems", {}):
            yield f"dynamodb:{operation}", _table_arn(table, region)
    elif "TableName" in body:
        arn = _table_arn(body["TableName"], region)
        if body.get("IndexName"):
            arn += f"/index/{body['IndexName']}"
        yield f"dynamodb:{operation}", arn
    else:  # ListTables and other account-wide actions
        yield f"dynamodb:{operation}", "*"


def decide(documents: list[Any], action: str, resource: str) -> PermissionResult:
    """What the policies say: PERMITTED, DENIED (explicitly) or NEUTRAL (nothing allows it)."""
    verdict = PermissionResult.NEUTRAL
    for document in documents:
        policy = IAMPolicy(json.dumps(_actions_in_lower_case(document)))
        result = policy.is_action_permitted(action.lower(), resource)
        if result == PermissionResult.DENIED:
            return result
        if result == PermissionResult.PERMITTED:
            verdict = result
    return verdict


def _actions_in_lower_case(document: Any) -> Any:
    """The document as it applies to a call: its actions in lower case ("The prefix and the
    action name are case insensitive", IAM JSON policy elements: Action; moto compares them as
    written), less a statement whose condition a call over HTTPS does not meet."""
    if not isinstance(document, dict):
        return document
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return document
    lowered = []
    for statement in statements:
        if isinstance(statement, dict) and not _applies_over_https(statement.get("Condition")):
            continue
        if isinstance(statement, dict):
            statement = dict(statement)
            for key in ("Action", "NotAction"):
                value = statement.get(key)
                if isinstance(value, str):
                    statement[key] = value.lower()
                elif isinstance(value, list):
                    statement[key] = [v.lower() if isinstance(v, str) else v for v in value]
        lowered.append(statement)
    return {**document, "Statement": lowered}


def _applies_over_https(condition: Any) -> bool:
    """Whether a statement's Condition holds for a call over HTTPS, as every SDK call to AWS is:
    only a condition on aws:SecureTransport alone is read (moto reads none, and would apply a
    Deny meant for plain HTTP to every call)."""
    if not isinstance(condition, dict) or len(condition) != 1:
        return True
    ((operator, tests),) = condition.items()
    if operator != "Bool" or not isinstance(tests, dict) or len(tests) != 1:
        return True
    ((key, value),) = tests.items()
    if key.lower() != "aws:securetransport":
        return True
    values = value if isinstance(value, list) else [value]
    return any(str(v).lower() == "true" for v in values)


class FunctionAuthorizer:
    """Checks the DynamoDB calls made with a function's credentials against its policies."""

    def __init__(self, function: Function, region: str):
        self.function = function
        self.region = region
        self.principal = (
            f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{function.role_name}/{function.name}"
        )

    def __call__(self, target: str, body: dict[str, Any]) -> dict[str, Any] | None:
        operation = target.rsplit(".", 1)[-1]
        for action, resource in requested(operation, body, self.region):
            verdict = decide(self.function.policies, action, resource)
            if verdict == PermissionResult.PERMITTED:
                continue
            why = (
                "with an explicit deny in an identity-based policy"
                if verdict == PermissionResult.DENIED
                else f"because no identity-based policy allows the {action} action"
            )
            return {
                "__type": "com.amazon.coral.service#AccessDeniedException",
                "Message": f"User: {self.principal} is not authorized to perform: {action} "
                f"on resource: {resource} {why}",
            }
        return None


def aws_managed_policy(policy: str) -> Any:
    """The document of the AWS managed policy named `policy` (or its ARN), as moto holds AWS's
    own, or None for another policy."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    arn = re.fullmatch(r"arn:aws[a-z-]*:iam::aws:policy(/(?:[\w+=,.@-]+/)*)([\w+=,.@-]+)", policy)
    name = arn.group(2) if arn else policy
    found = json.loads(aws_managed_policies_data).get(name)
    if found is None or (arn and arn.group(1) != found["Path"]):  # its ARN holds its path
        return None
    return found["Document"]
