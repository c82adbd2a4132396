"""`workshop build`: find `sam` and the template's Python, clean, then run the real `sam build`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from workshop import user_files
from workshop.build import samconfig
from workshop.build.clean import (
    BUILD_FOLDER,
    absolute,
    delete_build_folder,
    is_inside,
    lock_asked,
)
from workshop.build.lock import sam_environment
from workshop.errors import WorkshopError

ON_WINDOWS = os.name == "nt"
_TEMPLATE_NAMES = ("template.yaml", "template.yml")


class _TolerantLoader(yaml.SafeLoader):
    """Reads every short tag (!Ref, !Sub, !FindInMap, ...) as a plain value: the build needs
    only the runtimes, and refusing a template that sam accepts is not its business (the
    harness's template reader knows only the tags it resolves)."""


def _plain(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> object:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_TolerantLoader.add_multi_constructor("!", _plain)


def template_runtimes(template: Path) -> set[str]:
    """The `pythonX.Y` runtimes of the template's functions, Globals included."""
    try:
        text = user_files.read_text(template, "a SAM template")
        doc = yaml.load(text, Loader=_TolerantLoader) or {}
    except yaml.YAMLError as error:
        raise WorkshopError(
            f"{template} is not valid YAML {user_files.yaml_problem(error, text)}"
        ) from error
    default = ((doc.get("Globals") or {}).get("Function") or {}).get("Runtime")
    runtimes = set()
    for resource in (doc.get("Resources") or {}).values():
        if not isinstance(resource, dict) or resource.get("Type") not in (
            "AWS::Serverless::Function",
            "AWS::Lambda::Function",
        ):
            continue
        runtime = (resource.get("Properties") or {}).get("Runtime", default)
        if isinstance(runtime, str) and re.fullmatch(r"python\d+\.\d+", runtime):
            runtimes.add(runtime)
    return runtimes


def python_for_runtime(runtime: str, path: str | None = None) -> str | None:
    """The interpreter `sam build` would use for `runtime` (e.g. python3.11), or None.

    SAM's rule (aws_lambda_builders' PathResolver and PythonRuntimeValidator): every
    `pythonX.Y`, then `python`, then `python3` on PATH, in that order; the first whose
    version is X.Y wins. It never uses the Windows `py` launcher.
    """
    major, minor = runtime.removeprefix("python").split(".")
    directories = (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep)
    check = f"import sys; assert sys.version_info[:2] == ({major}, {minor})"
    seen = set()
    for name in (runtime, "python", f"python{major}"):
        for directory in directories:
            found = shutil.which(name, path=directory) if directory else None
            if found is None or found in seen:
                continue
            seen.add(found)
            if subprocess.run([found, "-c", check], capture_output=True).returncode == 0:
                return found
    return None


def sam_executable() -> str:
    """The venv's own `sam` (beside this Python) if it has one, else the first on PATH."""
    found = shutil.which("sam", path=str(Path(sys.executable).parent)) or shutil.which("sam")
    if found is None:
        raise WorkshopError(
            "sam (the AWS SAM CLI) is not installed here: `python run.py` installs it in the "
            "workshop's .venv (run this command that way), or `pip install aws-sam-cli`"
        )
    return found


def check_python(project_dir: Path, extra_args: Sequence[str]) -> None:
    """Refuse early, with a clear message, when sam would not find the template's Python."""
    if {"--use-container", "-u"} & set(extra_args):
        return  # the build image brings its own Python
    template = next((project_dir / n for n in _TEMPLATE_NAMES if (project_dir / n).is_file()), None)
    if template is None:
        raise WorkshopError(f"No template.yaml in {project_dir}: give a SAM project folder")
    for runtime in sorted(template_runtimes(template)):
        if python_for_runtime(runtime) is None:
            version = runtime.removeprefix("python")
            windows = (
                f" On Windows `py -{version}` does not count: activate a venv made with "
                f"`py -{version} -m venv .venv`, so that `python` is {version}."
                if ON_WINDOWS
                else ""
            )
            raise WorkshopError(
                f"{template.name} asks for Runtime {runtime}, and `sam build` needs Python "
                f"{version} on PATH to build it: it looks for {runtime}, python and "
                f"python{version.split('.')[0]}, and none of them is {version}. Install Python "
                f"{version} and put it on PATH, or build in a container with --use-container."
                + windows
            )


def build(
    project_dir: Path,
    build_dir: Path | None = None,
    *,
    sam: str | os.PathLike[str] | None = None,
    extra_args: Sequence[str] = (),
    clean_first: bool = True,
    log: Callable[[str], None] | None = None,
    simulate_lock: str | None = None,
) -> int:
    """Clean, then run `sam build` in `project_dir`; return sam's exit code.

    Cleans the project's `.aws-sam`, or `build_dir` when it is inside it. A `build_dir`
    elsewhere is not cleaned (sam empties it itself) and the project's `.aws-sam`, where the
    sync holds files, is left alone: that is the point of building elsewhere.
    `clean_first=False` runs `sam build` as the story's author did, to see it fail.
    simulate_lock: as for `clean`. What runs is said once the clean is done, just before it runs.
    """
    target = absolute(build_dir) if build_dir is not None else configured_build_dir(project_dir)
    outside = target is not None and not is_inside(target, project_dir.resolve() / BUILD_FOLDER)
    # First: a malformed lock is refused at once.
    with lock_asked(project_dir, simulate_lock, target if outside else None):
        return _build(project_dir, build_dir, sam, extra_args, clean_first, log or _quiet)


def configured_build_dir(project_dir: Path) -> Path | None:
    """The build_dir that the project's samconfig gives `sam build`, made absolute (None if it
    gives none, or if SAM CLI would stop on the config itself and say why: one that is not UTF-8
    is refused here, as SAM CLI would say it in a traceback)."""
    try:
        value = samconfig.parameters(project_dir, "build").get("build_dir")
    except samconfig.NotUtf8:
        raise
    except samconfig.ConfigError:
        return None
    return (Path(project_dir) / value).resolve() if isinstance(value, str) else None


def refuse_a_folder_of_the_users(build_dir: Path, named: str | None = None) -> None:
    """sam build empties the folder it builds into: only a new or empty one, or one that a
    build made (its template.yaml has sam build's SamResourceId), may be given."""
    named = named or f"--build-dir {build_dir}"
    if build_dir.is_file():
        raise WorkshopError(f"{named} is a file: give a folder for the build")
    entries = sorted(build_dir.iterdir()) if build_dir.is_dir() else []
    built = build_dir / "template.yaml"
    try:
        made_by_a_build = "SamResourceId" in built.read_text(encoding="utf-8", errors="replace")
    except OSError:
        made_by_a_build = False
    if entries and not made_by_a_build:
        shown = ", ".join(entry.name for entry in entries[:3]) + (
            ", ..." if len(entries) > 3 else ""
        )
        raise WorkshopError(
            f"{named} holds files that no build made ({shown}): sam build empties "
            "the folder it builds into, and they would be lost. Give a new or empty folder, or "
            "one that an earlier build made."
        )


def _quiet(_line: str) -> None:
    pass


def _build(
    project_dir: Path,
    build_dir: Path | None,
    sam: str | os.PathLike[str] | None,
    extra_args: Sequence[str],
    clean_first: bool,
    log: Callable[[str], None],
) -> int:
    executable = str(sam) if sam is not None else sam_executable()
    check_python(project_dir, extra_args)
    command = [executable, "build"]
    say_no_cached = False
    if build_dir is not None:
        build_dir = Path(os.path.abspath(build_dir))
        command += ["--build-dir", str(build_dir)]
        if not is_inside(build_dir, project_dir.resolve() / BUILD_FOLDER):
            refuse_a_folder_of_the_users(build_dir)
            # A cached build keeps `.aws-sam/deps` in the project whatever --build-dir says:
            # building elsewhere must not write into the synced folder at all. Said aloud, so
            # that whoever copies the command to `sam build` copies this too.
            command.append("--no-cached")
            say_no_cached = True
    elif (configured := configured_build_dir(project_dir)) is not None and not is_inside(
        configured, project_dir.resolve() / BUILD_FOLDER
    ):
        refuse_a_folder_of_the_users(configured, f"The samconfig's build_dir, {configured},")
    command += list(extra_args)
    with sam_environment() as env:
        owned = project_dir.resolve() / BUILD_FOLDER
        if clean_first and (build_dir is None or is_inside(absolute(build_dir), owned)):
            delete_build_folder(project_dir, build_dir, log=log)
        if say_no_cached:
            log(
                "Adding --no-cached: a cached build writes .aws-sam/cache and .aws-sam/deps "
                "into the project whatever --build-dir says (samconfig.toml: cached = false)."
            )
        log("Running: " + " ".join(["sam", *command[1:]]))
        return subprocess.run(command, cwd=project_dir, env=env).returncode
