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

Each execution environment is a process that imports boto3 (about half a second of CPU),
and a race starts up to `clients` of them: keep `clients` modest on a small machine.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from workshop.errors import WorkshopError
from workshop.stack import Stack
from workshop.visitor import Answer, Visitor

DEFAULT_CLIENTS = 8
DEFAULT_VISITS = 10
MAX_CLIENTS = 128  # each client can start an execution environment: a process of its own


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

    def table(self) -> str:
        """The result as a short table: a header line and a line of numbers."""
        columns = {
            "clients": self.clients,
            "visits each": self.visits,
            "sent": self.sent,
            "counted": self.counted,
            "lost": self.lost,
        }
        if self.failed:
            columns["failed"] = self.failed
        widths = [max(len(name), len(str(value))) for name, value in columns.items()]
        header = "  ".join(name.rjust(width) for name, width in zip(columns, widths, strict=True))
        values = "  ".join(
            str(value).rjust(width) for value, width in zip(columns.values(), widths, strict=True)
        )
        return f"{header}\n{values}"


def _count_of(answer: Answer, label: str, which: str) -> int:
    """The visit_count of an answer; a clear error when the counter did not answer one."""
    try:
        count = json.loads(answer.body)["visit_count"] if answer.status == 200 else None
    except (ValueError, KeyError, TypeError):
        count = None
    if not isinstance(count, int) or isinstance(count, bool):
        raise WorkshopError(
            f"the {which} visit to {label} answered {answer.status} {answer.body[:200]!r}: "
            "a race needs a counter that answers 200 with its visit_count (stage 03 on)"
        )
    return count


def race(
    target: str | Stack = "final",
    *,
    clients: int = DEFAULT_CLIENTS,
    visits: int = DEFAULT_VISITS,
    log: Callable[[str], None] | None = None,
) -> RaceResult:
    """Race `clients` concurrent clients, `visits` visits each, on one session of `target`.

    target: a stage name (`"04"`), `"final"` or a project folder, started here on a free port
    from nothing (no saved state) and stopped at the end; or a started Stack, raced as it is.
    log: called with each progress line (print, say); None to stay quiet.
    """
    if not 1 <= clients <= MAX_CLIENTS:
        raise WorkshopError(f"--clients must be from 1 to {MAX_CLIENTS}, not {clients}")
    if visits < 1:
        raise WorkshopError(f"--visits must be 1 or more, not {visits}")
    say = log or (lambda line: None)
    if isinstance(target, Stack):
        return _race(target, str(target.project_dir), clients, visits, say)
    from workshop.manifest import project

    found = project(target)
    say(f"Starting {found.label} on a free port, from nothing...")
    with Stack(found.path, stack_name=found.stack_name, port=0, fresh=True) as stack:
        return _race(stack, found.label, clients, visits, say)


def _race(
    stack: Stack, label: str, clients: int, visits: int, say: Callable[[str], None]
) -> RaceResult:
    url = stack.url()
    opener = Visitor(url)
    before = _count_of(opener.visit(), label, "opening")
    cookie = opener.cookie
    if cookie:
        say(f"Opening visit: count {before}; every client sends its cookie {cookie}")
    else:
        say(f"Opening visit: count {before} (no cookie: the stage has one session for all)")

    sent = clients * visits
    answered_ok = 0
    failed = 0
    done = 0
    lock = threading.Lock()
    milestones = {sent * quarter // 4 for quarter in (1, 2, 3, 4)}
    start = threading.Barrier(clients + 1)

    def run_client() -> None:
        nonlocal answered_ok, failed, done
        client = Visitor(url, cookie)
        start.wait()
        for _ in range(visits):
            try:
                ok = client.visit().status == 200
            except (OSError, http.client.HTTPException):
                ok = False  # no answer: not acknowledged either
            with lock:
                answered_ok += ok
                failed += not ok
                done += 1
                if done in milestones:
                    say(f"  {done}/{sent} visits answered")

    who = (
        f"{clients} client{'s' if clients > 1 else ''} x {visits} visit{'s' if visits > 1 else ''}"
    )
    say(f"Racing {who}, all at once, on one session...")
    threads = [threading.Thread(target=run_client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()  # every client is ready: let them all go
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started

    after = _count_of(Visitor(url, cookie).visit(), label, "closing")
    counted = after - before - 1
    say(f"Closing visit: count {after}; the race took {seconds:.1f} s")
    return RaceResult(
        clients=clients,
        visits=visits,
        sent=sent,
        counted=counted,
        lost=answered_ok - counted,
        failed=failed,
        seconds=seconds,
    )
