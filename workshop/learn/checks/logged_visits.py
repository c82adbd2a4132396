"""Visits of a started stack, each with the log lines it left: what a check reads of a visit."""

from __future__ import annotations

import dataclasses
import http.client
import threading
import time
from typing import Any

from workshop import interrupt
from workshop.learn.checks.story import (
    ANY_SESSION,
    SESSION,
    count_of,
    greeting,
    is_greeting,
    ordinal_visit,
    quote,
    unexpected,
)
from workshop.visitor import Answer, Visitor, lifetime

# Browsers keep a cookie 400 days at most, whatever its Max-Age or Expires says: the cookies
# RFC's revision (draft-ietf-httpbis-rfc6265bis, 5.5) asks for a limit of no more than 400 days,
# to which a longer Max-Age or Expires is cut, and Chrome (since version 104) and Firefox apply it.
LONGEST_COOKIE = 400 * 24 * 3600.0
# A visitor comes back this long before their session cookie ends (counted from the answer that
# set it): more than a handler's time from the moment it reads the clock for an item's TTL to its
# answer, and a TTL or an Expires date cut to the second. A TTL set sooner than the cookie's end
# (by half an hour, say) lets the item go before the cookie.
BEFORE_THE_COOKIE_ENDS = 60.0
# A count that no cookie names is kept for good: the visitor comes back five years later, as far
# back as DynamoDB's TTL reaches (it never deletes an item expired longer ago than that).
FOR_GOOD = 5 * 365 * 24 * 3600.0
# A TTL attribute this large is no time in epoch seconds (the year 5138): epoch milliseconds.
NOT_IN_SECONDS = 1e11
# A cookie with no lifetime ends when the browser closes: a day, for a visitor who keeps it open.
SESSION_COOKIE_STAYS = 24 * 3600.0


class LoggedVisitor:
    """One visitor of a started stack, with a cookie jar; reads each visit's logs."""

    def __init__(self, stack: Any, *, http2: bool = False):
        """`http2`: its browser names the Cookie header in lower case (see visitor.get)."""
        self.stack = stack
        self.url = stack.url()
        self.browser = Visitor(self.url, http2=http2)
        self.answer: Answer | None = None  # the first answer it got
        self.answers: list[Answer] = []  # every answer it got, in order
        self._logs = stack.log_tail()

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
        self._logs.read()  # what was logged before it is not this visit's

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
        self.answers.append(answer)
        return answer, [event.message for event in self._logs.read()]


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


def comes_back_later(visitor: LoggedVisitor, session: str | None = SESSION) -> list[str]:
    """The visitor comes back as late as their session cookie lets them (FOR_GOOD where they
    have none: the count is theirs for good), once DynamoDB's TTL has deleted what expired
    by then (Stack.later); where that visit sent the cookie anew, they come back again as late
    as the new cookie lets them. Each visit must count on (for `session`, or any with None)."""
    answer, logs = visitor.visit()
    before = count_of(answer)
    if before is None:
        return [unexpected("next visit", answer, logs, greeting(1, session or ANY_SESSION))]
    seconds, when = _until_the_cookie_ends(visitor)
    later = _span(seconds)
    back = _Back(
        came=f"The visitor comes back {later} later{when}",
        which=f"visit {later} later{when}",
        lost="the session's item expired while the cookie still names it",
        mend="keep a session's item at least as long as its cookie (its TTL no sooner than the "
        "cookie's end, moved on with each visit)",
    )
    answer, problems = _comes_back(visitor, seconds, before + 1, session, back)
    again = _until_the_new_cookie_ends(visitor, answer, seconds)
    if problems or again is None:
        return problems or _expiry_not_in_seconds(visitor.stack)
    # A sliding cookie: each visit sends it anew, to last its whole lifetime from then on, so
    # a visitor who keeps coming back keeps it past the end of the first one.
    back = _Back(
        came=f"{back.came}, then again {_span(again)} after that, before the cookie that visit "
        "sent anew ends",
        which=f"visit {_span(again)} after the one {later} later, before the cookie that one "
        "sent anew ends",
        lost="the session's item expired while the cookie sent anew on the visit before still "
        "names it",
        mend="a visit that sends the cookie anew, to end later, must move the item's TTL on to "
        "the new cookie's end too (or send the cookie only once, and keep the item until it "
        "ends)",
    )
    problems = _comes_back(visitor, seconds + again, before + 2, session, back)[1]
    return problems or _expiry_not_in_seconds(visitor.stack)


