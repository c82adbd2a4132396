"""The learner's playground, and paths as the learner types them where they stand."""

from __future__ import annotations

import os
import time
from pathlib import Path

from workshop import manifest
from workshop.errors import WorkshopError
from workshop.usage import as_typed

PLAYGROUND_ENV = "WORKSHOP_PLAYGROUND"
PREVIOUS = ".previous"
REPO_PLAYGROUND = manifest.REPO_ROOT / "playground"


def run_py() -> str:
    """How the user types the workshop's command from where they stand: `python run.py` in the
    repository, `python ../../run.py` in a folder of it, the full path elsewhere."""
    return f"python {shown(manifest.REPO_ROOT / 'run.py')}"


def playground() -> Path:
    """Where the learners' copies live: WORKSHOP_PLAYGROUND, or playground/ in the repository."""
    custom = os.environ.get(PLAYGROUND_ENV, "").strip()
    root = Path(os.path.abspath(Path(custom).expanduser() if custom else REPO_PLAYGROUND))
    if root.exists() and not root.is_dir():
        _refuse(root, "it is a file")
    return root


def make_folder(folder: Path) -> None:
    """Make `folder` (and its parents) in the playground, or say why it cannot be made."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a file in the way, or a place where nothing can be made
        _refuse(playground(), error.strerror or str(error))


def _refuse(root: Path, why: str) -> None:
    custom = os.environ.get(PLAYGROUND_ENV, "").strip()
    where = f"{PLAYGROUND_ENV} is {custom}" if custom else f"The playground is {root}"
    raise WorkshopError(
        f"{where}, where the copies cannot be kept ({why}): point {PLAYGROUND_ENV} at a "
        "folder of yours, or unset it to use the repository's playground/."
    )


def shown(path: Path) -> str:
    """A path as the learner should type it where they stand: relative to the current folder
    when both are in the repository (or the path is below it), else in full; with forward
    slashes, which PowerShell and bash both take; quoted if a shell would read it otherwise
    (a space, a quote, a $)."""
    path = Path(path).resolve()  # as REPO_ROOT is: links and (on Windows) case resolved
    here = Path.cwd().resolve()
    text = str(path)
    if _within(path, here) or (
        _within(path, manifest.REPO_ROOT) and _within(here, manifest.REPO_ROOT)
    ):
        text = Path(os.path.relpath(path, here)).as_posix()
    return as_typed(text)


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def kept_copy_for(copy: Path) -> Path:
    """A new folder in .previous/ for `copy`, named by the time: every earlier one is kept."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = playground() / PREVIOUS / f"{copy.name}-{stamp}"
    number = 2
    while kept.exists():  # two resets within a second
        kept = kept.with_name(f"{copy.name}-{stamp}-{number}")
        number += 1
    return kept
