"""Which tokens an attention layer's queries and keys are: grids, prefix tokens, sinks.

:func:`attention_layout` labels each attention layer of a model with a
:class:`~keras_nnviz.attention.windows.Layout`; :func:`square` and :func:`pool` are how
:func:`keras_nnviz.attention.rollout` carries token flow across layers whose token sets differ
(spatial-reduction keys, patch-merging stages).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence

import keras
import numpy as np

from ..core import graph
from ..core.model import token_grid
from .capture import attention_paths
from .sites import find_sites
from .windows import Layout, layout_of

__all__ = [
    "attention_layout",
    "base_path",
    "cross_paths",
    "pool",
    "spread",
    "square",
    "stack_of",
    "stacks",
]

# GPT-OSS appends one learned sink logit to every query's keys.
_SINK_CLASSES = ("GptOssAttention",)


def attention_layout(
    model: keras.Model, layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None
) -> dict[str, Layout]:
    """Where each attention layer's queries and keys lie: ``{path: Layout}``.

    - Windowed layers (Swin, ViTDet, SAM's image encoder): :func:`keras_nnviz.get_attention`
      returns them per image on the full token grid; ``windows`` says how they were
      partitioned (window, shift), ``query_grid == key_grid`` the grid.
    - Spatial-reduction attention (SegFormer/MiT): ``key_grid`` is the reduced grid the
      ``T/r²`` key columns lie on, row-major.
    - Image transformers with a patch grid (ViT, DeiT, DINOv2/v3): ``prefix`` counts the
      CLS, distillation and register tokens in front of the grid.
    - GPT-OSS: ``sink`` is True; the last key column of its maps is the learned attention sink,
      not a token (the maps are ``(N, heads, T, T + 1)``).
    - Encoder-decoders (T5, BART, Whisper, Moonshine): ``cross`` is True for the decoder's
      cross-attention (queries are text tokens, keys the encoder's steps), found by the layer's
      name or the attribute of its block holding it (Moonshine's are unnamed).

    Grids are None where the layer's token count is not known before a call.

    Args:
        model: a built Keras model.
        layers: attention layer references, or None for all.

    Returns:
        ``{path: Layout}`` in layer-tree order.

    Example:
        >>> nv.attention.attention_layout(swin)["stage_0/blocks_1/attn"].windows.shift
        2
    """
    wanted = set(attention_paths(model, layers))
    tokens = token_grid(model)
    result = {}
    for site in find_sites(model):
        if site.path not in wanted:
            continue
        shape = graph.output_shape(site.layer)
        t = shape[1] if len(shape) == 3 else None
        windows = site.windows
        found = layout_of(site.layer, windows, (None, None, t, None))
        if type(site.layer).__name__ in _SINK_CLASSES:
            found = Layout(sink=True)
        elif windows is None and found.query_grid is None and tokens is not None and t:
            area = tokens.grid[0] * tokens.grid[1]
            if t - area >= 0:
                found = Layout(tokens.grid, tokens.grid, t - area)
        result[site.path] = dataclasses.replace(found, cross=site.cross)
    return result


def cross_paths(layouts: Mapping[str, Layout] | None) -> set[str]:
    """The paths whose :class:`~keras_nnviz.attention.windows.Layout` says ``cross``."""
    return {path for path, lay in (layouts or {}).items() if lay.cross}


def base_path(key: str) -> str:
    """The layer path of a result key (``path@2`` is the third call of ``path``)."""
    return key.split("@", 1)[0]


def _cells(fine: tuple[int, int], coarse: tuple[int, int]) -> np.ndarray:
    """For each cell of the ``fine`` grid (row-major), the ``coarse`` cell it lies in."""
    r, c = np.divmod(np.arange(fine[0] * fine[1]), fine[1])
    return (r * coarse[0] // fine[0]) * coarse[1] + c * coarse[1] // fine[1]


def pool(fine: tuple[int, int], coarse: tuple[int, int]) -> np.ndarray:
    """``(T_coarse, T_fine)`` float32: each coarse token is the mean of the fine tokens in its
    area (Swin's patch merging, MiT's next stage); rows sum to 1."""
    owner = _cells(fine, coarse)
    p = np.zeros((coarse[0] * coarse[1], fine[0] * fine[1]), np.float32)
    p[owner, np.arange(owner.size)] = 1.0
    return p / np.maximum(p.sum(axis=1, keepdims=True), 1.0)


def spread(keys: tuple[int, int], queries: tuple[int, int]) -> np.ndarray:
    """``(T_keys, T_queries)`` float32: a reduced key token's weight shared evenly among the
    query-grid tokens in its area (SegFormer's ``r × r`` reduction); rows sum to 1."""
    return pool(queries, keys)


def square(fused: np.ndarray, layout: Layout | None, key: str) -> np.ndarray:
    """One layer's head-fused maps ``(N, Tq, Tk)`` as ``(N, Tq, Tq)`` token-to-token flow:
    a sink column dropped (rows renormalized), reduced keys spread over the query grid.

    Raises:
        ValueError: ``Tq != Tk`` and the layout does not say how keys map to queries (the
            caller turns it into an error naming what would work).
    """
    a = fused
    if layout is not None and layout.sink:
        a = a[..., :-1]
        a = a / np.maximum(a.sum(axis=-1, keepdims=True), 1e-12)
    tq, tk = a.shape[-2:]
    if tq == tk:
        return a
    if layout is None or layout.query_grid is None or layout.key_grid is None:
        raise ValueError(key)
    prefix = layout.prefix
    if prefix or layout.key_grid[0] * layout.key_grid[1] != tk:
        raise ValueError(key)
    return a @ spread(layout.key_grid, layout.query_grid)


_TOWERS = ("vision", "image", "text", "audio")


def stack_of(path: str, cross: bool = False) -> str:
    """Which attention stack a layer belongs to, from its path: ``"encoder self"``,
    ``"decoder self"``, ``"decoder cross"`` (T5, BART, Whisper, Moonshine), ``"vision encoder
    self"`` / ``"text encoder self"`` (a dual encoder's towers), or ``"self"`` for a model of one
    stack (BERT, GPT, ViT ...). Cross-attention: the layer's name says ``cross``, or ``cross``
    is True (its :class:`~keras_nnviz.attention.windows.Layout` says so: Moonshine's
    cross-attention layers are unnamed)."""
    segments = base_path(path).lower().split("/")
    kind = "cross" if cross or "cross" in segments[-1] else "self"
    side = ""
    if any("decoder" in s for s in segments[:-1]):
        side = "decoder"
    elif kind == "cross" or any("encoder" in s for s in segments[:-1]):
        side = "encoder"
    # the towers of a dual encoder (CLIP, SigLIP) are separate stacks
    words = {w for s in segments[:-1] for w in s.split("_")}
    tower = next((t for t in _TOWERS if t in words), "")
    return f"{tower} {side} {kind}".strip().replace("  ", " ")


def stacks(keys: Sequence[str], cross: Collection[str] = ()) -> dict[str, list[str]]:
    """``{stack: keys}`` (see :func:`stack_of`), in first-call order. ``"encoder self"`` and
    ``"self"`` are one stack (an encoder-only model's layer paths may say encoder).
    ``cross``: paths of cross-attention layers whose names do not say so (see
    :func:`cross_paths`)."""
    found: dict[str, list[str]] = {}
    for key in keys:
        found.setdefault(stack_of(key, base_path(key) in cross), []).append(key)
    if set(found) == {"encoder self", "self"}:
        return {"self": [k for ks in found.values() for k in ks]}
    return found
