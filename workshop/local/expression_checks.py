"""DynamoDB's refusals of a request's expressions and their values, where moto fails instead.

moto raises a KeyError on a placeholder that is not defined (`:entri` for `:entry`), and a
ValueError on an unknown function or a wrong number of operands: the local AWS would answer
501, and a function would take its own typo for an outage. DynamoDB refuses such a request
with a ValidationException (400), whose messages are taken from recordings of it:
- an undefined placeholder: "Invalid ConditionExpression: An expression attribute value used
  in expression is not defined; attribute value: :v", with the "1 validation error detected: "
  envelope (nubo-db/dynamodb-conformance, tests/tier3/error-messages/updateItem.test.ts,
  recorded in us-east-1 and eu-west-2, 2026-10; the envelope varies by region); names: "An
  expression attribute name used in the document path is not defined; attribute name: #0"
  (aws/aws-sdk-go-v2#285);
- a function: "Invalid function name; function: f" and "Incorrect number of operands for
  operator or function; operator or function: f, number of operands: n" (architect/dynalite's
  tests, written against DynamoDB: test/scan.js, test/updateItem.js, where a function's name
  is refused before the placeholders inside it); function names are case-sensitive (the
  Developer Guide, "Condition and filter expressions, operators, and functions");
- an empty set among the values: "ExpressionAttributeValues contains invalid value: One or more
  parameter values were invalid: An string set  may not be empty for key :v" (guardian/grid#902).
Placeholders are resolved as each expression is read, so an undefined one is refused before the
unused ones are, as AWS's DAX client, which checks expressions before it sends them, does; the
expressions are read in turn.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = ["refusal"]

ENVELOPE = "1 validation error detected: "
EXPRESSIONS = (
    "KeyConditionExpression",
    "UpdateExpression",
    "ConditionExpression",
    "FilterExpression",
    "ProjectionExpression",
)
# The functions of condition and filter expressions, and how many operands each takes (the
# Developer Guide's "Condition and filter expressions, operators, and functions").
CONDITION_FUNCTIONS = {
    "attribute_exists": 1,
    "attribute_not_exists": 1,
    "attribute_type": 2,
    "begins_with": 2,
    "contains": 2,
    "size": 1,
}
KEYWORDS = {"AND", "OR", "NOT", "IN", "BETWEEN"}  # may stand before a parenthesis too
EMPTY_SET = {"SS": "An string set  may not be empty", "NS": "An number set  may not be empty"}
_TOKEN = re.compile(r"(?P<placeholder>[:#][A-Za-z0-9_]+)|(?P<function>[A-Za-z_][A-Za-z0-9_]*)\s*\(")


def refusal(operation: str, request: dict[str, Any]) -> str | None:
    """The ValidationException's message DynamoDB answers `request` with, if it is one of these."""
    for part in _parts(operation, request):
        message = _refusal(part)
        if message is not None:
            return message
    return None


def _parts(operation: str, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The request, or each item of a transaction: each has expressions and values of its own."""
    if operation != "TransactWriteItems":
        yield request
        return
    items = request.get("TransactItems")
    for item in items if isinstance(items, list) else ():
        for action in item.values() if isinstance(item, dict) else ():
            if isinstance(action, dict):
                yield action


def _refusal(part: dict[str, Any]) -> str | None:
    values = part.get("ExpressionAttributeValues")
    values = values if isinstance(values, dict) else {}
    names = part.get("ExpressionAttributeNames")
    names = names if isinstance(names, dict) else {}
    for placeholder, value in values.items():
        kind = next(iter(value), None) if isinstance(value, dict) and len(value) == 1 else None
        if kind in EMPTY_SET and value[kind] == []:
            return (
                "ExpressionAttributeValues contains invalid value: One or more parameter values "
                f"were invalid: {EMPTY_SET[kind]} for key {placeholder}"
            )
    for parameter in EXPRESSIONS:
        expression = part.get(parameter)
        if isinstance(expression, str):
            message = _undefined_or_misused(expression, parameter, names, values)
            if message is not None:
                return f"{ENVELOPE}Invalid {parameter}: {message}"
    return None


def _undefined_or_misused(
    expression: str, parameter: str, names: dict[str, Any], values: dict[str, Any]
) -> str | None:
    """What is wrong first: a function (its name, then its operands), as the expression is
    parsed; then a placeholder, as it is resolved; each kind from left to right."""
    functions: list[str] = []
    placeholders: list[str] = []
    for token in _TOKEN.finditer(expression):
        placeholder, function = token.group("placeholder"), token.group("function")
        if placeholder and placeholder[0] == ":" and placeholder not in values:
            placeholders.append(
                "An expression attribute value used in expression is not defined; "
                f"attribute value: {placeholder}"
            )
        elif placeholder and placeholder[0] == "#" and placeholder not in names:
            placeholders.append(
                "An expression attribute name used in the document path is not defined; "
                f"attribute name: {placeholder}"
            )
        elif (
            function
            and function.upper() not in KEYWORDS
            and parameter in ("ConditionExpression", "FilterExpression")
        ):
            operands = _operands(expression, token.end())
            if function not in CONDITION_FUNCTIONS:
                functions.append(f"Invalid function name; function: {function}")
            elif operands != CONDITION_FUNCTIONS[function]:
                functions.append(
                    "Incorrect number of operands for operator or function; operator or "
                    f"function: {function}, number of operands: {operands}"
                )
    return next(iter(functions + placeholders), None)


def _operands(expression: str, start: int) -> int:
    """How many operands the call whose operands begin at `start` has."""
    depth, commas, empty = 0, 0, True
    for char in expression[start:]:
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                break
            depth -= 1
        elif char == "," and depth == 0:
            commas += 1
        if not char.isspace() and char != ")":
            empty = False
    return 0 if empty else commas + 1
