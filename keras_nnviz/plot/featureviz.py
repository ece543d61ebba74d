"""Feature-visualization views: optimized-image grids, image vs dataset examples, GIFs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._text import plot_text
from . import _base
from .images import grid_plot

__all__ = [
    "backprop_views",
    "optimized_images",
    "optimized_vs_examples",
    "save_gif",
]


def _as_images(images: np.ndarray, name: str) -> np.ndarray:
    """``(K, H, W, C)`` float array from (K, H, W, C), (K, H, W) or one (H, W, C) image."""
    arr = np.asarray(images, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None, ..., None]
    elif arr.ndim == 3:
        # One RGB/gray image (H, W, 1|3|4) or a stack of gray images (K, H, W).
        arr = arr[None] if arr.shape[-1] in (1, 3, 4) else arr[..., None]
    if arr.ndim != 4:
        from ..errors import InvalidInputError

        raise InvalidInputError(
            f"{name} expects images (K, H, W, C), (K, H, W) or one (H, W, C) image; received "
            f"shape {np.shape(images)}."
        )
    return arr


def _show(ax: Axes, image: np.ndarray) -> None:
    """Draw one [0, 1] image as it is (no contrast stretching): gray for 1 channel."""
    img = np.clip(image, 0.0, 1.0)
    small = max(img.shape[:2]) < 64  # keep pixels visible on tiny images (digits are 8×8)
    interpolation = "nearest" if small else "antialiased"
    if img.shape[-1] == 1:
        ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1, interpolation=interpolation)
    elif img.shape[-1] in (3, 4):
        ax.imshow(img, interpolation=interpolation)
    else:
        ax.imshow(img.mean(axis=-1), cmap="gray", vmin=0, vmax=1, interpolation=interpolation)
    ax.set_xticks([])
    ax.set_yticks([])


def _optimized(images: Any, titles: Sequence[str] | None) -> tuple[np.ndarray, Any]:
    arr = _as_images(images, "optimized_images")
    if titles is not None and len(titles) != len(arr):
        from ..errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"optimized_images got {len(arr)} images but {len(titles)} titles; pass one title "
            "per image."
        )
    return arr, titles if titles is not None else [f"#{i}" for i in range(len(arr))]


optimized_images = grid_plot(
    "optimized_images",
    _optimized,
    _show,
    lambda n: f"optimized images ({n})",
    module=__name__,
    doc="""Grid of optimized images, one per unit/class, titled by unit.

    Images are shown as they are in [0, 1] (no per-image contrast stretching), so brightness is
    comparable across units.

    Args:
        images: ``(K, H, W, C)`` in [0, 1] from :func:`keras_nnviz.maximize_activation`.
        titles: one label per image, e.g. ``[str(obj) for obj in objectives]``; default
            ``"#0" ... "#K-1"``.
        ncols: grid columns.
        title: figure title.
        cell: inches per image.
        ax: draw into the grid cell of these axes (a subfigure takes its place).
        fig: draw into this Figure or SubFigure instead of a new figure.

    Returns:
        The figure.

    Example:
        >>> objs = [nv.objectives.channel("conv2", k) for k in range(8)]
        >>> images = nv.maximize_activation(model, objs).images
        >>> nv.plot.optimized_images(images, [str(o) for o in objs])
    """,
)


@_base.frame_options
def optimized_vs_examples(
    optimized: np.ndarray,
    examples: np.ndarray,
    values: Sequence[float] | None = None,
    *,
    optimized_value: float | None = None,
    ncols: int | None = None,
    **frame: Any,
) -> Figure:
    """The optimized image of one unit beside its top-activating dataset examples.

    Args:
        optimized: the optimized image ``(H, W, C)`` (or ``(1, H, W, C)``) in [0, 1].
        examples: the dataset examples ``(n, H', W', C)``, strongest first (e.g.
            ``nv.top_examples(...).images``); shown with the same [0, 1] scale when they lie in
            [0, 1], else min-max scaled.
        values: the unit's activation for each example (shown under each).
        optimized_value: the unit's activation for the optimized image.
        title: figure title, e.g. ``"conv2 ch 5"``.
        ncols: columns of the examples grid.
        ax: draw into the grid cell of these axes (a subfigure takes its place).
        fig: draw into this Figure or SubFigure instead of a new figure.

    Returns:
        The figure.

    Example:
        >>> top = nv.top_examples(model, x, "conv2", 5)
        >>> nv.plot.optimized_vs_examples(image, top.images, top.values, title="conv2 ch 5")
    """
    opt = _as_images(optimized, "optimized_vs_examples")[0]
    ex = _as_images(examples, "optimized_vs_examples")
    if ex.min() < 0 or ex.max() > 1:
        ex = np.stack([_base.to_unit(e) for e in ex])
    n = len(ex)
    ncols = ncols or min(4, math.ceil(math.sqrt(n)) if n > 4 else n)
    nrows = math.ceil(n / ncols)
    height = max(2.6, 1.5 * nrows + 0.6)
    fig, _ = _base.target(frame["fig"], frame["ax"], (height + 1.5 * ncols + 0.4, height))
    left, right = fig.subfigures(1, 2, width_ratios=[height, 1.5 * ncols], wspace=0.04)
    ax = left.add_subplot(1, 1, 1)
    _show(ax, opt)
    label = "optimized image"
    if optimized_value is not None:
        label += f"\nactivation {optimized_value:.3g}"
    ax.set_title(plot_text(label), fontsize=9)
    axes = right.subplots(nrows, ncols, squeeze=False).ravel()
    for i, a in enumerate(axes):
        if i >= n:
            a.set_visible(False)
            continue
        _show(a, ex[i])
        a.set_title(f"{values[i]:.3g}" if values is not None else f"#{i + 1}", fontsize=8)
    right.suptitle("top dataset examples" + (" (activation)" if values is not None else ""), size=9)
    return _base.finish(fig, None, frame["title"])


def save_gif(
    frames: np.ndarray,
    path: str | Path,
    duration: int = 80,
    min_size: int = 192,
    ncols: int | None = None,
    loop: int = 0,
) -> Path:
    """Write optimization snapshots as an animated GIF (Pillow).

    Args:
        frames: ``(F, H, W, C)`` one image per frame, or ``(F, K, H, W, C)`` several images per
            frame (tiled into one mosaic), in [0, 1] — e.g. ``history.frames`` from
            ``maximize_activation(..., return_history=True)``.
        path: output file (``.gif`` is added when missing).
        duration: milliseconds per frame.
        min_size: small images are enlarged (nearest neighbour, whole factors) until the
            shorter side reaches this many pixels.
        ncols: mosaic columns when each frame holds several images.
        loop: GIF loop count (0 = forever).

    Returns:
        The path written.

    Example:
        >>> result = nv.maximize_activation(model, obj, history=True)
        >>> nv.plot.save_gif(result.frames, "conv2_ch5.gif")
    """
    from PIL import Image

    arr = np.asarray(frames, dtype=np.float64)
    if arr.ndim == 4:
        arr = arr[:, None]
    if arr.ndim != 5 or len(arr) == 0:
        from ..errors import InvalidInputError

        raise InvalidInputError(
            f"save_gif expects frames (F, H, W, C) or (F, K, H, W, C); received shape "
            f"{np.shape(frames)}."
        )
    tiles = [_base.mosaic(list(np.clip(f, 0, 1)), ncols=ncols, pad=1, pad_value=1.0) for f in arr]
    scale = max(1, math.ceil(min_size / min(tiles[0].shape[:2])))
    images = []
    for tile in tiles:
        u8 = (tile * 255).round().astype(np.uint8)
        if u8.shape[-1] == 1:
            u8 = u8[..., 0]
        u8 = np.repeat(np.repeat(u8, scale, axis=0), scale, axis=1)
        images.append(Image.fromarray(u8).convert("RGB"))
    path = Path(path)
    if path.suffix.lower() != ".gif":
        path = path.with_suffix(".gif")
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(
        path, save_all=True, append_images=images[1:], duration=int(duration), loop=int(loop)
    )
    return path


def _deprocess(view: np.ndarray) -> np.ndarray:
    """Signed RGB gradient -> displayable RGB: centred on grey, 3 std to the edges."""
    v = view - view.mean()
    std = v.std()
    return np.clip(0.5 + v / (6 * std if std > 0 else 1.0), 0, 1)


@_base.frame_options
def backprop_views(
    inputs: np.ndarray,
    views: np.ndarray | dict[str, np.ndarray],
    *,
    max_rows: int = 6,
    **frame: Any,
) -> Figure:
    """Inputs beside their deconvnet / guided-backprop views, one row per input.

    Grayscale (1-channel) views use a diverging, zero-centred colormap (red: increasing the
    pixel drives the unit, blue: decreasing it); RGB views are shown as colour images centred
    on grey (3 standard deviations to the extremes), as in the guided-backprop paper.

    Args:
        inputs: ``(N, H, W, C)`` the images explained.
        views: ``(N, H, W, C)`` signed maps, or ``{"guided": ..., "deconv": ...}``.
        max_rows: show the first inputs only.
        title: figure title (e.g. the unit).
        ax: draw into the grid cell of these axes (a subfigure takes its place).
        fig: draw into this Figure or SubFigure instead of a new figure.

    Returns:
        The figure.

    Example:
        >>> obj = nv.objectives.channel("conv2", 5, reduce="max")
        >>> views = {"guided": nv.guided_view(model, x, obj)}
        >>> views["deconv"] = nv.deconv_view(model, x, obj)
        >>> nv.plot.backprop_views(x, views, title=str(obj))
    """
    x = _as_images(inputs, "backprop_views")
    named = dict(views) if isinstance(views, dict) else {"view": views}
    maps = {k: _as_images(v, "backprop_views") for k, v in named.items()}
    for k, v in maps.items():
        if v.shape[:3] != x.shape[:3]:
            from ..errors import InvalidInputError

            raise InvalidInputError(
                f"backprop_views: view {k!r} has shape {v.shape}, inputs {x.shape}; pass one "
                "map per input, same height and width."
            )
    rows = min(len(x), max_rows)
    cols = 1 + len(maps)
    fig, _ = _base.target(frame["fig"], frame["ax"], (1.8 * cols + 0.4, 1.8 * rows + 0.6))
    axes = fig.subplots(rows, cols, squeeze=False)
    for r in range(rows):
        show = x[r] if x[r].min() >= 0 and x[r].max() <= 1 else _base.to_unit(x[r])
        _show(axes[r, 0], show)
        if r == 0:
            axes[r, 0].set_title("input", fontsize=9)
        for c, (name, v) in enumerate(maps.items(), start=1):
            ax = axes[r, c]
            if v.shape[-1] == 3:
                ax.imshow(_deprocess(v[r]), interpolation="nearest")
            else:
                signed = v[r].sum(axis=-1)
                lo, hi = _base.symmetric_limits(signed)
                ax.imshow(signed, cmap=_base.DIVERGING, vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(plot_text(name), fontsize=9)
    return _base.finish(fig, None, frame["title"])
