"""`python run.py check --watch`: check again each time a file of the learner's copy is saved."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from workshop import interrupt, user_files
from workshop.errors import MachineError, WorkshopError

POLL_SECONDS = 1.0


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
            before = user_files.snapshot(copy)
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
        now = user_files.snapshot(folder)
        if user_files.changes(before, now):
            break
    while True:  # editors save in steps (a temporary file, then a rename): let them finish
        _sleep(0.3)
        settled = user_files.snapshot(folder)
        if settled == now:
            return user_files.changes(before, settled)
        now = settled


def _sleep(seconds: float) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, 0.25))  # short sleeps: Windows delivers Ctrl-C between them
