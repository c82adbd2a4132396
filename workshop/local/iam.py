"""IAM for the local functions: their own credentials, and their policies enforced on DynamoDB.

moto's own IAM checks ignore the resource ARN for DynamoDB, so the harness evaluates each call
itself, with moto's policy evaluator, before moto sees it, and refuses it as DynamoDB does.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from workshop.local.sam_template import ACCOUNT_ID
from workshop.types import Function

# moto is imported where it is used: `up` serves its API before it loads (Stack.start), so that a
# first visit's cold start runs meanwhile.
if TYPE_CHECKING:
    from moto.iam.access_control import PermissionResult

# Items in a transaction are authorised as the single-item actions they stand for.
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
# A PartiQL statement is authorised as what it does, on the table (or index) it names: IAM has
# no ExecuteStatement action (DynamoDB's guide, "IAM security policies with PartiQL for
# DynamoDB"). The name is "quoted" or a plain identifier, an index's after the table's and a dot.
_PARTIQL_NAME = r'("(?:[^"]|"")+"|[A-Za-z_]\w*)'
PARTIQL_TARGETS = tuple(
    (
        action,
        re.compile(
            rf"\A\s*(?:exists\s*\(\s*)?{verb}\s+{_PARTIQL_NAME}(?:\s*\.\s*{_PARTIQL_NAME})?",
            re.IGNORECASE | re.DOTALL,
        ),
    )
    for action, verb in (
        ("PartiQLSelect", r"select\b.*?\bfrom"),  # EXISTS(SELECT ...) in a transaction too
        ("PartiQLInsert", r"insert\s+into"),
        ("PartiQLUpdate", r"update"),
        ("PartiQLDelete", r"delete\s+from"),
    )
)
PARTIQL_OPERATIONS = {
    "ExecuteStatement": None,  # the body is one statement
    "BatchExecuteStatement": "Statements",
    "ExecuteTransaction": "TransactStatements",
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


def requested(
    operation: str, body: dict[str, Any], region: str
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """What one DynamoDB request needs to be allowed: (action, resource ARN, the request it
    authorises: a transaction's item, or the whole request) for each."""
    if operation in ("TransactWriteItems", "TransactGetItems"):
        for item in body.get("TransactItems", []):
            ((kind, detail),) = item.items()
            table = _table_arn(detail["TableName"], region)
            # An item has no ReturnValues of its own: the key is absent, not the NONE that
            # DynamoDB's guide gives a PutItem, UpdateItem or DeleteItem call.
            yield f"dynamodb:{TRANSACT_ACTIONS[kind]}", table, {**detail, "ReturnValues": None}
    elif operation in PARTIQL_OPERATIONS:
        field = PARTIQL_OPERATIONS[operation]
        statements = [body] if field is None else body.get(field) or []
        for each in statements:
            yield from _partiql(each, region)
    elif operation in ("BatchGetItem", "BatchWriteItem"):
        for table, asked in body.get("RequestItems", {}).items():
            yield f"dynamodb:{operation}", _table_arn(table, region), _batch_request(asked)
    elif "TableName" in body:
        arn = _table_arn(body["TableName"], region)
        if body.get("IndexName"):
            arn += f"/index/{body['IndexName']}"
        yield f"dynamodb:{operation}", arn, body
    else:  # ListTables and other account-wide actions
        yield f"dynamodb:{operation}", "*", body


def _partiql(request: Any, region: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """What one PartiQL statement needs to be allowed (nothing for one it cannot read, whose
    syntax DynamoDB refuses before any policy is asked)."""
    statement = request.get("Statement") if isinstance(request, dict) else None
    for action, target in PARTIQL_TARGETS:
        found = target.match(statement) if isinstance(statement, str) else None
        if found:
            table, index = found.groups()
            arn = _table_arn(_unquoted(table), region)
            if index:
                arn += f"/index/{_unquoted(index)}"
            yield f"dynamodb:{action}", arn, request
            return


def _unquoted(name: str) -> str:
    """A PartiQL name as DynamoDB reads it: "a""b" is a"b."""
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def _batch_request(asked: Any) -> dict[str, Any]:
    """A batch's requests on one table, as one request that names what they all name: for
    dynamodb:Attributes."""
    if isinstance(asked, dict):  # BatchGetItem's: its keys, and what to read of them
        keys = asked.get("Keys") or []
        named = {name: None for key in keys if isinstance(key, dict) for name in key}
        return {**{k: v for k, v in asked.items() if k != "Keys"}, "Key": named}
    named = {}
    for each in asked if isinstance(asked, list) else []:  # BatchWriteItem's: puts and deletes
        put, delete = (each.get("PutRequest") or {}), (each.get("DeleteRequest") or {})
        named.update(dict.fromkeys(put.get("Item") or {}), **dict.fromkeys(delete.get("Key") or {}))
    return {"Item": named}


def decide(
    documents: list[Any], action: str, resource: str, request: dict[str, Any] | None = None
) -> PermissionResult:
    """What the policies say of `action` on `resource` (for the call `request`, as sent):
    PERMITTED, DENIED (explicitly) or NEUTRAL (nothing allows it)."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    verdict = PermissionResult.NEUTRAL
    for document in documents:
        policy = IAMPolicy(json.dumps(_as_it_applies(document, action, resource, request)))
        result = policy.is_action_permitted(action.lower(), resource)
        if result == PermissionResult.DENIED:
            return result
        if result == PermissionResult.PERMITTED:
            verdict = result
    return verdict


def for_the_function(document: Any, principals: tuple[str, ...]) -> dict[str, Any]:
    """The statements of a resource's policy whose Principal takes in the function (one of
    `principals`, its role's ARN and its session's, or anyone: "*"), without their Principal,
    as an identity policy holds them. One that names the account (its root, or its id) grants
    nothing on its own: it leaves the call to the account's identity policies (IAM JSON policy
    elements: Principal, AWS account principals)."""
    statements = document.get("Statement") if isinstance(document, dict) else None
    statements = [statements] if isinstance(statements, dict) else statements or []
    applied = []
    for statement in statements if isinstance(statements, list) else []:
        if not isinstance(statement, dict):
            continue
        principal = statement.get("Principal")
        named = principal.get("AWS") if isinstance(principal, dict) else principal
        named = named if isinstance(named, list) else [named]
        if "*" in named or any(p in named for p in principals):
            applied.append({k: v for k, v in statement.items() if k != "Principal"})
    return {**document, "Statement": applied}


def granted_by_resources(
    function: Function, action: str, resource: str, request: dict[str, Any] | None = None
) -> tuple[PermissionResult, str | None]:
    """What the resource policies of the template's tables say of the function's call of
    `action` on `resource`, and the logical id of the table whose policy says it. A table's
    policy governs the table and its indexes, not its stream, which has its own (DynamoDB's API
    reference, PutResourcePolicy: ResourceArn)."""
    from moto.iam.access_control import PermissionResult

    verdict, said_by = PermissionResult.NEUTRAL, None
    for table, (logical_id, document) in function.resource_policies.items():
        if resource != table and not resource.startswith(table + "/index/"):
            continue
        found = decide([document], action, resource, request)
        if found == PermissionResult.DENIED:
            return found, logical_id
        if found == PermissionResult.PERMITTED:
            verdict, said_by = found, logical_id
    return verdict, said_by


def decide_for(
    function: Function, action: str, resource: str, request: dict[str, Any] | None = None
) -> PermissionResult:
    """What the function's policies and the tables' resource policies together say of its call.

    "If either the identity-based policy or the resource-based policy within the same account
    allows the request and the other doesn't, the request is still allowed", and "an explicit
    deny in any of the policies overrides the allow" (IAM's guide, Policy evaluation for
    requests within a single account)."""
    from moto.iam.access_control import PermissionResult

    verdicts = {
        decide(function.policies, action, resource, request),
        granted_by_resources(function, action, resource, request)[0],
    }
    for verdict in (PermissionResult.DENIED, PermissionResult.PERMITTED):
        if verdict in verdicts:
            return verdict
    return PermissionResult.NEUTRAL


# The condition keys of an SDK's call from a function, as the harness knows them: over HTTPS,
# in the region and to the account of the resource it names, made by the function itself (not
# by a service on its behalf: aws:ViaAWSService is false), with the ReturnValues it asks for
# and the attributes it names. A statement on any other key cannot be judged offline
# (sam_template refuses it), since moto reads no condition and would apply it to every call.
KNOWN_CONDITION_KEYS = (
    "aws:securetransport",
    "aws:requestedregion",
    "aws:resourceaccount",
    "aws:viaawsservice",
    "dynamodb:returnvalues",
    "dynamodb:attributes",
)
MULTIVALUED_KEYS = ("dynamodb:attributes",)  # judged only with ForAllValues or ForAnyValue
# "the ReturnValues parameter always has a value (NONE unless otherwise specified)" for these
# (DynamoDB's guide, Using IAM policy conditions for fine-grained access control).
RETURNING_ACTIONS = ("dynamodb:putitem", "dynamodb:updateitem", "dynamodb:deleteitem")
# dynamodb:Attributes: "the attribute names in a request": the top-level names in these fields
# of it (dictionaries keyed by name, a list of names, and expressions).
NAMING_FIELDS = ("Key", "Item", "AttributeUpdates", "Expected")
EXPRESSIONS = (
    "UpdateExpression",
    "ConditionExpression",
    "ProjectionExpression",
    "FilterExpression",
    "KeyConditionExpression",
)
# A name in an expression, or a #placeholder of one; not one after a "." or "]" (a nested
# name), nor a :value. A name followed by "(" is a function's.
EXPRESSION_NAME = re.compile(r"(?<![\w#:.\]])(#?[A-Za-z_]\w*)(\s*\()?")
EXPRESSION_WORDS = frozenset(
    {"set", "remove", "add", "delete", "and", "or", "not", "between", "in"}
)
# The condition operators the harness judges ("Not" in a name makes it a negation).
OPERATORS = frozenset(
    {"Bool", "StringEquals", "StringEqualsIgnoreCase", "StringLike"}
    | {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike"}
)


def _as_it_applies(
    document: Any, action: str, resource: str, request: dict[str, Any] | None = None
) -> Any:
    """The document as it applies to `action` on `resource`, in what moto reads:
    - a statement whose Action (or NotAction) does not cover `action` left out, and one that
      does named by `action` alone: IAM's * and ? wildcards, whatever the case ("The prefix
      and the action name are case insensitive", IAM JSON policy elements: Action), where moto
      compares the case as written and reads [...] as a wildcard too;
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
    context = call_context(action, resource, request)
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
        if "Action" not in statement and "NotAction" not in statement:
            continue  # names no action: IAM refuses such a policy (moto would fail on it)
        negated = "Action" not in statement
        named = statement.pop("NotAction" if negated else "Action")
        if names_action(action, named) == negated:
            continue
        statement["Action"] = action.lower()  # what moto is asked about, below
        applied.append(statement)
    return {**document, "Statement": applied}


