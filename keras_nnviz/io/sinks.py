"""Sinks: where items go — PNG files, animated GIFs and TensorBoard summaries.

Layout under ``log_dir`` (``<callback>`` is the callback's ``name``, e.g. ``activation_maps``;
``<tag>`` is what is shown, usually a layer path, so nested paths become nested folders)::

    log_dir/
      nnviz_manifest.json                      the index (schema: keras_nnviz.io.manifest)
      nnviz_manifest.jsonl                     its journal while a fit runs (folded in at the end)
      .nnviz/*.lock                            locks between processes writing this log_dir
      train/events.out.tfevents.*              keras.callbacks.TensorBoard's run (not ours)
      train/nnviz/events.out.tfevents.*        our TensorBoard run (TensorBoardSink), beside it
      <callback>/<tag>/epoch_0003.png          one frame per snapshot (PNGSink); <callback> is
                                               <name>_2 when another running fit holds <name>
      <callback>/<tag>/epoch_0003_batch_000200.png   batch-level snapshots (``every="batch:N"``)
      <callback>/<tag>/summary.png             annotated figure written at train end
                                               (some callbacks name it, e.g. ridgeline.png)
      <callback>/<tag>/animation.gif           every frame of the tag, in order (GIFSink)
      projector_config.pbtxt + <callback>/<tag>/...tsv   TensorBoard projector export

Epoch numbers count *completed* epochs: ``epoch_0000`` is the model before training, ``epoch_0003``
after three epochs (Keras's progress bar "Epoch 3/3"). TensorBoard steps follow Keras instead:
``keras.callbacks.TensorBoard`` logs ``epoch_loss`` of the third epoch at step 2 (the epoch index),
so the frame after three epochs is written at step 2 too. The state before training has no Keras
step (step 0 is the first epoch's, a negative step would start every chart before Keras's curves),
so it is not written to TensorBoard: its frame is in the PNG files, the GIF and the report, and its
scalars stay in the manifest (with ``"step": null``) for the report's charts. Batch-level snapshots
use the global batch count, as Keras's ``batch_loss`` does.

Our summaries live in their own run folder, ``train/nnviz``: TensorBoard's loader reads one event
file per run folder at a time (it moves on to the newest file and does not go back), so a second
writer inside ``train`` would hide Keras's curves while training runs. Several models sharing one
``log_dir`` (one report for all) keep their TensorBoard runs apart with
``TensorBoardSink(run="<model>/train/nnviz")`` beside ``keras.callbacks.TensorBoard(log_dir /
"<model>")``, as ``nnviz demo`` does.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from .items import Destination, FileItem, HistogramItem, ImageItem, Item, ScalarItem, When
from .manifest import record

__all__ = [
    "DEFAULT_SINKS",
    "GIFSink",
    "histogram_buckets",
    "PNGSink",
    "resolve_sinks",
    "RUN",
    "Sink",
    "SINKS",
    "summary_writer",
    "tensorboard_available",
    "tensorboard_step",
    "TensorBoardSink",
]


class Sink:
    """Base class: receives items on the writer thread and returns manifest entries."""

    name = "sink"

    def prepare(self, dest: Destination) -> None:
        """Called on the training thread at train begin: raise here for unusable settings."""

    def write(self, dest: Destination, item: Item, when: When | None) -> list[dict[str, Any]]:
        """Write one item; return manifest entries."""
        return []

    def finish(self, dest: Destination) -> list[dict[str, Any]]:
        """Called once at train end (after the summaries)."""
        return []

    def settings(self) -> dict[str, Any]:
        """The public settings (what a copy of a callback keeps; locks and frames are not)."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def restore(self, settings: dict[str, Any]) -> None:
        """Set :meth:`settings` on a fresh sink whose constructor does not take them."""
        self.__dict__.update(settings)


