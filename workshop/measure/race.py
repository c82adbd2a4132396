"""Many clients visiting one session at the same moment: does the counter count every visit?

`race(stage)` runs a race in three steps, over HTTP only, as visitors would:

1. One opening visit, without a cookie. Its `visit_count` is the count before the race. If
   the answer sets a session cookie (stage 06 on), every client sends that cookie back, so
   all the visits go to one session; stages 02 to 05 have one hard-coded session and ignore it.
2. `clients` threads, released together, each make `visits` visits in a row, as `clients`
   browsers refreshing at once would.
3. One closing visit, once every visit of the race has been answered. Its `visit_count` is the
   count after.

The count is read from what the API answers, never from the table: the closing visit counts
itself, so the race counted `after - before - 1` visits. Reading the answers rather than
DynamoDB keeps the race honest to what a visitor sees, and lets it run against any counter
that answers its `visit_count`, wherever its table lives. `lost` is how many visits were
answered 200 and yet not counted: the lost updates.

With `stall`, the race is run by visitors, each with a session of their own (stage 06 on; a
stage with one session for all is tallied as one visitor), while DynamoDB answers late: once a
quarter of the visits are answered, the local AWS holds each answer for up to `stall` seconds
after applying the call (LocalAWS.dynamodb_stall). Each visitor's opening and closing visits
tell how much their own count went up, and so how many of their visits were counted twice:
more counted than their visits answered 200 or 503. A visit answered 503 may have counted too
(DynamoDB may have applied the update the SDK gave up on): the verdict says how far the counts
rose past the visits answered 200, as measured.

Each execution environment is a process that imports boto3 (about half a second of CPU),
and a race starts up to `clients` of them: keep `clients` modest on a small machine.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from workshop import interrupt
from workshop.errors import WorkshopError
from workshop.local.faults import Stall
from workshop.local.sam_template import load
from workshop.local.stack import Stack
from workshop.manifest import Project, project
from workshop.types import MAX_CLIENTS, MAX_STALL, Template
from workshop.visitor import Answer, Visitor

DEFAULT_CLIENTS = 8
DEFAULT_VISITS = 10
FIRST_RACE_STAGE = "03"  # the first stage that keeps its count in a table and answers it


def plural(count: int, noun: str) -> str:
    """`1 visit`, `2 visits`: a count with its noun."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _were(count: int, noun: str = "visit") -> str:
    return f"{plural(count, noun)} {'was' if count == 1 else 'were'}"


