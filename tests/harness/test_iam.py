"""IAM on the local AWS: a function may make only the DynamoDB calls its policies allow."""

from __future__ import annotations

import json
import shutil

import pytest
from botocore.exceptions import ClientError
from moto.iam.access_control import PermissionResult

from tests.helpers import PROBE_APP, as_the_function
from workshop.errors import WorkshopError
from workshop.local.iam import (
    FunctionAuthorizer,
    attribute_names,
    call_context,
    condition_holds,
    decide,
    decide_for,
    for_the_function,
    requested,
    unjudged_condition,
)
from workshop.local.persistence import REPLAYED
from workshop.local.physical_names import generated_name
from workshop.local.sam_template import load
from workshop.types import Function

# The narrowed stack's names, as CloudFormation makes them.
ROLE = generated_name("narrow", "ProbeFunctionRole", 64)
FUNCTION = generated_name("narrow", "ProbeFunction", 64)
TABLE = generated_name("narrow", "ItemsTable", 255)
NARROW = """
      Policies:
        - Statement:
            - Effect: Allow
              Action: dynamodb:GetItem
              Resource: !GetAtt ItemsTable.Arn
"""


@pytest.fixture
def narrowed(tmp_path, make_stack):
    """The probe app, its policy narrowed to GetItem on its own table."""
    shutil.copytree(PROBE_APP, tmp_path / "app")
    template = tmp_path / "app" / "template.yaml"
    text = template.read_text(encoding="utf-8")
    crud = (
        "      Policies:\n        - DynamoDBCrudPolicy:\n            TableName: !Ref ItemsTable\n"
    )
    assert crud in text
    template.write_text(text.replace(crud, NARROW.lstrip("\n")), encoding="utf-8")
    return make_stack(tmp_path / "app", stack_name="narrow")


def test_a_call_the_policy_does_not_allow_is_refused_as_dynamodb_does(narrowed):
    inv = narrowed.invoke({"action": "add"})
    assert inv.error["errorType"] == "ClientError"
    assert inv.error["errorMessage"] == (
        "An error occurred (AccessDeniedException) when calling the UpdateItem operation: "
        f"User: arn:aws:sts::123456789012:assumed-role/{ROLE}/"
        f"{FUNCTION} is not authorized to perform: dynamodb:UpdateItem on resource: "
        f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE} because no "
        "identity-based policy allows the dynamodb:UpdateItem action"
    )
    assert "AccessDeniedException" in inv.log_text  # the traceback in CloudWatch Logs says so


def test_what_the_policy_allows_goes_through(narrowed):
    narrowed.table().put_item(Item={"pk": "shared", "hits": 5})  # the harness itself is not checked
    inv = narrowed.invoke({"action": "read"})
    assert json.loads(inv.payload["body"]) == {"hits": 5}


def test_a_function_cannot_pass_for_a_replayed_write(narrowed):
    """A restart replays journaled writes past the function's hooks, marked with a token of the
    local AWS's own: a function that sends the header itself is checked as any call is."""
    client = as_the_function(narrowed)

    def forge(request, **_):
        request.headers[REPLAYED] = "1"

    client.meta.events.register("before-sign.dynamodb", forge)
    with pytest.raises(ClientError, match="AccessDeniedException"):
        client.delete_table(TableName=TABLE)
    assert TABLE in narrowed.aws.client("dynamodb").list_tables()["TableNames"]


def test_the_policy_covers_only_its_resource(narrowed):
    inv = narrowed.invoke({"action": "read", "table": "some-other-table"})
    assert "AccessDeniedException" in inv.error["errorMessage"]
    assert "table/some-other-table" in inv.error["errorMessage"]


def test_sam_policy_templates_are_expanded_and_enforced(probe):
    assert json.loads(probe.invoke({"action": "add"}).payload["body"]) == {"hits": 1}
    inv = probe.invoke({"action": "read", "table": "some-other-table"})
    assert "not authorized to perform: dynamodb:GetItem" in inv.error["errorMessage"]


def test_an_action_is_matched_whatever_its_case_and_a_resource_is_not():
    """IAM JSON policy elements, Action: "The prefix and the action name are case insensitive";
    ARNs are not."""
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/Items"
    lower = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "DynamoDB:updateitem", "Resource": table}],
    }
    assert decide([lower], "dynamodb:UpdateItem", table) == PermissionResult.PERMITTED
    assert decide([lower], "dynamodb:UpdateItem", table.lower()) == PermissionResult.NEUTRAL


