"""``shortcut``: an image classifier whose attributions sit on the same small region whatever the
class (a watermark, a border, a timestamp burnt into the pixels) instead of on the object."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from .findings import Finding

__all__ = ["SHORTCUT_LIMITS", "shortcut_findings", "shortcut_maps"]

SHORTCUT_LIMITS = {
    "top_share": 0.05,  # the region: this share of the pixels with the most attribution ...
    "mass": 0.25,  # ... holds at least this share of the attribution, on average ...
    "similarity": 0.8,  # ... and the classes' mean maps agree (mean pairwise cosine)
    "min_per_class": 5,  # samples a class needs for its mean map
    "samples": 256,  # samples explained
}


def shortcut_maps(model: keras.Model, x: Any, batch_size: int = 64) -> np.ndarray:
    """Saliency of each sample's predicted class, ``(N, H, W)``, each map summing to 1."""
    from ..attribution.gradients import saliency

    maps = np.abs(np.asarray(saliency(model, x, batch_size=batch_size), dtype=np.float64))
    if maps.ndim == 4:  # (N, H, W, C): a pixel's attribution is its channels' sum
        maps = maps.sum(axis=-1)
    total = maps.reshape(len(maps), -1).sum(axis=1)
    return maps / np.maximum(total, 1e-12)[:, None, None]


def shortcut_findings(maps: np.ndarray, labels: np.ndarray) -> list[Finding]:
    """The ``shortcut`` finding from :func:`shortcut_maps` and the samples' class labels."""
    lim = SHORTCUT_LIMITS
    classes = [c for c in np.unique(labels) if np.sum(labels == c) >= lim["min_per_class"]]
    if len(classes) < 2:
        return []
    means = np.stack([maps[labels == c].mean(axis=0).ravel() for c in classes])
    overall = means.mean(axis=0)
    k = max(1, int(round(lim["top_share"] * overall.size)))
    top = np.argsort(-overall)[:k]
    mass = float(overall[top].sum())
    unit = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    cosine = unit @ unit.T
    similarity = float(cosine[np.triu_indices(len(classes), 1)].mean())
    if mass < lim["mass"] or similarity < lim["similarity"]:
        return []
    rows, cols = np.unravel_index(top, maps.shape[1:])
    box = [int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())]
    return [
        Finding(
            "shortcut",
            "warning",
            f"{mass:.0%} of the attribution falls on {k} pixel(s) (rows {box[0]}–{box[2]}, "
            f"columns {box[1]}–{box[3]}) for every class alike (similarity {similarity:.2f}): "
            "the model may read a shortcut there, not the object.",
            evidence={
                "mass": mass,
                "pixels": k,
                "similarity": similarity,
                "region": box,
                "classes": len(classes),
            },
            advice="Look at those pixels in the training images (a watermark, border or "
            "timestamp correlated with the label); crop, mask or randomise them and retrain.",
        )
    ]
