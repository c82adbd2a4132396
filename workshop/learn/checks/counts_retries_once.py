"""A visit whose update DynamoDB applied but answered late counts once (stage 07 -> 08).

The local AWS stalls DynamoDB's writes (LocalAWS.dynamodb_stall): each is applied at once, and
its answer held. First while a retry can still be answered in time: the stall ends as soon as
the visit's second write arrives (the SDK, or the handler, gave up waiting for the first), and
the visit must answer 200 and count once. Two visits that API Gateway gets in one millisecond
must each count. Then the same, just before a moment at which windows of the clock of whole
seconds end (the handlers' clock moved on to it: Stack.later), while a second tab of the visitor
makes visits before the late one and between its held write and its retry, the last just before
the function's Timeout by their handlers' clock, which reads later than the late one's (the late
visit answers 503 meanwhile): each must count once. Then while no attempt can be answered: the
stall holds every write until the visit is answered, and the visit must answer 503, with a
Retry-After (or 200 with its count, if it found out that it counted), and count at most once.
Then a visit whose first write reaches DynamoDB only after the visit was answered: it must count
once. How much a visit counted is read as its visitor reads it: from the next visit's count.
Then the visitor comes back a day later, and a day after that, for a visit each Timeout for a
minute (the handlers' clocks moved on: Stack.later): the ids of visits a day old must be gone
from the tables by then. Meanwhile a visit that writes again once it has counted (to forget old
ids) finds that write throttled, then DynamoDB slow past the function's Timeout: a visit counted
must answer its count; then that write is held while another tab's late visit counts, and let go
before its retry: the retry must not count again. Last, the lessons the code this exercise
starts from holds must hold still: stage 07's check (a wider policy for the new calls would not
pass), the visits at the same moment of stage 05's, and the outages and bugs of stage 06's.
"""

from __future__ import annotations

import http.client
import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from workshop import interrupt
from workshop.errors import WorkshopError
from workshop.learn.checks import counts_visits_at_once as at_once
from workshop.learn.checks import least_privilege_and_operations as earlier
from workshop.learn.checks import sessions_and_honest_errors as honest
from workshop.learn.checks.logged_visits import LoggedVisitor
from workshop.learn.checks.story import (
    count_of,
    delay_or_date,
    greeting,
    is_greeting,
    ordinal_visit,
    quote,
    unexpected,
    waiting,
)
from workshop.local.faults import outage_answer
from workshop.local.iam import requested
from workshop.local.time_to_live import expired
from workshop.visitor import Answer, get

