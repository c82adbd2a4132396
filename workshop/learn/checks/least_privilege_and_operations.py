"""The function may make only the DynamoDB calls it makes, on its own table; its logs are JSON
and kept for a limited time; the API is throttled, the function's concurrency reserved and the
table recoverable to any second (stage 06 -> 07)."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from moto.iam.access_control import PermissionResult

from workshop.build import samconfig
from workshop.learn.checks.logged_visits import LoggedVisitor
from workshop.learn.checks.story import (
    ANY_SESSION,
    greeting,
    is_greeting,
    ordinal_visit,
    quote,
    unexpected,
)
from workshop.local.api_gateway import ACCOUNT_BURST, ACCOUNT_RATE, throttle_limits
from workshop.local.iam import (
    attribute_names,
    call_context,
    condition_holds,
    decide,
    decide_for,
    granted_by_resources,
    names_action,
    names_resource,
    requested,
)
from workshop.local.sam_template import ACCOUNT_ID, LAMBDA_PRINCIPAL, covers, resource_path
from workshop.types import Api, Function

NEEDS_STACK = True
# Every DynamoDB action a policy may allow: the API's operations (botocore's model), less those
# that IAM authorizes as the item actions they make, and the actions only IAM names.
NOT_ACTIONS = {
    "BatchExecuteStatement",
    "ExecuteStatement",
    "ExecuteTransaction",
    "TransactGetItems",
    "TransactWriteItems",
}
IAM_ONLY_ACTIONS = {
    "ConditionCheckItem",
    "PartiQLDelete",
    "PartiQLInsert",
    "PartiQLSelect",
    "PartiQLUpdate",
}
# Tables the function must not reach: another team's, and another stack's counter (a staging
# stack's, say), whose name differs from its own only in the stack's part.
OTHER_TABLES = ("another-teams-table", "staging-VisitCounterTable-1A2B3C4D5E6F7")
# The actions on items, whose calls always name the key (DynamoDB's guide: a policy on
# dynamodb:Attributes must list the key), and the ReturnValues that each write takes.
ITEM_ACTIONS = {
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchGetItem",
    "BatchWriteItem",
    "ConditionCheckItem",
}
RETURN_VALUES = {
    "PutItem": ("NONE", "ALL_OLD"),
    "DeleteItem": ("NONE", "ALL_OLD"),
    "UpdateItem": ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"),
}
SHOWN = 6  # actions named in a message; the rest are counted
AT_ONCE = 8  # visitors at the same moment that the limits must let through (as `race` sends)
# Lambda's default quota of concurrent executions in an account, and how much of it a function
# may reserve: 100 stay unreserved (Lambda's guide, "Configuring reserved concurrency").
ACCOUNT_QUOTA, RESERVABLE = 1000, 900
# What a counter never needs from other services, each on a resource of the account: a policy
# that allows one of them (a broad managed policy beside the right statement) gives too much.
OTHER_SERVICES = (
    ("s3:GetObject", "arn:aws:s3:::any-bucket/any-key"),
    ("iam:PassRole", "arn:aws:iam::{account}:role/any-role"),
    ("lambda:InvokeFunction", "arn:aws:lambda:{region}:{account}:function:any-function"),
    ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:{region}:{account}:secret:any"),
    ("ssm:GetParameter", "arn:aws:ssm:{region}:{account}:parameter/any"),
    ("kms:Decrypt", "arn:aws:kms:{region}:{account}:key/any"),
    ("sqs:SendMessage", "arn:aws:sqs:{region}:{account}:any"),
    ("sns:Publish", "arn:aws:sns:{region}:{account}:any"),
    ("logs:DeleteLogGroup", "arn:aws:logs:{region}:{account}:log-group:any"),
    # Other functions' logs, beyond what SAM's AWSLambdaBasicExecutionRole gives every function
    # (CreateLogGroup, CreateLogStream and PutLogEvents): to delete them, cut them, or read them.
    ("logs:DeleteLogGroup", "arn:aws:logs:{region}:{account}:log-group:/aws/lambda/any"),
    ("logs:DeleteLogGroup", "arn:aws:logs:{region}:{account}:log-group:/aws/lambda/any:*"),
    ("logs:PutRetentionPolicy", "arn:aws:logs:{region}:{account}:log-group:/aws/lambda/any"),
    ("logs:PutRetentionPolicy", "arn:aws:logs:{region}:{account}:log-group:/aws/lambda/any:*"),
    (
        "logs:GetLogEvents",
        "arn:aws:logs:{region}:{account}:log-group:/aws/lambda/any:log-stream:any",
    ),
    ("sts:AssumeRole", "arn:aws:iam::{account}:role/any-role"),
    ("lambda:GetFunctionConfiguration", "arn:aws:lambda:{region}:{account}:function:any"),
)
# What the function never needs on its own log group, where it only writes (CreateLogStream and
# PutLogEvents, which SAM's AWSLambdaBasicExecutionRole gives it): each on the group's ARN as a
# policy may name it, without and with `:*`, or on a stream of it. With them, its credentials
# could delete its logs, or keep them for less time.
OWN_LOG_GROUP = (
    ("logs:DeleteLogGroup", ("", ":*")),
    ("logs:PutRetentionPolicy", ("", ":*")),
    ("logs:DeleteRetentionPolicy", ("", ":*")),
    ("logs:DeleteLogStream", (":log-stream:any",)),
)
# Other accounts', for the counter's own table name elsewhere: one that shares the first
# digits of its own too (a wildcard after them takes it in).
OTHER_ACCOUNTS = ("210987654321", ACCOUNT_ID[:-1] + str((int(ACCOUNT_ID[-1]) + 1) % 10))
# Other regions, for its own table name elsewhere: one in Europe, one in the US.
OTHER_REGIONS = ("eu-west-1", "us-west-2", "us-east-1")
# What DynamoDB names under a table's ARN (the Service Authorization Reference's resource types
# index, stream, backup and export), each as one of them might be named: a grant on
# `<table ARN>/*` reaches them all, where the counter needs none.
TABLE_PARTS = (
    ("index", "index/any-index"),
    ("stream", "stream/2026-01-01T00:00:00.000"),
    ("backups", "backup/01767225600000-a1b2c3d4"),
    ("exports", "export/01767225600000-a1b2c3d4"),
)


def _as_the_account_s(api: Api, rate: float, burst: int) -> str | None:
    """What is wrong with a throttle whose rate or burst is the account's own, if it is."""
    limits = []
    if api.throttle_rate is None:
        limits.append(f"it sets no rate (ThrottlingRateLimit), which stays the account's {rate:,g}")
    elif rate >= ACCOUNT_RATE:
        limits.append(f"its rate of {rate:,.10g} requests a second is the account's or more")
    if api.throttle_burst is None:
        limits.append(
            f"it sets no burst (ThrottlingBurstLimit), which stays the account's {burst:,}"
        )
    elif burst >= ACCOUNT_BURST:
        limits.append(f"its burst of {burst:,} is the account's or more")
    if not limits:
        return None
    return (
        "The API's throttling leaves "
        + ("its rate and its burst" if len(limits) == 2 else "part of it")
        + f" at API Gateway's own limit for the whole account ({ACCOUNT_RATE:,g} requests a "
        f"second, bursts of {ACCOUNT_BURST:,}, shared by all its APIs), which was there without "
        f"it: {' and '.join(limits)}. Set both, to what this counter's busiest moment needs."
    )


