"""Fix it yourself, the way rustlings teaches: `python run.py try`, `hint`, `check`, `reset`.

An exercise is a stage whose lesson is a fix: its manifest entry names a story check
(`check`, a module of workshop/learn/checks/). `try` copies the code that shows the flaw (the
stage's own folder, or for a "beyond" stage the folder of the stage it names as `broken`) into
a git-ignored playground, `playground/<stage folder>/`; the learner edits it there; `check`
runs the story check on it and says what still fails, in the story's words, or that it is
fixed, where the reference solution is, and what comes next. The reference solution is kept
apart from where the learner edits: a later stage folder, or a folder of the changed files
under `solutions/`.

WORKSHOP_PLAYGROUND moves the playground (the tests use a temporary one). Hint progress is
kept in `<playground>/.hints.json`; `reset` keeps the copy it replaces in
`<playground>/.previous/`, one per exercise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import stat
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from workshop import manifest
from workshop.errors import WorkshopError

PLAYGROUND_ENV = "WORKSHOP_PLAYGROUND"
HINTS_FILE = ".hints.json"
PREVIOUS = ".previous"
# Not copied into the playground: the story's README belongs to the stage, not to the code
# (and a beyond stage's broken folder has another stage's story), nor what builds leave.
NOT_COPIED = ("README.md", ".aws-sam", "__pycache__", "*.pyc", ".ipynb_checkpoints")


def run_py() -> str:
    """How the user types the workshop's command from where they stand: `python run.py` in the
    repository, `python ../../run.py` in a folder of it, the full path elsewhere."""
    return f"python {shown(manifest.REPO_ROOT / 'run.py')}"


# ------------------------------------------------------------------ the exercises -------------


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
    stage = manifest.find(name)
    all_exercises = exercises()
    for candidate in all_exercises:
        if candidate.stage.id == stage.id:
            return candidate
    ids = ", ".join(candidate.stage.id for candidate in all_exercises)
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


# ------------------------------------------------------------------ the playground ------------


def playground() -> Path:
    """Where the learners' copies live: WORKSHOP_PLAYGROUND, or playground/ in the repository."""
    custom = os.environ.get(PLAYGROUND_ENV, "").strip()
    root = Path(custom).expanduser() if custom else manifest.REPO_ROOT / "playground"
    return Path(os.path.abspath(root))


def copy_of(exercise_: Exercise) -> Path:
    return playground() / exercise_.stage.folder


def shown(path: Path) -> str:
    """A path as the learner should type it where they stand: relative to the current folder
    when both are in the repository (or the path is below it), else in full; with forward
    slashes, which PowerShell and bash both take; quoted if it has a space."""
    path = Path(path).resolve()  # as REPO_ROOT is: links and (on Windows) case resolved
    here = Path.cwd().resolve()
    text = str(path)
    if _within(path, here) or (
        _within(path, manifest.REPO_ROOT) and _within(here, manifest.REPO_ROOT)
    ):
        text = Path(os.path.relpath(path, here)).as_posix()
    return f'"{text}"' if re.search(r"\s", text) else text


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def served_copy(name: str) -> Path | None:
    """The learner's copy of stage `name`'s exercise, if `name` is one and the copy exists."""
    try:
        copy = copy_of(exercise(name))
    except WorkshopError:
        return None
    return copy if (copy / "template.yaml").is_file() else None


