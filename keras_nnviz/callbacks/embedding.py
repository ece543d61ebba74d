"""Embeddings during training: a projected scatter per snapshot, a TensorBoard projector export."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ..core import graph, targets
from ..core.compiled import collect_layers
from ..core.loop import fixed_batches
from ..core.model import feature_layer
from ..errors import InvalidArgumentError, InvalidInputError
from ..io import FileItem, ImageItem, When, encode_png, record
from ..projection import (
    METHODS,
    PROJECTOR_CONFIG,
    merge_projector_config,
    project,
    projector_config_text,
    sprite_image,
    write_metadata_tsv,
    write_tensor_tsv,
)
from . import _frames
from ._base import Later, VisualizationCallback, first_input, fixed_inputs
from ._recorder import recording_pass

__all__ = [
    "EmbeddingProjection",
]


class EmbeddingProjection(VisualizationCallback):
    """A layer's embedding of fixed samples projected to 2-D every snapshot; a projector export.

    Each snapshot: the weights are frozen on the training thread (~1 ms); the layer's outputs for
    ``x`` (one compiled pass), the projection with ``method`` and the class-coloured scatter are
    computed on the writer thread while training goes on. At train end: an annotated
    scatter (``summary.png``) and a TensorBoard projector export that the projector loads
    (``log_dir/projector_config.pbtxt`` with tensors TSV, metadata TSV and, for image inputs, a
    sprite) — Keras 3's own ``embeddings_freq`` writes nothing usable (keras#20210). Entries
    already in the config (Keras's, the user's) are kept: ours are merged in, never in place of
    theirs.

    Args:
        log_dir: output folder; run ``tensorboard --logdir log_dir`` for the projector.
        x: inputs whose embeddings are shown (numpy, tensors, list/dict, or a dataset; at most
            ``max_samples`` are used).
        layer: the embedding layer; default: the penultimate representation
            (:func:`keras_nnviz.core.model.feature_layer`, the layer the report projects too).
        labels: ``(N,)`` labels for colours and projector metadata, or None.
        method: ``"pca"`` (default: fast, deterministic, stable from epoch to epoch, so the
            animation shows the embedding moving, not the layout algorithm), ``"tsne"`` or
            ``"umap"`` (seconds per snapshot, computed on the writer thread).
        every: ``"auto"`` (default: at epoch ends, when the fit's shared overhead budget
            allows -- every epoch unless the forward pass over ``x`` weighs against an epoch),
            epochs (int) or ``"batch:N"``. The final state always draws.
        class_names: names for integer labels.
        projector: ``"final"`` (export the state at train end), ``"every"`` (one projector
            tensor per snapshot, to compare epochs in the projector's dropdown) or ``False``.
        sprite: add input thumbnails to the projector when ``x`` holds images.
        max_samples: points used.
        batch_size: samples per forward pass.
        **options: see :class:`VisualizationCallback`.

    Example:
        >>> cb = nv.callbacks.EmbeddingProjection("logs", x=x_val, labels=y_val, layer="dense")
    """

    folder = "embedding_projection"
    title = "Embedding projection"

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        x: Any,
        layer: graph.LayerRef | None = None,
        labels: Any = None,
        method: str = "pca",
        every: int | str = "auto",
        class_names: Any = None,
        projector: str | bool = "final",
        sprite: bool = True,
        max_samples: int = 1024,
        batch_size: int = 64,
        **options: Any,
    ):
        super().__init__(log_dir, every=every, **options)
        if method not in METHODS:
            raise InvalidArgumentError(
                f"method must be one of {list(METHODS)}; received {method!r}."
            )
        if projector not in ("final", "every", False, None):
            raise InvalidArgumentError(
                f"projector must be 'final', 'every' or False; received {projector!r}."
            )
        self.x = x
        self.labels = labels
        self.layer = layer
        self.method = method
        self.class_names = list(class_names) if class_names is not None else None
        self.projector = projector or None
        self.sprite = sprite
        self.max_samples = int(max_samples)
        self.batch_size = int(batch_size)

    def manifest_params(self):
        return {
            "layer": self._path,
            "method": self.method,
            "samples": self._n,
            "projector": self.projector,
        }

    def _layers(self, model) -> tuple[str, str | None]:
        """The projected layer, and the model's output layer (one output only: each point's
        predicted class, so the report can colour the points by prediction) or None."""
        if isinstance(self.layer, list | tuple):
            raise InvalidArgumentError("EmbeddingProjection takes one layer; pass layer='name'.")
        if self.layer is None:
            path = feature_layer(model)
            if path is None:
                raise InvalidArgumentError(
                    f"Model {model.name!r} has no flat layer (N, features) before its output to "
                    "project; pass layer= (nv.list_layers(model) lists them)."
                )
        else:
            path = graph.layer_path(model, self.layer)
        entries = graph.walk(model, include_sublayers=False)
        single = len(getattr(model, "outputs", None) or []) == 1 and entries
        return path, entries[-1].path if single and entries[-1].path != path else None

    def recorded_layers(self, model) -> list[str]:
        """The layers whose outputs the fit's shared recording pass reads for this callback."""
        path, out_path = self._layers(model)
        return [path] + ([out_path] if out_path else [])

    def validate(self, model):
        self._path, self._out_path = self._layers(model)
        self._x = fixed_inputs(model, self.x, self.max_samples)
        self._n = len(first_input(self._x))
        if self._n < 3:
            raise InvalidInputError(f"An embedding needs at least 3 samples; x has {self._n}.")
        self._labels = None
        if self.labels is not None:
            lab = targets.class_indices(self.labels).ravel()  # one-hot labels: their classes
            if len(lab) < self._n:
                raise InvalidInputError(
                    f"labels has {len(lab)} entries but {self._n} samples are embedded; pass one "
                    "label per sample of x."
                )
            self._labels = lab[: self._n]
        recorded = [self._path] + ([self._out_path] if self._out_path else [])
        self._probe = recording_pass(self, model, recorded, min(self.batch_size, self._n))
        self._batches = fixed_batches(model, self._x, self.batch_size)
        self._last: tuple[When, np.ndarray, np.ndarray] | None = None
        self._shared_files: dict[str, Any] | None = None

    def compute(self, model):
        # Freeze the weights (~1 ms); the forward pass over x runs on the writer thread.
        values, probe, batches, path, out_path = (
            self._probe.snapshot(),
            self._probe,
            self._batches,
            self._path,
            self._out_path,
        )

        def finish():
            found = collect_layers(probe, batches, values)
            emb = found[path]
            preds = targets.predicted_classes(found[out_path]) if out_path else None
            return emb.reshape(emb.shape[0], -1), preds

        return Later(finish)

    def render(self, result, when):
        result, preds = result
        points = project(result, method=self.method, n_components=2)
        self._last = (when, result, points)
        title = f"{self._path} · {self.method} · {when.label}"
        yield ImageItem(
            self._path,
            pixels=_frames.scatter_frame(points, self._labels, title, self.class_names),
            caption=f"{self._n} samples of {self._path} ({result.shape[1]} dims) by {self.method}",
        )
        yield self._points(points, preds, when)
        if self.projector == "every":
            yield self._export(result, when)

    def summarize(self):
        if self._last is None:
            return
        when, emb, points = self._last
        from ..plot import embedding, to_png

        fig = embedding(
            points,
            self._labels,
            class_names=self.class_names,
            title=f"{self._path} ({self.method}) · {when.label}",
        )
        yield ImageItem(
            self._path,
            png=to_png(fig, dpi=90),
            caption=f"{self._path} embedding at the end, {self.method}",
            kind="summary",
        )
        if self.projector == "final":
            yield self._export(emb, when)

    def _points(self, points: np.ndarray, preds: np.ndarray | None, when: When) -> FileItem:
        """The projected points of one snapshot as JSON: the report's interactive embedding
        (hover a point for its picture, colour by label) reads them, with the sprite."""
        folder = self._dest.folder(self._path)
        item = FileItem(self._path)
        shared = self._shared(folder, item)
        path = folder / when.stem / "points.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        p = np.where(np.isfinite(points), points, 0.0)
        data: dict[str, Any] = {
            "xy": [float(f"{v:.5g}") for v in np.asarray(p, dtype=np.float64)[:, :2].ravel()],
            "method": self.method,
            "labels": None if self._labels is None else [int(v) for v in self._labels],
            "preds": None if preds is None else [int(v) for v in np.ravel(preds)],
            "classes": None if self.class_names is None else [str(c) for c in self.class_names],
        }
        if shared.get("sprite"):
            cols = int(np.ceil(np.sqrt(self._n)))
            data["sprite"] = {"path": shared["sprite"], "thumb": shared["thumb"], "cols": cols}
        path.write_text(json.dumps(data), encoding="utf-8")
        self._record(item, when, self._dest.relative(path), "application/json", kind="points")
        return item

    # -- projector --------------------------------------------------------------------------

    def _export(self, emb: np.ndarray, when: When) -> FileItem:
        dest = self._dest
        folder = dest.folder(self._path)
        item = FileItem(self._path)
        shared = self._shared(folder, item)
        tensor_file = folder / when.stem / "tensors.tsv"
        shape = write_tensor_tsv(tensor_file, emb)
        name = f"{self.name}/{self._path} @ {when.label}"
        self._record(
            item,
            when,
            dest.relative(tensor_file),
            "text/tab-separated-values",
            tensor_name=name,
            tensor_shape=list(shape),
            metadata_path=shared.get("metadata"),
            sprite_path=shared.get("sprite"),
            sprite_thumb=shared.get("thumb", 0),
        )
        # The config lists every projector tensor of this log_dir (all callbacks, all fits), so
        # it is rebuilt from the manifest plus what this item adds.
        known = [e for e in self._manifest.entries(kind="projector") if e.get("tensor_name")]
        # A later fit on the same log_dir rewrites the same files: one config entry per name.
        latest = {e["tensor_name"]: e for e in known}
        latest.update({r["tensor_name"]: r for r in item.records if r.get("tensor_name")})
        tensors = list(latest.values())
        config = dest.log_dir / PROJECTOR_CONFIG
        ours = projector_config_text(
            [
                {
                    "tensor_name": e["tensor_name"],
                    "tensor_path": e["path"],
                    "metadata_path": e.get("metadata_path"),
                    "tensor_shape": e.get("tensor_shape"),
                    "sprite_path": e.get("sprite_path"),
                    "sprite_thumb": e.get("sprite_thumb"),
                }
                for e in tensors
            ]
        )
        config.write_text(merge_projector_config(config, ours, set(latest)), encoding="utf-8")
        self._record(item, when, dest.relative(config), "text/x-protobuf")
        return item

    def _record(
        self,
        item: FileItem,
        when: When | None,
        path: str,
        media: str,
        kind: str = "projector",
        **extra,
    ) -> None:
        """Add the manifest entry of one projector (or points) file to ``item``."""
        item.records.append(
            record(
                self._dest,
                item,
                when,
                kind=kind,
                sink=kind,
                path=path,
                media=media,
                **extra,
            )
        )

    def _shared(self, folder, item: FileItem) -> dict[str, Any]:
        """Metadata and sprite: the same points every epoch, so written once per fit."""
        if self._shared_files is not None:
            return self._shared_files
        dest = self._dest
        shared: dict[str, Any] = {}
        folder.mkdir(parents=True, exist_ok=True)
        if self._labels is not None:
            path = folder / "metadata.tsv"
            write_metadata_tsv(path, self._labels, self.class_names)
            shared["metadata"] = dest.relative(path)
            self._record(item, None, shared["metadata"], "text/tab-separated-values")
        images = first_input(self._x)
        looks_like_images = images.ndim == 4 and images.shape[-1] in (1, 3) or images.ndim == 3
        if self.sprite and looks_like_images and images.dtype.kind == "f":
            pixels, thumb = sprite_image(images)
            path = folder / "sprite.png"
            path.write_bytes(encode_png(pixels))
            shared.update({"sprite": dest.relative(path), "thumb": thumb})
            self._record(
                item,
                None,
                shared["sprite"],
                "image/png",
                width=pixels.shape[1],
                height=pixels.shape[0],
            )
        self._shared_files = shared
        return shared
