"""Where training-time pictures go: PNG files, TensorBoard, animated GIFs, and a JSON manifest.

Callbacks (:mod:`keras_nnviz.callbacks`) turn each snapshot into *items* (:class:`ImageItem`,
:class:`HistogramItem`, :class:`ScalarItem`) and hand them to sinks on one background thread
(:class:`BackgroundWriter`), so the training thread only pays for the TensorFlow compute.

Layout under ``log_dir`` (``<callback>`` is the callback's ``name``, e.g. ``activation_maps``;
``<tag>`` is what is shown, usually a layer path, so nested paths become nested folders)::

    log_dir/
      nnviz_manifest.json                      the index below
      train/events.out.tfevents.*              TensorBoard run: the one keras.callbacks.TensorBoard
                                               writes, so both appear together
      <callback>/<tag>/epoch_0003.png          one frame per snapshot (PNGSink)
      <callback>/<tag>/epoch_0003_batch_000200.png   batch-level snapshots (``every="batch:N"``)
      <callback>/<tag>/summary.png             annotated figure written at train end
                                               (some callbacks name it, e.g. ridgeline.png)
      <callback>/<tag>/animation.gif           every frame of the tag, in order (GIFSink)
      projector_config.pbtxt + <callback>/<tag>/...tsv   TensorBoard projector export

Epoch numbers count *completed* epochs: ``epoch_0000`` is the model before training, ``epoch_0003``
after three epochs (Keras's progress bar "Epoch 3/3"). TensorBoard steps are the same numbers (or
the global batch count for batch-level snapshots); note that ``keras.callbacks.TensorBoard`` logs
``epoch_loss`` at step ``epoch index`` = completed epochs − 1.

Manifest schema (``nnviz_manifest.json``, version 1; read by the HTML report)::

    {
      "format": "keras_nnviz.manifest",
      "version": 1,
      "updated": "2026-01-01T12:00:00Z",          ISO-8601 UTC time of the last write
      "callbacks": {
        "<callback>": {
          "class": "ActivationMaps",              the callback class
          "title": "Activation maps",             human title
          "every": "1" | "3" | "batch:50",        the schedule
          "params": {...},                        JSON-able arguments (layers, method, ...)
          "tags": ["conv1", ...],                 every tag written so far, in first-seen order
          "runs": [{"started": t, "ended": t | null, "model": "digits_cnn", "epochs": 3,
                    "metrics": [{"epoch": 1, "loss": 0.9, "accuracy": 0.7, ...}, ...]}],
          "errors": [{"time": t, "epoch": 2, "message": "ValueError: ..."}]
        }
      },
      "entries": [                                 in write order
        {
          "callback": "<callback>", "tag": "conv1",
          "kind": "frame" | "summary" | "animation" | "tensorboard" | "projector",
          "sink": "png" | "gif" | "tensorboard" | "projector",
          "path": "activation_maps/conv1/epoch_0003.png",   POSIX, relative to log_dir
                                                   (for "tensorboard": the run folder, "train")
          "media": "image/png" | "image/gif" | "tensorboard/image" | "tensorboard/histogram"
                   | "tensorboard/scalar"
                   | "text/tab-separated-values" | "text/x-protobuf",
          "epoch": 3, "batch": null, "step": 3,   completed epochs, global batch (batch-level
                                                   snapshots), TensorBoard step; summaries carry
                                                   the final state's; null for animations
          "final": false,                          true for the state written at train end
          "width": 320, "height": 200,             pixels (images only)
          "caption": "conv1 · epoch 3",
          "time": "2026-01-01T12:00:00Z"
        }
      ]
    }

The manifest is rewritten atomically after every snapshot, so a reader never sees half a file; a
new ``fit`` on the same ``log_dir`` adds to it (an entry for a file that is rewritten replaces the
old one; ``fit(initial_epoch=3)`` continues at ``epoch_0003``).
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidArgumentError

MANIFEST_NAME = "nnviz_manifest.json"
MANIFEST_FORMAT = "keras_nnviz.manifest"
MANIFEST_VERSION = 1


def utc_now() -> str:
    """Current UTC time as ISO-8601 (seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ----------------------------------------------------------------------------------------------
# Items and snapshot times


@dataclass(frozen=True)
class When:
    """When a snapshot was taken.

    Attributes:
        epoch: completed epochs (0 = before training).
        batch: global batch count for batch-level snapshots, else None.
        step: TensorBoard step (``epoch``, or ``batch`` for batch-level snapshots).
        final: the state written at train end.
    """

    epoch: int
    batch: int | None = None
    step: int = 0
    final: bool = False

    @property
    def stem(self) -> str:
        """File name stem of a frame, e.g. ``epoch_0003`` or ``epoch_0001_batch_000200``."""
        base = f"epoch_{self.epoch:04d}"
        return base if self.batch is None else f"{base}_batch_{self.batch:06d}"

    @property
    def label(self) -> str:
        """Human label, e.g. ``epoch 3`` or ``epoch 1, batch 200``."""
        base = (
            "before training" if self.epoch == 0 and self.batch is None else f"epoch {self.epoch}"
        )
        return base if self.batch is None else f"{base}, batch {self.batch}"


def encode_png(pixels: np.ndarray, compress_level: int = 1) -> bytes:
    """Encode an ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` uint8 array as PNG with Pillow.

    Low zlib effort on purpose: frames are written every epoch and size matters less than time.
    """
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(
        buffer, format="PNG", compress_level=compress_level
    )
    return buffer.getvalue()


def decode_png(png: bytes) -> np.ndarray:
    """PNG bytes to an RGB uint8 array."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@dataclass
class ImageItem:
    """One picture for one tag.

    Give ``pixels`` (uint8 ``(H, W, 3)``; per-epoch frames) or ``png`` (bytes of a rendered
    figure; summaries). The PNG is encoded once and shared by every sink.

    Attributes:
        tag: what is shown, e.g. a layer path; becomes a folder under the callback's folder.
        pixels: image array, or None.
        png: encoded PNG, or None.
        caption: one line describing the picture.
        kind: ``"frame"`` (one per snapshot, animated into the GIF) or ``"summary"`` (train end).
        name: file stem for summaries (default ``"summary"``).
    """

    tag: str
    pixels: np.ndarray | None = None
    png: bytes | None = None
    caption: str = ""
    kind: str = "frame"
    name: str | None = None

    def png_bytes(self) -> bytes:
        if self.png is None:
            self.png = encode_png(self.pixels)
        return self.png

    def rgb(self) -> np.ndarray:
        if self.pixels is None:
            self.pixels = decode_png(self.png)
        return self.pixels

    def size(self) -> tuple[int, int]:
        """(width, height)."""
        h, w = self.rgb().shape[:2]
        return int(w), int(h)


@dataclass
class HistogramItem:
    """Values whose distribution is logged (TensorBoard histogram)."""

    tag: str
    values: np.ndarray
    caption: str = ""


@dataclass
class ScalarItem:
    """One number per snapshot (TensorBoard scalar), e.g. a layer's gradient norm."""

    tag: str
    value: float
    caption: str = ""


@dataclass
class FileItem:
    """Files a callback wrote itself (e.g. a projector export), recorded in the manifest."""

    tag: str
    records: list[dict[str, Any]] = field(default_factory=list)


Item = ImageItem | HistogramItem | ScalarItem | FileItem


@dataclass(frozen=True)
class Destination:
    """Where one callback writes: the log directory and its folder name."""

    log_dir: Path
    callback: str

    def folder(self, tag: str) -> Path:
        return self.log_dir / self.callback / _safe_tag(tag)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.log_dir).as_posix()


