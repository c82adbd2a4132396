"""workshop.build's careful `.aws-sam` cleanup (stage 04); its `sam build` runner is in
test_build_sam.py."""

import errno
import importlib
import os
import shutil
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.helpers import held_file
from workshop import build as b
from workshop.build import samconfig
from workshop.errors import WorkshopError

# Deleting: only the project's own .aws-sam, links never followed.


def test_clean_deletes_aws_sam_and_nothing_else(project: Path):
    assert b.clean(project) == project.resolve() / ".aws-sam"
    assert not (project / ".aws-sam").exists()
    assert (project / "src" / "app.py").is_file()
    assert (project / "template.yaml").is_file()


def test_clean_without_aws_sam_deletes_nothing(project: Path):
    shutil.rmtree(project / ".aws-sam")
    assert b.clean(project) is None


def test_clean_a_build_dir_inside_aws_sam_leaves_the_rest(project: Path):
    assert b.clean(project, project / ".aws-sam" / "build") == project / ".aws-sam" / "build"
    assert not (project / ".aws-sam" / "build").exists()
    assert (project / ".aws-sam" / "cache").is_dir()


def test_a_relative_build_dir_is_taken_from_the_current_directory(project, monkeypatch):
    monkeypatch.chdir(project)
    b.clean(project, Path(".aws-sam") / "build")
    assert not (project / ".aws-sam" / "build").exists()
    assert (project / ".aws-sam" / "cache").is_dir()


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        (lambda p: p, "the project folder itself"),
        (lambda p: p / ".aws-sam" / "..", "the project folder itself"),
        (lambda p: p.parent, "the project folder itself (or contains it)"),
        (lambda p: p / "src", "is not the project's .aws-sam"),
        (lambda p: p.parent / "elsewhere" / ".aws-sam", "outside the project"),
        (lambda p: Path(os.path.relpath(p.parent, Path.cwd())), "the project folder itself"),
    ],
    ids=["root", "dotdot", "parent", "src", "other-aws-sam", "relative-parent"],
)
def test_clean_refuses_what_is_not_the_projects_aws_sam(project: Path, where, reason):
    target = where(project)
    (project.parent / "elsewhere" / ".aws-sam").mkdir(parents=True)
    with pytest.raises(WorkshopError, match="Refusing to delete") as refused:
        b.clean(project, target)
    assert reason in str(refused.value)
    assert str(project.resolve() / ".aws-sam") in str(refused.value)
    assert (project / "src" / "app.py").is_file()
    assert (project.parent / "elsewhere" / ".aws-sam").is_dir()
    assert held_file(project).is_file()


def test_clean_refuses_a_project_that_is_not_a_folder(tmp_path: Path):
    with pytest.raises(WorkshopError, match="is not a folder"):
        b.clean(tmp_path / "missing")


