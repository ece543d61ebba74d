"""Function forms of the class activation maps (see :mod:`keras_nnviz.attribution.api` for
the arguments they share)."""

from __future__ import annotations

from typing import Any

import keras

from .. import graph
from . import _engine as E
from .api import Maps
from .cam import CAM, GradCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM


def _cam_call(cls, model, x, target, layer, **kwargs) -> Maps:
    return E.cached(cls, model, layer)(x, target, **kwargs)


def cam(
    model: keras.Model,
    x: Any,
    target: Any = None,
    layer: graph.LayerRef | None = None,
    *,
    upsample: str | None = "bilinear",
    normalize: bool = True,
    output: int | str | None = None,
    negative: bool = False,
    batch_size: int = 32,
) -> Maps:
    """CAM for ``layer -> global average pooling -> Dense`` heads (no gradients).

    Args:
        model, x, target, output, negative, normalize, batch_size: see the module.
        layer: the layer feeding the pooling (default: the last spatial layer).
        upsample: ``"bilinear"`` (``tf.image.resize``), ``"align_corners"`` (as
            ``scipy.ndimage.zoom(order=1)``), ``"nearest"``, or None for the layer's resolution.

    Returns:
        ``(N, *input_spatial)`` float32 maps.

    Raises:
        IncompatibleLayerError: the head is not ``layer -> GAP -> Dense``.

    Example:
        >>> maps = nv.cam(model, x[:8])
    """
    return _cam_call(
        CAM,
        model,
        x,
        target,
        layer,
        upsample=upsample,
        normalize=normalize,
        output=output,
        negative=negative,
        batch_size=batch_size,
    )


def grad_cam(
    model: keras.Model,
    x: Any,
    target: Any = None,
    layer: graph.LayerRef | None = None,
    *,
    upsample: str | None = "bilinear",
    normalize: bool = True,
    output: int | str | None = None,
    negative: bool = False,
    logits: bool = True,
    batch_size: int = 32,
    progress: bool | None = None,
) -> Maps:
    """Grad-CAM: ``relu(sum_k mean(d score / d A_k) * A_k)`` at ``layer``, upsampled.

    Args:
        model, x, target, output, negative, normalize, batch_size, progress: see the module.
        layer: any layer with spatial output, by path — also inside a nested base model
            (``"base/block3_conv"``) or a custom layer; default: the last spatial layer.
        upsample: ``"bilinear"`` (``tf.image.resize``), ``"align_corners"`` (as
            ``scipy.ndimage.zoom(order=1)``, tf-keras-vis), ``"nearest"``, or None for maps at
            the layer's resolution.
        logits: score logits behind softmax / sigmoid outputs (default), not probabilities.

    Returns:
        ``(N, *input_spatial)`` float32 maps in [0, 1].

    Example:
        >>> maps = nv.grad_cam(model, x[:8], target=None, layer="base/block3_conv")
    """
    return _cam_call(
        GradCAM,
        model,
        x,
        target,
        layer,
        upsample=upsample,
        normalize=normalize,
        output=output,
        negative=negative,
        logits=logits,
        batch_size=batch_size,
        progress=progress,
    )


def grad_cam_plus_plus(
    model: keras.Model,
    x: Any,
    target: Any = None,
    layer: graph.LayerRef | None = None,
    *,
    upsample: str | None = "bilinear",
    normalize: bool = True,
    output: int | str | None = None,
    negative: bool = False,
    logits: bool = True,
    batch_size: int = 32,
    progress: bool | None = None,
) -> Maps:
    """Grad-CAM++: per-location alpha-weighted positive gradients (better for several
    instances of a class). Arguments as :func:`grad_cam`.

    Example:
        >>> maps = nv.grad_cam_plus_plus(model, x[:8])
    """
    return _cam_call(
        GradCAMPlusPlus,
        model,
        x,
        target,
        layer,
        upsample=upsample,
        normalize=normalize,
        output=output,
        negative=negative,
        logits=logits,
        batch_size=batch_size,
        progress=progress,
    )


def layer_cam(
    model: keras.Model,
    x: Any,
    target: Any = None,
    layer: graph.LayerRef | None = None,
    *,
    upsample: str | None = "bilinear",
    normalize: bool = True,
    output: int | str | None = None,
    negative: bool = False,
    logits: bool = True,
    batch_size: int = 32,
    progress: bool | None = None,
) -> Maps:
    """Layer-CAM: ``relu(sum_k relu(d score / d A_k) * A_k)`` per location; sharp on early
    layers. Arguments as :func:`grad_cam`.

    Example:
        >>> maps = nv.layer_cam(model, x[:8], layer="block2_conv2")
    """
    return _cam_call(
        LayerCAM,
        model,
        x,
        target,
        layer,
        upsample=upsample,
        normalize=normalize,
        output=output,
        negative=negative,
        logits=logits,
        batch_size=batch_size,
        progress=progress,
    )


def score_cam(
    model: keras.Model,
    x: Any,
    target: Any = None,
    layer: graph.LayerRef | None = None,
    *,
    max_n: int | None = None,
    upsample: str | None = "bilinear",
    normalize: bool = True,
    output: int | str | None = None,
    negative: bool = False,
    batch_size: int = 32,
    progress: bool | None = None,
) -> Maps:
    """Score-CAM: channels weighted by the target probability of the input masked by each
    (upsampled, [0, 1]-scaled) channel. Gradient-free; one forward pass per channel and sample.

    Args:
        max_n: Faster-Score-CAM: use only each sample's ``max_n`` channels with the largest
            spatial standard deviation.
        (others): as :func:`grad_cam`.

    Returns:
        ``(N, *input_spatial)`` float32 maps in [0, 1].

    Example:
        >>> maps = nv.score_cam(model, x[:8], max_n=32)
    """
    return _cam_call(
        ScoreCAM,
        model,
        x,
        target,
        layer,
        max_n=max_n,
        upsample=upsample,
        normalize=normalize,
        output=output,
        negative=negative,
        batch_size=batch_size,
        progress=progress,
    )
