"""Unit-level backprop views: deconvnet and guided-backprop reconstructions of what drives a unit.

For an input and a unit objective (a channel, a neuron, a class logit ...), the gradient of the
objective with respect to the input is taken with a modified rule at every ReLU:

- ``"guided"`` (Springenberg et al. 2015): a gradient passes a ReLU only where the forward
  activation was positive *and* the gradient itself is positive;
- ``"deconv"`` (Zeiler & Fergus 2014): only positive gradients pass, whatever the forward
  activation was.

The result is an input-space picture of the pattern in this input that drives the unit; for a
:func:`~keras_nnviz.objectives.neuron` it is confined to the neuron's receptive field.

The ReLU rules and :func:`~keras_nnviz.attribution.gradients.modified_backprop` are the
attribution family's (guided backprop uses the very same machinery).
"""

from __future__ import annotations

import functools
import weakref
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import graph, objectives
from ..attribution.gradients import modified_backprop
from ..errors import IncompatibleLayerError, InvalidArgumentError, UnsupportedModelError
from ..inputs import input_signature, prepare

RULES = ("guided", "deconv")


class _ViewFn:
    """A compiled ``inputs -> input gradient`` under one rule for one objective structure."""

    def __init__(self, model: keras.Model, plan: objectives.Plan, rule: str):
        self._model_ref = weakref.ref(model)
        self.plan = plan
        self.rule = rule
        self.trace_count = 0
        wanted = set(plan.layer_paths)
        self._layers = {
            e.path: e.layer for e in graph.walk(model, include_sublayers=True) if e.path in wanted
        }
        signature = input_signature(model)
        params = [tf.TensorSpec(np.shape(p), tf.as_dtype(np.asarray(p).dtype)) for p in plan.params]
        # A partial, not a method: TF keys retrace warnings on the shared code object.
        self.fn = tf.function(functools.partial(self._run), input_signature=[signature, params])

    def _run(self, inputs, params):
        self.trace_count += 1
        model = self._model_ref()
        records: dict[str, Any] = {}
        hooks = graph.recording_hooks(self._layers, records, first_tensor=True)
        image = tf.cast(inputs[0], tf.float32)

        def score_fn(outputs):
            missing = [p for p in self.plan.layer_paths if p not in records]
            if missing:
                raise IncompatibleLayerError(
                    f"Layers {missing} are not called when model {model.name!r} runs on its "
                    "input, so objectives on them have no gradient."
                )
            layers = {p: tf.cast(t, tf.float32) for p, t in records.items()}
            return objectives.evaluate(
                self.plan, params, image, layers, tf.nest.flatten(outputs), batch=None
            )

        grads, _ = modified_backprop(model, list(inputs), score_fn, self.rule, hooks)
        return grads[0]


_VIEWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def backprop_view(
    model: keras.Model,
    x: Any,
    objective: objectives.Objective,
    rule: str = "guided",
    batch_size: int = 32,
) -> np.ndarray:
    """Deconvnet or guided-backprop reconstruction of what drives ``objective`` in each input.

    Args:
        model: a built single-input model with float input (ReLU networks; other activations
            keep their ordinary gradient).
        x: model-ready inputs (numpy, tensor or ``tf.data.Dataset``), e.g. the unit's
            :func:`~keras_nnviz.featureviz.top_examples` images.
        objective: a unit objective, e.g. ``objectives.neuron("conv2", 5)`` (confined to the
            neuron's receptive field) or ``objectives.channel("conv2", 5, reduce="max")``
            (the channel's strongest position, as Zeiler & Fergus project it).
        rule: ``"guided"`` or ``"deconv"``.
        batch_size: inputs per compiled pass.

    Returns:
        Signed float32 maps shaped like the inputs; show them with
        :func:`keras_nnviz.plot.backprop_views`.

    Raises:
        UnsupportedModelError: several inputs or a non-float input.
        InvalidArgumentError: unknown rule.

    Example:
        >>> top = nv.top_examples(model, x, "conv2", 5)
        >>> views = nv.guided_view(model, top.images, nv.objectives.channel("conv2", 5, "max"))
        >>> nv.plot.backprop_views(top.images, views)
    """
    if rule not in RULES:
        raise InvalidArgumentError(f"rule must be one of {list(RULES)}; received {rule!r}.")
    signature = input_signature(model)
    if signature is None or len(signature) != 1 or not signature[0].dtype.is_floating:
        raise UnsupportedModelError(
            f"Backprop views need a Functional/Sequential model with one float input; model "
            f"{model.name!r} has {'no graph' if signature is None else len(signature)} "
            "input(s)."
        )
    if not isinstance(objective, objectives.Objective):
        objectives.as_objectives(objective)
        raise InvalidArgumentError("backprop views take one objective; call once per objective.")
    data = prepare(model, x, batch_size)
    out = []
    view = None
    for batch in data.batches(batch_size):
        if view is None:
            shape = tuple(batch[0].shape[1:])
            ctx = objectives.BindContext(model, shape, signature[0].dtype)
            plan = objectives.bind([objective], ctx)
            per_model = _VIEWS.setdefault(model, {})
            key = (plan.key, rule)
            if key not in per_model:
                per_model[key] = _ViewFn(model, plan, rule)
            view = per_model[key]
            params = [tf.constant(p) for p in plan.params]
        out.append(view.fn(batch, params).numpy())
    return np.concatenate(out, axis=0)


def guided_view(
    model: keras.Model, x: Any, objective: objectives.Objective, batch_size: int = 32
) -> np.ndarray:
    """Guided-backprop view of a unit (see :func:`backprop_view`).

    Example:
        >>> nv.guided_view(model, x[:8], nv.objectives.neuron("conv2", 5))
    """
    return backprop_view(model, x, objective, "guided", batch_size)


def deconv_view(
    model: keras.Model, x: Any, objective: objectives.Objective, batch_size: int = 32
) -> np.ndarray:
    """Deconvnet view of a unit (Zeiler & Fergus; see :func:`backprop_view`).

    Example:
        >>> nv.deconv_view(model, x[:8], nv.objectives.channel("conv2", 5, reduce="max"))
    """
    return backprop_view(model, x, objective, "deconv", batch_size)
