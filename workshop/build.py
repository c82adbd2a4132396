"""`workshop clean` and `workshop build`: delete the project's `.aws-sam` safely, then `sam build`.

The story (stage 04): OneDrive's sync held files under `.aws-sam` while `sam build` tried to
replace them, so the build failed with a PermissionError until `.aws-sam` was deleted by hand.
`clean` is that hand deletion done carefully: it deletes only the project's own `.aws-sam`,
never follows a link out of it, clears read-only attributes, retries with backoff while
another program holds a file, and when it still cannot, names the file and says what to do.

Simulating the lock, offline and as root. Root ignores file permissions, and Linux lets
anyone delete a file that another process has open, so nothing real here can refuse a delete
the way Windows refuses one under OneDrive's hold. The honest stand-in fails the real calls
with a clearly marked PermissionError:

- `WORKSHOP_SIMULATE_LOCK=<path inside .aws-sam>[:<seconds>|:forever]` (default: forever)
  holds that file from the moment `clean` or `build` starts. `simulated_lock()` does the same
  in-process, for tests.
- `clean` sees the hold through its `remove` function (`remove_entry`, injectable).
- `build` passes the hold to `sam build` itself: it puts a generated `sitecustomize.py` on the
  child's PYTHONPATH that wraps `os.unlink`, `os.remove`, `os.rmdir`, `os.rename` and
  `os.replace`, so the real SAM CLI, in its real code path (it empties `.aws-sam/build` with
  `shutil.rmtree` at the start of every build), gets the PermissionError and reports it as it
  reports a real one. This needs a `sam` that runs on a Python honouring PYTHONPATH, as a
  pip-installed one does; it replaces any other `sitecustomize` for that one run. The shim
  imports this module in sam and in the Pythons that sam starts: keep its imports stdlib-only.

A held file is recognised by identity (device and inode), not by name: `shutil.rmtree` deletes
by a name relative to an open directory, and the identity matches however the path is spelt.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from workshop.errors import WorkshopError

BUILD_FOLDER = ".aws-sam"
LOCK_ENV = "WORKSHOP_SIMULATE_LOCK"
# How the parent hands its held files to the sam process: JSON [[absolute path, until], ...].
HELD_FILES_ENV = "WORKSHOP_HELD_FILES"
SIMULATED_HOLD = (
    "Permission denied (simulated: another process holds this file, as OneDrive does while it "
    "syncs)"
)
REMEDIES = (
    "pause OneDrive sync and try again, move the repository out of OneDrive, "
    "or build elsewhere with --build-dir pointing outside the synced folder"
)
_ON_WINDOWS = os.name == "nt"
_IMPORT_ROOT = Path(__file__).resolve().parents[1]  # the folder holding `workshop`
ATTEMPTS = 6
DELAY = 0.25  # seconds before the second try; it doubles each time: 6 tries span 7.75 s


@dataclass(frozen=True)
class SimulatedLock:
    """A file that 'another process' holds until `until` (a time.time(); inf: forever)."""

    path: Path
    until: float

    def holds(self, path: str | bytes | os.PathLike, dir_fd: int | None = None) -> bool:
        """True while held, if `path` (relative to `dir_fd` when given) is the held file."""
        if time.time() >= self.until:
            return False
        try:
            held = os.lstat(self.path)
            other = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
        except (OSError, ValueError):
            return False
        return os.path.samestat(held, other)


_locks: list[SimulatedLock] = []


def _raise_if_held(path: str | bytes | os.PathLike, dir_fd: int | None = None) -> None:
    if any(lock.holds(path, dir_fd) for lock in _locks):
        raise PermissionError(errno.EACCES, SIMULATED_HOLD, os.fsdecode(path))


@contextmanager
def simulated_lock(path: Path, seconds: float | None = None) -> Iterator[SimulatedLock]:
    """Hold `path`, here and in the `sam` that `build` runs, for `seconds` (None: for ever)."""
    until = float("inf") if seconds is None else time.time() + seconds
    lock = SimulatedLock(Path(os.path.abspath(path)), until)
    _locks.append(lock)
    try:
        yield lock
    finally:
        _locks.remove(lock)


def _lock_from_environment(project_dir: Path) -> AbstractContextManager[object]:
    """The `simulated_lock` that WORKSHOP_SIMULATE_LOCK asks for, or a no-op when it is unset."""
    spec = os.environ.get(LOCK_ENV, "").strip()
    if not spec:
        return nullcontext()
    relative, _, duration = spec.rpartition(":")
    if not relative or not re.fullmatch(r"forever|\d+(\.\d+)?", duration):
        relative, duration = spec, "forever"
    held = Path(relative)
    if held.is_absolute() or ".." in held.parts or held.drive:
        raise WorkshopError(
            f"{LOCK_ENV}={spec!r}: give a path relative to {BUILD_FOLDER}, such as "
            f"build/HelloWorldFunction/app.py:forever (or :5 to release it after 5 seconds)"
        )
    seconds = None if duration == "forever" else float(duration)
    return simulated_lock(project_dir / BUILD_FOLDER / held, seconds)


def _is_link(path: Path) -> bool:
    """True for a symlink or a Windows junction: both are unlinked, never followed."""
    if path.is_symlink():
        return True
    if hasattr(os.path, "isjunction"):  # Python 3.12+
        return os.path.isjunction(path)
    if not _ON_WINDOWS:
        return False
    try:
        return os.lstat(path).st_reparse_tag == stat.IO_REPARSE_TAG_MOUNT_POINT
    except OSError:
        return False


def remove_entry(path: Path) -> None:
    """Delete one file, link or empty directory, unless a simulated lock holds it."""
    _raise_if_held(path)
    if path.is_dir() and not _is_link(path):
        os.rmdir(path)
    else:
        # On Windows os.unlink also removes a directory symlink or junction, not its target.
        os.unlink(path)


class _Held(Exception):
    """A file that could not be deleted this time; worth another try."""

    def __init__(self, path: Path, error: OSError):
        super().__init__(path, error)
        self.path = path
        self.error = error


def _remove_writable(path: Path, remove: Callable[[Path], None]) -> None:
    try:
        remove(path)
        return
    except FileNotFoundError:
        return
    except PermissionError as error:
        if _is_link(path):  # chmod would change the link's target, outside .aws-sam
            raise _Held(path, error) from error
    # Windows refuses to delete a read-only file (git and pip leave some behind): clear the
    # attribute, then try once more. On Linux adding the write bit is harmless.
    try:
        os.chmod(path, stat.S_IMODE(os.lstat(path).st_mode) | stat.S_IWRITE)
        remove(path)
    except FileNotFoundError:
        return
    except OSError as error:
        raise _Held(path, error) from error


def _delete_tree(path: Path, remove: Callable[[Path], None]) -> None:
    """Delete `path` depth-first; a link is removed itself, never followed."""
    if not _is_link(path) and path.is_dir():
        for child in list(path.iterdir()):
            _delete_tree(child, remove)
    try:
        _remove_writable(path, remove)
    except OSError as error:
        # Windows answers "directory not empty" while a held file inside awaits deletion.
        if error.errno != errno.ENOTEMPTY:
            raise
        raise _Held(path, error) from error


def _absolute(path: Path) -> Path:
    """`path` made absolute with every link above it resolved, but not a link at its end."""
    # abspath removes '..' without touching the disk; a link above the target that leaves the
    # project then fails the containment checks, while a link at the end is only unlinked.
    path = Path(os.path.abspath(path))
    return path.parent.resolve() / path.name


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _owned_target(project_dir: Path, build_dir: Path | None) -> Path:
    """The absolute path to delete, after refusing anything but the project's own `.aws-sam`."""
    if not project_dir.is_dir():
        raise WorkshopError(f"{project_dir} is not a folder: give the SAM project to clean")
    project = project_dir.resolve()
    owned = project / BUILD_FOLDER
    target = _absolute(owned if build_dir is None else build_dir)
    if _inside(target, owned):
        return target
    if target == project or target in project.parents:
        problem = "is the project folder itself (or contains it)"
    elif project in target.parents:
        problem = f"is not the project's {BUILD_FOLDER} nor inside it"
    else:
        problem = "is outside the project"
    raise WorkshopError(
        f"Refusing to delete {target}: it {problem}; clean deletes only {owned} and what is in "
        f"it (sam build empties a --build-dir elsewhere by itself)"
    )


