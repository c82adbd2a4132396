"""The API Gateway adapter: HTTP to a v1 proxy event and back, and API Gateway's own answers."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.helpers import PROBE_APP, fetch, fetch_json, raw_http
from workshop import served
from workshop.local.api_event import Request
from workshop.local.api_gateway import ApiGateway, MalformedResponse, proxy_response
from workshop.types import Api, Invocation, Route
from workshop.visitor import Visitor


def _sam() -> str | None:
    beside = Path(sys.executable).with_name("sam.exe" if os.name == "nt" else "sam")
    return str(beside) if beside.exists() else shutil.which("sam")


@pytest.fixture(scope="module")
def generated_event() -> dict:
    """A GET /echo/a/b?foo=bar event as `sam local generate-event apigateway aws-proxy` makes it."""
    sam = _sam()
    if sam is None:
        pytest.skip("the SAM CLI is not installed here (it comes with `python run.py test`)")
    command = [
        sam,
        "local",
        "generate-event",
        "apigateway",
        "aws-proxy",
        "--method",
        "GET",
        "--path",
        "echo/a/b",
        "--resource",
        "/echo/{proxy+}",
        "--stage",
        "Prod",
    ]
    out = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
    )
    event = json.loads(out.stdout)
    event["body"], event["isBase64Encoded"] = None, False  # a GET carries no body
    return event


def test_http_through_the_adapter_gives_the_event_sam_generates(probe, generated_event):
    direct = probe.invoke(generated_event)
    status, headers, raw = fetch(probe.url("/echo/a/b?foo=bar"))
    via_http = json.loads(raw)
    via_event = json.loads(direct.payload["body"])
    assert status == direct.payload["statusCode"] == 201
    for key in (
        "resource",
        "httpMethod",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "isBase64Encoded",
        "body",
    ):
        assert via_http[key] == via_event[key], key
    assert via_http["path"] == "/echo/a/b" and via_event["path"] == "/echo/a/b"
    assert via_http["pathParameters"] == {"proxy": "a/b"}
    # The event the adapter builds has every field that SAM's has.
    adapter_event = json.loads(probe.invoke({"action": "last_event"}).payload["body"])
    assert set(generated_event) == set(adapter_event)
    sam_context, context = generated_event["requestContext"], adapter_event["requestContext"]
    assert set(sam_context) <= set(context)
    assert set(sam_context["identity"]) <= set(context["identity"])
    assert adapter_event["requestContext"]["stage"] == "Prod"
    assert adapter_event["requestContext"]["path"] == "/Prod/echo/a/b"
    assert adapter_event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert adapter_event["requestContext"]["requestId"] == headers["x-amzn-RequestId"]


def test_headers_cookies_query_and_body_reach_the_function(probe):
    status, _, raw = fetch(
        probe.url("/echo/x?tone=warm&tone=cold&empty="),
        method="POST",
        headers={"Cookie": "session=abc; theme=dark", "X-Custom": "1"},
        data=b'{"hello": "world"}',
    )
    event = json.loads(raw)
    assert status == 201
    assert event["httpMethod"] == "POST"
    assert event["headers"]["Cookie"] == "session=abc; theme=dark"
    assert event["multiValueHeaders"]["X-Custom"] == ["1"]
    assert event["queryStringParameters"] == {"tone": "cold", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"tone": ["warm", "cold"], "empty": [""]}
    assert event["body"] == '{"hello": "world"}' and event["isBase64Encoded"] is False


def test_the_proxy_response_maps_back(probe):
    status, headers, _ = fetch(probe.url("/echo/x"))
    assert status == 201
    assert headers["X-Echo"] == "yes"
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]


def test_an_unhandled_exception_is_a_502(probe):
    assert fetch(probe.url("/behave/crash"))[::2] == (502, b'{"message": "Internal server error"}')


def test_a_malformed_proxy_response_is_a_502(probe):
    status, body = fetch_json(probe.url("/behave/malformed"))
    assert (status, body) == (502, {"message": "Internal server error"})


def test_a_lambda_timeout_within_29_seconds_is_a_502(probe):
    status, body = fetch_json(probe.url("/behave/sleep?s=5"))  # the function's Timeout is 2 s
    assert (status, body) == (502, {"message": "Internal server error"})


def test_a_function_that_outlives_the_integration_timeout_is_a_504(make_stack):
    # API Gateway waits 29 s; the probe shortens that so the test need not wait as long.
    stack = make_stack(integration_timeout=0.5)
    status, body = fetch_json(stack.url("/behave/sleep?s=1.5"))
    assert (status, body) == (504, {"message": "Endpoint request timed out"})


def test_sam_s_extra_stage_reaches_the_function_as_that_stage(probe):
    """The probe app's implicit API has no OpenApiVersion: SAM deploys it to `Stage` too."""
    url = probe.url("/echo/x").replace("/Prod/", "/Stage/")
    assert fetch(url)[0] == 201
    context = json.loads(probe.invoke({"action": "last_event"}).payload["body"])["requestContext"]
    assert (context["stage"], context["path"]) == ("Stage", "/Stage/echo/x")


