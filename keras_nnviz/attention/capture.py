"""Capture the attention weights of Keras attention layers, wherever they sit in the model.

Keras returns attention weights only when an attention layer is *called* with
``return_attention_scores=True``; an already built model never asks for them, and the most common
Keras transformer (keras.io's ``TransformerBlock``) keeps its ``MultiHeadAttention`` inside a
custom layer, where the functional graph cannot see it. :func:`get_attention` finds every attention
layer by walking the layer tree (nested models and sub-layers of custom layers included), runs the
model once per batch in one compiled pass while a hook re-issues each attention call with
``return_attention_scores=True``, keeps the weights and hands the layer's normal output back, so the
model computes what it always computes. Nothing on the model is changed; an intercepted call is
restored in a ``finally`` (see :func:`keras_nnviz.graph.forward`).
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import _compat, graph
from ..errors import (
    IncompatibleLayerError,
    InvalidArgumentError,
    LayerNotFoundError,
    close_matches,
    format_list,
)
from ..inputs import input_signature, prepare

# Layers whose call takes ``return_attention_scores=True``. Multi-head layers return
# (B, heads, Tq, Tk); single-head layers (Attention, AdditiveAttention) return (B, Tq, Tk).
MULTI_HEAD_TYPES: tuple[type, ...] = tuple(
    t
    for t in (
        keras.layers.MultiHeadAttention,
        getattr(keras.layers, "GroupQueryAttention", None),
    )
    if t is not None
)
SINGLE_HEAD_TYPES: tuple[type, ...] = (keras.layers.Attention, keras.layers.AdditiveAttention)
ATTENTION_TYPES: tuple[type, ...] = MULTI_HEAD_TYPES + SINGLE_HEAD_TYPES


def _type_names() -> str:
    return ", ".join(t.__name__ for t in ATTENTION_TYPES)


def attention_layers(model: keras.Model) -> list[str]:
    """Paths of every attention layer in ``model``, in layer-tree order.

    Nested models and layers held by custom layers (``"encoder_1/multi_head_attention"``) are
    included.

    Args:
        model: a built Keras model.

    Returns:
        Paths of ``MultiHeadAttention``, ``GroupQueryAttention``, ``Attention`` and
        ``AdditiveAttention`` layers (subclasses included).

    Example:
        >>> nv.attention.attention_layers(model)
        ['encoder_1/multi_head_attention', 'encoder_2/multi_head_attention']
    """
    return [e.path for e in graph.walk(model, include_sublayers=True) if _is_attention(e.layer)]


def _is_attention(layer: Any) -> bool:
    return isinstance(layer, ATTENTION_TYPES)


def _resolve(
    model: keras.Model, layers: Sequence[graph.LayerRef] | graph.LayerRef | None
) -> list[graph.LayerEntry]:
    """Attention-layer entries for ``layers`` (None: all), validated, duplicates removed."""
    entries = graph.walk(model, include_sublayers=True)
    found = [e for e in entries if _is_attention(e.layer)]
    if not found:
        kinds = sorted({type(e.layer).__name__ for e in entries})
        raise IncompatibleLayerError(
            f"Model {model.name!r} has no attention layer: none of its layers (nested models and "
            f"sub-layers of custom layers included) is a {_type_names()}. Layer types found: "
            f"{format_list(kinds)}. A hand-written attention (own softmax over scores) is not "
            "detected; read its softmax output with nv.get_activations(model, x, [path])."
        )
    if layers is None:
        return found
    if isinstance(layers, str | int | keras.layers.Layer):
        layers = [layers]
    available = [e.path for e in found]
    if len(layers) == 0:
        raise InvalidArgumentError(
            f"layers is empty. Pass None for every attention layer, or some of "
            f"{format_list(available)}."
        )
    chosen: dict[str, graph.LayerEntry] = {}
    for ref in layers:
        try:
            entry = graph.find_entry(model, ref, entries)
        except LayerNotFoundError as exc:
            hints = close_matches(str(ref), available) if isinstance(ref, str) else []
            hint = f" Did you mean {format_list(hints)}?" if hints else ""
            raise LayerNotFoundError(
                f"No layer {ref!r} in model {model.name!r}.{hint} Attention layers of this "
                f"model: {format_list(available)} (nv.attention.attention_layers(model))."
            ) from exc
        if not _is_attention(entry.layer):
            raise IncompatibleLayerError(
                f"Layer {entry.path!r} is a {type(entry.layer).__name__}, not an attention layer "
                f"({_type_names()}). Attention layers of model {model.name!r}: "
                f"{format_list(available)}."
            )
        chosen.setdefault(entry.path, entry)
    return list(chosen.values())


def _check_flash(entries: Sequence[graph.LayerEntry]) -> None:
    for e in entries:
        if _compat.uses_flash_attention(e.layer):
            raise IncompatibleLayerError(
                f"Attention layer {e.path!r} uses flash attention (built with "
                "flash_attention=True, or created while keras.config.enable_flash_attention() "
                "was on). Flash kernels never materialize the attention weights, so Keras "
                "refuses return_attention_scores=True and there is nothing to read. Fix: rebuild "
                "the model with flash_attention=False (or call "
                "keras.config.disable_flash_attention() before building it) and copy the "
                "weights over: new_model.set_weights(model.get_weights()). Or pass layers= "
                "without this layer."
            )


_SIGNATURES: dict[type, inspect.Signature] = {}


def _with_scores(layer: keras.layers.Layer, args: tuple, kwargs: dict) -> tuple[tuple, dict, bool]:
    """Rewrite a call's arguments to ask for attention scores; also say if the caller asked."""
    cls = type(layer)
    if cls not in _SIGNATURES:
        _SIGNATURES[cls] = inspect.signature(cls.call)
    try:
        bound = _SIGNATURES[cls].bind(layer, *args, **kwargs)
    except TypeError:  # unusual subclass signature: pass the flag by keyword
        asked = bool(kwargs.get("return_attention_scores", False))
        return args, {**kwargs, "return_attention_scores": True}, asked
    asked = bool(bound.arguments.get("return_attention_scores", False))
    bound.arguments["return_attention_scores"] = True
    return bound.args[1:], bound.kwargs, asked


