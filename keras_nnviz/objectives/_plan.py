"""Plans: a list of objectives bound to a model, and their per-image values in a trace."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from ..core import graph
from ..errors import InvalidArgumentError
from ._context import BindContext
from ._core import INPUT, LAYER, OUTPUT, BoundTerm, Objective


@dataclass
class Plan:
    """Objectives bound to a model: what to record and how to score each image.

    Attributes:
        objectives: the user's objectives (one per group of ``batch`` images).
        terms: per objective, ``[(weight_index, BoundTerm), ...]``.
        key: hashable structure for caching the compiled step.
        params: flat parameter list (weights first, then term parameters in order).
        layer_paths: layers whose outputs must be recorded.
        outputs: indices of model outputs read by class_logit terms.
    """

    objectives: list[Objective]
    terms: list[list[BoundTerm]]
    key: tuple
    params: list[np.ndarray]
    layer_paths: list[str]
    outputs: list[int]


def as_objectives(objective: Objective | Sequence[Objective]) -> list[Objective]:
    """Normalize the ``objective`` argument to a non-empty list of :class:`Objective`."""
    if isinstance(objective, Objective):
        return [objective]
    if isinstance(objective, str) or not isinstance(objective, Sequence):
        raise InvalidArgumentError(
            f"objective must be an nv.objectives.Objective or a list of them; received "
            f"{type(objective).__name__} {objective!r}. Example: "
            "nv.objectives.channel('conv2', 3)."
        )
    items = list(objective)
    if not items:
        raise InvalidArgumentError("objective is an empty list; pass at least one objective.")
    for item in items:
        if not isinstance(item, Objective):
            raise InvalidArgumentError(
                f"objective list items must be nv.objectives.Objective; received "
                f"{type(item).__name__} {item!r}."
            )
    return items


def bind(objectives: list[Objective], ctx: BindContext) -> Plan:
    """Resolve and check every term of ``objectives`` against ``ctx``'s model."""
    all_terms, key, params, paths, outs = [], [], [], [], []
    for obj in objectives:
        if not obj.terms:
            raise InvalidArgumentError("An objective has no terms (it is zero).")
        bound = [_channels_last(term.bind(ctx), ctx) for _, term in obj.terms]
        all_terms.append(bound)
        key.append(tuple(b.key for b in bound))
        params.extend(np.float32(w) for w, _ in obj.terms)
        for b in bound:
            params.extend(np.asarray(p) for p in b.params)
            if b.source == LAYER and b.path not in paths:
                paths.append(b.path)
            if b.source == OUTPUT and b.path not in outs:
                outs.append(b.path)
    return Plan(objectives, all_terms, tuple(key), params, paths, outs)


def _channels_last(term: BoundTerm, ctx: BindContext) -> BoundTerm:
    """``term`` reading a channels-first layer gets its activation channels-last, the layout
    every unit term indexes (channel on the last axis), like the shape it was bound with."""
    if term.source != LAYER or not ctx.channels_first(term.path):
        return term
    fn = term.fn

    def channels_last(act: tf.Tensor, params: list) -> tf.Tensor:
        rank = act.shape.rank
        if rank is None or rank < 3:
            return fn(act, params)
        return fn(tf.transpose(act, [0, *range(2, rank), 1]), params)

    return dataclasses.replace(term, fn=channels_last)


def evaluate(
    plan: Plan,
    params: list[tf.Tensor],
    images: tf.Tensor,
    layers: dict[str, tf.Tensor],
    outputs: list[tf.Tensor],
    batch: int | None,
    return_dead: bool = False,
) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
    """Per-image objective values ``(len(objectives) * batch,)`` inside a traced function.

    Image ``i`` belongs to objective ``i // batch``; each objective sees only its own images.
    ``batch=None`` (one objective only) scores every image with it.

    Args:
        plan: the bound objectives.
        params: tensors in the order of ``plan.params``.
        images: the [0, 1] images being optimized.
        layers: recorded layer outputs ``{path: (N, ...)}`` (float32).
        outputs: the model's flat outputs (float32); softmax/sigmoid outputs are mapped to their
            logits here.
        batch: images per objective, or None for one objective over all images.
        return_dead: also return a bool per image: its objective has unit terms and every one
            of them is exactly 0 (dead ReLUs: no gradient reaches the image through them).
    """
    logits_cache: dict[int, tf.Tensor] = {}
    cursor = 0
    values, dead = [], []
    for i, bound_terms in enumerate(plan.terms):
        weights = params[cursor : cursor + len(bound_terms)]
        cursor += len(bound_terms)
        lo, hi = (None, None) if batch is None else (i * batch, (i + 1) * batch)
        total, alive = None, None
        for weight, term in zip(weights, bound_terms):
            n = len(term.params)
            term_params = params[cursor : cursor + n]
            cursor += n
            if term.source == INPUT:
                source = images
            elif term.source == OUTPUT:
                if term.path not in logits_cache:
                    logits, _ = graph.pre_activation(outputs[term.path])
                    logits_cache[term.path] = tf.cast(logits, tf.float32)
                source = logits_cache[term.path]
            else:
                source = layers[term.path]
            raw = tf.cast(term.fn(source[lo:hi], term_params), tf.float32)
            total = weight * raw if total is None else total + weight * raw
            if term.unit:
                fires = tf.not_equal(raw, 0.0)
                alive = fires if alive is None else tf.logical_or(alive, fires)
        values.append(total)
        dead.append(tf.zeros_like(total, tf.bool) if alive is None else tf.logical_not(alive))
    if return_dead:
        return tf.concat(values, axis=0), tf.concat(dead, axis=0)
    return tf.concat(values, axis=0)
