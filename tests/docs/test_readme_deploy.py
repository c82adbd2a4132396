"""The README's deploy section, which needs an AWS account, checked as far as it can be offline.

The lines of a ```console aws block (deploying the final app, deleting it) cannot run here.
What can be checked is: each is a `sam` command, whose subcommand and every option exist, as
`sam <subcommand> --help` lists them; and the venv that the section activates, to find its
`sam`, is where run.py put it.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import run
from tests.helpers import READMES
from workshop import manifest

REPO = manifest.REPO_ROOT
AWS_BLOCK = re.compile(r"```console aws\n(.*?)```", re.DOTALL)


# ```console aws blocks: sam commands against a real AWS account.


def aws_commands(readme: Path) -> list[list[str]]:
    """The words of each command of the README's ```console aws blocks, in order."""
    blocks = AWS_BLOCK.findall(readme.read_text(encoding="utf-8"))
    return [shlex.split(line) for block in blocks for line in block.splitlines() if line.strip()]


# Prints, as JSON, what `sam PATH --help` prints for each path read from stdin: the `sam`
# command's own click group (samcli.cli.main:cli, what the `sam` script runs), all in one
# Python, as each `sam` started anew imports for a second or more.
HELP_SCRIPT = """
import json, sys
from click.testing import CliRunner
from samcli.cli.main import cli
runner = CliRunner()
answers = []
for path in json.loads(sys.stdin.read()):
    result = runner.invoke(cli, [*path, "--help"], prog_name="sam")
    answers.append([result.exit_code, result.output, repr(result.exception or "")])
print(json.dumps(answers))
"""


class SamHelp:
    """What `sam ... --help` prints for each command path, asked once each."""

    def __init__(self):
        self.seen: dict[tuple[str, ...], subprocess.CompletedProcess] = {}

    def ask(self, paths: list[tuple[str, ...]]) -> None:
        """Ask for the help of each path, all in one Python."""
        done = subprocess.run(
            [sys.executable, "-c", HELP_SCRIPT],
            input=json.dumps(paths),
            capture_output=True,
            text=True,
            timeout=300,
            env=dict(os.environ, SAM_CLI_TELEMETRY="0"),
        )
        assert done.returncode == 0, f"sam's help could not be asked for: {done.stderr}"
        for path, (code, out, error) in zip(paths, json.loads(done.stdout), strict=True):
            command = ["sam", *path, "--help"]
            self.seen[path] = subprocess.CompletedProcess(command, code, out, error)

    def prefetch(self, commands: list[list[str]]) -> None:
        """Ask, at once, for the help of every path that the commands may walk through."""
        paths = set()
        for words in commands:
            leading = list(itertools.takewhile(lambda word: not word.startswith("-"), words[1:]))
            paths.update(tuple(leading[:n]) for n in range(len(leading) + 1))
        self.ask(sorted(paths))

    def __call__(self, path: tuple[str, ...]) -> str:
        if path not in self.seen:
            self.ask([path])
        done = self.seen[path]
        assert done.returncode == 0, f"sam {' '.join(path)} --help: {done.stderr}"
        return done.stdout


def sam_command_problems(words: list[str], sam_help: SamHelp) -> list[str]:
    """What is wrong with one command line: not sam, no such subcommand, or no such option."""
    if words[:1] != ["sam"]:
        return [f"{shlex.join(words)!r} is not a sam command"]
    path: tuple[str, ...] = ()
    rest = words[1:]
    # Walk down the command groups (`sam list stack-outputs`) to the command itself.
    while rest and not rest[0].startswith("-") and "COMMAND [ARGS]" in sam_help(path):
        listed = re.search(rf"^ +{re.escape(rest[0])} ", sam_help(path), re.MULTILINE)
        if not listed:
            return [f"{shlex.join(words)!r}: `sam {' '.join(path)}` has no command {rest[0]!r}"]
        path, rest = (*path, rest[0]), rest[1:]
    if not path:
        return [f"{shlex.join(words)!r} names no sam command"]
    usage = sam_help(path)
    return [
        f"{shlex.join(words)!r}: `sam {' '.join(path)}` has no option {option}"
        for option in (word.split("=", 1)[0] for word in rest if word.startswith("-"))
        if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", usage)
    ]


# Lines the check must find wrong, and what it must say of each.
WRONG_LINES = [
    ("aws cloudformation describe-stacks", "is not a sam command"),
    ("sam deploy --guidedd", "has no option --guidedd"),
    ("sam list stack-output --stack-name x", "has no command 'stack-output'"),
    ("sam --region us-east-1", "names no sam command"),
]


@pytest.fixture(scope="module")
def sam_help(once_per_session) -> SamHelp:
    """sam's help for every path the READMEs' and WRONG_LINES' commands walk through, asked
    once in the session."""
    if importlib.util.find_spec("samcli") is None:
        pytest.skip("the AWS SAM CLI is not installed: `python run.py test` installs it")
    commands = [words for readme in READMES for words in aws_commands(readme)]
    commands += [shlex.split(line) for line, _ in WRONG_LINES if line.startswith("sam ")]

    def prefetched() -> dict:
        ahead = SamHelp()
        ahead.prefetch(commands)
        return ahead.seen

    found = SamHelp()
    found.seen.update(once_per_session("sam-help", prefetched))
    return found


def test_every_aws_command_is_a_sam_command_whose_options_exist(sam_help):
    commands = [(readme, words) for readme in READMES for words in aws_commands(readme)]
    assert [" ".join(words[:2]) for readme, words in commands if readme.name == "README.md"]
    problems = [
        f"{readme.relative_to(REPO)}: {problem}"
        for readme, words in commands
        for problem in sam_command_problems(words, sam_help)
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("line", "problem"), WRONG_LINES)
def test_the_aws_command_check_names_what_is_wrong(sam_help, line, problem):
    (found,) = sam_command_problems(shlex.split(line), sam_help)
    assert problem in found


def test_the_venv_the_deploy_section_activates_is_where_run_py_put_it():
    """With WORKSHOP_VENV (Troubleshooting: OneDrive), the venv, and its SAM CLI, are there."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    deploy = readme.split("## Deploy it to your own AWS account", 1)[1].split("\n## ", 1)[0]
    powershell = re.findall(r"in PowerShell\s+`([^`]*Activate\.ps1[^`]*)`", deploy)
    bash = re.findall(r"in bash\s+`(source [^`]*activate[^`]*)`", deploy)
    assert len(powershell) == len(bash) == 2, (powershell, bash)
    # The second of each is the moved venv's: where run.py puts it, Scripts\ on Windows.
    venv = run.venv_dir({"WORKSHOP_VENV": "C:/moved"})
    scripts = run.venv_python(venv, windows=True).parent.relative_to(venv)
    assert powershell[1] == f'& "$env:WORKSHOP_VENV\\{scripts}\\Activate.ps1"'
    if os.name == "nt" or not shutil.which("bash"):
        return  # the bash line is run below only where bash is
    here = Path(sys.prefix)  # the venv these tests run in: its activate script finds its sam
    done = subprocess.run(
        ["bash", "-c", f"{bash[1]} && command -v sam"],
        env={"PATH": "/usr/bin:/bin", "WORKSHOP_VENV": str(here)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    moved = run.venv_dir({"WORKSHOP_VENV": str(here)})
    assert Path(done.stdout.strip()) == run.venv_python(moved).parent / "sam"
