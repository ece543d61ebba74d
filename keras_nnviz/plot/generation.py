"""Views of generation across modalities: a vision-language token's attribution (image patches
over the image, prompt tokens as a strip, the image / text split) and a speech model's token x
time alignment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .._text import plot_text
from ..errors import InvalidInputError
from . import _base

__all__ = ["audio_text_alignment", "vlm_attribution"]


@_base.frame_options
def vlm_attribution(
    image: Any,
    patches: Any,
    tokens: Sequence[str],
    token_values: Any,
    *,
    image_share: float | None = None,
    generated: str | None = None,
    alpha: float = 0.6,
    **frame: Any,
) -> Figure:
    """One generated token's attribution: the image patches over the image, the prompt tokens
    below as a strip, on one colour scale, and the image / text split.

    Args:
        image: ``(H, W, C)`` or ``(H, W)`` image.
        patches: ``(gh, gw)`` one value per patch (``VLMAttribution.image[i]``).
        tokens: the prompt's token strings (``T`` of them; padding may be left out: only the
            first ``len(tokens)`` values are drawn).
        token_values: ``(T,)`` one value per prompt token (``VLMAttribution.text[i]``).
        image_share: the image's share of the attribution (``VLMAttribution.image_share[i]``),
            drawn as a bar; None: computed from the values shown.
        generated: the explained token's string, for the title.
        alpha: opacity of the patch overlay.
        title: figure title (default: what was explained).
        ax: draw into this axes' grid cell.
        fig: draw into this Figure or SubFigure.

    Returns:
        The figure. Red helped the token, blue worked against it (white: nothing), on one
        scale for patches and tokens, so their sizes compare.

    Example:
        >>> r = nv.vlm_attribution(pali_gemma, images, ids)
        >>> nv.plot.vlm_attribution(images[0], r.image[0], tokens, r.text[0],
        ...                         image_share=r.image_share[0], generated="cat")
    """
    img, cmap_image = _base.as_display_image(_base.check_ndim("image", image, (2, 3)))
    grid = _base.check_ndim("patches", patches, (2,)).astype(np.float64)
    values = _base.check_ndim("token_values", token_values, (1,)).astype(np.float64)
    tokens = [str(t) for t in tokens]
    if len(tokens) > len(values):
        raise InvalidInputError(
            f"{len(tokens)} tokens but {len(values)} token values; pass one value per token."
        )
    values = values[: len(tokens)]
    if image_share is None:
        mass = np.abs(grid).sum() + np.abs(values).sum()
        image_share = float(np.abs(grid).sum() / mass) if mass > 0 else 0.0
    lo, hi = _base.symmetric_limits(np.concatenate([grid.ravel(), values]))
    height, width = img.shape[:2]
    fig, _ = _base.target(frame["fig"], frame["ax"], (5.2, 6.4))
    rows = fig.subplots(3, 1, gridspec_kw={"height_ratios": [8, 1.1, 0.5]}, squeeze=True).tolist()
    ax_img, ax_tok, ax_share = rows
    ax_img.imshow(img, cmap=cmap_image, extent=(0, width, height, 0))
    shown = ax_img.imshow(
        grid, cmap=_base.DIVERGING, vmin=lo, vmax=hi, alpha=alpha, interpolation="nearest",
        extent=(0, width, height, 0),
    )  # fmt: skip
    gh, gw = grid.shape
    for i in range(1, gh):
        ax_img.axhline(i * height / gh, color="white", lw=0.4, alpha=0.5)
    for j in range(1, gw):
        ax_img.axvline(j * width / gw, color="white", lw=0.4, alpha=0.5)
    ax_img.set_xticks([])
    ax_img.set_yticks([])
    ax_img.set_title(f"image patches ({gh}×{gw})", fontsize=9)
    fig.colorbar(shown, ax=[ax_img, ax_tok], shrink=0.7, label="attribution")
    _token_strip(ax_tok, tokens, values, lo, hi)
    _share_bar(ax_share, image_share)
    default = "Attribution of the next token" + (f" {generated!r}" if generated else "")
    return _base.finish(fig, None, frame["title"] or default)


def _token_strip(ax, tokens: list[str], values: np.ndarray, lo: float, hi: float) -> None:
    """The prompt's tokens as boxes coloured on the patches' scale."""
    import matplotlib as mpl

    cmap = mpl.colormaps[_base.DIVERGING]
    norm = mpl.colors.Normalize(lo, hi)
    widths = np.array([max(len(t), 2) + 1.0 for t in tokens])
    left = np.concatenate([[0.0], np.cumsum(widths)[:-1]])
    for x, w, t, v in zip(left, widths, tokens, values):
        ax.add_patch(mpl.patches.Rectangle((x, 0), w - 0.3, 1, color=cmap(norm(v))))
        dark = abs(norm(v) - 0.5) > 0.3  # deep red or blue: white text
        ax.text(
            x + (w - 0.3) / 2, 0.5, plot_text(t), ha="center", va="center", fontsize=8,
            color="white" if dark else "black",
        )  # fmt: skip
    ax.set_xlim(0, max(float(widths.sum()), 1.0))
    ax.set_ylim(0, 1)
    ax.set_axis_off()
    ax.set_title("prompt tokens", fontsize=9)


def _share_bar(ax, image_share: float) -> None:
    """One bar split into the image's and the text's share."""
    share = float(np.clip(image_share, 0.0, 1.0))
    ax.barh([0], [share], color="#d9822b", height=1.0)
    ax.barh([0], [1 - share], left=[share], color="#4a7ab7", height=1.0)
    for x, label in ((share / 2, f"image {share:.0%}"), (share + (1 - share) / 2, None)):
        text = label or f"text {1 - share:.0%}"
        if (share if label else 1 - share) > 0.12:
            ax.text(x, 0, text, ha="center", va="center", fontsize=8, color="white")
    ax.set_xlim(0, 1)
    ax.set_axis_off()


@_base.frame_options
def audio_text_alignment(
    weights: Any,
    tokens: Sequence[str] | None = None,
    *,
    step_seconds: float | None = None,
    **frame: Any,
) -> Figure:
    """A speech model's token × time alignment: each text token's cross-attention over the
    audio, tokens on the y axis, time on the x axis.

    Args:
        weights: ``(T_text, T_audio)``, or ``(..., T_text, T_audio)`` averaged over the leading
            axes (heads, layers): one sample of :func:`keras_nnviz.audio_text_alignment`.
        tokens: the ``T_text`` token strings (default: their positions).
        step_seconds: audio time per encoder step (Whisper 0.02, Moonshine 0.024); None: steps.
        title: figure title.
        ax: draw into these axes.
        fig: draw into this Figure or SubFigure.

    Returns:
        The figure; a monotone diagonal of bright cells is a clean alignment.

    Example:
        >>> a = nv.audio_text_alignment(whisper, x)
        >>> nv.plot.audio_text_alignment(a[0, -1], tokens, step_seconds=0.02)
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim < 2:
        raise InvalidInputError(
            f"weights must be (T_text, T_audio) or (..., T_text, T_audio); received shape "
            f"{w.shape}."
        )
    w = w.reshape((-1,) + w.shape[-2:]).mean(axis=0)
    rows, steps = w.shape
    labels = [str(t) for t in tokens] if tokens is not None else [str(i) for i in range(rows)]
    if len(labels) != rows:
        raise InvalidInputError(f"{len(labels)} tokens for {rows} rows of weights.")
    fig, ax = _base.new_axes(
        frame["ax"],
        (min(max(4.5, 0.12 * steps + 2.5), 12), max(2.5, 0.28 * rows + 1.3)),
        frame["fig"],
    )
    scale = step_seconds or 1.0
    im = ax.imshow(
        w, aspect="auto", cmap=_base.SEQUENTIAL, interpolation="nearest", vmin=0.0,
        extent=(0, steps * scale, rows - 0.5, -0.5),
    )  # fmt: skip
    fig.colorbar(im, ax=ax, label="cross-attention weight")
    ax.set_yticks(range(rows), [plot_text(t) for t in labels], fontsize=8)
    ax.set_xlabel("time (s)" if step_seconds else "audio step")
    ax.set_ylabel("token")
    return _base.finish(fig, ax, frame["title"] or "Token × audio alignment (cross-attention)")