def _as_heads(layer: keras.layers.Layer, path: str, scores: tf.Tensor) -> tf.Tensor:
    """Scores as (B, heads, Tq, Tk) float32."""
    scores = tf.cast(scores, tf.float32)
    rank = scores.shape.rank
    if isinstance(layer, SINGLE_HEAD_TYPES):
        return scores[:, None]
    if rank == 4:
        return scores
    # MHA over several axes (e.g. attention_axes=(1, 2) on images): (B, N, *q_axes, *k_axes).
    if rank is not None and rank > 4 and rank % 2 == 0:
        half = (rank - 2) // 2
        shape = tf.shape(scores)
        tq = tf.reduce_prod(shape[2 : 2 + half])
        tk = tf.reduce_prod(shape[2 + half :])
        return tf.reshape(scores, tf.stack([shape[0], shape[1], tq, tk]))
    raise IncompatibleLayerError(
        f"Attention layer {path!r} returned scores of shape {tuple(scores.shape)}, which do not "
        "read as (batch, heads, query, key): attention over a subset of the axes "
        "(attention_axes) keeps extra batch-like axes. Pass layers= without this layer."
    )


class AttentionProbe:
    """One compiled forward pass returning the attention weights of chosen attention layers.

    Built once per (model, layer set) and cached by :func:`get_attention_probe`; the
    ``tf.function`` has a batch-agnostic input signature, so batches of any size reuse one trace.

    Args:
        model: a built Keras model.
        entries: the attention layers' entries from :func:`keras_nnviz.graph.walk`.

    Attributes:
        paths: the attention layer paths, in the order the model calls them (known after the
            first call; layer-tree order before).
        trace_count: how many times the function was traced.

    Example:
        >>> probe = nv.attention.get_attention_probe(model)
        >>> out = probe(batch)      # {"attention": {path: tensor}, "outputs": model outputs}
    """

    def __init__(self, model: keras.Model, entries: Sequence[graph.LayerEntry]):
        self.paths: list[str] = [e.path for e in entries]
        self._layers = {e.path: e.layer for e in entries}
        self._model_ref = weakref.ref(model)
        self.trace_count = 0
        # Problems found while tracing are raised by __call__, in Python: an exception raised
        # inside the trace reaches the user rewrapped by AutoGraph as a StagingError.
        self._errors: list[Exception] = []
        signature = input_signature(model)
        # A closure per probe, not a bound method: TensorFlow counts traces per Python function,
        # and probes of different models sharing one method would look like retracing.
        if signature is None:
            fn = lambda inputs: self._run(inputs)
        else:
            fn = lambda inputs: self._run(list(inputs))
        self._fn = tf.function(
            fn,
            input_signature=None if signature is None else [signature],
            reduce_retracing=True,
        )

    def _run(self, inputs):
        self.trace_count += 1  # Python side effect: counts traces, not calls
        model = self._model_ref()
        records: dict[str, tf.Tensor] = {}

        def make_hook(path):
            def hook(layer, call, args, kwargs):
                args, kwargs, asked = _with_scores(layer, args, kwargs)
                output, scores = call(*args, **kwargs)
                if path not in records:  # a shared layer: keep its first call
                    try:
                        records[path] = _as_heads(layer, path, scores)
                    except IncompatibleLayerError as exc:
                        self._errors.append(exc)
                        records[path] = None
                return (output, scores) if asked else output

            return hook

        hooks = {id(layer): (layer, make_hook(path)) for path, layer in self._layers.items()}
        outputs = graph.forward(model, inputs, hooks)
        missing = [p for p in self.paths if p not in records]
        if missing:
            self._errors.append(
                IncompatibleLayerError(
                    f"Attention layers {format_list(missing)} were not called when running "
                    f"model {model.name!r} on its inputs, so they have no attention weights. "
                    "Pass layers= with the attention layers the model uses."
                )
            )
        self.paths = list(records)  # execution order: what rollout multiplies along
        kept = {p: t for p, t in records.items() if t is not None}
        return {"attention": kept, "outputs": outputs}

    def __call__(self, batch) -> dict[str, Any]:
        """``{"attention": {path: (B, heads, Tq, Tk)}, "outputs": model outputs}`` for a batch.

        Raises:
            IncompatibleLayerError: a chosen layer was not called, or its scores have no
                (batch, heads, query, key) reading.
        """
        if self._errors:  # known from an earlier trace: fail before running anything
            raise self._errors[0]
        result = self._fn(batch)
        if self._errors:
            raise self._errors[0]
        return result


