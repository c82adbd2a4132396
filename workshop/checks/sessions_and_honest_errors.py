"""Each visitor counts on a session of their own, a malformed session id gets 400, and an outage
of DynamoDB gets 503 with Retry-After, its cause in the logs (stage 05 -> 06)."""

from __future__ import annotations

from typing import Any

from workshop.checks.logged_visits import LoggedVisitor
from workshop.checks.story import (
    FIRST_VISIT,
    SESSION,
    error_line,
    greeting,
    printed_lines,
    quote,
    unexpected,
)
from workshop.visitor import get

NEEDS_STACK = True
OUTAGE_PATIENCE = 6.0  # seconds a visit may take to answer during an outage


def _session_id(visitor: LoggedVisitor) -> str:
    return (visitor.cookie or "").partition("=")[2]


def _sessions(stack: Any) -> tuple[LoggedVisitor, list[str]]:
    """Two new visitors, two visits each: (the first visitor, what fails)."""
    first, second = LoggedVisitor(stack), LoggedVisitor(stack)
    for visitor, which in ((first, "first visit"), (second, "first visit of a second visitor")):
        answer, logs = visitor.visit()
        body = answer.json() if isinstance(answer.json(), dict) else {}
        if visitor is second and answer.status == 200 and body.get("visit_count") != 1:
            message, session = body.get("message"), body.get("session_id")
            return first, [
                f'A second visitor, with no cookie, is told "{message}" (session {session}): '
                "every visitor still counts on one session."
            ]
        if answer.status != 200 or body.get("message") != FIRST_VISIT:
            expected = greeting(1, body.get("session_id", "<a new session id>"))
            return first, [unexpected(which, answer, logs, expected)]
    if first.cookie is None or second.cookie is None:
        return first, [
            f"A new visitor is answered 200 {quote(answer.body)} but gets no session cookie "
            "(no Set-Cookie header), so their next visit cannot find their session."
        ]
    if first.cookie == second.cookie:
        return first, [f"Two new visitors get the same session cookie, {first.cookie}."]
    for visitor, which in ((first, "first"), (second, "second")):
        answer, logs = visitor.visit()
        expected = greeting(2, _session_id(visitor))
        if not (answer.status == 200 and answer.json() == expected):
            return first, [
                unexpected(f"second visit of the {which} visitor", answer, logs, expected)
            ]
    return first, []


def check(stack: Any) -> list[str]:
    """What still fails: sessions, a malformed cookie, and an outage of DynamoDB."""
    visitor, problems = _sessions(stack)
    if visitor.answer is None or visitor.answer.status != 200:
        return problems  # a counter that does not answer at all: that comes first

    bad = f"{visitor.cookie.partition('=')[0] if visitor.cookie else 'session_id'}={SESSION}"
    answer = get(visitor.url, bad)
    if answer.status != 400:
        problems.append(
            f"A visit whose cookie is {bad}, the original's id and not one that this counter "
            f"makes, answers {answer.status} {quote(answer.body)}, where a malformed session "
            "id should get 400."
        )

    with stack.aws.dynamodb_outage("throttled"):
        answer, logs = visitor.visit(patience=OUTAGE_PATIENCE)
    during = "While DynamoDB throttles every call, a visit"
    if answer.status == 0:
        problems.append(
            f"{during} still has no answer after {OUTAGE_PATIENCE:g} seconds, where it should "
            "get 503 with a Retry-After header within a few seconds."
        )
    elif answer.status != 503:
        line = error_line(logs)
        problems.append(
            f"{during} answers {answer.status} {quote(answer.body)}"
            + (f" (the logs say `{quote(line)}`)" if line else "")
            + ", where it should get 503 with a Retry-After header."
        )
    elif not answer.retry_after:
        problems.append(
            f"{during} answers 503 but without a Retry-After header: clients cannot tell when "
            "to try again."
        )
    elif not printed_lines(logs):
        problems.append(
            f"{during} answers 503, but the logs do not say why: log the cause, so that an "
            "outage can be told from a bug."
        )
    return problems
