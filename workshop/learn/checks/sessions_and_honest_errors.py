"""Each visitor counts on a session of their own, that nobody can guess, kept while their cookie
lasts; a malformed session cookie gets 400; an outage of DynamoDB gets 503 with Retry-After, its
cause in the logs; and a bug fails as a bug, 502 with its traceback in the logs (stage 05 -> 06)."""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import math
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from workshop.learn.checks import counts_visits_at_once as at_once
from workshop.learn.checks.logged_visits import LoggedVisitor, comes_back_later, empty_table
from workshop.learn.checks.story import (
    ANY_SESSION,
    SESSION,
    delay_or_date,
    greeting,
    is_greeting,
    printed_lines,
    quote,
    unexpected,
    waiting,
)
from workshop.local.api_event import domain_name
from workshop.local.faults import THROTTLED
from workshop.local.iam import FunctionAuthorizer
from workshop.visitor import Answer, Visitor, deletes, get, lifetime, max_age, path_matches

NEEDS_STACK = True
# The error code an SDK reports for each outage of the local AWS: throttling says which kind of
# table (on-demand or provisioned) was throttled; an unavailable DynamoDB answers an HTML 503,
# which botocore reports with the code "503"; an unreachable one closes each connection with no
# answer, which botocore reports as ConnectionClosedError, "Connection was closed before...".
CAUSES = {
    "throttled": tuple(
        THROTTLED[mode][0].rpartition("#")[2] for mode in ("on-demand", "provisioned")
    ),
    "unavailable": ("503",),
    "unreachable": ("ConnectionClosedError", "Connection was closed"),
}
OUTAGE_PATIENCE = 6.0  # seconds a visit may take to answer during an outage
# Each outage of the local AWS (LocalAWS.dynamodb_outage), as a sentence about it begins.
OUTAGES = {
    "throttled": "While DynamoDB throttles every call",
    "unavailable": "While DynamoDB answers every call with 503 Service Unavailable",
    "unreachable": (
        "While DynamoDB cannot be reached (every connection to it closed with no answer)"
    ),
}
# While DynamoDB does not answer, a visit is waited for past the function's Timeout: one that
# waits for ever is then seen to time out (502), and a right one has until its Timeout.
STALL_MARGIN = 2.0  # seconds
NEW_VISITORS = 48  # sessions drawn to judge how guessable their ids are
# OWASP's floor for a session id: 64 bits that an attacker cannot predict.
MIN_ENTROPY_BITS = 64
# What 48 ids show of 64 random bits is 61 to 64 (token_urlsafe(8), token_hex(8), a decimal
# randbits(64)), and of 56 bits 56 at most: refused below 58, so that neither verdict rests on
# the draw (a seeded test checks 200 draws of each).
REFUSED_BELOW_BITS = 58
SAME_SITE = ("lax", "strict")
SHORTEST_SESSION = 24 * 3600  # seconds: a visitor's session outlives a day's break at least
# DynamoDB refuses a partition key of more than 2,048 bytes: an id longer than that is no
# session, and a counter that takes it for one gets a ValidationException (a bug) for its key.
LONGEST_KEY = 2048  # bytes
OTHER_KEY = "key_of_another_app"  # a table keyed on it refuses the counter's keys (a bug)
# Cookies a browser may send beside the session's: another app's JSON, a flag with no value,
# and other apps' cookies whose names end or begin with the session cookie's (a search for
# "name=" in the header, or a name that starts with it, rather than a cookie's whole name, would
# take their value).
OTHER_COOKIES = 'theme={"dark":true}; flag; other_{name}=0; {name}_old=0'


def entropy_bits(ids: list[str]) -> float:
    """About how many unpredictable bits the ids have, judged from the ids alone.

    The ids are aligned on their last character (a number's digits count from the right), and
    each place counts the bits of the values it takes: from how many distinct characters
    `len(ids)` draws gave there, the number of equally likely values that would give as many
    on average, at most every character the ids use. A clock or a counter varies in its last
    digits only; `secrets.token_urlsafe(8)` shows about 63 of its 64 bits.
    """
    alphabet = set("".join(ids))
    if len(ids) < 2 or len(alphabet) < 2:
        return 0.0
    width = max(len(session) for session in ids)
    aligned = [session.rjust(width, "\0") for session in ids]  # \0: no character of theirs
    most = len(set("".join(aligned)))
    return sum(
        math.log2(_values_behind(len({session[place] for session in aligned}), len(ids), most))
        for place in range(width)
    )


