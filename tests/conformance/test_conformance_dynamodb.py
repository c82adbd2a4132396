"""DynamoDB's answers while it throttles or fails, as real calls recorded them.

References, each case naming its own: errors quoted from real DynamoDB in public issues; the
AWS SDK's own service model (botocore's dynamodb 2012-08-10 service-2.json: the members of
ThrottlingException and ProvisionedThroughputExceededException); the DynamoDB Developer
Guide, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
TroubleshootingThrottling.html and .../APIReference/API_ThrottlingReason.html.
"""

from __future__ import annotations

import importlib.util
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from workshop.local.local_aws import LocalAWS

ROOT = Path(__file__).resolve().parents[2]
ON_DEMAND_MESSAGE = (
    "Throughput exceeds the current capacity of your table or index. DynamoDB is "
    "automatically scaling your table or index so please try again shortly. If exceptions "
    "persist, check if you have a hot key: "
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"
)
PROVISIONED_MESSAGE = (
    "The level of configured provisioned throughput for the table was exceeded. Consider "
    "increasing your provisioning level with the UpdateTable API."
)
KEY = [{"AttributeName": "pk", "KeyType": "HASH"}]
ATTRIBUTES = [{"AttributeName": "pk", "AttributeType": "S"}]


@pytest.fixture(scope="module")
def aws():
    """The embedded AWS with two tables, deleted again at the end: moto keeps one state for
    the whole process, and a worker that runs this module's tests apart (another module's in
    between) sets this fixture up again."""
    aws = LocalAWS().start()
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(
        TableName="on-demand",
        KeySchema=KEY,
        AttributeDefinitions=ATTRIBUTES,
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName="provisioned",
        KeySchema=KEY,
        AttributeDefinitions=ATTRIBUTES,
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
    )
    yield aws
    for table in ("on-demand", "provisioned"):
        dynamodb.delete_table(TableName=table)
    aws.stop()


def _failure(aws: LocalAWS, kind: str, call: str, table: str, attempts: int = 1) -> ClientError:
    client = aws.client(
        "dynamodb", config=Config(retries={"mode": "standard", "total_max_attempts": attempts})
    )
    arguments = {"TableName": table, "Key": {"pk": {"S": "a"}}}
    with aws.dynamodb_outage(kind), pytest.raises(ClientError) as failed:
        getattr(client, call)(**arguments)
    return failed.value


def test_an_on_demand_table_throttled_says_throttling_exception(aws):
    """praetorian-inc/chariot-ui#684 and cowinapi/developer.cowin#151 (real DynamoDB, on-demand
    tables): 400 ThrottlingException, "Throughput exceeds the current capacity of your table
    or index. DynamoDB is automatically scaling ..."; the service model's ThrottlingException
    lists why in `throttlingReasons` (reason ResourceType+OperationType+LimitType,
    API_ThrottlingReason.html; KeyRangeThroughputExceeded applies to on-demand tables,
    TroubleshootingThrottling.html)."""
    error = _failure(aws, "throttled", "update_item", "on-demand")
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error.response["Error"] == {"Code": "ThrottlingException", "Message": ON_DEMAND_MESSAGE}
    assert error.response["throttlingReasons"] == [
        {
            "reason": "TableWriteKeyRangeThroughputExceeded",
            "resource": "arn:aws:dynamodb:us-east-1:123456789012:table/on-demand",
        }
    ]
    read = _failure(aws, "throttled", "get_item", "on-demand")
    assert read.response["throttlingReasons"][0]["reason"] == "TableReadKeyRangeThroughputExceeded"


def test_a_provisioned_table_throttled_says_provisioned_throughput_exceeded(aws):
    """benhutchins/dyngoose#668 (real DynamoDB, a provisioned table): "The level of configured
    provisioned throughput for the table was exceeded. Consider increasing your provisioning
    level with the UpdateTable API."; the service model's ProvisionedThroughputExceeded
    Exception carries `ThrottlingReasons` (TableWriteProvisionedThroughputExceeded)."""
    error = _failure(aws, "throttled", "update_item", "provisioned")
    assert error.response["Error"] == {
        "Code": "ProvisionedThroughputExceededException",
        "Message": PROVISIONED_MESSAGE,
    }
    reasons = error.response["ThrottlingReasons"]
    assert [reason["reason"] for reason in reasons] == ["TableWriteProvisionedThroughputExceeded"]


