"""`workshop try`, `hint`, `check` and `reset` as a learner meets them, in a playground apart."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import here
from workshop import cli, interrupt, learn, manifest, served
from workshop.errors import MachineError, WorkshopError
from workshop.learn import checks, course
from workshop.learn.checks.story import DECIMAL_ERROR, GENERIC_500

REPO = manifest.REPO_ROOT
EXERCISES = learn.exercises()
IDS = [exercise.stage.id for exercise in EXERCISES]
STORY_SENTENCE = (
    f"  - The second visit still answers 500 {GENERIC_500}, and the logs still say "
    f"`{DECIMAL_ERROR}`."
)


@pytest.fixture(autouse=True)
def playground(tmp_path, monkeypatch) -> Path:
    """A playground of the test's own: the repository's playground/ is never touched."""
    root = tmp_path.resolve()  # as the commands show it (macOS's /var is /private/var)
    monkeypatch.setenv(learn.PLAYGROUND_ENV, str(root / "playground"))
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(root / "state"))
    return root / "playground"


def workshop(capsys, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one `workshop` command, run here (as `here` runs it: the
    signal handlers that `check` takes over are given back)."""
    result = here(capsys, *args)
    return result.returncode, result.stdout, result.stderr


def error_of(capsys, *args: str) -> str:
    """The one-line error of a command that must fail with a usage error (exit code 2)."""
    code, out, err = workshop(capsys, *args)
    assert code == 2, out + err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("error: ")
    return line


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def sam_files(stage: manifest.Stage) -> dict[str, bytes]:
    """A stage's project files as `try` copies them: no README, no build output, no bytecode."""
    return {
        name: data
        for name, data in files_under(stage.path).items()
        if name != "README.md" and not {".aws-sam", "__pycache__"} & set(name.split("/"))
    }


# The round trip of exercise 02, the first one: the learner's way through it.


def test_try_check_fix_check_reset(capsys, playground):
    code, out, _ = workshop(capsys, "try", "02")
    copy = playground / "02-decimal-bug"
    assert code == 0
    assert out.startswith(f"Your copy of stage 02 (The Decimal bug) is in {copy}: the code of ")
    assert f"python run.py up --from {copy} --fresh" in out
    assert "python run.py check 02 --watch" in out
    assert files_under(copy) == sam_files(manifest.find("02"))

    code, out, _ = workshop(capsys, "check", "02")
    assert code == 1
    assert out.splitlines() == [
        f"Checking {copy} against stage 02 (The Decimal bug)...",
        "Not yet. What still fails:",
        STORY_SENTENCE,
        f"Fix it in {copy}, then check again: `python run.py check 02` "
        "(stuck? `python run.py hint 02`)",
    ]

    # The learner's fix: the solution's files copied over the copy.
    shutil.copytree(learn.exercise("02").solution_files / "src", copy / "src", dirs_exist_ok=True)
    code, out, _ = workshop(capsys, "check", "02")
    assert code == 0
    following = EXERCISES[1].stage
    # The wait it announced (a visit while DynamoDB throttles), then its verdict.
    assert out.splitlines()[1].startswith("  ... While DynamoDB throttles every call")
    assert out.splitlines()[2:] == [
        f"Fixed! {learn.exercise('02').goal}",
        "The reference solution, to compare with yours: `python run.py diff 02 03`",
        f"Next: stage {following.id}, {following.title}: `python run.py try {following.id}`",
    ]

    code, out, _ = workshop(capsys, "reset", "02")
    assert code == 0
    (previous,) = (playground / ".previous").iterdir()  # 02-decimal-bug-<date>-<time>
    assert previous.name.startswith("02-decimal-bug-")
    assert out.splitlines() == [
        f"Reset stage 02 (The Decimal bug): moved your copy to {previous} (in case you want "
        f"something back); copied stages/02-decimal-bug to {copy} again.",
        "Next: fix it there, then `python run.py check 02`.",
    ]
    assert files_under(copy) == sam_files(manifest.find("02"))
    fixed = (manifest.find("03").path / "src" / "app.py").read_bytes()
    assert files_under(previous)["src/app.py"] == fixed  # the learner's work, kept


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_try_copies_the_start_and_the_solution_completes_it(capsys, playground, exercise):
    """Every exercise: `try` copies the flawed code; the solution's files make the solution."""
    code, out, _ = workshop(capsys, "try", exercise.stage.id)
    assert code == 0, out
    copy = playground / exercise.stage.folder
    assert f"the code of stages/{exercise.start.folder}, flaw included" in out
    assert f"Your goal: {exercise.goal[:40]}" in " ".join(out.split())
    assert files_under(copy) == sam_files(exercise.start)
    shutil.copytree(exercise.solution_files, copy, dirs_exist_ok=True, ignore=learn_ignore())
    if exercise.solution_stage:
        assert files_under(copy) == sam_files(exercise.solution_stage)
    else:
        assert files_under(copy) != sam_files(exercise.start)


