"""Targets: what an explanation explains (the score language every method shares).

Every compute function takes ``target`` (and ``output=`` for a multi-output model); this module
holds the public target types. The resolution itself lives in :mod:`keras_nnviz.core.targets`.

Accepted targets:

- ``None``: each sample's predicted class (for a one-unit sigmoid: the positive class when
  ``p >= 0.5``, else the negative one; for a one-unit linear output: that unit).
- ``int``: one class (output unit) for every sample.
- a sequence / array of ints: one class per sample.
- a callable ``(outputs) -> scores``: receives the selected output tensor (all outputs as a
  list when the model has several and ``output=`` is not given) and returns ``(N,)`` scores or
  ``(N, ...)`` values averaged per sample.
- tf-keras-vis ``CategoricalScore`` / ``BinaryScore`` (read as class indices / signs); any other
  tf-keras-vis ``Score`` is a callable. A list of them, one per model output, sums their scores.
- :class:`Token` (``nv.targets.Token(token=None, position=None)``): a token of a language
  model's ``(N, T, V)`` output at one position (see below).
- an objective from :mod:`keras_nnviz.objectives` (``channel``, ``neuron``, ``class_logit``,
  ``direction`` or a weighted sum of them): the score is the objective's value per sample, so a
  unit of any layer can be explained. It is bound with the objectives' own machinery
  (:func:`keras_nnviz.objectives.bind` / :func:`~keras_nnviz.objectives.evaluate`); its parameters
  (channel index, position, vector) travel as tensors, so another channel never retraces.

Language models (an ``(N, T, V)`` output of a model that takes integer token ids ``(N, T)``, such
as a KerasHub ``CausalLM``): a class target means a *token at one position*, not a mean over
positions. By default that position is each sample's last non-padding token (read from the
model's ``padding_mask`` input when it has one, else the last position), so ``target=None`` is the
next token the model predicts after the prompt and ``target=k`` the logit of token ``k`` there.
``Token(position=p)`` picks another position: ``p >= 0`` counts from the start, ``p < 0`` from
the last non-padding token (``-1`` is the default). Other rank-3 outputs (a Conv1D tagger on
float inputs) keep the mean over positions.

Scores are taken on the logits behind a softmax or sigmoid output (found in the traced graph by
:func:`keras_nnviz.core.graph.pre_activation`, without cloning or changing the model): softmax
probabilities couple all classes and saturate, so their gradients are dominated by the other
classes. ``negative=True`` multiplies the score by -1; for a sigmoid unit this is exactly the
logit of the other class.
"""

from __future__ import annotations

from .core.targets import Token

__all__ = ["Token"]
