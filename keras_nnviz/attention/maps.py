"""Attention rollout (Abnar & Zuidema, 2020) and attention maps on the image for ViTs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import validation
from ..activations import run_batches
from ..core import graph
from ..core.model import token_grid
from ..core.sinks import BatchOutput
from ..errors import IncompatibleLayerError, InvalidArgumentError, InvalidInputError
from .capture import attention_pass, attention_paths, in_call_order
from .layout import attention_layout, base_path, cross_paths, pool, square, stacks
from .stats import attention_stats_pass
from .windows import Layout

__all__ = [
    "attention_rollout",
    "has_cls_token",
    "HEAD_FUSIONS",
    "patch_attention_map",
    "rollout",
]

HEAD_FUSIONS = ("mean", "max", "min")


def _check_rollout_args(head_fusion: str, discard_ratio: float) -> None:
    if head_fusion not in HEAD_FUSIONS:
        raise InvalidArgumentError(
            f"head_fusion must be one of {list(HEAD_FUSIONS)}; received {head_fusion!r}."
        )
    if isinstance(discard_ratio, bool) or not (
        isinstance(discard_ratio, int | float) and 0.0 <= discard_ratio < 1.0
    ):
        raise InvalidArgumentError(
            f"discard_ratio must be a number in [0, 1); received {discard_ratio!r}."
        )


def rollout(
    attention: Mapping[str, np.ndarray] | Sequence[np.ndarray],
    *,
    head_fusion: str = "mean",
    discard_ratio: float = 0.0,
    layouts: Mapping[str, Layout] | None = None,
) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema, 2020) from per-layer attention weights.

    Each layer's heads are fused, optionally the weakest weights of each query row are dropped,
    the residual connection is modelled by ``0.5 * A + 0.5 * I`` (rows renormalized), and the
    layers are multiplied in call order: ``R = A_L @ ... @ A_1``.

    Hierarchical vision transformers need ``layouts`` (:func:`attention_rollout` passes
    :func:`~keras_nnviz.attention.attention_layout`): spatial-reduction keys (SegFormer/MiT,
    ``T/r²`` columns) are spread evenly over the query-grid tokens they reduce, and where the
    query grid shrinks between layers (Swin's patch merging, MiT's stages) each coarse token
    carries the mean flow of the tokens in its area. The rollout is then ``(N, T_last,
    T_first)``: rows are the last layer's tokens, columns the first layer's. An attention sink
    column (GPT-OSS) is dropped and the rows renormalized. An encoder-decoder's encoder
    self-, decoder self- and cross-attention are separate stacks, told apart by the layers'
    paths and ``layouts`` (whose ``cross`` marks Moonshine's unnamed cross-attention).

    Args:
        attention: ``{key: (N, heads, Tq, Tk)}`` in call order (as :func:`get_attention`
            returns it) or a sequence of such arrays, first layer first.
        head_fusion: how heads are combined: ``"mean"``, ``"max"`` or ``"min"``.
        discard_ratio: share of each query row's smallest fused weights set to 0 before adding
            the identity (``0 <= discard_ratio < 1``); sharpens maps of deep models.
        layouts: ``{path: Layout}`` of the layers (keys ``path@i`` use ``path``'s), as
            :func:`~keras_nnviz.attention.attention_layout` returns them.

    Returns:
        float32 ``(N, T, T)`` (``(N, T_last, T_first)`` across grids): row ``i`` says how
        much each input token ``j`` flows into token ``i`` after the last layer. Rows sum to 1.

    Raises:
        IncompatibleLayerError: a layer is not self-attention (Tq != Tk) and no layout says
            where its keys lie, the token count changes between layers without grids, or the
            layers span several stacks.

    Example:
        >>> r = nv.attention.rollout(nv.get_attention(model, x), discard_ratio=0.5)
    """
    _check_rollout_args(head_fusion, discard_ratio)
    items = (
        list(attention.items()) if isinstance(attention, Mapping) else list(enumerate(attention))
    )
    if not items:
        raise InvalidInputError("rollout needs the attention of at least one layer; received none.")
    shapes = {str(k): tuple(np.shape(a)) for k, a in items}
    if any(len(s) != 4 for s in shapes.values()):
        raise IncompatibleLayerError(
            f"Rollout multiplies attention maps (N, heads, Tq, Tk); received shapes {shapes}."
        )
    layouts = dict(layouts or {})
    if isinstance(attention, Mapping):
        found = stacks([str(k) for k, _ in items], cross_paths(layouts))
        if len(found) > 1:
            raise IncompatibleLayerError(_several_stacks(found))
    result = None
    grid = None
    for key, scores in items:
        layout = layouts.get(base_path(str(key)))
        # float32 is plenty for products of row-stochastic matrices and halves the work.
        a = getattr(np, head_fusion)(np.asarray(scores, dtype=np.float32), axis=1)
        try:
            a = square(a, layout, str(key))
        except ValueError:
            raise IncompatibleLayerError(_not_square(shapes, str(key), layouts)) from None
        t = a.shape[-1]
        if discard_ratio > 0:
            k = int(t * discard_ratio)
            if k:
                drop = np.argsort(a, axis=-1)[..., :k]
                np.put_along_axis(a, drop, 0.0, axis=-1)
        a = 0.5 * a + 0.5 * np.eye(t, dtype=np.float32)
        a /= a.sum(axis=-1, keepdims=True)
        here = None if layout is None else layout.query_grid
        if result is not None and result.shape[1] != t:
            if grid is None or here is None or layout.prefix:
                raise IncompatibleLayerError(_not_square(shapes, str(key), layouts))
            result = pool(grid, here) @ result
        result = a if result is None else a @ result
        grid = here
    return result.astype(np.float32, copy=False)


