"""The nnviz command line: commands and the bad-input table (exit 2, one line, no traceback)."""

from __future__ import annotations

import subprocess
import sys

import keras
import pytest

from keras_nnviz import cli


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    from tests.zoo import custom_layer, nested

    root = tmp_path_factory.mktemp("models")
    paths = {}
    for name, case in {"nested": nested(), "custom": custom_layer()}.items():
        paths[name] = root / f"{name}.keras"
        case.model.save(paths[name])
    (root / "notamodel.keras").write_text("hello")
    (root / "weights.txt").write_text("hello")
    paths["garbage"] = root / "notamodel.keras"
    paths["text"] = root / "weights.txt"
    return paths


def test_layers_lists_nested_paths_shapes_and_params(saved_models, capsys):
    assert cli.main(["layers", str(saved_models["nested"])]) == 0
    out = capsys.readouterr().out
    assert "base/block2_conv" in out and "Conv2D" in out and "(None, 5, 5, 8)" in out
    model = keras.saving.load_model(saved_models["nested"])
    assert f"{model.count_params():,} parameters" in out


def test_layers_with_custom_objects_and_sublayers(saved_models, capsys):
    code = cli.main(
        ["layers", str(saved_models["custom"]), "--all", "--custom-objects", "tests.zoo:ConvBlock"]
    )
    assert code == 0
    assert "block/inner_conv" in capsys.readouterr().out


BAD = [
    (["layers", "missing.keras"], "model file not found"),
    (["layers", "{text}"], "not a Keras model file"),
    (["layers", "{garbage}"], "a .keras file is a zip archive"),
    (["layers", "{nested}", "--custom-objects", "no_such_module:X"], "cannot import"),
    (["layers", "{nested}", "--custom-objects", "tests.zoo:Nope"], "has no 'Nope'"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[m for _, m in BAD])
def test_bad_input_exits_2_with_one_line(saved_models, capsys, argv, message):
    argv = [a.format(**{k: str(v) for k, v in saved_models.items()}) for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_debug_flag_shows_the_exception(saved_models):
    with pytest.raises(cli.CLIError):
        cli.main(["--debug", "layers", "missing.keras"])


@pytest.mark.slow
def test_console_script_and_module_entry_points(saved_models):
    # python -m keras_nnviz works too, and both keep TensorFlow's import chatter off stderr.
    for argv in (["nnviz"], [sys.executable, "-m", "keras_nnviz"]):
        done = subprocess.run(
            [*argv, "layers", str(saved_models["nested"])], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert "base/block1_conv" in done.stdout
    for argv in (["nnviz"], [sys.executable, "-m", "keras_nnviz"]):
        done = subprocess.run([*argv, "layers", "missing.keras"], capture_output=True, text=True)
        assert done.returncode == 2
        expected = ["nnviz layers: error: model file not found: missing.keras"]
        assert done.stderr.splitlines() == expected, done.stderr  # no TensorFlow chatter
    done = subprocess.run(
        ["nnviz", "layers", str(saved_models["garbage"])], capture_output=True, text=True
    )
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr


def test_layers_never_prints_control_or_bidi_characters(tmp_path, capsys):
    """A hostile layer name must not reach the terminal as escape sequences or overrides."""
    hostile = "conv\x1b]0;owned\x07\x1b[2J\u202egnp.exe"
    inp = keras.Input((4,))
    out = keras.layers.Dense(2, name=hostile)(inp)
    path = tmp_path / "hostile.keras"
    keras.Model(inp, out, name="m\x1b[31m").save(path)
    assert cli.main(["layers", str(path)]) == 0
    printed = capsys.readouterr().out
    assert not any(ch in printed for ch in "\x1b\x07\u202e")
    assert "conv\\x1b]0;owned\\x07\\x1b[2J\\u202egnp.exe" in printed  # visible, escaped