def _unthrottled(template: Any, apis: list[Api], limited: list[Api]) -> str:
    """Why an API that serves the function's routes (`apis`) is not throttled."""
    unlimited = [api for api in apis if api not in limited]
    routes = ", ".join(
        f"{r.method} {r.path}" for r in template.routes if r.api == unlimited[0].logical_id
    )
    if limited:
        return (
            f"The API {unlimited[0].logical_id} has no throttling, and serves {routes} too: "
            "a flood of requests reaches the function through it. Throttle every API that "
            "serves the function (or serve it from the throttled one: a route's RestApiId)."
        )
    missed = [api for api in unlimited if api.throttles]  # entries, none of them its routes'
    if missed:
        (path, method), *_ = missed[0].throttles[0]
        return (
            f"The API has no throttling of its routes: its MethodSettings throttle {method} "
            f"{resource_path(path)}, and the routes are {routes}. Name a route's method and "
            'path, or every one: HttpMethod "*" and ResourcePath "/*".'
        )
    elsewhere = [api for api in template.apis.values() if api.throttles and api not in apis]
    if elsewhere:
        serving = ", ".join(sorted(api.logical_id for api in apis))
        return (
            f"The API has no throttling: the throttled one, {elsewhere[0].logical_id}, serves "
            f"no route, and the routes ({routes}) are served by {serving}. A route's "
            "RestApiId names the API that serves it (without one, SAM's ServerlessRestApi)."
        )
    return (
        "The API has no throttling (MethodSettings ThrottlingRateLimit and "
        "ThrottlingBurstLimit): any flood of requests reaches the function."
    )


