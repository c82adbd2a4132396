"""API Gateway, REST API with Lambda proxy integration: HTTP in, a v1 proxy event out, and back."""

from __future__ import annotations

import base64
import json
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from workshop.local.api_event import (
    Request,
    build_event,
    extended_id,
    matches_media_type,
    trace_id,
)
from workshop.local.http_framing import (
    TLS_REFUSED,
    BadFraming,
    LastLine,
    persists,
    read_body,
    refusal,
    sends_tls,
)
from workshop.local.keep_alive import ClosedOnStop, close_all
from workshop.local.lambda_runtime import Throttled
from workshop.local.trace_header import with_parent
from workshop.types import Api, Invocation, Route

# API Gateway's default throttle for all the APIs of an account in a Region (its guide, "Amazon
# API Gateway quotas"): requests a second, and the burst bucket. A few Regions' are lower.
ACCOUNT_RATE, ACCOUNT_BURST = 10_000.0, 5_000
INTEGRATION_TIMEOUT = 29.0  # seconds: API Gateway gives up on a Lambda integration after this
# A request body over API Gateway's payload quota (10 MB) is refused at its front door, in
# text; an event over Lambda's synchronous invocation payload (6 MB) is refused by API Gateway
# with 413 (both recorded against AWS in koki-develop/lgtm-generator#10).
PAYLOAD_QUOTA = 10 * 1024 * 1024
PAYLOAD_TOO_LARGE = f"HTTP content length exceeded {PAYLOAD_QUOTA} bytes.".encode()
INVOKE_PAYLOAD_QUOTA = 6 * 1024 * 1024
PROXY_RESPONSE_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # a token (RFC 9110 5.1, 5.6.2)


@dataclass(frozen=True)
class GatewayError:
    """An answer API Gateway makes itself: status, body byte for byte, x-amzn-ErrorType."""

    status: int
    body: bytes
    error_type: str | None
    why: str = ""  # for `up`'s line: why API Gateway answered so (the client is not told)


MISSING_TOKEN = GatewayError(
    403, b'{"message":"Missing Authentication Token"}', "MissingAuthenticationTokenException"
)
FORBIDDEN = GatewayError(403, b'{"message":"Forbidden"}', "ForbiddenException")
# A method that requires an API key, asked without one or with one that no usage plan of the
# stage takes: the same 403 (AWS's knowledge center, "How do I troubleshoot HTTP 403 errors from
# API Gateway?": "API key isn't valid", ForbiddenException, "Forbidden"; the body as recorded in
# pmuens/serverless-secured-api#2; LocalStack's AWS-validated InvalidAPIKeyError).
INVALID_API_KEY = FORBIDDEN
# The default endpoint of an API with DisableExecuteApiEndpoint answers 403 Forbidden (API
# Gateway's guide, "Disable the default endpoint for REST APIs"); no recording shows its body or
# x-amzn-ErrorType, so none is made up: an empty body.
ENDPOINT_DISABLED = GatewayError(403, b"", None)
SIGV4 = "AWS4-HMAC-SHA256 "  # how a SigV4 Authorization header begins: its algorithm
INTERNAL_ERROR = GatewayError(
    502, b'{"message": "Internal server error"}', "InternalServerErrorException"
)
LAMBDA_REFUSED = GatewayError(
    500, b'{"message": "Internal server error"}', "InternalServerErrorException"
)
TIMED_OUT = GatewayError(504, b'{"message": "Endpoint request timed out"}', None)
TOO_MANY_REQUESTS = GatewayError(
    429, b'{"message":"Too Many Requests"}', "TooManyRequestsException"
)
REQUEST_TOO_LONG = GatewayError(413, b'{"message": "Request Too Long"}', "BadRequestException")

# Response headers that API Gateway sets itself: a function's own are renamed, not sent twice.
REMAPPED_HEADERS = {"connection", "content-length", "date", "server"}


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    why: str = ""  # of an answer API Gateway made itself: see GatewayError


