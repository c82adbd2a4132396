"""The local AWS answers what DynamoDB and CloudWatch Logs refuse as they refuse it, and says so
where it does not emulate a call, rather than answer it wrongly."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.responses import DynamoHandler

from tests.helpers import SIGNED
from workshop.errors import WorkshopError
from workshop.local.local_aws import LocalAWS
from workshop.local.moto_gaps import ClientTokens

NULL_AT = "Value null at '{}' failed to satisfy constraint: Member must not be null"


@pytest.mark.parametrize(
    ("target", "body", "kind", "error"),
    [
        pytest.param(
            "DynamoDB_20120810.GetItems",
            b"{}",
            "1.0",
            {
                "__type": "com.amazon.coral.service#UnknownOperationException",
                "message": "Unknown operation exception",
            },
            id="no-such-operation",
        ),
        pytest.param(
            "Logs_20140328.PutLogEvent",
            b"{}",
            "1.1",
            {
                "__type": "com.amazon.coral.service#UnknownOperationException",
                "message": "Unknown operation exception",
            },
            id="no-such-logs-operation",
        ),
        pytest.param(
            "DynamoDB_20120810.GetItem",
            b'{"TableName": "stalled",',
            "1.0",
            {"__type": "com.amazon.coral.service#SerializationException"},
            id="not-json",
        ),
        pytest.param(
            "DynamoDB_20120810.GetItem",
            b'["stalled"]',
            "1.0",
            {"__type": "com.amazon.coral.service#SerializationException"},
            id="not-an-object",
        ),
        pytest.param(
            "DynamoDB_20120810.GetItem",
            b'{"TableName": "stalled"}',
            "1.0",
            {
                "__type": "com.amazon.coral.validate#ValidationException",
                "message": f"1 validation error detected: {NULL_AT.format('key')}",
            },
            id="a-required-parameter-left-out",
        ),
        pytest.param(
            "Logs_20140328.PutLogEvents",
            b'{"logEvents": []}',
            "1.1",
            {
                "__type": "InvalidParameterException",
                "message": "2 validation errors detected: "
                f"{NULL_AT.format('logGroupName')}; {NULL_AT.format('logStreamName')}",
            },
            id="logs-parameters-left-out",
        ),
    ],
)
def test_a_request_the_service_cannot_read_is_refused_as_aws_refuses_it(
    bare_aws, target, body, kind, error
):
    """A 400 with the service's JSON error, before moto sees it (moto would answer 500)."""
    connection = http.client.HTTPConnection(urlsplit(bare_aws.endpoint_url).netloc, timeout=30)
    connection.request("POST", "/", body, {**SIGNED, "X-Amz-Target": target})
    answer = connection.getresponse()
    assert (answer.status, answer.getheader("Content-Type")) == (
        400,
        f"application/x-amz-json-{kind}",
    )
    assert json.loads(answer.read()) == error
    connection.close()


def test_events_of_a_missing_stream_say_the_stream_is_missing_not_its_group(bare_aws):
    """prefect-archive/prefect-aws#177 (real CloudWatch Logs): GetLogEvents on a stream that
    does not exist says so; moto said the log group did (localstack/localstack#9226)."""
    logs = bare_aws.client("logs")
    logs.create_log_group(logGroupName="/aws/lambda/present")
    try:
        for group, missing in (("/aws/lambda/present", "stream"), ("/aws/lambda/absent", "group")):
            with pytest.raises(logs.exceptions.ResourceNotFoundException) as refused:
                logs.get_log_events(logGroupName=group, logStreamName="2026/12/01/[$LATEST]0")
            assert refused.value.response["Error"]["Message"] == (
                f"The specified log {missing} does not exist."
            )
    finally:
        logs.delete_log_group(logGroupName="/aws/lambda/present")


def test_an_operation_moto_does_not_emulate_says_so_at_once_without_retries(bare_aws):
    """A 501 that names the operation: the SDK does not retry it, as it would a 500."""
    dynamodb = bare_aws.client("dynamodb")
    with pytest.raises(ClientError) as refused:
        dynamodb.describe_contributor_insights(TableName="stalled")
    assert refused.value.response["Error"] == {
        "Code": "NotImplemented",
        "Message": "DescribeContributorInsights is a real DynamoDB operation, but the workshop's "
        "local AWS does not emulate it: try it against AWS itself.",
    }
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert refused.value.response["ResponseMetadata"]["RetryAttempts"] == 0


def test_a_call_moto_fails_on_says_what_failed_at_once_without_retries(bare_aws, monkeypatch):
    """moto's own failure (a fault injected here) is a 501 that names it, not an HTML 500 that
    the SDK would retry nine times, with a traceback each, in the terminal of `up`."""

    def fails(self):
        raise KeyError("TableArn")  # as moto 5.2.5's ListExports does without one

    monkeypatch.setattr(DynamoHandler, "list_tables", fails)
    with pytest.raises(ClientError) as refused:
        bare_aws.client("dynamodb").list_tables()
    assert refused.value.response["Error"] == {
        "Code": "NotImplemented",
        "Message": "The workshop's local AWS failed on this ListTables call (KeyError: "
        "'TableArn'): it does not emulate DynamoDB that far. Try it against AWS itself.",
    }
    assert refused.value.response["ResponseMetadata"]["RetryAttempts"] == 0


