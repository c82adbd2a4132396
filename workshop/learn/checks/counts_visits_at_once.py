"""Two visits at the same moment count two: no update is lost (stage 04 -> 05)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from workshop.learn.checks.logged_visits import LoggedVisitor, counts_in_a_row, empty_table
from workshop.learn.checks.story import (
    ANY_SESSION,
    count_of,
    error_line,
    greeting,
    is_greeting,
    quote,
    unexpected,
)
from workshop.visitor import deletes, get

NEEDS_STACK = True
FIRST_VISITS = "first visits of a session (its item not made yet)"


class InStep:
    """Lets the function's DynamoDB calls through two at a time, as two visits meet.

    Shown each call before the local AWS's IAM check, it holds the call until another arrives,
    then lets both go: two visits started together then read together, and write together,
    which is the worst moment for a read-modify-write. A call left alone (a visit that makes
    more calls than the other) goes on after `patience` seconds; the first call waits longer,
    while the other visit's execution environment may still be starting (a cold start).
    """

    def __init__(self, patience: float = 1.0, first_patience: float = 15.0):
        self.patience = patience
        self.first_patience = first_patience
        self._condition = threading.Condition()
        self._waiting = False
        self._pairs = 0

    def __call__(self, target: str, body: dict[str, Any]) -> None:
        with self._condition:
            if self._waiting:  # the other one is waiting: go together
                self._waiting = False
                self._pairs += 1
                self._condition.notify_all()
                return
            self._waiting = True
            pairs = self._pairs
            self._condition.wait_for(
                lambda: self._pairs != pairs,
                timeout=self.first_patience if pairs == 0 else self.patience,
            )
            if self._pairs == pairs:  # nobody came: go alone
                self._waiting = False


def check(stack: Any) -> list[str]:
    """What still fails: two visits in a row, then two at the same moment, then one more; then,
    the table emptied, two first visits of that session at the same moment, then one more.

    Any session will do: the exercise is the lost update, and a counter that also keeps a
    session per visitor (by cookie) is visited as a browser would, with its cookie.
    """
    visitor = LoggedVisitor(stack)
    problems = counts_in_a_row(visitor, 2, session=None)
    if problems:
        return problems
    problems = _pair(stack, visitor, 2, "visits")
    if problems:
        return problems
    # The first visit of a session creates its item: two at once must not both create it.
    empty_table(stack)
    return _pair(stack, visitor, 0, FIRST_VISITS)


def _pair(stack: Any, visitor: LoggedVisitor, before: int, which: str) -> list[str]:
    """Two `which` at the same moment, then one more: each counted, each told its own count."""
    seen = len(stack.logs())
    with stack.intercept_dynamodb(InStep()), ThreadPoolExecutor(2) as pool:
        pair = list(pool.map(lambda _: get(visitor.url, visitor.cookie), range(2)))
    if which == FIRST_VISITS and all(
        answer.status == 400 and any(map(deletes, answer.set_cookies)) for answer in pair
    ):
        # A strict counter: it refuses a session it no longer holds, and clears its cookie.
        # Its first visits are then new visitors', each with an item of its own: no race.
        return []
    for answer in pair:
        if answer.status != 200:
            line = error_line([event.message for event in stack.logs()[seen:]])
            return [
                f"Of two {which} at the same moment, one answers {answer.status} "
                f"{quote(answer.body)}"
                + (f" (the logs say `{quote(line)}`)" if line else "")
                + ": a visit that meets another must be counted too, not refused."
            ]
    for answer in pair:  # its words and its count told together: both from its own update
        told = count_of(answer)
        if told is not None and not is_greeting(answer, told, None):
            return [
                f"Of two {which} at the same moment, one answers {quote(answer.body)}: its "
                f"message does not say its own count ({told}). Take both from the update itself "
                "(ReturnValues), not the message from a read in a call of its own."
            ]
    closing, logs = visitor.visit()
    count = count_of(closing)
    if count is None:
        return [unexpected("next visit", closing, logs, greeting(before + 3, ANY_SESSION))]
    counted = count - before - 1  # the closing visit counts itself
    told = sorted(count_of(answer) or 0 for answer in pair)
    said = [greeting(number, ANY_SESSION)["message"].partition("! ")[2] for number in told]
    if counted < 2:
        told_text = (
            f'both were told "{said[0]}"'
            if told[0] == told[1]
            else f"they were told visits {told[0]} and {told[1]}"
        )
        lost = "one of them was lost" if counted == 1 else "both were lost"
        return [
            f"Two {which} at the same moment were both answered 200 ({told_text}), but the "
            f"count rose by only {counted}: {lost} (a lost update)."
        ]
    if told[0] == told[1]:
        return [
            f"Two {which} at the same moment were both counted, but both were told "
            f'"{said[0]}": each visit must be told the count its own '
            "update made. Take it from the update itself (ReturnValues), not from a read in a "
            "call of its own."
        ]
    return []
