"""Windowed, spatial-reduction and register-token attention of KerasHub vision models, per image.

Tiny random-init configs (16x16 or 32x32 images). The windowed maps are checked against what the
model computes: the full-grid map times the values reproduces the window attention's output
after the block un-partitions and un-shifts it.
"""

from __future__ import annotations

import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.attention.layout import attention_layout
from keras_nnviz.attention.windows import Windows, window_index
from keras_nnviz.core.model import default_cam_layer, token_grid

pytestmark = pytest.mark.slow


def _hub():
    import keras_hub

    return keras_hub.models


def _images(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, size, size, 3)).astype("float32")


@pytest.fixture(scope="module")
def swin():
    # 16x16 images, 2x2 patches: stage 0 an 8x8 grid in 4x4 windows (block 1 shifted by 2),
    # stage 1 the merged 4x4 grid in one window.
    backbone = _hub().SwinTransformerBackbone(
        image_shape=(16, 16, 3),
        embed_dim=8,
        depths=(2, 2),
        num_heads=(2, 2),
        window_size=4,
        patch_size=2,
        drop_path=0.0,
    )
    return _hub().SwinTransformerImageClassifier(backbone, num_classes=3)


@pytest.fixture(scope="module")
def swin_attention(swin):
    return nv.get_attention(swin, _images(2, 16))


def _window_of(grid, window, shift):
    """Independent window membership of each token of the grid (row-major)."""
    r, c = np.divmod(np.arange(grid[0] * grid[1]), grid[1])
    r, c = (r - shift) % grid[0], (c - shift) % grid[1]
    return (r // window) * (grid[1] // window) + c // window


def test_swin_maps_are_per_image_on_the_full_grid(swin, swin_attention):
    layout = attention_layout(swin)
    assert list(swin_attention) == list(layout)
    for key, a in swin_attention.items():
        grid = layout[key].query_grid
        assert a.shape == (2, 2, grid[0] * grid[1], grid[0] * grid[1]), key
        np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-5)
        spec = layout[key].windows
        owner = _window_of(grid, spec.window[0], spec.shift)
        outside = owner[:, None] != owner[None, :]
        assert np.all(a[:, :, outside] == 0), key
    shifted = layout["swin_transformer_backbone/stage_0/blocks_1/attn"].windows
    assert shifted.shift == 2 and shifted.grid == (8, 8)


def test_swin_full_grid_maps_reproduce_the_blocks_attention_output(swin, swin_attention):
    from keras_hub.src.models.swin_transformer.swin_transformer_layers import window_reverse

    block = "swin_transformer_backbone/stage_0/blocks_1"
    layer = nv.find_layer(swin, f"{block}/attn")
    acts = nv.get_activations(swin, _images(2, 16), layers=[f"{block}/norm1", f"{block}/attn"])
    x, windowed = acts[f"{block}/norm1"], acts[f"{block}/attn"]
    c = x.shape[-1]
    v = np.asarray(layer.qkv(x))[..., 2 * c :].reshape(2, 64, 2, c // 2).transpose(0, 2, 1, 3)
    a = swin_attention[f"{block}/attn"]
    mixed = (a @ v).transpose(0, 2, 1, 3).reshape(2, 64, c)
    ours = np.asarray(layer.proj(mixed))
    # the block's own output: windows reversed onto the grid and rolled back by the shift
    grid = np.asarray(window_reverse(windowed.reshape(-1, 4, 4, c), 4, 8, 8, c))
    reference = np.roll(grid, (2, 2), axis=(1, 2)).reshape(2, 64, c)
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_swin_rollout_crosses_patch_merging_and_lands_on_the_patch_grid(swin):
    x = _images(2, 16)
    r = nv.attention_rollout(swin, x)
    assert r.shape == (2, 16, 64)  # last stage's 4x4 tokens over the first stage's 8x8
    np.testing.assert_allclose(r.sum(-1), 1.0, atol=1e-5)
    maps = nv.patch_attention_map(r, (16, 16), query="mean", model=swin)
    assert maps.shape == (2, 16, 16)


def test_swin_default_cam_layer_is_the_last_stage_grid(swin):
    path = default_cam_layer(swin)
    assert path == "swin_transformer_backbone/stage_1/blocks_1/norm1"
    tokens = token_grid(swin, path)
    assert tokens.grid == (4, 4) and tokens.prefix == 0 and tokens.patches == (8, 8)
    cam = nv.grad_cam(swin, _images(2, 16))
    assert cam.shape == (2, 16, 16)


@pytest.fixture(scope="module")
def vitdet():
    # 32x32 images, 4x4 patches: an 8x8 grid; layer 0 in 4x4 windows, layer 1 global.
    return _hub().ViTDetBackbone(
        hidden_size=16,
        num_layers=2,
        intermediate_dim=32,
        num_heads=2,
        global_attention_layer_indices=[1],
        image_shape=(32, 32, 3),
        patch_size=4,
        num_output_channels=8,
        window_size=4,
    )


def test_vitdet_windowed_and_global_layers_are_per_image(vitdet):
    att = nv.get_attention(vitdet, _images(3, 32))
    windowed, global_ = att.values()
    assert windowed.shape == global_.shape == (3, 2, 64, 64)  # not (windows x N x heads, ...)
    for a in (windowed, global_):
        np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-5)
    owner = _window_of((8, 8), 4, 0)
    assert np.all(windowed[:, :, owner[:, None] != owner[None, :]] == 0)
    assert np.all(global_ > 0)
    # heads are not mixed with images: heads of one image differ, images differ
    assert not np.allclose(windowed[0, 0], windowed[0, 1])
    assert not np.allclose(windowed[0], windowed[1])
    r = nv.attention_rollout(vitdet, _images(3, 32))
    assert r.shape == (3, 64, 64)