NEEDS_STACK = True
# The writes whose answers the stall holds: a read answered late is retried harmlessly.
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
PATIENCE = 40.0  # seconds a held visit may take: more than API Gateway's 29 s (then 504)
LATE = "whose update DynamoDB applied at once but answered late"
# The other tab's visits. EARLIER_VISITS before the late visit; then, while it waits to try
# again, MIDDLE_VISITS at once and LATER_VISITS RETRY_MARGIN seconds before the function's
# Timeout has passed since its first write (8.5 s for stage 08's 10 s). They run in an
# environment whose clock (time.time(), the API's requestTimeEpoch) reads AHEAD seconds later
# (Stack.later): by it, the later visits come just before the Timeout (9.9 s), as a retry's
# last chance may, when the late visit's id and the earlier ones are almost as old as the
# Timeout, whatever the fraction of the second it was stamped at. A fix that keeps only the
# last ids, or as many as it keeps of the newest (fewer than the middle and later visits), or
# clears them all once it holds as many or fewer, forgets the late one's; so does a fix that
# forgets ids sooner than the Timeout (after 9 s, even stamped in whole seconds), however many
# it waits for (up to the earlier visits and more). The late visit's retry is applied then,
# within the Timeout, as a retry is: late's environment keeps its own clock, so its retry never
# reads a time past the Timeout, however long the visits before it took (one that did could
# count anew where a right fix keeps ids a little past the Timeout). The middle visits are
# made one after another, quickly (a few hundredths of a second each): on a machine so slow
# that they take until RETRY_MARGIN seconds before the Timeout, no more are made, and the later
# ones follow, so that the retry still comes in time.
EARLIER_VISITS = 10
MIDDLE_VISITS = 100
LATER_VISITS = 5
RETRY_MARGIN = 1.5
AHEAD = RETRY_MARGIN - 0.1  # seconds: the later visits come 0.1 s before the Timeout
# The late visit comes BEFORE_ROUND seconds before a multiple of ROUND seconds since the epoch,
# by its handler's clock (moved on to it: Stack.later), a moment at which every window of the
# clock 1 to ROUND_WINDOWS whole seconds long ends. A fix that keeps ids by such windows (a set
# for each, in turn, emptied as its turn comes again) keeps an id the shortest time when it is
# made just before its window ends: if it ever forgets an id before the Timeout, it forgets
# late's there (with windows up to 9.7 s: the later visits come 9.9 s after late, by their
# clock), whatever the moment the check runs at. The earlier visits start EARLIER_SPAN seconds
# before late, right after one another, so that they and late come in the same second: a fix
# that stamps ids in whole seconds, and forgets old ones once it has as many as the earlier
# visits, forgets late's with theirs, not theirs alone first. Another visitor's visit starts
# late's environment first, LEAD seconds before late. On a machine so busy that this, or the
# earlier visits, take longer, or that late reaches its handler only after the moment, the two
# tabs visit again, ROUND_ATTEMPTS times in all at most, each with twice the LEAD.
ROUND = 2520.0  # seconds: the least that 1 to ROUND_WINDOWS all divide
ROUND_WINDOWS = 10
BEFORE_ROUND = 0.2
EARLIER_SPAN = 0.7
ROUND_ATTEMPTS = 3
LEAD = 4.0  # seconds
# Seconds: what _StalledAfterTheCount takes off a retry's wait for its answer: the SDK's backoff
# before a retry (botocore's is under 1 s), and a margin for the handler's own time.
RETRY_LEEWAY = 1.5
SETTLE = 2.0  # seconds a write let go may take to be applied (one that changes nothing, all)
# Seconds: a day. By then every id is far older than any retry of its visit can be, and older
# than any counter keeps one (an hour, say, as Powertools' idempotency does by default).
LATER = 24 * 3600.0
# Visits a day later: more than the old ids any counter waits for, before it forgets them,
# and more than the visits before (about 130): their ids, kept for good, more than double the
# tables (which a counter that keeps a few ids, or a count that grows a digit, never does).
COMEBACK_VISITS = 200
# Visits two days later, one each Timeout by the handlers' clock (Stack.later: a minute in all,
# at no wait): a counter that forgets day-old ids then may find its forgetting write (of 200
# ids) too slow for a timeout of its own on a busy machine, and forgets at its next; one that
# forgets the ids of a window of the clock only at a visit in a window after it (a set for
# each window, in turn, emptied as its turn comes again) gets a visit in each window of a
# Timeout or longer, and in each of its sets' turns of up to 30 s.
DAY_AFTER_VISITS = 7


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
    interrupt.join(visiting, PATIENCE)
    return answers[0] if answers else (Answer(0, "no answer"), [])


def _late_first_visit(stack: Any) -> str | None:
    """A new visitor's first visit, answered late: its retry finds it counted, and must still
    give the visitor the session cookie, or their next visit starts a session anew."""
    newcomer = LoggedVisitor(stack)
    answer, logs = _held_visit(stack, newcomer, retry_in_time=True)
    which = f"first visit of a new visitor, {LATE},"
    if not is_greeting(answer, 1, None):
        return unexpected(which, answer, logs, greeting(1, _session(answer) or "..."))
    count, problem = _visit(newcomer, 2)
    if count == 1:
        return (
            f"The {which} answers 200 {quote(answer.body)}, but the visitor's next visit is a "
            "first visit again: the answer of the retry that found the visit counted did not "
            "set the session cookie, so the visitor's session is lost."
        )
    return problem


def _in_one_millisecond(stack: Any) -> str | None:
    """A new visitor's first visit, then two that API Gateway gets in the same millisecond (two
    tabs), and one more: each must count, though the two events say they came at the same time
    (requestTimeEpoch), as each has a requestId of its own."""
    visitor = LoggedVisitor(stack)
    _, problem = _visit(visitor, 1)
    if problem:
        return problem
    with stack.in_one_millisecond():
        answers = [visitor.visit(patience=PATIENCE) for _ in range(2)]
    which = "(of two that API Gateway got in the same millisecond)"
    for number, (answer, logs) in zip((2, 3), answers, strict=True):
        if answer.status != 200:
            return unexpected(f"{ordinal_visit(number)} {which}", answer, logs, greeting(number))
    after, problem = _visit(visitor, 4)
    told = [count_of(answer) for answer, _ in answers]
    if after is not None and after < 4:
        return (
            "Two visits of one visitor that API Gateway got in the same millisecond (two tabs: "
            "their events' requestTimeEpoch is the same, each has a requestId of its own) were "
            f"answered {told[0]} and {told[1]}, and the next visit answers {after}, where they "
            "should answer 2 and 3, then 4: one of them was taken for a retry of the other, and "
            "not counted. What tells a visit's attempts apart from other visits must differ for "
            "each visit: the invocation's request id (context.aws_request_id), not the time it "
            "came."
        )
    for number, (answer, logs) in zip((2, 3), answers, strict=True):
        if count_of(answer) != number:
            return unexpected(f"{ordinal_visit(number)} {which}", answer, logs, greeting(number))
    return problem


