"""API Gateway, REST API with Lambda proxy integration: HTTP in, a v1 proxy event out, and back."""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from workshop.lambda_runtime import Invocation, Throttled
from workshop.sam_template import ACCOUNT_ID, Api, Route

INTEGRATION_TIMEOUT = 29.0  # seconds: API Gateway gives up on a Lambda integration after this
PROXY_RESPONSE_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
# The bodies API Gateway itself answers with, byte for byte.
MISSING_TOKEN = b'{"message":"Missing Authentication Token"}'
INTERNAL_ERROR = b'{"message": "Internal server error"}'
TIMED_OUT = b'{"message": "Endpoint request timed out"}'
TOO_MANY_REQUESTS = b'{"message":"Too Many Requests"}'


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class _Router:
    """Matches a method and path to a route, with `{name}` and `{proxy+}` path parameters."""

    def __init__(self, routes: list[Route]):
        self.routes = [(route, self._pattern(route.path)) for route in routes]

    @staticmethod
    def _pattern(path: str) -> re.Pattern[str]:
        parts = []
        for segment in path.strip("/").split("/"):
            if re.fullmatch(r"\{\w+\+\}", segment):
                parts.append(f"(?P<{segment[1:-2]}>.+)")
            elif re.fullmatch(r"\{\w+\}", segment):
                parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
            else:
                parts.append(re.escape(segment))
        return re.compile("/" + "/".join(parts) + "/?")

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route, pattern in self.routes:
            found = pattern.fullmatch(path)
            if found and route.method in (method, "ANY"):
                return route, {k: unquote(v) for k, v in found.groupdict().items()}
        return None


def build_event(
    route: Route,
    method: str,
    raw_path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    path_parameters: dict[str, str],
    source_ip: str,
    request_id: str,
) -> dict[str, Any]:
    """The event a Lambda proxy integration receives, shaped as `sam local generate-event`."""
    url = urlsplit(raw_path)
    path = unquote(url.path)
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value  # API Gateway keeps the last value in `headers`
        multi.setdefault(name, []).append(value)
    query = parse_qsl(url.query, keep_blank_values=True)
    query_single = {name: value for name, value in query} or None
    query_multi: dict[str, list[str]] = {}
    for name, value in query:
        query_multi.setdefault(name, []).append(value)
    is_binary = False
    text: str | None = None
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, is_binary = base64.b64encode(body).decode("ascii"), True
    now = time.time()
    return {
        "body": text,
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "isBase64Encoded": is_binary,
        "queryStringParameters": query_single,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "headers": single,
        "multiValueHeaders": multi,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "resourceId": "local",
            "stage": route.stage,
            "requestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "accessKey": None,
                "sourceIp": source_ip,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": single.get("User-Agent") or single.get("user-agent"),
                "user": None,
            },
            "path": f"/{route.stage}{path}",
            "resourcePath": route.path,
            "httpMethod": method,
            "apiId": "local",
            "protocol": "HTTP/1.1",
        },
    }


class MalformedResponse(ValueError):
    """The function's answer is not a valid Lambda proxy response."""


