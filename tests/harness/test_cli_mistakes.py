"""The `workshop` command given what users get wrong: their own AWS setup, an event file, a
port. Each ends in one line that says what is wrong and how to mend it, never a traceback."""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import socket
from pathlib import Path

import pytest

from tests.helpers import PROBE_APP, assert_one_line_error, held_ports, here, workshop
from workshop import cli, manifest, served

# The user's own AWS setup: neither a stopped endpoint nor a profile may end in a traceback.


@pytest.fixture
def silent_endpoint(monkeypatch) -> str:
    """An AWS_ENDPOINT_URL where nothing answers: a port held by a socket that never listens."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{held.getsockname()[1]}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        yield url


@pytest.mark.parametrize(
    "command",
    [
        ("up", "02", "--port", "0"),
        ("invoke", "02"),
        ("logs", "02"),
        ("race", "05", "--visits", "1", "--clients", "1"),
        ("bench", "--warm-visits", "2", "--cold-starts", "2", "--race-visits", "1", "--clients=1"),
    ],
    ids=lambda command: command[0],
)
def test_an_endpoint_where_nothing_answers_says_so_and_how_to_mend_it(
    command, silent_endpoint, state_dir, capsys
):
    if command[0] == "logs":  # logs reads what the stage saved when it stopped: give it some
        saved = state_dir / manifest.project("02").stack_name / "state.json"
        saved.parent.mkdir(parents=True)
        saved.write_text('{"tables": {}, "log_groups": {}}', encoding="utf-8")
    assert_one_line_error(
        here(capsys, *command),
        f"nothing answers at AWS_ENDPOINT_URL={silent_endpoint} (",
        "bash: `unset AWS_ENDPOINT_URL`",
        "PowerShell: `Remove-Item Env:AWS_ENDPOINT_URL`",
    )


def test_the_users_aws_profile_and_config_are_not_read(tmp_path, monkeypatch):
    broken = tmp_path / "config"
    broken.write_text("[profile broken\nregion =", encoding="utf-8")
    for name, value in {
        "AWS_PROFILE": "nonexistent",
        "AWS_DEFAULT_PROFILE": "nonexistent",
        "AWS_CONFIG_FILE": str(broken),
        "AWS_SHARED_CREDENTIALS_FILE": str(broken),
    }.items():
        monkeypatch.setenv(name, value)
    result = workshop("invoke", "07")
    assert result.returncode == 0, result.stderr
    assert '\\"visit_count\\": 1' in result.stdout


def _event_in(tmp_path: Path, encoding: str) -> Path:
    """The probe's event, saved as a Windows tool saves it (`utf-16`: with its BOM, FF FE)."""
    event = tmp_path / f"event-{encoding}.json"
    text = (PROBE_APP / "events" / "count.json").read_text(encoding="utf-8")
    event.write_bytes(text.encode(encoding))
    return event


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16-le", "utf-16"])
def test_an_event_file_is_read_by_its_byte_order_mark(tmp_path, encoding, capsys):
    event = _event_in(tmp_path, encoding)
    if encoding == "utf-16-le":  # PowerShell 5.1's `>` and Out-File: UTF-16 LE with a BOM
        event.write_bytes(b"\xff\xfe" + event.read_bytes())
    result = here(capsys, "invoke", str(PROBE_APP), "--event", str(event))
    assert result.returncode == 0, result.stderr
    assert '"statusCode": 200' in result.stdout


def test_a_template_saved_as_utf_16_is_read(tmp_path, capsys):
    copy = shutil.copytree(PROBE_APP, tmp_path / "app")
    template = copy / "template.yaml"
    template.write_bytes(template.read_text(encoding="utf-8").encode("utf-16"))
    result = here(capsys, "invoke", str(copy), "--event", str(copy / "events" / "count.json"))
    assert result.returncode == 0, result.stderr


