"""The local AWS: atomic counters stay atomic, state survives restarts, endpoints swap, and
DynamoDB can be made slow."""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.responses import DynamoHandler

from tests.helpers import fetch_json, raw_http
from workshop.errors import WorkshopError
from workshop.local import local_aws
from workshop.local.local_aws import LocalAWS

CLIENTS, VISITS = 32, 5


@pytest.fixture
def wide_race_window(monkeypatch):
    """Widen the gap, inside moto's ADD, between reading the old number and storing the new one.

    The gap is real but only a few bytecodes wide, so a lost update is rare on a fast machine;
    a short sleep in it makes every overlap show, without changing what moto does.
    """
    add = DynamoType.__add__

    def slow_add(self, other):
        time.sleep(0.002)
        return add(self, other)

    monkeypatch.setattr(DynamoType, "__add__", slow_add)


@pytest.fixture
def first_two_adds_meet(monkeypatch):
    """Hold each of the first two ADDs inside moto, after it has read the old number and before
    it stores the new one, until the other has read it too: a lost update, made certain.

    Left to chance, 32 clients lose some updates on almost every run, but nothing promises one.
    """
    add, first_two = DynamoType.__add__, threading.Barrier(2, timeout=30)
    calls = itertools.count()

    def add_when_both_have_read(self, other):
        if next(calls) < 2:
            first_two.wait()
        return add(self, other)

    monkeypatch.setattr(DynamoType, "__add__", add_when_both_have_read)


def _concurrent_adds(stack) -> int:
    table = stack.template.tables["ItemsTable"].name
    # boto3 clients are thread-safe: one, with a connection for each of the 32 callers.
    dynamodb = stack.aws.client("dynamodb", config=Config(max_pool_connections=CLIENTS))

    def client_visits(_: int) -> None:
        for _ in range(VISITS):
            dynamodb.update_item(
                TableName=table,
                Key={"pk": {"S": "shared"}},
                UpdateExpression="ADD hits :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client_visits, range(CLIENTS)))
    return stack.table().get_item(Key={"pk": "shared"})["Item"]["hits"]


def test_32_concurrent_clients_lose_no_atomic_add(make_stack, wide_race_window):
    assert _concurrent_adds(make_stack()) == CLIENTS * VISITS


def test_without_the_serialising_gate_moto_loses_atomic_adds(make_stack, first_two_adds_meet):
    stack = make_stack()
    with stack.aws.unserialised():  # as moto serves them on its own
        assert _concurrent_adds(stack) < CLIENTS * VISITS


def test_concurrent_functions_lose_no_atomic_add_either(probe):
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: probe.invoke({"action": "add"}), range(20)))
    hits = sorted(json.loads(inv.payload["body"])["hits"] for inv in results)
    assert hits == list(range(1, 21))  # every caller saw its own increment: none was lost


def test_what_was_stored_survives_a_restart_unless_fresh(make_stack, tmp_path):
    first = make_stack(state_dir=tmp_path)
    assert fetch_json(first.url("/behave/add"))[1] == {"hits": 1}
    assert fetch_json(first.url("/behave/add"))[1] == {"hits": 2}
    first.stop()

    again = make_stack(state_dir=tmp_path, fresh=False)
    assert fetch_json(again.url("/behave/add"))[1] == {"hits": 3}
    old_lines = [e.message for e in again.logs('"START RequestId"')]
    assert len(old_lines) == 3  # the two earlier runs' log lines came back too, once each
    again.stop()

    fresh = make_stack(state_dir=tmp_path, fresh=True)
    assert fetch_json(fresh.url("/behave/add"))[1] == {"hits": 1}


def test_a_table_deleted_while_the_stack_ran_is_not_saved_and_the_logs_are(make_stack, tmp_path):
    stack = make_stack(state_dir=tmp_path)
    assert fetch_json(stack.url("/behave/add"))[1] == {"hits": 1}
    stack.table().delete()  # as `aws dynamodb delete-table` would, while `up` serves
    assert fetch_json(stack.url("/behave/add"))[0] == 502  # the function fails without it
    stack.stop()  # saves what is left, without a word about the table

    saved = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    assert saved["tables"] == {}
    (streams,) = saved["log_groups"].values()
    starts = [e for events in streams.values() for e in events if e["message"].startswith("START")]
    assert len(starts) == 2  # both visits, the 502 included


def test_state_saved_under_a_name_the_stack_no_longer_has_is_left_alone(make_stack, tmp_path):
    """As stored before names had CloudFormation's suffix: the stack starts, and counts anew."""
    item = {"pk": {"S": "shared"}, "hits": {"N": "7"}}
    state = {"tables": {"renamed-ItemsTable": [item]}, "log_groups": {}}
    (tmp_path / "state.json").write_text(json.dumps(state), encoding="utf-8")
    # A stack name of its own: its table is made now, so the saved state is read.
    stack = make_stack(state_dir=tmp_path, fresh=False, stack_name="renamed")
    assert fetch_json(stack.url("/behave/add"))[1] == {"hits": 1}


