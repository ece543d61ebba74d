"""The one pass of :func:`~keras_nnviz.diagnose` over the data: input scale, dead and saturated
units and the loss gradient of every weight, as running summaries (memory bounded by a batch,
whatever the number of samples), from arrays or from a ``tf.data.Dataset`` of any length.

A dataset is read once: each batch feeds the summaries, and its first ``keep`` samples (features
and labels) are kept for the checks that need samples one by one (class balance, label noise,
shortcuts, out-of-distribution inputs, attention).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..core import graph
from ..core.compiled import CompiledPass, layer_pass
from ..core.distribute import Replicas, on_parts
from ..core.inputs import PreparedInput, prepare, split_element
from ..core.loop import iterate
from ..core.model import activation_name
from ..core.summaries import Moments
from ..diagnostics.flow import FlowSummary, label_arrays
from ..diagnostics.units import ActivationSummary, DeadUnitCounter, layer_rows
from ..errors import InvalidInputError

__all__ = ["DatasetSource", "Measured", "input_names", "measure"]


def input_names(model: keras.Model, count: int) -> list[str]:
    """How the diagnosis names the model's inputs (``input 0`` for generated names)."""
    names = [
        name if name and not name.startswith("keras_tensor") else f"input {i}"
        for i, name in enumerate(getattr(t, "name", "") for t in model.inputs or [])
    ]
    return [names[i] if i < len(names) else f"input_{i}" for i in range(count)]


@dataclass
class Measured:
    """What the one pass measured.

    Attributes:
        inputs: one row per model input: ``name``, ``float``, ``mean``, ``std``, ``min``,
            ``max`` of its finite values.
        dead: :func:`~keras_nnviz.dead_units` report of the ReLU-family layers.
        stats: :func:`~keras_nnviz.activation_stats` rows of the saturating layers.
        flow: :func:`~keras_nnviz.gradient_flow` rows (empty without labels).
        samples: samples seen.
    """

    inputs: list[dict[str, Any]] = field(default_factory=list)
    dead: dict[str, dict[str, Any]] = field(default_factory=dict)
    stats: list[dict[str, Any]] = field(default_factory=list)
    flow: list[dict[str, Any]] = field(default_factory=list)
    samples: int = 0


def measure(
    model: keras.Model,
    batches: Iterable[tuple[Any, Any]],
    relu: Sequence[str],
    saturating: Sequence[str],
    flow: CompiledPass | None,
    replicas: Replicas | None = None,
) -> Measured:
    """One pass over ``(inputs, labels)`` batches (model-ready inputs; labels a tensor, or
    None when ``flow`` is None): running summaries of the inputs, of the ``relu`` and
    ``saturating`` layers' activations (one recording pass per batch) and of the loss gradient
    (``flow``: :func:`~keras_nnviz.diagnostics.gradient_flow_pass`). Under ``replicas`` each
    batch is split across them (:func:`~keras_nnviz.core.distribute.on_parts`): the activations
    come back joined in input order, the gradient one row per part (``flow`` made with
    ``parts=True``)."""
    probe = layer_pass(model, [*relu, *saturating]) if relu or saturating else None
    dead = DeadUnitCounter(relu)
    units = ActivationSummary(
        saturating, {p: activation_name(graph.find_layer(model, p)) for p in saturating}
    )
    grads = FlowSummary()
    moments: list[Moments] = []
    floats: list[bool] = []
    samples = 0
    for inputs, labels in batches:
        flat = [np.asarray(t) for t in (inputs if isinstance(inputs, list) else [inputs])]
        if not moments:
            moments = [Moments() for _ in flat]
            floats = [a.dtype.kind == "f" for a in flat]
        for m, a in zip(moments, flat):
            a64 = a.astype(np.float64).reshape(-1)
            m.update(a64[np.isfinite(a64)])
        count = int(flat[0].shape[0])
        samples += count
        if probe is not None:
            chunk = layer_rows(probe, on_parts(replicas, probe, inputs))
            dead.update(chunk)
            units.update(chunk)
        if flow is not None and replicas is not None:
            grads.update_parts(*on_parts(replicas, flow, inputs, labels))
        elif flow is not None:
            loss, gradients = flow(inputs, labels)
            grads.update(loss, gradients, count)
    rows = [
        {
            "name": name,
            "float": is_float,
            **{
                key: float(value) if m.count else 0.0
                for key, value in zip(("mean", "std", "min", "max"), (m.mean, m.std, m.low, m.high))
            },
        }
        for name, is_float, m in zip(input_names(model, len(moments)), floats, moments)
    ]
    return Measured(
        inputs=rows,
        dead=dead.result(model.weights) if relu else {},
        stats=units.rows() if saturating else [],
        flow=grads.rows(model, flow) if flow is not None and grads.samples else [],
        samples=samples,
    )


