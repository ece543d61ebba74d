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

from .._text import drawable
from ..plot import _base
from ..plot.overlay import resize_nearest

HEADER = 18
SCALE = 14
WHITE = 255
ZERO_RED = (200, 60, 60)


@lru_cache(maxsize=16)
def _lut(cmap: str) -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


@lru_cache(maxsize=4)
def _font(size: int = 11):
    from PIL import ImageFont

    # DejaVu Sans ships with matplotlib: the same face as the summary figures, with the glyphs
    # frames use (·, ×, …, arrows), and proper word spacing at small sizes.
    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    except (OSError, ValueError, ImportError):
        pass
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
    """Tile uint8 RGB images with white gaps (smaller ones padded white to the largest)."""
    size = max(i.shape[0] for i in images), max(i.shape[1] for i in images)
    padded = [_pad_to(i, size) if i.shape[:2] != size else i[..., :3] for i in images]
    return _base.mosaic(padded, ncols=ncols, pad=pad, pad_value=WHITE).astype(np.uint8)


def _fit_lines(text: str, width: int, size: int) -> list[str]:
    """Break ``text`` at " · " (then at spaces) into lines that fit ``width`` pixels."""
    if _text_width(text, size) <= width - 2:
        return [text]
    sep = " · " if " · " in text else " "
    lines: list[str] = []
    for word in text.split(sep):
        joined = f"{lines[-1]}{sep}{word}" if lines else word
        if lines and _text_width(joined, size) <= width - 2:
            lines[-1] = joined
        else:
            lines.append(word)
    return lines


def caption_tile(image: np.ndarray, text: str, size: int = 11) -> np.ndarray:
    """Put a label above one tile (e.g. ``head 2``), broken into lines that fit the tile."""
    from PIL import Image, ImageDraw

    lines = [ln for part in text.split("\n") for ln in _fit_lines(part, image.shape[1], size)]
    line_h = size + 3
    strip = Image.fromarray(np.full((line_h * len(lines) + 1, image.shape[1], 3), WHITE, np.uint8))
    draw = ImageDraw.Draw(strip)
    for k, line in enumerate(lines):
        _put(
            draw,
            (1, k * line_h),
            _clip_text(line, image.shape[1], size),
            fill=(0, 0, 0),
            font=_font(size),
        )
    return np.concatenate([np.asarray(strip), image[..., :3]], axis=0)


