"""The method registry (``keras_nnviz/attribution/registry.py``) is the only list of attribution
methods: no module outside ``keras_nnviz/attribution/`` spells a method's name, except where it
chooses a default by name, and every consumer (CLI, callbacks, report) reads the registry live, so
a method added in one file reaches them all."""

from __future__ import annotations

import argparse
import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import keras_nnviz as nv
from keras_nnviz.attribution import registry
from keras_nnviz.cli import _method_name, build_parser

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "keras_nnviz"

# Files allowed to spell registered method names, each with the names and why. Nothing else is.
ALLOWED: dict[str, tuple[set[str] | None, str]] = {
    "keras_nnviz/__init__.py": (
        None,  # every name
        "the public API: a literal __all__ and export table that static tools can read "
        "(the registry generates nothing a static tool must see)",
    ),
    "keras_nnviz/core/model.py": (
        {"grad_cam", "saliency", "integrated_gradients"},
        "default_attribution: the one home of 'which method suits this model'",
    ),
    "keras_nnviz/metrics.py": (
        {"grad_cam"},
        "randomization_similarity's default method=",
    ),
    "keras_nnviz/callbacks/attribution.py": (
        {"saliency", "grad_cam"},
        "Attributions' default method= and the method the GradCAM callback is named after",
    ),
    "keras_nnviz/crossmodal.py": (
        {"grad_cam", "integrated_gradients"},
        "the defaults of image_text_map (a CAM on the image tower) and text_image_attribution",
    ),
    "keras_nnviz/vlm.py": (
        {"integrated_gradients", "gradient_x_input", "saliency"},
        "vlm_attribution's own two-layer versions of these three (one path scales the image "
        "tokens and the prompt embeddings together), not a dispatch to the registry",
    ),
    "keras_nnviz/cli/demo.py": (
        {"integrated_gradients", "saliency"},
        "the demo's choice of method for its text and CNN models",
    ),
}


def _method_literals(path: Path) -> list[tuple[int, str]]:
    """``(line, name)`` of every string literal in ``path`` equal to a registered method name.

    A literal compared with a ``.kind`` (``method.kind == "cam"``) names a kind
    (``registry.KINDS``), not a method, even where the two share a word.
    """
    names = set(registry.names())
    tree = ast.parse(path.read_text(encoding="utf-8"))
    kinds = {
        id(operand)
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and any(
            isinstance(o, ast.Attribute) and o.attr == "kind"
            for o in [node.left, *node.comparators]
        )
        for operand in [node.left, *node.comparators]
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value in names
        and id(node) not in kinds
    ]


def test_no_module_outside_attribution_keeps_a_list_of_methods():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith("keras_nnviz/attribution/"):
            continue
        allowed = ALLOWED.get(relative, (set(), ""))[0]
        for line, name in _method_literals(path):
            if allowed is not None and name not in allowed:
                found.append(f"{relative}:{line}: {name!r}")
    assert not found, "Method names outside the registry (read registry.METHODS instead): " + (
        "; ".join(found)
    )


def test_the_literal_check_sees_lists_and_comparisons(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        '"""Mentions grad_cam in prose, which is fine."""\n'
        'CAMS = ("grad_cam", "layer_cam")\n'
        'def suffix(m):\n    return "gradcam" if m == "grad_cam" else m\n'
        'def spatial(m):\n    return m.kind == "cam" or m.name != "cam"\n'
    )
    found = [(2, "grad_cam"), (2, "layer_cam"), (4, "grad_cam"), (6, "cam")]
    assert sorted(_method_literals(module)) == found


def _method_action():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    gradcam = commands.choices["gradcam"]
    return next(a for a in gradcam._actions if a.dest == "method")


def test_cli_method_accepts_exactly_the_registry():
    assert _method_action().type is _method_name
    assert [_method_name(name) for name in registry.names()] == registry.names()
    with pytest.raises(argparse.ArgumentTypeError) as info:
        _method_name("no_such_method")
    listed = str(info.value).partition("choose from ")[2].split(", ")
    assert listed == registry.names()


def test_cli_refuses_an_unknown_method_before_loading_the_model(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        build_parser().parse_args(
            ["gradcam", "missing.keras", "a.png", "--method", "no_such_method"]
        )
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "unknown method 'no_such_method'" in err and "integrated_gradients" in err, err


def test_cli_gradcam_help_does_not_import_tensorflow():
    code = (
        "import sys, contextlib, io\n"
        "from keras_nnviz.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n"
        "        main(['gradcam', '--help'])\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0\n"
        "print('tensorflow' in sys.modules, '--method' in out.getvalue())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("name", registry.names())
def test_callbacks_accept_every_registered_method_with_its_own_options(name):
    function = registry.get(name).function
    own = set(inspect.signature(function).parameters) - {"model", "x", "target", "progress"}
    assert own <= set(nv.callbacks.Attributions.option_names({"method": name}))


def test_callbacks_refuse_an_unknown_method_naming_the_registered_ones():
    with pytest.raises(nv.InvalidArgumentError, match="method must be one of") as info:
        nv.callbacks.Attributions.option_names({"method": "no_such_method"})
    assert all(repr(name) in str(info.value) for name in registry.names())


def test_a_method_added_to_the_registry_reaches_cli_callbacks_and_titles(monkeypatch):
    # Registering happens in the method's own module; the consumers must see it with no edit.
    monkeypatch.setattr(registry, "METHODS", dict(registry.METHODS))

    class Shiny(nv.Saliency):
        method = "shiny_saliency"

    def shiny_saliency(*args, **kwargs):
        return registry.run(Shiny, kwargs)

    shiny_saliency.__signature__ = registry.expected_signature(Shiny)  # type: ignore[attr-defined]
    registry.method(Shiny, kind="gradient", title="Shiny saliency")(shiny_saliency)

    assert _method_name("shiny_saliency") == "shiny_saliency"
    assert "smooth_samples" in nv.callbacks.Attributions.option_names({"method": "shiny_saliency"})
    assert registry.get("shiny_saliency").title == "Shiny saliency"
    assert registry.get("shiny_saliency").slug == "shiny_saliency"


def test_every_method_has_a_title_and_a_slug_unique_among_methods():
    methods = list(registry.METHODS.values())
    assert all(m.title and m.slug for m in methods)
    assert len({m.title for m in methods}) == len(methods)
    assert len({m.slug for m in methods}) == len(methods)  # one PNG name per method
    assert registry.get("grad_cam").slug == "gradcam"  # nnviz gradcam's <image>_gradcam.png
