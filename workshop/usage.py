"""The CLI's arguments as users get them wrong: each mistake says what to type instead.

The types of its options (a port, seconds, counts), and a mistake that argparse cannot explain:
it sees `logs 02 --filter Decimal serializable` as a filter of one word and an argument left
over, and prints the top-level usage; the user meant a phrase, which the shell splits unless
it is quoted.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import itertools
import math
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from workshop import manifest
from workshop.errors import WorkshopError


def port(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (try 3000)") from None
    if not (number == 0 or 1024 <= number <= 65535):  # below 1024: the system's, and root's
        what = "is not a port" if not 0 <= number <= 65535 else "is a port kept for the system"
        raise argparse.ArgumentTypeError(
            f"{number} {what}: use 1024-65535, or 0 for any free one (try 3000)"
        )
    return number


# What --from (and check's --path) is given: the words of its refusal when it is empty.
A_COPY = "the folder of your copy (`.` for the one you are in)"


def path(what: str, kind: Callable[[str], object] = str):
    """An option's path, as `kind`: never empty, which the commands would read as no option at
    all (`up --from ""` serving the final app) or as the folder the user is in."""

    def parse(text: str) -> object:
        if not text.strip():  # `--from ""`, or `--from $COPY` with COPY unset in PowerShell
            raise argparse.ArgumentTypeError(f"{text!r} is an empty path: give {what}")
        return kind(text)

    return parse


def seconds(maximum: float | None = None):
    """An option's number of seconds: more than 0 (and at most `maximum`)."""
    wanted = "a number of seconds, more than 0" + (f" and at most {maximum:g}" if maximum else "")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        # nan and inf are no number of seconds: `not` also refuses nan, which compares False.
        if not (0 < value < math.inf) or (maximum and value > maximum):
            raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}")
        return value

    parse.limits = "more than 0" + (f", at most {maximum:g}" if maximum else "")  # for --help
    return parse


def limited(text: str, kind: Callable, default: object = None) -> str:
    """An option's help: `text`, the limits its `kind` (seconds, whole, counts) refuses past,
    and its default (a tuple as typed: 1,8,32)."""
    shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
    return f"{text}: {kind.limits}" + ("" if default is None else f" (default: {shown})")


def whole(minimum: int, maximum: int | None = None):
    """An option's whole number: `minimum` or more (and at most `maximum`)."""
    wanted = f" from {minimum} to {maximum}" if maximum else f", {minimum} or more"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum and value > maximum):
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number{wanted}")
        return value

    parse.limits = f"{minimum} to {maximum}" if maximum else f"{minimum} or more"  # for --help
    return parse


def counts(maximum: int):
    """An option's list of whole numbers, each from 1 to `maximum`: `1,8,32`."""
    each = whole(1, maximum)

    def parse(text: str) -> tuple[int, ...]:
        try:
            return tuple(each(part) for part in text.split(","))
        except argparse.ArgumentTypeError:
            wanted = f"whole numbers from 1 to {maximum}, like 1,8,32"
            raise argparse.ArgumentTypeError(f"{text!r} is not a list of {wanted}") from None

    parse.limits = f"each {each.limits}"  # for --help
    return parse


# Characters that a double-quoted argument does not keep as they are: bash expands $, `, \ and
# (typed at its prompt) !, and PowerShell $ and `. Within single quotes both keep them all.
NOT_KEPT_IN_DOUBLE_QUOTES = set('$`\\!"')


def quoted(text: str) -> str:
    """`text` as one argument that bash and PowerShell both pass on as it is."""
    if NOT_KEPT_IN_DOUBLE_QUOTES & set(text) and "'" not in text:
        return f"'{text}'"
    return f'"{text}"'


def unquoted_phrase(argv: list[str], args: argparse.Namespace, extras: list[str]) -> str | None:
    """The message for `logs ... --filter WORD WORD...`: a phrase the shell split, or None."""
    if getattr(args, "command", None) != "logs" or args.filter is None:
        return None
    at = next((i for i, word in enumerate(argv) if word.split("=", 1)[0] == "--filter"), None)
    if at is None:
        return None
    rest = argv[at + (1 if "=" in argv[at] else 2) :]
    words = list(itertools.takewhile(lambda word: not word.startswith("-"), rest))
    stage = args.stage
    if stage is not None and words[:1] == [stage]:  # the word after the filter's was the stage
        if _names_a_project(stage):
            words = words[1:]
        else:
            stage = None  # it is the phrase's second word
    if stage is None and len(words) > 1 and _names_a_project(words[-1]):
        stage, words = words[-1], words[:-1]  # `--filter A B 02`: the stage typed last
    if not words:
        return None
    phrase = " ".join([args.filter, *words])
    from workshop.learn import run_py

    where = [as_typed(stage)] if stage else []
    if args.source:
        where += ["--from", as_typed(args.source)]
    command = " ".join([run_py(), "logs", *where, "--filter", quoted(phrase)])
    return (
        f"--filter takes one word, or a phrase in quotes: {len(words) + 1} words followed it, "
        f"unquoted; to find the events that hold them all, type `{command}`"
    )


# What a word of a suggested command may hold unquoted: bash and PowerShell both pass these on
# as they are; each gives some others a meaning of its own (a comma, `@`, `{`, `*`, `;`, ...).
PLAIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=+")


def as_typed(text: str) -> str:
    """`text` as a word of a suggested command: as it is when PLAIN (letters of any script
    too: Café), else quoted."""
    return text if all(c in PLAIN or c.isalnum() for c in text) else quoted(text)


def _names_a_project(name: str) -> bool:
    try:
        manifest.project(name)
    except WorkshopError:
        return False
    return True


