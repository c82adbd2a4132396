"""The learner's commands: `try`, `hint`, `check` and `reset`."""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

from workshop import interrupt, manifest, served, usage
from workshop.errors import WorkshopError
from workshop.learn import course
from workshop.learn.course import Exercise, copy_of, copy_start
from workshop.learn.hints import hints_seen, print_hint, save_hints_seen, wrap
from workshop.learn.playground import PREVIOUS, kept_copy_for, make_folder, run_py, shown


def cmd_try(args: argparse.Namespace) -> int:
    if not args.stage:
        print(_the_exercises(f"The exercises (make your copy of one with `{run_py()} try NN`):"))
        return 0
    exercise = course.exercise(args.stage)
    copy = copy_of(exercise)
    _refuse_what_is_not_a_folder(exercise, copy)
    if copy.exists():
        raise WorkshopError(
            f"{shown(copy)} exists already: it is your copy, to fix; check it with "
            f"`{run_py()} check {exercise.stage.id}`, or start over with "
            f"`{run_py()} reset {exercise.stage.id}`"
        )
    copy_start(exercise, copy)
    print(
        f"Your copy of {exercise.label} is in {shown(copy)}: the code of "
        f"{shown(exercise.start.path)}, flaw included. Fix it there."
    )
    _introduce(exercise, copy)
    return 0


def _not_a_folder(copy: Path) -> str | None:
    """What is where the copy goes, if it is there and not a folder (None otherwise)."""
    if copy.is_dir() or not os.path.lexists(copy):
        return None
    if not copy.is_symlink():
        return "a file"
    target = os.readlink(copy)
    return f"a link to {target}" + (", which does not exist" if not copy.exists() else ", a file")


def _refuse_what_is_not_a_folder(exercise: Exercise, copy: Path) -> None:
    """A file or a link to nothing where the copy goes: `try`, `check` and `reset` would each
    read it their own way (none there, one there, a crash), so they say the same of it."""
    what = _not_a_folder(copy)
    if what is not None:
        # Named by its folder: shown() follows the link, to a path that is not there.
        raise WorkshopError(
            f"{copy.name} in {shown(copy.parent)}, where your copy of {exercise.label} goes, "
            f"is {what}, not a folder: `{run_py()} reset {exercise.stage.id}` moves it to "
            f"{PREVIOUS}/ and makes your copy there"
        )


def _the_exercises(heading: str) -> str:
    """The exercises, one a line under `heading`, whose NN is the first one's stage id."""
    listed = course.exercises()
    lines = [heading.replace("NN", listed[0].stage.id)]
    lines += [f"  {each.stage.id}  {each.stage.title}: {each.goal}" for each in listed]
    return "\n".join(lines)


def _needs_a_stage(command: str, what: str) -> str:
    """What `check`, `hint` and `reset` say when no stage is given: the exercises to choose from,
    or, typed in an exercise's copy, the command for that one."""
    copied = course.copy_here()
    if copied is not None:
        ident = copied.stage.id
        return (
            f"{command} needs a stage: {what}; you are in your copy of stage {ident}, so type "
            f"`{run_py()} {command} {ident}`"
        )
    return _the_exercises(
        f"{command} needs a stage: {what}, as in `{run_py()} {command} NN`. The exercises:"
    )


