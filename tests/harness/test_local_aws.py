"""The local AWS: atomic counters stay atomic, its port and endpoint, its connections as HTTP
asks, and DynamoDB made slow."""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import os
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from moto.dynamodb.models.dynamo_type import DynamoType

from tests.helpers import PROBE_APP, SIGNED, raw_http
from workshop.local import local_aws
from workshop.local.local_aws import LocalAWS
from workshop.local.stack import Stack

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


def test_up_s_local_aws_takes_the_port_beside_the_api_s():
    """The AWS CLI lines `up` prints name the local AWS's port: beside the API's, they go on
    working after a restart. Without an API (invoke), or on port 0, the system picks one."""
    assert Stack(PROBE_APP, stack_name="probe", port=3210).aws.port == 3210 + 1566
    assert Stack(PROBE_APP, stack_name="probe", port=0).aws.port == 0
    assert Stack(PROBE_APP, stack_name="probe", port=3210, serve_api=False).aws.port == 0


@pytest.mark.skipif(os.name == "nt", reason="holding a port for one socket needs SO_REUSEADDR")
def test_the_local_aws_listens_on_its_port_when_it_is_free():
    with socket.socket() as held:  # bound, not listening: free to it, and to no other program
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("127.0.0.1", 0))
        aws = LocalAWS(port=held.getsockname()[1]).start()
        try:
            assert urlsplit(aws.endpoint_url).port == held.getsockname()[1]
            assert aws.client("dynamodb").list_tables()["TableNames"] is not None
        finally:
            aws.stop()


@pytest.mark.parametrize("address", ["127.0.0.1", "0.0.0.0"])
def test_a_port_another_server_listens_on_is_left_to_it(address):
    """Bound to 127.0.0.1, or listening on every address (LocalStack's 4566, say), which macOS
    would let a bind to 127.0.0.1 hide: the system picks another port."""
    with socket.socket() as taken:
        taken.bind((address, 0))
        taken.listen()
        aws = LocalAWS(port=taken.getsockname()[1]).start()
        try:
            assert urlsplit(aws.endpoint_url).port not in (None, taken.getsockname()[1])
            assert aws.client("dynamodb").list_tables()["TableNames"] is not None
        finally:
            aws.stop()


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


def test_the_sdk_reuses_its_connection_and_stop_ends_it():
    aws = LocalAWS().start()
    try:
        dynamodb = aws.client("dynamodb")
        for _ in range(20):
            dynamodb.list_tables()
        # Its handlers keep the set of the server's open connections (keep_alive.py).
        assert len(aws._server.connections) == 1  # twenty calls, one connection
        # Each answer at once: not held for the SDK's delayed ACK of its headers (Nagle).
        (served,) = aws._server.connections
        assert served.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
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


@pytest.fixture
def late_soon(monkeypatch):
    """Answers later than 0.2 s are late (local_aws.LATE, lowered to keep the tests short)."""
    monkeypatch.setattr(local_aws, "LATE", 0.2)


@pytest.fixture
def slow_machine(monkeypatch, late_soon):
    """moto takes 0.4 s over each ADD, as a machine too busy to run it does."""
    add = DynamoType.__add__

    def slow_add(self, other):
        time.sleep(0.4)
        return add(self, other)

    monkeypatch.setattr(DynamoType, "__add__", slow_add)


def _impatient(aws: LocalAWS):
    """A client that gives up on an answer after 0.3 s and tries once more, as the stages'
    handlers do after 3 s."""
    retries = {"mode": "standard", "total_max_attempts": 2}
    return aws.client("dynamodb", config=Config(read_timeout=0.3, retries=retries))


def _add(dynamodb, pk: str) -> None:
    with contextlib.suppress(ReadTimeoutError):
        dynamodb.update_item(
            TableName="stalled",
            Key={"pk": {"S": pk}},
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )


def test_a_write_answered_late_and_sent_again_is_told_apart_and_still_applied_twice(
    bare_aws, slow_machine
):
    _add(_impatient(bare_aws), "late")
    # Applied twice, as DynamoDB applies a write sent again (stage 08's lesson) ...
    item = bare_aws.client("dynamodb").get_item(TableName="stalled", Key={"pk": {"S": "late"}})
    assert item["Item"]["n"] == {"N": "2"}
    # ... and known as this machine's doing.
    [seconds] = bare_aws.late_retries()
    assert seconds > 0.3