def test_an_event_file_the_user_got_wrong_is_one_line_naming_it(tmp_path, capsys):
    not_text = tmp_path / "latin-1.json"
    not_text.write_bytes('{"name": "Zoë"}'.encode("latin-1"))
    too_deep = tmp_path / "deep.json"
    too_deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    for event, says in (
        (tmp_path, "is a folder, not an event file"),
        (tmp_path / "missing.json", "no such file"),
        (not_text, "not UTF-8 text"),
        (too_deep, "its JSON nests too deeply for Python to read"),
    ):
        result = here(capsys, "invoke", str(PROBE_APP), "--event", str(event))
        assert_one_line_error(result, f"error: {event}", says)


def test_an_unreadable_event_file_is_named(tmp_path, monkeypatch, capsys):
    """As a file that another user owns (chmod would not stop root, who runs the tests here)."""
    event = _event_in(tmp_path, "utf-8")
    read_bytes = Path.read_bytes

    def refuse(path: Path) -> bytes:
        if path == event:
            raise PermissionError(13, "Permission denied", str(path))
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert cli.main(["invoke", str(PROBE_APP), "--event", str(event)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {event}: permission denied") and "Traceback" not in error


@pytest.mark.parametrize(
    ("port", "why"), [("80", "80 is a port kept for the system"), ("99999", "99999 is not a port")]
)
def test_a_port_below_1024_or_beyond_the_last_is_refused_saying_which(port, why):
    result = workshop("up", "01", "--port", port)
    assert result.returncode == 2, result.stderr
    assert f"{why}: use 1024-65535" in result.stderr, result.stderr


def test_a_port_in_use_suggests_one_that_is_free(capsys):
    with held_ports(1) as port:  # the port asked for and the one after it are taken
        result = here(capsys, "up", str(PROBE_APP), "--port", str(port))
        suggested = int(re.search(r"--port (\d+)", result.stderr).group(1))
        assert suggested not in (port, port + 1), result.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", suggested))  # it was free


# A stage and --from together: the README's words invite it. They must name one project.


@pytest.fixture
def copies(tmp_path, monkeypatch, state_dir, capsys) -> dict[str, Path]:
    """The learner's copies of exercises 02 and 05, in a playground of the test's own."""
    monkeypatch.setenv("WORKSHOP_PLAYGROUND", str(tmp_path / "pg"))
    for stage in ("02", "05"):
        assert here(capsys, "try", stage).returncode == 0
    return {"02": tmp_path / "pg" / "02-decimal-bug", "05": tmp_path / "pg" / "05-lost-updates"}


@pytest.mark.parametrize("command", ["logs", "invoke", "up"])
def test_a_stage_and_a_from_that_name_two_projects_say_which_to_drop(command, copies, capsys):
    assert_one_line_error(
        here(capsys, command, "05", "--from", str(copies["02"])),
        f"error: 05 and --from {copies['02']} name two different projects (your copy of stage "
        f"05 is {copies['05']}): say which one you mean, "
        f"`python run.py {command} --from {copies['02']}` for that folder, or "
        f"`python run.py {command} 05` for stage 05 (",
    )


def test_a_folder_with_a_space_is_quoted_in_the_commands_said(tmp_path, state_dir, capsys):
    """Pasted as printed, a suggested command must name the folder typed: quoted, as typed."""
    folder = tmp_path / "my copy"
    shutil.copytree(manifest.find("02").path, folder)
    assert_one_line_error(
        here(capsys, "logs", "--from", str(folder)),
        f'error: {folder} has no logs yet: start it with `python run.py up --from "{folder}"`',
    )
    assert_one_line_error(
        here(capsys, "invoke", "05", "--from", str(folder)),
        f'error: 05 and --from "{folder}" name two different projects: say which one you mean, '
        f'`python run.py invoke --from "{folder}"` for that folder, or ',
    )


@pytest.mark.parametrize("command", ["logs", "invoke"])
def test_no_stage_named_while_another_stage_runs_says_how_to_name_it(
    command, state_dir, monkeypatch, capsys
):
    """`up 02` in one terminal, `logs` in the other: the final app's logs (none) would puzzle."""
    two = manifest.find("02").path
    monkeypatch.setattr(
        served, "running", lambda project: {"endpoint": "..."} if project.path == two else None
    )
    said = here(capsys, command)
    assert said.stdout.startswith(
        "(No stage named: this reads the final app, which is not running. Stage 02 is running: "
        f"name it, as in `python run.py {command} 02`.)\n"
    )


def test_a_stage_and_a_from_that_agree_are_taken(copies, capsys):
    """Its copy, or its own folder: `logs` goes on to read it (it has saved no logs yet)."""
    for stage, folder, label in (
        ("05", copies["05"], str(copies["05"])),
        ("05", manifest.find("05").path, "stage 05 (Lost updates)"),
    ):
        assert_one_line_error(
            here(capsys, "logs", stage, "--from", str(folder)),
            f"error: {label} has no logs yet: start it with `python run.py up --from {folder}`",
        )


# A phrase to filter logs by, typed without quotes: the shell splits it into words.


@pytest.mark.parametrize(
    ("typed", "phrase", "command"),
    [
        (
            ["02", "--filter", "Decimal", "serializable"],
            "Decimal serializable",
            'python run.py logs 02 --filter "Decimal serializable"',
        ),
        (  # no stage: argparse took the second word for one
            ["--filter", "Decimal", "JSON", "serializable"],
            "Decimal JSON serializable",
            'python run.py logs --filter "Decimal JSON serializable"',
        ),
        (
            ["--filter=Decimal", "serializable", "--from", "."],
            "Decimal serializable",
            'python run.py logs --from . --filter "Decimal serializable"',
        ),
        (  # the stage typed after the phrase: still the stage, not a word of it
            ["--filter", "Decimal", "serializable", "02"],
            "Decimal serializable",
            'python run.py logs 02 --filter "Decimal serializable"',
        ),
        (  # a $ that a shell would expand within double quotes: single ones keep it
            ["final", "--filter", "cost", "$5"],
            "cost $5",
            "python run.py logs final --filter 'cost $5'",
        ),
    ],
)
def test_an_unquoted_phrase_says_to_quote_it_with_the_command_to_type(
    typed, phrase, command, capsys
):
    result = here(capsys, "logs", *typed)
    assert_one_line_error(result, "--filter takes one word, or a phrase in quotes: ")
    assert result.stderr.strip().endswith(f"type `{command}`")
    # One argument, as bash reads it (PowerShell reads these quotes the same way).
    words = shlex.split(command)
    assert words[words.index("--filter") + 1] == phrase


def test_a_stage_after_the_filter_is_still_a_stage(state_dir, capsys):
    """`logs --filter START 02`: a word, then the stage; not a phrase."""
    assert_one_line_error(here(capsys, "logs", "--filter", "START", "02"), "has no logs yet")


# A bad number: every option of race and bench (and up's seconds) says it one way, after the
# command's usage, before anything runs (bench refused --clients 500 only after measuring).


def _usage_mistake(result, command: str) -> str:
    """The error line of a usage mistake, checked to follow the command's own usage."""
    assert result.returncode == 2 and "Traceback" not in result.stderr, result
    assert result.stdout == ""  # refused before the command did anything
    assert result.stderr.startswith(f"usage: python run.py {command}".rstrip() + " "), result
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        (["race", "--clients", "0"], "--clients: '0' is not a whole number from 1 to 128"),
        (["race", "--clients", "x"], "--clients: 'x' is not a whole number from 1 to 128"),
        (["race", "--visits", "0"], "--visits: '0' is not a whole number, 1 or more"),
        (
            ["race", "--stall", "30"],
            "--stall: '30' is not a number of seconds, more than 0 and at most 25",
        ),
        (
            ["race", "--stall", "nan"],
            "--stall: 'nan' is not a number of seconds, more than 0 and at most 25",
        ),
        (["bench", "--warm-visits", "1"], "--warm-visits: '1' is not a whole number, 2 or more"),
        (["bench", "--cold-starts", "x"], "--cold-starts: 'x' is not a whole number, 2 or more"),
        (["bench", "--race-visits", "0"], "--race-visits: '0' is not a whole number, 1 or more"),
        (
            ["bench", "--clients", "1,x"],
            "--clients: '1,x' is not a list of whole numbers from 1 to 128, like 1,8,32",
        ),
        (
            ["bench", "--clients", "8,500"],
            "--clients: '8,500' is not a list of whole numbers from 1 to 128, like 1,8,32",
        ),
        (
            ["up", "--idle-timeout", "0"],
            "--idle-timeout: '0' is not a number of seconds, more than 0",
        ),
        (
            ["up", "--idle-timeout", "inf"],
            "--idle-timeout: 'inf' is not a number of seconds, more than 0",
        ),
    ],
)
def test_a_bad_number_reads_alike_in_every_option(typed, said, capsys):
    line = _usage_mistake(here(capsys, *typed), typed[0])
    assert line == f"python run.py {typed[0]}: error: argument {said}"