def learn_ignore():
    return shutil.ignore_patterns(*learn.NOT_COPIED)


def test_the_last_exercise_says_so(capsys, playground, monkeypatch):
    # The checks themselves are proven in test_checks; here, what `check` says after a pass.
    monkeypatch.setattr(checks, "run", lambda name, project: [])
    last = EXERCISES[-1].stage.id
    workshop(capsys, "try", last)
    code, out, _ = workshop(capsys, "check", last)
    assert code == 0, out
    assert out.splitlines()[-1] == (
        "That was the last exercise. The final counter is at the top of the repository: "
        "`python run.py up`."
    )


def test_a_syntax_error_is_a_sentence_not_a_traceback(capsys, playground):
    workshop(capsys, "try", "02")
    app = playground / "02-decimal-bug" / "src" / "app.py"
    app.write_text(app.read_text(encoding="utf-8") + "\ndef broken(:\n", encoding="utf-8")
    code, out, err = workshop(capsys, "check", "02")
    assert code == 1
    assert "Traceback" not in out + err
    problem = out.splitlines()[2]
    assert problem.startswith('  - The first visit answers 502 {"message": "Internal server')
    assert (
        "the logs say `[ERROR] Runtime.UserCodeSyntaxError: Syntax error in module 'app'" in problem
    )


# Hints: one more each time, remembered per stage.


def test_hints_come_one_at_a_time(capsys, playground):
    hints = manifest.find("02").hints
    seen = []
    for number in range(1, len(hints) + 1):
        code, out, _ = workshop(capsys, "hint", "02")
        assert code == 0
        lines = out.splitlines()
        assert lines[0] == f"Hint {number} of {len(hints)} for stage 02 (The Decimal bug):"
        seen.append(" ".join(" ".join(lines[1:-1]).split()))
        if number < len(hints):
            assert lines[-1] == "Another one, stronger: `python run.py hint 02`."
    assert seen == [" ".join(hint.split()) for hint in hints]
    assert lines[-1] == (
        "That was the last hint. Once you have tried, the reference solution is: "
        "`python run.py diff 02 03`"
    )
    # Asked again, it says there are no more (and where the solution is); another stage
    # starts from its first.
    assert workshop(capsys, "hint", "02")[1].splitlines() == [
        f"There are no more hints for stage 02: you have seen all {len(hints)} "
        "(`python run.py hint 02 --all` shows them again).",
        "The reference solution, once you have tried: `python run.py diff 02 03`",
    ]
    assert workshop(capsys, "hint", "05")[1].startswith("Hint 1 of ")
    assert json.loads((playground / ".hints.json").read_text()) == {"02": len(hints), "05": 1}

    # `reset` starts the hints over too.
    workshop(capsys, "try", "02")
    assert "set its hints back to the first" in workshop(capsys, "reset", "02")[1]
    assert workshop(capsys, "hint", "02")[1].startswith("Hint 1 of ")


def test_a_hint_cut_short_by_a_closed_pipe_is_counted_as_seen(capsys, playground, monkeypatch):
    """`hint 06 | head -1`: the pipe closes as the hint is printed; the reader saw its first
    line, and the next `hint` gives the next one (it gave the same one again, or not)."""
    from workshop.learn import commands

    def pipe_closed(stage, number):
        raise BrokenPipeError(32, "Broken pipe")

    with monkeypatch.context() as patched, pytest.raises(BrokenPipeError):
        patched.setattr(commands, "print_hint", pipe_closed)
        commands.cmd_hint(argparse.Namespace(stage="06", all=False))  # cli.main ends it quietly
    assert workshop(capsys, "hint", "06")[1].startswith("Hint 2 of ")


