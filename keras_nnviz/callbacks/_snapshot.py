"""Forward passes on a frozen copy of the weights, run off the training thread.

A snapshot of the model's variables costs a millisecond on the training thread (TensorFlow copies
a variable's buffer on write while a read of it is alive, so the copy stays the end-of-epoch
state). The compiled pass then runs on the writer thread with those values mapped onto the
variables through ``keras.StatelessScope``, while training goes on with the live weights — the
training thread waits for neither the forward pass nor the drawing.

The pass is built from :func:`keras_nnviz.graph.forward` like :class:`keras_nnviz.graph.Probe`,
with the variable values as extra ``tf.function`` arguments: traced once (on the training thread,
at train begin), then reused every snapshot.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import graph
from ..errors import IncompatibleLayerError, format_list
from ..inputs import input_signature


def _call_flat(run, inputs, values):
    return run(list(inputs), values)


def _float32(t):
    return tf.cast(t, tf.float32) if t.dtype in (tf.float16, tf.bfloat16, tf.float64) else t


class SnapshotProbe:
    """Outputs of chosen layers for fixed inputs, computed from a snapshot of the weights.

    Args:
        model: a built Keras model.
        layers: layer references.

    Example:
        >>> probe = SnapshotProbe(model, ["conv1"])
        >>> values = probe.snapshot()              # training thread, ~1 ms
        >>> outs = probe(batches, values)          # any thread: {path: numpy}
    """

    def __init__(self, model: keras.Model, layers: Sequence[graph.LayerRef]):
        tree = graph.walk(model, include_sublayers=True)
        entries = [graph.find_entry(model, ref, tree) for ref in layers]
        self.paths = list(dict.fromkeys(e.path for e in entries))
        self._layers = {e.path: e.layer for e in entries}
        self._model_ref = weakref.ref(model)
        self._variables = list(model.variables)
        self.trace_count = 0
        values = [tf.TensorSpec(tuple(v.shape), tf.as_dtype(v.dtype)) for v in self._variables]
        signature = input_signature(model)
        # A functools.partial, not a bound method or closure: TensorFlow keys its "frequent
        # retracing" warning on the code object, which those share across probes (see
        # graph.compile_for_model).
        if signature is None:
            self._fn = tf.function(functools.partial(self._run), reduce_retracing=True)
        else:
            self._fn = tf.function(
                functools.partial(_call_flat, self._run), input_signature=[signature, values]
            )

    def snapshot(self) -> list[tf.Tensor]:
        """The current value of every model variable (copy-on-write: later updates leave it)."""
        return [tf.identity(v.value) for v in self._variables]

    def _run(self, inputs, values):
        self.trace_count += 1  # Python side effect: counts traces, not calls
        model = self._model_ref()
        records: dict[str, Any] = {}
        hooks = graph.recording_hooks(self._layers, records)
        mapping = list(zip(self._variables, values))
        with keras.StatelessScope(state_mapping=mapping, initialize_variables=False):
            graph.forward(model, inputs, hooks)
        missing = [p for p in self.paths if p not in records]
        if missing:
            raise IncompatibleLayerError(
                f"Layers {format_list(missing)} were not called when running model "
                f"{model.name!r} on its inputs, so they have no activations."
            )
        return {p: tf.nest.map_structure(_float32, records[p]) for p in self.paths}

    def __call__(self, batches: list[Any], values: list[tf.Tensor]) -> dict[str, Any]:
        """Run on prepared batches; ``{path: array}`` joined over batches (first output of
        multi-output layers)."""
        chunks: dict[str, list[np.ndarray]] = {p: [] for p in self.paths}
        for batch in batches:
            out = self._fn(batch, values)
            for p in self.paths:
                value = out[p]
                value = value[0] if isinstance(value, list | tuple) else value
                chunks[p].append(np.asarray(value))
        return {
            p: parts[0] if len(parts) == 1 else np.concatenate(parts) for p, parts in chunks.items()
        }


_PROBES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def get_snapshot_probe(model: keras.Model, paths: Sequence[str]) -> SnapshotProbe:
    """The cached :class:`SnapshotProbe` of ``(model, paths)`` (canonical paths)."""
    per_model = _PROBES.setdefault(model, {})
    key = tuple(paths)
    if key not in per_model:
        per_model[key] = SnapshotProbe(model, key)
    return per_model[key]
