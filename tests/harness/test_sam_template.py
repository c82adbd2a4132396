"""The template reader: what it understands, and the clear error for what it does not."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.helpers import PROBE_APP, PROBE_FUNCTION, PROBE_TABLE
from workshop.errors import WorkshopError
from workshop.local.physical_names import generated_name
from workshop.local.sam_template import DEFAULT_API, load


def test_the_probe_template_is_read_as_sam_would_deploy_it():
    template = load(PROBE_APP / "template.yaml", stack_name="probe")
    fn = template.functions["ProbeFunction"]
    assert (fn.name, fn.handler, fn.runtime, fn.timeout, fn.memory_size) == (
        PROBE_FUNCTION,
        "app.handler",
        "python3.11",
        2.0,
        128,
    )
    assert fn.code_dir == (PROBE_APP / "src").resolve()
    api_id = template.apis[DEFAULT_API].api_id
    assert fn.environment == {
        "GREETING": "hello",
        "TABLE_NAME": PROBE_TABLE,
        "TABLE_ARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{PROBE_TABLE}",
        "API_URL": f"https://{api_id}.execute-api.us-east-1.amazonaws.com/Prod/",
    }
    # The implicit API's id looks like API Gateway's (10 of a-z0-9), and is the same each run.
    assert re.fullmatch(r"[a-z0-9]{10}", api_id)
    assert load(PROBE_APP / "template.yaml", stack_name="probe").apis[DEFAULT_API].api_id == api_id
    # DynamoDBCrudPolicy, expanded as SAM expands it, with the table's ARN filled in.
    (statement,) = fn.policies[0]["Statement"]
    assert {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Scan"} <= set(statement["Action"])
    assert f"arn:aws:dynamodb:us-east-1:123456789012:table/{PROBE_TABLE}" in statement["Resource"]
    assert [(r.method, r.path, r.stage) for r in fn.routes] == [
        ("ANY", "/echo/{proxy+}", "Prod"),
        ("GET", "/counter", "Prod"),
        ("GET", "/behave/{how}", "Prod"),
    ]
    table = template.tables["ItemsTable"]
    assert table.create_args["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]


def _write(tmp_path: Path, resources: str, globals_: str = "") -> Path:
    (tmp_path / "src").mkdir(exist_ok=True)
    path = tmp_path / "template.yaml"
    path.write_text(
        "Transform: AWS::Serverless-2016-10-31\n" + globals_ + "Resources:\n" + resources,
        encoding="utf-8",
    )
    return path


FUNCTION = """  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: {runtime}
{extra}"""


@pytest.mark.parametrize(
    "runtime, extra, named",
    [
        ("nodejs20.x", "", "Runtime 'nodejs20.x'"),
        ("python3.11", "      Events:\n        Q:\n          Type: SQS\n", "Fn.Events.Q"),
        (
            "python3.11",
            "      Environment:\n        Variables:\n          X: !Select [0, [a]]\n",
            "Fn::Select",
        ),
        (
            "python3.11",
            "      Environment:\n        Variables:\n          X: !Ref Nothing\n",
            "'Nothing'",
        ),
    ],
)
def test_what_the_harness_cannot_serve_is_named(tmp_path, runtime, extra, named):
    path = _write(tmp_path, FUNCTION.format(runtime=runtime, extra=extra))
    with pytest.raises(WorkshopError) as caught:
        load(path, stack_name="t")
    assert named in str(caught.value) and str(path) in str(caught.value)


def test_a_function_without_a_runtime_is_a_mistake_said_as_one(tmp_path):
    """Lambda needs a Runtime for a .zip package: not a limit of the harness (Runtime None)."""
    path = _write(
        tmp_path,
        FUNCTION.format(runtime="python3.11", extra="").replace("      Runtime: python3.11\n", ""),
    )
    with pytest.raises(WorkshopError) as caught:
        load(path, stack_name="t")
    assert "Fn has no Runtime" in str(caught.value) and "cannot serve" not in str(caught.value)


TABLE = "  Table:\n    Type: AWS::Serverless::SimpleTable\n"


@pytest.mark.parametrize(
    "extra, resources, named",
    [
        (
            "      ReservedConcurrentExecutions: fifty\n",
            "",
            "ReservedConcurrentExecutions is 'fifty'",
        ),
        ("      Timeout: ten\n", "", "Fn.Timeout is 'ten', which is not a number"),
        ("      MemorySize: 128MB\n", "", "Fn.MemorySize is '128MB'"),
        (
            "",
            "  Logs:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      RetentionInDays: "
            "thirty\n",
            "Logs.RetentionInDays is 'thirty'",
        ),
        (
            "      Environment:\n        Variables:\n          T: !GetAtt Table.Name\n",
            TABLE,
            "a table's attributes are Arn and StreamArn (its name is `!Ref Table`)",
        ),
        (
            "      Environment:\n        Variables:\n          T: !GetAtt Table\n",
            TABLE,
            "write it as `!GetAtt Resource.Attribute`",
        ),
        (
            "",
            TABLE + "    Properties:\n      PrimaryKey:\n        Name: id\n        Type: Str\n",
            "a SimpleTable's key is of Type String, Number or Binary",
        ),
        ("      Timeout: 0\n", "", "Fn.Timeout is 0, and Lambda takes 1 to 900 seconds"),
        ("      MemorySize: 64\n", "", "Fn.MemorySize is 64, and Lambda takes 128 to 10240 MB"),
        ("      ReservedConcurrentExecutions: !If [C, 5]\n", "", "!If takes a list of three"),
        ("      Environment:\n        Variables:\n          X: !Join ['-']\n", "", "!Join takes"),
        (
            "      Environment:\n        Variables:\n          X: !Ref [Fn]\n",
            "",
            "!Ref takes a name",
        ),
        (
            "",
            "  Logs:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      RetentionInDays: 31\n",
            "Logs.RetentionInDays is 31, which CloudWatch Logs does not take",
        ),
        (
            "",
            "  Api:\n    Type: AWS::Serverless::Api\n    Properties:\n      StageName: Prod\n"
            "      MethodSettings:\n        - ResourcePath: /*\n          HttpMethod: '*'\n"
            "          ThrottlingBurstLimit: 2OO\n",
            "Api.MethodSettings[0].ThrottlingBurstLimit is '2OO', which is not a number",
        ),
        (
            "      ReservedConcurrentExecutions: -5\n",
            "",
            "ReservedConcurrentExecutions is -5, and Lambda takes a whole number from 0",
        ),
        (
            "      ReservedConcurrentExecutions: !Ref R\n",
            "Parameters:\n  R:\n    Type: Number\n    Default: -5\n    MinValue: 0\n",
            "parameter R (its Default: -5) is below its MinValue, 0",
        ),
        (
            "      Environment:\n        Variables:\n          E: !Ref Env\n",
            "Parameters:\n  Env:\n    Type: String\n    Default: prod\n"
            "    AllowedValues: [dev, test]\n",
            "parameter Env (its Default: prod) is not one of its AllowedValues (dev, test)",
        ),
    ],
    ids=[
        "concurrency",
        "timeout",
        "memory",
        "retention",
        "table-name",
        "no-attribute",
        "key-type",
        "timeout-0",
        "memory-64",
        "if-of-two",
        "join-of-one",
        "ref-of-a-list",
        "retention-31",
        "burst-typo",
        "concurrency-below-0",
        "parameter-below-its-min",
        "parameter-not-allowed",
    ],
)
def test_a_typo_in_the_template_is_named_where_it_is_not_a_traceback(
    tmp_path, extra, resources, named
):
    path = _write(tmp_path, FUNCTION.format(runtime="python3.11", extra=extra) + resources)
    with pytest.raises(WorkshopError) as caught:
        load(path, stack_name="t")
    assert named in str(caught.value) and str(path) in str(caught.value)


def test_an_unknown_resource_type_is_named(tmp_path):
    resources = FUNCTION.format(runtime="python3.11", extra="") + (
        "  Bucket:\n    Type: AWS::S3::Bucket\n"
    )
    with pytest.raises(WorkshopError, match="Bucket has type AWS::S3::Bucket"):
        load(_write(tmp_path, resources), stack_name="t")


def test_broken_yaml_is_a_clear_error(tmp_path):
    """On one line, by line and column: without the excerpt and the caret the parser draws."""
    path = tmp_path / "template.yaml"
    path.write_text("Resources:\n  Fn:\n    Type: X\n   Bad: [\n", encoding="utf-8")
    with pytest.raises(WorkshopError) as raised:
        load(path, stack_name="t")
    assert str(raised.value) == (
        f"{path}: not valid YAML at line 4, column 4: expected <block end>, but found "
        "'<block mapping start>' (while parsing a block mapping that starts at line 2, column "
        "3); fix the template."
    )


def test_globals_apply_and_functions_override_them(tmp_path):
    globals_ = (
        "Globals:\n  Function:\n    Timeout: 9\n    MemorySize: 256\n"
        "    Environment:\n      Variables:\n        A: g\n        B: g\n"
    )
    extra = "      Timeout: 4\n      Environment:\n        Variables:\n          B: f\n"
    fn = load(
        _write(tmp_path, FUNCTION.format(runtime="python3.12", extra=extra), globals_),
        stack_name="t",
    ).functions["Fn"]
    assert (fn.timeout, fn.memory_size, fn.environment) == (4.0, 256, {"A": "g", "B": "f"})


CONDITIONAL = """Parameters:
  Reserve:
    Type: Number
    Default: {default}
