"""The corpus of fixes: each exercise's check accepts every right fix and rejects every wrong one.

`tests/fixes/<stage id>/right/<name>/` and `tests/fixes/<stage id>/wrong/<name>/` hold only the
files that a fix changes in the folder its exercise starts from, at their paths in the project
(`src/app.py`, `template.yaml`, `samconfig.toml`). A wrong fix also holds `why.txt`: its first
line is a phrase that the check's failure must contain (the story's words for what is still
wrong), the rest says why a reviewer would reject the fix. Right fixes are written differently
from the reference, so that the checks are shown to judge what a project does, not how it is
written. The corpus lives here, under tests/, where `try` never copies it into the playground.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workshop import learn
from workshop.learn import checks

FIXES = Path(__file__).resolve().parents[1] / "fixes"
KINDS = ("right", "wrong")
WHY = "why.txt"
MIN_FIXES = {"right": 3, "wrong": 4}  # per exercise


def fixes(kind: str, stage: str | None = None) -> list[Path]:
    """The fix folders of one kind, of one stage or of every stage, in order."""
    stages = [FIXES / stage] if stage else sorted(p for p in FIXES.iterdir() if p.is_dir())
    return sorted(
        p for folder in stages if (folder / kind).is_dir() for p in (folder / kind).iterdir()
    )


# Exercises whose check takes seconds: 04's runs two real `sam build`s, 05's waits for a lock
# that a crashed visit took to lapse, and for visits slowed before their calls, 06's and 08's
# wait out stalls of DynamoDB.
SLOW_CHECKS = {"04", "05", "06", "08"}


def params(kind: str) -> list:
    return [
        pytest.param(
            fix,
            id=f"{fix.parts[-3]}-{fix.name}",
            marks=[pytest.mark.slow] if fix.parts[-3] in SLOW_CHECKS else [],
        )
        for fix in fixes(kind)
    ]


def changed_files(fix: Path) -> list[Path]:
    """The project files a fix holds, relative to the project (its why.txt left out)."""
    return sorted(
        path.relative_to(fix) for path in fix.rglob("*") if path.is_file() and path.name != WHY
    )


def applied(fix: Path, tmp_path: Path) -> tuple[learn.Exercise, Path]:
    """The exercise of the fix's stage, and a copy of its start with the fix laid over it."""
    exercise = learn.exercise(fix.parts[-3])
    project = tmp_path / exercise.stage.folder
    learn.copy_start(exercise, project)
    for relative in changed_files(fix):
        shutil.copyfile(fix / relative, project / relative)
    return exercise, project


def test_every_exercise_has_its_corpus_and_every_corpus_an_exercise():
    exercises = {exercise.stage.id for exercise in learn.exercises()}
    assert {folder.name for folder in FIXES.iterdir() if folder.is_dir()} <= exercises
    for stage in sorted(exercises):
        for kind, least in MIN_FIXES.items():
            found = [fix.name for fix in fixes(kind, stage)]
            assert len(found) >= least, f"stage {stage} has {len(found)} {kind} fixes: {found}"


@pytest.mark.parametrize("fix", params("right") + params("wrong"))
def test_a_fix_holds_only_files_it_changes_and_a_wrong_one_says_why(fix):
    exercise = learn.exercise(fix.parts[-3])
    files = changed_files(fix)
    assert files, f"{fix} changes nothing"
    for relative in files:
        start = exercise.start.path / relative
        assert not start.is_file() or start.read_bytes() != (fix / relative).read_bytes(), (
            f"{fix}: {relative} is the start's own"
        )
    why = fix / WHY
    if fix.parts[-2] == "wrong":
        lines = why.read_text(encoding="utf-8").splitlines()
        assert len(lines) >= 2 and lines[0].strip() and lines[1].strip(), "a phrase, then why"
    else:
        assert not why.exists(), "a right fix needs no why.txt"


@pytest.mark.parametrize("fix", params("right"))
def test_the_check_accepts_a_right_fix(fix, tmp_path):
    exercise, project = applied(fix, tmp_path)
    assert checks.run(exercise.check, project) == []


@pytest.mark.parametrize("fix", params("wrong"))
def test_the_check_rejects_a_wrong_fix_in_the_storys_words(fix, tmp_path):
    exercise, project = applied(fix, tmp_path)
    phrase = (fix / WHY).read_text(encoding="utf-8").splitlines()[0].strip()
    problems = checks.run(exercise.check, project)
    assert problems, f"{exercise.check} passes {fix.name}, a fix a reviewer would reject"
    assert any(phrase in problem for problem in problems), (phrase, problems)
    for problem in problems:
        # A sentence: it starts with a capital or with a command (`sam build` ...).
        assert (problem[:1].isupper() or problem.startswith("`")) and problem.endswith("."), problem
        assert "Traceback" not in problem
