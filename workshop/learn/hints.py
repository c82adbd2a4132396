"""Hints, one at a time: which the learner has seen is kept in the playground."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from workshop import manifest
from workshop.learn.playground import make_folder, playground, run_py

HINTS_FILE = ".hints.json"


def hints_file() -> Path:
    return playground() / HINTS_FILE


def hints_seen() -> dict[str, int]:
    try:
        seen = json.loads(hints_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in seen.items() if isinstance(v, int)} if isinstance(seen, dict) else {}


def save_hints_seen(seen: dict[str, int]) -> None:
    path = hints_file()
    make_folder(path.parent)
    path.write_text(json.dumps(seen, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def print_hint(stage: manifest.Stage, number: int) -> None:
    print(f"Hint {number} of {len(stage.hints)} for stage {stage.id} ({stage.title}):")
    # A hint names commands as typed in the repository; the learner may stand in their copy.
    hint = " ".join(stage.hints[number - 1].split()).replace("python run.py", run_py())
    print(wrap(hint, indent="  "))


def wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(
        text, width=96, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False
    )
