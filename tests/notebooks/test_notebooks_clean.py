"""The notebooks are kept clean in git: no outputs, no execution counts, no metadata noise.

Outputs change at every run (ports, request ids, timings) and are made by running the
notebook, which test_notebooks.py does; only the cells' sources and their tags (such as
`raises-exception`) are worth a diff. Clean every notebook after running it in Jupyter with
the command in CLEAN_COMMAND.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
CELL_METADATA = {"tags"}  # e.g. raises-exception, for a cell that fails on purpose
NOTEBOOK_METADATA = {"kernelspec"}  # which kernel Jupyter starts
CLEAN_COMMAND = (
    "python -m jupyter nbconvert --clear-output --inplace --ClearMetadataPreprocessor.enabled=True "
    "--ClearMetadataPreprocessor.preserve_cell_metadata_mask=tags "
    "--ClearMetadataPreprocessor.preserve_nb_metadata_mask=kernelspec notebooks/*.ipynb"
)


def problems(path: Path) -> list[str]:
    """What keeps the notebook at `path` from being clean, one line each."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for key in sorted(set(nb.get("metadata", {})) - NOTEBOOK_METADATA):
        found.append(f"notebook metadata {key!r}")
    for index, cell in enumerate(nb.get("cells", [])):
        where = f"cell {index} ({cell.get('id', 'no id')})"
        if cell.get("outputs"):
            found.append(f"{where} has outputs")
        if cell.get("execution_count") is not None:
            found.append(f"{where} has an execution count")
        for key in sorted(set(cell.get("metadata", {})) - CELL_METADATA):
            found.append(f"{where} has metadata {key!r}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_is_valid(path: Path):
    nbformat.validate(nbformat.read(path, as_version=nbformat.NO_CONVERT))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_is_clean(path: Path):
    found = problems(path)
    assert not found, (
        f"{path.name} is not clean: {'; '.join(found)}.\n"
        f"Clean it from the repository's root with:\n  {CLEAN_COMMAND}"
    )