_PROBES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def get_attention_probe(
    model: keras.Model, layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None
) -> AttentionProbe:
    """Return the cached :class:`AttentionProbe` for ``(model, layers)``, building it once."""
    per_model = _PROBES.setdefault(model, {})
    if isinstance(layers, str):
        layers = [layers]
    key: tuple | None = None
    if layers is None:
        key = ("<all>",)
    elif isinstance(layers, list | tuple) and all(isinstance(r, str) for r in layers):
        key = tuple(layers)
    if key is not None and key in per_model:
        return per_model[key]  # fast path: the same request as before, nothing to resolve
    entries = _resolve(model, layers)
    _check_flash(entries)
    paths = tuple(sorted(e.path for e in entries))
    if paths not in per_model:
        per_model[paths] = AttentionProbe(model, entries)
    if key is not None:
        per_model[key] = per_model[paths]
    return per_model[paths]


def get_attention(
    model: keras.Model,
    x: Any,
    layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
    batch_size: int = 32,
) -> dict[str, np.ndarray]:
    """Attention weights of attention layers for inputs ``x``, one compiled pass per batch.

    Finds every ``MultiHeadAttention`` (and ``GroupQueryAttention``, ``Attention``,
    ``AdditiveAttention``) anywhere in the model: in nested models and inside custom layers
    (keras.io's ``TransformerBlock`` pattern). The weights are the post-softmax probabilities the
    model used for this input, masks included: keys hidden by a padding mask
    (``Embedding(mask_zero=True)``) or an ``attention_mask`` get weight 0, and rows of padded
    *queries* are all 0 for ``MultiHeadAttention``. Inference mode: no dropout.

    Args:
        model: a built Keras model.
        x: numpy array, tensor, list/dict of them (multi-input) or a ``tf.data.Dataset``.
        layers: attention layer references (paths such as ``"encoder_1/mha"`` where path
            segments may be layer names or attribute names, plain names, layer objects), one
            reference, or None for all attention layers.
        batch_size: samples per forward pass.

    Returns:
        ``{path: float32 array (N, heads, Tq, Tk)}`` in the order the model calls the layers;
        single-head layers have ``heads == 1``. Keys are canonical paths made of layer names
        (``"encoder_1/multi_head_attention"`` even when asked for ``"encoder_1/att"``; see
        ``nv.graph.layer_path``). A layer called several times (shared) reports its first call.
        Attention over several axes (``attention_axes=(1, 2)`` on images) flattens query and key
        positions row-major.

    Raises:
        IncompatibleLayerError: no attention layer in the model, a reference to a layer that is
            not an attention layer, or a layer using flash attention.
        LayerNotFoundError: unknown reference (the message lists the attention layers).

    Example:
        >>> att = nv.get_attention(model, x_tokens[:8])
        >>> att["encoder_1/mha"].shape
        (8, 4, 16, 16)
    """
    probe = get_attention_probe(model, layers)
    data = prepare(model, x, batch_size)
    chunks: dict[str, list[np.ndarray]] = {}
    for batch in data.batches(batch_size):
        for path, scores in probe(batch)["attention"].items():
            chunks.setdefault(path, []).append(np.asarray(scores))
    return {
        path: parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        for path, parts in ((p, chunks[p]) for p in probe.paths)
    }
