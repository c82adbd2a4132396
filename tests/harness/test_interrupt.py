"""Ctrl-C in a long command: the one line it says is true of where the command ran."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from workshop import interrupt, manifest

REPO = manifest.REPO_ROOT


def test_stopped_on_the_embedded_aws_says_its_stack_is_gone(monkeypatch, capsys):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert interrupt.stopped("race", "what `python run.py up` stored is as it was") == 130
    assert capsys.readouterr().out == (
        "\nStopped the race: it ran on a fresh stack of its own, now gone; what "
        "`python run.py up` stored is as it was.\n"
    )


def test_stopped_at_an_endpoint_of_the_users_says_it_emptied_the_tables(monkeypatch, capsys):
    """There a fresh stack deletes and makes again the tables an `up` of the project uses."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    assert interrupt.stopped("race", None) == 130
    assert capsys.readouterr().out == (
        "\nStopped the race: it ran on its tables at AWS_ENDPOINT_URL=http://localhost:4566, "
        "which it emptied as it began (an `up` of the same project uses them too).\n"
    )


KEPT = """
from workshop import interrupt
if {kept}:
    interrupt.ctrl_c_never_lost()
"""
LOST_IN_A_CALLBACK = """
import sys, weakref
class Lock: pass
def let_go(_):
    raise KeyboardInterrupt  # as a Ctrl-C does that comes while the callback runs
def work():
    lock = Lock()
    ref = weakref.ref(lock, let_go)
    try:
        del lock
        for _ in range(1000):
            pass
        print("went on")
    except KeyboardInterrupt:
        # Raised once: nothing is left to raise it again (a debugger that traces later).
        print("stopped", sys.gettrace(), sys._getframe().f_trace)
work()
"""
# Two lost at once, each in a callback of C (as Python's own Ctrl-C handler is): the second
# comes while the first waits to be raised again.
LOST_TWICE = """
import functools, signal, sys, weakref
class Lock: pass
let_go = functools.partial(signal.default_int_handler, signal.SIGINT)  # (it, the ref)
def work():
    first, second = Lock(), Lock()
    refs = weakref.ref(first, let_go), weakref.ref(second, let_go)
    try:
        del first, second
        for _ in range(1000):
            pass
        print("went on")
    except KeyboardInterrupt:
        print("stopped", sys.gettrace(), sys._getframe().f_trace)
work()
"""
# Python waits for the thread at exit: a Ctrl-C comes then, when no line of ours runs.
LOST_AS_PYTHON_ENDS = """
import os, signal, threading
def ctrl_c_at_exit():
    while threading.main_thread().is_alive():
        pass
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=ctrl_c_at_exit).start()
print("ended")
"""


def _ran(script: str, kept: bool) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", KEPT.format(kept=kept) + script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


@pytest.mark.parametrize("kept", [True, False])
@pytest.mark.parametrize("script", [LOST_IN_A_CALLBACK, LOST_TWICE], ids=["once", "twice"])
def test_a_ctrl_c_that_comes_in_a_callback_stops_the_command_all_the_same(kept, script):
    """As an import lets go of its module lock, a weakref callback runs: Python prints a
    KeyboardInterrupt raised there as "Exception ignored", with a traceback, and goes on."""
    ran = _ran(script, kept)
    if kept:
        assert (ran.stdout, ran.stderr) == ("stopped None None\n", "")
    else:  # what the workshop would do without it
        assert ran.stdout == "went on\n" and "Exception ignored" in ran.stderr


@pytest.mark.parametrize("kept", [True, False])
def test_a_ctrl_c_as_python_ends_ends_it_without_a_traceback(kept):
    ran = _ran(LOST_AS_PYTHON_ENDS, kept)
    assert ran.stdout == "ended\n"
    if kept:
        assert ran.stderr == ""
    else:
        assert "Exception ignored" in ran.stderr and "KeyboardInterrupt" in ran.stderr