def proxy_response(payload: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Map a Lambda proxy response to status, headers and body, as API Gateway does."""
    if not isinstance(payload, dict) or not set(payload) <= PROXY_RESPONSE_KEYS:
        raise MalformedResponse(
            "the response must be an object with only " + ", ".join(sorted(PROXY_RESPONSE_KEYS))
        )
    status = payload.get("statusCode", 200)
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode {status!r} is not an HTTP status")
    body = payload.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedResponse("body must be a string (json.dumps it)")
    raw = (body or "").encode("utf-8")
    if payload.get("isBase64Encoded") and body:
        raw = base64.b64decode(body)
    headers: list[tuple[str, str]] = []
    multi = payload.get("multiValueHeaders") or {}
    single = payload.get("headers") or {}
    if not isinstance(multi, dict) or not isinstance(single, dict):
        raise MalformedResponse("headers and multiValueHeaders must be objects")
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedResponse(f"multiValueHeaders.{name} must be a list")
        headers.extend((name, str(value)) for value in values)
    # A name in both: multiValueHeaders win, as on API Gateway.
    seen = {name.lower() for name in multi}
    headers.extend((name, str(value)) for name, value in single.items() if name.lower() not in seen)
    return status, headers, raw


class ApiGateway:
    """Serves a template's routes on 127.0.0.1, each invoking its function through `invoke`."""

    def __init__(
        self,
        routes: list[Route],
        invoke: Callable[[str, dict[str, Any]], Invocation],
        *,
        apis: dict[str, Api] | None = None,
        host: str = "127.0.0.1",
        port: int = 3000,
        integration_timeout: float = INTEGRATION_TIMEOUT,
        on_request: Callable[[str, int, Invocation | None], None] | None = None,
    ):
        self.router = _Router(routes)
        self.invoke = invoke
        self.integration_timeout = integration_timeout
        self.on_request = on_request
        self._limits = {
            api.logical_id: _TokenBucket(api.throttle_rate, api.throttle_burst)
            for api in (apis or {}).values()
            if api.throttle_rate is not None
        }
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one_request(self) -> None:
                self.raw_requestline = self.rfile.readline(65537)
                if not self.raw_requestline or not self.parse_request():
                    self.close_connection = True
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                response = gateway.handle(
                    self.command,
                    self.path,
                    list(self.headers.items()),
                    body,
                    self.client_address[0],
                )
                self.send_response(response.status)
                for name, value in response.headers:
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)
                self.wfile.flush()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # `on_request` reports requests; the default would print to stderr

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> ApiGateway:
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(
        self,
        method: str,
        raw_path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        source_ip: str,
    ) -> Response:
        request_id = str(uuid.uuid4())
        path = urlsplit(raw_path).path
        found = self.router.match(method, path)
        invocation: Invocation | None = None
        if found is None:
            response = self._answer(
                403, MISSING_TOKEN, request_id, error="MissingAuthenticationToken"
            )
        else:
            route, parameters = found
            bucket = self._limits.get(route.api)
            if bucket is not None and not bucket.take():
                response = self._answer(429, TOO_MANY_REQUESTS, request_id)
            else:
                event = build_event(
                    route, method, raw_path, headers, body, parameters, source_ip, request_id
                )
                response, invocation = self._integrate(route, event, request_id)
        if self.on_request:
            self.on_request(f"{method} {raw_path}", response.status, invocation)
        return response

    def _integrate(
        self, route: Route, event: dict[str, Any], request_id: str
    ) -> tuple[Response, Invocation | None]:
        outcome: list[Invocation | BaseException] = []

        def call() -> None:
            try:
                outcome.append(self.invoke(route.function, event))
            except BaseException as exc:  # reported to the caller below, as API Gateway would
                outcome.append(exc)

        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        worker.join(self.integration_timeout)
        if not outcome:
            # The function runs on (Lambda lets it finish); the client is told it timed out.
            return self._answer(504, TIMED_OUT, request_id), None
        result = outcome[0]
        if isinstance(result, Throttled):
            # Lambda refused to run it; a proxy integration turns that into a plain 500.
            return self._answer(500, INTERNAL_ERROR, request_id), None
        if isinstance(result, BaseException):
            raise result
        if result.error is not None:
            return self._answer(502, INTERNAL_ERROR, request_id), result
        try:
            status, headers, body = proxy_response(result.payload)
        except MalformedResponse:
            return self._answer(502, INTERNAL_ERROR, request_id), result
        return self._answer(status, body, request_id, headers), result

    @staticmethod
    def _answer(
        status: int,
        body: bytes,
        request_id: str,
        headers: list[tuple[str, str]] | None = None,
        error: str | None = None,
    ) -> Response:
        headers = list(headers or [])
        names = {name.lower() for name, _ in headers}
        if "content-type" not in names:
            headers.append(("Content-Type", "application/json"))
        headers.append(("Content-Length", str(len(body))))
        headers.append(("x-amzn-RequestId", request_id))
        if error:
            headers.append(("x-amzn-ErrorType", error))
        return Response(status, headers, body)


class _TokenBucket:
    """API Gateway's throttle: `rate` requests a second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int | None):
        self.rate = rate
        self.capacity = float(burst if burst is not None else max(1, int(rate)))
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False
