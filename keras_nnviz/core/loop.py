"""The one batch loop: every function that runs a model over user data walks it here.

:class:`BatchLoop` prepares the data (:func:`keras_nnviz.core.inputs.prepare`), yields
:class:`Batch` es with their start offsets, shows the progress bar (a Keras ``Progbar`` that
counts samples), runs each compiled call under :func:`keras_nnviz.validation.compiled_call`
(errors the user can act on), raises on input without samples, and keeps the non-finite
bookkeeping: a result holding NaN/inf warns once per call, after the loop, naming the first
layer with non-finite weights (:func:`keras_nnviz.core.finite.warn_nonfinite`). Under a
``tf.distribute`` strategy, :meth:`BatchLoop.run` splits each batch across the replicas
(:mod:`keras_nnviz.core.distribute`).

:func:`iterate` is the plain walk (offsets, no model call) for code that only reads samples;
:func:`fixed_batches` turns a callback's fixed inputs into model-ready batches once, to be run
every epoch; :func:`head` reads the first samples of any input as numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import validation
from ..errors import InvalidInputError
from .distribute import replicas_for
from .finite import all_finite, warn_nonfinite
from .inputs import PreparedInput, prepare

__all__ = [
    "Batch",
    "BatchLoop",
    "fixed_batches",
    "head",
    "iterate",
]


@dataclass(frozen=True)
class Batch:
    """One model-ready batch of a walk over the data.

    Attributes:
        inputs: what the model takes (a flat list of tensors for functional models, else one
            tensor).
        start: index of the batch's first sample in the whole input.
        size: samples in the batch.
    """

    inputs: Any
    start: int
    size: int


def iterate(data: PreparedInput, batch_size: int) -> Iterator[Batch]:
    """Walk prepared data in batches of ``batch_size`` (a batched dataset keeps its own), with
    each batch's start offset."""
    start = 0
    for inputs in data.batches(batch_size):
        size = int(tf.nest.flatten(inputs)[0].shape[0])
        yield Batch(inputs, start, size)
        start += size


def fixed_batches(model: keras.Model, x: Any, batch_size: int) -> list[Any]:
    """``x`` validated once and cut into model-ready batches, kept to be run again (a
    callback's fixed samples, every epoch)."""
    return [b.inputs for b in iterate(prepare(model, x, batch_size), batch_size)]


def head(data: PreparedInput, limit: int, batches: int | None = None) -> list[np.ndarray]:
    """The first ``limit`` samples of prepared data as numpy arrays in ``model.inputs`` order
    (one array for a subclassed model's single input); of a dataset at most ``batches`` of its
    batches are read (None: until ``limit`` samples). Empty when there are none."""
    if data.arrays is not None:
        return [np.asarray(a)[:limit] for a in data.arrays]
    chunks: list[list[np.ndarray]] = []
    got = 0
    for batch in iterate(data, limit):
        flat = batch.inputs if isinstance(batch.inputs, list) else [batch.inputs]
        chunks.append([np.asarray(t) for t in flat])
        got += batch.size
        if got >= limit or (batches is not None and len(chunks) >= batches):
            break
    if not chunks:
        return []
    return [np.concatenate([c[i] for c in chunks])[:limit] for i in range(len(chunks[0]))]