def test_an_option_s_help_gives_the_limits_its_refusal_states(capsys):
    """Read before typing, not learnt from a refusal: every option whose value has limits (the
    refusals' words are above) says them in its help, as `--help` prints it."""
    commands = next(a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction))
    limited = [
        (name, action.option_strings[0], action.type.limits)
        for name, command in commands.choices.items()
        for action in command._actions
        if hasattr(action.type, "limits")
    ]
    assert {(name, option) for name, option, _ in limited} >= {
        ("race", "--clients"),
        ("race", "--stall"),
        ("bench", "--warm-visits"),
        ("up", "--idle-timeout"),
    }
    for name, option, limits in limited:
        shown = " ".join(here(capsys, name, "--help").stdout.split())
        after = shown.split(f" {option} ", 1)[1]
        assert limits in after.split(" --", 1)[0], (name, option, after)


# A word a command does not take: that command's usage (argparse would show the top-level one),
# what it did not understand, and the option meant, as the command to type.


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        (
            ["up", "06", "--frsh"],
            "--frsh; did you mean --fresh? Type `python run.py up 06 --fresh`",
        ),
        (  # argparse took the value for the stage: the mended command has both where they were
            ["up", "--prot", "3001", "06"],
            "--prot 06; did you mean --port? Type `python run.py up --port 3001 06`",
        ),
        (
            ["up", "--prot=3001"],
            "--prot=3001; did you mean --port? Type `python run.py up --port=3001`",
        ),
        (
            ["race", "05", "--vists", "3", "--clent", "2"],
            "--vists 3 --clent 2; did you mean --visits or --clients? "
            "Type `python run.py race 05 --visits 3 --clients 2`",
        ),
        (  # a folder with a space and a $: quoted as bash and PowerShell both keep it
            ["up", "--from", "my copy $1", "--frsh"],
            "--frsh; did you mean --fresh? Type `python run.py up --from 'my copy $1' --fresh`",
        ),
        (  # one word mended, one unknown: the option meant, but no command that would fail
            ["up", "06", "--frsh", "--verbose"],
            "--frsh --verbose; did you mean --fresh?",
        ),
        (["up", "06", "--prot", "http"], "--prot http; did you mean --port?"),  # --port http fails
        (["up", "06", "07"], "07 (`python run.py up` takes one stage)"),
        (["diff", "05", "06", "07"], "07 (`python run.py diff` takes two stages)"),
        (["stages", "all"], "all (`python run.py stages` takes options only)"),
    ],
)
def test_a_word_a_command_does_not_take_gets_its_usage_and_the_option_meant(typed, said, capsys):
    line = _usage_mistake(here(capsys, *typed), typed[0])
    assert line == f"python run.py {typed[0]}: error: unrecognized arguments: {said}"


