"""The exercises: the stages whose lesson is a fix, the learner's copy of each, its solution."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from workshop import manifest
from workshop.errors import WorkshopError
from workshop.learn.playground import make_folder, playground, run_py, shown

# Not copied into the playground: the story's README belongs to the stage, not to the code
# (and a beyond stage's broken folder has another stage's story), nor what builds leave.
NOT_COPIED = ("README.md", ".aws-sam", "__pycache__", "*.pyc", ".ipynb_checkpoints")


@dataclass(frozen=True)
class Exercise:
    """A stage whose fix the learner makes: where it starts, how it is checked, its solution."""

    stage: manifest.Stage  # the stage the learner names (`try 05`): its title, goal and hints
    start: manifest.Stage  # whose folder is copied: the stage itself, or its `broken` stage
    check: str  # the name of its check: a module of workshop/learn/checks/
    goal: str  # what holds once it is fixed
    solution: str  # a stage id ("03"), or a folder of the changed files, from the repository

    @property
    def solution_stage(self) -> manifest.Stage | None:
        """The stage folder that holds the fix, when a stage does."""
        return None if "/" in self.solution else manifest.find(self.solution)

    @property
    def solution_files(self) -> Path:
        """The files of the fix: the solution stage's folder, or the folder of changed files."""
        stage = self.solution_stage
        return stage.path if stage else manifest.REPO_ROOT / self.solution

    def reference(self) -> str:
        """Where to see the reference solution: a `diff` to type, or the changed files."""
        stage = self.solution_stage
        if stage:
            return f"`{run_py()} diff {self.start.id} {stage.id}`"
        changed = sorted(
            path.relative_to(manifest.REPO_ROOT).as_posix()
            for path in self.solution_files.rglob("*")
            if path.is_file()
        )
        return ", ".join(changed)

    @property
    def label(self) -> str:
        return f"stage {self.stage.id} ({self.stage.title})"


def exercises() -> list[Exercise]:
    """Every stage that has a check, in the manifest's order."""
    found = []
    for stage in manifest.stages():
        if stage.check is None:
            continue
        solution = stage.solution or (stage.id if stage.broken else None)
        if solution is None:
            raise WorkshopError(
                f"{manifest.MANIFEST.name}: stage {stage.id} has a check but no solution"
            )
        found.append(
            Exercise(
                stage=stage,
                start=manifest.find(stage.broken) if stage.broken else stage,
                check=stage.check,
                goal=" ".join(stage.goal.split()),
                solution=solution,
            )
        )
    return found


def exercise(name: str) -> Exercise:
    """The exercise of stage `name`; a WorkshopError that says which stages have one."""
    stage = manifest.lookup(name)
    all_exercises = exercises()
    for candidate in all_exercises:
        if stage is not None and candidate.stage.id == stage.id:
            return candidate
    ids = manifest.ids([candidate.stage for candidate in all_exercises])
    if stage is None:
        what = (
            f"{manifest.FINAL!r} is the finished app, not an exercise (serve it with "
            f"`{run_py()} up`)"
            if name.strip().lower() == manifest.FINAL
            else f"no exercise {name!r}"
        )
        raise WorkshopError(f"{what}: the exercises are {ids} (`{run_py()} try` lists them)")
    solved = [e for e in all_exercises if e.solution == stage.id and e.stage.id != stage.id]
    if solved:
        why = f"it is the fix of stage {solved[0].stage.id}'s exercise"
        first = solved[0].stage.id
    else:
        why = "its lesson is one to watch, not a fix to make"
        first = all_exercises[0].stage.id if all_exercises else "02"
    raise WorkshopError(
        f"stage {stage.id} is not an exercise: {why}. The exercises are {ids}: "
        f"start with `{run_py()} try {first}`"
    )


def next_exercise(current: Exercise) -> Exercise | None:
    """The exercise after `current` in the manifest's order, or None after the last."""
    following = iter(exercises())
    for candidate in following:
        if candidate.stage.id == current.stage.id:
            return next(following, None)
    return None


def copy_of(exercise: Exercise) -> Path:
    return playground() / exercise.stage.folder


def copy_here() -> Exercise | None:
    """The exercise whose copy holds the folder the user stands in, if one does."""
    try:
        folder = Path.cwd().resolve()
    except OSError:  # that folder is gone
        return None
    for each in exercises():
        copy = copy_of(each).resolve()
        if folder == copy or copy in folder.parents:
            return each
    return None


def served_copy(name: str) -> Path | None:
    """The learner's copy of stage `name`'s exercise, if `name` is one and the copy exists."""
    try:
        copy = copy_of(exercise(name))
    except WorkshopError:
        return None
    return copy if (copy / "template.yaml").is_file() else None


def copy_start(exercise: Exercise, destination: Path) -> None:
    """Copy the code that shows the flaw into `destination` (which must not exist)."""
    edited = edits(exercise.start.path)
    if edited:  # a fix made there by mistake would be copied, and pass for the learner's
        warnings.warn(
            f"{shown(exercise.start.path)}, which the copy is made from, was edited "
            f"({', '.join(edited[:3])}{', ...' if len(edited) > 3 else ''}): the copy starts "
            "from it as it is now. Exercises are done in the copy; to put the stage back: "
            f"`git checkout -- {shown(exercise.start.path)}`",
            stacklevel=2,
        )
    make_folder(destination.parent)
    # Copied beside it first, then renamed into place in one step: a `try` or `reset` typed twice
    # at once (two terminals) finds the other's copy whole, or none, and says so.
    ignore = shutil.ignore_patterns(*NOT_COPIED)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}-", dir=destination.parent))
    try:
        shutil.copytree(exercise.start.path, staging, ignore=ignore, dirs_exist_ok=True)
        try:
            if destination.exists():
                raise FileExistsError(destination)
            os.rename(staging, destination)
        except OSError:
            if destination.exists():
                raise WorkshopError(
                    f"{shown(destination)} was made meanwhile by another command (`try` or "
                    f"`reset` typed twice?): it is your copy now; check it with "
                    f"`{run_py()} check {exercise.stage.id}`"
                ) from None
            # The rename refused (a sync client holding the new folder, on Windows, say):
            # copied in place, as before, without the one-step guarantee.
            shutil.copytree(exercise.start.path, destination, ignore=ignore)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def edits(folder: Path) -> list[str]:
    """The files of a folder of this repository that differ from what git holds ([] where git
    cannot tell: no git, or no clone)."""
    try:
        found = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if found.returncode != 0:
        return []
    # Paths as git gives them: from the root of the clone, whatever folder it is asked in.
    return [line[3:].strip().strip('"') for line in found.stdout.splitlines() if len(line) > 3]
