"""The one list of attribution methods.

Each method's module defines its explainer class and its public function: a real ``def``
(IDEs, type checkers and the API reference see its signature and docstring) decorated with
:func:`method`, which registers it. The registry drives everything that lists methods: the
package exports (``nv.grad_cam`` ...), :func:`explain`, ``nv.callbacks.Attributions``,
``nv.metrics.randomization_similarity``, the report and the CLI. Adding a method touches one
file: its own.

A function's parameters are the common keyword arguments below, then the method's own options
with their defaults, as the class's ``_options`` parses them; :func:`method` checks at import
that the ``def`` says exactly that (:func:`expected_signature`), so the two cannot drift.
Every function has the same shape::

    fn(model, x, target=None, *, layer=None, output=None, batch_size=32, progress=None,
       allow_nonfinite=False, strategy=None, negative=False, logits=True, normalize=True,
       **method_options)

Only ``model``, ``x`` and ``target`` are positional. Common arguments:

    model: a built Keras 3 model: Sequential, Functional, nested base models, multi-input,
        multi-output, ``mixed_float16``.
    x: numpy array, tensor, list/dict of them (multi-input) or a ``tf.data.Dataset``.
    target: None (each sample's predicted class), an int, one int per sample, a callable
        ``outputs -> (N,)`` scores, a tf-keras-vis ``Score``, or an objective from
        :mod:`keras_nnviz.objectives` (``channel``, ``neuron``, ``class_logit``, ``direction``:
        explain a unit of any layer). See :mod:`keras_nnviz.core.targets`.
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
    strategy: a ``tf.distribute.Strategy`` (MirroredStrategy, MultiWorkerMirroredStrategy ...):
        each batch is split across its replicas and the maps come back in input order, equal
        to one device's (see :mod:`keras_nnviz.core.distribute`); None: the strategy of an
        enclosing ``nv.distribute`` block, else one device.
    negative: explain ``-score`` (for a sigmoid unit: the other class).
    logits: score the logits behind softmax / sigmoid outputs (default; Score-CAM: False, it
        weights channels by probabilities as in the paper).
    normalize: scale each map to [0, 1] (signed maps: to [-1, 1] by their largest magnitude);
        False returns raw values.
    out: a writable float numpy array of the result's shape (a ``np.memmap`` too) to write the
        maps into, batch by batch, and return, or a ``.npy`` path (rows appended as they come;
        returned memory-mapped read-only); for a multi-input model a list aligned to the
        result (None where the result is None). Lets a dataset larger than memory be explained
        to disk; a wrong shape or dtype raises before anything is computed past the first batch
        (see :mod:`keras_nnviz.core.sinks`).

Results: float32 numpy maps, one per sample. With ``layer=`` (gradient methods) one array
shaped like the layer's output without channels. Otherwise, for a single-input model one array
``(N, *spatial)``; for a multi-input model a list aligned to ``model.inputs`` with None where the
method cannot attribute that input (integer inputs; inputs a CAM's rank does not fit; inputs
without spatial axes for occlusion), the same way for every method.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import keras
import numpy as np

from .. import validation
from ..errors import InvalidArgumentError
from . import _engine as E

__all__ = [
    "COMMON",
    "expected_signature",
    "explain",
    "get",
    "KINDS",
    "Maps",
    "Method",
    "method",
    "METHODS",
    "names",
    "run",
]

Maps = np.ndarray | list
_F = TypeVar("_F", bound=Callable[..., Any])
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
        title: the name pictures and report sections title it by (``"Grad-CAM"``).
        slug: the short form file names use (``nnviz gradcam`` writes ``<image>_<slug>.png``).
    """

    name: str
    cls: type
    function: Callable[..., Maps]
    kind: str
    signed: bool = False
    heavy: bool = False
    title: str = ""
    slug: str = ""


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