def call_context(
    action: str, resource: str, request: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The condition keys of a function's SDK call of `action` on `resource`, as `request` asks
    (KNOWN_CONDITION_KEYS; without a request, what any such call has): None for a key the call
    does not have, an account for "*" say."""
    parts = resource.split(":")
    if request is not None and "ReturnValues" in request:
        returns = request["ReturnValues"] if isinstance(request["ReturnValues"], str) else None
    else:
        returns = "NONE" if action.lower() in RETURNING_ACTIONS else None
    return {
        "aws:securetransport": "true",
        "aws:requestedregion": parts[3] if len(parts) > 3 else "",
        "aws:resourceaccount": (parts[4] or None) if len(parts) > 4 else None,
        "aws:viaawsservice": "false",
        "dynamodb:returnvalues": returns,
        "dynamodb:attributes": None if request is None else attribute_names(request),
    }


def attribute_names(request: dict[str, Any]) -> list[str]:
    """The top-level attribute names a DynamoDB request names (dynamodb:Attributes)."""
    placeholders = request.get("ExpressionAttributeNames") or {}
    found = set(request.get("AttributesToGet") or [])
    for field in NAMING_FIELDS:
        if isinstance(request.get(field), dict):
            found.update(request[field])
    for field in EXPRESSIONS:
        for name, call in EXPRESSION_NAME.findall(str(request.get(field) or "")):
            if not call and name.lower() not in EXPRESSION_WORDS:
                found.add(str(placeholders.get(name, name)))
    return sorted(found)


def condition_holds(condition: Any, context: dict[str, Any]) -> bool | None:
    """Whether a Condition holds for a call with `context`'s keys; None where it names a key or
    an operator the harness does not judge, anywhere in it.

    A key the call does not have matches no value: a condition on it is false, but a negated
    one (StringNotEquals...) is true, and so is one ...IfExists; ForAllValues holds when every
    value of the call's key matches (so when it has none), ForAnyValue when one does (IAM JSON
    policy elements: condition operators, and conditions with multiple context keys or values).
    """
    tests = _tests(condition)
    if tests is None:
        return None
    for qualifier, named, key, values in tests:
        base = named.removesuffix("IfExists")
        negated = "Not" in base
        actual = context.get(key)
        if qualifier:
            each = [_hit(base, value, values) != negated for value in actual or []]
            met = all(each) if qualifier == "ForAllValues" else any(each)
        elif actual is None:
            met = negated or base != named  # absent: only a negation or IfExists holds
        else:
            met = _hit(base, actual, values) != negated
        if not met:
            return False
    return True


def _tests(condition: Any) -> list[tuple[str, str, str, list[str]]] | None:
    """A Condition's tests, (set qualifier, operator, key in lower case, values) each; None if
    one names an operator or a key the harness does not judge."""
    if not isinstance(condition, dict):
        return None
    tests = []
    for operator, pairs in condition.items():
        qualifier, _, named = str(operator).rpartition(":")
        if not isinstance(pairs, dict) or qualifier not in ("", "ForAllValues", "ForAnyValue"):
            return None
        if named.removesuffix("IfExists") not in OPERATORS:
            return None
        for key, wanted in pairs.items():
            key = str(key).lower()
            if key not in KNOWN_CONDITION_KEYS or (key in MULTIVALUED_KEYS) != bool(qualifier):
                return None
            values = [_text(v) for v in (wanted if isinstance(wanted, list) else [wanted])]
            tests.append((qualifier, named, key, values))
    return tests


def _text(value: Any) -> str:
    """A condition's value as the policy's JSON gives it to IAM: a YAML true is "true"."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _hit(operator: str, actual: str, values: list[str]) -> bool:
    """Whether `actual` is one of `values`, as `operator` compares them (negation aside)."""
    if operator == "Bool" or "IgnoreCase" in operator:
        return actual.lower() in (v.lower() for v in values)
    if "Like" in operator:
        return any(_like(actual, v) for v in values)
    return actual in values


