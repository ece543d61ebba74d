"""The one list of attribution methods.

Each method's module defines its explainer class and builds its public function with
:func:`define`, which registers it. The registry drives everything that lists methods: the package
exports (``nv.grad_cam`` ...), :func:`explain`, ``nv.callbacks.Attributions``,
``nv.metrics.randomization_similarity``, the report and the CLI. Adding a method touches one
file: its own.

Each function is built once by :func:`define` from its explainer class: the common keyword
arguments below, then the method's own options with their defaults, read from the signature of
the class's ``_options`` (the one place they are declared). ``inspect.signature`` (IDEs,
notebooks, ``help()``) shows the whole signature. Every function has the same shape::

    fn(model, x, target=None, *, layer=None, output=None, batch_size=32, progress=None,
       allow_nonfinite=False, negative=False, logits=True, normalize=True, **method_options)

Only ``model``, ``x`` and ``target`` are positional. Common arguments:

    model: a built Keras 3 model: Sequential, Functional, nested base models, multi-input,
        multi-output, ``mixed_float16``.
    x: numpy array, tensor, list/dict of them (multi-input) or a ``tf.data.Dataset``.
    target: None (each sample's predicted class), an int, one int per sample, a callable
        ``outputs -> (N,)`` scores, a tf-keras-vis ``Score``, or an objective from
        :mod:`keras_nnviz.objectives` (``channel``, ``neuron``, ``class_logit``, ``direction``:
        explain a unit of any layer). See :mod:`keras_nnviz.targets`.
    layer: CAMs: the layer the map lives on (default: the last spatial layer). Gradient
        methods: attribute to that layer's *output* instead of the input, channels reduced (an
        ``Embedding`` gives per-token scores ``(N, T)``, a convolution per-location scores);
        default: the inputs, or for a model whose inputs are all integer token ids its first
        ``Embedding`` layer. Occlusion perturbs inputs only.
    output: output name or index; required for multi-output models unless ``target`` is a
        callable on all outputs or an objective.
    batch_size: samples per compiled call; also the size of the chunks of noisy / interpolated
        / masked copies that SmoothGrad, IG, Score-CAM and occlusion evaluate at once.
    progress: None (a progress bar for the heavy methods when there is more than one batch),
        True or False.
    allow_nonfinite: let NaN / inf inputs through instead of raising, and NaN / inf maps
        without a :class:`~keras_nnviz.errors.NonFiniteWarning` (which names the first layer
        whose weights are not finite).
    negative: explain ``-score`` (for a sigmoid unit: the other class).
    logits: score the logits behind softmax / sigmoid outputs (default; Score-CAM: False, it
        weights channels by probabilities as in the paper).
    normalize: scale each map to [0, 1] (signed maps: to [-1, 1] by their largest magnitude);
        False returns raw values.
    out: a writable float numpy array of the result's shape (a ``np.memmap`` too) to write the
        maps into, batch by batch, and return; for a multi-input model a list aligned to the
        result (None where the result is None). Lets a dataset larger than memory be explained
        to disk; a wrong shape or dtype raises before anything is computed past the first batch.

Results: float32 numpy maps, one per sample. With ``layer=`` (gradient methods) one array
shaped like the layer's output without channels. Otherwise, for a single-input model one array
``(N, *spatial)``; for a multi-input model a list aligned to ``model.inputs`` with None where the
method cannot attribute that input (integer inputs; inputs a CAM's rank does not fit; inputs
without spatial axes for occlusion), the same way for every method.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from .. import validation
from ..errors import InvalidArgumentError
from . import _engine as E

Maps = np.ndarray | list
KINDS = ("gradient", "cam", "perturbation")


@dataclass(frozen=True)
class Method:
    """One registered attribution method.

    Attributes:
        name: the function name (``"grad_cam"``).
        cls: the explainer class (``GradCAM``).
        function: the public function.
        kind: ``"gradient"``, ``"cam"`` or ``"perturbation"``.
        signed: the method can return signed maps (``signed=True``), e.g. gradient × input.
        heavy: many forward passes per sample (progress bar by default).
    """

    name: str
    cls: type
    function: Callable[..., Maps]
    kind: str
    signed: bool = False
    heavy: bool = False


METHODS: dict[str, Method] = {}


# The keyword arguments every method takes: (name, default, annotation).
COMMON = (
    ("layer", None, "graph.LayerRef | None"),
    ("output", None, "int | str | None"),
    *validation.BATCH_OPTIONS,
    ("negative", False, "bool"),
    ("logits", True, "bool"),
    ("normalize", True, "bool"),
    ("out", None, "np.ndarray | None"),
)


def define(cls: type, kind: str, doc: str, signed: bool = False) -> Callable[..., Maps]:
    """Build and register the public function of explainer ``cls`` (named ``cls.method``).

    The function runs the explainer cached for ``(model, cls, layer)`` (see
    :func:`keras_nnviz.attribution._engine.cached`); only ``model``, ``x`` and ``target`` are
    positional.

    Args:
        cls: an :class:`~keras_nnviz.attribution._engine.Explainer` subclass.
        kind: ``"gradient"``, ``"cam"`` or ``"perturbation"``.
        doc: the function's docstring.
        signed: the method can return signed maps.

    Returns:
        The function (also in :data:`METHODS`).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; received {kind!r}.")

    def function(model: keras.Model, x: Any, target: Any = None, **options: Any) -> Maps:
        explainer = E.cached(cls, model, options.pop("layer", None))
        return explainer(x, target, **options)

    P = inspect.Parameter
    params = [
        P("model", P.POSITIONAL_OR_KEYWORD, annotation="keras.Model"),
        P("x", P.POSITIONAL_OR_KEYWORD, annotation="Any"),
        P("target", P.POSITIONAL_OR_KEYWORD, default=None, annotation="Any"),
    ]
    for name, default, annotation in COMMON:
        default = cls.logits_default if name == "logits" else default
        params.append(P(name, P.KEYWORD_ONLY, default=default, annotation=annotation))
    own = inspect.signature(cls._options).parameters.values()
    params += [p.replace(kind=P.KEYWORD_ONLY) for p in own if p.name != "self"]
    function.__signature__ = inspect.Signature(params, return_annotation="Maps")
    function.__name__ = function.__qualname__ = cls.method
    function.__module__ = cls.__module__
    function.__doc__ = doc
    METHODS[cls.method] = Method(cls.method, cls, function, kind, signed, bool(cls.heavy))
    return function


