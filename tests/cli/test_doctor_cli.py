"""``nnviz doctor LOGDIR`` and ``nnviz doctor MODEL DATA``: findings printed, exit 0/1/2."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz import cli
from tests.bad_input import assert_cli_exits_2

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A healthy and a sick (dead ReLUs) digits MLP saved, their data as .npz, and the log
    folder of a fit of the sick one with the Doctor callback."""
    root = tmp_path_factory.mktemp("doctor")
    data = nv.datasets.digits()
    x, y = data.train.x.reshape(-1, 64)[:400], data.train.y[:400]
    np.savez(root / "digits.npz", x=x, y=y)
    paths = {"data": root / "digits.npz", "logs": root / "logs"}
    for name, bias in (("healthy", 0.0), ("dead", -4.0)):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(
                    32, activation="relu", bias_initializer=keras.initializers.Constant(bias)
                ),
                keras.layers.Dense(10, activation="softmax"),
            ],
            name=name,
        )
        model.compile("adam", "sparse_categorical_crossentropy")
        callbacks = []
        if name == "dead":
            callbacks = [nv.callbacks.Doctor(paths["logs"], x=x, y=y, every=2)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", nv.DiagnosisWarning)  # the dead one is told
            model.fit(x, y, epochs=6 if name == "healthy" else 2, verbose=0, callbacks=callbacks)
        paths[name] = root / f"{name}.keras"
        model.save(paths[name])
    return paths


@pytest.mark.slow
def test_model_and_data(saved, capsys):
    assert cli.main(["doctor", str(saved["dead"]), str(saved["data"])]) == 1
    out = capsys.readouterr().out
    assert "dead_units" in out and "try:" in out
    assert cli.main(["doctor", str(saved["healthy"]), str(saved["data"])]) == 0
    assert "no problem found" in capsys.readouterr().out


@pytest.mark.slow
def test_logdir_and_json(saved, capsys):
    assert cli.main(["doctor", str(saved["logs"]), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["findings"][0]["code"] == "dead_units"


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv, phrase",
    [
        (lambda p: ["doctor", str(p["dead"])], "pass DATA"),
        (lambda p: ["doctor", str(p["data"].parent / "nothing")], "not found"),
        (lambda p: ["doctor", str(p["data"].parent)], "no keras_nnviz manifest"),
        (lambda p: ["doctor", str(p["logs"]), str(p["data"])], "pass no DATA"),
    ],
    ids=["no-data", "missing", "no-manifest", "logdir-with-data"],
)
def test_bad_input(saved, capsys, argv, phrase):
    assert_cli_exits_2(argv(saved), capsys, phrase)


def test_help_does_not_import_tensorflow():
    code = (
        "import sys, contextlib, io\n"
        "from keras_nnviz.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n"
        "        main(['doctor', '--help'])\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0\n"
        "print('tensorflow' in sys.modules, 'LOGDIR' in out.getvalue())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["False", "True"]