def copy_start(exercise_: Exercise, destination: Path) -> None:
    """Copy the code that shows the flaw into `destination` (which must not exist)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(exercise_.start.path, destination, ignore=shutil.ignore_patterns(*NOT_COPIED))


def _make_writable_and_retry(function, path, _excinfo) -> None:
    os.chmod(path, stat.S_IWRITE)  # Windows refuses to delete a read-only file
    function(path)


def remove_tree(path: Path) -> None:
    try:
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=_make_writable_and_retry)
        else:
            shutil.rmtree(path, onerror=_make_writable_and_retry)
    except OSError as error:
        raise WorkshopError(
            f"cannot delete {shown(path)} ({error.strerror}: {error.filename}): close the "
            f"programs that use it (an editor, a `{run_py()} up --from` of it), then try again"
        ) from error


# ------------------------------------------------------------------ hints ---------------------


def _hints_file() -> Path:
    return playground() / HINTS_FILE


def hints_seen() -> dict[str, int]:
    try:
        seen = json.loads(_hints_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in seen.items() if isinstance(v, int)} if isinstance(seen, dict) else {}


def _save_hints_seen(seen: dict[str, int]) -> None:
    path = _hints_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(seen, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _print_hint(stage: manifest.Stage, number: int) -> None:
    print(f"Hint {number} of {len(stage.hints)} for stage {stage.id} ({stage.title}):")
    print(_wrap(" ".join(stage.hints[number - 1].split()), indent="  "))


def _wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(
        text, width=96, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False
    )


# ------------------------------------------------------------------ the commands --------------


def cmd_try(args: argparse.Namespace) -> int:
    if not args.stage:
        first = exercises()[0].stage.id
        print(f"The exercises (make your copy of one with `{run_py()} try {first}`):")
        for candidate in exercises():
            print(f"  {candidate.stage.id}  {candidate.stage.title}: {candidate.goal}")
        return 0
    exercise_ = exercise(args.stage)
    copy = copy_of(exercise_)
    if copy.exists():
        raise WorkshopError(
            f"{shown(copy)} exists already, with your work in it: check it with "
            f"`{run_py()} check {exercise_.stage.id}`, or start over with "
            f"`{run_py()} reset {exercise_.stage.id}`"
        )
    copy_start(exercise_, copy)
    print(
        f"Your copy of {exercise_.label} is in {shown(copy)}: the code of "
        f"{shown(exercise_.start.path)}, flaw included. Fix it there."
    )
    _introduce(exercise_, copy)
    return 0


def _introduce(exercise_: Exercise, copy: Path) -> None:
    ident = exercise_.stage.id
    print()
    for label, text in (("What happened", exercise_.stage.story), ("Your goal", exercise_.goal)):
        print(_wrap(f"{label}: " + " ".join(text.split())))
    print()
    print("Next, type one of these:")
    from workshop.learn import checks

    if checks.get(exercise_.check).needs_stack:
        try_it = f"{run_py()} up --from {shown(copy)} --fresh"
        what = "serve your copy, then visit its URL"
    else:  # the build: sam build as the copy configures it, while "OneDrive" holds a file
        held = "build/HelloWorldFunction/app.py"
        try_it = f"{run_py()} build {shown(copy)} --no-clean --simulate-lock {held}"
        what = "sam build your copy while a built file is held (twice)"
    commands = [
        (f"{run_py()} check {ident}", "what still fails, in the story's words"),
        (f"{run_py()} check {ident} --watch", "the same, again each time you save a file"),
        (f"{run_py()} hint {ident}", "one hint at a time, when you are stuck"),
        (try_it, what),
        (f"{run_py()} reset {ident}", "start over from a fresh copy"),
    ]
    width = max(len(what) for _, what in commands) + 1
    for command, what in commands:  # the commands last: they may be long, with their paths
        print(f"  {what + ':':<{width}}  {command}")


def cmd_reset(args: argparse.Namespace) -> int:
    exercise_ = exercise(args.stage)
    copy = copy_of(exercise_)
    if not copy.exists():
        copy_start(exercise_, copy)
        print(
            f"You had not started {exercise_.label} yet, so there was nothing to reset: "
            f"your copy is in {shown(copy)} now, as `{run_py()} try {exercise_.stage.id}` "
            "would have made it."
        )
        print(f"Next: fix it there, then `{run_py()} check {exercise_.stage.id}`.")
        return 0
    done = []
    previous = playground() / PREVIOUS / copy.name
    if previous.exists():
        remove_tree(previous)
    previous.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(copy, previous)
    except OSError as error:
        raise WorkshopError(
            f"cannot move {shown(copy)} ({error.strerror}): close the programs that use it "
            f"(an editor, a `{run_py()} up --from` of it), then try again"
        ) from error
    done.append(f"moved your copy to {shown(previous)} (in case you want something back)")
    copy_start(exercise_, copy)
    done.append(f"copied {shown(exercise_.start.path)} to {shown(copy)} again")
    seen = hints_seen()
    if seen.pop(exercise_.stage.id, None):
        _save_hints_seen(seen)
        done.append("set its hints back to the first")
    print(f"Reset {exercise_.label}: " + "; ".join(done) + ".")
    print(f"Next: fix it there, then `{run_py()} check {exercise_.stage.id}`.")
    return 0


def cmd_hint(args: argparse.Namespace) -> int:
    stage = manifest.find(args.stage)
    if not stage.hints:
        raise WorkshopError(f"stage {stage.id} has no hints")
    seen = hints_seen()
    total = len(stage.hints)
    if args.all:
        for number in range(1, total + 1):
            _print_hint(stage, number)
        seen[stage.id] = total
    elif seen.get(stage.id, 0) >= total:
        print(
            f"There are no more hints for stage {stage.id}: you have seen all {total} "
            f"(`{run_py()} hint {stage.id} --all` shows them again)."
        )
        solution = _solution_of(stage.id)
        if solution:
            print(f"The reference solution, once you have tried: {solution}")
        return 0
    else:
        number = seen.get(stage.id, 0) + 1
        _print_hint(stage, number)
        seen[stage.id] = number
    _save_hints_seen(seen)
    if seen[stage.id] < total:
        print(f"Another one, stronger: `{run_py()} hint {stage.id}`.")
        return 0
    solution = _solution_of(stage.id)
    if solution is None:
        print(f"That was the last hint for stage {stage.id}.")
        return 0
    print(f"That was the last hint. Once you have tried, the reference solution is: {solution}")
    return 0


def _solution_of(stage_id: str) -> str | None:
    """Where the reference solution of a stage's exercise is, or None for a stage to watch."""
    try:
        return exercise(stage_id).reference()
    except WorkshopError:
        return None


