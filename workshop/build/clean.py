"""`workshop clean`: delete the project's `.aws-sam` safely (the story of stage 04).

OneDrive's sync held files under `.aws-sam` while `sam build` tried to replace them, so the
build failed with a PermissionError until `.aws-sam` was deleted by hand. `clean` is that hand
deletion done carefully: it deletes only the project's own `.aws-sam`, never follows a link out
of it, clears read-only attributes, retries with backoff while another program holds a file,
and when it still cannot, names the file and says what to do.

`--simulate-lock <path inside .aws-sam>[:<seconds>|:forever]` (default: forever), or the same
in WORKSHOP_SIMULATE_LOCK, holds that file (`lock.simulated_lock`) from the moment `clean` or
`build` starts; a hold that refused nothing by the end is warned of, with what `.aws-sam` holds
instead (a typo would otherwise pass for a build that OneDrive did not disturb).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from workshop.build.lock import raise_if_held, simulated_lock
from workshop.errors import WorkshopError

BUILD_FOLDER = ".aws-sam"
LOCK_ENV = "WORKSHOP_SIMULATE_LOCK"
LOCK_SYNTAX = (
    "give a path relative to .aws-sam, then :SECONDS to let go after that many seconds or "
    ":forever (the default), e.g. build/HelloWorldFunction/app.py:5"
)
REMEDIES = (
    "pause OneDrive sync and try again, move the repository out of OneDrive, "
    "or build elsewhere with --build-dir pointing outside the synced folder"
)
_ON_WINDOWS = os.name == "nt"
ATTEMPTS = 6
DELAY = 0.25  # seconds before the second try; it doubles each time: 6 tries span 7.75 s


def parse_lock(spec: str, given: str = "--simulate-lock") -> tuple[Path, float | None]:
    """`PATH[:SECONDS|:forever]` as (the path inside .aws-sam, seconds or None: for ever).

    given: how the user gave it, for the message: the option, or `WORKSHOP_SIMULATE_LOCK=`.
    """
    relative, colon, duration = spec.partition(":")
    if colon and not re.fullmatch(r"forever|\d+(\.\d+)?", duration) or duration == "0":
        raise WorkshopError(
            f"{_said(given, spec)}: ':{duration}' is not a time to hold it: {LOCK_SYNTAX}"
        )
    held = Path(relative)
    if not relative or held.is_absolute() or ".." in held.parts or held.drive:
        raise WorkshopError(f"{_said(given, spec)}: {LOCK_SYNTAX}")
    return held, None if duration in ("", "forever") else float(duration)


@contextmanager
def lock_asked(
    project_dir: Path, spec: str | None, elsewhere: Path | None = None
) -> Iterator[None]:
    """Hold what --simulate-lock (else WORKSHOP_SIMULATE_LOCK) asks for; say if it held nothing.

    elsewhere: where a build outside the project's .aws-sam went, if one did: why then."""
    given = "--simulate-lock"
    if not spec:
        spec, given = os.environ.get(LOCK_ENV, "").strip(), f"{LOCK_ENV}="
    if not spec:
        yield
        return
    held, seconds = parse_lock(spec, given)
    root = project_dir / BUILD_FOLDER
    before = _contents_near(root / held, root)
    with simulated_lock(root / held, seconds) as lock:
        yield
    if lock.refused:
        return
    if elsewhere is not None:
        state = (
            f"it holds a file in {BUILD_FOLDER}, and this build went to {elsewhere}, outside it: "
            f"building elsewhere leaves a held {BUILD_FOLDER} alone"
        )
    elif (root / held).exists():
        state = "nothing deleted or replaced it while it was held"
    else:
        state = f"there is no {BUILD_FOLDER}/{held.as_posix()}"
        now = _contents_near(root / held, root)
        if now or before:
            there, listing = now or before
            holds = f"{_relative(there, project_dir)} {'holds' if now else 'held'}"
            state += f" ({holds}: {', '.join(listing) or 'nothing'})"
        else:
            state += f", nor any {BUILD_FOLDER}: build first"
    warnings.warn(f"{_said(given, spec)} held nothing: {state}", stacklevel=3)


def _said(given: str, spec: str) -> str:
    """The lock as the user gave it: `--simulate-lock PATH` or `WORKSHOP_SIMULATE_LOCK=PATH`."""
    return f"{given}{'' if given.endswith('=') else ' '}{spec}"


def _contents_near(path: Path, root: Path) -> tuple[Path, list[str]] | None:
    """The nearest folder holding `path`, up to `root`, and what is in it (folders with a /)."""
    for folder in path.parents:
        if folder.is_dir():
            names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
            return folder, names[:10] + (["..."] if len(names) > 10 else [])
        if folder == root:
            return None
    return None


def _relative(path: Path, project_dir: Path) -> str:
    return path.relative_to(project_dir).as_posix() if is_inside(path, project_dir) else str(path)


def is_link(path: Path) -> bool:
    """True for a symlink or a Windows junction: both are unlinked, never followed."""
    if path.is_symlink():
        return True
    if hasattr(os.path, "isjunction"):  # Python 3.12+
        return os.path.isjunction(path)
    if not _ON_WINDOWS:
        return False
    try:
        return os.lstat(path).st_reparse_tag == stat.IO_REPARSE_TAG_MOUNT_POINT
    except OSError:
        return False


