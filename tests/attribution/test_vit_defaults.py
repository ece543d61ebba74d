"""Image transformers without layer=: Grad-CAM / Score-CAM on the patch tokens laid out on the
patch grid, prefix tokens (CLS, DeiT's distillation token) found from the model (issue 23)."""

from __future__ import annotations

import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.core.model import default_cam_layer, token_grid
from tests import hub

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vit():
    M = hub._hub().models
    backbone = M.ViTBackbone(
        image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64
    )
    return M.ViTImageClassifier(backbone, num_classes=3, preprocessor=None)


@pytest.fixture(scope="module")
def deit():
    M = hub._hub().models
    backbone = M.DeiTBackbone(
        image_shape=(32, 32, 3),
        patch_size=8,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
    )
    return M.DeiTImageClassifier(backbone, num_classes=3, preprocessor=None)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).normal(size=(3, 32, 32, 3)).astype("float32")


def test_token_grid_finds_the_prefix_tokens(vit, deit):
    for model, prefix in ((vit, 1), (deit, 2)):
        tokens = token_grid(model)
        assert tokens is not None and tokens.grid == (4, 4) and tokens.prefix == prefix
        assert tokens.layer.endswith("transformer_block_2/ln_1")  # the last block's input
        assert default_cam_layer(model) == tokens.layer


@pytest.mark.parametrize("fn", [nv.grad_cam, nv.score_cam], ids=["grad_cam", "score_cam"])
def test_cams_without_layer_on_vit_and_deit(vit, deit, images, fn):
    for model in (vit, deit) if fn is nv.grad_cam else (deit,):
        maps = fn(model, images)
        assert maps.shape == (3, 32, 32) and np.isfinite(maps).all()
        assert maps.std(axis=(1, 2)).min() > 0
        grid = fn(model, images, upsample=None)
        assert grid.shape == (3, 4, 4)  # the patch grid, prefix tokens dropped


def test_grad_cam_on_the_grid_is_the_token_formula(deit, images):
    """Grad-CAM on the grid = relu(sum_c mean_patches(grad_c) * act_c) of the patch tokens."""
    tokens = token_grid(deit)
    grid = nv.grad_cam(deit, images[:1], 1, upsample=None, normalize=False)
    acts = nv.get_activations(deit, images[:1], layers=[tokens.layer])[tokens.layer]
    grads = nv.saliency(
        deit, images[:1], 1, layer=tokens.layer, normalize=False, keep_channels=True
    )
    a, g = acts[0, tokens.prefix :], grads[0, tokens.prefix :]
    expected = np.maximum(a @ g.mean(axis=0), 0).reshape(4, 4)
    np.testing.assert_allclose(grid[0], expected, rtol=1e-3, atol=1e-6)


def test_patch_attention_map_reads_the_prefix_from_the_model(deit, images):
    rollout = nv.attention_rollout(deit, images)
    assert rollout.shape == (3, 18, 18)  # CLS + distillation + 16 patches
    maps = nv.patch_attention_map(rollout, (32, 32), model=deit)
    assert maps.shape == (3, 32, 32) and np.isfinite(maps).all()