def _closed_door(stack: Any) -> str | None:
    """Why API Gateway refuses every visitor's request for the route the visits take (the
    first without a path parameter, as Stack.url), before the function runs; None if it
    refuses none."""
    routes = stack.template.routes
    route = next((r for r in routes if "{" not in r.path), routes[0])
    api = stack.template.apis[route.api]
    if api.execute_api_disabled:
        return (
            f"The API {api.logical_id} has its default endpoint disabled "
            "(DisableExecuteApiEndpoint: true): https://<api id>.execute-api.<region>."
            "amazonaws.com, the address of the stack's own output and of every visitor, answers "
            "each request 403 before the function runs; only a custom domain name would reach "
            "the API. Leave DisableExecuteApiEndpoint out."
        )
    if route.authorization == "AWS_IAM":
        return (
            f"{route.method} {route.path} requires IAM authorization (Auth AWS_IAM): API "
            "Gateway refuses every request that is not signed with AWS credentials (SigV4), and "
            "a visitor's browser signs none. Leave the authorizer out: the counter is a public "
            "page, and least privilege narrows what its function may call."
        )
    if route.api_key_required:
        return (
            f"{route.method} {route.path} requires an API key (Auth ApiKeyRequired: true): API "
            "Gateway refuses every request without a valid x-api-key header, and a visitor's "
            "browser sends none. The API's throttling (MethodSettings) limits every visitor, "
            "with no key: leave ApiKeyRequired out."
        )
    return None


def _throttled_first(stack: Any) -> str:
    """Why API Gateway throttled a visit before the function ran, at the first visits."""
    route = next((r for r in stack.template.routes if "{" not in r.path), None)
    api = stack.template.apis.get(route.api) if route else None
    burst = f" (a burst of {api.throttle_burst})" if api and api.throttle_burst is not None else ""
    return (
        f"API Gateway answered 429 before the function ran: the API's throttling{burst} "
        "lets no visit through at a quiet moment. A burst (ThrottlingBurstLimit) is how many "
        "requests it lets through at one moment: it must be above 0, and the rate above 0."
    )


def _the_policy(function: Function, actions: list[str], resource: str) -> str:
    """ "The function's policy", naming the policies on its role that grant some of `actions`
    on `resource`, and the tables' resource policies that do: a grant made outside its Policies
    is found there."""
    granting = [
        name
        for index, name in function.attached.items()
        if any(
            decide([function.policies[index]], action, resource) == PermissionResult.PERMITTED
            for action in actions
        )
    ]
    own = "The function's policy" + (
        f" (with {_listed(granting)}, which the stack attaches to its role)" if granting else ""
    )
    tables = sorted(
        {
            table
            for action in actions
            for verdict, table in [granted_by_resources(function, action, resource)]
            if verdict == PermissionResult.PERMITTED and table
        }
    )
    if not tables:
        return own
    theirs = (
        f"the ResourcePolicy of {_listed(tables)} (its Principal takes in the function's role, "
        "and within one account a resource's policy grants on its own)"
    )
    if any(decide(function.policies, a, resource) == PermissionResult.PERMITTED for a in actions):
        return f"{own}, and {theirs},"
    return theirs[0].upper() + theirs[1:]


