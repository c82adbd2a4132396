"""The names CloudFormation gives the resources of a stack that a template does not name."""

from __future__ import annotations

import hashlib
import string

# The longest name each service takes: CloudFormation shortens a name it makes to fit.
NAME_LIMITS = {
    "AWS::Serverless::Function": 64,
    "AWS::Serverless::SimpleTable": 255,
    "AWS::DynamoDB::Table": 255,
    "AWS::Logs::LogGroup": 512,
}
ROLE_NAME_LIMIT = 64
SUFFIX_LENGTH = 12
SUFFIX_ALPHABET = string.ascii_letters + string.digits


def generated_name(stack_name: str, logical_id: str, limit: int) -> str:
    """The name CloudFormation gives a resource that has no name of its own.

    CloudFormation writes `<stack>-<LogicalId>-<12 random letters and digits>`, such as
    `sam-app-HelloWorldFunction-dOcfAtYoEiGo`, and shortens the stack's name first (then the
    logical id) when that is longer than the service allows. Here the suffix is drawn from the
    stack's name and the logical id, not at random, so that a stack keeps its names from one
    start to the next, as a deployed stack does from one update to the next.
    """
    digest = int.from_bytes(hashlib.sha256(f"{stack_name}/{logical_id}".encode()).digest(), "big")
    suffix = ""
    for _ in range(SUFFIX_LENGTH):
        digest, index = divmod(digest, len(SUFFIX_ALPHABET))
        suffix += SUFFIX_ALPHABET[index]
    room = limit - SUFFIX_LENGTH - 2  # two hyphens
    stack_part = stack_name[: max(room - len(logical_id), room // 2)]
    logical_part = logical_id[: room - len(stack_part)]
    return f"{stack_part}-{logical_part}-{suffix}"
