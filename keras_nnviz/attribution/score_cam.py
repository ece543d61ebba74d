"""Score-CAM (Wang et al. 2020): channels weighted by the target's probability on the input
masked by each channel, batched, on each sample's most relevant channels.

A class activation map like those of :mod:`.cam` (it shares their explainer base), but
gradient-free and evaluated by perturbation: one forward pass per masked channel and sample.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..core import graph
from ..errors import IncompatibleLayerError, InvalidArgumentError
from . import _engine as E
from . import _maps as M
from .cam import CamExplainer, spatial_axes
from .registry import Maps, method, run

__all__ = ["CHANNEL_RANKINGS", "DEFAULT_SCORE_CAM_CHANNELS", "ScoreCAM", "score_cam"]


CHANNEL_RANKINGS = ("activation", "gradient", "std", "all")
# Score-CAM's default cap on masked channels per sample (see benchmarks/README.md, Score-CAM
# fidelity): the map of the top channels by mean activation stays close to the full map.
DEFAULT_SCORE_CAM_CHANNELS = 64


def _channel_rank(how: str, act: tf.Tensor, grads: tf.Tensor | None) -> tf.Tensor:
    """Per sample and channel, how much the channel is expected to matter ``(N, C)``."""
    axes = spatial_axes(act)
    if how == "std":  # Faster-Score-CAM (Wang et al. 2020), tf-keras-vis max_N
        return tf.math.reduce_std(act, axis=axes)
    mass = tf.reduce_mean(act, axis=axes)
    if how == "gradient":  # the size of the channel's Grad-CAM term (Score-CAM weights are
        # probabilities, positive whatever the gradient's sign)
        return tf.abs(tf.reduce_mean(grads, axis=axes)) * mass
    # The map is sum_k weight_k * A_k with weights in [0, 1] (probabilities): the channels
    # with the most activation bound what any channel can add.
    return mass


class ScoreCAM(CamExplainer):
    """Score-CAM (Wang et al. 2020), batched, on each sample's most relevant channels.

    Each chosen channel of the layer, upsampled and min-max scaled to [0, 1], masks the input;
    the model's probability (softmax / sigmoid; raw value for linear outputs) of the target on
    the masked input weights that channel. Masking every channel costs one forward pass per
    channel (2048 for a ResNet50), although the map is a sum of ``weight × activation`` in which
    most channels weigh almost nothing: by default only each sample's ``max_channels`` channels
    ranked first by ``channels`` are masked (see :func:`score_cam`). Masked inputs run in chunks
    of about ``batch_size`` through one compiled ``tf.while_loop``.
    """

    method = "score_cam"
    uses_gradient = False
    heavy = True

    logits_default = False

    def _options(
        self,
        *,
        channels: str = "activation",
        max_channels: int | None = DEFAULT_SCORE_CAM_CHANNELS,
        upsample: str | None = "bilinear",
    ):
        if channels not in CHANNEL_RANKINGS:
            raise InvalidArgumentError(
                f"channels must be one of {list(CHANNEL_RANKINGS)}; received {channels!r}. "
                "'activation' ranks by mean activation (free), 'gradient' by the Grad-CAM "
                "contribution (one gradient pass), 'std' by spatial standard deviation "
                "(Faster-Score-CAM, tf-keras-vis max_N), 'all' masks every channel."
            )
        if max_channels is not None:
            max_channels = M.check_positive_int("max_channels", max_channels)
        if channels == "all":
            max_channels = None
        M.check_upsample(upsample)
        return {"channels": channels, "max_channels": max_channels, "upsample": upsample}, {}

    def _extra_signature(self, opts):
        return (tf.TensorSpec((), tf.int32),)

    def _extras(self, batch, opts, dynamic, start, size):
        return (tf.constant(max(1, dynamic["batch_size"] // size), tf.int32),)

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        (chunk,) = ctx.extras
        model, flat, indices, signs, opts = (
            ctx.model,
            ctx.inputs,
            ctx.indices,
            ctx.signs,
            ctx.options,
        )
        top = opts["max_channels"]
        if opts["channels"] == "gradient" and top is not None:
            grads, (act,), indices, signs = self.gradients(flat, indices, signs)
            grads = grads[0]
        else:
            _, act, indices, signs = self._activation(flat, indices, signs)
            grads = None
        act = self._spatial(tf.cast(act, tf.float32))
        grads = None if grads is None else self._spatial(grads)
        channels = act.shape[-1]
        if channels is None:
            raise IncompatibleLayerError("Score-CAM needs a layer with a known channel count.")
        if top is not None and top < channels:
            key = _channel_rank(opts["channels"], act, grads)  # (N, C)
            chosen = tf.math.top_k(key, k=top).indices
            act = tf.gather(act, chosen, axis=act.shape.rank - 1, batch_dims=1)
            channels = top
        rank = act.shape.rank - 2
        maps = tf.transpose(act, [0, rank + 1, *range(1, rank + 1)])  # (N, k, *s)
        mode = opts["upsample"] or "bilinear"
        masked_inputs = [
            i for i, t in enumerate(flat) if t.shape.rank == rank + 2 and E.is_float(t)
        ]
        if not masked_inputs:
            raise IncompatibleLayerError(
                f"Score-CAM masks inputs with the layer's {rank}-D maps, but no input of model "
                f"{model.name!r} has {rank} spatial axes."
            )
        n = tf.shape(act)[0]

        layouts = self._input_layouts(flat)

        def body(start, stop, acc):
            m = stop - start
            # Masks for this chunk of channels only: memory stays at batch_size inputs.
            chunk_maps = tf.reshape(maps[:, start:stop], tf.concat([[-1], tf.shape(act)[1:-1]], 0))
            batch = []
            for i, t in enumerate(flat):
                if i not in masked_inputs:
                    batch.append(tf.repeat(t, m, axis=0))
                    continue
                size = M.spatial_size(t, layouts[i])
                masks = M.normalize_maps(M.upsample(chunk_maps, size, mode))
                # One mask per location, broadcast over the input's channel axis.
                spatial = tf.shape(masks)[1:]
                parts = [[1], spatial] if layouts[i] else [spatial, [1]]
                masks = tf.reshape(masks, tf.concat([[-1, m], *parts], 0))
                masked = tf.cast(t, tf.float32)[:, None] * masks  # (N, m, *S, C)
                shape = tf.concat([[-1], tf.shape(t)[1:]], 0)
                batch.append(tf.cast(tf.reshape(masked, shape), t.dtype))
            score = self.score(
                batch,
                tf.repeat(indices, m),
                tf.repeat(signs, m),
                fixed=True,
                probabilities=not self._spec.logits,
            )[0]
            score = tf.reshape(score, tf.stack([n, m]))
            return (acc[0] + tf.pad(score, [[0, 0], [start, channels - stop]]),)

        (weights,) = M.chunked_loop(
            tf.constant(channels), chunk, body, (tf.zeros(tf.stack([n, channels])),)
        )
        shape = tf.concat([[n], tf.ones([rank], tf.int32), [channels]], 0)
        cam = tf.nn.relu(tf.reduce_sum(act * tf.reshape(weights, shape), axis=-1))
        return self._place(cam, flat, opts)


# ----------------------------------------------------------------------------------------------
# Function form (registered: see registry)


@method(ScoreCAM, kind="cam", title="Score-CAM")
def score_cam(
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
    logits: bool = False,
    normalize: bool = True,
    out: np.ndarray | None = None,
    channels: str = "activation",
    max_channels: int | None = DEFAULT_SCORE_CAM_CHANNELS,
    upsample: str | None = "bilinear",
) -> Maps:
    """Score-CAM: channels weighted by the target probability of the input masked by each
    (upsampled, [0, 1]-scaled) channel. Gradient-free; one forward pass per channel and sample.

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`.
    ``layer`` is any layer with spatial output, by path (also inside a nested base model,
    ``"base/block3_conv"``, or a custom layer); default: the last spatial layer.

    Args:
        upsample: ``"bilinear"`` (``tf.image.resize``), ``"align_corners"`` (as
            ``scipy.ndimage.zoom(order=1)``, tf-keras-vis), ``"nearest"``, or None for one
            map at the layer's resolution.
        channels: how each sample's channels are ranked before the first
            ``max_channels`` are masked: ``"activation"`` (default: mean activation, free),
            ``"gradient"`` (the size of the channel's Grad-CAM term, one gradient pass), ``"std"``
            (spatial standard deviation: Faster-Score-CAM, tf-keras-vis ``max_N``) or
            ``"all"`` (every channel: the original method).
        max_channels: channels masked per sample (default 64); None
            masks every channel. A layer with fewer channels masks them all.

    Returns:
        ``(N, *input_spatial)`` float32 maps in [0, 1].

    Example:
        >>> maps = nv.score_cam(model, x[:8])  # top 64 channels by activation
        >>> full = nv.score_cam(model, x[:8], channels="all")
    """
    return run(ScoreCAM, locals())
