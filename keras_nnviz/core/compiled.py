"""One compiled pass over a model: the only place keras_nnviz builds a ``tf.function``.

Every family (activations, RNN states, attention capture, each attribution method, feature
visualization, unit views, diagnostics, the callbacks' snapshot passes) describes its work as a
*body* ``body(model, inputs, *args)`` that runs the model (through
:func:`keras_nnviz.core.graph.forward`, with hooks) and returns a nest of tensors.
:class:`CompiledPass` turns a body into one ``tf.function`` with:

- one retrace strategy: a batch-agnostic input signature built from the model's inputs, so every
  batch size (a smaller last batch included) reuses one trace; subclassed models, which have no
  symbolic inputs, fall back to ``reduce_retracing``. The function wraps a
  ``functools.partial``: TensorFlow keys its "frequent retracing" warning on the wrapped
  function's code object, which a bound method, closure or lambda shares with every other pass of
  every other model (so many models in one process would warn spuriously); a partial has no code
  object and is keyed by itself;
- ``trace_count`` (a Python side effect runs only while tracing), for tests;
- errors without TensorFlow's staging stack: an :class:`~keras_nnviz.errors.NNVizError` raised
  while tracing (a layer not called, a score that does not fit) is kept and re-raised as itself
  from ``__call__``, instead of reaching the user behind AutoGraph's "in user code" frames;
- weights ``"live"`` (the model's variables) or ``"snapshot"``: the variable values become an
  argument mapped onto the variables through ``keras.StatelessScope``, so a pass can compute on a
  frozen copy of the weights (see :meth:`CompiledPass.snapshot`) on another thread while training
  goes on;
- one cache registry: :func:`compiled_pass` returns the pass cached for ``(model, key)``, holding
  the model only weakly; :func:`clear_cache` empties it.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import _compat
from ..errors import NNVizError
from . import caches, graph
from .inputs import input_signature
from .model import ModelBound

__all__ = [
    "Body",
    "cached_passes",
    "clear_cache",
    "collect_layers",
    "compiled_pass",
    "CompiledPass",
    "layer_pass",
    "record_layers",
    "weight_reader",
    "WEIGHTS",
]

Body = Callable[..., Any]
WEIGHTS = ("live", "snapshot")


def _float32(t):
    return tf.cast(t, tf.float32) if t.dtype in (tf.float16, tf.bfloat16, tf.float64) else t


def record_layers(model: keras.Model, inputs: Any, paths: Sequence[str], hooks=None) -> dict:
    """Run ``model`` recording the outputs of the layers at ``paths`` (the default body).

    Returns:
        ``{"layers": {path: output in float32}, "outputs": model outputs in float32}``.

    Raises:
        IncompatibleLayerError: a layer was not called (see :func:`graph.check_called`).
    """
    tree = graph.walk(model, include_sublayers=True)
    layers = {p: graph.find_entry(model, p, tree).layer for p in paths}
    records: dict[str, Any] = {}
    all_hooks = graph.recording_hooks(layers, records)
    if hooks:
        all_hooks = graph.merge_hooks(hooks, all_hooks)
    outputs = graph.forward(model, inputs, all_hooks)
    graph.check_called(model, paths, records)
    layer_out = {p: tf.nest.map_structure(_float32, records[p]) for p in paths}
    return {"layers": layer_out, "outputs": tf.nest.map_structure(_float32, outputs)}


def _trace(compiled: CompiledPass, inputs, *args):
    """What the ``tf.function`` runs (module level so the partial has no shared code object)."""
    compiled.trace_count += 1  # Python side effect: counts traces, not calls
    compiled.tracing = True  # still set when an error leaves: the trace failed, not the run
    model = compiled.model
    if compiled.flat_inputs:
        inputs = list(inputs)
    try:
        if compiled.weights == "snapshot":
            *args, values = args
            mapping = list(zip(compiled.variables, values))
            with keras.StatelessScope(state_mapping=mapping, initialize_variables=False):
                out = compiled.body(model, inputs, *args)
        else:
            out = compiled.body(model, inputs, *args)
    except NNVizError as exc:
        compiled.pending_error, compiled.tracing = exc, False  # a mistake AutoGraph won't fix
        raise
    compiled.tracing = False
    return out


_READERS = caches.per_model("weight readers")


def weight_reader(model: keras.Model) -> Callable[[], list[tf.Tensor]]:
    """The model's snapshot reader: ``reader()`` returns every variable's value now.

    One raw read per variable (:func:`keras_nnviz._compat.read_variables`): about 4 ms of the
    training thread for the ~260 variables of a nested MobileNetV2, as fast as one compiled
    read of all of them, which cost ≈ 0.7 s of tracing and instantiation once per model (a
    fifth of a short fit's callback overhead). Shared by every snapshot pass and explainer of
    the model; :func:`clear_cache` forgets it.
    """
    with _LOCK:
        reader = _READERS.get(model)
        if reader is None:
            reader = _READERS[model] = functools.partial(
                _compat.read_variables, tuple(model.variables)
            )
        return reader


def _record_body(paths, model, inputs):
    return record_layers(model, inputs, paths)


class CompiledPass(ModelBound):
    """A compiled ``body(model, inputs, *args)`` for one model.

    Build passes with :func:`compiled_pass` (cached); construct directly only for a pass that
    must not be shared.

    Args:
        model: a built Keras model; held weakly.
        body: ``body(model, inputs, *args) -> nest of tensors``, called while tracing. ``inputs``
            is the flat list of input tensors in ``model.inputs`` order (functional models) or
            what was passed (subclassed models, or ``inputs=`` given).
        args: TensorSpecs (nests allowed) of the extra arguments, or None when they have no
            fixed signature (then TensorFlow's ``reduce_retracing`` applies).
        inputs: TensorSpecs of the first argument when it is not the model's inputs (e.g. the
            images of a feature-visualization step); default: the model's input signature.
        weights: ``"live"`` or ``"snapshot"`` (the call takes ``values=`` from
            :meth:`snapshot`).
        record: canonical layer paths; with ``body=None`` the pass returns
            ``{"layers": {path: output}, "outputs": model outputs}`` (float32), see
            :func:`record_layers`.
        autograph: convert the body's Python control flow with AutoGraph. Converting
            transpiles every function the trace calls (Keras layers included), which is most
            of the tracing time (about 5x less without for integrated gradients through a
            small attention model; 1.8 s instead of 2.7 s for the gradient-flow pass of a
            nested MobileNetV2). False: never (a body written with explicit TensorFlow control
            flow, ``tf.while_loop`` / ``tf.cond``). True: always. None (default): trace without
            AutoGraph first; when that trace fails (Python control flow on a tensor value in
            a subclassed model's ``call``, a user's loss or objective: TensorFlow's
            ``OperatorNotAllowedInGraphError`` and the like), trace once more with AutoGraph
            and keep that for good (:attr:`autograph` tells which). Keras 3's own layers are
            written to trace under JAX, which has no AutoGraph: they never need it.

    Attributes:
        trace_count: how many times the body was traced (a trace that failed without
            AutoGraph and was redone with it counts once).
        autograph: whether the traced function converts with AutoGraph (for ``None``: False
            until a trace needed it).

    Example:
        >>> def body(model, inputs):
        ...     return graph.forward(model, inputs, {})
        >>> p = compiled_pass(model, ("outputs",), body)
        >>> p(batch)
    """

    def __init__(
        self,
        model: keras.Model,
        body: Body | None,
        *,
        args: Sequence[Any] | None = (),
        inputs: Any = None,
        weights: str = "live",
        record: Sequence[str] = (),
        autograph: bool | None = None,
    ):
        # A recording pass over a graph (functional / Sequential) model runs layers that
        # already ran on symbolic tensors: no Python control flow on tensor values, so no
        # fallback is needed. Anything else may call user code that needs AutoGraph.
        self._fallback = autograph is None and not (
            body is None and _compat.functional_graph(model) is not None
        )
        self.autograph = bool(autograph)
        self.tracing = False
        if body is None:
            body = functools.partial(_record_body, tuple(record))
        if weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {WEIGHTS}; received {weights!r}.")
        self._model_ref = weakref.ref(model)
        self.body = body
        self.weights = weights
        self.trace_count = 0
        self.pending_error: NNVizError | None = None
        self.paths: list[str] = list(record)
        self.variables = list(model.variables) if weights == "snapshot" else []
        self._read = weight_reader(model) if self.variables else None
        model_signature = input_signature(model) if inputs is None else None
        self.flat_inputs = model_signature is not None
        first = inputs if inputs is not None else model_signature
        signature = None
        if first is not None and args is not None:
            signature = [first, *args]
            if weights == "snapshot":
                signature.append(
                    [tf.TensorSpec(tuple(v.shape), tf.as_dtype(v.dtype)) for v in self.variables]
                )
        self._signature = signature
        self._fn = self._function()

    _kind = "compiled pass"

    def _function(self):
        return tf.function(
            functools.partial(_trace, self),
            input_signature=self._signature,
            reduce_retracing=self._signature is None,
            autograph=self.autograph,
        )

    def snapshot(self) -> list[tf.Tensor]:
        """The current value of every model variable, for ``values=`` of a snapshot pass.

        Costs about a millisecond: TensorFlow copies a variable's buffer on write while a read
        of it is alive, so the snapshot keeps this moment's values while training goes on.
        """
        return self._read() if self._read is not None else []

    def __call__(self, inputs: Any, *args: Any, values: Sequence[tf.Tensor] | None = None):
        """Run the pass on one batch; ``values`` (a :meth:`snapshot`) for snapshot passes."""
        if self.weights == "snapshot":
            if values is None:
                raise ValueError("A snapshot pass needs values=pass.snapshot().")
            args = (*args, list(values))
        try:
            return self._run(inputs, args)
        except Exception:
            if not (self.tracing and self._fallback):
                raise
        # The trace without AutoGraph failed (not with an NNVizError, a mistake AutoGraph would
        # not fix): trace again with it, for good. Its error, if any, is what the user would
        # have seen with AutoGraph from the start.
        with _LOCK:
            if not self.autograph:
                self.autograph, self._fallback = True, False
                self.trace_count -= 1  # the failed trace left no function behind
                self._fn = self._function()
        return self._run(inputs, args)

    def _run(self, inputs: Any, args: tuple):
        self.pending_error, self.tracing = None, False
        try:
            return self._fn(inputs, *args)
        except Exception as exc:
            error, self.pending_error = self.pending_error, None
            if error is not None and error is not exc:
                raise error.with_traceback(None) from None
            raise


# ----------------------------------------------------------------------------------------------
# The one cache registry

_REGISTRY = caches.per_model("compiled passes")
_LOCK = threading.RLock()


def compiled_pass(
    model: keras.Model,
    key: Hashable,
    body: Body | None,
    **options: Any,
) -> CompiledPass:
    """The :class:`CompiledPass` cached for ``(model, key)``, built on first use.

    Args:
        model: a built Keras model (the cache holds it weakly: caching never keeps it alive).
        key: what decides the traced graph besides the model (layers, method, options).
        body: the body for a new pass (see :class:`CompiledPass`); None records ``record=``.
        **options: ``args``, ``inputs``, ``weights``, ``record``, ``autograph`` for a new pass.

    Returns:
        The cached pass.
    """
    with _LOCK:
        per_model = _REGISTRY.setdefault(model, {})
        found = per_model.get(key)
        if found is None:
            found = per_model[key] = CompiledPass(model, body, **options)
        return found


def cached_passes(model: keras.Model) -> dict[Hashable, CompiledPass]:
    """The passes cached for ``model`` (``{key: pass}``), for tests and debugging."""
    with _LOCK:
        return dict(_REGISTRY.get(model, {}))


def clear_cache(model: keras.Model | None = None) -> None:
    """Forget everything cached about ``model``, or about every model when None.

    One call reaches every per-model cache (:mod:`keras_nnviz.core.caches`): compiled passes
    and weight readers, the attribution functions' explainers, attention sites and traced
    layer shapes. Caches never keep a model alive; clearing frees their traced graphs sooner
    and makes the next call see a model whose layers were swapped.

    Example:
        >>> nv.clear_cache(model)
    """
    with _LOCK:
        caches.clear(model)


# ----------------------------------------------------------------------------------------------
# The recording pass: chosen layers' outputs (activations, embeddings, callbacks' snapshots)


def layer_pass(
    model: keras.Model, layers: Sequence[graph.LayerRef], weights: str = "live"
) -> CompiledPass:
    """The cached pass returning the outputs of ``layers`` and of the model.

    Args:
        model: a built Keras model.
        layers: layer references (see :func:`keras_nnviz.core.graph.find_layer`); canonical paths
            resolve without walking the model again.
        weights: ``"live"``, or ``"snapshot"`` to run on :meth:`CompiledPass.snapshot` values.

    Returns:
        A pass whose call gives ``{"layers": {path: tensor}, "outputs": tensors}``; its
        ``paths`` are the canonical layer paths, duplicates removed.

    Example:
        >>> p = layer_pass(model, ["base/block1_conv", "dense"])
        >>> p(batch)["layers"]["base/block1_conv"].shape
    """
    refs = tuple(layers)
    if not (
        all(isinstance(r, str) for r in refs) and ("record", refs, weights) in _registry(model)
    ):
        refs = tuple(graph.layer_paths(model, refs))
    return compiled_pass(model, ("record", refs, weights), None, record=refs, weights=weights)


def _registry(model: keras.Model) -> dict:
    with _LOCK:
        return _REGISTRY.get(model, {})


def collect_layers(
    compiled: CompiledPass, batches: Sequence[Any], values: Sequence[tf.Tensor] | None = None
) -> dict[str, Any]:
    """Run a recording pass over prepared batches; ``{path: numpy}`` joined over the batches
    (the first tensor of a layer with several outputs)."""
    chunks: dict[str, list] = {p: [] for p in compiled.paths}
    for batch in batches:
        out = compiled(batch, values=values)["layers"]
        for p in compiled.paths:
            chunks[p].append(np.asarray(tf.nest.flatten(out[p])[0]))
    return {
        p: parts[0] if len(parts) == 1 else np.concatenate(parts) for p, parts in chunks.items()
    }