def _several_stacks(found: Mapping[str, list[str]]) -> str:
    listed = "; ".join(f"{name}: {[base_path(k) for k in keys]}" for name, keys in found.items())
    return (
        "Rollout multiplies the attention of one stack of layers, each feeding the next; these "
        f"layers form {len(found)} stacks ({listed}). An encoder's self-attention, a "
        "decoder's self-attention and the cross-attention between them are not one chain, "
        "even where their token counts match. Roll out one stack: "
        "nv.attention_rollout(model, x) rolls out the encoder's self-attention by default, "
        "or pass layers= with the layers of one stack."
    )


def _not_square(shapes: dict, key: str, layouts: dict) -> str:
    hint = (
        " The layouts given do not place this layer's tokens on a grid."
        if layouts
        else " attention_rollout(model, x) reads every layer's token grid (Swin, ViTDet, SAM, "
        "SegFormer/MiT) itself; with rollout() pass layouts=nv.attention.attention_layout(model)."
    )
    return (
        "Rollout multiplies self-attention matrices (N, heads, T, T) of one token set; layer "
        f"{key!r} does not continue the token flow (shapes {shapes}).{hint} For an "
        "encoder-decoder (T5, BART, Whisper) roll out one stack: layers= with the encoder's "
        "self-attention layers (cross-attention maps decoder queries to encoder keys and does "
        "not chain)."
    )


