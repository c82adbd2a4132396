"""A SAM project running locally, as `sam deploy` would run it: tables, functions, API, logs."""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from workshop import manifest, user_files
from workshop.build import samconfig
from workshop.errors import WorkshopError
from workshop.local import persistence, sam_template
from workshop.local.api_gateway import INTEGRATION_TIMEOUT, ApiGateway
from workshop.local.cloudwatch_logs import LogShipper, LogTail, StoredEvent, filter_events
from workshop.local.iam import FunctionAuthorizer, function_credentials
from workshop.local.lambda_runtime import DEFAULT_IDLE_TIMEOUT, FunctionRuntime
from workshop.local.local_aws import Authorizer, LocalAWS, ensure_log_group
from workshop.local.state_lock import StateLock
from workshop.types import Function, Invocation

SAVE_INTERVAL = 1.0  # seconds between snapshots of changed state while running
AWS_PORT_OFFSET = 1566  # the API on 3000 (SAM's), the local AWS on 4566 (LocalStack's, if free)


def _free_port_after(port: int) -> int:
    """The first port after `port` that is free now, to suggest; 0 (any free one) if none near."""
    for candidate in range(port + 1, min(port + 100, 65536)):
        with contextlib.suppress(OSError), socket.socket() as probe:
            probe.bind(("127.0.0.1", candidate))
            return candidate
    return 0