def test_all_hints_at_once(capsys):
    code, out, _ = workshop(capsys, "hint", "04", "--all")
    assert code == 0
    count = len(manifest.find("04").hints)
    assert [line for line in out.splitlines() if line.startswith("Hint ")] == [
        f"Hint {n} of {count} for stage 04 (The locked .aws-sam):" for n in range(1, count + 1)
    ]
    assert out.splitlines()[-1].endswith("solutions/04-locked-build/samconfig.toml")


# Mistakes: one line each, that says what to type.


def test_unknown_stage(capsys):
    assert error_of(capsys, "try", "99") == (
        f"error: no exercise '99': the exercises are {', '.join(IDS)} (`python run.py try` lists "
        "them)"
    )


@pytest.mark.parametrize("name", ["final", "9"])
@pytest.mark.parametrize("command", ["try", "check", "reset", "hint"])
def test_a_name_a_command_does_not_take_offers_exactly_what_it_takes(capsys, command, name):
    """Neither `final` nor a folder, which `up` takes: the exercises, or the stages with hints."""
    line = error_of(capsys, command, name)
    offered = re.search(r" are ([\d, ]+) \(", line).group(1).split(", ")
    hinted = [stage.id for stage in manifest.stages() if stage.hints]
    assert offered == (hinted if command == "hint" else IDS), line
    assert "'final'," not in line and "or 'final'" not in line and "folder" not in line
    if name == "final":
        assert "'final' is the finished app" in line
    for taken in offered:  # each one offered is taken: the command goes on, or starts
        code, out, err = workshop(capsys, command, taken)
        assert "no exercise" not in err and "not an exercise" not in err, err
        assert code == 0 or "there is no copy" in err, out + err


def test_a_stage_that_is_no_exercise_names_the_one_to_try(capsys):
    assert error_of(capsys, "try", "03") == (
        "error: stage 03 is not an exercise: it is the fix of stage 02's exercise. The "
        f"exercises are {', '.join(IDS)}: start with `python run.py try 02`"
    )
    assert "its lesson is one to watch, not a fix to make" in error_of(capsys, "check", "01")


def test_check_before_try(capsys, playground):
    assert error_of(capsys, "check", "02") == (
        f"error: there is no copy of stage 02 (The Decimal bug) yet in "
        f"{playground / '02-decimal-bug'}: make one with `python run.py try 02`"
    )
    assert "no such folder" in error_of(capsys, "check", "02", "--path", str(playground / "x"))


def test_try_twice_keeps_the_work(capsys, playground):
    workshop(capsys, "try", "05")
    app = playground / "05-lost-updates" / "src" / "app.py"
    app.write_text("# my work\n", encoding="utf-8")
    assert error_of(capsys, "try", "05") == (
        f"error: {playground / '05-lost-updates'} exists already: it is your copy, to fix; check "
        "it with `python run.py check 05`, or start over with `python run.py reset 05`"
    )
    assert app.read_text(encoding="utf-8") == "# my work\n"


def test_a_copy_without_its_template_is_told_how_to_get_it_back(capsys, playground):
    workshop(capsys, "try", "02")
    (playground / "02-decimal-bug" / "template.yaml").unlink()
    code, out, _ = workshop(capsys, "check", "02")
    assert code == 1
    assert (
        "  - The copy has no template.yaml any more, so nothing can start: put it back, or make a "
        "fresh copy with `python run.py reset 02` (the one you have is kept in .previous/)."
    ) in out.splitlines()


def test_edits_names_what_differs_from_git_and_nothing_without_git(tmp_path):
    stage = tmp_path / "clone" / "stages" / "02"
    stage.mkdir(parents=True)
    (stage / "app.py").write_text("ok\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path / "clone")]
    subprocess.run([*git[:5], "init", "-q", str(tmp_path / "clone")], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "stage"], check=True)
    assert course.edits(stage) == []
    (stage / "app.py").write_text("fixed here by mistake\n")
    assert course.edits(stage) == ["stages/02/app.py"]
    assert course.edits(tmp_path) == []  # not a clone: git cannot tell


def test_a_copy_made_from_an_edited_stage_says_so(capsys, playground, monkeypatch):
    monkeypatch.setattr(course, "edits", lambda folder: ["stages/02-decimal-bug/src/app.py"])
    with pytest.warns(UserWarning, match=r"was edited \(stages/02-decimal-bug/src/app.py\)"):
        workshop(capsys, "try", "02")