def _delivered_late(stack: Any, visitor: LoggedVisitor) -> tuple[Answer, list[str]]:
    """One visit whose first write is slow on its way: DynamoDB gets it only once the visit
    has been answered (the handler gave up waiting, and tried again, or read what it did),
    and applies it then. (answer, the logs it left)"""
    answers: list[tuple[Answer, list[str]]] = []
    held, released = threading.Event(), threading.Event()
    with stack.aws.dynamodb_stall(operations=WRITES) as stall:

        def hold_first(target: str, _body: dict[str, Any]) -> None:
            if not held.is_set() and target.rsplit(".", 1)[-1] in WRITES:
                held.set()
                stall.close()  # the stall counts this write's application: no other call's
                released.wait(PATIENCE)

        with stack.intercept_dynamodb(hold_first):
            visiting = threading.Thread(
                target=lambda: answers.append(visitor.visit(patience=PATIENCE)), daemon=True
            )
            visiting.start()
            interrupt.join(visiting, PATIENCE)
            applied = stall.applied
            released.set()  # the first write arrives, and is applied before the next visit
            if held.is_set():
                stall.wait_for_applied(applied + 1, PATIENCE)
    return answers[0] if answers else (Answer(0, "no answer"), [])


def _late_delivery(stack: Any, visitor: LoggedVisitor, count: int) -> tuple[int, str | None]:
    """A visit whose first write DynamoDB gets only after the visit was answered, `count`
    visits before it: it must count once. (the count after the visit after it, what is wrong)"""
    waiting(
        "A visit whose first update is slow on its way: DynamoDB gets it, and applies it, only "
        "after the visit has been answered"
    )
    answer, logs = _delivered_late(stack, visitor)
    number = count + 1
    which = "visit whose first update reached DynamoDB only after the visit was answered"
    if answer.status not in (200, 503) or (answer.status == 200 and count_of(answer) != number):
        return count, unexpected(f"{which},", answer, logs, greeting(number, _session(answer)))
    # The first write is applied in any case, unless a condition refuses it: the visit counted.
    after, problem = _visit(visitor, number + 1)
    if after is not None and after > number + 1:
        return after, (
            f"A {which} is counted twice: it answers {answer.status} {quote(answer.body)}, and "
            f"the next visit answers {after}, where it should answer {number + 1}: the first "
            "update, slow on its way, was applied after the handler had counted the visit "
            "again. A read cannot tell an update still on its way from one that was lost: "
            "send again only an update that DynamoDB refuses once the visit has counted (a "
            "condition on the request id)."
        )
    return number + 1, problem


