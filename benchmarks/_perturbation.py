"""The perturbation rows of ``bench_attribution.py`` (issue 24): keras_nnviz's KernelSHAP, LIME,
RISE, feature ablation, feature permutation and Sobol attribution against xplique (when it
imports beside this TensorFlow) and a hand-written eager loop, the code a Keras user writes
without a library: the
same perturbations built in numpy, the model called eagerly on chunks of ``CHUNK`` copies, the
same regressions in numpy.

Every contender explains the same images with the same feature groups (an 8 × 8 grid, 64
features) and the same budget (``SAMPLES`` evaluations per image; ablation and permutation: one
per feature). Scores: logits for KernelSHAP, LIME and ablation (peers get a logits copy of the
model), probabilities for RISE (as in the paper). Not part of the package.
"""

from __future__ import annotations

import numpy as np

SAMPLES, DESIGNS, CELLS, CHUNK = 256, 32, 8, 64  # bench_attribution.py may lower the budgets


def row_names() -> dict[str, str]:
    """The table's row name of each method at the current budgets."""
    return {
        "kernel_shap": f"KernelSHAP({SAMPLES}, 64 cells)",
        "lime": f"LIME({SAMPLES}, 64 cells)",
        "rise": f"RISE({SAMPLES}, 7×7 masks)",
        "feature_ablation": "Feature ablation(64 cells)",
        "feature_permutation": "Feature permutation(1×, 64 cells)",
        "sobol_attribution": f"Sobol({DESIGNS} designs, 64 cells)",
    }


def _ids(x):
    from keras_nnviz.attribution.features import grid

    return grid(x.shape[1:3], CELLS)


def ours(model, x, classes):
    import keras_nnviz as nv

    ROWS = row_names()
    common = {"progress": False, "batch_size": 256}
    return {
        ROWS["kernel_shap"]: lambda: nv.kernel_shap(model, x, classes, samples=SAMPLES, **common),
        ROWS["lime"]: lambda: nv.lime(model, x, classes, samples=SAMPLES, **common),
        ROWS["rise"]: lambda: nv.rise(model, x, classes, samples=SAMPLES, **common),
        ROWS["feature_ablation"]: lambda: nv.feature_ablation(model, x, classes, **common),
        ROWS["feature_permutation"]: lambda: nv.feature_permutation(
            model, x, classes, permutations=1, **common
        ),
        ROWS["sobol_attribution"]: lambda: nv.sobol_attribution(
            model, x, classes, designs=DESIGNS, **common
        ),
    }


def xplique(model, logits, x, classes):
    import tensorflow as tf
    from xplique.attributions import KernelShap, Lime, Rise, SobolAttributionMethod

    ROWS = row_names()
    ids = tf.constant(_ids(x))
    y = tf.one_hot(classes, model.output_shape[-1])
    mapping = {"map_to_interpret_space": lambda inp: ids, "nb_samples": SAMPLES}
    explainers = {
        ROWS["kernel_shap"]: KernelShap(logits, batch_size=256, **mapping),
        ROWS["lime"]: Lime(logits, batch_size=256, **mapping),
        ROWS["rise"]: Rise(model, batch_size=256, nb_samples=SAMPLES, grid_size=7),
        ROWS["sobol_attribution"]: SobolAttributionMethod(
            logits, batch_size=256, grid_size=CELLS, nb_design=DESIGNS
        ),
    }
    return {name: (lambda e=e: e.explain(x, y)) for name, e in explainers.items()}


def _scores(model, copies, cls):
    """The eager loop: ``model(chunk)`` for chunks of ``CHUNK`` copies."""
    out = [
        np.asarray(model(copies[s : s + CHUNK], training=False))
        for s in range(0, len(copies), CHUNK)
    ]
    return np.concatenate(out)[:, cls].astype(np.float64)


def _copies(image, z, ids, other=None):
    keep = z[:, ids][..., None]
    other = np.zeros_like(image) if other is None else other
    return (image[None] * keep + other[None] * (1 - keep)).astype(np.float32)


