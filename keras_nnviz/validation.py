"""The one set of argument checks at the public boundary.

Every public function takes the core's convention
``fn(model, x, target=None, *, layer=None, output=None, batch_size=32, progress=None,
allow_nonfinite=False, ...)``. Data (``x``) is checked by :mod:`keras_nnviz.core.inputs`, layers
by :mod:`keras_nnviz.core.graph`, targets by :mod:`keras_nnviz.core.targets`; the scalar arguments
around them
(sizes, flags, numbers, ``out=`` arrays) are checked here, so one wrong value gives the same
:class:`~keras_nnviz.errors.NNVizError` wherever it is passed. Each message says what was
received and what works.

Why not let numpy / TensorFlow complain: a NaN ``threshold`` or ``noise`` silently gives an
all-zero or all-NaN result, a string ``batch_size`` fails deep inside a ``tf.function`` behind
TensorFlow's staging stack, and ``1e300`` turns into ``inf`` in float32.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .errors import InvalidArgumentError, InvalidInputError, InvalidTargetError, NNVizError

__all__ = [
    "BATCH_OPTIONS",
    "batch_options",
    "batch_size",
    "choice",
    "compiled_call",
    "finite_values",
    "flag",
    "index",
    "keyword_options",
    "maps_array",
    "number",
    "out_array",
    "path_like",
    "positive_int",
    "progress",
    "rows",
    "same_length",
    "tf_errors",
]

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# The keyword options of every batched pass over ``x``, declared once as (name, default,
# annotation): the attribution registry and every :func:`batch_options` function show these.
BATCH_OPTIONS = (
    ("batch_size", 32, "int"),
    ("progress", None, "bool | None"),
    ("allow_nonfinite", False, "bool"),
    ("strategy", None, "tf.distribute.Strategy | None"),
)


def keyword_options(
    spec: Sequence[tuple[str, Any, str]], what: str
) -> Callable[[Callable], Callable]:
    """A decorator giving a function the keyword-only options in ``spec`` (``(name, default,
    annotation)`` triples, declared once) in place of its trailing ``**options``.

    The function receives them in that ``**`` dict, defaults filled in, to pass on in one piece.
    ``inspect.signature``, ``help()`` and IDEs see real keyword-only parameters, placed last; an
    unknown keyword is the usual ``TypeError``. :func:`batch_options` and
    :func:`keras_nnviz.plot._base.frame_options` are made by it.

    Args:
        spec: the options, in the order the signature shows them.
        what: what they are, for the error when a function lacks the trailing ``**``.

    Example:
        >>> level_options = keyword_options((("level", 1, "int"),), "level options")
        >>> @level_options
        ... def get_things(model, x, **options): ...
    """
    P = inspect.Parameter
    options = [P(n, P.KEYWORD_ONLY, default=d, annotation=a) for n, d, a in spec]

    def decorate(fn: Callable) -> Callable:
        params = list(inspect.signature(fn).parameters.values())
        if not params or params[-1].kind is not P.VAR_KEYWORD:
            raise TypeError(f"{fn.__name__} must end with a **-parameter to take the {what}.")
        public = inspect.signature(fn).replace(parameters=[*params[:-1], *options])

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = public.bind(*args, **kwargs)
            bound.apply_defaults()
            return fn(*bound.args, **bound.kwargs)

        wrapper.__signature__ = public  # type: ignore[attr-defined]
        return wrapper

    shown = ", ".join(f"{n}={d!r}" for n, d, _ in spec)
    decorate.__name__ = decorate.__qualname__ = what.replace(" ", "_")
    decorate.__doc__ = (
        f"Give a function the keyword-only {what} ({shown}) in place of its trailing ``**`` "
        "parameter, which receives them, defaults filled in (see :func:`keyword_options`)."
    )
    return decorate


# ``run_batches(..., **batch)``, ``get_activation(..., **batch)``: the options pass on in one piece.
batch_options = keyword_options(BATCH_OPTIONS, "batch options")


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


def finite_values(name: str, value: Any) -> None:
    """Floating option values (numbers, arrays, lists of numbers) must be finite and within
    float32: a NaN ``noise``, ``value`` or ``baseline`` would make every map NaN or zero."""
    if isinstance(value, bool | str | bytes) or value is None or callable(value):
        return
    if isinstance(value, float | np.floating):
        number(name, value)
        return
    if isinstance(value, np.ndarray | list | tuple):
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError):
            return  # not numeric: the option's own check says what it takes
        if arr.dtype.kind == "f" and arr.size:
            bad = ~np.isfinite(arr) | (np.abs(np.nan_to_num(arr)) > _FLOAT32_MAX)
            if bad.any():
                raise InvalidArgumentError(
                    f"{name} holds {int(bad.sum())} NaN/inf (or beyond float32) values of "
                    f"{arr.size}; every map computed from it would be NaN. Pass finite values."
                )


def maps_array(name: str, value: Any, min_ndim: int = 2) -> np.ndarray:
    """Per-sample maps ``(N, *spatial)`` as float64: numeric, not empty, and no sample whose map
    is entirely NaN/inf (metrics on it would return a plausible-looking number)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{name} must be a numeric array (N, *spatial); received {type(value).__name__}."
        ) from None
    if arr.ndim < min_ndim:
        raise InvalidInputError(f"{name} must be (N, *spatial); received shape {arr.shape}.")
    if arr.size == 0:
        raise InvalidInputError(f"{name} is empty (shape {arr.shape}); pass at least one map.")
    dead = ~np.isfinite(arr.reshape(len(arr), -1)).any(axis=1)
    if dead.any():
        raise InvalidInputError(
            f"{name}: the maps of samples {np.flatnonzero(dead)[:8].tolist()} are entirely "
            "NaN/inf; recompute them (an input with NaN, or a diverged model?)."
        )
    return arr