def test_diff_with_one_stage_says_it_compares_two(capsys):
    line = _usage_mistake(here(capsys, "diff", "02"), "diff")
    assert line == (
        "python run.py diff: error: diff compares two stages, the earlier first: "
        "`python run.py diff 02 03` shows what stage 03 changed (`python run.py stages` lists "
        "them; `final` is the app at the top)"
    )


def test_options_with_no_command_are_shown_after_one(capsys):
    line = _usage_mistake(here(capsys, "--port", "3000"), "")
    assert line == (
        "python run.py: error: --port needs a command before it: options go after one, as in "
        "`python run.py up --port 3000` (`python run.py --help` lists them)"
    )


@pytest.mark.parametrize(
    ("typed", "why", "mended"),
    [
        (["log", "02"], "did you mean logs?", "logs 02"),
        (["hints", "06"], "did you mean hint?", "hint 06"),
        (["Up", "--from", "my copy"], "did you mean up?", 'up --from "my copy"'),
        (["uo", "05"], "did you mean up?", "up 05"),  # a two-letter word one letter off
        (["02"], "it names stage 02 (The Decimal bug), which `up` serves.", "up 02"),
        (["final", "--fresh"], "it names the final app, which `up` serves.", "up final --fresh"),
    ],
)
def test_a_first_word_near_a_command_or_naming_a_stage_gets_the_command_to_type(
    typed, why, mended, capsys
):
    line = _usage_mistake(here(capsys, *typed), "")
    assert line == (
        f"python run.py: error: {typed[0]!r} is not a command: {why} Type "
        f"`python run.py {mended}` (`python run.py --help` lists them)"
    )