def _introduce(exercise: Exercise, copy: Path) -> None:
    ident = exercise.stage.id
    print()
    for label, text in (("What happened", exercise.stage.story), ("Your goal", exercise.goal)):
        print(wrap(f"{label}: " + " ".join(text.split())))
    print()
    print("Next, type one of these:")
    from workshop.learn import checks

    if checks.get(exercise.check).needs_stack:
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
    exercise = course.exercise(args.stage)
    copy = copy_of(exercise)
    not_a_folder = _not_a_folder(copy)
    if not os.path.lexists(copy):  # a link to nothing is moved away below, as a file is
        copy_start(exercise, copy)
        hints = " Its hints start again from the first." if _forget_hints(exercise) else ""
        print(
            f"You had not started {exercise.label} yet, so there was nothing to reset: "
            f"your copy is in {shown(copy)} now, as `{run_py()} try {exercise.stage.id}` "
            f"would have made it.{hints}"
        )
        print(f"Next: fix it there, then `{run_py()} check {exercise.stage.id}`.")
        return 0
    done = []
    previous = kept_copy_for(copy)
    make_folder(previous.parent)
    try:
        os.replace(copy, previous)
    except OSError as error:
        raise WorkshopError(
            f"cannot move {shown(copy)} ({error.strerror}): close the programs that use it "
            f"(an editor, a `{run_py()} up --from` of it), then try again"
        ) from error
    if not_a_folder:
        done.append(
            f"moved what was there ({not_a_folder}) to {previous.name} in {shown(previous.parent)}"
        )
    else:
        done.append(f"moved your copy to {shown(previous)} (in case you want something back)")
    copy_start(exercise, copy)
    done.append(f"copied {shown(exercise.start.path)} to {shown(copy)} again")
    if _forget_hints(exercise):
        done.append("set its hints back to the first")
    print(f"Reset {exercise.label}: " + "; ".join(done) + ".")
    print(f"Next: fix it there, then `{run_py()} check {exercise.stage.id}`.")
    return 0


def _forget_hints(exercise: Exercise) -> bool:
    """Set the exercise's hints back to the first; whether any had been seen."""
    seen = hints_seen()
    if not seen.pop(exercise.stage.id, None):
        return False
    save_hints_seen(seen)
    return True


def cmd_hint(args: argparse.Namespace) -> int:
    stage = manifest.lookup(args.stage)
    if stage is None or not stage.hints:
        hinted = [candidate for candidate in manifest.stages() if candidate.hints]
        what = f"stage {stage.id} has no hints" if stage else f"no stage {args.stage!r}"
        if args.stage.strip().lower() == manifest.FINAL:
            what = f"{manifest.FINAL!r} is the finished app, which has no hints"
        raise WorkshopError(
            f"{what}: the stages with hints are {manifest.ids(hinted)} (see `{run_py()} stages`)"
        )
    seen = hints_seen()
    total = len(stage.hints)
    # Each hint is counted as seen before it is printed: a reader who cuts the output short
    # (`| head`, a closed window) has seen it, and the next `hint` goes on from there.
    if args.all:
        seen[stage.id] = total
        save_hints_seen(seen)
        for number in range(1, total + 1):
            print_hint(stage, number)
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
        seen[stage.id] = number
        save_hints_seen(seen)
        print_hint(stage, number)
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
        return course.exercise(stage_id).reference()
    except WorkshopError:
        return None


def cmd_check(args: argparse.Namespace) -> int:
    exercise = course.exercise(args.stage)
    copy = Path(os.path.abspath(args.path)) if args.path else copy_of(exercise)
    option = getattr(args, "path_option", None) or "--from"
    again = f"{run_py()} check {exercise.stage.id}" + (
        f" {option} {shown(copy)}" if args.path else ""
    )
    if args.path:
        served.project_folder(args.path, option)
        _warn_of_a_stage_folder(copy, exercise.stage.id, option)
    elif not copy.is_dir():
        _refuse_what_is_not_a_folder(exercise, copy)
        raise WorkshopError(
            f"there is no copy of {exercise.label} yet in {shown(copy)}: make one with "
            f"`{run_py()} try {exercise.stage.id}`"
        )
    if args.watch:
        from workshop.learn import watch

        return watch.watch(
            copy, shown(copy), lambda: _check_once(exercise, copy, again, watching=True)
        )
    interrupt.stop_on_ctrl_c()
    try:
        return _check_once(exercise, copy, again)
    except KeyboardInterrupt:  # a check only reads the copy
        from workshop.learn import checks

        built = (
            None
            if checks.get(exercise.check).needs_stack
            else "ran sam build on a temporary copy, now gone"
        )
        return interrupt.stopped("check", f"{shown(copy)} is as you left it", built)


