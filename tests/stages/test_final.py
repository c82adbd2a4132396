"""Stage 07's lesson, on the final app that keeps it: least privilege, and the settings that
running it needs.

The local AWS enforces the function's own IAM policy on its DynamoDB calls (workshop.local.iam), so
a policy narrowed too far fails here as it would on AWS. Each operations setting is checked by
what it does: the logs' format, the log group's retention, the API's 429, Lambda's throttle,
the table's backups. The limits are production values; where a test needs to reach one, it
stops the throttle's clock, or runs a copy whose limit alone is lowered.

The smoke tests at the end run against a deployed stack, and only when given its URL.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from tests.helpers import (
    BAD_GATEWAY,
    as_the_function,
    before_each_run,
    changed_files,
    dynamodb_calls,
    new_session,
    visit,
)
from workshop import manifest
from workshop.local.sam_template import ACCOUNT_ID, load, parse_yaml
from workshop.measure.race import race

FINAL = manifest.FINAL
REGION = "us-east-1"
# What DynamoDBCrudPolicy (stages 02 to 06) allows besides the one call the handler makes.
CRUD_BUT_UPDATE = [
    "GetItem",
    "PutItem",
    "DeleteItem",
    "Scan",
    "Query",
    "BatchGetItem",
    "BatchWriteItem",
    "DescribeTable",
]
RATE, BURST = 100, 200  # the final API's throttle: requests a second, and the burst
RESERVED = 50  # the final function's reserved concurrency: its ReservedConcurrency parameter


def template_of(name: str) -> dict:
    return parse_yaml(manifest.project(name).path / "template.yaml")


def denied(stack, action: str) -> str:
    """The AccessDeniedException message that the local AWS gives the function for `action`."""
    function, table = stack.function(), stack.template.tables["VisitCounterTable"]
    return (
        f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/{function.role_name}/{function.name} "
        f"is not authorized to perform: dynamodb:{action} on resource: {table.arn} "
        f"because no identity-based policy allows the dynamodb:{action} action"
    )


def json_logs(stack) -> list[dict]:
    """Every log event of the function, each parsed: in the JSON format, each is one object."""
    return [json.loads(event.message) for event in stack.logs()]


# The policy: only what the handler does.


def test_07_differs_from_06_in_its_configuration_alone():
    assert changed_files("06", "07") == ["template.yaml", "samconfig.toml"]
    assert "DynamoDBCrudPolicy" in json.dumps(template_of("06"))
    assert "DynamoDBCrudPolicy" not in json.dumps(template_of("07"))


def test_the_policy_allows_exactly_the_calls_the_handler_makes(start_stage):
    code = (manifest.project(FINAL).path / "src" / "app.py").read_text(encoding="utf-8")
    # The visit's update, and the one that forgets old request ids (test_retries).
    assert re.findall(r"\b(?:table|forgetting)\.(\w+)\(", code) == ["update_item"] * 2
    stack = start_stage(FINAL)
    with dynamodb_calls(stack) as calls:
        cookie, _ = new_session(stack.url())  # a new visitor, then a returning one
        assert visit(stack.url(), cookie)[0] == 200
        assert visit(stack.url(), "session_id=bad")[0] == 400  # refused before DynamoDB
    # And the SDK's retry of an update this machine answered only after its read timeout.
    assert calls == ["UpdateItem"] * (2 + len(stack.aws.late_retries()))
    (policy,) = stack.function().policies
    assert policy["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "dynamodb:UpdateItem",
            "Resource": stack.template.tables["VisitCounterTable"].arn,
        }
    ]


@pytest.mark.parametrize("stage", ["06", "07"])
def test_the_function_s_credentials_can_do_only_what_its_policy_allows(start_stage, stage):
    """Any code running in the function (a bad dependency, an injected line) has them."""
    stack = start_stage(stage)
    cookie, _ = new_session(stack.url())
    session = {"session_id": {"S": cookie.partition("=")[2]}}
    table = stack.table().name
    dynamodb = as_the_function(stack)
    calls = {
        "GetItem": lambda: dynamodb.get_item(TableName=table, Key=session),
        "PutItem": lambda: dynamodb.put_item(
            TableName=table, Item={**session, "visit_count": {"N": "1000"}}
        ),
        "DeleteItem": lambda: dynamodb.delete_item(TableName=table, Key=session),
        "Scan": lambda: dynamodb.scan(TableName=table),
        "Query": lambda: dynamodb.query(
            TableName=table,
            KeyConditionExpression="session_id = :id",
            ExpressionAttributeValues={":id": session["session_id"]},
        ),
        "BatchGetItem": lambda: dynamodb.batch_get_item(RequestItems={table: {"Keys": [session]}}),
        "BatchWriteItem": lambda: dynamodb.batch_write_item(
            RequestItems={table: [{"DeleteRequest": {"Key": session}}]}
        ),
        "DescribeTable": lambda: dynamodb.describe_table(TableName=table),
    }
    assert sorted(calls) == sorted(CRUD_BUT_UPDATE)
    if stage == "06":
        # A Scan reads every visitor's session id: the cookie that is their whole identity.
        assert dynamodb.scan(TableName=table)["Items"][0]["session_id"] == session["session_id"]
        for call in calls.values():
            call()  # each allowed: no exception
        return
    for action, call in calls.items():
        with pytest.raises(ClientError) as refused:
            call()
        error = refused.value.response["Error"]
        assert (error["Code"], error["Message"]) == ("AccessDeniedException", denied(stack, action))
    # What the policy does allow still works, and the visitor's count is untouched.
    status, _, body = visit(stack.url(), cookie)
    assert (status, body["visit_count"]) == (200, 2)


NARROWED_TOO_FAR = {
    # The calls the original handler made (stages 02 to 04), not the ones this handler makes.
    "the-original-s-calls": (
        "              Action: dynamodb:UpdateItem\n",
        "              Action:\n"
        "                - dynamodb:GetItem\n"
        "                - dynamodb:PutItem\n",
    ),
    # The logical id where the table's name belongs: a well-formed ARN of no table.
    "a-table-arn-by-hand": (
        "              Resource: !GetAtt VisitCounterTable.Arn\n",
        "              Resource: !Sub arn:aws:dynamodb:${AWS::Region}:${AWS::AccountId}"
        ":table/VisitCounterTable\n",
    ),
}


@pytest.mark.parametrize("variant", NARROWED_TOO_FAR)
def test_a_policy_narrowed_too_far_is_denied_and_the_visit_fails_as_a_bug(
    start_stage, tmp_path, variant
):
    copy = tmp_path / "narrow"  # its stack is named after the folder: "narrow"
    shutil.copytree(manifest.project(FINAL).path / "src", copy / "src")
    template = (manifest.project(FINAL).path / "template.yaml").read_text(encoding="utf-8")
    right, wrong = NARROWED_TOO_FAR[variant]
    assert template.count(right) == 1
    (copy / "template.yaml").write_text(template.replace(right, wrong), encoding="utf-8")
    served = []
    stack = start_stage(str(copy), on_request=lambda _, status, inv, __: served.append(inv))
    status, _, body = visit(stack.url())
    # An AccessDeniedException is no outage (a retry cannot mend it): the handler lets it
    # fail, Lambda logs it, and API Gateway answers 502.
    assert (status, body) == (502, BAD_GATEWAY)
    (invocation,) = served
    (error,) = [entry for entry in json_logs(stack) if entry.get("level") == "ERROR"]
    assert error["requestId"] == invocation.request_id
    assert error["errorType"] == "ClientError"
    assert error["errorMessage"] == (
        "An error occurred (AccessDeniedException) when calling the UpdateItem operation: "
        + denied(stack, "UpdateItem")
    )
    assert any("table.update_item(" in frame for frame in error["stackTrace"])
    assert stack.table().scan()["Count"] == 0  # nothing was counted


def test_the_final_policy_counts_with_no_error_in_the_logs(start_stage):
    stack = start_stage(FINAL)
    cookie, _ = new_session(stack.url())
    assert [visit(stack.url(), cookie)[2]["visit_count"] for _ in range(2)] == [2, 3]
    assert [entry for entry in json_logs(stack) if entry.get("level") == "ERROR"] == []


# Operations: logs, limits, backups.


def test_logs_are_json_and_each_line_names_its_request(start_stage):
    served = []
    stack = start_stage(FINAL, on_request=lambda _, status, inv, __: served.append(inv))
    cookie, _ = new_session(stack.url())
    assert visit(stack.url(), "session_id=user_123")[0] == 400
    first, malformed = served
    entries = json_logs(stack)  # every line is a JSON object: no plain START, END or REPORT
    by_request = {}
    starts = [entry for entry in entries if entry.get("type") == "platform.initStart"]
    assert len(starts) == 1  # the cold start's: it comes before any request, and names none
    for entry in entries:
        if entry in starts:
            continue
        request_id = entry.get("requestId") or entry.get("record", {}).get("requestId")
        by_request.setdefault(request_id, []).append(entry)
    assert sorted(by_request) == sorted([first.request_id, malformed.request_id])
    kinds = [entry.get("type") or entry["level"] for entry in by_request[malformed.request_id]]
    assert kinds == ["platform.start", "WARNING", "platform.report"]
    (warning,) = [entry for entry in by_request[malformed.request_id] if "level" in entry]
    assert {k: warning[k] for k in ("level", "logger", "message")} == {
        "level": "WARNING",
        "logger": "app",
        "message": "Rejected a malformed session cookie: it has 8 characters, not 22",
    }
    # ApplicationLogLevel WARN: the first visit logged nothing of its own, and boto3's INFO
    # lines (credentials found, ...) are left out.
    assert [e.get("type") for e in by_request[first.request_id]] == [
        "platform.start",
        "platform.report",
    ]
    assert not [entry for entry in entries if entry.get("level") in ("INFO", "DEBUG")]


def test_the_log_group_is_the_stack_s_and_keeps_30_days(start_stage):
    template = template_of(FINAL)["Resources"]
    config = template["HelloWorldFunction"]["Properties"]["LoggingConfig"]
    assert config["LogGroup"] == {"Ref": "HelloWorldFunctionLogs"}
    assert template["HelloWorldFunctionLogs"]["Type"] == "AWS::Logs::LogGroup"
    stack = start_stage(FINAL)
    new_session(stack.url())
    group = stack.function().log_group
    (described,) = stack.aws.client("logs").describe_log_groups(logGroupNamePrefix=group)[
        "logGroups"
    ]
    assert (described["logGroupName"], described["retentionInDays"]) == (group, 30)
    assert stack.logs(), "the function logs to the stack's log group"


class StoppedClock:
    """A monotonic clock stopped at 0, moved by hand."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.slow
