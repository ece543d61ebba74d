"""Image-text maps: where in an image a text matches (:func:`keras_nnviz.image_text_map`).

* :func:`image_text_maps` — each image with its map over it and its text as the title;
* :func:`image_phrase_maps` — one image beside its maps for several texts: which region
  matches which phrase;
* :func:`image_text_html` — the same as one self-contained HTML page: hovering (or focusing) a
  phrase draws its map over the image.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .. import assets, validation
from .. import html as html_page
from .._text import plot_text
from ..errors import InvalidInputError
from . import _base
from .attention_html import AttentionHTML
from .overlay import resize_nearest

#: Maps are drawn in this colour map with a per-pixel opacity of ``alpha * map``: where the text
#: does not match, the image shows unchanged; where it does, a bright colour covers it.
CMAP = "inferno"

__all__ = [
    "ImageTextHTML",
    "image_phrase_maps",
    "image_text_html",
    "image_text_maps",
]


def _maps(name: str, maps: Any, n: int | None, size: tuple[int, int]) -> np.ndarray:
    """``(K, H, W)`` finite maps at the image size, each scaled to [0, 1]."""
    m = np.asarray(maps, dtype=np.float64)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3 or (n is not None and len(m) != n):
        want = f"({n}, H, W)" if n is not None else "(K, H, W)"
        raise InvalidInputError(
            f"{name}: maps must be {want}, one map per text; received shape {np.shape(maps)}."
        )
    if not np.all(np.isfinite(m)):
        raise InvalidInputError(f"{name}: maps contain NaN or inf values.")
    m = np.stack([resize_nearest(k, size) if k.shape != size else k for k in m])
    lo = m.min(axis=(1, 2), keepdims=True)
    hi = m.max(axis=(1, 2), keepdims=True)
    return (m - lo) / np.where(hi > lo, hi - lo, 1.0)


def _texts(name: str, texts: Sequence[str] | None, n: int) -> list[str]:
    if texts is None:
        return [f"text {i}" for i in range(n)]
    texts = [str(t) for t in texts]
    if len(texts) != n:
        raise InvalidInputError(f"{name}: {len(texts)} texts for {n} maps; pass one text per map.")
    return texts


def _blend(image: np.ndarray, heat: np.ndarray, alpha: float) -> np.ndarray:
    """RGB ``(H, W, 3)``: ``heat`` (in [0, 1], the image's size) over the min-max scaled image,
    opaque in proportion to its value."""
    from matplotlib import colormaps

    img, _ = _base.as_display_image(image)
    img = np.repeat(img[..., None], 3, axis=-1) if img.ndim == 2 else img[..., :3]
    weight = alpha * heat[..., None]
    return np.clip((1 - weight) * img + weight * colormaps[CMAP](heat)[..., :3], 0, 1)


def _panels(
    images: list[np.ndarray],
    maps: np.ndarray,
    titles: list[str],
    alpha: float,
    ncols: int | None,
    cell: float,
    frame: dict,
) -> Figure:
    fig, axes = _base.grid(
        len(images), ncols=ncols, cell=cell, extra_width=0.2, fig=frame["fig"], ax=frame["ax"]
    )
    for ax, img, m, text in zip(axes, images, maps, titles, strict=True):
        if m is None:
            shown, cmap = _base.as_display_image(img)
            ax.imshow(shown, cmap=cmap, interpolation="nearest")
        else:
            ax.imshow(_blend(img, m, alpha), interpolation="nearest")
        lines = [_base.wrap(plot_text(line), cell) for line in text.split("\n")]
        ax.set_title("\n".join(lines), fontsize=8)
    return fig


@_base.frame_options
def image_text_maps(
    images: np.ndarray,
    maps: np.ndarray,
    texts: Sequence[str] | None = None,
    *,
    alpha: float = 0.7,
    ncols: int | None = None,
    cell: float = 1.8,
    **frame: Any,
) -> Figure:
    """Each image with its image-text map over it and its text as the title.

    Args:
        images: ``(N, H, W[, C])`` images, any range.
        maps: ``(N, h, w)`` maps from :func:`keras_nnviz.image_text_map` (each min-max
            scaled here; resized to its image when sizes differ).
        texts: the N texts (strings); ``"text i"`` when None.
        alpha: opacity of the map where it is highest (``alpha * map`` elsewhere).
        ncols: grid columns (default: near-square).
        cell: size of one panel in inches.
        title: figure title.
        ax: draw into the grid cell of these axes (a subfigure takes its place).
        fig: draw into this Figure or SubFigure instead of a new figure.

    Returns:
        The figure.

    Example:
        >>> maps = nv.image_text_map(clip, images, token_ids)
        >>> nv.plot.image_text_maps(images, maps, texts=["a red square", "a blue circle"])
    """
    imgs = [np.asarray(i) for i in images]
    if not imgs or any(i.ndim not in (2, 3) for i in imgs):
        raise InvalidInputError(
            "image_text_maps takes images (N, H, W[, C]); received shapes "
            f"{[i.shape for i in imgs[:4]]}."
        )
    alpha = validation.number("alpha", alpha, low=0.0, high=1.0)
    scaled = _maps("image_text_maps", maps, len(imgs), imgs[0].shape[:2])
    titles = [f"“{t}”" for t in _texts("image_text_maps", texts, len(imgs))]
    fig = _panels(imgs, scaled, titles, alpha, ncols, cell, frame)
    return _base.finish(fig, None, frame["title"] or "Where each image matches its text")


@_base.frame_options
def image_phrase_maps(
    image: np.ndarray,
    maps: np.ndarray,
    texts: Sequence[str] | None = None,
    *,
    alpha: float = 0.7,
    scores: Sequence[float] | None = None,
    cell: float = 1.8,
    **frame: Any,
) -> Figure:
    """One image beside its maps for several texts: which region matches which phrase.

    Args:
        image: one ``(H, W[, C])`` image.
        maps: ``(K, h, w)`` maps of that image for K texts (:func:`keras_nnviz.image_text_map`
            of the image repeated K times).
        texts: the K texts.
        alpha: opacity of the maps where they are highest (``alpha * map`` elsewhere).
        scores: optional K match scores, written under each phrase.
        cell: size of one panel in inches.
        title: figure title.
        ax: draw into the grid cell of these axes (a subfigure takes its place).
        fig: draw into this Figure or SubFigure instead of a new figure.

    Returns:
        The figure: the image, then one panel per text, in one row.

    Example:
        >>> phrases = ["red", "green", "blue"]
        >>> maps = nv.image_text_map(model, np.repeat(image[None], 3, 0), ids)
        >>> nv.plot.image_phrase_maps(image, maps, phrases)
    """
    img = np.asarray(image)
    if img.ndim not in (2, 3):
        raise InvalidInputError(
            f"image_phrase_maps takes one image (H, W[, C]); received shape {img.shape}."
        )
    alpha = validation.number("alpha", alpha, low=0.0, high=1.0)
    scaled = _maps("image_phrase_maps", maps, None, img.shape[:2])
    titles = [f"“{t}”" for t in _texts("image_phrase_maps", texts, len(scaled))]
    if scores is not None:
        values = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(values) != len(scaled):
            raise InvalidInputError(
                f"image_phrase_maps: {len(values)} scores for {len(scaled)} maps."
            )
        titles = [f"{t}\nscore {v:.3g}" for t, v in zip(titles, values, strict=True)]
    fig = _panels(
        [img] * (len(scaled) + 1),
        [None, *scaled],
        ["image", *titles],
        alpha,
        len(scaled) + 1,
        cell,
        frame,
    )
    return _base.finish(fig, None, frame["title"] or "Which region matches which phrase")


class ImageTextHTML(AttentionHTML):
    """The hover view of :func:`image_text_html` as one self-contained HTML document.

    Displays itself in Jupyter / Colab (``_repr_html_``); ``save(path)`` writes the file;
    ``html`` is the document text.
    """

    def __repr__(self) -> str:
        return f"<ImageTextHTML: {len(self.html) / 1024:.0f} KiB; .save(path) or display it>"


BODY = """<h1 id="nv-title">{title}</h1>
<p class="nv-help">Hover or focus a phrase: its map is drawn over the image.</p>
<div class="nv-main">
  <canvas id="nv-image" width="{width}" height="{height}"></canvas>
  <ul id="nv-phrases"></ul>
</div>
"""


def image_text_html(
    image: np.ndarray,
    maps: np.ndarray,
    texts: Sequence[str],
    *,
    scores: Sequence[float] | None = None,
    alpha: float = 0.7,
    size: int = 320,
    title: str | None = None,
) -> ImageTextHTML:
    """One image and its phrases as an HTML page: hovering a phrase shows where it matches.

    The image and the maps travel inside the page (uint8 pixels, base64); a small script
    (``assets/image_text.js``) draws the image on a canvas and, while a phrase is hovered or
    focused, that phrase's map over it. No network, a strict Content-Security-Policy.

    Args:
        image: one ``(H, W[, C])`` image.
        maps: ``(K, h, w)`` maps of the image for K phrases (:func:`keras_nnviz.image_text_map`
            of the image repeated, or one map per word of a caption).
        texts: the K phrases (or words).
        scores: optional K match scores shown beside the phrases.
        alpha: opacity of the map where it is highest (``alpha * map`` elsewhere).
        size: width in pixels the image is drawn at.
        title: page title.

    Returns:
        :class:`ImageTextHTML`: displays in notebooks, ``.save("match.html")`` writes it.

    Example:
        >>> view = nv.plot.image_text_html(image, maps, ["red", "green", "blue"])
        >>> view.save("match.html")
    """
    from matplotlib import colormaps

    img, _ = _base.as_display_image(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3:
        raise InvalidInputError(
            f"image_text_html takes one image (H, W[, C]); received shape {np.shape(image)}."
        )
    h, w = img.shape[:2]
    scaled = _maps("image_text_html", maps, None, (h, w))
    words = _texts("image_text_html", texts, len(scaled))
    values = None
    if scores is not None:
        values = [float(v) for v in np.asarray(scores, dtype=np.float64).reshape(-1)]
        if len(values) != len(words) or not np.all(np.isfinite(values)):
            raise InvalidInputError(
                f"image_text_html: scores must be {len(words)} finite numbers; received "
                f"{np.shape(scores)}."
            )
    alpha = validation.number("alpha", alpha, low=0.0, high=1.0)
    size = validation.positive_int("size", size)

    def b64(a: np.ndarray) -> str:
        return base64.b64encode(np.ascontiguousarray(a, dtype=np.uint8).tobytes()).decode()

    lut = (colormaps[CMAP](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(int)
    payload = {
        "width": w,
        "height": h,
        "alpha": alpha,
        "image": b64(np.clip(img[..., :3] * 255, 0, 255).round()),
        "phrases": [
            {"text": t, "map": b64((m * 255).round()), "score": None if values is None else v}
            for t, m, v in zip(words, scaled, values or [None] * len(words), strict=True)
        ],
        "lut": lut.tolist(),
    }
    title = title or "Which region matches which phrase"
    height = max(int(size * h / w), 1)
    doc = html_page.document(
        title=title,
        css=assets.text("image_text.css"),
        body=BODY.format(title=html_page.esc(title), width=size, height=height),
        script=assets.text("image_text.js"),
        data=payload,
    )
    return ImageTextHTML(doc, height=height + 140)