@dataclass(frozen=True)
class _Ids:
    """A request's ids: requestId, extendedRequestId (x-amz-apigw-id), X-Ray trace header."""

    request_id: str
    extended: str
    trace: str


def _kinds(path: str) -> tuple[int, ...]:
    """How specific each segment of a resource path is: 0 literal, 1 `{name}`, 2 `{name+}`."""
    return tuple(
        2 if re.fullmatch(r"\{\w+\+\}", s) else 1 if re.fullmatch(r"\{\w+\}", s) else 0
        for s in path.strip("/").split("/")
    )


class _Router:
    """Finds the resource and method of a request, the most specific resource first."""

    def __init__(self, routes: list[Route], extra_stages: dict[str, str] | None = None):
        """`extra_stages`: a second stage that serves an API's routes too, by the API's id."""
        self.routes = [(route, self._pattern(route.path), _kinds(route.path)) for route in routes]
        self._extra = extra_stages or {}
        self.stages = {route.stage for route in routes} | {
            self._extra[route.api] for route in routes if route.api in self._extra
        }

    @staticmethod
    def _pattern(path: str) -> re.Pattern[str]:
        parts = []
        for segment in path.strip("/").split("/"):
            if re.fullmatch(r"\{\w+\+\}", segment):
                parts.append(f"(?P<{segment[1:-2]}>.+?)")
            elif re.fullmatch(r"\{\w+\}", segment):
                parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
            else:
                parts.append(re.escape(segment))
        # A trailing slash reaches the same resource, and is left out of a greedy parameter.
        return re.compile("/" + "/".join(parts) + "/?")

    def split_stage(self, path: str) -> tuple[str | None, str]:
        """(stage, the resource path) of a path; stage None when the path names none."""
        first, _, rest = path.lstrip("/").partition("/")
        if first in self.stages:
            return first, "/" + rest.lstrip("/")
        return None, "/" + path.lstrip("/")

    def served(self) -> list[str]:
        """What the API answers, as `GET /Prod/hello`: a method, a stage and a path."""
        return [
            f"{route.method} /{stage}{route.path}"
            for route, _, _ in self.routes
            for stage in (route.stage, self._extra.get(route.api))
            if stage
        ]

    def match(
        self, method: str, path: str, stage: str | None
    ) -> tuple[Route, dict[str, str]] | None:
        """The route for `method` on `path` (encoded), and its path parameters (kept encoded).

        Among the resources that match, a literal segment wins over `{name}`, which wins over
        `{name+}`; on one resource, a method wins over ANY. A resource without the method lets
        a less specific one that has it answer, as API Gateway does.
        """
        found = []
        for route, pattern, kinds in self.routes:
            if stage is not None and stage not in (route.stage, self._extra.get(route.api)):
                continue
            matched = pattern.fullmatch(path)
            if matched and route.method in (method, "ANY"):
                found.append(((kinds, route.method == "ANY"), route, matched.groupdict()))
        if not found:
            return None
        _, route, parameters = min(found, key=lambda item: item[0])
        return route, parameters


class MalformedResponse(ValueError):
    """The function's answer is not a valid Lambda proxy response."""


def _header_value(name: str, value: Any) -> str:
    """A header value as API Gateway writes it: JSON's `true`, not Python's `True`; its
    characters in UTF-8 (http.server writes each character as a byte: Latin-1).

    No recording shows what API Gateway does with a name that is not an HTTP token, or a value
    that holds a line break: written as they are, they would make headers of their own (a
    value's CR LF, a `Set-Cookie` after it), so they are taken for a malformed response.
    """
    text = value if isinstance(value, str) else json.dumps(value)
    if not HEADER_NAME.fullmatch(name):
        raise MalformedResponse(f"header name {name!r} is not an HTTP field name")
    if any(c in text for c in "\r\n\0"):
        raise MalformedResponse(f"the value of header {name} holds a line break or NUL")
    return text.encode("utf-8").decode("latin-1")


