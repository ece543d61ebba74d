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
:func:`keras_nnviz.core.graph.forward`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import _compat, validation
from ..activations import run_batches
from ..core import graph
from ..core.compiled import CompiledPass, cached_passes, compiled_pass
from ..core.sinks import KeyedOutput
from ..errors import (
    IncompatibleLayerError,
    InvalidArgumentError,
    LayerNotFoundError,
    close_matches,
    format_list,
)
from .sites import Site, capture, find_sites, generation, site_rules

__all__ = [
    "attention_layers",
    "attention_pass",
    "attention_paths",
    "get_attention",
    "in_call_order",
]


def _type_names() -> str:
    classes = dict.fromkeys(r.layer_class.__name__ for r in site_rules() if r.when is None)
    return (
        ", ".join(classes)
        + ", any *Attention class owning a Softmax sub-layer or calling keras.ops.softmax / "
        "dot_product_attention"
    )


def attention_layers(model: keras.Model) -> list[str]:
    """Paths of every attention layer in ``model``, in layer-tree order.

    Keras ``MultiHeadAttention``, ``GroupQueryAttention``, ``Attention``, ``AdditiveAttention``
    and every KerasHub (or hand-written) attention class are found, in nested models and inside
    custom layers (see :mod:`keras_nnviz.attention.sites`).

    Args:
        model: a built Keras model.

    Returns:
        The attention layers' paths.

    Example:
        >>> nv.attention.attention_layers(model)
        ['encoder_1/multi_head_attention', 'encoder_2/multi_head_attention']
    """
    return [s.path for s in find_sites(model)]


def _resolve(
    model: keras.Model, layers: Sequence[graph.LayerRef] | graph.LayerRef | None
) -> list[Site]:
    """Attention sites for ``layers`` (None: all), validated, duplicates removed."""
    found = find_sites(model)
    if not found:
        entries = graph.walk(model, include_sublayers=True)
        kinds = sorted({type(e.layer).__name__ for e in entries})
        raise IncompatibleLayerError(
            f"Model {model.name!r} has no attention layer: none of its layers (nested models and "
            f"sub-layers of custom layers included) is a {_type_names()}. Layer types found: "
            f"{format_list(kinds)}. An attention layer class the library does not know (its name "
            "without 'Attention') is taught with nv.attention.register_attention_site(MyLayer, "
            "how='ops'), or read its softmax output with nv.get_activations(model, x, [path])."
        )
    if layers is None:
        return found
    if isinstance(layers, str | int | keras.layers.Layer):
        layers = [layers]
    entries = graph.walk(model, include_sublayers=True)
    available = [s.path for s in found]
    by_path = {s.path: s for s in found}
    if len(layers) == 0:
        raise InvalidArgumentError(
            f"layers is empty. Pass None for every attention layer, or some of "
            f"{format_list(available)}."
        )
    chosen: dict[str, Site] = {}
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
        if entry.path not in by_path:
            raise IncompatibleLayerError(
                f"Layer {entry.path!r} is a {type(entry.layer).__name__}, not an attention layer "
                f"({_type_names()}). Attention layers of model {model.name!r}: "
                f"{format_list(available)}. If it computes attention, teach the library its "
                "class: nv.attention.register_attention_site(MyLayer, how='ops')."
            )
        chosen.setdefault(entry.path, by_path[entry.path])
    return list(chosen.values())


def _check_flash(entries: Sequence[Site]) -> None:
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


def _attention_body(paths: tuple[str, ...], model: keras.Model, inputs: Any) -> dict[str, Any]:
    """Pass body: the model's outputs and the attention probabilities of the sites at ``paths``.

    Returns ``{"attention": [one (B, heads, Tq, Tk) tensor per call, in call order], "keys": the
    calls' keys (``path``, ``path@1`` ...), "outputs": model outputs}``: a list, because a dict
    returned from a ``tf.function`` comes back sorted by key, and rollout multiplies along the
    call order.
    """
    wanted = set(paths)
    sites = [s for s in find_sites(model) if s.path in wanted]
    probs, outputs = capture(model, inputs, sites)
    return {
        "attention": list(probs.values()),
        "keys": tf.constant(list(probs), tf.string),
        "outputs": outputs,
    }


def in_call_order(out: dict[str, Any]) -> dict[str, np.ndarray]:
    """``{key: (B, heads, Tq, Tk) array}`` of one batch's pass output, in call order."""
    keys = [k.decode("utf-8") for k in np.asarray(out["keys"]).tolist()]
    return {k: np.asarray(a) for k, a in zip(keys, out["attention"])}


