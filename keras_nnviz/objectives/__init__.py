"""What feature visualization maximizes: objectives on layers, logits and the image itself.

An objective is a weighted sum of *terms*. Build terms with the functions of this module and
combine them with ``+``, ``-`` and ``*`` / ``/`` by a number::

    obj = objectives.channel("conv2", 5) - 0.05 * objectives.total_variation()

Objectives name layers by path (``"base/block2_conv"`` reaches into nested models) and are not
tied to a model until :func:`keras_nnviz.maximize_activation` binds them: only then are layer
paths resolved and channel indices, positions and vector lengths checked against the model.

Sign convention (as in Lucid): unit objectives (:func:`channel`, :func:`neuron`,
:func:`direction`, :func:`layer_norm`, :func:`class_logit`) grow when the unit fires more;
:func:`diversity` and the regularizers (:func:`total_variation`, :func:`l1`, :func:`l2`,
:func:`blur`) are *penalties* (non-negative, larger is worse): subtract them.

Every term is computed per image, so the optimizer maximizes each image's own objective; terms
are averaged over positions, which keeps weights comparable across layer and image sizes.
"""

# Internal machinery used by keras_nnviz.featureviz (not part of the documented surface).
from ._context import BindContext  # noqa: F401
from ._core import INPUT, LAYER, OUTPUT, BoundTerm, Objective  # noqa: F401
from ._plan import Plan, as_objectives, bind, evaluate  # noqa: F401
from .regularizers import blur, l1, l2, total_variation
from .units import channel, class_logit, direction, diversity, layer_norm, neuron

__all__ = [
    "Objective",
    "blur",
    "channel",
    "class_logit",
    "direction",
    "diversity",
    "l1",
    "l2",
    "layer_norm",
    "neuron",
    "total_variation",
]
