"""Turn user data into validated batches for a model.

Accepted: a numpy array, a tensor, a list/tuple/dict of them for multi-input models, or a
``tf.data.Dataset`` (batched or not; ``(x, y)`` and ``(x, y, w)`` elements use ``x``). Each
check fails with an :class:`~keras_nnviz.errors.InvalidInputError` that names the model input,
what it expects and what was received.

Non-finite values (NaN, inf) raise an error by default: every map computed from them would be
NaN, and a warning would be easy to miss. Pass ``allow_nonfinite=True`` to let them through.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import _compat, validation
from ..errors import InvalidInputError
from . import graph
from .model import embedding_layer, token_input

__all__ = [
    "input_signature",
    "input_slots",
    "InputSlot",
    "prepare",
    "PreparedInput",
    "split_element",
]


@dataclass(frozen=True)
class InputSlot:
    """What one model input expects: name, shape with ``None`` batch, dtype string; for the
    token-id input of a text model, the vocabulary size of its embedding (ids beyond it fail
    deep inside TensorFlow's gather)."""

    name: str
    shape: tuple
    dtype: str
    vocabulary: tuple[str, int] | None = None

    def describe(self) -> str:
        dims = ", ".join("None" if d is None else str(d) for d in self.shape)
        return f"input {self.name!r} of shape ({dims}) and dtype {self.dtype}"


def input_slots(model: keras.Model) -> list[InputSlot] | None:
    """The model's inputs as :class:`InputSlot` (None for subclassed models without a graph)."""
    if _compat.functional_graph(model) is None:
        return None
    slots = []
    for t in model.inputs:
        name = getattr(t, "name", "input") or "input"
        slots.append(InputSlot(name, tuple(t.shape), keras.backend.standardize_dtype(t.dtype)))
    index = token_input(model)  # the token ids (not the padding mask or segment ids)
    if index is not None:
        path = embedding_layer(model)
        dim = getattr(graph.find_layer(model, path), "input_dim", None)
        if isinstance(dim, int) and dim > 0:
            s = slots[index]
            slots[index] = InputSlot(s.name, s.shape, s.dtype, (path, int(dim)))
    return slots


def input_signature(model: keras.Model) -> list[tf.TensorSpec] | None:
    """TensorSpecs with a free batch axis, for a ``tf.function`` that takes the flat input list."""
    slots = input_slots(model)
    if slots is None:
        return None
    return [tf.TensorSpec((None, *s.shape[1:]), tf.as_dtype(s.dtype), name=None) for s in slots]


def _to_numpy(value: Any, where: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if tf.is_tensor(value) or hasattr(value, "numpy"):
        return np.asarray(value)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"{where}: could not turn {type(value).__name__} into an array ({exc}). Pass a numpy "
            "array, a tensor or a tf.data.Dataset."
        ) from None
    if arr.dtype == object:
        raise InvalidInputError(
            f"{where}: received a ragged or mixed-type {type(value).__name__}; pass a regular "
            "numpy array (np.stack your samples)."
        )
    return arr


def _split_structure(model: keras.Model, x: Any, slots: list[InputSlot] | None) -> list[Any]:
    """Return the user's data as a flat list in ``model.inputs`` order."""
    if slots is None:
        return [x]
    n = len(slots)
    names = [s.name for s in slots]
    if isinstance(x, dict):
        missing = [k for k in names if k not in x]
        if missing:
            raise InvalidInputError(
                f"Model {model.name!r} takes inputs {names}; the dict given has keys "
                f"{sorted(map(str, x))} (missing {missing}). Use the input names as keys."
            )
        return [x[k] for k in names]
    if isinstance(x, list | tuple) and any(_is_array_like(v) for v in x):
        if len(x) != n:
            plural = "input" if n == 1 else "inputs"
            fix = (
                "Pass the array itself, not a list."
                if n == 1
                else f"Pass one array per input, in the order {names}."
            )
            raise InvalidInputError(
                f"Model {model.name!r} has {n} {plural} ({', '.join(map(repr, names))}); "
                f"received a {type(x).__name__} of {len(x)} arrays. {fix}"
            )
        return list(x)
    if n > 1:
        raise InvalidInputError(
            f"Model {model.name!r} has {n} inputs {names}; received a single "
            f"{type(x).__name__}. Pass a list of {n} arrays or a dict keyed by input name."
        )
    return [x]


def _is_array_like(v: Any) -> bool:
    return isinstance(v, np.ndarray) or tf.is_tensor(v)


def _check_array(arr: np.ndarray, slot: InputSlot | None, allow_nonfinite: bool) -> np.ndarray:
    # str.capitalize() would lower-case the rest: "(None, 16)" must not become "(none, 16)".
    where = "Input" if slot is None else slot.describe()[:1].upper() + slot.describe()[1:]
    if arr.ndim == 0:
        raise InvalidInputError(f"{where}: received a scalar; pass a batch of samples.")
    if arr.shape[0] == 0:
        raise InvalidInputError(f"{where}: received an empty batch (shape {arr.shape}).")
    kind = arr.dtype.kind
    if slot is not None:
        want = np.dtype(slot.dtype) if slot.dtype != "string" else None
        if want is None:
            if kind not in "USO":
                raise InvalidInputError(f"{where}: expects strings; received dtype {arr.dtype}.")
        elif kind not in "biuf":
            raise InvalidInputError(
                f"{where}: received dtype {arr.dtype}, which is not numeric. Convert the data to "
                f"{slot.dtype} (e.g. x.astype('{slot.dtype}'))."
            )
        elif (
            want.kind in "iu"
            and kind == "f"
            and (not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)))
        ):
            raise InvalidInputError(
                f"{where}: expects integer ids ({slot.dtype}); received non-integer floats. "
                "Pass token/category ids as integers."
            )
        if len(slot.shape) != arr.ndim:
            hint = ""
            if arr.ndim == len(slot.shape) - 1:
                channel_missing = slot.shape[-1] == 1 and all(
                    w is None or w == g for w, g in zip(slot.shape[1:-1], arr.shape[1:])
                )
                hint = (
                    " Add the channel axis: x[..., None]."
                    if channel_missing
                    else " It looks like one sample without a batch axis: use x[None]."
                )
            elif arr.ndim == len(slot.shape) + 1 and arr.shape[-1] == 1:
                hint = " A trailing axis of size 1 may be extra: use x[..., 0]."
            raise InvalidInputError(
                f"{where}: expects rank {len(slot.shape)} (batch axis included); received an "
                f"array of shape {arr.shape} (rank {arr.ndim}).{hint}"
            )
        bad = [
            i
            for i, (want_d, got_d) in enumerate(zip(slot.shape[1:], arr.shape[1:]), start=1)
            if want_d is not None and want_d != got_d
        ]
        if bad:
            raise InvalidInputError(
                f"{where}: received shape {arr.shape}; axis {bad[0]} should be "
                f"{slot.shape[bad[0]]}, not {arr.shape[bad[0]]}. Resize or crop the data to "
                f"(N, {', '.join('any' if d is None else str(d) for d in slot.shape[1:])})."
            )
    if kind == "f" and not allow_nonfinite:
        count = _nonfinite_count(arr)
        if count:
            raise InvalidInputError(
                f"{where}: contains {count} NaN/inf values; every map computed from them would "
                "be NaN. Clean the data (np.nan_to_num) or pass allow_nonfinite=True."
            )
    if slot is not None and slot.dtype != "string" and arr.dtype != np.dtype(slot.dtype):
        cast = arr.astype(slot.dtype)
        # float64 1e300 is finite, but inf once cast to the model's float32.
        if kind == "f" and cast.dtype.kind == "f" and not allow_nonfinite:
            count = _nonfinite_count(cast)
            if count:
                raise InvalidInputError(
                    f"{where}: {count} values lie beyond the range of {slot.dtype} (largest "
                    f"{float(np.finfo(cast.dtype).max):.3g}) and would become inf. Rescale the "
                    "data."
                )
        if kind in "iu" and cast.dtype.kind in "iu" and arr.size:
            info = np.iinfo(cast.dtype)
            lo, hi = _minmax(arr)
            if lo < info.min or hi > info.max:
                raise InvalidInputError(
                    f"{where}: values range {lo} ... {hi}, beyond {slot.dtype} "
                    f"({info.min} ... {info.max}); they would wrap around silently."
                )
        arr = cast
    if slot is not None and slot.vocabulary is not None and arr.size:
        path, dim = slot.vocabulary
        lo, hi = _minmax(arr)
        if lo < 0 or hi >= dim:
            raise InvalidInputError(
                f"{where}: token id {lo if lo < 0 else hi} is outside the vocabulary of "
                f"embedding {path!r} ({dim} ids: valid 0 ... {dim - 1}). Tokenize with the "
                "model's own tokenizer."
            )
    return arr


