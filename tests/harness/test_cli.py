"""The `workshop` command as a user meets it: its answers, its mistakes, its clean stop."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import (
    PROBE_APP,
    assert_one_line_error,
    fetch_json,
    held_ports,
    here,
    workshop,
)
from workshop import manifest, served
from workshop.local.local_aws import LocalAWS
from workshop.local.state_lock import StateLock

REPO = manifest.REPO_ROOT
NAMED = ("Function:", "Role:", "Table:")  # the names `up` prints, one a line


def test_stages_lists_the_manifest():
    out = workshop("stages").stdout.splitlines()
    ids = [line.split()[0] for line in out]
    assert ids == [stage.id for stage in manifest.stages()] + ["final"]


def test_a_wrong_stage_says_which_exist(capsys):
    result = here(capsys, "invoke", "99")
    assert_one_line_error(result, "no stage '99'", "01", "python run.py stages")


@pytest.mark.parametrize("command", [["up", ""], ["diff", "", "03"], ["race", " "]])
def test_an_empty_stage_is_refused_not_read_as_the_folder_one_stands_in(command, capsys):
    """PowerShell passes an unset `$stage` as "": never the final app, nor the folder here."""
    result = here(capsys, *command)
    assert_one_line_error(result, "an empty stage name", "01", "python run.py stages")


def test_a_folder_without_a_template_is_refused(tmp_path, capsys):
    assert_one_line_error(here(capsys, "up", str(tmp_path)), "no template.yaml")


def test_a_name_that_is_a_folder_or_a_path_gets_the_path_s_message(tmp_path, monkeypatch, capsys):
    """`up src` in a project: the folder is there, without a template; never `no stage 'src'`."""
    shutil.copytree(PROBE_APP, tmp_path / "app")
    (tmp_path / "app" / "src").mkdir(exist_ok=True)
    monkeypatch.chdir(tmp_path / "app")
    assert_one_line_error(
        here(capsys, "up", "src"),
        "error: src: no template.yaml there (the folder above, `.`, holds one); give a stage",
    )
    assert_one_line_error(here(capsys, "invoke", "nonexistent/path"), "path: no such folder")
    assert_one_line_error(
        here(capsys, "up", "template.yaml"), "template.yaml is a file: give the folder that holds"
    )
    assert_one_line_error(here(capsys, "up", "nonexistent"), "no stage 'nonexistent': choose one")


def test_a_broken_template_is_named(tmp_path, capsys):
    (tmp_path / "template.yaml").write_text("Resources:\n  X:\n    Type: AWS::EC2::Instance\n")
    assert_one_line_error(here(capsys, "invoke", str(tmp_path)), "AWS::EC2::Instance")


def test_an_invoke_that_lambda_refuses_is_one_line(tmp_path, capsys):
    """A reserved concurrency of 0 stops every invocation: Lambda's TooManyRequestsException."""
    shutil.copytree(PROBE_APP, tmp_path / "app")
    template = tmp_path / "app" / "template.yaml"
    text = template.read_text(encoding="utf-8")
    template.write_text(
        text.replace(
            "      Handler: app.handler\n",
            "      Handler: app.handler\n      ReservedConcurrentExecutions: 0\n",
            1,
        ),
        encoding="utf-8",
    )
    assert_one_line_error(
        here(capsys, "invoke", str(tmp_path / "app")),
        "Lambda refused the invoke (TooManyRequestsException): Rate Exceeded.",
    )


@pytest.mark.parametrize("port", ["http", "70000"])
def test_a_bad_port_is_explained(port):
    result = workshop("up", "01", "--port", port)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "try 3000" in result.stderr


@pytest.mark.parametrize("fresh", [(), ("--fresh",)], ids=["kept", "fresh"])
def test_a_port_in_use_is_one_line_with_what_to_do_and_forgets_nothing(capsys, fresh):
    stored = served.state_dir(manifest.project(str(PROBE_APP))) / "state.json"
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_text('{"tables": {}, "log_groups": {}}', encoding="utf-8")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = here(capsys, "up", str(PROBE_APP), "--port", str(port), *fresh)
    assert_one_line_error(result, f"port {port} is in use", "pick another port: --port ")
    assert stored.read_text(encoding="utf-8") == '{"tables": {}, "log_groups": {}}'


