"""What an explanation explains: which output, which class, which score.

A *target* is resolved in two steps. :func:`resolve` checks the user's ``target``/``output``
against the model once, in Python, and returns a :class:`Targets` whose :class:`TargetSpec` is
the static part (it shapes the traced graph) and whose per-sample class indices and signs are
fed to the compiled function as tensors, so new classes never retrace. Inside ``tf.function``,
:func:`predicted` and :func:`scores` turn model outputs into one score per sample.

What a user may pass is documented in :mod:`keras_nnviz.targets`, the public face of this
module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import _compat, objectives
from ..errors import InvalidTargetError
from . import graph
from .inputs import input_slots
from .model import padding_mask_input, token_inputs

__all__ = [
    "bind_objective",
    "BoundObjective",
    "check_range",
    "class_indices",
    "Fixed",
    "objective_scores",
    "output_names",
    "positions",
    "predicted",
    "predicted_classes",
    "resolve",
    "resolve_output",
    "scores",
    "Targets",
    "TargetSpec",
    "Token",
]


@dataclass(frozen=True)
class TargetSpec:
    """The static part of a target: it decides the traced graph.

    Attributes:
        mode: ``"predicted"``, ``"index"``, ``"callable"`` or ``"objective"``.
        output: index into the model's flat outputs; None passes every output (callables and
            objectives).
        fn: the score callable (mode ``"callable"``) or the :class:`BoundObjective`.
        logits: score the logits behind a softmax/sigmoid output (True) or the outputs.
        per_output: for a list of callables, one per output (tf-keras-vis style).
        sequence: the output is a language model's ``(N, T, V)``: score one position per sample.
        position: that position (None: the last non-padding token; ``< 0``: counted back from
            it; ``>= 0``: from the start).
        mask_input: index of the model's padding-mask input in the flat inputs, or None.
    """

    mode: str
    output: int | None
    fn: Callable | None = None
    logits: bool = True
    per_output: bool = False
    sequence: bool = False
    position: int | None = None
    mask_input: int | None = None


@dataclass(frozen=True)
class Token:
    """A token of a language model's ``(N, T, V)`` output at one position.

    Args:
        token: token id (int, or one per sample); None: the token the model predicts there.
        position: the position whose logits are scored; None: each sample's last non-padding
            token (the next token after the prompt); ``< 0`` counts back from it (``-1`` is the
            default), ``>= 0`` from the start. Another position is another trace.

    Example:
        >>> nv.integrated_gradients(lm, x, target=nv.targets.Token(position=3), layer=emb)
        >>> nv.saliency(lm, x, target=nv.targets.Token(token=17))   # token 17 after the prompt
    """

    token: Any = None
    position: int | None = None


@dataclass(frozen=True)
class Fixed:
    """Per-sample class indices and signs, already resolved (e.g. the classes a model predicted
    on clean inputs, reused to explain perturbed copies or another model)."""

    indices: np.ndarray
    signs: np.ndarray


class BoundObjective:
    """An objective bound to a model (its :class:`~keras_nnviz.objectives.Plan`), compared by
    structure only: objectives that differ in channel index, position or vector share a trace."""

    __slots__ = ("plan",)

    def __init__(self, plan: objectives.Plan):
        self.plan = plan

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BoundObjective) and other.plan.key == self.plan.key

    def __hash__(self) -> int:
        return hash(("objective", self.plan.key))

    @property
    def layer_paths(self) -> list[str]:
        return self.plan.layer_paths


@dataclass
class Targets:
    """A resolved target: static :class:`TargetSpec` plus per-sample indices and signs (and an
    objective's parameter values, fed to the compiled function as tensors)."""

    spec: TargetSpec
    index: int = 0
    indices: np.ndarray | None = None
    signs: np.ndarray | None = None
    sign: float = 1.0
    n_units: int | None = None
    output_name: str = "output"
    params: list[np.ndarray] = field(default_factory=list)

    def batch(self, start: int, size: int) -> tuple[tf.Tensor, tf.Tensor]:
        """Class indices ``(size,) int32`` and signs ``(size,) float32`` for samples
        ``start ... start + size - 1``."""
        if self.indices is not None:
            if start + size > len(self.indices):
                raise InvalidTargetError(
                    f"{len(self.indices)} per-sample targets were given, but the input has more "
                    f"samples (at least {start + size}). Pass one target per sample."
                )
            idx = self.indices[start : start + size]
        else:
            idx = np.full(size, self.index)
        if self.signs is not None:
            sgn = self.signs[start : start + size] * self.sign
        else:
            sgn = np.full(size, self.sign)
        return tf.constant(idx, tf.int32), tf.constant(sgn, tf.float32)

    def check_count(self, n: int | None) -> None:
        """Raise when per-sample targets and the number of samples disagree."""
        lengths = [len(a) for a in (self.indices, self.signs) if a is not None]
        if n is not None and any(length != n for length in lengths):
            raise InvalidTargetError(
                f"Received {lengths[0]} per-sample targets for {n} samples; pass exactly one "
                "target per sample, one int for all samples, or None for the predicted class."
            )


def output_names(model: keras.Model) -> list[str]:
    """Names of the model outputs in ``model.outputs`` order (``output_0`` ... when unknown)."""
    fn_graph = _compat.functional_graph(model)
    names = list(getattr(fn_graph, "output_names", None) or [])
    outputs = getattr(model, "outputs", None) or []
    if not outputs:  # a subclassed model: one output, known only once it runs
        return ["output"]
    if len(names) != len(outputs):
        names = [f"output_{i}" for i in range(len(outputs))]
    return names


def predicted_classes(outputs: Any) -> np.ndarray | None:
    """Each sample's predicted class from a classifier's output values, outside the graph (a
    caption's "pred"): the argmax over the classes of an ``(N, C)`` output with ``C > 1`` (of
    several outputs, the first); None for any other output (one sigmoid unit, a sequence, a
    dense map: :func:`predicted` answers those inside an explanation)."""
    first = np.asarray(tf.nest.flatten(outputs)[0])
    if first.ndim == 2 and first.shape[1] > 1:
        return first.argmax(axis=1)
    return None


def class_indices(labels: Any) -> np.ndarray:
    """Labels as class indices: one-hot (or score) rows ``(N, C > 1)`` become their argmax;
    anything else comes back as an array, unchanged."""
    arr = np.asarray(labels)
    return arr.argmax(axis=1) if arr.ndim == 2 and arr.shape[1] > 1 else arr


def _output_units(model: keras.Model, index: int | None) -> int | None:
    outputs = getattr(model, "outputs", None) or []
    if index is None or index >= len(outputs):
        return None
    shape = tuple(outputs[index].shape)
    return 1 if len(shape) < 2 else shape[-1]


def resolve_output(model: keras.Model, output: int | str | None, needed: bool) -> int | None:
    """Index of the output an explanation uses; checks names, ranges and ambiguity."""
    names = output_names(model)
    n_out = len(getattr(model, "outputs", None) or [None])
    if output is None:
        if n_out > 1 and needed:
            raise InvalidTargetError(
                f"Model {model.name!r} has {n_out} outputs {names}; pass output= (a name or an "
                "index) to say which one to explain, e.g. output=0 or output="
                f"{names[0]!r}."
            )
        return 0 if n_out == 1 else None
    if isinstance(output, str):
        if output not in names:
            raise InvalidTargetError(
                f"Model {model.name!r} has no output {output!r}; its outputs are {names}."
            )
        return names.index(output)
    if isinstance(output, bool) or not isinstance(output, int | np.integer):
        raise InvalidTargetError(
            f"output= must be an output name or index; received {type(output).__name__} "
            f"{output!r}. Outputs: {names}."
        )
    if not 0 <= int(output) < n_out:
        raise InvalidTargetError(
            f"output={int(output)} is out of range: model {model.name!r} has {n_out} output(s) "
            f"{names} (valid 0 ... {n_out - 1})."
        )
    return int(output)


def _tkv_kind(obj: Any) -> str | None:
    """Recognise tf-keras-vis score objects by class name (no import of tf-keras-vis needed)."""
    for klass in type(obj).__mro__:
        if klass.__module__.startswith("tf_keras_vis") and klass.__name__ in (
            "CategoricalScore",
            "BinaryScore",
        ):
            return klass.__name__
    return None


def check_range(values: np.ndarray, units: int | None, where: str) -> None:
    if units is None or values.size == 0:
        return
    bad = values[(values < 0) | (values >= units)]
    if bad.size:
        unit_word = "unit" if units == 1 else "units"
        raise InvalidTargetError(
            f"target {int(bad[0])} is out of range for {where} with {units} {unit_word} "
            f"(valid 0 ... {units - 1})."
        )


def resolve(
    model: keras.Model,
    target: Any = None,
    output: int | str | None = None,
    negative: bool = False,
    logits: bool = True,
    n: int | None = None,
) -> Targets:
    """Check a target against the model and return its :class:`Targets`.

    Args:
        model: a built Keras model.
        target: see the module docstring.
        output: output name or index; required for non-callable targets of multi-output models.
        negative: explain the opposite of the score (``-score``; the other class of a sigmoid).
        logits: score logits behind softmax/sigmoid outputs (default) instead of the outputs.
        n: number of samples, when known, to check per-sample targets.

    Returns:
        The resolved :class:`Targets`.

    Raises:
        InvalidTargetError: unknown output, missing ``output=``, class out of range, wrong
            number of per-sample targets, or an unsupported target type.

    Example:
        >>> t = nv.core.targets.resolve(model, [3, 1, 4], n=3)
    """
    sign = -1.0 if negative else 1.0
    n_out = len(getattr(model, "outputs", None) or [None])
    if isinstance(target, objectives.Objective):
        plan = bind_objective(model, target)
        spec = TargetSpec("objective", None, fn=BoundObjective(plan), logits=logits)
        return Targets(spec, sign=sign, params=list(plan.params), output_name=str(target))
    if isinstance(target, list | tuple) and target and all(callable(t) for t in target):
        if len(target) != n_out:
            raise InvalidTargetError(
                f"Received {len(target)} score callables; model {model.name!r} has {n_out} "
                f"outputs {output_names(model)}. Pass one per output, or one callable with "
                "output=."
            )
        fns = tuple(target)
        spec = TargetSpec("callable", None, fn=fns, logits=logits, per_output=True)
        return Targets(spec, sign=sign)
    if isinstance(target, Fixed):
        out = resolve_output(model, output, needed=True)
        indices = _as_index_array(target.indices)
        check_range(indices, _output_units(model, out), f"output {output_names(model)[out]!r}")
        signs = np.asarray(target.signs, dtype=np.float32)
        result = Targets(TargetSpec("index", out, logits=logits), indices=indices, signs=signs)
        result.sign = sign
        result.check_count(n)
        return result
    kind = _tkv_kind(target)
    if kind == "CategoricalScore":
        indices = list(target.indices)
        target = indices[0] if len(indices) == 1 else indices
    elif kind == "BinaryScore":
        values = np.where(np.asarray(target.target_values, dtype=bool), 1.0, -1.0)
        out = resolve_output(model, output, needed=True)
        spec = TargetSpec("index", out, logits=logits)
        signs = None if values.size == 1 else values
        result = Targets(spec, 0, None, signs, sign * float(values[0]) if signs is None else sign)
        result.n_units = _output_units(model, out)
        result.output_name = output_names(model)[out] if out is not None else "output"
        result.check_count(n)
        return result
    if callable(target) and not isinstance(target, type):
        out = resolve_output(model, output, needed=False) if output is not None else None
        if out is None and n_out == 1:
            out = 0
        return Targets(TargetSpec("callable", out, fn=target, logits=logits), sign=sign)

    position = None
    token_target = isinstance(target, Token)
    if token_target:
        position, target = target.position, target.token
        if position is not None and (
            isinstance(position, bool) or not isinstance(position, int | np.integer)
        ):
            raise InvalidTargetError(
                f"Token(position=...) must be an int (>= 0 from the start, < 0 back from the last "
                f"non-padding token) or None; received {type(position).__name__} {position!r}."
            )
    out = resolve_output(model, output, needed=True)
    units = _output_units(model, out)
    name = output_names(model)[out]
    where = f"output {name!r}"
    if isinstance(target, np.ndarray) and target.ndim == 0 and target.dtype.kind in "iu":
        target = int(target)  # np.array(3) is one class index, like 3
    mask_input = padding_mask_input(model)
    sequence = _is_token_sequence(model, out)
    if token_target and not sequence:
        raise InvalidTargetError(
            f"Token(...) targets a language model's (N, T, vocabulary) output of integer token "
            f"ids; output {name!r} of model {model.name!r} has shape "
            f"{_output_shape(model, out)}. Pass an int class instead."
        )
    base = {
        "logits": logits,
        "sequence": sequence,
        "position": None if position is None else int(position),
        "mask_input": mask_input if sequence else None,
    }
    if target is None:
        result = Targets(TargetSpec("predicted", out, **base), sign=sign)
    elif isinstance(target, bool | float | str | bytes) or (
        isinstance(target, np.generic) and not isinstance(target, np.integer)
    ):
        raise InvalidTargetError(
            f"target must be None (predicted class), an int class index, one int per sample or "
            f"a callable on the outputs; received {type(target).__name__} {target!r}."
        )
    elif isinstance(target, int | np.integer):
        check_range(np.asarray([int(target)]), units, where)
        result = Targets(TargetSpec("index", out, **base), index=int(target), sign=sign)
    else:
        arr = _as_index_array(target)
        check_range(arr, units, where)
        result = Targets(TargetSpec("index", out, **base), indices=arr, sign=sign)
    result.n_units = units
    result.output_name = name
    result.check_count(n)
    return result


def _output_shape(model: keras.Model, index: int | None) -> tuple:
    outputs = getattr(model, "outputs", None) or []
    if index is None or index >= len(outputs):
        return ()
    return tuple(outputs[index].shape)


def _is_token_sequence(model: keras.Model, index: int | None) -> bool:
    """A language model's output: ``(N, T, V)`` from a model taking integer token ids
    ``(N, T)`` (:func:`keras_nnviz.core.model.token_inputs`)."""
    return len(_output_shape(model, index)) == 3 and bool(token_inputs(model))


def bind_objective(model: keras.Model, objective: objectives.Objective) -> objectives.Plan:
    """Bind one objective to ``model`` (layer paths, channel ranges, positions checked)."""
    slots = input_slots(model)
    if slots:
        shape, dtype = tuple(slots[0].shape[1:]), tf.as_dtype(slots[0].dtype)
    else:  # subclassed model: shapes come from the layers themselves
        shape, dtype = (), tf.float32
    ctx = objectives.BindContext(model, shape, dtype)
    return objectives.bind([objective], ctx)


def objective_scores(
    spec: TargetSpec,
    params: Sequence[tf.Tensor],
    inputs: Sequence[tf.Tensor],
    layers: dict[str, tf.Tensor],
    outputs: Any,
    signs: tf.Tensor,
) -> tf.Tensor:
    """One float32 objective value per sample (inside ``tf.function``), times ``signs``.

    Args:
        spec: a target of mode ``"objective"``.
        params: the objective's parameter tensors (``Targets.params``).
        inputs: the flat model inputs (terms on the input image read the first one).
        layers: recorded outputs of ``spec.fn.layer_paths``.
        outputs: the model outputs.
        signs: ``(N,)`` +1 / -1.
    """
    layers = {p: tf.cast(t, tf.float32) for p, t in layers.items()}
    flat_outputs = [tf.cast(o, tf.float32) for o in tf.nest.flatten(outputs)]
    image = tf.cast(inputs[0], tf.float32)
    values = objectives.evaluate(spec.fn.plan, list(params), image, layers, flat_outputs, None)
    return values * signs


def _as_index_array(target: Any) -> np.ndarray:
    try:
        arr = np.asarray(target)
    except (ValueError, TypeError):
        arr = np.asarray([], dtype=object)
    one_hot = arr.ndim == 2 and arr.shape[1] > 1 and np.isin(arr, (0, 1)).all()
    if one_hot and (arr.sum(axis=1) == 1).all():
        arr = arr.argmax(axis=1)  # one-hot rows, as in (x, y_onehot) pipelines
    ok = arr.ndim == 1 and arr.size > 0 and arr.dtype.kind in "iu"
    if arr.dtype.kind == "f" and arr.ndim == 1 and np.all(arr == np.round(arr)):
        arr, ok = arr.astype(np.int64), True
    if not ok:
        raise InvalidTargetError(
            f"Per-sample targets must be a 1-D sequence of int class indices (or one-hot rows); "
            f"received {type(target).__name__} with shape {getattr(arr, 'shape', '?')} and dtype "
            f"{getattr(arr, 'dtype', '?')}."
        )
    return arr.astype(np.int64)


# ----------------------------------------------------------------------------------------------
# Inside tf.function


def _flat(outputs: Any) -> list:
    return list(outputs) if isinstance(outputs, list | tuple) else tf.nest.flatten(outputs)


def _select(spec: TargetSpec, outputs: Any) -> tf.Tensor:
    out = _flat(outputs)[spec.output]
    return out if out.shape.rank and out.shape.rank >= 2 else tf.reshape(out, (-1, 1))


def positions(spec: TargetSpec, out: tf.Tensor, inputs: Sequence[tf.Tensor] | None) -> tf.Tensor:
    """The ``(N,)`` positions a language-model target scores (inside ``tf.function``)."""
    n, steps = tf.shape(out)[0], tf.shape(out)[1]
    if spec.mask_input is not None and inputs is not None:
        # bool masks too (Moonshine's): compared as integers
        mask = tf.cast(tf.not_equal(tf.cast(inputs[spec.mask_input], tf.int32), 0), tf.int32)
        last = tf.reduce_sum(mask, axis=1) - 1
    else:
        last = tf.fill((n,), steps - 1)
    if spec.position is None:
        where = last
    elif spec.position < 0:
        where = last + 1 + spec.position
    else:
        where = tf.fill((n,), tf.constant(spec.position, tf.int32))
    return tf.clip_by_value(where, 0, steps - 1)


def _at_position(spec: TargetSpec, values: tf.Tensor, inputs) -> tf.Tensor:
    """``(N, T, V)`` -> ``(N, V)`` at the target position; anything else unchanged."""
    if not spec.sequence or values.shape.rank != 3:
        return values
    return tf.gather(values, positions(spec, values, inputs), axis=1, batch_dims=1)


def _pick(values: tf.Tensor, indices: tf.Tensor) -> tf.Tensor:
    """``values[i, ..., indices[i]]`` averaged over any middle axes: ``(N,)``."""
    if values.shape.rank == 2:
        return tf.gather(values, indices, axis=1, batch_dims=1)
    # (N, ..., K): move classes next to the batch axis, pick per sample, average the rest.
    moved = tf.experimental.numpy.moveaxis(values, -1, 1)
    picked = tf.gather(moved, indices, axis=1, batch_dims=1)
    return tf.reduce_mean(picked, axis=list(range(1, picked.shape.rank)))


def _mean_per_sample(values: Any) -> tf.Tensor:
    if isinstance(values, list | tuple):
        values = tf.stack([tf.convert_to_tensor(v) for v in values], axis=0)
    values = tf.cast(tf.convert_to_tensor(values), tf.float32)
    if values.shape.rank and values.shape.rank > 1:
        values = tf.reduce_mean(values, axis=list(range(1, values.shape.rank)))
    return values


def predicted(
    spec: TargetSpec, outputs: Any, inputs: Sequence[tf.Tensor] | None = None
) -> tuple[tf.Tensor, tf.Tensor]:
    """Predicted class indices ``(N,)`` and signs ``(N,)`` (sigmoid units: +1 when p >= 0.5);
    for a language model, the token predicted at the target position (``inputs``: the flat
    model inputs, for the padding mask)."""
    out = _select(spec, outputs)
    logit, kind = graph.pre_activation(out)
    logit = _at_position(spec, tf.cast(logit, tf.float32), inputs)
    flat = logit
    if flat.shape.rank > 2:
        flat = tf.reduce_mean(flat, axis=list(range(1, flat.shape.rank - 1)))
    n = tf.shape(flat)[0]
    if flat.shape[-1] == 1:
        indices = tf.zeros((n,), tf.int32)
        positive = tf.reshape(flat, (-1,)) >= 0.0
        signs = tf.where(positive, 1.0, -1.0) if kind == "sigmoid" else tf.ones((n,))
        return indices, signs
    return tf.cast(tf.argmax(flat, axis=-1), tf.int32), tf.ones((n,))


def scores(
    spec: TargetSpec,
    outputs: Any,
    indices: tf.Tensor,
    signs: tf.Tensor,
    probabilities: bool = False,
    inputs: Sequence[tf.Tensor] | None = None,
) -> tf.Tensor:
    """One float32 score per sample (inside ``tf.function``).

    Args:
        spec: the static target.
        outputs: model outputs, as the model returns them.
        indices: ``(N,)`` int32 class indices (ignored by callables).
        signs: ``(N,)`` float32, +1 or -1 (``negative`` and sigmoid classes).
        probabilities: score class probabilities (softmax / sigmoid) instead of logits, as
            Score-CAM and the deletion / insertion metrics do.
        inputs: the flat model inputs (a language model's padding mask decides its position).
    """
    if spec.mode == "objective":
        raise InvalidTargetError(
            "An objective target needs the recorded layers; score it with objective_scores()."
        )
    if spec.mode == "callable":
        if spec.per_output:
            parts = [_mean_per_sample(f(o)) for f, o in zip(spec.fn, _flat(outputs))]
            return tf.add_n(parts) * signs
        selected = outputs if spec.output is None else _flat(outputs)[spec.output]
        return _mean_per_sample(spec.fn(selected)) * signs
    out = _select(spec, outputs)
    logit, kind = graph.pre_activation(out)
    logit = _at_position(spec, tf.cast(logit, tf.float32), inputs)
    out = _at_position(spec, tf.cast(out, tf.float32), inputs)
    if kind == "sigmoid":
        z = _pick(logit, indices) * signs
        return tf.sigmoid(z) if probabilities or not spec.logits else z
    use_logits = spec.logits and not probabilities
    return _pick(logit if use_logits else out, indices) * signs