class DatasetSource:
    """A ``tf.data.Dataset`` read once as ``(inputs, labels)`` batches for :func:`measure`,
    keeping its first ``keep`` samples.

    Elements are ``x``, ``(x, y)`` or ``(x, y, sample_weight)`` (batched or not; the weights
    are not used). The first batch is read on construction: :attr:`labeled` and
    :attr:`first_labels` are known before the pass (the loss is inferred from them).

    Args:
        model: the model diagnosed (one output when the elements carry labels).
        dataset: the data.
        batch_size: batches an unbatched dataset.
        keep: samples kept for the per-sample checks.

    Raises:
        InvalidInputError: an empty dataset, an infinite one, inputs that do not fit the model.
    """

    def __init__(self, model: keras.Model, dataset: tf.data.Dataset, batch_size: int, keep: int):
        self.model, self.batch_size, self.keep = model, batch_size, keep
        self.prepared = prepare(model, dataset, batch_size)
        self._elements = iter(self.prepared.dataset)
        first = next(self._elements, None)
        if first is None:
            raise InvalidInputError("diagnose needs at least one sample; the dataset is empty.")
        self._first = first
        self.labeled = split_element(first, self.prepared.slots)[1] is not None
        self.first_labels = self._labels(split_element(first, self.prepared.slots)[1])
        self.samples = 0
        #: called with each batch's labels before the pass uses them (diagnose checks them
        #: against the loss, so a bad label deep in the dataset is named, not a TF error)
        self.check_labels: Callable[[np.ndarray], None] | None = None
        self._kept_x: list[list[np.ndarray]] = []
        self._kept_y: list[np.ndarray] = []

    def _labels(self, labels: Any) -> np.ndarray | None:
        if labels is None:
            return None
        arrays = label_arrays(self.model, labels)
        if isinstance(arrays, list):
            if len(arrays) != 1:
                raise InvalidInputError(
                    f"diagnose reads the labels of one-output models; the dataset's elements "
                    f"carry {len(arrays)} label arrays. Diagnose without labels, or a one-output "
                    "model."
                )
            arrays = arrays[0]
        return arrays

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        for element in itertools.chain([self._first], self._elements):
            features, labels = split_element(element, self.prepared.slots)
            data = prepare(self.model, features, self.batch_size)
            y = self._labels(labels)
            if (y is None) == self.labeled:
                raise InvalidInputError(
                    "The dataset's elements must all be (x, y) or all be x; they change."
                )
            if y is not None and y.shape[:1] != (data.n,):
                raise InvalidInputError(
                    f"A dataset batch has {data.n} samples but {y.shape[0] if y.ndim else 0} "
                    "labels; pass one label per sample."
                )
            if y is not None and self.check_labels is not None:
                self.check_labels(y)
            room = self.keep - sum(len(c[0]) for c in self._kept_x)
            if room > 0:
                self._kept_x.append([a[:room] for a in data.arrays])
                if y is not None:
                    self._kept_y.append(y[:room])
            self.samples += data.n
            for batch in iterate(data, data.n):
                yield batch.inputs, None if y is None else tf.convert_to_tensor(y)

    def kept(self) -> tuple[PreparedInput, np.ndarray | None]:
        """The first ``keep`` samples read (validated arrays) and their labels (or None)."""
        arrays = [np.concatenate([c[i] for c in self._kept_x]) for i in range(len(self._kept_x[0]))]
        x = arrays[0] if len(arrays) == 1 else arrays
        labels = np.concatenate(self._kept_y) if self._kept_y else None
        return prepare(self.model, x, self.batch_size), labels
