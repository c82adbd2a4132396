"""One process at a time uses what a project stored: `up`, or an `invoke` that starts its own
stack. Each loads the snapshot, runs, and writes it back: two at once would each write back
their own tables, and the visits the other one counted, and answered, would be lost.

The lock is the operating system's, on a file in the state folder: it is let go when the process
ends, however it ends, so a crash never leaves it held.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import IO

from workshop.errors import WorkshopError
from workshop.local.persistence import make_state_folder

LOCK_FILE = "in-use.lock"
POLL = 0.1  # seconds between tries while another process holds it

if os.name == "nt":
    import msvcrt

    def _try(file: IO[bytes]) -> bool:
        try:
            msvcrt.locking(
                file.fileno(), msvcrt.LK_NBLCK, 1
            )  # its first byte: past the end is fine
        except OSError:
            return False
        return True

    def _let_go(file: IO[bytes]) -> None:
        msvcrt.locking(file.fileno(), msvcrt.LK_UNLCK, 1)  # Windows frees it at close only later

else:
    import fcntl

    def _try(file: IO[bytes]) -> bool:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _let_go(file: IO[bytes]) -> None:
        fcntl.flock(file.fileno(), fcntl.LOCK_UN)


class StateLock:
    """The state folder held by this process, until `release` or the process's end."""

    def __init__(self, state_dir: Path, wait: float):
        self.path = Path(state_dir) / LOCK_FILE
        self.wait = wait  # seconds to wait for another process to let it go
        self._file: IO[bytes] | None = None

    def acquire(self) -> None:
        make_state_folder(self.path)
        file = self.path.open("a+b")
        deadline = time.monotonic() + self.wait
        while not _try(file):
            if time.monotonic() >= deadline:
                file.close()
                raise WorkshopError(
                    f"What this project stored, in {self.path.parent}, is in use by another "
                    "command (an `up` of it, or an `invoke` that started it): wait for it to "
                    "end, or stop it, then try again"
                )
            time.sleep(POLL)
        self._file = file

    def release(self) -> None:
        if self._file is not None:
            _let_go(self._file)
            self._file.close()
            self._file = None