def test_api_throttling_answers_429_beyond_the_burst_and_refills_at_its_rate(
    start_stage,
):
    """With the clock stopped, the bucket holds the burst and nothing more, until time moves."""
    clock = StoppedClock()
    served: list = []
    stack = start_stage(
        FINAL, clock=clock, on_request=lambda _, status, inv, __: served.append((status, inv))
    )
    url = stack.url()
    cookie, _ = new_session(url)

    def visits(count: int) -> list[tuple[int, dict]]:
        with ThreadPoolExecutor(4) as pool:
            return [
                (status, body)
                for status, _, body in pool.map(lambda _: visit(url, cookie), range(count))
            ]

    burst = visits(BURST + 10)  # the opening visit took one token of the burst
    clock.now += 1.0  # one second: RATE tokens
    second = visits(RATE + 10)
    for answers, allowed in ((burst, BURST - 1), (second, RATE)):
        assert sum(status == 200 for status, _ in answers) == allowed
        refused = [body for status, body in answers if status != 200]
        assert refused == [{"message": "Too Many Requests"}] * (len(answers) - allowed)
    # A 429 never reached the function, and every visit it served was counted.
    assert all(inv is None for status, inv in served if status == 429)
    assert visit(url, cookie)[0] == 429  # still no time has passed
    session_id = cookie.partition("=")[2]
    item = stack.table().get_item(Key={"session_id": session_id})["Item"]
    assert int(item["visit_count"]) == BURST + RATE