def test_a_first_word_near_no_command_gets_argparse_s_list(capsys):
    line = _usage_mistake(here(capsys, "xyzzy"), "")
    assert line.startswith("python run.py: error: argument COMMAND: invalid choice: 'xyzzy'")


@pytest.mark.parametrize(
    ("typed", "mended"),
    [
        (["--fresh", "up", "05"], "up 05 --fresh"),
        (["--port", "3000", "up"], "up --port 3000"),
        (["--from", "my copy", "logs"], 'logs --from "my copy"'),
    ],
)
def test_options_before_the_command_are_put_after_it(typed, mended, capsys):
    line = _usage_mistake(here(capsys, *typed), "")
    assert line == (
        f"python run.py: error: {typed[0]} comes before the command: options go after it, so "
        f"type `python run.py {mended}`"
    )


@pytest.mark.parametrize(
    "typed",
    [
        ["up", "06", "--frsh"],
        ["up", "--prot", "3001", "06"],
        ["race", "05", "--vists", "3", "--clent", "2"],
        ["up", "--from", "my copy $1", "--frsh"],
    ],
)
def test_the_command_a_mistake_suggests_is_taken_whole(typed, capsys):
    """As bash reads it (PowerShell reads these quotes alike): no word left over, none refused."""
    line = _usage_mistake(here(capsys, *typed), typed[0])
    words = shlex.split(re.search(r"Type `(.*)`$", line).group(1))
    assert words[:3] == ["python", "run.py", typed[0]]
    args, extras = cli.parser().parse_known_args(words[2:])
    assert extras == [] and args.command == typed[0]
    assert len(words) == len(typed) + 2  # nothing dropped: the user's other words are kept


def test_no_command_at_all_keeps_the_top_level_usage(capsys):
    assert _usage_mistake(here(capsys, "--frsh"), "") == (
        "python run.py: error: unrecognized arguments: --frsh"
    )


@pytest.mark.parametrize(
    ("typed", "where"),
    [
        (["07", "--tail"], " 07"),
        (["-t"], ""),
        (["--tail", "--from", "my copy"], ' --from "my copy"'),
    ],
)
def test_logs_tail_as_sam_logs_has_it_says_up_prints_the_lines_live(typed, where, capsys):
    tail = next(word for word in typed if word.startswith("-") and word != "--from")
    assert _usage_mistake(here(capsys, "logs", *typed), "logs") == (
        f"python run.py logs: error: unrecognized arguments: {tail}: `sam logs --tail` follows new "
        f"log events; here `python run.py up{where}` prints each invocation's log lines live, as "
        f"they come, and `python run.py logs{where}` shows what was stored"
    )


