"""Project high-dimensional activations or embeddings to 2-D/3-D: PCA, t-SNE, UMAP; export them
for TensorBoard's projector (:func:`export_projector`).

t-SNE (scikit-learn) and UMAP are imported only when asked for: umap's import and first fit cost
seconds (numba JIT).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import validation
from .errors import InvalidArgumentError, InvalidInputError

__all__ = [
    "export_projector",
    "merge_projector_config",
    "METHODS",
    "project",
    "PROJECTOR_CONFIG",
    "projector_config_text",
    "sprite_image",
    "write_metadata_tsv",
    "write_tensor_tsv",
]

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
    *,
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
    try:
        data = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError):
        kind = getattr(np.asarray(array, dtype=object), "dtype", "object")
        raise InvalidInputError(
            f"project needs a numeric array (N, features); received {type(array).__name__} of "
            f"dtype {getattr(array, 'dtype', kind)} that is not numeric. Project embeddings or "
            "activations, e.g. nv.get_activation(model, x, layer)."
        ) from None
    if data.ndim < 2:
        raise InvalidInputError(
            f"project needs an array of shape (N, features); received shape {data.shape}."
        )
    n = data.shape[0]
    if data.size == 0:
        raise InvalidInputError(f"project received an empty array (shape {data.shape}).")
    data = data.reshape(n, -1)
    n_components = validation.positive_int("n_components", n_components)
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
        _check_estimator_options(TSNE, kwargs, "t-SNE")
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
        _check_estimator_options(umap.UMAP, kwargs, "UMAP")
        reducer = umap.UMAP(n_components=n_components, random_state=random_state, **params)
        return reducer.fit_transform(data).astype(np.float32)


def _check_estimator_options(cls: type, options: dict, name: str) -> None:
    """Unknown estimator keywords raise a named error (not the estimator's TypeError)."""
    import inspect

    known = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = [k for k in options if k not in known]
    if unknown:
        raise InvalidArgumentError(
            f"{name} has no option {', '.join(map(repr, unknown))}; its options are {known}."
        )


# ----------------------------------------------------------------------------------------------
# TensorBoard projector export (TSV files + projector_config.pbtxt; no checkpoint needed)

PROJECTOR_CONFIG = "projector_config.pbtxt"
_SPRITE_LIMIT = 8192  # TensorBoard refuses sprites larger than 8192 × 8192 pixels


def write_tensor_tsv(path: str | Path, array: Any) -> tuple[int, int]:
    """Write ``(N, ...)`` values as a tab-separated ``(N, D)`` table (the projector's tensor file).

    Returns:
        ``(N, D)``.
    """
    data = np.asarray(array, dtype=np.float32)
    data = data.reshape(data.shape[0], -1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, data, delimiter="\t", fmt="%.6g")
    return int(data.shape[0]), int(data.shape[1])


def _tsv_cell(value: Any) -> str:
    return str(value).replace("\t", " ").replace("\n", " ").replace("\r", " ")


def write_metadata_tsv(
    path: str | Path, labels: Any, class_names: Sequence[str] | None = None
) -> int:
    """Write one label per line (the projector's metadata file; one column, so no header).

    Integer labels are written as ``class_names[label]`` when names are given.

    Returns:
        Number of rows.
    """
    lab = np.asarray(labels).ravel()
    rows = []
    for v in lab.tolist():
        if class_names is not None and isinstance(v, int) and 0 <= v < len(class_names):
            v = class_names[v]
        rows.append(_tsv_cell(v))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return len(rows)


def sprite_image(images: Any, thumb: int | None = None) -> tuple[np.ndarray, int]:
    """Tile images ``(N, H, W[, C])`` into the projector's sprite: a square grid, row-major.

    Args:
        images: one image per embedded point (any range; min-max scaled per image).
        thumb: thumbnail side in pixels (default: the image side, at least 28, at most 64,
            and small enough for the 8192-pixel limit).

    Returns:
        ``(sprite uint8 (S, S, 3), thumb)``.

    Raises:
        InvalidInputError: arrays that are not images.
    """
    imgs = np.asarray(images, dtype=np.float32)
    if imgs.ndim == 4 and imgs.shape[-1] in (1, 3, 4):
        imgs = imgs[..., :3] if imgs.shape[-1] != 1 else imgs[..., 0]
    if imgs.ndim not in (3, 4):
        raise InvalidInputError(
            f"A sprite needs images of shape (N, H, W) or (N, H, W, 1|3); received {imgs.shape}."
        )
    n, h, w = imgs.shape[:3]
    cols = int(np.ceil(np.sqrt(n)))
    if thumb is None:
        thumb = int(min(64, max(28, max(h, w)), _SPRITE_LIMIT // cols))
    lo = imgs.reshape(n, -1).min(axis=1).reshape(n, *[1] * (imgs.ndim - 1))
    hi = imgs.reshape(n, -1).max(axis=1).reshape(n, *[1] * (imgs.ndim - 1))
    imgs = (imgs - lo) / np.where(hi - lo > 1e-12, hi - lo, 1.0)
    rows_idx = (np.arange(thumb) * h / thumb).astype(int)
    cols_idx = (np.arange(thumb) * w / thumb).astype(int)
    small = imgs[:, rows_idx][:, :, cols_idx]
    if small.ndim == 3:
        small = np.repeat(small[..., None], 3, axis=-1)
    sprite = np.zeros((cols * thumb, cols * thumb, 3), dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        sprite[r * thumb : (r + 1) * thumb, c * thumb : (c + 1) * thumb] = small[i] * 255
    return sprite, thumb


def _pbtxt_string(value: str) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def projector_config_text(embeddings: Sequence[dict[str, Any]]) -> str:
    """The text of a ``projector_config.pbtxt`` (TensorBoard's ``ProjectorConfig`` proto).

    Args:
        embeddings: dicts with ``tensor_name``, ``tensor_path``, optional ``metadata_path``,
            ``tensor_shape`` ``(N, D)``, ``sprite_path`` and ``sprite_thumb`` (pixels); paths
            relative to the config's folder (TensorBoard refuses paths leaving it).
    """
    lines = []
    for e in embeddings:
        lines.append("embeddings {")
        lines.append(f"  tensor_name: {_pbtxt_string(e['tensor_name'])}")
        lines.append(f"  tensor_path: {_pbtxt_string(e['tensor_path'])}")
        if e.get("metadata_path"):
            lines.append(f"  metadata_path: {_pbtxt_string(e['metadata_path'])}")
        for dim in e.get("tensor_shape") or ():
            lines.append(f"  tensor_shape: {int(dim)}")
        if e.get("sprite_path"):
            lines.append("  sprite {")
            lines.append(f"    image_path: {_pbtxt_string(e['sprite_path'])}")
            lines.append(f"    single_image_dim: {int(e['sprite_thumb'])}")
            lines.append(f"    single_image_dim: {int(e['sprite_thumb'])}")
            lines.append("  }")
        lines.append("}")
    return "\n".join(lines) + "\n"


def export_projector(
    directory: str | Path,
    embeddings: Any,
    *,
    labels: Any = None,
    images: Any = None,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Export embeddings for TensorBoard's projector: TSV tensors, metadata, sprite, config.

    Keras 3's ``TensorBoard(embeddings_freq=...)`` writes nothing the projector can load
    (keras#20210); this writes what the projector reads directly, no checkpoint involved. Run
    ``tensorboard --logdir DIRECTORY`` and open the Projector tab.

    Args:
        directory: output folder (created). Our entries are merged into its
            ``projector_config.pbtxt`` (other entries, e.g. Keras's, are kept).
        embeddings: an ``(N, ...)`` array, or ``{name: array}`` for several tensors of the same
            points (e.g. several layers or epochs).
        labels: ``(N,)`` labels for colouring and search (metadata TSV), or None.
        images: ``(N, H, W[, C])`` input images for a sprite (thumbnails in the projector), or
            None.
        class_names: names for integer labels.

    Returns:
        Path of ``projector_config.pbtxt``.

    Raises:
        InvalidInputError: arrays with different numbers of points.

    Example:
        >>> emb = nv.get_activation(model, x[:500], "dense")
        >>> nv.projection.export_projector("logs/projector", emb, labels=y[:500], images=x[:500])
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    named = dict(embeddings) if isinstance(embeddings, dict) else {"embedding": embeddings}
    sizes = {name: len(np.asarray(a)) for name, a in named.items()}
    for what, arr in (("labels", labels), ("images", images)):
        if arr is not None:
            sizes[what] = len(np.asarray(arr))
    if len(set(sizes.values())) > 1:
        raise InvalidInputError(
            f"export_projector needs one row per point everywhere; received sizes {sizes}."
        )
    meta = sprite = None
    thumb = 0
    if labels is not None:
        write_metadata_tsv(directory / "metadata.tsv", labels, class_names)
        meta = "metadata.tsv"
    if images is not None:
        pixels, thumb = sprite_image(images)
        from PIL import Image

        Image.fromarray(pixels).save(directory / "sprite.png")
        sprite = "sprite.png"
    records = []
    for i, (name, arr) in enumerate(named.items()):
        file = f"tensors_{i}.tsv" if len(named) > 1 else "tensors.tsv"
        shape = write_tensor_tsv(directory / file, arr)
        records.append(
            {
                "tensor_name": str(name),
                "tensor_path": file,
                "metadata_path": meta,
                "tensor_shape": shape,
                "sprite_path": sprite,
                "sprite_thumb": thumb,
            }
        )
    config = directory / PROJECTOR_CONFIG
    names = {r["tensor_name"] for r in records}
    merged = merge_projector_config(config, projector_config_text(records), names)
    config.write_text(merged, encoding="utf-8")
    return config


def merge_projector_config(path: os.PathLike, ours: str, names: set[str]) -> str:
    """The text of ``path`` (a ``projector_config.pbtxt`` that ``keras.callbacks.TensorBoard``
    or the user may have written) with our embeddings (``ours``) in place of any of the same
    ``names``; every other entry and field is kept as it was.

    Args:
        path: the existing config (missing: ``ours`` alone).
        ours: our ``embeddings { ... }`` entries as text.
        names: the tensor names ``ours`` defines.

    Returns:
        The merged config text.
    """
    try:
        with open(path, encoding="utf-8") as f:
            existing = f.read()
    except FileNotFoundError:
        return ours
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    config = ProjectorConfig()
    try:
        text_format.Parse(existing, config)
    except text_format.ParseError:
        # Not a config we can read: keep it beside ours rather than lose it.
        os.replace(path, f"{path}.bak")
        return ours
    kept = [e for e in config.embeddings if e.tensor_name not in names]
    del config.embeddings[:]
    config.embeddings.extend(kept)
    return text_format.MessageToString(config) + ours
