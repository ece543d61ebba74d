"""Where training-time pictures go: PNG files, TensorBoard, animated GIFs, and a JSON manifest.

Callbacks (:mod:`keras_nnviz.callbacks`) turn each snapshot into *items*
(:mod:`~keras_nnviz.io.items`: :class:`ImageItem`, :class:`HistogramItem`, :class:`ScalarItem`,
:class:`FileItem`) and hand them to sinks (:mod:`~keras_nnviz.io.sinks`: :class:`PNGSink`,
:class:`GIFSink`, :class:`TensorBoardSink`) on one background thread
(:mod:`~keras_nnviz.io.writer`: :class:`BackgroundWriter`), so the training thread only pays for
the TensorFlow compute. Every file written is indexed in ``log_dir/nnviz_manifest.json``
(:mod:`~keras_nnviz.io.manifest`: :class:`Manifest`, :func:`load_manifest`; schema there), an
append-only journal (``nnviz_manifest.jsonl``) compacted at train end; several processes may
write one ``log_dir`` (:mod:`~keras_nnviz.io.locks`).

Example:
    >>> import keras_nnviz as nv
    >>> m = nv.io.load_manifest("logs")
    >>> [e["path"] for e in m["entries"] if e["kind"] == "animation"]
"""

from .items import (
    Destination,
    FileItem,
    HistogramItem,
    ImageItem,
    Item,
    ScalarItem,
    When,
    decode_png,
    encode_png,
)
from .manifest import (
    JOURNAL_NAME,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MANIFEST_VERSION,
    Manifest,
    load_manifest,
    record,
    utc_now,
)
from .sinks import (
    DEFAULT_SINKS,
    SINKS,
    GIFSink,
    PNGSink,
    Sink,
    TensorBoardSink,
    histogram_buckets,
    resolve_sinks,
    summary_writer,
    tensorboard_available,
)
from .writer import BackgroundWriter

__all__ = [
    "DEFAULT_SINKS",
    "JOURNAL_NAME",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "SINKS",
    "BackgroundWriter",
    "Destination",
    "FileItem",
    "GIFSink",
    "HistogramItem",
    "ImageItem",
    "Item",
    "Manifest",
    "PNGSink",
    "ScalarItem",
    "Sink",
    "TensorBoardSink",
    "When",
    "decode_png",
    "encode_png",
    "histogram_buckets",
    "load_manifest",
    "record",
    "resolve_sinks",
    "summary_writer",
    "tensorboard_available",
    "utc_now",
]
