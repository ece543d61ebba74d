"""What is written: snapshot times, the item types callbacks produce, and where they go.

Callbacks turn each snapshot into items (:class:`ImageItem`, :class:`HistogramItem`,
:class:`ScalarItem`, :class:`FileItem`) stamped with a :class:`When`; the sinks
(:mod:`keras_nnviz.io.sinks`) write them under a :class:`Destination`.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "decode_png",
    "Destination",
    "encode_png",
    "FileItem",
    "HistogramItem",
    "ImageItem",
    "Item",
    "ScalarItem",
    "When",
]


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

    Args:
        pixels: uint8 image array.
        compress_level: zlib level, 0-9.

    Returns:
        The PNG file's bytes.

    Example:
        >>> png = encode_png(np.zeros((8, 8, 3), np.uint8))
    """
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(
        buffer, format="PNG", compress_level=compress_level
    )
    return buffer.getvalue()


def decode_png(png: bytes) -> np.ndarray:
    """PNG bytes to an RGB uint8 array.

    Args:
        png: bytes of a PNG file.

    Returns:
        ``(H, W, 3)`` uint8 array.

    Example:
        >>> decode_png(encode_png(np.zeros((8, 8, 3), np.uint8))).shape
        (8, 8, 3)
    """
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
        """The folder of ``tag``'s files: ``log_dir/<callback>/<tag as folders>``
        (:func:`_safe_tag`: distinct tags get distinct folders)."""
        return self.log_dir / self.callback / _safe_tag(tag)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.log_dir).as_posix()


#: Characters a tag's folder keeps as they are (besides letters and digits).
_KEPT = "-_.#@=+ "


def _safe_tag(tag: str) -> str:
    """A tag as a relative folder path: layer paths keep their slashes, nothing escapes.

    Each ``/``-separated segment keeps letters, digits and ``-_.#@=+`` and spaces; any other
    character becomes ``_``, and an empty, ``.`` or ``..`` segment becomes ``_`` or ``__``.
    A segment that this changed gets ``-`` and a short hash of the original segment appended,
    so tags that differ keep different folders (``a>b`` and ``a_b``, ``..`` and ``_``, ``a/..``
    and ``a``) and the same tag always gets the same folder. Usual layer names are unchanged.
    The tag itself (the original name) stays in the manifest entry and on the report.

    Example:
        >>> _safe_tag("block1/conv"), _safe_tag("a>b")
        ('block1/conv', 'a_b-7f3a7011')
    """
    out = []
    for part in str(tag).split("/"):
        clean = "".join(c if c.isalnum() or c in _KEPT else "_" for c in part)
        if clean in ("", ".", ".."):  # a folder that vanishes or climbs out
            clean = "_" * max(1, len(clean))
        if clean != part:
            clean += "-" + hashlib.sha1(part.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        out.append(clean)
    return "/".join(out)
