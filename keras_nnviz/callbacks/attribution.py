"""Attribution maps during training: Grad-CAM or any attribution method on fixed samples."""

from __future__ import annotations

import inspect
import os
from typing import Any

import numpy as np

from .. import diagnostics
from ..attribution import registry
from ..core import targets
from ..core.loop import fixed_batches
from ..errors import IncompatibleLayerError, InvalidArgumentError
from ..io import ImageItem
from . import _frames
from ._base import Later, VisualizationCallback, first_input, fixed_inputs
from ._inputs import nothing_to_show
from ._recorder import recording_pass

__all__ = [
    "Attributions",
    "GradCAM",
]


def _display_image(sample: np.ndarray) -> np.ndarray | None:
    """An input sample as an RGB-able image, or None when it is not an image."""
    a = np.asarray(sample)
    if a.ndim == 3 and a.shape[-1] in (1, 3, 4):
        return a
    if a.ndim == 2 and a.dtype.kind == "f" and min(a.shape) > 4:
        return a
    return None


class Attributions(VisualizationCallback):
    """Attribution maps of fixed samples every snapshot, for any attribution method.

    Calls ``nv.<method>`` (compiled once per model and method, reused every epoch; targets travel
    as tensors, so a changing predicted class never retraces). Image inputs: each sample's map
    blended over it (non-negative maps, ``turbo``) or beside it on a zero-centred diverging scale
    (signed maps such as gradient × input or integrated gradients), tiled in one frame per
    callback (tag ``maps``). Sequence inputs: a samples × positions heatmap.

    Args:
        log_dir: output folder.
        x: inputs (at most ``max_samples`` are used).
        method: the name of a registered attribution method (a key of
            ``nv.attribution.METHODS``: ``saliency``, ``integrated_gradients``, ``grad_cam``
            ...); a method added to the registry works here too.
        target: None (each sample's predicted class, at that epoch), an int, one int per sample,
            or a callable, as for the method.
        every: ``"auto"`` (default: when the fit's shared budget allows), epochs (int) or
            ``"batch:N"``.
        max_samples: samples explained.
        name: folder name (default: the method name).
        y: true labels of ``x`` (class indices or one-hot), written under each tile beside the
            predicted class; for a multi-output model a list or dict as for ``fit`` (the
            explained output's labels are shown).
        class_names: names for class indices in the captions.
        tokens: for sequence inputs, an ``(N, T)`` array (or list of lists) of the tokens of
            each sample, written into the frame's cells.
        **options: the method's arguments (``layer=``, ``steps=``, ``smooth_samples=``,
            ``output=`` ...) and those of :class:`VisualizationCallback` (``sinks``,
            ``on_error``, ``initial`` ...); an unknown keyword fails at construction.

    Example:
        >>> cb = nv.callbacks.Attributions("logs", x=x_val[:8], method="integrated_gradients")
    """

    folder = "attributions"
    title = "Attribution maps"
    #: Set by the callback itself, not an option.
    _RESERVED = ("model", "x", "target", "progress")

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        x: Any,
        method: str = "saliency",
        target: Any = None,
        every: int | str = "auto",
        max_samples: int = 8,
        name: str | None = None,
        y: Any = None,
        class_names: Any = None,
        tokens: Any = None,
        **options: Any,
    ):
        base = {k: options.pop(k) for k in VisualizationCallback.option_names({}) if k in options}
        super().__init__(log_dir, every=every, name=name or method, **base)
        self.x = x
        self.y = y
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.tokens = tokens
        self.method = method
        self.target = target
        self.max_samples = int(max_samples)
        self.options = options

    @classmethod
    def option_names(cls, given):
        method = given.get("method", "grad_cam" if issubclass(cls, GradCAM) else "saliency")
        function = registry.get(method).function  # an unknown name lists them
        if "progress" in given:
            raise InvalidArgumentError("The callback sets progress=False itself; remove it.")
        params = inspect.signature(function).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None  # the method takes options it does not list: it checks them itself
        own = [p.name for p in params if p.name not in cls._RESERVED]
        # These: a GradCAM forwards them to Attributions.
        forwarded = ["max_samples", "y", "class_names", "tokens"]
        return [*super().option_names(given), *forwarded, *own]

    def manifest_params(self):
        target = self.target if isinstance(self.target, int | type(None)) else repr(self.target)
        params = {
            "method": self.method,
            "target": target,
            "samples": self._n,
            **{k: v for k, v in self.options.items() if isinstance(v, int | float | str | bool)},
        }
        return params if self._note is None else {**params, "note": self._note}

    def validate(self, model):
        self._x = fixed_inputs(model, self.x, self.max_samples)
        self._n = len(first_input(self._x))
        self._last_maps: np.ndarray | None = None
        # A snapshot explainer: the training thread only freezes the weights (~1 ms); the maps
        # are computed on the writer thread while training goes on.
        options = dict(self.options)
        layer, output = options.pop("layer", None), options.pop("output", None)
        cls = registry.get(self.method).cls
        self._note = None
        try:
            self._explainer = cls(model, layer=layer, output=output, weights="snapshot")
        except IncompatibleLayerError as exc:
            if layer is not None:
                raise  # the user's layer does not fit: a mistake to fix, not a note
            # The default layer (core.model) has nothing for this method on this model, e.g.
            # Grad-CAM on a ViT without 2-D feature maps: draw nothing, say so, train on.
            self._note = nothing_to_show(self, str(exc))
            return
        self._call_options = options
        self._checked = False
        self._true = _classes(model, self.y, self._n, output)
        # The predicted class of each sample, on the same frozen weights as its map.
        # (Not for a chosen output of a multi-output model: the first output's class would lie.)
        self._probe = None if output is not None else recording_pass(self, model, [], self._n)
        self._probe_batches = fixed_batches(model, self._x, 64)

    def compute(self, model):
        if self._note is not None:
            return None  # nothing to show (said once at train begin)
        values = self._explainer.snapshot()
        explainer, x, target, options = self._explainer, self._x, self.target, self._call_options
        probe, batches = self._probe, self._probe_batches
        probe_values = probe.snapshot() if probe is not None else None

        def finish():
            maps = explainer(x, target, progress=False, values=values, **options)
            if isinstance(maps, list):  # multi-input: the first input the method attributes
                maps = next(m for m in maps if m is not None)
            return np.asarray(maps, dtype=np.float32), _predicted(probe, batches, probe_values)

        if not self._checked:
            # The first compute (in on_train_begin) runs here: a wrong layer, target or option
            # raises before the first epoch, and the one trace happens now.
            self._checked = True
            return finish()
        return Later(finish)

    def _caption(self, i: int, predicted: np.ndarray | None) -> str:
        def name(k: int) -> str:
            names = self.class_names
            return names[k] if names is not None and 0 <= k < len(names) else str(k)

        parts = [f"#{i}"]
        if predicted is not None:
            parts.append(f"pred {name(int(predicted[i]))}")
        if self._true is not None:
            parts.append(f"true {name(int(self._true[i]))}")
        if isinstance(self.target, int):
            parts.append(f"map: class {name(self.target)}")
        return " · ".join(parts)

    def render(self, result, when):
        result, predicted = result
        self._last_maps = result
        images = first_input(self._x)
        signed = bool(np.nanmin(result) < 0)
        is_image = all(
            m.ndim >= 2 and _display_image(images[i]) is not None for i, m in enumerate(result)
        )
        title = f"{self.name} · {when.label}"
        captions = [self._caption(i, predicted) for i in range(len(result))]
        if not is_image:  # sequences / non-image inputs: samples × positions
            tokens = None if self.tokens is None else [list(r) for r in self.tokens][: len(result)]
            pixels = _frames.sequence_frame(result, title + " (samples x positions)", tokens)
        else:
            pixels = _frames.attribution_frame(
                [images[i] for i in range(len(result))], result, title, captions, self.method
            )
        what = "signed, blue negative / red positive" if signed else "over the input"
        yield ImageItem(
            "maps",
            pixels=pixels,
            caption=f"{self.method} maps of {len(result)} samples ({what}) · {when.label}",
        )


