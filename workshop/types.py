"""The data the parts of the local AWS hand each other: what a template declares, what a call did.

`local.sam_template` makes the template's types, `local.lambda_runtime` the outcome of a call
(`Invocation`, with its `LogEvent`s); API Gateway, IAM, CloudWatch Logs, the stack, the CLI
and the measurements read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Seconds an environment may stay idle before it is reclaimed (`local.lambda_runtime` applies
# it, the CLI offers it): Lambda keeps an idle environment for minutes, not hours. Here rather
# than there so that the CLI reads it without importing the runtime (and psutil) on every start.
DEFAULT_IDLE_TIMEOUT = 300.0
# A race's limits (`measure.race` keeps them, the CLI's options refuse more), here for the same
# reason: the CLI checks the numbers it is given before it imports the race.
MAX_CLIENTS = 128  # each client can start an execution environment: a process of its own
MAX_STALL = 25.0  # seconds: a stall must end before API Gateway's 29 s do
# DynamoDB's operations that may change items (PartiQL's statements may: they are counted in).
ITEM_WRITES = frozenset(
    {
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "ExecuteStatement",
        "BatchExecuteStatement",
        "ExecuteTransaction",
    }
)


@dataclass
class LogEvent:
    """One line of a log stream."""

    timestamp: int  # milliseconds since the epoch, as CloudWatch Logs keeps it
    message: str  # the line, without the newline that ends it
    newline: bool = False  # whether CloudWatch Logs keeps it with that newline (text lines)

    @property
    def stored(self) -> str:
        """The message as CloudWatch Logs keeps it."""
        return self.message + "\n" if self.newline else self.message


@dataclass
class Invocation:
    """The outcome of one invocation, as the Lambda service reports it."""

    request_id: str
    payload: Any = None  # the response, decoded from JSON where it is JSON
    raw_payload: bytes = b""  # the response's bytes, as Invoke returns them
    error: dict[str, Any] | None = None  # errorType, errorMessage, ... when the function failed
    timed_out: bool = False
    cold_start: bool = False
    duration_ms: float = 0.0
    init_ms: float | None = None
    max_memory_mb: int | None = None
    log_stream: str = ""  # the log stream of the execution environment that served it
    logs: list[LogEvent] = field(default_factory=list)

    @property
    def log_text(self) -> str:
        return "\n".join(event.message for event in self.logs)


@dataclass(frozen=True)
class Route:
    """One API Gateway method that invokes a function (an `Api` event)."""

    api: str
    stage: str
    path: str
    method: str  # upper case, or ANY
    function: str
    # The method's authorization type, as API Gateway's get-method names it: NONE, or AWS_IAM
    # (a SigV4-signed request); and whether it requires an API key (x-api-key).
    authorization: str = "NONE"
    api_key_required: bool = False


@dataclass
class Function:
    """An `AWS::Serverless::Function`, with Globals applied and intrinsics resolved."""

    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    runtime: str
    timeout: float
    memory_size: int
    environment: dict[str, str]
    policies: list[Any]  # IAM policy documents, resolved
    role_name: str
    reserved_concurrency: int | None = None
    logging_config: dict[str, Any] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    # Of `policies`, those the stack attaches to the function's role, by their logical ids.
    attached: dict[int, str] = field(default_factory=dict)
    # The role's logical id: SAM's "<Function>Role", or the template's role that Role names.
    role: str = ""
    # The AuthType of its function URL (FunctionUrlConfig): NONE, public, or AWS_IAM; None
    # where it has none. The harness serves no function URL: check 07 reads it.
    url_auth: str | None = None
    # Who else its role's trust policy lets assume the role, beside Lambda's service: each
    # principal as written. The harness runs no STS: check 07 reads it.
    trusted: list[str] = field(default_factory=list)
    # The template's AWS::Lambda::Permission resources on the function: (logical id, their
    # Action, Principal, SourceArn and SourceAccount, resolved). The harness serves only the
    # API's invocations: check 07 reads them.
    permissions: list[tuple[str, Any, Any, Any, Any]] = field(default_factory=list)
    # The template's tables whose resource policy (ResourcePolicy) names the function's role,
    # by their ARN: (the table's logical id, the statements that apply to the function, as an
    # identity policy would hold them). Within one account they grant on their own.
    resource_policies: dict[str, tuple[str, Any]] = field(default_factory=dict)

    @property
    def log_group(self) -> str:
        return self.logging_config.get("LogGroup") or f"/aws/lambda/{self.name}"

    @property
    def python_version(self) -> tuple[int, int]:
        major, minor = self.runtime.removeprefix("python").split(".")
        return int(major), int(minor)


@dataclass
class Table:
    """A DynamoDB table the template creates, as CreateTable arguments."""

    logical_id: str
    name: str
    arn: str
    create_args: dict[str, Any]
    point_in_time_recovery: bool = False
    time_to_live: str | None = None  # the attribute of an item's expiry time, when TTL is on


@dataclass
class Api:
    """A REST API: the implicit `ServerlessRestApi`, or an `AWS::Serverless::Api`."""

    logical_id: str
    stage: str
    throttle_rate: float | None = None
    throttle_burst: int | None = None
    # Each MethodSettings entry that throttles, as ((ResourcePath, HttpMethod), rate, burst):
    # ("/*", "*") for every method of the stage. throttle_rate and throttle_burst are those of
    # the one that applies to the API's routes (sam_template.load).
    throttles: tuple[tuple[tuple[str, str], float | None, int | None], ...] = ()
    api_id: str = ""  # the REST API's id, as in <api_id>.execute-api.<region>.amazonaws.com
    endpoint_type: str = "EDGE"  # API Gateway's default: requests pass through CloudFront
    binary_media_types: tuple[str, ...] = ()
    # The stage SAM's deployment also makes, `Stage`, unless OpenApiVersion is set: the same
    # routes, without the MethodSettings of `stage` (aws/serverless-application-model#191).
    extra_stage: str | None = None
    data_trace: bool = False  # whether MethodSettings log full requests (DataTraceEnabled)
    # Each MethodSettings scope (ResourcePath, HttpMethod) whose responses the stage's cache
    # serves: CachingEnabled, on a stage with CacheClusterEnabled.
    cached: tuple[tuple[str, str], ...] = ()
    # The values of the API keys that the usage plans of its stage take (x-api-key).
    api_keys: tuple[str, ...] = ()
    # DisableExecuteApiEndpoint: the default endpoint, which the harness stands for, is off.
    execute_api_disabled: bool = False


@dataclass
class Template:
    """What the harness needs from a SAM template."""

    path: Path
    stack_name: str
    region: str
    functions: dict[str, Function]
    tables: dict[str, Table]
    apis: dict[str, Api]
    log_groups: dict[str, dict[str, Any]]

    @property
    def routes(self) -> list[Route]:
        return [route for fn in self.functions.values() for route in fn.routes]