Conditions:
  Reserves: !Not [!Equals [!Ref Reserve, "0"]]
  Large: !And [!Condition Reserves, !Equals [!Ref Reserve, "50"]]
"""


@pytest.mark.parametrize(("default", "reserved", "size"), [(50, 50, "large"), (0, None, "none")])
def test_conditions_choose_with_parameters_at_their_default(tmp_path, default, reserved, size):
    extra = (
        "      ReservedConcurrentExecutions:\n"
        "        !If [Reserves, !Ref Reserve, !Ref AWS::NoValue]\n"
        "      Environment:\n        Variables:\n"
        "          SIZE: !If [Large, large, !If [Reserves, small, none]]\n"
    )
    path = _write(tmp_path, FUNCTION.format(runtime="python3.11", extra=extra))
    path.write_text(
        CONDITIONAL.format(default=default) + path.read_text(encoding="utf-8"), encoding="utf-8"
    )
    fn = load(path, stack_name="t").functions["Fn"]
    assert (fn.reserved_concurrency, fn.environment) == (reserved, {"SIZE": size})


def test_an_undefined_condition_is_named(tmp_path):
    extra = "      Environment:\n        Variables:\n          X: !If [Nowhere, a, b]\n"
    with pytest.raises(WorkshopError, match="the condition 'Nowhere', which is not in Conditions"):
        load(_write(tmp_path, FUNCTION.format(runtime="python3.11", extra=extra)), stack_name="t")


def test_names_are_made_as_cloudformation_makes_them_and_kept_from_start_to_start():
    """`<stack>-<LogicalId>-<12 letters and digits>`, as in `sam list` on AWS
    (sam-app-HelloWorldFunction-dOcfAtYoEiGo, sam-app-HelloWorldFunctionRole-ojmSC0FUjVZg)."""
    template = load(PROBE_APP / "template.yaml", stack_name="probe")
    fn, table = template.functions["ProbeFunction"], template.tables["ItemsTable"]
    assert re.fullmatch(r"probe-ProbeFunction-[A-Za-z0-9]{12}", fn.name)
    assert re.fullmatch(r"probe-ProbeFunctionRole-[A-Za-z0-9]{12}", fn.role_name)
    assert re.fullmatch(r"probe-ItemsTable-[A-Za-z0-9]{12}", table.name)
    assert fn.log_group == f"/aws/lambda/{fn.name}"
    again = load(PROBE_APP / "template.yaml", stack_name="probe")
    assert (again.functions["ProbeFunction"].name, again.tables["ItemsTable"].name) == (
        fn.name,
        table.name,
    )
    other = load(PROBE_APP / "template.yaml", stack_name="probe2").functions["ProbeFunction"]
    assert other.name[-12:] != fn.name[-12:]


def test_a_made_name_too_long_for_the_service_is_shortened_stack_name_first():
    """A recording: 'MyStackDev-MyNestedApplicationStack-MyLambdaFunctionName-1U44TLUZ7OR55' was
    too long for Lambda (64), and CloudFormation named the function
    'MyStackDev-MyNestedApplicatio-MyLambdaFunctionName-1U44TLUZ7OR55' (13-letter suffix then)."""
    name = generated_name("MyStackDev-MyNestedApplicationStack", "MyLambdaFunctionName", 64)
    assert len(name) == 64
    shortened = r"MyStackDev-MyNestedApplication-MyLambdaFunctionName-[A-Za-z0-9]{12}"
    assert re.fullmatch(shortened, name)
    assert len(generated_name("s" * 100, "L" * 100, 64)) == 64


@pytest.mark.parametrize(
    "policy", ["AdministratorAccess", "arn:aws:iam::aws:policy/AdministratorAccess"]
)
def test_an_aws_managed_policy_grants_what_aws_s_own_document_says(tmp_path, policy):
    """By name or ARN: AdministratorAccess allows every action (moto holds AWS's documents)."""
    extra = f"      Policies:\n        - {policy}\n"
    template = load(
        _write(tmp_path, FUNCTION.format(runtime="python3.11", extra=extra)), stack_name="t"
    )
    (function,) = template.functions.values()
    assert function.policies == [
        {
            "Version": "2012-10-17",
            "Statement": [{"Action": "*", "Effect": "Allow", "Resource": "*"}],
        }
    ]


def test_a_customer_managed_policy_is_named_as_one_the_harness_cannot_serve(tmp_path):
    """Its statements are in the account only: granting nothing would refuse calls it allows."""
    arn = "arn:aws:iam::123456789012:policy/counter-writes"
    extra = f"      Policies:\n        - {arn}\n"
    with pytest.raises(WorkshopError, match=f"the managed policy {arn}"):
        load(_write(tmp_path, FUNCTION.format(runtime="python3.11", extra=extra)), stack_name="t")


def test_a_managed_policy_arn_made_with_sub_is_read_and_a_wrong_path_is_not(tmp_path):
    """SAM's usual form, `!Sub arn:${AWS::Partition}:iam::aws:policy/...`, names the policy; an
    ARN without the policy's path (service-role/) names none on AWS either."""
    made = "!Sub arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    extra = f"      Policies:\n        - {made}\n"
    template = load(
        _write(tmp_path, FUNCTION.format(runtime="python3.11", extra=extra)), stack_name="t"
    )
    (function,) = template.functions.values()
    assert "logs:PutLogEvents" in json.dumps(function.policies)
    wrong = "arn:aws:iam::aws:policy/AWSLambdaBasicExecutionRole"
    extra = f"      Policies:\n        - {wrong}\n"
    with pytest.raises(WorkshopError, match=f"the managed policy {wrong}"):
        load(_write(tmp_path, FUNCTION.format(runtime="python3.11", extra=extra)), stack_name="t")


ALLOW_SCAN = "{Statement: [{Effect: Allow, Action: 'dynamodb:Scan', Resource: '*'}]}"


@pytest.mark.parametrize("kind", ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"])
@pytest.mark.parametrize("role, granted", [("FnRole", True), ("OtherRole", False)])
def test_a_policy_on_the_function_s_role_grants_it_its_statements(tmp_path, kind, role, granted):
    """SAM makes a function's role as "<Function>Role": a policy whose Roles name it is granted
    to the function on AWS, beside its Policies; one on another role grants it nothing."""
    resources = FUNCTION.format(runtime="python3.11", extra="") + (
        f"  Extra:\n    Type: {kind}\n    Properties:\n"
        f"      Roles: [!Ref {role}]\n      PolicyDocument: {ALLOW_SCAN}\n"
    )
    (function,) = load(_write(tmp_path, resources), stack_name="t").functions.values()
    assert ("dynamodb:Scan" in json.dumps(function.policies)) is granted
    # Named, so that a check can say where a grant comes from.
    assert function.attached == ({len(function.policies) - 1: "Extra"} if granted else {})


CONDITIONS = "Conditions:\n  Never: !Equals [a, b]\n"


def test_a_policy_whose_condition_does_not_hold_grants_nothing(tmp_path):
    """CloudFormation does not make a resource whose Condition is false."""
    resources = FUNCTION.format(runtime="python3.11", extra="") + (
        "  Extra:\n    Type: AWS::IAM::Policy\n    Condition: Never\n    Properties:\n"
        f"      Roles: [!Ref FnRole]\n      PolicyDocument: {ALLOW_SCAN}\n"
    )
    (function,) = load(_write(tmp_path, resources, CONDITIONS), stack_name="t").functions.values()
    assert "dynamodb:Scan" not in json.dumps(function.policies)


TABLE_NEVER_MADE = "  T:\n    Type: AWS::Serverless::SimpleTable\n    Condition: Never\n"


def test_a_resource_whose_condition_does_not_hold_is_not_made(tmp_path):
    resources = FUNCTION.format(runtime="python3.11", extra="") + TABLE_NEVER_MADE
    assert load(_write(tmp_path, resources, CONDITIONS), stack_name="t").tables == {}


@pytest.mark.parametrize(
    "extra",
    [
        "      Environment:\n        Variables:\n          TABLE: !Ref T\n",
        "      Policies:\n        - DynamoDBCrudPolicy:\n            TableName: !Ref T\n",
    ],
)
def test_a_resource_that_is_not_made_cannot_be_referred_to(tmp_path, extra):
    """CloudFormation refuses it: the deploy would fail."""
    resources = FUNCTION.format(runtime="python3.11", extra=extra) + TABLE_NEVER_MADE
    with pytest.raises(WorkshopError, match="refers to T, whose Condition does not hold"):
        load(_write(tmp_path, resources, CONDITIONS), stack_name="t")


def test_an_if_in_policies_takes_the_policy_its_condition_chooses(tmp_path):
    extra = (
        "      Policies:\n        - !If [Never, !Ref AWS::NoValue, !Ref Extra]\n"
        "        - !If [Never, !Ref Extra, !Ref AWS::NoValue]\n"
    )
    resources = FUNCTION.format(runtime="python3.11", extra=extra) + (
        "  Extra:\n    Type: AWS::IAM::ManagedPolicy\n    Properties:\n"
        f"      PolicyDocument: {ALLOW_SCAN}\n"
    )
    (function,) = load(_write(tmp_path, resources, CONDITIONS), stack_name="t").functions.values()
    assert json.dumps(function.policies).count("dynamodb:Scan") == 1


def test_a_role_named_by_sam_s_logical_id_as_a_string_is_a_mistake(tmp_path):
    resources = FUNCTION.format(runtime="python3.11", extra="") + (
        "  Extra:\n    Type: AWS::IAM::Policy\n    Properties:\n"
        f"      Roles: [FnRole]\n      PolicyDocument: {ALLOW_SCAN}\n"
    )
    with pytest.raises(WorkshopError, match="the logical id of the role SAM makes.*!Ref FnRole"):
        load(_write(tmp_path, resources), stack_name="t")


@pytest.mark.parametrize(
    "tag, said",
    [
        (
            "!FindInMap [M, k, v]",
            "line 11 uses !FindInMap, which the workshop harness cannot serve",
        ),
        ("!Nonsense [a]", "line 11 uses !Nonsense, which is no CloudFormation function"),
    ],
)
def test_a_tag_the_harness_does_not_read_is_named_for_what_it_is(tmp_path, tag, said):
    """Valid YAML either way: not "not valid YAML"."""
    extra = f"      Environment:\n        Variables:\n          X: {tag}\n"
    with pytest.raises(WorkshopError, match=said):
        load(_write(tmp_path, FUNCTION.format(runtime="python3.11", extra=extra)), stack_name="t")


def test_a_role_named_other_than_by_ref_is_one_the_harness_cannot_read(tmp_path):
    resources = FUNCTION.format(runtime="python3.11", extra="") + (
        "  Extra:\n    Type: AWS::IAM::Policy\n    Properties:\n"
        f"      Roles: [!Sub '${{FnRole}}']\n      PolicyDocument: {ALLOW_SCAN}\n"
    )
    with pytest.raises(WorkshopError, match=r"Extra.Roles\[0\] uses a role named by"):
        load(_write(tmp_path, resources), stack_name="t")


def test_a_managed_policy_of_the_template_in_policies_grants_its_statements(tmp_path):
    extra = "      Policies:\n        - !Ref Extra\n"
    resources = FUNCTION.format(runtime="python3.11", extra=extra) + (
        "  Extra:\n    Type: AWS::IAM::ManagedPolicy\n    Properties:\n"
        f"      PolicyDocument: {ALLOW_SCAN}\n"
    )
    (function,) = load(_write(tmp_path, resources), stack_name="t").functions.values()
    assert "dynamodb:Scan" in json.dumps(function.policies)


@pytest.mark.parametrize("method, throttled", [("GET", True), ("POST", False), ("*", True)])
def test_method_settings_throttle_only_the_method_they_name(tmp_path, method, throttled):
    events = (
        "      Events:\n        Hello:\n          Type: Api\n          Properties:\n"
        "            RestApiId: !Ref Api\n            Path: /hello\n            Method: get\n"
    )
    api = (
        "  Api:\n    Type: AWS::Serverless::Api\n    Properties:\n      StageName: Prod\n"
        "      OpenApiVersion: '3.0.1'\n      MethodSettings:\n"
        f"        - ResourcePath: /~1hello\n          HttpMethod: '{method}'\n"
        "          ThrottlingRateLimit: 100\n          ThrottlingBurstLimit: 200\n"
    )
    template = load(
        _write(tmp_path, FUNCTION.format(runtime="python3.11", extra=events) + api), stack_name="t"
    )
    assert (template.apis["Api"].throttle_rate == 100) is throttled


def test_parameter_overrides_replace_the_defaults_and_must_be_declared(tmp_path):
    """As `sam deploy` passes samconfig's parameter_overrides: a declared parameter takes the
    value; CloudFormation refuses one the template does not declare."""
    path = _write(
        tmp_path,
        FUNCTION.format(runtime="python3.11", extra="      Timeout: !Ref Seconds\n"),
    )
    path.write_text(
        "Parameters:\n  Seconds:\n    Type: Number\n    Default: 3\n" + path.read_text(),
        encoding="utf-8",
    )
    assert load(path, stack_name="t").functions["Fn"].timeout == 3
    assert load(path, stack_name="t", overrides={"Seconds": "7"}).functions["Fn"].timeout == 7
    with pytest.raises(WorkshopError, match="sets Nope, which the template does not declare"):
        load(path, stack_name="t", overrides={"Nope": "1"})


@pytest.mark.parametrize(
    "entries, limits",
    [
        ([("/*", "*", 100, 200), ("/~1hello", "POST", 1, 1)], (100, 200)),
        ([("/~1hello", "GET", 50, 5), ("/*", "*", 100, 200)], (50, 5)),
        ([("/*", "*", 100, None), ("/~1hello", "GET", None, 200)], (100, 200)),
        ([("/*", "*", 100, 200), ("/*", "*", 10, 20)], (10, 20)),
    ],
    ids=["post-of-its-own", "route-before-stage", "stage-fills-in", "later-of-equals"],
)
def test_of_several_method_settings_the_most_specific_throttles_the_route(
    tmp_path, entries, limits
):
    events = (
        "      Events:\n        Hello:\n          Type: Api\n          Properties:\n"
        "            RestApiId: !Ref Api\n            Path: /hello\n            Method: get\n"
    )
    settings = "".join(
        f"        - ResourcePath: {path}\n          HttpMethod: '{method}'\n"
        + (f"          ThrottlingRateLimit: {rate}\n" if rate is not None else "")
        + (f"          ThrottlingBurstLimit: {burst}\n" if burst is not None else "")
        for path, method, rate, burst in entries
    )
    api = (
        "  Api:\n    Type: AWS::Serverless::Api\n    Properties:\n      StageName: Prod\n"
        f"      OpenApiVersion: '3.0.1'\n      MethodSettings:\n{settings}"
    )
    template = load(
        _write(tmp_path, FUNCTION.format(runtime="python3.11", extra=events) + api), stack_name="t"
    )
    assert (template.apis["Api"].throttle_rate, template.apis["Api"].throttle_burst) == limits


POLICY = (
    "      Policies:\n        - Statement:\n            - Effect: Allow\n"
    "              Action: dynamodb:GetItem\n              Resource: '*'\n"
)
LOGGING = "      LoggingConfig:\n        LogFormat: JSON\n"
API = (
    "  Api:\n    Type: AWS::Serverless::Api\n    Properties:\n      StageName: Prod\n"
    "      MethodSettings:\n        - ResourcePath: {path}\n          HttpMethod: '*'\n"
    "          ThrottlingRateLimit: 10\n"
)
DYNAMODB_TABLE = (
    "  Table:\n    Type: AWS::DynamoDB::Table\n    Properties:\n"
    "      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]\n"
    "      KeySchema: [{AttributeName: id, KeyType: HASH}]\n"
)
ROLE = (
    "  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument:\n"
    "        Statement:\n          - Effect: Allow\n            Principal: {{Service: {service}}}\n"
    "            Action: sts:AssumeRole\n"
)


@pytest.mark.parametrize(
    "extra, resources, named",
    [
        (
            POLICY.replace("- Effect", "- Sid: count-visits\n              Effect"),
            "",
            "has the Sid 'count-visits', which IAM refuses in an identity policy",
        ),
        (
            POLICY.replace("- Effect", "- Principal: '*'\n              Effect"),
            "",
            "names a Principal, which IAM refuses in an identity policy",
        ),
        (
            LOGGING + "        ApplicationLogLevel: WARNING\n",
            "",
            "Fn.LoggingConfig.ApplicationLogLevel is 'WARNING', which Lambda refuses",
        ),
        (LOGGING.replace("JSON", "json"), "", "LogFormat is 'json', which Lambda refuses"),
        (LOGGING + "        SystemLogLevel: ERROR\n", "", "SystemLogLevel is 'ERROR'"),
        (
            POLICY.replace("Effect: Allow", "Effect: allow"),
            "",
            "has the Effect 'allow', which IAM refuses",
        ),
        (
            POLICY.replace("- Statement", "- Version: 2012-10-18\n          Statement"),
            "",
            "has the Version '2012-10-18', which IAM refuses",
        ),
        (
            "",
            "  Logs:\n    Type: AWS::Logs::LogGroup\n    Properties:\n"
            "      RetentionInDays: 30.5\n",
            "Logs.RetentionInDays is 30.5, which CloudWatch Logs does not take",
        ),
        ("", API.format(path="/hello"), "here '/~1hello'"),
        ("", API.format(path="'*'"), "here '/*'"),
        ("", API.format(path="/~1a/b"), "here '/~1a~1b'"),
        ("", DYNAMODB_TABLE, "Table has no ProvisionedThroughput, and its BillingMode is PROV"),
        (
            "      Role: !GetAtt Role.Arn\n",
            ROLE.format(service="ec2.amazonaws.com"),
            "does not let Lambda assume the role",
        ),
    ],
    ids=[
        "sid",
        "principal",
        "app-level",
        "log-format",
        "system-level",
        "effect-case",
        "policy-version",
        "retention-fraction",
        "unencoded-path",
        "star-path",
        "half-encoded-path",
        "table-billing",
        "role-trust",
    ],
)
def test_what_the_deploy_would_refuse_is_named_as_aws_refuses_it(tmp_path, extra, resources, named):
    """Not a limit of the harness: CloudFormation, IAM, Lambda or API Gateway refuses it."""
    path = _write(tmp_path, FUNCTION.format(runtime="python3.11", extra=extra) + resources)
    with pytest.raises(WorkshopError) as caught:
        load(path, stack_name="t")
    assert named in str(caught.value) and "cannot serve" not in str(caught.value)


def test_what_the_deploy_takes_of_those_is_served(tmp_path):
    """A Sid of letters and digits, Lambda's own values, encoded paths, an on-demand table."""
    extra = POLICY.replace("- Effect", "- Sid: CountVisits1\n              Effect").replace(
        "- Statement", "- Version: 2012-10-17\n          Statement"
    ) + (LOGGING + "        ApplicationLogLevel: WARN\n        SystemLogLevel: INFO\n")
    resources = (
        API.format(path="/~1hello~1{proxy+}")
        + DYNAMODB_TABLE
        + "      BillingMode: PAY_PER_REQUEST\n"
    )
    template = load(
        _write(tmp_path, FUNCTION.format(runtime="python3.11", extra=extra) + resources),
        stack_name="t",
    )
    assert template.tables["Table"].create_args["BillingMode"] == "PAY_PER_REQUEST"
    assert template.functions["Fn"].logging_config["ApplicationLogLevel"] == "WARN"


def test_a_role_of_the_stack_grants_its_own_and_its_attached_policies(tmp_path):
    """A function's Role (!GetAtt of the template's role): its Policies and ManagedPolicyArns,
    and an AWS::IAM::RolePolicy that names it; SAM makes no role then, and ignores Policies."""
    role = ROLE.format(service="lambda.amazonaws.com") + (
        "      ManagedPolicyArns:\n"
        "        - !Sub arn:${AWS::Partition}:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole\n"
        "      Policies:\n        - PolicyName: Own\n          PolicyDocument:\n"
        "            Statement:\n              - {Effect: Allow, Action: dynamodb:GetItem, "
        "Resource: '*'}\n"
        "  More:\n    Type: AWS::IAM::RolePolicy\n    Properties:\n      RoleName: !Ref Role\n"
        "      PolicyName: More\n      PolicyDocument:\n        Statement:\n"
        "          - {Effect: Allow, Action: dynamodb:PutItem, Resource: '*'}\n"
    )
    extra = "      Role: !GetAtt Role.Arn\n" + POLICY.replace("GetItem", "DeleteItem")
    template = load(
        _write(tmp_path, FUNCTION.format(runtime="python3.11", extra=extra) + role), stack_name="t"
    )
    fn = template.functions["Fn"]
    actions = [
        s["Action"] for d in fn.policies for s in d["Statement"] if s.get("Effect") == "Allow"
    ]
    assert "dynamodb:GetItem" in actions and "dynamodb:PutItem" in actions
    assert "dynamodb:DeleteItem" not in actions  # Policies: unused beside a Role
    assert (fn.role, fn.role_name) == ("Role", generated_name("t", "Role", 64))
    assert fn.attached == {2: "More"}


def test_sam_s_role_named_beside_a_role_of_the_stack_is_refused(tmp_path):
    """With Role set SAM makes no "<Function>Role": a reference to it fails the deploy."""
    role = ROLE.format(service="lambda.amazonaws.com")
    extra = "      Role: !GetAtt Role.Arn\n"
    path = _write(tmp_path, FUNCTION.format(runtime="python3.11", extra=extra) + role)
    path.write_text(
        path.read_text(encoding="utf-8") + "Outputs:\n  R:\n    Value: !Sub '${FnRole.Arn}'\n",
        encoding="utf-8",
    )
    with pytest.raises(WorkshopError, match="Outputs.R refers to FnRole, the role SAM makes"):
        load(path, stack_name="t")


def _two_events(auth: str = "") -> str:
    """Two Api events on the Api resource: /open, and /hello with `auth` as its Auth lines."""
    return (
        "      Events:\n        Open:\n          Type: Api\n          Properties:\n"
        "            RestApiId: !Ref Api\n            Path: /open\n            Method: get\n"
        "        Hello:\n          Type: Api\n          Properties:\n"
        "            RestApiId: !Ref Api\n            Path: /hello\n            Method: get\n"
        + auth
    )


API = "  Api:\n    Type: AWS::Serverless::Api\n    Properties:\n      StageName: Prod\n"


@pytest.mark.parametrize(
    "api_auth, event_auth, methods",
    [
        ("", "", [("NONE", False), ("NONE", False)]),
        (
            "        ApiKeyRequired: true\n",
            "            Auth:\n              ApiKeyRequired: false\n",
            [("NONE", True), ("NONE", False)],
        ),
        (
            "        DefaultAuthorizer: AWS_IAM\n",
            "            Auth:\n              Authorizer: NONE\n",
            [("AWS_IAM", False), ("NONE", False)],
        ),
        (
            "",
            "            Auth:\n              Authorizer: AWS_IAM\n",
            [("NONE", False), ("AWS_IAM", False)],
        ),
    ],
    ids=["no-auth", "api-key-but-not-on-hello", "iam-but-not-on-hello", "iam-on-hello-only"],
)
def test_a_method_has_its_api_s_auth_unless_its_event_s_auth_says_otherwise(
    tmp_path, api_auth, event_auth, methods
):
    """As SAM's swagger editor sets each method's security (samtranslator's eventsources/push)."""
    extra = _two_events(event_auth)
    api = API + ("      Auth:\n" + api_auth if api_auth else "")
    template = load(
        _write(tmp_path, FUNCTION.format(runtime="python3.11", extra=extra) + api), stack_name="t"
    )
    assert [(r.authorization, r.api_key_required) for r in template.routes] == methods


@pytest.mark.parametrize(
    "plan, source, keys",
    [
        ("PER_API", "HEADER", 1),
        ("SHARED", "HEADER", 1),
        ("NONE", "HEADER", 0),
        ("PER_API", "AUTHORIZER", 0),
    ],
)
def test_an_api_s_usage_plan_makes_the_one_key_it_takes(tmp_path, plan, source, keys):
    """SAM's PER_API and SHARED usage plans make an API key; the harness makes its value, the
    same from start to start, 40 letters and digits as API Gateway's."""
    api = API + (
        f"      ApiKeySourceType: {source}\n      Auth:\n        ApiKeyRequired: true\n"
        f"        UsagePlan:\n          CreateUsagePlan: {plan}\n"
    )
    path = _write(tmp_path, FUNCTION.format(runtime="python3.11", extra=_two_events()) + api)
    made = load(path, stack_name="t").apis["Api"].api_keys
    assert len(made) == keys and made == load(path, stack_name="t").apis["Api"].api_keys
    assert all(re.fullmatch(r"[A-Za-z0-9]{40}", key) for key in made)


def test_globals_give_the_implicit_api_its_auth(tmp_path):
    events = "      Events:\n        Hello:\n          Type: Api\n          Properties:\n"
    events += "            Path: /hello\n            Method: get\n"
    globals_ = "Globals:\n  Api:\n    Auth:\n      DefaultAuthorizer: AWS_IAM\n"
    template = load(
        _write(tmp_path, FUNCTION.format(runtime="python3.11", extra=events), globals_),
        stack_name="t",
    )
    assert template.routes[0].authorization == "AWS_IAM"


@pytest.mark.parametrize(
    "api_auth, event_auth, named",
    [
        (
            "        Authorizers:\n          Pool:\n            UserPoolArn: arn\n",
            "",
            "Api.Auth.Authorizers",
        ),
        (
            "        ResourcePolicy:\n          IpRangeBlacklist: ['10.0.0.0/8']\n",
            "",
            "Api.Auth.ResourcePolicy",
        ),
        (
            "",
            "            Auth:\n              InvokeRole: NONE\n",
            "Fn.Events.Hello.Auth.InvokeRole",
        ),
    ],
    ids=["an-authorizer", "a-resource-policy", "an-invoke-role"],
)
def test_auth_the_harness_cannot_judge_is_named(tmp_path, api_auth, event_auth, named):
    api = API + ("      Auth:\n" + api_auth if api_auth else "")
    path = _write(
        tmp_path, FUNCTION.format(runtime="python3.11", extra=_two_events(event_auth)) + api
    )
    with pytest.raises(WorkshopError, match="cannot serve") as caught:
        load(path, stack_name="t")
    assert named in str(caught.value)


@pytest.mark.parametrize(
    "auth_type, read", [("NONE", "NONE"), ("AWS_IAM", "AWS_IAM"), ("none", None)]
)
def test_a_function_url_s_auth_type_is_read_and_one_lambda_refuses_is_a_mistake(
    tmp_path, auth_type, read
):
    extra = f"      FunctionUrlConfig:\n        AuthType: {auth_type}\n"
    path = _write(tmp_path, FUNCTION.format(runtime="python3.11", extra=extra))
    if read is None:
        with pytest.raises(WorkshopError, match="Lambda takes AWS_IAM or NONE"):
            load(path, stack_name="t")
    else:
        assert load(path, stack_name="t").functions["Fn"].url_auth == read


ROLE_ARN = "arn:aws:iam::123456789012:role/" + generated_name("s", "FnRole", 64)
RESOURCE_POLICY = (
    "      BillingMode: PAY_PER_REQUEST\n      ResourcePolicy:\n        PolicyDocument:\n"
    "          Statement:\n            - Effect: Allow\n              Principal: {principal}\n"
    "              Action: dynamodb:Scan\n              Resource: '*'\n"
)


@pytest.mark.parametrize(
    "principal, grants",
    [
        ("{AWS: !GetAtt FnRole.Arn}", True),
        ("{AWS: [!Sub 'arn:aws:iam::${AWS::AccountId}:role/other', !GetAtt FnRole.Arn]}", True),
        ("'*'", True),
        ("{AWS: '*'}", True),
        # The account's root, or its id, leaves the call to the role's own policies.
        ("{AWS: !Sub 'arn:${AWS::Partition}:iam::${AWS::AccountId}:root'}", False),
        ("{AWS: '123456789012'}", False),
        ("{Service: lambda.amazonaws.com}", False),
    ],
)
def test_a_table_s_resource_policy_is_given_to_the_function_it_names(tmp_path, principal, grants):
    path = _write(
        tmp_path,
        FUNCTION.format(runtime="python3.11", extra="")
        + DYNAMODB_TABLE
        + RESOURCE_POLICY.format(principal=principal),
    )
    template = load(path, stack_name="s")
    table = template.tables["Table"].arn
    expected = {
        table: (
            "Table",
            {"Statement": [{"Effect": "Allow", "Action": "dynamodb:Scan", "Resource": "*"}]},
        )
    }
    assert template.functions["Fn"].resource_policies == (expected if grants else {})


def test_the_function_s_role_arn_is_the_one_sam_makes(tmp_path):
    path = _write(
        tmp_path,
        FUNCTION.format(
            runtime="python3.11",
            extra="      Environment:\n        Variables:\n          ROLE: !GetAtt FnRole.Arn\n",
        ),
    )
    assert load(path, stack_name="s").functions["Fn"].environment == {"ROLE": ROLE_ARN}


def test_a_resource_policy_the_harness_cannot_judge_is_named(tmp_path):
    principal = "{AWS: '*'}\n              Condition: {IpAddress: {aws:SourceIp: 10.0.0.0/8}}"
    path = _write(
        tmp_path,
        FUNCTION.format(runtime="python3.11", extra="")
        + DYNAMODB_TABLE
        + RESOURCE_POLICY.format(principal=principal),
    )
    with pytest.raises(WorkshopError, match="Table.ResourcePolicy.PolicyDocument uses an Allow"):
        load(path, stack_name="s")
    not_principal = RESOURCE_POLICY.format(principal="'*'").replace("Principal:", "NotPrincipal:")
    path = _write(
        tmp_path, FUNCTION.format(runtime="python3.11", extra="") + DYNAMODB_TABLE + not_principal
    )
    with pytest.raises(WorkshopError, match="uses a NotPrincipal, which the workshop harness"):
        load(path, stack_name="s")
    on_the_account = RESOURCE_POLICY.format(principal="{AWS: '123456789012'}")
    path = _write(
        tmp_path,
        FUNCTION.format(runtime="python3.11", extra="")
        + DYNAMODB_TABLE
        + on_the_account.replace("Effect: Allow", "Effect: Deny"),
    )
    with pytest.raises(WorkshopError, match="uses a Deny on the account's principal, which"):
        load(path, stack_name="s")


TRUST = (
    "      AssumeRolePolicyDocument:\n        Statement:\n          - Effect: Allow\n"
    "            Principal: {principal}\n            Action: sts:AssumeRole\n"
)


def test_who_else_may_assume_the_function_s_role_is_read(tmp_path):
    lambda_too = TRUST.format(principal="{Service: lambda.amazonaws.com}") + (
        "          - Effect: Allow\n"
        "            Principal: {AWS: !Sub 'arn:aws:iam::${AWS::AccountId}:root'}\n"
        "            Action: sts:AssumeRole\n"
    )
    path = _write(tmp_path, FUNCTION.format(runtime="python3.11", extra=lambda_too))
    assert load(path, stack_name="s").functions["Fn"].trusted == ["arn:aws:iam::123456789012:root"]
    # A role of the template that trusts another service too.
    role = ROLE.format(service="[lambda.amazonaws.com, ec2.amazonaws.com]")
    extra = "      Role: !GetAtt Role.Arn\n"
    path = _write(tmp_path, FUNCTION.format(runtime="python3.11", extra=extra) + role)
    assert load(path, stack_name="s").functions["Fn"].trusted == ["ec2.amazonaws.com"]
    # SAM's role as SAM makes it trusts Lambda alone.
    path = _write(tmp_path, FUNCTION.format(runtime="python3.11", extra=""))
    assert load(path, stack_name="s").functions["Fn"].trusted == []


def test_a_trust_policy_of_the_function_without_lambda_is_refused(tmp_path):
    extra = TRUST.format(principal="{Service: ec2.amazonaws.com}")
    path = _write(tmp_path, FUNCTION.format(runtime="python3.11", extra=extra))
    with pytest.raises(WorkshopError, match="Fn.AssumeRolePolicyDocument does not let Lambda"):
        load(path, stack_name="s")


def test_a_permission_on_the_function_is_read(tmp_path):
    permission = (
        "  Perm:\n    Type: AWS::Lambda::Permission\n    Properties:\n"
        "      Action: lambda:InvokeFunction\n      FunctionName: !GetAtt Fn.Arn\n"
        "      Principal: apigateway.amazonaws.com\n      SourceAccount: !Ref AWS::AccountId\n"
    )
    path = _write(tmp_path, FUNCTION.format(runtime="python3.11", extra="") + permission)
    assert load(path, stack_name="s").functions["Fn"].permissions == [
        ("Perm", "lambda:InvokeFunction", "apigateway.amazonaws.com", None, "123456789012")
    ]
