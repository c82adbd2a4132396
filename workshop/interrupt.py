"""Ctrl-C in a long command: it stops cleanly, says so in one line, and exits with 130."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

INTERRUPTED = 130  # the exit code shells give a command that Ctrl-C (SIGINT) ended
# The signals that stop a command cleanly (those this platform has): SIGBREAK is Ctrl-Break, on
# Windows only; SIGHUP, a terminal closed, everywhere else.
STOPPING = ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")


def ctrl_c_never_lost() -> None:
    """A Ctrl-C that lands in code Python runs on its own (a weakref's callback, a __del__) is
    printed as "Exception ignored", traceback and all, and dropped: raise it again instead, at
    the next line of the code that was running, where it stops the command."""
    printing = sys.unraisablehook

    def again(frame: FrameType, event: str, arg: object) -> None:
        """Raise the Ctrl-C in the frame traced, once: the trace goes with it. Not in the hook
        itself, called for another Ctrl-C lost meanwhile: it would be dropped there."""
        caller: FrameType | None = frame
        while caller is not None:
            if caller.f_code is hook.__code__:
                return
            caller = caller.f_back
        if interrupted:
            interrupted.pop().f_trace = None
        sys.settrace(None)
        raise KeyboardInterrupt

    interrupted: list[FrameType] = []

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        if (
            unraisable.exc_type is None
            or not issubclass(unraisable.exc_type, KeyboardInterrupt)
            or threading.current_thread() is not threading.main_thread()
            or sys.gettrace() not in (None, again)  # a debugger's: left to it
        ):
            printing(unraisable)
            return
        frame = sys._getframe().f_back  # what ran when Python called the callback
        if frame is None:  # Python is ending: as it would, only without a traceback
            return
        # Raised here, or by a signal here, it would be dropped again. A trace function's
        # exception is raised in the frame it traces: at the next line run, or in the next
        # call. (A blocking call under way, a sleep or a wait, ends first.)
        if interrupted:
            interrupted.pop().f_trace = None
        interrupted.append(frame)
        frame.f_trace = again
        sys.settrace(again)

    sys.unraisablehook = hook


def join(thread: threading.Thread, timeout: float | None = None) -> None:
    """thread.join(timeout), in turns that a Ctrl-C ends: on Linux a join never wakes for a
    Ctrl-C that another thread took, and keeps the command waiting (for good, or the timeout)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while thread.is_alive() and (deadline is None or time.monotonic() < deadline):
        thread.join(0.1 if deadline is None else min(0.1, max(0.0, deadline - time.monotonic())))


def stop_on_ctrl_c(first: Callable[[], None] | None = None) -> None:
    """Make Ctrl-C, the SIGTERM (or, on Windows, Ctrl-Break) that a test or a supervisor
    sends, and the SIGHUP of a terminal closed under it, a KeyboardInterrupt, so the command
    stops cleanly; a shell that starts us in the background may have told Python to ignore
    SIGINT. `first` runs as the signal comes: say, to silence threads that would print on while
    the command stops."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if first is not None:
            first()
        signal.default_int_handler(signum, frame)

    for name in STOPPING:
        number = getattr(signal, name, None)
        # `nohup` ignores SIGHUP so that the command outlives its terminal: left so.
        if number is not None and not (
            name == "SIGHUP" and signal.getsignal(number) is signal.SIG_IGN
        ):
            signal.signal(number, handler)


@contextlib.contextmanager
def finishing(what: str) -> Iterator[None]:
    """Within it (in the main thread), the first Ctrl-C (or other stopping signal) lets `what`
    go on, and says so, where it would cut it short and lose what it saves; another one stops
    at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if pressed.is_set():
            signal.default_int_handler(signum, frame)
        pressed.set()
        _say_now(f"\nStill {what}: a moment (Ctrl-C again to quit at once, losing it).\n")

    numbers = [getattr(signal, name) for name in STOPPING if hasattr(signal, name)]
    before = {number: signal.getsignal(number) for number in numbers}
    for number, previous in before.items():
        if previous is not signal.SIG_IGN:  # `nohup`'s SIGHUP, say, is left ignored
            signal.signal(number, handler)
    try:
        yield
    finally:
        for number, previous in before.items():
            signal.signal(number, previous)


def _say_now(text: str) -> None:
    """Write `text` to stdout from a signal handler: past print's buffer, which the code the
    signal interrupted may be writing to (a print there could raise "reentrant call")."""
    try:
        os.write(sys.stdout.fileno(), text.encode(sys.stdout.encoding or "utf-8", "replace"))
    except (AttributeError, OSError, ValueError):  # no file behind it (a test's capture)
        print(text, end="", flush=True)


def printing_until_ctrl_c() -> Callable[[str], None]:
    """Stop on Ctrl-C (as stop_on_ctrl_c), and a printer of progress lines that prints none
    once it came: the threads still running while the command stops print no more."""
    stopping = threading.Event()
    stop_on_ctrl_c(first=stopping.set)

    def say(line: str) -> None:
        if not stopping.is_set():
            print(line, flush=True)

    return say


def stopped(what: str, kept: str | None, ran: str | None = None) -> int:
    """Say that Ctrl-C stopped `what`, what it ran on (by default a fresh stack of its own),
    and what of the user's is as it was (`kept`, if anything); the exit code to end with."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    # The embedded local AWS goes with the process. At an endpoint of the user's, the fresh
    # stack emptied the tables that an `up` of the same project also uses: said, not hidden.
    ran = ran or (
        f"ran on its tables at AWS_ENDPOINT_URL={endpoint}, which it emptied as it began (an "
        "`up` of the same project uses them too)"
        if endpoint
        else "ran on a fresh stack of its own, now gone"
    )
    # On a new line: the terminal has just echoed ^C where the cursor was.
    print(f"\nStopped the {what}: it {ran}" + (f"; {kept}." if kept else "."), flush=True)
    return INTERRUPTED