@pytest.mark.parametrize("method, path", [("GET", "/nowhere"), ("POST", "/counter")])
def test_an_unknown_route_is_a_403(probe, method, path):
    status, headers, raw = fetch(
        probe.url(path), method=method, data=b"" if method == "POST" else None
    )
    assert (status, raw) == (403, b'{"message":"Missing Authentication Token"}')
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


@pytest.mark.parametrize(
    "authorization, part",
    [("Bearer abc.def", "abc.def"), ("Basic user:secret", "user:secret")],
    ids=["bearer", "basic"],
)
def test_an_unknown_route_reads_an_authorization_header_as_a_signature(probe, authorization, part):
    """As recorded against AWS (mcguinness/node-lambda-oauth2-jwt-authorizer#1 and
    serverless/serverless#3205, a Bearer token; cowinapi/developer.cowin#129, Basic)."""
    status, headers, raw = fetch(probe.url("/nowhere"), headers={"Authorization": authorization})
    message = (
        f"'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: "
        f"'{authorization}'."
    )
    assert (status, json.loads(raw)) == (403, {"message": message})
    assert headers["x-amzn-ErrorType"] == "IncompleteSignatureException"


def test_a_visitor_who_hangs_up_is_no_error_to_print(probe, capsys):
    """A closed connection is the visitor's business; any other failure is still reported."""
    server = probe.api.server
    for error in (BrokenPipeError(), ConnectionResetError()):
        try:
            raise error
        except ConnectionError:
            server.handle_error(None, ("127.0.0.1", 1))
        assert capsys.readouterr().err == ""
    try:
        raise ValueError("a bug")
    except ValueError:
        server.handle_error(None, ("127.0.0.1", 1))
    assert "ValueError: a bug" in capsys.readouterr().err


def test_a_kept_alive_connection_is_not_served_on_once_the_api_stops(probe):
    """A browser keeps its connection open between visits; a stopped API must not answer on it."""
    connection = http.client.HTTPConnection(urlsplit(probe.url()).netloc, timeout=30)
    path = urlsplit(probe.url("/nowhere")).path
    connection.request("GET", path)
    assert connection.getresponse().read() == b'{"message":"Missing Authentication Token"}'
    probe.api.stop()
    connection.request("GET", path)  # on the same connection: the server has closed it
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        connection.getresponse()
    connection.close()


def test_a_kept_alive_connection_has_nagle_s_algorithm_off(probe):
    """An answer goes in two writes, its headers then its body: with Nagle's algorithm on, the
    body of a browser's next visit on its kept-alive connection would wait for the browser's
    delayed ACK of the headers (40 ms on Linux)."""
    connection = http.client.HTTPConnection(urlsplit(probe.url()).netloc, timeout=30)
    with contextlib.closing(connection):
        for _ in range(2):
            connection.request("GET", urlsplit(probe.url("/nowhere")).path)
            assert connection.getresponse().read() == MISSING_TOKEN
        served = probe.api.server.connections  # its handlers keep them (ClosedOnStop)
        assert served
        assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in served)


