"""Bad input gets an NNVizError that says what was received and what would work."""

from __future__ import annotations

import numpy as np
import pytest

import keras_nnviz as nv
from tests.attribution._models import images, plain_cnn


@pytest.fixture(scope="module")
def model():
    return plain_cnn(seed=7)


def test_cam_on_a_layer_without_spatial_axes_names_the_spatial_layers(model):
    with pytest.raises(nv.IncompatibleLayerError, match=r"'gap'.*'c1', 'pool', 'c2'"):
        nv.grad_cam(model, images(2), layer="gap")
    with pytest.raises(nv.LayerNotFoundError, match="Did you mean.*'c2'"):
        nv.grad_cam(model, images(2), layer="c3")


def test_target_out_of_range_gives_the_valid_range(model):
    with pytest.raises(nv.InvalidTargetError, match=r"target 7 .*5 units \(valid 0 \.\.\. 4\)"):
        nv.saliency(model, images(2), target=7)
    with pytest.raises(nv.InvalidTargetError, match="valid 0 ... 4"):
        nv.grad_cam(model, images(2), target=[0, -1])
    with pytest.raises(nv.InvalidTargetError, match="3 per-sample targets for 2 samples"):
        nv.grad_cam(model, images(2), target=[0, 1, 2])
    with pytest.raises(nv.InvalidTargetError, match="received str 'cat'"):
        nv.grad_cam(model, images(2), target="cat")


def test_multi_output_model_needs_output(zoo):
    case = zoo("multi_output")
    with pytest.raises(nv.InvalidTargetError, match=r"\['class_head', 'box_head'\].*output="):
        nv.grad_cam(case.model, case.x)
    with pytest.raises(nv.InvalidTargetError, match="no output 'boxes'"):
        nv.saliency(case.model, case.x, output="boxes")
    with pytest.raises(nv.InvalidTargetError, match=r"output=2 is out of range"):
        nv.saliency(case.model, case.x, output=2)


def test_wrong_input_shape_says_what_the_model_expects(model):
    with pytest.raises(nv.InvalidInputError, match=r"\(None, 16, 16, 3\).*axis 1"):
        nv.grad_cam(model, images(2, size=12))
    with pytest.raises(nv.InvalidInputError, match=r"x\[None\]"):
        nv.saliency(model, images(1)[0])


def test_bad_options_are_named(model, zoo):
    x = images(2)
    with pytest.raises(nv.InvalidArgumentError, match="upsample must be one of"):
        nv.grad_cam(model, x, upsample="cubic")
    with pytest.raises(nv.InvalidArgumentError, match="steps must be an int >= 1"):
        nv.integrated_gradients(model, x, steps=0)
    with pytest.raises(nv.InvalidArgumentError, match="baseline of shape"):
        nv.integrated_gradients(model, x, baseline=np.zeros((5, 5)))
    with pytest.raises(nv.InvalidArgumentError, match="vargrad=True needs smooth_samples"):
        nv.saliency(model, x, vargrad=True)
    with pytest.raises(nv.InvalidArgumentError, match="rule must be"):
        nv.guided_backprop(model, x, rule="guided++")
    with pytest.raises(nv.InvalidArgumentError, match="max_channels must be"):
        nv.score_cam(model, x, max_channels=0)
    with pytest.raises(nv.InvalidArgumentError, match="patch must be"):
        nv.occlusion(model, x, patch=(2, 2, 2))
    with pytest.raises(nv.InvalidArgumentError, match="use nv.grad_cam for score callables"):
        nv.cam(model, x, target=lambda out: out[:, 0])


def test_cam_on_a_head_that_is_not_gap_dense(zoo):
    case = zoo("nested")
    with pytest.raises(nv.IncompatibleLayerError, match="fed by Dense 'dense'.*nv.grad_cam"):
        nv.cam(case.model, case.x)


def test_errors_are_nnviz_errors_and_builtin_errors(model):
    with pytest.raises(nv.NNVizError):
        nv.saliency(model, images(2), target=99)
    with pytest.raises(ValueError):
        nv.saliency(model, images(2), target=99)
    with pytest.raises(nv.UnsupportedModelError):
        nv.grad_cam("not a model", images(2))