def _values_behind(distinct: int, draws: int, most: int) -> float:
    """How many equally likely values `draws` draws take to show `distinct` of them on average
    (at most `most`)."""
    if distinct <= 1:
        return 1.0

    def shown(values: float) -> float:
        return values * (1 - (1 - 1 / values) ** draws)

    if shown(most) <= distinct:
        return float(most)
    low, high = float(distinct), float(most)
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if shown(middle) < distinct else (low, middle)
    return (low + high) / 2


def _value(cookie: str | None) -> str:
    return (cookie or "").partition("=")[2]


def _sessions(stack: Any) -> tuple[LoggedVisitor, list[str], list[str]]:
    """New visitors, a visit each, two of them twice, and the second a third time in a new
    execution environment: (the first visitor, the session ids they were given, what fails).
    The second one's browser speaks HTTP/2, as most do."""
    first, second = LoggedVisitor(stack), LoggedVisitor(stack, http2=True)
    for visitor, which in ((first, "first visit"), (second, "first visit of a second visitor")):
        answer, logs = visitor.visit()
        body = answer.json() if isinstance(answer.json(), dict) else {}
        if visitor is second and answer.status == 200 and body.get("visit_count") != 1:
            session = body.get("session_id")
            shared = (
                f'A second visitor, with no cookie, is told "{body.get("message")}"'
                + (f" (session {session})" if session else "")
                + ": every visitor still counts on one session."
            )
            return first, [], [shared]
        if not is_greeting(answer, 1, None):
            return first, [], [unexpected(which, answer, logs, greeting(1, ANY_SESSION))]
    if first.answer.cookie is None or second.answer.cookie is None:
        cookieless = (
            f"A new visitor is answered 200 {quote(first.answer.body)} but gets no session "
            "cookie (no Set-Cookie header), so their next visit cannot find their session."
        )
        return first, [], [cookieless]
    problems = []
    others = [LoggedVisitor(stack) for _ in range(NEW_VISITORS - 2)]
    for visitor in others:
        visitor.visit()
    ids = [_value(visitor.answer.cookie) for visitor in (first, second, *others)]
    repeated = sorted({session for session in ids if ids.count(session) > 1})
    bits = entropy_bits(ids)
    if repeated:
        problems.append(
            f"Of {len(ids)} new visitors, some got the same session id ({repeated[0]}): "
            "they share one count, and each sees the other's visits."
        )
    elif bits < REFUSED_BELOW_BITS:
        problems.append(
            f"The session ids can be guessed: {len(ids)} new visitors got ids such as "
            f"{ids[0]} and {ids[1]}, with about {bits:.0f} bits that vary at random, where an "
            f"id needs at least {MIN_ENTROPY_BITS} (secrets.token_urlsafe(16) has 128): from "
            "one id, anyone can find others' sessions and count on them."
        )
    apis = {route.api for route in stack.template.routes}  # those that serve the counter
    hosts = {domain_name(stack.template.apis.get(api), stack.aws.region) for api in apis}
    problems += _cookie_attributes(first.answer.set_cookie or "", hosts)
    problems += kept_by_caches(first.answer)
    if not _sent_back(first):
        name = first.answer.cookie.partition("=")[0]
        unsent = (
            f"The session cookie is set with Path={first.browser.path_of(name)}, which does not "
            f"cover the counter's path on AWS, {urlsplit(first.url).path} (API Gateway puts the "
            "stage first): the browser never sends it back, so every visit is a first visit. "
            "Set it with Path=/, which covers every path of the API."
        )
        return first, ids, [*problems, unsent]
    for visitor, which in ((first, "first"), (second, "second")):
        answer, logs = visitor.visit()
        session = _value(visitor.answer and visitor.answer.cookie)
        body = answer.json() if isinstance(answer.json(), dict) else {}
        # The page need not show the session id; if it does, it must be the visitor's own.
        if visitor is second and is_greeting(answer, 1, None):
            problems.append(
                "The second visit of a visitor whose browser speaks HTTP/2 is counted as a "
                "first visit: such a browser names its cookie header `cookie`, in lower case "
                "(RFC 9113, 8.2), and API Gateway passes it on as the browser named it. Header "
                "names are case-insensitive: look for the Cookie header whatever its case."
            )
            break
        if not is_greeting(answer, 2, None) or body.get("session_id", session) != session:
            expected = greeting(2, session)
            problems.append(
                unexpected(f"second visit of the {which} visitor", answer, logs, expected)
            )
            break
    if not problems:
        problems += _set_anew(first, hosts) or _set_anew(second, hosts)
    if not problems:
        problems += _in_another_environment(stack, second)
    if not problems:
        problems += _in_the_url(second)
    if not problems:
        problems += _other_cookies(first)
    return first, ids, problems


