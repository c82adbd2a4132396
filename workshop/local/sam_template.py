"""Reads a SAM template the way `sam local` does: functions, their API routes, and tables."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from workshop import user_files
from workshop.errors import WorkshopError
from workshop.local.physical_names import NAME_LIMITS, ROLE_NAME_LIMIT, generated_name
from workshop.local.sam_globals import read_globals, with_globals
from workshop.types import Api, Function, Route, Table, Template

ACCOUNT_ID = "123456789012"  # moto's default account: ARNs must agree with the local AWS
DEFAULT_API = "ServerlessRestApi"  # the implicit REST API that SAM creates for Api events
SAM_EXTRA_STAGE = "Stage"  # the stage SAM's deployment makes beside StageName's, unless told not
OPENAPI_VERSION = re.compile(r"\A[2-3](\.\d)(\.\d)?$")  # SAM's: SwaggerEditor's supported regex
DEFAULT_STAGE = "Prod"

FUNCTION = "AWS::Serverless::Function"
SIMPLE_TABLE = "AWS::Serverless::SimpleTable"
DYNAMODB_TABLE = "AWS::DynamoDB::Table"
SERVERLESS_API = "AWS::Serverless::Api"
LOG_GROUP = "AWS::Logs::LogGroup"
ROLE = "AWS::IAM::Role"
ROLE_POLICY = "AWS::IAM::RolePolicy"
PERMISSION = "AWS::Lambda::Permission"
# The retentions that CloudWatch Logs takes (PutRetentionPolicy; the deploy refuses others).
RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def _is_list(arg: Any, length: int, *kinds: type) -> bool:
    """Whether `arg` is a list of `length` items, the first of them of `kinds` in turn."""
    return (
        isinstance(arg, list)
        and len(arg) == length
        and all(isinstance(item, kind) for item, kind in zip(arg, kinds, strict=False))
    )


# What each intrinsic takes, and a test of it: (its form in words, test).
INTRINSIC_FORMS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "Ref": ("a name", lambda a: isinstance(a, str)),
    "Fn::If": (
        "a list of three: [Condition, value if true, value if false]",
        lambda a: _is_list(a, 3, str),
    ),
    "Fn::Equals": ("a list of two values", lambda a: _is_list(a, 2)),
    "Fn::Not": ("a list of one condition", lambda a: _is_list(a, 1)),
    "Fn::And": ("a list of conditions", lambda a: isinstance(a, list) and len(a) >= 2),
    "Fn::Or": ("a list of conditions", lambda a: isinstance(a, list) and len(a) >= 2),
    "Fn::Join": ("a list of two: [separator, [values]]", lambda a: _is_list(a, 2, str, list)),
    "Fn::Sub": (
        "a string, or a list of two: [string, {variables}]",
        lambda a: isinstance(a, str) or _is_list(a, 2, str, dict),
    ),
}

# Resources that change nothing the harness emulates: they are read, and otherwise left alone.
PASSIVE_TYPES = {
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    PERMISSION,
    "AWS::Lambda::Version",
    "AWS::CloudWatch::Alarm",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
    "AWS::ApiGateway::Account",
}
# Policies a template may attach to roles, by the property that names them: on a function's
# role (SAM's "<Function>Role", or the template's role that its Role names), they grant that
# function their statements, beside the role's own.
ATTACHED_POLICIES = {"AWS::IAM::Policy": "Roles", "AWS::IAM::ManagedPolicy": "Roles"} | {
    ROLE_POLICY: "RoleName"
}
ARN_MAKERS = {"Ref", "Fn::Sub", "Fn::Join"}  # what may make a managed policy's ARN
# IAM's rules for an identity policy, such as a role's, which the deploy meets when it makes the
# policy (IAM answers MalformedPolicyDocument): a Sid of A-Z, a-z and 0-9 only (IAM JSON policy
# elements: Sid), and no Principal, which only a resource's policy names ("Policy document
# should not specify a principal", as hashicorp/terraform#13449 records IAM's answer).
SID = re.compile(r"[A-Za-z0-9]*")
PRINCIPALS = ("Principal", "NotPrincipal")
# A statement's Effect, case-sensitive, and the policy grammar's versions (IAM JSON policy
# elements: Effect, Version); IAM refuses any other as malformed.
EFFECTS = ("Allow", "Deny")
POLICY_VERSIONS = ("2012-10-17", "2008-10-17")
LAMBDA_PRINCIPAL = "lambda.amazonaws.com"  # the service that assumes a function's role
# The values Lambda takes in LoggingConfig (Lambda's API reference, LoggingConfig; the
# CloudFormation property's allowed values), written so: the deploy refuses any other, such as
# Python's WARNING, or json.
LOGGING_VALUES = {
    "LogFormat": ("Text", "JSON"),
    "ApplicationLogLevel": ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"),
    "SystemLogLevel": ("DEBUG", "INFO", "WARN"),
}
# The parts of an Api's Auth (SAM's AWS::Serverless::Api) that the harness serves: IAM
# authorization and API keys. Lambda and Cognito authorizers, resource policies and an invoke
# role it cannot judge.
AUTH_SERVED = {
    "DefaultAuthorizer",
    "ApiKeyRequired",
    "UsagePlan",
    "AddDefaultAuthorizerToCorsPreflight",
    "AddApiKeyRequiredToCorsPreflight",
}
IAM_AUTHORIZER = "AWS_IAM"  # SAM's name for IAM authorization, built in (no Authorizers entry)
# The logical id of the API key SAM makes for a usage plan, by CreateUsagePlan (samtranslator's
# api_generator); NONE makes none.
USAGE_PLAN_KEYS = {"PER_API": "{api}ApiKey", "SHARED": "ServerlessApiKey", "NONE": None}
URL_AUTH_TYPES = ("AWS_IAM", "NONE")  # a function URL's AuthType (Lambda's API reference)
SAM_TAGS = (
    *("Ref", "Sub", "GetAtt", "Join", "Select", "Split"),
    *("If", "Equals", "Not", "And", "Or", "Condition"),
)
# The short forms CloudFormation reads besides SAM_TAGS (its guide's "Intrinsic function
# reference"; Length and ToJsonString with AWS::LanguageExtensions).
CLOUDFORMATION_TAGS = {"Base64", "Cidr", "FindInMap", "GetAZs", "ImportValue", "Transform"} | {
    "Length",
    "ToJsonString",
}
NO_VALUE = object()  # what `!Ref AWS::NoValue` resolves to: the property is left out


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (`!Ref X`) read as their long forms."""


def _construct_tag(tag: str):
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        name = tag if tag in ("Ref", "Condition") else f"Fn::{tag}"
        return {name: value}

    return construct


for _tag in SAM_TAGS:
    _TemplateLoader.add_constructor(f"!{_tag}", _construct_tag(_tag))
