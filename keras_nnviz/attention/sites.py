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
  causal, padding and sliding-window masks are already applied and rows sum to 1. With
  ``ask_scores=True`` the layer's call is also re-issued with ``return_attention_scores=True``,
  which keeps a Keras ``MultiHeadAttention`` subclass whose call drops the scores (Moonshine's)
  off its fused path, so that its Softmax sub-layer runs at all.
- ``"ops"``: a layer whose class or name says attention but which owns no Softmax (T5, Swin,
  SegFormer, user-written attention): while that layer runs, ``keras.ops.softmax`` is observed
  (the probabilities are its output) and ``keras.ops.dot_product_attention`` — a fused op that
  never materializes them — is computed explicitly from q, k, the mask and the scale, with the same
  result (see :func:`keras_nnviz._compat.observe_attention_ops`).

Each of these is a rule made by :func:`register_attention_site`, the library's own classes
included; a user teaches the library a new attention class the same way::

    nv.attention.register_attention_site(TokenMixer, how="ops")

Every layout becomes ``(B, heads, T_query, T_key)`` with ``heads`` the query heads: Gemma's
grouped ``(B, KV, G, T, S)`` is merged to ``(B, KV·G, T, S)``, attention over several axes is
flattened row-major, single-head layers get ``heads = 1``. A layer called several times (ALBERT's
shared layer, a shared block) gives one entry per call: ``path`` for the first, ``path@1``,
``path@2`` ... for the next.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import keras
import tensorflow as tf

from .. import _compat
from ..core import caches, graph
from ..errors import IncompatibleLayerError, InvalidArgumentError
from .windows import Windows, per_image, windows_of

__all__ = [
    "as_heads",
    "ATTENTION_TYPES",
    "call_keys",
    "capture",
    "capture_hooks",
    "find_sites",
    "generation",
    "HOW",
    "How",
    "Layout",
    "LAYOUTS",
    "MULTI_HEAD_TYPES",
    "ORDER",
    "register_attention_site",
    "SINGLE_HEAD_TYPES",
    "Site",
    "site_rules",
    "SiteRule",
    "SoftmaxRef",
]

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
LAYOUTS = ("auto", "single_head", "axes")

How = Literal["scores", "softmax", "ops"]
Layout = Literal["auto", "single_head", "axes"]
SoftmaxRef = str | Callable[[keras.layers.Layer], keras.layers.Layer | None]


@dataclass(frozen=True)
class Site:
    """One attention layer and how its probabilities are read.

    Attributes:
        path: the attention layer's path.
        layer: the attention layer.
        how: ``"softmax"``, ``"scores"`` or ``"ops"`` (see the module).
        softmax: the hooked ``Softmax`` sub-layer (``how == "softmax"``).
        layout: how the probabilities read as ``(B, heads, Tq, Tk)`` (see
            :func:`register_attention_site`).
        windows: the window partition of a windowed layer (Swin, ViTDet, SAM), whose maps are
            laid out per image on the full token grid (:mod:`keras_nnviz.attention.windows`).
        ask_scores: the layer's call is re-issued with ``return_attention_scores=True`` (see
            :func:`register_attention_site`).
        cross: cross-attention (decoder queries, encoder keys): the layer's name, or the
            attribute of its parent holding it, says ``cross`` (Moonshine's decoder holds an
            unnamed ``moonshine_multi_head_attention_1`` as ``cross_attention``).
    """

    path: str
    layer: keras.layers.Layer
    how: str
    softmax: keras.layers.Layer | None = None
    layout: str = "auto"
    windows: Windows | None = None
    ask_scores: bool = False
    cross: bool = False

    @property
    def hooked(self) -> keras.layers.Layer:
        """The layer whose call is hooked."""
        return self.softmax if self.softmax is not None else self.layer


@dataclass(frozen=True)
class SiteRule:
    """How the attention probabilities of one layer class are read (see
    :func:`register_attention_site`, which makes these).

    Attributes:
        layer_class: the attention layer class (subclasses match too).
        how: ``"scores"``, ``"softmax"`` or ``"ops"`` (see :mod:`keras_nnviz.attention.sites`).
        softmax: for ``how="softmax"``: the attribute naming the ``Softmax`` sub-layer, or a
            callable ``layer -> sub-layer``; None: the layer's own ``keras.layers.Softmax``.
        layout: ``"auto"``, ``"single_head"`` or ``"axes"``.
        when: an extra condition on the layer instance, or None.
        exclusive: the layer is a site only when no other site is inside or around it.
        ask_scores: for ``how="softmax"``: the call is also re-issued with
            ``return_attention_scores=True``.
    """

    layer_class: type
    how: str
    softmax: SoftmaxRef | None = None
    layout: str = "auto"
    when: Callable[[keras.layers.Layer], bool] | None = None
    exclusive: bool = False
    ask_scores: bool = False

    def sub_layer(
        self, layer: keras.layers.Layer, own_softmax: keras.layers.Layer | None
    ) -> keras.layers.Layer | None:
        """The ``Softmax`` sub-layer this rule hooks on ``layer`` (``how="softmax"``), if any."""
        if self.softmax is None:
            return own_softmax
        if isinstance(self.softmax, str):
            return getattr(layer, self.softmax, None)
        return self.softmax(layer)


_RULES: list[SiteRule] = []
_RULES_LOCK = threading.RLock()
_GENERATION = [0]


def register_attention_site(
    layer_class: type[keras.layers.Layer],
    how: How = "ops",
    *,
    softmax: SoftmaxRef | None = None,
    layout: Layout = "auto",
    when: Callable[[keras.layers.Layer], bool] | None = None,
    exclusive: bool = False,
    ask_scores: bool = False,
) -> SiteRule:
    """Teach keras_nnviz how to read the attention probabilities of a layer class.

    Every instance of ``layer_class`` (and of its subclasses) anywhere in a model (nested models
    and sub-layers of custom layers included) becomes an attention site of
    :func:`keras_nnviz.get_attention`, :func:`keras_nnviz.attention_rollout` and the attention
    callbacks. The library's own classes (Keras ``MultiHeadAttention`` ..., KerasHub's attention
    classes) are registered through this function too. For a layer, the rule of the nearest
    class in its MRO applies (a subclass's rule beats its base's; rules of one class in
    registration order, skipping those whose ``when`` is false or whose Softmax sub-layer is
    missing). Registering a class again with the same ``when`` replaces its rule. Registering
    forgets every model's cached sites (see :func:`keras_nnviz.clear_cache`), so models already
    inspected see the new rule.

    Args:
        layer_class: the attention layer class, a subclass of ``keras.layers.Layer``.
        how: how the probabilities are read while the layer runs:
            ``"ops"``: the output of the last ``keras.ops.softmax`` the layer's call computes
            (``keras.ops.dot_product_attention`` is computed explicitly, with the same
            result); ``"softmax"``: the output of a ``keras.layers.Softmax`` sub-layer;
            ``"scores"``: the call is re-issued with ``return_attention_scores=True`` (the
            layer's call must accept it and then return ``(output, scores)``).
        softmax: for ``how="softmax"``: the name of the attribute holding the Softmax
            sub-layer (``"softmax"``), or a callable ``layer -> sub-layer``; None: the
            layer's own ``keras.layers.Softmax`` sub-layer.
        layout: how the probabilities read as ``(batch, heads, Tq, Tk)``: ``"auto"`` (rank 3:
            one head; rank 4 as it is; rank 5: grouped query heads ``(B, KV, G, Tq, Tk)``;
            even rank > 4: attention over several axes, flattened row-major),
            ``"single_head"`` (``(B, Tq, Tk)``, a head axis is added), ``"axes"`` (Keras MHA:
            ``(B, heads, *query_axes, *key_axes)``; rank 5 is not grouped heads).
        when: an extra condition on the layer instance (the built-in name rule: the class
            name contains ``"Attention"``); None: every instance.
        exclusive: True for a guess: the layer is a site only if no other site was found
            inside it or around it (a transformer block whose class says Attention is not a
            site when its inner attention layers are).
        ask_scores: for ``how="softmax"``: also re-issue the layer's call with
            ``return_attention_scores=True`` and hand back what it returns. For a Keras
            ``MultiHeadAttention`` subclass whose call passes the flag on to
            ``_compute_attention`` but returns only its output (KerasHub's Moonshine): without
            the flag Keras takes its fused ``dot_product_attention`` path, where the Softmax
            sub-layer never runs and no probabilities exist.

    Returns:
        The registered :class:`SiteRule`.

    Raises:
        InvalidArgumentError: ``layer_class`` is not a Keras layer class, or an option is not
            one of the values above.

    Example:
        >>> class TokenMixer(keras.layers.Layer):  # softmax(q k^T) in its call
        ...     ...
        >>> nv.attention.register_attention_site(TokenMixer, how="ops")
        >>> nv.get_attention(model, x)["token_mixer"].shape
        (8, 1, 16, 16)
    """
    if not (isinstance(layer_class, type) and issubclass(layer_class, keras.layers.Layer)):
        raise InvalidArgumentError(
            f"layer_class must be a Keras layer class (a subclass of keras.layers.Layer); "
            f"received {layer_class!r}. Pass the class, e.g. register_attention_site(MyAttention)."
        )
    if how not in HOW:
        raise InvalidArgumentError(f"how must be one of {list(HOW)}; received {how!r}.")
    if layout not in LAYOUTS:
        raise InvalidArgumentError(f"layout must be one of {list(LAYOUTS)}; received {layout!r}.")
    if softmax is not None and (
        how != "softmax" or not (isinstance(softmax, str) or callable(softmax))
    ):
        raise InvalidArgumentError(
            f"softmax names the Softmax sub-layer of how='softmax' (an attribute name or a "
            f"callable layer -> sub-layer); received softmax={softmax!r} with how={how!r}."
        )
    if when is not None and not callable(when):
        raise InvalidArgumentError(f"when must be a callable layer -> bool; received {when!r}.")
    if ask_scores and how != "softmax":
        raise InvalidArgumentError(
            f"ask_scores=True keeps a layer on the path where its Softmax sub-layer runs, so it "
            f"goes with how='softmax'; received how={how!r}. how='scores' asks for the scores "
            "already."
        )
    rule = SiteRule(layer_class, how, softmax, layout, when, bool(exclusive), bool(ask_scores))
    with _RULES_LOCK:
        kept = [r for r in _RULES if (r.layer_class, r.when) != (layer_class, when)]
        _RULES[:] = [*kept, rule]
        _GENERATION[0] += 1
        # Sites found before this rule existed are stale for every model.
        _SITES.clear()
    return rule


def site_rules() -> list[SiteRule]:
    """The registered rules, in registration order (the built-in ones first).

    Example:
        >>> [r.layer_class.__name__ for r in site_rules()][:2]
        ['MultiHeadAttention', 'MultiHeadAttention']
    """
    with _RULES_LOCK:
        return list(_RULES)


def generation() -> int:
    """A number that changes whenever a rule is registered (part of cached attention passes'
    keys, so a pass traced under older rules is not reused)."""
    return _GENERATION[0]


def _rules_for(layer: keras.layers.Layer) -> list[SiteRule]:
    """The rules matching ``layer``'s class: nearest class in its MRO first, then in order."""
    mro = type(layer).__mro__
    rules = [r for r in site_rules() if r.layer_class in mro]
    return sorted(rules, key=lambda r: mro.index(r.layer_class))


def _says_attention(layer: keras.layers.Layer) -> bool:
    # The class, not the instance name: "self_attention_layer_norm" is a LayerNormalization.
    return "Attention" in type(layer).__name__


def _guess_ops(layer: keras.layers.Layer) -> bool:
    # XLNet's XLNetAttentionMaskLayer builds masks; it computes no attention
    name = type(layer).__name__
    return (
        _says_attention(layer)
        and not name.endswith(("MaskLayer", "Mask"))
        and not isinstance(layer, keras.layers.Softmax)
    )


_SITES = caches.per_model("attention sites")


def find_sites(model: keras.Model) -> list[Site]:
    """Every attention site of ``model`` in layer-tree order (see :func:`register_attention_site`
    for the rules).

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
    in_tree = {id(e.layer) for e in entries}
    softmax_of: dict[str, keras.layers.Layer] = {}
    for e in entries:
        parent = e.path.rsplit("/", 1)[0] if "/" in e.path else None
        if parent and isinstance(e.layer, keras.layers.Softmax):
            softmax_of.setdefault(parent, e.layer)
    sites: list[Site] = []
    guesses: list[Site] = []
    for e in entries:
        if isinstance(e.layer, keras.Model):  # a nested model is never a site itself
            continue
        for rule in _rules_for(e.layer):
            if rule.when is not None and not rule.when(e.layer):
                continue
            sub = None
            if rule.how == "softmax":
                sub = rule.sub_layer(e.layer, softmax_of.get(e.path))
                if sub is None:
                    continue
                if id(sub) not in in_tree:
                    raise IncompatibleLayerError(
                        f"The attention rule for {rule.layer_class.__name__} names the Softmax "
                        f"sub-layer {sub!r} of {e.path!r}, which is not a layer of model "
                        f"{model.name!r} (nv.list_layers(model)). Register it with softmax= an "
                        "attribute holding one of its sub-layers, or how='ops'."
                    )
            parent = by_path.get(e.path.rsplit("/", 1)[0]) if "/" in e.path else None
            outer = None if parent is None else parent.layer
            windows = windows_of(e.layer, outer)
            names = (e.layer.name, _compat.attribute_name(outer, e.layer))
            cross = any("cross" in n.lower() for n in names if n)
            site = Site(
                e.path, e.layer, rule.how, sub, rule.layout, windows, rule.ask_scores, cross
            )
            (guesses if rule.exclusive else sites).append(site)
            break
    found = {s.path for s in sites}
    for site in guesses:
        inner = any(p.startswith(site.path + "/") for p in found)
        outer = any(site.path.startswith(p + "/") for p in found)
        if not inner and not outer:
            sites.append(site)
    order = {p: i for i, p in enumerate(by_path)}
    return sorted(sites, key=lambda s: order[s.path])


def _two_stream(layer: keras.layers.Layer) -> bool:
    # XLNet's MultiHeadAttention subclass returns (content, query) streams and takes no
    # return_attention_scores: re-issuing its call would hand the encoder one tensor.
    return type(layer).__name__ == "TwoStreamRelativeAttention"


def _drops_scores(layer: keras.layers.Layer) -> bool:
    # Moonshine's MultiHeadAttention subclass passes return_attention_scores on to Keras'
    # _compute_attention (which then runs its Softmax sub-layer) but returns the output only.
    return type(layer).__name__ == "MoonshineMultiHeadAttention"


# The built-in rules, through the public function. XLNet's two-stream attention is read at its
# Softmax sub-layer (the content stream's call first, the query stream's as path@1) ...
register_attention_site(keras.layers.MultiHeadAttention, "softmax", when=_two_stream)
# ... Moonshine's there too, its call re-issued with return_attention_scores=True (off the fused
# path, where the Softmax sub-layer never runs) ...
register_attention_site(
    keras.layers.MultiHeadAttention, "softmax", when=_drops_scores, ask_scores=True
)
# ... Keras's attention layers hand their scores over when asked (which also keeps MHA off its
# fused path, where no probabilities exist) ...
for _cls in MULTI_HEAD_TYPES:
    register_attention_site(_cls, "scores", layout="axes")
for _cls in SINGLE_HEAD_TYPES:
    register_attention_site(_cls, "scores", layout="single_head")
# ... an *Attention class owning a Softmax sub-layer (KerasHub's LLMs) is read there, and any
# other *Attention class (T5, Swin, hand-written) by observing keras.ops while it runs.
register_attention_site(keras.layers.Layer, "softmax", when=_says_attention)
register_attention_site(keras.layers.Layer, "ops", when=_guess_ops, exclusive=True)
del _cls


# ----------------------------------------------------------------------------------------------
# Reading them while the model runs (inside a compiled pass)

_SIGNATURES: dict[type, inspect.Signature] = {}


def _with_scores(layer: keras.layers.Layer, args: tuple, kwargs: dict) -> tuple[tuple, dict, bool]:
    """Rewrite a call's arguments to ask for attention scores; also say if the caller asked."""
    cls = type(layer)
    if cls not in _SIGNATURES:
        _SIGNATURES[cls] = inspect.signature(cls.call)
    signature = _SIGNATURES[cls]
    try:
        bound = signature.bind(layer, *args, **kwargs)
    except TypeError:
        bound = None
    if bound is None or "return_attention_scores" not in signature.parameters:
        # An unusual subclass signature, or the flag travels in **kwargs (Moonshine's call hands
        # them to _compute_attention; BoundArguments drops names that are not parameters):
        # pass it by keyword.
        asked = bool(kwargs.get("return_attention_scores", False))
        return args, {**kwargs, "return_attention_scores": True}, asked
    asked = bool(bound.arguments.get("return_attention_scores", False))
    bound.arguments["return_attention_scores"] = True
    return bound.args[1:], bound.kwargs, asked


def capture_hooks(sites: list[Site], records: dict[str, list]) -> dict:
    """Hooks for :func:`keras_nnviz.core.graph.forward` appending each call's probabilities to
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

    def asking_hook(layer, call, args, kwargs):
        # Off the fused path, so the Softmax sub-layer runs; the call's result as it comes.
        args, kwargs, _ = _with_scores(layer, args, kwargs)
        return call(*args, **kwargs)

    make = {"softmax": softmax_hook, "scores": scores_hook, "ops": ops_hook}
    hooks = {id(s.hooked): (s.hooked, make[s.how](s)) for s in sites}
    hooks.update({id(s.layer): (s.layer, asking_hook) for s in sites if s.ask_scores})
    return hooks


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
    if site.windows is not None:
        # windows x images (x heads) in the batch axis: laid out per image on the full grid
        return per_image(probs, site.windows)
    rank = probs.shape.rank
    if site.layout == "single_head" or rank == 3:
        return probs[:, None]
    if rank == 4:
        return probs
    shape = tf.shape(probs)
    if rank == 5 and site.layout != "axes":
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