def remove_entry(path: Path) -> None:
    """Delete one file, link or empty directory, unless a simulated lock holds it."""
    raise_if_held(path)
    if path.is_dir() and not is_link(path):
        os.rmdir(path)
    else:
        # On Windows os.unlink also removes a directory symlink or junction, not its target.
        os.unlink(path)


class _Held(Exception):
    """A file that could not be deleted this time; worth another try."""

    def __init__(self, path: Path, error: OSError):
        super().__init__(path, error)
        self.path = path
        self.error = error


def _remove_writable(path: Path, remove: Callable[[Path], None]) -> None:
    try:
        remove(path)
        return
    except FileNotFoundError:
        return
    except PermissionError as error:
        if is_link(path):  # chmod would change the link's target, outside .aws-sam
            raise _Held(path, error) from error
    # Windows refuses to delete a read-only file (git and pip leave some behind): clear the
    # attribute, then try once more. On Linux adding the write bit is harmless.
    try:
        os.chmod(path, stat.S_IMODE(os.lstat(path).st_mode) | stat.S_IWRITE)
        remove(path)
    except FileNotFoundError:
        return
    except OSError as error:
        raise _Held(path, error) from error


def _delete_tree(path: Path, remove: Callable[[Path], None]) -> None:
    """Delete `path` depth-first; a link is removed itself, never followed."""
    if not is_link(path) and path.is_dir():
        for child in list(path.iterdir()):
            _delete_tree(child, remove)
    try:
        _remove_writable(path, remove)
    except OSError as error:
        # Windows answers "directory not empty" while a held file inside awaits deletion.
        if error.errno != errno.ENOTEMPTY:
            raise
        raise _Held(path, error) from error


def absolute(path: Path) -> Path:
    """`path` made absolute with every link above it resolved, but not a link at its end."""
    # abspath removes '..' without touching the disk; a link above the target that leaves the
    # project then fails the containment checks, while a link at the end is only unlinked.
    path = Path(os.path.abspath(path))
    return path.parent.resolve() / path.name


def is_inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _owned_target(project_dir: Path, build_dir: Path | None) -> Path:
    """The absolute path to delete, after refusing anything but the project's own `.aws-sam`."""
    if not project_dir.is_dir():
        raise WorkshopError(f"{project_dir} is not a folder: give the SAM project to clean")
    project = project_dir.resolve()
    owned = project / BUILD_FOLDER
    target = absolute(owned if build_dir is None else build_dir)
    if is_inside(target, owned):
        return target
    if target == project or target in project.parents:
        problem = "is the project folder itself (or contains it)"
    elif project in target.parents:
        problem = f"is not the project's {BUILD_FOLDER} nor inside it"
    else:
        problem = "is outside the project"
    raise WorkshopError(
        f"Refusing to delete {target}: it {problem}; clean deletes only {owned} and what is in "
        f"it (sam build empties a --build-dir elsewhere by itself)"
    )


def delete_build_folder(
    project_dir: Path,
    build_dir: Path | None = None,
    *,
    attempts: int = ATTEMPTS,
    delay: float = DELAY,
    remove: Callable[[Path], None] = remove_entry,
    log: Callable[[str], None] | None = None,
) -> Path | None:
    """`clean` without taking WORKSHOP_SIMULATE_LOCK's hold: for callers that hold it already."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    target = _owned_target(project_dir, build_dir)
    if not os.path.lexists(target):
        return None
    waited = 0.0
    for attempt in range(1, attempts + 1):
        try:
            _delete_tree(target, remove)
            return target
        except _Held as held:
            last = held
        except OSError as error:
            raise WorkshopError(f"Cannot delete {error.filename}: {error.strerror}") from error
        if attempt < attempts:
            pause = delay * 2 ** (attempt - 1)
            if log:
                log(f"{last.path} is held; trying again in {pause:g} s")
            time.sleep(pause)
            waited += pause
    raise WorkshopError(
        f"Cannot delete {last.path}: {last.error.strerror}. It was still held after {attempts} "
        f"tries over {waited:g} s: another program, such as OneDrive while it syncs, holds it. "
        f"To go on: {REMEDIES}."
    ) from last.error


def clean(
    project_dir: Path,
    build_dir: Path | None = None,
    *,
    attempts: int = ATTEMPTS,
    delay: float = DELAY,
    remove: Callable[[Path], None] = remove_entry,
    log: Callable[[str], None] | None = None,
    simulate_lock: str | None = None,
) -> Path | None:
    """Delete the project's `.aws-sam` (or `build_dir` inside it); return what went, or None.

    A relative `build_dir` is taken from the current directory, as on any command line.
    While a file is held it tries `attempts` times, waiting `delay`, then twice as long each time.
    simulate_lock: `PATH[:SECONDS|:forever]` in .aws-sam to hold (None: WORKSHOP_SIMULATE_LOCK's).
    """
    with lock_asked(project_dir, simulate_lock):
        return delete_build_folder(
            project_dir, build_dir, attempts=attempts, delay=delay, remove=remove, log=log
        )