def _put(draw, xy: tuple[float, float], text: str, **options) -> None:
    """Every text on a frame is drawn here, through :func:`keras_nnviz._text.drawable`: Pillow's
    layout fails on ``\\r``, U+0085 or U+2029 in a name, which would cost the whole frame."""
    draw.text(xy, drawable(text), **options)


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def annotate(
    image: np.ndarray,
    title: str,
    scale: tuple[str, float, float] | None = None,
    min_width: int = 260,
    subtitle: str | None = None,
    bar: np.ndarray | None = None,
    scale_label: str | None = None,
) -> np.ndarray:
    """Add a header line (``title``, and ``subtitle`` under it) and, given ``(cmap, lo, hi)``,
    a labelled colour strip.

    Args:
        image: uint8 RGB frame body.
        title: first header line.
        scale: ``(cmap, lo, hi)`` of the colour strip.
        min_width: the frame is at least this wide (room for the header).
        subtitle: second header line (how to read the frame: axes, what the colours mean).
        bar: ``(256, 3)`` uint8 colours of the strip when they are not the plain colormap
            (e.g. a heat map as it looks blended over an image).
        scale_label: what the strip measures, written under it.
    """
    from PIL import Image, ImageDraw

    h, w = image.shape[:2]
    # Wide enough for the header lines (up to 900 px; longer ones are cut with "…").
    text_w = max(_text_width(title, 11), _text_width(subtitle, 10) if subtitle else 0) + 8
    width = max(w, min_width, min(900, text_w))
    header = HEADER + (15 if subtitle else 0)
    extra = SCALE + 14 + (13 if scale and scale_label else 0) if scale else 0
    canvas = np.full((header + h + extra + 4, width, 3), WHITE, dtype=np.uint8)
    x0 = (width - w) // 2
    canvas[header : header + h, x0 : x0 + w] = image[..., :3]
    if scale:
        cmap, lo, hi = scale
        bar_w = min(width - 20, 256)
        bx = (width - bar_w) // 2
        colours = _lut(cmap) if bar is None else np.asarray(bar, dtype=np.uint8)
        strip = colours[np.linspace(0, 255, bar_w).astype(np.uint8)]
        canvas[header + h + 3 : header + h + 3 + SCALE // 2, bx : bx + bar_w] = strip[None]
    pil = Image.fromarray(canvas)
    draw = ImageDraw.Draw(pil)
    font = _font(11)
    _put(draw, (4, 3), _clip_text(title, width), fill=(0, 0, 0), font=font)
    if subtitle:
        _put(draw, (4, 18), _clip_text(subtitle, width, 10), fill=(70, 70, 70), font=_font(10))
    if scale:
        cmap, lo, hi = scale
        y = header + h + 3 + SCALE // 2 + 1
        bar_w = min(width - 20, 256)
        bx = (width - bar_w) // 2
        _put(draw, (bx, y), _fmt(lo), fill=(60, 60, 60), font=font)
        right = _fmt(hi)
        _put(draw, (bx + bar_w - 6 * len(right), y), right, fill=(60, 60, 60), font=font)
        if lo < 0 < hi:
            _put(draw, (bx + bar_w // 2 - 3, y), "0", fill=(60, 60, 60), font=font)
        if scale_label:
            text = _clip_text(scale_label, width, 10)
            tx = max(2, (width - int(0.56 * 10 * len(text))) // 2)
            _put(draw, (tx, y + 13), text, fill=(60, 60, 60), font=_font(10))
    return np.asarray(pil)


def _clip_text(text: str, width: int, size: int = 11) -> str:
    """``text`` cut with "…" to fit ``width`` pixels at font ``size`` (measured, not guessed)."""
    text = drawable(text)  # measure what is drawn
    if _text_width(text, size) <= width - 6:
        return text
    while len(text) > 4 and _text_width(text + "…", size) > width - 6:
        text = text[: max(4, int(len(text) * 0.9))]
    return text + "…"


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
        total = a.shape[-1]
        a = a[..., :max_channels]
        cmap, lo, hi = color_limits(a)
        tiles = [
            caption_tile(enlarge(colorize(a[..., c], cmap, lo, hi), 40), f"ch {c}", 9)
            for c in range(a.shape[-1])
        ]
        return annotate(
            tile(tiles),
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
        zero_line = lo < 0 < hi
        if zero_line:  # mark zero: the eye needs the origin to judge drift
            zx = int((0 - lo) / (hi - lo) * bins * bar)
            canvas[:, max(0, zx - 1) : zx] = ZERO_RED
        canvas[-1, : bins * bar] = (120, 120, 120)  # the axis
    else:
        lo, hi, zero_line = 0.0, 0.0, False
    framed = annotate(canvas, title)
    if zero_line:  # the red line's legend, at the top right of the panel
        framed = _legend(framed, [(ZERO_RED, "vline", "value 0")], y=HEADER - 2)
    pil = Image.fromarray(
        np.concatenate([framed, np.full((14, framed.shape[1], 3), WHITE, np.uint8)])
    )
    draw = ImageDraw.Draw(pil)
    y = framed.shape[0] - 4
    x0 = (framed.shape[1] - width) // 2
    _put(draw, (x0, y), _fmt(lo), fill=(60, 60, 60), font=_font(11))
    right = _fmt(hi)
    _put(draw, (x0 + width - 6 * len(right), y), right, fill=(60, 60, 60), font=_font(11))
    _put(
        draw,
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
        _put(draw, (x + 11, 1), name, fill=(0, 0, 0), font=_font(10))
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
        _put(draw, (2, y0), _clip_text(label, label_w - 4), fill=(0, 0, 0), font=font)
        text = _fmt(v[i]) if np.isfinite(v[i]) else "n/a"
        _put(draw, (label_w + bar_w + 4, y0), text, fill=(60, 60, 60), font=font)
    framed = annotate(np.asarray(pil), title + (" (log scale)" if log else ""))
    if warn_at is None:
        return framed
    entries = [((203, 24, 29), "box", f"≥ {_fmt(warn_at)}")]
    if not log:
        entries.append(((0, 0, 0), "dotted", f"warn at {_fmt(warn_at)}"))
    strip = np.full((16, framed.shape[1], 3), WHITE, np.uint8)
    return np.concatenate([framed, _legend(strip, entries, y=2)], axis=0)


def _legend(image: np.ndarray, entries: Sequence[tuple], y: int) -> np.ndarray:
    """Draw a one-line legend right-aligned at row ``y``: ``(rgb, "solid"|"dotted"|"box",
    text)`` per entry (a short line or box in that colour, then the text)."""
    from PIL import Image, ImageDraw

    pil = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    draw = ImageDraw.Draw(pil)
    font = _font(10)
    widths = [14 + _text_width(text, 10) + 10 for _, _, text in entries]
    x = max(2, image.shape[1] - sum(widths) - 2)
    for (rgb, style, text), w in zip(entries, widths):
        mid = y + 6
        if style == "box":
            draw.rectangle((x, mid - 4, x + 9, mid + 4), fill=tuple(rgb))
        elif style == "dotted":
            for yy in range(mid - 5, mid + 6, 3):
                draw.point((x + 5, yy), fill=tuple(rgb))
        elif style == "vline":
            draw.line((x + 5, mid - 6, x + 5, mid + 6), fill=tuple(rgb), width=2)
        else:
            draw.line((x, mid, x + 10, mid), fill=tuple(rgb), width=2)
        _put(draw, (x + 14, y), text, fill=(40, 40, 40), font=font)
        x += w
    return np.asarray(pil)


# ----------------------------------------------------------------------------------------------
# Attribution and attention frames


def _rgb_image(image: np.ndarray) -> np.ndarray:
    """An input sample as uint8 RGB, min-max scaled (gray inputs repeated to three channels)."""
    img, _ = _base.as_display_image(image)
    img = np.repeat(img[..., None], 3, axis=-1) if img.ndim == 2 else img[..., :3]
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


HEAT_ALPHA = 0.65  # at most: the input stays visible under the hottest region


def heat_blend(image: np.ndarray, heat: np.ndarray, hi: float, cmap: str = _base.HEAT):
    """Heat over an image, opacity growing with the value: cold regions show the image as it
    is, hot regions the colour. Returns uint8 RGB at the image size; ``hi`` is the top of the
    scale (shared by all tiles, so the colour strip reads the same on every tile)."""
    base = _rgb_image(image).astype(np.float32)
    m = np.asarray(heat, dtype=np.float32)
    m = m.mean(axis=-1) if m.ndim == 3 else m
    if m.shape != base.shape[:2]:
        m = resize_nearest(m, base.shape[:2])
    v = np.clip(np.nan_to_num(m / (hi if hi > 0 else 1.0)), 0, 1)
    colour = colorize(v, cmap, 0.0, 1.0).astype(np.float32)
    a = _opacity(v)[..., None]
    return ((1 - a) * base * BASE_DIM + a * colour).astype(np.uint8)


def _opacity(v: np.ndarray) -> np.ndarray:
    # Square root: middling values already show their colour clearly (a linear ramp left them
    # pastel), zero stays fully transparent.
    return HEAT_ALPHA * np.sqrt(v)


#: The input under a heat map is dimmed a little, so the colours stand out against white strokes.
BASE_DIM = 0.8


def heat_bar(cmap: str = _base.HEAT, over: float = 128.0) -> np.ndarray:
    """The colour strip of :func:`heat_blend`: each colour as it looks blended (same opacity
    ramp, same dimming) over a mid-grey pixel."""
    v = np.linspace(0, 1, 256, dtype=np.float32)[:, None]
    a = _opacity(v)
    return ((1 - a) * over * BASE_DIM + a * _lut(cmap).astype(np.float32)).astype(np.uint8)


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
        scale, bar, label = (_base.HEAT, 0.0, hi), heat_bar(), f"{method} (shared scale)"
    for i, m in enumerate(flat):
        base = _rgb_image(images[i])
        if signed:
            right = resize_nearest(colorize(m, _base.DIVERGING, lo, hi), base.shape[:2])
        else:
            right = heat_blend(images[i], m, hi)
        pair = tile([enlarge(base, 72), enlarge(right, 72)], ncols=2)
        text = captions[i] if captions is not None else f"sample {i}"
        tiles.append(caption_tile(pair, text))
    sub = "each tile: input | " + ("map" if signed else "map over the input")
    return annotate(
        tile(tiles, ncols=min(4, len(tiles)), pad=8),
        title,
        scale,
        subtitle=sub,
        bar=bar,
        scale_label=label,
    )


@lru_cache(maxsize=4096)
def _text_width(text: str, size: int) -> int:
    """Width in pixels of ``text`` at font ``size`` (cached: labels repeat every frame)."""
    return int(_font(size).getlength(drawable(text)))


@lru_cache(maxsize=64)
def _label_strip(labels: tuple[str, ...], length: int, size: int) -> np.ndarray:
    """Labels right-aligned one per band of ``length / len(labels)`` pixels, as uint8 RGB
    ``(length, width, 3)``; cached, since every head of every frame repeats them."""
    from PIL import Image, ImageDraw

    width = max(_text_width(t, size) for t in labels) + 6
    strip = Image.new("RGB", (width, length), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    step = length / len(labels)
    for i, t in enumerate(labels):
        y = int(i * step + step / 2 - size / 2 - 1)
        _put(draw, (width - 3 - _text_width(t, size), y), t, fill=(0, 0, 0), font=_font(size))
    strip = np.asarray(strip)
    strip.flags.writeable = False
    return strip


def labelled_matrix(
    image: np.ndarray,
    rows: Sequence[str] | None,
    cols: Sequence[str] | None,
    caption: str,
    size: int = 10,
    max_label: int = 12,
) -> np.ndarray:
    """A coloured matrix tile with row labels on the left and column labels (rotated) below.

    Args:
        image: uint8 RGB, already enlarged so each row/column is at least ``size`` + 2 pixels.
        rows: one label per matrix row (e.g. query tokens), or None.
        cols: one label per matrix column (e.g. key tokens), or None.
        caption: line above the tile.
        size: font size of the labels in pixels.
        max_label: labels longer than this are cut (with "…").
    """

    def cut(t: str) -> str:
        return t if len(t) <= max_label else t[: max_label - 1] + "…"

    rows = [cut(str(t)) for t in rows] if rows is not None else None
    cols = [cut(str(t)) for t in cols] if cols is not None else None
    h, w = image.shape[:2]
    left_strip = _label_strip(tuple(rows), h, size) if rows else None
    below_strip = _label_strip(tuple(cols), w, size) if cols else None
    left = left_strip.shape[1] if left_strip is not None else 0
    below = below_strip.shape[1] if below_strip is not None else 0
    canvas = np.full((h + below, left + w, 3), WHITE, np.uint8)
    canvas[:h, left:] = image[..., :3]
    if left_strip is not None:
        canvas[:h, :left] = left_strip
    if below_strip is not None:
        # Drawn horizontally, then turned a quarter turn counter-clockwise: the column labels
        # stand below the matrix, read bottom to top, ending at it.
        canvas[h:, left:] = np.rot90(below_strip)
    return caption_tile(np.asarray(canvas), caption)


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
        img = colorize(h, "viridis", 0.0, hi)
        if labelled:
            cell = 13  # pixels per token: a 10-pixel label fits each row and column
            img = np.repeat(np.repeat(img, cell, axis=0), cell, axis=1)
            tiles.append(labelled_matrix(img, queries, keys, f"head {i}"))
        else:
            tiles.append(caption_tile(enlarge(img, 96), f"head {i}"))
    more = f", {len(shown)} of {len(a)} heads" if len(shown) < len(a) else ""
    return annotate(
        tile(tiles, ncols=min(4 if not labelled or tk <= 24 else 2, len(tiles)), pad=8),
        title + more,
        ("viridis", 0.0, hi),
        subtitle=f"rows: query (attending, {tq}) · columns: key (attended to, {tk})",
        scale_label="attention weight (0 … largest shown)",
    )


def _pad_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    out = np.full((*size, 3), WHITE, np.uint8)
    out[: image.shape[0], : image.shape[1]] = image[..., :3]
    return out


def sequence_frame(
    values: np.ndarray, title: str, tokens: Sequence[Sequence[str]] | None = None
) -> np.ndarray:
    """Per-position values of several samples (samples × positions), with the tokens of each
    sample written in its cells when given (one row of tokens per sample)."""
    m = np.asarray(values, dtype=np.float32)
    m = m.reshape(len(m), -1)
    if tokens is None or m.shape[1] > 64:
        return matrix_frame(m, title, max_side=512)
    cmap, lo, hi = color_limits(m)
    from PIL import Image, ImageDraw

    cell_w = max(28, max((_text_width(str(t)[:8], 9) for r in tokens for t in r), default=0) + 4)
    cell_h = 16
    img = colorize(m, cmap, lo, hi)
    img = np.repeat(np.repeat(img, cell_h, axis=0), cell_w, axis=1)
    pil = Image.fromarray(np.ascontiguousarray(img))
    draw = ImageDraw.Draw(pil)
    for i, row in enumerate(tokens[: len(m)]):
        for j, t in enumerate(list(row)[: m.shape[1]]):
            r, g, b = (int(c) for c in img[i * cell_h, j * cell_w])
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 128
            _put(draw, (j * cell_w + 2, i * cell_h + 2), str(t)[:8], font=_font(9),
                      fill=(255, 255, 255) if dark else (0, 0, 0))  # fmt: skip
    return annotate(
        np.asarray(pil),
        title,
        (cmap, lo, hi),
        subtitle="rows: samples · columns: positions (tokens written in)",
    )
