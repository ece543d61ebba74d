"""How trustworthy is an attribution map? Faithfulness and sanity metrics.

- :func:`deletion_auc` / :func:`insertion_auc` (Petsiuk et al. 2018, RISE): remove (insert) the
  most important pixels first and follow the class probability; a faithful map makes it fall
  fast (rise fast): low deletion AUC, high insertion AUC.
- :func:`pointing_game` (Zhang et al. 2016): does the map's maximum fall on the object?
- :func:`randomization_similarity` (Adebayo et al. 2018): maps of a model vs a copy with
  re-initialized top layers; a map that explains the model must change (low rank correlation).

Scores run through one compiled pass per model (:mod:`keras_nnviz.core.compiled`). Results
are small dataclasses (:class:`CurveResult`, :class:`PointingResult`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from . import _compat, validation
from .attribution import _engine as E
from .attribution import _maps as M
from .attribution import registry
from .attribution.integrated import blur
from .core import graph, targets
from .core.inputs import prepare
from .errors import InvalidArgumentError, InvalidInputError, UnsupportedModelError

__all__ = [
    "CurveResult",
    "deletion_auc",
    "insertion_auc",
    "pointing_game",
    "PointingResult",
    "randomization_similarity",
    "randomized_copy",
]


class _Scorer(E.Explainer):
    """Target scores (probabilities by default), plus the resolved class indices and signs."""

    method = "scores"
    takes_layer = False

    def _options(self, *, probabilities=True):
        return {"probabilities": bool(probabilities)}, {}

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        flat, indices, signs, opts = ctx.inputs, ctx.indices, ctx.signs, ctx.options
        probs, _, indices, signs = self.score(
            flat, indices, signs, probabilities=opts["probabilities"]
        )
        return [probs, tf.cast(indices, tf.float32), signs]

    def _assemble(self, maps, opts):
        return maps


@dataclass(frozen=True)
class CurveResult:
    """Deletion / insertion result.

    Attributes:
        auc: ``(N,)`` areas under the curves, in the units of the score.
        curves: ``(N, steps + 1)`` class probability after each step (step 0: the clean input).
    """

    auc: np.ndarray
    curves: np.ndarray


@dataclass(frozen=True)
class PointingResult:
    """Pointing-game result.

    Attributes:
        rate: share of samples whose map maximum lies on the object, in [0, 1].
        hits: ``(N,)`` bool, per sample.
    """

    rate: float
    hits: np.ndarray


def _fixed_targets(model, x, target, output, batch_size) -> tuple[Any, np.ndarray]:
    """Resolve ``target`` on the clean inputs once: (a Fixed target, clean scores)."""
    scorer = E.cached(_Scorer, model)
    scores, indices, signs = scorer(x, target, output=output, batch_size=batch_size)
    if targets.resolve(model, target, output=output).spec.mode in ("callable", "objective"):
        return target, scores
    return targets.Fixed(indices.astype(np.int64), signs), scores


def _single_input(model, x, input_index: int) -> tuple[list[np.ndarray], int]:
    data = prepare(model, x)
    if data.arrays is None:
        raise InvalidInputError(
            "Deletion / insertion metrics need the inputs as arrays (they build perturbed "
            "copies); received a tf.data.Dataset. Pass numpy arrays."
        )
    if not 0 <= input_index < len(data.arrays):
        raise InvalidArgumentError(
            f"input={input_index} is out of range; the model has {len(data.arrays)} inputs."
        )
    return data.arrays, input_index


def _baseline_array(baseline: Any, images: np.ndarray) -> np.ndarray:
    """A baseline array broadcast to the images, or an error saying what works."""
    fix = (
        "Pass 'blur', a number, or an array that broadcasts to the inputs "
        f"{images.shape} (e.g. one image {images.shape[1:]})."
    )
    try:
        arr = np.asarray(baseline, np.float32)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"baseline={baseline!r} is not usable. {fix}") from None
    try:
        arr = np.broadcast_to(arr, images.shape)
    except ValueError:
        raise InvalidArgumentError(
            f"baseline of shape {arr.shape} does not broadcast to the inputs. {fix}"
        ) from None
    validation.finite_values("baseline", arr)
    return arr


def _curves(model, x, maps, target, steps, baseline, output, batch_size, input_index, insert):
    arrays, k = _single_input(model, x, input_index)
    images = arrays[k].astype(np.float32)
    maps = validation.maps_array("maps", maps, min_ndim=1).astype(np.float32)
    spatial = images.shape[1:-1] if images.ndim >= 3 else images.shape[1:]
    if maps.shape != (images.shape[0], *spatial):
        raise InvalidInputError(
            f"maps of shape {maps.shape} do not fit inputs of shape {images.shape}: pass one "
            f"map per sample at the input's spatial size {(images.shape[0], *spatial)} "
            "(attribution functions upsample CAMs to it by default)."
        )
    steps = M.check_positive_int("steps", steps)
    fixed, _ = _fixed_targets(model, x, target, output, batch_size)
    if isinstance(baseline, str) and baseline == "blur":
        base = blur(images)
    elif isinstance(baseline, int | float) and not isinstance(baseline, bool):
        base = np.full_like(images, float(baseline))
    else:
        base = _baseline_array(baseline, images)
    n, pixels = len(images), int(np.prod(spatial))
    order = np.argsort(-maps.reshape(n, pixels), axis=1, kind="stable")
    counts = np.round(np.linspace(0, pixels, steps + 1)).astype(int)
    curves = np.zeros((n, steps + 1), np.float32)
    per_chunk = max(1, batch_size // (steps + 1))
    for start in range(0, n, per_chunk):
        idx = np.arange(start, min(start + per_chunk, n))
        chosen = np.zeros((len(idx), steps + 1, pixels), bool)
        ranks = np.empty((len(idx), pixels), int)
        ranks[np.arange(len(idx))[:, None], order[idx]] = np.arange(pixels)
        chosen[:] = ranks[:, None, :] < counts[None, :, None]
        keep = chosen if insert else ~chosen  # True: the pixel shows the input
        keep = keep.reshape(len(idx) * (steps + 1), *spatial, *([1] if images.ndim >= 3 else []))
        src = np.repeat(images[idx], steps + 1, axis=0)
        perturbed = np.where(keep, src, np.repeat(base[idx], steps + 1, axis=0))
        batch = [np.repeat(a[idx], steps + 1, axis=0) for a in arrays]
        batch[k] = perturbed
        chunk_target = fixed
        if isinstance(fixed, targets.Fixed):
            chunk_target = targets.Fixed(
                np.repeat(fixed.indices[idx], steps + 1), np.repeat(fixed.signs[idx], steps + 1)
            )
        scorer = E.cached(_Scorer, model)
        scores = scorer(
            batch if len(arrays) > 1 else batch[0],
            chunk_target,
            output=output,
            batch_size=batch_size,
        )
        curves[idx] = scores[0].reshape(len(idx), steps + 1)
    auc = (curves[:, :-1] + curves[:, 1:]).sum(axis=1) / (2.0 * steps)
    return CurveResult(auc, curves)


def _curve_metric(name: str, insert: bool, baseline_default: Any, doc: str) -> Callable:
    """The deletion / insertion metric: one computation (:func:`_curves`), inserting or
    removing pixels, with its own default baseline and docstring."""

    def metric(
        model: keras.Model,
        x: Any,
        maps: np.ndarray,
        target: Any = None,
        *,
        steps: int = 20,
        baseline: Any = baseline_default,
        output: int | str | None = None,
        input: int = 0,
        batch_size: int = 32,
    ) -> CurveResult:
        return _curves(model, x, maps, target, steps, baseline, output, batch_size, input, insert)

    metric.__name__ = metric.__qualname__ = name
    metric.__doc__ = doc
    return metric


deletion_auc = _curve_metric(
    "deletion_auc",
    insert=False,
    baseline_default=0.0,
    doc="""Area under the class-probability curve while the most important pixels are removed.

    Lower is better: a faithful map removes the evidence first. The class is fixed from the
    clean input (``target=None``: the predicted class). Probabilities come from the model's
    softmax / sigmoid output (raw values for linear outputs).

    Args:
        model: a built Keras model.
        x: inputs (arrays; a list/dict for multi-input models).
        maps: ``(N, *spatial)`` importance maps at the input's spatial size.
        target: class to follow (see :mod:`keras_nnviz.core.targets`).
        steps: removal steps; step ``k`` removes ``k / steps`` of the pixels.
        baseline: value of removed pixels: a float, ``"blur"`` or an array like ``x``.
        output: output name/index for multi-output models.
        input: which input the maps refer to (multi-input models).
        batch_size: samples per compiled call.

    Returns:
        A :class:`CurveResult`: ``.auc`` ``(N,)`` in the units of the score (probabilities:
        [0, 1]) and ``.curves`` ``(N, steps + 1)``.

    Example:
        >>> maps = nv.grad_cam(model, x)
        >>> nv.metrics.deletion_auc(model, x, maps).auc.mean()
    """,
)
insertion_auc = _curve_metric(
    "insertion_auc",
    insert=True,
    baseline_default="blur",
    doc="""Area under the class-probability curve while the most important pixels are inserted
    into a blurred (``baseline``) image. Higher is better. Arguments as :func:`deletion_auc`.

    Example:
        >>> nv.metrics.insertion_auc(model, x, nv.grad_cam(model, x)).auc.mean()
    """,
)


def pointing_game(
    maps: np.ndarray,
    masks: np.ndarray,
    tolerance: float = 0.0,
) -> PointingResult:
    """Share of samples whose map maximum lies on the object (Zhang et al. 2016).

    Args:
        maps: ``(N, *spatial)`` importance maps.
        masks: boolean object masks ``(N, *spatial)``, or boxes ``(N, 4)`` as
            ``(top, left, bottom, right)`` pixel coordinates (bottom/right exclusive) for 2-D maps.
        tolerance: also count maxima within this many pixels (Euclidean) of the object; the
            original protocol uses 15 px on 224 px images.
    Returns:
        A :class:`PointingResult`: ``.rate`` in [0, 1] and the per-sample ``.hits``.

    Example:
        >>> nv.metrics.pointing_game(nv.grad_cam(model, data.x), data.masks).rate
    """
    maps = validation.maps_array("maps", maps)
    masks = np.asarray(masks)
    tolerance = validation.number("tolerance", tolerance, low=0.0)
    if masks.ndim == 2 and masks.shape == (len(maps), 4) and maps.ndim == 3:
        boxes = masks.astype(int)
        masks = np.zeros(maps.shape, bool)
        for i, (top, left, bottom, right) in enumerate(boxes):
            masks[i, top:bottom, left:right] = True
    if masks.shape != maps.shape:
        raise InvalidInputError(
            f"masks of shape {masks.shape} do not fit maps of shape {maps.shape}: pass boolean "
            "masks of the maps' shape, or (N, 4) boxes (top, left, bottom, right) for 2-D maps."
        )
    masks = masks.astype(bool)
    if tolerance > 0:
        from scipy.ndimage import distance_transform_edt  # scipy comes with scikit-learn

        masks = np.stack([distance_transform_edt(~m) <= tolerance for m in masks])
    flat = maps.reshape(len(maps), -1)
    peak = np.nanargmax(np.where(np.isnan(flat), -np.inf, flat), axis=1)
    hits = masks.reshape(len(masks), -1)[np.arange(len(maps)), peak]
    return PointingResult(float(hits.mean()), hits)


# ----------------------------------------------------------------------------------------------
# Model randomization


def _leaf_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Layers that own weights directly, in topological order (nested models included)."""
    leaves = []
    for entry in graph.walk(model, include_sublayers=True):
        layer = entry.layer
        own = {id(v) for v in layer.weights}
        for child in _compat.tracked_sublayers(layer):
            if isinstance(child, keras.layers.Layer):
                own -= {id(v) for v in child.weights}
        if own and not isinstance(layer, keras.Model):
            leaves.append(layer)
    return leaves


