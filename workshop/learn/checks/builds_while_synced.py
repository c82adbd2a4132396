"""`sam build` succeeds build after build while OneDrive holds what it wrote (stage 04)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path

from workshop import build
from workshop.learn.checks.story import quote

NEEDS_STACK = False
BUILD_SKIP = shutil.ignore_patterns(".aws-sam", "__pycache__", "*.pyc", ".ipynb_checkpoints")
SYNCED_WORDS = "the project folder (simulated: the check holds every file a build writes there)"


def _configured_build_dir(samconfig: Path) -> tuple[str | None, str | None]:
    """(build_dir from samconfig.toml's default build or global parameters, or None; an error)."""
    if not samconfig.is_file():
        return None, None
    try:
        config = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        return None, (
            f"The project's samconfig.toml is not valid TOML ({error}): sam build would stop "
            "on it too."
        )
    default = config.get("default", {})
    for command in ("build", "global"):
        parameters = default.get(command, {}).get("parameters", {})
        if isinstance(parameters, dict) and "build_dir" in parameters:
            return str(parameters["build_dir"]), None
    return None, None


def _sam_build(sandbox: Path, build_dir: Path | None) -> subprocess.CompletedProcess:
    """`sam build` in the sandbox's project, as configured, with the simulated holds passed on."""

    command = [build.sam_executable(), "build"]
    if build_dir is not None:
        command += ["--build-dir", str(build_dir)]
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
    and built there with the real `sam build`, configured by the copy's samconfig.toml. Then
    every file and folder the build wrote inside the project is held, as OneDrive holds files
    while it uploads them (workshop.build.simulated_lock), and it is built again: the second
    build must succeed, and must not have written anything into the project at all.
    A build_dir outside the project goes to a scratch folder beside it: where exactly does not
    matter here, only that it is out of the synced folder (and sam empties a build_dir before
    it builds, which must never happen to a real folder of the learner's).
    """

    folder = Path(folder).resolve()
    if not (folder / "template.yaml").is_file():
        return [f"There is no template.yaml in {folder}: sam build needs one."]
    build.check_python(folder, ())  # no python3.11: this machine's problem, not the project's
    configured, problem = _configured_build_dir(folder / "samconfig.toml")
    if problem:
        return [problem]
    with tempfile.TemporaryDirectory(prefix="workshop-check-") as scratch:
        sandbox = Path(scratch) / "synced" / folder.name
        shutil.copytree(folder, sandbox, ignore=BUILD_SKIP)
        build_dir = None
        if configured is not None:
            wanted = Path(configured)
            target = Path(os.path.abspath(wanted if wanted.is_absolute() else folder / wanted))
            if target == folder or folder in target.parents:
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
