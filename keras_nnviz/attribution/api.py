"""Function forms of the attribution methods.

Each function reuses one cached explainer per (model, method, layer) — compiled on the first
call, reused by every later call with the same options, whatever the batch size or classes.

Common arguments:
    model: a built Keras 3 model: Sequential, Functional, nested base models, multi-input,
        multi-output, ``mixed_float16``.
    x: numpy array, tensor, list/dict of them (multi-input) or a ``tf.data.Dataset``.
    target: None (each sample's predicted class), an int, one int per sample, a callable
        ``outputs -> (N,)`` scores, or a tf-keras-vis ``Score`` (see :mod:`keras_nnviz.targets`).
        Scores use the logits behind softmax / sigmoid outputs.
    output: output name or index; required for multi-output models unless ``target`` is a
        callable on all outputs.
    negative: explain ``-score`` (for a sigmoid unit: the other class).
    normalize: scale each map to [0, 1] (signed maps: to [-1, 1] by their largest magnitude);
        False returns raw values.
    batch_size: samples per compiled call; also the size of the chunks of noisy / interpolated
        / masked copies that SmoothGrad, IG, Score-CAM and occlusion evaluate at once.
    progress: show a progress bar (default: for the heavy methods when there is more than one
        batch).

Maps are float32 numpy arrays, one per sample: gradient methods return ``(N, *spatial)`` per
float input (channels reduced; a list over inputs for multi-input models, None for integer
inputs); CAM methods return the map upsampled to each input with the layer's spatial rank (one
array when there is one such input).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from . import _engine as E
from .gradients import GuidedBackprop, Saliency
from .integrated import GradientXInput, IntegratedGradients
from .occlusion import Occlusion

Maps = np.ndarray | list


def saliency(
    model: keras.Model,
    x: Any,
    target: Any = None,
    smooth_samples: int = 0,
    noise: float = 0.1,
    *,
    vargrad: bool = False,
    keep_channels: bool = False,
    normalize: bool = True,
    output: int | str | None = None,
    negative: bool = False,
    logits: bool = True,
    batch_size: int = 32,
    seed: int | None = None,
    progress: bool | None = None,
) -> Maps:
    """Saliency: ``max_channels |d score / d x|``; SmoothGrad / VarGrad with noisy copies.

    Args:
        model, x, target, output, negative, normalize, batch_size, progress: see the module.
        smooth_samples: 0 = vanilla gradients; ``n > 0`` = SmoothGrad, the mean gradient over
            ``n`` copies with Gaussian noise (the class is fixed from the clean input).
        noise: noise standard deviation as a fraction of each sample's value range
            (``max - min``), as in the SmoothGrad paper.
        vargrad: return the per-feature variance of the noisy gradients instead (VarGrad).
        keep_channels: return raw signed gradients ``(N, *spatial, C)``.
        logits: score logits behind softmax / sigmoid outputs (default).
        seed: noise seed, for reproducible SmoothGrad maps.

    Returns:
        ``(N, *spatial)`` float32 maps in [0, 1] (see the module for multi-input models).

    Example:
        >>> maps = nv.saliency(model, x[:16], smooth_samples=20, noise=0.1)
    """
    return E.cached(Saliency, model)(
        x,
        target,
        smooth_samples=smooth_samples,
        noise=noise,
        vargrad=vargrad,
        keep_channels=keep_channels,
        normalize=normalize,
        output=output,
        negative=negative,
        logits=logits,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
    )


def gradient_x_input(
    model: keras.Model,
    x: Any,
    target: Any = None,
    *,
    signed: bool = False,
    keep_channels: bool = False,
    normalize: bool = True,
    output: int | str | None = None,
    negative: bool = False,
    logits: bool = True,
    batch_size: int = 32,
    progress: bool | None = None,
) -> Maps:
    """Gradient × input, summed over channels.

    Args:
        model, x, target, output, negative, normalize, batch_size, progress: see the module.
        signed: keep the sign (evidence for / against); default ``|.|``.
        keep_channels: per-channel attributions ``(N, *spatial, C)``.
        logits: score logits behind softmax / sigmoid outputs (default).

    Returns:
        ``(N, *spatial)`` float32 maps.

    Example:
        >>> maps = nv.gradient_x_input(model, x[:8], target=3, signed=True)
    """
    return E.cached(GradientXInput, model)(
        x,
        target,
        signed=signed,
        keep_channels=keep_channels,
        normalize=normalize,
        output=output,
        negative=negative,
        logits=logits,
        batch_size=batch_size,
        progress=progress,
    )


def integrated_gradients(
    model: keras.Model,
    x: Any,
    target: Any = None,
    baseline: Any = None,
    steps: int = 64,
    *,
    signed: bool = False,
    keep_channels: bool = False,
    normalize: bool = True,
    output: int | str | None = None,
    negative: bool = False,
    logits: bool = True,
    batch_size: int = 32,
    progress: bool | None = None,
) -> Maps:
    """Integrated gradients: ``(x - baseline) * mean gradient along the straight path``.

    With ``normalize=False, signed=True, keep_channels=True`` the attributions sum to
    ``score(x) - score(baseline)`` (completeness) up to the Riemann error of ``steps``.

    Args:
        model, x, target, output, negative, normalize, batch_size, progress: see the module.
        baseline: None (zeros), a float, ``"blur"`` (Gaussian-blurred input), one sample's
            array, one array per sample, a callable ``x_batch -> baseline``, or a list of these
            (one per input).
        steps: path points (midpoint rule); 64 is usually within a few % of completeness.
        signed: keep the sign; default ``|.|``.
        keep_channels: per-channel attributions.
        logits: score logits behind softmax / sigmoid outputs (default).

    Returns:
        ``(N, *spatial)`` float32 maps.

    Example:
        >>> maps = nv.integrated_gradients(model, x[:8], baseline="blur", steps=128)
    """
    return E.cached(IntegratedGradients, model)(
        x,
        target,
        baseline=baseline,
        steps=steps,
        signed=signed,
        keep_channels=keep_channels,
        normalize=normalize,
        output=output,
        negative=negative,
        logits=logits,
        batch_size=batch_size,
        progress=progress,
    )


def guided_backprop(
    model: keras.Model,
    x: Any,
    target: Any = None,
    *,
    rule: str = "guided",
    keep_channels: bool = False,
    normalize: bool = True,
    output: int | str | None = None,
    negative: bool = False,
    logits: bool = True,
    batch_size: int = 32,
    progress: bool | None = None,
) -> Maps:
    """Guided backpropagation (``rule="guided"``) or deconvnet (``rule="deconv"``).

    The model is not cloned or changed: ReLU-activated layers are hooked while tracing.
    These maps pass few sanity checks (they barely change with the class or the weights);
    prefer Grad-CAM or integrated gradients to explain a decision.

    Args:
        model, x, target, output, negative, normalize, batch_size, progress: see the module.
        rule: ``"guided"`` or ``"deconv"``.
        keep_channels: raw signed per-channel gradients (an RGB-like image).
        logits: score logits behind softmax / sigmoid outputs (default).

    Returns:
        ``(N, *spatial)`` float32 maps.

    Example:
        >>> maps = nv.guided_backprop(model, x[:4], keep_channels=True)
    """
    return E.cached(GuidedBackprop, model)(
        x,
        target,
        rule=rule,
        keep_channels=keep_channels,
        normalize=normalize,
        output=output,
        negative=negative,
        logits=logits,
        batch_size=batch_size,
        progress=progress,
    )


def occlusion(
    model: keras.Model,
    x: Any,
    target: Any = None,
    patch: int | Sequence[int] | None = None,
    stride: int | Sequence[int] | None = None,
    *,
    value: float = 0.0,
    signed: bool = False,
    normalize: bool = True,
    output: int | str | None = None,
    negative: bool = False,
    logits: bool = True,
    batch_size: int = 32,
    progress: bool | None = None,
) -> Maps:
    """Occlusion sensitivity: the score drop when a patch is set to ``value``, averaged over
    the patches covering each position. Works on images, sequences and volumes.

    Args:
        model, x, target, output, negative, normalize, batch_size, progress: see the module.
        patch: patch size (int or one per spatial axis); default 1/8 of each axis.
        stride: step between patches; default half the patch.
        value: the occluding constant.
        signed: keep the sign (a negative value means the patch hid evidence against the
            class); default ``|.|``.
        logits: score logits behind softmax / sigmoid outputs (default).

    Returns:
        ``(N, *spatial)`` float32 maps per spatial input.

    Example:
        >>> maps = nv.occlusion(model, x[:4], patch=8, stride=4)
    """
    return E.cached(Occlusion, model)(
        x,
        target,
        patch=patch,
        stride=stride,
        value=value,
        signed=signed,
        normalize=normalize,
        output=output,
        negative=negative,
        logits=logits,
        batch_size=batch_size,
        progress=progress,
    )
