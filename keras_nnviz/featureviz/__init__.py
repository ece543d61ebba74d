"""Feature visualization: activation maximization, top dataset examples, unit-level views.

See :func:`maximize_activation` (objectives in :mod:`keras_nnviz.objectives`), the random
transforms in :mod:`keras_nnviz.featureviz.transforms` and the parameterizations in
:mod:`keras_nnviz.featureviz.param`.
"""

from . import param, transforms
from .examples import TopExamples, top_examples
from .optimize import Maximization, compiled_steps, maximize_activation
from .score import objective_values
from .views import backprop_view, deconv_view, guided_view

__all__ = [
    "Maximization",
    "TopExamples",
    "backprop_view",
    "compiled_steps",
    "deconv_view",
    "guided_view",
    "maximize_activation",
    "objective_values",
    "param",
    "top_examples",
    "transforms",
]
