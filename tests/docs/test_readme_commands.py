"""Every command a README tells a user to type is run here, so the docs cannot rot.

A README's commands are the lines of its ```console blocks (README.md's `bench` aside: its
owner, tests/bench, runs it and checks its figures), run in order, from the repository root,
each as typed (`python run.py ...`, with this test's Python as `python`). A command whose
line ends in a `# fails ...` comment must fail; every other one must succeed, and one that ends
in `# shows TEXT` must print TEXT; a failing `check NN` (on the copy `try NN` made) must say
what still fails in the story's words (tests/helpers.py STORY_WORDS). `up` serves until
stopped, as in a terminal of its own: it is started (on a free port, in case the reader's own
`up` holds 3000) and left serving while the commands after it run, as the reader's second
terminal would, until the next `up` or the end of the README; then it is stopped with Ctrl-C.
It is visited only as its line says: `# then open its URL and refresh` visits twice, as a
browser does (loopback is a secure context there: the `Secure` cookie is kept); without it, a
path that is no route proves that it answers.

A README's ```console aws-local block holds AWS CLI commands for the local AWS of a running
`up`: they are run as a new user would, with nothing but what `up` printed (its bash line, the
port), with the real AWS CLI (v1, from its own venv: tools/awscli.lock), no AWS account and no
configuration. Its ```bash and ```powershell blocks that visit the local URL are run with curl
and PowerShell, where those are installed. The ```console aws blocks need an AWS account:
test_readme_deploy.py checks them as far as it can offline.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import run
from tests.helpers import (
    CHROMIUM_ARGS,
    READMES,
    STORY_WORDS,
    Command,
    chromium_executable,
    console_commands,
    console_commands_in,
    problems_printed,
    shown_json,
    wait_until,
)
from workshop import cli, learn, manifest

REPO = manifest.REPO_ROOT
# `test` is the command running this test; `notebook` is run by its own test, below.
NOT_RUN_HERE = {"test", "notebook"}
# Run, and their figures checked, by their one owner: tests/bench/test_bench.py.
OWNED_ELSEWHERE = {(REPO / "README.md", "bench")}
TABLE = re.compile(r"<!-- stages:start[^>]*-->\n(.*?)<!-- stages:end -->", re.DOTALL)


def test_a_command_s_comment_says_what_to_expect():
    assert Command.parse("python run.py check 02  # fails: the bug").must_fail
    shows = Command.parse('python run.py invoke 02  # shows "statusCode": 500')
    assert (shows.args, shows.shows) == (["invoke", "02"], '"statusCode": 500')
    assert not shows.must_fail
    assert Command.parse("python run.py up  # then open its URL and refresh").visits == 2
    assert Command.parse("python run.py up 02  # then open its URL").visits == 1
    assert Command.parse("python run.py up 02 --fresh").visits == 0


def test_the_readme_stage_table_is_the_manifests():
    found = TABLE.search((REPO / "README.md").read_text(encoding="utf-8"))
    assert found, "README.md lost its <!-- stages:start --> ... <!-- stages:end --> markers"
    assert found.group(1) == manifest.markdown_table(), "run: python run.py stages --markdown"


# A command a README's prose names (in backticks, outside its blocks), and what stands for a path.
PROSE_COMMAND = re.compile(r"`(python run\.py [^`]+)`")
PLACEHOLDERS = {"DIR": "some-folder"}
# The arguments that name a stage (or `final`), by the command's attribute.
STAGE_ARGUMENTS = ("stage", "a", "b", "original", "final")


def prose_commands(readme: Path) -> list[list[str]]:
    """What follows `python run.py` in each command the README's prose names."""
    prose = re.sub(r"```.*?```", "", readme.read_text(encoding="utf-8"), flags=re.DOTALL)
    return [
        [PLACEHOLDERS.get(word, word) for word in shlex.split(command)[2:]]
        for command in PROSE_COMMAND.findall(prose)
    ]


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_command_a_readme_names_in_its_prose_is_one_the_cli_takes(readme):
    """Read as `python run.py` reads it (not run: the blocks' commands are, above and below),
    every stage it names known: an option renamed, or a stage renumbered, shows here."""
    for args in prose_commands(readme):
        if args[0] in NOT_RUN_HERE:  # run.py's own: pytest's or JupyterLab's arguments follow
            continue
        try:
            parsed = cli.parse(args)
        except SystemExit as exit:  # argparse printed the help (0), or why it refused
            assert exit.code == 0, f"{readme.name}: `python run.py {shlex.join(args)}` refused"
            continue
        for name in STAGE_ARGUMENTS:
            value = getattr(parsed, name, None)
            if isinstance(value, str):
                manifest.project(value)  # raises, naming the stage, if there is no such stage


