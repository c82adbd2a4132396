"""`python run.py check --watch`: check again each time a file of the learner's copy is saved."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from workshop import interrupt
from workshop.errors import MachineError, WorkshopError

NOT_WATCHED = {".aws-sam", "__pycache__", ".ipynb_checkpoints", ".git"}
POLL_SECONDS = 1.0


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """(modification time, size) of every file under `folder`, but build output and caches."""
    found = {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = [name for name in dirs if name not in NOT_WATCHED]
        for name in files:
            path = Path(root, name)
            try:
                info = path.stat()
            except OSError:  # deleted meanwhile (an editor's swap file)
                continue
            found[path.relative_to(folder).as_posix()] = (info.st_mtime_ns, info.st_size)
    return found


def _changes(old: dict[str, tuple[int, int]], new: dict[str, tuple[int, int]]) -> list[str]:
    return sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))


def watch(copy: Path, label: str, check: Callable[[], int]) -> int:
    """Run `check` (its exit code), then again after each save under `copy`, until Ctrl-C."""
    interrupt.stop_on_ctrl_c()
    print(
        f"Watching {label}: the check runs again each time you save a file there. Ctrl-C stops.",
        flush=True,
    )
    code = 1
    try:
        while True:
            before = _snapshot(copy)
            try:
                code = check()
            except MachineError:
                raise  # the machine's to mend: saving a file of the copy would not
            except WorkshopError as error:
                print(f"error: {error}", flush=True)
            print("Waiting for you to save a file... (Ctrl-C stops)", flush=True)
            changed = _wait_for_change(copy, before)
            shown_names = ", ".join(changed[:3]) + (", ..." if len(changed) > 3 else "")
            print(f"\n{time.strftime('%H:%M:%S')} {shown_names} changed: checking again.")
    except KeyboardInterrupt:
        print("\nStopped watching.", flush=True)
        return code


def _wait_for_change(folder: Path, before: dict[str, tuple[int, int]]) -> list[str]:
    """Poll until a file under `folder` changes; then wait for the saving to settle."""
    while True:
        _sleep(POLL_SECONDS)
        now = _snapshot(folder)
        if _changes(before, now):
            break
    while True:  # editors save in steps (a temporary file, then a rename): let them finish
        _sleep(0.3)
        settled = _snapshot(folder)
        if settled == now:
            return _changes(before, settled)
        now = settled


def _sleep(seconds: float) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, 0.25))  # short sleeps: Windows delivers Ctrl-C between them
