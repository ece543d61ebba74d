"""Checks on what one diagnosis pass measured: gradients, units, inputs, labels, predictions,
features and attention. Pure numpy in, :class:`~.findings.Finding` out; thresholds in
:data:`LIMITS`, measured on the sick/healthy zoo (tests/diagnosis).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.targets import predicted_classes
from .findings import Finding

__all__ = [
    "LIMITS",
    "attention_findings",
    "gradient_findings",
    "imbalance_findings",
    "input_findings",
    "label_noise",
    "ood_findings",
    "unit_findings",
]

LIMITS = {
    # gradients, per layer: r = ‖∇W‖ / ‖W‖ of its kernels
    "vanishing_span": 1e-3,  # r(first layer) / r(last layer) below this: vanishing
    "exploding_ratio": 10.0,  # some layer's r above this: exploding
    "exploding_span": 1e3,  # r(first) / r(last) above this: exploding towards the input
    # units
    "dead_fraction": 0.5,  # warning; 0.9: error
    "saturated_fraction": 0.5,
    # inputs (float inputs of a model without a Rescaling/Normalization layer)
    "input_scale": 5.0,  # |mean| or std above this
    # labels
    "imbalance_ratio": 5.0,  # largest class count / smallest
    "imbalance_samples": 20,  # samples per class needed to judge
    "noise_share": 0.08,  # confident off-diagonal share of samples that makes label_noise
    "noise_confidence": 0.5,  # mean confidence of the model's own class on those samples
    "noise_accuracy": 0.5,  # accuracy on the given labels the model needs for it to be judged
    # out-of-distribution: share of new samples beyond the training data's 99th percentile
    # kNN distance (1 % expected)
    "ood_share": 0.15,
    "ood_k": 5,
    # attention: normalized entropy of a head's most selective query row
    "uniform_entropy": 0.97,  # above: near-uniform
    "peaked_weight": 0.97,  # mean largest weight above: single-token
    "collapsed_heads": 0.75,  # share of a layer's heads that are collapsed
}


def _layer_ratios(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """``{layer: ‖∇W‖ / ‖W‖}`` over each layer's kernel-like weights (rank ≥ 2), layer order."""
    grad: dict[str, float] = {}
    weight: dict[str, float] = {}
    for row in rows:
        if len(row["shape"]) < 2:
            continue
        layer = row["layer"]
        grad[layer] = float(np.hypot(grad.get(layer, 0.0), row["grad_norm"]))
        weight[layer] = float(np.hypot(weight.get(layer, 0.0), row["weight_norm"]))
    return {k: grad[k] / weight[k] if weight[k] > 0 else float("nan") for k in grad}


def gradient_findings(rows: Sequence[dict[str, Any]], dead_layers: Sequence[str] = ()) -> list:
    """Vanishing/exploding gradients and frozen layers from :func:`gradient_flow` rows.

    Args:
        rows: gradient-flow rows of the diagnosis pass.
        dead_layers: layers whose units are all dead (they stop every gradient below them, which
            then is their finding, not a frozen layer's).
    """
    findings = []
    ratios = _layer_ratios(rows)
    # Layers with exactly zero gradient are frozen (below), not the end of a vanishing chain.
    finite = {k: v for k, v in ratios.items() if np.isfinite(v) and v > 0}
    layers = list(finite)
    evidence = {"grad_to_weight": finite}
    if len(layers) >= 3 and finite[layers[-1]] > 0:
        span = finite[layers[0]] / finite[layers[-1]]
        evidence["span"] = span
        if span < LIMITS["vanishing_span"]:
            low = [k for k in layers if finite[k] / finite[layers[-1]] < LIMITS["vanishing_span"]]
            findings.append(
                Finding(
                    "vanishing_gradients",
                    "warning",
                    f"The gradient reaching the first layer is {span:.1e} of the last layer's "
                    "(relative to the weights): the early layers barely learn.",
                    layers=low,
                    evidence=evidence,
                    advice="Use ReLU-family activations instead of sigmoid/tanh, He "
                    "initialisation, batch/layer normalization or residual connections.",
                )
            )
    biggest = max(finite.values(), default=0.0)
    span = evidence.get("span", 1.0)
    if biggest > LIMITS["exploding_ratio"] or span > LIMITS["exploding_span"]:
        high = [k for k, v in finite.items() if v > LIMITS["exploding_ratio"]] or layers[:1]
        findings.append(
            Finding(
                "exploding_gradients",
                "error" if biggest > 100 * LIMITS["exploding_ratio"] else "warning",
                f"Gradients are up to {biggest:.3g}× the weights they update: one step can "
                "throw the weights far away.",
                layers=high,
                evidence={**evidence, "max_grad_to_weight": biggest},
                advice="Clip gradients (optimizer clipnorm=1.0), lower the learning rate, use a "
                "smaller initialisation or add normalization layers.",
            )
        )
    moving = any(row["grad_max_abs"] > 0 for row in rows)
    per_layer: dict[str, float] = {}
    for row in rows:
        per_layer[row["layer"]] = max(per_layer.get(row["layer"], 0.0), row["grad_max_abs"])
    frozen = [k for k, v in per_layer.items() if v == 0.0]
    if moving and frozen and not dead_layers:
        findings.append(
            Finding(
                "frozen_layer",
                "warning",
                f"{len(frozen)} layer(s) have trainable weights that get exactly zero gradient, "
                "so training never moves them.",
                layers=frozen,
                evidence={"zero_gradient_layers": frozen},
                advice="Check for stop_gradient, a branch whose output is not used by the loss, "
                "or mark the layer trainable=False on purpose.",
            )
        )
    return findings