# A timestamp is read as the string it is written as, as SAM CLI reads it (its yamlhelper's
# yaml_parse): an unquoted `Version: 2012-10-17` is IAM's version, not a date.
_TemplateLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def parse_yaml(path: Path) -> dict[str, Any]:
    """The template as plain data, or a WorkshopError that names the file."""
    if not path.exists():
        raise WorkshopError(f"{path}: no such template; is this a SAM project folder?")
    text = user_files.read_text(path, "a SAM template")
    try:
        data = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506
    except yaml.YAMLError as exc:
        unknown = re.fullmatch(
            r"could not determine a constructor for the tag '(!\w+)'", getattr(exc, "problem", "")
        )
        if unknown and isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark:
            line, tag = exc.problem_mark.line + 1, unknown[1]
            if tag[1:] not in CLOUDFORMATION_TAGS:
                raise WorkshopError(
                    f"{path}: line {line} uses {tag}, which is no CloudFormation function: "
                    "the deploy would fail."
                ) from None
            raise WorkshopError(  # valid YAML, and CloudFormation's: the harness's limit
                f"{path}: line {line} uses {tag}, which the workshop harness cannot serve: a "
                "limit of the offline stand-in, not a mistake (sam deploy would accept it); to "
                "run it here, write that part in a form the harness serves."
            ) from None
        raise WorkshopError(
            f"{path}: not valid YAML {user_files.yaml_problem(exc, text)}; fix the template."
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise WorkshopError(f"{path}: a SAM template needs a Resources section.")
    return data


class _Resolver:
    """Resolves Ref, Sub, GetAtt and Join against the local stack's names."""

    def __init__(
        self,
        template: dict[str, Any],
        stack_name: str,
        region: str,
        where: str,
        overrides: dict[str, str] | None = None,
    ):
        self.resources: dict[str, Any] = template["Resources"]
        self.parameters = template.get("Parameters") or {}
        self.overrides = overrides or {}  # the values a deploy passes, over the Defaults
        unknown = sorted(set(self.overrides) - set(self.parameters))
        if unknown:  # CloudFormation refuses them: "Parameters: [...] do not exist"
            raise WorkshopError(
                f"{where}: samconfig's parameter_overrides sets {', '.join(unknown)}, which the "
                "template does not declare under Parameters: the deploy would fail."
            )
        self.conditions = template.get("Conditions") or {}
        self.stack_name = stack_name
        self.region = region
        self.where = where

    def physical_name(self, logical_id: str) -> str:
        props = self.resources[logical_id].get("Properties") or {}
        kind = self.resources[logical_id].get("Type")
        explicit = {
            FUNCTION: "FunctionName",
            SIMPLE_TABLE: "TableName",
            DYNAMODB_TABLE: "TableName",
            LOG_GROUP: "LogGroupName",
        }.get(kind)
        if explicit and props.get(explicit):
            return self.resolve(props[explicit], f"{logical_id}.{explicit}")
        return generated_name(self.stack_name, logical_id, NAME_LIMITS.get(kind, 255))

    def api_id(self, logical_id: str) -> str:
        """A REST API id as API Gateway makes them (10 characters, a-z0-9), the same each run."""
        digest = hashlib.sha256(f"{self.stack_name}/{logical_id}".encode()).digest()
        number = int.from_bytes(digest[:8], "big")
        alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
        return "".join(alphabet[(number // 36**i) % 36] for i in range(10))

    def arn(self, logical_id: str) -> str:
        kind = self.resources[logical_id].get("Type")
        name = self.physical_name(logical_id)
        if kind in (SIMPLE_TABLE, DYNAMODB_TABLE):
            return f"arn:aws:dynamodb:{self.region}:{ACCOUNT_ID}:table/{name}"
        if kind == FUNCTION:
            return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{name}"
        if kind == LOG_GROUP:
            return f"arn:aws:logs:{self.region}:{ACCOUNT_ID}:log-group:{name}:*"
        if kind == ROLE:
            return self.role_arn(logical_id)
        return f"arn:aws:cloudformation:{self.region}:{ACCOUNT_ID}:{kind}/{name}"

    def made(self, logical_id: str) -> bool:
        """Whether CloudFormation makes the resource: its Condition, if it has one, holds."""
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.condition(str(condition), f"{logical_id}.Condition")

    def unmade(self, logical_id: str, where: str) -> WorkshopError:
        return WorkshopError(
            f"{self.where}: {where} refers to {logical_id}, whose Condition does not hold, so "
            "CloudFormation does not make it: the deploy would fail."
        )

    def ref(self, name: str, where: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{ACCOUNT_ID}:stack/"
            f"{self.stack_name}/local",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            default = self.overrides.get(name, self.parameters[name].get("Default"))
            if default is None:
                raise self.unsupported(where, f"parameter {name} has no Default")
            return self._within_limits(name, str(default))
        if name in self.resources or name == DEFAULT_API:
            if name != DEFAULT_API and not self.made(name):
                raise self.unmade(name, where)
            if name == DEFAULT_API or self.resources[name].get("Type") == SERVERLESS_API:
                return self.api_id(name)
            return self.physical_name(name)
        raise WorkshopError(f"{self.where}: {where} refers to {name!r}, which is not defined.")

    def _within_limits(self, name: str, value: str) -> str:
        """A parameter's value, if its declaration takes it: CloudFormation refuses the stack's
        creation otherwise (its Type Number, MinValue, MaxValue and AllowedValues)."""
        declared = self.parameters[name] if isinstance(self.parameters[name], dict) else {}
        given = "given" if name in self.overrides else "its Default"
        problem = None
        allowed = declared.get("AllowedValues")
        if isinstance(allowed, list) and value not in map(str, allowed):
            problem = f"is not one of its AllowedValues ({', '.join(map(str, allowed))})"
        elif declared.get("Type") == "Number":
            try:
                number = float(value)
            except ValueError:
                number, problem = None, "is not a number, and its Type is Number"
            low, high = declared.get("MinValue"), declared.get("MaxValue")
            if number is not None and low is not None and number < float(low):
                problem = f"is below its MinValue, {low}"
            elif number is not None and high is not None and number > float(high):
                problem = f"is above its MaxValue, {high}"
        if problem:
            raise WorkshopError(
                f"{self.where}: parameter {name} ({given}: {value}) {problem}: the deploy would "
                "fail."
            )
        return value

    def sam_role(self, logical_id: str) -> bool:
        """Whether `logical_id` names the role SAM makes for a function of the template."""
        function = self.resources.get(logical_id.removesuffix("Role"))
        return (
            logical_id not in self.resources
            and logical_id.endswith("Role")
            and isinstance(function, dict)
            and function.get("Type") == FUNCTION
            and "Role" not in (function.get("Properties") or {})
        )

    def role_arn(self, logical_id: str) -> str:
        """The ARN of the role SAM makes (`<Function>Role`), or of the template's role."""
        props = (self.resources.get(logical_id) or {}).get("Properties") or {}
        name = self.resolve(props.get("RoleName"), f"{logical_id}.RoleName") or generated_name(
            self.stack_name, logical_id, ROLE_NAME_LIMIT
        )
        path = self.resolve(props.get("Path"), f"{logical_id}.Path") or "/"
        return f"arn:aws:iam::{ACCOUNT_ID}:role{path}{name}"

    def get_att(self, logical_id: str, attribute: str, where: str) -> str:
        if attribute == "Arn" and self.sam_role(logical_id):
            return self.role_arn(logical_id)
        if logical_id not in self.resources:
            raise WorkshopError(f"{self.where}: {where} refers to {logical_id!r}, not defined.")
        if not self.made(logical_id):
            raise self.unmade(logical_id, where)
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute == "StreamArn":
            return self.arn(logical_id) + "/stream/local"
        if self.resources[logical_id].get("Type") in (SIMPLE_TABLE, DYNAMODB_TABLE):
            # Not a limit of the harness: CloudFormation refuses it too.
            raise WorkshopError(
                f"{self.where}: {where} uses !GetAtt {logical_id}.{attribute}, but a table's "
                f"attributes are Arn and StreamArn (its name is `!Ref {logical_id}`)."
            )
        raise self.unsupported(where, f"!GetAtt {logical_id}.{attribute}")

    def resolve(self, value: Any, where: str) -> Any:
        """The value with its intrinsics resolved; NO_VALUE, or without such items, where
        `!Ref AWS::NoValue` leaves a property or an item out."""
        if isinstance(value, list):
            items = (self.resolve(item, where) for item in value)
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            self.check_shape(key, arg, where)
            if key == "Ref":
                return self.ref(arg, where)
            if key == "Fn::If":
                name, if_true, if_false = arg
                return self.resolve(if_true if self.condition(name, where) else if_false, where)
            if key == "Fn::GetAtt":
                parts = arg.split(".", 1) if isinstance(arg, str) else arg
                if not isinstance(parts, list) or len(parts) != 2:
                    raise WorkshopError(
                        f"{self.where}: {where} has !GetAtt "
                        f"{'.'.join(map(str, parts)) if isinstance(parts, list) else parts!r}, "
                        "which names no attribute; "
                        "write it as `!GetAtt Resource.Attribute`, such as "
                        "`!GetAtt VisitCounterTable.Arn`."
                    )
                return self.get_att(parts[0], parts[1], where)
            if key == "Fn::Sub":
                return self.sub(arg, where)
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(self.resolve(item, where)) for item in items)
            if key.startswith("Fn::"):
                raise self.unsupported(where, f"the intrinsic function {key}")
        resolved = {key: self.resolve(item, f"{where}.{key}") for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def check_shape(self, key: str, arg: Any, where: str) -> None:
        """A WorkshopError naming an intrinsic whose arguments are not of its form (as
        `sam validate` and the deploy refuse it), before they are unpacked."""
        form, holds = INTRINSIC_FORMS.get(key, ("", lambda _: True))
        if not holds(arg):
            short = "!" + key.removeprefix("Fn::")
            raise WorkshopError(
                f"{self.where}: {where} has {short} {arg!r}, but {short} takes {form}: "
                "`sam validate` and the deploy refuse it too."
            )

    def condition(self, name: str, where: str) -> bool:
        """Whether a condition of the Conditions section holds, with parameters at their Default."""
        if name not in self.conditions:
            raise WorkshopError(
                f"{self.where}: {where} uses the condition {name!r}, which is not in Conditions."
            )
        return self._holds(self.conditions[name], f"Conditions.{name}")

    def _holds(self, value: Any, where: str) -> bool:
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            self.check_shape(key, arg, where)
            if key == "Fn::Equals":
                left, right = (self.resolve(item, where) for item in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._holds(arg[0], where)
            if key == "Fn::And":
                return all(self._holds(item, where) for item in arg)
            if key == "Fn::Or":
                return any(self._holds(item, where) for item in arg)
            if key == "Condition":
                return self.condition(arg, where)
        raise self.unsupported(where, f"the condition {value!r}")

    def sub(self, arg: Any, where: str) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self.resolve(variables[name], where))
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute, where)
            return self.ref(name, where)

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def unsupported(self, where: str, what: str) -> WorkshopError:
        return WorkshopError(
            f"{self.where}: {where} uses {what}, which the workshop harness cannot serve: a "
            "limit of the offline stand-in, not a mistake (sam deploy would accept it); to run "
            "it here, write that part in a form the harness serves."
        )

    def number(self, value: Any, where: str, convert: Callable[[Any], Any] = int) -> Any:
        return _number(value, f"{self.where}: {where}", convert)


def _number(value: Any, where: str, convert: Callable[[Any], Any] = int) -> Any:
    """A property's number (a parameter's comes as a string, which CloudFormation converts
    too), or a WorkshopError that names the property: a typo such as `Timeout: ten`."""
    try:
        if isinstance(value, bool):
            raise TypeError(value)
        return convert(value)
    except (TypeError, ValueError, OverflowError):
        raise WorkshopError(
            f"{where} is {value!r}, which is not a number; write a number there, as sam deploy "
            "would need."
        ) from None


def _table_create_args(
    kind: str, props: dict[str, Any], name: str, where: str, billing: Any = None
) -> dict[str, Any]:
    """A table's CreateTable arguments (`billing`: an AWS::DynamoDB::Table's BillingMode)."""
    if kind == SIMPLE_TABLE:
        key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
        types = {"String": "S", "Number": "N", "Binary": "B"}
        if key.get("Type", "String") not in types:
            raise WorkshopError(
                f"{where}: PrimaryKey.Type is {key.get('Type')!r}; a SimpleTable's key is of "
                "Type String, Number or Binary."
            )
        attribute_type = types[key.get("Type", "String")]
        args: dict[str, Any] = {
            "TableName": name,
            "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
            "AttributeDefinitions": [
                {"AttributeName": key["Name"], "AttributeType": attribute_type}
            ],
        }
        throughput = props.get("ProvisionedThroughput")
    else:
        args = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
        }
        for optional in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(optional):
                args[optional] = props[optional]
        throughput = props.get("ProvisionedThroughput")
        if billing != "PAY_PER_REQUEST" and not throughput:
            # BillingMode's default is PROVISIONED, which needs ProvisionedThroughput
            # (AWS::DynamoDB::Table's reference): CloudFormation cannot create the table.
            raise WorkshopError(
                f"{where} has no ProvisionedThroughput, and its BillingMode is "
                f"{billing or 'PROVISIONED (the default, where none is set)'}, which needs one: "
                "CloudFormation cannot create the table, and the deploy would fail. Set "
                "BillingMode: PAY_PER_REQUEST (or the table's ProvisionedThroughput)."
            )
    if throughput:
        args["ProvisionedThroughput"] = {
            unit: _number(throughput.get(unit), f"{where}.ProvisionedThroughput.{unit}")
            for unit in ("ReadCapacityUnits", "WriteCapacityUnits")
        }
    else:
        args["BillingMode"] = "PAY_PER_REQUEST"
    return args


def load(
    path: Path,
    *,
    stack_name: str,
    region: str = "us-east-1",
    overrides: dict[str, str] | None = None,
) -> Template:
    """Read `path`, its parameters at their Defaults or at `overrides`; a template the harness
    cannot serve raises a WorkshopError naming the part."""
    path = Path(path)
    raw = parse_yaml(path)
    where = str(path)
    resolver = _Resolver(raw, stack_name, region, where, overrides)
    sam_globals = read_globals(raw, where)
    functions: dict[str, Function] = {}
    tables: dict[str, Table] = {}
    # The API that SAM makes for Api events without a RestApiId takes Globals.Api too.
    implicit = with_globals(sam_globals, SERVERLESS_API, DEFAULT_API, {}, where)
    auths = {DEFAULT_API: _api_auth(DEFAULT_API, implicit, resolver)}
    apis: dict[str, Api] = {DEFAULT_API: _api(DEFAULT_API, implicit, resolver, auths[DEFAULT_API])}
    log_groups: dict[str, dict[str, Any]] = {}
    attached: list[tuple[str, dict[str, Any]]] = []  # policy resources that name roles
    permissions: list[tuple[str, dict[str, Any]]] = []  # AWS::Lambda::Permission resources
    table_policies: dict[str, tuple[str, Any]] = {}  # tables' ResourcePolicy, by their ARN
    events: dict[str, list[dict[str, Any]]] = {}  # each function's events' Auth

    for logical_id, resource in raw["Resources"].items():
        kind = resource.get("Type")
        props = resource.get("Properties") or {}
        if not resolver.made(logical_id):
            continue
        if kind == FUNCTION:
            merged = with_globals(sam_globals, kind, logical_id, resource, where)
            functions[logical_id] = _function(logical_id, merged, path.parent, resolver)
            events[logical_id] = [  # each route's, in the order of its routes
                _event_auth(event, f"{logical_id}.Events.{event_id}", resolver)
                for event_id, event in (merged.get("Events") or {}).items()
            ]
        elif kind in (SIMPLE_TABLE, DYNAMODB_TABLE):
            name = resolver.physical_name(logical_id)
            billing = resolver.resolve(props.get("BillingMode"), f"{logical_id}.BillingMode")
            create_args = resolver.resolve(
                _table_create_args(
                    kind,
                    props,
                    name,
                    f"{where}: {logical_id}",
                    None if billing is NO_VALUE else billing,
                ),
                logical_id,
            )
            recovery = resolver.resolve(
                props.get("PointInTimeRecoverySpecification") or {},
                f"{logical_id}.PointInTimeRecoverySpecification",
            )
            recovery = recovery if isinstance(recovery, dict) else {}  # !Ref AWS::NoValue
            pitr = recovery.get("PointInTimeRecoveryEnabled", False) in (True, "true", "True")
            expiry = resolver.resolve(
                props.get("TimeToLiveSpecification") or {},
                f"{logical_id}.TimeToLiveSpecification",
            )
            expiry = expiry if isinstance(expiry, dict) else {}
            ttl = expiry.get("AttributeName") if expiry.get("Enabled") in (True, "true") else None
            tables[logical_id] = Table(
                logical_id, name, resolver.arn(logical_id), create_args, pitr, ttl
            )
            if kind == DYNAMODB_TABLE and props.get("ResourcePolicy"):
                table_policies[resolver.arn(logical_id)] = (
                    logical_id,
                    _resource_policy(logical_id, props["ResourcePolicy"], resolver),
                )
        elif kind == SERVERLESS_API:
            merged = with_globals(sam_globals, kind, logical_id, resource, where)
            auths[logical_id] = _api_auth(logical_id, merged, resolver)
            apis[logical_id] = _api(logical_id, merged, resolver, auths[logical_id])
        elif kind == LOG_GROUP:
            group = resolver.resolve(props, logical_id)
            days = group.get("RetentionInDays")
            if days is not None:  # a parameter's is a string, or "7": a number, as AWS takes it
                kept = resolver.number(days, f"{logical_id}.RetentionInDays", float)
                group["RetentionInDays"] = int(kept) if kept.is_integer() else kept
                if group["RetentionInDays"] not in RETENTION_DAYS:
                    raise WorkshopError(
                        f"{where}: {logical_id}.RetentionInDays is {days!r}, which CloudWatch "
                        "Logs does not take (the deploy would fail): one of "
                        f"{', '.join(map(str, RETENTION_DAYS))}."
                    )
            log_groups[resolver.physical_name(logical_id)] = group
        elif kind in ATTACHED_POLICIES and props.get(ATTACHED_POLICIES[kind]):
            attached.append((logical_id, props))
        elif kind == PERMISSION:
            permissions.append((logical_id, props))
        elif kind not in PASSIVE_TYPES:
            raise WorkshopError(
                f"{where}: resource {logical_id} has type {kind}, which the workshop harness "
                "cannot serve: a limit of the offline stand-in, not a mistake (sam deploy would "
                f"accept it). It serves {FUNCTION}, {SIMPLE_TABLE}, {DYNAMODB_TABLE}, "
                f"{SERVERLESS_API} and {LOG_GROUP}, and reads {ROLE}, {ROLE_POLICY}, "
                f"{', '.join(sorted(PASSIVE_TYPES - {ROLE}))}."
            )

    for fn in functions.values():
        _no_sam_role(fn, raw, resolver)
    for logical_id, props in attached:
        element = ATTACHED_POLICIES[raw["Resources"][logical_id]["Type"]]
        _attach(logical_id, props, element, functions, resolver)
    for logical_id, props in permissions:
        _permission(logical_id, props, functions, resolver)
    for fn in functions.values():
        _resource_grants(fn, table_policies, resolver)
    for fn in functions.values():
        for route in fn.routes:
            if route.api in raw["Resources"] and not resolver.made(route.api):
                raise resolver.unmade(route.api, f"{fn.logical_id}'s RestApiId")
            if route.api not in apis:
                raise WorkshopError(
                    f"{where}: {fn.logical_id} uses RestApiId {route.api!r}, "
                    "which is not an AWS::Serverless::Api in this template."
                )
        fn.routes = [
            _method_auth(
                Route(r.api, apis[r.api].stage, r.path, r.method, r.function),
                event_auth,
                auths[r.api],
            )
            for r, event_auth in zip(fn.routes, events[fn.logical_id], strict=True)
        ]
    for api in apis.values():
        # MethodSettings throttle the method they name: one that names no route's method (a
        # POST, another path) leaves the routes unthrottled, on AWS as here.
        routes = [r for fn in functions.values() for r in fn.routes if r.api == api.logical_id]
        api.throttle_rate, api.throttle_burst = _route_throttle(api.throttles, routes)
    if not functions:
        raise WorkshopError(f"{where}: no AWS::Serverless::Function to run.")
    return Template(path, stack_name, region, functions, tables, apis, log_groups)


def _no_sam_role(fn: Function, raw: dict[str, Any], resolver: _Resolver) -> None:
    """A WorkshopError where the template refers to the role SAM makes for `fn` ("<Function>Role")
    while fn has a Role of its own, so that SAM makes none: CloudFormation cannot resolve it."""
    sam_role = f"{fn.logical_id}Role"
    if fn.role == sam_role or sam_role in raw["Resources"]:
        return
    for section in ("Resources", "Outputs"):
        for name, value in (raw.get(section) or {}).items():
            if _mentions(value, sam_role):
                raise WorkshopError(
                    f"{resolver.where}: {section}.{name} refers to {sam_role}, the role SAM makes "
                    f"for a function without a Role; {fn.logical_id}'s Role is {fn.role}, so SAM "
                    "makes none, and the deploy would fail (an unresolved reference). Refer to "
                    f"{fn.role} instead."
                )


def _mentions(value: Any, logical_id: str) -> bool:
    """Whether `value` refers to the resource `logical_id`: Ref, GetAtt, or ${...} in a Sub."""
    if isinstance(value, list):
        return any(_mentions(item, logical_id) for item in value)
    if not isinstance(value, dict):
        return False
    for key, arg in value.items():
        if key == "Ref" and arg == logical_id:
            return True
        if key == "Fn::GetAtt":
            target = arg.split(".", 1)[0] if isinstance(arg, str) else (arg or [None])[0]
            if target == logical_id:
                return True
        if key == "Fn::Sub":
            text = arg if isinstance(arg, str) else arg[0] if isinstance(arg, list) else ""
            if re.search(r"\$\{" + re.escape(logical_id) + r"[.}]", str(text)):
                return True
        if _mentions(arg, logical_id):
            return True
    return False


def _attach(
    logical_id: str,
    props: dict[str, Any],
    element: str,
    functions: dict[str, Function],
    resolver: _Resolver,
) -> None:
    """Grant a policy's statements to each function whose role its `element` (Roles, or a
    RolePolicy's RoleName) names; a role of another's grants the functions nothing."""
    roles = props[element] if isinstance(props[element], list) else [props[element]]
    named = []
    for index, role in enumerate(roles):
        here = f"{logical_id}.{element}" + (f"[{index}]" if element == "Roles" else "")
        if isinstance(role, dict) and set(role) == {"Ref"}:
            named.append(role["Ref"])
        elif not isinstance(role, str):  # a role's name made otherwise: !Sub "${FnRole}", say
            raise resolver.unsupported(here, f"a role named by {json.dumps(role)}")
        elif role in {f"{fn}Role" for fn in functions}:
            raise WorkshopError(
                f"{resolver.where}: {here} is the string {role!r}, the logical id of the role "
                f"SAM makes, where {element} takes a role's name, which CloudFormation makes: the "
                f"deploy would fail (no role has that name). Write !Ref {role}."
            )
    # Any other name is a role that this template does not make: not a function's.
    granted = [fn for fn in functions.values() if fn.role in named]
    if not granted:
        return
    document = _document(logical_id, props, resolver)
    for fn in granted:
        fn.attached[len(fn.policies)] = logical_id
        fn.policies.append(document)


def _resource_policy(logical_id: str, policy: Any, resolver: _Resolver) -> Any:
    """A table's ResourcePolicy document, resolved, or a WorkshopError naming a part the
    harness cannot judge."""
    where = f"{logical_id}.ResourcePolicy.PolicyDocument"
    document = _policy_document((policy or {}).get("PolicyDocument"), where, resolver)
    statements = document["Statement"]
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict):
            continue
        if "NotPrincipal" in statement:
            raise resolver.unsupported(where, "a NotPrincipal")
        principal = statement.get("Principal")
        named = principal.get("AWS") if isinstance(principal, dict) else principal
        named = named if isinstance(named, list) else [named]
        account = (ACCOUNT_ID, f"arn:aws:iam::{ACCOUNT_ID}:root")
        if statement.get("Effect") == "Deny" and any(p in account for p in named):
            # Whether such a Deny reaches the account's roles, the harness does not know.
            raise resolver.unsupported(where, "a Deny on the account's principal")
    return document


def _resource_grants(
    fn: Function, table_policies: dict[str, tuple[str, Any]], resolver: _Resolver
) -> None:
    """Give `fn` what the tables' resource policies say of its role: its ARN, or its session's."""
    from workshop.local.iam import for_the_function  # it needs our names

    session = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{fn.role_name}/{fn.name}"
    for table, (logical_id, document) in table_policies.items():
        applied = for_the_function(document, (resolver.role_arn(fn.role), session))
        if applied["Statement"]:
            fn.resource_policies[table] = (logical_id, applied)


def _permission(
    logical_id: str, props: dict[str, Any], functions: dict[str, Function], resolver: _Resolver
) -> None:
    """Record an AWS::Lambda::Permission on the function its FunctionName names (by its name,
    or its ARN), for check 07."""
    named = resolver.resolve(props.get("FunctionName"), f"{logical_id}.FunctionName")
    for fn in functions.values():
        if named in (fn.name, fn.arn):
            fn.permissions.append(
                (
                    logical_id,
                    *(
                        resolver.resolve(props.get(key), f"{logical_id}.{key}")
                        for key in ("Action", "Principal", "SourceArn", "SourceAccount")
                    ),
                )
            )


def _trusted_others(trust: Any) -> list[str]:
    """Who a role's trust policy lets assume the role beside Lambda's service: each principal
    of a statement that allows it, as written."""
    from workshop.local.iam import names_action  # it needs our names

    statements = trust.get("Statement") if isinstance(trust, dict) else None
    statements = [statements] if isinstance(statements, dict) else statements or []
    others: list[str] = []
    for statement in statements if isinstance(statements, list) else []:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        if not any(  # sts:AssumeRole, and its forms for web identities and SAML
            names_action(f"sts:{action}", statement.get("Action"))
            for action in ("AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML")
        ):
            continue
        if "NotPrincipal" in statement:
            others.append(f"every principal but {json.dumps(statement['NotPrincipal'])}")
        principal = statement.get("Principal")
        if not isinstance(principal, dict):
            principal = {"AWS": principal} if principal is not None else {}
        for kind, values in principal.items():
            for value in values if isinstance(values, list) else [values]:
                if (kind, value) != ("Service", LAMBDA_PRINCIPAL) and str(value) not in others:
                    others.append(str(value))
    return others


def _route_throttle(entries: tuple, routes: list[Route]) -> tuple[float | None, int | None]:
    """The rate and burst that apply to the routes: the most specific entry that covers one (a
    method's own before its path's, before the whole stage's). (None, None) where no entry
    covers a route. A value the chosen entry leaves out is taken from the whole stage's entry:
    an assumption, not confirmed against AWS."""

    def specific(scope: tuple[str, str]) -> int:
        return 2 * (scope[0] != "/*") + (scope[1] != "*")

    covering = [
        (specific(e[0]), index, e)
        for index, e in enumerate(entries)
        if any(covers(e[0], route) for route in routes)
    ]
    if not covering:
        return None, None
    *_, (_, rate, burst) = max(covering)  # of two as specific, the later one
    stage = [e for e in entries if e[0] == ("/*", "*")]
    if stage:
        rate = stage[-1][1] if rate is None else rate
        burst = stage[-1][2] if burst is None else burst
    return rate, burst


def resource_path(path: str) -> str:
    """A MethodSettings ResourcePath as a route's path: CloudFormation writes each `/` after the
    first as `~1` (/~1hello is /hello)."""
    return "/" + path.replace("~1", "/").lstrip("/")


def covers(scope: tuple[str, str], route: Route) -> bool:
    """Whether MethodSettings for `scope` (ResourcePath, HttpMethod) apply to `route`."""
    path, method = scope
    return (path == "/*" or resource_path(path).rstrip("/") == route.path.rstrip("/")) and (
        method == "*" or route.method in (method.upper(), "ANY")
    )


@dataclass(frozen=True)
class _ApiAuth:
    """What an Api's Auth gives each method of it, unless its event's Auth says otherwise."""

    authorization: str = "NONE"  # or AWS_IAM
    api_key_required: bool = False
    # Whether the two apply to OPTIONS methods too (SAM's Add...ToCorsPreflight, true unless set).
    preflight_authorization: bool = True
    preflight_api_key: bool = True
    usage_plan_key: str | None = None  # the logical id of the API key its usage plan takes


def _true(value: Any) -> bool:
    """A template's boolean: true, or "true" in any case (a parameter's value is a string)."""
    return str(value).lower() == "true"


def _api_auth(logical_id: str, props: dict[str, Any], resolver: _Resolver) -> _ApiAuth:
    """An Api's Auth, or a WorkshopError naming a part the harness cannot serve, or SAM refuses."""
    where = f"{logical_id}.Auth"
    auth = resolver.resolve(props.get("Auth") or {}, where)
    auth = auth if isinstance(auth, dict) else {}
    for key, value in auth.items():
        if key not in AUTH_SERVED and value:
            raise resolver.unsupported(
                f"{where}.{key}", f"Auth {key} (it serves AWS_IAM authorization and API keys)"
            )
    default = auth.get("DefaultAuthorizer") or "NONE"
    if default not in ("NONE", IAM_AUTHORIZER):
        # With no Authorizers (refused above), SAM takes only AWS_IAM.
        raise WorkshopError(
            f"{resolver.where}: {where}.DefaultAuthorizer is {default!r}, which names no "
            f"authorizer of Auth.Authorizers (the built-in one is {IAM_AUTHORIZER}): `sam "
            "validate` and the deploy refuse it."
        )
    plan = auth.get("UsagePlan") or {}
    create = plan.get("CreateUsagePlan") if isinstance(plan, dict) else None
    if plan and create not in USAGE_PLAN_KEYS:
        raise WorkshopError(
            f"{resolver.where}: {where}.UsagePlan.CreateUsagePlan is {create!r}, and SAM takes "
            f"{', '.join(USAGE_PLAN_KEYS)}: `sam validate` and the deploy refuse it."
        )
    key = USAGE_PLAN_KEYS[create] if plan else None
    return _ApiAuth(
        authorization=default,
        api_key_required=_true(auth.get("ApiKeyRequired")),
        preflight_authorization=_true(auth.get("AddDefaultAuthorizerToCorsPreflight", True)),
        preflight_api_key=_true(auth.get("AddApiKeyRequiredToCorsPreflight", True)),
        usage_plan_key=key and key.format(api=logical_id),
    )


def _method_auth(route: Route, event_auth: dict[str, Any], api: _ApiAuth) -> Route:
    """`route` with the authorization and API key that its method has: its event's Auth
    (Authorizer, ApiKeyRequired), else its Api's, as SAM's swagger editor sets them."""
    preflight = route.method == "OPTIONS"
    authorization = event_auth.get("Authorizer") or (
        api.authorization if api.preflight_authorization or not preflight else "NONE"
    )
    key = event_auth.get("ApiKeyRequired")
    required = (
        _true(key)
        if key is not None
        else api.api_key_required and (api.preflight_api_key or not preflight)
    )
    return replace(route, authorization=authorization, api_key_required=required)


def _event_auth(event: dict[str, Any], where: str, resolver: _Resolver) -> dict[str, Any]:
    """An Api event's Auth, or a WorkshopError naming a part the harness cannot serve."""
    props = event.get("Properties") or {}
    auth = resolver.resolve(props.get("Auth") or {}, f"{where}.Auth")
    auth = auth if isinstance(auth, dict) else {}
    for key, value in auth.items():
        if key not in ("Authorizer", "ApiKeyRequired") and value:
            raise resolver.unsupported(
                f"{where}.Auth.{key}", f"Auth {key} (it serves AWS_IAM authorization and API keys)"
            )
    if auth.get("Authorizer") not in (None, IAM_AUTHORIZER, "NONE"):
        # With no Authorizers on the API (which the harness refuses), SAM refuses any other.
        raise WorkshopError(
            f"{resolver.where}: {where}.Auth.Authorizer is {auth['Authorizer']!r}, which names no "
            f"authorizer of its Api's Auth.Authorizers (the built-in one is {IAM_AUTHORIZER}): "
            "`sam validate` and the deploy refuse it."
        )
    return auth


def _api_key_value(logical_id: str, resolver: _Resolver) -> str:
    """The value of the API key SAM makes (`logical_id`), as API Gateway makes them (40
    letters and digits), the same each run: AWS's is random, and read with get-api-key."""
    digest = hashlib.sha256(f"{resolver.stack_name}/{logical_id}".encode()).digest()
    number = int.from_bytes(digest, "big")
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    return "".join(alphabet[(number // 62**i) % 62] for i in range(40))


def _api(logical_id: str, props: dict[str, Any], resolver: _Resolver, auth: _ApiAuth) -> Api:
    stage = resolver.resolve(props.get("StageName", DEFAULT_STAGE), f"{logical_id}.StageName")
    throttles, cached = [], []
    data_trace = False
    settings = resolver.resolve(props.get("MethodSettings") or [], f"{logical_id}.MethodSettings")
    for index, setting in enumerate(settings if isinstance(settings, list) else []):
        if not isinstance(setting, dict):
            continue
        where = f"{logical_id}.MethodSettings[{index}]"
        _method_setting_path(setting.get("ResourcePath", "/*"), f"{where}.ResourcePath", resolver)
        # Execution logs (LoggingLevel ERROR or INFO) are served as if the account named
        # API Gateway's CloudWatch role, which is set outside any stack: the harness cannot
        # know an account's. Full request logs (DataTraceEnabled) are kept for check 07.
        data_trace = data_trace or str(setting.get("DataTraceEnabled")).lower() == "true"
        if str(setting.get("CachingEnabled")).lower() == "true":
            cached.append(
                (str(setting.get("ResourcePath", "/*")), str(setting.get("HttpMethod", "*")))
            )
        # A parameter's value is a string, which CloudFormation converts: so does this. A typo
        # (`2OO`) is named, as the deploy would refuse it.
        rate = burst = None
        if setting.get("ThrottlingRateLimit") is not None:
            rate = resolver.number(
                setting["ThrottlingRateLimit"], f"{where}.ThrottlingRateLimit", float
            )
        if setting.get("ThrottlingBurstLimit") is not None:
            burst = int(
                resolver.number(
                    setting["ThrottlingBurstLimit"], f"{where}.ThrottlingBurstLimit", float
                )
            )
        if rate is not None or burst is not None:
            scope = (str(setting.get("ResourcePath", "/*")), str(setting.get("HttpMethod", "*")))
            throttles.append((scope, rate, burst))
    endpoint = resolver.resolve(props.get("EndpointConfiguration") or "EDGE", logical_id)
    if isinstance(endpoint, dict):  # SAM takes a type, or {Type: ..., VPCEndpointIds: [...]}
        endpoint = endpoint.get("Type", "EDGE")
    binary = resolver.resolve(props.get("BinaryMediaTypes") or [], f"{logical_id}.BinaryMediaTypes")
    # With ApiKeySourceType AUTHORIZER, a key comes from a Lambda authorizer, which the harness
    # does not serve: no request can give one.
    source = resolver.resolve(props.get("ApiKeySourceType", "HEADER"), logical_id)
    keys = (auth.usage_plan_key,) if auth.usage_plan_key and source == "HEADER" else ()
    # samtranslator's api_generator leaves the extra stage out once OpenApiVersion is set.
    openapi = props.get("OpenApiVersion")
    if openapi is not None and not (
        isinstance(openapi, str | int | float) and OPENAPI_VERSION.match(str(openapi))
    ):
        raise WorkshopError(
            f"{resolver.where}: {logical_id}'s OpenApiVersion {openapi!r} is not one SAM takes "
            "(a version written out, such as 3.0.1 or 2.0): `sam validate` and the deploy "
            "refuse it too."
        )
    if openapi is None and str(stage) == SAM_EXTRA_STAGE:
        # Its deployment would make a stage of that name beside the Stage resource of the same
        # name: CloudFormation stops, "Stage already exists" (aws/serverless-application-model
        # #1823).
        raise WorkshopError(
            f"{resolver.where}: {logical_id}'s StageName is {SAM_EXTRA_STAGE}, the name of the "
            "stage SAM also makes when no OpenApiVersion is set: the deploy would fail (Stage "
            "already exists). Set OpenApiVersion (3.0.1, say), or name the stage otherwise."
        )
    return Api(
        logical_id,
        str(stage),
        throttles=tuple(throttles),
        api_id=resolver.api_id(logical_id),
        endpoint_type=str(endpoint).upper(),
        # SAM writes `~1` for `/` in BinaryMediaTypes, as in the OpenAPI extension it fills.
        binary_media_types=tuple(str(t).replace("~1", "/") for t in binary),
        extra_stage=None if openapi is not None else SAM_EXTRA_STAGE,
        data_trace=data_trace,
        # A method caches only where the stage has a cache cluster (API Gateway's guide, Cache
        # settings for REST APIs), kept for check 07.
        cached=tuple(cached)
        if str(resolver.resolve(props.get("CacheClusterEnabled"), logical_id)).lower() == "true"
        else (),
        api_keys=tuple(_api_key_value(key, resolver) for key in keys),
        execute_api_disabled=_true(
            resolver.resolve(props.get("DisableExecuteApiEndpoint"), logical_id)
        ),
    )


def _method_setting_path(path: Any, where: str, resolver: _Resolver) -> None:
    """A WorkshopError where a MethodSettings ResourcePath is not as CloudFormation takes it:
    /* for every path, / for the root, or a path whose each / after the first is written ~1
    (/~1hello for /hello). API Gateway refuses another ("Invalid method setting path", as in
    localstack/localstack#9334 and hashicorp/terraform-provider-aws#15855)."""
    text = str(path)
    if text in ("/*", "/") or (text.startswith("/~1") and "/" not in text[1:]):
        return
    rest = text.strip("/")
    written = "/*" if rest == "*" else "/~1" + rest.removeprefix("~1").replace("/", "~1")
    raise WorkshopError(
        f"{resolver.where}: {where} is {text!r}, which API Gateway refuses (Invalid method "
        "setting path): CloudFormation takes /* for every path, or a path with each / after "
        f"the first written ~1, here {written!r}. The deploy would fail."
    )


def _policy_templates() -> dict[str, Any]:
    """SAM's policy templates by name, read from the file samtranslator ships, as SAM reads it.

    Not through its PolicyTemplatesProcessor: that validates the file against its JSON schema
    first, and importing jsonschema (with its format checkers) takes over a second, on every
    start of a stack whose function uses a policy template (stages 02 to 06).
    """
    # Imported here: samtranslator is only needed by templates that use its templates.
    from samtranslator.policy_template_processor.template import Template
    from samtranslator.policy_templates_data import POLICY_TEMPLATES_FILE

    data = json.loads(POLICY_TEMPLATES_FILE.read_text(encoding="utf-8"))
    return {name: Template.from_dict(name, value) for name, value in data["Templates"].items()}


def _policy_documents(policies: list[Any], resolver: _Resolver, where: str) -> list[Any]:
    """The function's policies as IAM documents: SAM policy templates expanded as SAM does."""
    from workshop.local.iam import aws_managed_policy, unjudged_condition  # they need our names

    documents: list[Any] = []
    templates = None
    for index, policy in enumerate(policies):
        here = f"{where}[{index}]"
        if isinstance(policy, dict) and set(policy) == {"Fn::If"}:  # one policy or another
            resolver.check_shape("Fn::If", policy["Fn::If"], here)
            condition, if_true, if_false = policy["Fn::If"]
            policy = if_true if resolver.condition(str(condition), here) else if_false
            if policy == {"Ref": "AWS::NoValue"}:
                continue
        made_here = _managed_policy_of_the_template(policy, resolver, here)
        if made_here is not None:  # !Ref a ManagedPolicy of the template: its statements
            documents.append(made_here)
            continue
        if isinstance(policy, dict) and len(policy) == 1 and next(iter(policy)) in ARN_MAKERS:
            try:  # an ARN made in the template: !Sub arn:${AWS::Partition}:iam::aws:policy/...
                made = resolver.resolve(policy, here)
            except WorkshopError:
                made = None
            if not isinstance(made, str) or aws_managed_policy(made) is None:
                raise resolver.unsupported(
                    here, f"a managed policy made in the template ({json.dumps(policy)})"
                )
            policy = made
        if isinstance(policy, str):  # a managed policy, by name or ARN
            document = aws_managed_policy(policy)
            if document is None:  # a customer's own: its statements are in the account only
                raise resolver.unsupported(here, f"the managed policy {policy}")
            documents.append(document)
            continue
        if isinstance(policy, dict) and "Statement" in policy:
            documents.append(_identity_policy(resolver.resolve(policy, here), here, resolver))
            if unjudged := unjudged_condition(documents[-1]):
                raise resolver.unsupported(here, unjudged)
            continue
        if not isinstance(policy, dict) or len(policy) != 1:
            raise resolver.unsupported(here, "a policy that is not a template, name or document")
        if templates is None:
            templates = _policy_templates()
        ((name, parameters),) = policy.items()
        if name not in templates:
            raise resolver.unsupported(
                here, f"the policy {name!r}, which is not a SAM policy template"
            )
        parameters = resolver.resolve(parameters or {}, here)
        documents.append(resolver.resolve(templates[name].to_statement(parameters), here))
    return documents


def _managed_policy_of_the_template(policy: Any, resolver: _Resolver, where: str) -> Any:
    """The PolicyDocument of the AWS::IAM::ManagedPolicy that `policy` refers to (!Ref), or None."""
    if not (isinstance(policy, dict) and set(policy) == {"Ref"} and isinstance(policy["Ref"], str)):
        return None
    logical_id = policy["Ref"]
    resource = resolver.resources.get(logical_id)
    if not isinstance(resource, dict) or resource.get("Type") != "AWS::IAM::ManagedPolicy":
        return None
    if not resolver.made(logical_id):
        raise resolver.unmade(logical_id, where)
    return _document(logical_id, resource.get("Properties") or {}, resolver)


def _document(logical_id: str, props: dict[str, Any], resolver: _Resolver) -> dict[str, Any]:
    """A policy resource's PolicyDocument, resolved."""
    where = f"{logical_id}.PolicyDocument"
    document = _policy_document(props.get("PolicyDocument"), where, resolver)
    return _identity_policy(document, where, resolver)


def _policy_document(raw: Any, where: str, resolver: _Resolver) -> dict[str, Any]:
    """A policy document at `where`, resolved, or a WorkshopError: not a policy document, or
    one with a condition the harness cannot judge."""
    from workshop.local.iam import unjudged_condition  # it needs our names

    document = resolver.resolve(raw, where)
    if not isinstance(document, dict) or "Statement" not in document:
        raise WorkshopError(
            f"{resolver.where}: {where} is not a policy document (it has no Statement): the "
            "deploy would fail."
        )
    if unjudged := unjudged_condition(document):
        raise resolver.unsupported(where, unjudged)
    return document


def _identity_policy(document: Any, where: str, resolver: _Resolver) -> Any:
    """The document, or a WorkshopError naming its Version or a statement that IAM refuses in
    a role's policy."""
    version = document.get("Version") if isinstance(document, dict) else None
    if version is not None and version not in POLICY_VERSIONS:
        raise WorkshopError(
            f"{resolver.where}: {where} has the Version {version!r}, which IAM refuses as a "
            f"malformed policy (it knows only {' and '.join(POLICY_VERSIONS)}): the deploy "
            'would fail. Write Version: "2012-10-17".'
        )
    statements = document.get("Statement") if isinstance(document, dict) else None
    statements = [statements] if isinstance(statements, dict) else statements
    for index, statement in enumerate(statements if isinstance(statements, list) else []):
        if not isinstance(statement, dict):
            continue
        here = f"{resolver.where}: {where}.Statement[{index}]"
        sid = statement.get("Sid")
        if sid is not None and not (isinstance(sid, str) and SID.fullmatch(sid)):
            raise WorkshopError(
                f"{here} has the Sid {sid!r}, which IAM refuses in an identity policy (a Sid "
                "takes only A-Z, a-z and 0-9): the deploy would fail (MalformedPolicyDocument). "
                "Write it without the other characters."
            )
        effect = statement.get("Effect")
        if effect not in EFFECTS:
            raise WorkshopError(
                f"{here} has the Effect {effect!r}, which IAM refuses as a malformed policy (it "
                "takes Allow or Deny, written so): the deploy would fail."
            )
        for element in PRINCIPALS:
            if element in statement:
                raise WorkshopError(
                    f"{here} names a {element}, which IAM refuses in an identity policy such as "
                    "a function's (the role that holds the policy is its principal): the deploy "
                    f"would fail (MalformedPolicyDocument). Leave the {element} out."
                )
    return document


def _logging_config(config: Any, where: str, resolver: _Resolver) -> dict[str, Any]:
    """A function's LoggingConfig, or a WorkshopError naming a value that Lambda refuses."""
    config = config if isinstance(config, dict) else {}
    for key, values in LOGGING_VALUES.items():
        if key in config and config[key] not in values:
            raise WorkshopError(
                f"{resolver.where}: {where}.{key} is {config[key]!r}, which Lambda refuses: "
                f"it takes {', '.join(values[:-1])} or {values[-1]}, written so. The deploy "
                "would fail."
            )
    return config


def _role_of_the_template(role: Any, where: str, resolver: _Resolver) -> str:
    """The logical id of the template's AWS::IAM::Role that a function's Role names by
    `!GetAtt Role.Arn`; a role made otherwise is one the harness cannot read."""
    named = role.get("Fn::GetAtt") if isinstance(role, dict) and len(role) == 1 else None
    parts = named.split(".", 1) if isinstance(named, str) else named
    if not (isinstance(parts, list) and len(parts) == 2 and parts[1] == "Arn"):
        raise resolver.unsupported(
            where, "a role that is not the !GetAtt Arn of an AWS::IAM::Role of the template"
        )
    logical_id = str(parts[0])
    resource = resolver.resources.get(logical_id)
    if not isinstance(resource, dict) or resource.get("Type") != ROLE:
        raise resolver.unsupported(where, f"the role {logical_id}, not an {ROLE} of the template")
    if not resolver.made(logical_id):
        raise resolver.unmade(logical_id, where)
    return logical_id


def _role_documents(role: str, resolver: _Resolver) -> list[Any]:
    """The policies of the template's role `role`: its own Policies, and its ManagedPolicyArns
    (AWS's own, or the template's); those attached to it are added by _attach."""
    props = resolver.resources[role].get("Properties") or {}
    if "PermissionsBoundary" in props:
        raise resolver.unsupported(f"{role}.PermissionsBoundary", "a permissions boundary")
    trust = resolver.resolve(
        props.get("AssumeRolePolicyDocument"), f"{role}.AssumeRolePolicyDocument"
    )
    if not _trusts_lambda(trust):
        # Lambda's CreateFunction refuses a role it cannot assume.
        raise WorkshopError(
            f"{resolver.where}: {role}.AssumeRolePolicyDocument does not let Lambda assume the "
            f"role (no statement allows sts:AssumeRole to the service {LAMBDA_PRINCIPAL}): "
            "Lambda refuses a function whose role it cannot assume, and the deploy would fail."
        )
    documents = [
        _document(f"{role}.Policies[{index}]", policy, resolver)
        for index, policy in enumerate(props.get("Policies") or [])
        if isinstance(policy, dict)
    ]
    managed = props.get("ManagedPolicyArns") or []
    return documents + _policy_documents(
        managed if isinstance(managed, list) else [managed], resolver, f"{role}.ManagedPolicyArns"
    )


def _trusts_lambda(trust: Any) -> bool:
    """Whether a role's trust policy allows Lambda's service to assume it."""
    from workshop.local.iam import names_action  # it needs our names

    statements = trust.get("Statement") if isinstance(trust, dict) else None
    statements = [statements] if isinstance(statements, dict) else statements or []
    for statement in statements if isinstance(statements, list) else []:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        services = principal.get("Service") if isinstance(principal, dict) else None
        services = services if isinstance(services, list) else [services]
        if LAMBDA_PRINCIPAL in services and names_action("sts:AssumeRole", statement.get("Action")):
            return True
    return False


def _function(logical_id: str, props: dict[str, Any], base: Path, resolver: _Resolver) -> Function:
    where = logical_id
    if props.get("PackageType", "Zip") != "Zip":
        raise resolver.unsupported(where, "PackageType Image")
    if "InlineCode" in props:
        raise resolver.unsupported(where, "InlineCode")
    runtime = props.get("Runtime")
    if runtime is None:  # left out: not a form the harness lacks, but a template SAM refuses
        raise WorkshopError(
            f"{resolver.where}: {logical_id} has no Runtime, and Globals gives it none: the "
            "deploy would fail (a Zip function needs one); add `Runtime: python3.11` under its "
            "Properties."
        )
    if not isinstance(runtime, str) or not re.fullmatch(r"python3\.\d+", runtime):
        raise resolver.unsupported(where, f"Runtime {runtime!r} (it runs python3.x functions)")
    code_uri = props.get("CodeUri", ".")
    if not isinstance(code_uri, str):
        raise resolver.unsupported(where, "a CodeUri that is not a local folder")
    code_dir = (base / code_uri).resolve()
    if not code_dir.is_dir():
        raise WorkshopError(f"{resolver.where}: {logical_id}.CodeUri {code_uri!r} is not a folder.")
    handler = props.get("Handler")
    if not isinstance(handler, str) or "." not in handler:
        raise WorkshopError(
            f"{resolver.where}: {logical_id}.Handler must look like module.function, "
            f"got {handler!r}."
        )
    variables = ((props.get("Environment") or {}).get("Variables")) or {}
    environment = {
        key: str(resolver.resolve(value, f"{where}.Environment.Variables.{key}"))
        for key, value in variables.items()
    }
    name = resolver.physical_name(logical_id)
    routes = []
    for event_id, event in (props.get("Events") or {}).items():
        if event.get("Type") != "Api":
            raise resolver.unsupported(
                f"{where}.Events.{event_id}", f"an event of type {event.get('Type')} (only Api)"
            )
        event_props = event.get("Properties") or {}
        api = event_props.get("RestApiId", {"Ref": DEFAULT_API})
        api_id = api["Ref"] if isinstance(api, dict) and "Ref" in api else api
        routes.append(
            Route(
                api=str(api_id),
                stage=DEFAULT_STAGE,
                path=event_props["Path"],
                method=str(event_props["Method"]).upper(),
                function=logical_id,
            )
        )
    policies = props.get("Policies") or []
    if not isinstance(policies, list):
        policies = [policies]
    role = f"{logical_id}Role"  # the role SAM makes, with the Policies
    role_name = generated_name(resolver.stack_name, role, ROLE_NAME_LIMIT)
    if "Role" in props:  # SAM makes no role, and leaves Policies unused
        role = _role_of_the_template(props["Role"], f"{where}.Role", resolver)
        role_props = resolver.resolve(resolver.resources[role].get("Properties") or {}, role)
        role_name = role_props.get("RoleName") or generated_name(
            resolver.stack_name, role, ROLE_NAME_LIMIT
        )
        documents = _role_documents(role, resolver)
        trust = role_props.get("AssumeRolePolicyDocument")
    else:
        documents = _policy_documents(policies, resolver, f"{where}.Policies")
        # SAM's role trusts Lambda alone, unless the function's AssumeRolePolicyDocument says
        # otherwise: SAM then writes that document into the role as it is.
        trust = resolver.resolve(
            props.get("AssumeRolePolicyDocument"), f"{where}.AssumeRolePolicyDocument"
        )
        if trust not in (None, NO_VALUE) and not _trusts_lambda(trust):
            raise WorkshopError(
                f"{resolver.where}: {where}.AssumeRolePolicyDocument does not let Lambda assume "
                f"the role (no statement allows sts:AssumeRole to the service {LAMBDA_PRINCIPAL}): "
                "Lambda refuses a function whose role it cannot assume, and the deploy would fail."
            )
    reserved = resolver.resolve(
        props.get("ReservedConcurrentExecutions"), f"{where}.ReservedConcurrentExecutions"
    )
    timeout = resolver.number(
        resolver.resolve(props.get("Timeout", 3), f"{where}.Timeout"), f"{where}.Timeout", float
    )
    memory = resolver.number(
        resolver.resolve(props.get("MemorySize", 128), f"{where}.MemorySize"), f"{where}.MemorySize"
    )
    # Lambda's own bounds (CreateFunction): the deploy would fail outside them.
    for name_, value, low, high, unit in (
        ("Timeout", timeout, 1, 900, "seconds"),
        ("MemorySize", memory, 128, 10240, "MB"),
    ):
        if not low <= value <= high:
            raise WorkshopError(
                f"{resolver.where}: {where}.{name_} is {value:g}, and Lambda takes {low} to "
                f"{high} {unit}: the deploy would fail."
            )
    concurrency = (
        None
        if reserved in (None, NO_VALUE)
        else resolver.number(reserved, f"{where}.ReservedConcurrentExecutions")
    )
    if concurrency is not None and (concurrency < 0 or concurrency != int(concurrency)):
        raise WorkshopError(
            f"{resolver.where}: {where}.ReservedConcurrentExecutions is {concurrency:g}, and "
            "Lambda takes a whole number from 0 (no invocation at all) up: the deploy would fail."
        )
    url = resolver.resolve(props.get("FunctionUrlConfig"), f"{where}.FunctionUrlConfig")
    url_auth = url.get("AuthType") if isinstance(url, dict) else None
    if url is not None and url is not NO_VALUE and url_auth not in URL_AUTH_TYPES:
        raise WorkshopError(  # Lambda's CreateFunctionUrlConfig takes only those
            f"{resolver.where}: {where}.FunctionUrlConfig.AuthType is {url_auth!r}, and Lambda "
            f"takes {' or '.join(URL_AUTH_TYPES)}, written so: the deploy would fail."
        )
    return Function(
        logical_id=logical_id,
        name=name,
        arn=resolver.arn(logical_id),
        code_dir=code_dir,
        handler=handler,
        runtime=runtime,
        timeout=timeout,
        memory_size=memory,
        environment=environment,
        policies=documents,
        role=role,
        role_name=str(role_name),
        reserved_concurrency=None if concurrency is None else int(concurrency),
        logging_config=_logging_config(
            resolver.resolve(props.get("LoggingConfig") or {}, f"{where}.LoggingConfig"),
            f"{where}.LoggingConfig",
            resolver,
        ),
        routes=routes,
        url_auth=url_auth,
        trusted=_trusted_others(trust),
    )