def _two_tabs(
    stack: Any, visitor: LoggedVisitor, ahead: float, round_moment: float
) -> tuple[Answer, list[Answer], bool]:
    """Two tabs of one visitor, while their handlers' clock reads `ahead` seconds on (Stack.later,
    the caller's), so that the late visit comes at BEFORE_ROUND seconds before `round_moment`:
    another visitor visits; the other tab makes EARLIER_VISITS visits, from EARLIER_SPAN seconds
    before that moment; then, at that moment, a "late" visit, whose first write is applied and
    its answer held, and whose next call to DynamoDB (its retry, or a read of what it did) is
    held back; meanwhile the other tab makes MIDDLE_VISITS more (as many as it can until
    RETRY_MARGIN seconds before the function's Timeout has passed since that write), and
    LATER_VISITS more RETRY_MARGIN seconds before the Timeout has passed since that write, by
    their clock AHEAD seconds later; then late's held call goes, and is applied before this
    returns. (late's answer, the other tab's answers, whether late's first write came before
    `round_moment` by its handler's clock)

    Nothing but late runs from its first write to its next call, so the hook knows that call
    for late's own, however it is written. (Late answers 503 meanwhile: its retry waits.)
    Late runs in the environment that the other visitor started, the only one that served on
    this clock; the other tab's visits meanwhile start a second, whose monotonic clock reads a
    day on (lambda_environment.UPTIME_APART): time.monotonic() stamps of late's look a day old
    there. Its time of day reads AHEAD seconds on; late's (and so its retry's) reads as it was.
    """
    answers: dict[str, Answer] = {}
    wrote, parked, closed = threading.Event(), threading.Event(), threading.Event()
    first_write: list[float] = []
    late_wrote: list[float] = []  # when late's first write came, by its handler's clock

    def visit(tab: str) -> Answer:
        try:
            answers[tab] = get(visitor.url, visitor.cookie, timeout=PATIENCE)
        except (OSError, http.client.HTTPException) as error:
            answers[tab] = Answer(0, f"no answer ({error})")
        return answers[tab]

    def wait_until(moment: float) -> None:
        """Wait until the handlers' clock reads `moment` (no wait once it is past)."""
        time.sleep(max(0.0, moment - ahead - time.time()))

    LoggedVisitor(stack).visit(patience=PATIENCE)  # starts late's environment: it is no story's
    wait_until(round_moment - BEFORE_ROUND - EARLIER_SPAN)
    others = [visit("other") for _ in range(EARLIER_VISITS)]
    # On a machine so busy that they took longer, late comes at once: it misses the moment.
    wait_until(round_moment - BEFORE_ROUND)
    with stack.aws.dynamodb_stall(operations=WRITES) as stall:

        def park_late(target: str, _body: dict[str, Any]) -> None:
            if closed.is_set():
                return
            if not wrote.is_set():
                if target.rsplit(".", 1)[-1] in WRITES:
                    first_write.append(time.monotonic())
                    late_wrote.append(time.time() + ahead)
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
            if not parked.is_set():
                closed.set()  # then nothing more is held back: not the other tab's calls
            # While late's retry waits, it must come within late's Timeout.
            timeout = stack.function().timeout
            until = first_write[0] + timeout - RETRY_MARGIN if parked.is_set() else float("inf")
            # Late's environment is busy: it keeps its clock, and the other tab's visits start
            # another (as they would anyway), whose clock reads later.
            with stack.later(ahead + AHEAD):
                for _ in range(MIDDLE_VISITS):
                    if time.monotonic() > until:
                        break  # a machine so slow that no more fit
                    others.append(visit("other"))
                if parked.is_set():
                    time.sleep(max(0.0, until - time.monotonic()))
                others += [visit("other") for _ in range(LATER_VISITS)]
            applied = stall.applied
            closed.set()  # late's held call goes, and is applied before the next visit
            if parked.is_set():
                stall.wait_for_applied(applied + 1, PATIENCE)
            interrupt.join(late, PATIENCE)
    in_round = bool(late_wrote) and late_wrote[0] < round_moment
    return answers.get("late", Answer(0, "no answer")), others, in_round


def check(stack: Any) -> list[str]:
    """What still fails: a late answer that makes an update count twice, or answer 503; then
    stage 07's check, told of every call the handler made here (a read on a retry, say); then
    stage 05's visits at the same moment, and stage 06's outages and bugs (last: they leave the
    table missing)."""
    called: set[str] = set()
    reached: set[str] = set()

    def watch(target: str, body: dict[str, Any]) -> None:
        for action, resource, _ in requested(target.rsplit(".", 1)[-1], body, stack.aws.region):
            called.add(action)
            reached.add(resource)

    with stack.intercept_dynamodb(watch):
        problems = late_answers(stack)
    if problems:
        return problems
    # The lessons that the code this exercise starts from holds must hold still.
    lessons = (
        ("07", lambda: earlier.check(stack, called, reached)),
        ("05", lambda: at_once.at_the_same_moment(stack, LoggedVisitor(stack))[0]),
        ("06", lambda: _honest_errors(stack, LoggedVisitor(stack))),
    )
    for stage, lesson in lessons:
        problems = [f"Stage {stage}'s lesson no longer holds: {problem}" for problem in lesson()]
        if problems:
            return problems
    return []


def _honest_errors(stack: Any, visitor: LoggedVisitor) -> list[str]:
    """Stage 06's outages, then its bugs."""
    return honest.outages(stack, visitor) or honest.bugs(stack, visitor)


def _item_missing(line: str) -> bool:
    """Whether a log line says the handler found no Item in a refused update's error: as text,
    or as a JSON record (LogFormat: JSON) whose errorType and errorMessage say it."""
    if "KeyError: 'Item'" in line:
        return True
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return (
        isinstance(record, dict)
        and record.get("errorType") == "KeyError"
        and record.get("errorMessage") == "'Item'"
    )


