"""The documentation site: every page is in the nav, and ``mkdocs build --strict`` is clean."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import griffe
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = sorted((ROOT / "examples").glob("*.ipynb"))


def _nav_pages(nav) -> list[str]:
    """Every file the nav of mkdocs.yml names (a list of pages, {title: page} or sections)."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    raise AssertionError(f"unexpected nav entry {nav!r}")


def _config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def test_every_nav_page_exists_and_every_page_is_in_the_nav():
    nav = _nav_pages(_config()["nav"])
    assert len(nav) == len(set(nav)), "a page is listed twice in the nav"
    missing = [page for page in nav if not (DOCS / page).is_file()]
    assert not missing, f"in mkdocs.yml nav but not under docs/: {missing}"
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    pages |= {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.ipynb")}
    assert pages - set(nav) == set(), "pages under docs/ missing from the mkdocs.yml nav"


def test_every_example_notebook_has_a_docs_page():
    # docs/notebooks/NN_*.ipynb are links to examples/, so the site shows the notebooks as
    # stored; a new notebook needs its link and nav entry.
    pages = {p.name: p for p in (DOCS / "notebooks").glob("*.ipynb")}
    assert sorted(pages) == [nb.name for nb in EXAMPLES]
    for nb in EXAMPLES:
        assert pages[nb.name].resolve() == nb.resolve(), f"{pages[nb.name]} is not {nb}"


def _load_extension():
    spec = importlib.util.spec_from_file_location("griffe_markdown", DOCS / "griffe_markdown.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docstring_rest_habits_read_as_markdown():
    rewrite = _load_extension().markdown_docstring
    text = (
        "Run :func:`explain`, raise :class:`~keras_nnviz.errors.NNVizError`; shape::\n"
        "\n"
        "    fn(model, x)\n"
        "\n"
        "Args:\n"
        "    model, x, target,\n"
        "        logits: see the registry.\n"
        "\n"
        "Example:\n"
        "    >>> nv.grad_cam(model, x)\n"
    )
    assert rewrite(text) == (
        "Run `explain`, raise `NNVizError`; shape:\n"
        "\n"
        "    fn(model, x)\n"
        "\n"
        "Args:\n"
        "    model, x, target, logits: see the registry.\n"
        "\n"
        "Examples:\n"
        "    >>> nv.grad_cam(model, x)\n"
    )
    # Text without those habits is left as it is.
    plain = "A map.\n\nArgs:\n    x: inputs, e.g. ``x[0]``: one sample.\n"
    assert rewrite(plain) == plain


def test_functions_built_by_a_factory_get_their_doc_argument(tmp_path):
    # Static analysis sees `grad_cam = define(GradCAM, doc=f"...{_ARGS}...")` as an attribute
    # without a docstring; the extension gives it the doc= text, f-string fields filled from the
    # module's constants, and leaves fields it cannot fill (and other assignments) alone.
    package = tmp_path / "pkg"
    package.mkdir()
    source = [
        "_ARGS = 'Args:\\n    x: inputs.\\n'",
        "LIMIT = 64",
        "fn = make(1, doc=f'Summary, at most {LIMIT}.\\n\\n{_ARGS}')",
        "plain = make(2, doc='Plain summary.')",
        "unknown = make(3, doc=f'Summary {limit()}.')",
        "value = make(4)",
    ]
    (package / "__init__.py").write_text("\n".join(source) + "\n", encoding="utf-8")
    extension = _load_extension().MarkdownDocstrings()
    module = griffe.load(
        "pkg", search_paths=[tmp_path], extensions=griffe.load_extensions(extension)
    )
    assert module["fn"].docstring.value == "Summary, at most 64.\n\nArgs:\n    x: inputs."
    assert module["plain"].docstring.value == "Plain summary."
    assert module["unknown"].docstring is None
    assert module["value"].docstring is None


def _has_image_output(notebook: Path) -> bool:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return any(
        "image/png" in output.get("data", {})
        for cell in cells
        for output in cell.get("outputs", [])
    )


@pytest.mark.slow
def test_mkdocs_build_strict_has_no_warnings(tmp_path):
    assert importlib.util.find_spec("mkdocs"), "mkdocs comes with the test and docs extras"
    site = tmp_path / "site"
    # mkdocs-material prints a banner about MkDocs 2 that contains the word WARNING; it is not a
    # warning about this site.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "WARNING" not in output, output[-4000:]

    # use_directory_urls: false, so the site works from file://: pages are .html files
    index = (site / "index.html").read_text(encoding="utf-8")
    for image in sorted((DOCS / "images").glob("*.png")):
        assert (site / "images" / image.name).is_file()
    assert 'src="images/gradcam.png"' in index
    assert 'href="getting-started.html"' in index

    # the API reference of the attribution functions, with the docstring of grad_cam
    api = (site / "api" / "attribution.html").read_text(encoding="utf-8")
    heading = re.search(r'id="keras_nnviz\.attribution\.cam\.grad_cam"', api)
    assert heading, "no grad_cam entry in the attribution API page"
    assert "Grad-CAM" in api[heading.end() : heading.end() + 5000]

    # the notebooks, rendered with their stored outputs
    for notebook in EXAMPLES:
        page = site / "notebooks" / f"{notebook.stem}.html"
        assert page.is_file(), f"no page for {notebook.name}"
        html = page.read_text(encoding="utf-8")
        if _has_image_output(notebook):
            assert "data:image/png;base64," in html, f"{page.name} lost its stored pictures"