def _reinitialize(layer: keras.layers.Layer, rng: np.random.Generator, seed: int) -> None:
    """New values for the layer's weights: its own initializers, reseeded; Glorot otherwise."""
    children = {id(v) for c in _compat.tracked_sublayers(layer) for v in c.weights}
    for j, var in enumerate(layer.weights):
        if id(var) in children:
            continue
        name = var.path.rsplit("/", 1)[-1]
        init = getattr(layer, f"{name}_initializer", None)
        if init is not None and hasattr(init, "get_config"):
            config = init.get_config()
            if "seed" in config:
                config["seed"] = seed + j
            values = np.asarray(type(init).from_config(config)(var.shape, dtype="float32"))
        elif len(var.shape) >= 2:
            fan_in = int(np.prod(var.shape[:-1]))
            limit = np.sqrt(6.0 / (fan_in + var.shape[-1]))
            values = rng.uniform(-limit, limit, size=var.shape)
        else:
            ones = "variance" in name or "gamma" in name
            values = np.ones(var.shape) if ones else np.zeros(var.shape)
        var.assign(np.asarray(values, dtype=var.dtype))


def randomized_copy(model: keras.Model, layers: int | None = None, seed: int = 0) -> keras.Model:
    """A copy of ``model`` (``keras.models.clone_model`` + ``set_weights``) whose top
    ``layers`` weighted layers (all when None) get freshly initialized weights.

    The user's model is not touched. Example:
        >>> random_model = nv.metrics.randomized_copy(model, layers=2)
    """
    try:
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
    except Exception as exc:  # clone_model fails on some subclassed / unregistered layers
        raise UnsupportedModelError(
            f"Could not copy model {model.name!r} with keras.models.clone_model ({exc}). Build "
            "a copy yourself and pass it as copy=."
        ) from exc
    return _randomize(copy, layers, seed)