def _count(aws: LocalAWS, pk: str, count: int) -> bool:
    """Whether the item `pk` reaches `count` within 10 s (the server goes on after the client
    gave up)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        item = aws.client("dynamodb").get_item(TableName="stalled", Key={"pk": {"S": pk}})
        if item.get("Item", {}).get("n") == {"N": str(count)}:
            return True
        time.sleep(0.05)
    return False


def test_a_late_write_sent_again_in_a_stall_is_no_late_retry(bare_aws, slow_machine):
    with bare_aws.dynamodb_stall(seconds=0.5, operations={"UpdateItem"}):
        _add(_impatient(bare_aws), "stalled")
    assert _count(bare_aws, "stalled", 2)
    assert bare_aws.late_retries() == []


def test_a_write_a_watcher_holds_and_sent_again_is_no_late_retry(bare_aws, late_soon):
    # Each attempt held 0.5 s: the retry, sent 0.3 s or more after the first, is applied after
    # it, which is answered late, but only for the watcher's hold.
    with bare_aws.intercept_dynamodb("testing", lambda *_: time.sleep(0.5)):
        _add(_impatient(bare_aws), "watched")
        assert _count(bare_aws, "watched", 2)
    assert bare_aws.late_retries() == []


def test_a_closed_stall_takes_no_more_calls_but_holds_its_own_until_its_end(bare_aws):
    dynamodb, key = bare_aws.client("dynamodb"), {"pk": {"S": "c"}}
    answers: list = []
    with bare_aws.dynamodb_stall() as stall:
        writer = threading.Thread(
            target=lambda: answers.append(dynamodb.put_item(TableName="stalled", Item=key))
        )
        writer.start()
        assert stall.wait_for_applied(1, 30) and stall.held == 1
        stall.close()
        assert dynamodb.get_item(TableName="stalled", Key=key)["Item"] == key  # at once
        assert stall.applied == 1 and answers == []  # not one of its calls; its own still held
    writer.join(30)
    assert len(answers) == 1


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


def test_a_proxy_of_the_users_is_not_asked_for_the_local_aws(monkeypatch, tmp_path):
    """Company laptops often set HTTP_PROXY and HTTPS_PROXY; a proxy cannot reach this machine's
    127.0.0.1 (here, one that does not answer at all). `up` started, and its table answered."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    stack = Stack(PROBE_APP, stack_name="proxied", port=0, fresh=True).start()
    try:
        assert stack.table().scan()["Items"] == []
        assert stack.invoke({"pathParameters": {"how": "imports"}}).error is None
    finally:
        stack.stop()


