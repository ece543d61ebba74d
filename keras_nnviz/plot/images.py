"""Plain image grids (inputs, top-activating examples, optimized images)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._text import plot_text
from ..errors import InvalidInputError
from . import _base

__all__ = [
    "grid_plot",
    "image_grid",
]


def grid_plot(
    name: str,
    prepare: Callable[[Any, Sequence[str] | None], tuple[Sequence[np.ndarray], Any]],
    show: Callable[[Axes, np.ndarray], None],
    default_title: Callable[[int], str | None],
    doc: str,
    module: str = __name__,
) -> Callable[..., Figure]:
    """Build a public image-grid plot: one signature, one layout; the kinds differ in how the
    images are checked and titled (``prepare(images, titles) -> (images, titles)``), how one
    image is drawn (``show``) and the default figure title.

    Returns:
        ``fn(images, titles=None, *, ncols=None, cell=1.6, title=None, ax=None, fig=None)``.
    """

    @_base.frame_options
    def plot(
        images: np.ndarray | Sequence[np.ndarray],
        titles: Sequence[str] | None = None,
        *,
        ncols: int | None = None,
        cell: float = 1.6,
        **frame: Any,
    ) -> Figure:
        imgs, titles = prepare(images, titles)
        fig, axes = _base.grid(
            len(imgs), ncols=ncols, cell=cell, extra_width=0.2, fig=frame["fig"], ax=frame["ax"]
        )
        for i, (cell_ax, img) in enumerate(zip(axes, imgs)):
            show(cell_ax, img)
            if titles is not None:
                cell_ax.set_title(plot_text(titles[i]), fontsize=8)
        return _base.finish(fig, None, frame["title"] or default_title(len(imgs)))

    plot.__name__ = plot.__qualname__ = name
    plot.__doc__ = doc
    plot.__module__ = module  # where help() and the docs say it lives
    return plot


def _checked_images(images: Any, titles: Sequence[str] | None) -> tuple[list[np.ndarray], Any]:
    imgs = [np.asarray(i) for i in images]
    if not imgs:
        raise InvalidInputError("image_grid needs at least one image; received none.")
    if any(i.ndim not in (2, 3) for i in imgs):
        raise InvalidInputError(
            "image_grid takes images (N, H, W[, C]) or a list of (H, W[, C]) arrays; received "
            f"items of shapes {[i.shape for i in imgs[:4]]}."
        )
    return imgs, titles


def _show_scaled(ax: Axes, img: np.ndarray) -> None:
    shown, cmap = _base.as_display_image(img)
    ax.imshow(shown, cmap=cmap, interpolation="nearest")


image_grid = grid_plot(
    "image_grid",
    _checked_images,
    _show_scaled,
    lambda n: None,
    doc="""Show images in a grid, each min-max scaled (grayscale for one channel, RGB for three).

    Args:
        images: ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)``, or a list of such images.
        titles: one title per image (e.g. labels or scores).
        ncols: grid columns (default: near-square).
        title: figure title.
        cell: size of one image in inches.
        ax: draw into the grid cell of these axes (a subfigure takes its place).
        fig: draw into this Figure or SubFigure instead of a new figure.

    Example:
        >>> nv.plot.image_grid(x[:8], titles=[str(t) for t in y[:8]])
    """,
)
