"""Which tower each input feeds, and the token that means "no token".

Models of several towers (an image-text dual encoder such as CLIP or SigLIP) send each input
through its own part of the graph; :func:`downstream_of_input` reads which, from the functional
graph, so the embedding of token ids is looked for in the text tower
(:func:`keras_nnviz.core.model.embedding_layer`) and the layer an image-text score is explained
at in the image tower (:func:`image_tower_layer`). :func:`token_reference` is a text model's
"absence of a token": the baseline of token attributions.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from .. import _compat
from . import graph

__all__ = [
    "downstream_of_input",
    "embedding_companions",
    "image_tower_layer",
    "token_reference",
    "TokenReference",
]


def downstream_of_input(model: keras.Model, index: int) -> set[str]:
    """Names of the top-level layers that ``model.inputs[index]`` flows into (empty without a
    functional graph)."""
    functional = _compat.functional_graph(model)
    if functional is None:
        return set()
    consumers: dict[int, list] = {}
    for op, producers in _compat.graph_links(functional):
        for producer in producers:
            consumers.setdefault(id(producer), []).append(op)
    stack, seen, names = [_compat.producing_layer(model.inputs[index])], set(), set()
    while stack:
        for op in consumers.get(id(stack.pop()), []):
            if id(op) not in seen:
                seen.add(id(op))
                names.add(op.name)
                stack.append(op)
    return names


def image_tower_layer(model: keras.Model, image_input: int) -> str | None:
    """The last layer of the image tower of a model of several towers (CLIP, SigLIP, any model
    taking an image beside token ids) whose output still has the image's positions: patch
    tokens ``(N, T, C)`` or a spatial map ``(N, H, W, C)``; the layer Grad-CAM explains an
    image-text score at. None when the image input reaches no such layer of its own."""
    mine = downstream_of_input(model, image_input)
    others = set()
    for i in range(len(getattr(model, "inputs", None) or [])):
        if i != image_input:
            others |= downstream_of_input(model, i)
    found = None
    for e in graph.walk(model, include_sublayers=False):
        top = e.path.split("/")[0]
        if top not in mine or top in others or isinstance(e.layer, keras.Model):
            continue
        shape = graph.output_shape(e.layer)
        if (len(shape) == 3 and (shape[1] or 0) > 1) or (
            len(shape) == 4 and (shape[1] or 0) > 1 and (shape[2] or 0) > 1
        ):
            found = e.path
    return found


@dataclass(frozen=True)
class TokenReference:
    """The token that means "no token" for a text model, and the tokens kept as they are.

    Attributes:
        pad_id: the reference token id (the tokenizer's padding token; 0 when unknown).
        special_ids: ids of the special tokens (BOS/EOS, CLS/SEP, padding, mask ...), empty when
            the model carries no tokenizer.
        source: where they come from: ``"tokenizer"`` or ``"default"``.
    """

    pad_id: int
    special_ids: frozenset[int]
    source: str


def token_reference(model: keras.Model) -> TokenReference:
    """The "no token" of a text model: its tokenizer's padding token and special tokens.

    Read from a KerasHub task's ``preprocessor.tokenizer`` (``pad_token_id``, else the first of
    ``start_token_id`` / ``end_token_id``; ``special_token_ids``). A model without a tokenizer
    (``preprocessor=None``, a plain Keras model) gets id 0 -- the padding id of Keras'
    ``Embedding(mask_zero=True)`` and of most KerasHub vocabularies -- and no special tokens.

    Example:
        >>> nv.core.towers.token_reference(causal_lm).pad_id
        0
    """
    preprocessor = getattr(model, "preprocessor", None)
    tokenizer = getattr(preprocessor, "tokenizer", None)
    if tokenizer is None:
        return TokenReference(0, frozenset(), "default")
    pad = None
    for name in ("pad_token_id", "start_token_id", "end_token_id"):
        value = getattr(tokenizer, name, None)
        if isinstance(value, int | np.integer) and not isinstance(value, bool):
            pad = int(value)
            break
    try:
        special = frozenset(int(i) for i in tokenizer.special_token_ids if i is not None)
    except (AttributeError, ValueError, TypeError):  # no vocabulary yet / not a KerasHub one
        special = frozenset()
    return TokenReference(0 if pad is None else pad, special, "tokenizer")


def embedding_companions(model: keras.Model, token_path: str) -> list[keras.layers.Layer]:
    """The embeddings added to the token embedding at ``token_path``: position and segment
    embeddings (``keras.layers.Embedding`` or a KerasHub ``*Embedding`` layer that is not the
    token embedding nor holds it). Their outputs are only used when they have the token
    embedding's shape (per sample, per position)."""
    entries = graph.walk(model, include_sublayers=True)
    token = graph.find_entry(model, token_path, entries).layer
    found = []
    for e in entries:
        layer = e.layer
        if layer is token or isinstance(layer, keras.Model):
            continue
        if token_path.startswith(e.path + "/"):
            continue  # a layer holding the token embedding (TokenAndPositionEmbedding)
        name = type(layer).__name__
        if isinstance(layer, keras.layers.Embedding) or name.endswith("PositionEmbedding"):
            found.append(layer)
    return found