def why_refused(
    policies: list[Any], action: str, resource: str, request: dict[str, Any] | None = None
) -> str:
    """What in the function's policies refuses `action` on `resource` (by `request`): a
    sentence."""
    if decide(policies, action, resource, request) == PermissionResult.DENIED:
        return f"A Deny in the function's policy refuses {action} on {resource}."
    elsewhere: list[str] = []
    unmet: list[str] = []
    left_out = False
    for statement in _statements(policies):
        if statement.get("Effect") != "Allow" or not _names(statement, action):
            continue
        if "NotResource" in statement:
            covered = not names_resource(resource, statement["NotResource"])
            left_out = left_out or not covered
        else:
            covered = names_resource(resource, statement.get("Resource"))
            if not covered:
                elsewhere += [str(named) for named in _as_list(statement.get("Resource"))]
        condition = statement.get("Condition") or {}
        if covered and condition_holds(condition, call_context(action, resource, request)) is False:
            unmet.append(json.dumps(condition))
    if unmet:
        context = call_context(action, resource, request)
        call = "it goes over HTTPS, to the table's own region"
        if "aws:viaawsservice" in unmet[0].lower():
            call += ", made by the function itself, not by a service on its behalf"
        if "dynamodb:returnvalues" in unmet[0].lower():
            call += f", asking for ReturnValues {context['dynamodb:returnvalues']}"
        if "dynamodb:attributes" in unmet[0].lower() and context["dynamodb:attributes"]:
            call += f", naming the attributes {_listed(context['dynamodb:attributes'])}"
        return (
            f"The statement that allows {action} on {resource} has a Condition that the "
            f"handler's call does not meet ({unmet[0]}): {call}."
        )
    if left_out:
        return (
            f"The statement that allows {action} leaves {resource} out (NotResource): name the "
            "table under Resource (!GetAtt VisitCounterTable.Arn)."
        )
    if elsewhere:
        return (
            f"The function's policy allows {action} only on {_listed(sorted(set(elsewhere)))}, "
            f"and the handler calls it on {resource}: name the table by its real ARN "
            "(!GetAtt VisitCounterTable.Arn)."
        )
    return (
        f"No statement of the function's policy allows {action}, which the handler calls: "
        "allow it on the table's real ARN (!GetAtt VisitCounterTable.Arn)."
    )


def _why_refused_to(
    function: Function, action: str, resource: str, request: dict[str, Any] | None = None
) -> str:
    """What refuses the function's call: a Deny in a table's resource policy, or what
    why_refused finds in its own policies."""
    verdict, table = granted_by_resources(function, action, resource, request)
    if verdict == PermissionResult.DENIED:
        return f"A Deny in the ResourcePolicy of {table} refuses {action} on {resource}."
    return why_refused(function.policies, action, resource, request)


def _attributes_in_conditions(policies: list[Any]) -> set[str]:
    """The attribute names the policies' conditions on dynamodb:Attributes list."""
    found: set[str] = set()
    for statement in _statements(policies):
        condition = statement.get("Condition")
        for tests in condition.values() if isinstance(condition, dict) else ():
            for key, values in tests.items() if isinstance(tests, dict) else ():
                if str(key).lower() == "dynamodb:attributes":
                    found.update(map(str, values if isinstance(values, list) else [values]))
    return found


def _statements(policies: list[Any]) -> list[dict[str, Any]]:
    """Every statement of the policies (a lone statement, not in a list, too)."""
    statements = []
    for document in policies:
        found = document.get("Statement") if isinstance(document, dict) else None
        statements += [s for s in _as_list(found) if isinstance(s, dict)]
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _names(statement: dict[str, Any], action: str) -> bool:
    """Whether a statement's Action (or NotAction) takes in `action`, as IAM reads them."""
    if "NotAction" in statement:
        return not names_action(action, statement["NotAction"])
    return names_action(action, statement.get("Action"))


def dynamodb_actions() -> list[str]:
    """Every IAM action of DynamoDB, as dynamodb:Name: its streams' API's too (GetRecords...),
    which IAM names with the same prefix."""
    import botocore.session

    session = botocore.session.get_session()
    names = set().union(
        *(session.get_service_model(api).operation_names for api in ("dynamodb", "dynamodbstreams"))
    )
    return [f"dynamodb:{name}" for name in sorted((names - NOT_ACTIONS) | IAM_ONLY_ACTIONS)]


def _listed(actions: list[str]) -> str:
    if len(actions) > SHOWN:
        return ", ".join(actions[: SHOWN - 1]) + f" and {len(actions) - SHOWN + 1} more"
    return actions[0] if len(actions) == 1 else ", ".join(actions[:-1]) + " and " + actions[-1]