@dataclass(frozen=True)
class Tally:
    """One visitor of a stalled race: how they were answered, and how much their count rose."""

    statuses: dict[int, int]  # how many visits were answered each status (0: no answer)
    counted: int

    @property
    def acknowledged(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def unavailable(self) -> int:
        return self.statuses.get(503, 0)

    @property
    def lost(self) -> int:
        return max(0, self.acknowledged - self.counted)

    @property
    def counted_twice(self) -> int:
        return max(0, self.counted - self.acknowledged - self.unavailable)


@dataclass(frozen=True)
class RaceResult:
    """What one race sent, and what the counter made of it."""

    clients: int
    visits: int  # by each client
    sent: int  # clients x visits
    counted: int  # how much the count the API reports went up during the race
    lost: int  # answered 200, yet not counted
    failed: int = 0  # answered something other than 200 (or not at all): not acknowledged
    seconds: float = 0.0  # from the start signal to the last answer
    stall: float = 0.0  # how long DynamoDB held its answers (0: it did not)
    held: int = 0  # how many answers it held
    visitors: tuple[Tally, ...] = field(default=())  # with a stall: each visitor's own
    # Without a stall: how many visits were answered each status, and the counts the visits
    # answered 200 were told (each its own, when no update is lost).
    answered: dict[int, int] = field(default_factory=dict)
    told: tuple[int, ...] = ()
    # Visits Lambda refused, the function at its reserved concurrency (API Gateway answers
    # them 500), and that concurrency.
    refused: int = 0
    reserved_concurrency: int | None = None

    @property
    def unavailable(self) -> int:
        return sum(visitor.unavailable for visitor in self.visitors)

    @property
    def counted_twice(self) -> int:
        return sum(visitor.counted_twice for visitor in self.visitors)

    @property
    def statuses(self) -> dict[int, int]:
        """How many visits of the race were answered each status, over all its visitors."""
        if not self.visitors:
            return self.answered
        total: Counter[int] = Counter()
        for visitor in self.visitors:
            total.update(visitor.statuses)
        return dict(sorted(total.items()))

    def table(self) -> str:
        """The result as a short table: a header line and a line of numbers."""
        columns = {
            "clients": self.clients,
            "visits each": self.visits,
            "sent": self.sent,
            "counted": self.counted,
            "lost": self.lost,
        }
        if self.stall:
            columns["answered 503"] = self.unavailable
            columns["counted twice"] = self.counted_twice
            columns["failed"] = self.failed - self.unavailable
        elif self.failed:
            columns["failed"] = self.failed
        widths = [max(len(name), len(str(value))) for name, value in columns.items()]
        header = "  ".join(name.rjust(width) for name, width in zip(columns, widths, strict=True))
        values = "  ".join(
            str(value).rjust(width) for value, width in zip(columns.values(), widths, strict=True)
        )
        return f"{header}\n{values}"

    def verdict(self) -> list[str]:
        """What the race shows, in sentences."""
        lines = []
        if self.lost:
            lines.append(f"{_were(self.lost)} answered 200 but never counted: lost updates.")
        if self.counted_twice:
            lines.append(
                f"{_were(self.counted_twice)} answered once but counted twice: DynamoDB "
                "applied an update whose answer came after the SDK's read timeout, and the "
                "SDK's retry counted it again."
            )
        if not lines:
            lines.append("Every visit answered 200 was counted.")
            if self.stall and self.held:
                lines.append("No visit was counted twice, although DynamoDB answered late.")
            elif self.stall:
                lines.append(
                    "DynamoDB held no answer: the stall begins once a quarter of the visits are "
                    "answered, and the race ended first. Give it more visits (--visits 4)."
                )
        if self.unavailable:
            # Measured, not promised: how far the counts rose past the visits answered 200 (on
            # stage 07 a 503 visit may count twice, on stage 08 at most once).
            beyond = sum(max(0, v.counted - v.acknowledged) for v in self.visitors)
            lines.append(
                f"{_were(self.unavailable)} answered 503: DynamoDB did not answer within the "
                f"SDK's retries. The counts rose by {beyond} more than the visits answered 200: "
                "updates DynamoDB applied, though it answered too late."
                if beyond
                else f"{_were(self.unavailable)} answered 503: DynamoDB did not answer within the "
                "SDK's retries. None of them was counted."
            )
        other = {status: n for status, n in self.statuses.items() if status not in (200, 503)}
        if other:
            answers = ", ".join(f"{n} x {status or 'no answer'}" for status, n in other.items())
            lines.append(f"Other answers: {answers}.")
        if self.refused:
            lines.append(
                f"{_were(self.refused)} refused by Lambda, which API Gateway answers 500: more "
                "visits at once than the function's reserved concurrency "
                f"({self.reserved_concurrency}) lets run. Race with --clients "
                f"{self.reserved_concurrency} or fewer to see the counter's own answers."
            )
        return lines


def _told(answer: Answer) -> int | None:
    """The visit_count an answer tells, if it tells one."""
    body = answer.json()
    count = body.get("visit_count") if isinstance(body, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _count_of(answer: Answer, label: str, which: str) -> int:
    """The visit_count of an answer; a clear error when the counter did not answer one."""
    count = _told(answer) if answer.status == 200 else None
    if count is None:
        raise WorkshopError(
            f"the {which} visit to {label} answered {answer.status} {answer.body[:200]!r}: "
            "a race needs a counter that answers 200 with its visit_count (stage 03 on)"
        )
    return count


def _needs_a_table(template: Template, label: str, command: str) -> None:
    """Refuse a race that could only mislead: a count that no table keeps cannot be raced."""
    if not template.tables:
        from workshop.learn import run_py

        example = "race 04" if command == "race" else f"{command} --original 03"
        raise WorkshopError(
            f"{label} has no table: it keeps its count in each execution environment's memory, "
            "so visits that reach different environments never meet, and none is lost to a race. "
            f"`{command}` is for a counter kept in a DynamoDB table: stage {FIRST_RACE_STAGE} on "
            f"(`{run_py()} {example}`)"
        )


def raceable(target: str, command: str = "race") -> Project:
    """The project `target` names, once its counter is known to be kept in a table (for
    `command`, named in the refusal)."""
    found = project(target)
    template = load(found.path / "template.yaml", stack_name=found.stack_name)
    _needs_a_table(template, found.label, command)
    return found


def race(
    target: str | Stack = "final",
    *,
    clients: int = DEFAULT_CLIENTS,
    visits: int = DEFAULT_VISITS,
    stall: float | None = None,
    log: Callable[[str], None] | None = None,
) -> RaceResult:
    """Race `clients` concurrent clients, `visits` visits each, on one session of `target`.

    target: a stage name (`"04"`), `"final"` or a project folder, started here on a free port
    from nothing (no saved state) and stopped at the end; or a started Stack, raced as it is.
    stall: seconds that DynamoDB holds its answers, once a quarter of the visits are answered;
    then each client is a visitor with a session of their own.
    log: called with each progress line (print, say); None to stay quiet.
    """
    if not 1 <= clients <= MAX_CLIENTS:
        raise WorkshopError(f"--clients must be from 1 to {MAX_CLIENTS}, not {clients}")
    if visits < 1:
        raise WorkshopError(f"--visits must be 1 or more, not {visits}")
    if stall is not None and not 0 < stall <= MAX_STALL:
        raise WorkshopError(f"--stall must be more than 0 and at most {MAX_STALL:g}, not {stall:g}")
    say = log or (lambda line: None)
    if isinstance(target, Stack):
        _needs_a_table(target.template, str(target.project_dir), "race")
        return _race(target, str(target.project_dir), clients, visits, stall, say)
    found = raceable(target)
    say(f"Starting {found.label} on a free port, from nothing...")
    with Stack.for_project(found, port=0, fresh=True) as stack:
        return _race(stack, found.label, clients, visits, stall, say)


def _race(
    stack: Stack,
    label: str,
    clients: int,
    visits: int,
    stall: float | None,
    say: Callable[[str], None],
) -> RaceResult:
    url = stack.url()
    if stall is None:
        opening = Visitor(url).visit()
        before = [_count_of(opening, label, "opening")]
        if opening.cookie:
            say(f"Opening visit: count {before[0]}; every client sends its cookie {opening.cookie}")
        else:
            say(f"Opening visit: count {before[0]} (no cookie: the stage has one session for all)")
        cookies = [opening.cookie]
    else:
        if not stack.aws.embedded:
            raise WorkshopError("--stall needs the embedded local AWS: unset AWS_ENDPOINT_URL")
        openings = [Visitor(url).visit()]
        if openings[0].cookie is None:
            say("Opening visit: no cookie, so the stage has one session for all, tallied as one")
        else:
            openings += [Visitor(url).visit() for _ in range(clients - 1)]
            each = "each with a session cookie" if clients > 1 else "with a session cookie"
            say(f"Opening visits: {plural(clients, 'visitor')}, {each} of their own")
        before = [_count_of(opening, label, "opening") for opening in openings]
        cookies = [opening.cookie for opening in openings]

    runtimes = list(stack.runtimes.values())
    refused_before = [runtime.refused for runtime in runtimes]
    sent = clients * visits
    sessions = len(cookies)  # with a stall, a tally for each; else one, whatever it holds
    statuses: list[Counter[int]] = [Counter() for _ in range(sessions)]
    done = 0
    told: list[int] = []  # the visit_count each visit answered 200 was told
    lock = threading.Lock()
    milestones = {sent * quarter // 4 for quarter in (1, 2, 3, 4)}
    start = threading.Barrier(clients + 1)
    quarter, finished = threading.Event(), threading.Event()
    stalling = contextlib.ExitStack()  # the stall, once a client begins it: its thread ends it
    stalled: Stall | None = None
    held = 0

    def run_client(index: int) -> None:
        nonlocal done, stalled
        client = Visitor(url, cookies[index % sessions])
        start.wait()
        for _ in range(visits):
            try:
                answer = client.visit()
                status = answer.status
            except (OSError, http.client.HTTPException):
                status = 0  # no answer: not acknowledged either
            with lock:
                if status == 200 and isinstance(count := _told(answer), int):
                    told.append(count)
                statuses[index % sessions][status] += 1
                done += 1
                if done in milestones:
                    say(f"  {done}/{sent} visits answered")
                if done >= sent // 4 and not quarter.is_set():
                    if stall is not None:
                        # Begun here, before this client's next visit: the visits after the
                        # first quarter meet it, however the threads are scheduled.
                        stalled = stalling.enter_context(stack.aws.dynamodb_stall(stall))
                    quarter.set()

    def stall_dynamodb() -> None:
        nonlocal held
        quarter.wait()
        if stalled is None:  # woken at the race's end: no client got as far as a quarter
            return
        with stalling:
            say(f"DynamoDB stalls: each answer held up to {stall:g} s after its update is applied")
            while not stalled.wait(0.1) and not finished.is_set():
                pass
        held = stalled.held
        say(f"DynamoDB answers again, after holding {plural(held, 'answer')}")

    who = f"{plural(clients, 'client')} x {plural(visits, 'visit')}"
    when = "all at once" if clients > 1 else "one after another"
    say(f"Racing {who}, {when}, on {'one session' if sessions == 1 else 'their sessions'}...")
    threads = [threading.Thread(target=run_client, args=(i,), daemon=True) for i in range(clients)]
    if stall is not None:
        threads.append(threading.Thread(target=stall_dynamodb, daemon=True))
    for thread in threads:
        thread.start()
    start.wait()  # every client is ready: let them all go
    started = time.perf_counter()
    for thread in threads[:clients]:
        interrupt.join(thread)
    seconds = time.perf_counter() - started
    finished.set()
    quarter.set()
    for thread in threads[clients:]:
        interrupt.join(thread)

    answered = sum(statuses, Counter())
    failed = sent - answered[200]
    # The functions that refused visits, and how many: the race says why they answered 500.
    refusing = [
        (runtime.refused - before, runtime.function.reserved_concurrency)
        for runtime, before in zip(runtimes, refused_before, strict=True)
        if runtime.refused > before
    ]
    refused = sum(count for count, _ in refusing)
    limit = min((limit for _, limit in refusing), default=None)
    if stall is None:
        after = _count_of(Visitor(url, cookies[0]).visit(), label, "closing")
        counted = after - before[0] - 1
        say(
            f"Closing visit: count {after}, so the race counted {after} - {before[0]} - 1 "
            f"(this visit) = {counted}; it took {seconds:.1f} s"
        )
        return RaceResult(
            clients,
            visits,
            sent,
            counted,
            max(0, answered[200] - counted),  # a visit answered 503 may have counted too
            failed,
            seconds,
            answered=dict(sorted(answered.items())),
            told=tuple(sorted(told)),
            refused=refused,
            reserved_concurrency=limit,
        )
    tallies = []
    for index in range(sessions):
        after = _count_of(Visitor(url, cookies[index]).visit(), label, "closing")
        tallies.append(Tally(dict(sorted(statuses[index].items())), after - before[index] - 1))
    say(f"Closing visits: each visitor's count read again; the race took {seconds:.1f} s")
    return RaceResult(
        clients=clients,
        visits=visits,
        sent=sent,
        counted=sum(tally.counted for tally in tallies),
        lost=sum(tally.lost for tally in tallies),
        failed=failed,
        seconds=seconds,
        stall=stall,
        held=held,
        visitors=tuple(tallies),
        refused=refused,
        reserved_concurrency=limit,
    )