def unit_findings(
    dead: dict[str, dict[str, Any]], stats: Sequence[dict[str, Any]], output_layers: set[str]
) -> list[Finding]:
    """Dead ReLU-family units and saturated sigmoid/tanh units (output layers excluded: a
    confident classifier's output saturates on purpose)."""
    findings = []
    sick = {
        p: r
        for p, r in dead.items()
        if not r.get("nonfinite") and r["dead_fraction"] >= LIMITS["dead_fraction"]
    }
    if sick:
        worst = max(r["dead_fraction"] for r in sick.values())
        findings.append(
            Finding(
                "dead_units",
                "error" if worst >= 0.9 else "warning",
                f"{len(sick)} layer(s) have ≥ {LIMITS['dead_fraction']:.0%} of their units never "
                f"active on this data (worst {worst:.0%}).",
                layers=sorted(sick, key=lambda p: -sick[p]["dead_fraction"]),
                evidence={p: f"{r['dead']}/{r['units']}" for p, r in sick.items()},
                advice="Lower the learning rate, use He initialisation, LeakyReLU/GELU, or check "
                "the layers' biases (large negative biases kill ReLUs).",
            )
        )
    saturated = {
        r["layer"]: r["saturated"]
        for r in stats
        if r["layer"] not in output_layers
        and np.isfinite(r["saturated"])
        and r["saturated"] >= LIMITS["saturated_fraction"]
    }
    if saturated:
        findings.append(
            Finding(
                "saturated_units",
                "warning",
                f"{len(saturated)} sigmoid/tanh layer(s) sit at their bounds for "
                f"≥ {LIMITS['saturated_fraction']:.0%} of activations: their gradient is ~0.",
                layers=list(saturated),
                evidence={"saturated_fraction": saturated},
                advice="Scale the inputs, use a smaller initialisation (Glorot), add "
                "normalization before the activation, or switch to ReLU/GELU.",
            )
        )
    return findings


def input_findings(inputs: Sequence[dict[str, Any]], normalized: bool) -> list[Finding]:
    """Float inputs far from unit scale (e.g. 0-255 pixels) in a model that does not rescale
    them itself."""
    if normalized:
        return []
    far = [
        r
        for r in inputs
        if r["float"]
        and (abs(r["mean"]) > LIMITS["input_scale"] or r["std"] > LIMITS["input_scale"])
    ]
    if not far:
        return []
    r = far[0]
    return [
        Finding(
            "unscaled_inputs",
            "warning",
            f"Input {r['name']!r} has mean {r['mean']:.3g} and std {r['std']:.3g} (range "
            f"{r['min']:.3g} … {r['max']:.3g}): far from unit scale.",
            evidence={
                "input": r["name"],
                "mean": r["mean"],
                "std": r["std"],
                "min": r["min"],
                "max": r["max"],
                "unscaled_inputs": len(far),
            },
            advice="Standardize the inputs (x - mean) / std, divide pixels by 255, or put a "
            "keras.layers.Rescaling / Normalization layer first in the model.",
        )
    ]