def get(method: str) -> Method:
    """The registered method called ``method``, or an error listing them."""
    found = METHODS.get(method) if isinstance(method, str) else None
    if found is None:
        raise InvalidArgumentError(f"method must be one of {sorted(METHODS)}; received {method!r}.")
    return found


def names(kind: str | None = None) -> list[str]:
    """Registered method names (of one ``kind``), in registration order."""
    return [m.name for m in METHODS.values() if kind is None or m.kind == kind]


def explain(
    model: keras.Model, x: Any, target: Any = None, *, method: str = "grad_cam", **options: Any
) -> Maps:
    """Any attribution method by name: ``nv.explain(model, x, method="saliency")`` is
    ``nv.saliency(model, x)``.

    Args:
        model: a built Keras model.
        x: inputs.
        target: what to explain (see :mod:`keras_nnviz.attribution.registry`).
        method: a registered method name (``"grad_cam"``, ``"saliency"``,
            ``"integrated_gradients"`` ...).
        **options: the method's keyword arguments (``layer=``, ``output=``, ``batch_size=``,
            ``steps=`` ...).

    Returns:
        The method's maps.

    Example:
        >>> maps = nv.explain(model, x[:8], method="integrated_gradients", steps=32)
    """
    return get(method).function(model, x, target, **options)