def _in_another_environment(stack: Any, visitor: LoggedVisitor) -> list[str]:
    """The visitor's next visit served by a new execution environment, as any visit may be on
    Lambda: it retires idle environments when it will, and every one on a deploy, and starts
    more for visits that come at once. Their session and its count go on there."""
    stack.expire_environments()  # the next visit is a cold start: its init runs anew
    session = _value(visitor.answer and visitor.answer.cookie)
    answer, logs = visitor.visit()
    body = answer.json() if isinstance(answer.json(), dict) else {}
    if is_greeting(answer, 3, None) and body.get("session_id", session) == session:
        return []
    which = "third visit of the second visitor, the first served by a new execution environment,"
    said = (
        f"The {which} is counted as a first visit"
        if is_greeting(answer, 1, None)
        else unexpected(which, answer, logs, greeting(3, session)).removesuffix(".")
    )
    return [
        f"{said}: on another execution environment the visitor's session is lost, and their "
        "count restarts. Lambda may serve any visit from any environment: it retires idle ones "
        "when it will (and all of them on every deploy), and starts more for visits at once. "
        "What makes a session id trusted must be the same in every environment: the table "
        "(or a secret they all read), not one environment's memory or its own /tmp, which a "
        "new environment starts without."
    ]


def kept_by_caches(answer: Answer) -> list[str]:
    """A counted answer must reach no cache: the browser (or a shared cache) would answer the
    next visits with it, uncounted, and a shared one hand its Set-Cookie to other visitors."""
    control = ", ".join(value for key, value in answer.headers if key.lower() == "cache-control")
    directives = {}
    for part in control.split(","):
        name, _, value = part.strip().partition("=")
        directives[name.strip().lower()] = value.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return []
    ages = [directives.get(name, "") for name in ("max-age", "s-maxage")]
    kept = "public" in directives or any(age.isdigit() and int(age) > 0 for age in ages)
    if not kept and not any(name in directives for name in ("max-age", "s-maxage")):
        # Expires counts only without max-age or s-maxage (RFC 9111, 5.3).
        try:
            expires = email.utils.parsedate_to_datetime(answer.header("expires") or "")
        except (TypeError, ValueError):
            expires = None  # a date that cannot be read means already expired
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=datetime.UTC)
        kept = expires is not None and expires.timestamp() > time.time()
    if not kept:
        return []
    said = f"Cache-Control: {control}" if control else f"Expires: {answer.header('expires')}"
    return [
        f"A first visit is answered 200 with `{said}`: a cache may keep that answer, so the "
        "browser shows the kept greeting on the next visits, which never reach the counter and "
        "are not counted, and a shared cache may hand the visitor's Set-Cookie, their session, "
        "to others. Answer a counted visit with Cache-Control: no-store."
    ]


def _in_the_url(visitor: LoggedVisitor) -> list[str]:
    """A visit without a cookie, but with the visitor's session id in its URL's query: it is a
    new visitor, and must not count on that session."""
    name, _, session = (visitor.cookie or "").partition("=")
    answer = get(f"{visitor.url}?{urlencode({name: session})}")
    body = answer.json() if isinstance(answer.json(), dict) else {}
    if answer.status == 200 and (
        body.get("visit_count") != 1 or session and session in answer.body
    ):
        return [
            f"A visit with no cookie, but with ?{name}=<the second visitor's session id> in "
            f'its URL, is told "{body.get("message")}": it counts on that session. Take the '
            "session id from the cookie only: in a URL it ends up in access logs, browser "
            "history and Referer headers, and a link can make a visitor count on a session "
            "that someone else chose (session fixation)."
        ]
    return []