@pytest.mark.parametrize("command", ["up", "logs", "check"])
def test_from_a_file_says_to_give_the_folder_that_holds_it(capsys, command, tmp_path):
    """As `up README.md` says it: a new user gave --from the template they had open."""
    template = tmp_path / "copy" / "template.yaml"
    template.parent.mkdir()
    template.write_text("Resources: {}\n", encoding="utf-8")
    stage = ["02"] if command == "check" else []
    assert_one_line_error(
        here(capsys, command, *stage, "--from", str(template)),
        f"error: --from {template} is a file: give the folder that holds it (`--from "
        f"{template.parent}`), the folder of your copy",
    )


# A samconfig.toml as Windows tools save it (exercise 04 edits it): SAM CLI reads UTF-8 with no
# BOM (a BOM stops it with "Empty key at line 1 col 0", UTF-16 with a traceback), so each
# command says what is wrong before SAM CLI would.


@pytest.mark.parametrize(
    ("encoding", "says"),
    [
        ("utf-16", "samconfig.toml is UTF-16 text, which SAM CLI cannot read: save it as UTF-8"),
        ("utf-8-sig", "samconfig.toml starts with a byte order mark (a BOM), which SAM CLI"),
        ("latin-1", "samconfig.toml is not UTF-8 text (byte 0xe9 at position"),
    ],
    ids=["utf-16", "bom", "latin-1"],
)
@pytest.mark.parametrize("command", ["check", "build", "up", "invoke"])
def test_a_samconfig_not_in_utf_8_says_how_to_save_it(
    command, encoding, says, tmp_path, state_dir, capsys
):
    copy = shutil.copytree(manifest.find("04").path, tmp_path / "copy")
    config = copy / "samconfig.toml"
    config.write_bytes(("# café\n" + config.read_text(encoding="utf-8")).encode(encoding))
    typed = {"check": ["04", "--from"], "build": [], "up": ["--port", "0", "--from"]}
    result = here(capsys, command, *typed.get(command, ["--from"]), str(copy))
    without_bom = '("UTF-8", not "UTF-8 with BOM")'
    if command == "check":  # a check's finding, not a usage error
        assert result.returncode == 1 and says in result.stdout and without_bom in result.stdout
    else:
        assert_one_line_error(result, says, without_bom)


@pytest.mark.parametrize(
    "command",
    [["up", "03", "--port", "0"], ["up", "03", "--fresh", "--port", "0"], ["invoke", "03"]],
    ids=["up", "up-fresh", "invoke"],
)
def test_a_file_where_a_stage_keeps_what_it_stores_is_named(command, state_dir, capsys):
    """A file called stage03 in .workshop (a sync tool's conflict copy, say): no FileExistsError."""
    state_dir.mkdir()
    (state_dir / "stage03").write_text("", encoding="utf-8")
    assert_one_line_error(
        here(capsys, *command),
        f"error: {state_dir / 'stage03'} is a file, where the workshop keeps what this project "
        "stores (a folder): delete that file, or move it away",
    )


# Where an exercise's copy goes, something that is not a folder: try, check and reset agree.