def _stamp(path: Path) -> tuple[int, int] | None:
    """A file's (modification time, size), to tell a change; None where it is not."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


NO_EVENT: Any = object()  # Stack.invoke's event when none is given: {}, as `sam local invoke` sends


class Stack:
    """Deploys a SAM project into the local AWS and serves its API; use it as a context manager."""

    def __init__(
        self,
        project_dir: Path,
        *,
        stack_name: str,
        port: int = 3000,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        state_dir: Path | None = None,
        fresh: bool = False,
        aws: LocalAWS | None = None,
        integration_timeout: float = INTEGRATION_TIMEOUT,
        on_request: Callable[[str, int, Invocation | None, str], None] | None = None,
        python: str | None = None,
        serve_api: bool = True,
        clock: Callable[[], float] = time.monotonic,
        on_code_change: Callable[[str | None, list[str]], None] | None = None,
        state_wait: float = 0.0,
    ):
        self.project_dir = Path(project_dir).resolve()
        # The API's port, and the local AWS's beside it: the same from one start to the next,
        # so the AWS CLI lines that `up` printed go on working after a restart.
        preferred = (
            port + AWS_PORT_OFFSET if serve_api and 0 < port < 65536 - AWS_PORT_OFFSET else 0
        )
        self.aws = aws or LocalAWS(port=preferred)
        self._owns_aws = aws is None
        # The parameters as `sam deploy` would pass them: samconfig's overrides over Defaults.
        self.template = sam_template.load(
            self.project_dir / "template.yaml",
            stack_name=stack_name,
            region=self.aws.region,
            overrides=samconfig.parameter_overrides(self.project_dir),
        )
        self.port = port
        self.idle_timeout = idle_timeout
        self.state_file = Path(state_dir) / "state.json" if state_dir else None
        # Held from start to stop: another process using the same state would lose its writes.
        self._state_lock = StateLock(Path(state_dir), state_wait) if state_dir else None
        self.fresh = fresh
        self.integration_timeout = integration_timeout
        self.on_request = on_request
        self.python = python
        self.serve_api = serve_api
        self.clock = clock  # API Gateway's throttle reads it
        # Told (function, files) when a function's code changed: a deploy's effect, as `sam
        # sync --watch` gives it, where warm environments would otherwise run the old code; and
        # (None, ["template.yaml"]) when the template did, which is read only as the stack starts.
        self.on_code_change = on_code_change
        self._template_seen = _stamp(self.project_dir / "template.yaml")
        self._template_lock = threading.Lock()
        self.runtimes: dict[str, FunctionRuntime] = {}
        self._ahead = 0.0  # seconds the handlers' time of day reads later than it is (later)
        self.api: ApiGateway | None = None
        self._shipper: LogShipper | None = None
        self._unhook_logs: Callable[[], None] = lambda: None
        self._saver: threading.Thread | None = None
        self._journal: persistence.Journal | None = None
        self._stopping = threading.Event()
        self._deployed = threading.Event()  # the tables and log groups are made
        self._logs_back = threading.Event()  # the saved log events are put back, if any

    @classmethod
    def for_project(cls, project: manifest.Project | str | None = None, **options: Any) -> Stack:
        """A stack for a project of the manifest, or for the one it finds by name: a stage
        (`"02"`), `"final"` (the default) or a project folder."""
        found = project if isinstance(project, manifest.Project) else manifest.project(project)
        return cls(found.path, stack_name=found.stack_name, **options)

    # Life cycle.

    def start(self) -> Stack:
        self._stopping.clear()
        self._deployed.clear()
        self._logs_back.clear()
        if self._state_lock:
            self._state_lock.acquire()
        try:
            if self._owns_aws:
                self.aws.listen()  # its address, for the functions; moto loads later
        except BaseException:
            if self._state_lock:
                self._state_lock.release()
            raise
        try:
            if self.serve_api and self.template.routes:
                # Its port first: a port in use stops the start before anything is changed.
                self.api = ApiGateway(
                    self.template.routes,
                    self.invoke_function,
                    apis=self.template.apis,
                    region=self.aws.region,
                    port=self.port,
                    integration_timeout=self.integration_timeout,
                    on_request=self.on_request,
                    clock=self.clock,
                )
            self._shipper = LogShipper(functools.partial(self.aws.client, "logs"))
            self._unhook_logs = self.aws.before_logs_read(self._before_logs_read(self._shipper))
            for fn in self.template.functions.values():
                options = {"python": self.python} if self.python else {}
                credentials = function_credentials(fn)
                self.aws.authorize(
                    credentials["AWS_ACCESS_KEY_ID"],
                    self._after_deploy(FunctionAuthorizer(fn, self.aws.region)),
                )
                self.runtimes[fn.logical_id] = FunctionRuntime(
                    fn,
                    aws_endpoint=self.aws.endpoint_url,
                    region=self.aws.region,
                    credentials=credentials,
                    idle_timeout=self.idle_timeout,
                    on_logs=self._shipper,
                    before_invoke=self._code_watch(fn) if self.on_code_change else None,
                    may_run=self._deployed_and_running,
                    **options,
                )
            # The API serves before moto is loaded and the tables are made: a first request's
            # cold start (its environment's init) runs meanwhile, on a core of its own, as the
            # function's event, and its calls to DynamoDB, wait for the deploy to end. (An init
            # that calls DynamoDB then waits too, and its Init Duration counts that fraction of
            # a second.)
            if self.api:
                self.api.start()
            if self._owns_aws:
                self.aws.serve()
            saved = self._deploy()
            self._deployed.set()
            try:
                if saved:
                    # The saved log events come back once the visits may run: a stream a call,
                    # they are many after a day of cold starts, and no visit needs them.
                    persistence.restore_logs(self.aws, self.state_file, saved)
            finally:
                self._logs_back.set()
        except OSError as exc:
            self.stop()
            if exc.errno in (48, 98, 10048):  # EADDRINUSE on macOS, Linux, Windows
                free = _free_port_after(self.port)
                raise WorkshopError(
                    f"port {self.port} is in use (another `python run.py up`, or another program); "
                    f"stop it, or pick another port: --port {free}"
                ) from None
            raise
        except BaseException:
            self.stop()
            raise
        if self.state_file and self.aws.embedded:
            self._saver = threading.Thread(target=self._save_periodically, daemon=True)
            self._saver.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._deployed.set()  # what waits for a deploy that failed or was stopped is let go
        self._logs_back.set()
        if self.api:
            self.api.stop()
            self.api = None
        for runtime in self.runtimes.values():
            runtime.close()
            self.aws.authorize(function_credentials(runtime.function)["AWS_ACCESS_KEY_ID"], None)
        if self._shipper:
            self._unhook_logs()
            self._shipper.close()
            self._shipper = None
        if self._saver:
            self._saver.join()
            self._saver = None
            self.save()
        if self._journal:
            self.aws.journal_to(None)
            self._journal.close()
            self._journal = None
        self.runtimes.clear()
        if self._owns_aws:
            self.aws.stop()
        if self._state_lock:
            self._state_lock.release()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _deployed_and_running(self) -> bool:
        """Wait for the deploy; whether the stack still runs (an event is sent only then)."""
        self._deployed.wait()
        return not self._stopping.is_set()

    def _after_deploy(self, authorizer: FunctionAuthorizer) -> Authorizer:
        """The function's calls, checked once the deploy is over (one made at init may come
        sooner)."""

        def check(target: str, body: dict[str, Any]) -> dict[str, Any] | None:
            self._deployed.wait()
            return authorizer(target, body)

        return check

    def _deploy(self) -> dict[str, Any] | None:
        """Create the template's tables and log groups; bring back saved items unless fresh, and
        return the saved state, whose log events are to come back (None where none is kept)."""
        dynamodb, logs = self.aws.client("dynamodb"), self.aws.client("logs")
        existing = set(dynamodb.list_tables()["TableNames"])
        groups = self._log_groups()
        if self.fresh:
            for table in self.template.tables.values():
                if table.name in existing:
                    dynamodb.delete_table(TableName=table.name)
                    existing.discard(table.name)
            for group in groups:
                with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
                    logs.delete_log_group(logGroupName=group)
            if self.state_file:
                persistence.forget(self.state_file)
        created = self._create_tables(dynamodb, existing)
        for name, props in self.template.log_groups.items():
            ensure_log_group(logs, name, props.get("RetentionInDays"))
        if not (self.state_file and self.aws.embedded):
            return None
        saved = persistence.read_state(self.state_file)
        # Saved items come back only into a table made just now: never twice into one table.
        if created:
            persistence.restore_tables(self.aws, self.state_file, saved)
            # One deleted since the snapshot (with the AWS CLI) is deleted again by the journal:
            # made anew, empty, as a start after a clean stop makes it.
            self._create_tables(dynamodb, set(dynamodb.list_tables()["TableNames"]))
        self._journal = persistence.Journal(self.state_file)  # from now on, each write is kept
        self.aws.journal_to(self._journal)
        return saved

    def tables_not_kept(self) -> list[str]:
        """The embedded AWS's tables that are not the template's, which a restart does not keep
        (made with the AWS CLI, say); [] where nothing is kept at all."""
        if not (self.state_file and self.aws.embedded):
            return []
        with contextlib.suppress(Exception):  # stopping: what cannot be listed is not said
            pages = self.aws.client("dynamodb").get_paginator("list_tables").paginate()
            names = {name for page in pages for name in page["TableNames"]}
            return sorted(names - {table.name for table in self.template.tables.values()})
        return []

    def _create_tables(self, dynamodb: Any, existing: set[str]) -> list[str]:
        """Create the template's tables that are not in `existing`; their names."""
        created = []
        for table in self.template.tables.values():
            if table.name not in existing:
                dynamodb.create_table(**table.create_args)
                created.append(table.name)
                if table.time_to_live:
                    dynamodb.update_time_to_live(
                        TableName=table.name,
                        TimeToLiveSpecification={
                            "AttributeName": table.time_to_live,
                            "Enabled": True,
                        },
                    )
                if table.point_in_time_recovery:
                    dynamodb.update_continuous_backups(
                        TableName=table.name,
                        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
                    )
        return created

    def _code_watch(self, fn: Function) -> Callable[[], None]:
        """Before each invocation of `fn`: if a file of its code changed since the last look, its
        environments are retired, as a deploy retires them, and on_code_change is told."""
        seen = user_files.snapshot(fn.code_dir)
        lock = threading.Lock()

        def look() -> None:
            nonlocal seen
            with lock:  # one look at a time: two visits at once must not tell one change twice
                now = user_files.snapshot(fn.code_dir)
                changed, seen = user_files.changes(seen, now), now
                if changed and self.on_code_change is not None:
                    self.runtimes[fn.logical_id].new_code()
                    self.on_code_change(fn.logical_id, changed)
            with self._template_lock:
                now = _stamp(self.project_dir / "template.yaml")
                changed, self._template_seen = now != self._template_seen, now
                if changed and self.on_code_change is not None:
                    self.on_code_change(None, ["template.yaml"])

        return look

    def _before_logs_read(self, shipper: LogShipper) -> Callable[[], None]:
        """What a read of the logs waits for: the saved events put back, and those handed over
        to the shipper stored."""

        def wait() -> None:
            self._logs_back.wait()
            shipper.flush()

        return wait

    def _log_groups(self) -> list[str]:
        groups = {fn.log_group for fn in self.template.functions.values()}
        return sorted(groups | set(self.template.log_groups))

    def save(self) -> None:
        """Write the stack's items and log events to its state file, if it has one."""
        if self.state_file and self.aws.embedded:
            tables = [table.name for table in self.template.tables.values()]
            persistence.save(self.aws, self.state_file, tables, self._log_groups(), self._journal)

    def _save_periodically(self) -> None:
        saved = self.aws.writes
        while not self._stopping.wait(SAVE_INTERVAL):
            if self.aws.writes != saved:
                saved = self.aws.writes
                self.save()

    # What tests, notebooks and the CLI use.

    def function(self, logical_id: str | None = None) -> Function:
        functions = self.template.functions
        if logical_id is None:
            return next(iter(functions.values()))
        if logical_id not in functions:
            raise WorkshopError(
                f"no function {logical_id!r}; the template has {', '.join(functions)}"
            )
        return functions[logical_id]

    def intercept_dynamodb(
        self,
        hook: Callable[[str, dict[str, Any]], dict[str, Any] | None],
        function: str | None = None,
    ) -> contextlib.AbstractContextManager[None]:
        """Show `hook` each DynamoDB call of the function while inside, as
        LocalAWS.intercept_dynamodb does: it may watch, hold or refuse the calls."""
        key = function_credentials(self.function(function))["AWS_ACCESS_KEY_ID"]
        return self.aws.intercept_dynamodb(key, hook)

    def invoke_function(self, logical_id: str, event: Any) -> Invocation:
        return self.runtimes[logical_id].invoke(event)

    def invoke(self, event: Any = NO_EVENT, function: str | None = None) -> Invocation:
        """Invoke a function directly, as `sam local invoke` or the Lambda Invoke API does: with
        `event` as given, whatever JSON it is (null too), or with {} when none is given."""
        event = {} if event is NO_EVENT else event
        return self.invoke_function(self.function(function).logical_id, event)

    def url(self, path: str | None = None) -> str:
        """The local URL of `path` (by default the first route's), under its stage as on AWS:
        `http://127.0.0.1:3000/Prod/hello`. The path without the stage is served too."""
        if self.api is None:
            raise WorkshopError("this template has no Api event, so nothing is served over HTTP")
        if path is None:
            plain = [r.path for r in self.template.routes if "{" not in r.path]
            path = (plain or [self.template.routes[0].path])[0]
        return f"http://127.0.0.1:{self.api.port}{self.api.stage_path(path)}"

    @contextlib.contextmanager
    def later(self, seconds: float) -> Iterator[int]:
        """Within it, the handlers read the time of day `seconds` later than it is, and the API's
        events say so, as visits that much later would. Only new environments do: the idle ones
        are reclaimed at the start and at the end, and one busy then keeps its clock until its
        invocation ends, when it is reclaimed. The items whose time to live (TTL) is over by
        then are deleted first, as DynamoDB would have deleted them meanwhile; it gives how
        many. One within another reads its own `seconds` later, not the sum, and at its end the
        clock reads as the other's again."""
        enclosing = self._ahead
        self._clock_ahead(seconds)
        try:
            tables = [table.name for table in self.template.tables.values()]
            now = time.time()
            yield self.aws.expire_items(tables, now + seconds, since=now)
        finally:
            self._clock_ahead(enclosing)

    @contextlib.contextmanager
    def in_one_millisecond(self) -> Iterator[None]:
        """Within it, the API's events say they all came in one millisecond (requestTimeEpoch,
        requestTime), each with a requestId of its own, as API Gateway's events say of requests
        it gets in the same millisecond."""
        if self.api is None:
            raise WorkshopError("this template has no Api event, so nothing is served over HTTP")
        self.api.held_at = time.time()
        try:
            yield
        finally:
            self.api.held_at = None

    @contextlib.contextmanager
    def deployed_with(
        self, variables: dict[str, str], function: str | None = None
    ) -> Iterator[None]:
        """Within it, the function runs with `variables` in its environment, as after a deploy
        that set them: its environments are retired at the start and at the end, as a deploy
        retires them."""
        runtime = self.runtimes[self.function(function).logical_id]
        kept = runtime.variables
        runtime.variables = {**kept, **variables}
        runtime.new_code()
        try:
            yield
        finally:
            runtime.variables = kept
            runtime.new_code()

    def _clock_ahead(self, seconds: float) -> None:
        self._ahead = seconds
        for runtime in self.runtimes.values():
            runtime.clock_ahead = seconds
        if self.api:
            self.api.clock_ahead = seconds  # the time its events say they came
        self.expire_environments()

    def expire_environments(self) -> int:
        """Reclaim every idle environment now, as the idle timeout would: the next call is cold."""
        return sum(runtime.expire() for runtime in self.runtimes.values())

    def flush_logs(self) -> None:
        if self._shipper:
            self._shipper.flush()

    def logs(self, pattern: str | None = None, function: str | None = None) -> list[StoredEvent]:
        """The function's CloudWatch Logs events, oldest first, once every pending one is stored."""
        self.flush_logs()
        return filter_events(self.aws.client("logs"), self.function(function).log_group, pattern)

    def log_tail(self, function: str | None = None) -> LogTail:
        """A reader of the function's log group that returns, at each read, what the
        invocations logged since the one before (at first, since it was made)."""
        if self._shipper is None:
            raise WorkshopError("the stack is not started: it has no logs to follow")
        return self._shipper.tail(self.function(function).log_group)

    def table(self, logical_id: str | None = None):
        """A boto3 Table resource for one of the template's tables: by default the one the
        function uses, the first its environment variables name (the first table if none)."""
        tables = self.template.tables
        if not tables:
            raise WorkshopError("this template has no table")
        if logical_id:
            return self.aws.resource("dynamodb").Table(tables[logical_id].name)
        # By the variables' values, not their names: a fix may name its variable otherwise,
        # and declare another table (an audit log) before the counter's.
        names = [table.name for table in tables.values()]
        functions = self.template.functions.values()
        named = [v for fn in functions for v in fn.environment.values() if v in names]
        return self.aws.resource("dynamodb").Table((named or names)[0])

    def describe(self) -> dict[str, Any]:
        """What `workshop up` writes for other commands (`workshop logs`) to find this stack."""
        return {
            "endpoint": self.aws.endpoint_url,
            "url": self.url() if self.api else None,
            "log_groups": self._log_groups(),
            # The names CloudFormation would give them (with its suffix): what to look for on AWS.
            "functions": {f.logical_id: f.name for f in self.template.functions.values()},
            "roles": {f.role: f.role_name for f in self.template.functions.values()},
            "tables": {t.logical_id: t.name for t in self.template.tables.values()},
            # The keys of the APIs that have a route requiring one: on AWS, get-api-key shows
            # a key's value; here nothing else would.
            "api_keys": {
                api.logical_id: list(api.api_keys)
                for api in self.template.apis.values()
                if api.api_keys
                and any(
                    r.api == api.logical_id and r.api_key_required for r in self.template.routes
                )
            },
        }
