"""A visit whose update DynamoDB applied but answered late counts once (stage 07 -> 08).

The local AWS stalls DynamoDB's writes (LocalAWS.dynamodb_stall): each is applied at once, and
its answer held. First while a retry can still be answered in time: the stall ends as soon as
the visit's second write arrives (the SDK, or the handler, gave up waiting for the first), and
the visit must answer 200 and count once. Then the same, while a second tab of the visitor makes
visits between the held write and its retry, some after the function's Timeout (the late visit
answers 503 meanwhile): each must count once. Then while no
attempt can be answered: the stall holds every write until the visit is answered, and the visit
must answer 503 and count at most once. How much a visit counted is read as its visitor reads
it: from the next visit's count.
"""

from __future__ import annotations

import http.client
import threading
import time
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
# The other tab's visits while the late one waits to try again: enough that a fix that keeps
# only the last few request ids, or forgets them all once it holds a few, forgets the late one's;
# the last LATER_VISITS of them once the Timeout has passed since the others, when every id but
# theirs is older than the Timeout, as a fix that forgets ids too soon, however many it waits
# for, would see them.
OTHER_TAB_VISITS = 20
LATER_VISITS = 5


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


def _two_tabs(stack: Any, visitor: LoggedVisitor) -> tuple[Answer, list[Answer]]:
    """Two tabs of one visitor: a "late" visit, whose first write is applied and its answer
    held, and whose next call to DynamoDB (its retry, or a read of what it did) is held back;
    meanwhile the other tab makes OTHER_TAB_VISITS visits, one after another, each to its
    answer, the last LATER_VISITS of them once the function's Timeout has passed since the
    others; then late's held call goes, and is applied before this returns. (late's answer,
    the other tab's answers)

    Nothing but late runs until its next call, so the hook knows that call for late's own,
    however it is written. By the time of the later visits, any record late keeps of its first
    write is older than a retry can ever be: a fix that forgets it sooner has forgotten it,
    whatever the machine's speed. (Late answers 503 meanwhile: its retry goes unanswered.)
    """
    answers: dict[str, Answer] = {}
    wrote, parked, closed = threading.Event(), threading.Event(), threading.Event()

    def visit(tab: str) -> Answer:
        try:
            answers[tab] = get(visitor.url, visitor.cookie, timeout=PATIENCE)
        except (OSError, http.client.HTTPException) as error:
            answers[tab] = Answer(0, f"no answer ({error})")
        return answers[tab]

    with stack.aws.dynamodb_stall(operations=WRITES) as stall:

        def park_late(target: str, _body: dict[str, Any]) -> None:
            if closed.is_set():
                return
            if not wrote.is_set():
                if target.rsplit(".", 1)[-1] in WRITES:
                    wrote.set()
            elif not parked.is_set():
                parked.set()
                stall.close()  # the stall holds no other call: only late's, which came during it
                closed.wait(PATIENCE)

        with stack.intercept_dynamodb(park_late):
            late = threading.Thread(target=visit, args=("late",), daemon=True)
            late.start()
            while late.is_alive() and not parked.wait(0.05):
                pass
            stall.close()  # late may have answered without another call
            others: list[Answer] = []
            if not parked.is_set():
                closed.set()  # then nothing more is held back: not the other tab's calls
            else:
                others += [visit("other") for _ in range(OTHER_TAB_VISITS - LATER_VISITS)]
                # Then every id kept so far is older than any retry can be (1.1 s more, as an id
                # may be stamped in whole seconds).
                time.sleep(stack.function().timeout + 1.1)
            others += [visit("other") for _ in range(OTHER_TAB_VISITS - len(others))]
            applied = stall.applied
            closed.set()  # late's held call goes, and is applied before the next visit
            if parked.is_set():
                stall.wait_for_applied(applied + 1, PATIENCE)
            late.join(PATIENCE)
    return answers.get("late", Answer(0, "no answer")), others


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

    # Two tabs: the other tab's visits count between a held write and what follows it.
    late, others = _two_tabs(stack, visitor)
    both = (
        "Of two tabs of one visitor, the first's visit (the fifth) was answered late, and the "
        f"other tab made {OTHER_TAB_VISITS} visits before the first tried again:"
    )
    refused = [answer for answer in others if answer.status != 200]
    if refused:
        return [
            f"{both} {len(refused)} of them answer {refused[0].status} "
            f"{quote(refused[0].body)}, where each should answer 200."
        ]
    if late.status not in (200, 503):
        return [
            f"{both} the late visit answers {late.status} {quote(late.body)}, where it "
            "should answer 200 (or 503, if its retry was answered too late)."
        ]
    closing = 4 + 1 + OTHER_TAB_VISITS + 1
    after, problem = _visit(visitor, closing)
    if after is not None and after > closing:
        return [
            f"{both} the late visit answers {quote(late.body)}, the other tab's last "
            f"{quote(others[-1].body)}, and the next visit answers {after}, where it should "
            f"answer {closing}: the late visit was counted again, as the other tab's visits had "
            "wiped out the record that it had counted."
        ]
    if problem:
        return [problem]

    # Beyond the retries: every write is applied, and no answer comes in time.
    answer, logs = _held_visit(stack, visitor, retry_in_time=False)
    beyond = "When DynamoDB answers none of a visit's updates in time, that visit"
    if answer.status != 503:
        return [
            f"{beyond} answers {answer.status} {quote(answer.body)}, where it should get 503: "
            "the counter could not tell whether it counted."
        ]
    most = closing + 2  # the 503 visit may count once, as DynamoDB applied it
    after, _ = _visit(visitor, most)
    if after is not None and after > most:
        return [
            f"{beyond} answers 503 but is counted twice: the next visit answers {after}, where "
            f"it should answer {most} at most (the 503 visit may count once, as DynamoDB "
            "applied it)."
        ]
    if after is None or after <= closing:
        return [
            f"After a visit answered 503, the next visit answers {after}, where the count "
            f"should go on from {closing}."
        ]
    return []
