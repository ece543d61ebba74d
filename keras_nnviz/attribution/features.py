"""Feature groups of the perturbation methods: which parts of an input are switched on and off
together, and what an absent feature is replaced by.

KernelSHAP, LIME, RISE, feature ablation and feature permutation explain a model through
*features*: groups of input positions that are present (the input's values) or absent (the
``baseline``) together. ``features=`` says how an input is cut into groups:

- ``None`` (default): ``"grid"`` for inputs with spatial axes (images, sequences, volumes),
  one feature per position for inputs without (``"columns"`` of tabular data, ``"tokens"`` of a
  text model's token ids).
- ``"grid"``: a grid of at most :data:`GRID_CELLS` cells along each spatial axis (8 × 8 = 64
  features for an image).
- ``"superpixels"``: SLIC superpixels (scikit-image's ``slic``, about 64 per image, computed
  per sample on the image rescaled to [0, 1]); 2-D images only.
- ``"tokens"`` / ``"columns"``: every position its own feature (a token of a text model, a
  column of a table, a step of a sequence, a pixel of an image).
- an integer array: group ids, shaped like the input without its channel axis, for one sample
  (``(H, W)``, used for every sample) or per sample (``(N, H, W)``); the input's own shape is
  accepted when the ids are the same across channels. Negative ids mark positions that are never
  perturbed (e.g. special tokens).
- a callable ``(x_batch) -> ids``: the ids of each batch, computed from its numpy values.
- for a multi-input model, a list aligned to ``model.inputs`` of any of the above.

A sample's features are numbered across all its inputs; a batch uses as many features as its
sample with the most. The value found for a feature is given to each of its positions (the map
has the input's spatial shape, so plots and metrics work unchanged): divide by the group's size
for a density.

``baseline=`` replaces absent features: ``None`` (default) is 0 for float inputs and token id 0
(the usual padding id) for token ids; a number; ``"mean"`` (float inputs: each sample's mean per
channel, a grey image for images); or an array broadcastable to one sample (or to the batch).
For a text model whose absent token should be ``[MASK]``, pass its id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError

__all__ = [
    "FEATURE_KINDS",
    "GRID_CELLS",
    "InputKind",
    "baseline_values",
    "feature_ids",
    "grid",
    "renumber",
    "superpixels",
]

FEATURE_KINDS = ("grid", "superpixels", "tokens", "columns")
GRID_CELLS = 8
SUPERPIXELS = 64


@dataclass(frozen=True)
class InputKind:
    """How one attributed input is laid out: ``integer`` (token ids), ``channels`` (it has a
    channel axis: float inputs of rank >= 3) and ``channels_first``."""

    integer: bool
    channels: bool
    channels_first: bool = False

    def spatial(self, shape: Sequence[int]) -> tuple:
        """The positions features are made of: the shape without batch and channel axes."""
        rest = tuple(shape[1:])
        if not self.channels:
            return rest
        return rest[1:] if self.channels_first else rest[:-1]


def grid(shape: Sequence[int], cells: int | Sequence[int] = GRID_CELLS) -> np.ndarray:
    """Group ids of a regular grid: at most ``cells`` equal cells along each axis.

    Args:
        shape: the spatial shape (``(H, W)``, ``(T,)`` ...).
        cells: cells per axis (one int for all, or one per axis); an axis shorter than that
            gets one cell per position.

    Returns:
        ``shape`` int32 ids, row-major over the cells.

    Example:
        >>> grid((4, 4), 2)[:, 0]
        array([0, 0, 2, 2], dtype=int32)
    """
    shape = tuple(int(s) for s in shape)
    counts = (cells,) * len(shape) if isinstance(cells, int | np.integer) else tuple(cells)
    if len(counts) != len(shape) or any(int(c) < 1 for c in counts):
        raise InvalidArgumentError(
            f"cells must be a positive int or one per axis of {shape}; received {cells!r}."
        )
    counts = tuple(min(int(c), s) for c, s in zip(counts, shape))
    axes = [np.arange(s) * c // s for s, c in zip(shape, counts)]
    index = np.meshgrid(*axes, indexing="ij")
    return np.ravel_multi_index(index, counts).astype(np.int32)


def superpixels(
    images: np.ndarray, n_segments: int = SUPERPIXELS, compactness: float = 10.0
) -> np.ndarray:
    """SLIC superpixels of each image (scikit-image), on the image rescaled to [0, 1].

    Args:
        images: ``(N, H, W, C)`` channels-last images.
        n_segments: about how many superpixels per image.
        compactness: SLIC's balance of colour against space (higher: squarer superpixels).

    Returns:
        ``(N, H, W)`` int32 ids, from 0 in each image.

    Example:
        >>> ids = superpixels(x[:4], n_segments=32)
    """
    from skimage.segmentation import slic  # scikit-image: only when superpixels are asked for

    images = np.asarray(images, np.float64)
    if images.ndim != 4:
        raise InvalidArgumentError(
            "features='superpixels' needs 2-D images (N, H, W, C); received an input of shape "
            f"{images.shape}. Use features='grid' for sequences and volumes."
        )
    out = np.empty(images.shape[:3], np.int32)
    for i, image in enumerate(images):
        lo, hi = image.min(), image.max()
        scaled = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
        out[i] = slic(
            scaled,
            n_segments=n_segments,
            compactness=compactness,
            start_label=0,
            channel_axis=-1,
            convert2lab=image.shape[-1] == 3,
        )
    return out


def feature_ids(features: Any, x: np.ndarray, kind: InputKind) -> np.ndarray:
    """The group ids of one input's batch ``x``: ``(N, *spatial)`` int32 (see the module
    docstring for what ``features`` accepts; negative ids: never perturbed).

    Example:
        >>> feature_ids("grid", x, InputKind(integer=False, channels=True)).shape
        (8, 12, 12)
    """
    n, spatial = x.shape[0], kind.spatial(x.shape)
    if callable(features):
        features = features(x)
        if features is None or isinstance(features, str):
            raise InvalidArgumentError(
                f"A features= callable must return integer group ids; it returned {features!r}."
            )
    if features is None:
        features = "grid" if kind.channels and spatial else "tokens"
    if isinstance(features, str):
        if features not in FEATURE_KINDS:
            raise InvalidArgumentError(
                f"features must be one of {list(FEATURE_KINDS)}, an integer mask or a callable; "
                f"received {features!r}."
            )
        if features == "superpixels":
            if not kind.channels or len(spatial) != 2:
                raise InvalidArgumentError(
                    "features='superpixels' needs 2-D images (N, H, W, C); received an input of "
                    f"shape {x.shape}. Use 'grid' or 'tokens'."
                )
            images = np.moveaxis(x, 1, -1) if kind.channels_first else x
            return superpixels(images)
        cells = GRID_CELLS if features == "grid" else max(spatial, default=1)
        return np.broadcast_to(grid(spatial, cells), (n, *spatial)).copy()
    return _mask(features, x, kind, n, spatial)


def _mask(features: Any, x: np.ndarray, kind: InputKind, n: int, spatial: tuple) -> np.ndarray:
    ids = np.asarray(features)
    if ids.dtype.kind not in "iu" and not (ids.dtype == bool):
        raise InvalidArgumentError(
            "features must be integer group ids (or 'grid', 'superpixels', 'tokens', "
            f"'columns'); received an array of dtype {ids.dtype}."
        )
    if kind.channels and ids.ndim in (len(spatial) + 1, len(spatial) + 2) and len(spatial):
        full = x.shape[1:] if ids.ndim == len(spatial) + 1 else x.shape
        if ids.shape == full:  # the input's own shape: ids must agree across channels
            axis = (1 if ids.ndim == len(spatial) + 2 else 0) if kind.channels_first else -1
            first = np.take(ids, [0], axis=axis)
            if not np.all(ids == first):
                raise InvalidArgumentError(
                    "features: a mask of the input's shape must give every channel of a "
                    "position the same id (features group positions, channels move together)."
                )
            ids = np.squeeze(first, axis=axis)
    if ids.shape == spatial:
        ids = np.broadcast_to(ids, (n, *spatial))
    if ids.shape != (n, *spatial):
        raise InvalidArgumentError(
            f"features mask has shape {ids.shape}; for inputs of shape {x.shape} it must be "
            f"{spatial} (one id per position, every sample) or {(n, *spatial)} (per sample)."
        )
    return ids.astype(np.int64)


def renumber(ids: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Number the non-negative ids of one batch 0 ... F-1 across all inputs (each input's ids
    after the previous input's): returns the int32 ids and ``F``."""
    out, offset = [], 0
    for part in ids:
        part = np.asarray(part, np.int64)
        present = part >= 0
        values, inverse = np.unique(part[present], return_inverse=True)
        numbered = np.full(part.shape, -1, np.int32)
        numbered[present] = inverse.astype(np.int32) + offset
        out.append(numbered)
        offset += len(values)
    return out, offset