def cmd_check(args: argparse.Namespace) -> int:
    exercise_ = exercise(args.stage)
    copy = Path(os.path.abspath(args.path)) if args.path else copy_of(exercise_)
    again = f"{run_py()} check {exercise_.stage.id}" + (
        f" --path {shown(copy)}" if args.path else ""
    )
    if not copy.is_dir():
        if args.path:
            raise WorkshopError(f"{args.path}: no such folder")
        raise WorkshopError(
            f"there is no copy of {exercise_.label} yet in {shown(copy)}: make one with "
            f"`{run_py()} try {exercise_.stage.id}`"
        )
    if args.watch:
        from workshop.learn import watch

        return watch.watch(
            copy, shown(copy), lambda: _check_once(exercise_, copy, again, watching=True)
        )
    return _check_once(exercise_, copy, again)


def _check_once(exercise_: Exercise, copy: Path, again: str, watching: bool = False) -> int:
    from workshop.learn import checks

    print(f"Checking {shown(copy)} against {exercise_.label}...", flush=True)
    problems = checks.run(exercise_.check, copy)
    if problems:
        print("Not yet. What still fails:")
        for problem in problems:
            print(f"  - {problem}")
        then = "save, and it is checked again" if watching else f"check again: `{again}`"
        print(
            f"Fix it in {shown(copy)}, then {then} (stuck? `{run_py()} hint {exercise_.stage.id}`)",
            flush=True,
        )
        return 1
    print(f"Fixed! {exercise_.goal}")
    print(f"The reference solution, to compare with yours: {exercise_.reference()}")
    following = next_exercise(exercise_)
    if following:
        print(
            f"Next: stage {following.stage.id}, {following.stage.title}: "
            f"`{run_py()} try {following.stage.id}`",
            flush=True,
        )
    else:
        print(
            f"That was the last exercise. The final counter is at the top of the repository: "
            f"`{run_py()} up`.",
            flush=True,
        )
    return 0


# ------------------------------------------------------------------ wiring --------------------


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `try`, `hint`, `check` and `reset` to the `workshop` command's subparsers."""
    exercise_help = "an exercise: a stage whose lesson is a fix (02, 04, 05, ...)"

    attempt = sub.add_parser(
        "try", help="copy a stage's broken code into playground/, to fix it yourself"
    )
    attempt.add_argument("stage", nargs="?", help=exercise_help + " (none: list them)")
    attempt.set_defaults(run=cmd_try)

    hint = sub.add_parser("hint", help="the stage's next hint (one more each time)")
    hint.add_argument("stage", help=f"a stage (01, 02, ...: see `{run_py()} stages`)")
    hint.add_argument("--all", action="store_true", help="every hint of the stage at once")
    hint.set_defaults(run=cmd_hint)

    check = sub.add_parser(
        "check", help="run the stage's story check on your copy: what still fails, or Fixed!"
    )
    check.add_argument("stage", help=exercise_help)
    check.add_argument(
        "--path",
        metavar="PATH",
        help="check this folder instead of your copy in playground/",
    )
    check.add_argument(
        "--watch",
        action="store_true",
        help="check again each time a file of the copy is saved (Ctrl-C stops)",
    )
    check.set_defaults(run=cmd_check)

    reset = sub.add_parser(
        "reset", help="start an exercise over: a fresh copy (the old one kept in .previous/)"
    )
    reset.add_argument("stage", help=exercise_help)
    reset.set_defaults(run=cmd_reset)
