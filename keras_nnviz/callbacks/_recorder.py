"""One recording pass for the callbacks of a fit that read layer outputs.

ActivationMaps, DeadUnits, EmbeddingProjection and the predicted-class probe of the attribution
callbacks each ran a forward pass recording some layers; each pass was traced on its own at
train begin (about 0.7 s of the training thread apiece for a nested MobileNetV2, most of what
those callbacks cost on a short fit). Here the first of them to validate asks every callback
of its fit (Keras hands one ``params`` dict to all of them) which layers it records
(``recorded_layers(model)``), and all of them run one pass recording the union, each on its
own samples, each reading only its own layers (:class:`LayerSelection`):
one trace instead of four.

Memory: a shared call holds every union layer's output for the callback's batch. A callback
shares only when what it would hold beyond its own layers stays under :data:`EXTRA_BYTES`
(for every layer of unknown size it does not share), else it keeps a pass of its own.
"""

from __future__ import annotations

import itertools
import math
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import keras

from ..core import graph
from ..core.compiled import CompiledPass, layer_pass

__all__ = ["EXTRA_BYTES", "announce", "LayerSelection", "recording_pass"]

#: What a callback's batch may hold beyond its own layers to share the fit's pass.
EXTRA_BYTES = 256 * 2**20

_ORDER: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_COUNTER = itertools.count()
_LOCK = threading.Lock()


class LayerSelection:
    """A recording pass read for some of its layers: several clients (the callbacks of one fit)
    share one trace, each reading its own layers.

    Calls give ``{"layers": {path: tensor} for path in paths, "outputs": tensors}``; ``paths``
    are the selected ones; everything else (``snapshot``, ``model``, ``trace_count`` ...) is the
    pass's.

    Args:
        compiled: a recording pass (:func:`layer_pass`) recording every path of ``paths``.
        paths: the canonical paths read.

    Example:
        >>> shared = layer_pass(model, ["conv1", "conv2", "gap"], weights="snapshot")
        >>> mine = LayerSelection(shared, ["gap"])
        >>> collect_layers(mine, batches, mine.snapshot())["gap"].shape
    """

    def __init__(self, compiled: CompiledPass, paths: Sequence[str]):
        self.compiled = compiled
        self.paths = list(paths)

    def __call__(self, inputs: Any, *args: Any, values: Sequence[Any] | None = None):
        out = self.compiled(inputs, *args, values=values)
        return {"layers": {p: out["layers"][p] for p in self.paths}, "outputs": out["outputs"]}

    def __getattr__(self, name: str) -> Any:
        if name == "compiled":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.compiled, name)


def announce(callback: Any) -> None:
    """Keras gave ``callback`` its fit's ``params`` (every callback of the fit, in list order,
    before any train begin): it can now be found by its siblings."""
    with _LOCK:
        _ORDER[callback] = next(_COUNTER)


def _siblings(callback: Any) -> list:
    params = getattr(callback, "params", None)
    if not params:
        return [callback]  # driven by hand: a fit of its own
    with _LOCK:
        found = [(n, cb) for cb, n in _ORDER.items() if cb.params is params]
    return [cb for _, cb in sorted(found, key=lambda item: item[0])] or [callback]


def _union(callback: Any, model: keras.Model) -> list[str]:
    fit = getattr(callback, "_fit", None)
    if fit is None:  # validate() called by hand, outside a fit: nothing to share
        return []
    with fit.lock:
        if fit.recording is None:
            union: list[str] = []
            for cb in _siblings(callback):
                wanted = getattr(cb, "recorded_layers", None)
                if wanted is None:
                    continue
                try:
                    paths = wanted(model)
                except Exception:  # noqa: BLE001 - its own train begin tells the user
                    continue
                union += [p for p in paths if p not in union]
            fit.recording = union
        return list(fit.recording)


def _bytes_per_sample(model: keras.Model, paths: Sequence[str]) -> float:
    total = 0.0
    for path in paths:
        try:
            shape = graph.output_shape(graph.find_layer(model, path))
        except Exception:  # noqa: BLE001 - unknown size: do not share
            return math.inf
        if not shape or any(d is None for d in shape[1:]):
            return math.inf
        total += 4.0 * math.prod(int(d) for d in shape[1:])  # recorded in float32
    return total


def recording_pass(
    callback: Any, model: keras.Model, paths: Sequence[str], rows: int
) -> CompiledPass | LayerSelection:
    """The snapshot recording pass of ``callback``'s layers ``paths``: the fit's shared one,
    read for ``paths`` only, when ``callback``'s batches (``rows`` samples each at most) can
    afford the other layers' outputs; else one of its own.

    Returns:
        A pass whose calls give ``{"layers": {path: tensor} for paths, "outputs": tensors}``
        and whose ``paths`` are ``paths`` (canonical, duplicates removed).
    """
    paths = list(dict.fromkeys(graph.layer_paths(model, list(paths))))
    union = _union(callback, model)
    if union and set(paths) <= set(union):
        extra = [p for p in union if p not in paths]
        if _bytes_per_sample(model, extra) * max(1, rows) <= EXTRA_BYTES:
            return LayerSelection(layer_pass(model, union, weights="snapshot"), paths)
    return layer_pass(model, paths, weights="snapshot")