def test_up_without_a_stage_in_a_copy_says_what_it_serves(playground, monkeypatch):
    """`up` alone serves the final app wherever it is typed; in a copy, that surprises."""
    args = argparse.Namespace(source=None, stage=None)
    copy = playground / "02-decimal-bug" / "src"
    copy.mkdir(parents=True)
    monkeypatch.chdir(copy)
    assert served.in_a_copy(args) == (
        "(You are in your copy of stage 02; this serves the final app. To serve your copy: "
        f"`{learn.run_py()} up .`)"
    )
    assert served.in_a_copy(argparse.Namespace(source=None, stage="02")) is None
    monkeypatch.chdir(playground.parent)
    assert served.in_a_copy(args) is None


def test_logs_and_invoke_say_whose_code_they_read_during_an_exercise(
    capsys, playground, monkeypatch
):
    """In the copy's folder, its code; elsewhere the stage's (nothing ran yet), and how to
    reach the copy: never one or the other without a word."""
    workshop(capsys, "try", "02")
    args = argparse.Namespace(source=None, stage="02", command="invoke")
    copy = playground / "02-decimal-bug"
    monkeypatch.chdir(copy / "src")
    assert served.project_served(args).path.resolve() == copy.resolve()
    assert "where you stand" in capsys.readouterr().out
    monkeypatch.chdir(playground.parent)
    assert served.project_served(args).path == manifest.find("02").path
    said = capsys.readouterr().out
    assert said.startswith("(Stage 02's own code; for your copy: ")
    assert f"invoke 02 --from {learn.shown(copy)}" in said


def test_up_of_a_stage_whose_exercise_was_copied_says_it_serves_the_stage_s_own_code(
    capsys, playground
):
    """After `try 02` and a fix, `up 02` is what the README taught: it serves stage 02's own
    code, and must say how to serve the copy, as `invoke` and `logs` do."""
    args = argparse.Namespace(source=None, stage="02")
    assert served.in_a_copy(args) is None  # no copy yet
    workshop(capsys, "try", "02")
    assert served.in_a_copy(args) == (
        "(Stage 02's own code; for your copy: "
        f"`{learn.run_py()} up --from {learn.shown(playground / '02-decimal-bug')}`.)"
    )


def test_reset_of_an_exercise_never_started_says_so(capsys, playground):
    code, out, _ = workshop(capsys, "reset", "04")
    assert code == 0
    assert out.splitlines()[0] == (
        "You had not started stage 04 (The locked .aws-sam) yet, so there was nothing to reset: "
        f"your copy is in {playground / '04-locked-build'} now, as `python run.py try 04` would "
        "have made it."
    )
    assert not (playground / ".previous").exists()
    assert files_under(playground / "04-locked-build") == sam_files(manifest.find("04"))


def test_reset_of_an_exercise_never_started_sets_its_hints_back_too(capsys, playground):
    """Hints read before `try`: reset starts the exercise from its first hint, as after `try`."""
    for _ in range(2):
        workshop(capsys, "hint", "07")
    code, out, _ = workshop(capsys, "reset", "07")
    assert code == 0 and out.splitlines()[0].endswith(" Its hints start again from the first.")
    assert "Hint 1 of" in workshop(capsys, "hint", "07")[1]


def test_try_alone_lists_the_exercises(capsys):
    code, out, _ = workshop(capsys, "try")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:]] == IDS


@pytest.mark.parametrize("command", ["check", "hint", "reset"])
def test_a_command_without_its_stage_lists_the_exercises_as_try_does(capsys, command):
    """After the command's usage: that it needs a stage, the command to type, the exercises."""
    listed = workshop(capsys, "try")[1].splitlines()[1:]
    code, out, err = workshop(capsys, command)
    assert code == 2 and out == "" and "Traceback" not in err
    usage, said, *rest = err.strip().splitlines()
    assert usage.startswith(f"usage: python run.py {command} ")
    assert said.startswith(f"python run.py {command}: error: {command} needs a stage: ")
    assert said.endswith(f", as in `python run.py {command} {IDS[0]}`. The exercises:")
    assert rest == listed