def expected_signature(cls: type) -> inspect.Signature:
    """The signature every method function of explainer ``cls`` has: ``model, x, target``
    positional, then :data:`COMMON`, then the class's own options (from ``cls._options``, the
    one place they are parsed)."""
    P = inspect.Parameter
    params = [
        P("model", P.POSITIONAL_OR_KEYWORD),
        P("x", P.POSITIONAL_OR_KEYWORD),
        P("target", P.POSITIONAL_OR_KEYWORD, default=None),
    ]
    for name, default, _ in COMMON:
        default = cls.logits_default if name == "logits" else default
        params.append(P(name, P.KEYWORD_ONLY, default=default))
    own = inspect.signature(cls._options).parameters.values()
    params += [P(p.name, P.KEYWORD_ONLY, default=p.default) for p in own if p.name != "self"]
    return inspect.Signature(params)


def method(
    cls: type,
    kind: str,
    signed: bool = False,
    *,
    title: str | None = None,
    slug: str | None = None,
) -> Callable[[_F], _F]:
    """Register the decorated function as the public form of explainer ``cls``.

    The function is a real ``def`` (IDEs, type checkers and the API reference read its
    signature and docstring) whose body is ``return run(cls, locals())``. Registering checks
    that its parameters, kinds and defaults are :func:`expected_signature`, so the function and
    the class's options cannot drift apart.

    Args:
        cls: an :class:`~keras_nnviz.attribution._engine.Explainer` subclass; the function must
            be named ``cls.method``.
        kind: ``"gradient"``, ``"cam"`` or ``"perturbation"``.
        signed: the method can return signed maps.
        title: the name pictures and report sections show (default: the function name with
            spaces, ``"integrated gradients"``).
        slug: the short form file names use (default: the function name).

    Returns:
        A decorator that registers the function in :data:`METHODS` and returns it with the same
        signature and docstring (an unknown keyword raises the explainer's
        :class:`~keras_nnviz.errors.InvalidArgumentError` instead of a bare ``TypeError``).

    Example:
        >>> @method(GradCAM, kind="cam", title="Grad-CAM", slug="gradcam")
        ... def grad_cam(model, x, target=None, *, layer=None, ...) -> Maps:
        ...     \"\"\"Grad-CAM ...\"\"\"
        ...     return run(GradCAM, locals())
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; received {kind!r}.")

    def register(function: _F) -> _F:
        def shape(sig: inspect.Signature) -> list[tuple]:
            return [(p.name, p.kind, p.default) for p in sig.parameters.values()]

        got, want = shape(inspect.signature(function)), shape(expected_signature(cls))
        if function.__name__ != cls.method or got != want:
            raise TypeError(
                f"{function.__name__}{inspect.signature(function)} must be named {cls.method!r} "
                f"and take {expected_signature(cls)} (the shared arguments, then "
                f"{cls.__name__}._options)."
            )
        allowed = set(inspect.signature(function).parameters)

        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> Maps:
            if kwargs.keys() <= allowed:
                return function(*args, **kwargs)
            # An unknown keyword: the explainer names it and what would work (an NNVizError,
            # where Python would raise a bare TypeError for the def).
            known = {k: v for k, v in kwargs.items() if k in allowed}
            bound = inspect.signature(function).bind(*args, **known)
            bound.apply_defaults()
            return run(cls, {**bound.arguments, **kwargs})

        name = cls.method
        METHODS[name] = Method(
            name,
            cls,
            checked,
            kind,
            signed,
            bool(cls.heavy),
            title or name.replace("_", " "),
            slug or name,
        )
        return checked  # type: ignore[return-value]  # same signature (functools.wraps)

    return register


def run(cls: type, arguments: dict[str, Any]) -> Maps:
    """Run explainer ``cls`` on a method function's ``locals()``: the explainer cached for
    ``(model, cls, layer)`` (see :func:`keras_nnviz.attribution._engine.cached`)."""
    options = dict(arguments)
    model, x, target = options.pop("model"), options.pop("x"), options.pop("target")
    explainer = E.cached(cls, model, options.pop("layer"))
    return explainer(x, target, **options)


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
