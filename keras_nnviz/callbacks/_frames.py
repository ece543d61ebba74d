"""Cheap per-snapshot frames: numpy arrays in, uint8 RGB images out (Pillow for text).

A matplotlib figure with a few dozen axes costs ~250 ms to render; these frames cost a few
milliseconds: values are coloured through a 256-entry lookup table, tiled with
:func:`keras_nnviz.plot.mosaic`, enlarged by pixel repetition and labelled with a header (what,
when) and a colour-scale strip (the value range), so every frame still reads on its own and
as a GIF. Annotated matplotlib figures are kept for train-end summaries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..plot import _base

HEADER = 18
SCALE = 14
WHITE = 255


@lru_cache(maxsize=16)
def _lut(cmap: str) -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


@lru_cache(maxsize=4)
def _font(size: int = 11):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def color_limits(values: np.ndarray) -> tuple[str, float, float]:
    """(colormap, lo, hi): diverging and zero-centred for signed data, sequential otherwise."""
    return _base.auto_cmap(values)


def colorize(values: np.ndarray, cmap: str, lo: float, hi: float) -> np.ndarray:
    """A 2-D array coloured through ``cmap`` over ``[lo, hi]``: uint8 ``(H, W, 3)``."""
    v = np.asarray(values, dtype=np.float32)
    span = hi - lo if hi > lo else 1.0
    idx = np.clip((v - lo) * (255.0 / span), 0, 255)
    idx = np.nan_to_num(idx, nan=0).astype(np.uint8)
    return _lut(cmap)[idx]


def enlarge(image: np.ndarray, min_side: int = 96, max_factor: int = 16) -> np.ndarray:
    """Repeat pixels so the shorter side reaches ``min_side`` (nearest neighbour, crisp)."""
    h, w = image.shape[:2]
    factor = min(max_factor, max(1, math.ceil(min_side / max(1, min(h, w)))))
    if factor == 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    """Subsample by an integer stride so the longer side is at most ``max_side``."""
    h, w = image.shape[:2]
    step = math.ceil(max(h, w) / max_side)
    return image[::step, ::step] if step > 1 else image


def tile(images: Sequence[np.ndarray], ncols: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile equally sized uint8 RGB images with white gaps."""
    return _base.mosaic(list(images), ncols=ncols, pad=pad, pad_value=WHITE).astype(np.uint8)


