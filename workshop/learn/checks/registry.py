"""Finding a check by the name the manifest gives it, and running it on a project."""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workshop.errors import MachineError, WorkshopError
from workshop.learn.checks.story import sentence, too_slow, waiting

PACKAGE = "workshop.learn.checks"


@dataclass(frozen=True)
class Check:
    """A check: `check(project)` returns what still fails (empty: fixed)."""

    name: str
    function: Callable[[Any], list[str]]
    needs_stack: bool  # True: the function takes a started Stack; False: a project folder

    def __call__(self, project: Any) -> list[str]:
        """Run on a project folder (started here from nothing) or, for a stack check, on a
        started Stack as it is (the stage tests pass their own).

        A stack check that fails after the local AWS answered a write so late that the SDK sent
        it again, and it was applied twice (LocalAWS.late_retries), judged a count that this
        machine spoiled: on a folder it runs once more, on a new stack; if that run is spoiled
        too, or on a Stack, it says so in place of its problems.
        """
        from workshop.local.stack import Stack

        if isinstance(project, Stack):
            if not self.needs_stack:
                return self.function(project.project_dir)
            before = len(project.aws.late_retries())
            problems = self.function(project)
            retried = project.aws.late_retries()[before:]
            return [too_slow(retried)] if problems and retried else problems
        folder = Path(project)
        if not self.needs_stack:
            return self.function(folder)
        for last in (False, True):
            with started(folder) as (stack, problem):
                if problem:
                    return [problem]
                problems = self.function(stack)
                retried = stack.aws.late_retries()
            if not (problems and retried):
                return problems
            if not last:
                waiting(
                    "this machine answered DynamoDB too slowly to judge the visits: checking again"
                )
        return [too_slow(retried)]


def _module_names() -> list[str]:
    package = importlib.import_module(PACKAGE)
    return sorted(info.name for info in pkgutil.iter_modules(package.__path__))


def _load(name: str) -> Check | None:
    module = importlib.import_module(f"{PACKAGE}.{name}")
    if not callable(getattr(module, "check", None)) or not hasattr(module, "NEEDS_STACK"):
        return None
    return Check(name, module.check, bool(module.NEEDS_STACK))


def names() -> list[str]:
    """The name of every check: each is a module of this package with `check` and NEEDS_STACK."""
    return [name for name in _module_names() if _load(name) is not None]


def get(name: str) -> Check:
    """The check called `name`; a WorkshopError that lists the checks when there is none."""
    found = _load(name) if name in _module_names() else None
    if found is None:
        raise WorkshopError(
            f"no check {name!r} in workshop/learn/checks/ (it has {', '.join(names())})"
        )
    return found


def run(name: str, project: Any) -> list[str]:
    """Run the check called `name` on a project folder (or a started Stack)."""
    return get(name)(project)


@contextlib.contextmanager
def started(folder: Path) -> Iterator[tuple[Any, str | None]]:
    """(stack, None) for the project started from nothing, or (None, why it would not start)."""
    from workshop.local.stack import Stack

    try:
        stack = Stack.for_project(str(Path(folder).resolve()), port=0, fresh=True).start()
    except MachineError:
        raise  # the machine's to mend (say, a stopped AWS_ENDPOINT_URL), not the learner's code
    except WorkshopError as error:
        yield None, sentence(f"The project does not start: {error}")
        return
    except Exception as error:  # a template the harness trips over is the learner's to mend
        yield None, sentence(f"The project does not start: {type(error).__name__}: {error}")
        return
    try:
        yield stack, None
    finally:
        stack.stop()