@validation.batch_options
def attention_rollout(
    model: keras.Model,
    x: Any,
    layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
    *,
    head_fusion: str = "mean",
    discard_ratio: float = 0.0,
    block: int | None = None,
    out: Any = None,
    **batch: Any,
) -> np.ndarray:
    """Attention rollout of a transformer for inputs ``x`` (see :func:`rollout`).

    Batches stream through :func:`get_attention`'s compiled pass; only one batch of attention
    matrices is held at a time. With ``block=b`` the maps are pooled to ``b x b`` blocks inside
    the pass (:func:`keras_nnviz.attention_stats`), so a long context never leaves the graph at
    full size: the rollout is ``(N, T/b, T/b)``, between blocks of tokens.

    Vision transformers of every KerasHub family roll out: windowed attention (Swin, ViTDet,
    SAM) on the full token grid, spatial-reduction attention (SegFormer/MiT) and Swin's
    patch merging through each layer's grid (:func:`rollout`; the result is then
    ``(N, T_last, T_first)``), prefix and register tokens kept as tokens. An encoder-decoder
    (T5, BART, Whisper, Moonshine) rolls out its encoder's self-attention by default; its decoder
    self-attention is rolled out with ``layers=`` naming those layers. Cross-attention
    (decoder queries, encoder keys) never chains and is refused.

    Args:
        model: a built Keras model with self-attention layers.
        x: model inputs (arrays, list/dict, or ``tf.data.Dataset``).
        layers: the attention layers to roll out, all of one stack (default: all, in call
            order; an encoder-decoder's encoder self-attention).
        head_fusion: ``"mean"``, ``"max"`` or ``"min"`` over heads.
        discard_ratio: share of each row's weakest weights dropped per layer.
        block: roll out the block-pooled maps (tokens per block), or None: the full maps.
        out: a writable float array of the result's shape (``np.memmap`` too) or a ``.npy``
            path to write the rollout into, batch by batch (see :mod:`keras_nnviz.core.sinks`).
        batch_size: samples per forward pass.
        progress: show a progress bar over the samples (None: no bar).
        allow_nonfinite: accept NaN/inf in ``x`` instead of raising.

    Returns:
        float32 ``(N, T, T)`` (hierarchical models: ``(N, T_last, T_first)``); with
        ``block``: ``(N, ceil(T/b), ceil(T/b))``.

    Raises:
        IncompatibleLayerError: ``layers`` spans several stacks (encoder, decoder, cross),
            or a layer's tokens do not continue the previous layer's (the message says
            what would work).

    Example:
        >>> r = nv.attention_rollout(vit, images[:8])
        >>> heat = nv.patch_attention_map(r, images.shape[1:3])   # (8, H, W)
    """
    _check_rollout_args(head_fusion, discard_ratio)  # fail before compiling anything
    found = stacks(attention_paths(model, layers), cross_paths(attention_layout(model)))
    if len(found) > 1:
        if layers is not None or "encoder self" not in found:
            raise IncompatibleLayerError(_several_stacks(found))
        # An encoder-decoder (T5, BART, Whisper): the encoder's self-attention by default.
        layers = found["encoder self"]
    if block is None:
        compiled, read = attention_pass(model, layers), in_call_order
    else:
        compiled = attention_stats_pass(model, layers, stats=(), block=block)
        read = _block_maps
    layouts = attention_layout(model, layers)
    if block is not None:
        uneven = [
            path
            for path, lay in layouts.items()
            if lay.sink
            or lay.query_grid != lay.key_grid
            or lay.query_grid != next(iter(layouts.values())).query_grid
        ]
        if uneven:
            raise IncompatibleLayerError(
                f"block= rolls out block-pooled (T, T) maps of one token set, but layers "
                f"{uneven} change the token set (reduced keys, patch merging or an attention "
                "sink). Use block=None: attention_rollout then follows each layer's grid."
            )
        layouts = None
    sink = None
    for data, result in run_batches(compiled, model, x, **batch, sizes=True):
        sink = sink or BatchOutput(data.n, out, batches=data.n_batches)
        maps = rollout(
            read(result), head_fusion=head_fusion, discard_ratio=discard_ratio, layouts=layouts
        )
        sink.write([maps])
    if sink is None:
        raise InvalidInputError("The input has no samples (an empty tf.data.Dataset?).")
    return sink.result()[0]


