"""Set up and run the workshop with one command: nothing to activate, nothing else to install.

    python run.py up          first run: makes .venv and installs what it uses, then starts
    python run.py test        the test suite (pytest; extra arguments go to pytest)
    python run.py notebook    JupyterLab on notebooks/ (`notebook 05`: on stage 05's)
    python run.py --help      every command
    python run.py ARGS...     any other workshop command: the same as `python -m workshop ARGS...`

(On Windows `py run.py up` works too; on macOS and Linux `python3 run.py up`.)

Every command first makes sure the virtual environment is ready (`--help` before it is set up is
answered without it: the workshop's parser needs the standard library only):
- it is created with the Python that runs this file (3.11 or newer) when it is missing;
- the packages that attendees use are installed from requirements.lock, with their hashes
  checked, and this repository is installed into it in editable mode, so edits to workshop/
  apply at once; `test` adds, once, the rest of the same lock: what only the tests use
  (pyproject.toml's `test` extra, and what it needs: tools/lock_parts.py tells them apart);
- it is installed again when requirements.lock changed (what it held, it keeps) or another clone
  of the workshop set it up (one WORKSHOP_VENV for both), and made anew when it no longer works
  (for example after the folder was moved: a venv cannot be moved).
The command then runs with the venv's own Python, in the folder the user stands in (so that
paths they give are read from there; `test` and `notebook` run here), and its exit code is ours.

WORKSHOP_VENV: where the venv lives (default: .venv beside this file). Useful when this folder
is synced by OneDrive, Dropbox or iCloud: syncing the venv's 40,000 files (787 MB) is slow
and can lock them. For example, in PowerShell:  $env:WORKSHOP_VENV = "$HOME\\workshop-venv"
(or, for every new terminal: setx WORKSHOP_VENV "$HOME\\workshop-venv"), and in bash or zsh:
export WORKSHOP_VENV=~/workshop-venv. Use the same setting in every terminal (or none), and
point it only at a folder that is missing, empty, or an earlier venv of this workshop: a venv
that no longer works is deleted and made anew (other folders are refused, never deleted).

For maintainers: how requirements.lock is made, and split between attendees and the tests, and
the locks of the tools that the tests run (checkov, the AWS CLI), is told in tools/lock_parts.py.
This file uses the standard library only, and its syntax must stay readable by Python 3.6+ so
that older Pythons reach the version check below and say what is wrong.
"""

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

if sys.version_info < (3, 11):  # noqa: UP036  (run.py may be started by any Python)
    sys.stderr.write(
        "The workshop needs Python 3.11 or newer, but this is Python "
        f"{'.'.join(map(str, sys.version_info[:3]))} "
        f"({sys.executable}): install a newer one from python.org and run this command again "
        "with it.\n"
    )
    sys.exit(2)

REPO = Path(__file__).resolve().parent
LOCK_FILE = "requirements.lock"
# Tools the tests run, each from a lock of its own in a venv of its own: {name: lock file}.
TOOL_LOCKS = {"checkov": "tools/checkov.lock", "awscli": "tools/awscli.lock"}
# pytest-xdist's options for `python run.py test`, each unless the user names it (they are not in
# pyproject's addopts: there, `-p no:xdist` would make them an error). Six workers on two cores,
# as much of the suite waits (timeouts, stalls, subprocesses); tests handed out in small batches
# (a worker holds two), slow ones first (tests/conftest.py), so that all finish together.
XDIST_DEFAULTS = {"-n": "6", "--dist": "load", "--maxschedchunk": "1"}
SETTING_UP = False  # whether this run began installing something (see setting_up)
CTRL_C_HELD = "WORKSHOP_CTRL_C_HELD"  # see run_child and workshop/__main__.py
STAMP_FILE = ".workshop-setup.json"  # inside the venv: what it was installed from, and where
# Bump when the install steps change, so that existing venvs are installed again.
RECIPE = 2
TEST_HELP = (  # `test --help` before the venv holds what only the tests use, which pytest's needs
    "`python run.py test [ARGS...]` runs the tests with pytest (ARGS go to it, e.g. -k decimal). "
    "Its first run installs what only the tests use (about 700 MB: 193 MB into the venv, the "
    "rest into the venvs of two tools they run, checkov and the AWS CLI); then "
    "`python run.py test --help` shows pytest's own options."
)
NOTEBOOK_HELP = (
    "`python run.py notebook [STAGE] [ARGS...]` starts JupyterLab on notebooks/, a walkthrough "
    "per stage (with STAGE, such as 05 or benchmark, on that one's); ARGS go to `jupyter lab` "
    "(e.g. --port 8889, --no-browser). JupyterLab's own help:"
)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
# What a venv holds (its stamp says which): the lock's attendee part, or all of it (`test`).
ATTENDEE, EVERYTHING = "attendee", "everything"