def test_a_visitor_that_keeps_its_connection_makes_each_visit_once_on_it(probe):
    """The bench's visitor refreshes as a browser does, on one connection; a visit that fails
    there is not sent again (it may have been counted), and the next one opens a new one."""
    visitor = Visitor(probe.url("/nowhere"), keep_alive=True)
    try:
        assert [visitor.visit().status for _ in range(3)] == [403] * 3
        (served,) = probe.api.server.connections
        served.shutdown(socket.SHUT_RDWR)  # the connection breaks between two visits
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            visitor.visit()
        assert visitor.visit().status == 403
    finally:
        visitor.close()


def _request(url: str, head: str, body: bytes = b"") -> bytes:
    """`head` ("POST HTTP/1.1", then header lines) as a raw request for `url`'s path."""
    first, *lines = head.split("\n")
    method, version = first.split()
    where = urlsplit(url)
    start = f"{method} {where.path} {version}\r\nHost: {where.netloc}\r\n"
    return (start + "".join(f"{line}\r\n" for line in lines) + "\r\n").encode() + body


NOPE = "GET HTTP/1.1\nConnection: close"  # a last request: unknown, and ends the connection
MISSING_TOKEN = b'{"message":"Missing Authentication Token"}'


@pytest.mark.parametrize(
    "head",
    ["GET HTTP/1.0", "GET HTTP/1.1\nConnection: close", "GET HTTP/1.1\nConnection: TE, Close"],
)
def test_a_client_that_asks_for_close_gets_its_answer_and_the_end_of_the_connection(probe, head):
    """RFC 9112 9.3: `close` among the request's connection options, or HTTP/1.0 without
    `keep-alive`, and the connection ends after the answer: a client reading to the end of the
    stream (ab without -k, a raw socket) is not left waiting."""
    url = probe.url("/nope")
    [(status, headers, body)] = raw_http(url, _request(url, head))
    assert (status, headers["connection"], body) == (403, "close", MISSING_TOKEN)


def test_an_http_1_0_client_that_asks_for_keep_alive_keeps_its_connection(probe):
    url = probe.url("/nope")
    request = _request(url, "GET HTTP/1.0\nConnection: keep-alive")
    answers = raw_http(url, request + _request(url, "GET HTTP/1.0"))
    assert [(s, h["connection"], b) for s, h, b in answers] == [
        (403, "keep-alive", MISSING_TOKEN),
        (403, "close", MISSING_TOKEN),
    ]


def test_a_chunked_body_reaches_the_function_and_the_next_request_is_answered(probe):
    """RFC 9112 7.1: the chunks are read as chunks (an extension and a trailer field ignored),
    the function gets the body they make, and a request pipelined after it is answered."""
    url = probe.url("/echo/x")
    chunks = b"5;note=first\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 1\r\n\r\n"
    head = "POST HTTP/1.1\nContent-Type: text/plain\nTransfer-Encoding: chunked"
    answers = raw_http(url, _request(url, head, chunks) + _request(probe.url("/nope"), NOPE))
    [(status, headers, raw), (next_status, _, next_body)] = answers
    event = json.loads(raw)
    assert (status, headers["connection"]) == (201, "keep-alive")
    assert (event["body"], event["isBase64Encoded"]) == ("hello world", False)
    assert "Transfer-Encoding" not in event["headers"]
    assert (next_status, next_body) == (403, MISSING_TOKEN)