class BatchLoop:
    """Run a model over ``x`` batch by batch.

    Iterate it for the :class:`Batch` es; run each compiled call through :meth:`call`.

    Args:
        model: a built Keras model.
        x: the user's data (see :func:`keras_nnviz.core.inputs.prepare`).
        batch_size: samples per batch.
        allow_nonfinite: accept NaN/inf in ``x``, and NaN/inf results without a warning.
        progress: True / False, or None: a bar only for a ``heavy`` pass of more than one batch.
        heavy: whether a batch costs more than a forward pass (``progress=None`` then shows a
            bar).
        per: None: the bar counts samples; else it counts model evaluations, ``per`` of them per
            sample (0: unknown until the first batch, whose ``units`` set the total).
        units: what the bar advances by for a batch of ``size`` samples (default: ``size``).
        what: the computation, for error messages (``"GradCAM maps"``).
        target: the user's target, so that a failing target callable is named.
        results: what the results are, for the non-finite warning (``"grad_cam maps"``).
        finite: the part of a call's result that must be free of NaN/inf (default: all of it).
        empty: the error raised when the input turns out to hold no samples (None: no check).
        check: warn when a result holds NaN/inf (False: no warning, e.g. for results computed
            on snapshot weights, whose divergence a fit's own check names).
        done: called with the number of samples once they are all seen, before the non-finite
            warning (a per-sample target checks its count).
        strategy: a ``tf.distribute.Strategy`` whose replicas share each batch in :meth:`run`
            (None: the one a :func:`keras_nnviz.distribute` block set, else one device); see
            :mod:`keras_nnviz.core.distribute`.

    Example:
        >>> loop = BatchLoop(model, x, 32)
        >>> parts = [loop.call(compiled, b.inputs) for b in loop]
        >>> parts = [loop.run(compiled, b) for b in loop]  # over the strategy's replicas
    """

    def __init__(
        self,
        model: keras.Model,
        x: Any,
        batch_size: int = 32,
        *,
        allow_nonfinite: bool = False,
        progress: bool | None = None,
        heavy: bool = False,
        per: int | None = None,
        units: Callable[[int], int] | None = None,
        what: str = "a forward pass",
        target: Any = None,
        results: str = "the results",
        finite: Callable[[Any], Any] | None = None,
        empty: str | None = None,
        check: bool = True,
        done: Callable[[int], None] | None = None,
        strategy: tf.distribute.Strategy | None = None,
    ):
        progress = validation.progress(progress)
        self.replicas = replicas_for(strategy)
        self.model = model
        self.data = prepare(model, x, batch_size, allow_nonfinite=allow_nonfinite)
        self.batch_size = batch_size
        self.allow_nonfinite = self.data.allow_nonfinite
        total = (self.data.n or 0) * (per or 1)
        show = progress if progress is not None else heavy and (total > batch_size or per == 0)
        self._bar = None
        if show and per is None:
            self._bar = keras.utils.Progbar(self.data.n, unit_name="sample")
        elif show:
            self._bar = keras.utils.Progbar(total if per else None, unit_name="evaluation")
        self._per, self._units = per, units or (lambda size: size)
        self.what, self.target, self.results, self.finite = what, target, results, finite
        self.empty, self.check, self.done = empty, check, done
        self.samples = 0
        self.broken = False

    @property
    def n(self) -> int | None:
        """Samples in the input, when known before the loop (arrays; not datasets)."""
        return self.data.n

    def __iter__(self) -> Iterator[Batch]:
        self.samples, self.broken = 0, False
        for batch in iterate(self.data, self.batch_size):
            yield batch
            self.samples += batch.size
            if self._bar is not None:
                step = self._units(batch.size)
                if self._per == 0 and self._bar.target is None and self.data.n:
                    self._bar.target = self.data.n * step // batch.size  # known now
                self._bar.add(step)
        if self.samples == 0 and self.empty is not None:
            raise InvalidInputError(self.empty)
        if self.done is not None:
            self.done(self.samples)
        if self.broken and self.check and not self.allow_nonfinite:
            warn_nonfinite(self.model, self.results)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` (a compiled pass on one batch) with errors the user can act
        on; its result enters the non-finite books."""
        with validation.compiled_call(self.what, self.target):
            result = fn(*args, **kwargs)
        # Scanned until the first broken result: one warning per call is enough.
        if self.check and not self.allow_nonfinite and not self.broken:
            self.broken = not all_finite(result if self.finite is None else self.finite(result))
        return result

    # -- over a tf.distribute strategy (see keras_nnviz.core.distribute) ------------------------

    def run(
        self,
        fn: Callable[..., Any],
        batch: Batch,
        args: Callable[[Batch], Sequence[Any]] | None = None,
        **kwargs: Any,
    ) -> Any:
        """:meth:`call` of ``fn(*args(batch), **kwargs)``, under the loop's strategy split
        across its replicas: each runs ``fn(*args(part), **kwargs)`` on a contiguous part of the
        batch (a :class:`Batch` with its own start offset and size), joined in input order.

        Args:
            fn: one batch's computation; every numeric non-scalar leaf of its result has the
                batch axis first (strings and scalars are taken from the first part).
            batch: the batch.
            args: the positional arguments of a batch (default: its inputs alone).
            **kwargs: arguments every part gets as they are.
        """
        if args is None:
            args = _inputs_only
        if self.replicas is None:
            return self.call(fn, *args(batch), **kwargs)

        def part(begin: int, end: int) -> Sequence[Any]:
            inputs = tf.nest.map_structure(lambda t: t[begin:end], batch.inputs)
            return args(Batch(inputs, batch.start + begin, end - begin))

        return self.call(self.replicas.run, fn, batch.size, part, **kwargs)


def _inputs_only(batch: Batch) -> tuple:
    return (batch.inputs,)