def imbalance_findings(labels: np.ndarray, classes: int, recall: np.ndarray | None) -> list:
    """Classes whose counts differ by more than :data:`LIMITS` ``imbalance_ratio``."""
    counts = np.bincount(labels, minlength=classes)
    present = counts[counts > 0]
    if present.size < 2 or labels.size < LIMITS["imbalance_samples"] * present.size:
        return []  # too few samples per class for counts to mean anything
    ratio = float(present.max() / present.min())
    if ratio < LIMITS["imbalance_ratio"]:
        return []
    rare = [int(c) for c in np.flatnonzero((counts > 0) & (counts * 3 < counts.max()))]
    evidence: dict[str, Any] = {"counts": counts.tolist(), "ratio": ratio}
    if recall is not None:
        evidence["recall"] = recall.tolist()
    return [
        Finding(
            "class_imbalance",
            "warning",
            f"The largest class has {ratio:.1f}× the samples of the smallest; rare classes "
            f"{rare[:8]} are likely under-predicted.",
            evidence=evidence,
            advice="Pass class_weight= to model.fit, resample the rare classes, or judge the "
            "model by per-class recall / balanced accuracy.",
        )
    ]


def label_noise(
    probs: np.ndarray, labels: np.ndarray, losses: np.ndarray | None = None
) -> tuple[list[Finding], np.ndarray]:
    """Confident learning: samples whose given label the model confidently disagrees with.

    A sample labelled ``i`` is suspect when the model's class ``j ≠ i`` reaches the average
    confidence the model has in class ``j`` on the samples labelled ``j`` (the per-class
    threshold of Northcutt et al.'s confident joint). Suspects are ranked by the margin
    ``p[label] - max p[other]`` (most negative first), or by ``losses`` (a per-sample loss
    averaged over epochs; higher first) when given.

    Returns:
        ``(findings, suspect indices most suspect first)``.
    """
    n, classes = probs.shape
    thresholds = np.array(
        [probs[labels == j, j].mean() if np.any(labels == j) else 1.0 for j in range(classes)]
    )
    other = probs.copy()
    other[np.arange(n), labels] = -1.0
    best = predicted_classes(other)  # the likeliest class other than the label
    confident = other[np.arange(n), best] >= thresholds[best]
    suspects = np.flatnonzero(confident)
    margin = probs[np.arange(n), labels] - other[np.arange(n), best]
    if losses is not None:
        suspects = suspects[np.argsort(-losses[suspects], kind="stable")]
    else:
        suspects = suspects[np.argsort(margin[suspects], kind="stable")]
    share = suspects.size / max(n, 1)
    confidence = float(other[suspects, best[suspects]].mean()) if suspects.size else 0.0
    accuracy = float(np.mean(predicted_classes(probs) == labels))
    # A model that fits nothing (one class for everyone, chance accuracy) disagrees with most
    # labels: that is its own fault, not the labels'.
    fits = accuracy >= LIMITS["noise_accuracy"] and share <= 1 - LIMITS["noise_accuracy"]
    if share < LIMITS["noise_share"] or confidence < LIMITS["noise_confidence"] or not fits:
        return [], suspects
    return [
        Finding(
            "label_noise",
            "warning",
            f"{suspects.size} of {n} samples ({share:.0%}) are confidently predicted as another "
            f"class than their label (mean confidence {confidence:.0%}): their labels may be "
            "wrong.",
            evidence={
                "suspects": int(suspects.size),
                "share": share,
                "confidence": confidence,
                "accuracy": accuracy,
                "first_suspects": suspects[:20].tolist(),
            },
            advice="Review the samples in Diagnosis.suspect_samples (most suspect first); "
            "relabel or drop them, or train with label smoothing.",
        )
    ], suspects


def _knn_distance(reference: np.ndarray, query: np.ndarray, k: int, skip_self: bool) -> np.ndarray:
    """Distance of each query row to its k-th nearest reference row (chunked)."""
    out = []
    ref_sq = np.sum(reference**2, axis=1)
    for start in range(0, query.shape[0], 256):
        q = query[start : start + 256]
        d2 = np.sum(q**2, axis=1)[:, None] + ref_sq[None, :] - 2 * q @ reference.T
        d2 = np.sort(np.maximum(d2, 0.0), axis=1)
        out.append(np.sqrt(d2[:, k if skip_self else k - 1]))
    return np.concatenate(out)


