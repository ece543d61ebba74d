"""Shared fixtures: the model zoo (built once per session) and a model-unchanged check."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.zoo import ZOO, ZooCase  # noqa: E402

_BUILT: dict[str, ZooCase] = {}


@pytest.fixture(autouse=True, scope="session")
def callbacks_draw_every_epoch():
    """Callback tests count frames per epoch; a fit's default budget (5 % of its measured
    training time) would make those counts depend on this machine's load. Outside the tests
    that pass ``budget=`` (tests/callbacks/test_budget.py), fits get an unlimited budget."""
    from keras_nnviz.callbacks import _budget

    _budget.DEFAULT = _budget.Budget(None)
    yield
    _budget.DEFAULT = None


def build_case(name: str) -> ZooCase:
    """Build (once per session) and return a zoo case."""
    if name not in _BUILT:
        _BUILT[name] = ZOO[name]()
    return _BUILT[name]


@pytest.fixture(params=list(ZOO), ids=list(ZOO))
def zoo_case(request) -> ZooCase:
    """Every zoo model, one test per model."""
    return build_case(request.param)


@pytest.fixture
def zoo():
    """Access to any zoo case by name: ``zoo("nested")``."""
    return build_case


class ModelSnapshot:
    """Bitwise snapshot of what explaining must never change in a model."""

    def __init__(self, model: keras.Model):
        self.model = model
        self.weights = [np.array(v.numpy(), copy=True) for v in model.weights]
        self.trainable = [layer.trainable for layer in model._flatten_layers()]
        self.calls = [layer.__dict__.get("call") for layer in model._flatten_layers()]
        self.activations = [getattr(layer, "activation", None) for layer in model._flatten_layers()]
        self.compiled = getattr(model, "compiled", None)
        self.optimizer = getattr(model, "optimizer", None)
        self.loss = getattr(model, "loss", None)

    def assert_unchanged(self) -> None:
        now = [np.asarray(v.numpy()) for v in self.model.weights]
        assert len(now) == len(self.weights)
        for before, after in zip(self.weights, now):
            assert before.dtype == after.dtype and before.shape == after.shape
            assert before.tobytes() == after.tobytes(), "weights changed"
        layers = self.model._flatten_layers()
        assert [layer.trainable for layer in layers] == self.trainable, "trainable flags changed"
        assert [layer.__dict__.get("call") for layer in layers] == self.calls, "call patched"
        assert [getattr(layer, "activation", None) for layer in layers] == self.activations
        assert getattr(self.model, "compiled", None) == self.compiled
        assert getattr(self.model, "optimizer", None) is self.optimizer
        assert getattr(self.model, "loss", None) is self.loss


@pytest.fixture
def snapshot():
    """``snap = snapshot(model); ...; snap.assert_unchanged()``."""
    return ModelSnapshot


def png_is_not_blank(png: bytes) -> bool:
    """True when a PNG has real content: several distinct colours, not one flat fill."""
    import io

    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return (
        img.shape[0] > 20 and img.shape[1] > 20 and len(np.unique(img.reshape(-1, 3), axis=0)) > 8
    )
