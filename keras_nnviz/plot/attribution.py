"""Attribution views: image | map | overlay grids, signed maps, attributions over sequences.

Magnitude maps (CAMs, saliency, in [0, 1]) use a sequential heat colormap; signed maps
(integrated gradients, gradient × input with ``signed=True``) use a diverging colormap centred
on zero, so red means evidence for the class and blue evidence against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .. import validation
from .._text import plot_text
from . import _base

__all__ = [
    "attribution_grid",
    "sequence_attribution",
    "signed_attribution",
]


def _label_text(i: int, labels, class_names, titles) -> str | None:
    if titles is not None:
        return str(titles[i])
    if labels is None:
        return None
    label = labels[i]
    named = class_names is not None and isinstance(label, int | np.integer)
    if named and 0 <= int(label) < len(class_names):
        return str(class_names[int(label)])
    return str(label)


def _as_map(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return m.mean(axis=-1) if m.ndim == 3 else m


@_base.frame_options
def attribution_grid(
    images: np.ndarray,
    maps: np.ndarray,
    labels: Sequence | None = None,
    *,
    class_names: Sequence[str] | None = None,
    titles: Sequence[str] | None = None,
    method: str = "attribution",
    alpha: float = 0.5,
    cmap: str = _base.HEAT,
    max_samples: int = 8,
    **frame: Any,
) -> Figure:
    """One row per sample: the image, its map, and the map over the image.

    Args:
        images: ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)``.
        maps: ``(N, h, w)`` maps (e.g. from ``nv.grad_cam``); drawn at the image size.
        labels: per-sample class indices (or strings) shown as row titles.
        class_names: names for integer labels (``class_names[label]``).
        titles: per-sample row titles, overriding labels.
        method: name of the map column (e.g. ``"Grad-CAM"``).
        alpha: opacity of the map in the overlay.
        cmap: colormap of the maps (sequential: maps are magnitudes).
        max_samples: show the first samples only.
        title: figure title.
        ax: draw into the grid cell of these axes (a subfigure takes its place).
        fig: draw into this Figure or SubFigure instead of a new figure.

    Returns:
        The figure, with one colorbar for the map scale.

    Example:
        >>> maps = nv.grad_cam(model, x[:4])
        >>> nv.plot.attribution_grid(x[:4], maps, labels=y[:4], class_names=names,
        ...                          method="Grad-CAM")
    """
    images = _base.check_ndim("attribution_grid images", images, (3, 4))
    maps = _base.check_ndim("attribution_grid maps", maps, (3, 4))
    validation.same_length("labels", labels, len(images), "images")
    validation.same_length("titles", titles, len(images), "images")
    if len(images) != len(maps):
        from ..errors import InvalidInputError

        raise InvalidInputError(
            f"attribution_grid got {len(images)} images and {len(maps)} maps; pass one map "
            "per image."
        )
    n = min(len(images), max_samples)
    fig, _ = _base.target(frame["fig"], frame["ax"], (7.6, 2.35 * n + 0.5))
    axes = fig.subplots(n, 3, squeeze=False)
    lo, hi = 0.0, max(float(np.nanmax(maps[:n])), 1e-12)
    im = None
    for i in range(n):
        img, gray = _base.as_display_image(images[i])
        heat = _as_map(maps[i])
        h, w = img.shape[:2]
        extent = (-0.5, w - 0.5, h - 0.5, -0.5)
        axes[i, 0].imshow(img, cmap=gray, interpolation="nearest")
        im = axes[i, 1].imshow(
            heat, cmap=cmap, vmin=lo, vmax=hi, extent=extent, interpolation="bilinear"
        )
        axes[i, 2].imshow(img, cmap=gray, interpolation="nearest")
        axes[i, 2].imshow(
            heat,
            cmap=cmap,
            vmin=lo,
            vmax=hi,
            alpha=alpha,
            extent=extent,
            interpolation="bilinear",
        )
        text = _label_text(i, labels, class_names, titles)
        axes[i, 0].set_ylabel(plot_text(text or f"sample {i}"), fontsize=10)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    for ax, name in zip(axes[0], ("input", method, "overlay")):
        ax.set_title(plot_text(name), fontsize=10)
    fig.colorbar(im, ax=axes[:, 1:].ravel().tolist(), shrink=0.6, label="importance")
    return _base.finish(fig, None, frame["title"])


@_base.frame_options
def signed_attribution(
    attribution: np.ndarray,
    image: np.ndarray | None = None,
    *,
    cmap: str = _base.DIVERGING,
    **frame: Any,
) -> Figure:
    """A signed 2-D attribution on a diverging colormap centred on zero.

    Args:
        attribution: ``(H, W)`` or ``(H, W, C)`` (channels summed) signed values, e.g.
            ``nv.integrated_gradients(..., signed=True)[0]``.
        image: optional input drawn beside the map.
        title: title.
        cmap: diverging colormap (red: for the class, blue: against it).
        ax: draw the map into these axes (the image is then not drawn).
        fig: draw into this Figure or SubFigure (two panels with ``image``, else one).

    Returns:
        The figure, with a symmetric colorbar.

    Example:
        >>> ig = nv.integrated_gradients(model, x[:1], signed=True)
        >>> nv.plot.signed_attribution(ig[0], image=x[0], title="IG, class 3")
    """
    attr = np.asarray(attribution, dtype=np.float64)
    attr = attr.sum(axis=-1) if attr.ndim == 3 else attr
    attr = _base.check_ndim("signed_attribution", attr, (2,))
    lo, hi = _base.symmetric_limits(attr)
    if frame["ax"] is not None or image is None:
        fig, ax = _base.new_axes(frame["ax"], (4.8, 4), frame["fig"])
        map_ax = ax
    else:
        fig, _ = _base.target(frame["fig"], None, (8.4, 4))
        img_ax, map_ax = fig.subplots(1, 2)
        img, gray = _base.as_display_image(image)
        img_ax.imshow(img, cmap=gray, interpolation="nearest")
        img_ax.set_title("input")
        img_ax.set_xticks([])
        img_ax.set_yticks([])
    im = map_ax.imshow(attr, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
    map_ax.set_xticks([])
    map_ax.set_yticks([])
    fig.colorbar(im, ax=map_ax, shrink=0.85, label="attribution (+ for, − against)")
    return _base.finish(fig, map_ax, frame["title"] or "signed attribution")


@_base.frame_options
def sequence_attribution(
    attribution: np.ndarray,
    sequence: np.ndarray | None = None,
    labels: Sequence[str] | None = None,
    **frame: Any,
) -> Figure:
    """Attribution over the steps of a sequence (Conv1D / RNN inputs, tokens).

    With ``sequence`` the signal is drawn as lines over a band coloured by the attribution;
    without it, one bar per step. Signed attributions use a diverging colormap centred on
    zero, magnitudes a sequential one.

    Args:
        attribution: ``(T,)`` (or ``(T, C)``, channels summed) per-step attribution.
        sequence: optional ``(T,)`` or ``(T, C)`` signal to draw.
        labels: optional per-step tick labels (e.g. tokens).
        title: title.
        ax: draw into these axes.
        fig: draw into this Figure or SubFigure (one new axes) instead of a new figure.

    Returns:
        The figure, with a colorbar.

    Example:
        >>> sal = nv.saliency(model, x_seq[:1])
        >>> nv.plot.sequence_attribution(sal[0], sequence=x_seq[0])
    """
    attr = np.asarray(attribution, dtype=np.float64)
    attr = attr.sum(axis=-1) if attr.ndim == 2 else attr
    attr = _base.check_ndim("sequence_attribution", attr, (1,))
    validation.same_length("labels", labels, len(attr), "positions")
    cmap, lo, hi = _base.auto_cmap(attr)
    if cmap == _base.SEQUENTIAL:
        cmap = _base.HEAT
    steps = np.arange(len(attr))
    fig, ax = _base.new_axes(
        frame["ax"], (max(6.0, min(14.0, len(attr) * 0.25)), 3.2), frame["fig"]
    )
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    norm = Normalize(lo, hi)
    if sequence is not None:
        seq = np.asarray(sequence, dtype=np.float64)
        seq = seq[:, None] if seq.ndim == 1 else seq
        top, bottom = float(seq.max()), float(seq.min())
        pad = 0.05 * (top - bottom or 1.0)
        ax.imshow(
            attr[None, :],
            cmap=cmap,
            norm=norm,
            aspect="auto",
            extent=(-0.5, len(attr) - 0.5, bottom - pad, top + pad),
            interpolation="nearest",
            alpha=0.8,
        )
        for c in range(seq.shape[1]):
            ax.plot(steps, seq[:, c], color="black", lw=1.0, alpha=0.85)
        ax.set_ylabel("input value")
    else:
        ax.bar(steps, attr, color=colormaps[cmap](norm(attr)), width=0.9)
        ax.axhline(0.0, color="gray", lw=0.6)
        ax.set_ylabel("attribution")
    ax.set_xlim(-0.5, len(attr) - 0.5)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if labels is not None:
        ax.set_xticks(steps)
        ax.set_xticklabels([plot_text(t) for t in labels], rotation=60, fontsize=8)
    ax.set_xlabel("step")
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="attribution")
    return _base.finish(fig, ax, frame["title"] or "attribution over the sequence")