def test_the_limits_let_32_visitors_through_at_once():
    """The 32-client race on the final app (test_beyond) must meet neither limit."""
    template = load(manifest.project(FINAL).path / "template.yaml", stack_name="check")
    assert template.functions["HelloWorldFunction"].reserved_concurrency == RESERVED
    (settings,) = template_of(FINAL)["Resources"]["VisitCounterApi"]["Properties"]["MethodSettings"]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (RATE, BURST)
    # That race sends 60 visits while it ramps up, then 98: all within one burst.
    assert RESERVED >= 32 and BURST >= 60 + 98


def with_reserved_concurrency(tmp_path, value: int):
    """A copy of the final app whose ReservedConcurrency parameter defaults to `value`."""
    copy = tmp_path / "reserved"
    shutil.copytree(manifest.project(FINAL).path / "src", copy / "src")
    template = (manifest.project(FINAL).path / "template.yaml").read_text(encoding="utf-8")
    default = f"    Default: {RESERVED}\n"
    assert template.count(default) == 1
    (copy / "template.yaml").write_text(
        template.replace(default, f"    Default: {value}\n"), encoding="utf-8"
    )
    return copy


def test_a_reserved_concurrency_of_0_reserves_none(tmp_path):
    """For an account whose quota is too low for any reservation (a new account's may be)."""
    template = load(with_reserved_concurrency(tmp_path, 0) / "template.yaml", stack_name="t")
    assert template.functions["HelloWorldFunction"].reserved_concurrency is None


