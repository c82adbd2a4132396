"""What operating the function needs: JSON logs, concurrency and API limits, outages, backups."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import PROBE_APP, fetch_json, first_run_held


@pytest.fixture
def variant(tmp_path, make_stack):
    """The probe app with its template changed by `edit`, started under its own stack name."""

    def make(edit, stack_name: str = "variant", **options):
        shutil.copytree(PROBE_APP, tmp_path / stack_name)
        template = tmp_path / stack_name / "template.yaml"
        template.write_text(edit(template.read_text(encoding="utf-8")), encoding="utf-8")
        return make_stack(tmp_path / stack_name, stack_name=stack_name, **options)

    return make


def _function_property(text: str, lines: str) -> str:
    anchor = "      Handler: app.handler\n"
    assert anchor in text
    return text.replace(anchor, anchor + lines)


def test_json_log_format_structures_logging_records_and_platform_lines(variant):
    stack = variant(
        lambda t: _function_property(t, "      LoggingConfig:\n        LogFormat: JSON\n")
    )
    inv = stack.invoke({"action": "log"})
    lines = [event.message for event in inv.logs]
    assert "init: module imported" in lines  # print() stays plain text, as on Lambda
    # At INFO, boto3's own records come too ("Found credentials ..."), as they do on Lambda.
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    ours = [e for e in entries if not e.get("logger", "").startswith("botocore")]
    init_start, start, record, report = ours
    assert init_start["type"] == "platform.initStart"
    assert init_start["record"]["runtimeVersion"].startswith("python:3.11.")
    assert start["type"] == "platform.start" and start["record"]["requestId"] == inv.request_id
    assert {k: record[k] for k in ("level", "message", "logger", "requestId")} == {
        "level": "WARNING",
        "message": "careful",
        "logger": "root",
        "requestId": inv.request_id,
    }
    assert report["type"] == "platform.report" and report["record"]["status"] == "success"
    assert report["record"]["metrics"]["memorySizeMB"] == 128
    assert "initDurationMs" in report["record"]["metrics"]


def test_reserved_concurrency_throttles_the_rest_as_a_500(variant):
    whys = []
    stack = variant(
        lambda t: _function_property(t, "      ReservedConcurrentExecutions: 1\n"),
        on_request=lambda _request, _status, _inv, why: whys.append(why),
    )
    # Held by the test, not by a sleep in the handler: however slow the machine, the one
    # allowed environment stays taken until both requests have been answered.
    runtime = stack.runtimes["ProbeFunction"]
    # The pool outermost: should an assert fail, the held invocation is released first.
    with ThreadPoolExecutor(1) as pool, first_run_held(runtime) as (taken, release):
        held = pool.submit(stack.invoke, {"action": "count"})
        assert taken.wait(60), "the first invocation should have taken the environment"
        statuses = [fetch_json(stack.url("/counter"))[0] for _ in range(2)]
        release.set()
        assert held.result().error is None
    assert statuses == [500, 500]
    # `up` says why, in Lambda's words (its 429 body, which API Gateway's access log quotes as
    # "Execution failed due to configuration error: Rate Exceeded.": DataBiosphere/azul#6624).
    name = stack.function("ProbeFunction").name
    refused = f"Rate Exceeded. ({name} is at its reserved concurrency of 1)"
    assert whys == [f"Lambda refused the invoke: {refused}"] * 2


def _throttled_api(text: str, properties: str = "") -> str:
    """The probe app with its /counter on an API that lets 2 requests through, then 429."""
    api = (
        "  Api:\n    Type: AWS::Serverless::Api\n    Properties:\n      StageName: Prod\n"
        f"{properties}"
        "      MethodSettings:\n        - ResourcePath: /*\n          HttpMethod: '*'\n"
        "          ThrottlingRateLimit: 0.001\n          ThrottlingBurstLimit: 2\n"
    )
    text = text.replace("Resources:\n", "Resources:\n" + api)
    return text.replace(
        "            Path: /counter\n",
        "            Path: /counter\n            RestApiId: !Ref Api\n",
    )


def test_api_throttling_answers_429(variant):
    whys = []
    stack = variant(_throttled_api, on_request=lambda _req, _status, _inv, why: whys.append(why))
    answers = [fetch_json(stack.url("/counter")) for _ in range(3)]
    assert [status for status, _ in answers] == [200, 200, 429]
    assert answers[2][1] == {"message": "Too Many Requests"}
    assert whys == ["", "", "over the API's throttle: 0.001 requests a second, bursts of up to 2"]


@pytest.mark.parametrize(("openapi", "statuses"), [("", [200] * 3), ("3.0.1", [403] * 3)])
def test_sam_s_extra_stage_answers_unthrottled_unless_an_openapi_version_is_set(
    variant, openapi, statuses
):
    """Without OpenApiVersion, SAM deploys the API to `Stage` too, where MethodSettings do not
    apply (tests/conformance: the stages SAM makes); with it, `Stage` is no stage: 403."""
    properties = f'      OpenApiVersion: "{openapi}"\n' if openapi else ""
    stack = variant(lambda text: _throttled_api(text, properties))
    extra = stack.url("/counter").replace("/Prod/", "/Stage/")
    assert [fetch_json(extra)[0] for _ in range(3)] == statuses
    assert [fetch_json(stack.url("/counter"))[0] for _ in range(3)] == [200, 200, 429]


def test_a_dynamodb_outage_fails_the_calls_until_it_ends(probe):
    with probe.aws.dynamodb_outage("throttled"):
        throttled = probe.invoke({"action": "add_once"})
    with probe.aws.dynamodb_outage("unavailable"):
        unavailable = probe.invoke({"action": "add_once"})
    with probe.aws.dynamodb_outage("unreachable"):
        unreachable = probe.invoke({"action": "add_once"})
    assert "(ThrottlingException)" in throttled.error["errorMessage"]  # an on-demand table
    assert "(503)" in unavailable.error["errorMessage"]
    # What botocore raises whenever a connection ends with no answer.
    assert unreachable.error["errorType"] == "ConnectionClosedError"
    assert json.loads(probe.invoke({"action": "add"}).payload["body"]) == {"hits": 1}


def test_a_deploy_with_other_variables_lasts_as_long_as_its_block(probe):
    def variables():
        return json.loads(probe.invoke({"pathParameters": {"how": "env"}}).payload["body"])

    table = variables()["TABLE_NAME"]
    with probe.deployed_with({"TABLE_NAME": ""}):
        assert variables()["TABLE_NAME"] == ""  # in a new environment: the warm one is retired
    assert variables()["TABLE_NAME"] == table


def test_point_in_time_recovery_is_turned_on_as_the_template_asks(variant):
    table = (
        "  Backed:\n    Type: AWS::DynamoDB::Table\n    Properties:\n"
        "      BillingMode: PAY_PER_REQUEST\n"
        "      AttributeDefinitions:\n        - AttributeName: id\n          AttributeType: S\n"
        "      KeySchema:\n        - AttributeName: id\n          KeyType: HASH\n"
        "      PointInTimeRecoverySpecification:\n        PointInTimeRecoveryEnabled: true\n"
    )
    stack = variant(lambda t: t.replace("Resources:\n", "Resources:\n" + table))
    backups = stack.aws.client("dynamodb").describe_continuous_backups(
        TableName=stack.template.tables["Backed"].name
    )
    recovery = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert recovery["PointInTimeRecoveryStatus"] == "ENABLED"


def test_json_log_format_logs_an_uncaught_error_as_one_json_object(variant):
    stack = variant(
        lambda t: _function_property(t, "      LoggingConfig:\n        LogFormat: JSON\n")
    )
    inv = stack.invoke({"pathParameters": {"how": "crash"}})
    assert inv.error["errorType"] == "ZeroDivisionError"
    (line,) = [event.message for event in inv.logs if '"level": "ERROR"' in event.message]
    entry = json.loads(line)  # one line: no "[ERROR] ..." text, no separate traceback lines
    assert list(entry) == [
        "timestamp",
        "level",
        "errorMessage",
        "errorType",
        "requestId",
        "stackTrace",
    ]
    assert (entry["errorType"], entry["errorMessage"]) == ("ZeroDivisionError", "division by zero")
    assert entry["requestId"] == inv.request_id
    assert "1 / 0" in entry["stackTrace"][-1]
    assert not [event for event in inv.logs if event.message.startswith("[ERROR]")]
