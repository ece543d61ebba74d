"""Heatmaps over images: the building block of every attribution view."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .. import validation
from . import _base

__all__ = [
    "heatmap_overlay",
    "overlay_rgb",
    "resize_nearest",
]


def resize_nearest(heatmap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of the first two axes in numpy (plots never import TensorFlow)."""
    h, w = heatmap.shape[:2]
    rows = (np.arange(shape[0]) * h / shape[0]).astype(int)
    cols = (np.arange(shape[1]) * w / shape[1]).astype(int)
    return heatmap[rows][:, cols]


def overlay_rgb(
    image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5, cmap: str = _base.HEAT
) -> np.ndarray:
    """Blend a heatmap (coloured by ``cmap``) over an image; returns RGB float ``(H, W, 3)``.

    The image is min-max scaled; the heatmap is scaled to [0, 1] and resized (nearest) to the
    image when sizes differ. Pure numpy, cheap enough for training-time frames.
    """
    from matplotlib import colormaps

    img, _ = _base.as_display_image(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    img = img[..., :3]
    heat = np.asarray(heatmap, dtype=np.float64)
    if heat.ndim == 3:
        heat = heat.mean(axis=-1)
    if heat.shape != img.shape[:2]:
        heat = resize_nearest(heat, img.shape[:2])
    coloured = colormaps[cmap](_base.to_unit(heat))[..., :3]
    return np.clip((1 - alpha) * img + alpha * coloured, 0, 1)


@_base.frame_options
def heatmap_overlay(
    image: np.ndarray,
    heatmap: np.ndarray,
    *,
    alpha: float = 0.5,
    cmap: str = _base.HEAT,
    colorbar: bool = True,
    **frame: Any,
) -> Figure:
    """Show a heatmap (e.g. Grad-CAM) blended over its image, with a colorbar.

    Args:
        image: ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` in any range.
        heatmap: ``(h, w)`` map; resized to the image if needed.
        alpha: heatmap opacity.
        cmap: colormap of the heatmap (sequential: maps are magnitudes).
        ax: draw into these axes.
        title: axes title.
        colorbar: add a colorbar for the heatmap scale.
        fig: draw into this Figure or SubFigure (one new axes) instead of a new figure.

    Example:
        >>> cam = nv.grad_cam(model, x[:1])
        >>> nv.plot.heatmap_overlay(x[0], cam[0], title="Grad-CAM")
    """
    img, gray = _base.as_display_image(image)
    heat = np.asarray(heatmap, dtype=np.float64)
    if heat.ndim == 3:
        heat = heat.mean(axis=-1)
    _base.check_ndim("heatmap_overlay heatmap", heat, (2,))
    alpha = validation.number("alpha", alpha, low=0.0, high=1.0)
    fig, ax = _base.new_axes(frame["ax"], (4.5, 4), frame["fig"])
    ax.imshow(img, cmap=gray, interpolation="nearest")
    h, w = img.shape[:2]
    im = ax.imshow(
        heat,
        cmap=cmap,
        alpha=alpha,
        extent=(-0.5, w - 0.5, h - 0.5, -0.5),
        interpolation="bilinear",
    )
    ax.set_xticks([])
    ax.set_yticks([])
    if colorbar:
        fig.colorbar(im, ax=ax, shrink=0.85, label="importance")
    return _base.finish(fig, ax, frame["title"])
