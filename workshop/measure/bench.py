"""`workshop bench`: the original counter (stage 03) and the final app, measured side by side.

Both run in one process against one local AWS: they meet the same machine at the same time.
Round trips are counted at the local AWS, one per DynamoDB request signed by each function's
credentials (retries included); lost updates come from races over HTTP (`workshop.measure.race`),
and so do visits counted twice, from 8 visitors while the local AWS stalls DynamoDB (each answer
held, once its update is applied, longer than the final app's read timeout).

Timings, each warm round taking one sample of each, so that no figure gets the quieter moments:
- warm visit: a visit as its client sees it, through the API, from the request to the answer read:
  of VISITORS visitors taking turns, each with a session of its own, as a site's visitors come.
- overhead: what the local stack adds to a warm visit, the warm visit's time less its
  invocation's Duration (REPORT's, the time inside the handler): API Gateway's adapter, the
  invocation (the event to the environment's process and its answer back), START/END/REPORT
  and handing the log lines to the shipper, which stores them in batches, off the visit's path,
  as Lambda does. The handler's own DynamoDB requests are inside the Duration, so outside it;
  the client's own HTTP work (urllib's, in the bench's process) is inside it, as it is in
  every visit's time: an upper bound of what the stack adds.
- round trip: one DynamoDB request of an app as a function sees it: the app's own requests (the
  original's GetItem and PutItem, the final app's conditional UpdateItem) on its table, made
  and timed by a process of its own with boto3 (`workshop.measure.round_trip`), as a function's
  environment makes them, from the call to its parsed answer.
- cold start: the REPORT's Init Duration of the first visit after every environment of the app
  was reclaimed, and that visit as its client sees it; the cold starts are spread over the warm
  rounds, the two apps taking turns to go first.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workshop.errors import WorkshopError
from workshop.local.iam import function_credentials
from workshop.local.local_aws import LocalAWS
from workshop.local.stack import Stack
from workshop.manifest import project
from workshop.measure.race import plural, race, raceable
from workshop.measure.round_trip import RoundTrips
from workshop.types import Invocation
from workshop.visitor import Answer, Visitor

RACE_CLIENTS = (1, 8, 32)
WARM_VISITS = 200
# With 12, a cold-start ratio near its target came out "NOT met" in one run, "within noise" in
# the next: 24 (6 a quarter of the run) tell as the same from run to run.
COLD_STARTS = 24
# The DynamoDB actions whose round trips the probe can time, by their names in the API.
PROBED = {"GetItem": "get_item", "PutItem": "put_item", "UpdateItem": "update_item"}
STALL_VISITORS = 8
# Visitors taking turns in the warm rounds, each on a connection of their own, each coming back
# every VISITORS-th round. The final app's item keeps the request ids of its session's last 30 s
# (stage 08), and each update carries them: one visitor alone, coming back every round (tens of
# times a second), would time an item that a site's visitors never make it carry.
VISITORS = 20
STALL_SECONDS = 4.0  # past the final app's 3 s read timeout, within its SDK's retries
TARGETS = {
    "round_trips": "final: 1 per visit (+1 in 10 at most)",
    "lost": "final: 0",
    "counted_twice": "final: 0",
    "overhead": "each: below its round trip",
    "warm_ratio": "final/original <= 0.6",
    "warm_ms": "final <= 6 ms",
    "cold_ratio": "final/original <= 1.0",
}
RATIO_LIMITS = {"overhead": 1.0, "warm_ratio": 0.6, "cold_ratio": 1.0}
WARM_LIMIT_MS = 6.0


def median_interval(samples: list[float]) -> tuple[float, float]:
    """Where the median of such samples lies, 95% of the time: median +- 1.57 IQR / sqrt(n),
    the notch of a box plot (McGill, Tukey and Larsen, 1978), within the samples' range."""
    if len(samples) < 2:
        return samples[0], samples[0]
    first, _, third = statistics.quantiles(samples, n=4, method="inclusive")
    notch = 1.57 * (third - first) / len(samples) ** 0.5
    middle = statistics.median(samples)
    return max(middle - notch, min(samples)), min(middle + notch, max(samples))