def _expiry_not_in_seconds(stack: Any) -> list[str]:
    """An item whose TTL attribute is a time no clock in epoch seconds reaches (a year past
    5000): milliseconds, most likely. DynamoDB's TTL reads epoch seconds, and never deletes it."""
    dynamodb = stack.aws.client("dynamodb")
    for logical_id, table in stack.template.tables.items():
        if not table.time_to_live:
            continue
        for page in dynamodb.get_paginator("scan").paginate(TableName=table.name):
            for item in page["Items"]:
                number = item.get(table.time_to_live, {}).get("N")
                if number is not None and float(number) >= NOT_IN_SECONDS:
                    return [
                        f"An item of {logical_id} keeps its expiry ({table.time_to_live}) as "
                        f"{number}, which in epoch seconds is thousands of years from now: a "
                        "time in milliseconds, most likely. DynamoDB's time to live reads epoch "
                        "seconds, so it never deletes the item, as if it had no TTL: the "
                        "expiry is dead code. Write it in seconds: int(time.time()) and how "
                        "many seconds to keep the item."
                    ]
    return []


@dataclasses.dataclass(frozen=True)
class _Back:
    """What is said of a visit that comes back later: `came` (a sentence's beginning), `which`
    (the visit, for `unexpected`), what `lost` the count, and how to `mend` it."""

    came: str
    which: str
    lost: str
    mend: str


def _comes_back(
    visitor: LoggedVisitor, seconds: float, expected: int, session: str | None, back: _Back
) -> tuple[Answer, list[str]]:
    """The visitor's visit `seconds` later, which must be visit `expected`: its answer, and
    what fails."""
    with visitor.stack.later(seconds) as expired:
        answer, logs = visitor.visit()
    if is_greeting(answer, expected, session):
        return answer, []
    if not expired:
        return answer, [
            unexpected(back.which, answer, logs, greeting(expected, session or ANY_SESSION))
        ]
    lost = (
        "the count's item expired, and the count is lost, as a cold start lost it in stage 01"
        if visitor.cookie is None
        else back.lost
    )
    mend = "a count kept for good has none" if visitor.cookie is None else back.mend
    return answer, [
        f"{back.came}, when DynamoDB's time to live (TTL) has deleted the items expired by then "
        f"({expired} of them), and the visit answers {answer.status} {quote(answer.body)}, "
        f"where it should be visit {expected}: {lost}. DynamoDB deletes an item within days of "
        f"the time in its TTL attribute: {mend}."
    ]


def _span(seconds: float) -> str:
    """`seconds` in the largest unit that leaves at least two of them: "364 days"."""
    return next(
        f"{seconds / unit:.0f} {name}"
        for unit, name in ((86400, "days"), (3600, "hours"), (60, "minutes"), (1, "seconds"))
        if seconds >= 2 * unit or unit == 1
    )


def _until_the_cookie_ends(visitor: LoggedVisitor) -> tuple[float, str]:
    """How many seconds later the visitor may come back, and `, before ...` that says why."""
    header = visitor.answer.set_cookie if visitor.answer and visitor.cookie else None
    if header is None:
        return FOR_GOOD, ""
    seconds = lifetime(header, now=visitor.answer.at)
    if seconds is None:
        return SESSION_COOKIE_STAYS, ", their browser still open (the session cookie ends with it)"
    return _before_the_end(seconds, visitor.answer.at), ", before their session cookie ends"


def _until_the_new_cookie_ends(
    visitor: LoggedVisitor, answer: Answer, ahead: float
) -> float | None:
    """How many seconds after a visit `ahead` seconds later the visitor may come back, where its
    answer sent the session cookie anew with a lifetime; None where it did not (a cookie that
    ends with the browser ends no later for being sent again)."""
    if visitor.cookie is None or visitor.answer is None or visitor.answer.cookie is None:
        return None  # no session cookie: that visit came FOR_GOOD later, the latest there is
    name = visitor.answer.cookie.partition("=")[0]
    headers = [
        h for h in answer.set_cookies if h.split(";", 1)[0].partition("=")[0].strip() == name
    ]
    seconds = lifetime(headers[-1], now=answer.at + ahead) if headers else None
    return None if seconds is None or seconds <= 0 else _before_the_end(seconds, answer.at)


def _before_the_end(seconds: float, set_at: float) -> float:
    """How much later than now the visitor comes back with a cookie that lasts `seconds` from
    `set_at` (epoch seconds, the answer that set it): BEFORE_THE_COOKIE_ENDS before it ends, or
    halfway through a cookie shorter than twice that."""
    seconds = min(seconds, LONGEST_COOKIE)
    return max(0.0, max(seconds - BEFORE_THE_COOKIE_ENDS, seconds / 2) - (time.time() - set_at))
