"""`python run.py diff A B`: what changed from one stage (or folder, or `final`) to another."""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path

from workshop import manifest

DIFF_SKIP = {"README.md", "__pycache__"}
# What `final` is, for `diff`: the app at the top of the repository, not the repository.
FINAL_FILES = ("template.yaml", "samconfig.toml", "src")


def _files(project: manifest.Project) -> dict[str, Path]:
    """The files of a project that `diff` compares: its code, template and configuration."""
    root = project.path
    # `final`: the app at the top of the repository, not the whole repository.
    tops = [root / name for name in FINAL_FILES] if root == manifest.REPO_ROOT else [root]
    found = {}
    for top in tops:
        paths = sorted(top.rglob("*")) if top.is_dir() else [top]
        for path in paths:
            parts = path.relative_to(root).parts
            # Hidden folders (.git, .aws-sam, .venv, ...) and caches hold no lesson.
            if path.is_file() and not any(p in DIFF_SKIP or p.startswith(".") for p in parts):
                found[path.relative_to(root).as_posix()] = path
    return found


def _lines(path: Path | None) -> list[str] | None:
    """A file's lines for diffing ([] when absent); None when it is not text."""
    if path is None:
        return []
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        return None


def show(name_a: str, name_b: str) -> int:
    """Print the unified diff of two projects' code, template and configuration."""
    a, b = manifest.project(name_a), manifest.project(name_b)
    files_a, files_b = _files(a), _files(b)
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    changed = 0
    for name in sorted(files_a.keys() | files_b.keys()):
        old, new = _lines(files_a.get(name)), _lines(files_b.get(name))
        if old is None or new is None:
            if (
                files_a.get(name) is None
                or files_b.get(name) is None
                or (files_a[name].read_bytes() != files_b[name].read_bytes())
            ):
                changed += 1
                print(f"Binary files {name_a}/{name} and {name_b}/{name} differ")
            continue
        lines = list(
            difflib.unified_diff(old, new, f"{name_a}/{name}", f"{name_b}/{name}", lineterm="")
        )
        changed += bool(lines)
        for line in lines:
            if colour and line[:1] in "+-" and line[:3] not in ("+++", "---"):
                line = f"\x1b[{32 if line[0] == '+' else 31}m{line}\x1b[0m"
            print(line)
    if not changed:
        print(f"{name_a} and {name_b} have the same code and template.")
    return 0