def late_answers(stack: Any) -> list[str]:
    """A late answer that makes an update count twice, or answer 503; ids kept for good."""
    visitor = LoggedVisitor(stack)
    for number in (1, 2):
        _, problem = _visit(visitor, number)
        if problem:
            return [problem]

    # Within the retries: the first write is applied, its answer late; the retry is answered.
    # A read right after it may miss that write, as DynamoDB's eventually consistent reads may.
    with stack.aws.calls_meet() as meet:
        answer, logs = _held_visit(stack, visitor, retry_in_time=True)
    if answer.status == 503:
        return [
            f"The third visit, {LATE}, answers 503 {quote(answer.body)}, where a retry of the "
            "update, answered in time, should count the visit once and answer 200: a retry "
            "refused because its first attempt counted already (ConditionalCheckFailed) is the "
            "visit counted, and its answer is the count."
        ]
    if answer.status != 200:
        which = f"third visit, {LATE},"
        problem = unexpected(which, answer, logs, greeting(3, _session(answer) or "..."))
        if any(_item_missing(line) for line in logs):
            problem += (
                " A refused update's error carries the item only when the update asks for it: "
                'ReturnValuesOnConditionCheckFailure="ALL_OLD".'
            )
        return [problem]
    after, problem = _visit(visitor, 4)
    if after is not None and after > 4:
        return [
            f"The third visit, {LATE}, is counted twice: it answers 200 {quote(answer.body)}"
            + ("" if count_of(answer) == 3 else ", where the story's counter answers 3")
            + f", and the next visit answers {after}, where the story's counter answers 4: the "
            "retried update counted the visit again."
        ]
    if count_of(answer) != 3:
        problem = unexpected(f"third visit, {LATE},", answer, logs, greeting(3, _session(answer)))
        return [problem + (f" {at_once.STALE_READ}" if meet and meet.stale_reads else "")]
    if problem:
        return [problem]
    problem = _late_first_visit(stack) or _in_one_millisecond(stack)
    if problem:
        return [problem]

    return _two_tabs_at_a_round_moment(stack, visitor, 4, 0.0, LEAD, ROUND_ATTEMPTS)


def _two_tabs_at_a_round_moment(
    stack: Any, visitor: LoggedVisitor, count: int, ahead: float, lead: float, attempts: int
) -> list[str]:
    """The two tabs (_two_tabs), `count` visits on, their handlers' clock moved on from `ahead`
    seconds later than it is, so that `lead` seconds from now it reads BEFORE_ROUND seconds
    before a multiple of ROUND; then, on that clock, what comes beyond the retries. On a machine
    so busy that the late visit missed the moment, the two tabs visit again, with twice the
    lead, `attempts` times in all at most."""
    round_moment = ROUND * math.ceil((time.time() + ahead + lead + BEFORE_ROUND) / ROUND)
    ahead = round_moment - BEFORE_ROUND - lead - time.time()
    with stack.later(ahead):
        # Two tabs: the other tab's visits, before the late one and while it waits to try again.
        waiting(
            "Two tabs of one visitor: a visit answered late tries again just before the "
            f"function's Timeout ({stack.function().timeout:g} s), the other tab visits meanwhile"
        )
        late, others, in_round = _two_tabs(stack, visitor, ahead, round_moment)
        last = stack.function().timeout - RETRY_MARGIN + AHEAD
        both = (
            f"Of two tabs of one visitor, the other tab made {EARLIER_VISITS} visits, then one "
            f"visit, made {BEFORE_ROUND:g} s before a moment at which every window of the clock "
            f"a whole number of seconds long up to {ROUND_WINDOWS} s ends (a multiple of "
            f"{ROUND:g} s since 1970, by its handler's clock), was answered late, and the other "
            f"tab made {len(others) - EARLIER_VISITS} more before the late one tried again, "
            f"within the function's Timeout (the last {LATER_VISITS} when, by their handlers' "
            f"clock, {last:g} s had passed since its first update):"
        )
        refused = [answer for answer in others if answer.status != 200]
        if refused:
            return [
                f"{both} {len(refused)} of the other tab's visits answer {refused[0].status} "
                f"{quote(refused[0].body)}, where each should answer 200."
            ]
        if late.status not in (200, 503):
            return [
                f"{both} the late visit answers {late.status} {quote(late.body)}, where it "
                "should answer 200 (or 503, if its retry was answered too late)."
            ]
        closing = count + len(others) + 1 + 1  # the late visit's, and the closing visit's own
        after, problem = _visit(visitor, closing)
        if after is not None and after > closing:
            return [
                f"{both} the next visit answers {after}, where it should answer {closing}: the "
                "late visit was counted again, as the other tab's visits had wiped out the record "
                "that it had counted. Keep the id of every visit whose retry may still come: not "
                "only the last one, not as many as fit, but each until it is older than the "
                "function's Timeout, and more, by a clock every environment shares (time.time(): "
                "time.monotonic() counts from a point of each environment's own)."
            ]
        if problem:
            return [problem]
        if not in_round and attempts > 1:
            return _two_tabs_at_a_round_moment(
                stack, visitor, closing, ahead, 2 * lead, attempts - 1
            )
        return _beyond_the_retries(stack, visitor, closing)


