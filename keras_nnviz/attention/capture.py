"""Capture the attention weights of Keras attention layers, wherever they sit in the model.

Keras returns attention weights only when an attention layer is *called* with
``return_attention_scores=True``; an already built model never asks for them, and the most common
Keras transformer (keras.io's ``TransformerBlock``) keeps its ``MultiHeadAttention`` inside a
custom layer, where the functional graph cannot see it. :func:`get_attention` finds every attention
layer by walking the layer tree (nested models and sub-layers of custom layers included), runs the
model once per batch in one compiled pass (:mod:`keras_nnviz.core.compiled`) while a hook
re-issues each attention call with ``return_attention_scores=True``, keeps the weights and hands
the layer's normal output back, so the model computes what it always computes. Nothing on the
model is changed; an intercepted call is restored in a ``finally`` (see
:func:`keras_nnviz.graph.forward`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import _compat, graph
from ..activations import concat, run_batches
from ..core.compiled import CompiledPass, cached_passes, compiled_pass
from ..errors import (
    IncompatibleLayerError,
    InvalidArgumentError,
    LayerNotFoundError,
    close_matches,
    format_list,
)

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


def _attention_body(paths: tuple[str, ...], model: keras.Model, inputs: Any) -> dict[str, Any]:
    """Pass body: the model's outputs and the attention weights of the layers at ``paths``.

    A hook re-issues each attention call with ``return_attention_scores=True``, keeps the
    weights and hands the layer's normal output on. ``"order"`` gives the positions in ``paths``
    of the layers in the order the model called them (what rollout multiplies along): a
    constant of the trace, since a returned dict comes back sorted by key.
    """
    tree = graph.walk(model, include_sublayers=True)
    layers = {p: graph.find_entry(model, p, tree).layer for p in paths}
    records: dict[str, tf.Tensor] = {}

    def make_hook(path):
        def hook(layer, call, args, kwargs):
            args, kwargs, asked = _with_scores(layer, args, kwargs)
            output, scores = call(*args, **kwargs)
            if path not in records:  # a shared layer: keep its first call
                records[path] = _as_heads(layer, path, scores)
            return (output, scores) if asked else output

        return hook

    hooks = {id(layer): (layer, make_hook(path)) for path, layer in layers.items()}
    outputs = graph.forward(model, inputs, hooks)
    graph.check_called(model, paths, records)
    order = tf.constant([paths.index(p) for p in records], tf.int32)
    return {"attention": records, "outputs": outputs, "order": order}


def attention_pass(
    model: keras.Model, layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None
) -> CompiledPass:
    """The cached compiled pass capturing the attention of ``layers`` (None: all).

    Its call on a batch returns ``{"attention": {path: (B, heads, Tq, Tk)}, "outputs": model
    outputs, "order": int32 positions of the called layers in ``pass.paths``}``; requests that
    resolve to the same layers share one pass, and batches of any size one trace.

    Args:
        model: a built Keras model.
        layers: attention layer references, one reference, or None for every attention layer.

    Returns:
        A :class:`~keras_nnviz.core.compiled.CompiledPass`; its ``paths`` are the attention
        layers' canonical paths, sorted (the key of the pass); ``[paths[i] for i in
        out["order"]]`` is the order in which the model calls them.

    Raises:
        IncompatibleLayerError: no attention layer, a layer that is not an attention layer,
            flash attention; when called: a chosen layer was not called, or its scores have no
            (batch, heads, query, key) reading.
        LayerNotFoundError: unknown reference.

    Example:
        >>> p = nv.attention.attention_pass(model)
        >>> out = p(batch)      # {"attention": {path: tensor}, "outputs": ..., "order": ...}
    """
    refs = [layers] if isinstance(layers, str) else layers
    if isinstance(refs, list | tuple) and refs and all(isinstance(r, str) for r in refs):
        # Canonical paths asked for before: the cached pass, without walking the model.
        found = cached_passes(model).get(("attention", tuple(sorted(set(refs)))))
        if found is not None:
            return found
    entries = _resolve(model, layers)
    _check_flash(entries)
    paths = tuple(sorted(e.path for e in entries))
    return compiled_pass(
        model, ("attention", paths), functools.partial(_attention_body, paths), record=paths
    )


def attention_paths(
    model: keras.Model, layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None
) -> list[str]:
    """Canonical paths of the attention layers ``layers`` refers to (None: all), validated.

    The same errors as :func:`get_attention`, without running the model; layer-tree order.

    Example:
        >>> nv.attention.attention_paths(model, "encoder_1/att")
        ['encoder_1/multi_head_attention']
    """
    entries = _resolve(model, layers)
    _check_flash(entries)
    return [e.path for e in entries]


def get_attention(
    model: keras.Model,
    x: Any,
    layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
    *,
    batch_size: int = 32,
    progress: bool | None = None,
    allow_nonfinite: bool = False,
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
        progress: show a progress bar over the samples (None: no bar, the pass is light).
        allow_nonfinite: accept NaN/inf in ``x`` instead of raising.

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
    compiled = attention_pass(model, layers)
    chunks: dict[str, list[np.ndarray]] = {p: [] for p in compiled.paths}
    order = compiled.paths
    for out in run_batches(compiled, model, x, batch_size, progress, allow_nonfinite):
        order = [compiled.paths[i] for i in np.asarray(out["order"])]
        for path, scores in out["attention"].items():
            chunks[path].append(np.asarray(scores))
    return {path: concat(chunks[path]) for path in order}
