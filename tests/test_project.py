"""Project hygiene: the README's commands, CI, exports and lint."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import keras_nnviz as nv

ROOT = Path(__file__).resolve().parents[1]
TEST_COMMAND = 'pip install -e ".[test]" && pytest'


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert TEST_COMMAND in readme
    assert re.search(r"^" + re.escape(TEST_COMMAND) + r"\s*$", ci, re.M)


def test_design_contract_names_are_exported():
    for name in [
        "list_layers",
        "find_layer",
        "get_activations",
        "get_rnn_states",
        "get_weights",
        "weight_stats",
        "project",
        "NNVizError",
        "LayerNotFoundError",
        "plot",
        "datasets",
    ]:
        assert hasattr(nv, name), name
        assert name in nv.__all__, name


def test_errors_are_also_builtin_exceptions():
    assert issubclass(nv.LayerNotFoundError, nv.NNVizError)
    assert issubclass(nv.LayerNotFoundError, ValueError)
    assert issubclass(nv.InvalidInputError, ValueError)
    assert issubclass(nv.UnsupportedModelError, TypeError)


def test_no_private_keras_imports_outside_compat():
    for path in (ROOT / "keras_nnviz").rglob("*.py"):
        if path.name == "_compat.py":
            continue
        assert "keras.src" not in path.read_text(), path


def test_ruff_is_clean():
    assert shutil.which("ruff"), "ruff comes with the test extra: pip install -e '.[test]'"
    result = subprocess.run(
        ["ruff", "check", "keras_nnviz", "tests", "benchmarks", "examples", "docs", "nnviz_cli.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