def caption_tile(image: np.ndarray, text: str) -> np.ndarray:
    """Put a small label above one tile (e.g. ``head 2``)."""
    from PIL import Image, ImageDraw

    strip = Image.fromarray(np.full((13, image.shape[1], 3), WHITE, np.uint8))
    ImageDraw.Draw(strip).text(
        (1, 0), _clip_text(text, image.shape[1]), fill=(0, 0, 0), font=_font(10)
    )
    return np.concatenate([np.asarray(strip), image[..., :3]], axis=0)


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def annotate(
    image: np.ndarray,
    title: str,
    scale: tuple[str, float, float] | None = None,
    min_width: int = 260,
) -> np.ndarray:
    """Add a header line (``title``) and, given ``(cmap, lo, hi)``, a labelled colour strip."""
    from PIL import Image, ImageDraw

    h, w = image.shape[:2]
    width = max(w, min_width)
    extra = SCALE + 14 if scale else 0
    canvas = np.full((HEADER + h + extra + 4, width, 3), WHITE, dtype=np.uint8)
    x0 = (width - w) // 2
    canvas[HEADER : HEADER + h, x0 : x0 + w] = image[..., :3]
    if scale:
        cmap, lo, hi = scale
        bar_w = min(width - 20, 256)
        bx = (width - bar_w) // 2
        bar = _lut(cmap)[np.linspace(0, 255, bar_w).astype(np.uint8)]
        canvas[HEADER + h + 3 : HEADER + h + 3 + SCALE // 2, bx : bx + bar_w] = bar[None]
    pil = Image.fromarray(canvas)
    draw = ImageDraw.Draw(pil)
    font = _font(11)
    draw.text((4, 3), _clip_text(title, width), fill=(0, 0, 0), font=font)
    if scale:
        cmap, lo, hi = scale
        y = HEADER + h + 3 + SCALE // 2 + 1
        bar_w = min(width - 20, 256)
        bx = (width - bar_w) // 2
        draw.text((bx, y), _fmt(lo), fill=(60, 60, 60), font=font)
        right = _fmt(hi)
        draw.text((bx + bar_w - 6 * len(right), y), right, fill=(60, 60, 60), font=font)
        if lo < 0 < hi:
            draw.text((bx + bar_w // 2 - 3, y), "0", fill=(60, 60, 60), font=font)
    return np.asarray(pil)


def _clip_text(text: str, width: int) -> str:
    limit = max(8, int(width / 6.2))
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----------------------------------------------------------------------------------------------
# Frames for each kind of result


def feature_frame(activation: np.ndarray, title: str, max_channels: int = 16) -> np.ndarray:
    """One sample's layer output as a frame.

    ``(H, W, C)`` → channels tiled; ``(D, H, W, C)`` → middle depth slice; ``(T, C)`` →
    channels × time heatmap; ``(units,)`` → a strip. One shared colour scale per frame.
    """
    a = np.asarray(activation, dtype=np.float32)
    if a.ndim == 4:
        a = a[a.shape[0] // 2]
    if a.ndim == 3:
        a = a[..., :max_channels]
        cmap, lo, hi = color_limits(a)
        tiles = [enlarge(colorize(a[..., c], cmap, lo, hi), 40) for c in range(a.shape[-1])]
        shown = (
            f" ({a.shape[-1]} of {activation.shape[-1]} ch)"
            if a.shape[-1] < activation.shape[-1]
            else ""
        )
        return annotate(tile(tiles), title + shown, (cmap, lo, hi))
    if a.ndim == 2:
        return matrix_frame(a.T, title, max_side=384)
    return matrix_frame(a.reshape(1, -1), title, max_side=384)


def matrix_frame(matrix: np.ndarray, title: str, max_side: int = 512) -> np.ndarray:
    """A 2-D array as a heatmap frame (diverging for signed values).

    Rows and columns are enlarged separately (like ``aspect="auto"``), so strips and small
    matrices become readable; big ones are subsampled by a stride to ``max_side``.
    """
    m = shrink(np.asarray(matrix, dtype=np.float32), max_side)
    cmap, lo, hi = color_limits(m)
    img = colorize(m, cmap, lo, hi)
    h, w = img.shape[:2]
    fy, fx = min(16, math.ceil(120 / h)), min(16, math.ceil(160 / w))
    img = np.repeat(np.repeat(img, max(fy, 1), axis=0), max(fx, 1), axis=1)
    return annotate(img, title, (cmap, lo, hi))


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
        return annotate(tile([enlarge(t, 24) for t in rgb]), title + " (RGB)")
    tiles = f.mean(axis=-1) if f.ndim == 4 else np.swapaxes(f, 1, 2)
    lo, hi = _base.symmetric_limits(tiles)
    cmap = _base.DIVERGING
    return annotate(
        tile([enlarge(colorize(t, cmap, lo, hi), 24) for t in tiles]), title, (cmap, lo, hi)
    )


def histogram_frame(values: np.ndarray, title: str, bins: int = 40) -> np.ndarray:
    """A histogram drawn into pixels, with the value range and count under it."""
    from PIL import Image, ImageDraw

    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    width, height = 240, 80
    canvas = np.full((height, width, 3), WHITE, dtype=np.uint8)
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
        if lo < 0 < hi:  # mark zero: the eye needs the origin to judge drift
            zx = int((0 - lo) / (hi - lo) * bins * bar)
            canvas[:, max(0, zx - 1) : zx] = (200, 60, 60)
        canvas[-1, : bins * bar] = (120, 120, 120)  # the axis
    else:
        lo, hi = 0.0, 0.0
    framed = annotate(canvas, title)
    pil = Image.fromarray(
        np.concatenate([framed, np.full((14, framed.shape[1], 3), WHITE, np.uint8)])
    )
    draw = ImageDraw.Draw(pil)
    y = framed.shape[0] - 4
    x0 = (framed.shape[1] - width) // 2
    draw.text((x0, y), _fmt(lo), fill=(60, 60, 60), font=_font(11))
    right = _fmt(hi)
    draw.text((x0 + width - 6 * len(right), y), right, fill=(60, 60, 60), font=_font(11))
    draw.text(
        (x0 + width // 2 - 40, y),
        f"n={v.size}, std={_fmt(v.std()) if v.size else '-'}",
        fill=(60, 60, 60),
        font=_font(11),
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
    img = annotate(np.asarray(pil), title)
    if labels is None or len(classes) > 20:
        return img
    legend = Image.fromarray(np.full((16, img.shape[1], 3), WHITE, np.uint8))
    draw = ImageDraw.Draw(legend)
    x = 4
    for k, cls in enumerate(classes):
        name = (
            class_names[int(cls)]
            if class_names is not None and isinstance(cls, int) and 0 <= cls < len(class_names)
            else str(cls)
        )
        draw.rectangle((x, 4, x + 8, 12), fill=tuple(int(v) for v in colours[k]))
        draw.text((x + 11, 1), name, fill=(0, 0, 0), font=_font(10))
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
    canvas = np.full((height, label_w + bar_w + 70, 3), WHITE, dtype=np.uint8)
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
    font = _font(10)
    for i, label in enumerate(labels):
        y0 = 2 + i * row_h
        draw.text((2, y0), _clip_text(label, label_w - 4), fill=(0, 0, 0), font=font)
        text = _fmt(v[i]) if np.isfinite(v[i]) else "n/a"
        draw.text((label_w + bar_w + 4, y0), text, fill=(60, 60, 60), font=font)
    return annotate(np.asarray(pil), title + (" (log scale)" if log else ""))
