"""The AWS the functions talk to: moto embedded on 127.0.0.1, or whatever AWS_ENDPOINT_URL names."""

from __future__ import annotations

import contextlib
import functools
import hmac
import io
import os
import re
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from workshop.errors import WorkshopError
from workshop.local.calls_meet import CallsMeet
from workshop.local.faults import OUTAGES, Stall, outage_answer
from workshop.local.json_protocol import Refused, emulator_failed, json_error, parameters
from workshop.local.keep_alive import NoAnswer, close_all, wsgi_handler
from workshop.local.moto_gaps import ClientTokens, account, answered, refuse_before
from workshop.local.not_emulated import refusal
from workshop.local.persistence import JOURNALED, REPLAYED, Journal
from workshop.local.time_to_live import sweep
from workshop.local.user_aws import isolate_moto, isolated_session, reach

# Dummy credentials: moto accepts any, and they keep the user's real ones out of local calls.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
CLIENT_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5)
# A proxy of the user's (HTTP_PROXY, HTTPS_PROXY: common on company laptops) cannot reach this
# machine's local AWS: the clients of a local endpoint go to it directly.
DIRECT = CLIENT_CONFIG.merge(Config(proxies={}))
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")

# A write applied but answered later than this (seconds) was slowed by this machine, not by
# DynamoDB, which answers in milliseconds; an SDK whose read timeout passed sent it again.
LATE = 1.0
LATE_KEPT = 64  # the late writes remembered, the latest: a retry comes within seconds
# An SDK's attempt at a call, in its amz-sdk-request header: "attempt=2; max=3" (botocore adds
# a ttl first); its amz-sdk-invocation-id header is the same in each attempt.
ATTEMPT = re.compile(r"(?:^|;)\s*attempt=(\d+)")

# Sees a call before moto does: (X-Amz-Target, JSON body) -> an error body, or None to let it go.
Authorizer = Callable[[str, dict[str, Any]], dict[str, Any] | None]