def quarters(samples: list[float], split: bool | None = None) -> list[list[float]]:
    """The samples in four stretches of the run, in the order they were taken (all of them as
    one when not `split`: by default, when fewer than 8)."""
    n = len(samples)
    if split is None:
        split = n >= 8
    return [samples[i * n // 4 : (i + 1) * n // 4] for i in range(4)] if split else [samples]


def _verdict(low: float, high: float, limit: float) -> str:
    return "met" if high <= limit else "NOT met" if low > limit else "within noise"


def ratio_verdict(final: list[float], original: list[float], limit: float) -> str:
    """Whether final/original <= limit: "met" or "NOT met" only when the ratio of the medians
    lies on one side of it, wherever in its range: from what the medians' notches allow to
    what each quarter of the run gave. The samples come in the order they were taken, the two
    apps' interleaved, so a quarter is a stretch of time: a machine busier in one stretch than
    in another (as in one run than in the next) shows in the quarters' spread; "within noise"
    when the limit lies inside that range."""
    final_low, final_high = median_interval(final)
    original_low, original_high = median_interval(original)
    split = min(len(final), len(original)) >= 8  # both in quarters, or both whole
    ratios = [
        statistics.median(f) / statistics.median(o)
        for f, o in zip(quarters(final, split), quarters(original, split), strict=True)
    ]
    high = final_high / original_low if original_low > 0 else float("inf")
    return _verdict(min(final_low / original_high, *ratios), max(high, *ratios), limit)


def limit_verdict(samples: list[float], limit: float) -> str:
    """Whether the median of `samples` is at most `limit`, as ratio_verdict tells."""
    low, high = median_interval(samples)
    middles = [statistics.median(quarter) for quarter in quarters(samples)]
    return _verdict(min(low, *middles), max(high, *middles), limit)


def worst(verdicts: list[str]) -> str:
    """The verdict of targets that must all hold."""
    return next(v for v in ("NOT met", "within noise", "met") if v in verdicts)


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


@dataclass
class AppFigures:
    """What the bench measured of one app."""

    label: str
    round_trips_per_visit: float = 0.0
    sent: dict[int, int] = field(default_factory=dict)  # by concurrent clients
    lost: dict[int, int] = field(default_factory=dict)
    stall_sent: int = 0  # visits of the race through a stall
    counted_twice: int = 0  # of them
    warm_ms: list[float] = field(default_factory=list)
    duration_ms: list[float] = field(default_factory=list)  # REPORT's, of each warm visit
    round_trip_ms: list[float] = field(default_factory=list)  # its own DynamoDB requests
    init_ms: list[float] = field(default_factory=list)
    first_visit_ms: list[float] = field(default_factory=list)
    max_memory_mb: int = 0

    @property
    def overhead_ms(self) -> list[float]:
        """What the local stack added to each warm visit: its time less its Duration."""
        return [
            visit - inside for visit, inside in zip(self.warm_ms, self.duration_ms, strict=True)
        ]

    def percentile(self, q: int) -> float:
        return statistics.quantiles(self.warm_ms, n=100, method="inclusive")[q - 1]


@dataclass
class BenchResult:
    original: AppFigures
    final: AppFigures
    machine: str
    settings: dict[str, float]

    @property
    def warm_ratio(self) -> float:
        return self.final.percentile(50) / self.original.percentile(50)

    @property
    def init_ratio(self) -> float:
        return statistics.median(self.final.init_ms) / statistics.median(self.original.init_ms)

    @property
    def first_visit_ratio(self) -> float:
        final, original = self.final.first_visit_ms, self.original.first_visit_ms
        return statistics.median(final) / statistics.median(original)

    def verdicts(self) -> dict[str, str]:
        """Each target's verdict: the exact ones "met" or "NOT met"; the timings may also be
        "within noise", when the samples cannot tell (see ratio_verdict)."""
        o, f = self.original, self.final
        exact = {
            # One update a visit, and now and then one that forgets old request ids (stage 08).
            "round_trips": 1 <= f.round_trips_per_visit <= 1.1,
            "lost": not any(f.lost.values()),
            "counted_twice": f.counted_twice == 0,
        }
        verdicts = {key: "met" if met else "NOT met" for key, met in exact.items()}
        verdicts["overhead"] = worst(
            [
                ratio_verdict(a.overhead_ms, a.round_trip_ms, RATIO_LIMITS["overhead"])
                for a in (o, f)
            ]
        )
        if round(o.round_trips_per_visit) >= 2 * round(f.round_trips_per_visit):
            # Two round trips against one predict the ratio; apps that make as many, as 07
            # and 08 do, predict none. Rounded: the counts are averages over the visits.
            verdicts["warm_ratio"] = ratio_verdict(f.warm_ms, o.warm_ms, RATIO_LIMITS["warm_ratio"])
        verdicts["warm_ms"] = limit_verdict(f.warm_ms, WARM_LIMIT_MS)
        verdicts["cold_ratio"] = worst(
            [
                ratio_verdict(f.init_ms, o.init_ms, RATIO_LIMITS["cold_ratio"]),
                ratio_verdict(f.first_visit_ms, o.first_visit_ms, RATIO_LIMITS["cold_ratio"]),
            ]
        )
        return verdicts

    def table(self) -> str:
        o, f = self.original, self.final
        rows = [("", o.label, f.label, "final/original", "target")]
        verdicts = self.verdicts()

        def mark(key: str) -> str:
            if key not in verdicts:
                return "no ratio target: not two round trips against one"
            return f"{TARGETS[key]} ({verdicts[key]})"

        rows.append(
            (
                "DynamoDB round trips per visit",
                f"{o.round_trips_per_visit:.3g}",
                f"{f.round_trips_per_visit:.3g}",
                "",
                mark("round_trips"),
            )
        )
        for clients in o.lost:
            rows.append(
                (
                    f"lost updates, {plural(clients, 'client')} x "
                    f"{plural(self.settings['race_visits'], 'visit')}",
                    f"{o.lost[clients]} of {o.sent[clients]}",
                    f"{f.lost[clients]} of {f.sent[clients]}",
                    "",
                    mark("lost") if clients == max(o.lost) else "",
                )
            )
        rows.append(
            (
                f"counted twice, {STALL_VISITORS} visitors, {self.settings['stall']:g} s stall",
                f"{o.counted_twice} of {o.stall_sent}",
                f"{f.counted_twice} of {f.stall_sent}",
                "",
                mark("counted_twice"),
            )
        )
        for q in (50, 99):
            ratio = f.percentile(q) / o.percentile(q)
            rows.append(
                (
                    f"warm visit p{q} (ms)",
                    f"{o.percentile(q):.1f}",
                    f"{f.percentile(q):.1f}",
                    f"{ratio:.2f}",
                    f"{mark('warm_ratio')}; {mark('warm_ms')}" if q == 50 else "",
                )
            )
        rows.append(
            (
                "stack overhead per warm visit, p50 (ms)",
                f"{p50(o.overhead_ms):.2f}",
                f"{p50(f.overhead_ms):.2f}",
                "",
                mark("overhead"),
            )
        )
        rows.append(
            (
                "DynamoDB round trip, p50 (ms)",
                f"{p50(o.round_trip_ms):.2f}",
                f"{p50(f.round_trip_ms):.2f}",
                f"{p50(f.round_trip_ms) / p50(o.round_trip_ms):.2f}",
                "",
            )
        )
        rows.append(
            (
                "cold start: init duration (ms, median)",
                f"{statistics.median(o.init_ms):.0f}",
                f"{statistics.median(f.init_ms):.0f}",
                f"{self.init_ratio:.2f}",
                mark("cold_ratio"),
            )
        )
        rows.append(
            (
                "cold start: first visit (ms, median)",
                f"{statistics.median(o.first_visit_ms):.0f}",
                f"{statistics.median(f.first_visit_ms):.0f}",
                f"{self.first_visit_ratio:.2f}",
                "",
            )
        )
        rows.append(
            (
                "max memory used per environment (MB)",
                str(o.max_memory_mb),
                str(f.max_memory_mb),
                "",
                "",
            )
        )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        return "\n".join(lines) + f"\n\nMeasured on {self.machine}."

    def to_json(self) -> dict:
        figures = {}
        for key, app in (("original", self.original), ("final", self.final)):
            data = asdict(app)
            data["warm_p50_ms"], data["warm_p99_ms"] = app.percentile(50), app.percentile(99)
            data["overhead_ms"] = app.overhead_ms
            data["overhead_p50_ms"] = p50(app.overhead_ms)
            data["round_trip_p50_ms"] = p50(app.round_trip_ms)
            figures[key] = data
        return {
            "machine": self.machine,
            "settings": self.settings,
            **figures,
            "ratios": {
                "warm_p50": self.warm_ratio,
                "init": self.init_ratio,
                "first_visit": self.first_visit_ratio,
            },
            "targets": {
                key: {"target": TARGETS[key], "met": verdict == "met", "verdict": verdict}
                for key, verdict in self.verdicts().items()
            },
        }


def machine() -> str:
    cpus = os.cpu_count() or 0
    return (
        f"{platform.system()} {platform.release()} ({platform.machine()}), {cpus} CPUs, "
        f"Python {platform.python_version()}"
    )


class _App:
    """One app under the bench: its stack, and what its invocations reported."""

    def __init__(self, name: str, label: str, aws: LocalAWS):
        self.invocations: list[Invocation] = []
        self.stack = Stack.for_project(
            project(name),
            port=0,
            fresh=True,
            aws=aws,
            on_request=lambda _request, _status, inv, _why: inv and self.invocations.append(inv),
        ).start()
        self.visitors = [Visitor(self.stack.url(), keep_alive=True) for _ in range(VISITORS)]
        self.turn = -1  # the visitor of the last visit
        try:  # a start that fails stops what it started
            self.figures = AppFigures(label=label)
            self.function = self.stack.function()
            self.key = function_credentials(self.function)["AWS_ACCESS_KEY_ID"]
            self.table = self.stack.table().name
            # The first visit's DynamoDB requests are those whose round trips are timed.
            actions: list[str] = []

            def watch(target: str, _body: dict) -> None:
                actions.append(target.rsplit(".", 1)[-1])

            with self.stack.intercept_dynamodb(watch):
                self._answered(self.visitors[0].visit())
            self.operations = [PROBED[action] for action in actions if action in PROBED]
            if not self.operations:
                raise WorkshopError(f"{label} makes no GetItem, PutItem or UpdateItem to time")
            for visitor in self.visitors[1:]:  # each visitor's first visit, which sets its cookie
                self._answered(visitor.visit())
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for visitor in self.visitors:
            visitor.close()
        self.stack.stop()

    def visit_ms(self) -> float:
        """One visit's time, as its client sees it: of the visitor whose turn it is."""
        self.turn = (self.turn + 1) % len(self.visitors)
        started = time.perf_counter()
        answer = self.visitors[self.turn].visit()
        elapsed = (time.perf_counter() - started) * 1000
        self._answered(answer)
        return elapsed

    def _answered(self, answer: Answer) -> None:
        """Refuse to time a counter that does not count: its failures are not its speed."""
        if answer.status != 200:
            raise WorkshopError(
                f"the {self.figures.label} answered {answer.status} {answer.body[:200]!r}: the "
                "benchmark times counters that answer 200: stage 03 on"
            )

    def warm_visit(self) -> None:
        seen = len(self.invocations)
        visit = self.visit_ms()
        (invocation,) = self.invocations[seen:]
        self.figures.warm_ms.append(visit)
        self.figures.duration_ms.append(invocation.duration_ms)

    def cold_visit(self) -> None:
        self.stack.expire_environments()
        self.figures.first_visit_ms.append(self.visit_ms())
        self.figures.init_ms.append(self.invocations[-1].init_ms or 0.0)


def bench(
    original: str = "03",
    final: str = "final",
    *,
    warm_visits: int = WARM_VISITS,
    race_visits: int = 3,
    race_clients: tuple[int, ...] = RACE_CLIENTS,
    cold_starts: int = COLD_STARTS,
    stall: float = STALL_SECONDS,
    log: Callable[[str], None] | None = None,
) -> BenchResult:
    """Measure `original` and `final` side by side; `log` gets progress lines."""
    say = log or (lambda line: None)
    for name in (original, final):  # refused now, not after minutes of warm visits
        raceable(name, "bench")
    if cold_starts > warm_visits:
        raise WorkshopError(
            f"--cold-starts {cold_starts} is more than --warm-visits {warm_visits}: the cold "
            f"starts are spread among the warm visits; give at least {cold_starts} warm visits"
        )
    aws = LocalAWS().start()
    apps: list[_App] = []
    probe: RoundTrips | None = None
    try:
        say(f"Starting {original} and {final} on one local AWS...")
        apps.append(_App(original, f"original ({original})", aws))  # each stopped below
        apps.append(_App(final, "final app" if final == "final" else f"final ({final})", aws))
        probe = RoundTrips(aws.endpoint_url, aws.region)
        for app in apps:  # the probe's first calls load boto3's models: not a round trip
            for operation in app.operations:
                probe.time(operation, app.table)
        colds = plural(cold_starts, "cold start")
        say(f"Warm rounds: {warm_visits}, each a visit to each app; {colds} of each among them...")
        before = [aws.dynamodb_requests(app.key) for app in apps]
        # After which warm rounds the cold starts go: spread evenly over them.
        cold_after = Counter(
            max(1, (i + 1) * warm_visits // (cold_starts + 1)) for i in range(cold_starts)
        )
        for round_ in range(1, warm_visits + 1):
            for app in apps:
                app.warm_visit()
                for operation in app.operations:  # on an item of the visitor's as big as theirs
                    app.figures.round_trip_ms.append(probe.time(operation, app.table, app.turn))
            for _ in range(cold_after[round_]):
                cold = len(apps[0].figures.init_ms)
                for app in apps if cold % 2 == 0 else apps[::-1]:  # each goes first in turn
                    app.cold_visit()
            if round_ * 4 // warm_visits != (round_ - 1) * 4 // warm_visits:
                cold = len(apps[0].figures.init_ms)
                say(f"  {round_}/{warm_visits} warm rounds, {cold}/{cold_starts} cold starts")
        for app, start in zip(apps, before, strict=True):
            visits = warm_visits + len(app.figures.first_visit_ms)  # cold visits count too
            app.figures.round_trips_per_visit = (aws.dynamodb_requests(app.key) - start) / visits
        for clients in race_clients:
            for app in apps:
                who = f"{plural(clients, 'client')} x {plural(race_visits, 'visit')}"
                say(f"Race: {who} on {app.figures.label}...")
                result = race(app.stack, clients=clients, visits=race_visits)
                app.figures.sent[clients], app.figures.lost[clients] = result.sent, result.lost
        for app in apps:  # one at a time: the stall holds every answer of the local AWS
            who = f"{plural(STALL_VISITORS, 'visitor')} x {plural(race_visits, 'visit')}"
            say(f"Stall: {who} on {app.figures.label}...")
            result = race(app.stack, clients=STALL_VISITORS, visits=race_visits, stall=stall)
            app.figures.stall_sent, app.figures.counted_twice = result.sent, result.counted_twice
        for app in apps:
            app.figures.max_memory_mb = max(i.max_memory_mb or 0 for i in app.invocations)
    finally:
        if probe is not None:
            probe.close()
        for app in apps:
            app.close()
        aws.stop()
    settings = {
        "visitors": VISITORS,
        "warm_visits": warm_visits,
        "race_visits": race_visits,
        "cold_starts": cold_starts,
        "stall": stall,
    }
    return BenchResult(apps[0].figures, apps[1].figures, machine(), settings)


def prepare_json(path: Path) -> None:
    """Make sure `--json FILE` is writable before a run of minutes: its folder made if need be."""
    try:
        if path.is_dir():
            example = path / "bench.json"
            raise WorkshopError(f"--json {path} is a folder: give a file in it, e.g. {example}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkshopError(
                f"--json {path}: cannot make the folder {path.parent} ({exc.strerror or exc}); "
                "give a file in a folder you can write"
            ) from None
        target = path.resolve()  # a symlink's file: the link itself is left as it is
        if target.exists() and not target.is_file():  # a FIFO, say: opening it would wait
            raise WorkshopError(f"--json {path} is not a file: give a file to write")
        existed = target.exists()
        # Opened, not asked about: root passes os.access, and a special folder (/proc) refuses.
        target.open("a", encoding="utf-8").close()
        if not existed:
            target.unlink()
    except OSError as exc:  # a name too long, a folder that refuses files
        raise WorkshopError(
            f"--json {path}: cannot write it ({exc.strerror or exc}); give a file you can write"
        ) from None


def write_json(result: BenchResult, path: Path) -> None:
    try:
        path.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise WorkshopError(f"--json {path}: cannot write it ({exc.strerror or exc})") from None