def test_while_calls_meet_an_eventually_consistent_read_misses_the_last_write_once(bare_aws):
    """DynamoDB's guide: such a read may not reflect a write just completed; read again after a
    short time, it does. A strongly consistent read always does."""
    dynamodb, key = bare_aws.client("dynamodb"), {"pk": {"S": "stale"}}

    def count(**consistency) -> str | None:
        item = dynamodb.get_item(TableName="stalled", Key=key, **consistency).get("Item")
        return item and item["n"]["N"]

    with bare_aws.calls_meet() as meet:
        dynamodb.put_item(TableName="stalled", Item={**key, "n": {"N": "1"}})
        assert [count(), count()] == [None, "1"]  # no item before the first write
        dynamodb.update_item(
            TableName="stalled",
            Key=key,
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        assert [count(ConsistentRead=True), count()] == ["2", "1"]  # the stale one still owed
        assert count() == "2"
        dynamodb.update_item(
            TableName="stalled",
            Key=key,
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
            dynamodb.put_item(
                TableName="stalled", Item=key, ConditionExpression="attribute_not_exists(pk)"
            )
        assert count() == "2"  # a refused write changed nothing: the miss is the applied one's
        assert meet.stale_reads == 3
    dynamodb.put_item(TableName="stalled", Item={**key, "n": {"N": "3"}})
    assert count() == "3"  # outside, every read sees the last write


def test_while_calls_meet_every_eventually_consistent_read_misses_the_last_write_once(bare_aws):
    """A Query, a BatchGetItem and a Scan are eventually consistent too unless they ask for
    ConsistentRead=True (DynamoDB's guide, "Read consistency"): each may miss a write just made,
    of the items it reads only."""
    dynamodb = bare_aws.client("dynamodb")

    def put(pk: str, n: str) -> None:
        dynamodb.put_item(TableName="stalled", Item={"pk": {"S": pk}, "n": {"N": n}})

    def query(pk: str, **consistency) -> list[str]:
        items = dynamodb.query(
            TableName="stalled",
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": "pk"},
            ExpressionAttributeValues={":pk": {"S": pk}},
            **consistency,
        )["Items"]
        return [item["n"]["N"] for item in items]

    def batch(*pks: str, **consistency) -> list[str]:
        asked = {"Keys": [{"pk": {"S": pk}} for pk in pks], **consistency}
        found = dynamodb.batch_get_item(RequestItems={"stalled": asked})["Responses"]["stalled"]
        return sorted(item["n"]["N"] for item in found)

    def scan() -> list[str]:
        return sorted(item["n"]["N"] for item in dynamodb.scan(TableName="stalled")["Items"])

    put("a", "1")
    put("b", "1")
    with bare_aws.calls_meet() as meet:
        put("a", "2")
        put("b", "2")
        assert query("a", ConsistentRead=True) == ["2"]
        assert [query("a"), query("a"), query("b")] == [["1"], ["2"], ["1"]]  # b was not read
        put("a", "3")
        put("b", "3")
        assert [batch("a", "b", ConsistentRead=True), batch("a"), batch("a", "b")] == [
            ["3", "3"],
            ["2"],
            ["2", "3"],
        ]
        put("a", "4")
        put("c", "4")
        assert [scan(), scan()] == [["3", "3"], ["3", "4", "4"]]  # a as before 4, c not yet
        assert meet.stale_reads == 5
    for pk in "abc":
        dynamodb.delete_item(TableName="stalled", Key={"pk": {"S": pk}})


def test_while_calls_meet_a_transaction_that_met_another_on_an_item_is_cancelled(bare_aws):
    """Two transactions on one item, the second arriving before the first was applied: DynamoDB
    cancels one with TransactionConflict (TransactionCanceledException, its API reference)."""
    dynamodb, key = bare_aws.client("dynamodb"), {"pk": {"S": "met"}}
    other = {"pk": {"S": "apart"}}
    arrived, go = threading.Barrier(2), threading.Event()

    def hold_until_both_arrived(target: str, body: dict) -> None:
        if target.endswith("TransactWriteItems") and not go.is_set():
            arrived.wait(30)

    def add(keys: list[dict]) -> dict | Exception:
        items = [
            {
                "Update": {
                    "TableName": "stalled",
                    "Key": k,
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            }
            for k in keys
        ]
        try:
            return dynamodb.transact_write_items(TransactItems=items)
        except dynamodb.exceptions.TransactionCanceledException as error:
            return error

    with bare_aws.calls_meet(), bare_aws.intercept_dynamodb("testing", hold_until_both_arrived):
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(add, [[key], [other, key]]))
        go.set()
        apart = add([other])  # alone: nothing met
    cancelled = [r for r in results if isinstance(r, Exception)]
    assert len(cancelled) == 1
    reasons = cancelled[0].response["CancellationReasons"]
    assert reasons[-1] == {
        "Code": "TransactionConflict",
        "Message": "Transaction is ongoing for the item",
    }
    assert all(reason == {"Code": "None"} for reason in reasons[:-1])
    assert not isinstance(apart, Exception)


def test_ttl_deletes_each_item_expired_by_then_and_nothing_else(bare_aws):
    """DynamoDB's guide: an item whose TTL attribute is a Number of epoch seconds before now is
    deleted; one whose attribute is not a Number, or more than five years past, is left."""
    dynamodb, now = bare_aws.client("dynamodb"), time.time()
    expiries = {
        "past": {"N": str(int(now) - 60)},
        "future": {"N": str(int(now) + 60)},
        "text": {"S": str(int(now) - 60)},
        "ancient": {"N": str(int(now) - 6 * 365 * 24 * 3600)},
    }
    for name, expiry in expiries.items():
        dynamodb.put_item(TableName="stalled", Item={"pk": {"S": name}, "expires": expiry})
    dynamodb.put_item(TableName="stalled", Item={"pk": {"S": "none"}})
    assert bare_aws.expire_items(["stalled"], now + 120) == 0  # TTL not enabled: none
    dynamodb.update_time_to_live(
        TableName="stalled",
        TimeToLiveSpecification={"AttributeName": "expires", "Enabled": True},
    )
    assert bare_aws.expire_items(["stalled", "missing"], now) == 1
    kept = {item["pk"]["S"] for item in dynamodb.scan(TableName="stalled")["Items"]}
    assert kept == {"future", "text", "ancient", "none"}
    assert bare_aws.expire_items(["stalled"], now + 120) == 1  # "future", two minutes on
    # Six years on: an item that expires a minute from now was deleted then, however long ago
    # that is by the end; one that had expired over five years before the clock moved is kept.
    soon = {"pk": {"S": "soon"}, "expires": {"N": str(int(now) + 60)}}
    dynamodb.put_item(TableName="stalled", Item=soon)
    assert bare_aws.expire_items(["stalled"], now + 6 * 365 * 24 * 3600, since=now) == 1
    kept = {item["pk"]["S"] for item in dynamodb.scan(TableName="stalled")["Items"]}
    assert kept == {"text", "ancient", "none"}


def test_a_template_s_ttl_is_enabled_and_applied_as_the_clock_moves_on(make_stack, tmp_path):
    """TimeToLiveSpecification turns TTL on, as CloudFormation does; within Stack.later, the
    items expired by then are gone, as DynamoDB deletes them meanwhile."""
    project = tmp_path / "ttl"
    shutil.copytree(PROBE_APP, project)
    template = project / "template.yaml"
    simple = (
        "Type: AWS::Serverless::SimpleTable\n    Properties:\n      PrimaryKey:\n"
        "        Name: pk\n        Type: String\n"
    )
    with_ttl = """Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
"""
    text = template.read_text(encoding="utf-8")
    assert simple in text
    template.write_text(text.replace(simple, with_ttl), encoding="utf-8")
    stack = make_stack(project)
    table, now = stack.table(), int(time.time())
    described = table.meta.client.describe_time_to_live(TableName=table.name)
    assert described["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires",
    }
    table.put_item(Item={"pk": "hour", "expires": now + 3600})
    table.put_item(Item={"pk": "day", "expires": now + 2 * 24 * 3600})
    with stack.later(24 * 3600) as expired:
        assert expired == 1
        assert [item["pk"] for item in table.scan()["Items"]] == ["day"]
