"""Two visits at the same moment count two: no update is lost (stage 04 -> 05)."""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from workshop import interrupt
from workshop.errors import WorkshopError
from workshop.learn.checks.logged_visits import (
    LoggedVisitor,
    comes_back_later,
    counts_in_a_row,
    empty_table,
)
from workshop.learn.checks.story import (
    ANY_SESSION,
    ORDINALS,
    count_of,
    error_line,
    greeting,
    is_greeting,
    quote,
    unexpected,
    waiting,
)
from workshop.types import ITEM_WRITES
from workshop.visitor import Answer, deletes, get

NEEDS_STACK = True
FIRST_VISITS = "first visits of a session (its item not made yet)"
NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four"}
# After a visit that crashed holding a lock, its session must count again within this many of
# the function's Timeouts (a lease lapses after one, and a little more); tried every so often.
CRASH_TIMEOUTS, CRASH_RETRY_SECONDS = 3, 0.5
# A slow visit pauses before one of its DynamoDB calls until this many seconds are left of its
# Timeout (counted from its first call): what a lock must outlast, as a visit may take up to the
# Timeout.
SLOW_VISIT_LEFT = 1.5
# The visits meanwhile run in environments whose clocks (time.time(), the API's requestTimeEpoch)
# read later, by 1 to 2 s: by those clocks the last of them come this far into the whole second in
# which the slow visit's Timeout falls. So a lock that lapses before the Timeout is lost while the
# slow visit still works: a lease of 9 s for a Timeout of 10 s, and one counted in whole seconds
# (int(time.time()) + 10), which lapses as that second starts, up to a second before the Timeout,
# whatever fraction of a second the visit began at. A lease a second longer than the Timeout
# lapses only once the slow visit is over, as it is stopped at its Timeout.
INTO_THE_SECOND = 0.5
MEANWHILE_PAUSE = 0.2  # seconds between the visits meanwhile, after one not answered 200
# In a rush, a visit's writes each meet another visit, made whole just before it, this many times
# at most: a counter that tries again after a conflict must either keep trying or say it could
# not count (503), never answer 200 for a visit it gave up on, however many tries it allows up to
# this. A visit made meanwhile that is not answered within RUSH_PATIENCE seconds (it waits for a
# lock that the visit held back holds) ends the rush; the first has the Timeout, as it may start
# an execution environment (a cold start), the visit held back keeping its own busy.
RUSH, RUSH_PATIENCE = 10, 3.0
STALE_READ = (
    "A read that was not strongly consistent (a GetItem, Query, BatchGetItem or Scan without "
    "ConsistentRead=True) missed the write just before it, as DynamoDB allows: read the count "
    "with ConsistentRead=True, or take it from the write itself (ReturnValues)."
)


class InStep:
    """Lets the function's DynamoDB calls through together, as visits meet.

    Shown each call before the local AWS's IAM check, it holds the call until every visit still
    under way has made one, then lets them all go: visits started together then read together,
    and write together, which is the worst moment for a read-modify-write. A visit is over
    when its answer comes (`done`). A call still alone after `patience` seconds goes on (a
    visit busy elsewhere); the first call waits longer, while the other visits' execution
    environments may still be starting (cold starts).
    """

    def __init__(self, visits: int = 2, patience: float = 5.0, first_patience: float = 15.0):
        self.patience = patience
        self.first_patience = first_patience
        self._running = visits
        self._condition = threading.Condition()
        self._waiting = 0
        self._rounds = 0

    def __call__(self, target: str, body: dict[str, Any]) -> None:
        with self._condition:
            self._waiting += 1
            rounds = self._rounds
            if not self._all_here():
                self._condition.wait_for(
                    lambda: self._rounds != rounds,
                    timeout=self.first_patience if rounds == 0 else self.patience,
                )
            if self._rounds == rounds:  # nobody came: go alone
                self._waiting -= 1

    def done(self) -> None:
        """One visit has its answer: the others no longer wait for its calls."""
        with self._condition:
            self._running -= 1
            self._all_here()

    def _all_here(self) -> bool:
        """Let the waiting calls go if every visit under way has one among them."""
        if self._waiting == 0 or self._waiting < self._running:
            return False
        self._waiting = 0
        self._rounds += 1
        self._condition.notify_all()
        return True


