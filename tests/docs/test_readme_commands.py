"""Every command a README tells a user to type is run here, so the docs cannot rot.

A README's commands are the lines of its ```console blocks, run in order, from the repository
root, each as typed (`python run.py ...`, with this test's Python as `python`). A command whose
line ends in a `# fails ...` comment must fail; every other one must succeed. `up` serves
until stopped, so it is started (on a free port, in case the reader's own `up` holds 3000),
asked for its URL once, and stopped with Ctrl-C.

The lines of a ```console aws block need an AWS account (deploying the final app), so they
cannot run here. What can be checked offline is: each is a `sam` command, whose subcommand
and every option exist, as `sam <subcommand> --help` lists them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from workshop import manifest

REPO = manifest.REPO_ROOT
READMES = [
    REPO / "README.md",
    REPO / "notebooks" / "README.md",
    *(stage.path / "README.md" for stage in manifest.stages()),
]
# `test` is the command running this test; `notebook` opens JupyterLab for a person.
NOT_RUN_HERE = {"test", "notebook"}
TABLE = re.compile(r"<!-- stages:start[^>]*-->\n(.*?)<!-- stages:end -->", re.DOTALL)
AWS_BLOCK = re.compile(r"```console aws\n(.*?)```", re.DOTALL)


def console_commands(readme: Path) -> list[tuple[list[str], bool]]:
    """(arguments after `python run.py`, whether it must fail) for each command, in order."""
    commands = []
    blocks = re.findall(r"```console\n(.*?)```", readme.read_text(encoding="utf-8"), re.DOTALL)
    for block in blocks:
        for line in block.splitlines():
            command, _, comment = line.partition("#")
            if not command.strip():
                continue
            words = shlex.split(command)
            assert words[:2] == ["python", "run.py"], f"{readme}: {line!r} is not `python run.py`"
            commands.append((words[2:], comment.strip().startswith("fails")))
    return commands


def test_the_readme_stage_table_is_the_manifests():
    found = TABLE.search((REPO / "README.md").read_text(encoding="utf-8"))
    assert found, "README.md lost its <!-- stages:start --> ... <!-- stages:end --> markers"
    assert found.group(1) == manifest.markdown_table(), "run: python run.py stages --markdown"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve_once(command: list[str], env: dict[str, str]) -> None:
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            if line.strip().startswith("API:"):
                url = line.split()[1]
                # An error status is an answer too: stage 02 answers 500 on purpose.
                with contextlib.suppress(urllib.error.HTTPError):
                    urllib.request.urlopen(url, timeout=30).close()
            if line.startswith("Press Ctrl-C"):
                break
        else:
            raise AssertionError("`up` stopped before serving:\n" + "".join(seen))
    finally:
        process.send_signal(signal.CTRL_C_EVENT if os.name == "nt" else signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, "".join(seen) + rest


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_command_in_the_readme_runs(readme, tmp_path):
    commands = console_commands(readme)
    env = {
        **os.environ,
        "WORKSHOP_STATE_DIR": str(tmp_path / "state"),
        "WORKSHOP_PLAYGROUND": str(tmp_path / "playground"),  # `try 02` never touches playground/
    }
    ran = 0
    for args, must_fail in commands:
        if args and args[0] in NOT_RUN_HERE:
            continue
        command = [sys.executable, "run.py", *args]
        if args and args[0] == "up":
            # On a free port rather than 3000, where the reader's own `up` may be serving.
            _serve_once([*command, "--port", str(_free_port())], env)
        else:
            result = subprocess.run(
                command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300
            )
            outcome = f"{shlex.join(args)}\n{result.stdout}\n{result.stderr}"
            assert (result.returncode != 0) == must_fail, outcome
            assert "Traceback" not in result.stdout + result.stderr, outcome
        ran += 1
    if readme == REPO / "README.md":
        assert ran >= 1


# ```console aws blocks: sam commands against a real AWS account.


def aws_commands(readme: Path) -> list[list[str]]:
    """The words of each command of the README's ```console aws blocks, in order."""
    blocks = AWS_BLOCK.findall(readme.read_text(encoding="utf-8"))
    return [shlex.split(line) for block in blocks for line in block.splitlines() if line.strip()]


class SamHelp:
    """What `sam ... --help` prints for each command path, asked once each."""

    def __init__(self, sam: str):
        self.sam = sam
        self.seen: dict[tuple[str, ...], subprocess.CompletedProcess] = {}

    def _run(self, path: tuple[str, ...]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.sam, *path, "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(os.environ, SAM_CLI_TELEMETRY="0"),
        )

    def prefetch(self, commands: list[list[str]]) -> None:
        """Ask, at once, for the help of every path that the commands may walk through."""
        paths = set()
        for words in commands:
            leading = list(itertools.takewhile(lambda word: not word.startswith("-"), words[1:]))
            paths.update(tuple(leading[:n]) for n in range(len(leading) + 1))
        with ThreadPoolExecutor(4) as pool:
            self.seen.update(zip(paths, pool.map(self._run, paths), strict=True))

    def __call__(self, path: tuple[str, ...]) -> str:
        if path not in self.seen:
            self.seen[path] = self._run(path)
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


@pytest.fixture(scope="module")
def sam_help() -> SamHelp:
    sam = shutil.which("sam", path=str(Path(sys.executable).parent)) or shutil.which("sam")
    if sam is None:
        pytest.skip("sam (the AWS SAM CLI) is not installed: `pip install -e .` brings it")
    return SamHelp(sam)


def test_every_aws_command_is_a_sam_command_whose_options_exist(sam_help):
    commands = [(readme, words) for readme in READMES for words in aws_commands(readme)]
    assert [" ".join(words[:2]) for readme, words in commands if readme.name == "README.md"]
    sam_help.prefetch([words for _, words in commands])
    problems = [
        f"{readme.relative_to(REPO)}: {problem}"
        for readme, words in commands
        for problem in sam_command_problems(words, sam_help)
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("aws cloudformation describe-stacks", "is not a sam command"),
        ("sam deploy --guidedd", "has no option --guidedd"),
        ("sam list stack-output --stack-name x", "has no command 'stack-output'"),
        ("sam --region us-east-1", "names no sam command"),
    ],
)
def test_the_aws_command_check_names_what_is_wrong(sam_help, line, problem):
    (found,) = sam_command_problems(shlex.split(line), sam_help)
    assert problem in found
