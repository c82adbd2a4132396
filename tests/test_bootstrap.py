"""run.py, the two-command set-up: its pure logic (the lock it installs from: test_lock.py).

No network and no real venv: run.py is loaded as a module, and its side effects are faked.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUN_PY = REPO / "run.py"
CHECKOV_LOCK = REPO / "tools" / "checkov.lock"


def load_run():
    spec = importlib.util.spec_from_file_location("workshop_run_py", RUN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = load_run()


# ---------------------------------------------------------------- routing ----------------------


XDIST = ["-n", "6", "--dist", "load", "--maxschedchunk", "1"]
NOTEBOOK_05 = ["-m", "jupyter", "lab", "notebooks/05-lost-updates.ipynb"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["up"], ["-m", "workshop", "up"]),
        (["up", "02", "--port", "3000"], ["-m", "workshop", "up", "02", "--port", "3000"]),
        (["--help"], ["-m", "workshop", "--help"]),
        ([], ["-m", "workshop"]),
        (["test"], ["-m", "pytest", *XDIST]),
        (["test", "-k", "decimal", "-x"], ["-m", "pytest", *XDIST, "-k", "decimal", "-x"]),
        # The user's own choice of each is kept, and the defaults of the others added; none
        # at all with xdist off (pytest's `-p no:xdist`), where its options would be errors.
        (["test", "-p", "no:xdist"], ["-m", "pytest", "-p", "no:xdist"]),
        (["test", "-pno:xdist"], ["-m", "pytest", "-pno:xdist"]),
        (["test", "-n", "2"], ["-m", "pytest", *XDIST[2:], "-n", "2"]),
        (["test", "-n2"], ["-m", "pytest", *XDIST[2:], "-n2"]),
        (["test", "--numprocesses=auto"], ["-m", "pytest", *XDIST[2:], "--numprocesses=auto"]),
        (
            ["test", "--dist", "loadfile"],
            ["-m", "pytest", "-n", "6", "--maxschedchunk", "1", "--dist", "loadfile"],
        ),
        (["test", "--maxschedchunk=4"], ["-m", "pytest", *XDIST[:4], "--maxschedchunk=4"]),
        (["notebook"], ["-m", "jupyter", "lab", "notebooks"]),
        (["notebook", "--no-browser"], ["-m", "jupyter", "lab", "notebooks", "--no-browser"]),
        # A stage's own, named as stages are, or the benchmark's.
        (["notebook", "05"], ["-m", "jupyter", "lab", "notebooks/05-lost-updates.ipynb"]),
        (["notebook", "5", "--port", "8889"], [*NOTEBOOK_05, "--port", "8889"]),
        (["notebook", "Benchmark.ipynb"], ["-m", "jupyter", "lab", "notebooks/benchmark.ipynb"]),
        # Only the first word routes: a workshop command may take "test" as an argument.
        (["invoke", "test"], ["-m", "workshop", "invoke", "test"]),
    ],
)
def test_child_command_routes_by_first_word(args, expected, monkeypatch):
    monkeypatch.setattr(run.os, "geteuid", lambda: 1000, raising=False)  # not root
    assert run.child_command("/v/bin/python", args) == ["/v/bin/python", *expected]


def test_notebook_with_a_word_that_names_no_notebook_says_which_do(capsys):
    """Refused before anything is installed or started, in the words the user types."""
    assert run.main(["notebook", "99", "--no-browser"]) == 2
    said = capsys.readouterr().err
    assert "error: no notebook for '99': `python run.py notebook` opens them all" in said
    assert "(one of 01, 02, 03, 04, 05, 06, 07, 08 or benchmark)" in said


def test_jupyter_is_allowed_to_run_as_root_as_in_a_container(monkeypatch):
    monkeypatch.setattr(run.os, "geteuid", lambda: 0, raising=False)
    assert run.child_command("/v/bin/python", ["notebook", "--no-browser"]) == [
        *("/v/bin/python", "-m", "jupyter", "lab", "notebooks", "--allow-root", "--no-browser")
    ]


# ---------------------------------------------------------------- where the venv is ------------


def test_venv_python_per_os():
    assert run.venv_python(Path("v"), windows=True) == Path("v", "Scripts", "python.exe")
    assert run.venv_python(Path("v"), windows=False) == Path("v", "bin", "python")


def test_venv_dir_defaults_to_dot_venv_in_the_repo(tmp_path):
    assert run.venv_dir({}, repo=tmp_path) == tmp_path / ".venv"
    assert run.venv_dir({"WORKSHOP_VENV": "  "}, repo=tmp_path) == tmp_path / ".venv"


def test_a_tool_s_venv_lives_inside_the_workshop_s(tmp_path):
    assert run.tool_venv_dir(tmp_path / ".venv", "checkov") == tmp_path / ".venv/tools/checkov"
    assert run.TOOL_LOCKS == {"checkov": "tools/checkov.lock", "awscli": "tools/awscli.lock"}


def test_venv_dir_follows_workshop_venv(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))  # what ~ means on Windows
    assert run.venv_dir({"WORKSHOP_VENV": "~/wv"}, repo=REPO) == tmp_path / "wv"
    monkeypatch.chdir(tmp_path)
    assert run.venv_dir({"WORKSHOP_VENV": "rel"}, repo=REPO) == tmp_path / "rel"


# ---------------------------------------------------------------- the lock's hash --------------


def test_lock_digest_changes_with_content_not_line_ends():
    unix = b"boto3==1.0 \\\n    --hash=sha256:aa\n"
    assert run.lock_digest(unix) == run.lock_digest(unix.replace(b"\n", b"\r\n"))
    assert run.lock_digest(unix) != run.lock_digest(unix.replace(b"1.0", b"1.1"))


# ---------------------------------------------------------------- staleness ------------------


@pytest.fixture
def places(tmp_path):
    repo, venv = tmp_path / "repo", tmp_path / "repo" / ".venv"
    (repo / "workshop").mkdir(parents=True)
    (repo / "workshop" / "__init__.py").write_text("")
    venv.mkdir()
    probe = {
        "prefix": str(venv),
        "version": [3, 11],
        "workshop": str(repo / "workshop" / "__init__.py"),
    }
    return repo, venv, probe


def test_decide_ready_when_everything_matches(places):
    repo, venv, probe = places
    stamp = run.make_stamp("abc", venv, repo)
    assert run.decide(True, probe, stamp, "abc", venv, repo) == run.READY


def test_decide_creates_a_missing_venv(places):
    repo, venv, _ = places
    assert run.decide(False, None, None, "abc", venv, repo) == run.CREATE


def test_decide_installs_again_when_the_lock_changed(places):
    repo, venv, probe = places
    stamp = run.make_stamp("old", venv, repo)
    assert run.decide(True, probe, stamp, "new", venv, repo) == run.INSTALL


def test_decide_finishes_an_interrupted_set_up(places):
    repo, venv, probe = places
    assert run.decide(True, probe, None, "abc", venv, repo) == run.INSTALL


def test_decide_installs_again_when_the_recipe_changed(places):
    repo, venv, probe = places
    stamp = dict(run.make_stamp("abc", venv, repo), recipe=run.RECIPE - 1)
    assert run.decide(True, probe, stamp, "abc", venv, repo) == run.INSTALL


def test_decide_installs_again_when_workshop_is_not_this_repo_s(places, tmp_path):
    repo, venv, probe = places
    stamp = run.make_stamp("abc", venv, repo)
    elsewhere = dict(probe, workshop=str(tmp_path / "old-copy" / "workshop" / "__init__.py"))
    assert run.decide(True, elsewhere, stamp, "abc", venv, repo) == run.INSTALL
    missing = dict(probe, workshop=None)
    assert run.decide(True, missing, stamp, "abc", venv, repo) == run.INSTALL


def test_decide_needs_no_workshop_package_in_a_tool_s_venv(places):
    repo, venv, probe = places
    stamp = run.make_stamp("abc", venv, repo)
    bare = dict(probe, workshop=None)
    assert run.decide(True, bare, stamp, "abc", venv, repo, editable=False) == run.READY
    assert run.decide(True, bare, stamp, "new", venv, repo, editable=False) == run.INSTALL
    assert run.decide(True, None, stamp, "abc", venv, repo, editable=False) == run.RECREATE


def test_decide_installs_again_a_venv_that_another_clone_set_up(places, tmp_path):
    """One WORKSHOP_VENV for two clones (the README's tip, followed in each): switching clones
    installs this one's workshop in place of the other's, and deletes nothing."""
    repo, venv, probe = places
    other_clones = run.make_stamp("abc", venv, tmp_path / "other-clone")
    assert run.decide(True, probe, other_clones, "abc", venv, repo) == run.INSTALL


def test_decide_recreates_a_broken_or_moved_venv(places, tmp_path):
    repo, venv, probe = places
    stamp = run.make_stamp("abc", venv, repo)
    assert run.decide(True, None, stamp, "abc", venv, repo) == run.RECREATE
    too_old = dict(probe, version=[3, 10])
    assert run.decide(True, too_old, stamp, "abc", venv, repo) == run.RECREATE
    moved = run.make_stamp("abc", tmp_path / "old" / ".venv", tmp_path / "old")
    assert run.decide(True, probe, moved, "abc", venv, repo) == run.RECREATE


# ---------------------------------------------------------------- running the command ---------


@pytest.mark.parametrize(
    ("returncode", "expected"), [(0, 0), (5, 5), (1, 1), (-2, 130), (-15, 143)]
)
def test_exit_code_passes_the_child_s_through(returncode, expected):
    assert run.exit_code(returncode) == expected


class FakeProcess:
    """A child whose first wait() is interrupted by Ctrl-C, as the console sends it to both."""

    def __init__(self, command, cwd):
        self.command, self.cwd, self.waits = command, cwd, 0

    def wait(self):
        self.waits += 1
        self.sigint_while_waiting = signal.getsignal(signal.SIGINT)
        if self.waits == 1:
            raise KeyboardInterrupt
        return -2  # the child stopped on the same SIGINT


def test_run_child_waits_through_ctrl_c_and_reports_it(monkeypatch):
    started = []

    def popen(command, cwd):
        started.append(FakeProcess(command, cwd))
        return started[-1]

    monkeypatch.setattr(run.subprocess, "Popen", popen)
    # Ctrl-C's usual handler first: a suite started in the background inherits SIGINT ignored.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = run.run_child(["py", "-m", "workshop", "up"], REPO, replace=False)
        restored = signal.getsignal(signal.SIGINT)
    except KeyboardInterrupt:  # caught here: pytest would take it as the user's own Ctrl-C
        pytest.fail("Ctrl-C escaped run_child instead of waiting for the child")
    finally:
        signal.signal(signal.SIGINT, inherited)
    assert code == 130
    assert started[0].waits == 2
    assert started[0].cwd == str(REPO)
    assert started[0].sigint_while_waiting == signal.SIG_IGN
    assert restored is signal.default_int_handler  # restored afterwards


def test_run_child_becomes_the_command_where_it_can(monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)  # restored after the test
    done = []

    def execv(path, argv):  # the real one never returns
        done.append((path, argv, os.getcwd()))
        raise SystemExit("execed")

    monkeypatch.setattr(run.os, "execv", execv)
    with pytest.raises(SystemExit, match="execed"):
        run.run_child(["/v/bin/python", "-m", "workshop", "up"], tmp_path, replace=True)
    assert done == [("/v/bin/python", ["/v/bin/python", "-m", "workshop", "up"], str(tmp_path))]


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
@pytest.mark.parametrize("to_group", [True, False], ids=["ctrl-c-in-a-terminal", "kill-the-pid"])
def test_sigint_reaches_the_command_and_its_exit_code_comes_back(tmp_path, to_group):
    """Ctrl-C in a terminal signals the whole foreground group; a test or an IDE may signal
    only the process it started. Either way the command gets it once and stops its own way."""
    child = (
        "import signal, sys, time\n"
        "got = []\n"
        "signal.signal(signal.SIGINT, lambda *_: got.append(1))\n"
        "print('ready', flush=True)\n"
        # However late the signal comes: then a second's wait for another, were one sent.
        "deadline = time.monotonic() + 20\n"
        "while not got and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        "time.sleep(1)\n"
        "sys.exit(10 + len(got))\n"
    )
    parent = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('r', {str(RUN_PY)!r})\n"
        "run = importlib.util.module_from_spec(spec); spec.loader.exec_module(run)\n"
        f"sys.exit(run.run_child([sys.executable, '-c', {child!r}], {str(tmp_path)!r}))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", parent],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        assert process.stdout.readline() == "ready\n"
        if to_group:
            os.killpg(process.pid, signal.SIGINT)
        else:
            os.kill(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 11, stderr  # 11: the command saw exactly one SIGINT
    assert "Traceback" not in stderr


def test_main_runs_the_routed_command_with_the_venv_python(monkeypatch, tmp_path):
    ran, tools, sets = [], [], []
    monkeypatch.setenv("WORKSHOP_VENV", str(tmp_path / "v"))
    monkeypatch.setattr(
        run, "ensure_venv", lambda wanted: sets.append(wanted) or Path("/v/bin/python")
    )
    monkeypatch.setattr(run, "ensure_tool", lambda *args: tools.append(args))
    monkeypatch.setattr(run, "run_child", lambda command, cwd: ran.append((command, cwd)) or 5)
    monkeypatch.chdir(tmp_path)  # where the user stands: not the repository
    assert run.main(["test", "-q", "-p", "no:xdist"]) == 5
    assert ran == [([str(Path("/v/bin/python")), "-m", "pytest", "-q", "-p", "no:xdist"], run.REPO)]
    # Only the tests need checkov and the AWS CLI: `test` sets up their venvs, `up` does not.
    assert tools == [
        (tmp_path / "v", "checkov", "tools/checkov.lock"),
        (tmp_path / "v", "awscli", "tools/awscli.lock"),
    ]
    # Every other command runs where the user stands, so their paths are read from there.
    assert run.main(["up", "."]) == 5
    assert ran[-1] == ([str(Path("/v/bin/python")), "-m", "workshop", "up", "."], tmp_path)
    assert len(tools) == 2
    # The tests' part of the lock too for `test`; the attendees' part for every other command.
    assert sets == [run.EVERYTHING, run.ATTENDEE]


def test_test_paths_are_read_from_where_the_user_stands(tmp_path):
    (tmp_path / "tests" / "docs").mkdir(parents=True)
    (tmp_path / "tests" / "docs" / "test_x.py").write_text("", encoding="utf-8")
    here = tmp_path / "tests"
    fixed = run.test_arguments(["docs/test_x.py::test_a", "-k", "decimal", "-x", "missing"], here)
    assert fixed == [
        str(tmp_path / "tests" / "docs" / "test_x.py") + "::test_a",
        "-k",
        "decimal",
        "-x",
        "missing",  # not a path here: pytest says what it makes of it
    ]
    assert run.child_folder(["test"], here) == run.REPO
    assert run.child_folder(["notebook"], here) == run.REPO
    assert run.child_folder(["check", "02"], here) == here


def test_pytest_runs_without_xdist_as_the_habit_asks():
    """`-p no:xdist` must not meet xdist's options in pyproject's addopts (an error there)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:xdist", "--co", "-q", "tests/test_lint.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_main_reports_set_up_failures_and_ctrl_c_without_traceback(monkeypatch, capsys):
    def failing(wanted):
        raise run.SetupError("no network")

    monkeypatch.setattr(run, "ensure_venv", failing)
    assert run.main(["up"]) == 1
    assert "Set-up failed: no network" in capsys.readouterr().out

    def interrupted(wanted):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "ensure_venv", interrupted)
    assert run.main(["up"]) == 130
    assert capsys.readouterr().out == ""  # nothing was being set up: nothing to finish

    def interrupted_while_installing(wanted):
        run.setting_up()
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "SETTING_UP", False)
    monkeypatch.setattr(run, "ensure_venv", interrupted_while_installing)
    assert run.main(["up"]) == 130
    assert "Interrupted. Run the same command again" in capsys.readouterr().out