def _beyond_the_retries(stack: Any, visitor: LoggedVisitor, closing: int) -> list[str]:
    """A visit none of whose updates is answered in time, then one whose first update arrives
    after it was answered, `closing` visits on; ids kept for good."""
    # Beyond the retries: every write is applied, and no answer comes in time.
    waiting(
        "A visit none of whose updates DynamoDB answers in time: it ends by the function's "
        f"Timeout ({stack.function().timeout:g} s)"
    )
    answer, logs = _held_visit(stack, visitor, retry_in_time=False)
    beyond = "When DynamoDB answers none of a visit's updates in time, that visit"
    if answer.status == 200:
        # The handler found out that its update counted (a read, say): its count is the answer.
        if count_of(answer) != closing + 1:
            which = "visit none of whose updates DynamoDB answered in time,"
            return [unexpected(which, answer, logs, greeting(closing + 1, _session(answer)))]
    elif answer.status != 503:
        return [
            f"{beyond} answers {answer.status} {quote(answer.body)}, where it should get 503: "
            "the counter could not tell whether it counted (or 200 with its count, had it "
            "found out)."
        ]
    elif not delay_or_date(answer.retry_after or ""):
        return [
            f"{beyond} answers 503 {quote(answer.body)} without a Retry-After header of seconds "
            "(or a date), which stage 06 gave every 503: a client then cannot tell when to "
            "try again."
        ]
    most = closing + 2  # the visit counts once, as DynamoDB applied it (a 503 may not count)
    after, problem = _visit(visitor, most)
    if after is not None and after > most:
        return [
            f"{beyond} answers {answer.status} but is counted twice: the next visit answers "
            f"{after}, where it should answer {most} at most (the visit may count once, as "
            "DynamoDB applied it)."
        ]
    if after is None or after <= closing:
        return [
            f"After a visit answered {answer.status}, the next visit answers {after}, where the "
            f"count should go on from {closing}."
        ]
    if answer.status == 200 and problem:
        return [problem]  # its count was not counted
    after, problem = _late_delivery(stack, visitor, after)
    if problem:
        return [problem]
    return _kept_for_good(stack, visitor, after)


def _kept_for_good(stack: Any, visitor: LoggedVisitor, count: int) -> list[str]:
    """Request ids kept for good: the tables hold more than twice what they held, once the
    visitor has come back a day later, made COMEBACK_VISITS visits, and DAY_AFTER_VISITS more a
    day after that, one each Timeout by the handlers' clock. Meanwhile, a day later, the first
    visit that writes again once it has counted (to forget old ids, say) finds that write
    throttled, and the visit after it finds DynamoDB slow (_StalledAfterTheCount): each must
    still answer its count."""
    waiting(
        f"The visitor comes back a day later for {COMEBACK_VISITS} visits (DynamoDB throttles, "
        f"then stalls, a write made after a visit counted), and a day after that for "
        f"{DAY_AFTER_VISITS}, one every {stack.function().timeout:g} s: by "
        "then the ids of old visits must be forgotten"
    )
    before = _stored(stack, 0.0)
    throttled = _throttling(stack)
    number = count
    with stack.later(LATER):
        throttle_next, stall_next, share_next = True, False, False
        for _ in range(COMEBACK_VISITS):
            if share_next:
                number, problem, share_next = _forgetting_meanwhile(stack, visitor, number)
            elif throttle_next or stall_next:
                hook: _ThrottledAfterTheCount | _StalledAfterTheCount = (
                    _ThrottledAfterTheCount(throttled)
                    if throttle_next
                    else _StalledAfterTheCount(throttled, stack.function().timeout)
                )
                number, problem = _after_the_count(stack, visitor, number + 1, hook)
                share_next = stall_next  # once the stall is over
                stall_next = throttle_next and hook.after_count
                throttle_next = throttle_next and not hook.after_count
            else:
                number += 1
                _, problem = _visit(visitor, number)
            if problem:
                return [f"A day later: {problem}"]
    every = stack.function().timeout
    start = time.time()
    for visit in range(DAY_AFTER_VISITS):
        # By the handlers' clock, each comes `every` seconds after the one before, however long
        # that one took (an environment started for each).
        ahead = 2 * LATER + visit * every - (time.time() - start)
        with stack.later(ahead):
            number += 1
            _, problem = _visit(visitor, number)
        if problem:
            return [f"Two days later: {problem}"]
    after = _stored(stack, ahead)
    if after > 2 * before:
        return [
            f"The visitor came back a day later and made {COMEBACK_VISITS} visits, and a day "
            f"after that {DAY_AFTER_VISITS} more, one every {every:g} s: the tables then hold "
            f"{after:,} bytes, more than twice the "
            f"{before:,} they held before, so the ids of visits a day old are still kept. "
            "A session's item "
            "grows with every visit, until DynamoDB refuses to store it (400 KB an item), and "
            "every write of it costs more as it grows. Forget each id once its retries are "
            "over: when it is older than the function's Timeout, and a little more."
        ]
    return []


