"""Activations during training: feature-map grids, sequence heatmaps, recurrent states."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..activations import get_rnn_states
from ..core import graph
from ..core.compiled import collect_layers
from ..core.loop import fixed_batches
from ..core.model import default_activation_layers, is_recurrent
from ..io import ImageItem
from . import _frames
from ._base import Later, VisualizationCallback
from ._inputs import one_sample, resolve_layers
from ._recorder import recording_pass

__all__ = [
    "ActivationMaps",
]


class ActivationMaps(VisualizationCallback):
    """Feature maps of one fixed sample every snapshot.

    Convolutions: the channels tiled on one colour scale (sequential for ReLU outputs,
    zero-centred diverging otherwise). 1-D convolutions and sequences: a channels × time heatmap.
    Recurrent layers: the hidden state at every time step (``nv.get_rnn_states``; units × time),
    also for ``return_sequences=False``. Dense layers: a strip of units.

    Args:
        log_dir: output folder.
        x: inputs (numpy, tensors, list/dict for multi-input models, or a dataset); the sample
            ``x[sample]`` is shown every time.
        layers: layer references, or None for the package's one default
            (:func:`keras_nnviz.core.model.default_activation_layers`: up to four layers with
            spatial / sequence output or recurrent, spread over the depth of the model — the
            layers the report and the CLI show too).
        every: ``"auto"`` (default: when the fit's shared budget allows), epochs (int) or
            ``"batch:N"``.
        sample: which sample of ``x`` to show.
        max_channels: channels tiled per frame.
        **options: see :class:`VisualizationCallback`.

    Example:
        >>> cb = nv.callbacks.ActivationMaps("logs", x=x_val[:1], layers=["conv1", "conv2"])
    """

    folder = "activation_maps"
    title = "Activation maps"

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        x: Any,
        layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
        every: int | str = "auto",
        sample: int = 0,
        max_channels: int = 16,
        **options: Any,
    ):
        super().__init__(log_dir, every=every, **options)
        self.x = x
        self.layers = layers
        self.sample = int(sample)
        self.max_channels = int(max_channels)

    def manifest_params(self):
        return {
            "layers": self._plain + self._recurrent,
            "sample": self.sample,
            "max_channels": self.max_channels,
        }

    def _layers(self, model) -> tuple[list[str], list[str]]:
        """All layers shown, and the recurrent ones among them."""
        paths = resolve_layers(model, self.layers) or default_activation_layers(model)
        return paths, [p for p in paths if is_recurrent(graph.find_layer(model, p))]

    def recorded_layers(self, model) -> list[str]:
        """The layers whose outputs the fit's shared recording pass reads for this callback."""
        paths, recurrent = self._layers(model)
        return [p for p in paths if p not in recurrent]

    def validate(self, model):
        self._x = one_sample(model, self.x, self.sample)
        self._order, self._recurrent = self._layers(model)
        self._plain = [p for p in self._order if p not in self._recurrent]
        self._probe = recording_pass(self, model, self._plain, 1) if self._plain else None
        self._batches = fixed_batches(model, self._x, 1)

    def compute(self, model):
        # Recurrent states: a small synchronous pass. Other layers: freeze the weights now, run
        # the forward pass on the writer thread.
        states = {p: get_rnn_states(model, self._x, p)[0] for p in self._recurrent}
        if self._probe is None:
            return states
        values, probe, batches = self._probe.snapshot(), self._probe, self._batches

        def finish():
            acts = {p: a[0] for p, a in collect_layers(probe, batches, values).items()}
            return {p: acts[p] if p in acts else states[p] for p in self._order}

        return Later(finish)

    def render(self, result, when):
        for path, act in result.items():
            title = f"{path} · {when.label}"
            if path in self._recurrent:
                pixels = _frames.matrix_frame(act.T, title + " (units x time)")
                what = f"hidden states {act.shape[1]} units × {act.shape[0]} steps"
            else:
                pixels = _frames.feature_frame(act, title, self.max_channels)
                what = f"output {tuple(act.shape)}"
            yield ImageItem(path, pixels=pixels, caption=f"{path}: {what} of sample {self.sample}")
