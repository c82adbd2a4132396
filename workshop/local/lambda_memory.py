"""The memory of one execution environment: its peak, and MemorySize enforced as Lambda does."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time

import psutil

MEMORY_POLL = 0.02  # seconds between two looks at a running environment's memory
FROZEN_CHECK = 1.0  # seconds between two looks, while frozen, at whether the process still runs
MB = 1024 * 1024


def peak_rss(pid: int) -> int:
    """The process's own peak resident memory in bytes, where the system keeps one, else 0.

    Not getrusage's ru_maxrss: on Linux a child started by fork and exec keeps the harness's
    figure there (over 100 MB); /proc's VmHWM starts afresh with the new program.
    """
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return getattr(psutil.Process(pid).memory_info(), "peak_wset", 0)  # Windows
    except psutil.Error:
        return 0


class MemoryWatch:
    """Watches one runtime process, and kills it when it outgrows MemorySize, as Lambda does.

    The limit is on resident memory, which is what Lambda counts. An RLIMIT_AS would limit
    address space instead, which CPython and its libraries reserve far beyond what they use
    (arenas, thread stacks, mapped files): it would fail well under MemorySize, and with a
    MemoryError the handler can catch rather than a kill. Cgroups would need root. So the
    harness looks at the process's RSS every MEMORY_POLL seconds; a spike shorter than that
    can pass unseen. It looks only while the environment runs (its init, an invocation), and
    once as each ends: Lambda freezes an environment between invocations, and fifty looks a
    second at each idle one would take the CPU from those that run. The local process is not
    frozen, so memory that a handler's own thread takes between invocations is seen at the
    next one's first look.
    """

    def __init__(self, process: subprocess.Popen, limit_mb: int):
        self.process = process
        self.limit_mb = limit_mb
        self.peak_bytes = 0
        self.out_of_memory = False
        self._running = threading.Event()
        self._running.set()  # the init phase runs from the process's start
        threading.Thread(target=self._watch, daemon=True).start()

    def running(self, running: bool) -> None:
        """Watch from now on (an invocation starts), or not (it ended: the environment freezes,
        after one last look, so that memory taken since the previous look is seen now)."""
        if running:
            self._running.set()
            return
        self._running.clear()
        with contextlib.suppress(psutil.Error):  # the process has ended
            self._look(psutil.Process(self.process.pid))

    def _look(self, watched: psutil.Process) -> bool:
        """Look at the process's memory once; kill it if over the limit (then True)."""
        rss = watched.memory_info().rss
        self.peak_bytes = max(self.peak_bytes, rss)
        if rss > self.limit_mb * MB:
            self.out_of_memory = True
            self.process.kill()
        return self.out_of_memory

    def _watch(self) -> None:
        try:
            watched = psutil.Process(self.process.pid)
            while self.process.poll() is None:
                if not self._running.wait(FROZEN_CHECK):
                    continue
                if self._look(watched):
                    return
                time.sleep(MEMORY_POLL)
        except psutil.Error:
            return  # the process ended between two looks

    @property
    def max_memory_mb(self) -> int:
        """The peak in MB, as REPORT's Max Memory Used; MemorySize once killed for it."""
        if self.out_of_memory:
            return self.limit_mb
        if self.process.poll() is None:
            self.peak_bytes = max(self.peak_bytes, peak_rss(self.process.pid))
        return min(self.limit_mb, round(self.peak_bytes / MB))
