"""Keras callbacks that show visualizations evolving during ``model.fit``.

Every callback is ``Cls(log_dir, *, ...)``: ``log_dir`` first like
``keras.callbacks.TensorBoard``, everything else by keyword with one name per concept (``x``,
``labels``, ``layers``, ``every``, ``name``, ``on_error``); an unknown keyword fails at
construction. Each snapshot either computes on the training thread with the compiled pass of its
family (built once per model, reused every epoch) or, where it can, only freezes the weights
there and runs its pass on a weight snapshot on the background writer thread (activations,
embeddings, dead units, gradient flow). The writer thread draws cheap frames and writes them to
the sinks (:mod:`keras_nnviz.io`): PNG files, TensorBoard summaries, an animated GIF per tag,
and a JSON manifest of everything written (the training curves once per fit). Callbacks survive
``copy.deepcopy`` and ``pickle`` (KerasTuner copies them per trial).

Callbacks: ``WeightHistograms``, ``WeightMatrices``, ``ActivationMaps``, ``EmbeddingProjection``
(scatter + TensorBoard projector), ``GradCAM`` / ``Attributions`` (any attribution method),
``AttentionMaps``, ``ImageTextMaps`` (where an image-text model matches each image to its
text), ``FeatureVisualization``, ``GradientFlow`` (gradient norms, update ratios),
``DeadUnits``, ``Doctor`` (automated diagnosis, findings in the manifest); ``Report`` writes an
HTML page of them all, rewritten after every epoch while training runs; ``LiveView`` follows
training in one notebook output cell; a new family subclasses ``VisualizationCallback``.

The callbacks of one fit share one overhead budget (:class:`Budget`, 5 % of the training time
by default; ``with nv.callbacks.budget(0.1): ...`` or ``budget=`` to choose): with
``every="auto"`` (the default) they draw the state before training, the final state, and in
between as often as what their snapshots cost allows; the manifest records the epochs each one
drew, and TensorBoard shows them (``nnviz/drawn/<callback>``, ``nnviz/schedule/<callback>``).

Example:
    >>> cbs = [
    ...     nv.callbacks.WeightHistograms("logs"),
    ...     nv.callbacks.ActivationMaps("logs", x=x_val[:1]),
    ...     nv.callbacks.EmbeddingProjection("logs", x=x_val, labels=y_val, layer="dense"),
    ... ]
    >>> model.fit(x, y, epochs=10, callbacks=cbs)
"""

from ._base import (
    CallbackStats,
    Schedule,
    TrainingDivergedWarning,
    VisualizationCallback,
    VisualizationWarning,
    fixed_inputs,
    is_chief,
)
from ._budget import Budget, budget
from ._inputs import NothingToShowWarning
from .activations import ActivationMaps
from .attention import AttentionMaps
from .attribution import Attributions, GradCAM
from .crossmodal import ImageTextMaps
from .diagnostics import DeadUnits, DeadUnitsWarning, GradientFlow
from .doctor import Doctor
from .embedding import EmbeddingProjection
from .featureviz import FeatureVisualization
from .live import LiveView
from .report import Report
from .weights import WeightHistograms, WeightMatrices

__all__ = [
    "ActivationMaps",
    "AttentionMaps",
    "Attributions",
    "Budget",
    "CallbackStats",
    "DeadUnits",
    "DeadUnitsWarning",
    "Doctor",
    "EmbeddingProjection",
    "FeatureVisualization",
    "GradCAM",
    "GradientFlow",
    "ImageTextMaps",
    "LiveView",
    "NothingToShowWarning",
    "Report",
    "Schedule",
    "TrainingDivergedWarning",
    "VisualizationCallback",
    "VisualizationWarning",
    "WeightHistograms",
    "WeightMatrices",
    "budget",
    "fixed_inputs",
    "is_chief",
]