def test_unavailable_is_a_503_with_an_html_body(aws):
    """aws/aws-sdk-js#1379 (real DynamoDB, the us-east-1 outage of 2017-02-28): status 503,
    body `<html><body><b>Http/1.1 Service Unavailable</b></body> </html>`; aws/aws-sdk-js-v3
    #4683 and #6718 (2023, 2024): DynamoDB's 503s still come as HTML. botocore names such an
    error by its status."""
    request = urllib.request.Request(
        aws.endpoint_url,
        data=json.dumps({"TableName": "on-demand", "Key": {"pk": {"S": "a"}}}).encode(),
        headers={"X-Amz-Target": "DynamoDB_20120810.GetItem"},
    )
    with aws.dynamodb_outage("unavailable"), pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(request, timeout=10)
    assert failed.value.code == 503
    assert failed.value.read() == b"<html><body><b>Http/1.1 Service Unavailable</b></body> </html>"
    error = _failure(aws, "unavailable", "get_item", "on-demand")
    assert error.response["Error"] == {"Code": "503", "Message": "Service Unavailable"}


@pytest.mark.parametrize(
    ("kind", "table"),
    [("throttled", "on-demand"), ("throttled", "provisioned"), ("unavailable", "on-demand")],
)
def test_the_sdk_retries_each_outage(aws, kind, table):
    """https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
    (error retries): throttling errors and 5xx are retried by the AWS SDKs, so with two
    attempts allowed the error reports both."""
    error = _failure(aws, kind, "update_item", table, attempts=2)
    assert error.response["ResponseMetadata"]["RetryAttempts"] == 1


def _final_app(monkeypatch):
    """The final counter's handler module (src/app.py), imported as Lambda imports it."""
    monkeypatch.setenv("STATE_TABLE_NAME", "on-demand")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    spec = importlib.util.spec_from_file_location("final_app", ROOT / "src" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("kind", "table"),
    [("throttled", "on-demand"), ("throttled", "provisioned"), ("unavailable", "on-demand")],
)
def test_the_final_counter_tells_each_outage_from_a_bug(aws, monkeypatch, kind, table):
    """The errors above, as botocore raises them, are what src/app.py's dynamodb_failed must
    call an outage (503 and try again), not a bug."""
    app = _final_app(monkeypatch)
    assert app.dynamodb_failed(_failure(aws, kind, "update_item", table))


# A number for the table's string key, in each request that names an item by its key.
NUMBER_KEY = {"pk": {"N": "7"}}
KEYED_CALLS = {
    "get_item": {"TableName": "on-demand", "Key": NUMBER_KEY},
    "delete_item": {"TableName": "on-demand", "Key": NUMBER_KEY},
    "update_item": {
        "TableName": "on-demand",
        "Key": NUMBER_KEY,
        "UpdateExpression": "ADD visit_count :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    },
    "batch_get_item": {"RequestItems": {"on-demand": {"Keys": [NUMBER_KEY]}}},
    "batch_write_item": {"RequestItems": {"on-demand": [{"DeleteRequest": {"Key": NUMBER_KEY}}]}},
}


@pytest.mark.parametrize("call", KEYED_CALLS)
def test_a_key_of_another_type_than_the_schema_s_is_refused(aws, call):
    """ministackorg/ministack#1432 (measured on real DynamoDB, August 2026): a key attribute
    given as N where the table declares S is refused, `ValidationException: The provided key
    element does not match the schema`, by GetItem, UpdateItem and BatchWriteItem alike; not
    answered as if no item had that key. The same key as a string is answered."""
    client = aws.client("dynamodb", config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError) as refused:
        getattr(client, call)(**KEYED_CALLS[call])
    assert refused.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "The provided key element does not match the schema",
    }
    right = json.loads(json.dumps(KEYED_CALLS[call]).replace('{"N": "7"}', '{"S": "7"}'))
    getattr(client, call)(**right)
    client.delete_item(TableName="on-demand", Key={"pk": {"S": "7"}})


def test_an_item_with_a_key_of_another_type_is_refused_by_its_type(aws):
    """ministackorg/ministack#1432 (real DynamoDB): PutItem says which key has which type."""
    client = aws.client("dynamodb")
    with pytest.raises(ClientError) as refused:
        client.put_item(TableName="on-demand", Item=NUMBER_KEY)
    assert refused.value.response["Error"]["Message"] == (
        "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N"
    )


