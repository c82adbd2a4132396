"""Visits of a started stack, each with the log lines it left: what a check reads of a visit."""

from __future__ import annotations

import http.client
import threading
from typing import Any

from workshop import interrupt
from workshop.learn.checks.story import (
    ANY_SESSION,
    SESSION,
    greeting,
    is_greeting,
    ordinal_visit,
    unexpected,
)
from workshop.visitor import Answer, Visitor


class LoggedVisitor:
    """One visitor of a started stack, with a cookie jar; reads each visit's logs."""

    def __init__(self, stack: Any, *, http2: bool = False):
        """`http2`: its browser names the Cookie header in lower case (see visitor.get)."""
        self.stack = stack
        self.url = stack.url()
        self.browser = Visitor(self.url, http2=http2)
        self.answer: Answer | None = None  # the first answer it got

    @property
    def cookie(self) -> str | None:
        """The Cookie header it sends, or None when it sends none: before it was given a
        cookie, or when the cookie's Path does not cover the counter's."""
        return self.browser.cookie

    def visit(self, patience: float | None = None) -> tuple[Answer, list[str]]:
        """(answer, the log messages that appeared since the last visit).

        No answer is an Answer too, with status 0. With `patience`, a visit not answered by
        then is given up, but its connection is left open in the background until the stack
        answers or stops, so that the server never writes to a connection closed under it.
        """
        answers: list[Answer] = []
        seen = len(self.stack.logs())

        def go() -> None:
            try:
                answers.append(self.browser.visit())
            except (OSError, http.client.HTTPException) as error:
                answers.append(Answer(0, f"no answer ({error})"))

        visiting = threading.Thread(target=go, daemon=True)
        visiting.start()
        interrupt.join(visiting, patience)
        answer = answers[0] if answers else Answer(0, f"no answer within {patience:g} seconds")
        self.answer = self.answer or answer
        return answer, [event.message for event in self.stack.logs()[seen:]]


def counts_in_a_row(
    visitor: LoggedVisitor, visits: int, first: int = 1, session: str | None = SESSION
) -> list[str]:
    """Visit `visits` times in a row: each must answer 200 and count one more (for `session`,
    or with None on whatever session the counter keeps for this visitor)."""
    for count in range(first, first + visits):
        answer, logs = visitor.visit()
        if not is_greeting(answer, count, session):
            expected = greeting(count, session or ANY_SESSION)
            return [unexpected(ordinal_visit(count), answer, logs, expected)]
    return []


def empty_table(stack: Any) -> None:
    """Delete every item of the stack's table, as a table made anew holds none."""
    dynamodb = stack.aws.client("dynamodb")
    table = stack.table().name
    schema = dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
    for item in dynamodb.scan(TableName=table)["Items"]:
        key = {part["AttributeName"]: item[part["AttributeName"]] for part in schema}
        dynamodb.delete_item(TableName=table, Key=key)
