"""The notebooks as kept in git: sources and tags only, no outputs, counts or metadata noise.

Outputs change at every run (ports, request ids, timings); only the cells' sources and their
tags (such as `raises-exception`) are worth a diff. `workshop clean-notebooks` cleans; the
tests fail on a notebook that `problems` finds fault with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workshop import user_files
from workshop.errors import WorkshopError
from workshop.manifest import REPO_ROOT

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
CELL_METADATA = {"tags"}  # e.g. raises-exception, for a cell that fails on purpose
NOTEBOOK_METADATA = {"kernelspec"}  # which kernel Jupyter starts


def problems(nb: dict[str, Any]) -> list[str]:
    """What keeps a notebook (its JSON) from being clean, one line each."""
    found = [
        f"notebook metadata {key!r}"
        for key in sorted(set(nb.get("metadata", {})) - NOTEBOOK_METADATA)
    ]
    for index, cell in enumerate(nb.get("cells", [])):
        where = f"cell {index} ({cell.get('id', 'no id')})"
        if cell.get("outputs"):
            found.append(f"{where} has outputs")
        if cell.get("execution_count") is not None:
            found.append(f"{where} has an execution count")
        for key in sorted(set(cell.get("metadata", {})) - CELL_METADATA):
            found.append(f"{where} has metadata {key!r}")
    return found


def clean(path: Path) -> bool:
    """Clean the notebook at `path` in place; return whether anything changed."""
    text = user_files.read_text(path, "a notebook")
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkshopError(f"{path}: not a notebook ({exc}); give a .ipynb file") from None
    if not _is_notebook(nb):  # JSON of another kind: cleaned, it would be changed, or crash
        raise WorkshopError(
            f"{path}: not a notebook (JSON, but without a notebook's nbformat and list of "
            "cells, as Jupyter writes them); give a .ipynb file"
        )
    nb["metadata"] = {k: v for k, v in nb.get("metadata", {}).items() if k in NOTEBOOK_METADATA}
    for cell in nb.get("cells", []):
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k in CELL_METADATA}
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    # The layout Jupyter itself writes, so that a clean notebook saved by Jupyter diffs as nothing.
    cleaned = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if cleaned == text:
        return False
    path.write_text(cleaned, encoding="utf-8")
    return True


def _is_notebook(nb: Any) -> bool:
    """Whether `nb` has what `clean` reads as a notebook's, as every nbformat 4 notebook has."""
    if not isinstance(nb, dict) or "nbformat" not in nb or not isinstance(nb.get("cells"), list):
        return False
    parts = [nb, *nb["cells"]]
    return all(
        isinstance(part, dict) and isinstance(part.get("metadata", {}), dict) for part in parts
    )