def test_a_deny_of_plain_http_does_not_apply_to_an_sdk_call():
    """A Deny on aws:SecureTransport false (a common guard) does not meet an SDK's call, which
    is HTTPS on AWS; moto read no condition, and applied it to every call."""
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/Items"
    allow = {"Effect": "Allow", "Action": "dynamodb:UpdateItem", "Resource": table}
    guard = {
        "Effect": "Deny",
        "Action": "dynamodb:*",
        "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    document = {"Version": "2012-10-17", "Statement": [allow, guard]}
    assert decide([document], "dynamodb:UpdateItem", table) == PermissionResult.PERMITTED
    guard["Condition"]["Bool"]["aws:SecureTransport"] = "true"  # a Deny of HTTPS: it applies
    assert decide([document], "dynamodb:UpdateItem", table) == PermissionResult.DENIED


def test_a_condition_that_the_call_is_direct_is_judged():
    """aws:ViaAWSService is false for the function's own SDK calls, which no service makes on
    its behalf: an Allow held to direct calls allows them, a Deny of direct calls denies them."""
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/Items"
    direct = {
        "Effect": "Allow",
        "Action": "dynamodb:UpdateItem",
        "Resource": table,
        "Condition": {"Bool": {"aws:ViaAWSService": "false"}},
    }
    document = {"Version": "2012-10-17", "Statement": [direct]}
    assert unjudged_condition(document) is None
    assert decide([document], "dynamodb:UpdateItem", table) == PermissionResult.PERMITTED
    direct["Condition"]["Bool"]["aws:ViaAWSService"] = True  # a YAML true: only via a service
    assert decide([document], "dynamodb:UpdateItem", table) == PermissionResult.NEUTRAL


def test_a_partiql_statement_is_authorised_as_what_it_does_on_its_table():
    """IAM has no ExecuteStatement action: a statement needs dynamodb:PartiQLSelect, Insert,
    Update or Delete on the table or index it names (DynamoDB's guide, "IAM security policies
    with PartiQL for DynamoDB"), each statement of a batch or transaction its own."""
    tables = "arn:aws:dynamodb:us-east-1:123456789012:table/"
    for operation, body, needed in (
        (
            "ExecuteStatement",
            {"Statement": 'UPDATE "my-table" SET n = n + 1 WHERE id = ? RETURNING ALL NEW *'},
            [("dynamodb:PartiQLUpdate", tables + "my-table")],
        ),
        (
            "ExecuteStatement",
            {"Statement": 'select * from Items."by-day" where d = ?'},
            [("dynamodb:PartiQLSelect", tables + "Items/index/by-day")],
        ),
        (
            "BatchExecuteStatement",
            {
                "Statements": [
                    {"Statement": "INSERT INTO Items VALUE {'id': ?}"},
                    {"Statement": 'DELETE FROM "Items" WHERE id = ?'},
                ]
            },
            [
                ("dynamodb:PartiQLInsert", tables + "Items"),
                ("dynamodb:PartiQLDelete", tables + "Items"),
            ],
        ),
        (
            "ExecuteTransaction",
            {"TransactStatements": [{"Statement": 'EXISTS(SELECT * FROM "Items" WHERE id = ?)'}]},
            [("dynamodb:PartiQLSelect", tables + "Items")],
        ),
    ):
        asked = [(action, arn) for action, arn, _ in requested(operation, body, "us-east-1")]
        assert asked == needed, operation


def test_a_condition_on_the_call_s_return_values_or_account_is_judged():
    """dynamodb:ReturnValues is the request's, NONE where a write asks none (DynamoDB's guide),
    absent from a read; aws:ResourceAccount the resource ARN's. A key the call lacks matches
    nothing: a negation holds, and so does ...IfExists (IAM's guide)."""
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/Items"
    elsewhere = table.replace("123456789012", "210987654321")
    returns = {
        "Effect": "Allow",
        "Action": ["dynamodb:UpdateItem", "dynamodb:GetItem"],
        "Resource": "*",
        "Condition": {"StringEquals": {"dynamodb:ReturnValues": ["NONE", "UPDATED_OLD"]}},
    }
    document = {"Version": "2012-10-17", "Statement": [returns]}
    for action, asked, verdict in (
        ("dynamodb:UpdateItem", {"ReturnValues": "UPDATED_NEW"}, PermissionResult.NEUTRAL),
        ("dynamodb:UpdateItem", {"ReturnValues": "UPDATED_OLD"}, PermissionResult.PERMITTED),
        ("dynamodb:UpdateItem", {}, PermissionResult.PERMITTED),
        ("dynamodb:GetItem", {}, PermissionResult.NEUTRAL),
    ):
        assert decide([document], action, table, asked) == verdict
    returns["Condition"] = {"StringEqualsIfExists": returns["Condition"]["StringEquals"]}
    assert decide([document], "dynamodb:GetItem", table, {}) == PermissionResult.PERMITTED
    guard = {
        "Effect": "Deny",
        "Action": "dynamodb:*",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:ResourceAccount": "123456789012"}},
    }
    allow = {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}
    document = {"Version": "2012-10-17", "Statement": [allow, guard]}
    assert decide([document], "dynamodb:UpdateItem", table) == PermissionResult.PERMITTED
    assert decide([document], "dynamodb:UpdateItem", elsewhere) == PermissionResult.DENIED
    assert decide([document], "dynamodb:ListTables", "*") == PermissionResult.DENIED  # no account


def test_a_condition_on_the_attributes_a_call_names_is_judged():
    """dynamodb:Attributes: the top-level names of a request (its key, its expressions' names
    and #placeholders), compared with ForAllValues or ForAnyValue."""
    update = {
        "TableName": "Items",
        "Key": {"session_id": {"S": "s"}},
        "UpdateExpression": "SET #a.b = if_not_exists(#a.b, :zero) + :one, c[0] = :x REMOVE d",
        "ConditionExpression": "attribute_exists(session_id) AND NOT contains(e, :x)",
        "ExpressionAttributeNames": {"#a": "alpha"},
    }
    assert attribute_names(update) == ["alpha", "c", "d", "e", "session_id"]
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/Items"
    counted = {
        "TableName": "Items",
        "Key": {"session_id": {"S": "s"}},
        "UpdateExpression": "ADD visit_count :one",
    }
    allowed = ["session_id", "visit_count"]
    statement = {
        "Effect": "Allow",
        "Action": "dynamodb:UpdateItem",
        "Resource": table,
        "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": allowed}},
    }
    document = {"Version": "2012-10-17", "Statement": [statement]}
    assert decide([document], "dynamodb:UpdateItem", table, counted) == PermissionResult.PERMITTED
    more = {**counted, "UpdateExpression": "ADD visit_count :one, counted_requests :e"}
    assert decide([document], "dynamodb:UpdateItem", table, more) == PermissionResult.NEUTRAL
    statement["Condition"] = {"ForAnyValue:StringEquals": {"dynamodb:Attributes": ["secret"]}}
    assert decide([document], "dynamodb:UpdateItem", table, counted) == PermissionResult.NEUTRAL