def test_ensure_venv_sets_up_only_when_needed(monkeypatch, tmp_path):
    """The flow around decide(): a stale stamp triggers set_up, a fresh one does not."""
    venv = tmp_path / "v"
    venv.mkdir()
    monkeypatch.setattr(run, "probe_venv", lambda python: {"version": [3, 11]})
    calls = []
    monkeypatch.setattr(run, "set_up", lambda venv, action, digest, wanted: calls.append(action))
    monkeypatch.setattr(run, "decide", lambda *args, **kwargs: run.INSTALL)
    assert run.ensure_venv({"WORKSHOP_VENV": str(venv)}) == run.venv_python(venv)
    monkeypatch.setattr(run, "decide", lambda *args, **kwargs: run.READY)
    run.ensure_venv({"WORKSHOP_VENV": str(venv)})
    assert calls == [run.INSTALL]


def test_ensure_tool_sets_up_only_when_needed(monkeypatch, tmp_path):
    venv = tmp_path / "v"
    steps = []
    monkeypatch.setattr(run, "probe_venv", lambda python: {"version": [3, 11]})

    def create_venv(tool):
        tool.mkdir(parents=True)
        steps.append(("create", tool))

    monkeypatch.setattr(run, "create_venv", create_venv)
    monkeypatch.setattr(run, "install_lock", lambda tool, lock: steps.append(("install", lock)))
    tool = run.tool_venv_dir(venv, "checkov")
    assert run.ensure_tool(venv, "checkov", "tools/checkov.lock") == run.venv_python(tool)
    assert steps == [("create", tool), ("install", REPO / "tools" / "checkov.lock")]
    # Stamped with the lock's digest: the next run finds it ready and installs nothing.
    assert run.read_stamp(tool)["lock_sha256"] == run.lock_digest(CHECKOV_LOCK.read_bytes())
    run.ensure_tool(venv, "checkov", "tools/checkov.lock")
    assert len(steps) == 2
    # A changed lock installs again, into the same venv.
    run.write_stamp(tool, dict(run.read_stamp(tool), lock_sha256="old"))
    run.ensure_tool(venv, "checkov", "tools/checkov.lock")
    assert steps[2:] == [("install", REPO / "tools" / "checkov.lock")]


