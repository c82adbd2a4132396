"""Every visit answers 200 and counts one more, even after a cold start (stage 02 -> 03)."""

from __future__ import annotations

from typing import Any

from workshop.learn.checks.logged_visits import LoggedVisitor, counts_in_a_row
from workshop.learn.checks.story import greeting, is_greeting, unexpected

NEEDS_STACK = True


def check(stack: Any) -> list[str]:
    """What still fails: three visits in a row, then one after a cold start."""
    visitor = LoggedVisitor(stack)
    problems = counts_in_a_row(visitor, 3)
    if problems:
        return problems
    stack.expire_environments()  # as after the idle timeout: the next visit is a cold start
    answer, logs = visitor.visit()
    if is_greeting(answer, 4):
        return []
    body = answer.json()
    if answer.status == 200 and isinstance(body, dict) and body.get("visit_count") == 1:
        return [
            "After a cold start the count starts again at 1: it was kept in the function's "
            "memory, which a new execution environment does not have, and not in the table."
        ]
    return [unexpected("fourth visit, the first after a cold start,", answer, logs, greeting(4))]
