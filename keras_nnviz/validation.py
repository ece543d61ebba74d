"""The one set of argument checks at the public boundary.

Every public function takes the core's convention
``fn(model, x, target=None, *, layer=None, output=None, batch_size=32, progress=None,
allow_nonfinite=False, ...)``. Data (``x``) is checked by :mod:`keras_nnviz.inputs`, layers by
:mod:`keras_nnviz.graph`, targets by :mod:`keras_nnviz.targets`; the scalar arguments around them
(sizes, flags, numbers, ``out=`` arrays) are checked here, so one wrong value gives the same
:class:`~keras_nnviz.errors.NNVizError` wherever it is passed. Each message says what was
received and what works.

Why not let numpy / TensorFlow complain: a NaN ``threshold`` or ``noise`` silently gives an
all-zero or all-NaN result, a string ``batch_size`` fails deep inside a ``tf.function`` behind
TensorFlow's staging stack, and ``1e300`` turns into ``inf`` in float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import InvalidArgumentError

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum`` (numpy ints and 0-d integer arrays accepted).

    Example:
        >>> positive_int("batch_size", 32)
        32
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidArgumentError(
            f"{name} must be an int >= {minimum}; received {_show(value)} ({type(value).__name__})."
        )
    return int(value)


def batch_size(value: Any) -> int:
    """A ``batch_size`` argument: a positive int."""
    return positive_int("batch_size", value)


def progress(value: Any) -> bool | None:
    """A ``progress`` argument: None (automatic), True or False."""
    if value is not None and not isinstance(value, bool | np.bool_):
        raise InvalidArgumentError(
            f"progress must be None (automatic), True or False; received {_show(value)}."
        )
    return None if value is None else bool(value)


def flag(name: str, value: Any) -> bool:
    """A boolean argument (``allow_nonfinite``, ``negative``, ``normalize`` ...)."""
    if not isinstance(value, bool | np.bool_):
        raise InvalidArgumentError(f"{name} must be True or False; received {_show(value)}.")
    return bool(value)


def number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number within ``[low, high]`` (open ends with ``*_open``), float32-safe.

    NaN, inf, strings and numbers beyond float32 raise: they would make every map NaN, zero or
    inf without a word.
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidArgumentError(
            f"{name} must be a number; received {_show(value)} ({type(value).__name__})."
        )
    value = float(value)
    if not math.isfinite(value) or abs(value) > _FLOAT32_MAX:
        raise InvalidArgumentError(
            f"{name} must be a finite number within float32 range; received {value!r}."
        )
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = f"{'(' if low_open or low is None else '['}{lo}, {hi}"
        interval += ")" if high_open or high is None else "]"
        raise InvalidArgumentError(f"{name} must be in {interval}; received {value!r}.")
    return value


def choice(name: str, value: Any, options: Sequence[Any]) -> Any:
    """``value`` if it is one of ``options``; otherwise an error listing them."""
    try:
        ok = value in options
    except TypeError:  # unhashable / uncomparable values are simply not an option
        ok = False
    if not ok:
        raise InvalidArgumentError(
            f"{name} must be one of {list(options)}; received {_show(value)}."
        )
    return value


def out_array(out: Any, shape: tuple, what: str = "out") -> np.ndarray:
    """Check an ``out=`` array: a writable floating numpy array (``np.memmap`` included) of
    exactly ``shape``.

    Example:
        >>> buf = np.lib.format.open_memmap("maps.npy", "w+", np.float32, (20000, 32, 32))
        >>> nv.grad_cam(model, x, out=buf)  # maps go to disk batch by batch
    """
    if not isinstance(out, np.ndarray):
        raise InvalidArgumentError(
            f"{what} must be a writable numpy array or np.memmap of shape {tuple(shape)}; "
            f"received {type(out).__name__}."
        )
    if not out.flags.writeable:
        raise InvalidArgumentError(
            f"{what} is read-only (a memmap opened with mode 'r'?); open it with mode 'w+' or "
            "'r+', or pass a writable array."
        )
    if out.dtype.kind != "f":
        raise InvalidArgumentError(
            f"{what} has dtype {out.dtype}; the results are floating point: use float32 "
            "(or float16 / float64)."
        )
    if tuple(out.shape) != tuple(shape):
        raise InvalidArgumentError(
            f"{what} has shape {tuple(out.shape)}; the results have shape {tuple(shape)}. "
            f"Allocate e.g. np.lib.format.open_memmap(path, 'w+', np.float32, {tuple(shape)})."
        )
    return out
