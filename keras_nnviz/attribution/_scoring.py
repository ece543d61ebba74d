"""What an explainer does inside its compiled pass: score the model and differentiate it.

:class:`Scoring` is the half of :class:`~keras_nnviz.attribution._engine.Explainer` that runs in
the graph: :meth:`Scoring.score` (one forward pass with hooks, scored by the target) and
:meth:`Scoring.gradients` (the score's gradients w.r.t. the float inputs or ``layer=``'s output),
the two calls a new method's :meth:`~keras_nnviz.attribution._engine.Explainer.compute` uses.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from ..core import graph, targets
from ..errors import IncompatibleLayerError

__all__ = ["Scoring", "is_float", "resolve_indices"]


class Scoring:
    """In-graph scoring and gradients, mixed into ``Explainer`` (which provides ``model``,
    ``layer_path``, ``_spec``, ``_params``, ``_layer`` and ``_model_inputs``)."""

    # -- inside the compiled pass ---------------------------------------------------------------

    def score(
        self,
        flat: list,
        indices: tf.Tensor,
        signs: tf.Tensor,
        *,
        inner: dict | None = None,
        outer: dict | None = None,
        fixed: bool = False,
        probabilities: bool = False,
    ) -> tuple[tf.Tensor, Any, tf.Tensor, tf.Tensor]:
        """Run the model once and score it (inside :meth:`compute` only).

        ``inner`` hooks run closest to their layer (they may replace its output), then the
        recording hooks of an objective target (which see that replaced output), then ``outer``
        hooks (ReLU rules).

        Args:
            flat: the inputs (``ctx.inputs``, or perturbed copies of them).
            indices: ``(N,)`` class indices (``ctx.indices``).
            signs: ``(N,)`` signs (``ctx.signs``).
            inner: ``{id(layer): (layer, hook)}`` hooks closest to their layer.
            outer: hooks around everything else (ReLU rules).
            fixed: keep the given indices (no predicted-class lookup): for copies of a batch
                whose targets were resolved on the clean inputs.
            probabilities: score probabilities instead of the logits behind a softmax.

        Returns:
            ``(score (N,), model outputs, indices, signs)``: the indices / signs the score used
            (the predicted classes for a None target).
        """
        model = self.model
        spec = self._spec
        records: dict[str, Any] = {}
        hooks = dict(inner or {})
        if spec.mode == "objective":
            paths = spec.fn.layer_paths
            tree = graph.walk(model, include_sublayers=True)
            layers = {p: graph.find_entry(model, p, tree).layer for p in paths}
            recording = graph.recording_hooks(layers, records, first_tensor=True)
            hooks = graph.merge_hooks(recording, hooks)
        if outer:
            hooks = graph.merge_hooks(outer, hooks)
        outputs = graph.forward(model, self._model_inputs(flat), hooks)
        if spec.mode == "objective":
            graph.check_called(model, spec.fn.layer_paths, records)
            score = targets.objective_scores(spec, self._params, flat, records, outputs, signs)
            return score, outputs, indices, signs
        if not fixed:
            indices, signs = resolve_indices(spec, outputs, indices, signs, flat)
        score = targets.scores(
            spec, outputs, indices, signs, probabilities=probabilities, inputs=flat
        )
        return score, outputs, indices, signs

    def _activation(self, flat, indices, signs, *, transform=None, tape=None, **score_options):
        """Run and score the model with a hook on ``self._layer``: its output is recorded (and
        watched on ``tape``; ``transform`` may replace it first). Returns ``(score, activation,
        indices, signs)``; ``score_options`` as :meth:`score`."""
        record: dict[str, Any] = {}
        hook = functools.partial(_watch_hook, record, transform, tape)
        inner = {id(self._layer): (self._layer, hook)}
        score, _, indices, signs = self.score(flat, indices, signs, inner=inner, **score_options)
        if "a" not in record:
            graph.check_called(self.model, [self.layer_path], {})
        return score, record["a"], indices, signs

    def gradients(
        self, flat: list, indices: tf.Tensor, signs: tf.Tensor, **options: Any
    ) -> tuple[list[tf.Tensor], list[tf.Tensor], tf.Tensor, tf.Tensor]:
        """Score gradients w.r.t. what the method attributes (inside :meth:`compute` only).

        Args:
            flat: the inputs (``ctx.inputs``, or perturbed copies of them).
            indices: ``(N,)`` class indices (``ctx.indices``).
            signs: ``(N,)`` signs (``ctx.signs``).
            **options: ``outer=`` hooks, ``fixed=``, ``transform=`` (see
                :meth:`_scored_gradients`).

        Returns:
            ``(gradients, values, indices, signs)``: float32 gradients and the attributed
            values, one per float input (or one for ``layer=``'s output), aligned; the indices /
            signs the score used.
        """
        return self._scored_gradients(flat, indices, signs, **options)[1:]

    def _scored_gradients(
        self,
        flat: list,
        indices: tf.Tensor,
        signs: tf.Tensor,
        *,
        outer: dict | None = None,
        fixed: bool = False,
        transform: Callable | None = None,
    ) -> tuple[tf.Tensor, list[tf.Tensor], list[tf.Tensor], tf.Tensor, tf.Tensor]:
        """Score gradients w.r.t. what the method attributes: the float inputs, or the output of
        ``self._layer`` (``transform`` may replace that output: noise, interpolation).

        Returns:
            ``(score (N,), gradients, values, indices, signs)``: the score (integrated gradients
            checks completeness with it), gradients and the attributed values (float32),
            aligned; the indices / signs the score used.
        """
        model = self.model
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            if self._layer is None:
                watched = [t for t in flat if is_float(t)]
                if not watched:
                    raise IncompatibleLayerError(
                        f"Model {model.name!r} has no float inputs (received dtypes "
                        f"{[t.dtype.name for t in flat]}), so input gradients do not exist. "
                        "Pass layer= (e.g. the embedding layer) to attribute to its output."
                    )
                tape.watch(watched)
                score, _, indices, signs = self.score(
                    flat, indices, signs, outer=outer, fixed=fixed
                )
            else:
                score, act, indices, signs = self._activation(
                    flat, indices, signs, transform=transform, tape=tape, outer=outer, fixed=fixed
                )
                watched = [act]
        grads = tape.gradient(score, watched)
        # An input the score ignores has zero gradient, not None.
        grads = [
            tf.zeros_like(w, tf.float32) if g is None else tf.cast(g, tf.float32)
            for g, w in zip(grads, watched)
        ]
        values = [tf.cast(w, tf.float32) for w in watched]
        return tf.cast(score, tf.float32), grads, values, indices, signs

    def _clean_pass(self, flat, indices, signs):
        """Targets and attributed values on the clean inputs (noisy / interpolated copies must
        not change which class is explained): ``(indices, signs, values)``."""
        if self._layer is None:
            if self._spec.mode == "predicted":
                _, _, indices, signs = self.score(flat, indices, signs)
            values = [tf.cast(t, tf.float32) for t in flat if is_float(t)]
            return indices, signs, values
        _, act, indices, signs = self._activation(flat, indices, signs)
        return indices, signs, [tf.cast(act, tf.float32)]


def _watch_hook(record, transform, tape, layer, call, args, kwargs):
    """Record (and watch) a layer's output; ``transform`` may replace it first."""
    out = call(*args, **kwargs)
    if "a" in record:  # a shared layer: explain its first call
        return out
    if isinstance(out, list | tuple | dict):
        raise IncompatibleLayerError(
            f"Layer {layer.name!r} returns {len(out)} tensors; attribution to a layer needs a "
            "layer with one output tensor."
        )
    if transform is not None:
        out = transform(out)
    if tape is not None:
        tape.watch(out)
    record["a"] = out
    return out


def resolve_indices(spec, outputs, indices, signs, inputs=None):
    """Replace indices/signs by the predicted class when the target is None."""
    if spec.mode != "predicted":
        return indices, signs
    pred, pred_signs = targets.predicted(spec, outputs, inputs)
    return tf.stop_gradient(pred), signs * pred_signs


def is_float(t: tf.Tensor) -> bool:
    return t.dtype.is_floating