def test_a_condition_is_judged_whole_its_wildcards_as_iam_reads_them():
    """A key the harness cannot judge anywhere in a Condition makes it unjudged, even after a
    test that fails (a call that met that test would be allowed as if the rest held); StringLike
    knows * and ? only; a batch names its items' attributes, and a transaction's item has no
    ReturnValues of its own."""
    region = {"Bool": {"aws:SecureTransport": "false"}}
    unknown = {**region, "StringEquals": {"aws:SourceVpc": "vpc-1"}}
    assert condition_holds(region, call_context("dynamodb:GetItem", "*")) is False
    assert condition_holds(unknown, call_context("dynamodb:GetItem", "*")) is None
    document = {
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": unknown}]
    }
    assert unjudged_condition(document) == f"an Allow on {json.dumps(unknown)}"
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/Items"
    like = {"StringLike": {"aws:RequestedRegion": "us-[e]ast-1"}}
    assert condition_holds(like, call_context("dynamodb:GetItem", table)) is False
    batch = {"RequestItems": {"Items": [{"PutRequest": {"Item": {"k": {"S": "x"}, "secret": {}}}}]}}
    ((_, _, request),) = requested("BatchWriteItem", batch, "us-east-1")
    assert attribute_names(request) == ["k", "secret"]
    transaction = {"TransactItems": [{"Update": {"TableName": "Items", "Key": {}}}]}
    ((action, resource, request),) = requested("TransactWriteItems", transaction, "us-east-1")
    assert call_context(action, resource, request)["dynamodb:returnvalues"] is None
    assert call_context(action, resource, {})["dynamodb:returnvalues"] == "NONE"


