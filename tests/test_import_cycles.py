"""A module imports only what stands below it: keras_nnviz has no import cycle between its modules.

The graph is built from the source, not from ``sys.modules``: every ``import`` and ``from ...
import`` in a module's AST, at the top level AND inside functions (a function-local import hides
a cycle from Python at import time, not from the reader), relative imports resolved against the
module's package. ``from pkg import name`` is an edge to the module ``pkg.name`` when there is
one, else to ``pkg`` (its ``__init__``). Imports under ``if TYPE_CHECKING:`` never run and are
left out. The packages a dotted import passes through (``a`` and ``a.b`` for ``a.b.c``) are not
edges: every submodule "imports" its package that way, which is how packages work, not a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Cycles that exist and are accepted, each with the reason (empty: none is).
ALLOWED_CYCLES: list[set[str]] = []


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_blocks(tree: ast.Module) -> set[int]:
    """``id`` of every node under an ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for child in node.body:
                    skipped.update(id(n) for n in ast.walk(child))
    return skipped


def import_graph(root: Path, package: str = "keras_nnviz") -> dict[str, set[str]]:
    """``{module: modules of the package it imports}`` for every ``.py`` under ``root/package``."""
    paths = {_module_name(root, p): p for p in sorted((root / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = _type_checking_blocks(tree)
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in paths)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = here.split(".")
                    parts = parts[: len(parts) - (node.level - 1)]
                    base = ".".join([*parts, *([node.module] if node.module else [])])
                else:
                    base = node.module or ""
                if base not in paths:
                    continue  # not ours (keras, numpy ...)
                modules = {f"{base}.{a.name}" for a in node.names} & paths.keys()
                edges |= modules
                if len(modules) < len(node.names):  # some names come from base itself
                    edges.add(base)
        graph[name] = edges - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_the_cycle_check_finds_a_cycle_hidden_in_a_function(tmp_path):
    pkg = tmp_path / "keras_nnviz"
    (pkg / "report").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "base.py").write_text("import os\n")
    (pkg / "report" / "__init__.py").write_text("from .posthoc import model_report\n")
    (pkg / "report" / "posthoc.py").write_text(
        "from .. import base\nfrom ._sections import BUILDERS\ndef model_report(): ...\n"
    )
    (pkg / "report" / "_sections.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from keras_nnviz.report import posthoc  # never runs\n"
        "BUILDERS = {}\ndef build():\n    from .posthoc import model_report\n"
    )
    graph = import_graph(tmp_path)
    assert graph["keras_nnviz.report.posthoc"] == {
        "keras_nnviz.base",
        "keras_nnviz.report._sections",
    }
    assert graph["keras_nnviz.report"] == {"keras_nnviz.report.posthoc"}
    assert cycles(graph) == [{"keras_nnviz.report.posthoc", "keras_nnviz.report._sections"}]
    (pkg / "report" / "_sections.py").write_text("BUILDERS = {}\n")
    assert cycles(import_graph(tmp_path)) == []


def test_keras_nnviz_has_no_import_cycle():
    graph = import_graph(ROOT)
    assert "keras_nnviz.report.views" in graph["keras_nnviz.report._sections"]
    found = [c for c in cycles(graph) if c not in ALLOWED_CYCLES]
    named = "; ".join(" <-> ".join(sorted(c)) for c in found)
    assert not found, f"Import cycles (move what both need into a module below them): {named}"