def _block_maps(out: dict[str, Any]) -> dict[str, np.ndarray]:
    """``{key: (B, heads, T/b, T/b)}`` block maps of one batch of the stats pass."""
    keys = [k.decode("utf-8") for k in np.asarray(out["keys"]).tolist()]
    return {k: np.asarray(reduced["block"]) for k, reduced in zip(keys, out["stats"])}


# ----------------------------------------------------------------------------------------------
# Patch maps for image transformers


def _grid_for(count: int, image_size: tuple[int, int]) -> tuple[int, int] | None:
    """The (rows, cols) factorization of ``count`` closest to the image's aspect ratio."""
    if count < 1:
        return None
    aspect = image_size[0] / image_size[1]
    best = None
    for rows in range(1, count + 1):
        if count % rows:
            continue
        cols = count // rows
        err = abs(math.log((rows / cols) / aspect))
        if best is None or err < best[0]:
            best = (err, (rows, cols))
    if best is None or best[0] > math.log(1.25):  # no factorization resembles the image
        return None
    return best[1]


def has_cls_token(tokens: int, image_size: tuple[int, int] | Sequence[int]) -> bool:
    """Whether ``tokens`` tokens of an image transformer start with a CLS token: the tokens
    after the first make a patch grid of the image's shape (the rule
    :func:`patch_attention_map` infers prefix tokens by for ``query="cls"``).

    Example:
        >>> from keras_nnviz.attention.maps import has_cls_token
        >>> has_cls_token(17, (32, 32)), has_cls_token(16, (32, 32))
        (True, False)
    """
    size = tuple(int(s) for s in image_size)
    return _grid_for(int(tokens) - 1, size) is not None