@pytest.mark.parametrize(
    "pattern", ['{ $.level = "WARNING" }', "?START ?END", "START -END", "500", '"a" "b"']
)
def test_a_filter_pattern_moto_would_take_for_match_all_is_refused(probe, pattern):
    """moto evaluates plain terms and one quoted phrase; it answers any other pattern with every
    event. A 501 says so instead, to the AWS CLI and to `python run.py logs --filter` alike."""
    probe.invoke({"action": "count"})
    with pytest.raises(ClientError) as refused:
        probe.aws.client("logs").filter_log_events(
            logGroupName=probe.function().log_group, filterPattern=pattern
        )
    assert refused.value.response["Error"]["Code"] == "NotImplemented"
    assert (
        "plain terms (Decimal, or Error Decimal for lines with both) and by one quoted "
        f"phrase only; {pattern} is neither" in refused.value.response["Error"]["Message"]
    )
    with pytest.raises(WorkshopError, match="filters by plain terms"):
        probe.logs(pattern)
    # What it evaluates, it evaluates: terms together, and a quoted phrase.
    assert len(probe.logs("START RequestId")) == 1
    assert len(probe.logs('"START RequestId"')) == 1 and probe.logs("START nothing") == []


@pytest.mark.parametrize(
    ("query", "skipped"),
    [
        ("fields @message | filter @message like /Decimal/", "filter"),
        ("stats count(*) by bin(5m)", "stats"),
        ("fields @message | parse @message 'a|b' as c | limit 5", "parse"),
    ],
)
def test_an_insights_query_moto_would_answer_with_every_event_is_refused(bare_aws, query, skipped):
    """moto's Logs Insights runs fields, sort and limit, and skips any other command: a query
    that filters would list every event. A 501 names the first command it would skip."""
    logs = bare_aws.client("logs")
    logs.create_log_group(logGroupName="/aws/lambda/queried")
    try:
        asked = {"logGroupName": "/aws/lambda/queried", "startTime": 0, "endTime": 2**31}
        with pytest.raises(ClientError) as refused:
            logs.start_query(queryString=query, **asked)
        assert refused.value.response["Error"]["Code"] == "NotImplemented"
        assert (
            f"fields, sort, limit only; this query also has {skipped}."
            in (refused.value.response["Error"]["Message"])
        )
        # A query of those commands alone runs.
        started = logs.start_query(
            queryString="fields @message | sort @timestamp | limit 5", **asked
        )
        assert logs.get_query_results(queryId=started["queryId"])["results"] == []
    finally:
        logs.delete_log_group(logGroupName="/aws/lambda/queried")


@pytest.mark.parametrize(
    ("service", "call", "named"),
    [
        pytest.param("lambda", "list_functions", "AWS Lambda", id="rest-json"),
        pytest.param("iam", "list_roles", "AWS Identity and Access Management", id="query"),
        pytest.param("s3", "list_buckets", "Amazon Simple Storage Service", id="rest-xml"),
    ],
)
def test_a_service_it_does_not_stand_in_for_says_so_in_its_own_protocol(service, call, named):
    """Not moto's empty account, which would say there is no function while `up` runs one."""
    aws = LocalAWS().start()
    try:
        client = boto3.client(
            service,
            endpoint_url=aws.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        with pytest.raises(ClientError) as refused:
            getattr(client, call)()
    finally:
        aws.stop()
    assert refused.value.response["Error"]["Code"] == "NotImplemented"
    assert refused.value.response["Error"]["Message"].startswith(
        "The workshop's local AWS stands in for DynamoDB and CloudWatch Logs only, not for "
        f"{named}: the functions, their roles and the API that `python run.py up` serves"
    )
    assert refused.value.response["ResponseMetadata"]["RetryAttempts"] == 0


def test_a_client_token_is_forgotten_ten_minutes_after_its_call_completed():
    """Then a call with that token is a new call, and is applied (the API Reference)."""
    now = [0.0]
    tokens = ClientTokens(clock=lambda: now[0])
    applied: list[str] = []

    def apply() -> tuple:
        applied.append("applied")
        return ("200 OK", []), b"{}"

    call = {"ClientRequestToken": "t", "TransactItems": []}
    for at in (0.0, 599.0, 601.0):
        now[0] = at
        assert tokens.once("DynamoDB_20120810.TransactWriteItems", call, apply) == (
            ("200 OK", []),
            b"{}",
        )
    assert len(applied) == 2  # at 0, and again at 601: 10 minutes after the first completed
    tokens.once("DynamoDB_20120810.UpdateItem", {"ClientRequestToken": "t"}, apply)
    assert len(applied) == 3  # only transactions have client tokens
