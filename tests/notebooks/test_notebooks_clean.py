"""The notebooks are kept clean in git: no outputs, no execution counts, no metadata noise.

Outputs change at every run (ports, request ids, timings) and are made by running the
notebook, which test_notebooks.py does; only the cells' sources and their tags (such as
`raises-exception`) are worth a diff. Clean every notebook after running it in Jupyter with
`python run.py clean-notebooks`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workshop.notebooks import NOTEBOOKS_DIR, clean, problems

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


@pytest.fixture(scope="module")
def nbformat():
    """Jupyter's notebook format, imported by the worker that runs these tests: with its JSON
    schema validator it is a costly import, which every worker would pay to collect."""
    import nbformat

    return nbformat


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_is_valid(path: Path, nbformat):
    nbformat.validate(nbformat.read(path, as_version=nbformat.NO_CONVERT))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_is_clean(path: Path):
    found = problems(json.loads(path.read_text(encoding="utf-8")))
    assert not found, (
        f"{path.name} is not clean: {'; '.join(found)}.\n"
        "Clean it from the repository's root with:\n  python run.py clean-notebooks"
    )


def test_cleaning_leaves_only_sources_and_tags(tmp_path, nbformat):
    kernel = {"name": "python3", "display_name": "Python 3"}
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": kernel, "widgets": {}})
    cell = nbformat.v4.new_code_cell("1 + 1", execution_count=3, metadata={"tags": ["x"], "a": 1})
    cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"})]
    nb.cells = [cell, nbformat.v4.new_markdown_cell("text", metadata={"collapsed": True})]
    path = tmp_path / "dirty.ipynb"
    nbformat.write(nb, path)
    assert len(problems(json.loads(path.read_text(encoding="utf-8")))) == 5
    assert clean(path) is True
    assert problems(json.loads(path.read_text(encoding="utf-8"))) == []
    assert clean(path) is False  # a clean notebook is left exactly as it is
    nbformat.validate(nbformat.read(path, as_version=nbformat.NO_CONVERT))
