"""The event API Gateway hands a Lambda proxy integration (REST API, payload format 1.0)."""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from workshop.local.sam_template import ACCOUNT_ID
from workshop.local.trace_header import new_root
from workshop.types import Api, Route

# Request headers API Gateway never passes to an integration, proxy or not.
DROPPED_HEADERS = {
    *("connection", "content-length", "content-md5", "expect", "max-forwards"),
    *("proxy-authenticate", "server", "te", "trailer", "transfer-encoding", "upgrade"),
    "www-authenticate",
}
# Names API Gateway writes in its own case, whatever case the client sent them in; every
# other name reaches the function as the client wrote it (HTTP/2 clients send lower case).
RECASED_HEADERS = {"authorization": "Authorization", "host": "Host", "user-agent": "User-Agent"}


@dataclass(frozen=True)
class Request:
    """An HTTP request as it reached the gateway (path still percent-encoded)."""

    method: str
    raw_path: str  # path and query, as on the request line
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str


def _recase(name: str) -> str:
    return RECASED_HEADERS.get(name.lower(), name)


def _edge_headers(api: Api | None, source_ip: str, user_agent: str) -> list[tuple[str, str]]:
    """What CloudFront adds before an edge-optimized API (API Gateway's default) sees a request."""
    if api is not None and api.endpoint_type != "EDGE":
        return [("X-Forwarded-For", source_ip)]
    mobile = "Mobi" in user_agent or "Android" in user_agent
    tablet = "iPad" in user_agent or "Tablet" in user_agent
    smart_tv = "SmartTV" in user_agent or "SMART-TV" in user_agent
    return [
        ("CloudFront-Forwarded-Proto", "https"),
        ("CloudFront-Is-Desktop-Viewer", json.dumps(not (mobile or tablet or smart_tv))),
        ("CloudFront-Is-Mobile-Viewer", json.dumps(mobile and not tablet)),
        ("CloudFront-Is-SmartTV-Viewer", json.dumps(smart_tv)),
        ("CloudFront-Is-Tablet-Viewer", json.dumps(tablet)),
        ("Via", f"1.1 {secrets.token_hex(16)}.cloudfront.net (CloudFront)"),
        ("X-Amz-Cf-Id", base64.urlsafe_b64encode(secrets.token_bytes(40)).decode()),
        # The viewer, then the edge that forwarded the request: here both are this machine.
        ("X-Forwarded-For", f"{source_ip}, {source_ip}"),
    ]


def trace_id(headers: list[tuple[str, str]]) -> str:
    """The request's X-Ray trace header: the client's own, or a new root as API Gateway makes."""
    for name, value in headers:
        if name.lower() == "x-amzn-trace-id" and value.startswith("Root="):
            return value
    return new_root()


def gateway_headers(
    request: Request, api: Api | None, region: str, trace: str
) -> list[tuple[str, str]]:
    """The request's headers as the function receives them: dropped, re-cased and added to."""
    added = {
        "Host": domain_name(api, region),
        "X-Amzn-Trace-Id": trace,
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    user_agent = next((v for n, v in request.headers if n.lower() == "user-agent"), "")
    added.update(_edge_headers(api, request.source_ip, user_agent))
    taken = {name.lower() for name in added}
    kept = [
        (_recase(name), value)
        for name, value in request.headers
        if name.lower() not in DROPPED_HEADERS and name.lower() not in taken
    ]
    return kept + list(added.items())


def domain_name(api: Api | None, region: str) -> str:
    """The API's execute-api host name, as in its deployed URL."""
    api_id = api.api_id if api is not None and api.api_id else "local"
    return f"{api_id}.execute-api.{region}.amazonaws.com"


def matches_media_type(media_type: str, patterns: tuple[str, ...]) -> bool:
    """Whether a Content-Type or Accept type is one of binaryMediaTypes (`*/*`, `image/*`)."""
    kind = media_type.split(";", 1)[0].strip().lower()
    major = kind.partition("/")[0]
    return any(p in ("*/*", kind) or p == f"{major}/*" for p in (p.lower() for p in patterns))


def extended_id() -> str:
    """An extended request id, as in `x-amz-apigw-id`: 16 characters of URL-safe base64
    (`OE1AoH3hoAMF_bA=` in DataBiosphere/azul#3886)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode()


def short_id(length: int, seed: str) -> str:
    """An id of a-z0-9 derived from `seed`, like API Gateway's resource and deployment ids."""
    number = int(uuid.uuid5(uuid.NAMESPACE_URL, seed).hex, 16)
    return "".join(
        "0123456789abcdefghijklmnopqrstuvwxyz"[(number >> 6 * i) % 36] for i in range(length)
    )


def build_event(
    route: Route,
    method: str,
    raw_path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    path_parameters: dict[str, str],
    source_ip: str,
    request_id: str,
    *,
    api: Api | None = None,
    region: str = "us-east-1",
    trace: str | None = None,
    extended_request_id: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The event a Lambda proxy integration receives, as API Gateway builds it.

    `raw_path` is the path as requested (with or without the stage), percent-encoded, and
    `path_parameters` are kept encoded too; `headers` are the client's; `now` is when it came
    (by default, now).
    """
    url = urlsplit(raw_path)
    stage = api.stage if api is not None else route.stage
    first, _, rest = url.path.lstrip("/").partition("/")
    # The path after the stage, still encoded; API Gateway drops slashes doubled at its start.
    path = "/" + (rest if first == stage else url.path).lstrip("/")
    request = Request(method, raw_path, headers, body, source_ip)
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in gateway_headers(request, api, region, trace or trace_id(headers)):
        single[name] = value  # API Gateway keeps the last value in `headers`
        multi.setdefault(name, []).append(value)
    query = parse_qsl(url.query, keep_blank_values=True)
    query_multi: dict[str, list[str]] = {}
    for name, value in query:
        query_multi.setdefault(name, []).append(value)
    content_type = next((v for n, v in headers if n.lower() == "content-type"), "")
    binary = bool(body) and matches_media_type(content_type, api.binary_media_types if api else ())
    text = base64.b64encode(body).decode("ascii") if binary else body.decode("utf-8", "replace")
    now = time.time() if now is None else now
    domain = domain_name(api, region)
    user_agent = single.get("User-Agent")
    deployment = f"{api.api_id if api else 'local'}/{stage}/deployment"
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": dict(query) or None,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": short_id(6, f"{deployment}{route.path}"),
            "resourcePath": route.path,
            "httpMethod": method,
            "extendedRequestId": extended_request_id or extended_id(),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            # The stage, then the path as requested: slashes doubled after the stage stay here.
            "path": "/" + url.path.lstrip("/") if first == stage else f"/{stage}{url.path}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": domain.split(".", 1)[0],
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": user_agent,
                "user": None,
            },
            "domainName": domain,
            "deploymentId": short_id(6, deployment),
            "apiId": api.api_id if api else "local",
        },
        "body": text if body else None,
        "isBase64Encoded": binary,
    }