def _sent_back(visitor: LoggedVisitor) -> bool:
    """Whether the browser sends the session cookie back to the counter: its Path covers the
    counter's path on AWS (the stage's, /Prod/hello), as the local URL has it too."""
    name = (visitor.answer and visitor.answer.cookie or "").partition("=")[0]
    path = visitor.browser.path_of(name)
    return path is None or path_matches(urlsplit(visitor.url).path, path)


def _other_cookies(visitor: LoggedVisitor) -> list[str]:
    """The session cookie among others that this counter never set (another app's on the same
    host, a flag without a value): they are left alone, and the session is still found."""
    name = (visitor.cookie or "session_id=").partition("=")[0]
    header = f"{OTHER_COOKIES.replace('{name}', name)}; {visitor.cookie}"
    answer = get(visitor.url, header)
    if not is_greeting(answer, 3, None):
        said = f"{answer.status} {quote(answer.body)}"
        return [
            f"The first visitor's third visit, with other cookies before its own (Cookie: "
            f"{header}), answers {said}, where it should count on: other cookies are left "
            "alone, whatever they hold."
        ]
    return []


def _set_anew(visitor: LoggedVisitor, hosts: set[str]) -> list[str]:
    """What the session cookie lacks where an answer after the first sets it anew (a cookie
    that slides on with each visit): the browser keeps the last one it got, whatever the
    first was."""
    name = (visitor.answer.cookie or "").partition("=")[0] if visitor.answer else ""
    for answer in visitor.answers[1:]:
        for header in answer.set_cookies:
            if name and header.partition("=")[0].strip() == name and not deletes(header):
                problems = _cookie_attributes(header, hosts, "is set anew, on a later visit,")
                if problems:
                    return problems
    return []


def _cookie_attributes(header: str, hosts: set[str], set_as: str = "is set") -> list[str]:
    """What the session cookie lacks: HttpOnly, Secure, SameSite=Lax (or Strict), and a
    lifetime of a day at least; and what makes a browser refuse it: a Domain that is not the
    API's host on AWS (one of `hosts`), or a name's prefix it breaks the rules of
    (RFC 6265, 5.3; RFC 6265bis, 4.1.3). `set_as` says how the answer sets it."""
    attributes = {}
    for part in header.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        attributes[name.strip().lower()] = value.strip().lower()
    refused = _refused_by_browsers(header.partition("=")[0].strip(), attributes, hosts)
    if refused:
        return [f"The session cookie {set_as} as `{quote(header)}`: {refused}."]
    missing = [
        words
        for name, words in (
            ("httponly", "without HttpOnly, so a script injected in the page can read it"),
            ("secure", "without Secure, so the browser sends it over plain HTTP too"),
        )
        if name not in attributes
    ]
    if attributes.get("samesite") not in SAME_SITE:
        missing.append(
            "without SameSite=Lax (or Strict), so other sites' pages can send it with their "
            "requests"
        )
    seconds, age = lifetime(header), max_age(header)
    if seconds is None:
        missing.append(
            "without Max-Age or Expires, so it ends when the browser closes, and a visitor who "
            "comes back the next day counts as a new one (Max-Age=31536000 keeps it a year)"
        )
    elif age is not None and age < SHORTEST_SESSION:
        missing.append(
            f"for {age} seconds only (Max-Age), so a visitor who comes back the next day counts "
            "as a new one"
        )
    elif seconds < SHORTEST_SESSION:
        missing.append(
            f"for {seconds / 3600:.1f} hours only (its Expires date), so a visitor who comes "
            "back the next day counts as a new one (Max-Age=31536000 keeps it a year)"
        )
    if not missing:
        return []
    return [f"The session cookie {set_as} as `{quote(header)}`: {'; '.join(missing)}."]