def test_transfer_encoding_wins_over_a_content_length_and_the_connection_then_ends(probe):
    """RFC 9112 6.1: a request with both is read by its chunks, and its connection closed after
    the answer, against request smuggling."""
    url = probe.url("/echo/x")
    head = "POST HTTP/1.1\nContent-Type: text/plain\nContent-Length: 3\nTransfer-Encoding: chunked"
    [(status, headers, raw)] = raw_http(url, _request(url, head, b"5\r\nhello\r\n0\r\n\r\n"))
    assert (status, headers["connection"], json.loads(raw)["body"]) == (201, "close", "hello")


@pytest.mark.parametrize(
    "framing, body, status",
    [
        ("Transfer-Encoding: chunked", b"zz\r\nhello\r\n", 400),  # not a hexadecimal size
        ("Transfer-Encoding: chunked", b"3\r\nhello\r\n", 400),  # more data than its size
        ("Transfer-Encoding: chunked", b"5\r\nhel", 400),  # the client stopped halfway
        ("Transfer-Encoding: gzip", b"", 400),  # chunked not last: no end to the body
        ("Transfer-Encoding: gzip, chunked", b"0\r\n\r\n", 501),  # a coding not known here
        ("Content-Length: -1", b"", 400),
        ("Content-Length: 2, 3", b"", 400),
        ("Content-Length: 9", b"hel", 400),  # the client stopped halfway
    ],
)
def test_a_body_that_cannot_be_delimited_is_refused_and_its_connection_closed(
    probe, framing, body, status
):
    """RFC 9112 6.3: where the body ends is unknown, so is where a next request would begin."""
    url = probe.url("/echo/x")
    [answer] = raw_http(url, _request(url, f"POST HTTP/1.1\n{framing}", body), end=True)
    assert answer == (status, {**answer[1], "connection": "close"}, b"")


@pytest.mark.parametrize(
    "data, status, line",
    [
        # A browser sent to https:// on this http:// port: its TLS handshake (a ClientHello).
        (bytes.fromhex("160301020001") + bytes(64), 400, "https:// to a port that serves http://"),
        (b"\x00\x01 \x02 \xff\r\n\r\n", 400, "Bad request version"),
        (b"GET /Prod/nope HTTP/1.1\r\nCookie: " + b"a" * 70000 + b"\r\n\r\n", 431, "Line too long"),
        (b"GET /Prod/" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414, "Request-URI Too Long"),
    ],
    ids=["tls", "binary", "huge-cookie", "huge-path"],
)
def test_a_request_http_server_refuses_is_one_readable_line_in_up(make_stack, data, status, line):
    """No recording shows what API Gateway answers these: http.server's own answer stays, and
    the connection is closed; `up` prints one line that says why, free of the bytes received."""
    lines = []
    stack = make_stack(on_request=lambda request, code, inv, _: lines.append((request, code, inv)))
    [(answered, headers, _)] = raw_http(stack.url(), data, end=True)
    if data.startswith(b"\x00"):  # no HTTP version http.server could read: as to HTTP/0.9,
        assert (answered, headers) == (None, {})  # it answers a page alone
    else:
        assert (answered, headers["connection"]) == (status, "close")
    assert lines == [(f"refused a request: {line}", status, None)]


def test_a_body_that_cannot_be_delimited_says_why_in_up(make_stack):
    lines = []
    stack = make_stack(on_request=lambda request, code, inv, _: lines.append((request, code, inv)))
    url = stack.url("/echo/x")
    raw_http(url, _request(url, "POST HTTP/1.1\nTransfer-Encoding: chunked", b"zz\r\n"), end=True)
    path = urlsplit(url).path
    assert lines == [(f"POST {path} refused: a chunk size is not hexadecimal", 400, None)]


