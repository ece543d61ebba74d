"""What the perturbation methods share: feature groups per batch, perturbed copies batched
through the compiled pass, and maps spread back over each feature's positions.

KernelSHAP, LIME, RISE, feature ablation and feature permutation (:mod:`.shapley`,
:mod:`.ablation`, :mod:`.rise`) are :class:`Perturbation` explainers. Outside the graph, per
batch, :meth:`Perturbation._extras` turns ``features=`` and ``baseline=`` into group ids and
replacement values (:mod:`.features`) and asks the method for its *design*: which features each
evaluation keeps (a ``(S, F)`` 0/1 matrix of coalitions, seeded numpy) and their regression
weights. Inside the compiled pass :meth:`Perturbation.evaluate` runs the ``S`` perturbed copies
of every sample in chunks of about ``batch_size`` inputs through one ``tf.while_loop`` (the
machinery of occlusion and Score-CAM: :func:`keras_nnviz.attribution._maps.chunked_loop`), and
the method turns the ``(N, S)`` scores into one value per feature, spread over its positions.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import tensorflow as tf

from .. import _compat, validation
from ..core.model import token_input
from ..errors import IncompatibleLayerError, InvalidArgumentError, InvalidInputError, MethodWarning
from . import _engine as E
from . import _maps as M
from . import features as G

__all__ = ["Design", "Perturbation", "blend", "keep_masks", "spread"]

# Coalition matrices stay below this many entries (S × F float32: 64 MiB).
MAX_DESIGN = 16 * 2**20


class Design(dict):
    """A method's perturbations of one batch: ``coalitions`` ``(S, F)`` (1 = the feature is
    present), ``weights`` ``(S,)``, and for feature permutation ``perms`` ``(R, N)`` (sample
    ``perms[r, i]`` lends sample ``i`` its values) with ``sources`` ``(S,)`` (the ``r`` of each
    evaluation; -1: the baseline)."""


class Perturbation(E.Explainer):
    """Base of the perturbation methods: inputs only (no ``layer=``), one feature-group design
    per batch, progress counted in model evaluations."""

    takes_layer = False
    heavy = True

    # -- subclass interface ----------------------------------------------------------------

    def _design(self, features: int, n: int, dynamic: dict, start: int) -> Design:
        """The perturbations of a batch of ``n`` samples with ``features`` features."""
        raise NotImplementedError

    def _rows(self, features: int, dynamic: dict) -> int:
        """Evaluations per sample of a batch with ``features`` features (checked before the
        design is drawn)."""
        return dynamic["samples"]

    # -- options ---------------------------------------------------------------------------

    @staticmethod
    def _common(samples: int | None, seed: int, baseline: Any, features: Any) -> dict:
        """Check the options every perturbation method shares; return them as dynamic."""
        if samples is not None:
            samples = validation.positive_int("samples", samples)
        seed = validation.positive_int("seed", seed, minimum=0)
        if isinstance(features, str) and features not in G.FEATURE_KINDS:
            raise InvalidArgumentError(
                f"features must be one of {list(G.FEATURE_KINDS)}, an integer mask (group ids, "
                f"shaped like the input without channels), a callable or None; received "
                f"{features!r}."
            )
        return {"samples": samples, "seed": seed, "baseline": baseline, "features": features}

    # -- which inputs ----------------------------------------------------------------------

    def _kinds(self) -> dict[int, G.InputKind]:
        """``{input index: layout}`` of the inputs features are made of: float inputs of rank
        >= 2 and the token ids of a text model (found once per instance)."""
        found = self.__dict__.get("_found_kinds")
        if found is None:
            found = self.__dict__["_found_kinds"] = self._find_kinds()
        return found

    def _find_kinds(self) -> dict[int, G.InputKind]:
        if self._slots is None:  # subclassed: the shape it was built with
            built = _compat.build_input_shapes(self.model)
            if len(built) != 1 or len(built[0]) < 2:
                raise IncompatibleLayerError(
                    "Perturbation methods need the input shape of a subclassed model: call it "
                    "once on a batch first."
                )
            return {0: G.InputKind(False, len(built[0]) >= 3, self._inputs_cf[0])}
        tokens = token_input(self.model)
        kinds = {}
        for i, s in enumerate(self._slots):
            floating = tf.as_dtype(s.dtype).is_floating
            if (floating and len(s.shape) >= 2) or (i == tokens and len(s.shape) == 2):
                first = i < len(self._inputs_cf) and self._inputs_cf[i]
                kinds[i] = G.InputKind(not floating, floating and len(s.shape) >= 3, first)
        if not kinds:
            raise IncompatibleLayerError(
                f"Model {self.model.name!r} has no float input of rank >= 2 and no token ids to "
                "perturb; perturbation methods switch input features on and off."
            )
        return kinds

    def _attributable(self) -> list[bool]:
        kinds = self._kinds()
        count = 1 if self._slots is None else len(self._slots)
        return [i in kinds for i in range(count)]

    def _input_specs(self) -> list[tuple[int, tf.DType]]:
        """``(rank, dtype)`` of each attributed input."""
        if self._slots is None:
            return [(len(_compat.build_input_shapes(self.model)[0]), tf.float32)]
        slots = [self._slots[i] for i in self._kinds()]
        return [(len(s.shape), tf.as_dtype(s.dtype)) for s in slots]

    # -- extras: the batch's design, outside the graph ------------------------------------

    def _extra_signature(self, opts):
        specs = [
            tf.TensorSpec((), tf.int32),  # chunk: evaluations per loop step and sample
            tf.TensorSpec((), tf.int32),  # seed
            tf.TensorSpec((None, None), tf.float32),  # coalitions (S, F)
            tf.TensorSpec((None,), tf.float32),  # weights (S,)
            tf.TensorSpec((None, None), tf.int32),  # perms (R, N)
            tf.TensorSpec((None,), tf.int32),  # sources (S,)
            tf.TensorSpec((None,), tf.float32),  # the method's numbers
        ]
        for (rank, dtype), kind in zip(self._input_specs(), self._kinds().values()):
            spatial = rank - 1 - int(kind.channels)
            specs.append(tf.TensorSpec((None,) * (spatial + 1), tf.int32))  # ids
            specs.append(tf.TensorSpec((None,) * rank, dtype))  # replacement
        return tuple(specs)

    def _numbers(self, dynamic: dict) -> list[float]:
        """Scalars the method's graph reads (RISE: keep probability, cells)."""
        return []

    def _extras(self, batch, opts, dynamic, start, size):
        flat = batch if isinstance(batch, list | tuple) else [batch]
        arrays = [np.asarray(t) for t in flat]
        kinds = self._kinds()
        feats = G.per_input(dynamic["features"], len(kinds), "features")
        bases = G.per_input(dynamic["baseline"], len(kinds), "baseline")
        ids = [G.feature_ids(f, arrays[i], k) for (i, k), f in zip(kinds.items(), feats)]
        ids, count = G.renumber(ids)
        if count == 0:
            raise InvalidInputError(
                "features= leaves no feature to perturb (every id is negative); give at least "
                "one position a non-negative group id."
            )
        replacements = [
            G.baseline_values(b, arrays[i], k) for (i, k), b in zip(kinds.items(), bases)
        ]
        rows = self._rows(count, dynamic)
        if rows * count > MAX_DESIGN:
            raise InvalidArgumentError(
                f"{rows} evaluations × {count} features is too large a design (at most "
                f"{MAX_DESIGN} entries); lower samples= or use fewer features "
                "(features='grid' or 'superpixels')."
            )
        design = self._design(count, size, dynamic, start)
        coalitions = np.asarray(design.get("coalitions", np.zeros((0, count))), np.float32)
        sources = design.get("sources", np.full(len(coalitions), -1))
        self._batch_evaluations = int(design.get("evaluations", len(coalitions)))
        extras = [
            tf.constant(max(1, dynamic["batch_size"] // size), tf.int32),
            tf.constant(dynamic["seed"], tf.int32),
            tf.constant(coalitions),
            tf.constant(np.asarray(design.get("weights", np.ones(len(coalitions))), np.float32)),
            tf.constant(np.asarray(design.get("perms", np.zeros((0, size))), np.int32)),
            tf.constant(np.asarray(sources, np.int32)),
            tf.constant(np.asarray(self._numbers(dynamic), np.float32).reshape(-1)),
        ]
        for part, replacement in zip(ids, replacements):
            extras += [tf.constant(part), tf.constant(replacement)]
        return tuple(extras)

    # -- progress in evaluations -----------------------------------------------------------

    def _evaluations(self, dynamic: dict) -> int | None:
        """0: the bar counts evaluations, their total is known after the first batch (the
        number of features, hence of coalitions, comes with the data)."""
        return 0

    def _progress_units(self, size: int) -> int:
        return size * max(1, getattr(self, "_batch_evaluations", 1))

    # -- inside the compiled pass ----------------------------------------------------------

    def unpack(self, extras) -> dict:
        """The extras of :meth:`_extras` by name; ``ids`` / ``replacements`` per attributed
        input index."""
        names = ("chunk", "seed", "coalitions", "weights", "perms", "sources", "numbers")
        out = dict(zip(names, extras[: len(names)]))
        rest = extras[len(names) :]
        keys = list(self._kinds())
        out["ids"] = dict(zip(keys, rest[0::2]))
        out["replacements"] = dict(zip(keys, rest[1::2]))
        return out

    def evaluate(self, ctx: E.ComputeContext, x: dict, total, keeps, accumulate, init, indices):
        """Score ``total`` perturbed copies of every sample, in chunks.

        Args:
            ctx: the batch.
            x: :meth:`unpack` of ``ctx.extras``.
            total: evaluations per sample (int32 scalar).
            keeps: ``(start, stop) -> {input index: (N or 1, m, *spatial)}`` how much of each
                position the copies ``start ... stop - 1`` keep (1: the input, 0: the
                replacement).
            accumulate: ``(acc, start, stop, scores (N, m), keep) -> acc``.
            init: the accumulator's initial tuple.
            indices: ``(indices, signs)`` resolved on the clean batch.

        Returns:
            The final accumulator.
        """
        flat, kinds = ctx.inputs, self._kinds()
        idx, signs = indices
        n = tf.shape(flat[0])[0]

        def body(start, stop, acc):
            m = stop - start
            keep = keeps(start, stop)
            batch = []
            for i, t in enumerate(flat):
                if i not in keep:
                    batch.append(tf.repeat(t, m, axis=0))
                    continue
                other = x["replacements"][i][:, None]  # (N, 1, ...)
                if self._permutes:
                    other = _lent(t, x["perms"], x["sources"][start:stop], other)
                batch.append(blend(t, other, keep[i], kinds[i]))
            score = self.score(batch, tf.repeat(idx, m), tf.repeat(signs, m), fixed=True)[0]
            score = tf.reshape(tf.cast(score, tf.float32), tf.stack([n, m]))
            return accumulate(acc, start, stop, score, keep)

        return M.chunked_loop(total, x["chunk"], body, init)

    _permutes = False

    def coalition_scores(self, ctx: E.ComputeContext, x: dict, indices) -> tf.Tensor:
        """``(N, S)`` scores of the design's coalitions."""
        z = x["coalitions"]
        total = tf.shape(z)[0]
        n = tf.shape(ctx.inputs[0])[0]

        def keeps(start, stop):
            return {i: keep_masks(z[start:stop], ids) for i, ids in x["ids"].items()}

        def accumulate(acc, start, stop, score, keep):
            return (acc[0] + tf.pad(score, [[0, 0], [start, total - stop]]),)

        (scores,) = self.evaluate(
            ctx, x, total, keeps, accumulate, (tf.zeros(tf.stack([n, total])),), indices
        )
        return scores

    def finish_maps(self, values: tf.Tensor, x: dict, ctx: E.ComputeContext) -> list[tf.Tensor]:
        """Per-feature values ``(N, F)`` spread over each attributed input's positions."""
        opts = ctx.options
        return [
            M.finish(spread(values, ids), opts.get("signed", False), opts["normalize"])
            for ids in x["ids"].values()
        ]


# ----------------------------------------------------------------------------------------------
# Graph helpers


def keep_masks(z: tf.Tensor, ids: tf.Tensor) -> tf.Tensor:
    """``(N, m, *spatial)`` keep masks of coalitions ``z`` ``(m, F)`` on group ids ``ids``
    ``(N, *spatial)`` (negative ids: always kept)."""
    safe = tf.maximum(ids, 0)
    zt = tf.transpose(z)  # (F, m)
    gathered = tf.gather(zt, safe)  # (N, *spatial, m)
    rank = ids.shape.rank
    gathered = tf.transpose(gathered, [0, rank, *range(1, rank)])  # (N, m, *spatial)
    fixed = tf.cast(ids < 0, tf.float32)[:, None]
    return tf.maximum(gathered, fixed)


def spread(values: tf.Tensor, ids: tf.Tensor) -> tf.Tensor:
    """Each position gets its feature's value (``values`` ``(N, F)``); 0 where ``ids < 0``."""
    got = tf.gather(values, tf.maximum(ids, 0), batch_dims=1)
    return tf.where(ids >= 0, got, tf.zeros_like(got))


def blend(t: tf.Tensor, other: tf.Tensor, keep: tf.Tensor, kind: G.InputKind) -> tf.Tensor:
    """``m`` copies of each sample of ``t`` ``(N, ...)``: ``keep`` ``(N or 1, m, *spatial)`` of
    the input, the rest of ``other`` (``(N, 1 or m, ...)``); flat ``(N * m, ...)``."""
    if kind.channels:
        keep = keep[:, :, None] if kind.channels_first else keep[..., None]
    if kind.integer:
        mixed = tf.where(keep > 0.5, t[:, None], tf.cast(other, t.dtype))
    else:
        xf, of = tf.cast(t, tf.float32)[:, None], tf.cast(other, tf.float32)
        mixed = tf.cast(of + keep * (xf - of), t.dtype)
    shape = tf.concat([[-1], tf.shape(t)[1:]], 0)
    return tf.reshape(mixed, shape)


def _lent(t: tf.Tensor, perms: tf.Tensor, sources: tf.Tensor, baseline: tf.Tensor) -> tf.Tensor:
    """``(N, m, ...)``: for evaluation ``k``, sample ``perms[sources[k], i]``'s values."""
    order = tf.gather(perms, tf.maximum(sources, 0))  # (m, N)
    lent = tf.gather(t, tf.transpose(order))  # (N, m, ...)
    use = tf.reshape(sources >= 0, tf.concat([[1, -1], tf.ones([t.shape.rank - 1], tf.int32)], 0))
    return tf.where(use, lent, tf.cast(baseline, t.dtype))


def check_design_size(samples: int, features: int, what: str) -> None:
    """Warn when a regression has fewer evaluations than unknowns."""
    if samples < features + 1:
        warnings.warn(
            f"{what}: samples={samples} evaluations for {features} features leaves the "
            "regression underdetermined (the least-norm solution is returned); pass samples= "
            f"of at least {features + 1}, ideally several times that.",
            MethodWarning,
            stacklevel=6,
        )
