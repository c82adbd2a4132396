"""IAM for the local functions: their own credentials, and their policies enforced on DynamoDB.

moto's own IAM checks ignore the resource ARN for DynamoDB, so the harness evaluates each call
itself, with moto's policy evaluator, before moto sees it, and refuses it as DynamoDB does.
"""

from __future__ import annotations

import fnmatch
import functools
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


def decide(
    documents: list[Any], action: str, resource: str, request: dict[str, Any] | None = None
) -> PermissionResult:
    """What the policies say of `action` on `resource` (for the call `request`, as sent):
    PERMITTED, DENIED (explicitly) or NEUTRAL (nothing allows it)."""
    verdict = PermissionResult.NEUTRAL
    for document in documents:
        policy = IAMPolicy(json.dumps(_as_it_applies(document, resource, request)))
        result = policy.is_action_permitted(action.lower(), resource)
        if result == PermissionResult.DENIED:
            return result
        if result == PermissionResult.PERMITTED:
            verdict = result
    return verdict


# The condition keys of an SDK's call from a function, as the harness knows them: over HTTPS,
# in the region and to the account of the resource it names, with the ReturnValues it asks for.
# A statement on any other key cannot be judged offline (sam_template refuses it), since moto
# reads no condition and would apply it to every call.
KNOWN_CONDITION_KEYS = (
    "aws:securetransport",
    "aws:requestedregion",
    "aws:resourceaccount",
    "dynamodb:returnvalues",
)
STRING_OPERATORS = {
    "StringEquals": (False, False),  # (negated, case ignored)
    "StringNotEquals": (True, False),
    "StringEqualsIgnoreCase": (False, True),
    "StringNotEqualsIgnoreCase": (True, True),
}


def _as_it_applies(document: Any, resource: str, request: dict[str, Any] | None = None) -> Any:
    """The document as it applies to a call on `resource`, in what moto reads:
    - its actions in lower case ("The prefix and the action name are case insensitive", IAM
      JSON policy elements: Action; moto compares them as written);
    - a statement whose condition the call does not meet left out, and one whose condition it
      meets kept without it (moto reads no condition);
    - a NotResource read here (moto lets any statement without Resource through)."""
    if not isinstance(document, dict):
        return document
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return document
    context = call_context(resource, request)
    applied = []
    for statement in statements:
        if not isinstance(statement, dict):
            applied.append(statement)
            continue
        statement = dict(statement)
        if "Condition" in statement:
            holds = condition_holds(statement["Condition"], context)
            if holds is False:
                continue
            if holds:
                del statement["Condition"]
        if "NotResource" in statement:
            if names_resource(resource, statement.pop("NotResource")):
                continue
            statement["Resource"] = "*"
        for key in ("Action", "NotAction"):
            value = statement.get(key)
            if isinstance(value, str):
                statement[key] = value.lower()
            elif isinstance(value, list):
                statement[key] = [v.lower() if isinstance(v, str) else v for v in value]
        applied.append(statement)
    return {**document, "Statement": applied}


def call_context(resource: str, request: dict[str, Any] | None = None) -> dict[str, str | None]:
    """The condition keys of a function's SDK call on `resource` (KNOWN_CONDITION_KEYS), None
    for a key the call does not have: an account for "*", ReturnValues where it asks none."""
    parts = resource.split(":")
    returns = (request or {}).get("ReturnValues")
    return {
        "aws:securetransport": "true",
        "aws:requestedregion": parts[3] if len(parts) > 3 else "",
        "aws:resourceaccount": (parts[4] or None) if len(parts) > 4 else None,
        "dynamodb:returnvalues": returns if isinstance(returns, str) else None,
    }


def condition_holds(condition: Any, context: dict[str, str | None]) -> bool | None:
    """Whether a Condition holds for a call with `context`'s keys; None where it names a key or
    an operator the harness does not judge.

    A key the call does not have matches no value: a condition on it is false, but a negated
    one (StringNotEquals...) is true, and so is one ...IfExists (IAM JSON policy elements:
    condition operators).
    """
    if not isinstance(condition, dict):
        return None
    for operator, tests in condition.items():
        base = str(operator).removesuffix("IfExists")
        if not isinstance(tests, dict):
            return None
        for key, wanted in tests.items():
            if str(key).lower() not in KNOWN_CONDITION_KEYS:
                return None
            actual = context.get(str(key).lower())
            values = [str(v) for v in (wanted if isinstance(wanted, list) else [wanted])]
            if base == "Bool":
                negated, met = False, actual is not None and actual in (v.lower() for v in values)
            elif base in STRING_OPERATORS:
                negated, ignore_case = STRING_OPERATORS[base]
                fold = str.lower if ignore_case else str
                met = actual is not None and fold(actual) in (fold(v) for v in values)
            elif base in ("StringLike", "StringNotLike"):
                negated = base == "StringNotLike"
                met = actual is not None and any(fnmatch.fnmatchcase(actual, v) for v in values)
            else:
                return None
            if actual is None:
                met = negated or base != operator  # absent: only a negation or IfExists holds
            elif negated:
                met = not met
            if not met:
                return False
    return True


def unjudged_condition(document: Any) -> str | None:
    """A statement of `document` whose condition the harness cannot judge, said as "a Deny on
    <the condition, as JSON>", or None."""
    statements = document.get("Statement") if isinstance(document, dict) else None
    statements = [statements] if isinstance(statements, dict) else statements or []
    absent = dict.fromkeys(KNOWN_CONDITION_KEYS)
    for statement in statements if isinstance(statements, list) else []:
        if not isinstance(statement, dict):
            continue
        condition = statement.get("Condition")
        if condition is not None and condition_holds(condition, absent) is None:
            effect = str(statement.get("Effect"))
            article = "an" if effect[:1] in "AEIOU" else "a"
            return f"{article} {effect} on {json.dumps(condition)}"
    return None


def names_resource(resource: str, patterns: Any) -> bool:
    """Whether `resource` is one of an IAM element's ARNs (with its * and ? wildcards)."""
    patterns = patterns if isinstance(patterns, list) else [patterns]
    return any(isinstance(p, str) and fnmatch.fnmatchcase(resource, p) for p in patterns)


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
            verdict = decide(self.function.policies, action, resource, body)
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
    arn = re.fullmatch(r"arn:aws[a-z-]*:iam::aws:policy(/(?:[\w+=,.@-]+/)*)([\w+=,.@-]+)", policy)
    name = arn.group(2) if arn else policy
    found = _aws_managed_policies().get(name)
    if found is None or (arn and arn.group(1) != found["Path"]):  # its ARN holds its path
        return None
    return found["Document"]


@functools.cache
def _aws_managed_policies() -> dict[str, Any]:
    """moto's copy of AWS's managed policies, by name: read once (over 1,500 of them)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)