@pytest.mark.parametrize(
    "headers", ["Host: localhost\r\n", ""], ids=["a-header-line-then-nothing", "no-header"]
)
def test_a_request_whose_headers_never_end_is_refused_and_not_run(make_stack, headers):
    """A client that stops sending (half-closes) before the empty line that ends the headers:
    the request was never finished, so no function runs for it."""
    lines = []
    stack = make_stack(on_request=lambda request, code, inv, _: lines.append((request, code, inv)))
    path = urlsplit(stack.url("/echo/x")).path
    data = f"GET {path} HTTP/1.1\r\n{headers}".encode()
    [(status, answered, _)] = raw_http(stack.url(), data, end=True)
    assert (status, answered["connection"]) == (400, "close")
    assert lines == [
        (f"GET {path} refused: its headers never ended: the client stopped first", 400, None)
    ]


def test_an_answer_api_gateway_makes_itself_says_why_in_up(make_stack):
    """The client gets API Gateway's bare answer; `up`'s line for it says why, as API Gateway's
    own logs would (a malformed answer in their words: brefphp/bref#534)."""
    lines = []
    stack = make_stack(on_request=lambda *line: lines.append(line))
    stage = urlsplit(stack.url()).path.split("/")[1]
    paths = ["/nowhere", "/behave/crash", "/behave/malformed"]
    assert [fetch(stack.url(path))[0] for path in paths] == [403, 502, 502]
    whys = [why for _, _, _, why in lines]
    assert whys == [
        # The probe app's API has no OpenApiVersion: SAM deploys it to `Stage` too.
        f"no route GET /{stage}/nowhere: the API serves ANY /{stage}/echo/{{proxy+}}, "
        "ANY /Stage/echo/{proxy+}, "
        f"GET /{stage}/counter, GET /Stage/counter, GET /{stage}/behave/{{how}}, "
        "GET /Stage/behave/{how}",
        "the function failed: ZeroDivisionError: division by zero",
        "Malformed Lambda proxy response: body must be a string (json.dumps it)",
    ]
    request, status, inv, why = lines[2]  # the function ran (warm): its time, then why
    assert not inv.cold_start
    assert served.request_line(request, status, inv, why).endswith(
        f" GET /{stage}/behave/malformed -> 502 ({inv.duration_ms:.0f} ms; API Gateway: {why})"
    )


@pytest.mark.parametrize(("http2", "name"), [(False, "Cookie"), (True, "cookie")])
def test_the_cookie_header_reaches_the_function_named_as_the_browser_sent_it(probe, http2, name):
    """An HTTP/2 browser names its headers in lower case (RFC 9113, 8.2): API Gateway passes
    them on so."""
    answer = Visitor(probe.url("/echo/x"), "sid=abc", http2=http2).visit()
    assert answer.json()["headers"][name] == "sid=abc"


RESPONDING_APP = PROBE_APP.parent / "apigw_app"  # its /respond returns the body it is sent


def test_a_header_value_beyond_latin_1_goes_out_in_utf_8(make_stack):
    stack = make_stack(RESPONDING_APP)
    body = json.dumps({"headers": {"X-Name": "café ☃"}, "body": ""}).encode()
    path = urlsplit(stack.url("/respond")).path
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
    [(status, headers, _)] = raw_http(
        stack.url(), f"{head}Connection: close\r\n\r\n".encode() + body
    )
    assert status == 200
    assert headers["x-name"].encode("latin-1").decode("utf-8") == "café ☃"


@pytest.mark.parametrize(
    "headers",
    [{"X-A": "1\r\nSet-Cookie: evil=1"}, {"X-A": "a\nb"}, {"Bad Name": "1"}, {"": "1"}],
    ids=["crlf-then-a-header", "a-line-feed", "a-space-in-the-name", "no-name"],
)
def test_a_header_that_would_make_other_headers_is_a_malformed_response(headers):
    with pytest.raises(MalformedResponse):
        proxy_response({"headers": headers, "body": ""})
    with pytest.raises(MalformedResponse):
        proxy_response({"multiValueHeaders": {name: [v] for name, v in headers.items()}})


# What an API's settings refuse before the function runs.


