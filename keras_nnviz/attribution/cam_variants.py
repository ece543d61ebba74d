"""The CAM variants of pytorch-grad-cam, each a formula on a layer's activations ``A`` and the
score's gradients ``G`` (channels last, summed over channels ``k``, ReLU at the end as for every
CAM): HiRes-CAM, XGrad-CAM, Eigen-CAM and Guided Grad-CAM (Ablation-CAM: :mod:`.ablation_cam`).
They share :class:`~keras_nnviz.attribution.cam.CamExplainer`: one compiled pass, a hook on the
layer (nested base models and custom layers' sub-layers work), upsampling and normalization.
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
from .cam import CamExplainer, GradCAM, spatial_axes
from .gradients import relu_hooks, warn_unguided
from .registry import Maps, method, run

__all__ = [
    "eigen_cam",
    "EigenCAM",
    "guided_grad_cam",
    "GuidedGradCAM",
    "hires_cam",
    "HiResCAM",
    "xgrad_cam",
    "XGradCAM",
]


class HiResCAM(CamExplainer):
    """HiRes-CAM (Draelos & Carin 2020): ``relu(sum_k G_k * A_k)`` per location; provably
    shows the locations the score used (for a layer followed by GAP and a Dense it equals
    Grad-CAM)."""

    method = "hires_cam"

    def _cam(self, act, grads, indices, signs, opts):
        return tf.reduce_sum(act * grads, axis=-1)


class XGradCAM(CamExplainer):
    """XGrad-CAM (Fu et al. 2020): channel weights ``sum(G_k * A_k) / sum(A_k)`` over the
    locations (``1e-7`` added to the denominator, as pytorch-grad-cam)."""

    method = "xgrad_cam"

    def _cam(self, act, grads, indices, signs, opts):
        axes = spatial_axes(act)
        total = tf.reduce_sum(act, axis=axes, keepdims=True)
        weights = tf.reduce_sum(grads * act, axis=axes, keepdims=True) / (total + 1e-7)
        return tf.reduce_sum(act * weights, axis=-1)


class EigenCAM(CamExplainer):
    """Eigen-CAM (Muhammad & Yeasin 2020): the activations projected on their first principal
    component. Gradient-free and class-agnostic (the target does not change it).

    Per sample, the ``(locations, channels)`` activation matrix is centred over the locations
    and projected on its first right-singular vector. The SVD leaves that vector's sign free;
    it is chosen so that its channel loadings sum to a positive number (for ReLU activations:
    the direction in which channels fire together), so the ReLU keeps the active part.
    """

    method = "eigen_cam"
    uses_gradient = False

    def _cam(self, act, grads, indices, signs, opts):
        shape = tf.shape(act)
        rows = tf.reshape(act, tf.stack([shape[0], -1, shape[-1]]))  # (N, L, C)
        rows = rows - tf.reduce_mean(rows, axis=1, keepdims=True)
        _, _, v = tf.linalg.svd(rows)  # v: (N, C, C), right-singular vectors as columns
        first = v[:, :, 0]
        sign = tf.where(tf.reduce_sum(first, axis=-1, keepdims=True) < 0.0, -1.0, 1.0)
        projection = tf.einsum("nlc,nc->nl", rows, first * sign)
        return tf.reshape(projection, shape[:-1])


class GuidedGradCAM(GradCAM):
    """Guided Grad-CAM (Selvaraju et al. 2017): guided backpropagation times the upsampled
    Grad-CAM map, per input location (two backward passes: plain to the layer, guided to the
    input)."""

    method = "guided_grad_cam"

    def _options(self, *, upsample: str = "bilinear", keep_channels: bool = False):
        if upsample is None:
            raise InvalidArgumentError(
                "guided_grad_cam multiplies the Grad-CAM map with guided backprop at the input's "
                "resolution, so upsample cannot be None; use 'bilinear', 'align_corners' or "
                "'nearest'."
            )
        M.check_upsample(upsample)
        return {"upsample": upsample, "keep_channels": bool(keep_channels)}, {}

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        model, flat, opts = ctx.model, ctx.inputs, ctx.options
        grads, acts, indices, signs = self.gradients(flat, ctx.indices, ctx.signs)
        act = M.channels_last(acts[0], self._layer_cf)
        cam = tf.nn.relu(
            self._cam(act, M.channels_last(grads[0], self._layer_cf), None, None, opts)
        )
        rank = cam.shape.rank
        layouts = self._input_layouts(flat)
        sized = [i for i, t in enumerate(flat) if t.shape.rank == rank + 1 and E.is_float(t)]
        if not sized:
            raise IncompatibleLayerError(
                f"Guided Grad-CAM multiplies layer {self.layer_path!r}'s {rank - 1}-D map with "
                f"input gradients, but no float input of model {model.name!r} has "
                f"{rank - 1} spatial axes."
            )
        warn_unguided(model, "guided")  # while tracing: once per model and variant
        watched = [flat[i] for i in sized]
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(watched)
            score = self.score(flat, indices, signs, outer=relu_hooks(model), fixed=True)[0]
        guided = tape.gradient(score, watched)
        maps = []
        for i, g in zip(sized, guided):
            cf = layouts[i]
            g = tf.zeros_like(flat[i], tf.float32) if g is None else tf.cast(g, tf.float32)
            heat = M.upsample(cam, M.spatial_size(flat[i], cf), opts["upsample"])
            if opts["keep_channels"]:
                heat = tf.expand_dims(heat, M.channel_axis(g, cf))
                product = g * heat
            else:
                product = M.reduce_channels(g, "absmax", cf) * heat
            if opts["normalize"]:
                product = M.normalize_maps(product, signed=opts["keep_channels"])
            maps.append(product)
        return maps


# ----------------------------------------------------------------------------------------------
# Function forms (registered: see registry)


@method(HiResCAM, kind="cam", title="HiRes-CAM")
def hires_cam(
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
    upsample: str | None = "bilinear",
) -> Maps:
    """HiRes-CAM: ``relu(sum_k (d score / d A_k) * A_k)`` per location, upsampled.

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`. ``layer``: any layer with spatial output (default:
    the last spatial layer).

    Args:
        upsample: ``"bilinear"``, ``"align_corners"``, ``"nearest"``, or None for one map at
            the layer's resolution (see :func:`~keras_nnviz.attribution.cam.grad_cam`).

    Returns:
        ``(N, *input_spatial)`` float32 maps in [0, 1].

    Example:
        >>> maps = nv.hires_cam(model, x[:8], layer="block3_conv")
    """
    return run(HiResCAM, locals())


@method(XGradCAM, kind="cam", title="XGrad-CAM")
def xgrad_cam(
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
    upsample: str | None = "bilinear",
) -> Maps:
    """XGrad-CAM: channels weighted by ``sum(G_k * A_k) / sum(A_k)`` over the locations.

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`. ``layer``: any layer with spatial output (default:
    the last spatial layer).

    Args:
        upsample: ``"bilinear"``, ``"align_corners"``, ``"nearest"``, or None for one map at
            the layer's resolution (see :func:`~keras_nnviz.attribution.cam.grad_cam`).

    Returns:
        ``(N, *input_spatial)`` float32 maps in [0, 1].

    Example:
        >>> maps = nv.xgrad_cam(model, x[:8])
    """
    return run(XGradCAM, locals())


@method(EigenCAM, kind="cam", title="Eigen-CAM")
def eigen_cam(
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
    upsample: str | None = "bilinear",
) -> Maps:
    """Eigen-CAM: the layer's activations projected on their first principal component
    (class-agnostic: ``target`` does not change the map; no gradient).

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`. ``layer``: any layer with spatial output (default:
    the last spatial layer).

    Args:
        upsample: ``"bilinear"``, ``"align_corners"``, ``"nearest"``, or None for one map at
            the layer's resolution (see :func:`~keras_nnviz.attribution.cam.grad_cam`).

    Returns:
        ``(N, *input_spatial)`` float32 maps in [0, 1].

    Example:
        >>> maps = nv.eigen_cam(model, x[:8])
    """
    return run(EigenCAM, locals())


@method(GuidedGradCAM, kind="cam", title="Guided Grad-CAM")
def guided_grad_cam(
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
    upsample: str = "bilinear",
    keep_channels: bool = False,
) -> Maps:
    """Guided Grad-CAM: guided backpropagation (``max_c |.|``) times the upsampled Grad-CAM map.

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`. ``layer``: the Grad-CAM layer (default: the last
    spatial layer). Guided backprop needs ReLUs (a
    :class:`~keras_nnviz.errors.MethodWarning` says when others pass plain gradients) and
    passes few sanity checks on its own; the Grad-CAM factor makes the product class-specific.

    Args:
        upsample: ``"bilinear"``, ``"align_corners"`` or ``"nearest"`` (the product lives at
            the input's resolution).
        keep_channels: the signed per-channel product ``(N, *spatial, C)`` (pytorch-grad-cam's
            ``cam_mask * gb``).

    Returns:
        ``(N, *input_spatial)`` float32 maps in [0, 1].

    Example:
        >>> maps = nv.guided_grad_cam(model, x[:8], target=3)
    """
    return run(GuidedGradCAM, locals())
