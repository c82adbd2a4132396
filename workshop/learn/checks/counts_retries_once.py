"""A visit whose update DynamoDB applied but answered late counts once (stage 07 -> 08).

The local AWS stalls DynamoDB's writes (LocalAWS.dynamodb_stall): each is applied at once, and
its answer held. First while a retry can still be answered in time: the stall ends as soon as
the visit's second write arrives (the SDK, or the handler, gave up waiting for the first), and
the visit must answer 200 and count once. Then the same, while another visit of the session (a
second tab) counts between the held write and its retry: each must count once. Then while no
attempt can be answered: the stall holds every write until the visit is answered, and the visit
must answer 503 and count at most once. How much a visit counted is read as its visitor reads
it: from the next visit's count.
"""

from __future__ import annotations

import http.client
import threading
from typing import Any

from workshop.errors import WorkshopError
from workshop.learn.checks.logged_visits import LoggedVisitor
from workshop.learn.checks.story import count_of, greeting, ordinal_visit, quote, unexpected
from workshop.visitor import Answer, get

NEEDS_STACK = True
# The writes whose answers the stall holds: a read answered late is retried harmlessly.
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
PATIENCE = 40.0  # seconds a held visit may take: more than API Gateway's 29 s (then 504)
LATE = "whose update DynamoDB applied at once but answered late"


def _session(answer: Answer) -> str:
    body = answer.json()
    return str(body.get("session_id", "")) if isinstance(body, dict) else ""


def _visit(visitor: LoggedVisitor, number: int) -> tuple[int | None, str | None]:
    """Visit number `number`, as DynamoDB answers in time: (its count, or what is wrong)."""
    answer, logs = visitor.visit(patience=PATIENCE)
    count = count_of(answer)
    if count != number:
        expected = greeting(number, _session(answer) or "<the visitor's session id>")
        return count, unexpected(ordinal_visit(number), answer, logs, expected)
    return count, None


def _held_visit(stack: Any, visitor: LoggedVisitor, retry_in_time: bool) -> tuple[Answer, list]:
    """One visit while DynamoDB holds the answers to writes: (answer, the logs it left).

    With `retry_in_time`, the stall ends when a second write arrives; else only when the visit
    has been answered.
    """
    if not stack.aws.embedded:
        raise WorkshopError("this check needs the embedded local AWS (unset AWS_ENDPOINT_URL)")
    answers: list[tuple[Answer, list[str]]] = []
    visiting = threading.Thread(
        target=lambda: answers.append(visitor.visit(patience=PATIENCE)), daemon=True
    )
    with stack.aws.dynamodb_stall(operations=WRITES) as stall:
        visiting.start()
        while visiting.is_alive() and not (retry_in_time and stall.wait_for_held(2, 0.05)):
            visiting.join(0.05)
    visiting.join(PATIENCE)
    return answers[0] if answers else (Answer(0, "no answer"), [])


def _two_tabs(stack: Any, visitor: LoggedVisitor) -> list[Answer]:
    """Visit A, whose write is applied and its answer held, and visit B of the same session,
    whose write is applied before A's retry: [A's answer, B's answer].

    The retry is the write that repeats A's request; it is held back until B's write has been
    applied, so the order does not rest on how fast B's execution environment starts.
    """
    answers: dict[str, Answer] = {}
    first: list[dict[str, Any]] = []

    def visit(tab: str) -> threading.Thread:
        def go() -> None:
            try:
                answers[tab] = get(visitor.url, visitor.cookie, timeout=PATIENCE)
            except (OSError, http.client.HTTPException) as error:
                answers[tab] = Answer(0, f"no answer ({error})")

        thread = threading.Thread(target=go, daemon=True)
        thread.start()
        return thread

    with stack.aws.dynamodb_stall(operations=WRITES) as stall:

        def retry_after_b(target: str, body: dict[str, Any]) -> None:
            if target.rsplit(".", 1)[-1] not in WRITES:
                return
            if not first:
                first.append(body)
            elif body == first[0]:
                stall.wait_for_held(2, PATIENCE)

        with stack.intercept_dynamodb(retry_after_b):
            tab_a = visit("A")
            if stall.wait_for_held(1, PATIENCE):
                tab_b = visit("B")
                while (tab_a.is_alive() or tab_b.is_alive()) and not stall.wait_for_held(3, 0.05):
                    pass
            else:
                tab_b = visit("B")
    for tab in (tab_a, tab_b):
        tab.join(PATIENCE)
    return [answers.get(tab, Answer(0, "no answer")) for tab in ("A", "B")]


def check(stack: Any) -> list[str]:
    """What still fails: a late answer that makes an update count twice, or answer 503."""
    visitor = LoggedVisitor(stack)
    for number in (1, 2):
        _, problem = _visit(visitor, number)
        if problem:
            return [problem]

    # Within the retries: the first write is applied, its answer late; the retry is answered.
    answer, logs = _held_visit(stack, visitor, retry_in_time=True)
    if answer.status == 503:
        return [
            f"The third visit, {LATE}, answers 503, where a retry of the update, answered in "
            f"time, should count the visit once and answer 200: {quote(answer.body)}."
        ]
    if answer.status != 200:
        which = f"third visit, {LATE},"
        return [unexpected(which, answer, logs, greeting(3, _session(answer) or "..."))]
    after, problem = _visit(visitor, 4)
    if after is not None and after > 4:
        return [
            f"The third visit, {LATE}, is counted twice: it answers 200 {quote(answer.body)}"
            + ("" if count_of(answer) == 3 else ", where the story's counter answers 3")
            + f", and the next visit answers {after}, where the story's counter answers 4: the "
            "retried update counted the visit again."
        ]
    if count_of(answer) != 3:
        return [unexpected(f"third visit, {LATE},", answer, logs, greeting(3, _session(answer)))]
    if problem:
        return [problem]

    # Two tabs: a visit of the same session counts between a held write and its retry.
    tabs = _two_tabs(stack, visitor)
    both = "Two visits of one session at once (two tabs), one answered late and retried,"
    for answer in tabs:
        if answer.status not in (200, 503):
            return [
                f"{both} the other counted in between: one answers {answer.status} "
                f"{quote(answer.body)}, where each should answer 200 (or 503)."
            ]
    after, problem = _visit(visitor, 7)
    if after is not None and after > 7:
        told = " and ".join(quote(answer.body) for answer in tabs)
        return [
            f"{both} the other counted in between: they answer {told}, and the next visit "
            f"answers {after}, where it should answer 7: the retried update counted its visit "
            "again, as the item no longer showed that it had counted."
        ]
    if problem:
        return [problem]

    # Beyond the retries: every write is applied, and no answer comes in time.
    answer, logs = _held_visit(stack, visitor, retry_in_time=False)
    beyond = "When DynamoDB answers none of a visit's updates in time, the eighth visit"
    if answer.status != 503:
        return [
            f"{beyond} answers {answer.status} {quote(answer.body)}, where it should get 503: "
            "the counter could not tell whether it counted."
        ]
    after, _ = _visit(visitor, 9)
    if after is not None and after > 9:
        return [
            f"{beyond} answers 503 but is counted twice: the next visit answers {after}, where "
            "it should answer 9 at most (the 503 visit may count once, as DynamoDB applied it)."
        ]
    if after is None or after < 8:
        return [
            f"After a visit answered 503, the next visit answers {after}, where the count "
            "should go on from 7."
        ]
    return []