def _randomize(copy: keras.Model, layers: int | None, seed: int) -> keras.Model:
    leaves = _leaf_layers(copy)
    if layers is not None and not 1 <= int(layers) <= len(leaves):
        raise InvalidArgumentError(
            f"layers={layers} is out of range: the model has {len(leaves)} layers with weights "
            f"(valid 1 ... {len(leaves)}, or None for all)."
        )
    chosen = leaves if layers is None else leaves[len(leaves) - int(layers) :]
    rng = np.random.default_rng(seed)
    for i, layer in enumerate(reversed(chosen)):
        _reinitialize(layer, rng, seed * 1000 + i * 10)
    return copy


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr  # scipy comes with scikit-learn

    a, b = a.ravel(), b.ravel()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")  # a flat map has no ranking
    return float(spearmanr(a, b).statistic)


def randomization_similarity(
    model: keras.Model,
    x: Any,
    target: Any = None,
    *,
    method: str | Callable = "grad_cam",
    layers: int | None = None,
    seed: int = 0,
    copy: keras.Model | None = None,
    output: int | str | None = None,
    batch_size: int = 32,
    **method_kwargs: Any,
) -> np.ndarray:
    """Spearman rank correlation, per sample, between maps of ``model`` and of a copy with
    re-initialized top layers (cascading model randomization, Adebayo et al. 2018).

    A method that explains the model gives different maps for the randomized copy (values near
    0); one that mostly shows input structure stays high. Maps for both models explain the same
    class: ``target=None`` is resolved to ``model``'s predicted classes first.

    Args:
        model: the trained model (left untouched).
        x: inputs.
        method: an attribution function name (``"grad_cam"``, ``"saliency"``, ...) or a
            callable ``(model, x, target=..., **method_kwargs) -> maps``.
        target: class to explain.
        layers: how many weighted layers to re-initialize, from the top (None: all).
        seed: re-initialization seed.
        copy: a copy to randomize instead of cloning (for models ``clone_model`` cannot copy).
        output: output name/index for multi-output models.
        batch_size: samples per compiled call.
        **method_kwargs: passed to the method (e.g. ``layer=``).

    Returns:
        ``(N,)`` Spearman correlations (NaN where a map is flat).

    Example:
        >>> nv.metrics.randomization_similarity(model, x[:32], method="saliency").mean()
    """
    fn = registry.METHODS[method].function if method in registry.METHODS else method
    if not callable(fn) or isinstance(fn, type | str):
        raise InvalidArgumentError(
            f"method must be an attribution function name ({', '.join(registry.names())}) or a "
            f"callable (model, x, target=...) -> maps; received {method!r}."
        )
    fixed, _ = _fixed_targets(model, x, target, output, batch_size)
    kwargs = dict(method_kwargs, batch_size=batch_size)
    if output is not None:
        kwargs["output"] = output
    original = fn(model, x, target=fixed, **kwargs)
    if copy is None:
        copy = randomized_copy(model, layers, seed)
    else:
        copy.set_weights(model.get_weights())
        _randomize(copy, layers, seed)
    randomized = fn(copy, x, target=fixed, **kwargs)
    if isinstance(original, list):  # multi-input: the first input the method attributes
        first = next(i for i, m in enumerate(original) if m is not None)
        original, randomized = original[first], randomized[first]
    return np.array([_spearman(a, b) for a, b in zip(original, randomized)])