def check(stack: Any, seen: Collection[str] = (), reached: Collection[str] = ()) -> list[str]:
    """What still fails: the policy against the calls the handler made (here, and the actions
    `seen` elsewhere, on the resources `reached` there), then operations."""
    visitor = LoggedVisitor(stack)
    printed: list[str] = []
    called: set[str] = set(seen)
    requests: list[tuple[str, str, dict[str, Any]]] = []  # of each call: see iam.requested
    function = stack.function()

    def watch(target: str, body: dict[str, Any]) -> None:
        operation = target.rsplit(".", 1)[-1]
        requests.extend(requested(operation, body, stack.aws.region))
        called.update(action for action, *_ in requests)

    with stack.intercept_dynamodb(watch):
        for count in (1, 2):
            answer, logs = visitor.visit()
            if not is_greeting(answer, count, None):
                expected = greeting(count, ANY_SESSION)
                problem = unexpected(ordinal_visit(count), answer, logs, expected)
                refused = [
                    need
                    for need in requests
                    if decide_for(function, *need) != PermissionResult.PERMITTED
                ]
                if refused:
                    problem += " " + _why_refused_to(function, *refused[0])
                elif answer.status == 403 and not logs and (door := _closed_door(stack)):
                    problem += " " + door
                elif answer.status == 429 and not logs:
                    problem += " " + _throttled_first(stack)
                return [problem]
            printed += logs
    tables = f"arn:aws:dynamodb:{stack.aws.region}:{ACCOUNT_ID}:table/"
    table = tables + stack.table().name

    actions = dynamodb_actions()

    # The calls an action may be asked in, for the conditions on them: naming its key only,
    # every attribute the handler's calls named, or one more (dynamodb:Attributes; an item's
    # action names its key at least, so only another names none), and with each ReturnValues
    # it takes. A policy that allows an action in any of them allows it.
    named = sorted({name for *_, request in requests for name in attribute_names(request)})
    keys = [part["AttributeName"] for part in stack.table().key_schema]
    listed = sorted(_attributes_in_conditions(function.policies))  # ForAnyValue's, say
    names = [keys, named, [*named, "any_attribute", *listed]]

    def probes(action: str) -> list[dict[str, Any] | None]:
        asked = [{"AttributesToGet": these} for these in names]
        if action.removeprefix("dynamodb:") not in ITEM_ACTIONS:
            asked.insert(0, None)
        returns = RETURN_VALUES.get(action.removeprefix("dynamodb:"), ())
        return asked + [{**call, "ReturnValues": value} for call in asked for value in returns]

    def allowed(resource: str) -> list[str]:
        return [
            action
            for action in actions
            if any(
                decide_for(function, action, resource, probe) == PermissionResult.PERMITTED
                for probe in probes(action)
            )
        ]

    problems = []
    unused = [action for action in allowed(table) if action not in called]
    harmful = ("dynamodb:Scan", "dynamodb:DeleteItem")
    # The harm it names, first; the rest in their order.
    unused.sort(key=lambda action: harmful.index(action) if action in harmful else len(harmful))
    if unused:
        calls = _listed(sorted(called)) if called else "none of them"
        harm = [
            words
            for action, words in (
                ("dynamodb:Scan", "a Scan reads every visitor's session id"),
                ("dynamodb:DeleteItem", "a DeleteItem erases any count"),
            )
            if action in unused
        ]
        problems.append(
            f"{_the_policy(function, unused, table)} still allows {_listed(unused)} on its "
            "table, where the "
            f"handler calls only {calls}"
            + (f": with the function's credentials, {_listed(harm)}." if harm else ".")
        )
    for what, part in TABLE_PARTS:
        resource = f"{table}/{part}"
        beneath = [action for action in allowed(resource) if action not in called]
        if beneath:
            problems.append(
                f"{_the_policy(function, beneath, resource)} allows {_listed(beneath)} on its "
                f"table's {what} too (such as {resource}), which the handler never reaches."
            )
            break
    # Other tables: the template's others that the handler never reached, other names (one that
    # starts as its own does, as a wildcard after its ARN allows), and its own name in another
    # region and in another account.
    name, region = stack.table().name, stack.aws.region
    reached = {resource for _, resource, _ in requests} | set(reached)
    of_the_stack = [  # the template's other tables, first: a grant on them is easy to miss
        tables + other.name
        for other in stack.template.tables.values()
        if tables + other.name != table and tables + other.name not in reached
    ]
    others = [
        *of_the_stack,
        *(tables + other for other in (*OTHER_TABLES, f"{name}-archive")),
        *(f"arn:aws:dynamodb:{r}:{ACCOUNT_ID}:table/{name}" for r in OTHER_REGIONS if r != region),
        *(f"arn:aws:dynamodb:{region}:{a}:table/{name}" for a in OTHER_ACCOUNTS),
    ]
    for other in others:
        elsewhere = allowed(other)
        if elsewhere:
            problems.append(
                f"{_the_policy(function, elsewhere, other)} allows {_listed(elsewhere)} on "
                "other tables too, such "
                f"as {other}, where only its own table ({table}) is needed."
            )
            break
    group = f"arn:aws:logs:{stack.aws.region}:{ACCOUNT_ID}:log-group:{function.log_group}:*"
    streams = group.removesuffix("*") + "log-stream:*"  # what PutLogEvents acts on
    silenced = [
        action
        for action, resource in (("logs:CreateLogStream", group), ("logs:PutLogEvents", streams))
        if PermissionResult.DENIED
        in (decide(function.policies, action, group), decide(function.policies, action, resource))
    ]
    if silenced:
        problems.append(
            f"The function's policy denies {_listed(silenced)} on its log group: on AWS the "
            "function could write no log line at all. Deny only what it must never do."
        )
    # SAM's own role has AWSLambdaBasicExecutionRole, which the harness does not list among
    # the policies: a role of the stack has only what the template gives it.
    if function.role != f"{function.logical_id}Role":
        unwritten = [
            action
            for action, resource in (
                ("logs:CreateLogStream", group),
                ("logs:PutLogEvents", streams),
            )
            if decide(function.policies, action, resource) != PermissionResult.PERMITTED
        ]
        if unwritten:
            problems.append(
                f"The function's role, {function.role}, does not allow {_listed(unwritten)} on "
                "its log group: on AWS the function could write no log line at all. Give the "
                "role what SAM gives its own (the AWSLambdaBasicExecutionRole managed policy)."
            )
    erasing = list(
        dict.fromkeys(  # an action tried on two forms of its resource is named once
            action
            for action, suffixes in OWN_LOG_GROUP
            for suffix in suffixes
            if decide(function.policies, action, group.removesuffix(":*") + suffix)
            == PermissionResult.PERMITTED
        )
    )
    if erasing:
        problems.append(
            f"{_the_policy(function, erasing, group)} allows {_listed(erasing)} on the "
            f"function's own log group ({function.log_group}), where it only writes: with the "
            "function's credentials, its logs can be deleted, or kept for less time, and with "
            "them the trace of what was done with those credentials."
        )
    beyond = list(
        dict.fromkeys(  # an action tried on two forms of its resource is named once
            action
            for action, resource in OTHER_SERVICES
            if decide(
                function.policies,
                action,
                resource.format(account=ACCOUNT_ID, region=stack.aws.region),
            )
            == PermissionResult.PERMITTED
        )
    )
    beyond += [action for action in _other_services(function.policies) if action not in beyond]
    if beyond:
        problems.append(
            f"The function's policy also allows {_listed(beyond)}, calls of other services "
            "that the handler never makes: a function's policy should hold only what it calls."
        )
    if function.trusted:
        problems.append(
            f"The function's role ({function.role}) lets {_listed(function.trusted)} assume it "
            "too, beside Lambda (its AssumeRolePolicyDocument): whoever that stands for (for an "
            "account, any of its users and roles that may call sts:AssumeRole) can act with the "
            "function's credentials, and do all it may. Let only the service "
            f"{LAMBDA_PRINCIPAL} assume the role."
        )
    problems += _operations(stack, printed)
    return problems


