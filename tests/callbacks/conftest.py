"""A digits CNN trained 3 epochs with every callback attached, shared by the callback tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_nnviz as nv

EPOCHS = 3


@dataclass
class Run:
    model: keras.Model
    history: keras.callbacks.History
    log_dir: Path
    callbacks: list
    data: nv.datasets.Digits

    def callback(self, cls):
        return next(cb for cb in self.callbacks if isinstance(cb, cls))


def every_callback(log_dir, data) -> list:
    """One of each callback family that works on a CNN, with small fixed inputs."""
    x, y = data.test.x, data.test.y
    return [
        nv.callbacks.WeightHistograms(log_dir),
        nv.callbacks.WeightMatrices(log_dir, layers=["conv1", "dense"]),
        nv.callbacks.ActivationMaps(log_dir, x=x[:2], layers=["conv1", "conv2", "dense"]),
        nv.callbacks.EmbeddingProjection(
            log_dir,
            x=x[:120],
            labels=y[:120],
            layer="dense",
            class_names=data.class_names,
            every=1,
        ),
        nv.callbacks.GradCAM(log_dir, x=x[:4]),
        nv.callbacks.Attributions(
            log_dir, x=x[:4], method="integrated_gradients", steps=16, signed=True
        ),
        nv.callbacks.GradientFlow(log_dir, x=x[:64], y=y[:64]),
        nv.callbacks.DeadUnits(log_dir, x=x[:64]),
    ]


@pytest.fixture(scope="package")
def digits():
    return nv.datasets.digits()


@pytest.fixture(scope="package")
def run(tmp_path_factory, digits) -> Run:
    keras.utils.set_random_seed(0)
    log_dir = tmp_path_factory.mktemp("logs")
    model = nv.datasets.digits_cnn()
    cbs = every_callback(log_dir, digits)
    history = model.fit(
        digits.train.x[:640],
        digits.train.y[:640],
        epochs=EPOCHS,
        batch_size=32,
        verbose=0,
        callbacks=[*cbs, keras.callbacks.TensorBoard(log_dir, histogram_freq=1)],
    )
    return Run(model, history, log_dir, cbs, digits)


@pytest.fixture
def small_fit(digits):
    """fit(model, callbacks, epochs) on 128 digits: quick training for behaviour tests."""

    def fit(callbacks, epochs=2, model=None, **kwargs):
        model = model or nv.datasets.digits_cnn()
        return model.fit(
            digits.train.x[:128],
            digits.train.y[:128],
            epochs=epochs,
            batch_size=32,
            verbose=0,
            callbacks=callbacks,
            **kwargs,
        )

    return fit


def finite(values) -> bool:
    return bool(np.all(np.isfinite(values)))
