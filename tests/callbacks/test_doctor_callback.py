"""The Doctor callback: findings in the manifest, one warning per new finding, never breaks fit."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.io import load_manifest

pytestmark = pytest.mark.slow


def _data():
    data = nv.datasets.digits(test_fraction=0.25, seed=0)
    return data.train.x.reshape(-1, 64)[:512], data.train.y[:512]


def _model(bias=0.0):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(
                32, activation="relu", bias_initializer=keras.initializers.Constant(bias)
            ),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="doctor_mlp",
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_findings_reach_the_manifest_and_warn_once(tmp_path):
    x, y = _data()
    model = _model(bias=-4.0)  # every ReLU dead from the start
    doctor = nv.callbacks.Doctor(tmp_path, x=x, y=y, max_samples=256, every=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=3, batch_size=64, verbose=0, callbacks=[doctor])
    mine = [w for w in caught if issubclass(w.category, nv.DiagnosisWarning)]
    assert len([w for w in mine if "dead_units" in str(w.message)]) == 1  # once, not per epoch
    assert doctor.diagnosis.codes[0] == "dead_units"
    assert len(doctor.history["step"]) == 4  # before training + 3 epochs
    params = load_manifest(tmp_path)["callbacks"]["doctor"]["params"]
    assert params["findings"][0]["code"] == "dead_units"
    assert params["findings"][0]["evidence"]["picture"] == "dead_units"
    assert params["epoch"] == 3


def test_healthy_fit_is_quiet_under_the_auto_budget(tmp_path):
    x, y = _data()
    model = _model()
    doctor = nv.callbacks.Doctor(tmp_path, x=x, y=y, max_samples=256)  # every="auto"
    with warnings.catch_warnings():
        warnings.simplefilter("error", nv.DiagnosisWarning)
        model.fit(x, y, epochs=4, batch_size=32, verbose=0, callbacks=[doctor])
    assert doctor.diagnosis.healthy, str(doctor.diagnosis)
    assert str(doctor.schedule) == "auto"
    assert 2 <= doctor.stats.snapshots <= 5  # before training, the final state, within budget


def test_a_failing_diagnosis_does_not_stop_fit(tmp_path):
    x, y = _data()
    model = _model()
    doctor = nv.callbacks.Doctor(tmp_path, x=x, y=np.full(len(y), 3), max_samples=64)
    doctor.compute = lambda model: (_ for _ in ()).throw(RuntimeError("boom"))
    with pytest.warns(nv.callbacks.VisualizationWarning, match="boom"):
        history = model.fit(x, y, epochs=2, batch_size=64, verbose=0, callbacks=[doctor])
    assert len(history.history["loss"]) == 2