def _safe_tag(tag: str) -> str:
    """A tag as a relative folder path: layer paths keep their slashes, nothing escapes."""
    parts = [p for p in str(tag).replace("\\", "/").split("/") if p not in ("", ".", "..")]
    cleaned = ["".join(c if c.isalnum() or c in "-_.#@=+ " else "_" for c in p) for p in parts]
    return "/".join(cleaned) or "_"


def record(dest: Destination, item, when: When | None, **fields: Any) -> dict[str, Any]:
    """A manifest entry for ``item`` written by ``dest``'s callback."""
    entry = {
        "callback": dest.callback,
        "tag": item.tag,
        "epoch": None if when is None else when.epoch,
        "batch": None if when is None else when.batch,
        "step": None if when is None else when.step,
        "final": bool(when is not None and when.final),
        "caption": getattr(item, "caption", ""),
        "time": utc_now(),
    }
    entry.update(fields)
    return entry


# ----------------------------------------------------------------------------------------------
# Sinks


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
        path.write_bytes(item.png_bytes())
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
    """An animated GIF per tag (``animation.gif``) of its frames, written at train end.

    Frames are kept in memory, shrunk to at most ``max_side`` pixels; past ``max_frames`` every
    other frame is dropped, so long runs still cover the whole training.

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
        self._frames: dict[tuple[str, str, str], list[Any]] = {}
        self._lock = threading.Lock()

    def prepare(self, dest):
        with self._lock:  # frames of an earlier fit that stopped early must not leak in
            for key in [k for k in self._frames if k[:2] == (str(dest.log_dir), dest.callback)]:
                del self._frames[key]

    def write(self, dest, item, when):
        if not isinstance(item, ImageItem) or item.kind != "frame":
            return []
        from PIL import Image

        # Quantized now, frame by frame on the writer thread, so train end only saves. Octree:
        # ~15x faster than median cut, mean error ~1/255 on colormap frames.
        frame = Image.fromarray(_shrink(item.rgb(), self.max_side)).quantize(
            256, method=Image.Quantize.FASTOCTREE
        )
        key = (str(dest.log_dir), dest.callback, item.tag)
        with self._lock:
            frames = self._frames.setdefault(key, [])
            frames.append(frame)
            if len(frames) > self.max_frames:
                # Keep the first and every other one after: coverage of the whole run stays even.
                del frames[1::2]
        return []

    def finish(self, dest):
        entries = []
        with self._lock:
            keys = [k for k in self._frames if k[0] == str(dest.log_dir) and k[1] == dest.callback]
            work = [(k, self._frames.pop(k)) for k in keys]
        for (_, _, tag), frames in work:
            if not frames:
                continue
            size = frames[-1].size
            images = [f for f in frames if f.size == size]  # a tag keeps one size; be safe
            folder = dest.folder(tag)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "animation.gif"
            images[0].save(
                path,
                save_all=True,
                append_images=images[1:],
                # Hold the last frame longer: the final state is what the eye should rest on.
                duration=[self.duration_ms] * (len(images) - 1) + [self.duration_ms * 4],
                loop=0,
            )
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


class TensorBoardSink(Sink):
    """Images, histograms and scalars as TensorBoard summaries in ``log_dir/<run>``.

    Keras's ``keras.callbacks.TensorBoard`` writes ``log_dir/train`` and ``log_dir/validation``;
    using the same ``train`` run puts our pictures beside its curves. Tags are
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

    def __init__(self, run: str = "train", buckets: int = 30):
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
        step = 0 if when is None else when.step
        with writer.as_default():
            if isinstance(item, ScalarItem):
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
                f"Unknown sink {s!r}; use names from {sorted(SINKS)} or keras_nnviz.sinks.Sink "
                "instances."
            )
    return out