def test_a_deleted_table_is_answered_as_deleting_and_then_is_gone(aws):
    """DeleteTable, in the DynamoDB API Reference: after the request the table is in the
    DELETING state until DynamoDB completes the deletion. The SDK checks the answer's CRC32:
    one attempt suffices."""
    client = aws.client("dynamodb", config=Config(retries={"total_max_attempts": 1}))
    client.create_table(
        TableName="doomed",
        KeySchema=KEY,
        AttributeDefinitions=ATTRIBUTES,
        BillingMode="PAY_PER_REQUEST",
    )
    answer = client.delete_table(TableName="doomed")
    assert answer["TableDescription"]["TableName"] == "doomed"
    assert answer["TableDescription"]["TableStatus"] == "DELETING"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_table(TableName="doomed")


@pytest.mark.parametrize("call", ["update_item", "batch_get_item", "batch_write_item"])
def test_consumed_capacity_comes_only_when_asked_for(aws, call):
    """ReturnConsumedCapacity, in the DynamoDB API Reference: NONE, the default, means no
    ConsumedCapacity in the response; TOTAL asks for it."""
    client = aws.client("dynamodb", config=Config(retries={"total_max_attempts": 1}))
    right = json.loads(json.dumps(KEYED_CALLS[call]).replace('{"N": "7"}', '{"S": "7"}'))
    assert "ConsumedCapacity" not in getattr(client, call)(**right)
    assert "ConsumedCapacity" in getattr(client, call)(**right, ReturnConsumedCapacity="TOTAL")
    client.delete_item(TableName="on-demand", Key={"pk": {"S": "7"}})


def test_a_string_set_of_request_ids_behaves_as_the_developer_guide_says(aws):
    """What the final counter relies on, per the DynamoDB Developer Guide (Update expressions:
    ADD and DELETE on sets; condition functions: contains on a set) and the API Reference
    (AttributeValueUpdate: a set must not be empty): ADD makes the set, then adds to it;
    `contains` on a set asks for an element; DELETE subtracts the elements named, those present;
    an empty set in a request is refused."""
    table = aws.resource("dynamodb").Table("on-demand")
    key = {"pk": "set-of-ids"}

    def count(entry: str) -> tuple:
        attributes = table.update_item(
            Key=key,
            UpdateExpression="ADD n :one, ids :entries",
            ConditionExpression="attribute_not_exists(ids) OR NOT contains(ids, :entry)",
            ExpressionAttributeValues={":one": 1, ":entry": entry, ":entries": {entry}},
            ReturnValues="UPDATED_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )["Attributes"]
        return attributes["n"], attributes["ids"]

    assert count("a") == (1, {"a"})
    assert count("b") == (2, {"a", "b"})
    with pytest.raises(ClientError) as again:
        count("a")
    assert again.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert again.value.response["Item"]["n"] == {"N": "2"}
    forget = {"UpdateExpression": "DELETE ids :old", "ReturnValues": "ALL_NEW"}
    kept = table.update_item(Key=key, ExpressionAttributeValues={":old": {"a", "z"}}, **forget)
    assert kept["Attributes"] == {"pk": "set-of-ids", "n": 2, "ids": {"b"}}
    # An empty set, as a forgetting with nothing to forget would send it, in a plain client's
    # own form (the table's client would serialise {"SS": []} as a map): refused as on AWS
    # (guardian/grid#902).
    with pytest.raises(ClientError) as empty:
        aws.client("dynamodb").update_item(
            TableName="on-demand",
            Key={"pk": {"S": "set-of-ids"}},
            UpdateExpression="DELETE ids :old",
            ExpressionAttributeValues={":old": {"SS": []}},
        )
    assert empty.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "ExpressionAttributeValues contains invalid value: One or more parameter "
        "values were invalid: An string set  may not be empty for key :old",
    }
    assert table.get_item(Key=key)["Item"]["ids"] == {"b"}
    table.delete_item(Key=key)