class LoopbackIsSecure(http.cookiejar.DefaultCookiePolicy):
    """Browsers (Chrome, Edge, Firefox) and curl treat http://127.0.0.1 as a secure context:
    they keep a `Secure` cookie there and send it back."""

    def return_ok_secure(self, cookie, request):
        loopback = urllib.request.urlparse(request.full_url).hostname in ("127.0.0.1", "localhost")
        return loopback or super().return_ok_secure(cookie, request)


def visit(opener, url: str) -> tuple[int, dict]:
    """One visit: the status and the JSON body (an error status is an answer too)."""
    try:
        with opener.open(url, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@dataclass
class Serving:
    """A running `python run.py up`, as in a terminal of its own."""

    process: subprocess.Popen
    printed: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.line("API:").split()[0]

    def line(self, label: str) -> str:
        """What `up` printed after `label` (`API:`, `bash:`, ...) on its first such line."""
        for line in self.printed:
            if line.strip().startswith(label):
                return line.strip().removeprefix(label).strip()
        raise AssertionError(f"`up` printed no {label!r} line:\n" + "".join(self.printed))

    def stop(self) -> None:
        self.process.send_signal(signal.CTRL_C_EVENT if os.name == "nt" else signal.SIGINT)
        rest, _ = self.process.communicate(timeout=60)
        out = "".join(self.printed) + rest
        assert self.process.returncode == 0, out
        assert "Traceback" not in out, out


def serve(command: list[str], env: dict[str, str], visits: int) -> Serving:
    """Start `up` and wait until it serves; visit its URL as often as the README says."""
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    serving = Serving(process)
    for line in process.stdout:
        serving.printed.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    else:
        serving.stop()
        raise AssertionError("`up` stopped before serving:\n" + "".join(serving.printed))
    try:
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar(LoopbackIsSecure()))
        )
        if visits == 0:  # no route there: API Gateway answers it without running the function
            status, _ = visit(opener, serving.url.rsplit("/", 1)[0] + "/no-such-route")
            assert status == 403, f"`up` answered {status} where no route is"
        answers = [visit(opener, serving.url) for _ in range(visits)]
        counts = [body.get("visit_count") for status, body in answers if status == 200]
        if len(counts) == 2:
            assert counts[1] == counts[0] + 1, f"a refresh did not count one more: {answers}"
    except BaseException:
        serving.stop()
        raise
    return serving


def readme_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "WORKSHOP_STATE_DIR": str(tmp_path / "state"),
        "WORKSHOP_PLAYGROUND": str(tmp_path / "playground"),  # `try 02` never touches playground/
    }


@pytest.mark.slow
@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_command_in_the_readme_runs(readme, tmp_path):
    env = readme_env(tmp_path)
    serving: Serving | None = None
    ran = 0
    try:
        for step in console_commands(readme):
            if step.args[:1] and (
                step.args[0] in NOT_RUN_HERE or (readme, step.args[0]) in OWNED_ELSEWHERE
            ):
                continue
            command = [sys.executable, "run.py", *step.args]
            if step.args and step.args[0] == "up":
                if serving:
                    serving.stop()
                    serving = None
                # On a port the system picks rather than 3000, where the reader's own `up` may
                # be serving (one found free beforehand may be taken by then).
                serving = serve([*command, "--port", "0"], env, step.visits)
            else:
                result = subprocess.run(
                    command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300
                )
                outcome = f"{shlex.join(step.args)}\n{result.stdout}\n{result.stderr}"
                assert (result.returncode != 0) == step.must_fail, outcome
                assert "Traceback" not in result.stdout + result.stderr, outcome
                if step.shows:
                    assert step.shows in result.stdout + result.stderr, outcome
                if step.args[0] == "check" and step.must_fail:
                    says_what_still_fails_in_the_story_s_words(step.args[1], result.stdout)
            ran += 1
    finally:
        if serving:
            serving.stop()
    if readme == REPO / "README.md":
        assert ran >= 1