def test_invoke_prints_the_log_lines_and_the_response(capsys):
    event = PROBE_APP / "events" / "count.json"
    result = here(capsys, "invoke", str(PROBE_APP), "--event", str(event))
    assert result.returncode == 0, result.stderr
    assert "START RequestId:" in result.stdout and "REPORT RequestId:" in result.stdout
    assert '"statusCode": 200' in result.stdout


def test_invoke_with_no_stage_invokes_the_final_app_as_up_and_logs_take_it(
    capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    result = here(capsys, "invoke")
    assert result.returncode == 0, result.stderr
    assert "visit-counter-HelloWorldFunction-" in result.stdout  # the final app's stack name
    assert '"statusCode": 200' in result.stdout and "first visit" in result.stdout


def _start_up(*args: str) -> tuple[subprocess.Popen, list[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "workshop", "up", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            return process, lines
    raise AssertionError("workshop up did not start:\n" + "".join(lines))


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.CTRL_C_EVENT if os.name == "nt" else signal.SIGINT)
    rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0, rest
    return rest


def _names(lines: list[str]) -> list[tuple[str, str, str]]:
    """(kind, name, (logical id)) of each resource name that `up` printed."""
    printed = [line.split() for line in lines]
    return [tuple(words) for words in printed if words and words[0] in NAMED]


@pytest.mark.slow
def test_up_serves_prints_its_endpoints_stops_cleanly_and_remembers(capsys):
    # Port 0: the system's choice. A port found free beforehand may be taken by then.
    process, lines = _start_up(str(PROBE_APP), "--port", "0", "--fresh")
    try:
        banner = "".join(lines)
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/counter", banner)[1])
        assert port != 0
        names = _names(lines)  # as CloudFormation makes them: what to look for on AWS
        assert [(kind, logical_id) for kind, _, logical_id in names] == [
            ("Function:", "(ProbeFunction)"),
            ("Role:", "(ProbeFunctionRole)"),
            ("Table:", "(ItemsTable)"),
        ]
        for _, name, logical_id in names:
            assert re.fullmatch(rf"harness-app-{logical_id[1:-1]}-[A-Za-z0-9]{{12}}", name), name
        endpoint = next(x.split()[2] for x in lines if x.strip().startswith("Local AWS:"))
        assert endpoint.startswith("http://127.0.0.1:")
        # When it is ready, since the command started: a figure users can read off.
        assert re.fullmatch(r"Ready \d+\.\d\d s after the command started\.\n", lines[-2])
        assert fetch_json(f"http://127.0.0.1:{port}/behave/add")[1] == {"hits": 1}
        logs = here(capsys, "logs", str(PROBE_APP), "--filter", "START")
        assert logs.stdout.count("START RequestId:") == 1, logs
        # A table of the user's own, beside the template's: a restart will not have it.
        LocalAWS(endpoint_url=endpoint).client("dynamodb").create_table(
            TableName="scratch",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    finally:
        rest = _stop(process)
    assert "Stopped." in rest and "Traceback" not in rest
    assert rest.splitlines()[-1].startswith("Not kept: scratch, made outside the template")
    # The first visit is a cold start, and says what its init took.
    visits = [line for line in rest.splitlines() if " -> 200 (" in line]
    assert re.search(r"GET /behave/add -> 200 \(cold start: init \d+ ms, then \d+ ms\)$", visits[0])

    process, again = _start_up(str(PROBE_APP), "--port", "0")
    try:
        assert _names(again) == names  # a stack keeps its names from one start to the next
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/counter", "".join(again))[1])
        assert fetch_json(f"http://127.0.0.1:{port}/behave/add")[1] == {"hits": 2}
    finally:
        _stop(process)
    # In a process of its own, as the user runs it: a stopped stack's logs are its saved ones,
    # brought back into a fresh local AWS (this process's keeps other tests' events).
    saved = workshop("logs", str(PROBE_APP), "--filter", "START")
    assert "is not running" in saved.stdout and saved.stdout.count("START RequestId:") == 2
    # Terms in the wrong case match nothing, as on CloudWatch Logs: the user is told.
    lower = here(capsys, "logs", str(PROBE_APP), "--filter", "start requestid")
    assert lower.stdout.endswith(
        "(no log events match 'start requestid')\n(Filter patterns are case-sensitive, as in "
        "CloudWatch Logs: 2 events hold its terms in another case.)\n"
    )


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="Windows has no SIGHUP")
def test_closing_the_terminal_of_up_stops_it_as_ctrl_c_does(state_dir):
    """A closed terminal sends SIGHUP: `up` stops cleanly, saves what it stored, and leaves
    no marker saying that it still runs (which would refuse the next `up`)."""
    process, lines = _start_up(str(PROBE_APP), "--port", "0", "--fresh")
    port = int(re.search(r"http://127\.0\.0\.1:(\d+)/counter", "".join(lines))[1])
    assert fetch_json(f"http://127.0.0.1:{port}/behave/add")[1] == {"hits": 1}
    process.send_signal(signal.SIGHUP)
    rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0 and "Stopped." in rest and "Traceback" not in rest, rest
    (saved,) = state_dir.glob("**/state.json")  # the one stack's, saved as it stopped
    assert not (saved.parent / "running.json").exists()


@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="holding a port for one program needs SO_REUSEADDR")
def test_up_says_when_its_local_aws_cannot_have_its_usual_port():
    """Its AWS CLI lines of other runs name the usual port: a line says why this one differs."""
    with held_ports(1566, reserve=True) as port:  # the API's port free to `up` alone
        process, lines = _start_up(str(PROBE_APP), "--port", str(port), "--fresh")
        _stop(process)
    said = f"(port {port + 1566}, its usual one, is taken by another program)"
    assert said in "".join(lines), "".join(lines)


# The newcomer's path: what a curious attendee types beyond the README.


def run_py(*args: str, cwd: Path, env: dict[str, str] | None = None):
    """`python run.py ARGS` as a user types it, from `cwd` (run.py found from there)."""
    return subprocess.run(
        [sys.executable, str(REPO / "run.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_help_lists_every_command_in_the_words_users_type():
    result = workshop("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: python run.py ")
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("    ")}
    assert {"up", "invoke", "logs", "try", "hint", "check", "reset", "test", "notebook"} <= listed
    # run.py runs `test` and `notebook` itself; the module says so, in one line.
    assert_one_line_error(workshop("test"), "type `python run.py test`")


def test_diff_final_is_the_app_at_the_top_not_the_repository():
    result = workshop("diff", "04", "final")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    names = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("+++ ")}
    assert names and all(
        name.split("/", 1)[1] in ("template.yaml", "samconfig.toml")
        or name.startswith("final/src/")
        for name in names
    ), names
    last = manifest.stages()[-1].id
    assert workshop("diff", last, "final").stdout == (
        f"{last} and final have the same code and template.\n"
    )


def test_diff_says_binary_files_differ_without_decoding_them(tmp_path):
    for name, data in (("a", b"\x89PNG\r\n\xff"), ("b", b"\x89PNG\r\n\xfe")):
        shutil.copytree(PROBE_APP, tmp_path / name)
        (tmp_path / name / "logo.png").write_bytes(data)
    result = workshop("diff", str(tmp_path / "a"), str(tmp_path / "b"))
    assert result.returncode == 0, result.stderr
    assert f"Binary files {tmp_path / 'a'}/logo.png and {tmp_path / 'b'}/logo.png differ" in (
        result.stdout
    )


@pytest.mark.skipif(os.name == "nt", reason="a pipe whose reader is gone: POSIX")
@pytest.mark.parametrize("args", [("diff", "01", "final"), ("stages",), ("--help",)])
def test_a_reader_that_stops_reading_gets_no_traceback(args):
    """`python run.py diff ... | head`: the pipe closes while the command still writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # `head` has read its lines and gone
    try:
        done = subprocess.run(
            [sys.executable, "-m", "workshop", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    # As a command killed by SIGPIPE ends; argparse's own help ignores a closed pipe.
    assert done.returncode == (0 if args == ("--help",) else 141)


def test_paths_are_read_from_where_the_user_stands(tmp_path):
    copy = tmp_path / "my copy"
    copy.mkdir()
    # A template only this copy has, that the harness refuses at once: the check's verdict on
    # it shows which folder `.` was (the check itself is judged in tests/learn and tests/stages).
    (copy / "template.yaml").write_text("Resources:\n  X:\n    Type: AWS::EC2::Instance\n")
    checked = run_py("check", "02", "--path", ".", cwd=copy)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "Checking . against stage 02" in checked.stdout
    assert "The project does not start" in checked.stdout, checked.stdout
    assert "AWS::EC2::Instance" in checked.stdout, checked.stdout

    shutil.copy(PROBE_APP / "events" / "count.json", tmp_path / "my-event.json")
    shutil.copytree(PROBE_APP, tmp_path / "app")
    invoked = run_py(
        "invoke", "app", "--event", "my-event.json", cwd=tmp_path, env={"WORKSHOP_STATE_DIR": "s"}
    )
    assert invoked.returncode == 0, invoked.stdout + invoked.stderr
    assert '"statusCode": 200' in invoked.stdout


def test_a_stage_s_folder_given_as_a_path_is_that_stage():
    stages = REPO / "stages"
    assert manifest.project(str(stages / "02-decimal-bug")) == manifest.project("02")
    assert manifest.project(str(REPO)) == manifest.project("final")
    result = run_py("diff", "02", "02-decimal-bug", cwd=stages)
    assert result.stdout == "02 and 02-decimal-bug have the same code and template.\n"


def test_messages_name_run_py_as_typed_from_where_the_user_stands(monkeypatch):
    from workshop import learn

    assert learn.run_py() == "python run.py"
    monkeypatch.chdir(REPO / "stages")
    assert learn.run_py() == "python ../run.py"
    assert_one_line_error(
        run_py("hint", "99", cwd=REPO / "stages"), "no stage '99'", "python ../run.py stages"
    )


def test_up_prints_the_aws_cli_lines_for_bash_and_powershell():
    info = {"endpoint": "http://127.0.0.1:4321", "tables": {"T": "stage02-T"}}
    bash, powershell, then = (
        line.split(":", 1)[1].strip() for line in served.aws_cli_lines(info)[1:]
    )
    assert bash.startswith("export ")
    exported = dict(word.split("=", 1) for word in bash.split()[1:])
    assert set(exported) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}
    assert powershell == "; ".join(f'$env:{k}="{v}"' for k, v in exported.items())
    # The endpoint stays on the command line: in the environment, the harness itself would
    # take it for an endpoint of the user's (AWS_ENDPOINT_URL) after this `up` has stopped.
    assert "AWS_ENDPOINT_URL" not in bash
    assert then == ("aws dynamodb scan --table-name stage02-T --endpoint-url http://127.0.0.1:4321")


def test_up_ends_its_aws_cli_lines_with_a_command_for_every_stage(make_stack):
    """Stage 01 has no table: its `then:` line reads the function's logs."""
    for stage in ("01", "02"):
        project = manifest.project(stage)
        stack = make_stack(project.path, stack_name=project.stack_name)
        info = stack.describe()
        *_, then = served.aws_cli_lines(info)
        label, command = then.split(":", 1)
        assert label == "  then" and command.strip().endswith(f"--endpoint-url {info['endpoint']}")
        if info["tables"]:
            assert command.split()[:3] == ["aws", "dynamodb", "scan"]
            continue
        words = command.split()
        assert words[:3] == ["aws", "logs", "filter-log-events"]
        group = words[words.index("--log-group-name") + 1]
        fetch_json(stack.url())  # a visit: Lambda makes the group at the first, as on AWS
        stack.flush_logs()
        assert stack.aws.client("logs").filter_log_events(logGroupName=group)["events"]


@pytest.mark.slow
def test_logs_and_invoke_read_the_copy_that_up_serves_during_an_exercise(
    tmp_path, monkeypatch, capsys
):
    """`up` runs in a process of its own, as in the user's other terminal; the commands that
    find what it serves run here, and those that read what it saved in processes of theirs."""
    env = {"WORKSHOP_PLAYGROUND": str(tmp_path / "pg"), "WORKSHOP_STATE_DIR": str(tmp_path / "s")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert here(capsys, "try", "02").returncode == 0
    copy = tmp_path / "pg" / "02-decimal-bug"
    process = subprocess.Popen(
        [sys.executable, "-m", "workshop", "up", "--from", str(copy), "--port", "0", "--fresh"],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    banner = []
    for line in process.stdout:
        banner.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    try:
        for expected in ("Welcome! This is your first visit.", "Error interacting"):
            invoked = here(capsys, "invoke", "02")
            assert invoked.stdout.startswith(f"(Your copy {copy}, which `up --from` serves;")
            assert expected in invoked.stdout
        # A fix saved while `up` serves the copy is what the next visit runs, as after a deploy.
        url = re.search(r"API: +(\S+)", "".join(banner))[1]
        assert fetch_json(url)[0] == 500  # the bug: the count is a Decimal
        handler = copy / "src" / "app.py"
        handler.write_text(handler.read_text(encoding="utf-8") + "\n# saved\n", encoding="utf-8")
        assert fetch_json(url)[0] == 500  # the same code, but in a new environment
        template = copy / "template.yaml"
        template.write_text(template.read_text(encoding="utf-8") + "\n# saved\n", "utf-8")
        assert fetch_json(url)[0] == 500
    finally:
        rest = _stop(process)
    assert (
        " template.yaml changed: stop `up` (Ctrl-C) and start it again to apply it, as a deploy "
        "would" in rest
    ), rest
    lines = rest.splitlines()
    changed = next(line for line in lines if " changed: " in line)
    visit = lines[lines.index(changed) + 1]
    assert changed.endswith(
        " app.py changed: HelloWorldFunction runs it from this visit on, in new environments, "
        "as after a deploy"
    )
    assert " -> 500 (cold start: init " in visit, rest
    # Stopped, it is still the copy that ran last: its saved logs, not stage 02's (read in a
    # process of its own, whose local AWS holds only what the copy saved).
    logs = run_py("logs", "02", "--filter", "Decimal", cwd=REPO, env=env)
    assert logs.stdout.startswith(f"(Your copy {copy}, which ran last (what it saved);")
    assert "Object of type Decimal is not JSON serializable" in logs.stdout
    # A phrase, quoted as the message for an unquoted one says: the events with all its words.
    phrase = run_py("logs", "02", "--filter", "Decimal serializable", cwd=REPO, env=env)
    assert "Object of type Decimal is not JSON serializable" in phrase.stdout
    # `--from` names it, alone or with the stage it is a copy of.
    assert "Decimal" in run_py("logs", "--from", str(copy), cwd=REPO, env=env).stdout
    assert "Decimal" in run_py("logs", "02", "--from", str(copy), cwd=REPO, env=env).stdout


def test_from_takes_a_folder_never_a_stage_name(capsys, tmp_path, monkeypatch):
    assert_one_line_error(here(capsys, "up", "--from", "nonexist"), "nonexist: no such folder")
    assert_one_line_error(here(capsys, "logs", "--from", "02"), "02: no such folder")
    shutil.copytree(PROBE_APP, tmp_path / "app")
    monkeypatch.chdir(tmp_path / "app")
    assert_one_line_error(
        here(capsys, "up", "02", "--from", "src"),
        "error: --from src: no template.yaml there (the folder above, `.`, holds one); give the "
        "folder of your copy",
    )


def test_no_command_at_all_shows_the_help():
    result = workshop()
    assert result.returncode == 0 and result.stdout.startswith("usage: python run.py ")


def test_up_dot_serves_the_folder_the_user_stands_in(tmp_path):
    shutil.copytree(PROBE_APP, tmp_path / "app")
    process = subprocess.Popen(
        [sys.executable, str(REPO / "run.py"), "up", ".", "--port", "0"],
        cwd=tmp_path / "app",
        env={**os.environ, "WORKSHOP_STATE_DIR": str(tmp_path / "s")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    first = process.stdout.readline()
    for line in process.stdout:
        if line.startswith("Press Ctrl-C"):
            break
    _stop(process)
    assert first.startswith(f"Serving {(tmp_path / 'app').resolve()}, offline"), first


def test_clean_with_nothing_to_clean_says_which_folder(tmp_path):
    copy = shutil.copytree(PROBE_APP, tmp_path / "app")
    result = workshop("clean", str(copy))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Nothing to clean: there is no {copy / '.aws-sam'}."


def test_a_race_is_refused_on_a_stage_without_a_table(capsys):
    """Stage 01 counts in each environment's memory: no visit is lost to a race there."""
    result = here(capsys, "race", "01", "--visits", "2")
    assert_one_line_error(result, "stage 01", "no table", "memory", "stage 03 on")
    assert result.stdout == ""  # refused before a stack was started


def test_a_race_ends_with_its_table_and_a_sentence_as_stage_05_s_readme_says(capsys):
    result = here(capsys, "race", "05", "--clients", "1", "--visits", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "Racing 1 client x 1 visit, one after another, on one session..." in lines
    assert lines[-3].split() == ["clients", "visits", "each", "sent", "counted", "lost"]
    assert lines[-2].split() == ["1", "1", "1", "1", "0"]
    assert lines[-1] == "Every visit answered 200 was counted."
    readme = (manifest.find("05").path / "README.md").read_text(encoding="utf-8")
    assert "the table at the end, and the sentence under it" in " ".join(readme.split())


def test_logs_prints_each_event_s_time_as_sam_logs_does():
    """SAM CLI's own formatting of a log event's time, run here as the reference."""
    from samcli.lib.utils.time import timestamp_to_iso

    from workshop.local.cloudwatch_logs import StoredEvent, format_event

    stream = "2026/12/02/[$LATEST]0"
    event = StoredEvent(group="/aws/lambda/f", stream=stream, timestamp=1796178954123, message="hi")
    assert format_event(event) == f"{stream} {timestamp_to_iso(1796178954123)} hi"


@pytest.mark.parametrize(("event", "given"), [("null", "NoneType"), ("[]", "list")])
def test_invoke_hands_any_json_event_to_the_handler_as_it_is(capsys, tmp_path, event, given):
    """As Lambda does, and `sam local invoke --event`: null and [] too, not {} in their place
    (the probe's handler calls event.get, so they fail in it, as on Lambda)."""
    path = tmp_path / "event.json"
    path.write_text(event, encoding="utf-8")
    result = here(capsys, "invoke", str(PROBE_APP), "--event", str(path))
    assert result.returncode == 1
    assert f"'{given}' object has no attribute 'get'" in result.stdout


def test_invokes_at_once_take_turns_with_what_the_project_stored(monkeypatch, tmp_path):
    """Each `invoke` loads what the project stored, runs and writes it back: two at once would
    each write back their own count, and a visit answered 200 would be lost. They take turns."""
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    command = [sys.executable, "-m", "workshop", "invoke", "05"]
    running = [
        subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in running]
    assert [process.returncode for process in running] == [0, 0], outputs
    counts = [int(re.findall(rb'visit_count\\": (\d+)', out)[-1]) for out, _ in outputs]
    assert sorted(counts) == [1, 2]
    # A process of its own: this one's moto may hold stage 05's table from another test.
    assert re.findall(r'visit_count\\": (\d+)', workshop("invoke", "05").stdout) == ["3"]


def test_up_while_another_command_uses_what_the_project_stored_says_so(
    capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    held = StateLock(served.state_dir(manifest.project("05")), wait=0)
    held.acquire()
    try:
        result = here(capsys, "up", "05", "--port", "0")
    finally:
        held.release()
    assert_one_line_error(result, "is in use by another command (an `up` of it")


@pytest.mark.slow
def test_up_prints_the_api_key_that_an_api_asks_for(tmp_path):
    """An API whose routes require a key (SAM Auth ApiKeyRequired, with a usage plan) refuses a
    visit without one: `up` prints the key, as get-api-keys would show it on AWS."""
    project = tmp_path / "keyed"
    shutil.copytree(manifest.project("07").path, project)
    template = project / "template.yaml"
    text = template.read_text(encoding="utf-8")
    openapi = '      OpenApiVersion: "3.0.1"\n'
    assert text.count(openapi) == 1
    auth = "      Auth:\n        ApiKeyRequired: true\n        UsagePlan:\n"
    auth += "          CreateUsagePlan: PER_API\n"
    template.write_text(text.replace(openapi, openapi + auth), encoding="utf-8")
    process, lines = _start_up(str(project), "--port", "0", "--fresh")
    try:
        url = re.search(r"API: +(http://\S+)", "".join(lines))[1]
        (key,) = re.findall(r"API key: +([A-Za-z0-9]{40}) ", "".join(lines))
        assert fetch_json(url)[0] == 403
        assert fetch_json(url, headers={"x-api-key": key})[0] == 200
    finally:
        _stop(process)