def ood_findings(train: np.ndarray, new: np.ndarray, layer: str) -> tuple[list, np.ndarray]:
    """Samples of ``new`` far from ``train`` in the feature space of ``layer`` (k-th nearest
    neighbour distance beyond the training data's own 99th percentile).

    Returns:
        ``(findings, indices of new samples beyond the limit, farthest first)``.
    """
    mean, std = train.mean(axis=0), train.std(axis=0)
    # Features constant on the training data (dead units) must not turn any change into an
    # infinite distance: their scale is floored at a tenth of the typical feature's.
    std = np.maximum(std, 0.1 * float(np.median(std)) + 1e-6)
    a, b = (train - mean) / std, (new - mean) / std
    k = min(LIMITS["ood_k"], train.shape[0] - 1)
    if k < 1:
        return [], np.zeros(0, int)
    limit = float(np.percentile(_knn_distance(a, a, k, skip_self=True), 99))
    dist = _knn_distance(a, b, k, skip_self=False)
    far = np.flatnonzero(dist > limit)
    far = far[np.argsort(-dist[far])]
    share = far.size / max(new.shape[0], 1)
    if share < LIMITS["ood_share"]:
        return [], far
    return [
        Finding(
            "ood_inputs",
            "warning",
            f"{far.size} of {new.shape[0]} new samples ({share:.0%}) lie farther from the "
            "training data in the model's feature space than 99 % of the training samples do.",
            layers=[layer],
            evidence={
                "share": share,
                "limit": limit,
                "median_distance": float(np.median(dist)),
                "farthest": far[:20].tolist(),
            },
            advice="Check these inputs' preprocessing against the training pipeline; if they "
            "are real, add such data to training. Do not trust predictions on them.",
        )
    ], far


def attention_findings(attention: dict[str, np.ndarray]) -> list[Finding]:
    """Layers whose heads attend near-uniformly or to one token only."""
    collapsed: dict[str, dict[str, Any]] = {}
    for path, probs in attention.items():
        tk = probs.shape[-1]
        if tk < 3:
            continue
        p = np.clip(probs.astype(np.float64), 1e-12, 1.0)
        entropy = -(p * np.log(p)).sum(-1) / np.log(tk)  # (N, heads, Tq) in [0, 1]
        # A head is uniform when even its most selective query position spreads its weight
        # evenly (a classifier's heads may select for the CLS row only).
        head_entropy = entropy.mean(axis=0).min(axis=-1)
        head_peak = probs.max(-1).mean(axis=(0, 2))
        uniform = head_entropy > LIMITS["uniform_entropy"]
        peaked = head_peak > LIMITS["peaked_weight"]
        share = float(np.mean(uniform | peaked))
        if share >= LIMITS["collapsed_heads"]:
            collapsed[path] = {
                "kind": "uniform" if uniform.sum() >= peaked.sum() else "single-token",
                "heads": int(uniform.size),
                "collapsed": int(np.sum(uniform | peaked)),
                "entropy": head_entropy.tolist(),
                "peak": head_peak.tolist(),
            }
    if not collapsed:
        return []
    kinds = sorted({v["kind"] for v in collapsed.values()})
    # One near-uniform layer in a deep model is common and harmless (a trained BERT's last
    # layer): a warning needs most of the model's heads collapsed, else it is an info.
    heads = sum(p.shape[1] for p in attention.values() if p.shape[-1] >= 3)
    share = sum(v["collapsed"] for v in collapsed.values()) / max(heads, 1)
    severe = share >= LIMITS["collapsed_heads"]
    return [
        Finding(
            "attention_collapse",
            "warning" if severe else "info",
            f"Attention collapsed ({' / '.join(kinds)}) in {len(collapsed)} layer(s) "
            f"({share:.0%} of the model's heads): their heads do not select anything "
            "input-dependent.",
            layers=list(collapsed),
            evidence={"model_share": share, **collapsed},
            advice="Check the attention mask and positional information, lower the learning "
            "rate or add warm-up, and scale the query·key logits (1/sqrt(d)).",
        )
    ]