def names_action(action: str, patterns: Any) -> bool:
    """Whether an Action element names `action`: IAM's wildcards, the case ignored."""
    patterns = patterns if isinstance(patterns, list) else [patterns]
    return any(isinstance(p, str) and _like(action.lower(), p.lower()) for p in patterns)


def _like(text: str, pattern: str) -> bool:
    """IAM's wildcard match: * any characters, ? one; nothing else is special (fnmatch's
    [...] would be)."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch("".join(parts), text, re.DOTALL) is not None


def unjudged_condition(document: Any) -> str | None:
    """A statement of `document` whose condition the harness cannot judge, said as "a Deny on
    <the condition, as JSON>", or None."""
    statements = document.get("Statement") if isinstance(document, dict) else None
    statements = [statements] if isinstance(statements, dict) else statements or []
    for statement in statements if isinstance(statements, list) else []:
        if not isinstance(statement, dict):
            continue
        condition = statement.get("Condition")
        if condition is not None and _tests(condition) is None:
            effect = str(statement.get("Effect"))
            article = "an" if effect[:1] in "AEIOU" else "a"
            return f"{article} {effect} on {json.dumps(condition)}"
    return None


def names_resource(resource: str, patterns: Any) -> bool:
    """Whether `resource` is one of an IAM element's ARNs (with its * and ? wildcards)."""
    patterns = patterns if isinstance(patterns, list) else [patterns]
    return any(isinstance(p, str) and _like(resource, p) for p in patterns)


class FunctionAuthorizer:
    """Checks the DynamoDB calls made with a function's credentials against its policies."""

    def __init__(self, function: Function, region: str):
        self.function = function
        self.region = region
        self.principal = (
            f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{function.role_name}/{function.name}"
        )

    def __call__(self, target: str, body: dict[str, Any]) -> dict[str, Any] | None:
        from moto.iam.access_control import PermissionResult

        operation = target.rsplit(".", 1)[-1]
        for action, resource, request in requested(operation, body, self.region):
            verdict = decide_for(self.function, action, resource, request)
            if verdict == PermissionResult.PERMITTED:
                continue
            if decide(self.function.policies, action, resource, request) == verdict:
                kind = "an identity-based policy"
            else:
                kind = "a resource-based policy"
            why = (
                f"with an explicit deny in {kind}"
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
