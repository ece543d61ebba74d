"""Training diagnostics: gradient flow (:mod:`.flow`), dead units and activation statistics
(:mod:`.units`).

The questions users ask while a network trains — are my gradients vanishing, are my ReLUs dead,
are my sigmoids saturated — answered as numpy rows, one compiled pass per batch, without touching
the model, its optimizer or its compiled loss.
"""

from .flow import (
    check_labels,
    flow_rows,
    gradient_flow,
    gradient_flow_pass,
    label_arrays,
    label_rows,
    labels_batches,
    layer_gradient_norms,
    resolve_loss,
    trainable_values,
    variable_names,
)
from .units import (
    RELU_FAMILY,
    SATURATING,
    activation_stats,
    count_dead_units,
    dead_units,
    watched_layers,
)

__all__ = [
    "activation_stats",
    "check_labels",
    "count_dead_units",
    "dead_units",
    "flow_rows",
    "gradient_flow",
    "gradient_flow_pass",
    "label_arrays",
    "label_rows",
    "labels_batches",
    "layer_gradient_norms",
    "RELU_FAMILY",
    "resolve_loss",
    "SATURATING",
    "trainable_values",
    "variable_names",
    "watched_layers",
]
