"""Results that hold NaN / inf: one check and one warning for every compute function.

A single NaN weight (a diverged fit, a corrupted file) makes every map and activation computed
through it NaN. The callbacks name the broken layer when a fit diverges; the functions say it
here, once per call: the result is scanned batch by batch (a pass over what was computed anyway),
and the weights only when the result is not finite, so a healthy model pays no weight scan.
``allow_nonfinite=True`` keeps its one meaning: non-finite values are expected (in the inputs,
hence in the results), so nothing is raised or warned.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import keras
import numpy as np

from ..errors import NonFiniteWarning

__all__ = [
    "all_finite",
    "warn_nonfinite",
]


def all_finite(values: Any) -> bool:
    """True when every float array or tensor in the (nested) ``values`` is free of NaN / inf;
    integer and boolean parts always are."""
    for leaf in _leaves(values):
        arr = np.asarray(leaf)
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            return False
    return True


def _leaves(values: Any) -> list:
    if isinstance(values, dict):
        return [leaf for v in values.values() for leaf in _leaves(v)]
    if isinstance(values, list | tuple):
        return [leaf for v in values for leaf in _leaves(v)]
    return [] if values is None else [values]


def warn_nonfinite(model: keras.Model, what: str) -> None:
    """Warn (:class:`~keras_nnviz.errors.NonFiniteWarning`) that ``what`` holds NaN / inf,
    naming the first layer of ``model`` whose weights are not finite.

    Args:
        model: the model the result was computed with.
        what: the result, for the message (``"grad_cam maps"``).
    """
    # weights.nonfinite_layers is the one scan of a model's variables (the callbacks name a
    # diverged fit's layer with it); imported here, where a result is already known to be
    # broken, so core does not load a family module on the healthy path.
    from ..weights import nonfinite_layers

    try:
        layers = nonfinite_layers(model)
    except Exception:  # noqa: BLE001 - naming the layer is a courtesy; the warning still goes out
        layers = []
    if layers:
        more = f" ({len(layers)} layers in all)" if len(layers) > 1 else ""
        cause = (
            f"the first layer with NaN/inf weights is {layers[0]!r}{more}, so everything "
            "computed through it is NaN. Reload or retrain the weights (a diverged fit: lower "
            "the learning rate or clip gradients)"
        )
    else:
        cause = (
            "every weight is finite, so the model overflowed on these inputs (float16 "
            "activations, a log of 0 ...)"
        )
    warnings.warn(
        f"{what} hold NaN/inf values: {cause}. Pass allow_nonfinite=True if they are expected.",
        NonFiniteWarning,
        stacklevel=_user_stacklevel(),
    )


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside keras_nnviz (the user's line), seen from
    :func:`warn_nonfinite`'s ``warnings.warn``."""
    here = inspect.currentframe()  # public twin of sys._getframe
    frame, level = here.f_back.f_back if here and here.f_back else None, 2
    package = __name__.split(".", 1)[0]
    while frame is not None and frame.f_globals.get("__name__", "").split(".", 1)[0] == package:
        frame, level = frame.f_back, level + 1
    return level