_CHUNK = 1 << 22  # elements per slice of the finiteness scan: no full-size boolean temporary


def _nonfinite_count(arr: np.ndarray) -> int:
    """Number of NaN/inf values, scanned in slices (a whole-array np.isfinite would allocate
    a boolean copy of a possibly huge input)."""
    flat = arr.reshape(-1)
    return sum(
        int(flat[i : i + _CHUNK].size - np.count_nonzero(np.isfinite(flat[i : i + _CHUNK])))
        for i in range(0, flat.size, _CHUNK)
    )


def _minmax(arr: np.ndarray) -> tuple[int, int]:
    return int(arr.min()), int(arr.max())


@dataclass
class PreparedInput:
    """Validated data plus how to iterate it in batches.

    Attributes:
        arrays: flat list of numpy arrays (in ``model.inputs`` order) for array input, else None.
        dataset: the (batched) dataset for dataset input, else None.
        n: number of samples when known.
        n_batches: number of batches of a dataset whose cardinality is known (else None): lets
            results be preallocated (see :class:`keras_nnviz.core.sinks.BatchOutput`).
    """

    model: keras.Model
    slots: list[InputSlot] | None
    arrays: list[np.ndarray] | None
    dataset: tf.data.Dataset | None
    n: int | None
    allow_nonfinite: bool
    n_batches: int | None = None

    def batches(self, batch_size: int) -> Iterator[Any]:
        """Yield model-ready batches (a flat list of tensors for functional models)."""
        if self.arrays is not None:
            for start in range(0, self.n, batch_size):
                yield self._pack([a[start : start + batch_size] for a in self.arrays])
            return
        for element in self.dataset:
            flat = _split_structure(self.model, _features(element, self.slots), self.slots)
            arrays = [
                _check_array(_to_numpy(v, "Dataset element"), s, self.allow_nonfinite)
                for v, s in zip(flat, self.slots or [None] * len(flat))
            ]
            yield self._pack(arrays)

    def _pack(self, arrays: list[np.ndarray]) -> Any:
        tensors = [tf.convert_to_tensor(a) for a in arrays]
        return tensors if self.slots is not None else tensors[0]