# ADD: install the rest of the lock (what only the tests use) beside what is there.
READY, CREATE, RECREATE, INSTALL, ADD = "ready", "create", "recreate", "install", "add"

# Runs inside the venv (with -I: no current folder, no PYTHON* variables) to see whether it works.
# find_spec locates the workshop package without importing (running) it.
PROBE = (
    "import importlib.util, json, sys\n"
    "spec = importlib.util.find_spec('workshop')\n"
    "print(json.dumps({'prefix': sys.prefix, 'version': list(sys.version_info[:2]),"
    " 'workshop': spec.origin if spec else None}))\n"
)


class SetupError(Exception):
    """Setting up the venv failed; the message says what to do."""


# ---------------------------------------------------------------- pure logic (tested) ----------


def child_command(python, args):
    """The command that `python run.py ARGS...` runs, with the venv's `python`."""
    python = str(python)
    if args and args[0] == "test":
        named = {"-n" if a.startswith(("-n", "--nump")) else a.split("=")[0] for a in args}
        off = {"no:xdist", "-pno:xdist"} & named  # then any xdist option would be an error
        extra = [w for o, v in XDIST_DEFAULTS.items() if not off and o not in named for w in (o, v)]
        return [python, "-m", "pytest", *extra, *args[1:]]
    if args and args[0] == "notebook":
        # As root (a container's usual user) Jupyter refuses to start without being told.
        root = ["--allow-root"] if getattr(os, "geteuid", lambda: 1)() == 0 else []
        opened, rest = notebook_target(args[1:])
        return [python, "-m", "jupyter", "lab", opened, *root, *rest]
    return [python, "-m", "workshop", *args]


def notebook_target(args, folder=REPO / "notebooks"):
    """What `python run.py notebook ARGS...` opens in JupyterLab, and the ARGS left for it: a
    stage's notebook for a first word that names one (`05` or `5`, `benchmark`), else the
    folder; None for a first word that names none."""
    if not args or args[0].startswith("-"):
        return "notebooks", args
    word = args[0].lower().removesuffix(".ipynb")
    word = word.zfill(2) if word.isdigit() else word
    found = [path for path in sorted(folder.glob("*.ipynb")) if word in (path.stem, path.stem[:2])]
    return (f"notebooks/{found[0].name}" if found else None), args[1:]


def notebook_names(folder=REPO / "notebooks"):
    """The words `python run.py notebook` takes: each stage's number, and benchmark."""
    stems = [path.stem for path in sorted(folder.glob("*.ipynb"))]
    return [stem[:2] if stem[:2].isdigit() else stem for stem in stems]


def child_folder(args, here, repo=REPO):
    """Where the command runs: where the user stands, but `test` and `notebook` in the repo."""
    return Path(repo) if args and args[0] in ("test", "notebook") else Path(here)


def test_arguments(args, here):
    """`test`'s arguments with the paths given from where the user stands made absolute.

    pytest runs in the repository (its configuration and test paths are there); a path such as
    `tests/docs` or `../../tests/docs::test_x` is read from where the user typed it.
    """
    fixed = []
    for arg in args:
        path = arg.split("::")[0]
        if path and not arg.startswith("-") and (Path(here) / path).exists():
            arg = str(Path(os.path.abspath(Path(here) / path))) + arg[len(path) :]
        fixed.append(arg)
    return fixed


def venv_dir(environ, repo=REPO):
    """Where the venv lives: $WORKSHOP_VENV (~ expanded, made absolute) or .venv in the repo."""
    custom = environ.get("WORKSHOP_VENV", "").strip()
    return Path(os.path.abspath(os.path.expanduser(custom))) if custom else Path(repo) / ".venv"