def _throttling(stack: Any) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """The error DynamoDB answers a call with while it throttles (faults.outage_answer)."""
    on_demand = stack.aws.on_demand_tables()

    def error(target: str, request: dict[str, Any]) -> dict[str, Any]:
        action = target.rsplit(".", 1)[-1]
        _, _, body = outage_answer("throttled", action, request, stack.aws.region, on_demand)
        return json.loads(body)

    return error


class _ThrottledAfterTheCount:
    """One visit's DynamoDB calls: its first write goes, and DynamoDB throttles every write
    after it."""

    because = (
        "DynamoDB throttled a write that the visit made after the one that counted it (the "
        "write that forgets old ids, say)"
    )

    def __init__(self, throttled: Callable[[str, dict[str, Any]], dict[str, Any]]):
        self.throttled = throttled
        self.writes = 0
        self.after_count = False  # whether a write came after the one that counted

    def __call__(self, target: str, request: dict[str, Any]) -> dict[str, Any] | None:
        if target.rsplit(".", 1)[-1] not in WRITES:
            return None
        self.writes += 1
        if self.writes == 1:
            return None
        self.after_count = True
        return self.throttled(target, request)

    def close(self) -> None:
        """Nothing is held."""


class _StalledAfterTheCount:
    """One visit's DynamoDB calls while DynamoDB is slow: its first write is lost on its way
    (held until the handler's next call, then dropped), its second (the retry) is answered
    late, and every write after that gets no answer before the function's Timeout, nor is it
    applied.

    The retry is answered RETRY_LEEWAY seconds less after it came than it came after the first
    write: that is the read timeout with which the handler gave up on the first, less the
    SDK's backoff before a retry (under 1 s, as botocore's is), and a margin. So the retry is
    answered in time, and it leaves the handler less time than its first attempt took.
    """

    because = (
        "DynamoDB was slow: the visit's first update was lost on its way, its retry counted the "
        "visit, answered late, and a write that the visit made after it (the write that "
        "forgets old ids, say) got no answer before the function's Timeout"
    )

    def __init__(self, throttled: Callable[[str, dict[str, Any]], dict[str, Any]], timeout: float):
        self.throttled = throttled
        self.timeout = timeout
        self.first = 0.0  # when the first write came (time.monotonic())
        self.writes = 0
        self.after_count = False  # whether a write came after the one that counted
        self._lock = threading.Lock()
        self._next_call, self._closed = threading.Event(), threading.Event()

    def __call__(self, target: str, request: dict[str, Any]) -> dict[str, Any] | None:
        now = time.monotonic()
        if target.rsplit(".", 1)[-1] not in WRITES:
            self._next_call.set()
            return None
        with self._lock:
            self.writes += 1
            writes = self.writes
            if writes == 1:
                self.first = now
        if writes == 1:
            self._next_call.wait(self.timeout)
            return self.throttled(target, request)  # to a handler that has stopped waiting
        self._next_call.set()
        if writes == 2:
            self._closed.wait(max(0.0, now - self.first - RETRY_LEEWAY))
            return None
        self.after_count = True
        self._closed.wait(max(0.0, self.first + self.timeout + 0.5 - now))
        return self.throttled(target, request)

    def close(self) -> None:
        """Let the held calls go: the visit is over."""
        self._next_call.set()
        self._closed.set()


def _after_the_count(
    stack: Any,
    visitor: LoggedVisitor,
    number: int,
    hook: _ThrottledAfterTheCount | _StalledAfterTheCount,
) -> tuple[int, str | None]:
    """Visit `number`, its DynamoDB calls shown to `hook`; if it does not answer its count,
    the visit after it tells whether it counted. (the count so far, what is wrong)"""
    with stack.intercept_dynamodb(hook):
        answer, logs = visitor.visit(patience=PATIENCE)
    hook.close()
    if is_greeting(answer, number, None):
        return number, None
    if answer.status == 200:
        return number, unexpected(ordinal_visit(number), answer, logs, greeting(number))
    after, problem = _visit(visitor, number)  # visit `number` again, unless that one counted
    if after == number:
        return number, None
    if after == number + 1 and hook.after_count:
        return after, (
            f"A visit that DynamoDB counted is answered {answer.status} {quote(answer.body)}, "
            f"where it should answer 200 with its count, {number}: {hook.because}. Told to try "
            "again, the visitor does, and that new invocation counts the visit again. Once a "
            "visit has counted, nothing after may keep it from answering its count: leave a "
            "write that fails to a later visit, and give it a timeout and attempts of its own "
            "that fit in the time left (context.get_remaining_time_in_millis())."
        )
    if after == number + 1:
        return after, None  # counted, but its answer came too late for the handler to tell
    return number, problem


