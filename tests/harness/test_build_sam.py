"""workshop.build's `sam build` runner (stage 04): the Python sam needs, the simulated lock
reaching sam, the real sam."""

import functools
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import HERE_RUNTIME, held_file
from workshop import build as b
from workshop.build import sam as build_sam
from workshop.build.clean import ATTEMPTS
from workshop.errors import WorkshopError

# Running sam build.


def test_template_runtimes_reads_cloudformation_tags_and_globals(tmp_path: Path):
    template = tmp_path / "template.yaml"
    template.write_text(
        textwrap.dedent(
            """\
            Globals:
              Function:
                Runtime: python3.11
            Mappings:
              Sizes: {Prod: {Memory: 128}}
            Resources:
              Counter:
                Type: AWS::Serverless::Function
                Properties:
                  Environment:
                    Variables:
                      TABLE: !Ref Table
                      URL: !Sub "https://${Api}.example/Prod"
                      ARN: !GetAtt Table.Arn
                  MemorySize: !FindInMap [Sizes, Prod, Memory]
              Newer:
                Type: AWS::Serverless::Function
                Properties: {Runtime: python3.12}
              Node:
                Type: AWS::Serverless::Function
                Properties: {Runtime: nodejs20.x}
              Image:
                Type: AWS::Serverless::Function
                Properties: {PackageType: Image, Runtime: !Ref Nothing}
              Table:
                Type: AWS::Serverless::SimpleTable
            """
        )
    )
    assert b.template_runtimes(template) == {"python3.11", "python3.12"}