def _kernel_shap(logits, x, classes, rng):
    ids = _ids(x)
    f = ids.max() + 1
    out = []
    for image, cls in zip(x, classes):
        sizes = np.arange(1, f)
        p = (f - 1) / (sizes * (f - sizes))
        k = rng.choice(sizes, size=SAMPLES - 1, p=p / p.sum())
        z = (np.argsort(np.argsort(rng.random((SAMPLES - 1, f)), 1), 1) < k[:, None]) * 1.0
        z = np.concatenate([np.zeros((1, f)), z])
        y = _scores(logits, _copies(image, z, ids), cls)
        full = _scores(logits, image[None], cls)[0]
        delta = full - y[0]
        xs, ys = z[1:, :-1] - z[1:, -1:], y[1:] - y[0] - z[1:, -1] * delta
        beta = np.linalg.lstsq(xs, ys, rcond=None)[0]
        out.append(np.append(beta, delta - beta.sum())[ids])
    return np.stack(out)


def _lime(logits, x, classes, rng):
    ids = _ids(x)
    f = ids.max() + 1
    out = []
    for image, cls in zip(x, classes):
        off = rng.integers(1, f + 1, size=SAMPLES - 1)
        z = (np.argsort(np.argsort(rng.random((SAMPLES - 1, f)), 1), 1) >= off[:, None]) * 1.0
        z = np.concatenate([np.ones((1, f)), z])
        w = np.sqrt(np.exp(-((1 - np.sqrt(z.sum(1) / f)) ** 2) / 0.25**2))
        y = _scores(logits, _copies(image, z, ids), cls)
        zc = z - np.average(z, axis=0, weights=w)
        yc = y - np.average(y, weights=w)
        a = (zc * w[:, None]).T @ zc + np.eye(f)
        out.append(np.linalg.solve(a, (zc * w[:, None]).T @ yc)[ids])
    return np.stack(out)


def _rise(model, x, classes, rng):
    import tensorflow as tf

    h, w = x.shape[1:3]
    cell = -(-h // 7)
    out = []
    for image, cls in zip(x, classes):
        grids = (rng.random((SAMPLES, 7, 7, 1)) < 0.5).astype(np.float32)
        up = np.asarray(tf.image.resize(grids, (8 * cell, 8 * cell)))[..., 0]
        dy, dx = rng.integers(0, cell, SAMPLES), rng.integers(0, cell, SAMPLES)
        masks = np.stack([u[a : a + h, b : b + w] for u, a, b in zip(up, dy, dx)])
        y = _scores(model, (image[None] * masks[..., None]).astype(np.float32), cls)
        out.append(np.tensordot(y, masks, 1) / masks.sum(0))
    return np.stack(out)


def _ablation(logits, x, classes, rng, permute=False):
    ids = _ids(x)
    f = ids.max() + 1
    z = 1.0 - np.eye(f)
    order = np.roll(np.arange(len(x)), 1) if permute else None
    out = []
    for i, (image, cls) in enumerate(zip(x, classes)):
        other = x[order[i]] if permute else None
        y = _scores(logits, _copies(image, z, ids, other), cls)
        full = _scores(logits, image[None], cls)[0]
        out.append((full - y)[ids])
    return np.stack(out)


def eager_loop(model, logits, x, classes):
    ROWS = row_names()
    rng = np.random.default_rng(0)
    return {
        ROWS["kernel_shap"]: lambda: _kernel_shap(logits, x, classes, rng),
        ROWS["lime"]: lambda: _lime(logits, x, classes, rng),
        ROWS["rise"]: lambda: _rise(model, x, classes, rng),
        ROWS["feature_ablation"]: lambda: _ablation(logits, x, classes, rng),
        ROWS["feature_permutation"]: lambda: _ablation(logits, x, classes, rng, permute=True),
    }
