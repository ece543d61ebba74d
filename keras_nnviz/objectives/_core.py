"""Objective algebra: weighted sums of terms, and what a term becomes once bound to a model."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from ..errors import InvalidArgumentError

if TYPE_CHECKING:
    from ._context import BindContext

# Where a term reads its tensor from.
INPUT = "input"  # the [0, 1] image being optimized (before transforms)
OUTPUT = "output"  # a model output (class logits)
LAYER = "layer"  # a recorded layer output


class _Term:
    """One leaf of an objective; subclasses implement :meth:`bind`."""

    def describe(self) -> str:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def bind(self, ctx: BindContext) -> BoundTerm:  # pragma: no cover
        raise NotImplementedError


@dataclass
class BoundTerm:
    """A term checked against a model: what to read, its parameters, how to compute it.

    Attributes:
        source: ``"layer"``, ``"output"`` or ``"input"``.
        path: canonical layer path (``"layer"``), output index (``"output"``) or None.
        key: hashable structure (kind, path, ranks, parameter shapes) without parameter values,
            so objectives differing only in channel index, position or vector share one trace.
        params: parameter values, fed to the compiled step as tensors.
        fn: ``fn(tensor, params) -> (b,)`` values for a slice of ``b`` images.
        unit: a unit objective (not a penalty): its value is exactly 0 only when every
            activation it reads is 0, i.e. the unit is dead for that image.
    """

    source: str
    path: Any
    key: tuple
    params: list[np.ndarray]
    fn: Callable[[tf.Tensor, list[tf.Tensor]], tf.Tensor]
    unit: bool = True


class Objective:
    """A weighted sum of terms; maximized per image by :func:`keras_nnviz.maximize_activation`.

    Build objectives with the functions of :mod:`keras_nnviz.objectives`; combine them with
    ``+``, ``-``, unary ``-`` and multiplication/division by a number.

    Example:
        >>> obj = nv.objectives.channel("conv2", 3) - 0.1 * nv.objectives.total_variation()
        >>> str(obj)
        'conv2 ch 3 - 0.1·total_variation'
    """

    __slots__ = ("terms",)

    def __init__(self, terms: Sequence[tuple[float, _Term]]):
        self.terms: tuple[tuple[float, _Term], ...] = tuple(terms)

    # -- algebra ---------------------------------------------------------------------------
    @staticmethod
    def _coerce(other: Any, op: str) -> Objective:
        if isinstance(other, Objective):
            return other
        raise InvalidArgumentError(
            f"Objectives combine with other objectives by {op}; received "
            f"{type(other).__name__} {other!r}. Build terms with nv.objectives.channel(...), "
            "neuron(...), class_logit(...), ... and multiply them by numbers only."
        )

    @staticmethod
    def _scalar(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidArgumentError(
                f"Objectives can be multiplied or divided by a number only; received "
                f"{type(value).__name__} {value!r}. Combine objectives with + and -."
            )
        if not math.isfinite(float(value)):
            raise InvalidArgumentError(f"Objective weights must be finite; received {value!r}.")
        return float(value)

    def __add__(self, other: Any) -> Objective:
        return Objective(self.terms + self._coerce(other, "+").terms)

    def __radd__(self, other: Any) -> Objective:
        if isinstance(other, numbers.Number) and other == 0:
            return self  # lets sum([obj1, obj2]) work
        return self._coerce(other, "+").__add__(self)

    def __sub__(self, other: Any) -> Objective:
        return self + (-self._coerce(other, "-"))

    def __rsub__(self, other: Any) -> Objective:
        return self._coerce(other, "-") - self

    def __neg__(self) -> Objective:
        return self * -1.0

    def __mul__(self, value: Any) -> Objective:
        w = self._scalar(value)
        return Objective(tuple((w * weight, term) for weight, term in self.terms))

    __rmul__ = __mul__

    def __truediv__(self, value: Any) -> Objective:
        w = self._scalar(value)
        if w == 0:
            raise InvalidArgumentError("Cannot divide an objective by zero.")
        return self * (1.0 / w)

    # -- description -----------------------------------------------------------------------
    def __str__(self) -> str:
        parts = []
        for i, (weight, term) in enumerate(self.terms):
            sign = "-" if weight < 0 else "+"
            mag = abs(weight)
            text = term.describe() if mag == 1 else f"{mag:g}·{term.describe()}"
            if i == 0:
                parts.append(text if sign == "+" else f"-{text}")
            else:
                parts.append(f"{sign} {text}")
        return " ".join(parts) if parts else "0"

    def __repr__(self) -> str:
        return f"Objective({self})"

    @property
    def name(self) -> str:
        """Short human-readable description, used as a plot title."""
        return str(self)


def _leaf(term: _Term) -> Objective:
    return Objective(((1.0, term),))


def _ref_name(ref: Any) -> str:
    if isinstance(ref, keras.layers.Layer):
        return ref.name
    return str(ref)