# ----------------------------------------------------------------------------------------------
# Manifest


class Manifest:
    """The JSON index of everything written under one ``log_dir`` (schema in the module doc).

    One instance per directory per process (:meth:`for_dir`), updated only on the writer
    thread; an existing file is continued, so several ``fit`` calls share one index.
    """

    _instances: dict[str, Manifest] = {}
    _lock = threading.Lock()

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self.path = self.log_dir / MANIFEST_NAME
        self.data: dict[str, Any] = self._load()
        self._index = {self._key(e): i for i, e in enumerate(self.data["entries"])}
        self._mutex = threading.RLock()

    @classmethod
    def for_dir(cls, log_dir: str | os.PathLike) -> Manifest:
        key = str(Path(log_dir).resolve())
        with cls._lock:
            if key not in cls._instances:
                cls._instances[key] = cls(Path(log_dir))
            return cls._instances[key]

    def _load(self) -> dict[str, Any]:
        empty = {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "updated": utc_now(),
            "callbacks": {},
            "entries": [],
        }
        if not self.path.exists():
            return empty
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return empty  # unreadable: start a new index rather than fail training
        if data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("entries"), list):
            return empty
        data.setdefault("callbacks", {})
        return data

    def callback(self, name: str) -> dict[str, Any]:
        """The (mutable) section of one callback."""
        with self._mutex:
            return self.data["callbacks"].setdefault(
                name, {"tags": [], "runs": [], "errors": [], "params": {}}
            )

    @staticmethod
    def _key(entry: dict[str, Any]) -> tuple:
        """What an entry describes: a file, or a TensorBoard (tag, step, kind)."""
        if entry.get("sink") == "tensorboard":
            return ("tb", entry.get("tensorboard_tag"), entry.get("step"), entry.get("media"))
        return ("file", entry.get("path"))

    def add(self, entries: Iterable[dict[str, Any]]) -> None:
        """Add entries; one that describes the same file (or summary) as an earlier one — a later
        fit rewriting ``epoch_0000.png`` — replaces it in place."""
        with self._mutex:
            for entry in entries:
                key = self._key(entry)
                if key[1] is not None and key in self._index:
                    self.data["entries"][self._index[key]] = entry
                else:
                    self._index[key] = len(self.data["entries"])
                    self.data["entries"].append(entry)
                section = self.callback(entry["callback"])
                if entry["tag"] not in section["tags"]:
                    section["tags"].append(entry["tag"])

    def entries(self, **match: Any) -> list[dict[str, Any]]:
        """Entries whose fields equal all of ``match``."""
        with self._mutex:
            return [e for e in self.data["entries"] if all(e.get(k) == v for k, v in match.items())]

    def save(self) -> Path:
        """Write the manifest atomically (temporary file + rename)."""
        with self._mutex:
            self.data["updated"] = utc_now()
            text = json.dumps(self.data, indent=1, default=_json_default)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.path)
        return self.path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return value.as_posix()
    return repr(value)


def load_manifest(log_dir: str | os.PathLike) -> dict[str, Any]:
    """Read ``log_dir/nnviz_manifest.json`` (for reports and tests).

    Example:
        >>> m = nv.sinks.load_manifest("logs")
        >>> [e["path"] for e in m["entries"] if e["kind"] == "animation"]
    """
    return json.loads((Path(log_dir) / MANIFEST_NAME).read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------------
# The writer thread


class BackgroundWriter:
    """One thread per process that renders and writes, in submission order.

    Callbacks submit closures holding numpy results; the training thread never waits for
    rendering or disk except when a callback has ``max_pending`` snapshots queued
    (back-pressure, so a slow disk cannot pile up memory) and at train end.
    """

    _executor: concurrent.futures.ThreadPoolExecutor | None = None
    _lock = threading.Lock()

    @classmethod
    def submit(cls, fn: Callable[[], Any]) -> concurrent.futures.Future:
        with cls._lock:
            if cls._executor is None:
                cls._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="nnviz-writer"
                )
            return cls._executor.submit(fn)
