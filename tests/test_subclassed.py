"""Subclassed models (no functional graph) and sub-layers of custom layers: every family works
from shapes of a traced call, or says clearly what is missing."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.attribution import registry
from keras_nnviz.core import graph
from keras_nnviz.errors import NNVizError
from tests import zoo

CAMS = {"cam", "grad_cam", "grad_cam_plus_plus", "layer_cam", "score_cam"}


@pytest.fixture(scope="module")
def pair():
    return zoo.subclassed_pair()


def test_layer_shapes_come_from_a_traced_call(pair):
    sub, func = pair
    for path in ("conv1", "conv2", "gap", "predictions"):
        assert graph.output_shape(graph.find_layer(sub.model, path)) == graph.output_shape(
            func.model.get_layer(path)
        )
    custom = zoo.custom_layer().model
    assert graph.output_shape(graph.find_layer(custom, "block/inner_conv")) == (None, 12, 12, 6)


@pytest.mark.slow
@pytest.mark.parametrize("method", registry.names())
def test_every_attribution_method_matches_the_functional_twin(pair, method):
    sub, func = pair
    options = {"layer": "conv2"} if method in CAMS else {}
    if method == "integrated_gradients":
        options["steps"] = 16
    if "seed" in inspect.signature(registry.get(method).function).parameters:
        options["seed"] = 0  # sampled methods draw the same noise for both
    ours = nv.explain(sub.model, sub.x, method=method, **options)
    twin = nv.explain(func.model, func.x, method=method, **options)
    assert ours.shape == twin.shape == (len(sub.x), 12, 12)
    assert np.ptp(twin) > 0
    assert np.corrcoef(ours.ravel(), twin.ravel())[0, 1] > 0.99, method


def test_cam_checks_a_subclassed_head_by_its_calls_and_its_numbers(pair):
    sub, _ = pair
    # conv1 is not followed by the pooling: the call order says so.
    with pytest.raises(NNVizError, match="subclassed.*Conv2D 'conv2'.*nv.grad_cam"):
        nv.cam(sub.model, sub.x, layer="conv1")

    class Shifted(zoo.SubclassedCNN):
        """Looks like conv -> GAP -> Dense, but adds a constant between pooling and Dense."""

        def call(self, x):
            return self.head(self.gap(self.conv2(self.conv1(x))) + 1.0)

    shifted = Shifted(name="shifted")
    shifted(sub.x[:1])
    with pytest.raises(NNVizError, match="not fed by the pooled 'conv2' alone"):
        nv.cam(shifted, sub.x, layer="conv2")


def test_other_families_on_a_subclassed_model(pair):
    sub, func = pair
    ours = nv.get_activations(sub.model, sub.x, ["conv2", "predictions"])
    twin = nv.get_activations(func.model, func.x, ["conv2", "predictions"])
    for path in ours:
        np.testing.assert_allclose(ours[path], twin[path], rtol=1e-5, atol=1e-6)
    assert [r["layer"] for r in nv.weight_stats(sub.model)] == [
        r["layer"] for r in nv.weight_stats(func.model)
    ]
    # Grad-CAM's default layer is found from the traced shapes, as on the functional twin.
    np.testing.assert_allclose(
        nv.grad_cam(sub.model, sub.x), nv.grad_cam(func.model, func.x), atol=1e-5
    )
    with pytest.raises(NNVizError, match="no attention layer"):
        nv.get_attention(sub.model, sub.x)
    with pytest.raises(NNVizError, match="keras.Input"):
        nv.maximize_activation(sub.model, nv.objectives.channel("conv2", 1), steps=2)


def test_grad_cam_on_a_sub_layer_of_a_custom_layer():
    case = zoo.custom_layer()
    maps = nv.grad_cam(case.model, case.x, layer="block/inner_conv", normalize=False)
    assert maps.shape == (len(case.x), 12, 12) and np.isfinite(maps).all() and maps.max() > 0
    layer_maps = nv.layer_cam(case.model, case.x, layer="block/inner_conv")
    assert layer_maps.shape == maps.shape
