"""The benchmark: its exact figures (round trips, lost updates), never its timings."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from tests.helpers import console_commands, stage_module
from workshop import manifest
from workshop.errors import WorkshopError
from workshop.measure import bench as bench_module
from workshop.measure import round_trip
from workshop.measure.bench import (
    PROBED,
    AppFigures,
    BenchResult,
    limit_verdict,
    ratio_verdict,
)
from workshop.measure.round_trip import PROBE_CREDENTIALS, RoundTrips, probe_key
from workshop.visitor import Visitor

# README.md's bench line, which this file's test owns (tests/docs leaves it here): the figures
# below are written for its options, so the two change together.
README_BENCH = "bench --warm-visits 20 --cold-starts 3 --race-visits 2 --clients 1,4"


@pytest.mark.slow
def test_the_readme_s_bench_prints_the_table_and_writes_the_exact_figures(tmp_path):
    """README.md's bench command, as typed, and its figures."""
    (command,) = [
        c for c in console_commands(manifest.REPO_ROOT / "README.md") if c.args[:1] == ["bench"]
    ]
    assert command.args == README_BENCH.split()
    out = tmp_path / "not-yet" / "bench.json"  # --json makes its folder, before the run
    run = subprocess.run(
        [sys.executable, "run.py", *command.args, "--json", str(out)],
        capture_output=True,
        text=True,
        cwd=manifest.REPO_ROOT,
        # As tests/docs runs every README command: nothing of the reader's own state is touched.
        env={**os.environ, "WORKSHOP_STATE_DIR": str(tmp_path / "state")},
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    # Progress, while it runs: each phase, and the warm rounds as they go.
    assert "Warm rounds: 20, each a visit to each app" in run.stdout
    assert "3 cold starts of each among them" in run.stdout
    assert "  20/20 warm rounds, 3/3 cold starts" in run.stdout
    assert "Race: 1 client x 2 visits on final app..." in run.stdout  # "1 client", not "clients"
    assert re.search(r"^lost updates, 1 client x 2 visits ", run.stdout, re.M)
    assert re.search(r"^DynamoDB round trips per visit +2 +1(\.0\d*)? ", run.stdout, re.M)
    figures = json.loads(out.read_text(encoding="utf-8"))
    original, final = figures["original"], figures["final"]
    assert original["round_trips_per_visit"] == 2  # get_item, then put_item
    # One atomic update_item, and one that forgets old request ids on one visit in ten at most
    # (only ids over 30 s old are forgotten: none, unless the machine is very slow).
    assert 1 <= final["round_trips_per_visit"] <= 1.1
    assert original["sent"] == final["sent"] == {"1": 2, "4": 8}
    assert final["lost"] == {"1": 0, "4": 0}
    assert original["lost"]["1"] == 0  # one client alone never races itself
    assert len(final["warm_ms"]) == 20 and final["max_memory_mb"] > 0
    for app in (original, final):
        # The overhead of each warm visit: its time at the client less its REPORT Duration.
        expected = [w - d for w, d in zip(app["warm_ms"], app["duration_ms"], strict=True)]
        assert app["overhead_ms"] == expected
        assert len(app["init_ms"]) == len(app["first_visit_ms"]) == 3
    # A round trip of each of the app's own DynamoDB requests, in each warm round.
    assert len(original["round_trip_ms"]) == 20 * 2 and len(final["round_trip_ms"]) == 20
    assert re.search(
        r"^stack overhead per warm visit, p50 \(ms\) +[\d.-]+ +[\d.-]+ +each: ", run.stdout, re.M
    )
    assert re.search(r"^DynamoDB round trip, p50 \(ms\) +[\d.]+ +[\d.]+ ", run.stdout, re.M)
    # 8 visitors, as many visits each as in the races, through a stall longer than the final
    # app's read timeout: its retried updates count once. The original's SDK waits up to 60 s
    # for an answer, so it never retries within its function's Timeout, nor counts twice.
    assert original["stall_sent"] == final["stall_sent"] == 16
    assert (original["counted_twice"], final["counted_twice"]) == (0, 0)
    assert re.search(
        r"^counted twice, 8 visitors, 4 s stall +0 of 16 +0 of 16 +final: 0 \(met\)$",
        run.stdout,
        re.M,
    )
    assert set(figures["targets"]) == {
        "round_trips",
        "lost",
        "counted_twice",
        "overhead",
        "warm_ratio",
        "warm_ms",
        "cold_ratio",
    }
    assert "CPUs" in figures["machine"]


def test_a_timing_target_is_met_not_met_or_within_noise():
    """A timing's verdict is "met" or "NOT met" only when the samples can tell."""
    steady = [10.0, 10.5, 11.0, 10.2, 10.8, 10.4]
    assert ratio_verdict([x / 2 for x in steady], steady, 0.7) == "met"
    assert ratio_verdict(steady, steady, 0.7) == "NOT met"
    # A median ratio of 0.7 exactly, from visits that spread from 3 to 11 ms: no telling.
    assert ratio_verdict([3.0, 4.0, 5.0, 9.0, 10.0, 11.0], [10.0] * 6, 0.7) == "within noise"


def test_an_absolute_timing_target_is_met_not_met_or_within_noise():
    assert limit_verdict([4.0, 4.2, 4.1, 4.3, 3.9, 4.0], 6.0) == "met"
    assert limit_verdict([7.0, 7.2, 7.1, 7.3, 6.9, 7.0], 6.0) == "NOT met"
    assert limit_verdict([3.0, 4.0, 5.5, 6.5, 8.0, 9.0], 6.0) == "within noise"


def test_a_stretch_of_the_run_on_the_other_side_of_a_target_makes_it_within_noise():
    """A machine busier in one quarter of the run than in the others, as it may be in the next
    run: the medians' notches alone would say "met"; the quarters say it could go either way."""
    steady, busy_end = [4.0] * 40, [4.0] * 30 + [7.0] * 10
    assert limit_verdict(steady, 6.0) == "met"
    assert limit_verdict(busy_end, 6.0) == "within noise"
    assert ratio_verdict([5.0] * 40, [10.0] * 40, 0.6) == "met"
    assert ratio_verdict([5.0] * 30 + [9.0] * 10, [10.0] * 40, 0.6) == "within noise"
    # Both apps slower in the same stretch: their ratio holds, and so does the verdict.
    assert ratio_verdict([5.0] * 30 + [9.0] * 10, [10.0] * 30 + [18.0] * 10, 0.6) == "met"


def test_samples_too_few_to_split_for_one_app_are_compared_whole_for_both():
    """The original makes two round trips a round: with 5 rounds, 10 of its samples and 5 of
    the final app's, only one of them enough for quarters (`bench --warm-visits 5`)."""
    assert ratio_verdict([1.0] * 5, [2.0] * 10, 1.0) == "met"
    assert ratio_verdict([2.0] * 5, [1.0] * 10, 1.0) == "NOT met"


def figures(label: str, warm: list[float], duration: list[float], trips: list[float]):
    return AppFigures(
        label,
        round_trips_per_visit=2 if label == "original" else 1,
        sent={1: 1, 8: 8},
        lost={1: 0, 8: 0},
        warm_ms=warm,
        duration_ms=duration,
        round_trip_ms=trips,
        init_ms=[300.0, 310.0, 305.0],
        first_visit_ms=[400.0, 410.0, 405.0],
    )


def test_the_overhead_is_each_visit_less_its_duration_and_must_be_below_a_round_trip():
    """The overhead row: p50 of (visit - Duration) beside the p50 round trip, for each app."""
    original = figures(
        "original", [10.0, 11.0, 10.5, 10.2, 10.8], [9.0, 9.5, 9.2, 9.1, 9.6], [4.0] * 5
    )
    final = figures("final", [5.0, 5.4, 5.2, 5.1, 5.3], [4.1, 4.3, 4.2, 4.0, 4.4], [4.0] * 5)
    result = BenchResult(original, final, "a laptop", {"race_visits": 1, "stall": 4.0})
    assert original.overhead_ms == [10.0 - 9.0, 11.0 - 9.5, 10.5 - 9.2, 10.2 - 9.1, 10.8 - 9.6]
    table = result.table()
    row = r"^stack overhead per warm visit, p50 \(ms\) +1\.20 +1\.00 +each: below its round trip"
    assert re.search(row, table, re.M), table
    assert re.search(r"^DynamoDB round trip, p50 \(ms\) +4\.00 +4\.00 +1\.00$", table, re.M)
    assert re.search(
        r"^warm visit p50 .* final/original <= 0\.6 \(met\); final <= 6 ms \(met\)$", table, re.M
    )
    # One app whose overhead outgrows its round trip: the target is not met, for both.
    slow = figures("final", [9.0, 9.4, 9.2, 9.1, 9.3], [4.1, 4.3, 4.2, 4.0, 4.4], [4.0] * 5)
    verdicts = BenchResult(original, slow, "a laptop", {}).verdicts()
    assert verdicts["overhead"] == verdicts["warm_ms"] == verdicts["warm_ratio"] == "NOT met"
    assert re.search(r"^lost updates, 1 client x 1 visit ", table, re.M)  # one, not "1 clients"


def test_the_table_says_within_noise_where_a_timing_cannot_tell():
    def app(label: str, warm: list[float], slower: float = 1.0) -> AppFigures:
        return AppFigures(
            label,
            round_trips_per_visit=2 if label == "original" else 1,
            sent={8: 8},
            lost={8: 0},
            warm_ms=warm,
            duration_ms=[1.0] * len(warm),
            round_trip_ms=[2.0] * len(warm),
            init_ms=[300.0 * slower, 310.0 * slower, 305.0 * slower],
            first_visit_ms=[400.0, 410.0, 405.0],
        )

    result = BenchResult(
        app("original", [10.0] * 6),
        app("final", [3.0, 4.0, 5.0, 9.0, 10.0, 11.0], slower=2.0),
        machine="a laptop",
        settings={"race_visits": 1, "stall": 4.0},
    )
    table = result.table()
    warm = r"^warm visit p50 \(ms\) .* final/original <= 0\.6 \(within noise\); final <= 6 ms"
    assert re.search(warm, table, re.M), table
    assert re.search(r"^cold start: init .* final/original <= 1\.0 \(NOT met\)$", table, re.M)
    assert result.to_json()["targets"]["warm_ratio"] == {
        "target": "final/original <= 0.6",
        "met": False,
        "verdict": "within noise",
    }


def test_apps_that_make_as_many_round_trips_have_no_ratio_target():
    """`bench --original 07 --final 08`: one UpdateItem each, so no 0.6 to meet or miss."""
    original = figures("07", [5.0] * 6, [4.0] * 6, [2.0] * 6)
    final = figures("08", [5.5] * 6, [4.5] * 6, [2.2] * 6)
    result = BenchResult(original, final, "a laptop", {"race_visits": 1, "stall": 4.0})
    assert "warm_ratio" not in result.verdicts()
    assert "warm_ratio" not in result.to_json()["targets"]
    row = (
        r"^warm visit p50 \(ms\) +5\.0 +5\.5 +1\.10 +no ratio target: not two round trips "
        r"against one; final <= 6 ms \(met\)$"
    )
    assert re.search(row, result.table(), re.M), result.table()


def refused(*args: str) -> str:
    """`workshop bench ARGS`, which must stop at once: its error (argparse's, with the usage, or
    the workshop's one line), nothing on stdout."""
    run = subprocess.run(
        [sys.executable, "-m", "workshop", "bench", *args],
        capture_output=True,
        text=True,
        cwd=manifest.REPO_ROOT,
        timeout=60,
    )
    assert run.returncode == 2 and run.stdout == "", run.stdout
    assert "error: " in run.stderr and "Traceback" not in run.stderr, run.stderr
    return run.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--clients", "1,x"], "is not a list of whole numbers from 1 to 128, like 1,8,32"),
        (["--original", "01"], "`bench` is for a counter kept in a DynamoDB table"),
        (["--warm-visits", "5"], "--cold-starts 24 is more than --warm-visits 5"),
    ],
    ids=["clients", "no-table", "cold-starts"],
)
def test_bad_settings_are_refused_before_the_run(args, says):
    """Not a traceback after minutes of measuring: an error at once, and nothing run."""
    assert says in refused(*args)


