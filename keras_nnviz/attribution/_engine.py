"""Shared machinery of every attribution method.

An :class:`Explainer` holds one model and runs each *variant* (method, layer, target kind,
options) as one :func:`keras_nnviz.core.compiled.compiled_pass`: a batch-agnostic compiled pass
cached per model, so any batch size, any class indices and any objective parameters reuse one
trace. What changes the graph (a callable target, an objective's structure, ``upsample=``,
``keep_channels=``) selects a variant; class indices, signs and objective parameters travel as
tensors. Everything heavy (forward, gradients, masks, upsampling, normalization) happens inside
the compiled pass; Python only streams batches and writes each batch's maps into one
preallocated array (or the caller's ``out=``, e.g. a ``np.memmap``).

While tracing, the body builds a fresh *tracer* (an instance of the method's class holding the
model only weakly) and calls its :meth:`Explainer.compute` with one :class:`ComputeContext`: the
cached pass never holds the model or the
user's explainer, so several explainers of one model share passes and caching keeps no model
alive.

Scores: :meth:`Explainer.score` runs the model once with hooks and turns its outputs (or the
recorded layers of an objective target) into one score per sample; :meth:`Explainer.gradients`
differentiates it w.r.t. the float inputs or, with ``layer=``, w.r.t. that layer's output (a
hook watches it, and may replace it: noise for SmoothGrad, the interpolation path for IG).
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from .. import _compat, validation
from ..core import caches, graph, targets
from ..core.compiled import CompiledPass, compiled_pass, weight_reader
from ..core.inputs import InputSlot, input_signature, input_slots
from ..core.loop import Batch, BatchLoop
from ..core.model import (
    ModelBound,
    default_cam_layer,
    embedding_layer,
    inputs_channels_first,
    layer_channels_first,
)
from ..core.sinks import BatchOutput
from ..errors import (
    IncompatibleLayerError,
    InvalidArgumentError,
    format_list,
)
from ._scoring import Scoring, is_float

INDEX_SPEC = tf.TensorSpec((None,), tf.int32)
SIGN_SPEC = tf.TensorSpec((None,), tf.float32)


@dataclass(frozen=True)
class ComputeContext:
    """One batch as :meth:`Explainer.compute` sees it, inside the compiled pass (symbolic
    tensors: ``compute`` is traced once per variant, not run per batch).

    Attributes:
        model: the Keras model being explained.
        inputs: the batch's inputs, one tensor per model input in ``model.inputs`` order (a
            subclassed model: one tensor).
        indices: ``(N,) int32`` class index per sample; for the predicted-class target (None)
            the :meth:`Explainer.score` call of ``compute`` replaces them by the predicted ones.
        signs: ``(N,) float32``, +1 or -1 per sample (``negative=True`` explains ``-score``).
        extras: the method's extra tensors for this batch, as its ``_extras`` made them (empty
            for most methods).
        options: the method's static options as its ``_options`` returned them, plus
            ``"normalize"``.
    """

    model: keras.Model
    inputs: list[tf.Tensor]
    indices: tf.Tensor
    signs: tf.Tensor
    extras: Sequence[Any]
    options: Mapping[str, Any]


def _body(cls, layer_path, spec, options, model, inputs, indices, signs, extras, params):
    """The compiled pass of one variant (module level: its partial holds no model)."""
    tracer = cls._tracer(model, layer_path, spec, params)
    flat = list(inputs) if tracer._signature is not None else [inputs]
    ctx = ComputeContext(model, flat, indices, signs, extras, dict(options))
    return tuple(tracer.compute(ctx))


class Explainer(Scoring, ModelBound):
    """Base class of the attribution methods.

    **Extension point**: a new method is a subclass overriding :meth:`compute`, which receives
    one :class:`ComputeContext` (model, inputs, class indices, signs, extra tensors, options)
    and returns one map tensor per attributed input. Inside it, :meth:`score` runs and scores
    the model and :meth:`gradients` differentiates that score w.r.t. what the method attributes
    (the float inputs, or ``layer=``'s output). Options are parsed by ``_options`` (keyword-only
    parameters with defaults, returning ``(static, dynamic)`` dicts); the public function is a
    ``def`` registered with :func:`keras_nnviz.attribution.registry.method`, whose body is
    ``return run(cls, locals())``. ``compute`` is traced once per variant and cached.

    Args:
        model: a built Keras model (Sequential, Functional, nested, multi-input/output).
        layer: for CAMs the layer the map lives on (default: the last spatial layer); for
            gradient methods the layer whose *output* is attributed (default: the input, or the
            token embedding of a model with integer inputs only).
        output: default output name/index for multi-output models.
        weights: ``"live"`` (the model's variables) or ``"snapshot"``: every call then takes
            ``values=explainer.snapshot()`` and computes on those frozen weights, so a callback
            can explain on another thread while training goes on.

    Attributes:
        trace_count: traces of the compiled passes this explainer has run (for tests).

    Example:
        A new method, "gradient squared" (the squared score gradient, summed over channels)::

            from keras_nnviz.attribution import ComputeContext, Explainer
            from keras_nnviz.attribution.registry import Maps, method, run

            class GradientSquared(Explainer):
                method = "gradient_squared"

                def compute(self, ctx: ComputeContext) -> list[tf.Tensor]:
                    grads = self.gradients(ctx.inputs, ctx.indices, ctx.signs)[0]
                    # (ctx.options["normalize"] says whether to scale each map to [0, 1])
                    return [tf.reduce_sum(tf.square(g), axis=-1) for g in grads]

            @method(GradientSquared, kind="gradient")
            def gradient_squared(model, x, target=None, *, layer=None, output=None,
                                 batch_size=32, progress=None, allow_nonfinite=False,
                                 strategy=None, negative=False, logits=True, normalize=True,
                                 out=None) -> Maps:
                '''Squared score gradients, summed over channels.'''
                return run(GradientSquared, locals())

        Snapshot weights, for a callback explaining on another thread:

        >>> explainer = nv.GradCAM(model, layer="conv2", weights="snapshot")
        >>> values = explainer.snapshot()  # about a millisecond, on the training thread
        >>> maps = explainer(x, values=values)  # anywhere, while the weights move on
    """

    method: ClassVar[str] = "explainer"
    _kind = "explainer"
    needs_layer: ClassVar[bool] = False  # CAMs: a spatial layer, always
    takes_layer: ClassVar[bool] = True  # gradient methods: optional layer= (its output)
    heavy: ClassVar[bool] = False  # many forward passes per sample: progress bar by default
    logits_default: ClassVar[bool] = True  # score logits behind softmax / sigmoid
    #: trailing per-sample results of ``compute`` that are not maps (``out=`` skips them)
    auxiliary_outputs: ClassVar[int] = 0

    def __init__(
        self,
        model: keras.Model,
        layer: graph.LayerRef | None = None,
        output=None,
        *,
        weights: str = "live",
    ):
        graph.walk(model, include_sublayers=False)  # validates: a built Keras 3 model
        if weights not in ("live", "snapshot"):
            raise InvalidArgumentError(
                f"weights must be 'live' or 'snapshot'; received {weights!r}."
            )
        self.weights = weights
        self._keep: keras.Model | None = model  # dropped for cached instances (see cached())
        self.output = output
        self._passes: dict[Any, CompiledPass] = {}
        self._setup(model, self._resolve_layer(model, layer))

    def _setup(self, model: keras.Model, layer_path: str | None) -> None:
        """What both the explainer and its tracers know: layer, input signature and slots."""
        self._model_ref = weakref.ref(model)
        self._signature = input_signature(model)
        self._slots: list[InputSlot] | None = input_slots(model)
        self.layer_path = layer_path
        self._layer = None if layer_path is None else graph.find_layer(model, layer_path)
        # Where each input's / the layer's channels are: maps reduce them and CAMs weight them
        # on that axis (a channels-first model's maps are (N, H, W), not (N, C, H)).
        self._inputs_cf = inputs_channels_first(model)
        self._layer_cf = self._layer is not None and layer_channels_first(model, self._layer)

    def _input_layouts(self, flat: list) -> list[bool]:
        """Channels-first flag of every input in ``flat``."""
        return self._inputs_cf + [False] * (len(flat) - len(self._inputs_cf))

    def _layouts(self, flat: list) -> list[bool]:
        """Channels-first flags aligned to what :meth:`gradients` returns: the float inputs,
        or the layer's output."""
        if self._layer is not None:
            return [self._layer_cf]
        return [c for t, c in zip(flat, self._input_layouts(flat)) if is_float(t)]

    @classmethod
    def _tracer(cls, model, layer_path, spec, params) -> Explainer:
        """A throw-away instance for one trace (holds the model weakly, no passes)."""
        tracer = cls.__new__(cls)
        tracer._setup(model, layer_path)
        tracer._bind_target(spec, params)
        return tracer

    def _bind_target(self, spec, params) -> None:
        self._spec, self._params = spec, list(params)

    def _resolve_layer(self, model: keras.Model, layer) -> str | None:
        if self.needs_layer:
            return resolve_spatial_layer(model, layer)
        if not self.takes_layer:
            if layer is not None:
                raise InvalidArgumentError(
                    f"{type(self).__name__} has no layer form; received layer={layer!r}. Leave "
                    "layer=None, or use an attribution method (saliency, "
                    "integrated_gradients, occlusion ...) to attribute to a layer's output."
                )
            return None
        if layer is not None:
            return graph.layer_path(model, layer)
        slots = input_slots(model)
        if slots and not any(tf.as_dtype(s.dtype).is_floating for s in slots):
            return token_embedding_layer(model)
        return None

    def snapshot(self) -> list[tf.Tensor]:
        """The current value of every model variable, for ``values=`` of a snapshot explainer
        (see :meth:`keras_nnviz.core.compiled.CompiledPass.snapshot`)."""
        return weight_reader(self.model)()

    @property
    def trace_count(self) -> int:
        return sum(p.trace_count for p in self._passes.values())

    # -- subclass interface -------------------------------------------------------------------

    def _options(self) -> tuple[dict, dict]:
        """Check the method's own options; return ``(static, dynamic)``: static options shape
        the graph (they select a variant), dynamic ones feed :meth:`_extras`. A subclass with
        options takes them keyword-only with defaults (the registry reads them from this
        signature); the base method has none."""
        return {}, {}

    def _extra_signature(self, opts: dict) -> tuple:
        """TensorSpecs of the method's extra tensor arguments."""
        return ()

    def _extras(self, batch: Any, opts: dict, dynamic: dict, start: int, size: int) -> tuple:
        """Extra tensor arguments for the batch of samples ``start ... start + size - 1``
        (must match :meth:`_extra_signature`)."""
        return ()

    def compute(self, ctx: ComputeContext) -> list[tf.Tensor]:
        """The method's maps of one batch: THE extension point (see the class docstring).

        Args:
            ctx: the batch and the variant's options.

        Returns:
            One ``(N, ...)`` float tensor per attributed input (or one for ``layer=``), then
            :attr:`auxiliary_outputs` per-sample tensors that are not maps.

        Example:
            >>> def compute(self, ctx):
            ...     grads = self.gradients(ctx.inputs, ctx.indices, ctx.signs)[0]
            ...     return [tf.reduce_sum(tf.square(g), axis=-1) for g in grads]
        """
        raise NotImplementedError(f"{type(self).__name__} must override compute(self, ctx).")

    def _is_heavy(self, opts: dict, dynamic: dict) -> bool:
        return self.heavy

    def _evaluations(self, dynamic: dict) -> int | None:
        """None: the progress bar counts samples. Perturbation methods count model
        evaluations: this many per sample, or 0 (the first batch tells)."""
        return None

    def _progress_units(self, size: int) -> int:
        """What the progress bar advances by for a batch of ``size`` samples."""
        return size

    def _model_inputs(self, flat: list) -> Any:
        """The flat input list as the model takes it (subclassed models: one tensor)."""
        return flat if self._signature is not None else flat[0]

    def _float_slots(self) -> list[bool]:
        if self._slots is None:
            return [True]
        return [tf.as_dtype(s.dtype).is_floating for s in self._slots]

    def _assemble(self, maps: list[np.ndarray], opts: dict) -> Any:
        """One array for a layer or a single-input model; otherwise a list aligned to
        ``model.inputs``, None where the method cannot attribute that input."""
        if self.layer_path is not None and not self.needs_layer:
            return maps[0]
        return place(maps, self._attributable())

    def _attributable(self) -> list[bool]:
        return self._float_slots()

    # -- running ------------------------------------------------------------------------------

    def __call__(
        self,
        x: Any,
        target: Any = None,
        *,
        output: int | str | None = None,
        batch_size: int = 32,
        progress: bool | None = None,
        allow_nonfinite: bool = False,
        strategy: tf.distribute.Strategy | None = None,
        negative: bool = False,
        logits: bool | None = None,
        normalize: bool = True,
        values: Sequence[tf.Tensor] | None = None,
        out: np.ndarray | Sequence[np.ndarray | None] | None = None,
        **options: Any,
    ) -> np.ndarray | list:
        """Maps for ``x``; see the function form of the method for the arguments
        (``logits=None``: the method's default; ``out=``: write the maps into this writable
        float array, e.g. a ``np.memmap``, instead of a new one)."""
        negative = validation.flag("negative", negative)
        normalize = validation.flag("normalize", normalize)
        logits = self.logits_default if logits is None else validation.flag("logits", logits)
        if (values is None) != (self.weights == "live"):
            raise InvalidArgumentError(
                f"This explainer uses weights={self.weights!r}: pass values=explainer.snapshot() "
                "exactly when weights='snapshot' (build one with "
                f"nv.{type(self).__name__}(model, weights='snapshot'))."
            )
        check_options(type(self), options)
        for key, value in options.items():
            validation.finite_values(key, value)
        static, dynamic = self._options(**options)
        static = {**static, "normalize": bool(normalize)}
        maps = self._explain(
            x,
            target,
            output=output,
            negative=negative,
            logits=logits,
            batch_size=batch_size,
            progress=progress,
            allow_nonfinite=allow_nonfinite,
            strategy=strategy,
            options=static,
            dynamic={**dynamic, "batch_size": batch_size},
            values=values,
            out=out,
        )
        return self._assemble(maps, static)

    def _pass(self, resolved: targets.Targets, options: tuple) -> CompiledPass:
        model = self.model
        cls = type(self)
        key = ("attribution", cls.__module__, cls.__qualname__, self.layer_path)
        key += (resolved.spec, options, self.weights)
        found = self._passes.get(key)
        if found is None:
            params = [
                tf.TensorSpec(np.shape(p), tf.as_dtype(np.asarray(p).dtype))
                for p in resolved.params
            ]
            body = functools.partial(_body, cls, self.layer_path, resolved.spec, options)
            args = [INDEX_SPEC, SIGN_SPEC, self._extra_signature(dict(options)), params]
            # Bodies use explicit tf.while_loop: no AutoGraph (it would transpile every layer call).
            found = self._passes[key] = compiled_pass(
                model, key, body, args=args, weights=self.weights, autograph=False
            )
        return found

    def _explain(
        self,
        x: Any,
        target: Any,
        *,
        output=None,
        negative: bool = False,
        logits: bool = True,
        batch_size: int = 32,
        progress: bool | None = None,
        allow_nonfinite: bool = False,
        strategy: tf.distribute.Strategy | None = None,
        options: dict | None = None,
        dynamic: dict | None = None,
        values: Sequence[tf.Tensor] | None = None,
        out: Any = None,
    ) -> list[np.ndarray]:
        model = self.model
        progress = validation.progress(progress)
        allow_nonfinite = validation.flag("allow_nonfinite", allow_nonfinite)
        options = tuple(sorted((options or {}).items()))
        opts, dynamic = dict(options), dynamic or {}
        aux = self.auxiliary_outputs
        loop = BatchLoop(
            model,
            x,
            batch_size,
            allow_nonfinite=allow_nonfinite,
            progress=progress,
            heavy=self._is_heavy(opts, dynamic),
            # Perturbation methods count model evaluations, not samples.
            per=self._evaluations(dynamic),
            units=self._progress_units,
            what=f"{type(self).__name__} maps",
            target=target,
            results=f"{self.method} maps",
            finite=lambda result: [np.asarray(r, np.float32) for r in result[: len(result) - aux]],
            empty="The input has no samples to explain (an empty tf.data.Dataset?); pass at "
            "least one sample.",
            # Snapshot weights (callbacks) are not the model's live ones; a fit's divergence
            # check names their broken layer instead.
            check=values is None,
            strategy=strategy,
        )
        data = loop.data
        resolved = targets.resolve(
            model,
            target,
            output=self.output if output is None else output,
            negative=negative,
            logits=logits,
            n=data.n,
        )
        loop.done = resolved.check_count
        if (
            self._layer is not None
            and data.arrays is not None
            and not graph.output_shape(self._layer)
        ):
            # A layer the zero-batch probe could not reach (a text tower that takes only its
            # position table's length): its shape from one call on the first sample.
            graph.traced_shapes(model, example=data.arrays)
        compiled = self._pass(resolved, options)
        params = [tf.constant(p) for p in resolved.params]
        # Each batch's maps go straight into the preallocated (or out=) arrays: peak memory is
        # the output plus one batch, not the output twice.
        sink = BatchOutput(data.n, out, batches=data.n_batches, auxiliary=aux)

        def arguments(batch: Batch) -> tuple:
            # Under a strategy, each replica's part of a batch: indices, baselines and masks by
            # its own sample offset, as for a batch of its own.
            start, size = batch.start, batch.size
            indices, signs = resolved.batch(start, size)
            extras = self._extras(batch.inputs, opts, dynamic, start, size)
            return batch.inputs, indices, signs, extras, params

        for batch in loop:
            result = loop.run(compiled, batch, arguments, values=values)
            sink.write([np.asarray(r, dtype=np.float32) for r in result])
        return sink.result()


def place(maps: list[np.ndarray], slots: list[bool]) -> Any:
    """Maps for the ``True`` slots, in order; None elsewhere; one array for one slot."""
    if len(slots) == 1:
        return maps[0]
    it = iter(maps)
    return [next(it) if ok else None for ok in slots]


def check_options(cls: type, options: dict) -> None:
    """Unknown method options raise a named error (not Python's TypeError)."""
    known = [p for p in inspect.signature(cls._options).parameters if p != "self"]
    unknown = [k for k in options if k not in known]
    if unknown:
        raise InvalidArgumentError(
            f"{cls.__name__} has no option {', '.join(map(repr, unknown))}; its options are "
            f"{format_list(known) if known else 'none'} besides target, layer, output, "
            "batch_size, progress, allow_nonfinite, negative, logits and normalize."
        )


# ----------------------------------------------------------------------------------------------
# The function forms reuse one explainer per (model, class, layer)

_CACHE = caches.per_model("explainers")


def cached(cls: type[Explainer], model: keras.Model, layer=None) -> Explainer:
    """The cached explainer of ``cls`` for this model and layer, built on first use.

    The instance holds the model only weakly, so caching never keeps a model alive.
    """
    if not isinstance(model, keras.layers.Layer):
        graph.walk(model)  # raises the helpful UnsupportedModelError
    per_model = _CACHE.setdefault(model, {})
    key = (cls, layer)
    if isinstance(layer, str | type(None)) and key in per_model:
        return per_model[key]
    if layer is not None:  # one instance per layer, however it is named
        key = (cls, graph.layer_path(model, layer))
    if key not in per_model:
        explainer = cls(model, layer=key[1])
        explainer._keep = None
        per_model[key] = explainer
    return per_model[key]


# ----------------------------------------------------------------------------------------------
# Layers


def resolve_spatial_layer(model: keras.Model, layer: graph.LayerRef | None) -> str:
    """Path of the layer a CAM lives on; checks that its output has spatial axes."""
    if layer is None:
        return default_cam_layer(model)
    path = graph.layer_path(model, layer)
    shape = graph.output_shape(graph.find_layer(model, path))
    if len(shape) < 3:
        spatial = _spatial_paths(model)
        hint = f" Layers with spatial output: {format_list(spatial)}." if spatial else ""
        raise IncompatibleLayerError(
            f"Layer {path!r} has output shape {shape}, without spatial axes, so a class "
            "activation map cannot be placed on the input. CAM methods need a layer with output "
            f"(batch, *spatial, channels), such as a convolution.{hint} Leave layer=None for the "
            "last one."
        )
    return path


def token_embedding_layer(model: keras.Model) -> str:
    """Path of the first ``Embedding`` layer of a model whose inputs are token ids: the layer
    whose output gradient methods attribute to by default (per-token scores); the package's
    one answer, :func:`keras_nnviz.core.model.embedding_layer`, or an error."""
    path = embedding_layer(model)
    if path is not None:
        return path
    raise IncompatibleLayerError(
        f"Model {model.name!r} has only integer inputs and no Embedding layer, so there is no "
        "gradient to attribute. Pass layer= (a layer whose output is float), or use "
        "nv.occlusion."
    )


def _spatial_paths(model: keras.Model) -> list[str]:
    found = []
    for entry in graph.walk(model, include_sublayers=False):
        if _compat.functional_graph(entry.layer) is not None:
            continue
        shape = graph.output_shape(entry.layer)
        if len(shape) >= 3 and all(d is None or d > 1 for d in shape[1:-1]):
            found.append(entry.path)
    return found