def tool_venv_dir(venv, name):
    """Where a tool's own venv lives: inside the workshop's venv, so it goes where that goes."""
    return Path(venv) / "tools" / name


def venv_python(venv, windows=None):
    """The venv's Python: Scripts\\python.exe on Windows, bin/python elsewhere."""
    windows = os.name == "nt" if windows is None else windows
    return Path(venv) / ("Scripts/python.exe" if windows else "bin/python")


def lock_digest(data):
    """SHA-256 of the lock's bytes, the same with Windows (CRLF) and Unix (LF) line ends."""
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def norm_path(path):
    """A path in one spelling, for comparing (links resolved; case folded on Windows)."""
    return os.path.normcase(os.path.realpath(str(path)))


def is_within(path, folder):
    path, folder = norm_path(path), norm_path(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def make_stamp(digest, venv, repo, installed=EVERYTHING):
    return {
        "lock_sha256": digest,
        "venv": norm_path(venv),
        "repo": norm_path(repo),
        "recipe": RECIPE,
        "installed": installed,
    }


def decide(venv_exists, probe, stamp, digest, venv, repo, editable=True, wanted=EVERYTHING):
    """What the venv needs: READY, CREATE, RECREATE (delete and make anew), INSTALL (again), or
    ADD (the lock's part that only the tests use).

    probe: what PROBE printed in the venv, or None when its Python is missing or fails to run;
    stamp: the venv's stamp file as a dict, or None when it has none;
    editable: whether the venv holds this repository's workshop package (a tool's does not);
    wanted: what the command needs, ATTENDEE or EVERYTHING (what the venv has beyond it stays).
    """
    if not venv_exists:
        return CREATE
    if probe is None or tuple(probe.get("version", ())) < (3, 11):
        return RECREATE
    if stamp is None:  # a set-up that was interrupted, or a venv made by hand: finish it
        return INSTALL
    if stamp.get("venv") != norm_path(venv):
        return RECREATE  # moved or copied: its scripts point to the old place
    if stamp.get("repo") != norm_path(repo):
        # Another clone's venv (one WORKSHOP_VENV for both): its packages serve this one too,
        # once this clone's workshop is installed in place of the other's.
        return INSTALL
    if stamp.get("lock_sha256") != digest or stamp.get("recipe") != RECIPE:
        return INSTALL
    if editable and (
        not probe.get("workshop") or not is_within(probe["workshop"], Path(repo) / "workshop")
    ):
        return INSTALL
    if wanted == EVERYTHING and stamp.get("installed") != EVERYTHING:
        return ADD
    return READY


def to_install(action, stamp, wanted):
    """What set_up installs: what the command needs, or all the lock if the venv held it all."""
    held = stamp.get("installed") if action == INSTALL and stamp else None
    return EVERYTHING if EVERYTHING in (wanted, held) else ATTENDEE


def direct_to_this_machine(environ):
    """Add this machine to NO_PROXY: a proxy of the user's (HTTP_PROXY, on a company laptop)
    cannot reach the local AWS, the API or Jupyter on 127.0.0.1, for the notebooks either."""
    for name in ("NO_PROXY", "no_proxy"):
        hosts = [host for host in environ.get(name, "").split(",") if host.strip()]
        environ[name] = ",".join(hosts + [h for h in LOCAL_HOSTS if h not in hosts])


def exit_code(returncode):
    """Our exit code for a child's return code (a child killed by signal N gives 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


def onedrive_hint(repo, environ):
    """A tip for venvs inside a synced folder, or None."""
    if environ.get("WORKSHOP_VENV", "").strip():
        return None
    synced = ("onedrive", "dropbox", "icloud", "mobile documents")
    if any(word in str(repo).lower() for word in synced):
        return (
            "Tip: this folder looks synced (OneDrive, Dropbox or iCloud). If set-up is slow or "
            "fails with 'Access is denied', set WORKSHOP_VENV to a folder outside it "
            "(see the top of run.py)."
        )
    return None


# ---------------------------------------------------------------- side effects ----------------


def say(message):
    print(message, flush=True)


def read_stamp(venv):
    try:
        return json.loads((Path(venv) / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_stamp(venv, stamp):
    (Path(venv) / STAMP_FILE).write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")


def probe_venv(python):
    """Run PROBE in the venv; None when its Python is missing or broken."""
    if not Path(python).is_file():
        return None
    try:
        done = subprocess.run(
            [str(python), "-I", "-c", PROBE],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=str(Path(python).parent),
        )
        return json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def _make_writable_and_retry(function, path, _excinfo):
    os.chmod(path, stat.S_IWRITE)  # Windows refuses to delete read-only files
    function(path)


def remove_venv(venv):
    """Delete an old venv, refusing any folder that does not look like one."""
    venv = Path(venv)
    named = os.path.join(os.path.realpath(venv.parent), venv.name)  # where it is, unresolved
    if norm_path(venv) != os.path.normcase(named):  # a link (or junction): rmtree refuses it,
        raise SetupError(  # and chmod would reach the folder it names
            f"{venv} is a link to {os.path.realpath(venv)}, whose venv does not fit this folder: "
            "the link and that venv are left alone. Delete the link, or point WORKSHOP_VENV at "
            "a new or empty folder, then run the command again."
        )
    if not (venv / "pyvenv.cfg").is_file() and any(venv.iterdir()):
        raise SetupError(
            f"{venv} is not empty and is not a virtual environment, so it is left alone: "
            "point WORKSHOP_VENV at a new or empty folder."
        )
    if norm_path(sys.prefix) == norm_path(venv):
        raise SetupError(
            f"this venv ({venv}) must be made anew, but it is the one running run.py: run it "
            "with your usual Python instead (python run.py ...)."
        )
    try:
        if sys.version_info >= (3, 12):
            shutil.rmtree(venv, onexc=_make_writable_and_retry)
        else:
            shutil.rmtree(venv, onerror=_make_writable_and_retry)
    except OSError as error:
        raise SetupError(
            f"could not delete the old venv {venv} ({error}). Close Jupyter, the workshop and "
            "editors using it, or delete that folder by hand, then try again."
        ) from error


def run_quietly(command, what, capture=False):
    """Run a set-up step; with capture, its output is shown only if it fails."""
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    done = subprocess.run(
        [str(part) for part in command],
        cwd=str(REPO),
        env=env,
        capture_output=capture,
        text=capture,
        errors="replace" if capture else None,
    )
    if done.returncode != 0:
        if capture:
            say(done.stdout + done.stderr)
        raise SetupError(f"{what} failed (exit code {done.returncode}); see the messages above.")


def compile_workshop(python):
    """Compile the workshop's modules, as pip compiles what it installs: every command, and every
    Lambda environment's runtime, then reads them, even where PYTHONDONTWRITEBYTECODE (which
    Docker images often set) keeps Python from writing them itself. Never in the way: a module
    that does not compile says so when it is run."""
    with contextlib.suppress(OSError):  # no Python to compile with: the next command says so
        subprocess.run(
            [str(python), "-m", "compileall", "-q", "-q", str(REPO / "workshop")],
            cwd=str(REPO),
            capture_output=True,
        )


def create_venv(venv):
    try:
        run_quietly([sys.executable, "-m", "venv", venv], "Creating the venv")
    except SetupError as error:
        raise SetupError(
            f"{error} On Debian or Ubuntu, install the venv module first "
            "(sudo apt install python3-venv)."
        ) from error


def install_lock(venv, lock, name=None):
    """Install a hash-pinned lock into the venv: its own pip first, then every package."""
    pip_install = [venv_python(venv), "-m", "pip", "install", "-q"]
    text = Path(lock).read_text(encoding="utf-8")
    pip_entry = lock_parts().parse_lock(text).get("pip", (None,))[0]
    if pip_entry:  # the locked pip first: older ones mishandle the lock (extras in hash mode)
        bootstrap = Path(venv) / "pip-from-lock.txt"
        bootstrap.write_text(pip_entry + "\n", encoding="utf-8")
        run_quietly(
            [*pip_install, "--require-hashes", "--no-deps", "-r", bootstrap], "Updating pip"
        )
    run_quietly([*pip_install, "--require-hashes", "-r", lock], f"Installing {name or lock.name}")


def lock_parts():
    """tools/lock_parts.py, which reads the locks: loaded by its path (it is no package)."""
    try:
        spec = importlib.util.spec_from_file_location("lock_parts", REPO / "tools/lock_parts.py")
        parts = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(parts)
    except OSError as error:
        raise SetupError(
            f"cannot read tools/lock_parts.py ({error.strerror or error}): is this a full copy "
            "of the repository?"
        ) from error
    return parts


def split_lock():
    """(the lock's attendee part as a requirements file, its size, the tests' part's size)."""
    parts = lock_parts()
    try:
        return parts.split_lock(REPO / LOCK_FILE, REPO / "pyproject.toml")
    except (OSError, ValueError, KeyError) as error:  # tomllib's errors are ValueErrors
        raise SetupError(
            f"cannot tell which packages to install ({error!r}) from {LOCK_FILE}, "
            "pyproject.toml and tools/lock_parts.py: is this a full copy of the repository?"
        ) from error


def setting_up():
    """From now on, an interrupted command left the set-up unfinished (main says so)."""
    global SETTING_UP
    SETTING_UP = True


def set_up(venv, action, digest, installed):
    setting_up()
    python = venv_python(venv)
    if action == RECREATE:
        say(f"The venv in {venv} no longer fits this folder or does not work: making it anew...")
        remove_venv(venv)
    if action in (CREATE, RECREATE):
        say(f"Setting up {venv} (first run only, takes a minute or two)...")
        hint = onedrive_hint(REPO, os.environ)
        if hint:
            say(hint)
        create_venv(venv)
    elif action == INSTALL:
        say(f"Updating {venv} to match this folder and its requirements.lock...")
    attendee_part, attendee_count, test_count = split_lock()
    if installed == EVERYTHING:  # pip keeps what is there already, at its locked version
        which = f"the {test_count} that only the tests use" if action == ADD else "all of them"
        say(f"Installing the locked packages: {which}...")
        install_lock(venv, REPO / LOCK_FILE)
    else:
        say(f"Installing the locked packages: the {attendee_count} that the workshop uses...")
        subset = Path(venv) / "requirements-attendee.txt"
        subset.write_text(attendee_part, encoding="utf-8")
        install_lock(venv, subset, f"{LOCK_FILE} (the part that the workshop uses)")
    if action != ADD:
        say("Installing the workshop itself (editable)...")
        run_quietly(
            [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", REPO],
            "Installing the workshop",
            capture=True,  # setuptools' warnings about pyproject.toml are not for attendees
        )
    compile_workshop(python)
    write_stamp(venv, make_stamp(digest, venv, REPO, installed))
    say("Installed.")


def read_digest(lock):
    try:
        return lock_digest((REPO / lock).read_bytes())
    except OSError as error:
        message = f"cannot read {lock} ({error}); is this a full copy of the repository?"
        raise SetupError(message) from error


def ensure_venv(environ=os.environ, wanted=ATTENDEE):
    """Make the venv ready for a command that needs `wanted` if it is not; return its Python."""
    venv = venv_dir(environ)
    if venv.exists() and not venv.is_dir():
        raise SetupError(
            f"WORKSHOP_VENV names {venv}, which is a file, not a folder: point it at a new or "
            "empty folder (or leave it unset, for .venv beside run.py)."
        )
    python = venv_python(venv)
    digest = read_digest(LOCK_FILE)
    exists = venv.is_dir() and any(venv.iterdir())
    probe = probe_venv(python) if exists else None
    stamp = read_stamp(venv) if exists else None
    action = decide(exists, probe, stamp, digest, venv, REPO, wanted=wanted)
    if action != READY:
        set_up(venv, action, digest, to_install(action, stamp, wanted))
    return python


def ensure_tool(venv, name, lock):
    """Make a tool's own venv ready if it is not (as ensure_venv does); return its Python."""
    tool = tool_venv_dir(venv, name)
    python = venv_python(tool)
    digest = read_digest(lock)
    exists = tool.is_dir() and any(tool.iterdir())
    probe = probe_venv(python) if exists else None
    stamp = read_stamp(tool) if exists else None
    action = decide(exists, probe, stamp, digest, tool, REPO, editable=False)
    if action == READY:
        return python
    setting_up()
    if action == RECREATE:
        remove_venv(tool)
    if action in (CREATE, RECREATE):
        say(f"Setting up {name} for the tests in {tool} (its own venv; about half a minute)...")
        create_venv(tool)
    else:
        say(f"Updating {tool} to match {lock}...")
    install_lock(tool, REPO / lock)
    write_stamp(tool, make_stamp(digest, tool, REPO))
    return python


def run_child(command, cwd, replace=None):
    """Run the command in the foreground and return our exit code for it.

    On macOS and Linux this process becomes the command (exec): Ctrl-C, a `kill` of this
    process id and the exit code all reach it and come from it, as if it had been typed.
    Windows has no such exec, so there the command runs as a child: Ctrl-C reaches it too
    (same console), which decides when to stop; meanwhile this process ignores Ctrl-C and
    waits, so that no traceback of ours gets in the way.
    """
    if replace is None:
        replace = os.name != "nt"
    if replace:
        sys.stdout.flush()
        sys.stderr.flush()
        os.chdir(cwd)
        if (
            command[1:3] == ["-m", "workshop"]
            and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
        ):
            # Handed over with Ctrl-C ignored, and told so: one pressed while the next Python
            # starts (its site module) would end it with a traceback; the workshop's entry
            # point takes Ctrl-C back as its first step.
            os.environ[CTRL_C_HELD] = "1"
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.execv(command[0], command)  # returns only by raising OSError
    process = subprocess.Popen(command, cwd=str(cwd))
    # Only now: a child started while SIGINT is ignored would ignore Ctrl-C too.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        while True:
            try:
                return exit_code(process.wait())
            except KeyboardInterrupt:  # one that arrived before the line above
                continue
    finally:
        signal.signal(signal.SIGINT, previous)


def help_before_setup(args):
    """`--help` of a workshop command, typed before the venv is set up: answered by this
    Python, as the workshop's parser needs nothing beyond the standard library, where the
    first `--help` would wait minutes for the install. Its exit code."""
    # -S: no site-packages, so none of this Python's packages, broken or not, comes into it;
    # the package found on PYTHONPATH; run where the user stands, as the commands it shows are.
    paths = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    code = subprocess.run([sys.executable, "-S", "-m", "workshop", *args], env=environ).returncode
    with contextlib.suppress(OSError):  # on stderr: the help alone goes down a pipe (| more)
        sys.stderr.write(
            "(Nothing is installed yet: the first command other than --help makes the venv "
            "and installs what the workshop uses, a minute or two.)\n"
        )
    return code


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    asks_help = bool({"-h", "--help"} & set(args))
    helping = args[:1] == ["test"] and asks_help
    stamp = read_stamp(venv_dir(os.environ))
    if helping and (stamp or {}).get("installed") != EVERYTHING:
        return say(TEST_HELP) or 0  # not pytest's: it needs the tests' packages, installed first
    if asks_help and stamp is None and args[:1] != ["notebook"]:  # JupyterLab's needs the venv
        return help_before_setup(args)
    opened = notebook_target(args[1:])[0] if args[:1] == ["notebook"] else None
    if args[:1] == ["notebook"] and opened is None:
        names = notebook_names()
        print(
            f"error: no notebook for '{args[1]}': `python run.py notebook` opens them all, "
            f"`python run.py notebook {names[0]}` stage {names[0]}'s (one of "
            f"{', '.join(names[:-1])} or {names[-1]})",
            file=sys.stderr,
        )
        return 2
    try:
        python = ensure_venv(wanted=EVERYTHING if args[:1] == ["test"] else ATTENDEE)
        try:
            here = os.getcwd()
        except OSError:  # the folder the user stands in was deleted meanwhile
            here = str(REPO)
        if args and args[0] == "test":
            venv = venv_dir(os.environ)
            for name, lock in TOOL_LOCKS.items():
                ensure_tool(venv, name, lock)
            args = ["test", *test_arguments(args[1:], here)]
        if args[:1] == ["notebook"] and {"-h", "--help"} & set(args):
            say(NOTEBOOK_HELP)
        elif opened not in (None, "notebooks"):
            # JupyterLab's own lines name only its address, whose page does not open it.
            name = opened.rpartition("/")[2]
            say(f"Starting JupyterLab on notebooks/, to open {name} (also in its file browser).")
        direct_to_this_machine(os.environ)
        return run_child(child_command(python, args), child_folder(args, here))
    except SetupError as error:
        say(f"Set-up failed: {error}")
        return 1
    except KeyboardInterrupt:
        if SETTING_UP:
            say("Interrupted. Run the same command again to finish the set-up.")
        return 130


if __name__ == "__main__":
    sys.exit(main())