def fake_python(folder: Path, name: str) -> Path:
    """An executable called `name` that fails sam's version check, as another version would."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\nexit 1\n")
    path.chmod(0o755)
    return path


def test_python_for_runtime_follows_sams_order_and_checks_the_version(tmp_path: Path):
    fake_python(tmp_path / "first", HERE_RUNTIME)
    (tmp_path / "second").mkdir()
    real = tmp_path / "second" / "python"
    real.symlink_to(sys.executable)
    search = os.pathsep.join([str(tmp_path / "first"), str(tmp_path / "second")])

    assert b.python_for_runtime(HERE_RUNTIME, search) == str(real)
    assert b.python_for_runtime(HERE_RUNTIME, str(tmp_path / "first")) is None


def write_fake_sam(folder: Path, exit_code: int = 0) -> Path:
    """A `sam` that records what it was given and what the simulated lock does to it."""
    sam = folder / "sam"
    report = folder / "report.json"
    sam.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(
            f"""\
            import json, os, shutil, sys
            held = os.path.join(".aws-sam", "build", "HelloWorldFunction", "app.py")

            def refused(action):
                try:
                    action()
                except PermissionError as error:
                    return str(error)
                return None

            report = {{
                "argv": sys.argv[1:],
                "cwd": os.getcwd(),
                "telemetry": os.environ.get("SAM_CLI_TELEMETRY"),
                "aws_sam_existed": os.path.exists(".aws-sam"),
                "unlink": refused(lambda: os.unlink(held)) if os.path.exists(held) else None,
                "replace": refused(lambda: os.replace("template.yaml", held))
                if os.path.exists(held) else None,
                "rmtree": refused(lambda: shutil.rmtree(".aws-sam"))
                if os.path.exists(held) else None,
            }}
            with open({str(report)!r}, "w") as out:
                json.dump(report, out)
            sys.exit({exit_code})
            """
        )
    )
    sam.chmod(0o755)
    return sam


def run_report(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text())


def test_build_cleans_then_runs_sam_in_the_project(project: Path, tmp_path: Path):
    sam = write_fake_sam(tmp_path, exit_code=3)
    assert b.build(project, sam=sam, extra_args=["--debug"]) == 3
    report = run_report(tmp_path)
    assert report["argv"] == ["build", "--debug"]
    assert Path(report["cwd"]) == project.resolve()
    assert report["telemetry"] == "0"
    assert report["aws_sam_existed"] is False


def test_build_passes_a_build_dir_and_cleans_it_when_it_is_inside_aws_sam(project, tmp_path):
    sam = write_fake_sam(tmp_path)
    b.build(project, project / ".aws-sam" / "build", sam=sam)
    assert run_report(tmp_path)["argv"] == [
        "build",
        "--build-dir",
        str(project / ".aws-sam" / "build"),
    ]
    assert not (project / ".aws-sam" / "build").exists()
    assert (project / ".aws-sam" / "cache").is_dir()


def test_building_elsewhere_leaves_the_projects_aws_sam_alone(project: Path, tmp_path: Path):
    sam = write_fake_sam(tmp_path)
    with b.simulated_lock(held_file(project)):
        assert b.build(project, tmp_path / "out", sam=sam) == 0
    assert held_file(project).is_file()


@pytest.mark.parametrize("mine", ["notes/precious.txt", "src/app.py"])
def test_a_build_dir_that_holds_files_no_build_made_is_refused_and_left_as_it_was(
    project: Path, tmp_path: Path, mine: str
):
    """sam build empties the folder it builds into: a folder of the user's (their notes, their
    code) is refused before sam runs, and a folder that a build made is built into again."""
    sam = write_fake_sam(tmp_path)
    theirs = tmp_path / mine
    theirs.parent.mkdir(parents=True, exist_ok=True)
    theirs.write_text("keep\n", encoding="utf-8")
    with pytest.raises(WorkshopError, match="holds files that no build made"):
        b.build(project, theirs.parent, sam=sam)
    assert theirs.read_text(encoding="utf-8") == "keep\n"
    assert not (tmp_path / "report.json").exists()  # sam never ran
    built = tmp_path / "earlier-build"
    built.mkdir()
    (built / "template.yaml").write_text("Metadata:\n  SamResourceId: Fn\n", encoding="utf-8")
    assert b.build(project, built, sam=sam) == 0


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("samconfig.toml", 'version = 0.1\n[default.build.parameters]\nbuild_dir = "{dir}"\n'),
        (
            "samconfig.yaml",
            "version: 0.1\ndefault:\n  global:\n    parameters:\n      build_dir: {dir}\n",
        ),
    ],
)
def test_a_configured_build_dir_that_holds_files_no_build_made_is_refused(
    project: Path, tmp_path: Path, name: str, text: str
):
    """The same for a build_dir that the project's samconfig gives (SAM CLI reads a .yaml
    when there is no .toml, and global parameters too): sam would empty it."""
    sam = write_fake_sam(tmp_path)
    theirs = tmp_path / "precious"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("keep\n", encoding="utf-8")
    (project / "samconfig.toml").unlink(missing_ok=True)
    (project / name).write_text(text.format(dir=theirs.as_posix()), encoding="utf-8")
    with pytest.raises(WorkshopError, match=r"samconfig's build_dir, .* holds files that no build"):
        b.build(project, sam=sam)
    assert (theirs / "notes.txt").read_text(encoding="utf-8") == "keep\n"
    assert not (tmp_path / "report.json").exists()  # sam never ran


def test_build_without_cleaning_leaves_aws_sam_for_sam(project: Path, tmp_path: Path):
    sam = write_fake_sam(tmp_path)
    b.build(project, sam=sam, clean_first=False)
    assert run_report(tmp_path)["aws_sam_existed"] is True


def test_the_simulated_lock_reaches_the_sam_process(project: Path, tmp_path: Path):
    sam = write_fake_sam(tmp_path)
    with b.simulated_lock(held_file(project)):
        b.build(project, sam=sam, clean_first=False)
    report = run_report(tmp_path)
    for call in ("unlink", "replace", "rmtree"):
        assert report[call] and "simulated" in report[call], call
    assert held_file(project).is_file()


def test_without_a_lock_sam_deletes_freely(project: Path, tmp_path: Path):
    sam = write_fake_sam(tmp_path)
    b.build(project, sam=sam, clean_first=False)
    report = run_report(tmp_path)
    assert report["unlink"] is None
    assert not held_file(project).exists()


def test_build_says_which_python_sam_needs(project, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(fake_python(tmp_path / "bin", HERE_RUNTIME).parent))
    with pytest.raises(WorkshopError) as refused:
        b.build(project, sam=write_fake_sam(tmp_path))
    message = str(refused.value)
    assert f"Runtime {HERE_RUNTIME}" in message
    assert f"looks for {HERE_RUNTIME}, python and python3" in message
    assert "--use-container" in message
    assert held_file(project).is_file(), "nothing is deleted before the check"


def test_on_windows_the_message_explains_the_py_launcher(project, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(fake_python(tmp_path / "bin", HERE_RUNTIME).parent))
    monkeypatch.setattr(build_sam, "ON_WINDOWS", True)
    version = HERE_RUNTIME.removeprefix("python")
    with pytest.raises(WorkshopError, match=f"`py -{version} -m venv .venv`"):
        b.build(project, sam=write_fake_sam(tmp_path))


def test_a_container_build_needs_no_local_python(project, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(fake_python(tmp_path / "bin", HERE_RUNTIME).parent))
    assert b.build(project, sam=write_fake_sam(tmp_path), extra_args=["--use-container"]) == 0


def test_build_says_how_to_get_sam_when_it_is_missing(project, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(WorkshopError, match="pip install"):
        b.build(project)


# The real SAM CLI, when it is installed (the project's venv has it).


def real_sam() -> str | None:
    return shutil.which("sam", path=str(Path(sys.executable).parent)) or shutil.which("sam")


@pytest.mark.slow
def test_real_sam_build_fails_on_a_held_file_and_clean_mends_it(project, capfd):
    # Asked here rather than in a skipif, whose condition every xdist worker would evaluate as
    # it collects: finding the runtime's Python starts one (through pyenv's shim, if any).
    if real_sam() is None:
        pytest.skip("the AWS SAM CLI is not installed here")
    if b.python_for_runtime(HERE_RUNTIME) is None:
        pytest.skip(f"no {HERE_RUNTIME} on PATH for sam")
    shutil.rmtree(project / ".aws-sam")
    assert b.build(project) == 0
    built = held_file(project)
    assert built.read_text() == (project / "src" / "app.py").read_text()

    with b.simulated_lock(built):
        assert b.build(project, clean_first=False) != 0
    output = capfd.readouterr()
    assert "Permission denied (simulated" in output.out + output.err

    with b.simulated_lock(built, seconds=0.5):
        assert b.build(project) == 0
    assert "Build Succeeded" in capfd.readouterr().out


def test_a_lock_that_held_nothing_says_what_the_build_wrote(project, tmp_path):
    """A typo in --simulate-lock: the build succeeds, and says the lock held nothing."""
    sam = write_fake_sam(tmp_path)
    typo = "build/HelloWorldFunctions/app.py"
    with pytest.warns(UserWarning) as warned:
        assert b.build(project, sam=sam, clean_first=False, simulate_lock=typo) == 0
    (message,) = [str(w.message) for w in warned]
    assert message.startswith(f"--simulate-lock {typo} held nothing: there is no ")
    assert "HelloWorldFunction/" in message  # what .aws-sam/build holds instead


def test_a_lock_with_a_build_elsewhere_says_the_build_left_aws_sam_alone(project, tmp_path):
    """Building outside .aws-sam is stage 04's fix: a lock in .aws-sam holds nothing of it
    (here none, as in a fresh copy: it said "build first", where the user just had)."""
    shutil.rmtree(project / ".aws-sam")
    sam = write_fake_sam(tmp_path)
    held, out = "build/HelloWorldFunction/app.py", tmp_path / "out"
    with pytest.warns(UserWarning) as warned:
        assert b.build(project, out, sam=sam, simulate_lock=held) == 0
    (message,) = [str(w.message) for w in warned]
    assert message == (
        f"--simulate-lock {held} held nothing: it holds a file in .aws-sam, and this build went "
        f"to {out}, outside it: building elsewhere leaves a held .aws-sam alone"
    )


def test_a_lock_that_held_its_file_says_nothing_more(project, tmp_path, recwarn):
    sam = write_fake_sam(tmp_path)
    held = "build/HelloWorldFunction/app.py"
    b.build(project, sam=sam, clean_first=False, simulate_lock=held)
    assert "simulated" in run_report(tmp_path)["unlink"]  # sam was refused
    assert not [w for w in recwarn if "held nothing" in str(w.message)]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("build/HelloWorldFunction/app.py:abc", "':abc' is not a time"),
        ("build/HelloWorldFunction/app.py:0", "':0' is not a time"),
        ("../template.yaml", "give a path relative to .aws-sam"),
    ],
)
def test_a_malformed_lock_option_is_refused_before_anything_runs(project, tmp_path, spec, says):
    run = subprocess.run(
        [sys.executable, "-m", "workshop", "build", str(project), "--simulate-lock", spec],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert run.returncode == 2 and run.stdout == "", run.stdout  # no "Running: sam build"
    (line,) = run.stderr.splitlines()
    assert line.startswith(f"error: --simulate-lock {spec}: {says}"), line
    assert b.LOCK_ENV not in line and ":SECONDS" in line and ":forever" in line
    assert held_file(project).is_file()


def test_the_lock_option_is_documented_in_help():
    run = subprocess.run(
        [sys.executable, "-m", "workshop", "build", "--help"], capture_output=True, text=True
    )
    assert "PATH[:SECONDS|:forever]" in " ".join(run.stdout.split())


def test_build_says_running_sam_only_once_the_clean_is_done(project, tmp_path, monkeypatch):
    """A file held for good: the clean's tries are said, and sam never runs, nor is said to.

    The tries are the clean's own (6 of them); only their waits are shortened, from 7.75 s in
    all to a tenth of a second: how long they wait is test_clean_retries_until_a_held_file_is_
    released's subject, not this one's.
    """
    clean_quickly = functools.partial(build_sam.delete_build_folder, delay=0.002)
    monkeypatch.setattr(build_sam, "delete_build_folder", clean_quickly)
    sam = write_fake_sam(tmp_path)
    said: list[str] = []
    with pytest.raises(WorkshopError, match="Cannot delete"):
        b.build(project, sam=sam, simulate_lock="build/HelloWorldFunction/app.py", log=said.append)
    assert said and all("is held; trying again" in line for line in said), said
    assert len(said) == ATTEMPTS - 1  # every try but the last says it will try again
    assert not (tmp_path / "report.json").exists()


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_template_saved_by_a_windows_tool_is_read_by_its_byte_order_mark(project, encoding):
    template = project / "template.yaml"
    template.write_bytes(template.read_text(encoding="utf-8").encode(encoding))
    assert b.template_runtimes(template) == {HERE_RUNTIME}