class _DynamoDBGate:
    """WSGI middleware: one DynamoDB request at a time, and an optional IAM check before it.

    moto's UpdateItem holds no lock, so under threads even an atomic ADD can lose updates;
    DynamoDB never does. Serialising every DynamoDB request gives moto the same guarantee.
    """

    def __init__(self, app: Any, replay_token: str):
        self.app = app  # moto's DomainDispatcherApplication, once LocalAWS.serve has made it
        self.replay_token = replay_token  # a replayed write's header holds it (persistence)
        self.lock = threading.Lock()
        self.authorizers: dict[str, Authorizer] = {}  # by access key; other keys are not checked
        self.interceptors: dict[str, list[Authorizer]] = {}  # by access key: see intercept_dynamodb
        self.writes = 0  # how many requests may have changed state (for saving snapshots)
        self.requests: Counter[str] = Counter()  # DynamoDB requests, by the caller's access key
        # (kind, whether each table is on-demand): every call fails, as during an outage.
        self.outage: tuple[str, dict[str, bool]] | None = None
        self.stall: Stall | None = None  # holds each answer, once its call is applied
        self.logs_flushes: list[Callable[[], None]] = []  # see LocalAWS.before_logs_read
        self._apps: dict[str, Callable[..., Any]] = {}  # moto's app, by X-Amz-Target's API
        self.journal: Journal | None = None  # where each write that succeeded is kept, if set
        self.tokens = ClientTokens()  # the transactions applied, by client token
        self.calls_meet: CallsMeet | None = None  # see LocalAWS.calls_meet
        self.late: dict[str, float] = {}  # writes answered late (LATE): seconds, by invocation
        self.late_retries: list[float] = []  # the seconds of each that an SDK sent again

    def _dispatch(self, target: str, environ: dict[str, Any], start_response: Callable[..., Any]):
        """Hand the request to moto's app for its API. moto's dispatcher looks for that app in
        every request's headers, which took a tenth of a DynamoDB call's time; for one API it
        always finds the same app, so it is looked for once."""
        api = target.split(".", 1)[0]
        app = self._apps.get(api)
        if app is None:
            app = self._apps[api] = self.app.get_application(environ)
        try:
            return app(environ, start_response)
        except Exception as exc:  # moto failed on a call the service would take
            raise emulator_failed(target, exc) from exc

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(("DynamoDB_", "Logs_")):
            scope = _scope(environ)  # rather than moto's empty account for that service:
            return refusal(scope[3] if len(scope) > 3 else "", start_response)
        try:
            return self._serve(target, environ, start_response)
        except Refused as refused:
            json_version = "1.0" if target.startswith("DynamoDB_") else "1.1"
            return json_error(start_response, refused.error, refused.status, json_version)

    def _serve(self, target: str, environ: dict[str, Any], start_response: Callable[..., Any]):
        arrived = time.monotonic()  # before any hook holds it: a transaction met meanwhile
        action = target.rsplit(".", 1)[-1]
        body = _read_body(environ)
        request = parameters(target, body)
        read = action.startswith(("Get", "Describe", "List", "Scan", "Query", "Filter"))
        if not read:
            self.writes += 1
        key = _access_key(environ)
        if not target.startswith("DynamoDB_"):
            for flush in list(self.logs_flushes) if read else ():
                flush()  # the log events handed over by now are stored before they are read
            refuse_before(target, request, environ, key, _region(environ))
            return self._dispatch(target, environ, start_response)
        self.requests[key] += 1
        outage = self.outage
        if outage is not None and outage[0] == "unreachable":
            raise NoAnswer
        if outage is not None:
            status, kind, body = outage_answer(
                outage[0], action, request, _region(environ), outage[1]
            )
            start_response(
                f"{status} {HTTPStatus(status).phrase}",
                [("Content-Type", kind), ("Content-Length", str(len(body)))],
            )
            return [body]
        stall = self.stall  # a call that arrives during a stall is answered at its end
        stall = stall if stall is not None and stall.admitting else None
        # The watchers first, in the order they came, then the IAM check, as the call arrives.
        told = environ.get(_environ_key(REPLAYED), "")
        replayed = hmac.compare_digest(told.encode(), self.replay_token.encode())
        watchers = [] if replayed else list(self.interceptors.get(key, ()))
        authorizer = None if replayed else self.authorizers.get(key)
        watching = time.monotonic()
        for hook in watchers:
            denied = hook(target, request)
            if denied is not None:
                return json_error(start_response, denied)
        watched = time.monotonic() - watching  # a watcher may hold the call on purpose
        denied = authorizer(target, request) if authorizer is not None else None
        if denied is not None:
            return json_error(start_response, denied)
        with self.lock:
            # The response is produced inside the lock, so the whole request is serialised.
            refuse_before(target, request, environ, key, _region(environ))
            meet = self.calls_meet
            conflict = meet.conflict(action, request, arrived) if meet else None
            if conflict is not None:
                return json_error(start_response, conflict)
            stale = meet.stale(action, request) if meet else {}
            images = meet.before_write(action, request) if meet else {}
            apply = functools.partial(self._apply, target, environ, body)
            with meet.seen_as(stale) if stale else contextlib.nullcontext():
                (status, headers, *_), payload = self.tokens.once(target, request, apply)
            if meet and status.startswith("200"):
                meet.applied(action, request, images)
            if action in JOURNALED and status.startswith("200"):  # a write that changed items
                took = time.monotonic() - arrived - watched
                self._note_lateness(action, environ, request, took)
        if stall is not None:
            stall.hold(action)  # outside the lock: other calls go on, and are applied meanwhile
        headers, payload = answered(target, request, status, headers, payload)
        start_response(status, headers)
        return [payload]

    def _note_lateness(
        self, action: str, environ: dict[str, Any], request: dict[str, Any], took: float
    ) -> None:
        """Keep a write applied `took` seconds after it came (its watchers' holds left out) if
        that is late, or count it if it is an SDK's retry of one kept: applied twice. Not while
        the harness delays calls on purpose (a stall, calls meeting), nor for a transaction
        with a client token, whose retry DynamoDB does not apply again (ClientTokens)."""
        invocation = environ.get("HTTP_AMZ_SDK_INVOCATION_ID", "")
        faulted = self.stall is not None or self.calls_meet is not None
        once = action == "TransactWriteItems" and isinstance(request.get("ClientRequestToken"), str)
        if not invocation or faulted or once:
            return
        attempt = ATTEMPT.search(environ.get("HTTP_AMZ_SDK_REQUEST", ""))
        if attempt and int(attempt[1]) > 1 and invocation in self.late:
            self.late_retries.append(self.late.pop(invocation))
        elif took > LATE:
            self.late[invocation] = took
            if len(self.late) > LATE_KEPT:
                del self.late[next(iter(self.late))]  # the oldest

    def _apply(self, target: str, environ: dict[str, Any], body: bytes) -> tuple[tuple, bytes]:
        """moto's answer to the call (start_response's arguments, the body); journaled if it
        changed what the local AWS holds."""
        captured: list[Any] = []
        result = self._dispatch(target, environ, lambda *args: captured.append(args))
        try:
            payload = b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
        if self.journal and target.rsplit(".", 1)[-1] in JOURNALED and captured[0][0][:3] == "200":
            self.journal.append(target, environ.get("HTTP_AUTHORIZATION", ""), body)
        return captured[0], payload