def _classes(model: Any, y: Any, n: int, output: int | str | None) -> np.ndarray | None:
    """Class indices from labels (indices, or one-hot / scores rows), the first ``n``; for a
    multi-output model (labels as a list or dict, as for ``fit``) those of the explained output
    (``output``, default the first)."""
    if y is None:
        return None
    labels = diagnostics.label_arrays(model, y)
    if isinstance(labels, list):
        names = targets.output_names(model)
        index = names.index(output) if isinstance(output, str) and output in names else output
        labels = labels[index if isinstance(index, int) and 0 <= index < len(labels) else 0]
    arr = targets.class_indices(labels[:n])  # one-hot rows: their classes
    if arr.dtype.kind not in "iuf":
        raise InvalidArgumentError(
            f"y must hold class indices or one-hot rows; received dtype {arr.dtype}."
        )
    return arr.reshape(len(arr), -1)[:, 0].astype(np.int64)


def _predicted(probe, batches: list, values) -> np.ndarray | None:
    """A classifier's predicted classes on frozen weights (core's
    :func:`~keras_nnviz.core.targets.predicted_classes`); None for other outputs."""
    import tensorflow as tf

    if probe is None:
        return None
    out = np.concatenate(
        [np.asarray(tf.nest.flatten(probe(b, values=values)["outputs"])[0]) for b in batches]
    )
    return targets.predicted_classes(out)


class GradCAM(Attributions):
    """Grad-CAM maps of fixed samples every snapshot (``Attributions(method="grad_cam")``).

    Args:
        log_dir: output folder.
        x: inputs (at most ``max_samples``, default 8).
        layer: the convolution layer, by path (also inside a nested base model); default: the
            last layer with spatial output. A model with none (a ViT) gets a
            :class:`~keras_nnviz.callbacks.NothingToShowWarning` and no frames; training goes on.
        target: None (each sample's predicted class at that epoch), an int, one per sample, or a
            callable.
        every: ``"auto"`` (default: when the fit's shared budget allows), epochs (int) or
            ``"batch:N"``.
        **options: see :class:`Attributions`.

    Example:
        >>> cb = nv.callbacks.GradCAM("logs", x=x_val[:8], layer="base/block3_conv")
    """

    title = "Grad-CAM"

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        x: Any,
        layer: Any = None,
        target: Any = None,
        every: int | str = "auto",
        **options: Any,
    ):
        super().__init__(
            log_dir, x=x, method="grad_cam", target=target, every=every, layer=layer, **options
        )
