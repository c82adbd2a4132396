"""Which project a command reads, and what a running `python run.py up` tells the others.

`up` writes `running.json` in the project's state folder; `invoke` and `logs` read the project
that is served: the stage named, or during an exercise the learner's copy when that is what
`up --from` serves (or served last). `up` also prints how to point the user's own AWS CLI at
its local AWS.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from workshop import manifest
from workshop.errors import WorkshopError
from workshop.types import Invocation
from workshop.usage import as_typed

OWNER = "project.txt"  # the folder whose state a state folder holds

# Local AWS for the user's own AWS CLI and boto3: moto takes any keys, and the region is the
# harness's. Set in a terminal of the user's, they stand in for the real ones there only.
LOCAL_KEYS = (
    ("AWS_ACCESS_KEY_ID", "local"),
    ("AWS_SECRET_ACCESS_KEY", "local"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
)


def state_dir(project: manifest.Project) -> Path:
    """Where a project keeps what it stored between runs (WORKSHOP_STATE_DIR moves it).

    A stage's and the final app's are named after it. A folder of the user's is named after the
    folder too, but two folders of one name (two copies called `counter`) must not share one:
    the first to use the name keeps it, and notes its path there; another gets the name with a
    digest of its own path.
    """
    root = Path(os.environ.get("WORKSHOP_STATE_DIR") or manifest.REPO_ROOT / ".workshop")
    named = root / project.stack_name
    ours = {manifest.REPO_ROOT: manifest.FINAL_STACK}
    ours.update((stage.path, stage.stack_name) for stage in manifest.stages())
    if project.path in ours:
        return named
    mine = str(project.path.resolve())
    apart = root / f"{project.stack_name}-{hashlib.sha256(mine.encode()).hexdigest()[:8]}"
    # A copy called stage03 (or Stage03, the same folder where names ignore case): never the
    # stage's own.
    if project.stack_name.lower() in {name.lower() for name in ours.values()}:
        return apart
    owner = named / OWNER
    try:
        noted = owner.read_text(encoding="utf-8").strip()
    except OSError:  # not made yet, or made before owners were noted: this one takes it
        noted = ""
    if noted == "":
        with contextlib.suppress(OSError):  # noted when it can be; it is only a guard
            named.mkdir(parents=True, exist_ok=True)
            owner.write_text(mine + "\n", encoding="utf-8")
    if noted in ("", mine):
        return named
    return apart


def running(project: manifest.Project) -> dict | None:
    """What a live `python run.py up` of this project wrote about itself, or None."""
    marker = state_dir(project) / "running.json"
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
        endpoint = urlsplit(info["endpoint"])
        with socket.create_connection((endpoint.hostname, endpoint.port), timeout=0.5):
            return info
    except (OSError, ValueError, KeyError):
        return None


def aws_cli_lines(info: dict) -> list[str]:
    """How to point the user's own AWS CLI or boto3 at the local AWS, as `up` prints it.

    Dummy keys and the region, set the way each shell sets variables, then a command with the
    endpoint on its command line: set in the environment it would outlive this `up` (whose port
    changes) and send the harness itself to a stopped endpoint (it honours AWS_ENDPOINT_URL).
    The command reads the first table, or without one (stage 01) the first function's logs.
    """
    endpoint = f"--endpoint-url {info['endpoint']}"
    if info.get("tables"):
        command = f"aws dynamodb scan --table-name {next(iter(info['tables'].values()))}"
    elif info.get("log_groups"):
        command = f"aws logs filter-log-events --log-group-name {info['log_groups'][0]}"
    else:
        return []  # nothing of the project's to look at
    bash = "export " + " ".join(f"{name}={value}" for name, value in LOCAL_KEYS)
    powershell = "; ".join(f'$env:{name}="{value}"' for name, value in LOCAL_KEYS)
    return [
        "Your AWS CLI or boto3 on the local AWS (no account needed): in another terminal, first",
        f"  bash:       {bash}",
        f"  PowerShell: {powershell}",
        f"  then:       {command} {endpoint}",
    ]


def request_line(request: str, status: int, inv: Invocation | None, why: str = "") -> str:
    """`up`'s line for one request: its time, status and, if invoked, how long it took; for an
    answer API Gateway made itself, why."""
    details = []
    if inv is not None:
        took = f"{inv.duration_ms:.0f} ms"
        if inv.cold_start:  # its init, as the REPORT's Init Duration (none if it failed)
            init = f"init {inv.init_ms:.0f} ms, then " if inv.init_ms is not None else ""
            took = f"cold start: {init}{took}"
        details.append(took)
    if why:
        details.append(f"API Gateway: {why}")
    detail = f" ({'; '.join(details)})" if details else ""
    return f"{time.strftime('%H:%M:%S')} {request} -> {status}{detail}"


def seconds_since_start() -> float:
    """How long ago this process started: for `up`, since the user ran `python run.py up`.

    On macOS and Linux run.py becomes the command (exec), so its start counts too; on Windows
    it starts the command as a child, and the figure leaves out run.py's own fraction of a
    second. On Linux the start is read from /proc against the boot clock, both in the kernel's
    ticks: psutil adds a boot time that it keeps to the whole second.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, ValueError, IndexError):  # no /proc: as elsewhere
            with open("/proc/self/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()  # after the command's name
            started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
            return time.clock_gettime(time.CLOCK_BOOTTIME) - started
    import psutil  # imported here: every other command starts without it

    return time.time() - psutil.Process().create_time()


def last_used(project: manifest.Project) -> float:
    """When a project last ran or saved (0 if never): which of two the user worked on last."""
    state = state_dir(project)
    times = [path.stat().st_mtime for path in state.glob("*.json") if path.is_file()]
    return max(times, default=0.0)


def project_served(args: argparse.Namespace) -> manifest.Project:
    """The project `logs` and `invoke` read: `--from PATH`, or the stage named; but during an
    exercise, the learner's copy when that is what `up --from` serves (or served last)."""
    from workshop import learn

    if args.source:
        return from_folder(args)
    project = manifest.project(args.stage)
    if note := _unnamed_while_a_stage_runs(args, project):
        print(note, flush=True)
    copy = learn.served_copy(args.stage) if args.stage else None
    if copy is None or running(project):
        return project
    copy_project = manifest.project(str(copy))
    live = running(copy_project)
    copied = learn.copy_here()
    here = copied is not None and learn.copy_of(copied) == copy
    if live or here or last_used(copy_project) > last_used(project):
        how = (
            "which `up --from` serves"
            if live
            else "where you stand"
            if here
            else "which ran last (what it saved)"
        )
        print(
            f"(Your copy {learn.shown(copy)}, {how}; for stage {args.stage}'s own, serve "
            f"that: `{learn.run_py()} up {args.stage}`.)",
            flush=True,
        )
        return copy_project
    print(
        f"(Stage {args.stage}'s own code; for your copy: "
        f"`{learn.run_py()} {args.command} {args.stage} --from {learn.shown(copy)}`.)",
        flush=True,
    )
    return project


def _unnamed_while_a_stage_runs(args: argparse.Namespace, project: manifest.Project) -> str | None:
    """With no stage named, `logs` and `invoke` read the final app: said when it is not the one
    running and a stage is (`up 02` in the other terminal), with the command for that stage."""
    from workshop import learn

    if args.stage or running(project):
        return None
    live = [stage.id for stage in manifest.stages() if running(manifest.project(stage.id))]
    if not live:
        return None
    return (
        f"(No stage named: this reads {project.label}, which is not running. Stage "
        f"{' and '.join(live)} {'is' if len(live) == 1 else 'are'} running: name it, as in "
        f"`{learn.run_py()} {args.command} {live[0]}`.)"
    )


def project_folder(typed: str, option: str = "--from") -> Path:
    """The folder a user named with `option` (as `typed`): one that holds a template.yaml, or a
    WorkshopError that says which folder to give."""
    from workshop import learn

    path = Path(typed).expanduser()
    if path.is_file():
        raise WorkshopError(
            f"{option} {typed} is a file: give the folder that holds it "
            f"(`{option} {learn.shown(path.resolve().parent)}`), the folder of your copy"
        )
    if not path.is_dir():
        raise WorkshopError(f"{option} {typed}: no such folder (give the folder of your copy)")
    if not (path / "template.yaml").is_file():
        above = manifest.template_above(path)
        held = f" (the folder above, `{learn.shown(above)}`, holds one)" if above else ""
        raise WorkshopError(
            f"{option} {typed}: no template.yaml there{held}; give the folder of your copy, the "
            "one that holds its template.yaml"
        )
    return path


def from_folder(args: argparse.Namespace) -> manifest.Project:
    """The project of `--from PATH`: a folder, never taken for a stage's name. A stage named
    as well must agree with it: the folder is the stage's own, or the learner's copy of it."""
    from workshop import learn

    path = project_folder(args.source)
    project = manifest.project(str(path.resolve()))
    if args.stage is None:
        return project

    stage = manifest.project(args.stage)
    copy = learn.served_copy(args.stage)
    if project.path in (stage.path, copy and copy.resolve()):
        return project
    run = f"{learn.run_py()} {args.command}"
    typed = as_typed(args.source)
    theirs = ""
    if copy is not None:  # the stage has an exercise, and the learner a copy of it
        theirs = f" (your copy of stage {manifest.find(args.stage).id} is {learn.shown(copy)})"
    raise WorkshopError(
        f"{args.stage} and --from {typed} name two different projects{theirs}: say "
        f"which one you mean, `{run} --from {typed}` for that folder, or "
        f"`{run} {args.stage}` for {stage.label}"
    )


def in_a_copy(args: argparse.Namespace) -> str | None:
    """What `up` says of the copy it does not serve: typed with no stage in an exercise's copy,
    it serves the final app; typed with a stage whose exercise the learner copied, the stage's
    own code (as `invoke` and `logs` say), so a fix seems to fail where it was never served."""
    from workshop import learn

    if args.source:
        return None
    if args.stage:
        copy = learn.served_copy(args.stage)
        if copy is None:
            return None
        return (
            f"(Stage {args.stage}'s own code; for your copy: "
            f"`{learn.run_py()} up --from {learn.shown(copy)}`.)"
        )
    copied = learn.copy_here()
    if copied is None:
        return None
    return (
        f"(You are in your copy of stage {copied.stage.id}; this serves the final app. To serve "
        f"your copy: `{learn.run_py()} up .`)"
    )
