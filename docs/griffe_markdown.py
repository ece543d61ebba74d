"""Griffe extension for the docs build: read the docstrings' reST habits as Markdown.

keras_nnviz's docstrings are Google style with a few reST habits that Markdown renders wrongly:

- ``Example:`` section titles (singular, as the Google style guide and Napoleon accept). Griffe's
  Google parser knows only ``Examples:`` and renders any other title as an admonition whose
  ``>>>`` lines Markdown turns into nested block quotes (and ``x["a"][0]`` into a broken
  reference link, an error under ``mkdocs build --strict``).
- Sphinx roles (``:func:`explain```, ``:class:`~keras_nnviz.errors.NNVizError```), printed
  literally by Markdown. They become inline code: many name objects relative to their module,
  which cross-references could not resolve.
- A paragraph ending in ``::`` before an indented literal block: one colon in Markdown.
- An ``Args:`` item naming several parameters over two lines (``model, x, ..., negative,`` /
  ``logits, normalize: see ...``): griffe reads one name list per line, so the two lines are
  joined.

It also gives the functions built at import time by a factory call with a ``doc=`` keyword
(``grad_cam = define(GradCAM, kind=..., doc=...)`` in ``keras_nnviz.attribution``,
``deletion_auc = _curve_metric(..., doc=...)``, ``image_grid = grid_plot(..., doc=...)``) that
docstring, which static analysis cannot see otherwise: the string, or an f-string whose fields
are module-level constants. Once those functions are plain ``def``s this part finds nothing to
do.

Rewriting the text when griffe reads each docstring leaves the code unchanged.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)
_ROLE = re.compile(r":(?:mod|func|class|meth|attr|data|exc|obj|const):`(~?)([^`]+)`")
_LITERAL = re.compile(r"(\S)::$", re.MULTILINE)
_NAME_LIST = re.compile(r"^(\s+(?:\w+, )+\w+,)\n\s+((?:\w+, )*\w+:)", re.MULTILINE)


def markdown_docstring(text: str) -> str:
    """Return ``text`` with the reST habits above rewritten as Markdown."""
    text = _EXAMPLE.sub(r"\1Examples:", text)
    # Sphinx shows only the last name of a "~"-prefixed target.
    text = _ROLE.sub(lambda m: f"`{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}`", text)
    text = _NAME_LIST.sub(r"\1 \2", text)
    return _LITERAL.sub(r"\1:", text)


class MarkdownDocstrings(griffe.Extension):
    """Rewrite every docstring with :func:`markdown_docstring` before it is parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)

    def on_attribute_instance(
        self, *, node: Any, attr: griffe.Attribute, agent: Any, **kwargs: Any
    ) -> None:
        doc = _define_doc(node, attr)
        if doc is not None:
            attr.docstring = griffe.Docstring(
                markdown_docstring(doc),
                lineno=node.lineno,
                parent=attr,
                # parsed like every other docstring (Google style, the configured options)
                parser=getattr(agent, "docstring_parser", None),
                parser_options=getattr(agent, "docstring_options", None),
            )
            attr.value = None  # the define(...) call with its whole docstring is noise


def _define_doc(node: Any, attr: griffe.Attribute) -> str | None:
    """The ``doc=`` text of ``name = factory(..., doc=...)``, f-string fields filled from the
    module's constants; None for any other assignment or a field that is not such a constant."""
    call = getattr(node, "value", None)
    if not isinstance(call, ast.Call):
        return None
    doc = next((k.value for k in call.keywords if k.arg == "doc"), None)
    if isinstance(doc, ast.Constant) and isinstance(doc.value, str):
        return doc.value
    if not isinstance(doc, ast.JoinedStr) or attr.module.filepath is None:
        return None
    constants = _constants(str(attr.module.filepath))
    parts = []
    for part in doc.values:
        if isinstance(part, ast.Constant):
            parts.append(part.value)
        elif (
            isinstance(part, ast.FormattedValue)
            and part.conversion == -1
            and part.format_spec is None
            and getattr(part.value, "id", None) in constants
        ):
            parts.append(constants[part.value.id])
        else:
            return None
    return "".join(parts)


@functools.cache
def _constants(path: str) -> dict[str, str]:
    """Module-level ``NAME = "..."`` (or a number) assignments of the file at ``path``, as the
    text an f-string field shows."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    return {
        target.id: str(stmt.value.value)
        for stmt in tree.body
        if isinstance(stmt, ast.Assign)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, (str, int, float))
        for target in stmt.targets
        if isinstance(target, ast.Name)
    }