# Services whose actions a counter's policy may hold: its table's, and its logs' (SAM's
# AWSLambdaBasicExecutionRole, which the role has anyway; the log group is judged above).
OWN_SERVICES = ("dynamodb", "logs")
ON_FAILURE = ("ROLLBACK", "DELETE", "DO_NOTHING")  # what sam deploy's --on-failure takes
CLICK_TRUE = ("1", "true", "t", "yes", "y", "on")  # click's BoolParamType's words for true


def _other_services(documents: list[Any]) -> list[str]:
    """The actions of other services that the policies allow, as written (a NotAction in an
    Allow as `all but ...`): whichever service, not only those OTHER_SERVICES samples."""
    found: list[str] = []
    for statement in _statements(documents):
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            found.append(f"every action but {statement['NotAction']}")
            continue
        for action in _as_list(statement.get("Action")):
            service = str(action).partition(":")[0].lower()
            if service not in OWN_SERVICES and str(action) not in found:
                found.append(str(action))
    return found


def _operations(stack: Any, printed: list[str]) -> list[str]:
    """What running the counter in production needs, read from the running stack."""
    function, table = stack.function(), stack.table().name
    problems = []
    # Judged by what the visits logged; where they logged nothing (SystemLogLevel WARN drops
    # the START and END lines), by the format the function is told to log in.
    if (
        not any(_is_json_record(message) for message in printed)
        if printed
        else function.logging_config.get("LogFormat") != "JSON"
    ):
        problems.append(
            "The function's logs are plain text, such as "
            f"`{quote(printed[0].splitlines()[0]) if printed else 'START RequestId: ...'}`, "
            "where JSON records (LoggingConfig LogFormat: JSON) can be queried field by field."
        )
    logs = stack.aws.client("logs")
    groups = logs.describe_log_groups(logGroupNamePrefix=function.log_group)["logGroups"]
    retention = [
        g.get("retentionInDays") for g in groups if g["logGroupName"] == function.log_group
    ]
    kept = [
        (name, props["RetentionInDays"])
        for name, props in stack.template.log_groups.items()
        if name != function.log_group and props.get("RetentionInDays")
    ]
    if (not retention or not retention[0]) and kept:
        group, days = kept[0]
        guessed = group == f"/aws/lambda/{stack.template.stack_name}-{function.logical_id}"
        problems.append(
            f"The stack makes the log group {group}, kept {days} days, but the function writes "
            f"to {function.log_group}, which Lambda makes at the first visit and keeps for ever"
            + (
                f": the function's name ends with CloudFormation's suffix ({function.name}), so "
                "a group named after the name without it stays empty"
                if guessed
                else ""
            )
            + ". Point the function at the stack's group: LoggingConfig LogGroup, a !Ref to it."
        )
    elif not retention or not retention[0]:
        problems.append(
            f"The function's log group, {function.log_group}, keeps its logs for ever (no "
            "RetentionInDays), and every day kept is paid for."
        )
    # The APIs that serve the function's routes: a throttled API that no route uses limits nothing.
    used = {route.api for route in stack.template.routes}
    apis = [api for name, api in stack.template.apis.items() if name in used]
    limited = [(api, limits) for api in apis if (limits := throttle_limits(api)) is not None]
    if len(limited) < len(apis):  # each API that serves a route, throttled
        problems.append(_unthrottled(stack.template, apis, [api for api, _ in limited]))
    # The harness serves no function URL: one open to anyone is read from the template.
    public = [fn.logical_id for fn in stack.template.functions.values() if fn.url_auth == "NONE"]
    if public:
        problems.append(
            f"The function {public[0]} has a public function URL (FunctionUrlConfig AuthType: "
            "NONE): anyone can call it at its own address (https://<url id>.lambda-url."
            "<region>.on.aws/) without API Gateway, where the API's throttling does not apply, "
            "so a flood of requests reaches the function. Leave FunctionUrlConfig out: the API "
            "is the counter's one way in."
        )
    for fn in stack.template.functions.values():
        for permission in fn.permissions:
            if opened := _open_permission(fn, *permission):
                problems.append(opened)
                break
    traced = [api.logical_id for api in apis if api.data_trace]
    if traced:
        problems.append(
            f"The API {traced[0]} logs every request in full (MethodSettings DataTraceEnabled: "
            "true): its execution logs then hold each request's headers, the visitor's Cookie "
            "among them, so every session id, for anyone who reads the logs to take over a "
            "session. AWS advises against full request logs for production APIs: leave "
            "DataTraceEnabled out."
        )
    # A stage's cache answers a GET from the cache for CacheTtlInSeconds, 300 by default (API
    # Gateway's guide, Cache settings for REST APIs); the harness serves none, so it is read here.
    cached = [
        api.logical_id
        for api in apis
        for route in stack.template.routes
        if route.api == api.logical_id and any(covers(scope, route) for scope in api.cached)
    ]
    if cached:
        problems.append(
            f"The API {cached[0]} answers the function's route from its stage's cache "
            "(CacheClusterEnabled, MethodSettings CachingEnabled): for the cache's time to live "
            "(300 seconds unless CacheTtlInSeconds says otherwise) every visitor gets the first "
            "visitor's answer, so the count stops rising. Leave caching off."
        )
    for api, (rate, burst) in limited:
        if api.extra_stage:
            problems.append(
                f"The throttled API is also deployed to a stage named `{api.extra_stage}`, which "
                "SAM adds when the Api sets no OpenApiVersion: its MethodSettings do not limit "
                f"that stage, so a flood of requests to .../{api.extra_stage}/... reaches the "
                'function. Set OpenApiVersion ("3.0.1", say) on the Api, or in the Api of '
                "Globals."
            )
        if problem := _as_the_account_s(api, rate, burst):
            problems.append(problem)
        if burst < AT_ONCE:
            problems.append(
                f"The API's throttling lets {burst} requests through at one moment "
                f"(ThrottlingBurstLimit): of {AT_ONCE} visitors at the same moment, the others "
                "get 429. A limit is for floods, not for a busy moment."
            )
    if function.reserved_concurrency is None:
        problems.append(
            "The function has no reserved concurrency (ReservedConcurrentExecutions): a flood "
            "can take every execution environment the account has."
        )
    elif function.reserved_concurrency > RESERVABLE:
        problems.append(
            f"The function's reserved concurrency of {function.reserved_concurrency} cannot be "
            f"deployed to an account at Lambda's default quota of {ACCOUNT_QUOTA} concurrent "
            f"executions: Lambda keeps {ACCOUNT_QUOTA - RESERVABLE} of them unreserved."
        )
    elif function.reserved_concurrency < AT_ONCE:
        problems.append(
            f"The function's reserved concurrency of {function.reserved_concurrency} lets "
            f"fewer than {AT_ONCE} visitors at the same moment through: Lambda throttles the "
            "others, and API Gateway answers them 500."
        )
    # Read as the stack was started: an invalid config (`disable_rollback = False`) stops it.
    deploy = samconfig.parameters(stack.project_dir, "deploy")
    on_failure = deploy.get("on_failure", "ROLLBACK")
    # sam deploy's --on-failure is a case-sensitive choice (samcli.commands.deploy.command).
    if on_failure not in ON_FAILURE:
        problems.append(
            f"The project's samconfig sets on_failure = {on_failure!r}, which sam deploy "
            f"refuses (it takes {', '.join(ON_FAILURE)}, written so): the deploy does not run."
        )
    keeps = [
        setting
        for setting, value in (
            # SAM CLI hands the value to click's boolean, which reads "true", "yes", 1 as true.
            (
                "disable_rollback = true",
                str(deploy.get("disable_rollback")).strip().lower() in CLICK_TRUE,
            ),
            ('on_failure = "DO_NOTHING"', on_failure == "DO_NOTHING"),
        )
        if value
    ]
    if keeps:
        problems.append(
            f"The project's samconfig.toml keeps a failed deploy as it is ({keeps[0]}): its "
            "half-made resources stay in the account, where a rollback removes them."
        )
    level = str(function.logging_config.get("ApplicationLogLevel", "")).upper()
    if level == "FATAL":
        problems.append(
            "The function's ApplicationLogLevel is FATAL: Lambda drops its ERROR records, "
            "among them the cause of an outage that stage 06 logs."
        )
    backups = stack.aws.client("dynamodb").describe_continuous_backups(TableName=table)
    recovery = backups["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
    if recovery.get("PointInTimeRecoveryStatus") != "ENABLED":
        problems.append(
            f"The table {table} has no point-in-time recovery "
            "(PointInTimeRecoverySpecification): a bad write or a deleted item is lost for good."
        )
    return problems


def _open_permission(
    function: Function, logical_id: str, action: Any, principal: Any, source: Any, account: Any
) -> str | None:
    """Why an AWS::Lambda::Permission lets others than this API invoke the function, if it
    does: anyone ("*"), another account, or a service without a SourceArn, which any of its
    resources, in any account (or in SourceAccount), may then be."""
    if not names_action("lambda:InvokeFunction", action):
        return None
    principal = str(principal)
    owner = principal.removeprefix("arn:aws:iam::").removesuffix(":root")
    if principal == "*":
        who = "anyone with AWS credentials, of any account"
    elif owner.isdecimal() and owner != ACCOUNT_ID:
        who = f"any user or role of the account {owner} that its own policies allow"
    elif principal.endswith(".amazonaws.com") and source is None:
        service = principal.removesuffix(".amazonaws.com")
        where = f"the account {account}" if account is not None else "any account"
        what = "any API" if service == "apigateway" else f"any resource of {service}"
        who = f"{what} of {where} (it names the service {principal} without a SourceArn)"
    else:
        return None
    return (
        f"The function {function.logical_id} may be invoked by {who}: the "
        f"AWS::Lambda::Permission {logical_id} grants it lambda:InvokeFunction. Such a call "
        "reaches the function without this API, where the API's throttling does not apply, "
        "so a flood of requests reaches the function. Leave the Permission out (SAM grants the "
        "API its own, from the function's Api event, with the API's SourceArn), or give it the "
        "SourceArn of this API's methods."
    )


def _is_json_record(message: str) -> bool:
    try:
        return isinstance(json.loads(message), dict)
    except ValueError:
        return False