def check(stack: Any) -> list[str]:
    """What still fails: two visits in a row, then (once four at once have started as many
    environments) two at the same moment, then one more, then four at once and one more; then,
    the table emptied, two first visits of that session at the same moment, then one more; then
    a visit that crashes at the last of its DynamoDB calls, and the visits after it; then a
    visit slow before one of its calls, and the visits that come meanwhile; then a visit in a
    rush, each of its writes met by another visit made just before it; last, a visit when
    the visitor comes back as late as their session lasts, the items whose time to live was
    over by then deleted.

    While visits meet, DynamoDB does what it may then (`LocalAWS.calls_meet`): a read that is
    not strongly consistent misses the write before it, and a transaction meeting another is
    cancelled. Any session will do: the exercise is the lost update, and a counter that also
    keeps a session per visitor (by cookie) is visited as a browser would, with its cookie.
    """
    visitor = LoggedVisitor(stack)
    problems, calls = at_the_same_moment(stack, visitor)
    # A counter of one call a visit leaves nothing behind, has no call to be slow between, and
    # no write to try again.
    if not problems and calls >= 2:
        problems = (
            _after_a_crash(stack, visitor, calls)
            or _while_one_is_slow(stack, visitor, calls)
            or _in_a_rush(stack, visitor)
        )
    return problems or comes_back_later(visitor, session=None)


def at_the_same_moment(stack: Any, visitor: LoggedVisitor) -> tuple[list[str], int]:
    """The visits of `check` up to the crash: what fails, and how many DynamoDB calls the last
    visit made."""
    problems = counts_in_a_row(visitor, 2, session=None)
    if problems:
        return problems, 0
    # Four environments start with visits that are not judged: a judged visit would wait
    # through the others' cold starts, which a short Timeout may not outlast. The count goes
    # on from the next visit's.
    _at_once(stack, visitor, 4)
    answer, logs = visitor.visit()
    counted = count_of(answer)
    if counted is None:
        expected = greeting(7, ANY_SESSION)
        return [unexpected("visit after four at once", answer, logs, expected)], 0
    problems = _together(stack, visitor, 2, counted, "visits")
    if problems:
        return problems, 0
    # Four at once: a fix that gives up after three conflicts, or fewer, fails here.
    problems = _together(stack, visitor, 4, counted + 3, "visits")
    if problems:
        return problems, 0
    # The first visit of a session creates its item: two at once must not both create it.
    empty_table(stack)
    problems = _together(stack, visitor, 2, 0, FIRST_VISITS)
    if problems:
        return problems, 0
    calls: list[str] = []

    def watch(target: str, body: dict[str, Any]) -> None:
        calls.append(target)

    with stack.intercept_dynamodb(watch):
        answer, logs = visitor.visit()
        if count_of(answer) is None:  # a strict counter cleared the emptied session: a new one
            calls.clear()
            answer, logs = visitor.visit()
    if count_of(answer) is None:
        return [unexpected("next visit", answer, logs, greeting(1, ANY_SESSION))], 0
    return [], len(calls)


