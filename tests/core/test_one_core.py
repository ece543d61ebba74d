"""The package has one compiled pass: no module but core/compiled.py builds a tf.function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import keras_nnviz

PACKAGE = Path(keras_nnviz.__file__).parent
CORE = PACKAGE / "core" / "compiled.py"


def _tf_function_uses(path: Path) -> list[int]:
    """Lines where ``tf.function`` (or ``tensorflow.function``) is called or used as decorator."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "function"
            and isinstance(node.value, ast.Name)
            and node.value.id in ("tf", "tensorflow")
        ):
            lines.append(node.lineno)
    return lines


@pytest.mark.slow
def test_only_the_core_compiles():
    offenders = {
        str(p.relative_to(PACKAGE)): lines
        for p in sorted(PACKAGE.rglob("*.py"))
        if p != CORE and (lines := _tf_function_uses(p))
    }
    assert offenders == {}, f"tf.function outside core/compiled.py: {offenders}"


def test_the_core_has_one_compiled_pass_class():
    tree = ast.parse(CORE.read_text(encoding="utf-8"))
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    assert classes == ["CompiledPass"]
    assert _tf_function_uses(CORE), "the core itself must compile"
