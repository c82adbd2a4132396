"""The story checks: does a project still show the flaw a stage is about? One definition for all.

Each exercise in `stages/stages.toml` names its check (`check = "counts_every_visit"`): the
module of that name in this package, which defines `check(project)` and `NEEDS_STACK`. A check
takes a project folder, starts it as the stage would run (a fresh stack on a free port,
nothing saved; or the real `sam build`), drives it over HTTP as a visitor would, reads its logs,
and returns what still fails: sentences in the story's words, such as "The second visit still
answers 500 ...". An empty list means fixed.

`python run.py check` runs a check on the learner's copy; the tests run the same check on the
stage folders, where it must fail on the broken stage and pass on the one that fixes it. A
problem in the project (a syntax error, a template the harness cannot run, a samconfig.toml sam
refuses) is one more sentence, never a traceback; a problem of this machine (no `sam`, no
python3.11 for `sam build`) raises a WorkshopError, since no edit of the project can mend it.

The modules that are not checks: `registry` (finding and running a check), `story` (the
story's words and the sentences built from them), `logged_visits` (visits of a started stack,
with the logs each left).
"""

from workshop.learn.checks.registry import Check, get, names, run

__all__ = ["Check", "get", "names", "run"]
