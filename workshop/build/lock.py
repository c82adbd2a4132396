"""The simulated lock: files that 'another process' holds, in this process and in `sam`'s.

Root ignores file permissions, and Linux lets anyone delete a file that another process has
open, so nothing real here can refuse a delete the way Windows refuses one under OneDrive's
hold. The honest stand-in fails the real calls with a clearly marked PermissionError.

`sam_environment` passes the holds to `sam build` itself: it puts a generated
`sitecustomize.py` on the child's PYTHONPATH that loads this file (by its path, not as part of
the `workshop` package) and wraps `os.unlink`, `os.remove`, `os.rmdir`, `os.rename` and
`os.replace`, so the real SAM CLI, in its real code path (it empties `.aws-sam/build` with
`shutil.rmtree` at the start of every build), gets the PermissionError and reports it as it
reports a real one. This needs a `sam` that runs on a Python honouring PYTHONPATH, as a
pip-installed one does; it replaces any other `sitecustomize` for that one run. The shim runs
this file in sam and in the Pythons that sam starts, which need not have the workshop's
packages: it imports the standard library only.

A held file is recognised by identity (device and inode), not by name: `shutil.rmtree` deletes
by a name relative to an open directory, and the identity matches however the path is spelt.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import shutil  # noqa: F401  (before the wrapping: see hold_files_in_this_process)
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# How the parent hands its held files to the sam process: JSON [[absolute path, until], ...];
# and where sam tells it which of them it refused to delete or replace, one path a line.
HELD_FILES_ENV = "WORKSHOP_HELD_FILES"
REFUSED_ENV = "WORKSHOP_HELD_REFUSED"
SIMULATED_HOLD = (
    "Permission denied (simulated: another process holds this file, as OneDrive does while it "
    "syncs)"
)


@dataclass(frozen=True)
class SimulatedLock:
    """A file that 'another process' holds until `until` (a time.time(); inf: forever)."""

    path: Path
    until: float
    refused: list[str] = field(default_factory=list, compare=False)  # what it refused so far

    def holds(self, path: str | bytes | os.PathLike, dir_fd: int | None = None) -> bool:
        """True while held, if `path` (relative to `dir_fd` when given) is the held file."""
        if time.time() >= self.until:
            return False
        try:
            held = os.lstat(self.path)
            other = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
        except (OSError, ValueError):
            return False
        return os.path.samestat(held, other)


_locks: list[SimulatedLock] = []


def raise_if_held(path: str | bytes | os.PathLike, dir_fd: int | None = None) -> None:
    """A PermissionError, as Windows gives one, when a simulated lock holds `path`."""
    for lock in _locks:
        if lock.holds(path, dir_fd):
            lock.refused.append(os.fsdecode(path))
            report = os.environ.get(REFUSED_ENV)  # set in sam: tell the parent
            if report:
                with open(report, "a", encoding="utf-8") as refused:
                    refused.write(f"{lock.path}\n")
            raise PermissionError(errno.EACCES, SIMULATED_HOLD, os.fsdecode(path))


@contextmanager
def simulated_lock(path: Path, seconds: float | None = None) -> Iterator[SimulatedLock]:
    """Hold `path`, here and in the `sam` that `build` runs, for `seconds` (None: for ever)."""
    until = float("inf") if seconds is None else time.time() + seconds
    lock = SimulatedLock(Path(os.path.abspath(path)), until)
    _locks.append(lock)
    try:
        yield lock
    finally:
        _locks.remove(lock)


@contextmanager
def sam_environment() -> Iterator[dict[str, str]]:
    """The environment for `sam`: no telemetry, and the simulated locks, if any, carried in."""
    env = dict(os.environ, SAM_CLI_TELEMETRY="0")
    if not _locks:
        yield env
        return
    with tempfile.TemporaryDirectory(prefix="workshop-lock-") as shim:
        # Registered in sys.modules before it runs: its dataclass looks its module up there.
        Path(shim, "sitecustomize.py").write_text(
            "import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('workshop_lock', {__file__!r})\n"
            "lock = sys.modules['workshop_lock'] = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(lock)\n"
            "lock.hold_files_in_this_process()\n",
            encoding="utf-8",
        )
        env[HELD_FILES_ENV] = json.dumps([[str(lock.path), lock.until] for lock in _locks])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [shim, env.get("PYTHONPATH")]))
        report = Path(shim, "refused.txt")
        env[REFUSED_ENV] = str(report)
        yield env
        refused = report.read_text(encoding="utf-8").splitlines() if report.exists() else []
        for lock in _locks:
            if str(lock.path) in refused:
                lock.refused.append("in sam")


def hold_files_in_this_process() -> None:
    """Make this process's deletes and renames of the held files fail (runs inside `sam`)."""
    held = json.loads(os.environ[HELD_FILES_ENV])
    _locks.extend(SimulatedLock(Path(path), until) for path, until in held)
    # shutil decides at import whether rmtree may use the dir_fd functions, by finding them in
    # os.supports_dir_fd: it is imported at the top of this module, before the wrapping below,
    # so sam's rmtree keeps its real code path.

    def one_path(real):
        @functools.wraps(real)
        def held_aware(path, *, dir_fd=None):
            raise_if_held(path, dir_fd)
            return real(path, dir_fd=dir_fd)

        return held_aware

    def two_paths(real):
        @functools.wraps(real)
        def held_aware(src, dst, *, src_dir_fd=None, dst_dir_fd=None):
            raise_if_held(src, src_dir_fd)
            raise_if_held(dst, dst_dir_fd)  # replacing a held file fails on Windows too
            return real(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

        return held_aware

    os.unlink, os.remove, os.rmdir = map(one_path, (os.unlink, os.remove, os.rmdir))
    os.rename, os.replace = map(two_paths, (os.rename, os.replace))