class PNGSink(Sink):
    """Frames as ``log_dir/<callback>/<tag>/epoch_0003.png``; summaries as ``summary.png``."""

    name = "png"

    def write(self, dest, item, when):
        if not isinstance(item, ImageItem):
            return []
        folder = dest.folder(item.tag)
        folder.mkdir(parents=True, exist_ok=True)
        stem = item.name or ("summary" if item.kind == "summary" else when.stem)
        path = folder / f"{stem}.png"
        tmp = folder / f".{stem}.png.tmp"
        try:  # never a half-written frame (full disk): the old file or the whole new one
            tmp.write_bytes(item.png_bytes())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        w, h = item.size()
        return [
            record(
                dest,
                item,
                when,
                kind=item.kind,
                sink=self.name,
                path=dest.relative(path),
                media="image/png",
                width=w,
                height=h,
            )
        ]


class GIFSink(Sink):
    """An animated GIF per tag (``animation.gif``) of all its frames, written at train end.

    This fit's frames are kept in memory, shrunk to at most ``max_side`` pixels; frames of
    earlier fits that come before this fit's first one (``fit(initial_epoch=2)`` resuming a run)
    are read back from the PNG files the manifest lists, so a resumed run's GIF shows every
    epoch. Past ``max_frames`` every other frame is dropped, so long runs still cover the whole
    training.

    Args:
        duration_ms: display time per frame.
        max_frames: frames kept per tag.
        max_side: longest side of a GIF frame in pixels.
    """

    name = "gif"

    def __init__(self, duration_ms: int = 400, max_frames: int = 120, max_side: int = 512):
        self.duration_ms = duration_ms
        self.max_frames = max_frames
        self.max_side = max_side
        self._frames: dict[tuple[str, str, str], list[tuple[tuple, Any]]] = {}
        self._lock = threading.Lock()

    def prepare(self, dest):
        with self._lock:  # frames of an earlier fit that stopped early must not leak in
            for key in [k for k in self._frames if k[:2] == (str(dest.log_dir), dest.callback)]:
                del self._frames[key]

    def _quantize(self, rgb: np.ndarray):
        from PIL import Image

        # Octree: ~15x faster than median cut, mean error ~1/255 on colormap frames.
        return Image.fromarray(_shrink(rgb, self.max_side)).quantize(
            256, method=Image.Quantize.FASTOCTREE
        )

    def write(self, dest, item, when):
        if not isinstance(item, ImageItem) or item.kind != "frame":
            return []
        # Quantized now, frame by frame on the writer thread, so train end only saves.
        frame = self._quantize(item.rgb())
        key = (str(dest.log_dir), dest.callback, item.tag)
        with self._lock:
            frames = self._frames.setdefault(key, [])
            frames.append((_order(when.epoch, when.batch), frame))
            if len(frames) > self.max_frames:
                # Keep the first and every other one after: coverage of the whole run stays even.
                del frames[1::2]
        return []

    def _earlier(self, dest: Destination, tag: str, before: tuple) -> list[tuple[tuple, Any]]:
        """Frames of earlier fits (PNG files in the manifest) that come before ``before``."""
        from PIL import Image

        from .manifest import Manifest
        from .paths import contained

        listed = {}
        for e in Manifest.for_dir(dest.log_dir).entries(callback=dest.callback, tag=tag):
            if e.get("kind") == "frame" and e.get("sink") == "png" and e.get("epoch") is not None:
                order = _order(e["epoch"], e.get("batch"))
                if order < before:
                    listed[order] = e["path"]
        orders = sorted(listed)
        if len(orders) > self.max_frames:  # read only what the GIF keeps
            step = int(np.ceil(len(orders) / self.max_frames))
            orders = orders[::step]
        out = []
        for order in orders:
            path = contained(dest.log_dir, listed[order])
            if path is None or not path.is_file():
                continue  # deleted since, or written without the PNG sink
            try:
                with Image.open(path) as im:
                    out.append((order, self._quantize(np.asarray(im.convert("RGB")))))
            except OSError:
                continue
        return out

    def finish(self, dest):
        entries = []
        with self._lock:
            keys = [k for k in self._frames if k[0] == str(dest.log_dir) and k[1] == dest.callback]
            work = [(k, self._frames.pop(k)) for k in keys]
        for (_, _, tag), own in work:
            if not own:
                continue
            frames = self._earlier(dest, tag, min(order for order, _ in own)) + own
            frames.sort(key=lambda pair: pair[0])
            while len(frames) > self.max_frames:
                del frames[1::2]
            size = frames[-1][1].size
            images = [f for _, f in frames if f.size == size]  # a tag keeps one size; be safe
            folder = dest.folder(tag)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "animation.gif"
            tmp = folder / ".animation.gif.tmp"
            try:  # a GIF cut short by a full disk must not replace a whole one
                images[0].save(
                    tmp,
                    format="GIF",
                    save_all=True,
                    append_images=images[1:],
                    # Hold the last frame longer: the final state is what the eye should rest on.
                    duration=[self.duration_ms] * (len(images) - 1) + [self.duration_ms * 4],
                    loop=0,
                )
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            item = ImageItem(tag, caption=f"{tag} · {len(images)} frames")
            entries.append(
                record(
                    dest,
                    item,
                    None,
                    kind="animation",
                    sink=self.name,
                    path=dest.relative(path),
                    media="image/gif",
                    width=int(size[0]),
                    height=int(size[1]),
                    frames=len(images),
                )
            )
        return entries


