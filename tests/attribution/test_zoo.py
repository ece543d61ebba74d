"""Every method over the shared model zoo: runs, right shapes, float32 maps in [0, 1], and the
model is unchanged afterwards."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.attribution import registry
from tests.zoo import ZOO

# Options that keep a heavy method quick on the zoo's tiny models, and variants worth a run of
# their own, chosen by the parameters a method takes, not by its name: every registered method
# runs here, a new one included, with no edit.
CHEAP = {"steps": 4, "max_channels": 4, "samples": 2}
VARIANTS = {"smooth_samples": {"smooth_samples": 3, "seed": 0}}  # SmoothGrad, saliency's other path


def _runs() -> list:
    """``(method, options, test id)`` for every registered method and its variants."""
    runs = []
    for method in registry.METHODS.values():
        params = inspect.signature(method.function).parameters
        options = {k: v for k, v in CHEAP.items() if k in params}
        runs.append((method.name, options, method.name))
        runs += [
            (method.name, {**options, **extra}, f"{method.name}-{key}")
            for key, extra in VARIANTS.items()
            if key in params
        ]
    return runs


def _cases() -> list:
    """Every run on every zoo model it applies to: gradient methods on all of them, CAMs and
    occlusion (which need spatial axes) on all but the recurrent one."""
    return [
        pytest.param(method, options, name, id=f"{run_id}-{name}")
        for method, options, run_id in _runs()
        for name in ZOO
        if registry.get(method).kind == "gradient" or name != "recurrent"
    ]


# CAM needs layer -> global average pooling -> Dense; these zoo heads are something else.
NO_CAM_HEAD = {"nested", "seq_in_seq", "multi_input"}


def _expected_gradient_shapes(case):
    xs = case.x if isinstance(case.x, list) else [case.x]
    shapes = [x.shape[:-1] if x.ndim >= 3 else x.shape for x in xs]
    return shapes if isinstance(case.x, list) else shapes[0]


def _check(maps, expected):
    if expected is None:  # an input the method cannot attribute
        assert maps is None
        return
    if isinstance(expected, list):
        assert isinstance(maps, list) and len(maps) == len(expected)
        for m, shape in zip(maps, expected):
            _check(m, shape)
        return
    assert maps.shape == expected
    assert maps.dtype == np.float32
    assert np.all(np.isfinite(maps))
    assert maps.min() >= 0.0 and maps.max() <= 1.0 + 1e-6


def test_every_registered_method_is_covered():
    assert [run[0] for run in _runs() if run[0] == run[2]] == registry.names()
    assert {case.values[0] for case in _cases()} == set(registry.names())


@pytest.mark.slow
@pytest.mark.parametrize("method, options, name", _cases())
def test_every_method_runs_on_every_zoo_model(method, options, name, zoo, snapshot):
    kind = registry.get(method).kind
    case = zoo(name)
    snap = snapshot(case.model)
    if name == "multi_output":
        options = {**options, "output": "class_head"}
    run = registry.get(method).function
    if kind == "gradient":
        expected = _expected_gradient_shapes(case)
    elif isinstance(case.x, list):
        # One convention for every method: a list aligned to model.inputs for multi-input
        # models, None where the maps do not fit (here the vector input "meta").
        expected = [x.shape[:-1] if x.ndim >= 3 else None for x in case.x]
    else:
        expected = case.x.shape[:-1]
    if registry.get(method).cls is nv.CAM and name in NO_CAM_HEAD:
        with pytest.raises(nv.IncompatibleLayerError, match="nv.grad_cam"):
            run(case.model, case.x, **options)
    else:
        _check(run(case.model, case.x, **options), expected)
    snap.assert_unchanged()


def test_default_cam_layer_is_the_last_spatial_layer_also_when_nested(zoo):
    for name in ("nested", "seq_in_seq", "custom_layer"):
        case = zoo(name)
        explainer = nv.GradCAM(case.model)
        assert explainer.layer_path == case.spatial_layer