def split_element(element: Any, slots: list[InputSlot] | None) -> tuple[Any, Any]:
    """A dataset element (or batch) as ``(features, labels)``: ``(x, y)`` and ``(x, y, w)``
    elements give ``(x, y)`` (the sample weights are dropped); anything else is features only,
    ``(element, None)``. ``slots``: the model's :func:`input_slots` (a tuple of several arrays
    is the inputs of a multi-input model, not ``(x, y)``).

    Example:
        >>> features, labels = split_element(next(iter(dataset)), input_slots(model))
    """
    n = 1 if slots is None else len(slots)
    if isinstance(element, tuple) and len(element) in (2, 3):
        first = element[0]
        if n == 1 or isinstance(first, list | tuple | dict):
            return first, element[1]
    return element, None


def _features(element: Any, slots: list[InputSlot] | None) -> Any:
    """Drop labels/sample weights from a dataset element."""
    return split_element(element, slots)[0]


def _element_rank(spec: Any, slots: list[InputSlot] | None) -> int | None:
    feats = _features(spec, slots)
    leaves = tf.nest.flatten(feats)
    if not leaves or not hasattr(leaves[0], "shape"):
        return None
    return leaves[0].shape.rank


def prepare(
    model: keras.Model, x: Any, batch_size: int = 32, allow_nonfinite: bool = False
) -> PreparedInput:
    """Validate ``x`` against ``model``'s inputs.

    Args:
        model: a built Keras model.
        x: numpy array / tensor, list or dict of them, or a ``tf.data.Dataset``.
        batch_size: used to batch an unbatched dataset.
        allow_nonfinite: let NaN/inf through instead of raising.

    Returns:
        A :class:`PreparedInput`; iterate ``.batches(batch_size)``.

    Raises:
        InvalidInputError: wrong structure, rank, shape, dtype, empty batch or non-finite values.
    """
    batch_size = validation.batch_size(batch_size)
    allow_nonfinite = validation.flag("allow_nonfinite", allow_nonfinite)
    slots = input_slots(model)
    if isinstance(x, tf.data.Dataset):
        rank = _element_rank(x.element_spec, slots)
        if slots is not None and rank is not None and rank == len(slots[0].shape) - 1:
            x = x.batch(int(batch_size))
        cardinality = int(x.cardinality())
        if cardinality == 0:
            raise InvalidInputError(
                "The tf.data.Dataset is empty (cardinality 0); pass at least one sample."
            )
        n_batches = cardinality if cardinality > 0 else None  # -1 infinite, -2 unknown
        if cardinality == int(tf.data.INFINITE_CARDINALITY):
            raise InvalidInputError(
                "The tf.data.Dataset is infinite (a .repeat() without count?); take a finite "
                "part, e.g. dataset.take(100)."
            )
        return PreparedInput(model, slots, None, x, None, allow_nonfinite, n_batches)
    flat = _split_structure(model, x, slots)
    arrays = [
        _check_array(_to_numpy(v, "Input"), s, allow_nonfinite)
        for v, s in zip(flat, slots or [None] * len(flat))
    ]
    sizes = {a.shape[0] for a in arrays}
    if len(sizes) > 1:
        raise InvalidInputError(
            f"The inputs of model {model.name!r} have different numbers of samples "
            f"{[a.shape[0] for a in arrays]}; every input needs one row per sample."
        )
    return PreparedInput(model, slots, arrays, None, arrays[0].shape[0], allow_nonfinite)