def _forgetting_meanwhile(
    stack: Any, visitor: LoggedVisitor, count: int
) -> tuple[int, str | None, bool]:
    """Two tabs of one visitor, while one visit forgets: the writes that a visit makes after
    its count (the forgetting write, say) are held on their way until the other tab's visit,
    whose first write DynamoDB applied but answered late, tries again; then they are applied,
    and then the other visit's retry. Each visit must count once. (the count so far, what is
    wrong, whether to try again on the next visit: this one wrote nothing after its count)"""
    held, release = threading.Event(), threading.Event()
    writes = 0

    def hold_after_the_count(target: str, _body: dict[str, Any]) -> None:
        nonlocal writes
        if target.rsplit(".", 1)[-1] in WRITES:
            writes += 1
            if writes > 1:
                held.set()
                release.wait(PATIENCE)

    number = count + 1
    try:
        with stack.intercept_dynamodb(hold_after_the_count):
            answer, logs = visitor.visit(patience=PATIENCE)
        if not held.is_set():
            if is_greeting(answer, number, None):
                return number, None, True
            return number, unexpected(ordinal_visit(number), answer, logs, greeting(number)), False
        if not is_greeting(answer, number, None):
            return number, unexpected(ordinal_visit(number), answer, logs, greeting(number)), False
        other = _late_while(stack, visitor, release)
    finally:
        release.set()
    if other.status not in (200, 503):  # a 503: its retry was answered too late
        which = f"visit of another tab, {LATE} while a visit forgot old ids,"
        return number, unexpected(which, other, [], greeting(number + 1)), False
    after, problem = _visit(visitor, number + 2)
    if after is not None and after > number + 2:
        return (
            after,
            (
                f"While a visit forgot old ids, a visit of another tab of the visitor counted, "
                f"{LATE}, and its retry came after the forgetting write: it was counted again. "
                f"The next visit answers {after}, where it should answer {number + 2}: the "
                "forgetting write dropped the id that the other visit had added since the ids were "
                "read (a SET of the ids it read, say). Forget only the old ids themselves (DELETE "
                "of those elements), or on condition that nothing changed meanwhile."
            ),
            False,
        )
    return number + 2, problem, False


def _late_while(stack: Any, visitor: LoggedVisitor, release: threading.Event) -> Answer:
    """A visit whose first write DynamoDB applies and answers late; when its next call (its
    retry) comes, `release` is set, and the writes it lets go are applied before that call is.
    (the visit's answer)"""
    answers: list[Answer] = []
    wrote, parked, closed = threading.Event(), threading.Event(), threading.Event()
    tables = [table.name for table in stack.template.tables.values()]

    def visit() -> None:
        try:
            answers.append(get(visitor.url, visitor.cookie, timeout=PATIENCE))
        except (OSError, http.client.HTTPException) as error:
            answers.append(Answer(0, f"no answer ({error})"))

    with stack.aws.dynamodb_stall(operations=WRITES) as stall:

        def park_the_retry(target: str, _body: dict[str, Any]) -> None:
            if closed.is_set():
                return
            if not wrote.is_set():
                if target.rsplit(".", 1)[-1] in WRITES:
                    wrote.set()
            elif not parked.is_set():
                parked.set()
                stall.close()  # the stall holds no other call: only this visit's
                closed.wait(PATIENCE)

        with stack.intercept_dynamodb(park_the_retry):
            late = threading.Thread(target=visit, daemon=True)
            late.start()
            while late.is_alive() and not parked.wait(0.05):
                pass
            stall.close()
            with stack.aws.between_calls():
                before = stack.aws.items(tables)
            release.set()
            # The held writes are applied once they change the tables (or never do).
            deadline = time.monotonic() + SETTLE
            while time.monotonic() < deadline:
                with stack.aws.between_calls():
                    if stack.aws.items(tables) != before:
                        break
                time.sleep(0.05)
            applied = stall.applied
            closed.set()
            if parked.is_set():
                stall.wait_for_applied(applied + 1, PATIENCE)
            interrupt.join(late, PATIENCE)
    return answers[0] if answers else Answer(0, "no answer")


def _stored(stack: Any, ahead: float) -> int:
    """The bytes the template's tables hold (each item's names and values, as JSON), without
    the items whose time to live is over, `ahead` seconds from now: DynamoDB deletes those,
    within a few days, and they are the counter's way of forgetting."""
    dynamodb = stack.aws.client("dynamodb")
    now = time.time() + ahead
    total = 0
    for table in stack.template.tables.values():
        for page in dynamodb.get_paginator("scan").paginate(TableName=table.name):
            for item in page["Items"]:
                if not expired(item.get(table.time_to_live or ""), now):
                    total += len(json.dumps(item))
    return total
