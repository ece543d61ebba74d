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


def _method_calls(path: Path, names: set[str]) -> list[tuple[int, str]]:
    """``(line, name)`` of every call ``<anything>.name(...)`` in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.lineno, node.func.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in names
    ]


# argmax outside core: the sign convention of an SVD axis, not a class (projection.py).
_ARGMAX_ELSEWHERE = {"projection.py"}


def test_one_batch_loop_and_one_predicted_class():
    """Batches of user data are walked by core/loop.py (BatchLoop, iterate, fixed_batches,
    head) and classes are picked by core/targets.py (predicted, predicted_classes,
    class_indices): a family, callback, report or CLI command with its own
    ``prepare(...).batches(...)`` loop or its own ``argmax`` would be a second answer."""
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("core/"):
            continue
        names = {"batches"} | (set() if rel in _ARGMAX_ELSEWHERE else {"argmax"})
        if found := _method_calls(path, names):
            offenders[rel] = found
    assert offenders == {}, f"batch loops or argmax outside core/: {offenders}"


def test_the_loop_check_finds_a_second_loop(tmp_path):
    path = tmp_path / "family.py"
    path.write_text("for b in prepare(m, x).batches(8):\n    y = np.argmax(b)\n", encoding="utf-8")
    assert _method_calls(path, {"batches", "argmax"}) == [(1, "batches"), (2, "argmax")]


def test_only_core_looks_for_the_token_embedding():
    """Which layer embeds the token ids is core/model.py's answer (embedding_layer, token_input,
    is_text_model): no module outside core/ names ``keras.layers.Embedding``."""
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("core/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        lines = [
            n.lineno
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and n.attr == "Embedding"
        ]
        if lines:
            offenders[rel] = lines
    assert offenders == {}, f"keras.layers.Embedding outside core/: {offenders}"