def attention_pass(
    model: keras.Model,
    layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
    weights: str = "live",
) -> CompiledPass:
    """The cached compiled pass capturing the attention of ``layers`` (None: all).

    Its call on a batch returns ``{"attention": [(B, heads, Tq, Tk) per call], "keys": the calls'
    keys, "outputs": model outputs}`` (read it with :func:`in_call_order`); requests that resolve
    to the same layers share one pass, and batches of any size one trace.

    Args:
        model: a built Keras model.
        layers: attention layer references, one reference, or None for every attention layer.
        weights: ``"live"``, or ``"snapshot"`` for a pass on frozen weights (``values=``).

    Returns:
        A :class:`~keras_nnviz.core.compiled.CompiledPass`; its ``paths`` are the attention
        layers' canonical paths, sorted (the key of the pass).

    Raises:
        IncompatibleLayerError: no attention layer, a layer that is not an attention layer,
            flash attention; when called: a chosen layer was not called, or its scores have no
            (batch, heads, query, key) reading.
        LayerNotFoundError: unknown reference.

    Example:
        >>> p = nv.attention.attention_pass(model)
        >>> maps = nv.attention.in_call_order(p(batch))     # {key: array}
    """
    refs = [layers] if isinstance(layers, str) else layers
    if isinstance(refs, list | tuple) and refs and all(isinstance(r, str) for r in refs):
        # Canonical paths asked for before: the cached pass, without walking the model.
        found = cached_passes(model).get(
            ("attention", tuple(sorted(set(refs))), weights, generation())
        )
        if found is not None:
            return found
    entries = _resolve(model, layers)
    _check_flash(entries)
    paths = tuple(sorted(e.path for e in entries))
    return compiled_pass(
        model,
        # generation(): a pass traced under older site rules is not reused after a registration
        ("attention", paths, weights, generation()),
        functools.partial(_attention_body, paths),
        record=paths,
        weights=weights,
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


@validation.batch_options
def get_attention(
    model: keras.Model,
    x: Any,
    layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
    *,
    out: dict[str, Any] | None = None,
    **batch: Any,
) -> dict[str, np.ndarray]:
    """Attention weights of attention layers for inputs ``x``, one compiled pass per batch.

    Finds every attention layer anywhere in the model — Keras ``MultiHeadAttention``,
    ``GroupQueryAttention``, ``Attention``, ``AdditiveAttention`` and the attention classes of
    KerasHub's transformers and LLMs (BERT, GPT-2, Llama, Gemma, Mistral, Qwen, Phi-3, DeBERTa-v3,
    T5, Whisper, ViT ...), in nested models and inside custom layers (keras.io's
    ``TransformerBlock``); see :mod:`keras_nnviz.attention.sites` for how each is read. The
    weights are the post-softmax probabilities the model used for this input, masks included:
    keys hidden by a padding, causal or sliding-window mask get weight 0, so every row sums to 1.
    Rows of padded *queries* are whatever the layer computed for them (KerasHub masks keys only;
    Keras MHA with a query mask zeroes them): ignore them. Inference mode: no dropout.

    Args:
        model: a built Keras model.
        x: numpy array, tensor, list/dict of them (multi-input) or a ``tf.data.Dataset``.
        layers: attention layer references (paths such as ``"encoder_1/mha"`` where path
            segments may be layer names or attribute names, plain names, layer objects), one
            reference, or None for all attention layers.
        out: ``{key: target}`` with the keys of the result (below) to write the maps into,
            batch by batch, instead of new arrays: a writable float array of the map's shape
            (``np.memmap`` too) or a ``.npy`` path (see :mod:`keras_nnviz.core.sinks`).
        batch_size: samples per forward pass.
        progress: show a progress bar over the samples (None: no bar, the pass is light).
        allow_nonfinite: accept NaN/inf in ``x`` instead of raising.

    Returns:
        ``{path: float32 array (N, heads, Tq, Tk)}`` in the order the model calls the layers;
        single-head layers have ``heads == 1``; grouped-query layers report their query heads.
        Keys are canonical paths made of layer names (``"encoder_1/multi_head_attention"``
        even when asked for ``"encoder_1/att"``; see ``nv.core.graph.layer_path``). A layer
        called several times (ALBERT's shared layer) gives one entry per call: ``path``,
        ``path@1``, ``path@2`` ...
        Attention over several axes (``attention_axes=(1, 2)`` on images) flattens query and key
        positions row-major. Windowed attention (Swin, ViTDet, SAM) comes per image on the
        layer's full token grid, zero outside each query's window; SegFormer's keys are its
        reduced grid; GPT-OSS's last key column is its attention sink. Which grid, window,
        prefix tokens and sink each layer has: :func:`keras_nnviz.attention.attention_layout`.

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
    sink = None
    for data, result in run_batches(compiled, model, x, **batch, sizes=True):
        sink = sink or KeyedOutput(data.n, out, batches=data.n_batches)
        sink.write(in_call_order(result))
    return {} if sink is None else sink.result()