def _after_a_crash(stack: Any, visitor: LoggedVisitor, last: int) -> list[str]:
    """A visit whose environment dies at the last of its DynamoDB calls (out of memory, say:
    no `finally` runs, a lock is not let go) must not keep the visits after it from counting."""
    function = stack.function()
    calls: list[str] = []
    killed: list[bool] = []

    def crash_at_the_last(target: str, body: dict[str, Any]) -> dict[str, Any] | None:
        calls.append(target)
        if len(calls) != last:
            return None
        killed.append(stack.runtimes[function.logical_id].crash())
        return {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError"}  # never read

    # A lock that lapses (a lease a little longer than the Timeout, so that no visit still
    # running can lose it) lets the visits through again by then.
    patience = CRASH_TIMEOUTS * function.timeout
    waiting(
        "A visit crashes at its last DynamoDB call; the visits after it must count again "
        f"within {patience:g} s"
    )
    with stack.intercept_dynamodb(crash_at_the_last):
        visitor.visit(patience=function.timeout + 5)
    if not any(killed):
        raise WorkshopError("the check could not stop the visit's execution environment")
    deadline = time.monotonic() + patience
    while count_of(answer := visitor.visit(patience=function.timeout + 5)[0]) is None:
        if time.monotonic() > deadline:
            return [
                "A visit whose execution environment crashed at the last of its DynamoDB calls "
                "(killed, as when it runs out of memory: no `finally` ran) keeps the visits "
                f"after it from counting: for {patience:g} s ({CRASH_TIMEOUTS} times the "
                f"function's Timeout) they answer {answer.status} {quote(answer.body)}. What "
                "it held (a lock?) is not let go: a lock must lapse by itself soon after the "
                "Timeout (a lease a little longer than it), or not be needed at all (one "
                "atomic update)."
            ]
        time.sleep(CRASH_RETRY_SECONDS)
    closing, logs = visitor.visit()
    if count_of(closing) != count_of(answer) + 1:
        expected = greeting(count_of(answer) + 1, ANY_SESSION)
        return [unexpected("visit after the crash and the next", closing, logs, expected)]
    return []


def _while_one_is_slow(stack: Any, visitor: LoggedVisitor, calls: int) -> list[str]:
    """A visit slow before one of its DynamoDB calls (the second, then each later one), until
    little is left of its Timeout, while visits come meanwhile: none answered 200 is lost."""
    for position in range(2, calls + 1):
        problem = _slow_before(stack, visitor, position)
        if problem:
            return [problem]
    return []


def _slow_before(stack: Any, visitor: LoggedVisitor, position: int) -> str | None:
    """One visit paused before its DynamoDB call number `position`; visits one after another
    meanwhile, until one answers 200; what is wrong, if anything."""
    timeout = stack.function().timeout
    answer, logs = visitor.visit()
    before = count_of(answer)
    if before is None:
        return unexpected("next visit", answer, logs, greeting(1, ANY_SESSION))
    seen, paused, resumed = [0], threading.Event(), threading.Event()
    slow: dict[str, Any] = {}

    def pause(target: str, body: dict[str, Any]) -> None:
        if paused.is_set():
            return  # the slow visit's call: those after it go as they come
        seen[0] += 1
        if seen[0] == 1:  # no later than it took a lock, if it takes one
            slow["first_call"], slow["first_time"] = time.monotonic(), time.time()
        if seen[0] == position:
            paused.set()
            until = slow["first_call"] + timeout - SLOW_VISIT_LEFT
            time.sleep(max(0.0, until - time.monotonic()))
            resumed.set()

    def slow_visit() -> None:
        slow["answer"] = get(visitor.url, visitor.cookie, timeout=timeout + 5)

    meanwhile = []
    waiting(
        f"A visit is slow before {_call(position)}, for about {timeout - SLOW_VISIT_LEFT:g} s, "
        "while others come meanwhile"
    )
    with stack.aws.calls_meet() as meet, stack.intercept_dynamodb(pause):
        visiting = threading.Thread(target=slow_visit, daemon=True)
        visiting.start()
        while visiting.is_alive() and not paused.wait(0.05):
            pass
        # The slow visit's environment is busy: it keeps its clock, and the visits meanwhile
        # start others, whose clocks read later.
        with stack.later(ahead := _ahead(slow.get("first_time", time.time()), timeout)):
            while paused.is_set() and not resumed.is_set():
                meanwhile.append(get(visitor.url, visitor.cookie, timeout=timeout + 5))
                if meanwhile[-1].status == 200:
                    break
                time.sleep(MEANWHILE_PAUSE)  # a counter that answers "busy" at once: as a client
            interrupt.join(visiting, timeout + 5)
    if not paused.is_set():
        return None  # it made fewer calls this time: nothing held
    answer = slow.get("answer") or Answer(0, "no answer")
    answered = [a for a in (answer, *meanwhile) if a.status == 200]
    # Should the slow visit have timed out all the same (a loaded machine), a lock it held
    # lapses in time, as after a crash: the count is read once the visits count again.
    deadline = time.monotonic() + CRASH_TIMEOUTS * timeout
    while count_of((closing := visitor.visit(patience=timeout + 5))[0]) is None:
        if time.monotonic() > deadline:
            expected = greeting(before + len(answered) + 1, ANY_SESSION)
            return unexpected("visit after a slow one", *closing, expected)
        time.sleep(CRASH_RETRY_SECONDS)
    counted = count_of(closing[0]) - before - 1  # the closing visit counts itself
    if counted >= len(answered):
        return None
    if len(answered) == 2:
        told = "it and a visit that came meanwhile were both answered 200"
    elif answer.status == 200:
        told = "it was answered 200"
    else:
        got = f"answered {answer.status}" if answer.status else "got no answer"
        told = f"a visit that came meanwhile was answered 200 (the slow one {got})"
    return (
        f"A visit was slow before {_call(position)}, and went on {SLOW_VISIT_LEFT:g} s before the "
        f"function's Timeout of {timeout:g} s, as a visit may (the clocks of the visits that "
        f"came meanwhile read {ahead:.1f} s later than its own): "
        f"{told}, but the count rose by only {max(counted, 0)} (a lost update). What kept the "
        "visits apart let another in "
        "before the slow one had ended: a lock must be taken only while no visit holds it, "
        "and its lease must be a little longer than the Timeout."
        + (f" {STALE_READ}" if meet and meet.stale_reads else "")
    )


def _in_a_rush(stack: Any, visitor: LoggedVisitor) -> list[str]:
    """A visit each of whose writes (up to RUSH) waits for another visit, made whole before it
    goes on: a conditional write of what the visit read then fails each time, as when many
    visitors come at once. Every visit answered 200 must be counted."""
    answer, logs = visitor.visit()
    before = count_of(answer)
    if before is None:
        return [unexpected("next visit", answer, logs, greeting(1, ANY_SESSION))]
    timeout = stack.function().timeout
    meanwhile: list[Answer] = []  # the answers of the visits made meanwhile
    others: list[threading.Thread] = []
    stuck = threading.Event()  # a visit meanwhile outlasted RUSH_PATIENCE: the rush is over
    rushing = threading.Lock()  # held while a visit meanwhile runs: its calls go as they come

    def visit_meanwhile() -> None:
        meanwhile.append(get(visitor.url, visitor.cookie, timeout=timeout + 5))

    def other_first(target: str, body: dict[str, Any]) -> None:
        if target.rsplit(".", 1)[-1] not in ITEM_WRITES or stuck.is_set() or len(others) >= RUSH:
            return
        if not rushing.acquire(blocking=False):
            return  # a call of the visit meanwhile
        try:
            others.append(threading.Thread(target=visit_meanwhile, daemon=True))
            others[-1].start()
            interrupt.join(others[-1], RUSH_PATIENCE if len(others) > 1 else timeout)
            if others[-1].is_alive():
                stuck.set()  # it waits for something this visit holds (a lock?): let it go on
        finally:
            rushing.release()

    waiting(
        f"A visit in a rush: up to {RUSH} other visits come, each just before one of its writes"
    )
    with stack.intercept_dynamodb(other_first):
        rushed = get(visitor.url, visitor.cookie, timeout=timeout + 5)
    for other in others:
        interrupt.join(other, timeout + 5)
    closing, logs = visitor.visit()
    count = count_of(closing)
    answered = [a for a in (rushed, *meanwhile) if a.status == 200]
    if count is None:
        expected = greeting(before + len(answered) + 1, ANY_SESSION)
        return [unexpected("visit after a rush", closing, logs, expected)]
    counted = count - before - 1  # the closing visit counts itself
    if counted >= len(answered):
        return []
    told = (
        f"it was answered 200 {quote(rushed.body)}"
        if rushed.status == 200
        else f"it was answered {rushed.status}"
    )
    return [
        f"A visit in a rush (each of its writes came just after another visit's, "
        f"{len(others)} times): {told}, and {len(answered)} visits in all were answered 200, "
        f"but the count rose by only {max(counted, 0)} (a lost update). A visit that gave up "
        "on its write must not answer as counted: it must say so (503, try again), or keep "
        "trying until it counts; one atomic update never has to try again."
    ]


def _ahead(first: float, timeout: float) -> float:
    """How many seconds later than the slow visit's the clocks of the visits meanwhile read, its
    first call made at `first` (time.time()): 2 s less the fraction of a second it was made at."""
    last = first + timeout - SLOW_VISIT_LEFT  # when the last visit meanwhile comes, by its clock
    return math.floor(first + timeout) + INTO_THE_SECOND - last


def _call(position: int) -> str:
    if position <= len(ORDINALS):
        return f"its {ORDINALS[position - 1]} DynamoDB call"
    return f"its DynamoDB call number {position}"


def _at_once(stack: Any, visitor: LoggedVisitor, n: int) -> tuple[list[Any], int]:
    """The answers to `n` visits at the same moment, their DynamoDB calls let go together, and
    how many of their reads missed the write before them (not strongly consistent)."""
    gate = InStep(n)

    def visit(_: int) -> Any:
        try:
            return get(visitor.url, visitor.cookie)
        finally:
            gate.done()

    with (
        stack.aws.calls_meet() as meet,
        stack.intercept_dynamodb(gate),
        ThreadPoolExecutor(n) as pool,
    ):
        visits = [pool.submit(visit, i) for i in range(n)]
        while wait(visits, timeout=0.1).not_done:  # in turns, which a Ctrl-C ends (interrupt.join)
            pass
        return [answer.result() for answer in visits], meet.stale_reads if meet else 0


def _together(stack: Any, visitor: LoggedVisitor, n: int, before: int, which: str) -> list[str]:
    """`n` `which` at the same moment, then one more: each counted, each told its own count."""
    logs = stack.log_tail()
    answers, stale_reads = _at_once(stack, visitor, n)
    number = NUMBERS[n]
    if which == FIRST_VISITS and all(
        answer.status == 400 and any(map(deletes, answer.set_cookies)) for answer in answers
    ):
        # A strict counter: it refuses a session it no longer holds, and clears its cookie.
        # Its first visits are then new visitors', each with an item of its own: no race.
        return []
    for answer in answers:
        if answer.status != 200:
            line = error_line([event.message for event in logs.read()])
            return [
                f"Of {number} {which} at the same moment, one answers {answer.status} "
                f"{quote(answer.body)}"
                + (f" (the logs say `{quote(line)}`)" if line else "")
                + ": a visit that meets another must be counted too, not refused."
            ]
    for answer in answers:  # its words and its count told together: both from its own update
        told = count_of(answer)
        if told is not None and not is_greeting(answer, told, None):
            return [
                f"Of {number} {which} at the same moment, one answers {quote(answer.body)}: its "
                f"message does not say its own count ({told}). Take both from the update itself "
                "(ReturnValues), not the message from a read in a call of its own."
            ]
    closing, logs = visitor.visit()
    count = count_of(closing)
    if count is None:
        return [unexpected("next visit", closing, logs, greeting(before + n + 1, ANY_SESSION))]
    counted = count - before - 1  # the closing visit counts itself
    told = sorted(count_of(answer) or 0 for answer in answers)
    every = "both" if n == 2 else f"all {number}"
    if counted < n:
        if len(set(told)) == 1:
            told_text = f'{every} were told "{_said(told[0])}"'
        else:
            told_text = f"they were told visits {', '.join(map(str, told[:-1]))} and {told[-1]}"
        lost = n - max(counted, 0)
        if lost == n:
            lost_text = f"{every} were lost"
        elif lost == 1:
            lost_text = "one of them was lost"
        else:
            lost_text = f"{NUMBERS[lost]} of them were lost"
        stale = f" {STALE_READ}" if stale_reads else ""
        # Lower than before them, where an older count was written back last.
        moved = f"rose by only {counted}" if counted >= 0 else f"fell by {-counted}"
        return [
            f"{number.capitalize()} {which} at the same moment were {every} answered 200 "
            f"({told_text}), but the count {moved}: {lost_text} (a lost update)." + stale
        ]
    same = max(set(told), key=told.count)
    if told.count(same) > 1:
        alike = every if told.count(same) == n else NUMBERS[told.count(same)]
        return [
            f"{number.capitalize()} {which} at the same moment were {every} counted, but {alike} "
            f'were told "{_said(same)}": each visit must be told the count its own '
            "update made. Take it from the update itself (ReturnValues), not from a read in a "
            "call of its own."
        ]
    return []


def _said(count: int) -> str:
    """The words of the story's greeting for `count`, after its "Welcome back! "."""
    return greeting(count, ANY_SESSION)["message"].partition("! ")[2]