@pytest.mark.parametrize("command", ["check", "hint", "reset"])
def test_a_command_without_its_stage_in_a_copy_names_that_copy_s_stage(
    capsys, playground, monkeypatch, command
):
    workshop(capsys, "try", "02")
    monkeypatch.chdir(playground / "02-decimal-bug" / "src")
    code, _, err = workshop(capsys, command)
    assert code == 2 and "Traceback" not in err
    typed = f"`{learn.run_py()} {command} 02`"
    assert (
        err.strip().splitlines()[-1].endswith(f"you are in your copy of stage 02, so type {typed}")
    )


def test_paths_inside_the_repository_are_shown_from_it():
    assert learn.shown(REPO / "playground" / "02-decimal-bug") == "playground/02-decimal-bug"
    assert learn.shown(Path("/elsewhere with space/x")).startswith('"')


def test_the_playground_is_git_ignored():
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "playground/02-decimal-bug/src/app.py"], cwd=REPO
    )
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert ignored.returncode == 0


# --watch: the check runs again when a file is saved, and Ctrl-C stops it cleanly.


@pytest.mark.slow
def test_watch_checks_again_when_a_file_is_saved(playground):
    assert cli.main(["try", "02"]) == 0
    copy = playground / "02-decimal-bug"
    env = {**os.environ, "PYTHONPATH": str(REPO), learn.PLAYGROUND_ENV: str(playground)}
    process = subprocess.Popen(
        [sys.executable, "-m", "workshop", "check", "02", "--watch"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
    )
    lines: list[str] = []

    def read() -> None:
        for line in process.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def wait_for(text: str, count: int = 1) -> None:
        deadline = time.monotonic() + 60
        while sum(text in line for line in list(lines)) < count:
            assert process.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)

    try:
        wait_for("Waiting for you to save a file")
        assert STORY_SENTENCE + "\n" in lines
        assert any(", then save, and it is checked again (stuck?" in line for line in lines)
        fixed = (manifest.find("03").path / "src" / "app.py").read_text(encoding="utf-8")
        (copy / "src" / "app.py").write_text(fixed, encoding="utf-8")
        wait_for("Waiting for you to save a file", 2)
        assert any(line.endswith("src/app.py changed: checking again.\n") for line in lines)
        assert any(line.startswith("Fixed! ") for line in lines)
    finally:
        process.send_signal(signal.CTRL_BREAK_EVENT if os.name == "nt" else signal.SIGINT)
        process.wait(timeout=30)
        reader.join(timeout=5)
        process.stdout.close()  # read to its end by now; left open, it is a ResourceWarning
    assert lines[-1] == "Stopped watching.\n", "".join(lines)
    assert "Traceback" not in "".join(lines)
    assert process.returncode == 0  # the last check passed


def test_check_does_not_blame_the_code_for_an_endpoint_where_nothing_answers(capsys, monkeypatch):
    workshop(capsys, "try", "02")
    with socket.socket() as held:  # bound, never listening: nothing answers there
        held.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{held.getsockname()[1]}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        line = error_of(capsys, "check", "02")
    assert line.startswith(f"error: nothing answers at AWS_ENDPOINT_URL={url} (")
    assert "unset AWS_ENDPOINT_URL" in line


def test_watch_stops_on_the_machines_problem_rather_than_wait_for_a_save(tmp_path, monkeypatch):
    """Saving a file of the copy cannot start an endpoint: --watch says so and ends."""
    from workshop.learn import watch

    def stopped_endpoint() -> int:
        raise MachineError("nothing answers at AWS_ENDPOINT_URL=http://127.0.0.1:9")

    def ctrl_c(*_):  # were it to wait for a save, Ctrl-C would end it (exit code 1)
        raise KeyboardInterrupt

    monkeypatch.setattr(interrupt, "stop_on_ctrl_c", lambda: None)  # pytest's handlers stay
    monkeypatch.setattr(watch, "_wait_for_change", ctrl_c)
    with pytest.raises(MachineError):
        watch.watch(tmp_path, "your copy", stopped_endpoint)