def test_a_linked_aws_sam_is_unlinked_and_its_target_survives(tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    (project / ".aws-sam").symlink_to(outside, target_is_directory=True)

    assert b.clean(project) == project.resolve() / ".aws-sam"
    assert not os.path.lexists(project / ".aws-sam")
    assert (outside / "keep.txt").read_text() == "keep"


def test_a_build_dir_reached_through_a_linked_aws_sam_is_refused(tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    outside = tmp_path / "precious"
    (outside / "build").mkdir(parents=True)
    (project / ".aws-sam").symlink_to(outside, target_is_directory=True)

    with pytest.raises(WorkshopError, match="outside the project"):
        b.clean(project, project / ".aws-sam" / "build")
    assert (outside / "build").is_dir()


def test_links_inside_aws_sam_are_unlinked_not_followed(project: Path, tmp_path: Path):
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    (project / ".aws-sam" / "to-dir").symlink_to(outside, target_is_directory=True)
    (project / ".aws-sam" / "build" / "to-file").symlink_to(outside / "keep.txt")

    b.clean(project)
    assert not (project / ".aws-sam").exists()
    assert (outside / "keep.txt").read_text() == "keep"


# A file that another process holds, as OneDrive does while it syncs.


@pytest.fixture
def stopped_clock(monkeypatch):
    """The clock of the lock and of clean's waits, stopped: only clean's waits move it.

    A lock that lets go after some seconds then lets go at the same try however slow the
    machine, and clean waits for nothing.
    """
    now = [0.0]

    def wait(seconds: float) -> None:
        now[0] += seconds

    clock = SimpleNamespace(time=lambda: now[0], sleep=wait)
    for module in ("workshop.build.lock", "workshop.build.clean"):
        monkeypatch.setattr(importlib.import_module(module), "time", clock)


def test_clean_retries_until_a_held_file_is_released(project: Path, stopped_clock):
    waits = []
    with b.simulated_lock(held_file(project), seconds=0.3):
        assert b.clean(project, attempts=6, delay=0.05, log=waits.append)
    assert not (project / ".aws-sam").exists()
    # Held at 0, 0.05 and 0.15 s; let go by the fourth try, at 0.35 s. The wait doubles.
    assert [wait.partition("trying again in ")[2] for wait in waits] == ["0.05 s", "0.1 s", "0.2 s"]


def test_a_file_held_for_good_is_named_with_the_three_remedies(project: Path):
    with b.simulated_lock(held_file(project)), pytest.raises(WorkshopError) as failed:
        b.clean(project, attempts=3, delay=0.01)
    message = str(failed.value)
    assert "\n" not in message
    assert f"Cannot delete {held_file(project).resolve()}" in message
    assert "simulated" in message
    assert "after 3 tries" in message
    assert "pause OneDrive sync" in message
    assert "move the repository out of OneDrive" in message
    assert "--build-dir pointing outside the synced folder" in message
    assert held_file(project).is_file()


def test_the_simulated_lock_refuses_with_a_marked_permission_error(project: Path):
    with b.simulated_lock(held_file(project)), pytest.raises(PermissionError) as refused:
        b.remove_entry(held_file(project))
    assert refused.value.errno == errno.EACCES
    assert "simulated" in str(refused.value)
    b.remove_entry(held_file(project))  # released on leaving the block
    assert not held_file(project).exists()


def test_the_environment_variable_holds_a_file_for_good(project, monkeypatch):
    monkeypatch.setenv(b.LOCK_ENV, "build/HelloWorldFunction/app.py")
    with pytest.raises(WorkshopError, match="Cannot delete .*app.py"):
        b.clean(project, attempts=2, delay=0.01)
    assert held_file(project).is_file()


def test_the_environment_variable_can_release_after_some_seconds(
    project, monkeypatch, stopped_clock
):
    monkeypatch.setenv(b.LOCK_ENV, "build/HelloWorldFunction/app.py:0.2")
    waits = []
    b.clean(project, attempts=6, delay=0.05, log=waits.append)
    assert len(waits) == 3  # held at 0, 0.05 and 0.15 s; let go by 0.35 s
    assert not (project / ".aws-sam").exists()


@pytest.mark.parametrize("spec", ["../template.yaml", "/etc/passwd:forever"])
def test_the_environment_variable_must_stay_inside_aws_sam(project, monkeypatch, spec):
    monkeypatch.setenv(b.LOCK_ENV, spec)
    with pytest.raises(WorkshopError, match=f"give a path relative to {b.BUILD_FOLDER}"):
        b.clean(project)
    assert held_file(project).is_file()


def test_read_only_files_are_made_writable_then_deleted(project: Path):
    # Root ignores permissions on Linux, so this remover refuses read-only files as Windows does.
    def windows_like_remove(path: Path) -> None:
        if not path.is_symlink() and not os.lstat(path).st_mode & stat.S_IWRITE:
            raise PermissionError(errno.EACCES, "Access is denied", str(path))
        b.remove_entry(path)

    held_file(project).chmod(0o444)
    assert b.clean(project, attempts=1, remove=windows_like_remove)
    assert not (project / ".aws-sam").exists()


def test_a_held_link_is_waited_for_not_made_writable(project: Path, tmp_path: Path, stopped_clock):
    outside = tmp_path / "read-only.txt"
    outside.write_text("keep")
    outside.chmod(0o444)
    link = project / ".aws-sam" / "link"
    link.symlink_to(outside)
    waits = []
    with b.simulated_lock(link, seconds=0.2):
        b.clean(project, delay=0.05, log=waits.append)
    assert len(waits) == 3  # held at 0, 0.05 and 0.15 s
    assert not os.path.lexists(link)
    assert stat.S_IMODE(outside.stat().st_mode) == 0o444, "chmod followed the link out"


@pytest.mark.parametrize(
    "given, read",
    [
        ("\"Size=2 Name='two words'\"", {"Size": "2", "Name": "two words"}),
        ('["Size=2", "Name=x"]', {"Size": "2", "Name": "x"}),
        ('"ParameterKey=Size,ParameterValue=2"', {"Size": "2"}),
    ],
    ids=["words", "list", "parameter-key"],
)
def test_parameter_overrides_are_read_in_each_form_sam_deploy_takes(tmp_path, given, read):
    (tmp_path / "samconfig.toml").write_text(
        f"version = 0.1\n[default.deploy.parameters]\nparameter_overrides = {given}\n",
        encoding="utf-8",
    )
    assert samconfig.parameter_overrides(tmp_path) == read


def test_a_parameter_override_that_is_not_key_equals_value_is_named(tmp_path):
    (tmp_path / "samconfig.toml").write_text(
        'version = 0.1\n[default.deploy.parameters]\nparameter_overrides = "Size"\n',
        encoding="utf-8",
    )
    with pytest.raises(samconfig.ConfigError, match="'Size', which is not Key=Value"):
        samconfig.parameter_overrides(tmp_path)
