"""Windowed and spatial-reduction attention of vision transformers, read per image.

Swin, ViTDet and SAM's image encoder compute attention inside windows: the attention layer sees
a batch of ``images × windows`` windows (Swin: ``(B·W, heads, w², w²)``; ViTDet and SAM:
``(B·W·heads, w², w²)``, its global layers ``(B·heads, T, T)``). Reported as they are, the
batch axis would not be the images'. :func:`per_image` lays every window's maps onto the
layer's full token grid instead, ``(B, heads, T, T)`` with ``T = rows · cols`` tokens in
row-major order of the layer's input grid: a query's row holds its window's weights at its
window's keys and 0 everywhere else; Swin's shifted windows are shifted back, so rows and
columns are the tokens where the block's input has them. Keys of the padding a window
partition adds (a grid that is not a multiple of the window) are not tokens: their weight is
dropped and such rows sum to less than 1.

SegFormer/MiT's spatial-reduction attention is already per image, ``(B, heads, T, T/r²)``: its
keys are the ``r × r``-strided reduction of the query grid. :class:`Layout` says, per attention
layer, which grid its queries and keys lie on (:func:`keras_nnviz.attention.attention_layout`),
and :func:`keras_nnviz.attention.attention_rollout` uses it to roll out across window,
reduction and patch-merging stages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

__all__ = ["Layout", "Windows", "layout_of", "per_image", "window_index", "windows_of"]


@dataclass(frozen=True)
class Windows:
    """How a windowed attention layer partitions its token grid.

    Attributes:
        grid: the layer's token grid ``(rows, cols)`` (the block's input, before padding).
        window: window ``(rows, cols)`` in tokens; the whole grid for a global layer.
        shift: Swin's cyclic shift (tokens, both axes); 0 for regular windows.
        heads: query heads.
        heads_in_batch: the probabilities come as ``(B·W·heads, n, n)`` (ViTDet, SAM); else
            ``(B·W, heads, n, n)`` (Swin).
    """

    grid: tuple[int, int]
    window: tuple[int, int]
    shift: int
    heads: int
    heads_in_batch: bool

    @property
    def count(self) -> int:
        """Windows per image (after padding the grid to a multiple of the window)."""
        return math.ceil(self.grid[0] / self.window[0]) * math.ceil(self.grid[1] / self.window[1])


@dataclass(frozen=True)
class Layout:
    """Where an attention layer's queries and keys lie on the image.

    Attributes:
        query_grid: ``(rows, cols)`` of the query tokens, or None (not a grid, or unknown).
        key_grid: ``(rows, cols)`` of the key tokens: the query grid for self-attention, the
            reduced grid for spatial-reduction attention (SegFormer/MiT).
        prefix: tokens in front of the grid (CLS, distillation, registers), queries and keys.
        windows: the window partition the maps were laid out from (Swin, ViTDet, SAM), or None.
        sink: the last key column is an attention sink (GPT-OSS), not a token.
        cross: cross-attention: decoder queries, encoder keys (T5, BART, Whisper, Moonshine);
            its own stack for rollout, which never chains it.
    """

    query_grid: tuple[int, int] | None = None
    key_grid: tuple[int, int] | None = None
    prefix: int = 0
    windows: Windows | None = None
    sink: bool = False
    cross: bool = False


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int | np.integer) else (int(v[0]), int(v[1]))


def windows_of(layer: keras.layers.Layer, parent: keras.layers.Layer | None) -> Windows | None:
    """The window partition of an attention layer (KerasHub's Swin ``WindowAttention`` in a
    ``SwinTransformerBlock``; ViTDet/SAM's ``MultiHeadAttentionWithRelativePE`` in a
    ``WindowedTransformerEncoder``), or None for any other layer."""
    kind = type(layer).__name__
    outer = type(parent).__name__ if parent is not None else ""
    if kind == "WindowAttention" and outer == "SwinTransformerBlock":
        grid = _pair(parent.input_resolution)
        # the block clamps the window to small grids (and then does not shift)
        window = _pair(parent.window_size)
        return Windows(grid, window, int(parent.shift_size), int(layer.num_heads), False)
    if kind == "MultiHeadAttentionWithRelativePE" and outer == "WindowedTransformerEncoder":
        size = getattr(parent, "input_size", None)
        if size is None:
            return None
        grid = _pair(size)
        w = int(getattr(parent, "window_size", 0) or 0)
        window = (w, w) if w > 0 else grid
        return Windows(grid, window, 0, int(layer.num_heads), True)
    return None


def window_index(spec: Windows) -> np.ndarray:
    """``(T, T)`` int32: for query ``q`` and key ``k`` of the full grid (row-major), the flat
    index of their weight in the ``(W, n, n)`` windowed maps of one image and head, or
    ``W · n · n`` (a zero) where ``k`` is not in ``q``'s window."""
    rows, cols = spec.grid
    wr, wc = spec.window
    per_row = math.ceil(cols / wc)
    n = wr * wc
    r, c = np.divmod(np.arange(rows * cols), cols)
    # Swin rolls the grid by -shift before partitioning: token (r, c) sits at (r - s, c - s).
    r, c = (r - spec.shift) % rows, (c - spec.shift) % cols
    window = (r // wr) * per_row + c // wc
    local = (r % wr) * wc + c % wc
    same = window[:, None] == window[None, :]
    flat = window[:, None] * n * n + local[:, None] * n + local[None, :]
    return np.where(same, flat, spec.count * n * n).astype(np.int32)


def per_image(probs: tf.Tensor, spec: Windows) -> tf.Tensor:
    """Windowed probabilities (see :class:`Windows`) as ``(B, heads, T, T)`` on the full grid."""
    n = spec.window[0] * spec.window[1]
    t = spec.grid[0] * spec.grid[1]
    p = tf.reshape(tf.cast(probs, tf.float32), [-1, spec.count, spec.heads, n, n])
    p = tf.reshape(tf.transpose(p, [0, 2, 1, 3, 4]), [-1, spec.heads, spec.count * n * n])
    p = tf.concat([p, tf.zeros_like(p[..., :1])], axis=-1)
    full = tf.gather(p, tf.constant(window_index(spec).reshape(-1)), axis=-1)
    return tf.reshape(full, [-1, spec.heads, t, t])


def _square(tokens: int | None) -> tuple[int, int] | None:
    if tokens is None:
        return None
    side = math.isqrt(int(tokens))
    return (side, side) if side * side == tokens else None


def layout_of(
    layer: keras.layers.Layer, windows: Windows | None, shape: tuple[int | None, ...]
) -> Layout:
    """The :class:`Layout` of an attention layer whose per-image maps have ``shape``
    ``(N, heads, Tq, Tk)`` (None where unknown)."""
    tq, tk = (shape[2], shape[3]) if len(shape) == 4 else (None, None)
    if windows is not None:
        return Layout(windows.grid, windows.grid, 0, windows)
    kind = type(layer).__name__
    if kind == "SegFormerMultiheadAttention":
        # MiT lays tokens on a square grid (it takes H = W = sqrt(T)); keys: an r x r
        # strided convolution of that grid.
        query = _square(tq)
        r = int(getattr(layer, "sr_ratio", 1) or 1)
        key = None if query is None else (query[0] // r, query[1] // r)
        if key is not None and tk is not None and key[0] * key[1] != tk:
            key = _square(tk)
        return Layout(query, key)
    return Layout()
