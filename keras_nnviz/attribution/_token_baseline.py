"""Baselines that mean "no token" for integrated gradients at a text model's token embedding.

A zero embedding is not the absence of a token for a transformer: RMSNorm / LayerNorm make the
model nearly invariant to the embedding's scale, so along the straight path from zeros almost
all of the score's change happens next to the baseline, and the zero vector is a point the model
never saw. The default baseline here is instead, at every position, the embedding of a reference
token (the tokenizer's padding token, id 0 without a tokenizer), while the positions that carry
no content of their own keep their own embedding (they get no attribution):

- padding positions (``padding_mask == 0``);
- special tokens: the tokenizer's ``special_token_ids`` (BOS/EOS, CLS/SEP, padding, mask ...)
  when the model carries a KerasHub preprocessor, else ``keep_tokens=`` (default: none but the
  reference token itself).

The baseline is built per batch by running the model's own embedding layer on the reference
ids (outside the compiled pass, a plain call of an already built layer: nothing about the model
changes), so any embedding subclass (KerasHub's ``ReversibleEmbedding``, scaled embeddings) gives
its own output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from ..core import graph
from ..core.model import embedding_layer, padding_mask_input, token_input
from ..core.towers import token_reference
from ..errors import InvalidArgumentError

__all__ = ["is_token_layer", "token_baseline"]


def is_token_layer(model: keras.Model, layer_path: str | None) -> bool:
    """True when ``layer_path`` is the token embedding of a model whose inputs hold token ids."""
    if layer_path is None or token_input(model) is None:
        return False
    return layer_path == embedding_layer(model)


def check_keep_tokens(keep_tokens: Any) -> tuple[int, ...] | None:
    """``keep_tokens=`` as a tuple of ids (None: the tokenizer's special tokens)."""
    if keep_tokens is None:
        return None
    values = [keep_tokens] if isinstance(keep_tokens, int | np.integer) else keep_tokens
    try:
        ids = tuple(int(v) for v in values if not isinstance(v, bool | float | str))
        complete = len(ids) == len(values)
    except TypeError:
        complete = False
    if not complete:
        raise InvalidArgumentError(
            f"keep_tokens must be None (the tokenizer's special tokens) or token ids (an int or "
            f"a list of ints); received {keep_tokens!r}."
        )
    return ids


def _embed(layer: keras.layers.Layer, ids: np.ndarray) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(layer(ids)), dtype=np.float32)


def _token_id(value: Any, vocabulary: int | None, what: str) -> int:
    token = int(value)
    if token < 0 or (vocabulary is not None and token >= vocabulary):
        raise InvalidArgumentError(
            f"{what} {token} is not a token id of this model's embedding (ids 0 to "
            f"{'?' if vocabulary is None else vocabulary - 1})."
        )
    return token


def token_baseline(
    model: keras.Model,
    layer_path: str,
    batch: Sequence[Any],
    baseline: Any,
    keep_tokens: tuple[int, ...] | None,
    start: int,
    size: int,
) -> np.ndarray:
    """The baseline embedding ``(N, T, D)`` float32 of one batch (see the module docstring).

    Args:
        model: the text model.
        layer_path: its token embedding (:func:`is_token_layer` is True).
        batch: the batch's inputs in ``model.inputs`` order.
        baseline: None (the reference token), a token id, an embedding array (``(D,)``, one per
            position ``(T, D)`` or one per sample ``(N_total, T, D)``), a float (every entry),
            or a callable ``ids (N, T) -> ids (N, T) | embeddings (N, T, D)``.
        keep_tokens: ids kept as they are (None: the tokenizer's special tokens).
        start, size: which samples of the whole input this batch holds.
    """
    layer = graph.find_layer(model, layer_path)
    vocabulary = getattr(layer, "input_dim", None)
    ids = np.asarray(batch[token_input(model)]).astype(np.int64)
    mask_at = padding_mask_input(model)
    padding = np.zeros(ids.shape, bool) if mask_at is None else np.asarray(batch[mask_at]) == 0
    reference = token_reference(model)
    kept = set(reference.special_ids if keep_tokens is None else keep_tokens)
    own = _embed(layer, ids)
    if isinstance(baseline, bool | str):
        raise _bad(baseline, own.shape)
    if baseline is None or isinstance(baseline, int | np.integer):
        pad = reference.pad_id if baseline is None else int(baseline)
        pad = _token_id(pad, vocabulary, "The reference token" if baseline is None else "baseline")
        keep = padding | np.isin(ids, sorted(kept | {pad}))
        return _embed(layer, np.where(keep, ids, pad))
    if isinstance(baseline, float | np.floating):
        return np.full(own.shape, float(baseline), np.float32)
    if callable(baseline):
        out = np.asarray(baseline(ids))
        if out.shape == ids.shape and out.dtype.kind in "iu":
            for token in np.unique(out):
                _token_id(token, vocabulary, "The baseline callable returned token id")
            return _embed(layer, out)
        if out.shape == own.shape and out.dtype.kind == "f":
            return out.astype(np.float32)
        raise InvalidArgumentError(
            f"The baseline callable returned {out.dtype} of shape {out.shape} for token ids of "
            f"shape {ids.shape}; it must return token ids of that shape or embeddings of shape "
            f"{own.shape}."
        )
    arr = np.asarray(baseline)
    if arr.dtype.kind not in "f":
        raise _bad(baseline, own.shape)
    arr = arr.astype(np.float32)
    if arr.shape == own.shape[-1:]:  # one reference embedding, special tokens kept
        keep = padding | np.isin(ids, sorted(kept))
        return np.where(keep[..., None], own, arr)
    if arr.shape == own.shape[1:]:
        return np.broadcast_to(arr, own.shape).copy()
    if arr.ndim == own.ndim and arr.shape[1:] == own.shape[1:] and arr.shape[0] >= start + size:
        return arr[start : start + size]
    raise _bad(baseline, own.shape)


def _bad(baseline: Any, shape: tuple) -> InvalidArgumentError:
    what = f"an array of shape {np.shape(baseline)}" if hasattr(baseline, "shape") else baseline
    return InvalidArgumentError(
        f"At the token embedding, the layer's output baseline is None (the padding token's "
        f"embedding at every "
        f"position, special tokens and padding kept), a token id, a float, an embedding of "
        f"shape ({shape[-1]},), ({shape[1]}, {shape[-1]}) or one per sample, or a callable "
        f"ids -> ids | embeddings; received {what!r}."
    )
