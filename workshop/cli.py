"""`python run.py`: run the stages offline, like `sam local` and `sam logs`, without Docker or AWS.

Users type `python run.py COMMAND` (run.py sets up the venv, then runs this module in the folder
they stand in): every message names commands that way, and paths are read from where they are.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit

from workshop import interrupt, manifest, served, usage, user_files
from workshop.errors import WorkshopError
from workshop.types import DEFAULT_IDLE_TIMEOUT, MAX_CLIENTS, MAX_STALL, Invocation

# Seconds an `invoke` waits for another command using what the project stored: another invoke
# ends within its start and its function's Timeout; an `up` only when stopped (then: refused).
INVOKE_WAIT = 60.0


def _invocation_lines(inv: Invocation) -> list[str]:
    """The invocation's log lines, each under the request it belongs to."""
    return [f"  | {line}" for event in inv.logs for line in event.message.splitlines() or [""]]


def cmd_stages(args: argparse.Namespace) -> int:
    if args.markdown:
        print(manifest.markdown_table(), end="")
        return 0
    rows = [(stage.id, stage.folder, stage.title) for stage in manifest.stages()]
    rows.append((manifest.FINAL, "template.yaml, src/", "The final, deployable counter"))
    for ident, folder, title in rows:
        print(f"{ident:<6} {folder:<24} {title}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from workshop.local.stack import Stack

    project = served.from_folder(args) if args.source else manifest.project(args.stage)
    if note := served.in_a_copy(args):
        print(note, flush=True)
    if served.running(project):
        raise WorkshopError(
            f"{project.label} is already running (see the other terminal); "
            "stop it with Ctrl-C there first"
        )

    printing = threading.Lock()  # requests are served at once: each one's lines together
    # The API serves while the stack starts: a request's lines come after what says it started,
    # or, if it did not start, never (its error is what the user must read).
    announced, failed = threading.Event(), threading.Event()

    def report(request: str, status: int, inv: Invocation | None, why: str) -> None:
        lines = [served.request_line(request, status, inv, why)]
        if inv is not None and args.show_logs:
            lines += _invocation_lines(inv)
        announced.wait()
        if failed.is_set():
            return
        try:
            with printing:
                print("\n".join(lines), flush=True)
        except BrokenPipeError:
            pass  # `up | head` stopped reading: the API serves on, without the lines

    def new_code(function: str | None, files: list[str]) -> None:
        shown = ", ".join(files[:3]) + (", ..." if len(files) > 3 else "")
        what = (  # a function's code, or (None) the template, which is read as `up` starts
            f"{function} runs it from this visit on, in new environments, as after a deploy"
            if function
            else "stop `up` (Ctrl-C) and start it again to apply it, as a deploy would"
        )
        with contextlib.suppress(BrokenPipeError):  # `up | head` stopped reading, as above
            print(f"{time.strftime('%H:%M:%S')} {shown} changed: {what}", flush=True)

    interrupt.stop_on_ctrl_c()  # and save what it stored
    state_dir = served.state_dir(project)
    stack = Stack.for_project(
        project,
        port=args.port,
        idle_timeout=args.idle_timeout,
        state_dir=state_dir,
        fresh=args.fresh,
        on_request=report,
        on_code_change=new_code,
    )
    marker = state_dir / "running.json"
    try:
        stack.start()
    except BaseException:
        failed.set()
        announced.set()  # the requests served meanwhile are answered, not held for ever
        raise
    try:
        ready = served.seconds_since_start()
        marker.parent.mkdir(parents=True, exist_ok=True)
        info = stack.describe()
        marker.write_text(json.dumps({"pid": os.getpid(), **info}), encoding="utf-8")
        print(f"Serving {project.label}, offline (like `sam local start-api`, without Docker)")
        if info["url"]:
            url = urlsplit(info["url"])  # the deployed URL's path: the stage, then the route's
            stage, _, plain = url.path.lstrip("/").partition("/")
            print(f"  API:        {info['url']}   (stage {stage}, as in the deployed URL)")
            local = f"{url.scheme}://{url.netloc}/{plain}"
            print(f"              {local} works too, as with `sam local start-api` (on AWS: 403)")
        for logical_id, keys in info["api_keys"].items():
            for key in keys:
                print(f"  API key:    {key}   (send it as the x-api-key header: {logical_id} asks")
                print(
                    "              for one; on AWS: aws apigateway get-api-keys --include-values)"
                )
        print(f"  Local AWS:  {info['endpoint']}")
        wanted, port = stack.aws.port, urlsplit(info["endpoint"]).port
        if wanted and port != wanted:  # the AWS CLI lines of other runs name the other port
            print(f"              (port {wanted}, its usual one, is taken by another program)")
        for kind in ("functions", "roles", "tables"):
            for logical_id, name in info[kind].items():
                print(f"  {kind[:-1].capitalize() + ':':<11} {name}   ({logical_id})")
        for group in info["log_groups"]:
            print(f"  Logs:       {group}")
        for line in served.aws_cli_lines(info):
            print(line)
        # The harness's own start; the first request then starts the function's first
        # environment, and its line shows what that cold start took.
        print(f"Ready {ready:.2f} s after the command started.")
        print("Press Ctrl-C to stop.", flush=True)
        announced.set()
        while True:
            time.sleep(0.5)  # short sleeps: Ctrl-C is not delivered during a long wait on Windows
    except KeyboardInterrupt:
        pass
    finally:
        announced.set()
        with interrupt.finishing("stopping, saving what it stored"):
            unkept = stack.tables_not_kept()  # asked before the local AWS goes with the stack
            stack.stop()
            marker.unlink(missing_ok=True)
    print(f"Stopped. What it stored is kept in {state_dir} (start with --fresh to forget it).")
    if unkept:
        print(
            f"Not kept: {', '.join(unkept)}, made outside the template (with the AWS CLI, say): "
            "the next start makes the template's tables only, as a deploy of it would.",
            flush=True,
        )
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    from workshop.local.api_gateway import build_event
    from workshop.local.lambda_runtime import Throttled
    from workshop.local.local_aws import LocalAWS
    from workshop.local.stack import Stack

    project = served.project_served(args)
    running = served.running(project)
    aws = LocalAWS(endpoint_url=running["endpoint"]) if running else None
    stack = Stack.for_project(
        project,
        state_dir=None if running else served.state_dir(project),
        aws=aws,
        serve_api=False,
        state_wait=INVOKE_WAIT,
    )
    fn = stack.function(args.function)
    if args.event:
        text = user_files.read_text(Path(args.event), "an event file (JSON)")
        try:
            event = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WorkshopError(f"{args.event}: not valid JSON ({exc}); fix the file") from None
        except RecursionError:  # Python's parser, not JSON's rules: no event nests so deep
            raise WorkshopError(
                f"{args.event}: its JSON nests too deeply for Python to read (thousands of "
                "[ or { inside each other); an API Gateway event nests a few levels: fix the file"
            ) from None
    elif fn.routes:
        route = fn.routes[0]
        # The event API Gateway would send for a browser's visit to the route.
        event = build_event(
            route,
            route.method.replace("ANY", "GET"),
            route.path,
            [("User-Agent", "workshop invoke")],
            b"",
            {},
            "127.0.0.1",
            "invoke",
        )
    else:
        event = {}
    with stack:
        try:
            inv = stack.invoke(event, fn.logical_id)
        except Throttled as refused:  # as `aws lambda invoke` says it: TooManyRequestsException
            raise WorkshopError(
                f"Lambda refused the invoke (TooManyRequestsException): {refused}"
            ) from None
    for line in _invocation_lines(inv):
        print(line, flush=True)
    print(json.dumps(inv.error if inv.error else inv.payload, indent=2))
    return 1 if inv.error else 0


def cmd_logs(args: argparse.Namespace) -> int:
    from workshop.local import persistence
    from workshop.local.cloudwatch_logs import filter_events, format_event
    from workshop.local.local_aws import LocalAWS
    from workshop.local.sam_template import load

    project = served.project_served(args)
    template = load(project.path / "template.yaml", stack_name=project.stack_name)
    running = served.running(project)
    saved = served.state_dir(project) / "state.json"
    if not running and not saved.exists():
        where = f" --from {usage.as_typed(args.source)}" if args.source else f" {args.stage or ''}"
        command = f"{_run()} up{where.rstrip()}"
        raise WorkshopError(
            f"{project.label} has no logs yet: start it with `{command}` and visit its URL"
        )
    aws = LocalAWS(endpoint_url=running["endpoint"] if running else None).start()
    try:
        if not running:
            print(f"({project.label} is not running: these are the logs it saved when it stopped)")
            persistence.restore_logs(aws, saved)
        logs = aws.client("logs")
        groups = [fn.log_group for fn in template.functions.values()]
        # Blanks alone are no term: every line, as with no filter (or an empty one).
        pattern = (args.filter or "").strip() or None
        events = [e for group in groups for e in filter_events(logs, group, pattern)]
        # Only when nothing matched: whether the terms are there in another case.
        every = (
            [e for g in groups for e in filter_events(logs, g)] if pattern and not events else []
        )
    finally:
        aws.stop()
    for event in sorted(events, key=lambda e: e.timestamp):
        print(format_event(event))
    if not events:
        print("(no log events" + (f" match {pattern!r})" if pattern else ")"))
        if pattern and (other_case := _in_another_case(pattern, every)):
            print(
                f"(Filter patterns are case-sensitive, as in CloudWatch Logs: {other_case} "
                f"{'holds' if other_case == '1 event' else 'hold'} its terms in another case.)"
            )
    return 0


def _in_another_case(pattern: str, events: list) -> str | None:
    """How many events hold a pattern of plain terms and quoted phrases, case aside ("3
    events"), or None: none, or a pattern of another kind (JSON, -term, ?term)."""
    import shlex

    try:
        terms = shlex.split(pattern)
    except ValueError:  # a quote left open
        return None
    if not terms or any(term[:1] in "{[-?" for term in terms):
        return None
    found = sum(all(t.lower() in e.message.lower() for t in terms) for e in events)
    return f"{found} event{'s' * (found != 1)}" if found else None


def _diff_needs() -> str:
    """What `diff` says when a stage is missing: two are compared, the earlier first."""
    from workshop.learn import run_py

    return (
        f"diff compares two stages, the earlier first: `{run_py()} diff 02 03` shows what "
        f"stage 03 changed (`{run_py()} stages` lists them; `final` is the app at the top)"
    )


def cmd_diff(args: argparse.Namespace) -> int:
    from workshop import diff

    return diff.show(args.a, args.b)


def cmd_clean(args: argparse.Namespace) -> int:
    from workshop import build

    project = manifest.project(args.stage)
    removed = build.clean(project.path, args.build_dir, log=print, simulate_lock=args.simulate_lock)
    build_dir = args.build_dir or project.path / ".aws-sam"
    print(f"Removed {removed}" if removed else f"Nothing to clean: there is no {build_dir}.")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from workshop import build

    project = manifest.project(args.stage)
    return build.build(
        project.path,
        args.build_dir,
        clean_first=args.clean,
        log=print,
        simulate_lock=args.simulate_lock,
    )


def cmd_race(args: argparse.Namespace) -> int:
    options = {name: getattr(args, name) for name in ("clients", "visits", "stall")}
    log = interrupt.printing_until_ctrl_c()  # the clients' threads print no more after it
    try:
        from workshop.measure.race import race  # within: Ctrl-C may come while it is imported

        result = race(args.stage, **options, log=log)
    except KeyboardInterrupt:
        # `up`'s own store, that is: at an endpoint of the user's, the race shared its tables.
        kept = None if os.environ.get("AWS_ENDPOINT_URL") else f"what `{_run()} up` stored"
        return interrupt.stopped("race", kept and f"{kept} is as it was")
    print("\n".join(["", result.table(), *result.verdict()]))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from workshop.measure import bench

    if args.json:
        bench.prepare_json(args.json)
    log = interrupt.printing_until_ctrl_c()
    try:
        result = bench.bench(
            args.original,
            args.final,
            warm_visits=args.warm_visits,
            race_visits=args.race_visits,
            race_clients=args.clients,
            cold_starts=args.cold_starts,
            log=log,
        )
    except KeyboardInterrupt:
        written = f"; {args.json} was not written" if args.json else ""
        return interrupt.stopped(
            "benchmark", None, f"ran on a local AWS of its own, now gone{written}"
        )
    print()
    print(result.table())
    if args.json:
        bench.write_json(result, args.json)
        print(f"Wrote {args.json}")
    return 0


def cmd_clean_notebooks(args: argparse.Namespace) -> int:
    from workshop import notebooks

    paths = args.paths or sorted(notebooks.NOTEBOOKS_DIR.glob("*.ipynb"))
    for path in paths:
        if notebooks.clean(path):
            print(f"Cleaned {path.name}")
    print(f"{len(paths)} notebook{'s' if len(paths) != 1 else ''} clean.")
    return 0


def _run() -> str:
    from workshop import learn

    return learn.run_py()


def cmd_run_py_only(args: argparse.Namespace) -> int:
    """`test` and `notebook` are run.py's own: they need its venv set-up, not this module."""
    raise WorkshopError(f"type `{_run()} {args.command}`: run.py runs it")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog=_run(),
        description="Run the workshop's stages offline: API Gateway, Lambda, DynamoDB and "
        "CloudWatch Logs on 127.0.0.1, with no AWS account and no Docker.",
        epilog=f"`{_run()} COMMAND --help` says more about one command.",
    )
    # No command at all (`python run.py`): the help, which lists them all.
    top.set_defaults(run=lambda _args: top.print_help() or 0)
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=usage.CommandParser)
    stage_help = (
        f"a stage (01, 02, ...: see `{_run()} stages`), `final`, or a folder with a template.yaml"
    )

    stages = sub.add_parser("stages", help="list the stages")
    stages.add_argument("--markdown", action="store_true", help="as the README's table")
    stages.set_defaults(run=cmd_stages)

    up = sub.add_parser("up", help="serve a stage's API on 127.0.0.1 (like sam local start-api)")
    up.add_argument("stage", nargs="?", help=stage_help + " (default: final)")
    up.add_argument(
        "--from",
        dest="source",
        type=usage.path(usage.A_COPY),
        metavar="PATH",
        help=f"serve your own copy of a stage (see `{_run()} try`)",
    )
    up.add_argument("--port", type=usage.port, default=3000, help="HTTP port (default: 3000)")
    up.add_argument(
        "--idle-timeout",
        type=(idle := usage.seconds()),
        default=DEFAULT_IDLE_TIMEOUT,
        metavar="SECONDS",
        help=usage.limited(
            "reclaim an environment idle this long (a cold start follows)",
            idle,
            f"{DEFAULT_IDLE_TIMEOUT:.0f}",
        ),
    )
    up.add_argument("--fresh", action="store_true", help="forget what earlier runs stored")
    up.add_argument(
        "--quiet",
        dest="show_logs",
        action="store_false",
        help="print one line per request, without the function's log lines",
    )
    up.set_defaults(run=cmd_up)

    invoke = sub.add_parser("invoke", help="invoke a function once (like sam local invoke)")
    invoke.add_argument("stage", nargs="?", help=stage_help + " (default: final)")
    invoke.add_argument(
        "--from",
        dest="source",
        type=usage.path(usage.A_COPY),
        metavar="PATH",
        help="your own copy of a stage",
    )
    invoke.add_argument(
        "--event",
        type=usage.path("an event file (JSON)"),
        metavar="FILE",
        help="event JSON (default: a GET of its route)",
    )
    invoke.add_argument("--function", help="logical id of the function (default: the first)")
    invoke.set_defaults(run=cmd_invoke)

    logs = sub.add_parser("logs", help="a stage's CloudWatch Logs (like sam logs)")
    logs.add_argument("stage", nargs="?", help=stage_help + " (default: final)")
    logs.add_argument(
        "--from",
        dest="source",
        type=usage.path(usage.A_COPY),
        metavar="PATH",
        help="your own copy of a stage",
    )
    logs.add_argument(
        "--filter",
        metavar="TERM",
        help='a CloudWatch Logs filter pattern: a word, or "words in quotes" (all of them)',
    )
    logs.set_defaults(run=cmd_logs)

    bench = sub.add_parser("bench", help="measure the original counter and the final app")
    bench.add_argument("--original", default="03", help="the original counter (default: 03)")
    bench.add_argument("--final", default="final", help="the final app (default: final)")
    for flag, kind, default, metavar, text in (
        ("--warm-visits", usage.whole(2), 200, "N", "warm visits to each app, for the latencies"),
        (
            "--cold-starts",
            usage.whole(2),
            24,
            "C",
            "cold starts of each app, among the warm visits (at most N)",
        ),
        ("--race-visits", usage.whole(1), 3, "K", "visits by each client in each race"),
        (
            "--clients",
            usage.counts(MAX_CLIENTS),
            (1, 8, 32),
            "T,T,...",
            "concurrent clients in each race",
        ),
    ):
        bench.add_argument(
            flag,
            type=kind,
            default=default,
            metavar=metavar,
            help=usage.limited(text, kind, default),
        )
    bench.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    bench.set_defaults(run=cmd_bench)

    tidy = sub.add_parser("clean-notebooks", help="strip outputs from notebooks, for git")
    tidy.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="NOTEBOOK",
        help="the notebooks to clean (default: every one in notebooks/)",
    )
    tidy.set_defaults(run=cmd_clean_notebooks)

    diff = sub.add_parser("diff", help="what changed from one stage to another")
    diff.add_argument("a", help="the earlier stage")
    diff.add_argument("b", help="the later stage")
    diff.set_defaults(run=cmd_diff)
    diff.needs = _diff_needs

    race = sub.add_parser(
        "race", help="many clients visit one session at once: are visits lost? (a fresh stack)"
    )
    race.add_argument("stage", nargs="?", help=stage_help + " (default: final)")
    for flag, kind, default, metavar, text in (
        ("--clients", usage.whole(1, MAX_CLIENTS), 8, "N", "clients at once"),
        ("--visits", usage.whole(1), 10, "K", "visits by each client"),
        (
            "--stall",
            usage.seconds(MAX_STALL),
            None,
            "SECONDS",
            "DynamoDB answers up to SECONDS late",
        ),
    ):
        race.add_argument(
            flag,
            type=kind,
            default=default,
            metavar=metavar,
            help=usage.limited(text, kind, default),
        )
    race.set_defaults(run=cmd_race)

    for name, run, text in (
        ("clean", cmd_clean, "remove the project's .aws-sam, even while OneDrive holds it"),
        ("build", cmd_build, "clean, then sam build"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("stage", nargs="?", help=stage_help + " (default: final)")
        command.add_argument(
            "--build-dir",
            type=usage.path("a folder to build in", Path),
            metavar="DIR",
            help="build here instead of .aws-sam (e.g. outside OneDrive): a new or empty "
            "folder, or an earlier build's, since sam build empties it",
        )
        command.add_argument(
            "--simulate-lock",
            type=usage.path("a file in .aws-sam, as in build/HelloWorldFunction/app.py"),
            metavar="PATH[:SECONDS|:forever]",
            help="pretend another program (OneDrive) holds this file in .aws-sam, e.g. "
            "build/HelloWorldFunction/app.py: with :SECONDS it lets go after that many "
            "seconds, with :forever (the default) never; reproduces stage 04 on any machine",
        )
        command.set_defaults(run=run)
        if name == "build":
            command.add_argument(
                "--no-clean",
                dest="clean",
                action="store_false",
                help="run sam build as it is, without cleaning first",
            )
    from workshop import learn  # try, hint, check, reset: fix a stage yourself

    learn.add_commands(sub)
    for name, text in (
        ("test", "run every test (pytest; what follows goes to pytest, e.g. -k decimal)"),
        ("notebook", "open the notebooks in JupyterLab (`notebook 05`: on stage 05's)"),
    ):
        sub.add_parser(name, help=text, add_help=False).set_defaults(run=cmd_run_py_only)
    for command in sub.choices.values():  # whose usage a mistake in its arguments shows
        command.set_defaults(parser=command)
    return top


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command typed, read as `main` runs it; a mistake exits (2) with its usage, or raises."""
    top = parser()
    typed = sys.argv[1:] if argv is None else argv
    commands = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    mistake = usage.options_first(typed, commands.choices) or usage.unknown_command(
        typed, commands.choices
    )
    if mistake:
        top.error(mistake)
    args, extras = top.parse_known_args(argv)
    mistake = usage.unquoted_phrase(typed, args, extras)
    if mistake:
        raise WorkshopError(mistake)
    if extras and args.run is not cmd_run_py_only:  # run.py takes what those are given
        command = getattr(args, "parser", top)
        command.error(usage.not_understood(command, typed, args, extras))
    return args


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = lambda message, *_: f"warning: {message}\n"
    try:
        try:
            args = parse(argv)
            return args.run(args)
        finally:
            sys.stdout.flush()  # now, not at exit: a closed pipe (`| head`) is caught below
    except WorkshopError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader stopped reading (`| head`): nothing more to say, and nowhere to say it.
        # Python would complain again when it flushes stdout at exit: point it at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141 if os.name != "nt" else 1