UPDATE = {"UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}
UNDEFINED = "1 validation error detected: Invalid {}: An expression attribute {} used in "


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (  # a typo in a placeholder: recorded in us-east-1 and eu-west-2, 2026-10
            {**UPDATE, "ConditionExpression": "NOT contains(ids, :entri)"},
            UNDEFINED.format("ConditionExpression", "value")
            + "expression is not defined; attribute value: :entri",
        ),
        (  # undefined before unused: the values are resolved as the expression is read
            {
                "UpdateExpression": "ADD n :two",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            },
            UNDEFINED.format("UpdateExpression", "value")
            + "expression is not defined; attribute value: :two",
        ),
        (  # aws/aws-sdk-go-v2#285
            {**UPDATE, "ConditionExpression": "attribute_exists(#0)"},
            UNDEFINED.format("ConditionExpression", "name")
            + "the document path is not defined; attribute name: #0",
        ),
        (  # a misspelt function name
            {**UPDATE, "ConditionExpression": "attribute_not_exist(ids)"},
            "1 validation error detected: Invalid ConditionExpression: Invalid function name; "
            "function: attribute_not_exist",
        ),
        (  # its name is refused before the placeholder inside it (dynalite's test/scan.js)
            {**UPDATE, "ConditionExpression": "Contains(ids, :entry)"},
            "1 validation error detected: Invalid ConditionExpression: Invalid function name; "
            "function: Contains",
        ),
        (
            {**UPDATE, "ConditionExpression": "attribute_not_exists(ids) OR NOT contains(ids)"},
            "1 validation error detected: Invalid ConditionExpression: Incorrect number of "
            "operands for operator or function; operator or function: contains, number of "
            "operands: 1",
        ),
        (  # moto refuses an empty key in GetItem and PutItem only
            {**UPDATE, "Key": {"pk": {"S": ""}}},
            "One or more parameter values are not valid. The AttributeValue for a key attribute "
            "cannot contain an empty string value. Key: pk",
        ),
    ],
    ids=[
        "undefined-value",
        "undefined-before-unused",
        "undefined-name",
        "unknown-function",
        "name-case-before-placeholder",
        "operands",
        "empty-key",
    ],
)
def test_a_mistake_in_an_update_is_a_validation_error_not_an_outage(aws, call, message):
    """A typo in a learner's update must be a 400 that the app re-raises (a 502 and its
    traceback in the logs), as on AWS, not a 5xx that the final app answers 503 "try again"
    to. Messages from recordings of real DynamoDB, named beside each case, and dynalite's
    tests, written against it (function names, operands)."""
    client = aws.client("dynamodb", config=Config(retries={"total_max_attempts": 1}))
    request = {"TableName": "on-demand", "Key": {"pk": {"S": "typo"}}, **call}
    with pytest.raises(ClientError) as refused:
        client.update_item(**request)
    answer = refused.value.response
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert answer["Error"] == {"Code": "ValidationException", "Message": message}
    assert "Item" not in client.get_item(TableName="on-demand", Key={"pk": {"S": "typo"}})


def test_a_transaction_retried_with_its_client_token_is_applied_once(aws):
    """TransactWriteItems, in the DynamoDB API Reference: calls with one ClientRequestToken
    (botocore makes one for each call, and its retries send it again) are applied once, within
    10 minutes; the same token with other parameters is IdempotentParameterMismatchException,
    but not with the same parameters in another order (localstack/localstack#6529, checked
    against AWS)."""
    client = aws.client("dynamodb")
    key = {"pk": {"S": "transacted"}}

    def add(amount: int, token: str, reordered: bool = False) -> None:
        update = {
            "TableName": "on-demand",
            "Key": key,
            "UpdateExpression": "ADD n :amount",
            "ExpressionAttributeValues": {":amount": {"N": str(amount)}},
        }
        if reordered:  # the same parameters in another order: the same call
            update = dict(reversed(update.items()))
        client.transact_write_items(TransactItems=[{"Update": update}], ClientRequestToken=token)

    add(1, "token-1")
    add(1, "token-1")  # answered as the first call, and not applied again
    add(1, "token-1", reordered=True)
    with pytest.raises(ClientError) as mismatch:
        add(2, "token-1")
    assert mismatch.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    add(1, "token-2")
    item = client.get_item(TableName="on-demand", Key=key, ConsistentRead=True)["Item"]
    assert item["n"] == {"N": "2"}  # token-1 once, token-2 once
    client.delete_item(TableName="on-demand", Key=key)