# A join that waits for good; a Ctrl-C, once the main thread waits in it, taken by another
# thread (Linux hands a process's signal to any thread that does not block it).
JOINED = """
import signal, sys, threading
from workshop import interrupt
held = threading.Thread(target=threading.Event().wait, daemon=True)
held.start()
main = threading.main_thread().ident
def ctrl_c_taken_here():
    while sys._current_frames()[main].f_code.co_name not in ("join", "_wait_for_tstate_lock"):
        pass
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)
threading.Thread(target=ctrl_c_taken_here, daemon=True).start()
try:
    {join}(held)
except KeyboardInterrupt:
    print("stopped")
"""


@pytest.mark.skipif(os.name == "nt", reason="Windows has no pthread_kill to aim a Ctrl-C")
@pytest.mark.parametrize("join", ["interrupt.join", "threading.Thread.join"])
def test_a_ctrl_c_that_another_thread_takes_ends_a_join(join):
    """Thread.join() with no timeout never wakes for it: the command would wait for good."""
    try:
        ran = subprocess.run(
            [sys.executable, "-c", JOINED.format(join=join)],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=REPO,
        )
    except subprocess.TimeoutExpired:
        assert join == "threading.Thread.join"  # what race did, before interrupt.join
    else:
        assert (join, ran.stdout, ran.stderr) == ("interrupt.join", "stopped\n", "")


def test_a_join_in_turns_still_gives_up_at_its_timeout():
    import threading

    done = threading.Event()
    held = threading.Thread(target=done.wait, daemon=True)
    held.start()
    interrupt.join(held, 0.2)
    assert held.is_alive()  # it returned, as Thread.join(0.2) does, with the thread still on
    done.set()
    interrupt.join(held)
    assert not held.is_alive()


# Ctrl-C in a long command: one line that says what it stopped and what is as it was.

HOLD = """
# Added by the test: each visit after the first is held (until Lambda's timeout, 900 s). The
# test numbers the visits, across execution environments, which share no file (not /tmp).
_answer = lambda_handler


def lambda_handler(event, context):
    with socket.create_connection(("127.0.0.1", {port})) as test:
        visit = int(test.makefile().readline())
    if visit > 1:
        threading.Event().wait(900)
    return _answer(event, context)
"""


class Visits(socketserver.ThreadingTCPServer):
    """Numbers the visits of the held app: it asks for its visit's number as each begins."""

    daemon_threads = True

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), NumberedVisit)


class NumberedVisit(socketserver.StreamRequestHandler):
    def handle(self):
        with self.server.lock:
            self.server.count += 1
            number = self.server.count
        self.wfile.write(f"{number}\n".encode())


@pytest.fixture
def held_app(tmp_path) -> Iterator[tuple[Path, Visits]]:
    """(a copy of stage 03 whose function holds every visit after the first, what numbers its
    visits): a race or a check of it is under way until Ctrl-C stops it."""
    copy = shutil.copytree(
        manifest.find("03").path, tmp_path / "held", ignore=shutil.ignore_patterns(".aws-sam")
    )
    template = copy / "template.yaml"
    template.write_text(re.sub(r"Timeout: \d+", "Timeout: 900", template.read_text()))
    with Visits() as visits:
        serving = threading.Thread(target=visits.serve_forever)
        serving.start()
        app = copy / "src" / "app.py"
        code = "import socket\nimport threading\n" + app.read_text(encoding="utf-8")
        port = visits.server_address[1]
        app.write_text(code + HOLD.format(port=port), encoding="utf-8")
        yield copy, visits
        visits.shutdown()
        serving.join()