@pytest.fixture
def gateway_for():
    """Makes a gateway for one route that records each invoke instead of running a function:
    (gateway, the functions invoked). Each is closed at the end (it holds a port, unserved)."""
    made = []

    def make(api: Api, route: Route) -> tuple[ApiGateway, list[str]]:
        invoked = []

        def invoke(function: str, event: dict) -> Invocation:
            invoked.append(function)
            return Invocation("id", payload={"statusCode": 200, "body": "counted"})

        made.append(ApiGateway([route], invoke, apis={api.logical_id: api}, port=0))
        return made[-1], invoked

    yield make
    for gateway in made:
        gateway.stop()


def _answer(gateway: ApiGateway, path: str, headers: dict[str, str] | None = None):
    response = gateway.handle(Request("GET", path, list((headers or {}).items()), b"", "1.2.3.4"))
    return response.status, dict(response.headers).get("x-amzn-ErrorType"), response.body


KEY = "a" * 40  # an API key of the API's usage plan


@pytest.mark.parametrize(
    "headers, answer",
    [
        ({}, (403, "ForbiddenException", b'{"message":"Forbidden"}')),
        ({"x-api-key": "b" * 40}, (403, "ForbiddenException", b'{"message":"Forbidden"}')),
        ({"X-API-Key": KEY}, (200, None, b"counted")),
    ],
    ids=["no-key", "a-key-of-no-usage-plan", "the-usage-plan-s-key"],
)
def test_a_method_that_requires_an_api_key_refuses_a_request_without_a_valid_one(
    gateway_for, headers, answer
):
    """AWS's knowledge center (troubleshooting 403s): "API key isn't valid", ForbiddenException,
    "Forbidden"; the function does not run."""
    api = Api("Api", "Prod", api_keys=(KEY,), extra_stage="Stage")
    gateway, invoked = gateway_for(api, Route("Api", "Prod", "/hello", "GET", "Fn", "NONE", True))
    assert _answer(gateway, "/Prod/hello", headers) == answer
    assert invoked == (["Fn"] if answer[0] == 200 else [])
    # SAM's usage plan names the API's StageName: on its extra stage, no key is valid.
    assert _answer(gateway, "/Stage/hello", headers)[0] == 403


@pytest.mark.parametrize(
    "headers, answer",
    [
        ({}, (403, "MissingAuthenticationTokenException", MISSING_TOKEN)),
        ({"Authorization": "Bearer abc"}, (403, "IncompleteSignatureException", None)),
        (
            {
                "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/execute-api/"
                "aws4_request, SignedHeaders=host;x-amz-date, Signature=0123abcd"
            },
            (200, None, b"counted"),
        ),
    ],
    ids=["unsigned", "a-bearer-token", "signed"],
)
def test_a_method_with_iam_authorization_refuses_an_unsigned_request(gateway_for, headers, answer):
    """As API Gateway answers a request for no route (AWS's knowledge center: "Missing
    Authentication Token", an authentication token wasn't found in the request); a signed one
    goes through, its signature unchecked."""
    gateway, invoked = gateway_for(
        Api("Api", "Prod"), Route("Api", "Prod", "/hello", "GET", "Fn", "AWS_IAM")
    )
    status, error_type, body = _answer(gateway, "/Prod/hello", headers)
    assert (status, error_type) == answer[:2]
    assert answer[2] is None or body == answer[2]
    assert invoked == (["Fn"] if status == 200 else [])


def test_an_api_with_its_default_endpoint_disabled_answers_403_and_runs_nothing(gateway_for):
    """API Gateway's guide ("Disable the default endpoint for REST APIs"): 403 Forbidden; its
    body was never recorded, so the harness makes none up."""
    gateway, invoked = gateway_for(
        Api("Api", "Prod", execute_api_disabled=True), Route("Api", "Prod", "/hello", "GET", "Fn")
    )
    for path in ("/Prod/hello", "/hello"):
        assert _answer(gateway, path) == (403, None, b"")
    assert invoked == []