def test_a_deny_with_not_resource_spares_only_what_it_names():
    """NotResource: the Deny applies to every other resource (moto let any statement without
    Resource through, a Deny included)."""
    own = "arn:aws:dynamodb:us-east-1:123456789012:table/Items"
    other = "arn:aws:dynamodb:us-east-1:123456789012:table/Others"
    guard = {"Effect": "Deny", "Action": "dynamodb:*", "NotResource": own}
    allow = {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}
    document = {"Version": "2012-10-17", "Statement": [allow, guard]}
    assert decide([document], "dynamodb:UpdateItem", own) == PermissionResult.PERMITTED
    assert decide([document], "dynamodb:UpdateItem", other) == PermissionResult.DENIED


def test_a_condition_the_harness_cannot_judge_is_named(tmp_path):
    """moto reads no condition: a Deny on aws:SourceIp would refuse every call here."""
    app = shutil.copytree(PROBE_APP, tmp_path / "app")
    template = app / "template.yaml"
    crud = (
        "      Policies:\n        - DynamoDBCrudPolicy:\n            TableName: !Ref ItemsTable\n"
    )
    deny = (
        "      Policies:\n        - Statement:\n            - Effect: Deny\n"
        "              Action: dynamodb:*\n              Resource: '*'\n"
        "              Condition: {IpAddress: {aws:SourceIp: 10.0.0.0/8}}\n"
    )
    template.write_text(template.read_text(encoding="utf-8").replace(crud, deny), encoding="utf-8")
    with pytest.raises(WorkshopError, match=r"uses a Deny on .*aws:SourceIp"):
        load(template, stack_name="t")
    # An Allow too: moto would apply it to every call, whatever its condition.
    allow = deny.replace("Deny", "Allow").replace(
        "{IpAddress: {aws:SourceIp: 10.0.0.0/8}}", "{StringEquals: {dynamodb:Select: COUNT}}"
    )
    template.write_text(template.read_text(encoding="utf-8").replace(deny, allow), encoding="utf-8")
    with pytest.raises(WorkshopError, match=r"uses an Allow on .*dynamodb:Select"):
        load(template, stack_name="t")


OWN_TABLE = f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}"


def _with_table_policy(identity: list, statements: list) -> Function:
    """The narrowed stack's function, with `identity` policies, and a table policy of
    `statements` that name its role."""
    role = f"arn:aws:iam::123456789012:role/{ROLE}"
    document = {"Version": "2012-10-17", "Statement": statements}
    granted = for_the_function(document, (role,))
    return Function(
        "ProbeFunction",
        FUNCTION,
        f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}",
        PROBE_APP / "src",
        "app.handler",
        "python3.11",
        3,
        128,
        {},
        identity,
        ROLE,
        resource_policies={OWN_TABLE: ("ItemsTable", granted)} if granted["Statement"] else {},
    )


def test_a_table_s_policy_that_names_the_role_grants_on_its_own():
    """Within one account an Allow in the identity or the resource policy suffices, and a Deny
    in either wins (IAM's guide, Policy evaluation for requests within a single account)."""
    role = f"arn:aws:iam::123456789012:role/{ROLE}"
    scan = {"Effect": "Allow", "Principal": {"AWS": role}, "Action": "dynamodb:*", "Resource": "*"}
    function = _with_table_policy([], [scan])
    assert decide_for(function, "dynamodb:Scan", OWN_TABLE) == PermissionResult.PERMITTED
    # Its indexes too (the table's policy governs them), not another table, nor its stream.
    index = OWN_TABLE + "/index/any"
    assert decide_for(function, "dynamodb:Query", index) == PermissionResult.PERMITTED
    other = OWN_TABLE.replace(TABLE, "other")
    assert decide_for(function, "dynamodb:Scan", other) == PermissionResult.NEUTRAL
    stream = OWN_TABLE + "/stream/2026-01-01T00:00:00.000"
    assert decide_for(function, "dynamodb:GetRecords", stream) == PermissionResult.NEUTRAL
    # The account's root grants nothing on its own.
    root = {**scan, "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}
    assert _with_table_policy([], [root]).resource_policies == {}
    # A Deny in the table's policy refuses what the role's own policy allows.
    allow = {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}
    deny = {**scan, "Effect": "Deny", "Principal": "*", "Action": "dynamodb:DeleteItem"}
    function = _with_table_policy([{"Statement": [allow]}], [deny])
    assert decide_for(function, "dynamodb:DeleteItem", OWN_TABLE) == PermissionResult.DENIED
    assert decide_for(function, "dynamodb:GetItem", OWN_TABLE) == PermissionResult.PERMITTED
    refused = FunctionAuthorizer(function, "us-east-1")(
        "DynamoDB_20120810.DeleteItem", {"TableName": TABLE, "Key": {}}
    )
    assert refused["Message"].endswith("with an explicit deny in a resource-based policy")