def _refused_by_browsers(name: str, attributes: dict[str, str], hosts: set[str]) -> str:
    """Why a browser would not keep the cookie at all, or ""."""
    keeps = "so the browser does not keep it, and every visit is a first visit"
    domain = attributes.get("domain", "")
    domain = domain[1:] if domain.startswith(".") else domain  # one leading dot is ignored
    host = ", ".join(sorted(hosts))
    if domain and not any(h.lower() == domain or h.lower().endswith("." + domain) for h in hosts):
        return f"with Domain={domain}, which is not the API's host ({host}), {keeps}"
    if domain and domain not in {h.lower() for h in hosts}:
        # execute-api.<region>.amazonaws.com is on the Public Suffix List (its Amazon API
        # Gateway section, one entry a region), so the API's host is its own registrable
        # domain: browsers refuse a Domain that is a public suffix (RFC 6265, 5.3, step 5) or
        # above the host's registrable domain (Chromium's cookie_util checks both).
        older = (
            "; one whose list of public suffixes is older sends it to every API of the region"
            if domain.startswith("execute-api.")
            else ""
        )
        return (
            f"with Domain={domain}, above the API's host ({host}): a browser refuses a Domain "
            "above the host's registrable domain, which for an API Gateway host is the host "
            f"itself (execute-api.<region>.amazonaws.com is a public suffix), {keeps}{older}"
        )
    if name.lower().startswith("__host-") and (
        "secure" not in attributes or attributes.get("path") != "/" or domain
    ):
        return (
            f"named {name}, which a browser keeps only with Secure, Path=/ and no Domain, {keeps}"
        )
    if name.lower().startswith("__secure-") and "secure" not in attributes:
        return f"named {name}, which a browser keeps only with Secure, {keeps}"
    return ""


