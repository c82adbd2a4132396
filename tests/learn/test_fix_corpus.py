"""Each exercise's corpus of fixes: every right fix passes its check, every wrong one fails, and
says why in the words its reviewer wrote down.

`tests/fixes/<exercise id>/right/<name>/` and `tests/fixes/<exercise id>/wrong/<name>/` hold
only the files that a fix changes from the code the exercise starts from, at their paths in
the project (`src/app.py`, `template.yaml`). A wrong fix also holds `why.txt`, whose first line
is a phrase that the check's failure must contain; the lines after it say why a reviewer would
reject the fix. Each fix is copied over a fresh copy of the start (as `python run.py try` makes
it), and the exercise's check runs on it, as `python run.py check` would.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workshop import checks, learn

FIXES = Path(__file__).resolve().parent.parent / "fixes"
WHY = "why.txt"
# At least this many fixes of each kind, for an exercise that has a corpus.
AT_LEAST = {"right": 3, "wrong": 4}


def fixes() -> list:
    """(exercise, kind, folder) of every fix in the corpus, as pytest parameters."""
    found = []
    for exercise in learn.exercises():
        for kind in AT_LEAST:
            folder = FIXES / exercise.stage.id / kind
            for fix in sorted(folder.iterdir()) if folder.is_dir() else ():
                found.append(
                    pytest.param(exercise, kind, fix, id=f"{exercise.stage.id}-{kind}-{fix.name}")
                )
    return found


def phrase(fix: Path) -> str:
    """The first line of a wrong fix's why.txt: what the check must say of it."""
    return (fix / WHY).read_text(encoding="utf-8").splitlines()[0].strip()


def test_each_corpus_belongs_to_an_exercise_and_is_complete():
    exercises = {exercise.stage.id for exercise in learn.exercises()}
    corpora = sorted(path.name for path in FIXES.iterdir() if path.is_dir())
    assert corpora, f"no corpus of fixes in {FIXES}"
    for corpus in corpora:
        assert corpus in exercises, f"tests/fixes/{corpus}: no exercise {corpus} in the manifest"
        for kind, least in AT_LEAST.items():
            found = sorted((FIXES / corpus / kind).iterdir())
            assert len(found) >= least, f"tests/fixes/{corpus}/{kind}: fewer than {least} fixes"
            for fix in found:
                files = [path for path in fix.rglob("*") if path.is_file()]
                assert [p for p in files if p.name != WHY], f"{fix}: changes no file"
                if kind == "wrong":
                    assert phrase(fix), f"{fix}/{WHY}: its first line names no phrase"
                else:
                    assert not (fix / WHY).exists(), f"{fix}: a right fix needs no {WHY}"


def apply(exercise: learn.Exercise, fix: Path, tmp_path: Path) -> Path:
    """A fresh copy of the exercise's start, with the fix's files copied over it."""
    project = tmp_path / exercise.stage.folder
    learn.copy_start(exercise, project)
    for path in sorted(fix.rglob("*")):
        if path.is_file() and path.name != WHY:
            target = project / path.relative_to(fix)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return project


@pytest.mark.parametrize(("exercise", "kind", "fix"), fixes())
def test_a_fix_from_the_corpus(exercise, kind, fix, tmp_path):
    problems = checks.run(exercise.check, apply(exercise, fix, tmp_path))
    if kind == "right":
        assert problems == [], f"a right fix of exercise {exercise.stage.id} fails its check"
    else:
        assert problems, f"a wrong fix of exercise {exercise.stage.id} passes its check"
        assert phrase(fix) in " ".join(problems)
