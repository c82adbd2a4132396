"""`workshop bench`: the original counter (stage 03) and the final app, measured side by side.

Both run in one process against one local AWS, so they meet the same machine at the same time.
Round trips are counted at the local AWS, one per DynamoDB request that each function's own
credentials signed (retries included); lost updates come from races over HTTP
(`workshop.measure.race`), and so do the visits counted twice, from a race of 8 visitors while the
local AWS stalls DynamoDB (each answer held after its update is applied, longer than the
final app's read timeout); latencies are measured at the client, through the API, warm visits
of the two apps interleaved so that neither gets the quieter moments; cold starts come from
the REPORT of the first visit after every environment was reclaimed.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workshop.errors import WorkshopError
from workshop.local.iam import function_credentials
from workshop.local.local_aws import LocalAWS
from workshop.local.stack import Stack
from workshop.manifest import project
from workshop.measure.race import plural, race, raceable
from workshop.types import Invocation
from workshop.visitor import Visitor

RACE_CLIENTS = (1, 8, 32)
STALL_VISITORS = 8
STALL_SECONDS = 4.0  # past the final app's 3 s read timeout, within its SDK's retries
TARGETS = {
    "round_trips": "final: 1 per visit",
    "lost": "final: 0",
    "counted_twice": "final: 0",
    "warm_ratio": "final/original <= 0.7",
    "cold_ratio": "final/original <= 1.0",
}
RATIO_LIMITS = {"warm_ratio": 0.7, "cold_ratio": 1.0}


def median_interval(samples: list[float]) -> tuple[float, float]:
    """Where the median of such samples lies, 95% of the time: median +- 1.57 IQR / sqrt(n),
    the notch of a box plot (McGill, Tukey and Larsen, 1978), within the samples' range."""
    if len(samples) < 2:
        return samples[0], samples[0]
    first, _, third = statistics.quantiles(samples, n=4, method="inclusive")
    notch = 1.57 * (third - first) / len(samples) ** 0.5
    middle = statistics.median(samples)
    return max(middle - notch, min(samples)), min(middle + notch, max(samples))


def ratio_verdict(final: list[float], original: list[float], limit: float) -> str:
    """Whether final/original <= limit: "met" or "NOT met" when the medians' intervals agree,
    "within noise" when the limit lies between what they allow."""
    final_low, final_high = median_interval(final)
    original_low, original_high = median_interval(original)
    if original_low > 0 and final_high / original_low <= limit:
        return "met"
    if final_low / original_high > limit:
        return "NOT met"
    return "within noise"


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
    init_ms: list[float] = field(default_factory=list)
    first_visit_ms: list[float] = field(default_factory=list)
    max_memory_mb: int = 0

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
            "round_trips": f.round_trips_per_visit == 1,
            "lost": not any(f.lost.values()),
            "counted_twice": f.counted_twice == 0,
        }
        verdicts = {key: "met" if met else "NOT met" for key, met in exact.items()}
        verdicts["warm_ratio"] = ratio_verdict(f.warm_ms, o.warm_ms, RATIO_LIMITS["warm_ratio"])
        cold = {
            ratio_verdict(f.init_ms, o.init_ms, RATIO_LIMITS["cold_ratio"]),
            ratio_verdict(f.first_visit_ms, o.first_visit_ms, RATIO_LIMITS["cold_ratio"]),
        }
        verdicts["cold_ratio"] = next(v for v in ("NOT met", "within noise", "met") if v in cold)
        return verdicts

    def table(self) -> str:
        o, f = self.original, self.final
        rows = [("", o.label, f.label, "final/original", "target")]
        verdicts = self.verdicts()

        def mark(key: str) -> str:
            return f"{TARGETS[key]} ({verdicts[key]})"

        rows.append(
            (
                "DynamoDB round trips per visit",
                f"{o.round_trips_per_visit:g}",
                f"{f.round_trips_per_visit:g}",
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
                    mark("warm_ratio") if q == 50 else "",
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
        found = project(name)
        self.invocations: list[Invocation] = []
        self.stack = Stack.for_project(
            found,
            port=0,
            fresh=True,
            aws=aws,
            on_request=lambda _request, _status, inv: inv and self.invocations.append(inv),
        ).start()
        self.figures = AppFigures(label=label)
        self.function = self.stack.function()
        self.key = function_credentials(self.function)["AWS_ACCESS_KEY_ID"]
        # One session throughout, as one visitor refreshing: the first visit sets its cookie.
        self.visitor = Visitor(self.stack.url())
        self.visitor.visit()

    def visit_ms(self) -> float:
        started = time.perf_counter()
        answer = self.visitor.visit()
        elapsed = (time.perf_counter() - started) * 1000
        if answer.status != 200:
            raise RuntimeError(f"{self.figures.label} answered {answer.status}: {answer.body}")
        return elapsed


def bench(
    original: str = "03",
    final: str = "final",
    *,
    warm_visits: int = 150,
    race_visits: int = 3,
    race_clients: tuple[int, ...] = RACE_CLIENTS,
    cold_starts: int = 3,
    stall: float = STALL_SECONDS,
    log: Callable[[str], None] | None = None,
) -> BenchResult:
    """Measure `original` and `final` side by side; `log` gets progress lines."""
    say = log or (lambda line: None)
    for name in (original, final):  # refused now, not after minutes of warm visits
        raceable(name)
    aws = LocalAWS().start()
    apps: list[_App] = []
    try:
        say(f"Starting {original} and {final} on one local AWS...")
        apps = [
            _App(original, f"original ({original})", aws),
            _App(final, "final app" if final == "final" else f"final ({final})", aws),
        ]
        say(f"Warm visits: {warm_visits} each, interleaved...")
        before = [aws.dynamodb_requests(app.key) for app in apps]
        for _ in range(warm_visits):
            for app in apps:
                app.figures.warm_ms.append(app.visit_ms())
        for app, start in zip(apps, before, strict=True):
            trips = aws.dynamodb_requests(app.key) - start
            app.figures.round_trips_per_visit = trips / warm_visits
        say(f"Cold starts: {cold_starts} each...")
        for _ in range(cold_starts):
            for app in apps:
                app.stack.expire_environments()
                app.figures.first_visit_ms.append(app.visit_ms())
                cold = app.invocations[-1]
                app.figures.init_ms.append(cold.init_ms or 0.0)
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
        for app in apps:
            app.stack.stop()
        aws.stop()
    settings = {
        "warm_visits": warm_visits,
        "race_visits": race_visits,
        "cold_starts": cold_starts,
        "stall": stall,
    }
    return BenchResult(apps[0].figures, apps[1].figures, machine(), settings)


def prepare_json(path: Path) -> None:
    """Make sure `--json FILE` is writable before a run of minutes: its folder made if need be."""
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
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise WorkshopError(f"--json {path}: permission denied; give a file you can write")


def write_json(result: BenchResult, path: Path) -> None:
    try:
        path.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise WorkshopError(f"--json {path}: cannot write it ({exc.strerror or exc})") from None
