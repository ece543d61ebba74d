"""Automated diagnosis: :func:`diagnose` reads a model, a sample of its data and its fit's
History into ranked :class:`Finding` objects — what is wrong, where, and what to try.

Findings (``Finding.code``): ``divergence``, ``exploding_gradients``, ``vanishing_gradients``,
``dead_units``, ``saturated_units``, ``frozen_layer``, ``learning_rate_too_high``,
``learning_rate_too_low``, ``overfitting``, ``underfitting``, ``unscaled_inputs``,
``label_noise`` (with ``Diagnosis.suspect_samples``), ``class_imbalance``, ``ood_inputs``,
``attention_collapse``, ``shortcut``. The callback :class:`keras_nnviz.callbacks.Doctor` runs
it during a fit and ``nnviz doctor`` prints it.
"""

from .curves import CURVE_LIMITS, curve_findings, history_dict
from .doctor import diagnose, infer_loss, per_sample_losses
from .findings import CODES, SEVERITIES, Diagnosis, Finding, findings_html
from .rules import LIMITS
from .shortcut import SHORTCUT_LIMITS

__all__ = [
    "CODES",
    "CURVE_LIMITS",
    "curve_findings",
    "diagnose",
    "Diagnosis",
    "Finding",
    "findings_html",
    "history_dict",
    "infer_loss",
    "LIMITS",
    "per_sample_losses",
    "SEVERITIES",
    "SHORTCUT_LIMITS",
]
