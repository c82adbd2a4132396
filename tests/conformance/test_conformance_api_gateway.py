"""API Gateway (REST API, Lambda proxy integration) against what AWS was recorded doing.

References, each case naming its own:
- LocalStack's snapshots recorded against real AWS, localstack/localstack at commit
  8b9a79f05846835cf4dff63ab7eefdde9df83783, under tests/aws/services/apigateway/:
  `test_apigateway_lambda.snapshot.json` (test_lambda_aws_proxy_integration, recorded
  02-08-2024; test_aws_proxy_response_payload_format_validation, 15-11-2024),
  `test_apigateway_common.snapshot.json` (test_routing_not_found, test_invocation_trace_id),
  `test_apigateway_integrations.snapshot.json` (test_apigateway_header_remapping_aws[AWS_PROXY]).
  The facts are taken from the recorded content; the request each test sent is in the `.py`
  file of the same name.
- AWS documentation pages, named by URL.
- Real AWS answers quoted in public issues, named by repository and number.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
from pathlib import Path

import pytest

from tests.helpers import raw_http
from workshop.local.api_gateway import ApiGateway
from workshop.local.stack import Stack
from workshop.types import Route

APP = Path(__file__).resolve().parent.parent / "fixtures" / "apigw_app"
LS = "localstack tests/aws/services/apigateway/"


@pytest.fixture(scope="module")
def api():
    """The port of the conformance app's API, served as `up` serves it."""
    stack = Stack(APP, stack_name="conformance", port=0, fresh=True).start()
    yield stack.api.port
    stack.stop()


def call(port, method, path, headers=(), body=None):
    """(status, [(name, value)] as sent, body) of one request, headers in the case given."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    connection.putheader("Host", f"127.0.0.1:{port}")
    for name, value in headers:
        connection.putheader(name, value)
    if body is not None:
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    answer = response.status, response.getheaders(), response.read()
    connection.close()
    return answer


def event_of(port, method, path, headers=(), body=None) -> dict:
    status, _, raw = call(port, method, path, headers, body)
    assert status == 200, raw
    return json.loads(raw)


def respond(port, proxy_response, accept: str | None = None):
    """What API Gateway answers for a function that returns `proxy_response`."""
    headers = [("Accept", accept)] if accept else []
    return call(port, "POST", "/Prod/respond", headers, json.dumps(proxy_response).encode())


def names(headers) -> list[str]:
    return [name.lower() for name, _ in headers]


# The stage in the path.


def test_the_deployed_url_path_with_the_stage_is_served(api):
    """https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-call-api.html: a
    REST API is invoked at https://{restapi_id}.execute-api.{region}.amazonaws.com/{stage}/."""
    event = event_of(api, "GET", "/Prod/items/special")
    assert (event["resource"], event["path"]) == ("/items/special", "/items/special")
    assert event["requestContext"]["stage"] == "Prod"
    assert event["requestContext"]["path"] == "/Prod/items/special"


def test_a_url_without_a_stage_is_403_forbidden(api):
    """OWASP/Serverless-Goat#14 (AWS, 2019): the API's URL without the stage answered
    {"message":"Forbidden"}; https://repost.aws/knowledge-center/api-gateway-troubleshoot-403-
    forbidden: that message comes with x-amzn-ErrorType ForbiddenException. (Locally a path
    without the stage that a route matches is served, as the next case says.)"""
    status, headers, body = call(api, "GET", "/")
    assert (status, body) == (403, b'{"message":"Forbidden"}')
    assert dict(headers)["x-amzn-ErrorType"] == "ForbiddenException"


def test_locally_a_path_without_the_stage_is_served_as_sam_local_serves_it(api):
    """aws/aws-sam-cli samcli/local/apigw/local_apigw_service.py: `sam local start-api`
    serves each route at its path, without the stage. A local convenience AWS does not offer
    (there it is 403 Forbidden); the event still names the stage, as the deployed API's."""
    event = event_of(api, "GET", "/items/special")
    assert event["path"] == "/items/special"
    assert event["requestContext"]["path"] == "/Prod/items/special"