def test_an_endpoint_in_AWS_ENDPOINT_URL_is_used_instead_of_the_embedded_one(monkeypatch):
    other = LocalAWS().start()  # stands in for LocalStack or DynamoDB Local
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", other.endpoint_url)
        adopted = LocalAWS().start()
        assert not adopted.embedded and adopted.endpoint_url == other.endpoint_url
        adopted.client("logs").create_log_group(logGroupName="/seen/by/both")
        groups = other.client("logs").describe_log_groups(logGroupNamePrefix="/seen/by")
        assert [g["logGroupName"] for g in groups["logGroups"]] == ["/seen/by/both"]
        adopted.stop()  # stops nothing that it did not start
        assert other.client("logs").describe_log_groups()["logGroups"]
    finally:
        other.stop()


@pytest.fixture
def bare_aws():
    """The embedded AWS alone, with one table: pk (string) as its key.

    moto keeps one state for the whole process, so the table is deleted again at the end.
    """
    aws = LocalAWS().start()
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(
        TableName="stalled",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield aws
    dynamodb.delete_table(TableName="stalled")
    aws.stop()


SIGNED = {
    "Content-Type": "application/x-amz-json-1.0",
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/dynamodb/"
    "aws4_request, SignedHeaders=host, Signature=0",
}


def test_one_connection_carries_call_after_call_as_aws_s_endpoints_do(bare_aws):
    """Keep-alive, which werkzeug's own server never does: no `Connection: close` after an
    answer, a failure's 500 included, and the connection's next request read from its start."""

    def fails(target: str, body: dict) -> None:
        if body.get("fail"):
            raise RuntimeError("a fault of the harness")

    connection = http.client.HTTPConnection(urlsplit(bare_aws.endpoint_url).netloc, timeout=30)
    answers, sockets = [], []
    with bare_aws.intercept_dynamodb("testing", fails):
        for target, body in [
            ("ListTables", {}),
            ("DescribeTable", {"TableName": "stalled", "fail": True}),
            ("DescribeTable", {"TableName": "stalled"}),
        ]:
            headers = {**SIGNED, "X-Amz-Target": f"DynamoDB_20120810.{target}"}
            connection.request("POST", "/", json.dumps(body), headers)
            sockets.append(connection.sock)
            answer = connection.getresponse()
            answers.append((answer.status, answer.getheader("Connection"), answer.read()))
    connection.close()
    assert [(status, connection) for status, connection, _ in answers] == [
        (200, None),
        (500, None),
        (200, None),
    ]
    assert sockets[0] is sockets[1] is sockets[2]
    assert json.loads(answers[2][2])["Table"]["TableName"] == "stalled"


def _call(target: str, body: bytes, *framing: str, version: str = "HTTP/1.1") -> bytes:
    """A raw DynamoDB call, its body framed by the `framing` header lines."""
    lines = [f"POST / {version}", *(f"{name}: {value}" for name, value in SIGNED.items())]
    lines += [f"X-Amz-Target: DynamoDB_20120810.{target}", *framing]
    return "".join(f"{line}\r\n" for line in lines).encode() + b"\r\n" + body


def test_a_chunked_call_is_read_by_its_chunks_and_the_next_call_answered(bare_aws):
    """As the API's server (RFC 9112 7.1): werkzeug's own would drain and drop the next call."""
    chunks = b'11\r\n{"TableName": "st\r\n7\r\nalled"}\r\n0\r\n\r\n'
    described = _call("DescribeTable", chunks, "Transfer-Encoding: chunked")
    listed = _call("ListTables", b"{}", "Content-Length: 2", "Connection: close")
    [(status, headers, body), (next_status, next_headers, _)] = raw_http(
        bare_aws.endpoint_url, described + listed
    )
    assert (status, "connection" in headers) == (200, False)  # HTTP/1.1: the connection stays
    assert json.loads(body)["Table"]["TableName"] == "stalled"
    assert (next_status, next_headers["connection"]) == (200, "close")


def test_an_http_1_0_call_closes_its_connection_unless_it_asks_for_keep_alive(bare_aws):
    """RFC 9112 9.3: an HTTP/1.0 call keeps its connection only with `Connection: keep-alive`,
    which its answer then says (an HTTP/1.0 client's default is to close)."""
    kept = _call(
        "ListTables", b"{}", "Content-Length: 2", "Connection: keep-alive", version="HTTP/1.0"
    )
    closed = _call("ListTables", b"{}", "Content-Length: 2", version="HTTP/1.0")
    answers = raw_http(bare_aws.endpoint_url, kept + closed)
    assert [(status, headers["connection"]) for status, headers, _ in answers] == [
        (200, "keep-alive"),
        (200, "close"),
    ]


def test_a_call_whose_body_cannot_be_delimited_is_refused_and_its_connection_closed(bare_aws):
    """A 400 and the end of the connection (RFC 9112 6.3), never a wait for more."""
    call = _call("ListTables", b"zz\r\n{}\r\n0\r\n\r\n", "Transfer-Encoding: chunked")
    [(status, headers, body)] = raw_http(bare_aws.endpoint_url, call, end=True)
    assert (status, headers["connection"], body) == (400, "close", b"")


@pytest.mark.parametrize(
    "data, line",
    [
        (bytes.fromhex("160301020001") + bytes(64), "https:// to a port that serves http://"),
        (b"\x00\x01 \x02 \xff\r\n\r\n", "Bad request version"),
    ],
    ids=["tls", "binary"],
)
def test_a_request_that_is_not_http_is_one_readable_line(bare_aws, caplog, data, line):
    """What `up` prints of it: werkzeug's own line quoted the bytes it got, binary ones too."""
    raw_http(bare_aws.endpoint_url, data, end=True)  # answered (as http.server does), then closed
    assert caplog.messages == [f"Local AWS refused a request: {line}"]


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
    ("service", "call"),
    [
        pytest.param("lambda", "list_functions", id="rest-json"),
        pytest.param("iam", "list_roles", id="query"),
        pytest.param("s3", "list_buckets", id="rest-xml"),
    ],
)
def test_a_service_it_does_not_stand_in_for_says_so_in_its_own_protocol(service, call):
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
        f"{service}: the functions, their roles and the API that `python run.py up` serves"
    )
    assert refused.value.response["ResponseMetadata"]["RetryAttempts"] == 0