def _clean(
    project_dir: Path,
    build_dir: Path | None,
    attempts: int,
    delay: float,
    remove: Callable[[Path], None],
    log: Callable[[str], None] | None,
) -> Path | None:
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    target = _owned_target(project_dir, build_dir)
    if not os.path.lexists(target):
        return None
    waited = 0.0
    for attempt in range(1, attempts + 1):
        try:
            _delete_tree(target, remove)
            return target
        except _Held as held:
            last = held
        except OSError as error:
            raise WorkshopError(f"Cannot delete {error.filename}: {error.strerror}") from error
        if attempt < attempts:
            pause = delay * 2 ** (attempt - 1)
            if log:
                log(f"{last.path} is held; trying again in {pause:g} s")
            time.sleep(pause)
            waited += pause
    raise WorkshopError(
        f"Cannot delete {last.path}: {last.error.strerror}. It was still held after {attempts} "
        f"tries over {waited:g} s: another program, such as OneDrive while it syncs, holds it. "
        f"To go on: {REMEDIES}."
    ) from last.error


def clean(
    project_dir: Path,
    build_dir: Path | None = None,
    *,
    attempts: int = ATTEMPTS,
    delay: float = DELAY,
    remove: Callable[[Path], None] = remove_entry,
    log: Callable[[str], None] | None = None,
) -> Path | None:
    """Delete the project's `.aws-sam` (or `build_dir` inside it); return what went, or None.

    A relative `build_dir` is taken from the current directory, as on any command line.
    While a file is held it tries `attempts` times, waiting `delay`, then twice as long each time.
    """
    with _lock_from_environment(project_dir):
        return _clean(project_dir, build_dir, attempts, delay, remove, log)


_TEMPLATE_NAMES = ("template.yaml", "template.yml")