def _stopped_by_ctrl_c(args: list[str], visits: Visits, state: Path) -> list[str]:
    """The output of a command sent Ctrl-C once its function holds a visit; it exits with 130.

    As a terminal sends it: to the command's whole process group, its children too."""
    env = {key: value for key, value in os.environ.items() if key != "AWS_ENDPOINT_URL"}
    process = subprocess.Popen(
        [sys.executable, "-m", "workshop", *args],
        cwd=REPO,
        env={**env, "WORKSHOP_STATE_DIR": str(state)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
        start_new_session=os.name != "nt",
    )
    try:
        deadline = time.monotonic() + 120
        while visits.count < 2:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "no visit was held"
            time.sleep(0.1)
    finally:
        if os.name == "nt":
            process.send_signal(signal.CTRL_BREAK_EVENT)  # to its process group
        else:
            os.killpg(process.pid, signal.SIGINT)
        try:
            out, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()  # not left running: it would fail a later test (a ResourceWarning)
            out, _ = process.communicate()
            raise AssertionError(f"still running 60 s after Ctrl-C:\n{out}") from None
    assert process.returncode == 130, out
    assert "Traceback" not in out
    return out.splitlines()


@pytest.mark.slow
def test_ctrl_c_stops_a_race_in_one_line_and_up_s_state_is_untouched(held_app, tmp_path):
    copy, visits = held_app
    state = tmp_path / "state"
    lines = _stopped_by_ctrl_c(["race", str(copy), "--clients", "2"], visits, state)
    assert lines[-3].startswith("Racing 2 clients x 10 visits"), lines  # no progress after
    assert lines[-2:] == [
        "",
        "Stopped the race: it ran on a fresh stack of its own, now gone; what `python run.py "
        "up` stored is as it was.",
    ]
    assert not state.exists()  # the race stored nothing where `up` keeps what it stores


@pytest.mark.slow
def test_ctrl_c_stops_a_check_in_one_line_and_the_copy_is_as_it_was(held_app, tmp_path):
    copy, visits = held_app
    before = {path: path.read_bytes() for path in copy.rglob("*") if path.is_file()}
    lines = _stopped_by_ctrl_c(["check", "02", "--from", str(copy)], visits, tmp_path / "state")
    assert lines == [
        f"Checking {copy} against stage 02 (The Decimal bug)...",
        "",
        f"Stopped the check: it ran on a fresh stack of its own, now gone; {copy} is as you "
        "left it.",
    ]
    assert {path: path.read_bytes() for path in copy.rglob("*") if path.is_file()} == before


@pytest.mark.slow
def test_ctrl_c_stops_a_benchmark_in_one_line_and_writes_no_figures(held_app, tmp_path):
    copy, visits = held_app
    figures = tmp_path / "figures.json"
    lines = _stopped_by_ctrl_c(
        ["bench", "--original", str(copy), "--warm-visits", "3", "--cold-starts", "2"]
        + ["--json", str(figures)],
        visits,
        tmp_path / "state",
    )
    assert lines[-2:] == [
        "",
        f"Stopped the benchmark: it ran on a local AWS of its own, now gone; {figures} was not "
        "written.",
    ]
    assert not figures.exists()


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="Windows has no SIGHUP")
def test_a_command_started_with_nohup_outlives_its_terminal():
    """`nohup` ignores SIGHUP so that the command goes on once its terminal closes: left so,
    while a closed terminal stops a command started without it."""
    caught = [getattr(signal, name) for name in interrupt.STOPPING if hasattr(signal, name)]
    saved = {number: signal.getsignal(number) for number in caught}
    try:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        interrupt.stop_on_ctrl_c()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        interrupt.stop_on_ctrl_c()
        assert callable(signal.getsignal(signal.SIGHUP))
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


def test_a_first_ctrl_c_while_finishing_lets_it_go_on_and_a_second_stops(capfd):
    """As `up` stops, saving what it stored: a Ctrl-C pressed again, as the wait goes on, would
    cut the saving short and lose the logs; the first is told so, the second is obeyed."""
    before = signal.getsignal(signal.SIGINT)
    went_on = []
    with pytest.raises(KeyboardInterrupt), interrupt.finishing("saving"):
        signal.raise_signal(signal.SIGINT)
        went_on.append(True)
        signal.raise_signal(signal.SIGINT)
        went_on.append(False)
    assert went_on == [True]
    assert "Still saving: a moment (Ctrl-C again to quit at once" in capfd.readouterr().out
    assert signal.getsignal(signal.SIGINT) is before