# argparse's words for an option typed with no value after it: `logs 02 --filter`.
VALUE_MISSING = re.compile(r"argument (\S+): expected one argument")


class CommandParser(argparse.ArgumentParser):
    """A command's parser: with `needs` set, a missing argument gets that message instead of
    argparse's bare `the following arguments are required`."""

    needs: Callable[[], str] | None = None
    _typed: list[str] = []  # the words it was given to parse, as typed

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._typed = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        if self.needs and message.startswith("the following arguments are required"):
            message = self.needs()
        elif found := VALUE_MISSING.fullmatch(message):
            names = found.group(1).split("/")  # `--path/--from`: the one typed
            typed = next((name for name in names if name in self._typed), names[0])
            message = self._value_missing(typed) or message
        super().error(message)

    def _value_missing(self, option: str) -> str | None:
        """What to say of `option` typed last, or before another option, with no value."""
        action = next((a for a in self._actions if option in a.option_strings), None)
        if action is None or not action.help:
            return None
        metavar = action.metavar or action.dest.upper()
        return f"{option} needs a value after it: `{option} {metavar}`, {action.help}"

    def takes(self, words: list[str]) -> bool:
        """Whether these words are the command's arguments, all of them and rightly so."""
        with contextlib.redirect_stderr(io.StringIO()):  # what argparse would say: not shown
            try:
                return not self.parse_known_args(words)[1]
            except SystemExit:
                return False


def options_first(typed: list[str], commands: dict[str, argparse.ArgumentParser]) -> str | None:
    """What to say of options typed before the command (`--fresh up 05`), if they were."""
    from workshop.learn import run_py

    at = next((index for index, word in enumerate(typed) if word in commands), None)
    before = typed[:at] if at is not None else typed
    if not before or not before[0].startswith("-") or {"-h", "--help", "--"} & set(before):
        return None
    if at is None:  # options, and no command at all: name one that takes the first
        takers = [
            name
            for name, command in commands.items()
            if any(before[0] in action.option_strings for action in command._actions)
        ]
        if not takers:
            return None  # argparse's words: the option is no command's
        return (
            f"{before[0]} needs a command before it: options go after one, as in "
            f"`{' '.join([run_py(), takers[0], *map(as_typed, before)])}` (`{run_py()} --help` "
            "lists them)"
        )
    mended = [*typed[at:], *before]
    return (
        f"{before[0]} comes before the command: options go after it, so type "
        f"`{' '.join([run_py(), *map(as_typed, mended)])}`"
    )


def unknown_command(typed: list[str], commands: dict[str, argparse.ArgumentParser]) -> str | None:
    """What to say of a first word that is no command but near one (`log 02`, `Up`) or a stage
    (`02`, which `up` serves), if it is: the command to type. None leaves it to argparse."""
    from workshop.learn import run_py

    if not typed or typed[0].startswith("-") or typed[0] in commands:
        return None
    word, rest = typed[0], typed[1:]
    # 0.5: a two-letter word one letter off (`uo` for up) is as near as a command can be.
    close = difflib.get_close_matches(word.lower(), commands, n=1, cutoff=0.5)
    if close:
        mended, why = [close[0], *rest], f"did you mean {close[0]}?"
    elif _names_a_project(word):
        what = manifest.project(word).label  # stage 02 (The Decimal bug), the final app, a folder
        mended, why = ["up", *typed], f"it names {what}, which `up` serves."
    else:
        return None
    command = " ".join([run_py(), *map(as_typed, mended)])
    return f"{word!r} is not a command: {why} Type `{command}` (`{run_py()} --help` lists them)"


def not_understood(
    command: argparse.ArgumentParser, typed: list[str], args: argparse.Namespace, extras: list[str]
) -> str:
    """What `command` says of the words it did not take: argparse's words, then how to mend it.

    argparse itself reports them from the top parser, whose usage says nothing of the command's.
    """
    from workshop.learn import run_py

    said = f"unrecognized arguments: {' '.join(extras)}"
    if not isinstance(command, CommandParser):  # none named: argparse's words are all there is
        return said
    if args.command == "logs" and {"--tail", "-t"} & {word.split("=")[0] for word in extras}:
        where = f"--from {as_typed(args.source)}" if args.source else as_typed(args.stage or "")
        return (
            f"{said}: `sam logs --tail` follows new log events; here "
            f"`{' '.join([run_py(), 'up', where]).rstrip()}` prints each invocation's log lines "
            f"live, as they come, and `{' '.join([run_py(), 'logs', where]).rstrip()}` shows "
            "what was stored"
        )
    options = [option for action in command._actions for option in action.option_strings]
    meant = {}
    for word in extras:
        name, equals, value = word.partition("=")
        close = difflib.get_close_matches(name, options, n=1, cutoff=0.75)
        if name.startswith("-") and close:
            meant[word] = close[0] + equals + value
    if not meant:
        if not any(word.startswith("-") for word in extras):
            stages = [action for action in command._actions if not action.option_strings]
            takes = {0: "options only", 1: "one stage", 2: "two stages"}.get(
                len(stages), f"{len(stages)} arguments"
            )
            said += f" (`{command.prog}` takes {takes})"
        return said
    names = dict.fromkeys(option.split("=")[0] for option in meant.values())
    said += f"; did you mean {' or '.join(names)}?"
    mended = [meant.get(word, word) for word in typed[typed.index(args.command) + 1 :]]
    if command.takes(mended):  # the command to type, whole, when that is all it lacked
        said += f" Type `{' '.join([run_py(), args.command, *map(as_typed, mended)])}`"
    return said