def test_a_json_file_that_cannot_be_written_is_refused_before_the_run(tmp_path):
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    for where, says in (
        (tmp_path / "a-file" / "x.json", "cannot make the folder"),
        (tmp_path, "is a folder"),
        (tmp_path / ("x" * 300 + ".json"), "cannot write it"),  # a name no system takes
    ):
        error = refused("--json", str(where))
        assert error.startswith(f"error: --json {where}") and says in error, error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file"]  # nothing left behind


def test_a_counter_that_does_not_answer_200_is_refused_in_a_line():
    """Stage 02 answers 500 from its second visit: its failures are no speed to time."""
    settings = ["--warm-visits", "2", "--cold-starts", "2", "--race-visits", "1", "--clients", "1"]
    run = subprocess.run(
        [sys.executable, "-m", "workshop", "bench", "--original", "02", "--final", "03", *settings],
        capture_output=True,
        text=True,
        cwd=manifest.REPO_ROOT,
        timeout=120,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    error = run.stderr.strip().splitlines()[-1]
    assert error.startswith("error: the original (02) answered 500") and "stage 03 on" in error


def shape(body: dict) -> dict:
    """What a DynamoDB request asks, less the values that name an item or a visit."""
    asked = {key: value for key, value in body.items() if key not in ("TableName", "Key", "Item")}
    values = asked.pop("ExpressionAttributeValues", {})
    return {**asked, "values": {name: set(value) for name, value in values.items()}}


@pytest.mark.parametrize("name", ["03", "final"])
def test_the_round_trip_probe_sends_the_requests_the_app_sends(start_stage, name):
    """The probe's requests are written out in round_trip.py: the same actions, expressions and
    options as the app's own (the item's key and the values aside), or its figure times
    something else."""
    stack = start_stage(name)
    sent: list[tuple[str, dict]] = []

    def watch(target: str, body: dict) -> None:
        sent.append((target.rsplit(".", 1)[-1], shape(body)))

    with stack.intercept_dynamodb(watch):
        Visitor(stack.url()).visit()
    apps, sent[:] = list(sent), []
    table = next(iter(stack.template.tables.values())).name
    probe = RoundTrips(stack.aws.endpoint_url, stack.aws.region)
    try:
        with stack.aws.intercept_dynamodb(PROBE_CREDENTIALS["AWS_ACCESS_KEY_ID"], watch):
            for action, _ in apps:
                probe.time(PROBED[action], table)
    finally:
        probe.close()
    assert apps and sent == apps


def test_the_probe_forgets_old_request_ids_as_the_final_app_does(start_stage, monkeypatch):
    """Else its item would grow with every sample, and its update would outgrow the app's."""
    app = stage_module("08", monkeypatch)
    assert (round_trip.REQUEST_MEMORY, round_trip.FORGET_BATCH) == (
        app.REQUEST_MEMORY,
        app.FORGET_BATCH,
    )
    stack = start_stage("final")
    table = stack.table()
    hour_ago = int(time.time()) - 3600
    old = {f"{hour_ago}:{n}" for n in range(app.FORGET_BATCH)}
    key = probe_key(3)  # the item of the bench's fourth visitor
    table.put_item(Item={"session_id": key, "visit_count": 1, "counted_requests": old})
    probe = RoundTrips(stack.aws.endpoint_url, stack.aws.region)
    try:
        probe.time("update_item", table.name, 3)
    finally:
        probe.close()  # it reads no more lines: it has done all it does for that one
    (kept,) = table.get_item(Key={"session_id": key})["Item"]["counted_requests"]
    assert kept not in old


def test_an_app_with_no_request_to_time_is_refused_and_its_stack_stopped(tmp_path, monkeypatch):
    """A project whose counter keeps a table but never calls it: the bench says so, and stops
    the stack it had started for it (an API and environments would outlive the bench)."""
    project = tmp_path / "idle"
    shutil.copytree(manifest.project("03").path, project)
    (project / "src" / "app.py").write_text(
        "def lambda_handler(event, context):\n    return {'statusCode': 200, 'body': '{}'}\n"
    )
    started = []
    for_project = bench_module.Stack.for_project

    def recorded(*args, **kwargs):
        stack = for_project(*args, **kwargs)
        started.append(stack)
        return stack

    monkeypatch.setattr(bench_module.Stack, "for_project", recorded)
    with pytest.raises(WorkshopError, match="makes no GetItem, PutItem or UpdateItem to time"):
        bench_module.bench(str(project), "final", warm_visits=1, cold_starts=0)
    assert len(started) == 1 and started[0].api is None and not started[0].runtimes


def test_the_command_s_defaults_are_the_benchmark_s():
    # The CLI names them itself: it starts without importing the benchmark (and boto3).
    from workshop import cli

    args = cli.parse(["bench"])
    assert (args.warm_visits, args.cold_starts) == (
        bench_module.WARM_VISITS,
        bench_module.COLD_STARTS,
    )
    assert tuple(args.clients) == bench_module.RACE_CLIENTS
