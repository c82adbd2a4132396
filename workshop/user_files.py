"""The user's files: reading one they named or wrote (any mistake is a WorkshopError that names
the file), and seeing which of a folder's changed.

Windows tools write text with a byte order mark: Windows PowerShell 5.1's `>` and `Out-File`
write UTF-16, its `Set-Content -Encoding UTF8` and older Notepad write UTF-8 with a BOM. They
are read by their BOM, as the AWS CLI reads a `file://` argument; anything else must be UTF-8.
"""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path
from typing import Any

from workshop.errors import WorkshopError

# Longest first: a UTF-32 LE mark starts with UTF-16 LE's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
SAVE_AS_UTF8 = "save it as UTF-8 (in PowerShell: `Set-Content -Encoding utf8`)"


def read_text(path: Path, what: str) -> str:
    """The text of the user's file at `path`, `what` it is (e.g. "event file") for messages."""
    if path.is_dir():
        raise WorkshopError(f"{path} is a folder, not {what}: give the path of a file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WorkshopError(f"{path}: no such file; give the path of {what}") from None
    except PermissionError:
        raise WorkshopError(
            f"{path}: permission denied; let yourself read it, or copy it somewhere you can"
        ) from None
    except OSError as exc:
        raise WorkshopError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise WorkshopError(
            f"{path}: not {encoding.upper().removesuffix('-SIG')} text (byte "
            f"{data[exc.start]:#04x} at position {exc.start}); {SAVE_AS_UTF8}"
        ) from None


# Build output and caches: what the user does not write.
NOT_WATCHED = {".aws-sam", "__pycache__", ".ipynb_checkpoints", ".git"}
# What editors write beside a file as it is opened or saved (vim's swap files, emacs's backups
# and locks, JetBrains' safe-write copies, hidden files): not a change of the user's code.
EDITORS_OWN = re.compile(r"^[.#]|~$|\.sw[a-px]$|___jb_(tmp|old)___$")


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """(modification time, size) of every file under `folder`, but build output, caches and
    editors' own files."""
    found = {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = [name for name in dirs if name not in NOT_WATCHED]
        for name in files:
            if EDITORS_OWN.search(name):
                continue
            path = Path(root, name)
            try:
                info = path.stat()
            except OSError:  # deleted meanwhile (an editor's swap file)
                continue
            found[path.relative_to(folder).as_posix()] = (info.st_mtime_ns, info.st_size)
    return found


def changes(old: dict[str, tuple[int, int]], new: dict[str, tuple[int, int]]) -> list[str]:
    """The files (relative paths) that came, went or changed between two snapshots."""
    return sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))


def yaml_problem(error: Any, text: str) -> str:
    """What is wrong with a YAML file (`text`), from PyYAML's error, on one line by line and
    column: without the excerpt and the caret it draws under them, noise once on one line."""
    import yaml  # here: only a file that fails to parse needs it

    if isinstance(error, yaml.reader.ReaderError):  # a character YAML takes nowhere
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        return f"at line {line}, column {column}: character #x{error.character:04x}: {error.reason}"
    if not isinstance(error, yaml.MarkedYAMLError) or error.problem_mark is None:
        return "(" + " ".join(str(error).split()) + ")"
    mark = error.problem_mark
    said = f"at line {mark.line + 1}, column {mark.column + 1}: {error.problem}"
    if error.context and error.context_mark is not None:
        start = error.context_mark
        said += (
            f" ({error.context} that starts at line {start.line + 1}, column {start.column + 1})"
        )
    elif error.context:
        said += f" ({error.context})"
    if "'\\t'" in str(error.problem):  # a tab, as some editors indent with
        said += "; YAML indents with spaces, not tabs"
    return said