def baseline_values(baseline: Any, x: np.ndarray, kind: InputKind) -> np.ndarray:
    """What replaces an absent feature of batch ``x``: an array of ``x``'s shape and dtype.

    Example:
        >>> baseline_values("mean", x, InputKind(integer=False, channels=True)).shape
        (8, 12, 12, 3)
    """
    if baseline is None:
        return np.zeros_like(x)
    if isinstance(baseline, str):
        if baseline != "mean" or kind.integer:
            what = "a token id (the padding or [MASK] id)" if kind.integer else "'mean'"
            raise InvalidArgumentError(
                f"baseline must be None, a number, {what} or an array broadcastable to one "
                f"sample; received {baseline!r}."
            )
        axes = tuple(i for i in range(1, x.ndim) if i != (1 if kind.channels_first else x.ndim - 1))
        axes = axes if kind.channels else tuple(range(1, x.ndim))
        mean = x.astype(np.float64).mean(axis=axes, keepdims=True)
        return np.broadcast_to(mean, x.shape).astype(x.dtype)
    value = np.asarray(baseline)
    if value.dtype.kind not in "biuf":
        raise InvalidArgumentError(
            f"baseline must be a number or a numeric array; received {type(baseline).__name__}."
        )
    if kind.integer and value.dtype.kind == "f" and not np.all(value == np.round(value)):
        raise InvalidArgumentError(
            f"baseline of a token-id input must be an integer id; received {baseline!r}."
        )
    try:
        return np.broadcast_to(value, x.shape).astype(x.dtype)
    except ValueError:
        raise InvalidArgumentError(
            f"baseline of shape {value.shape} does not broadcast to the input's samples "
            f"{x.shape[1:]} (or the batch {x.shape})."
        ) from None


def per_input(value: Any, count: int, name: str) -> list[Any]:
    """``value`` for each of ``count`` attributed inputs (a list for several, else repeated)."""
    if count > 1 and isinstance(value, list | tuple) and not _numeric_list(value):
        if len(value) != count:
            raise InvalidArgumentError(
                f"{name} for a model with {count} attributed inputs must be one value for all or "
                f"a list of {count}; received a list of {len(value)}."
            )
        return list(value)
    return [value] * count


def _numeric_list(value: Sequence) -> bool:
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except (ValueError, TypeError):
        return False


FeatureSpec = str | np.ndarray | Callable[[np.ndarray], np.ndarray] | None