def test_reserved_concurrency_throttles_visits_beyond_it(start_stage, tmp_path):
    """A copy whose limit alone is lowered to 2: a third visit at once is throttled."""
    stack = start_stage(str(with_reserved_concurrency(tmp_path, 2)))
    url = stack.url()
    held, release = threading.Semaphore(0), threading.Event()

    def hold(operation: str) -> None:
        held.release()
        release.wait(30)

    with dynamodb_calls(stack, hold), ThreadPoolExecutor(2) as pool:
        running = [pool.submit(visit, url) for _ in range(2)]
        for _ in range(2):
            assert held.acquire(timeout=30), "two visits should be running at once"
        # Both environments the function may have are busy: Lambda throttles the third, and
        # API Gateway's proxy integration answers that with a 500.
        third = visit(url)
        release.set()
        first_two = [future.result()[0] for future in running]
    assert (third[0], third[2]) == (500, {"message": "Internal server error"})
    assert first_two == [200, 200]
    assert visit(url)[0] == 200  # once they are done, there is room again


def test_a_race_past_the_reserved_concurrency_says_which_500s_lambda_refused(start_stage, tmp_path):
    """A copy whose limit is 1, raced by 2 clients: the visit that got the one environment holds
    it (after the opening visit) until the other has been answered, so that one is refused."""
    stack = start_stage(str(with_reserved_concurrency(tmp_path, 1)))
    (runtime,) = stack.runtimes.values()
    armed, release = threading.Event(), threading.Event()

    def hold() -> None:
        if armed.is_set() and not release.is_set():
            release.wait(60)

    def said(line: str) -> None:
        if line.startswith("Opening visit"):
            armed.set()  # the race's own visits from here on
        elif line.strip() == "1/2 visits answered":
            release.set()  # the refused one: the held one may go on

    with before_each_run(runtime, hold):
        result = race(stack, clients=2, visits=1, log=said)
    assert (result.answered, result.refused, result.lost) == ({200: 1, 500: 1}, 1, 0)
    assert result.verdict()[-2:] == [
        "Other answers: 1 x 500.",
        "1 visit was refused by Lambda, which API Gateway answers 500: more visits at once than "
        "the function's reserved concurrency (1) lets run. Race with --clients 1 or fewer to "
        "see the counter's own answers.",
    ]


