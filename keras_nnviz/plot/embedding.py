"""2-D / 3-D embedding scatter plots coloured by label."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .. import validation
from .._text import plot_text
from . import _base

__all__ = [
    "embedding",
]


@_base.frame_options
def embedding(
    points: np.ndarray,
    labels: Sequence | np.ndarray | None = None,
    *,
    class_names: Sequence[str] | None = None,
    point_size: float = 10.0,
    **frame: Any,
) -> Figure:
    """Scatter of projected points, coloured by label.

    Args:
        points: ``(N, 2)`` or ``(N, 3)`` (e.g. from :func:`~keras_nnviz.project`).
        labels: ``(N,)`` class ids or names (a legend), or floats (a colorbar); None = one colour.
        class_names: names for integer class ids.
        ax: draw into these axes (2-D only).
        title: axes title.
        point_size: marker area.
        fig: draw into this Figure or SubFigure (one new axes) instead of a new figure.

    Example:
        >>> xy = nv.project(nv.get_activation(model, x, "dense"), method="pca")
        >>> nv.plot.embedding(xy, labels=y, class_names=data.class_names)
    """
    p = _base.check_ndim("embedding", points, (2,)).astype(np.float64)
    if p.shape[1] not in (2, 3):
        from ..errors import InvalidInputError

        raise InvalidInputError(
            f"embedding expects points of shape (N, 2) or (N, 3); received {p.shape}. Project "
            "first with nv.project(array, n_components=2)."
        )
    validation.same_length("labels", labels, len(p), "points")
    three_d = p.shape[1] == 3
    if three_d:
        if frame["ax"] is not None:
            from ..errors import InvalidArgumentError

            raise InvalidArgumentError(
                "3-D points need their own 3-D axes: pass fig= (a Figure or SubFigure) instead "
                "of ax=."
            )
        fig, _ = _base.target(frame["fig"], None, (6, 5))
        ax = fig.add_subplot(1, 1, 1, projection="3d")
    else:
        fig, ax = _base.new_axes(frame["ax"], (6, 5), frame["fig"])
    coords = [p[:, i] for i in range(p.shape[1])]
    if labels is None:
        ax.scatter(*coords, s=point_size, color="#3b75af", alpha=0.8)
    else:
        lab = np.asarray(labels)
        if lab.dtype.kind == "f" and len(np.unique(lab)) > 20:
            sc = ax.scatter(*coords, c=lab, s=point_size, cmap=_base.SEQUENTIAL, alpha=0.85)
            fig.colorbar(sc, ax=ax, label="value")
        else:
            classes = np.unique(lab).tolist()
            from matplotlib import colormaps

            cmap = colormaps["tab10" if len(classes) <= 10 else "tab20"]
            for i, cls in enumerate(classes):
                sel = lab == cls
                name = (
                    class_names[int(cls)]
                    if class_names is not None and isinstance(cls, int | np.integer)
                    else str(cls)
                )
                ax.scatter(
                    *[c[sel] for c in coords],
                    s=point_size,
                    color=cmap(i % cmap.N),
                    alpha=0.85,
                    label=plot_text(name),
                )
            ax.legend(
                fontsize=8,
                markerscale=1.5,
                loc="best",
                title="class",
                ncols=2 if len(classes) > 10 else 1,
            )
    ax.set_xlabel("component 1")
    ax.set_ylabel("component 2")
    if three_d:
        ax.set_zlabel("component 3")
    return _base.finish(fig, ax, frame["title"] or "embedding")
