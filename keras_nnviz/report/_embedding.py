"""The interactive embedding of a report: points on a canvas the reader pans, zooms, searches and
hovers (the sample's picture or tokens), coloured by label or prediction.

:class:`Embedding` is a report block; its data reaches the page as JSON (through
:func:`keras_nnviz.html.document`'s inert data block) and ``assets/embedding.js`` draws it. Post-hoc
reports build one from the projected features (:func:`from_points`); callback reports from the
``points`` files the :class:`~keras_nnviz.callbacks.EmbeddingProjection` callback writes at every
snapshot (:func:`from_manifest`), so the page's epoch slider moves the points too.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..html import esc

#: Points drawn with a hover picture; more samples keep their point but no thumbnail.
MAX_THUMBS = 1024


@dataclass
class Embedding:
    """An interactive 2-D embedding.

    Attributes:
        title: shown above the canvas (the layer path).
        frames: ``[{"epoch", "label", "xy"[, "preds"]}]`` in training order; ``xy`` flat
            ``[x0, y0, ...]`` scaled into [-1, 1] (one frame: a still embedding); ``preds``: the
            predicted classes at that frame.
        labels: class index per sample, or None.
        preds: predicted class per sample (of the last frame), or None.
        classes: names of the classes, or None.
        sprite: ``{"src", "thumb", "cols"}``: a grid of the samples' pictures (row-major), or None.
        texts: each sample's tokens as one line, or None.
        caption: shown below.
        tag: the layer path (the architecture graph shows the block by it).
    """

    title: str
    frames: list[dict[str, Any]]
    labels: list[int] | None = None
    preds: list[int] | None = None
    classes: list[str] | None = None
    sprite: dict[str, Any] | None = None
    texts: list[str] | None = None
    caption: str = ""
    tag: str = ""

    def payload(self) -> dict[str, Any]:
        """The JSON the page's script reads."""
        return {
            "title": self.title,
            "frames": self.frames,
            "labels": self.labels,
            "preds": self.preds,
            "classes": self.classes,
            "sprite": self.sprite,
            "texts": self.texts,
        }


def scaled(points: Any) -> list[float]:
    """``(N, 2)`` points centred and scaled into [-1, 1] (one scale for both axes), flattened and
    rounded: the page fits every frame to its canvas the same way. Non-finite points go to 0."""
    p = np.asarray(points, dtype=np.float64)[:, :2]
    p = np.where(np.isfinite(p), p, 0.0)
    centre = (p.max(axis=0) + p.min(axis=0)) / 2 if len(p) else 0.0
    p = p - centre
    span = float(np.abs(p).max()) if p.size else 0.0
    p = p / span if span > 1e-12 else p
    return [round(float(v), 4) for v in p.ravel()]


def _ints(values: Any, n: int) -> list[int] | None:
    if values is None:
        return None
    a = np.asarray(values).ravel()[:n]
    return [int(v) for v in a] if len(a) == n else None


def sprite_of(images: Any) -> dict[str, Any] | None:
    """The samples' pictures as one sprite (a PNG data URI), or None when they are not images."""
    from ..io import encode_png
    from ..projection import sprite_image

    imgs = np.asarray(images)
    if imgs.dtype.kind not in "fiu" or not (
        imgs.ndim == 3 or (imgs.ndim == 4 and imgs.shape[-1] in (1, 3, 4))
    ):
        return None
    imgs = imgs[:MAX_THUMBS]
    pixels, thumb = sprite_image(imgs, thumb=int(min(48, max(16, max(imgs.shape[1:3])))))
    uri = "data:image/png;base64," + base64.b64encode(encode_png(pixels)).decode("ascii")
    return {"src": uri, "thumb": thumb, "cols": int(np.ceil(np.sqrt(len(imgs))))}


def from_points(
    title: str,
    points: Any,
    *,
    labels: Any = None,
    preds: Any = None,
    class_names: Sequence[str] | None = None,
    images: Any = None,
    tokens: Any = None,
    caption: str = "",
    tag: str = "",
) -> Embedding:
    """A still embedding from ``(N, 2)`` points and what to show of each sample."""
    n = len(points)
    texts = None
    if tokens is not None:
        rows = list(tokens)[:n]
        if len(rows) == n:
            texts = [
                " ".join(str(t) for t in row if str(t) not in ("", "[PAD]", "<pad>"))
                if not isinstance(row, str)
                else row
                for row in rows
            ]
    return Embedding(
        title,
        [{"epoch": None, "label": "", "xy": scaled(points)}],
        labels=_ints(labels, n),
        preds=_ints(preds, n),
        classes=[str(c) for c in class_names] if class_names is not None else None,
        sprite=sprite_of(images) if images is not None else None,
        texts=texts,
        caption=caption,
        tag=tag,
    )


def from_manifest(
    tag: str,
    entries: list[dict[str, Any]],
    read: Any,
    image_src: Any,
    label: Any,
) -> Embedding | None:
    """The embedding of one layer from an EmbeddingProjection callback's ``points`` files.

    Args:
        tag: the layer path.
        entries: the callback's manifest entries of kind ``"points"`` for ``tag``.
        read: ``read(entry) -> Path | None``: the entry's file inside the log folder.
        image_src: ``image_src(path) -> str``: a data URI or relative URL of a file.
        label: ``label(entry) -> str``: the frame's label ("epoch 3").

    Returns:
        The embedding over training, or None when no points file can be read.
    """
    frames, first, previous = [], None, np.zeros((0, 2))
    for e in sorted(entries, key=lambda e: (e.get("epoch") or 0, e.get("batch") or 0)):
        path = read(e)
        if path is None:
            continue
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or not isinstance(data.get("xy"), list):
            continue
        try:
            points = np.asarray(data["xy"], dtype=np.float64).reshape(-1, 2)
        except (TypeError, ValueError):
            continue
        if frames and len(points) == len(previous):
            # PCA's axes have no sign: flip an axis that points the other way than last frame,
            # so the slider shows the points moving, not the picture mirroring.
            points = points * np.where(np.sum(points * previous, axis=0) < 0, -1.0, 1.0)
        previous = points
        first = first or data
        frame = {"epoch": e.get("epoch"), "label": label(e), "xy": scaled(points)}
        frame_preds = _ints(data.get("preds"), len(points))
        if frame_preds is not None:  # the predictions change as the model trains
            frame["preds"] = frame_preds
        frames.append(frame)
    if not frames or first is None:
        return None
    sprite = None
    meta = first.get("sprite")
    if isinstance(meta, dict) and meta.get("path"):
        found = read({"path": meta["path"]})
        if found is not None:
            sprite = {
                "src": image_src(found),
                "thumb": int(meta.get("thumb", 0)),
                "cols": int(meta.get("cols", 0)),
            }
    n = len(frames[-1]["xy"]) // 2
    return Embedding(
        tag,
        frames,
        labels=_ints(first.get("labels"), n),
        preds=frames[-1].get("preds"),
        classes=first.get("classes"),
        sprite=sprite,
        caption=f"{n} samples of {tag} by {first.get('method', 'PCA')}",
        tag=tag,
    )


def embedding_html(block: Embedding, eid: str) -> str:
    """The block's HTML host; ``assets/embedding.js`` fills it from the page data."""
    caption = f'<figcaption class="nv-caption">{esc(block.caption)}</figcaption>'
    return (
        f'<figure class="nv-figure nv-embed" data-embed="{esc(eid)}">'
        f'<div class="nv-figure-title">{esc(block.title)}</div>'
        f'<div class="nv-embed-body"></div>{caption if block.caption else ""}</figure>'
    )
