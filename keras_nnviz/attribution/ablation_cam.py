"""Ablation-CAM (Desai & Ramaswamy 2020): channels weighted by how much the score drops when the
channel is zeroed, ``w_k = (y - y_k) / y``; gradient-free.

Ablated copies run through the compiled forward in chunks of about ``batch_size`` inputs: a
hook on the layer replaces each copy's output by the clean activation with one channel zeroed,
so the model is not cloned, nothing is rebuilt per channel, and the layers before the explained
one (whose outputs the copies no longer use) are pruned from the compiled graph.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..core import graph
from ..errors import IncompatibleLayerError
from . import _engine as E
from . import _maps as M
from .cam import CamExplainer, spatial_axes
from .gradients import tile
from .registry import Maps, method, run
from .score_cam import DEFAULT_SCORE_CAM_CHANNELS

__all__ = ["ablation_cam", "AblationCAM"]


class AblationCAM(CamExplainer):
    """Ablation-CAM on each sample's ``max_channels`` most active channels (see
    :func:`ablation_cam`)."""

    method = "ablation_cam"
    uses_gradient = False
    heavy = True

    def _options(
        self,
        *,
        max_channels: int | None = DEFAULT_SCORE_CAM_CHANNELS,
        upsample: str | None = "bilinear",
    ):
        if max_channels is not None:
            max_channels = M.check_positive_int("max_channels", max_channels)
        M.check_upsample(upsample)
        return {"max_channels": max_channels, "upsample": upsample}, {}

    def _extra_signature(self, opts):
        return (tf.TensorSpec((), tf.int32),)

    def _extras(self, batch, opts, dynamic, start, size):
        return (tf.constant(max(1, dynamic["batch_size"] // size), tf.int32),)

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        (chunk,) = ctx.extras
        flat, opts = ctx.inputs, ctx.options
        score, act, indices, signs = self._activation(flat, ctx.indices, ctx.signs)
        cf = self._layer_cf
        act = tf.cast(act, tf.float32)
        channels = act.shape[M.channel_axis(act, cf)]
        if channels is None:
            raise IncompatibleLayerError("Ablation-CAM needs a layer with a known channel count.")
        last = M.channels_last(act, cf)
        n = tf.shape(last)[0]
        top = opts["max_channels"]
        if top is not None and top < channels:
            rank = tf.reduce_mean(last, axis=spatial_axes(last))
            chosen = tf.math.top_k(rank, k=top).indices  # (N, k)
        else:
            top = channels
            chosen = tf.tile(tf.range(channels)[None], tf.stack([n, 1]))
        broadcast = [1] * (act.shape.rank - 2)
        mask_shape = (
            [-1, channels, *broadcast]
            if cf and act.shape.rank > 2
            else [
                -1,
                *broadcast,
                channels,
            ]
        )

        def body(start, stop, acc):
            m = stop - start
            # copy j of every sample zeroes its chosen channel start + j (copy-major, as tile)
            ablated = tf.one_hot(tf.reshape(tf.transpose(chosen[:, start:stop]), [-1]), channels)
            keep = tf.reshape(1.0 - ablated, mask_shape)
            masked = tile(act, m) * keep

            def zero_one(out):
                # The clean activation, masked: the layer's own output on the copies is unused,
                # so the compiled graph prunes the layers before it (only the rest reruns).
                return tf.cast(masked, out.dtype)

            scores = self._activation(
                [tile(t, m) for t in flat],
                tf.tile(indices, [m]),
                tf.tile(signs, [m]),
                transform=zero_one,
                fixed=True,
            )[0]
            scores = tf.transpose(tf.reshape(scores, tf.stack([m, n])))  # (N, m)
            return (acc[0] + tf.pad(scores, [[0, 0], [start, top - stop]]),)

        (ablated,) = M.chunked_loop(tf.constant(top), chunk, body, (tf.zeros(tf.stack([n, top])),))
        y = tf.cast(score, tf.float32)[:, None]
        weights = tf.math.divide_no_nan(y - ablated, y)  # (N, k)
        picked = tf.gather(last, chosen, axis=last.shape.rank - 1, batch_dims=1)
        shape = tf.concat([[n], tf.ones([last.shape.rank - 2], tf.int32), [top]], 0)
        cam = tf.nn.relu(tf.reduce_sum(picked * tf.reshape(weights, shape), axis=-1))
        return self._place(cam, flat, opts)


@method(AblationCAM, kind="cam", title="Ablation-CAM")
def ablation_cam(
    model: keras.Model,
    x: Any,
    target: Any = None,
    *,
    layer: graph.LayerRef | None = None,
    output: int | str | None = None,
    batch_size: int = 32,
    progress: bool | None = None,
    allow_nonfinite: bool = False,
    strategy: tf.distribute.Strategy | None = None,
    negative: bool = False,
    logits: bool = True,
    normalize: bool = True,
    out: np.ndarray | None = None,
    max_channels: int | None = DEFAULT_SCORE_CAM_CHANNELS,
    upsample: str | None = "bilinear",
) -> Maps:
    """Ablation-CAM: ``relu(sum_k w_k A_k)`` with ``w_k = (y - y_k) / y``, ``y`` the score and
    ``y_k`` the score with channel ``k`` of the layer's output zeroed. Gradient-free; one
    forward pass per ablated channel and sample.

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`. ``layer``: any layer with spatial output (default:
    the last spatial layer).

    Args:
        max_channels: channels ablated per sample, those with the largest mean activation
            (default 64, as Score-CAM; the others weigh 0); None ablates every channel (the
            paper's method).
        upsample: ``"bilinear"``, ``"align_corners"``, ``"nearest"``, or None for one map at
            the layer's resolution (see :func:`~keras_nnviz.attribution.cam.grad_cam`).

    Returns:
        ``(N, *input_spatial)`` float32 maps in [0, 1].

    Example:
        >>> maps = nv.ablation_cam(model, x[:8], max_channels=None)  # every channel
    """
    return run(AblationCAM, locals())
