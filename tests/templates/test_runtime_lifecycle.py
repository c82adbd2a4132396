"""The runtime's end of support: what cfn-lint, and so `sam validate --lint`, says of it, by date.

Every template runs its function on python3.11. cfn-lint, which `sam validate --lint` runs,
reads each runtime's lifecycle from its own data (LmbdRuntimeLifecycle.json) and compares it
with the day it runs: from the deprecation date on it warns (W2531); from the day AWS blocks
creating functions on the runtime it reports an error (E2531), and from the day AWS blocks
updating them another (E2533). `sam validate --lint` fails on any of them, a warning too. So
templates that pass today fail from the deprecation date on, with no change to them.

The dates come from cfn-lint's data, never from here. cfn-lint compares them with the day it
runs, so to see what it says on another day the test moves the data's dates by the days
between that day and today, which is the same comparison.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.helpers import FROM, LIFECYCLE_DATA, lifecycle, lifecycle_findings, runtimes
from workshop import manifest


def lint_as_on(template: str, day: date, monkeypatch) -> list:
    """cfn-lint's findings on `template` as on `day`, run as `sam validate --lint` runs it."""
    import cfnlint.helpers
    from cfnlint.api import ManualArgs, lint

    real = cfnlint.helpers.load_resource
    shift = date.today() - day

    def moved(value: str | None) -> str | None:
        return (date.fromisoformat(value) + shift).isoformat() if value else value

    def load_resource(package, filename="us-east-1.json"):
        data = real(package, filename)
        if filename != LIFECYCLE_DATA:
            return data
        return {
            runtime: {key: moved(value) if key in FROM else value for key, value in dates.items()}
            for runtime, dates in data.items()
        }

    # The rules read the data when cfn-lint loads them, at each lint.
    monkeypatch.setattr(cfnlint.helpers, "load_resource", load_resource)
    return lint(template, config=ManualArgs(regions=["us-east-1"]))


def test_every_project_runs_on_a_runtime_whose_lifecycle_cfn_lint_knows():
    for name in [stage.id for stage in manifest.stages()] + [manifest.FINAL]:
        for runtime in runtimes(name):
            assert set(FROM) <= set(lifecycle()[runtime]), (name, runtime)


def days_of_the_lifecycle() -> dict[str, date]:
    (runtime,) = runtimes(manifest.FINAL)
    dates = {key: date.fromisoformat(lifecycle()[runtime][key]) for key in FROM}
    one = timedelta(days=1)
    return {
        "supported-the-day-before-deprecation": dates["deprecated"] - one,
        "deprecated": dates["deprecated"],
        "deprecated-the-day-before-creation-is-blocked": dates["create-block"] - one,
        "creation-blocked": dates["create-block"],
        "updates-blocked": dates["update-block"],
    }


DAYS = days_of_the_lifecycle()


@pytest.mark.parametrize("day", DAYS.values(), ids=DAYS.keys())
def test_what_cfn_lint_says_of_the_final_template_on_each_day(day, monkeypatch):
    template = (manifest.project(manifest.FINAL).path / "template.yaml").read_text("utf-8")
    (runtime,) = runtimes(manifest.FINAL)
    findings = lint_as_on(template, day, monkeypatch)
    expected = lifecycle_findings(runtime, day)
    # Before its deprecation date, nothing at all; from it on, exactly one finding, on the
    # function's Runtime, and nothing else.
    assert sorted(match.rule.id for match in findings) == sorted(expected)
    for match in findings:
        assert f"Runtime {runtime!r} was deprecated on" in match.message
        assert f"Please consider updating to {lifecycle()[runtime]['successor']!r}" in (
            match.message
        )


def test_the_readme_gives_the_final_runtime_s_dates_as_cfn_lint_has_them():
    readme = (manifest.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    (runtime,) = runtimes(manifest.FINAL)
    dates = lifecycle()[runtime]
    for key in FROM:
        assert dates[key] in readme, f"README.md should say when {runtime} reaches {key}"
    assert f"Runtime: {dates['successor']}" in readme  # how to move to the runtime after it
