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
`<playground>/.previous/`, each named by the exercise and the time (none replaced).
"""

from workshop.learn.commands import add_commands
from workshop.learn.course import (
    NOT_COPIED,
    Exercise,
    copy_here,
    copy_of,
    copy_start,
    exercise,
    exercises,
    next_exercise,
    served_copy,
)
from workshop.learn.hints import hints_seen
from workshop.learn.playground import PLAYGROUND_ENV, playground, run_py, shown

__all__ = [
    "NOT_COPIED",
    "PLAYGROUND_ENV",
    "Exercise",
    "add_commands",
    "copy_here",
    "copy_of",
    "copy_start",
    "exercise",
    "exercises",
    "hints_seen",
    "next_exercise",
    "playground",
    "run_py",
    "served_copy",
    "shown",
]