def says_what_still_fails_in_the_story_s_words(stage: str, printed: str) -> None:
    """`check NN` on the copy that `try NN` made, the code the exercise starts from: its check
    fails there, in the story's words, each problem a sentence (this test owns that verdict)."""
    words = STORY_WORDS.get(learn.exercise(stage).check)
    if words is None:  # judged on its start by a stage test (tests/learn/test_checks.py)
        return
    problems = problems_printed(printed)
    assert problems, printed
    for word in words:
        assert word in " ".join(problems), (word, printed)
    for problem in problems:
        assert problem[:1].isupper() and problem.endswith("."), problem


# ```console aws-local, ```bash and ```powershell blocks: what a user types beside `up`.


def fenced(readme: Path, kind: str) -> list[str]:
    """The lines of the README's ```KIND blocks, in order."""
    pattern = rf"```{re.escape(kind)}\n(.*?)```"
    blocks = re.findall(pattern, readme.read_text(encoding="utf-8"), re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def up_before(readme: Path, kind: str) -> Command:
    """The last `up` of the README's ```console blocks before its first ```KIND block."""
    text = readme.read_text(encoding="utf-8")
    before = text[: text.index(f"```{kind}\n")]
    ups = [step for step in console_commands_in(before) if step.args[:1] == ["up"]]
    assert ups, f"no `python run.py up` before the {kind} block"
    return ups[-1]


def new_user_env(tmp_path: Path, path: str) -> dict[str, str]:
    """A terminal of a user with no AWS account: no AWS variables, an empty home folder."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, "HOME": str(home), "USERPROFILE": str(home), "PATH": path}


def powershell_assignments(line: str) -> dict[str, str]:
    pairs = [part.strip() for part in line.split(";") if part.strip()]
    found = {}
    for pair in pairs:
        matched = re.fullmatch(r'\$env:(\w+)="([^"]*)"', pair)
        assert matched, f'{pair!r} is not a PowerShell `$env:NAME="value"`'
        found[matched[1]] = matched[2]
    return found


def bash_assignments(line: str) -> dict[str, str]:
    words = shlex.split(line)
    assert words[0] == "export", line
    return dict(word.split("=", 1) for word in words[1:])


def aws_folder(aws: str, tmp_path: Path) -> str:
    """A folder whose `aws` runs the CLI. pip writes the venv's path into the script's `#!`
    line as it is, and a kernel cannot run one with a space in it (a OneDrive folder, say):
    outside Windows, a script of the test's own starts it with the venv's Python, wherever the
    venv is."""
    if os.name == "nt":  # there, the venv has an aws.cmd, not a `#!` line
        return str(Path(aws).parent)
    folder = tmp_path / "aws-bin"
    folder.mkdir()
    python = run.venv_python(Path(aws).parent.parent)
    (folder / "aws").write_text(f'#!/bin/sh\nexec "{python}" "{aws}" "$@"\n', encoding="utf-8")
    (folder / "aws").chmod(0o755)
    return str(folder)


def test_the_aws_cli_examples_work_with_only_what_up_printed(tmp_path):
    aws_venv = run.tool_venv_dir(Path(sys.prefix), "awscli")
    aws = shutil.which("aws", path=str(run.venv_python(aws_venv).parent))
    if aws is None:
        pytest.skip(
            "the AWS CLI is not set up: `python run.py test` sets it up in a venv of its own "
            "(from tools/awscli.lock); run the tests that way"
        )
    shells = [["bash", "-c"]] if os.name != "nt" and shutil.which("bash") else []
    powershell = shutil.which("pwsh") or shutil.which("powershell")
    if powershell:
        shells.append([powershell, "-NoProfile", "-Command"])
    if not shells:
        pytest.skip("neither bash nor PowerShell is installed here")
    readme = REPO / "README.md"
    readme_text = " ".join(readme.read_text(encoding="utf-8").split())
    lines = fenced(readme, "console aws-local")
    assert lines, "README.md has no ```console aws-local block"
    step = up_before(readme, "console aws-local")
    serving = serve(
        [sys.executable, "run.py", *step.args, "--port", "0"],
        readme_env(tmp_path),
        step.visits,
    )
    try:
        bash_line, powershell_line = serving.line("bash:"), serving.line("PowerShell:")
        # The same settings for both shells, so the line that runs here stands for both.
        assert bash_assignments(bash_line) == powershell_assignments(powershell_line)
        port = serving.line("Local AWS:").rsplit(":", 1)[1]
        system = [str(Path(shell[0]).parent) for shell in shells] + ["/usr/bin", "/bin"]
        env = new_user_env(tmp_path, os.pathsep.join([aws_folder(aws, tmp_path), *system]))
        for shell in shells:
            first = powershell_line if shell[0] == powershell else bash_line
            for line in [serving.line("then:"), *lines]:
                line = line.replace("PORT", port)
                done = subprocess.run(
                    [*shell, f"{first}\n{line}"],
                    env=env,
                    cwd=tmp_path,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
                answer = json.loads(done.stdout)
                assert answer.get("Items") or answer.get("events"), f"{line}: nothing\n{answer}"
            if shell[0] != powershell:  # and boto3, as the README writes it, in Python
                (boto3_line,) = re.findall(r"`(boto3\.resource\(.*?\)\.scan\(\))`", readme_text)
                code = f"import boto3; print(len({boto3_line.replace('PORT', port)}['Items']))"
                python = shlex.quote(sys.executable)
                done = subprocess.run(
                    [*shell, f"{first}\n{python} -c {shlex.quote(code)}"],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr
            # Without the line that `up` printed, the AWS CLI fails as a new user's did.
            bare = lines[0].replace("PORT", port)
            done = subprocess.run([*shell, bare], env=env, capture_output=True, text=True)
            assert done.returncode != 0 and "region" in done.stderr, done.stderr
    finally:
        serving.stop()


def test_curl_keeps_the_cookie_on_the_local_url(tmp_path):
    if shutil.which("curl") is None or shutil.which("bash") is None or os.name == "nt":
        pytest.skip("needs curl and bash (on Windows, the PowerShell example is run instead)")
    lines = [line for line in fenced(REPO / "README.md", "bash") if "127.0.0.1" in line]
    assert len(lines) == 2, lines
    serving = serve([sys.executable, "run.py", "up", "--port", "0"], readme_env(tmp_path), 0)
    try:
        port = urllib.request.urlparse(serving.url).port
        counts = []
        for line in lines:
            line = line.replace("127.0.0.1:3000", f"127.0.0.1:{port}")
            done = subprocess.run(
                ["bash", "-c", line], cwd=tmp_path, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stderr
            counts.append(json.loads(done.stdout)["visit_count"])
        assert counts[1] == counts[0] + 1
    finally:
        serving.stop()


def test_powershell_keeps_the_cookie_on_the_local_url(tmp_path):
    shell = shutil.which("pwsh") or shutil.which("powershell")
    if shell is None:
        pytest.skip("PowerShell is not installed here (the Windows CI runs this test)")
    lines = [line for line in fenced(REPO / "README.md", "powershell") if "127.0.0.1" in line]
    script_lines = fenced(REPO / "README.md", "powershell")
    start = script_lines.index(lines[0])
    script = script_lines[start : start + 4]
    serving = serve([sys.executable, "run.py", "up", "--port", "0"], readme_env(tmp_path), 0)
    try:
        port = urllib.request.urlparse(serving.url).port
        program = "\n".join(script).replace("127.0.0.1:3000", f"127.0.0.1:{port}")
        program += "\n(Invoke-RestMethod $url -Headers @{ Cookie = $cookie }).visit_count"
        done = subprocess.run(
            [shell, "-NoProfile", "-Command", program],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[-1] == "3", done.stdout
    finally:
        serving.stop()


def test_stage_04_s_symptom_quotes_what_sam_build_prints(tmp_path):
    """The manifest's symptom (the README's table) quotes sam's own words, not Python's."""
    symptom = " ".join(manifest.find("04").symptom.split())
    quoted = re.findall(r'"([^"]+)"', symptom)
    printed_here = [q for q in quoted if not q.startswith("[WinError")]  # Windows' own words
    assert "Error: Unable to use build dir .aws-sam/build. Reason:" in printed_here
    project = tmp_path / "04"
    shutil.copytree(manifest.find("04").path, project, ignore=shutil.ignore_patterns(".aws-sam"))
    held = ["--simulate-lock", "build/HelloWorldFunction/app.py"]
    build = [sys.executable, "run.py", "build", str(project), "--no-clean"]
    assert subprocess.run(build, cwd=REPO, capture_output=True, timeout=300).returncode == 0
    done = subprocess.run([*build, *held], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    for words in printed_here:
        assert words in done.stdout + done.stderr, (words, done.stdout, done.stderr)
    assert "PermissionError" not in symptom


@pytest.mark.browser
def test_open_it_and_refresh_counts_in_a_browser_on_the_local_url(start_stage):
    """The Start's promise, on the final app's `Secure` cookie over http://127.0.0.1."""
    executable = chromium_executable()
    from playwright import sync_api

    stack = start_stage("final")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(stack.url())
            first = shown_json(page)
            page.reload()
            second = shown_json(page)
            private = browser.new_page()  # a context of its own, as a private window is
            private.goto(stack.url())
            other = shown_json(private)
        finally:
            browser.close()
    assert (first["visit_count"], second["visit_count"]) == (1, 2)
    assert second["session_id"] == first["session_id"]
    assert other["visit_count"] == 1 and other["session_id"] != first["session_id"]