def index(name: str, value: Any, n: int, what: str = "samples") -> int:
    """``value`` as an index into ``n`` items (negative from the end), or a clear error."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not -n <= value < n:
        raise InvalidArgumentError(
            f"{name}={_show(value)} is out of range: there are {n} {what} (valid 0 ... {n - 1})."
        )
    return int(value)


def same_length(name: str, value: Any, n: int, what: str) -> None:
    """``value`` (a sequence) holds one entry per item of ``what`` (``n`` of them), or is None."""
    if value is not None and len(value) != n:
        raise InvalidInputError(
            f"{name} has {len(value)} entries but there are {n} {what}; pass one per item."
        )


def rows(name: str, value: Any, keys: Sequence[str], source: str) -> list:
    """A non-empty sequence of mappings holding ``keys`` (rows returned by ``source``)."""
    from collections.abc import Mapping

    value = list(value) if isinstance(value, list | tuple) else value
    if not isinstance(value, list) or not value:
        raise InvalidInputError(
            f"{name} needs the non-empty list of rows returned by {source}; received "
            f"{_show(value)}."
        )
    for r in value:
        missing = [k for k in keys if not isinstance(r, Mapping) or k not in r]
        if missing:
            raise InvalidInputError(
                f"{name} needs rows from {source} (with keys {list(keys)}); a row lacks "
                f"{missing}: {_show(r)}."
            )
    return value


def path_like(name: str, value: Any) -> str:
    """A file-system path argument (str or ``os.PathLike``) as a string.

    Raises:
        InvalidArgumentError: not a path, empty, or with a NUL byte (no file system takes one;
            numpy and the OS would fail later with errors that do not say which argument).
    """
    import os

    if isinstance(value, bool) or not isinstance(value, str | os.PathLike) or not str(value):
        raise InvalidArgumentError(
            f"{name} must be a path (str or pathlib.Path); received {_show(value)} "
            f"({type(value).__name__})."
        )
    path = os.fspath(value)
    if "\x00" in str(path):
        raise InvalidArgumentError(
            f"{name} contains a NUL byte ('\\x00'), which no file system allows in a path; "
            f"received {str(path)!r}. Pass a folder path without it, e.g. 'logs/run1'."
        )
    return path


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


def out_array(out: Any, shape: tuple, what: str = "out", dtype: Any = None) -> np.ndarray:
    """Check an ``out=`` array: a writable numpy array (``np.memmap`` included) of exactly
    ``shape``, floating point (or, when the results' ``dtype`` is an integer one, integer).

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
    want = np.dtype(dtype) if dtype is not None else np.dtype(np.float32)
    if want.kind in "iu" and out.dtype.kind not in "iu":
        raise InvalidArgumentError(
            f"{what} has dtype {out.dtype}; the results are {want} (integers): use {want}."
        )
    if want.kind not in "iu" and out.dtype.kind != "f":
        raise InvalidArgumentError(
            f"{what} has dtype {out.dtype}; the results are floating point ({want}): use "
            f"{want} (or another float dtype: float16 / float32 / float64)."
        )
    if tuple(out.shape) != tuple(shape):
        raise InvalidArgumentError(
            f"{what} has shape {tuple(out.shape)}; the results have shape {tuple(shape)}. "
            f"Allocate e.g. np.lib.format.open_memmap(path, 'w+', np.float32, {tuple(shape)})."
        )
    return out


# -- errors raised while tracing ----------------------------------------------------------------


def _staged_message(message: str) -> str:
    """The user's message inside TensorFlow's "in user code: File ..." wrapper."""
    if "in user code" not in message:
        return message
    last = [line for line in message.strip().splitlines() if line.strip()][-1].strip()
    # The wrapper ends with "    ErrorType: original message".
    head, sep, rest = last.partition(": ")
    return rest if sep and head.replace(".", "").replace("_", "").isalnum() else last


@contextlib.contextmanager
def compiled_call(what: str, target: Any = None) -> Iterator[None]:
    """Run a compiled pass with errors the user can act on.

    An :class:`NNVizError` raised while tracing comes back with its own message (without
    TensorFlow's staging stack); an error raised by a user's target callable becomes an
    :class:`~keras_nnviz.errors.InvalidTargetError` naming it; a class index that the graph
    finds out of range (subclassed models, whose output width is unknown before a call) too.
    """
    try:
        yield
    except NNVizError as exc:
        message = str(exc)
        if "in user code" not in message:
            raise
        raise type(exc)(_staged_message(message)) from None
    except Exception as exc:  # noqa: BLE001 - re-raised unless we can say what went wrong
        if callable(target) and not isinstance(target, type):
            raise InvalidTargetError(
                f"The target callable {getattr(target, '__name__', type(target).__name__)!r} "
                f"failed on the model's outputs while computing {what}: {type(exc).__name__}: "
                f"{_staged_message(str(exc)).splitlines()[0][:300]}. It must map the outputs "
                "to one score per sample, shape (N,)."
            ) from None
        if target is not None and isinstance(exc, tf_errors()):
            raise InvalidTargetError(
                f"target={target!r} does not fit the model's output while computing {what} "
                f"(a class index out of range?): {_staged_message(str(exc)).splitlines()[0][:200]}"
            ) from None
        raise


def tf_errors() -> tuple[type, ...]:
    """TensorFlow's runtime error types (imported lazily: plots never import TensorFlow)."""
    import tensorflow as tf

    return (tf.errors.InvalidArgumentError,)
