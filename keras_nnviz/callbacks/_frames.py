"""Cheap per-snapshot frames: numpy arrays in, uint8 RGB images out (Pillow for text).

A matplotlib figure with a few dozen axes costs ~250 ms to render; these frames cost a few
milliseconds: values are coloured through a 256-entry lookup table, tiled with
:func:`keras_nnviz.plot.mosaic`, enlarged by pixel repetition and labelled with a header (what,
when) and a colour-scale strip (the value range), so every frame still reads on its own and
as a GIF. Annotated matplotlib figures are kept for train-end summaries. One builder per kind
of result here; the drawing primitives they share are in :mod:`keras_nnviz.callbacks._draw`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..plot import _base
from ..plot.overlay import resize_nearest
from . import _draw


def feature_frame(activation: np.ndarray, title: str, max_channels: int = 16) -> np.ndarray:
    """One sample's layer output as a frame.

    ``(H, W, C)`` → channels tiled; ``(D, H, W, C)`` → middle depth slice; ``(T, C)`` →
    channels × time heatmap; ``(units,)`` → a strip. One shared colour scale per frame.
    """
    a = np.asarray(activation, dtype=np.float32)
    if a.ndim == 4:
        a = a[a.shape[0] // 2]
    if a.ndim == 3:
        total = a.shape[-1]
        a = a[..., :max_channels]
        cmap, lo, hi = _draw.color_limits(a)
        tiles = [
            _draw.caption_tile(
                _draw.enlarge(_draw.colorize(a[..., c], cmap, lo, hi), 40), f"ch {c}", 9
            )
            for c in range(a.shape[-1])
        ]
        return _draw.annotate(
            _draw.tile(tiles),
            title,
            (cmap, lo, hi),
            subtitle=_base.channels_shown(a.shape[-1], total) + ", one shared colour scale",
            scale_label="activation",
        )
    if a.ndim == 2:
        return matrix_frame(a.T, title, max_side=384)
    return matrix_frame(a.reshape(1, -1), title, max_side=384)


def matrix_frame(matrix: np.ndarray, title: str, max_side: int = 512) -> np.ndarray:
    """A 2-D array as a heatmap frame (diverging for signed values).

    Rows and columns are enlarged separately (like ``aspect="auto"``), so strips and small
    matrices become readable; big ones are subsampled by a stride to ``max_side``.
    """
    m = _draw.shrink(np.asarray(matrix, dtype=np.float32), max_side)
    cmap, lo, hi = _draw.color_limits(m)
    img = _draw.colorize(m, cmap, lo, hi)
    h, w = img.shape[:2]
    fy, fx = min(16, math.ceil(120 / h)), min(16, math.ceil(160 / w))
    img = np.repeat(np.repeat(img, max(fy, 1), axis=0), max(fx, 1), axis=1)
    return _draw.annotate(img, title, (cmap, lo, hi))


def filters_frame(filters: np.ndarray, title: str, max_filters: int = 64) -> np.ndarray:
    """Conv filters, filters first ``(F, kh, kw, in)``/``(F, k, in)``: one tile per filter.

    RGB first-layer filters are shown in colour; others as the mean over input channels on one
    zero-centred diverging scale.
    """
    f = np.asarray(filters, dtype=np.float32)[:max_filters]
    if f.ndim == 5:
        f = f[:, f.shape[1] // 2]
    if f.ndim == 4 and f.shape[-1] == 3:
        lo, hi = float(f.min()), float(f.max())
        rgb = ((f - lo) / (hi - lo if hi > lo else 1.0) * 255).astype(np.uint8)
        return _draw.annotate(_draw.tile([_draw.enlarge(t, 24) for t in rgb]), title + " (RGB)")
    tiles = f.mean(axis=-1) if f.ndim == 4 else np.swapaxes(f, 1, 2)
    lo, hi = _base.symmetric_limits(tiles)
    cmap = _base.DIVERGING
    return _draw.annotate(
        _draw.tile([_draw.enlarge(_draw.colorize(t, cmap, lo, hi), 24) for t in tiles]),
        title,
        (cmap, lo, hi),
    )


def histogram_frame(values: np.ndarray, title: str, bins: int = 40) -> np.ndarray:
    """A histogram drawn into pixels, with the value range and count under it."""
    from PIL import Image, ImageDraw

    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    width, height = 240, 80
    canvas = np.full((height, width, 3), _draw.WHITE, dtype=np.uint8)
    if v.size:
        lo, hi = float(v.min()), float(v.max())
        if hi - lo < 1e-12:
            lo, hi = lo - 0.5, hi + 0.5
        counts, _ = np.histogram(v, bins=bins, range=(lo, hi))
        peak = counts.max() or 1
        bar = width // bins
        for i, c in enumerate(counts):
            top = height - int(round(c / peak * (height - 4)))
            canvas[top:height, i * bar : (i + 1) * bar - 1] = (59, 117, 175)
        zero_line = lo < 0 < hi
        if zero_line:  # mark zero: the eye needs the origin to judge drift
            zx = int((0 - lo) / (hi - lo) * bins * bar)
            canvas[:, max(0, zx - 1) : zx] = _draw.ZERO_RED
        canvas[-1, : bins * bar] = (120, 120, 120)  # the axis
    else:
        lo, hi, zero_line = 0.0, 0.0, False
    framed = _draw.annotate(canvas, title)
    if zero_line:  # the red line's legend, at the top right of the panel
        framed = _draw.legend(framed, [(_draw.ZERO_RED, "vline", "value 0")], y=_draw.HEADER - 2)
    pil = Image.fromarray(
        np.concatenate([framed, np.full((14, framed.shape[1], 3), _draw.WHITE, np.uint8)])
    )
    draw = ImageDraw.Draw(pil)
    y = framed.shape[0] - 4
    x0 = (framed.shape[1] - width) // 2
    _draw.put_text(draw, (x0, y), _draw.fmt(lo), fill=(60, 60, 60), font=_draw.text_font(11))
    right = _draw.fmt(hi)
    _draw.put_text(
        draw, (x0 + width - 6 * len(right), y), right, fill=(60, 60, 60), font=_draw.text_font(11)
    )
    _draw.put_text(
        draw,
        (x0 + width // 2 - 40, y),
        f"n={v.size}, std={_draw.fmt(v.std()) if v.size else '-'}",
        fill=(60, 60, 60),
        font=_draw.text_font(11),
    )
    return np.asarray(pil)


def _class_colours(n: int) -> np.ndarray:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return (np.asarray([cmap(i % cmap.N)[:3] for i in range(n)]) * 255).astype(np.uint8)


def scatter_frame(
    points: np.ndarray,
    labels: np.ndarray | None,
    title: str,
    class_names: Sequence[str] | None = None,
    size: int = 320,
    radius: int = 2,
) -> np.ndarray:
    """2-D points rasterized as small discs coloured by class, with a one-line legend."""
    from PIL import Image, ImageDraw

    p = np.asarray(points, dtype=np.float64)[:, :2]
    lo, hi = p.min(axis=0), p.max(axis=0)
    span = np.where(hi - lo > 1e-12, hi - lo, 1.0)
    margin = 6
    xy = (p - lo) / span * (size - 2 * margin) + margin
    xy[:, 1] = size - xy[:, 1]  # y up, as in a plot
    pil = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(pil)
    draw.rectangle((0, 0, size - 1, size - 1), outline=(200, 200, 200))
    if labels is None:
        classes, index = [None], np.zeros(len(p), dtype=int)
    else:
        classes, index = np.unique(np.asarray(labels), return_inverse=True)
        classes = classes.tolist()
    colours = _class_colours(len(classes))
    for (x, y), k in zip(xy, index.ravel()):
        c = tuple(int(v) for v in colours[k])
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=c)
    img = _draw.annotate(np.asarray(pil), title)
    if labels is None or len(classes) > 20:
        return img
    legend = Image.fromarray(np.full((16, img.shape[1], 3), _draw.WHITE, np.uint8))
    draw = ImageDraw.Draw(legend)
    x = 4
    for k, cls in enumerate(classes):
        name = (
            class_names[int(cls)]
            if class_names is not None and isinstance(cls, int) and 0 <= cls < len(class_names)
            else str(cls)
        )
        draw.rectangle((x, 4, x + 8, 12), fill=tuple(int(v) for v in colours[k]))
        _draw.put_text(draw, (x + 11, 1), name, fill=(0, 0, 0), font=_draw.text_font(10))
        x += 16 + 6 * len(name)
        if x > img.shape[1] - 20:
            break
    return np.concatenate([img, np.asarray(legend)], axis=0)


def bars_frame(
    values: dict[str, float],
    title: str,
    log: bool = False,
    limit: float | None = None,
    warn_at: float | None = None,
) -> np.ndarray:
    """Horizontal bars, one per named value (e.g. per layer), labels on the left.

    Args:
        values: ``{label: value}``, drawn top to bottom in order.
        title: header line.
        log: bar length on a log10 scale between the smallest and largest positive values
            (magnitudes spanning decades, such as gradient norms).
        limit: value of a full-length bar (linear scale; default the largest value).
        warn_at: bars at or above this value are drawn red, and a dashed line marks it.
    """
    from PIL import Image, ImageDraw

    labels = list(values)
    v = np.array([values[k] for k in labels], dtype=np.float64)
    label_w, bar_w, row_h = 150, 200, 14
    height = max(1, len(labels)) * row_h + 4
    canvas = np.full((height, label_w + bar_w + 70, 3), _draw.WHITE, dtype=np.uint8)
    finite = v[np.isfinite(v)]
    if log:
        pos = finite[finite > 0]
        lo = np.log10(pos.min()) - 0.3 if pos.size else 0.0
        hi = np.log10(pos.max()) if pos.size else 1.0
        span = hi - lo if hi > lo else 1.0
        frac = np.where(v > 0, (np.log10(np.where(v > 0, v, 1)) - lo) / span, 0.0)
    else:
        top = limit if limit is not None else (finite.max() if finite.size else 1.0)
        frac = v / (top if top > 0 else 1.0)
    frac = np.clip(np.nan_to_num(frac), 0, 1)
    for i, f in enumerate(frac):
        y0 = 2 + i * row_h
        red = warn_at is not None and np.isfinite(v[i]) and v[i] >= warn_at
        colour = (203, 24, 29) if red else (59, 117, 175)
        canvas[y0 + 2 : y0 + row_h - 2, label_w : label_w + max(1, int(f * bar_w))] = colour
    if warn_at is not None and not log:
        top = limit if limit is not None else (finite.max() if finite.size else 1.0)
        x = label_w + int(np.clip(warn_at / (top if top > 0 else 1.0), 0, 1) * bar_w)
        canvas[::4, max(label_w, x - 1) : x] = (0, 0, 0)
    pil = Image.fromarray(canvas)
    draw = ImageDraw.Draw(pil)
    font = _draw.text_font(10)
    for i, label in enumerate(labels):
        y0 = 2 + i * row_h
        _draw.put_text(
            draw, (2, y0), _draw.clip_text(label, label_w - 4), fill=(0, 0, 0), font=font
        )
        text = _draw.fmt(v[i]) if np.isfinite(v[i]) else "n/a"
        _draw.put_text(draw, (label_w + bar_w + 4, y0), text, fill=(60, 60, 60), font=font)
    framed = _draw.annotate(np.asarray(pil), title + (" (log scale)" if log else ""))
    if warn_at is None:
        return framed
    entries = [((203, 24, 29), "box", f"≥ {_draw.fmt(warn_at)}")]
    if not log:
        entries.append(((0, 0, 0), "dotted", f"warn at {_draw.fmt(warn_at)}"))
    strip = np.full((16, framed.shape[1], 3), _draw.WHITE, np.uint8)
    return np.concatenate([framed, _draw.legend(strip, entries, y=2)], axis=0)


# ----------------------------------------------------------------------------------------------
# Attribution and attention frames


def attribution_frame(
    images: Sequence[np.ndarray],
    maps: np.ndarray,
    title: str,
    captions: Sequence[str] | None = None,
    method: str = "map",
) -> np.ndarray:
    """Image attribution maps as one frame: per sample the input and its map, captioned.

    Non-negative maps (Grad-CAM, saliency) are blended over the input (:func:`heat_blend`) on one
    0 … max scale shared by the tiles; signed maps sit beside the input on one zero-centred
    diverging scale (red for the class, blue against it).

    Args:
        images: the inputs, ``(H, W[, C])`` each.
        maps: ``(N, h, w)`` (or ``(N, h, w, C)``, channels averaged) maps.
        title: header line.
        captions: one caption per sample (e.g. ``"#0 pred cat · true dog"``).
        method: name of the map panel.
    """
    maps = np.asarray(maps, dtype=np.float32)
    signed = bool(np.nanmin(maps) < 0)
    tiles = []
    if signed:
        flat = maps.sum(axis=-1) if maps.ndim == 4 else maps
        lo, hi = _base.symmetric_limits(flat)
        scale, bar, label = (_base.DIVERGING, lo, hi), None, f"{method} (+ for, − against)"
    else:
        flat = maps.mean(axis=-1) if maps.ndim == 4 else maps
        hi = float(np.nanmax(flat)) if flat.size else 1.0
        scale, bar, label = (_base.HEAT, 0.0, hi), _draw.heat_bar(), f"{method} (shared scale)"
    for i, m in enumerate(flat):
        base = _draw.rgb_image(images[i])
        if signed:
            right = resize_nearest(_draw.colorize(m, _base.DIVERGING, lo, hi), base.shape[:2])
        else:
            right = _draw.heat_blend(images[i], m, hi)
        pair = _draw.tile([_draw.enlarge(base, 72), _draw.enlarge(right, 72)], ncols=2)
        text = captions[i] if captions is not None else f"sample {i}"
        tiles.append(_draw.caption_tile(pair, text))
    sub = "each tile: input | " + ("map" if signed else "map over the input")
    return _draw.annotate(
        _draw.tile(tiles, ncols=min(4, len(tiles)), pad=8),
        title,
        scale,
        subtitle=sub,
        bar=bar,
        scale_label=label,
    )


def attention_frame(
    heads: np.ndarray,
    title: str,
    tokens: Sequence[str] | None = None,
    query_tokens: Sequence[str] | None = None,
    max_heads: int = 8,
) -> np.ndarray:
    """One attention layer's heads as one frame, queries as rows and keys as columns.

    Args:
        heads: ``(heads, Tq, Tk)`` attention weights.
        title: header line.
        tokens: key labels (also the query labels for self-attention); with up to 64 tokens
            each cell is made tall enough for a readable label on both axes.
        query_tokens: query labels for cross-attention.
        max_heads: heads shown.
    """
    a = np.asarray(heads, dtype=np.float32)
    shown = a[:max_heads]
    hi = float(shown.max()) if shown.size and shown.max() > 0 else 1.0
    tq, tk = a.shape[1:]
    keys = list(tokens) if tokens is not None and len(tokens) == tk else None
    queries = (
        list(query_tokens)
        if query_tokens is not None and len(query_tokens) == tq
        else (list(tokens) if tokens is not None and len(tokens) == tq else None)
    )
    labelled = (keys is not None or queries is not None) and max(tq, tk) <= 64
    tiles = []
    for i, h in enumerate(shown):
        img = _draw.colorize(h, "viridis", 0.0, hi)
        if labelled:
            cell = 13  # pixels per token: a 10-pixel label fits each row and column
            img = np.repeat(np.repeat(img, cell, axis=0), cell, axis=1)
            tiles.append(_draw.labelled_matrix(img, queries, keys, f"head {i}"))
        else:
            tiles.append(_draw.caption_tile(_draw.enlarge(img, 96), f"head {i}"))
    more = f", {len(shown)} of {len(a)} heads" if len(shown) < len(a) else ""
    return _draw.annotate(
        _draw.tile(tiles, ncols=min(4 if not labelled or tk <= 24 else 2, len(tiles)), pad=8),
        title + more,
        ("viridis", 0.0, hi),
        subtitle=f"rows: query (attending, {tq}) · columns: key (attended to, {tk})",
        scale_label="attention weight (0 … largest shown)",
    )


def sequence_frame(
    values: np.ndarray, title: str, tokens: Sequence[Sequence[str]] | None = None
) -> np.ndarray:
    """Per-position values of several samples (samples × positions), with the tokens of each
    sample written in its cells when given (one row of tokens per sample)."""
    m = np.asarray(values, dtype=np.float32)
    m = m.reshape(len(m), -1)
    if tokens is None or m.shape[1] > 64:
        return matrix_frame(m, title, max_side=512)
    cmap, lo, hi = _draw.color_limits(m)
    from PIL import Image, ImageDraw

    cell_w = max(
        28, max((_draw.text_width(str(t)[:8], 9) for r in tokens for t in r), default=0) + 4
    )
    cell_h = 16
    img = _draw.colorize(m, cmap, lo, hi)
    img = np.repeat(np.repeat(img, cell_h, axis=0), cell_w, axis=1)
    pil = Image.fromarray(np.ascontiguousarray(img))
    draw = ImageDraw.Draw(pil)
    for i, row in enumerate(tokens[: len(m)]):
        for j, t in enumerate(list(row)[: m.shape[1]]):
            r, g, b = (int(c) for c in img[i * cell_h, j * cell_w])
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 128
            _draw.put_text(
                draw,
                (j * cell_w + 2, i * cell_h + 2),
                str(t)[:8],
                font=_draw.text_font(9),
                fill=(255, 255, 255) if dark else (0, 0, 0),
            )
    return _draw.annotate(
        np.asarray(pil),
        title,
        (cmap, lo, hi),
        subtitle="rows: samples · columns: positions (tokens written in)",
    )
