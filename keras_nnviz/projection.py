"""Project high-dimensional activations or embeddings to 2-D/3-D: PCA, t-SNE, UMAP.

t-SNE (scikit-learn) and UMAP are imported only when asked for: umap's import and first fit cost
seconds (numba JIT).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .errors import InvalidArgumentError, InvalidInputError

METHODS = ("pca", "tsne", "umap")


def _pca(data: np.ndarray, n_components: int) -> np.ndarray:
    centred = data - data.mean(axis=0, keepdims=True)
    # SVD gives the principal axes; signs are fixed so results are deterministic across runs.
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    signs = np.sign(vt[np.arange(vt.shape[0]), np.argmax(np.abs(vt), axis=1)])
    signs[signs == 0] = 1
    out = (u * s) * signs
    if out.shape[1] < n_components:
        out = np.pad(out, ((0, 0), (0, n_components - out.shape[1])))
    return out[:, :n_components]


def project(
    array: Any,
    method: str = "umap",
    n_components: int = 2,
    random_state: int | None = 0,
    **kwargs: Any,
) -> np.ndarray:
    """Project rows of ``array`` to ``n_components`` dimensions.

    Args:
        array: ``(N, ...)`` features; extra axes are flattened per sample.
        method: ``"pca"`` (exact, fast), ``"tsne"`` (scikit-learn) or ``"umap"`` (umap-learn).
        n_components: output dimensionality (2 or 3 for plots).
        random_state: seed for t-SNE/UMAP; PCA is deterministic.
        **kwargs: passed to the t-SNE / UMAP estimator (e.g. ``perplexity``, ``n_neighbors``).

    Returns:
        float32 array ``(N, n_components)``.

    Example:
        >>> emb = nv.get_activation(model, x, "dense")
        >>> xy = nv.project(emb, method="pca")
        >>> nv.plot.embedding(xy, labels=y)
    """
    if method not in METHODS:
        raise InvalidArgumentError(f"method must be one of {list(METHODS)}; received {method!r}.")
    data = np.asarray(array, dtype=np.float64)
    if data.ndim < 2:
        raise InvalidInputError(
            f"project needs an array of shape (N, features); received shape {data.shape}."
        )
    data = data.reshape(data.shape[0], -1)
    n = data.shape[0]
    if not isinstance(n_components, int) or n_components < 1:
        raise InvalidArgumentError(f"n_components must be a positive int; got {n_components!r}.")
    if n < 3:
        raise InvalidInputError(f"project needs at least 3 samples; received {n}.")
    if not np.all(np.isfinite(data)):
        raise InvalidInputError("project received NaN/inf values; clean the array first.")
    if method == "pca":
        return _pca(data, n_components).astype(np.float32)
    if method == "tsne":
        from sklearn.manifold import TSNE

        params = {"perplexity": min(30.0, max(2.0, (n - 1) / 3.0)), "init": "pca"}
        params.update(kwargs)
        return (
            TSNE(n_components=n_components, random_state=random_state, **params)
            .fit_transform(data)
            .astype(np.float32)
        )
    with warnings.catch_warnings():
        # umap warns that a fixed random_state disables parallelism; that is the point here.
        warnings.simplefilter("ignore", UserWarning)
        import umap

        params = {"n_neighbors": min(15, n - 1)}
        params.update(kwargs)
        reducer = umap.UMAP(n_components=n_components, random_state=random_state, **params)
        return reducer.fit_transform(data).astype(np.float32)