@pytest.mark.parametrize(("method", "path"), [("GET", "/dev/nowhere"), ("POST", "/dev/regional")])
def test_an_unknown_resource_or_method_is_missing_authentication_token(api, method, path):
    """LS test_apigateway_common.snapshot.json, test_routing_not_found: "not-found" and
    "wrong-method" answer {"message": "Missing Authentication Token"} with errorType
    MissingAuthenticationTokenException."""
    status, headers, body = call(api, method, path, body=b"" if method == "POST" else None)
    assert (status, body) == (403, b'{"message":"Missing Authentication Token"}')
    assert dict(headers)["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


# The event's headers.


def test_the_event_headers_keep_the_clients_case_but_recase_authorization(api):
    """LS test_apigateway_lambda.snapshot.json, test_lambda_aws_proxy_integration: sent
    `tEsT-HEADeR: aValUE` and `authorization: random-value`, the function got `tEsT-HEADeR`
    and `Authorization`. aws/aws-sam-cli#1860 (AWS, 2020): `user-agent` from an HTTP/2 client
    arrived as `User-Agent`, Host as `Host`."""
    event = event_of(
        api,
        "GET",
        "/Prod/items/1",
        [("tEsT-HEADeR", "aValUE"), ("authorization", "random-value"), ("user-agent", "t/1")],
    )
    assert event["headers"]["tEsT-HEADeR"] == "aValUE"
    assert event["multiValueHeaders"]["tEsT-HEADeR"] == ["aValUE"]
    assert event["headers"]["Authorization"] == "random-value"
    assert event["headers"]["User-Agent"] == "t/1"
    assert "authorization" not in event["headers"] and "user-agent" not in event["headers"]


DROPPED = [
    ("Connection", "keep-alive"),
    ("Content-MD5", "request_Content-MD5"),
    ("Max-Forwards", "2"),
    ("Proxy-Authenticate", "Basic"),
    ("Server", "https://example.com/"),
    ("TE", "deflate"),
    ("Trailer", "Expires"),
    ("Upgrade", "HTTP/2.0"),
    ("WWW-Authenticate", "Basic YWxhZGRpbjpvcGVuc2VzYW1l"),
]
KEPT = [
    ("Accept-Charset", "UTF-8"),
    ("Age", "request_Age"),
    ("Content-Encoding", "deflate"),
    ("Content-Type", "application/json"),
    ("Pragma", "cache"),
    ("Range", "bytes=500-999"),
    ("Referer", "https://example.com/"),
    ("Warn", "299 localStack/0.0"),
]


def test_the_event_drops_the_hop_by_hop_headers_and_content_length(api):
    """LS test_apigateway_integrations.snapshot.json, test_apigateway_header_remapping_aws
    [AWS_PROXY] "no-param-integration": of the headers the client sent (the test's `.py`),
    Connection, Content-MD5, Expect, Max-Forwards, Proxy-Authenticate, Server, TE, Trailer,
    Transfer-Encoding, Upgrade and WWW-Authenticate never reached the function; the others
    did. test_lambda_aws_proxy_integration "...-params-encoding-multi": a POST's
    Content-Length did not either."""
    event = event_of(api, "POST", "/Prod/items-post", [*DROPPED, *KEPT], b'{"a": 1}')
    received = {name.lower() for name in event["headers"]}
    assert not received & {name.lower() for name, _ in DROPPED}
    assert "content-length" not in received
    assert all(event["headers"][name] == value for name, value in KEPT)


def test_the_event_has_the_headers_api_gateway_and_cloudfront_add(api):
    """LS test_lambda_aws_proxy_integration "invocation-payload-without-trailing-slash" (an
    edge-optimized API, API Gateway's default): CloudFront-Forwarded-Proto, CloudFront-Is-*-
    Viewer, Host (the execute-api domain), Via, X-Amz-Cf-Id, X-Amzn-Trace-Id, X-Forwarded-For
    ("<source-ip>, <ip>"), X-Forwarded-Port and X-Forwarded-Proto. Values as in the AWS
    documentation's example event, https://docs.aws.amazon.com/apigateway/latest/
    developerguide/set-up-lambda-proxy-integrations.html."""
    event = event_of(api, "GET", "/Prod/items/1", [("User-Agent", "python-requests/testing")])
    headers = event["headers"]
    assert (
        headers["Host"] == f"{event['requestContext']['apiId']}.execute-api.us-east-1.amazonaws.com"
    )
    assert headers["CloudFront-Forwarded-Proto"] == "https"
    assert [headers[f"CloudFront-Is-{kind}-Viewer"] for kind in ("Desktop", "Mobile")] == [
        "true",
        "false",
    ]
    assert headers["CloudFront-Is-SmartTV-Viewer"] == headers["CloudFront-Is-Tablet-Viewer"]
    assert re.fullmatch(r"1\.1 [0-9a-f]{32}\.cloudfront\.net \(CloudFront\)", headers["Via"])
    assert re.fullmatch(r"[A-Za-z0-9_-]{54}==", headers["X-Amz-Cf-Id"])
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", headers["X-Amzn-Trace-Id"])
    assert headers["X-Forwarded-For"] == "127.0.0.1, 127.0.0.1"
    assert (headers["X-Forwarded-Port"], headers["X-Forwarded-Proto"]) == ("443", "https")
    assert all(event["multiValueHeaders"][name] == [value] for name, value in headers.items())


def test_a_regional_api_gets_no_cloudfront_headers(api):
    """LS test_apigateway_header_remapping_aws[AWS_PROXY] (a REGIONAL endpoint): the function
    got Host, X-Amzn-Trace-Id and X-Forwarded-For/Port/Proto, and no CloudFront-* header, no
    X-Amz-Cf-Id."""
    event = event_of(api, "GET", "/dev/regional")
    headers = event["headers"]
    assert not [name for name in headers if name.startswith("CloudFront-")]
    assert "X-Amz-Cf-Id" not in headers
    assert headers["X-Forwarded-For"] == "127.0.0.1"
    assert event["requestContext"]["stage"] == "dev"


# The event's other fields.

CONTEXT_KEYS = {
    *("accountId", "apiId", "deploymentId", "domainName", "domainPrefix"),
    *("extendedRequestId", "httpMethod", "identity", "path", "protocol", "requestId"),
    *("requestTime", "requestTimeEpoch", "resourceId", "resourcePath", "stage"),
}
IDENTITY_KEYS = {
    *("accessKey", "accountId", "caller", "cognitoAuthenticationProvider"),
    *("cognitoAuthenticationType", "cognitoIdentityId", "cognitoIdentityPoolId"),
    *("principalOrgId", "sourceIp", "user", "userAgent", "userArn"),
}
EVENT_KEYS = {
    *("body", "headers", "httpMethod", "isBase64Encoded", "multiValueHeaders"),
    *("multiValueQueryStringParameters", "path", "pathParameters", "queryStringParameters"),
    *("requestContext", "resource", "stageVariables"),
}


def test_the_event_and_its_request_context_have_every_field_aws_sends(api):
    """LS test_lambda_aws_proxy_integration "invocation-payload-without-trailing-slash": the
    event's keys, requestContext's (deploymentId, domainName, domainPrefix, extendedRequestId
    among them) and identity's, principalOrgId included; domainName is the Host, domainPrefix
    the API id, protocol HTTP/1.1, stageVariables null."""
    status, headers, raw = call(api, "GET", "/Prod/items/1", [("User-Agent", "ua/1")])
    event = json.loads(raw)
    context = event["requestContext"]
    assert set(event) == EVENT_KEYS
    assert set(context) == CONTEXT_KEYS
    assert set(context["identity"]) == IDENTITY_KEYS
    assert context["domainName"] == event["headers"]["Host"]
    assert context["domainPrefix"] == context["apiId"]
    assert re.fullmatch(r"[a-z0-9]{10}", context["apiId"])
    assert re.fullmatch(r"[a-z0-9]{6}", context["deploymentId"])
    assert re.fullmatch(r"[a-z0-9]{6}", context["resourceId"])
    assert (context["protocol"], context["resourcePath"]) == ("HTTP/1.1", "/items/{id}")
    assert (context["identity"]["sourceIp"], context["identity"]["userAgent"]) == (
        "127.0.0.1",
        "ua/1",
    )
    assert context["requestId"] == dict(headers)["x-amzn-RequestId"]
    assert event["stageVariables"] is None and event["body"] is None


def test_the_path_and_path_parameters_stay_percent_encoded(api):
    """LS test_lambda_aws_proxy_integration "invocation-payload-with-path-encoded-email":
    `.../user/test%2Balias@gmail.com/plus/test+alias@gmail.com` reached the function as sent,
    in `path`, `pathParameters.proxy` and requestContext.path."""
    sent = "/proxy-value/api/user/test%2Balias@gmail.com/plus/test+alias@gmail.com"
    event = event_of(api, "GET", f"/Prod{sent}")
    assert event["path"] == sent
    assert event["pathParameters"] == {"proxy": sent[1:]}
    assert event["requestContext"]["path"] == f"/Prod{sent}"
    item = event_of(api, "GET", "/Prod/items/a%20b")
    assert item["pathParameters"] == {"id": "a%20b"}


def test_the_query_string_is_decoded_the_last_value_single(api):
    """LS test_lambda_aws_proxy_integration "invocation-payload-with-params-encoding" and
    "...-multi": `email=test%2Balias@gmail.com` gives `test+alias@gmail.com`,
    `plus=test+alias@gmail.com` gives `test alias@gmail.com`, and `price=10&price=20&price=30`
    gives 30 in queryStringParameters and all three in the multi-value one."""
    query = "email=test%2Balias@gmail.com&plus=test+alias@gmail.com&price=10&price=20&price=30"
    event = event_of(api, "GET", f"/Prod/proxy-value/api?{query}")
    assert event["queryStringParameters"] == {
        "email": "test+alias@gmail.com",
        "plus": "test alias@gmail.com",
        "price": "30",
    }
    assert event["multiValueQueryStringParameters"]["price"] == ["10", "20", "30"]
    assert event["path"] == "/proxy-value/api"


@pytest.mark.parametrize(
    ("sent", "path", "proxy", "context_path"),
    [
        ("/Prod/proxy-value/", "/proxy-value/", "proxy-value", "/Prod/proxy-value/"),
        (
            "/Prod/proxy-value//double-slash",
            "/proxy-value//double-slash",
            "proxy-value//double-slash",
            "/Prod/proxy-value//double-slash",
        ),
        ("/Prod//proxy-value", "/proxy-value", "proxy-value", "/Prod//proxy-value"),
    ],
)
def test_greedy_paths_with_trailing_and_doubled_slashes(api, sent, path, proxy, context_path):
    """LS test_lambda_aws_proxy_integration "invocation-payload-with-trailing-slash",
    "...-with-double-slash" and "...-with-prepended-slash": a trailing slash stays in `path`
    but not in the greedy parameter; slashes doubled inside stay, doubled after the stage are
    dropped from `path` but kept in requestContext.path."""
    event = event_of(api, "GET", sent)
    assert event["path"] == path
    assert event["pathParameters"] == {"proxy": proxy}
    assert event["requestContext"]["path"] == context_path
    assert event["resource"] == "/{proxy+}"


@pytest.mark.parametrize(
    ("method", "path", "resource"),
    [
        ("GET", "/Prod/items/special", "/items/special"),
        ("GET", "/Prod/items/other", "/items/{id}"),
        ("GET", "/Prod/items/other/deeper", "/{proxy+}"),
        ("GET", "/Prod/only-post", "/{proxy+}"),
        ("POST", "/Prod/only-post", "/only-post"),
    ],
)
def test_the_most_specific_resource_with_the_method_answers(api, method, path, resource):
    """LS test_apigateway_common.py, TestApigatewayRouting (validated against AWS):
    test_routing_with_hardcoded_resource_sibling_order (a literal resource answers before a
    greedy sibling defined first) and test_proxy_routing_with_hardcoded_resource_sibling (a
    method the literal resource lacks is answered by the greedy sibling that has it)."""
    event = event_of(api, method, path, body=b"{}" if method == "POST" else None)
    assert event["resource"] == resource


def test_a_binary_request_body_is_base64_only_for_binary_media_types(api):
    """https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-
    encodings.html: binaryMediaTypes lists the content types the API treats as binary; a
    text body reaches the function as is, isBase64Encoded false."""
    png = b"\x89PNG\r\n\x1a\n\x00\xff"
    binary = event_of(api, "POST", "/Prod/upload", [("Content-Type", "image/png")], png)
    assert (binary["isBase64Encoded"], base64.b64decode(binary["body"])) == (True, png)
    text = event_of(api, "POST", "/Prod/upload", [("Content-Type", "text/plain")], b"caf\xc3\xa9")
    assert (text["isBase64Encoded"], text["body"]) == (False, "café")


# The proxy response.


def test_response_headers_merge_multi_value_first_under_its_case(api):
    """LS test_apigateway_lambda.snapshot.json, test_aws_proxy_response_payload_format_
    validation: multiValueHeaders {"tesT-Multi": ["value-multi"]} with headers
    {"test-multi": "value-solo"} answered `tesT-Multi: value-multi, value-solo`;
    {"test-multi": ["value1", "value2"]} answered both values."""
    status, headers, _ = respond(
        api,
        {
            "statusCode": 200,
            "multiValueHeaders": {"tesT-Multi": ["value-multi"], "Set-Cookie": ["a=1", "b=2"]},
            "headers": {"test-multi": "value-solo"},
        },
    )
    assert status == 200
    assert [(n, v) for n, v in headers if n.lower() == "test-multi"] == [
        ("tesT-Multi", "value-multi"),
        ("tesT-Multi", "value-solo"),
    ]
    assert [v for n, v in headers if n == "Set-Cookie"] == ["a=1", "b=2"]


def test_a_boolean_header_value_is_written_as_json(api):
    """LS test_aws_proxy_response_payload_format_validation "invoke-api-with-headers":
    {"header-bool": true} answered `header-bool: true`; headers null answered no header and
    Content-Type application/json."""
    _, headers, _ = respond(api, {"statusCode": 200, "headers": {"header-bool": True}})
    assert ("header-bool", "true") in headers
    status, headers, body = respond(api, {"statusCode": 200, "headers": None})
    assert (status, body, dict(headers)["Content-Type"]) == (200, b"", "application/json")


def test_a_base64_body_is_decoded_only_when_binary_media_types_match_the_accept(api):
    """LS "invoke-api-b64-encoded-true" (an API without binaryMediaTypes): the body came back
    still base64, `dGVzdC1kYXRh`. https://docs.aws.amazon.com/apigateway/latest/
    developerguide/api-gateway-payload-encodings.html: with binaryMediaTypes, API Gateway
    decodes when the client's first Accept type is one of them."""
    encoded = {"statusCode": 200, "body": "dGVzdC1kYXRh", "isBase64Encoded": True}
    assert respond(api, encoded, accept="application/json")[2] == b"dGVzdC1kYXRh"
    assert respond(api, encoded, accept="image/png, */*")[2] == b"test-data"
    assert respond(api, encoded, accept="text/html, image/png")[2] == b"dGVzdC1kYXRh"


@pytest.mark.parametrize(
    ("proxy_response", "status"),
    [
        ({"statusCode": "201"}, 201),
        ({"headers": {"test-header": "value"}}, 200),
        ({"statusCode": "test"}, 502),
        ({"statusCode": 200, "wrongValue": "value"}, 502),
        ({"statusCode": 200, "multiValueHeaders": {"test-multi-invalid": "value1"}}, 502),
        ("justAString", 502),
    ],
)
def test_what_a_proxy_response_may_be(api, proxy_response, status):
    """LS test_aws_proxy_response_payload_format_validation: "invoke-api-status-code-str"
    201, "invoke-api-only-headers" 200, and 502 {"message": "Internal server error"} for
    "invoke-api-invalid-status-code", "-wrong-format", "-multi-headers-invalid", "-just-string"."""
    answered, _, body = respond(api, proxy_response)
    assert answered == status
    if status == 502:
        assert body == b'{"message": "Internal server error"}'


# API Gateway's own answers.


def test_a_malformed_proxy_response_is_a_502_with_aws_body_and_error_type(api):
    """https://aws.amazon.com/premiumsupport/knowledge-center/malformed-502-api-gateway/: a
    function whose response is not in the proxy format (here a body that is not a string)
    makes API Gateway answer 502. LS test_apigateway_
    integrations.snapshot.json, test_apigateway_header_remapping_aws[AWS_PROXY]
    "content-length" (a 500 API Gateway made itself): that body, Content-Length 36,
    Content-Type application/json, x-amzn-ErrorType InternalServerErrorException,
    x-amz-apigw-id and x-amzn-RequestId."""
    status, headers, body = respond(api, {"statusCode": 200, "body": {"not": "a string"}})
    found = dict(headers)
    assert (status, body) == (502, b'{"message": "Internal server error"}')
    assert (found["Content-Length"], found["Content-Type"]) == ("36", "application/json")
    assert found["x-amzn-ErrorType"] == "InternalServerErrorException"
    assert "x-amz-apigw-id" in found and "x-amzn-RequestId" in found


def test_the_response_headers_are_api_gateways_with_no_server_header(api):
    """LS test_apigateway_common.snapshot.json, test_invocation_trace_id
    "normal-req-headers-AWS_PROXY": connection, content-length, content-type, date,
    x-amz-apigw-id, x-amzn-requestid and x-amzn-trace-id (besides CloudFront's), no server."""
    status, headers, _ = call(api, "GET", "/Prod/items/1")
    assert status == 200
    found = set(names(headers))
    assert "server" not in found
    assert {"connection", "content-length", "content-type", "date"} <= found
    assert {"x-amz-apigw-id", "x-amzn-requestid", "x-amzn-trace-id"} <= found
    extended = dict(headers)["x-amz-apigw-id"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{15}=", extended)  # `OE1AoH3hoAMF_bA=` (azul#3886)


def test_an_integration_that_cannot_be_invoked_is_a_500_not_a_dropped_connection():
    """LS test_apigateway_lambda.snapshot.json, test_lambda_aws_proxy_integration_non_post_
    method: an integration Lambda refuses to invoke answers {"message": "Internal server
    error"}, and the test expects status 500."""

    def broken(function: str, event: dict):
        raise ConnectionError("the Lambda service could not be reached")

    gateway = ApiGateway([Route("Api", "Prod", "/x", "GET", "Fn")], broken, port=0).start()
    try:
        status, headers, body = call(gateway.port, "GET", "/Prod/x")
    finally:
        gateway.stop()
    assert (status, body) == (500, b'{"message": "Internal server error"}')
    assert dict(headers)["x-amzn-ErrorType"] == "InternalServerErrorException"


# Payload limits.


def test_a_body_over_api_gateways_10_mb_quota_is_refused_in_text_before_it_is_read(api):
    """koki-develop/lgtm-generator#10 (recorded against AWS): 413, `HTTP content length
    exceeded 10485760 bytes.`, Content-Type `text; charset=utf-8`, no request id."""
    url = f"http://127.0.0.1:{api}/Prod/respond"
    head = f"POST /Prod/respond HTTP/1.1\r\nHost: 127.0.0.1:{api}\r\n"
    head += f"Content-Length: {10 * 1024 * 1024 + 1}\r\n\r\n"
    [(status, headers, body)] = raw_http(url, head.encode())  # the body is never sent
    assert (status, body) == (413, b"HTTP content length exceeded 10485760 bytes.")
    assert headers["content-type"] == "text; charset=utf-8"
    assert "x-amzn-requestid" not in headers


def test_an_event_over_lambdas_6_mb_payload_quota_is_refused_with_413(api):
    """koki-develop/lgtm-generator#10 (recorded against AWS): a body under 10 MB whose event is
    over Lambda's 6 MB: 413 `{"message": "Request Too Long"}`, BadRequestException."""
    status, headers, body = call(api, "POST", "/Prod/respond", body=b"x" * (6 * 1024 * 1024))
    assert (status, body) == (413, b'{"message": "Request Too Long"}')
    assert dict((name.lower(), value) for name, value in headers)["x-amzn-errortype"] == (
        "BadRequestException"
    )


def test_a_function_response_over_lambdas_6_mb_quota_is_a_502(api):
    """DataBiosphere/azul issues #7466 and #8258 (AWS, 2026): a handler's response over
    6291556 bytes makes API Gateway answer 502 `Internal server error`, an INTEGRATION_FAILURE;
    the same response a little under the quota is served."""
    under = call(
        api, "POST", "/Prod/respond", body=b'{"statusCode": 200, "body": "x", "bodyTimes": 6000000}'
    )
    over = call(
        api, "POST", "/Prod/respond", body=b'{"statusCode": 200, "body": "x", "bodyTimes": 6300000}'
    )
    assert (under[0], len(under[2])) == (200, 6000000)
    assert (over[0], over[2]) == (502, b'{"message": "Internal server error"}')


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        pytest.param(None, None, id="none"),
        pytest.param("Root=1-3152b799-8954dae64eda91bc9a23a7e8", None, id="root-only"),
        pytest.param(
            "Root=1-3152b799-8954dae64eda91bc9a23a7e8;Parent=7fa8c0f79203be72;Sampled=1",
            "Root=1-3152b799-8954dae64eda91bc9a23a7e8;Parent=7fa8c0f79203be72;Sampled=1",
            id="full",
        ),
    ],
)
def test_the_answers_trace_header_has_a_parent_and_the_events_the_root(api, sent, kept):
    """LS test_invocation_trace_id (AWS-validated): a full trace header sent comes back as it
    was; one with only its Root comes back with a Parent of API Gateway's. A real answer,
    DataBiosphere/azul#7582 (2025): `Root=...;Parent=<16 hex>;Sampled=0;...`. The event's
    header keeps the Root it was given, or API Gateway's own (azul#7403)."""
    headers = [("X-Amzn-Trace-Id", sent)] if sent else []
    _, answered, raw = call(api, "GET", "/Prod/items/1", headers)
    trace = dict(answered)["X-Amzn-Trace-Id"]
    seen = json.loads(raw)["headers"]["X-Amzn-Trace-Id"]
    if kept:
        assert trace == kept == seen
    else:
        root = sent or seen
        assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", root) and seen == root
        assert re.fullmatch(rf"{root};Parent=[0-9a-f]{{16}};Sampled=0", trace)


def test_a_burst_of_visitors_waits_in_a_queue_as_long_as_the_systems():
    """Python's servers let 5 connections wait to be accepted by default: 50 visitors at once
    then waited for the kernel's retries, seconds apart, and some got no answer. Here nobody
    accepts (the server is not started): 64 connections must still be made at once."""
    gateway = ApiGateway([Route("Api", "Prod", "/x", "GET", "Fn")], lambda *_: None, port=0)
    port = gateway.server.server_address[1]
    waiting = []
    try:
        for _ in range(64):  # a connection the queue cannot take times out: not made
            waiting.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    finally:
        for connection in waiting:
            connection.close()
        gateway.stop()
    assert len(waiting) == 64
