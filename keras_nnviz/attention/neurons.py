"""Query and key vectors of attention heads: what BertViz's neuron view shows.

For a Keras ``MultiHeadAttention`` (and KerasHub's attention built on it: BERT, DistilBERT,
GPT-2, ViT, Whisper, ALBERT), the query and key projections are its ``query`` and ``key``
sub-layers, whose outputs ``(N, T, heads, head_dim)`` are recorded by the compiled pass like any
layer's (:func:`keras_nnviz.get_activations`); nothing in the attention call is patched. The layer
then scores ``q · k / sqrt(head_dim)`` and takes the softmax over keys. Attention classes that
rotate or otherwise change q and k after the projection (Llama's RoPE, T5's relative bias) are not
offered: their projections are not the vectors that meet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from ..core import graph
from ..errors import IncompatibleLayerError
from .sites import find_sites

__all__ = [
    "neuron_layers",
    "query_key",
]


def neuron_layers(model: keras.Model) -> dict[str, tuple[str, str]]:
    """``{attention layer path: (query sub-layer path, key sub-layer path)}`` of every attention
    layer whose query and key projections are its own ``query`` / ``key`` sub-layers (Keras
    ``MultiHeadAttention`` and its subclasses).

    Example:
        >>> neuron_layers(bert)
        {'bert_backbone/transformer_layer_0/self_attention_layer': ('.../query', '.../key'), ...}
    """
    subs = {e.path: e.layer for e in graph.walk(model, include_sublayers=True)}
    out = {}
    for site in find_sites(model):
        if not isinstance(site.layer, keras.layers.MultiHeadAttention):
            continue
        q, k = f"{site.path}/query", f"{site.path}/key"
        if q in subs and k in subs:
            out[site.path] = (q, k)
    return out


def query_key(
    model: keras.Model,
    x: Any,
    layers: Sequence[str] | str | None = None,
    *,
    batch_size: int = 32,
) -> dict[str, dict[str, np.ndarray]]:
    """The query and key vectors of every head of attention layers.

    Args:
        model: a built Keras model.
        x: inputs (anything :func:`keras_nnviz.get_activations` takes).
        layers: attention layer paths (see :func:`neuron_layers`); None: all of them.
        batch_size: samples per forward pass.

    Returns:
        ``{path: {"query": (N, Tq, heads, head_dim), "key": (N, Tk, heads, head_dim)}}``;
        the layer's attention logits are ``einsum("nqhd,nkhd->nhqk", q, k) / sqrt(head_dim)``.

    Raises:
        IncompatibleLayerError: the model has no such attention layer.

    Example:
        >>> qk = query_key(model, x[:1])
        >>> qk["mha"]["query"].shape
        (1, 10, 4, 8)
    """
    from ..activations import get_activations

    found = neuron_layers(model)
    wanted = list(found) if layers is None else [layers] if isinstance(layers, str) else layers
    missing = [p for p in wanted if p not in found]
    if not found or missing:
        raise IncompatibleLayerError(
            f"No query/key projections to read for {missing or 'this model'}: the neuron view "
            f"reads Keras MultiHeadAttention layers (and KerasHub's built on it); this model has "
            f"{sorted(found) or 'none'}."
        )
    paths = [p for layer in wanted for p in found[layer]]
    acts = get_activations(model, x, paths, batch_size=batch_size)
    out = {}
    for layer in wanted:
        q, k = (np.asarray(acts[p]) for p in found[layer])
        if q.ndim != 4 or k.ndim != 4:  # attention over several axes: flatten them
            q = q.reshape(q.shape[0], -1, *q.shape[-2:])
            k = k.reshape(k.shape[0], -1, *k.shape[-2:])
        out[layer] = {"query": q, "key": k}
    return out