def _order(epoch: int, batch: int | None) -> tuple:
    """Sort key of a frame: epoch, then the epoch-end frame before that epoch's batches."""
    return (int(epoch), -1 if batch is None else int(batch))


def _shrink(rgb: np.ndarray, max_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    step = int(np.ceil(max(h, w) / max_side))
    return rgb[::step, ::step] if step > 1 else rgb


def tensorboard_available() -> bool:
    """True when the ``tensorboard`` package (needed by ``tf.summary``) is importable."""
    try:
        import tensorboard.plugins.image.metadata  # noqa: F401
    except ImportError:
        return False
    return True


_WRITERS: dict[str, Any] = {}
_WRITERS_LOCK = threading.Lock()


def summary_writer(run_dir: Path):
    """One ``tf.summary`` file writer per run folder per process, shared by every callback."""
    import tensorflow as tf

    key = str(run_dir.resolve())
    with _WRITERS_LOCK:
        if key not in _WRITERS:
            _WRITERS[key] = tf.summary.create_file_writer(key)
        return _WRITERS[key]


def histogram_buckets(values: Any, buckets: int = 30) -> np.ndarray:
    """TensorBoard's histogram tensor: ``(buckets, 3)`` rows of ``[left, right, count]``."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.zeros((buckets, 3))
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-12:  # one value: TensorBoard draws a bar of width 1 around it
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(v, bins=buckets, range=(lo, hi))
    return np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)


RUN = "train/nnviz"


def tensorboard_step(when: When | None) -> int | None:
    """The TensorBoard step of a snapshot, aligned with ``keras.callbacks.TensorBoard``.

    Args:
        when: the snapshot, or None for items not tied to one (written at step 0).

    Returns:
        The epoch index (completed epochs − 1, where Keras logs ``epoch_loss``) for epoch
        snapshots, the global batch count for batch snapshots, None for the state before training:
        Keras has no step for it, and a negative one would start every chart before Keras's.

    Example:
        >>> tensorboard_step(When(3, None, 3)), tensorboard_step(When(0))
        (2, None)
    """
    if when is None:
        return 0
    step = when.step if when.batch is not None else when.epoch - 1
    return step if step >= 0 else None


class TensorBoardSink(Sink):
    """Images, histograms and scalars as TensorBoard summaries in ``log_dir/<run>``.

    Keras's ``keras.callbacks.TensorBoard`` writes ``log_dir/train`` and ``log_dir/validation``.
    Ours go to their own run folder beside them (default ``train/nnviz``): one writer per run
    folder, so TensorBoard's loader keeps showing Keras's curves live. The step of the frame
    after epoch e is Keras's step for epoch e (see :func:`tensorboard_step`); the state before
    training is not written (no negative steps), its scalars are recorded for the report. Tags are
    ``<callback>/<tag>`` for frames, ``<callback>/<tag>/histogram`` for histograms,
    ``<callback>/<tag>/scalar`` for scalars and
    ``<callback>/<tag>/<name>`` for train-end summaries. Frames go in as already-encoded PNG
    (no second encoding); summary writes are eager ops on the writer thread (``tf.summary``'s
    default-writer state is thread-local, so the training thread is untouched).

    Args:
        run: run folder under ``log_dir``.
        buckets: histogram buckets.
    """

    name = "tensorboard"

    def __init__(self, run: str = RUN, buckets: int = 30):
        self.run = run
        self.buckets = buckets

    def prepare(self, dest):
        if not tensorboard_available():
            raise InvalidArgumentError(
                "The TensorBoard sink needs the `tensorboard` package (tf.summary is implemented "
                "there): pip install tensorboard, or pass sinks=['png', 'gif'] to skip it."
            )

    def write(self, dest, item, when):
        if isinstance(item, FileItem):
            return []
        import tensorflow as tf

        writer = summary_writer(dest.log_dir / self.run)
        tag = f"{dest.callback}/{item.tag}"
        if isinstance(item, HistogramItem):
            tag += "/histogram"  # a TensorBoard tag holds one kind; the same tag may have frames
        elif isinstance(item, ScalarItem):
            tag += "/scalar"
        elif getattr(item, "kind", "frame") == "summary":
            tag += f"/{item.name or 'summary'}"
        step = tensorboard_step(when)
        if step is None and not isinstance(item, ScalarItem):
            return []  # the state before training: Keras has no step to put it at
        with writer.as_default():
            if isinstance(item, ScalarItem):
                # Before training the value goes to the manifest only: the report charts it
                # (gradient norms, dead units at initialisation); TensorBoard has no step for it.
                if step is not None:
                    tf.summary.scalar(tag, float(item.value), step=step, description=item.caption)
                media = "tensorboard/scalar"
                extra = {"value": float(item.value)}
            elif isinstance(item, HistogramItem):
                from tensorboard.plugins.histogram import metadata as histogram_metadata

                # Bucketed in numpy: tf.summary.histogram's eager bucketing costs ~35 ms a call.
                meta = histogram_metadata.create_summary_metadata(
                    display_name=None, description=item.caption
                )
                tf.summary.write(tag, histogram_buckets(item.values, self.buckets), step, meta)
                media = "tensorboard/histogram"
                extra = {}
            else:
                from tensorboard.plugins.image import metadata as image_metadata

                w, h = item.size()
                tensor = tf.constant([str(w), str(h), item.png_bytes()])
                meta = image_metadata.create_summary_metadata(
                    display_name=None, description=item.caption
                )
                tf.summary.write(tag, tensor, step=step, metadata=meta)
                media = "tensorboard/image"
                extra = {"width": w, "height": h}
        entry = record(
            dest,
            item,
            when,
            kind="tensorboard",
            sink=self.name,
            path=self.run,
            media=media,
            tensorboard_tag=tag,
            **extra,
        )
        entry["step"] = step
        return [entry]

    def finish(self, dest):
        summary_writer(dest.log_dir / self.run).flush()
        return []


SINKS: dict[str, Callable[[], Sink]] = {
    "png": PNGSink,
    "tensorboard": TensorBoardSink,
    "gif": GIFSink,
}
DEFAULT_SINKS = ("png", "tensorboard", "gif")


def resolve_sinks(sinks: Sequence[str | Sink] | str | Sink | None) -> list[Sink]:
    """Turn ``sinks=`` into sink instances (fresh ones for names).

    Args:
        sinks: None for the defaults (PNG, TensorBoard when ``tensorboard`` is installed, GIF),
            or names from ``"png"``, ``"tensorboard"``, ``"gif"``, or :class:`Sink` instances.

    Raises:
        InvalidArgumentError: an unknown name or object.
    """
    if sinks is None:
        names = [s for s in DEFAULT_SINKS if s != "tensorboard" or tensorboard_available()]
        return [SINKS[s]() for s in names]
    if isinstance(sinks, str | Sink):
        sinks = [sinks]
    out = []
    for s in sinks:
        if isinstance(s, Sink):
            out.append(s)
        elif isinstance(s, str) and s in SINKS:
            out.append(SINKS[s]())
        else:
            raise InvalidArgumentError(
                f"Unknown sink {s!r}; use names from {sorted(SINKS)} or keras_nnviz.io.Sink "
                "instances."
            )
    return out