@pytest.mark.parametrize("there", ["a file", "a link to nothing"])
def test_a_file_or_a_broken_link_where_the_copy_goes_is_said_alike_and_reset_clears_it(
    there, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("WORKSHOP_PLAYGROUND", str(tmp_path / "pg"))
    copy = tmp_path / "pg" / "05-lost-updates"
    copy.parent.mkdir()
    if there == "a file":
        copy.write_text("notes\n", encoding="utf-8")
        what = "a file"
    else:
        copy.symlink_to(tmp_path / "gone")
        what = f"a link to {tmp_path / 'gone'}, which does not exist"
    for command in ("try", "check"):
        assert_one_line_error(
            here(capsys, command, "05"),
            f"error: 05-lost-updates in {copy.parent}, where your copy of stage 05 (Lost "
            f"updates) goes, is {what}, not a folder: `python run.py reset 05` moves it to "
            ".previous/ and makes your copy there",
        )
    result = here(capsys, "reset", "05")
    assert result.returncode == 0 and f"moved what was there ({what}) to " in result.stdout
    assert (copy / "template.yaml").is_file()
    (kept,) = (tmp_path / "pg" / ".previous").iterdir()
    assert kept.is_symlink() == (there != "a file")


# An empty path (`--from ""`, or a variable that is not set): read as no option at all, it
# served the final app, checked the playground's copy, held no lock. Each names stage 99, which
# is none: without the refusal the command fails at once, where it would serve or build.


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        (["up", "99", "--from", ""], "--from: '' is an empty path: give the folder of your copy"),
        (["invoke", "99", "--from="], "--from: '' is an empty path: give the folder of your copy"),
        (["logs", "99", "--from", " "], "--from: ' ' is an empty path: give the folder of your"),
        (["check", "99", "--path", ""], "--from/--path: '' is an empty path: give the folder"),
        (["invoke", "99", "--event", ""], "--event: '' is an empty path: give an event file"),
        (["build", "99", "--simulate-lock", ""], "--simulate-lock: '' is an empty path: give a"),
        (["clean", "99", "--build-dir", ""], "--build-dir: '' is an empty path: give a folder"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_an_empty_path_is_refused(typed, said, capsys):
    line = _usage_mistake(here(capsys, *typed), typed[0])
    assert line.startswith(f"python run.py {typed[0]}: error: argument {said}"), line


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        (["logs", "02", "--filter"], "--filter needs a value after it: `--filter TERM`, a Cloud"),
        (["up", "--port", "--fresh"], "--port needs a value after it: `--port PORT`, HTTP port"),
        (["check", "--from"], "--from needs a value after it: `--from PATH`, check this folder"),
        (["check", "--path"], "--path needs a value after it: `--path PATH`, check this folder"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_an_option_with_no_value_says_what_it_takes(typed, said, capsys):
    line = _usage_mistake(here(capsys, *typed), typed[0])
    assert line.startswith(f"python run.py {typed[0]}: error: {said}"), line


@pytest.mark.parametrize("json_text", ["[]", '{"cells": [1], "nbformat": 4}', '{"a": 1}'])
def test_clean_notebooks_on_json_that_is_no_notebook_says_so_and_leaves_it(
    json_text, tmp_path, capsys
):
    """A traceback for the first two; the last was rewritten with a "metadata" of its own."""
    path = tmp_path / "settings.json"
    path.write_text(json_text, encoding="utf-8")
    assert_one_line_error(
        here(capsys, "clean-notebooks", str(path)),
        f"error: {path}: not a notebook (JSON, but without a notebook's nbformat and list of cells",
    )
    assert path.read_text(encoding="utf-8") == json_text


@pytest.mark.parametrize("deleted", ["the folder", "its template.yaml"])
def test_watch_of_a_from_folder_deleted_meanwhile_does_not_advise_reset(
    deleted, tmp_path, state_dir, monkeypatch, capsys
):
    """reset makes the playground's copy anew: a --from folder it would not touch."""
    from workshop import interrupt
    from workshop.learn import watch

    folder = shutil.copytree(manifest.find("02").path, tmp_path / "mine")
    watched = watch.watch

    def deleted_first(*args):  # deleted after `check` found it there, before the first check
        if deleted == "the folder":
            shutil.rmtree(folder)
        else:
            (folder / "template.yaml").unlink()
        return watched(*args)

    def ctrl_c(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(interrupt, "stop_on_ctrl_c", lambda: None)  # pytest's handlers stay
    monkeypatch.setattr(watch, "watch", deleted_first)
    monkeypatch.setattr(watch, "_wait_for_change", ctrl_c)
    result = here(capsys, "check", "02", "--watch", "--from", str(folder))
    gone = "is not there any more" if deleted == "the folder" else "has no template.yaml any more"
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        f"  - {folder} {gone}, so nothing can start: put it back, or check the folder that holds "
        "your copy now, `python run.py check 02 --from FOLDER`.\n"
    ) in result.stdout
    assert "reset" not in result.stdout
