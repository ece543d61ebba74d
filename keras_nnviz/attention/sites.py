"""Where a model's attention probabilities exist, and how to read them while it runs.

Keras and KerasHub compute attention probabilities in three ways, and each *site* (one attention
layer) is read the way it computes them:

- ``"scores"``: Keras ``MultiHeadAttention`` (and KerasHub's subclasses: BERT, DistilBERT,
  GPT-2, Whisper, ViT, ALBERT), ``GroupQueryAttention``, ``Attention``, ``AdditiveAttention``: the
  call is re-issued with ``return_attention_scores=True`` (which also keeps MHA off its fused
  path, where no probabilities exist) and the layer's normal output handed back.
- ``"softmax"``: an attention class that owns a ``keras.layers.Softmax`` sub-layer whose output
  is the masked probabilities — KerasHub's Llama, Gemma, Mistral, Mixtral, Qwen, Phi-3, Falcon,
  Bloom, GPT-NeoX, DeBERTa-v3 attention. A hook on that sub-layer keeps every call's output:
  causal, padding and sliding-window masks are already applied and rows sum to 1.
- ``"ops"``: a layer whose class or name says attention but which owns no Softmax (T5, Swin,
  SegFormer, user-written attention): while that layer runs, ``keras.ops.softmax`` is observed
  (the probabilities are its output) and ``keras.ops.dot_product_attention`` — a fused op that
  never materializes them — is computed explicitly from q, k, the mask and the scale, with the same
  result (see :func:`keras_nnviz._compat.observe_attention_ops`).

Every layout becomes ``(B, heads, T_query, T_key)`` with ``heads`` the query heads: Gemma's
grouped ``(B, KV, G, T, S)`` is merged to ``(B, KV·G, T, S)``, attention over several axes is
flattened row-major, single-head layers get ``heads = 1``. A layer called several times (ALBERT's
shared layer, a shared block) gives one entry per call: ``path`` for the first, ``path@1``,
``path@2`` ... for the next.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from .. import _compat, graph
from ..core import caches
from ..errors import IncompatibleLayerError

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
HOW = ("softmax", "scores", "ops")


@dataclass(frozen=True)
class Site:
    """One attention layer and how its probabilities are read.

    Attributes:
        path: the attention layer's path.
        layer: the attention layer.
        how: ``"softmax"``, ``"scores"`` or ``"ops"`` (see the module).
        softmax: the hooked ``Softmax`` sub-layer (``how == "softmax"``).
    """

    path: str
    layer: keras.layers.Layer
    how: str
    softmax: keras.layers.Layer | None = None

    @property
    def hooked(self) -> keras.layers.Layer:
        """The layer whose call is hooked."""
        return self.softmax if self.softmax is not None else self.layer


def _says_attention(layer: keras.layers.Layer) -> bool:
    # The class, not the instance name: "self_attention_layer_norm" is a LayerNormalization.
    return "Attention" in type(layer).__name__


_SITES = caches.per_model("attention sites")


def find_sites(model: keras.Model) -> list[Site]:
    """Every attention site of ``model`` in layer-tree order (see the module for the rules).

    Remembered per model (a built model's layer tree does not change): a second call costs
    nothing, where walking a KerasHub backbone's tree costs about a millisecond per call.

    A layer that only *contains* attention layers (DeBERTa's ``DisentangledAttentionEncoder``, a
    transformer block named ``attention_block``) is not a site itself; its inner layers are.

    Args:
        model: a built Keras model.

    Returns:
        The :class:`Site` of each attention layer.

    Example:
        >>> [s.path for s in find_sites(llama)]
        ['transformer_layer_0/self_attention', 'transformer_layer_1/self_attention']
    """
    found = _SITES.get(model)
    if found is None:
        found = _SITES[model] = _find_sites(model)
    return list(found)


def _find_sites(model: keras.Model) -> list[Site]:
    entries = graph.walk(model, include_sublayers=True)
    by_path = {e.path: e for e in entries}
    softmax_of: dict[str, keras.layers.Layer] = {}
    for e in entries:
        parent = e.path.rsplit("/", 1)[0] if "/" in e.path else None
        if parent and isinstance(e.layer, keras.layers.Softmax):
            softmax_of.setdefault(parent, e.layer)
    sites: list[Site] = []
    for e in entries:
        layer = e.layer
        if isinstance(layer, keras.Model):
            continue
        if isinstance(layer, ATTENTION_TYPES):
            # Keras MHA (and KerasHub's cached subclasses) may take the fused
            # dot_product_attention path, which skips its Softmax sub-layer; asking for the
            # scores always materializes them.
            sites.append(Site(e.path, layer, "scores"))
        elif e.path in softmax_of and _says_attention(layer):
            sites.append(Site(e.path, layer, "softmax", softmax_of[e.path]))
    found = {s.path for s in sites}
    for e in entries:
        if e.path in found or isinstance(e.layer, keras.Model) or not _says_attention(e.layer):
            continue
        inner = any(p.startswith(e.path + "/") for p in found)
        outer = any(e.path.startswith(p + "/") for p in found)
        if not inner and not outer and not isinstance(e.layer, keras.layers.Softmax):
            sites.append(Site(e.path, e.layer, "ops"))
    order = {p: i for i, p in enumerate(by_path)}
    return sorted(sites, key=lambda s: order[s.path])


# ----------------------------------------------------------------------------------------------
# Reading them while the model runs (inside a compiled pass)

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


def capture_hooks(sites: list[Site], records: dict[str, list]) -> dict:
    """Hooks for :func:`keras_nnviz.graph.forward` appending each call's probabilities to
    ``records[site.path]`` (raw layout; see :func:`as_heads`) and ``(path, call)`` to
    ``records[ORDER]`` in the order the calls happen."""

    def softmax_hook(site: Site) -> Callable:
        def hook(layer, call, args, kwargs):
            out = call(*args, **kwargs)
            _keep(records, site.path, out)
            return out

        return hook

    def scores_hook(site: Site) -> Callable:
        def hook(layer, call, args, kwargs):
            args, kwargs, asked = _with_scores(layer, args, kwargs)
            output, scores = call(*args, **kwargs)
            _keep(records, site.path, scores)
            return (output, scores) if asked else output

        return hook

    def ops_hook(site: Site) -> Callable:
        def hook(layer, call, args, kwargs):
            seen: list = []
            with _compat.observe_attention_ops(seen.append):
                out = call(*args, **kwargs)
            if seen:
                # The last softmax of the call: the probabilities that weigh the values.
                _keep(records, site.path, seen[-1])
            return out

        return hook

    make = {"softmax": softmax_hook, "scores": scores_hook, "ops": ops_hook}
    return {id(s.hooked): (s.hooked, make[s.how](s)) for s in sites}


ORDER = "<call order>"


def _keep(records: dict, path: str, probs: Any) -> None:
    calls = records.setdefault(path, [])
    records.setdefault(ORDER, []).append((path, len(calls)))
    calls.append(probs)


def capture(model: keras.Model, inputs: Any, sites: list[Site]) -> tuple[dict[str, tf.Tensor], Any]:
    """Run the model once (inside a compiled pass) and read every site's probabilities.

    Returns:
        ``({key: (B, heads, Tq, Tk) float32}, model outputs)``, keys in call order (see
        :func:`call_keys`).

    Raises:
        IncompatibleLayerError: a site was not called, or gave no probabilities.
    """
    records: dict[str, list] = {}
    outputs = graph.forward(model, inputs, capture_hooks(sites, records))
    graph.check_called(model, [s.path for s in sites], records)
    by_path = {s.path: s for s in sites}
    result = {}
    for path, call in records.get(ORDER, []):
        key = call_keys(path, call + 1)[-1]
        result[key] = as_heads(by_path[path], records[path][call])
    return result, outputs


def as_heads(site: Site, probs: Any) -> tf.Tensor:
    """Probabilities of one call as ``(B, heads, T_query, T_key)`` float32.

    Raises:
        IncompatibleLayerError: a layout with no (batch, heads, query, key) reading.
    """
    probs = tf.cast(probs, tf.float32)
    rank = probs.shape.rank
    if isinstance(site.layer, SINGLE_HEAD_TYPES) or rank == 3:
        return probs[:, None]
    if rank == 4:
        return probs
    shape = tf.shape(probs)
    if rank == 5 and not isinstance(site.layer, MULTI_HEAD_TYPES):
        # Grouped-query attention kept as (B, KV, G, T, S): query head h = kv * G + g.
        return tf.reshape(probs, tf.stack([shape[0], shape[1] * shape[2], shape[3], shape[4]]))
    if rank is not None and rank > 4 and rank % 2 == 0:
        # Attention over several axes (e.g. attention_axes=(1, 2) on images): (B, N, *q, *k).
        half = (rank - 2) // 2
        tq = tf.reduce_prod(shape[2 : 2 + half])
        tk = tf.reduce_prod(shape[2 + half :])
        return tf.reshape(probs, tf.stack([shape[0], shape[1], tq, tk]))
    raise IncompatibleLayerError(
        f"Attention layer {site.path!r} ({type(site.layer).__name__}) gave probabilities of shape "
        f"{tuple(probs.shape)}, which do not read as (batch, heads, query, key): attention over "
        "a subset of the axes (attention_axes) keeps extra batch-like axes. Pass layers= without "
        "this layer."
    )


def call_keys(path: str, calls: int) -> list[str]:
    """Result keys of a layer called ``calls`` times: ``path``, ``path@1``, ``path@2`` ..."""
    return [path if i == 0 else f"{path}@{i}" for i in range(calls)]