@pytest.mark.parametrize(("stage", "status"), [("06", "DISABLED"), (FINAL, "ENABLED")])
def test_point_in_time_recovery(start_stage, stage, status):
    stack = start_stage(stage)
    backups = stack.aws.client("dynamodb").describe_continuous_backups(
        TableName=stack.table().name
    )["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == status


def test_the_url_output_names_the_api_that_serves_the_route():
    template = template_of(FINAL)
    event = template["Resources"]["HelloWorldFunction"]["Properties"]["Events"]["HelloWorld"]
    assert event["Properties"] == {
        "RestApiId": {"Ref": "VisitCounterApi"},
        "Path": "/hello",
        "Method": "get",
    }
    assert template["Outputs"]["HelloWorldApi"]["Value"] == {
        "Fn::Sub": "https://${VisitCounterApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/hello/"
    }


# Smoke tests: against a stack deployed with `sam deploy` (see the README), when given its URL.

DEPLOYED_URL = os.environ.get("WORKSHOP_DEPLOYED_URL", "").strip()
deployed = pytest.mark.skipif(
    not DEPLOYED_URL,
    reason="set WORKSHOP_DEPLOYED_URL to the HelloWorldApi output of a deployed stack to run it",
)


class Browser:
    """A visitor with a cookie jar of their own, which sends the Secure session cookie back.

    Over HTTPS, as on AWS. Browsers also treat 127.0.0.1 and localhost as secure over plain
    HTTP, and so does this jar, so the smoke tests run against `python run.py up` too.
    """

    def __init__(self):
        where = urlsplit(DEPLOYED_URL)
        if where.scheme not in ("http", "https") or not where.hostname:
            pytest.fail(
                f"WORKSHOP_DEPLOYED_URL is {DEPLOYED_URL!r}, not a URL: set it to the "
                "HelloWorldApi output of the deployed stack (https://<id>.execute-api.<region>"
                ".amazonaws.com/Prod/hello/)",
                pytrace=False,
            )
        local = where.hostname in ("127.0.0.1", "localhost")
        secure = ("https", "wss", "http") if local else ("https", "wss")
        jar = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(secure_protocols=secure))
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def visit(self, headers: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(DEPLOYED_URL, headers=headers or {})
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())
        except urllib.error.URLError as error:
            pytest.fail(
                f"nothing answers at WORKSHOP_DEPLOYED_URL ({DEPLOYED_URL}): {error.reason}. Is "
                "the stack deployed, and the URL its HelloWorldApi output?",
                pytrace=False,
            )


@pytest.mark.smoke
@deployed
def test_deployed_counter_counts_each_visitor_apart():
    ana, ben = Browser(), Browser()
    first, again = ana.visit(), ana.visit()
    assert (first[0], again[0]) == (200, 200), (first, again)
    assert first[1]["session_id"] == again[1]["session_id"]
    assert again[1]["visit_count"] == first[1]["visit_count"] + 1
    status, body = ben.visit()
    assert (status, body["visit_count"]) == (200, 1)
    assert body["session_id"] != first[1]["session_id"]


@pytest.mark.smoke
@deployed
def test_deployed_counter_refuses_a_malformed_cookie():
    status, body = Browser().visit({"Cookie": "session_id=user_123"})
    assert status == 400
    assert body["message"].startswith("Malformed session cookie: it has 8 characters, not 22.")
