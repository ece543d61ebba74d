"""Shared figure plumbing for plot functions: numpy in, ``matplotlib.figure.Figure`` out.

Figures are created without ``pyplot``: no global state, no GUI backend, nothing shown, safe in
threads and on headless machines. They are :class:`Figure` (a ``matplotlib.figure.Figure`` with a
``_repr_png_``), so Jupyter and Colab display a returned figure inline by themselves, without
``%matplotlib inline`` and without changing the user's backend.

Where a plot draws is decided in one place, :func:`target`: a new figure, the user's axes
(``ax=``), or the user's figure or subfigure (``fig=``), for single- and multi-panel plots alike.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import figure as _mpl_figure
from matplotlib.axes import Axes
from matplotlib.figure import FigureBase

from .. import validation
from .._text import plot_text
from ..errors import InvalidInputError

DIVERGING = "RdBu_r"
SEQUENTIAL = "viridis"
HEAT = "turbo"


# Where a plot draws and its title, declared once as (name, default, annotation): every public
# plot function takes them keyword-only and last, through :func:`frame_options`.
FRAME_OPTIONS = (
    ("title", None, "str | None"),
    ("ax", None, "Axes | None"),
    ("fig", None, "FigureBase | None"),
)

# title: the figure or axes title (None: the plot's own default title, if it has one); ax: draw
# into these axes (a multi-panel plot takes their grid cell as a subfigure); fig: draw into this
# Figure or SubFigure. A plot reads them from its ``**frame``: ``target(frame["fig"],
# frame["ax"], size)`` ... ``finish(fig, ax, frame["title"] or default)``.
frame_options = validation.keyword_options(FRAME_OPTIONS, "frame options")


class Figure(_mpl_figure.Figure):
    """A ``matplotlib.figure.Figure`` that Jupyter shows inline by itself.

    Without ``pyplot`` no backend registers a display hook for figures, so a fresh kernel would
    print ``<Figure size ...>``. ``_repr_png_`` renders with Agg on request; with
    ``%matplotlib inline`` active, IPython's own formatter for figures takes precedence (same
    picture, no duplicate). Nothing global changes on import.
    """

    def _repr_png_(self) -> bytes:
        return to_png(self, dpi=int(self.dpi))


def root_figure(container: FigureBase) -> _mpl_figure.Figure:
    """The top-level Figure of a figure or subfigure (what plot functions return)."""
    try:
        return container.get_figure(root=True)
    except TypeError:  # matplotlib < 3.10
        return container.figure


def target(
    fig: FigureBase | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (5, 4),
    panels: bool = True,
) -> tuple[FigureBase, Axes | None]:
    """Decide where a plot draws: a new figure, the user's axes, or the user's (sub)figure.

    Args:
        fig: a ``Figure`` or ``SubFigure`` to draw into (e.g. one of ``fig.subfigures(1, 2)``).
        ax: an axes to draw into. A multi-panel plot (``panels=True``) replaces it by a
            subfigure in the same grid cell and draws its panels there.
        figsize: size of a new figure, in inches.
        panels: the caller draws several axes (True) or one (False).

    Returns:
        ``(container, axes)``: ``axes`` is set for single-panel plots (the user's, or a new one),
        None for multi-panel plots, which add their axes to ``container``.

    Raises:
        InvalidArgumentError: both ``fig`` and ``ax``, or an ``ax`` not placed on a grid.
    """
    from ..errors import InvalidArgumentError

    if fig is not None and ax is not None:
        raise InvalidArgumentError(
            "Pass either ax= (draw into these axes) or fig= (a Figure or SubFigure), not both."
        )
    if fig is not None and not isinstance(fig, FigureBase):
        raise InvalidArgumentError(
            f"fig= must be a matplotlib Figure or SubFigure; received {type(fig).__name__}."
        )
    if ax is not None:
        if not isinstance(ax, Axes):
            raise InvalidArgumentError(
                f"ax= must be a matplotlib Axes; received {type(ax).__name__}."
            )
        if not panels:
            return ax.figure, ax
        spec = ax.get_subplotspec()
        if spec is None:
            raise InvalidArgumentError(
                "This plot has several panels: ax= must sit on a grid (fig.subplots, "
                "add_subplot, GridSpec) so a subfigure can take its place; or pass fig= with a "
                "SubFigure (fig.subfigures)."
            )
        parent = ax.figure
        ax.remove()
        return parent.add_subfigure(spec), None
    container = fig if fig is not None else Figure(figsize=figsize, layout="constrained")
    return container, None if panels else container.add_subplot(1, 1, 1)


def new_axes(
    ax: Axes | None = None, figsize: tuple[float, float] = (5, 4), fig: FigureBase | None = None
) -> tuple[FigureBase, Axes]:
    """Return ``(figure, axes)``: the caller's axes, one new axes in the caller's (sub)figure,
    or a new one-axes figure."""
    return target(fig, ax, figsize, panels=False)


def grid(
    n: int,
    ncols: int | None = None,
    cell: float = 1.6,
    max_cols: int = 8,
    extra_width: float = 0.8,
    fig: FigureBase | None = None,
    ax: Axes | None = None,
) -> tuple[FigureBase, list[Axes]]:
    """``n`` small axes in a near-square grid (ticks off) in a new figure or the caller's
    (see :func:`target`); returns the container and the used axes."""
    n = max(int(n), 1)
    ncols = ncols or min(max_cols, math.ceil(math.sqrt(n)))
    nrows = math.ceil(n / ncols)
    fig, _ = target(fig, ax, (ncols * cell + extra_width, nrows * cell + 0.6))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def channels_shown(shown: int, total: int) -> str:
    """Which channels a view shows, e.g. ``"channels 0-15 of 64"`` or ``"all 8 channels"``."""
    if shown >= total:
        return f"all {total} channel{'s' if total != 1 else ''}"
    return f"channels 0-{shown - 1} of {total}" if shown > 1 else f"channel 0 of {total}"


def symmetric_limits(values: np.ndarray) -> tuple[float, float]:
    """(-m, m) with m the largest magnitude, so a diverging colormap centres on zero."""
    finite = np.asarray(values)[np.isfinite(values)]
    m = float(np.max(np.abs(finite))) if finite.size else 1.0
    m = m if m > 0 else 1.0
    return -m, m


def auto_cmap(values: np.ndarray) -> tuple[str, float, float]:
    """Diverging, zero-centred colormap for signed data; sequential for non-negative data."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() < 0:
        lo, hi = symmetric_limits(finite)
        return DIVERGING, lo, hi
    hi = float(finite.max()) if finite.size else 1.0
    return SEQUENTIAL, 0.0, hi if hi > 0 else 1.0


def to_unit(image: np.ndarray) -> np.ndarray:
    """Scale an image to [0, 1] for display (min-max; constant images become 0)."""
    img = np.asarray(image, dtype=np.float64)
    lo, hi = np.nanmin(img), np.nanmax(img)
    return np.zeros_like(img) if hi - lo < 1e-12 else (img - lo) / (hi - lo)


def as_display_image(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    """(image for imshow, cmap): squeeze a single channel to gray, keep RGB, scale to [0, 1]."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 3 and img.shape[-1] not in (3, 4):
        img = img.mean(axis=-1)
    if img.ndim == 2:
        return to_unit(img), "gray"
    return to_unit(img), None


def mosaic(
    tiles: Sequence[np.ndarray] | np.ndarray,
    ncols: int | None = None,
    pad: int = 1,
    pad_value: float = 0.0,
) -> np.ndarray:
    """Tile equally shaped 2-D (or H×W×C) arrays into one array, row-major.

    Cheap frames for training-time callbacks: one array, one ``imshow`` or one PNG write, instead
    of a figure with dozens of axes.
    """
    tiles = [np.asarray(t) for t in tiles]
    if not tiles:
        raise InvalidInputError("mosaic needs at least one tile; received an empty list.")
    n = len(tiles)
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    h, w = tiles[0].shape[:2]
    rest = tiles[0].shape[2:]
    out = np.full(
        (nrows * h + (nrows - 1) * pad, ncols * w + (ncols - 1) * pad, *rest),
        pad_value,
        dtype=np.result_type(*[t.dtype for t in tiles], np.float32),
    )
    for i, tile in enumerate(tiles):
        r, c = divmod(i, ncols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = tile
    return out


def width_inches(container: FigureBase) -> float:
    """Width of a figure or subfigure in inches (a subfigure knows its size only from its box)."""
    if isinstance(container, _mpl_figure.Figure):
        return float(container.get_figwidth())
    root = root_figure(container)
    return float(container.bbox.width / root.dpi) if container.bbox.width else root.get_figwidth()


def wrap(text: str, width_in: float, char_in: float = 0.1) -> str:
    """Wrap ``text`` to ``width_in`` inches (about ``char_in`` inches per character), so a
    title never runs past the edges and gets clipped."""
    width = max(12, int(width_in / char_in))
    return textwrap.fill(text, width) if len(text) > width else text


def short_label(path: str, max_chars: int = 32) -> str:
    """A layer path cut to ``max_chars`` from the front, keeping its distinguishing end
    (``"…/block_3/conv"``, not ``"functional/mobilenet…"``): siblings differ in their last parts.

    Whole path segments are kept where they fit; a last segment longer than the room is cut
    from its start too.
    """
    path = str(path)
    if len(path) <= max_chars:
        return path
    parts = path.split("/")
    kept = parts[-1]
    for part in reversed(parts[:-1]):
        if len(part) + 1 + len(kept) + 2 > max_chars:
            break
        kept = f"{part}/{kept}"
    if len(kept) + 2 > max_chars:
        return "…" + kept[-(max_chars - 1) :]
    return "…/" + kept


def short_labels(paths: Sequence[str], max_chars: int = 32) -> list[str]:
    """Labels for a set of layer paths that keep what tells them apart: path segments every path
    shares at the start or the end are replaced by ``…`` (``bert_backbone/transformer_layer_0/
    self_attention_layer/attention_softmax`` → ``…/transformer_layer_0/…``), then each label is
    cut with :func:`short_label`. Paths that all fit stay whole; a single path is only cut."""
    paths = [str(p) for p in paths]
    if all(len(p) <= max_chars for p in paths):
        return paths
    if len(paths) < 2 or len(set(paths)) < len(paths):
        return [short_label(p, max_chars) for p in paths]
    segs = [p.split("/") for p in paths]
    shortest = min(len(s) for s in segs)
    head = 0
    while head < shortest - 1 and len({s[head] for s in segs}) == 1:
        head += 1
    tail = 0
    while tail < shortest - 1 - head and len({s[-1 - tail] for s in segs}) == 1:
        tail += 1
    labels = []
    for s in segs:
        middle = "/".join(s[head : len(s) - tail])
        label = ("…/" if head else "") + middle + ("/…" if tail else "")
        labels.append(label if len(label) <= max_chars else short_label(middle, max_chars))
    return labels


def text_width(labels: Sequence[str], fontsize: float) -> float:
    """Inches the longest label takes at ``fontsize`` points (about 0.6 em per character for the
    default sans-serif font), for room measured from the text instead of a fixed column."""
    longest = max((len(str(label)) for label in labels), default=0)
    return 0.6 * fontsize / 72 * longest


def finish(fig: FigureBase, ax: Axes | None, title: str | None) -> _mpl_figure.Figure:
    """Apply a title (to the axes when there is one, else the (sub)figure) and return the
    top-level figure."""
    if title:
        if ax is not None:
            width = ax.get_position().width * width_inches(fig)
            ax.set_title(plot_text(wrap(title, max(width, 1.2), 0.085)))
        else:
            fig.suptitle(plot_text(wrap(title, width_inches(fig))))
    return root_figure(fig)


def to_png(fig: _mpl_figure.Figure, dpi: int = 100) -> bytes:
    """Render a figure to PNG bytes with the Agg renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save(fig: _mpl_figure.Figure, path: str | Path, dpi: int = 100) -> Path:
    """Write a figure to ``path`` (format from the suffix; PNG by default)."""
    from matplotlib.figure import Figure as _Figure

    from ..errors import InvalidArgumentError

    if not isinstance(fig, _Figure):
        raise InvalidArgumentError(
            f"save takes a matplotlib Figure (as every nv.plot function returns); received "
            f"{type(fig).__name__}."
        )
    path = Path(path)
    if path.is_dir():  # "/tmp" must not become "/tmp.png" next to the folder
        raise InvalidArgumentError(
            f"{str(path)!r} is a folder; pass a file path inside it, e.g. "
            f"{str(path / 'fig.png')!r}."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in ("", ".png"):
        path = path.with_suffix(".png")
        path.write_bytes(to_png(fig, dpi=dpi))
    else:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
        fig.savefig(path, dpi=dpi)
    return path


def check_ndim(name: str, array: Any, allowed: Sequence[int]) -> np.ndarray:
    """Return ``array`` as numpy, or raise a clear ValueError naming the accepted ranks."""
    arr = np.asarray(array)
    if arr.ndim not in allowed:
        from ..errors import InvalidInputError

        raise InvalidInputError(
            f"{name} expects an array of rank {' or '.join(map(str, allowed))}; received shape "
            f"{arr.shape}."
        )
    if arr.size == 0:
        from ..errors import InvalidInputError

        raise InvalidInputError(f"{name} received an empty array (shape {arr.shape}).")
    return arr
