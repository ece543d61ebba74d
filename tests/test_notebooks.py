"""Every example notebook executes top to bottom (a failing notebook is a failing test), and the
stored notebooks carry their outputs — small, and the same kinds a fresh run produces."""

from __future__ import annotations

import base64
import copy
import importlib.util
import re
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def _generator():
    spec = importlib.util.spec_from_file_location("make_notebooks", EXAMPLES / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _kinds(nb) -> list[set[str]]:
    """Per code cell, what it shows: mime types of its displays and results, and errors.
    Streams (logs, warnings) are left out: they vary from run to run."""
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kinds = set()
        for o in cell.get("outputs", []):
            if o.output_type == "error":
                kinds.add("error")
            elif o.output_type in ("display_data", "execute_result"):
                kinds |= {k for k in o.get("data", {}) if k.startswith("image/")}
        out.append(kinds)
    return out


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_stored_notebooks_show_their_pictures_and_stay_small(path):
    assert path.stat().st_size < _generator().MAX_BYTES, "regenerate: make_notebooks.py"
    nb = nbformat.read(path, as_version=4)
    kinds = _kinds(nb)
    assert not any("error" in k for k in kinds)
    pngs = [
        base64.b64decode(o["data"]["image/png"])
        for c in nb.cells
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    assert pngs, "stored without outputs: run python examples/make_notebooks.py"
    assert all(p[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes_and_reproduces_its_stored_outputs(path, tmp_path):
    saved = nbformat.read(path, as_version=4)
    assert "colab.research.google.com" in saved.cells[0].source
    nb = copy.deepcopy(saved)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    start = time.perf_counter()
    _generator().execute(nb, tmp_path)
    elapsed = time.perf_counter() - start
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    # The stored outputs are what this run shows (GIFs are stored as their last frame).
    fresh = [{"image/png" if k == "image/gif" else k for k in kinds} for kinds in _kinds(nb)]
    assert fresh == _kinds(saved), "outputs changed: run python examples/make_notebooks.py"
    assert any(fresh), "a visualization notebook should show figures"
    assert elapsed < 180, f"{path.name} took {elapsed:.0f} s (limit 3 minutes on CPU)"


def test_notebooks_match_their_generator():
    module = _generator()
    assert {p.name for p in NOTEBOOKS} == set(module.NOTEBOOKS)
    for name, cells in module.NOTEBOOKS.items():
        built = module.build(name, cells)
        saved = nbformat.read(EXAMPLES / name, as_version=4)
        assert [c.source for c in built.cells] == [c.source for c in saved.cells], name
        assert [c.id for c in built.cells] == [c.get("id") for c in saved.cells], name


def test_project_urls_agree_with_the_notebooks_install_cell():
    # [project.urls] of pyproject.toml, read by pattern (tomllib is Python >= 3.11 only)
    table = (ROOT / "pyproject.toml").read_text().split("[project.urls]")[1].split("\n[")[0]
    urls = dict(re.findall(r'^(\w+) = "([^"]+)"', table, flags=re.M))
    assert urls["Source"] == f"https://github.com/{_generator().REPO}"
    assert len(urls) >= 3 and all(url.startswith(urls["Source"]) for url in urls.values())


def test_readme_links_stay_inside_the_repository():
    """Every relative link of the README opens a file of the repository."""
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)", text)
    local = [link for link in links if "://" not in link and not link.startswith("mailto:")]
    assert local
    for link in local:
        target = (ROOT / link).resolve()
        assert target.is_relative_to(ROOT) and target.exists(), link


def test_every_notebook_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    missing = [p.name for p in NOTEBOOKS if f"(examples/{p.name})" not in readme]
    assert not missing, f"add to the README's notebook table: {missing}"