def patch_attention_map(
    attention: np.ndarray,
    image_size: tuple[int, int] | Sequence[int],
    *,
    query: str | int = "cls",
    prefix_tokens: int | None = None,
    grid: tuple[int, int] | None = None,
    normalize: bool = True,
    model: keras.Model | None = None,
) -> np.ndarray:
    """Turn token attention of an image transformer into per-pixel maps on the image.

    Takes one query row (the CLS token's, or the mean over all queries), drops the non-patch
    key columns (CLS, distillation or register tokens in front of the patches), lays the patch
    weights out on the patch grid (row-major, as ``Conv2D`` patch embeddings + ``Reshape``
    produce them) and resizes the grid bilinearly to the image.

    Args:
        attention: rollout ``(N, T, T)`` (from :func:`attention_rollout`), one layer's weights
            ``(N, heads, T, T)`` (heads averaged), or per-token importances ``(N, T)``.
        image_size: ``(height, width)`` of the input images, e.g. ``x.shape[1:3]``.
        query: ``"cls"`` (row 0), ``"mean"`` (mean over all query rows) or a row index.
        prefix_tokens: tokens before the patches; default: from ``model`` or ``grid``, else
            inferred: the count among 1 (CLS), 0, 2 (CLS + distillation), 5 (CLS + 4
            registers, DINOv2-with-registers and DINOv3) that leaves a patch grid of the
            image's exact aspect ratio (the first that comes close if none does). Pass
            ``model=`` to have them found instead.
        grid: patch grid ``(rows, cols)``; default: inferred from the token count and the
            image's aspect ratio.
        normalize: scale each map to [0, 1] (min-max).
        model: the image transformer the attention comes from: ``grid`` and ``prefix_tokens``
            are then read from its patchifying convolution
            (:func:`keras_nnviz.core.model.token_grid`: CLS, DeiT's distillation token and
            register tokens found, not inferred from the token count). A hierarchical
            rollout ``(N, T_last, T_first)`` (Swin, MiT) is laid on the first layer's grid.

    Returns:
        float32 ``(N, height, width)``.

    Raises:
        InvalidInputError: the tokens do not fit a patch grid, or ``query="cls"`` without a
            prefix token.

    Example:
        >>> maps = nv.patch_attention_map(nv.attention_rollout(vit, x), x.shape[1:3])
        >>> nv.plot.rollout_overlay(x[:4], maps[:4])
    """
    a = np.asarray(attention, dtype=np.float64)
    if a.ndim == 4:
        a = a.mean(axis=1)
    if a.ndim not in (2, 3):
        raise InvalidInputError(
            "patch_attention_map expects (N, T, T) rollout, (N, heads, T, T) attention or "
            f"(N, T) token importances; received shape {a.shape}."
        )
    size = tuple(int(s) for s in image_size)
    if len(size) != 2 or min(size) < 1:
        raise InvalidArgumentError(
            f"image_size must be (height, width); received {image_size!r}. Use x.shape[1:3]."
        )
    t = a.shape[-1]
    if model is not None and grid is None and prefix_tokens is None:
        tokens = token_grid(model)
        if tokens is None:
            raise InvalidArgumentError(
                f"model {model.name!r} has no patch grid (an image model whose first Conv2D "
                "patchifies the image into tokens); pass grid= and prefix_tokens= instead."
            )
        grid, prefix_tokens = tokens.grid, tokens.prefix
        if t != tokens.prefix + grid[0] * grid[1] and t >= tokens.patches[0] * tokens.patches[1]:
            # the first layer's tokens (a hierarchical rollout's keys): the patch grid
            grid = tokens.patches
            prefix_tokens = t - grid[0] * grid[1]
    if grid is not None:
        grid = (int(grid[0]), int(grid[1]))
        prefix = t - grid[0] * grid[1] if prefix_tokens is None else int(prefix_tokens)
        if prefix < 0 or prefix + grid[0] * grid[1] != t:
            raise InvalidInputError(
                f"A {grid[0]}×{grid[1]} patch grid plus {prefix} prefix tokens does not make the "
                f"{t} tokens of the attention."
            )
    else:
        if prefix_tokens is not None:
            candidates = [int(prefix_tokens)]
        elif query == "cls":
            candidates = [1, 0, 2, 5]
        else:
            candidates = [0, 1, 2, 5]
        found = [(p, _grid_for(t - p, size)) for p in candidates]
        found = [(p, g) for p, g in found if g is not None]
        # A grid of exactly the image's aspect beats the preferred prefix count: 21 tokens
        # of a square image are CLS + 4 registers + 4x4 patches, not CLS + 4x5.
        exact = [(p, g) for p, g in found if g[0] * size[1] == g[1] * size[0]]
        found = exact or found
        if not found:
            raise InvalidInputError(
                f"Cannot lay {t} tokens out as a patch grid matching a {size[0]}×{size[1]} "
                "image. Pass grid=(rows, cols) and prefix_tokens=."
            )
        prefix, grid = found[0]
    if a.ndim == 3:
        if query == "cls":
            if prefix < 1:
                raise InvalidInputError(
                    f"query='cls' needs a CLS token in front of the patches, but the {t} tokens "
                    f"are all patches ({grid[0]}×{grid[1]}). Use query='mean' or a row index."
                )
            row = a[:, 0]
        elif query == "mean":
            row = a.mean(axis=1)
        elif isinstance(query, int | np.integer) and -t <= int(query) < t:
            row = a[:, int(query)]
        else:
            raise InvalidArgumentError(
                f"query must be 'cls', 'mean' or a row index in [{-t}, {t}); received {query!r}."
            )
    else:
        row = a
    patches = row[:, prefix:].reshape(-1, grid[0], grid[1], 1)
    maps = tf.image.resize(
        tf.constant(patches, tf.float32), size, method="bilinear", antialias=False
    )
    maps = np.asarray(maps)[..., 0]
    if normalize:
        lo = maps.min(axis=(1, 2), keepdims=True)
        span = maps.max(axis=(1, 2), keepdims=True) - lo
        maps = np.where(span > 1e-12, (maps - lo) / np.where(span > 1e-12, span, 1), 0.0)
    return maps.astype(np.float32)