def proxy_response(
    payload: Any, binary_media_types: tuple[str, ...] = (), accept: str = ""
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Map a Lambda proxy response to status, headers and body, as API Gateway does.

    A name in both `multiValueHeaders` and `headers` keeps every value, the multiple ones
    first, under the case `multiValueHeaders` gives it. A base64 body is decoded only when the
    API's binaryMediaTypes match the request's first Accept type.
    """
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
    first_accept = accept.split(",", 1)[0]
    if (
        payload.get("isBase64Encoded")
        and body
        and matches_media_type(first_accept, binary_media_types)
    ):
        raw = base64.b64decode(body)
    multi = payload.get("multiValueHeaders") or {}
    single = payload.get("headers") or {}
    if not isinstance(multi, dict) or not isinstance(single, dict):
        raise MalformedResponse("headers and multiValueHeaders must be objects")
    merged: dict[str, tuple[str, list[str]]] = {}  # by lower-case name: (name, values)
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedResponse(f"multiValueHeaders.{name} must be a list")
        texts = [_header_value(name, value) for value in values]
        merged.setdefault(name.lower(), (name, []))[1].extend(texts)
    for name, value in single.items():
        merged.setdefault(name.lower(), (name, []))[1].append(_header_value(name, value))
    headers = [
        (f"x-amzn-Remapped-{name}" if name.lower() in REMAPPED_HEADERS else name, value)
        for name, values in merged.values()
        for value in values
    ]
    return status, headers, raw


class ApiGateway:
    """Serves a template's routes on 127.0.0.1, each invoking its function through `invoke`.

    A path is served with its stage, as on AWS (`/Prod/hello`), and without it, as
    `sam local start-api` serves it (`/hello`); on AWS a path without a stage is 403 Forbidden.
    """

    def __init__(
        self,
        routes: list[Route],
        invoke: Callable[[str, dict[str, Any]], Invocation],
        *,
        apis: dict[str, Api] | None = None,
        region: str = "us-east-1",
        host: str = "127.0.0.1",
        port: int = 3000,
        integration_timeout: float = INTEGRATION_TIMEOUT,
        on_request: Callable[[str, int, Invocation | None, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.invoke = invoke
        self.apis = apis or {}
        extra = {api.logical_id: api.extra_stage for api in self.apis.values() if api.extra_stage}
        self.router = _Router(routes, extra)
        self.region = region
        self.integration_timeout = integration_timeout
        self.on_request = on_request
        self.clock_ahead = 0.0  # seconds later than now that events say they came (Stack.later)
        self.held_at: float | None = None  # when set, the time every event says it came
        self._limits = {
            api.logical_id: _TokenBucket(*limits, clock)
            for api in self.apis.values()
            if (limits := throttle_limits(api)) is not None
        }
        gateway = self

        class Handler(ClosedOnStop, BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The headers and the body go in two writes: on a kept-alive connection (a browser's
            # refresh) the body would otherwise wait for the client's delayed ACK, 40 ms.
            disable_nagle_algorithm = True

            def handle_one_request(self) -> None:
                if sends_tls(self.rfile):  # a browser would wait for a TLS answer: none comes
                    self.requestline = self.request_version = self.command = ""
                    self.send_error(400, TLS_REFUSED)
                    return
                self.raw_requestline = self.rfile.readline(65537)
                if len(self.raw_requestline) > 65536:  # as http.server's own method says it
                    self.requestline = self.request_version = self.command = ""
                    self.send_error(414)
                    return
                raw, self.rfile = self.rfile, LastLine(self.rfile)
                try:
                    parsed = bool(self.raw_requestline) and self.parse_request()
                    watched = self.rfile
                finally:
                    self.rfile = raw
                if not parsed:
                    self.close_connection = True
                    return
                if not watched.ended():  # API Gateway runs no request that was never finished
                    self._refuse(BadFraming("its headers never ended: the client stopped first"))
                    return
                length = self.headers.get("Content-Length", "").strip()
                if length.isdigit() and int(length) > PAYLOAD_QUOTA:
                    self._too_large()  # refused before its body is read, as at the front door
                    return
                try:
                    body, reusable = read_body(self.request_version, self.headers, self.rfile)
                except BadFraming as refused:
                    self._refuse(refused)
                    return
                if len(body) > PAYLOAD_QUOTA:  # a chunked body, measured once read
                    self._too_large()
                    return
                request = Request(
                    self.command,
                    self.path,
                    list(self.headers.items()),
                    body,
                    self.client_address[0],
                )
                response = gateway.handle(request)
                self.send_response(response.status)
                for name, value in response.headers:
                    self.send_header(name, value)
                self._end_headers(reusable and persists(self.request_version, self.headers))
                if self.command != "HEAD":
                    self.wfile.write(response.body)
                self.wfile.flush()

            def _end_headers(self, persist: bool) -> None:
                # send_header sets close_connection from the value: the loop in handle() ends
                # after this answer, and the connection with it, when it says `close`.
                self.send_header("Connection", "keep-alive" if persist else "close")
                self.end_headers()

            def _too_large(self) -> None:
                """A body over API Gateway's payload quota: refused in text, and its connection
                closed (the rest of the body is not read)."""
                self.send_response(413)
                self.send_header("Content-Type", "text; charset=utf-8")
                self.send_header("Content-Length", str(len(PAYLOAD_TOO_LARGE)))
                self._end_headers(False)
                self.wfile.write(PAYLOAD_TOO_LARGE)
                self.wfile.flush()
                if gateway.on_request:
                    why = f"the body is over API Gateway's payload quota ({PAYLOAD_QUOTA} bytes)"
                    gateway.on_request(f"{self.command} {self.path}", 413, None, why)

            def _refuse(self, refused: BadFraming) -> None:
                """Answer a request whose body cannot be delimited, and close its connection."""
                self.send_response(refused.status)
                self.send_header("Content-Length", "0")
                self._end_headers(False)
                self.wfile.flush()
                if gateway.on_request:
                    line = f"{self.command} {self.path} refused: {refused}"
                    gateway.on_request(line, refused.status, None, "")

            def send_error(
                self, code: int, message: str | None = None, explain: str | None = None
            ) -> None:
                """http.server refusing a request: its page, and one readable line in `up`."""
                super().send_error(code, message, explain)  # with Connection: close
                if gateway.on_request:
                    gateway.on_request(
                        f"refused a request: {refusal(code, message)}", int(code), None, ""
                    )

            def send_response(self, code: int, message: str | None = None) -> None:
                # BaseHTTPRequestHandler's would add `Server: BaseHTTP/...`: API Gateway sends
                # no Server header, only a Date.
                self.send_response_only(code, message)
                self.send_header("Date", formatdate(usegmt=True))

            def log_message(self, format: str, *args: Any) -> None:
                pass  # `on_request` reports requests; the default would print to stderr

        self.server = _Server((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> ApiGateway:
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for a serve_forever that has begun
            self.server.shutdown()
        self.server.server_close()
        close_all(self.server)  # a browser's kept-alive connection is not served on

    def stage_path(self, path: str) -> str:
        """`path` under its stage, as the deployed API serves it: `/hello` -> `/Prod/hello`."""
        resource = urlsplit(path).path
        stages = [r.stage for r, pattern, _ in self.router.routes if pattern.fullmatch(resource)]
        return f"/{(stages or [self.router.routes[0][0].stage])[0]}{path}"

    def handle(self, request: Request) -> Response:
        ids = _Ids(str(uuid.uuid4()), extended_id(), trace_id(request.headers))
        invocation: Invocation | None = None
        try:
            response, invocation = self._route(request, ids)
        except Exception as exc:  # a fault of the harness: answered as API Gateway would
            print(f"API Gateway: {type(exc).__name__}: {exc}", file=sys.stderr)
            why = f"the harness failed: {type(exc).__name__} (printed above)"
            response = self._error(replace(LAMBDA_REFUSED, why=why), ids)
        if self.on_request:
            line = f"{request.method} {request.raw_path}"
            self.on_request(line, response.status, invocation, response.why)
        return response

    def _route(self, request: Request, ids: _Ids) -> tuple[Response, Invocation | None]:
        stage, path = self.router.split_stage(urlsplit(request.raw_path).path)
        found = self.router.match(request.method, path, stage)
        if found is None:
            # With a stage, the resource or method is unknown; without one, AWS knows no API.
            asked = f"{request.method} {urlsplit(request.raw_path).path}"
            why = f"no route {asked}: the API serves {', '.join(self.router.served())}"
            refused = (_not_signed(request.headers) or MISSING_TOKEN) if stage else FORBIDDEN
            return self._error(replace(refused, why=why), ids), None
        route, parameters = found
        api = self.apis.get(route.api)
        if api is not None and stage is not None and stage == api.extra_stage != api.stage:
            # SAM's extra stage: the same deployment, without the stage's MethodSettings, and
            # in no usage plan (SAM's names the API's StageName only), so no API key is valid.
            api, bucket = replace(api, stage=stage, api_keys=()), None
        else:
            bucket = self._limits.get(route.api)
        refused = _refused(route, api, request)
        if refused is not None:
            return self._error(refused, ids), None
        if bucket is not None and not bucket.take():
            why = f"over the API's throttle: {bucket.rate:g} requests a second, bursts of up to "
            why += f"{bucket.capacity:g}"
            return self._error(replace(TOO_MANY_REQUESTS, why=why), ids), None
        event = build_event(
            route,
            request.method,
            request.raw_path,
            request.headers,
            request.body,
            parameters,
            request.source_ip,
            ids.request_id,
            api=api,
            region=self.region,
            trace=ids.trace,
            extended_request_id=ids.extended,
            now=(time.time() if self.held_at is None else self.held_at) + self.clock_ahead,
        )
        if len(json.dumps(event).encode()) > INVOKE_PAYLOAD_QUOTA:
            why = f"the event is over Lambda's invoke payload quota ({INVOKE_PAYLOAD_QUOTA} bytes)"
            return self._error(replace(REQUEST_TOO_LONG, why=why), ids), None
        outcome = self._integrate(route, event)
        if not isinstance(outcome, Invocation):
            return self._error(outcome, ids), None
        if outcome.error is not None:
            error = outcome.error
            failed = ": ".join(filter(None, (error.get("errorType"), error.get("errorMessage"))))
            why = f"the function failed: {' '.join(failed.split())}"  # one line, whatever it says
            return self._error(replace(INTERNAL_ERROR, why=why), ids), outcome
        accept = next((v for n, v in request.headers if n.lower() == "accept"), "")
        try:
            status, headers, body = proxy_response(
                outcome.payload, api.binary_media_types if api else (), accept
            )
        except MalformedResponse as malformed:
            why = f"Malformed Lambda proxy response: {malformed}"
            return self._error(replace(INTERNAL_ERROR, why=why), ids), outcome
        headers.append(("X-Amzn-Trace-Id", with_parent(ids.trace)))
        return self._answer(status, body, ids, headers), outcome

    def _integrate(self, route: Route, event: dict[str, Any]) -> Invocation | GatewayError:
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
            why = f"no answer from the function within {self.integration_timeout:g} s"
            return replace(TIMED_OUT, why=why)
        result = outcome[0]
        if isinstance(result, BaseException):
            if not isinstance(result, Throttled):
                print(f"API Gateway: the Lambda invoke failed: {result!r}", file=sys.stderr)
            # Lambda refused or failed to run it: a proxy integration answers a plain 500.
            if isinstance(result, Throttled):
                return replace(LAMBDA_REFUSED, why=f"Lambda refused the invoke: {result}")
            return replace(
                LAMBDA_REFUSED, why=f"the invoke failed: {type(result).__name__} (printed above)"
            )
        return result

    def _error(self, error: GatewayError, ids: _Ids) -> Response:
        headers = [("x-amzn-ErrorType", error.error_type)] if error.error_type else []
        return replace(self._answer(error.status, error.body, ids, headers), why=error.why)

    @staticmethod
    def _answer(status: int, body: bytes, ids: _Ids, headers: list[tuple[str, str]]) -> Response:
        headers = list(headers)
        if "content-type" not in {name.lower() for name, _ in headers}:
            headers.append(("Content-Type", "application/json"))
        headers.append(("Content-Length", str(len(body))))
        headers.append(("x-amzn-RequestId", ids.request_id))
        headers.append(("x-amz-apigw-id", ids.extended))
        return Response(status, headers, body)


class _Server(ThreadingHTTPServer):
    """The HTTP server, quiet when a visitor hangs up before its answer is written."""

    # Connections waiting to be accepted: Python's default, 5, left a burst of visitors (a
    # race of 50) to the kernel's retries, seconds apart, and some of them unanswered.
    request_queue_size = socket.SOMAXCONN

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that cancels, or a script stopped with Ctrl-C, closes its connection: that
        # is the visitor's business, not an error to print a traceback for.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _not_signed(headers: list[tuple[str, str]]) -> GatewayError | None:
    """What API Gateway answers a request for no route of the API that has an Authorization
    header which is no signature: it reads the header as SigV4's key=value pairs, and names the
    first part without one, as recorded against AWS (on a route that does not exist:
    HumanCellAtlas/data-store#328; a Bearer token, the body byte for byte:
    mcguinness/node-lambda-oauth2-jwt-authorizer#1, serverless/serverless#3205; Basic:
    cowinapi/developer.cowin#129). None where there is no such header."""
    value = next((v for name, v in headers if name.lower() == "authorization"), None)
    for part in (value or "").partition(" ")[2].split(","):
        if part.strip() and "=" not in part:
            message = (
                f"'{part.strip()}' not a valid key=value pair (missing equal-sign) in "
                f"Authorization header: '{value}'."
            )
            body = json.dumps({"message": message}, separators=(",", ":")).encode()
            return GatewayError(403, body, "IncompleteSignatureException")
    return None


def _refused(route: Route, api: Api | None, request: Request) -> GatewayError | None:
    """What API Gateway answers a request for `route` that its API's settings refuse before the
    function runs, or None: the default endpoint disabled, IAM authorization without a signed
    request, an API key missing or not valid. (Which of them AWS tries first is not recorded.)"""
    if api is not None and api.execute_api_disabled:
        why = f"the API {api.logical_id}'s default endpoint is disabled (DisableExecuteApiEndpoint)"
        return replace(ENDPOINT_DISABLED, why=why)
    headers = {name.lower(): value for name, value in request.headers}
    if route.authorization == "AWS_IAM":
        signed = headers.get("authorization", "").startswith(SIGV4) or "X-Amz-Signature=" in (
            urlsplit(request.raw_path).query
        )
        # A signed request is let through unverified: the harness holds no caller's credentials
        # to check a signature with.
        if not signed:
            why = f"{route.method} {route.path} requires IAM authorization (AWS_IAM), and the "
            why += "request is not signed"
            return replace(_not_signed(request.headers) or MISSING_TOKEN, why=why)
    if route.api_key_required:
        key = headers.get("x-api-key")
        if key is None or key not in (api.api_keys if api else ()):
            why = f"{route.method} {route.path} requires an API key (x-api-key), and the request "
            why += "has none" if key is None else "has one that no usage plan of the stage takes"
            return replace(INVALID_API_KEY, why=why)
    return None


def throttle_limits(api: Api) -> tuple[float, int] | None:
    """An API's throttle as (rate, burst), or None where its MethodSettings set neither. A value
    they leave out is the account's, as API Gateway's get-stage shows it (10000.0 and 5000)."""
    if api.throttle_rate is None and api.throttle_burst is None:
        return None
    rate = ACCOUNT_RATE if api.throttle_rate is None else api.throttle_rate
    return rate, ACCOUNT_BURST if api.throttle_burst is None else api.throttle_burst


class _TokenBucket:
    """API Gateway's throttle: `rate` requests a second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]):
        self.rate = rate
        self.clock = clock  # seconds, monotonic
        self.capacity = float(burst)
        self.tokens = self.capacity
        self.updated = clock()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False