def _malformed(visitor: LoggedVisitor) -> list[str]:
    """A cookie that is not a session id this counter makes must get 400."""
    name = (visitor.cookie or "session_id=").partition("=")[0]
    issued = _value(visitor.cookie)
    forged = issued[: len(issued) // 2] + "*" + issued[len(issued) // 2 + 1 :]
    # (value, how it is shown, what it is, how to mend a counter that takes it)
    probes = [(SESSION, SESSION, "the original's id", "")]
    if issued:
        probes.append(
            (forged, forged, "an id of this counter's with one character changed to *", "")
        )
        longer = issued + (issued * (LONGEST_KEY // len(issued) + 1))[:LONGEST_KEY]
        probes.append(
            (
                longer,
                f"{issued}...",
                f"an id of this counter's followed by {LONGEST_KEY:,} more of its characters "
                "(longer than any DynamoDB key may be)",
                ": a value is a session id only if all of it is one, so check the whole value "
                "and its length, not how it begins (a pattern's fullmatch, not match)",
            )
        )
    for value, shown, what, mend in probes:
        # A browser that holds the cookie as the counter set it (its Path), with this value.
        path = visitor.browser.path_of(name) or "/"
        browser = Visitor(visitor.url, f"{name}={value}", cookie_path=path)
        answer = browser.visit()
        if answer.status != 400:
            return [
                f"A visit whose cookie is {name}={shown}, {what}, answers {answer.status} "
                f"{quote(answer.body)}, where a malformed session id should get 400{mend}."
            ]
        body = answer.json()
        if not (isinstance(body, dict) and isinstance(body.get("message"), str)):
            return [
                f"A visit whose cookie is {name}={shown}, {what}, answers 400 "
                f"{quote(answer.body)}, where the caller should get a JSON message that says "
                'what is wrong ({"message": ...}).'
            ]
        again = browser.visit()  # the browser sends what the 400 left it
        if not is_greeting(again, 1, None):
            return [
                f"A visit whose cookie is {name}={shown}, {what}, answers 400 but leaves the "
                f"cookie in the browser (its next visit answers {again.status} "
                f"{quote(again.body)}): the browser sends it, and is refused, on every visit "
                "for a year. Clear it with the answer (Set-Cookie with Max-Age=0, and the Path "
                "it was set with)."
            ]
    return []


def _forgotten(stack: Any, visitor: LoggedVisitor) -> list[str]:
    """A session id the counter made, whose item is gone (a table made anew, a redeployed
    stack): a visitor who comes back with it is counted afresh, not refused for good."""
    empty_table(stack)
    kept = visitor.cookie
    answer, logs = visitor.visit()
    if answer.status == 400 and visitor.cookie != kept:  # refused, and cleared: strict, and right
        answer, logs = visitor.visit()
    if not is_greeting(answer, 1, None):
        return [
            unexpected(
                "visit of a visitor whose session's item is gone (the table made anew)",
                answer,
                logs,
                greeting(1, ANY_SESSION),
            )
            + " A well-formed id that the table does not hold is a first visit (or a 400 "
            "that clears it, so that the next visit is one)."
        ]
    return []


def outages(stack: Any, visitor: LoggedVisitor) -> list[str]:
    """While DynamoDB throttles, fails, or cannot be reached, a visit gets 503, Retry-After, and
    its cause logged."""
    for kind, during in OUTAGES.items():
        codes = CAUSES[kind]
        answer, logs = visit_during_outage(stack, visitor, kind)
        during += ", a visit"
        if answer.status == 0:
            return [
                f"{during} still has no answer after {OUTAGE_PATIENCE:g} seconds, where it "
                "should get 503 with a Retry-After header within a few seconds: the SDK retries "
                "a throttled call for a long while by itself. Give the DynamoDB client few "
                "attempts and short timeouts (botocore's Config: retries, connect_timeout, "
                "read_timeout), and answer 503 once they are spent."
            ]
        if answer.status != 503:
            said = _said(logs, codes)
            return [
                f"{during} answers {answer.status} {quote(answer.body)}{said}, where it should "
                "get 503 with a Retry-After header: DynamoDB cannot count now, and may shortly."
            ]
        if not answer.retry_after:
            return [
                f"{during} answers 503 but without a Retry-After header: clients cannot tell "
                "when to try again."
            ]
        if not delay_or_date(answer.retry_after):
            return [
                f"{during} answers 503 with Retry-After: {answer.retry_after}, which is neither "
                "a number of seconds nor an HTTP date (RFC 9110, 10.2.3): clients cannot read "
                "when to try again."
            ]
        if not any(code in line for line in logs for code in codes):
            return [
                f"{during} answers 503, but the logs do not name its cause ({codes[0]}): log it, "
                "so that an outage can be told from a bug, and one outage from another."
            ]
        body = answer.json()
        if not isinstance(body, dict) or not isinstance(body.get("message"), str):
            return [
                f"{during} answers 503 {quote(answer.body)}, which is not a JSON message "
                '({"message": "..."}) as the counter\'s other answers are: a client that '
                "reads them as JSON fails on this one."
            ]
    return []


def visit_during_outage(
    stack: Any, visitor: LoggedVisitor, kind: str, patience: float = OUTAGE_PATIENCE
) -> tuple[Answer, list[str]]:
    """A visit while DynamoDB has the outage `kind` (one of OUTAGES), waited for `patience`
    seconds: its answer and its logs."""
    waiting(f"{OUTAGES[kind]}: a visit waits for at most {patience:g} s")
    with stack.aws.dynamodb_outage(kind):
        return visitor.visit(patience=patience)


def denying_every_call(stack: Any) -> FunctionAuthorizer:
    """An IAM check that denies each of the function's calls, as a role that allows none (and
    that no table's resource policy names)."""
    function = dataclasses.replace(stack.function(), policies=[], resource_policies={})
    return FunctionAuthorizer(function, stack.aws.region)


def _no_answer(stack: Any, visitor: LoggedVisitor) -> list[str]:
    """While DynamoDB does not answer, a visit gets 503 and Retry-After before the Timeout."""
    during = "While DynamoDB does not answer at all (a stall), a visit"
    patience = stack.function().timeout + STALL_MARGIN
    waiting(
        f"While DynamoDB does not answer at all (a stall): a visit waits for up to {patience:g} s"
    )
    with stack.aws.dynamodb_stall():
        answer, logs = visitor.visit(patience=patience)
    if answer.status == 503 and answer.retry_after:
        return []
    got = (
        f"still has no answer after {patience:g} seconds"
        if answer.status == 0
        else f"answers {answer.status} {quote(answer.body)}{_said(logs, ('Timeout', 'timeout'))}"
    )
    return [
        f"{during} {got}, where it should get 503 with a Retry-After header before the "
        "function's Timeout: give the DynamoDB client timeouts and few attempts "
        "(connect_timeout, read_timeout, total_max_attempts) that end in time, and answer 503 "
        "when they do."
    ]


def _said(logs: list[str], names: tuple[str, ...]) -> str:
    """` (the logs say ...)`: the line that names one of `names`, or the first one printed."""
    lines = printed_lines(logs)
    named = [line for line in lines if any(name in line for name in names)] or lines
    return f" (the logs say `{quote(named[0])}`)" if named else ""


def bugs(stack: Any, visitor: LoggedVisitor) -> list[str]:
    """A denied call, a table name the SDK refuses, a table keyed otherwise, then a missing
    table: each a bug, 502 with its traceback in the logs. The table is left missing."""
    function = stack.function()
    dynamodb, table = stack.aws.client("dynamodb"), stack.table().name
    # The variables that name the table, deployed empty: botocore refuses the call before it
    # sends it, as a TableName must have 1 character at least (ParamValidationError).
    unnamed = {name: "" for name, value in function.environment.items() if value == table}
    problems = []
    for code, during in (
        ("AccessDeniedException", "the function's calls are denied (AccessDeniedException)"),
        (
            "ParamValidationError",
            f"the table's name is deployed empty ({', '.join(unnamed)}), which the SDK refuses "
            "before it sends the call (ParamValidationError)",
        ),
        (
            "ValidationException",
            "the table's key is not the one the code uses (ValidationException)",
        ),
        ("ResourceNotFoundException", "the table is missing (ResourceNotFoundException)"),
    ):
        if code == "AccessDeniedException":
            with stack.intercept_dynamodb(denying_every_call(stack)):
                answer, logs = visitor.visit(patience=OUTAGE_PATIENCE)
        elif code == "ParamValidationError":
            if not unnamed:  # the code names the table itself: no deploy can change it
                continue
            with stack.deployed_with(unnamed):
                # A new visitor: the deploy starts new environments, where a session that only
                # one environment knew is lost, which the session visits tell on their own.
                answer, logs = LoggedVisitor(stack).visit(patience=OUTAGE_PATIENCE)
        else:
            dynamodb.delete_table(TableName=table)
            if code == "ValidationException":  # made anew with another key: a real refusal
                dynamodb.create_table(
                    TableName=table,
                    KeySchema=[{"AttributeName": OTHER_KEY, "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": OTHER_KEY, "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )
            answer, logs = visitor.visit(patience=OUTAGE_PATIENCE)
        said = f"While {during}, a visit answers {answer.status} {quote(answer.body)}"
        if answer.status == 503:
            problems.append(
                f'{said}: a bug is answered as an outage, and "try again" sends visitors back '
                "to it, since no retry mends it. Catch only what means DynamoDB cannot count now "
                "(throttling, a 5xx, no connection); let the rest raise, so that Lambda logs "
                "its traceback and API Gateway answers 502."
            )
        elif answer.status != 502:
            problems.append(
                f"{said}{_said(logs, (code,))}, where a bug should fail as a bug: let it raise, so "
                "that Lambda logs its traceback and API Gateway answers 502."
            )
        elif not any(code in message for message in logs):
            problems.append(
                f"{said}, but the logs do not name {code}: let the error raise, and Lambda "
                "logs its traceback."
            )
        if problems:
            break
    return problems


def check(stack: Any) -> list[str]:
    """What still fails: sessions, a malformed cookie, a visitor who comes back before their
    cookie ends, visits at the same moment (stage 05's), an outage of DynamoDB, and bugs."""
    visitor, ids, problems = _sessions(stack)
    if visitor.answer is None or visitor.answer.status != 200 or not _sent_back(visitor):
        # A counter that does not answer at all, or never gets its cookie back: that comes first.
        return problems
    problems += _malformed(visitor)
    problems += comes_back_later(visitor, session=None)
    problems += _forgotten(stack, visitor)
    if not problems:  # the lesson of the code this exercise starts from must hold still
        lesson = at_once.at_the_same_moment(stack, LoggedVisitor(stack))[0]
        problems += [f"Stage 05's lesson no longer holds: {problem}" for problem in lesson]
    problems += outages(stack, visitor)
    if not problems:  # it waits out most of the Timeout: only once the rest holds
        problems += _no_answer(stack, visitor)
    problems += bugs(stack, visitor)
    problems += _logged_ids(stack, ids)
    return problems


def _logged_ids(stack: Any, ids: list[str]) -> list[str]:
    """No log event of the function holds a session id that a visitor was given."""
    messages = [event.message for event in stack.logs()]
    logged = [session for session in ids if session and any(session in m for m in messages)]
    if not logged:
        return []
    line = next(m for m in messages if logged[0] in m)
    return [
        f"The function's logs hold the session ids of {len(logged)} of the {len(ids)} new "
        f"visitors (such as {logged[0]}, in `{quote(line)}`): a session id is all a visitor "
        "needs to count on a session, so whoever reads the logs can count on anyone's. Log "
        "no session id, nor the request's Cookie header (nor the whole event, which holds it)."
    ]
