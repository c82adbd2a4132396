"""`sam build` succeeds build after build while OneDrive holds what it wrote (stage 04)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from workshop import build
from workshop.build import BUILD_FOLDER, samconfig
from workshop.errors import WorkshopError
from workshop.learn.checks.story import quote
from workshop.manifest import REPO_ROOT

NEEDS_STACK = False
BUILD_SKIP = shutil.ignore_patterns(".aws-sam", "__pycache__", "*.pyc", ".ipynb_checkpoints")
SYNCED_WORDS = "the project folder (simulated: the check holds every file a build writes there)"
WINDOWS_DRIVE = re.compile(r"\A[A-Za-z]:[\\/]")  # C:/... or C:\...


def _unexpanded(configured: str, target: Path) -> str | None:
    """Why a build_dir written as a shell or Windows would read it lands in the project, if it
    does: SAM expands neither ~ nor $VARIABLES, and C:/... is a relative path off Windows."""
    if configured.startswith("~"):
        what = "starts with ~, which SAM does not expand as a shell would"
    elif "$" in configured:
        what = "names a $VARIABLE, which SAM does not expand as a shell would"
    elif os.name != "nt" and WINDOWS_DRIVE.match(configured):
        what = "is a Windows path, and off Windows C:/... is a relative path"
    else:
        return None
    return (
        f"The samconfig's build_dir, {configured}, {what}: sam build would make {target}, "
        "inside the project, which OneDrive syncs. Write the folder out in full, such as "
        "/tmp/visit-counter-build."
    )


def _unusable(configured: str, target: Path, folder: Path) -> str | None:
    """Why `sam build` cannot build into `target`, or must not: None if it can."""
    said = f"The samconfig's build_dir, {configured},"
    if target == folder or target in folder.parents:
        return f"{said} is the project's folder or holds it: sam build refuses to build there."
    missing = target
    while not missing.exists() and missing != missing.parent:
        missing = missing.parent
    if missing != target and not missing.is_dir():
        return f"{said} cannot be made: {missing} is a file."
    try:
        build.refuse_a_folder_of_the_users(target, said)
    except WorkshopError as error:
        return str(error)
    # OneDrive syncs the folder the project is in, too: the workshop's, for a copy in it.
    inside = REPO_ROOT in folder.parents
    synced, where = (REPO_ROOT, "the workshop's folder") if inside else (folder.parent, "")
    if folder not in target.parents and (target == synced or synced in target.parents):
        return (
            f"{said} is out of the project, but still in {where or 'the folder that holds it'} "
            f"({synced}), which OneDrive syncs with it: build in a folder of its own outside "
            "it, such as /tmp/visit-counter-build."
        )
    return None


def _sam_build(sandbox: Path, build_dir: Path) -> subprocess.CompletedProcess:
    """`sam build` in the sandbox's project, as configured, with the simulated holds passed on."""
    command = [build.sam_executable(), "build", "--build-dir", str(build_dir)]
    with build.sam_environment() as env:
        return subprocess.run(
            command,
            cwd=sandbox,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=300,
        )


def _sam_error(result: subprocess.CompletedProcess) -> str:
    lines = [line.strip() for line in (result.stderr + "\n" + result.stdout).splitlines()]
    errors = [line for line in lines if line.startswith("Error:")]
    return quote((errors or [line for line in lines if line] or ["(no output)"])[-1])


def _written(project: Path, before: set[Path]) -> list[str]:
    """What appeared in the project since `before`, two levels deep (`.aws-sam/deps`)."""
    new = {path.relative_to(project) for path in project.rglob("*") if path not in before}
    shallow = {Path(*path.parts[:2]) for path in new}
    return sorted(
        path.as_posix() for path in shallow if not any(path in other.parents for other in shallow)
    )


def check(folder: Path) -> list[str]:
    """`sam build` succeeds twice in a row while OneDrive holds what it wrote (stage 04).

    The project is copied to a scratch folder that stands for the learner's OneDrive folder,
    and built there with the real `sam build`, configured by the copy's samconfig (as SAM CLI
    reads it). Then every file and folder the build wrote inside the project is held, as
    OneDrive holds files while it uploads them (workshop.build.simulated_lock), and it is
    built again: the second build must succeed, and must not have written anything into the
    project at all. A build_dir is first judged where it is: sam must be able to build there,
    it must not hold a folder of the learner's (sam empties it), and it must be out of the
    synced folder: the workshop's folder, when the project is in it. Then it goes to a scratch
    folder beside the copy, so that sam never empties a real folder of the learner's. What
    fails names a config file that SAM CLI ignores beside the one it reads.
    """
    folder = Path(folder).resolve()
    ignored = _ignored_beside(folder)
    return [problem + ignored for problem in _problems(folder)]


def _ignored_beside(folder: Path) -> str:
    """A sentence that names the config files SAM CLI ignores beside the one it reads, if any:
    it reads samconfig.toml, and samconfig.yaml (or .yml) only where there is none (the AWS SAM
    Developer Guide, "AWS SAM CLI configuration file": "Specify a configuration file")."""
    found = [name for name in samconfig.CONFIG_FILES if (folder / name).is_file()]
    if len(found) < 2:
        return ""
    return (
        f" SAM CLI reads {found[0]} and ignores {' and '.join(found[1:])} beside it: what "
        f"sam build is to use goes in {found[0]}."
    )


def _problems(folder: Path) -> list[str]:
    """What fails, as `check` says, for the project in `folder` (resolved)."""
    if not (folder / "template.yaml").is_file():
        return [f"There is no template.yaml in {folder}: sam build needs one."]
    build.check_python(folder, ())  # no python3.11: this machine's problem, not the project's
    try:
        configured = samconfig.parameters(folder, "build").get("build_dir")
    except samconfig.ConfigError as error:
        return [f"{error}: sam build would stop on it too."]
    target = folder / BUILD_FOLDER / "build"
    if isinstance(configured, str):
        target = (folder / configured).resolve()  # through links: where sam really builds
        problem = _unexpanded(configured, target) or _unusable(configured, target, folder)
        if problem:
            return [problem]
    with tempfile.TemporaryDirectory(prefix="workshop-check-") as scratch:
        sandbox = Path(scratch) / "synced" / folder.name
        shutil.copytree(folder, sandbox, ignore=BUILD_SKIP)
        # Always named to sam: it never builds into a real folder of the learner's.
        if folder in target.parents:
            build_dir = sandbox / target.relative_to(folder)
        else:
            build_dir = Path(scratch) / "elsewhere" / "build"
        sources = set(sandbox.rglob("*"))

        first = _sam_build(sandbox, build_dir)
        if first.returncode != 0:
            return [f"`sam build` fails even with nothing held: sam said `{_sam_error(first)}`."]
        built = [path for path in sandbox.rglob("*") if path not in sources]
        with contextlib.ExitStack() as holds:
            for path in built:
                holds.enter_context(build.simulated_lock(path))
            second = _sam_build(sandbox, build_dir)
        written = _written(sandbox, sources)
    if second.returncode != 0:
        return [
            "The second `sam build` in a row is refused the files it must replace: OneDrive "
            f"holds what the first build wrote in {SYNCED_WORDS}, and sam said "
            f"`{_sam_error(second)}`. "
            "Deleting .aws-sam mends one build, not the next."
        ]
    if written:
        return [
            f"`sam build` succeeds, but it still writes into {SYNCED_WORDS}: "
            f"{', '.join(written)}. A cached build keeps .aws-sam/cache and .aws-sam/deps in "
            "the project whatever build_dir says."
        ]
    return []