def test_the_commands_reach_this_machine_without_the_users_proxy():
    environ = {"HTTP_PROXY": "http://proxy:8080", "no_proxy": "intranet.example"}
    run.direct_to_this_machine(environ)
    run.direct_to_this_machine(environ)  # again: nothing twice
    assert environ["NO_PROXY"] == "127.0.0.1,localhost,::1"
    assert environ["no_proxy"] == "intranet.example,127.0.0.1,localhost,::1"
    assert environ["HTTP_PROXY"] == "http://proxy:8080"  # the internet still goes through it


def test_remove_venv_refuses_a_folder_that_is_not_a_venv(tmp_path):
    folder = tmp_path / "Documents"
    folder.mkdir()
    (folder / "thesis.docx").write_text("precious")
    with pytest.raises(run.SetupError, match="not a virtual environment"):
        run.remove_venv(folder)
    assert (folder / "thesis.docx").exists()


def test_a_workshop_venv_that_names_a_file_is_refused_before_anything_is_made(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("precious")
    with pytest.raises(run.SetupError, match=r"WORKSHOP_VENV names .*notes.txt, which is a file"):
        run.ensure_venv({"WORKSHOP_VENV": str(notes)})
    assert notes.read_text() == "precious"


def test_remove_venv_deletes_a_venv_even_with_read_only_files(tmp_path):
    venv = tmp_path / "v"
    (venv / "lib").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    locked = venv / "lib" / "ro.txt"
    locked.write_text("x")
    locked.chmod(0o444)
    run.remove_venv(venv)
    assert not venv.exists()


def test_remove_venv_leaves_a_link_and_the_venv_it_names_as_they_were(tmp_path):
    """A .venv linked to another clone's venv: deleting through the link failed, and the
    retry's chmod made that venv's folder write-only (unreadable to its user)."""
    other = tmp_path / "other-clone-venv"
    other.mkdir()
    (other / "pyvenv.cfg").write_text("home = /usr/bin\n")
    other.chmod(0o755)
    link = tmp_path / ".venv"
    try:
        link.symlink_to(other, target_is_directory=True)
    except OSError as error:  # Windows lets only administrators and developer mode make links
        pytest.skip(f"this user cannot make a symbolic link here: {error}")
    with pytest.raises(run.SetupError, match="is a link to .*Delete the link, or point"):
        run.remove_venv(link)
    assert link.is_symlink() and (other / "pyvenv.cfg").is_file()
    assert stat.S_IMODE(other.stat().st_mode) == 0o755


def test_onedrive_hint_only_inside_synced_folders_without_workshop_venv():
    synced = Path("C:/Users/ana/OneDrive - School/workshop")
    assert "WORKSHOP_VENV" in run.onedrive_hint(synced, {})
    assert run.onedrive_hint(synced, {"WORKSHOP_VENV": "C:/venvs/w"}) is None
    assert run.onedrive_hint(Path("/home/ana/workshop"), {}) is None


def test_stamp_round_trips(tmp_path):
    stamp = run.make_stamp("abc", tmp_path, REPO)
    run.write_stamp(tmp_path, stamp)
    assert run.read_stamp(tmp_path) == stamp
    assert json.loads((tmp_path / run.STAMP_FILE).read_text())["lock_sha256"] == "abc"
    (tmp_path / run.STAMP_FILE).write_text("{broken")
    assert run.read_stamp(tmp_path) is None


# ---------------------------------------------------------------- old Pythons ----------------


def test_run_py_parses_on_old_pythons_so_they_reach_the_version_check():
    ast.parse(RUN_PY.read_text(encoding="utf-8"), feature_version=(3, 6))


def test_old_python_gets_one_line_and_exit_2():
    # Pretend to be 3.10 before run.py's check; it must stop there (no venv, no pip).
    code = (
        "import runpy, sys\n"
        "sys.version_info = (3, 10, 0, 'final', 0)\n"
        f"runpy.run_path({str(RUN_PY)!r}, run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "3.11 or newer" in lines[0] and "3.10.0" in lines[0]


def test_run_py_uses_the_standard_library_only():
    tree = ast.parse(RUN_PY.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)


def test_venv_python_matches_this_interpreter_s_layout():
    """The layout run.py assumes is the one venvs really have on this OS."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("not running inside a venv")
    expected = run.venv_python(Path(sys.prefix))
    assert expected.exists(), expected
    assert os.path.samefile(expected.parent, Path(sys.executable).parent)


def test_the_workshop_is_handed_over_with_ctrl_c_held_until_it_takes_it_back(monkeypatch):
    """Python's own start (its site module) would end with a traceback at a Ctrl-C: run.py
    execs the workshop with Ctrl-C ignored, and says so, for its entry point to take it back."""
    seen = {}

    def execv(path, args):
        seen.update(held=os.environ.get(run.CTRL_C_HELD), ctrl_c=signal.getsignal(signal.SIGINT))
        raise OSError("not run")

    monkeypatch.setattr(run.os, "execv", execv)
    monkeypatch.setattr(run.os, "chdir", lambda folder: None)
    monkeypatch.delenv(run.CTRL_C_HELD, raising=False)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        with pytest.raises(OSError, match="not run"):
            run.run_child([sys.executable, "-m", "workshop", "stages"], REPO, replace=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == {"held": "1", "ctrl_c": signal.SIG_IGN}


def _handed_over(*args: str, env: dict[str, str] = os.environ) -> subprocess.Popen:
    """`python ARGS`, as run.py execs the workshop: Ctrl-C ignored, and the variable set."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=REPO,
            env={**env, run.CTRL_C_HELD: "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_that_python_3_11_makes_a_runtime_error_ends_the_workshop_quietly():
    """Python 3.11 raises a RuntimeError from a KeyboardInterrupt that comes in a descriptor's
    __set_name__, as a class is made: one comes so as the workshop's modules are imported."""
    made_as_a_ctrl_c_comes = (
        "import runpy, sys, types\n"
        "cli = types.ModuleType('workshop.cli')\n"
        "def main():\n"
        "    class Field:\n"
        "        def __set_name__(self, owner, name):\n"
        "            raise KeyboardInterrupt\n"
        "    class Invocation:\n"
        "        logs = Field()\n"
        "cli.main = main\n"
        "sys.modules['workshop.cli'] = cli\n"
        "runpy.run_module('workshop', run_name='__main__')\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", made_as_a_ctrl_c_comes],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (ran.returncode, ran.stderr) == (130, "")


@pytest.mark.skipif(os.name == "nt", reason="Windows has no exec: run.py waits for its child")
def test_a_ctrl_c_while_the_handed_over_workshop_starts_ends_it_quietly():
    """Each moment of its first half second tried: 130 (or done), never a traceback; and the
    workshop takes Ctrl-C back as it starts, its variable gone from what it starts in turn."""
    import time

    seen_at_exit = (
        "import atexit, os, runpy, signal, sys\n"
        "atexit.register(lambda: print(signal.getsignal(signal.SIGINT) is "
        f"signal.default_int_handler, os.environ.get({run.CTRL_C_HELD!r})))\n"
        "sys.argv = ['workshop', 'stages']\n"
        "runpy.run_module('workshop', run_name='__main__')\n"
    )
    out, _ = _handed_over("-c", seen_at_exit).communicate(timeout=60)
    assert out.splitlines()[-1] == "True None"
    for tenth in range(1, 21):
        process = _handed_over("-m", "workshop", "stages")
        time.sleep(tenth * 0.025)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        # Done, stopped (130), or stopped by the signal itself while Python was exiting.
        assert process.returncode in (0, 130, -signal.SIGINT), (tenth, out, err)
        assert "Traceback" not in err, (tenth, err)