def template_runtimes(template: Path) -> set[str]:
    """The `pythonX.Y` runtimes of the template's functions, Globals included."""
    # Imported here: this module is also loaded inside sam's child processes (see the module
    # docstring), whose Python need not have PyYAML.
    import yaml

    class TolerantLoader(yaml.SafeLoader):
        """Reads CloudFormation's short tags (!Ref, !Sub, ...) as plain values."""

    def plain(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> object:
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    TolerantLoader.add_multi_constructor("!", plain)
    try:
        doc = yaml.load(template.read_text(encoding="utf-8"), Loader=TolerantLoader) or {}
    except yaml.YAMLError as error:
        raise WorkshopError(f"{template} is not valid YAML: {error}") from error
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
                if _ON_WINDOWS
                else ""
            )
            raise WorkshopError(
                f"{template.name} asks for Runtime {runtime}, and `sam build` needs Python "
                f"{version} on PATH to build it: it looks for {runtime}, python and "
                f"python{version.split('.')[0]}, and none of them is {version}. Install Python "
                f"{version} and put it on PATH, or build in a container with --use-container."
                + windows
            )


@contextmanager
def sam_environment() -> Iterator[dict[str, str]]:
    """The environment for `sam`: no telemetry, and the simulated locks, if any, carried in."""
    env = dict(os.environ, SAM_CLI_TELEMETRY="0")
    if not _locks:
        yield env
        return
    with tempfile.TemporaryDirectory(prefix="workshop-lock-") as shim:
        Path(shim, "sitecustomize.py").write_text(
            "import sys\n"
            f"sys.path.insert(0, {str(_IMPORT_ROOT)!r})\n"
            "from workshop.build import hold_files_in_this_process\n"
            "del sys.path[0]\n"
            "hold_files_in_this_process()\n",
            encoding="utf-8",
        )
        env[HELD_FILES_ENV] = json.dumps([[str(lock.path), lock.until] for lock in _locks])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [shim, env.get("PYTHONPATH")]))
        yield env


def hold_files_in_this_process() -> None:
    """Make this process's deletes and renames of the held files fail (runs inside `sam`)."""
    held = json.loads(os.environ[HELD_FILES_ENV])
    _locks.extend(SimulatedLock(Path(path), until) for path, until in held)
    # shutil decides at import whether rmtree may use the dir_fd functions, by finding them in
    # os.supports_dir_fd: it is imported at the top of this module, before the wrapping below,
    # so sam's rmtree keeps its real code path.

    def one_path(real):
        @functools.wraps(real)
        def held_aware(path, *, dir_fd=None):
            _raise_if_held(path, dir_fd)
            return real(path, dir_fd=dir_fd)

        return held_aware

    def two_paths(real):
        @functools.wraps(real)
        def held_aware(src, dst, *, src_dir_fd=None, dst_dir_fd=None):
            _raise_if_held(src, src_dir_fd)
            _raise_if_held(dst, dst_dir_fd)  # replacing a held file fails on Windows too
            return real(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

        return held_aware

    os.unlink, os.remove, os.rmdir = map(one_path, (os.unlink, os.remove, os.rmdir))
    os.rename, os.replace = map(two_paths, (os.rename, os.replace))


def build(
    project_dir: Path,
    build_dir: Path | None = None,
    *,
    sam: str | os.PathLike[str] | None = None,
    extra_args: Sequence[str] = (),
    clean_first: bool = True,
    log: Callable[[str], None] | None = None,
) -> int:
    """Clean, then run `sam build` in `project_dir`; return sam's exit code.

    Cleans the project's `.aws-sam`, or `build_dir` when it is inside it. A `build_dir`
    elsewhere is not cleaned (sam empties it itself) and the project's `.aws-sam`, where the
    sync holds files, is left alone: that is the point of building elsewhere.
    `clean_first=False` runs `sam build` as the story's author did, to see it fail.
    """
    executable = str(sam) if sam is not None else sam_executable()
    check_python(project_dir, extra_args)
    command = [executable, "build"]
    if build_dir is not None:
        build_dir = Path(os.path.abspath(build_dir))
        command += ["--build-dir", str(build_dir)]
        if not _inside(build_dir, project_dir.resolve() / BUILD_FOLDER):
            # A cached build keeps `.aws-sam/deps` in the project whatever --build-dir says:
            # building elsewhere must not write into the synced folder at all. Said aloud, so
            # that whoever copies the command to `sam build` copies this too.
            command.append("--no-cached")
            if log:
                log(
                    "Adding --no-cached: a cached build writes .aws-sam/cache and .aws-sam/deps "
                    "into the project whatever --build-dir says (samconfig.toml: cached = false)."
                )
    command += list(extra_args)
    if log:
        log("Running: " + " ".join(["sam", *command[1:]]))
    with _lock_from_environment(project_dir), sam_environment() as env:
        owned = project_dir.resolve() / BUILD_FOLDER
        if clean_first and (build_dir is None or _inside(_absolute(build_dir), owned)):
            _clean(project_dir, build_dir, ATTEMPTS, DELAY, remove_entry, log)
        return subprocess.run(command, cwd=project_dir, env=env).returncode