def test_every_reset_keeps_its_own_copy_and_says_which(capsys, playground):
    workshop(capsys, "try", "02")
    copy = playground / "02-decimal-bug"
    kept = []
    for attempt in ("first", "second"):  # two resets within a second keep two copies too
        (copy / "notes.txt").write_text(attempt, encoding="utf-8")
        code, out, _ = workshop(capsys, "reset", "02")
        assert code == 0
        kept.append(Path(out.split("moved your copy to ", 1)[1].split(" (in case", 1)[0]))
    assert kept[0] != kept[1]
    assert sorted(kept) == sorted((playground / ".previous").iterdir())
    assert [(k / "notes.txt").read_text(encoding="utf-8") for k in kept] == ["first", "second"]


@pytest.mark.parametrize("option", ["--from", "--path"])  # --from as `up --from` takes it
def test_check_path_without_a_template_is_a_usage_error(capsys, playground, option):
    workshop(capsys, "try", "02")
    src = playground / "02-decimal-bug" / "src"
    line = error_of(capsys, "check", "02", option, str(src))
    assert line.startswith(f"error: {option} {src}: no template.yaml there (the folder above, ")
    assert "give the folder of your copy, the one that holds its template.yaml" in line


def test_check_path_in_a_stage_s_own_folder_is_warned_of(capsys):
    stage = manifest.find("02").path
    with pytest.warns(UserWarning, match="a stage's own folder") as warned:
        code, out, _ = workshop(capsys, "check", "05", "--from", str(stage))
    assert code == 1 and "Fix it in" in out
    assert f"check again: `python run.py check 05 --from {learn.shown(stage)}`" in out
    assert "python run.py try 05" in str(warned[0].message)


def test_check_from_another_exercise_s_copy_is_warned_of(capsys, playground):
    """The copy of 05 holds 02's fix too, so check 02 passes it: the warning names its check."""
    workshop(capsys, "try", "05")
    copy = playground / "05-lost-updates"
    with pytest.warns(UserWarning, match="is your copy of stage 05") as warned:
        workshop(capsys, "check", "02", "--from", str(copy))
    assert "not of stage 02" in str(warned[0].message)
    assert "its check is `python run.py check 05`" in str(warned[0].message)


def test_check_from_the_top_of_the_repository_is_warned_of(capsys):
    """`--from .` typed at the top checks the final app, which the workshop keeps as it is."""
    with pytest.warns(UserWarning, match="the final app at the top of the repository") as warned:
        code, out, _ = workshop(capsys, "check", "02", "--from", str(REPO))
    assert code == 1 and "Not yet" in out  # it is not stage 02's story: sessions of its own
    assert "python run.py try 02" in str(warned[0].message)


def test_a_copy_made_meanwhile_by_another_command_is_kept_and_named(tmp_path):
    """`try` or `reset` typed twice at once: the second finds the first's copy, and says so."""
    exercise = learn.exercise("02")
    copy = tmp_path / exercise.stage.folder
    copy.mkdir()
    (copy / "mine.txt").write_text("kept\n", encoding="utf-8")
    with pytest.raises(WorkshopError, match="was made meanwhile by another command"):
        course.copy_start(exercise, copy)
    assert [p.name for p in tmp_path.iterdir()] == [copy.name]  # no half-made copy beside it
    assert [p.name for p in copy.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("command", ["try", "hint"])
def test_a_playground_that_is_a_file_is_named_not_a_traceback(
    capsys, monkeypatch, tmp_path, command
):
    afile = tmp_path / "notes.txt"
    afile.write_text("mine\n", encoding="utf-8")
    monkeypatch.setenv(learn.PLAYGROUND_ENV, str(afile))
    assert cli.main([command, "02"]) == 2
    err = capsys.readouterr().err
    assert f"{learn.PLAYGROUND_ENV} is {afile}" in err and "it is a file" in err
    assert afile.read_text(encoding="utf-8") == "mine\n"


@pytest.mark.parametrize(
    ("name", "typed"),
    [
        ("plain-copy_1.2", "{}"),
        ("Café", "{}"),
        ("with space", '"{}"'),
        ("it's", '"{}"'),
        ("a$b c", "'{}'"),
        ("x&y", '"{}"'),
    ],
)
def test_a_path_is_shown_as_bash_and_powershell_both_read_it(tmp_path, name, typed):
    """`python run.py check 02 --from it's` cannot be typed (a quote left open), nor can a $
    stand in double quotes: both shells expand it."""
    path = tmp_path / name
    assert learn.shown(path) == typed.format(path.as_posix())
