"""Every example notebook executes top to bottom (a failing notebook is a failing test)."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit notebooks with outputs cleared (python examples/make_notebooks.py)"
    )
    assert "colab.research.google.com" in nb.cells[0].source
    start = time.perf_counter()
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    elapsed = time.perf_counter() - start
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "a visualization notebook should show figures"
    assert elapsed < 180, f"{path.name} took {elapsed:.0f} s (limit 3 minutes on CPU)"


def test_notebooks_match_their_generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_notebooks", EXAMPLES / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert {p.name for p in NOTEBOOKS} == set(module.NOTEBOOKS)
    for name, cells in module.NOTEBOOKS.items():
        built = module.build(name, cells)
        saved = nbformat.read(EXAMPLES / name, as_version=4)
        assert [c.source for c in built.cells] == [c.source for c in saved.cells], name
        assert [c.id for c in built.cells] == [c.get("id") for c in saved.cells], name