def test_the_sdk_reuses_its_connection_and_stop_ends_it():
    aws = LocalAWS().start()
    try:
        dynamodb = aws.client("dynamodb")
        for _ in range(20):
            dynamodb.list_tables()
        # Its handlers keep the set of the server's open connections (keep_alive.py).
        assert len(aws._server.connections) == 1  # twenty calls, one connection
    finally:
        aws.stop()
    with pytest.raises(EndpointConnectionError):  # not served on by the stopped server
        dynamodb.list_tables()


def test_a_stall_applies_each_call_at_once_and_answers_it_at_its_end(bare_aws):
    dynamodb, key = bare_aws.client("dynamodb"), {"pk": {"S": "a"}}
    answers: list = []

    def call(method, **arguments) -> threading.Thread:
        thread = threading.Thread(target=lambda: answers.append(method(**arguments)))
        thread.start()
        return thread

    with bare_aws.dynamodb_stall() as stall:
        writer = call(dynamodb.put_item, TableName="stalled", Item=key)
        assert stall.wait_for_held(1, 30)
        # The held answer does not hold the gate's lock: a read is served meanwhile, and sees
        # the write, whose writer has no answer yet.
        reader = call(dynamodb.get_item, TableName="stalled", Key=key)
        assert stall.wait_for_held(2, 30)
        assert answers == []
    for thread in (writer, reader):
        thread.join(30)
    assert [answer.get("Item") for answer in answers if "Item" in answer] == [key]
    assert len(answers) == 2


def test_a_stall_can_hold_some_operations_and_end_by_itself(bare_aws):
    dynamodb, key = bare_aws.client("dynamodb"), {"pk": {"S": "b"}}
    with bare_aws.dynamodb_stall(seconds=0.2, operations={"PutItem"}) as stall:
        assert dynamodb.get_item(TableName="stalled", Key=key).get("Item") is None  # not held
        assert stall.held == 0
        dynamodb.put_item(TableName="stalled", Item=key)  # held until the stall ends itself
        assert stall.held == 1 and stall.ended
        dynamodb.put_item(TableName="stalled", Item=key)  # after its end: answered at once
        assert stall.held == 1


SETTINGS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


@pytest.mark.parametrize("setting", [*SETTINGS, "HOME"])
def test_the_local_clients_read_nothing_of_the_users_aws_setup(setting, tmp_path, monkeypatch):
    """A profile that does not exist, or a broken config file, is not the local AWS's concern."""
    broken = "[profile broken\nregion ="
    for name in ("config", "credentials"):
        (tmp_path / ".aws").mkdir(exist_ok=True)
        (tmp_path / ".aws" / name).write_text(broken, encoding="utf-8")
    value = {
        "AWS_PROFILE": "nonexistent",
        "AWS_DEFAULT_PROFILE": "nonexistent",
        "AWS_CONFIG_FILE": str(tmp_path / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / ".aws" / "credentials"),
        "HOME": str(tmp_path),  # ~/.aws/config, broken
    }[setting]
    monkeypatch.setenv(setting, value)
    monkeypatch.setattr(local_aws, "_SESSIONS", [])  # a session made now, with that setting
    aws = LocalAWS().start()
    try:
        # Any answer will do (moto keeps other tests' tables): without isolation, none comes.
        assert "TableNames" in aws.client("dynamodb").list_tables()
        assert "TableNames" in aws.resource("dynamodb").meta.client.list_tables()
    finally:
        aws.stop()
