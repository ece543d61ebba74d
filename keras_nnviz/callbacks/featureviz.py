"""Feature visualization during training: what chosen units respond to, as the network learns."""

from __future__ import annotations

import inspect
import os
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from ..featureviz import maximize_activation
from ..io import ImageItem
from ..objectives import as_objectives
from . import _draw
from ._base import VisualizationCallback

__all__ = [
    "FeatureVisualization",
]


class FeatureVisualization(VisualizationCallback):
    """Activation maximization of fixed objectives, warm-started from snapshot to snapshot.

    Runs :func:`keras_nnviz.maximize_activation` (compiled once per model and settings, reused
    every time) with a fixed seed, so the random start and transforms are the same each time and
    the frames differ only because the model learned. It runs on the training thread — it is an
    optimization of its own (``steps`` forward and backward passes of one image per objective) —
    so it is the callback the fit's budget thins out most (``every="auto"``). With warm starts
    (the default) the snapshot before training runs ``warm_steps`` (a quarter of ``steps``:
    the untrained units respond to noise, the picture only anchors what follows), each later
    one starts from the previous snapshot's images and runs ``warm_steps`` too (the units
    change a little from epoch to epoch, so the images follow them in far fewer steps), and the
    final state — the picture that stays — runs the full ``steps`` (default 128; Lucid uses
    512) from the last images.

    Args:
        log_dir: output folder.
        objectives: an objective or a list (``nv.objectives.channel("conv2", 3)``, ``class_logit``,
            combinations); one image each, tiled in one frame (``feature_visualization/images``).
        steps: optimization steps of the final snapshot (and of every snapshot with
            ``warm=False``).
        every: ``"auto"`` (default: when the fit's shared budget allows, warm-started from
            the previous snapshot's images), epochs (int) or ``"batch:N"``.
        size: optimized image size (default: the model's input size).
        seed: seed of the start image and the transforms (the same every snapshot).
        warm_steps: steps of the snapshot before training and of those between it and the
            final one, which start from the previous snapshot's images (a warm start: the
            units changed a little since); default ``steps // 4``.
        warm: warm-start each snapshot from the previous one (default True); False: every
            snapshot starts from the seed's noise and runs ``steps``.
        **options: more :func:`keras_nnviz.maximize_activation` arguments (``param``,
            ``transforms``, ``decorrelate``, ``value_range`` ...) and those of
            :class:`VisualizationCallback` (``sinks``, ``on_error``, ``initial``, ``name`` ...);
            an unknown keyword fails at construction.

    Example:
        >>> objs = [nv.objectives.channel("conv2", k) for k in range(8)]
        >>> cb = nv.callbacks.FeatureVisualization("logs", objectives=objs, steps=128, every=5)
    """

    folder = "feature_visualization"
    title = "Feature visualization"
    #: maximize_activation arguments the callback sets itself.
    _RESERVED = ("progress", "history", "n", "model", "init")

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        objectives: Any,
        steps: int = 128,
        every: int | str = "auto",
        size: int | tuple[int, int] | None = None,
        seed: int = 0,
        warm_steps: int | None = None,
        warm: bool = True,
        **options: Any,
    ):
        base = {k: options.pop(k) for k in VisualizationCallback.option_names({}) if k in options}
        super().__init__(log_dir, every=every, **base)
        self.objectives = as_objectives(objectives)
        self.steps = int(steps)
        self.size = size
        self.seed = int(seed)
        self.warm = bool(warm)
        self.warm_steps = max(1, self.steps // 4) if warm_steps is None else int(warm_steps)
        self.options = options
        self._labels = [str(o) for o in self.objectives]

    @classmethod
    def option_names(cls, given):
        for reserved in cls._RESERVED:
            if reserved in given:
                raise InvalidArgumentError(
                    f"FeatureVisualization sets {reserved!r} itself; remove it from the arguments."
                )
        params = inspect.signature(maximize_activation).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None  # maximize_activation checks the options it does not list
        # ``objectives`` is the callback's own keyword, passed on as maximize_activation's.
        own = [p.name for p in params if p.name not in (*cls._RESERVED, "objectives")]
        return [*super().option_names(given), *own]

    def manifest_params(self):
        warm = self.warm_steps if self.warm else None
        return {
            "objectives": self._labels,
            "steps": self.steps,
            "warm_steps": warm,
            "seed": self.seed,
        }

    def validate(self, model):
        self._last: np.ndarray | None = None
        self._previous = None  # the last Maximization (training thread), for warm starts
        self._steps_done = 0  # optimization steps behind the last images (warm starts add up)
        # Layer names, channels and the model's input kind are checked by the first compute, in
        # on_train_begin: a mistake raises there, before the first epoch.

    def compute(self, model):
        warm = self._previous if self.warm else None
        # warm: a quarter of the steps, except for the final state (the picture that stays)
        when, epochs = self._when, (self.params or {}).get("epochs")
        final = when.final or (when.batch is None and when.epoch == epochs and epochs)
        steps = self.warm_steps if self.warm and not final else self.steps
        result = maximize_activation(
            model,
            self.objectives,
            steps=steps,
            size=self.size,
            seed=self.seed,
            progress=False,
            init=warm,
            **self.options,
        )
        self._previous = result
        self._steps_done = steps + (self._steps_done if warm is not None else 0)
        return result.images, self._steps_done

    def render(self, result: tuple[np.ndarray, int], when):
        result, steps = result
        self._last = result
        tiles = []
        for image, label in zip(result, self._labels):
            img = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
            rgb = np.repeat(img, 3, axis=-1) if img.shape[-1] == 1 else img[..., :3]
            tiles.append(_draw.caption_tile(_draw.enlarge((rgb * 255).astype(np.uint8), 96), label))
        yield ImageItem(
            "images",
            pixels=_draw.annotate(_draw.tile(tiles, ncols=min(8, len(tiles)), pad=6), when.label),
            caption=f"{len(tiles)} objectives after {steps} steps · {when.label}",
        )

    def summarize(self):
        if self._last is None:
            return
        from ..plot import optimized_images, to_png

        fig = optimized_images(
            self._last, titles=self._labels, title="Feature visualization (final)"
        )
        yield ImageItem(
            "images",
            png=to_png(fig, dpi=90),
            caption="optimized images of the trained model",
            kind="summary",
        )