@pytest.fixture(scope="module")
def segformer():
    encoder = _hub().MiTBackbone(
        layerwise_depths=[1, 1],
        num_layers=2,
        layerwise_num_heads=[1, 2],
        layerwise_sr_ratios=[4, 2],
        max_drop_path_rate=0.0,
        layerwise_patch_sizes=[7, 3],
        layerwise_strides=[4, 2],
        image_shape=(32, 32, 3),
        hidden_dims=[8, 16],
    )
    backbone = _hub().SegFormerBackbone(image_encoder=encoder, projection_filters=8)
    return _hub().SegFormerImageSegmenter(backbone=backbone, num_classes=3)


def test_segformer_reduced_keys_are_labelled_and_rolled_out(segformer):
    x = _images(2, 32)
    att = nv.get_attention(segformer, x)
    layout = attention_layout(segformer)
    for key, a in att.items():
        q, k = layout[key].query_grid, layout[key].key_grid
        assert a.shape[2:] == (q[0] * q[1], k[0] * k[1]), key
    assert [(v.query_grid, v.key_grid) for v in layout.values()] == [
        ((8, 8), (2, 2)),
        ((4, 4), (2, 2)),
    ]
    r = nv.attention_rollout(segformer, x)
    assert r.shape == (2, 16, 64)
    np.testing.assert_allclose(r.sum(-1), 1.0, atol=1e-5)


def test_segmenter_default_cam_layer_is_before_the_head(segformer):
    from keras_nnviz.core import graph

    path = default_cam_layer(segformer)
    layer = nv.find_layer(segformer, path)
    # the fused features' activation (8 projection filters on the 8x8 grid), not the 3-class
    # output convolution or the final resize to the image
    assert path.startswith("seg_former_backbone/")
    assert type(layer).__name__ == "Activation"
    assert graph.output_shape(layer) == (None, 8, 8, 8)


@pytest.mark.parametrize("family", ["DINOV2Backbone", "DINOV3Backbone"])
def test_register_tokens_are_found_not_laid_out_as_patches(family):
    model = getattr(_hub(), family)(
        patch_size=8,
        num_layers=2,
        hidden_dim=16,
        num_heads=2,
        intermediate_dim=32,
        num_register_tokens=4,
        image_shape=(32, 32, 3),
        **({"position_embedding_shape": (32, 32, 3)} if family == "DINOV2Backbone" else {}),
    )
    tokens = token_grid(model)
    assert tokens.grid == (4, 4) and tokens.prefix == 5  # CLS + 4 registers
    r = nv.attention_rollout(model, _images(2, 32))
    assert r.shape == (2, 21, 21)
    maps = nv.patch_attention_map(r, (32, 32), model=model, normalize=False)
    # by hand: the CLS row, registers (tokens 1..4) dropped, 4x4 patches resized
    import tensorflow as tf

    cls = r[:, 0, 5:].reshape(2, 4, 4, 1)
    hand = np.asarray(tf.image.resize(cls, (32, 32), method="bilinear"))[..., 0]
    np.testing.assert_allclose(maps, hand, atol=1e-6)
    inferred = nv.patch_attention_map(r, (32, 32), normalize=False)
    np.testing.assert_allclose(inferred, hand, atol=1e-6)


def test_deeplab_default_cam_layer_skips_output_conv_and_final_resize():
    M = _hub()
    encoder = M.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 16],
        stackwise_num_blocks=[1, 1],
        stackwise_num_strides=[1, 2],
        block_type="basic_block",
        use_pre_activation=False,
        image_shape=(32, 32, 3),
    )
    backbone = M.DeepLabV3Backbone(
        image_encoder=encoder,
        spatial_pyramid_pooling_key="P3",
        upsampling_size=2,
        dilation_rates=[1, 2],
        low_level_feature_key="P2",
        projection_filters=8,
        image_shape=(32, 32, 3),
    )
    model = M.DeepLabV3ImageSegmenter(backbone=backbone, num_classes=3)
    assert default_cam_layer(model) == "deep_lab_v3_backbone/segmentation_head_relu"


def test_window_index_matches_a_brute_force_partition():
    spec = Windows(grid=(6, 6), window=(3, 3), shift=1, heads=1, heads_in_batch=False)
    idx = window_index(spec)
    owner = _window_of((6, 6), 3, 1)
    sentinel = spec.count * 81
    assert np.all((idx == sentinel) == (owner[:, None] != owner[None, :]))
    # every (window, query, key) slot used exactly once
    used = np.sort(idx[idx != sentinel])
    np.testing.assert_array_equal(used, np.arange(sentinel))
