"""Frame drawing primitives: numpy arrays in, uint8 RGB images out (Pillow for text).

Colouring through a 256-entry lookup table, tiling, enlarging by pixel repetition, text (every
string drawn through :func:`put_text`), the header and colour strip of :func:`annotate`, legends,
heat maps blended over an input and labelled matrices. The per-kind frames built from them are in
:mod:`keras_nnviz.callbacks._frames`.
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
def text_font(size: int = 11):
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
    if text_width(text, size) <= width - 2:
        return [text]
    sep = " · " if " · " in text else " "
    lines: list[str] = []
    for word in text.split(sep):
        joined = f"{lines[-1]}{sep}{word}" if lines else word
        if lines and text_width(joined, size) <= width - 2:
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
        put_text(
            draw,
            (1, k * line_h),
            clip_text(line, image.shape[1], size),
            fill=(0, 0, 0),
            font=text_font(size),
        )
    return np.concatenate([np.asarray(strip), image[..., :3]], axis=0)


def put_text(draw, xy: tuple[float, float], text: str, **options) -> None:
    """Every text on a frame is drawn here, through :func:`keras_nnviz._text.drawable`: Pillow's
    layout fails on ``\\r``, U+0085 or U+2029 in a name, which would cost the whole frame."""
    draw.text(xy, drawable(text), **options)


def fmt(v: float) -> str:
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
    text_w = max(text_width(title, 11), text_width(subtitle, 10) if subtitle else 0) + 8
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
    font = text_font(11)
    put_text(draw, (4, 3), clip_text(title, width), fill=(0, 0, 0), font=font)
    if subtitle:
        put_text(
            draw, (4, 18), clip_text(subtitle, width, 10), fill=(70, 70, 70), font=text_font(10)
        )
    if scale:
        cmap, lo, hi = scale
        y = header + h + 3 + SCALE // 2 + 1
        bar_w = min(width - 20, 256)
        bx = (width - bar_w) // 2
        put_text(draw, (bx, y), fmt(lo), fill=(60, 60, 60), font=font)
        right = fmt(hi)
        put_text(draw, (bx + bar_w - 6 * len(right), y), right, fill=(60, 60, 60), font=font)
        if lo < 0 < hi:
            put_text(draw, (bx + bar_w // 2 - 3, y), "0", fill=(60, 60, 60), font=font)
        if scale_label:
            text = clip_text(scale_label, width, 10)
            tx = max(2, (width - int(0.56 * 10 * len(text))) // 2)
            put_text(draw, (tx, y + 13), text, fill=(60, 60, 60), font=text_font(10))
    return np.asarray(pil)


def clip_text(text: str, width: int, size: int = 11) -> str:
    """``text`` cut with "…" to fit ``width`` pixels at font ``size`` (measured, not guessed)."""
    text = drawable(text)  # measure what is drawn
    if text_width(text, size) <= width - 6:
        return text
    while len(text) > 4 and text_width(text + "…", size) > width - 6:
        text = text[: max(4, int(len(text) * 0.9))]
    return text + "…"


def legend(image: np.ndarray, entries: Sequence[tuple], y: int) -> np.ndarray:
    """Draw a one-line legend right-aligned at row ``y``: ``(rgb, "solid"|"dotted"|"box",
    text)`` per entry (a short line or box in that colour, then the text)."""
    from PIL import Image, ImageDraw

    pil = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    draw = ImageDraw.Draw(pil)
    font = text_font(10)
    widths = [14 + text_width(text, 10) + 10 for _, _, text in entries]
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
        put_text(draw, (x + 14, y), text, fill=(40, 40, 40), font=font)
        x += w
    return np.asarray(pil)


def rgb_image(image: np.ndarray) -> np.ndarray:
    """An input sample as uint8 RGB, min-max scaled (gray inputs repeated to three channels)."""
    img, _ = _base.as_display_image(image)
    img = np.repeat(img[..., None], 3, axis=-1) if img.ndim == 2 else img[..., :3]
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


HEAT_ALPHA = 0.65  # at most: the input stays visible under the hottest region


def heat_blend(image: np.ndarray, heat: np.ndarray, hi: float, cmap: str = _base.HEAT):
    """Heat over an image, opacity growing with the value: cold regions show the image as it
    is, hot regions the colour. Returns uint8 RGB at the image size; ``hi`` is the top of the
    scale (shared by all tiles, so the colour strip reads the same on every tile)."""
    base = rgb_image(image).astype(np.float32)
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


@lru_cache(maxsize=4096)
def text_width(text: str, size: int) -> int:
    """Width in pixels of ``text`` at font ``size`` (cached: labels repeat every frame)."""
    return int(text_font(size).getlength(drawable(text)))


@lru_cache(maxsize=64)
def _label_strip(labels: tuple[str, ...], length: int, size: int) -> np.ndarray:
    """Labels right-aligned one per band of ``length / len(labels)`` pixels, as uint8 RGB
    ``(length, width, 3)``; cached, since every head of every frame repeats them."""
    from PIL import Image, ImageDraw

    width = max(text_width(t, size) for t in labels) + 6
    strip = Image.new("RGB", (width, length), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    step = length / len(labels)
    for i, t in enumerate(labels):
        y = int(i * step + step / 2 - size / 2 - 1)
        put_text(
            draw, (width - 3 - text_width(t, size), y), t, fill=(0, 0, 0), font=text_font(size)
        )
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


def _pad_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    out = np.full((*size, 3), WHITE, np.uint8)
    out[: image.shape[0], : image.shape[1]] = image[..., :3]
    return out
