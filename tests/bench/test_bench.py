"""The benchmark: its exact figures (round trips, lost updates), never its timings."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from workshop import manifest
from workshop.measure.bench import AppFigures, BenchResult, ratio_verdict


def test_the_command_prints_the_table_and_writes_the_exact_figures(tmp_path):
    out = tmp_path / "not-yet" / "bench.json"  # --json makes its folder, before the run
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "workshop",
            "bench",
            "--warm-visits",
            "3",
            "--race-visits",
            "1",
            "--clients",
            "1,2",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=manifest.REPO_ROOT,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "Warm visits: 3 each" in run.stdout  # progress, while it runs
    assert "Race: 1 client x 1 visit on final app..." in run.stdout  # one of each, not "1 clients"
    assert re.search(r"^lost updates, 1 client x 1 visit ", run.stdout, re.M)
    assert "DynamoDB round trips per visit          2" in run.stdout
    figures = json.loads(out.read_text(encoding="utf-8"))
    original, final = figures["original"], figures["final"]
    assert original["round_trips_per_visit"] == 2  # get_item, then put_item
    assert final["round_trips_per_visit"] == 1  # one atomic update_item
    assert original["sent"] == final["sent"] == {"1": 1, "2": 2}
    assert final["lost"] == {"1": 0, "2": 0}
    assert original["lost"]["1"] == 0  # one client alone never races itself
    assert len(final["warm_ms"]) == 3 and final["max_memory_mb"] > 0
    # 8 visitors, 1 visit each, through a stall longer than the final app's read timeout: its
    # retried updates count once. The original's SDK waits up to 60 s for an answer, so it
    # never retries within its function's Timeout, and never counts twice either.
    assert original["stall_sent"] == final["stall_sent"] == 8
    assert (original["counted_twice"], final["counted_twice"]) == (0, 0)
    assert re.search(
        r"^counted twice, 8 visitors, 4 s stall +0 of 8 +0 of 8 +final: 0 \(met\)$",
        run.stdout,
        re.M,
    )
    assert set(figures["targets"]) == {
        "round_trips",
        "lost",
        "counted_twice",
        "warm_ratio",
        "cold_ratio",
    }
    assert "CPUs" in figures["machine"]


def test_bad_settings_are_refused_with_a_clear_message():
    run = subprocess.run(
        [sys.executable, "-m", "workshop", "bench", "--clients", "1,x"],
        capture_output=True,
        text=True,
        cwd=manifest.REPO_ROOT,
        timeout=60,
    )
    assert run.returncode == 2 and "give numbers like 1,8,32" in run.stderr


def test_a_timing_target_is_met_not_met_or_within_noise():
    """A timing's verdict is "met" or "NOT met" only when the samples can tell."""
    steady = [10.0, 10.5, 11.0, 10.2, 10.8, 10.4]
    assert ratio_verdict([x / 2 for x in steady], steady, 0.7) == "met"
    assert ratio_verdict(steady, steady, 0.7) == "NOT met"
    # A median ratio of 0.7 exactly, from visits that spread from 3 to 11 ms: no telling.
    assert ratio_verdict([3.0, 4.0, 5.0, 9.0, 10.0, 11.0], [10.0] * 6, 0.7) == "within noise"


def test_the_table_says_within_noise_where_a_timing_cannot_tell():
    def app(label: str, warm: list[float], slower: float = 1.0) -> AppFigures:
        return AppFigures(
            label,
            round_trips_per_visit=1,
            sent={8: 8},
            lost={8: 0},
            warm_ms=warm,
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
    warm = r"^warm visit p50 \(ms\) .* final/original <= 0\.7 \(within noise\)$"
    assert re.search(warm, table, re.M), table
    assert re.search(r"^cold start: init .* final/original <= 1\.0 \(NOT met\)$", table, re.M)
    assert result.to_json()["targets"]["warm_ratio"] == {
        "target": "final/original <= 0.7",
        "met": False,
        "verdict": "within noise",
    }


def test_a_json_file_that_cannot_be_written_is_refused_before_the_run(tmp_path):
    """Not a traceback after minutes of measuring: an error at once, and nothing run."""
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    for where, says in (
        (tmp_path / "a-file" / "x.json", "cannot make the folder"),
        (tmp_path, "is a folder"),
    ):
        run = subprocess.run(
            [sys.executable, "-m", "workshop", "bench", "--json", str(where)],
            capture_output=True,
            text=True,
            cwd=manifest.REPO_ROOT,
            timeout=60,
        )
        assert run.returncode == 2 and run.stdout == "", run.stdout
        assert run.stderr.startswith(f"error: --json {where}") and says in run.stderr, run.stderr
        assert "Traceback" not in run.stderr


def test_a_project_without_a_table_is_refused_before_the_run():
    run = subprocess.run(
        [sys.executable, "-m", "workshop", "bench", "--original", "01"],
        capture_output=True,
        text=True,
        cwd=manifest.REPO_ROOT,
        timeout=60,
    )
    assert run.returncode == 2 and run.stdout == "", run.stdout
    assert run.stderr.startswith("error: stage 01") and "no table" in run.stderr, run.stderr