def _listener(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:`port`, or on a port the system picks if that one is
    taken: bound already, or answered by another server (one on 0.0.0.0, which macOS would let
    this bind hide from 127.0.0.1: LocalStack's, say)."""
    posix = os.name != "nt"  # Windows refuses such a bind itself, and is slow to be refused
    with socket.socket() as other:
        taken = posix and port != 0 and other.connect_ex(("127.0.0.1", port)) == 0
    listener = socket.socket()
    if posix:  # a port that the last run left in TIME_WAIT is free (not so on Windows)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", 0 if taken else port))
    except OSError:
        listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    return listener


def _environ_key(name: str) -> str:
    """A request header's key in a WSGI environ."""
    return "HTTP_" + name.upper().replace("-", "_")


def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _scope(environ: dict[str, Any]) -> list[str]:
    """A SigV4 request's `Credential=KEY/DATE/REGION/SERVICE/aws4_request`, split; [] unsigned."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    return (
        auth.split("Credential=", 1)[1].split(",", 1)[0].split("/") if "Credential=" in auth else []
    )


def _access_key(environ: dict[str, Any]) -> str:
    return (_scope(environ) or [""])[0]


def _region(environ: dict[str, Any]) -> str:
    scope = _scope(environ)
    return scope[2] if len(scope) > 2 else "us-east-1"


# One boto3 session for every local client: a new session loads the service models again,
# which costs more than the calls most tests make. Sessions are not thread-safe: hence the lock.
_SESSION_LOCK = threading.Lock()
_SESSIONS: list[boto3.session.Session] = []


def _session() -> boto3.session.Session:
    if not _SESSIONS:
        _SESSIONS.append(isolated_session())
    return _SESSIONS[0]


class LocalAWS:
    """Starts the embedded AWS (or adopts an external endpoint) and hands out clients for it."""

    def __init__(self, region: str = "us-east-1", endpoint_url: str | None = None, port: int = 0):
        self.region = region
        self.port = port  # the embedded one's, if free: 0 lets the system pick one
        self.external_endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        self._named_by_user = not endpoint_url and self.external_endpoint is not None
        self.endpoint_url = self.external_endpoint or ""
        self._listener: socket.socket | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._gate: _DynamoDBGate | None = None
        self._clients: dict[tuple[str, str], Any] = {}
        self.replay_token = secrets.token_urlsafe(16)  # see persistence.REPLAYED

    @property
    def embedded(self) -> bool:
        return self.external_endpoint is None

    def start(self) -> LocalAWS:
        return self.listen().serve()

    def listen(self) -> LocalAWS:
        """Take the embedded AWS's port, whose endpoint_url holds from now on (calls to it wait
        for `serve`); or make sure the user's AWS_ENDPOINT_URL answers."""
        if not self.embedded:
            if self._named_by_user:
                reach(self.endpoint_url)
        elif self._listener is None and self._server is None:
            # Bound here: werkzeug would exit the process if the port were taken.
            self._listener = _listener(self.port)
            host, port = self._listener.getsockname()[:2]
            self.endpoint_url = f"http://{host}:{port}"
            self._gate = _DynamoDBGate(None, self.replay_token)
        return self

    def serve(self) -> LocalAWS:
        """Answer the calls to the port `listen` took: moto is loaded here, not before."""
        self.listen()
        if self._listener is None or self._gate is None:  # an external endpoint, or served
            return self
        # Imported here: moto's server pulls in Flask, which an external endpoint never needs.
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        isolate_moto()  # its own sessions read nothing of the user's AWS setup, as ours do
        self._gate.app = DomainDispatcherApplication(create_backend_app)
        listener, self._listener = self._listener, None
        try:
            self._server = make_server(
                "127.0.0.1",
                listener.getsockname()[1],
                self._gate,
                threaded=True,
                request_handler=wsgi_handler(),
                fd=listener.fileno(),
            )
        finally:
            listener.close()  # the server holds a duplicate of it
        serve = self._server.serve_forever
        self._thread = threading.Thread(target=serve, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._listener is not None:  # listened, never served
            self._listener.close()
            self._listener = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            close_all(self._server)
            self._server = None

    def authorize(self, access_key: str, authorizer: Authorizer | None) -> None:
        """Check the DynamoDB calls signed with `access_key` (None: stop checking them).

        Only the embedded AWS is checked: a real endpoint applies its own IAM.
        """
        if self._gate is None:
            return
        if authorizer is None:
            self._gate.authorizers.pop(access_key, None)
        else:
            self._gate.authorizers[access_key] = authorizer

    @contextlib.contextmanager
    def intercept_dynamodb(self, access_key: str, hook: Authorizer) -> Iterator[None]:
        """Show `hook` each DynamoDB call signed with `access_key` while inside, before its IAM
        check: it may watch the call, hold it (by blocking), or refuse it (by returning an
        error body). Embedded AWS only."""
        if self._gate is None:
            raise WorkshopError(
                "watching a function's DynamoDB calls needs the embedded local AWS: "
                "unset AWS_ENDPOINT_URL"
            )
        hooks = self._gate.interceptors.setdefault(access_key, [])
        hooks.append(hook)
        try:
            yield
        finally:
            hooks.remove(hook)

    @contextlib.contextmanager
    def unserialised(self) -> Iterator[None]:
        """Serve DynamoDB calls at once while inside, as moto does on its own: updates may be
        lost, which is why they are otherwise serialised. Embedded AWS only."""
        if self._gate is None:
            raise RuntimeError("only the embedded AWS serialises DynamoDB calls")
        serialising, self._gate.lock = self._gate.lock, contextlib.nullcontext()
        try:
            yield
        finally:
            self._gate.lock = serialising

    @contextlib.contextmanager
    def calls_meet(self) -> Iterator[CallsMeet | None]:
        """While inside, DynamoDB does what it may when calls meet (see calls_meet): the first
        eventually consistent read of an item after a write misses that write, and a
        transaction meeting another on an item is cancelled (TransactionConflict). Only the
        embedded AWS (None: a real endpoint does so on its own)."""
        if self._gate is None:
            yield None
            return
        meet = CallsMeet(account({}, LOCAL_CREDENTIALS["aws_access_key_id"]), self.region)
        self._gate.calls_meet = meet
        try:
            yield meet
        finally:
            self._gate.calls_meet = None

    @contextlib.contextmanager
    def dynamodb_outage(self, kind: str = "throttled") -> Iterator[None]:
        """Make every DynamoDB call fail for a while, as DynamoDB does when it throttles or fails.

        `kind` is "throttled" (400: ThrottlingException for an on-demand table,
        ProvisionedThroughputExceededException for a provisioned one; SDKs retry both),
        "unavailable" (503, with an HTML body) or "unreachable" (each call's connection closed
        with no answer). Embedded AWS only.
        """
        if self._gate is None:
            raise RuntimeError("an outage can only be simulated on the embedded AWS")
        if kind not in OUTAGES:
            raise ValueError(f"no outage {kind!r}: it is one of {', '.join(OUTAGES)}")
        self._gate.outage = (kind, self.on_demand_tables())
        try:
            yield
        finally:
            self._gate.outage = None

    def on_demand_tables(self) -> dict[str, bool]:
        """Whether each table is on-demand (PAY_PER_REQUEST): DynamoDB throttles the two kinds
        with errors of their own (faults.outage_answer)."""
        dynamodb = self.client("dynamodb")
        return {
            name: dynamodb.describe_table(TableName=name)["Table"]
            .get("BillingModeSummary", {})
            .get("BillingMode")
            == "PAY_PER_REQUEST"
            for name in dynamodb.list_tables()["TableNames"]
        }

    @contextlib.contextmanager
    def dynamodb_stall(
        self, seconds: float | None = None, operations: Collection[str] = ()
    ) -> Iterator[Stall]:
        """Make DynamoDB slow: each call is applied, but answered only when the stall ends.

        As when DynamoDB, or the network, is slow: an SDK whose read timeout passes first
        cannot tell whether its write was applied, and retries it. With `seconds`, the stall
        ends that long after the first answer it holds; in any case, at the end of the block.
        With `operations`, only the answers to those are held. Embedded AWS only.
        """
        if self._gate is None:
            raise RuntimeError("a stall can only be simulated on the embedded AWS")
        stall = Stall(seconds, operations)
        self._gate.stall = stall
        try:
            yield stall
        finally:
            self._gate.stall = None
            stall.end()

    def expire_items(self, tables: list[str], now: float, since: float | None = None) -> int:
        """Delete the items of `tables` whose time to live (TTL) is over by `now` (epoch
        seconds), the clock having moved on from `since`, as DynamoDB does in the background
        (time_to_live); how many it deleted. Embedded AWS only: moto never deletes them, and
        another endpoint applies TTL itself."""
        return sweep(self.client("dynamodb"), tables, now, since) if self._gate else 0

    def before_logs_read(self, flush: Callable[[], None]) -> Callable[[], None]:
        """Call `flush` before each read of CloudWatch Logs is answered, whoever reads (this
        process or another); return what stops it. Embedded AWS only: a log shipper batches
        its events, and no reader may see fewer than were handed over before it asked."""
        if self._gate is None:
            return lambda: None
        flushes = self._gate.logs_flushes
        flushes.append(flush)
        return lambda: flushes.remove(flush)

    def late_retries(self) -> list[float]:
        """The DynamoDB writes that an SDK sent again after the embedded AWS applied them but
        answered them late (LATE), with no stall, calls meeting or watcher holding them: how
        long each took. Each counted twice because this machine was slow, whatever the
        caller's code; with a real endpoint, [] (its lateness is DynamoDB's or the network's)."""
        return list(self._gate.late_retries) if self._gate else []

    def dynamodb_requests(self, access_key: str) -> int:
        """How many DynamoDB requests were signed with `access_key` (embedded AWS only)."""
        return self._gate.requests[access_key] if self._gate else 0

    def journal_to(self, journal: Journal | None) -> None:
        """Keep each DynamoDB write that succeeds in `journal` before it is answered (or stop)."""
        if self._gate:
            with self._gate.lock:  # not while a write is being kept
                self._gate.journal = journal

    @contextlib.contextmanager
    def between_calls(self) -> Iterator[None]:
        """No DynamoDB call is applied while inside: the tables stand still."""
        with self._gate.lock if self._gate else contextlib.nullcontext():
            yield

    def items(self, tables: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The named tables' items in DynamoDB's JSON, read from moto itself (between calls);
        a table deleted meanwhile (with the AWS CLI, say) is left out."""
        from moto.dynamodb.models import dynamodb_backends

        local = account({}, LOCAL_CREDENTIALS["aws_access_key_id"])
        held = dynamodb_backends[local][self.region].tables
        return {
            t: [i.to_json()["Attributes"] for i in held[t].all_items()] for t in tables if t in held
        }

    @property
    def writes(self) -> int:
        return self._gate.writes if self._gate else 0

    def client(self, service: str, **overrides: Any):
        """A client for the local AWS; the plain ones are made once and shared (thread-safe)."""
        with _SESSION_LOCK:
            if overrides or (service, self.endpoint_url) not in self._clients:
                client = _session().client(service, **{**self._options(), **overrides})
                if overrides:
                    return client
                self._clients[(service, self.endpoint_url)] = client
            return self._clients[(service, self.endpoint_url)]

    def resource(self, service: str):
        """A new resource for the local AWS (resources are not thread-safe, so never shared)."""
        with _SESSION_LOCK:
            return _session().resource(service, **self._options())

    def _options(self) -> dict[str, Any]:
        return {
            "region_name": self.region,
            "endpoint_url": self.endpoint_url,
            "config": DIRECT
            if urlsplit(self.endpoint_url).hostname in LOCAL_HOSTS
            else CLIENT_CONFIG,
            **LOCAL_CREDENTIALS,
        }


def ensure_log_group(logs: Any, group: str, retention_days: int | None = None) -> None:
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    if retention_days:
        logs.put_retention_policy(logGroupName=group, retentionInDays=retention_days)


def ensure_log_stream(logs: Any, group: str, stream: str) -> bool:
    """Make the stream unless it is there; whether it was made now."""
    try:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    except logs.exceptions.ResourceAlreadyExistsException:
        return False
    return True
