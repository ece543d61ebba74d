"""Attention during training: every head's attention matrix of one fixed sample, per layer."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..attention import attention_pass, attention_paths, in_call_order
from ..core import graph
from ..core.loop import fixed_batches
from ..errors import InvalidInputError
from ..io import ImageItem
from . import _frames
from ._base import Later, VisualizationCallback
from ._inputs import one_sample

__all__ = [
    "AttentionMaps",
]


def _one_sample_tokens(tokens: Any, sample: int) -> list[str] | None:
    if tokens is None:
        return None
    arr = np.asarray(tokens, dtype=object)
    if arr.ndim == 2:  # one row of tokens per sample
        arr = arr[sample]
    if arr.ndim != 1:
        raise InvalidInputError(
            f"tokens must be a list of strings (one per position) or an (N, T) array of them; "
            f"received shape {np.shape(tokens)}."
        )
    return [str(t) for t in arr.tolist()]


class AttentionMaps(VisualizationCallback):
    """The attention weights of one fixed sample: a frame per attention layer, heads side by side.

    Uses :func:`keras_nnviz.get_attention` (any ``MultiHeadAttention``/``Attention`` layer, also
    inside custom layers and nested models; one compiled pass, reused every epoch). Each frame
    tiles the layer's heads (queries as rows, keys as columns) on one 0 … max colour scale; at
    train end an annotated layer × head grid with the tokens (``attention_maps/model_view/
    summary.png``).

    Args:
        log_dir: output folder.
        x: inputs; the sample ``x[sample]`` is shown.
        layers: attention layer references, or None for every attention layer.
        tokens: labels of the positions (a list), or an ``(N, T)`` array with a row per sample
            of ``x``; written on both axes of every frame (up to 64 tokens) and of the
            train-end figure.
        every: ``"auto"`` (default: when the fit's shared budget allows), epochs (int) or
            ``"batch:N"``.
        sample: which sample of ``x`` to show.
        max_heads: heads shown per layer.
        **options: see :class:`VisualizationCallback`.

    Example:
        >>> cb = nv.callbacks.AttentionMaps("logs", x=x_val[:1], tokens=words)
    """

    folder = "attention_maps"
    title = "Attention maps"

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        x: Any,
        layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
        tokens: Any = None,
        every: int | str = "auto",
        sample: int = 0,
        max_heads: int = 8,
        **options: Any,
    ):
        super().__init__(log_dir, every=every, **options)
        self.x = x
        self.layers = layers
        self.tokens = tokens
        self.sample = int(sample)
        self.max_heads = int(max_heads)

    def manifest_params(self):
        return {"layers": self._paths, "sample": self.sample, "tokens": self._tokens}

    def validate(self, model):
        self._x = one_sample(model, self.x, self.sample)
        self._paths = attention_paths(model, self.layers)  # errors name the fix
        self._tokens = _one_sample_tokens(self.tokens, self.sample)
        self._last: dict[str, np.ndarray] | None = None
        # A pass on frozen weights: the training thread only snapshots them (~1 ms).
        self._pass = attention_pass(model, self._paths, weights="snapshot")
        self._batches = fixed_batches(model, self._x, 1)
        self._checked = False

    def compute(self, model):
        values, compiled, batches = self._pass.snapshot(), self._pass, self._batches

        def finish():
            return {k: a[0] for k, a in in_call_order(compiled(batches[0], values=values)).items()}

        if not self._checked:  # the first compute traces (and raises) before training starts
            self._checked = True
            return finish()
        return Later(finish)

    def render(self, result, when):
        self._last = result
        for path, heads in result.items():
            tq, tk = heads.shape[1:]
            pixels = _frames.attention_frame(
                heads, f"{path} · {when.label}", tokens=self._tokens, max_heads=self.max_heads
            )
            yield ImageItem(
                path,
                pixels=pixels,
                caption=f"{path}: {len(heads)} heads, {tq} queries (rows) × {tk} keys (columns)",
            )

    def summarize(self):
        if not self._last:
            return
        from ..plot import attention_model_view, to_png

        fig = attention_model_view(
            {p: a[None] for p, a in self._last.items()},
            tokens=self._tokens,
            max_heads=self.max_heads,
            title="Attention at the end of training",
        )
        yield ImageItem(
            "model_view",
            png=to_png(fig, dpi=80),
            caption="every layer (rows) and head (columns) at the end of training, on one colour "
            "scale",
            kind="summary",
        )