def _warn_of_a_stage_folder(path: Path, stage_id: str, option: str) -> None:
    """A --from PATH in a stage's own folder is the stage, not a copy to fix; the repository's
    top (`--from .` typed there) is the final app; another exercise's copy has its own check."""
    resolved, root = path.resolve(), manifest.REPO_ROOT.resolve()
    if resolved.is_relative_to(root / "stages"):
        what = "a stage's own folder"
    elif resolved in (root, root / "src"):
        what = "the final app at the top of the repository (template.yaml, src/)"
    else:
        other = next(
            (e for e in course.exercises() if copy_of(e).resolve() == resolved),
            None,
        )
        if other is not None and other.stage.id != stage_id:
            warnings.warn(
                f"{option} {shown(path)} is your copy of {other.label}, not of "
                f"{course.exercise(stage_id).label}: its check is "
                f"`{run_py()} check {other.stage.id}`",
                stacklevel=2,
            )
        return
    warnings.warn(
        f"{option} {shown(path)} checks {what}, which the workshop keeps as it "
        f"is: to fix it yourself, make a copy with `{run_py()} try {stage_id}`, then "
        f"`{run_py()} check {stage_id}`",
        stacklevel=2,
    )


def _check_once(exercise: Exercise, copy: Path, again: str, watching: bool = False) -> int:
    from workshop.learn import checks

    print(f"Checking {shown(copy)} against {exercise.label}...", flush=True)
    if course.edits(exercise.start.path):  # a fix made in the stage, not in the copy
        warnings.warn(
            f"{shown(exercise.start.path)} was edited; the check runs on {shown(copy)}, so a "
            "fix belongs there",
            stacklevel=2,
        )
    if (copy / "template.yaml").is_file():
        problems = checks.run(exercise.check, copy)
    elif copy.resolve() == copy_of(exercise).resolve():  # deleted, or moved: nothing can start
        problems = [
            "The copy has no template.yaml any more, so nothing can start: put it back, or "
            f"make a fresh copy with `{run_py()} reset {exercise.stage.id}` (the one you have is "
            "kept in .previous/)."
        ]
    else:  # a --from folder, which `reset` would not touch: it makes the playground's copy
        gone = "is not there any more" if not copy.exists() else "has no template.yaml any more"
        problems = [
            f"{shown(copy)} {gone}, so nothing can start: put it back, or check the folder that "
            f"holds your copy now, `{run_py()} check {exercise.stage.id} --from FOLDER`."
        ]
    if problems:
        print("Not yet. What still fails:")
        for problem in problems:  # its commands as the learner types them where they stand
            print(f"  - {problem.replace('python run.py', run_py())}")
        then = "save, and it is checked again" if watching else f"check again: `{again}`"
        where = "this folder" if copy.resolve() == Path.cwd().resolve() else shown(copy)
        print(
            f"Fix it in {where}, then {then} (stuck? `{run_py()} hint {exercise.stage.id}`)",
            flush=True,
        )
        return 1
    print(f"Fixed! {exercise.goal}")
    print(f"The reference solution, to compare with yours: {exercise.reference()}")
    following = course.next_exercise(exercise)
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


class _Folder(argparse.Action):
    """A folder option that remembers how the user spelled it (`--from` or `--path`), so that
    the messages about it say the same."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        namespace.path_option = option_string


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
    hint.needs = lambda: _needs_a_stage("hint", "the stage whose next hint to show")
    hint.add_argument("--all", action="store_true", help="every hint of the stage at once")
    hint.set_defaults(run=cmd_hint)

    check = sub.add_parser(
        "check", help="run the stage's story check on your copy: what still fails, or Fixed!"
    )
    check.add_argument("stage", help=exercise_help)
    check.needs = lambda: _needs_a_stage("check", "the exercise whose copy to check")
    check.add_argument(
        "--from",
        "--path",
        dest="path",
        type=usage.path(usage.A_COPY),
        metavar="PATH",
        action=_Folder,
        help="check this folder instead of your copy in playground/ (as `up --from PATH` "
        "serves it; --path is the same)",
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
    reset.needs = lambda: _needs_a_stage("reset", "the exercise to start over")
    reset.set_defaults(run=cmd_reset)