@pytest.mark.slow
@pytest.mark.parametrize("stage", [None, "05"], ids=["all", "05"])
def test_the_readme_s_notebook_command_serves_the_notebooks_in_jupyterlab(tmp_path, stage):
    """README.md's `python run.py notebook`, as typed (as root too, as in a container): it
    serves the notebooks folder until stopped; `python run.py notebook 05` opens stage 05's
    there. The browser it would open is a no-op here."""
    command = "python run.py notebook" + (f" {stage}" if stage else "")
    assert f"`{command}`" in (REPO / "README.md").read_text(encoding="utf-8")
    runtime = tmp_path / "runtime"
    # A port of its own (a free one, from the system), not Jupyter's 8888 and the ones after it:
    # with two of these tests at once (two workers), one was seen asking the other's server,
    # which refused its token (403).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "BROWSER": "true",
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "JUPYTER_PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, *command.split()[1:]],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    watchdog = threading.Timer(300, process.kill)  # a bound on a hang, not a measure
    watchdog.start()
    printed: list[str] = []
    try:
        for line in process.stdout:
            printed.append(line)
            found = re.search(r"(http://(?:localhost|127\.0\.0\.1):\d+/)lab\?token=(\w+)", line)
            if found:
                break
        else:
            raise AssertionError("JupyterLab stopped before serving:\n" + "".join(printed))
        base, token = found.groups()
        # Jupyter prints its URL a moment before it listens there: a person is never that quick.
        wait_until(lambda: _listening(urllib.request.urlparse(base)), 60, lambda: base)
        with urllib.request.urlopen(f"{base}api/contents?token={token}", timeout=60) as answer:
            listed = {item["name"] for item in json.load(answer)["content"]}
        assert {path.name for path in (REPO / "notebooks").glob("*.ipynb")} <= listed
        # The page the browser is sent to: Jupyter writes it before it says where it serves.
        opened = [page.read_text() for page in runtime.glob("jpserver-*open.html")]
        assert bool(stage) == any("/lab/tree/05-lost-updates.ipynb?token=" in p for p in opened)
        # And the words that name it, for a browser not opened (--no-browser).
        assert bool(stage) == any("to open 05-lost-updates.ipynb" in line for line in printed)
    finally:
        watchdog.cancel()
        process.terminate()  # Jupyter shuts down cleanly on SIGTERM
        process.communicate(timeout=60)


def _listening(url) -> bool:
    try:
        socket.create_connection((url.hostname, url.port), timeout=5).close()
    except OSError:
        return False
    return True
