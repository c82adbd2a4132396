"""Every stage, and the final app, is a SAM project that `sam validate --lint` and `sam build` pass.

sam runs once for each distinct input (as many at once as there are cores) and builds into a
temporary folder, so nothing is written in the repository. `sam validate` reads template.yaml
and samconfig.toml (never src/), `sam build` all of the project's files: projects whose files
sam reads are byte-identical (the final app and the last stage, stages that change only src/)
get the one run of those bytes, which is the run each of them would get. The runs happen once
in the whole session, whichever xdist worker gets to them first, not once per worker.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from tests.helpers import lifecycle_findings, project_files, runtimes
from workshop import manifest
from workshop.local.sam_template import load

PROJECTS = [stage.id for stage in manifest.stages()] + [manifest.FINAL]
# What `sam validate --lint` reads of a project (its template, and samconfig.toml's defaults).
VALIDATE_READS = ("template.yaml", "samconfig.toml")


def sam_executable() -> str | None:
    """The venv's own `sam` (beside this Python) if it has one, else the first on PATH."""
    return shutil.which("sam", path=str(Path(sys.executable).parent)) or shutil.which("sam")


@dataclass
class SamRun:
    project: manifest.Project
    build_dir: Path
    validate: subprocess.CompletedProcess
    build: subprocess.CompletedProcess


def sam_in(sam: str, files: dict[str, bytes], folder: Path, *args: str):
    """Run `sam ARGS` in a copy of `files` made in `folder`; fail if sam writes in the copy.

    A copy, so that nothing here writes in the repository, and nothing a test running beside
    this one writes there (a README's `build 04`) can confuse it.
    """
    copy = folder / "project"
    for name, data in files.items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes(data)
    done = subprocess.run(
        [sam, *args],
        cwd=copy,
        env=dict(os.environ, SAM_CLI_TELEMETRY="0"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert not (copy / ".aws-sam").exists(), f"sam wrote in the project folder: sam {args}"
    return done


def validate_with(sam: str, files: dict[str, bytes], folder: Path):
    return sam_in(sam, files, folder, "validate", "--lint")


def build_with(sam: str, files: dict[str, bytes], folder: Path):
    # sam writes build.toml beside the build dir, so each build gets a scratch folder.
    # --no-cached: a cached build (`cached = true` in samconfig.toml) keeps dependencies in
    # the project's .aws-sam/deps, and no option moves that folder out of the repository.
    build_dir = folder / "build"
    return build_dir, sam_in(
        sam, files, folder, "build", "--no-cached", "--build-dir", str(build_dir)
    )


def distinct(inputs: dict[str, dict[str, bytes]]) -> dict[str, list[str]]:
    """{the first project of each distinct input: every project with that same input}."""
    groups: dict[tuple, list[str]] = {}
    for name, files in inputs.items():
        groups.setdefault(tuple(sorted(files.items())), []).append(name)
    return {names[0]: names for names in groups.values()}


def run_sam_once_per_input(sam: str, folder: Path) -> dict[str, tuple]:
    """{project: (build dir, build, validate)}, sam run once for each distinct input."""
    builds = {name: sam_project_files(manifest.project(name).path) for name in PROJECTS}
    validates = {
        name: {key: data for key, data in files.items() if key in VALIDATE_READS}
        for name, files in builds.items()
    }
    # As many at once as there are cores: more would only share them, and each sam's timeout
    # counts from its own start.
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        validated = {
            first: pool.submit(validate_with, sam, validates[first], folder / f"validate-{first}")
            for first in distinct(validates)
        }
        built = {
            first: pool.submit(build_with, sam, builds[first], folder / f"build-{first}")
            for first in distinct(builds)
        }
        validate_of = {
            n: validated[f].result() for f, ns in distinct(validates).items() for n in ns
        }
        build_of = {n: built[f].result() for f, ns in distinct(builds).items() for n in ns}
    return {name: (*build_of[name], validate_of[name]) for name in PROJECTS}


@pytest.fixture(scope="module")
def sam_runs(tmp_path_factory, once_per_session) -> dict[str, SamRun]:
    sam = sam_executable()
    if sam is None:
        pytest.skip("sam (the AWS SAM CLI) is not installed: `pip install -e .` brings it")
    runs = once_per_session(
        "sam-runs", lambda: run_sam_once_per_input(sam, tmp_path_factory.mktemp("sam"))
    )
    return {
        name: SamRun(manifest.project(name), build_dir, validate, build)
        for name, (build_dir, build, validate) in runs.items()
    }


def output(run: subprocess.CompletedProcess) -> str:
    return f"exit {run.returncode}\n{run.stdout}\n{run.stderr}"


@pytest.mark.parametrize("name", PROJECTS)
def test_sam_validate_lint_passes_until_the_runtime_is_deprecated(sam_runs, name):
    """Today's verdict: valid while the runtime is supported; from its deprecation date on,
    the one finding about the runtime that cfn-lint's data says (test_runtime_lifecycle)."""
    run = sam_runs[name]
    today = date.today()
    expected = set().union(*(lifecycle_findings(runtime, today) for runtime in runtimes(name)))
    if not expected:
        assert run.validate.returncode == 0, output(run.validate)
        assert "is a valid SAM Template" in run.validate.stdout, output(run.validate)
        return
    assert run.validate.returncode != 0, output(run.validate)
    assert set(re.findall(r"\[([EWI]\d{4}): ", run.validate.stdout)) == expected, output(
        run.validate
    )


@pytest.mark.parametrize("name", PROJECTS)
def test_sam_build_passes_and_packages_the_handler(sam_runs, name):
    run = sam_runs[name]
    assert run.build.returncode == 0, output(run.build)
    assert "Build Succeeded" in run.build.stdout, output(run.build)
    assert (run.build_dir / "template.yaml").is_file()
    functions = load(run.project.path / "template.yaml", stack_name="check").functions
    assert functions
    for function in functions.values():
        # The module that Handler names (app.lambda_handler: app.py), as the build packaged it.
        module = function.handler.rsplit(".", 1)[0].replace(".", "/") + ".py"
        built = run.build_dir / function.logical_id / module
        assert built.read_bytes() == (function.code_dir / module).read_bytes()


def sam_project_files(root: Path) -> dict[str, bytes]:
    """What sam reads to build, and what each file holds."""
    return {name: path.read_bytes() for name, path in project_files(root).items()}


def test_the_final_app_is_the_last_stage():
    last = manifest.stages()[-1]
    final = sam_project_files(manifest.REPO_ROOT)
    staged = sam_project_files(last.path)
    assert "template.yaml" in final
    assert "src/app.py" in final
    assert sorted(final) == sorted(staged), f"files differ from stages/{last.folder}"
    for name in final:
        assert final[name] == staged[name], f"{name} differs from stages/{last.folder}/{name}"
