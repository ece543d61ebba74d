"""Unit-level backprop views: deconvnet and guided-backprop reconstructions of what drives a unit.

For an input and a unit objective (a channel, a neuron, a class logit ...), the gradient of the
objective with respect to the input is taken with a modified rule at every ReLU:

- ``"guided"`` (Springenberg et al. 2015): a gradient passes a ReLU only where the forward
  activation was positive *and* the gradient itself is positive;
- ``"deconv"`` (Zeiler & Fergus 2014): only positive gradients pass, whatever the forward
  activation was.

The result is an input-space picture of the pattern in this input that drives the unit; for a
:func:`~keras_nnviz.objectives.neuron` it is confined to the neuron's receptive field.

A view is :func:`keras_nnviz.guided_backprop` with the objective as its target: one machinery
(ReLU rules, compiled pass, objective binding) for attributions and unit views.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from .. import objectives
from ..attribution import guided_backprop
from ..core.inputs import input_signature
from ..errors import InvalidArgumentError, UnsupportedModelError

__all__ = [
    "backprop_view",
    "deconv_view",
    "guided_view",
    "RULES",
]

RULES = ("guided", "deconv")


def backprop_view(
    model: keras.Model,
    x: Any,
    objective: objectives.Objective,
    *,
    rule: str = "guided",
    batch_size: int = 32,
) -> np.ndarray:
    """Deconvnet or guided-backprop reconstruction of what drives ``objective`` in each input.

    This is :func:`keras_nnviz.guided_backprop` with the objective as the target (raw, signed,
    per channel): the same compiled pass and ReLU rules.

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
    return guided_backprop(
        model,
        x,
        objective,
        rule=rule,
        keep_channels=True,
        normalize=False,
        batch_size=batch_size,
        progress=False,
    )


def guided_view(
    model: keras.Model, x: Any, objective: objectives.Objective, *, batch_size: int = 32
) -> np.ndarray:
    """Guided-backprop view of a unit (see :func:`backprop_view`).

    Example:
        >>> nv.guided_view(model, x[:8], nv.objectives.neuron("conv2", 5))
    """
    return backprop_view(model, x, objective, rule="guided", batch_size=batch_size)


def deconv_view(
    model: keras.Model, x: Any, objective: objectives.Objective, *, batch_size: int = 32
) -> np.ndarray:
    """Deconvnet view of a unit (Zeiler & Fergus; see :func:`backprop_view`).

    Example:
        >>> nv.deconv_view(model, x[:8], nv.objectives.channel("conv2", 5, reduce="max"))
    """
    return backprop_view(model, x, objective, rule="deconv", batch_size=batch_size)
