"""Agreement with tf-keras-vis on a plain model: same model, inputs and classes.

tf-keras-vis upsamples CAMs with ``scipy.ndimage.zoom(order=1)`` (corner-aligned bilinear), so
the comparison uses ``upsample="align_corners"`` (and, separately, the maps at the layer's own
resolution). tf-keras-vis is given the logits the same way keras_nnviz scores them: its
``ReplaceToLinear`` modifier on its own clone. Its Score-CAM applies a softmax to the
predictions itself, so it gets the logits clone too and both weight channels by probabilities.
"""

from __future__ import annotations

import numpy as np
import pytest
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
from tf_keras_vis.layercam import Layercam
from tf_keras_vis.saliency import Saliency
from tf_keras_vis.scorecam import Scorecam
from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
from tf_keras_vis.utils.scores import CategoricalScore

import keras_nnviz as nv
from tests.attribution._models import correlations, images, plain_cnn

# tf-keras-vis calls Keras models with a list, which Keras 3 warns about.
pytestmark = pytest.mark.filterwarnings("ignore:The structure of `inputs`:UserWarning")

CLASSES = [0, 1, 2, 3, 4, 0]


@pytest.fixture(scope="module")
def setup():
    model = plain_cnn(seed=3)
    return model, images(6, seed=1), CategoricalScore(CLASSES)


@pytest.mark.parametrize(
    "peer, ours",
    [(Gradcam, nv.grad_cam), (GradcamPlusPlus, nv.grad_cam_plus_plus), (Layercam, nv.layer_cam)],
    ids=["grad_cam", "grad_cam_plus_plus", "layer_cam"],
)
def test_gradient_cams_agree_with_tf_keras_vis(setup, snapshot, peer, ours):
    model, x, score = setup
    snap = snapshot(model)
    explainer = peer(model, model_modifier=ReplaceToLinear(), clone=True)
    theirs = np.asarray(explainer(score, x, penultimate_layer="c2"))
    mine = ours(model, x, CLASSES, layer="c2", upsample="align_corners")
    assert mine.shape == theirs.shape == (6, 16, 16)
    assert correlations(mine, theirs).min() > 0.99
    # At the layer's own resolution no upsampling is involved at all.
    theirs_small = np.asarray(explainer(score, x, penultimate_layer="c2", expand_cam=False))
    mine_small = ours(model, x, CLASSES, layer="c2", upsample=None)
    assert mine_small.shape == theirs_small.shape == (6, 8, 8)
    assert correlations(mine_small, theirs_small).min() > 0.99
    # Default bilinear (half-pixel) upsampling differs from scipy's zoom, but not by much.
    assert correlations(ours(model, x, CLASSES, layer="c2"), theirs).min() > 0.9
    snap.assert_unchanged()


def test_score_cam_agrees_with_tf_keras_vis(setup, snapshot):
    model, x, score = setup
    snap = snapshot(model)
    peer = Scorecam(model, model_modifier=ReplaceToLinear(), clone=True)
    theirs = np.asarray(peer(score, x, penultimate_layer="c2"))
    mine = nv.score_cam(model, x, CLASSES, layer="c2", upsample="align_corners")
    assert correlations(mine, theirs).min() > 0.99
    # Faster-Score-CAM: tf-keras-vis takes the union of the batch's top channels, so compare
    # one sample at a time (where both use that sample's own top-4 channels).
    theirs = np.concatenate(
        [
            np.asarray(peer(CategoricalScore([c]), x[i : i + 1], penultimate_layer="c2", max_N=4))
            for i, c in enumerate(CLASSES[:3])
        ]
    )
    mine = nv.score_cam(
        model,
        x[:3],
        CLASSES[:3],
        layer="c2",
        max_channels=4,
        channels="std",
        upsample="align_corners",
    )
    assert correlations(mine, theirs).min() > 0.99
    snap.assert_unchanged()


def test_saliency_and_noise_free_smoothgrad_agree_with_tf_keras_vis(setup):
    model, x, score = setup
    peer = Saliency(model, model_modifier=ReplaceToLinear(), clone=True)
    theirs = np.asarray(peer(score, x))
    assert correlations(nv.saliency(model, x, CLASSES), theirs).min() > 0.99
    theirs = np.asarray(peer(score, x, smooth_samples=4, smooth_noise=0.0))
    mine = nv.saliency(model, x, CLASSES, smooth_samples=4, noise=0.0)
    assert correlations(mine, theirs).min() > 0.99
