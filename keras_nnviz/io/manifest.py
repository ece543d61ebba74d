"""The manifest: the JSON index of everything written under one ``log_dir``.

Schema (``nnviz_manifest.json``, version 1; read by the HTML report)::

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

import json
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .items import Destination, Item, When

MANIFEST_NAME = "nnviz_manifest.json"
MANIFEST_FORMAT = "keras_nnviz.manifest"
MANIFEST_VERSION = 1


def utc_now() -> str:
    """Current UTC time as ISO-8601 (seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def record(dest: Destination, item: Item, when: When | None, **fields: Any) -> dict[str, Any]:
    """A manifest entry for ``item`` written by ``dest``'s callback.

    Args:
        dest: the callback's destination.
        item: what was written.
        when: the snapshot time, or None (animations, files not tied to a snapshot).
        **fields: the entry's other fields (``kind``, ``sink``, ``path``, ``media``, ...).

    Returns:
        The entry, a JSON-able dict.

    Example:
        >>> record(Destination(Path("logs"), "weights"), ImageItem("conv1"), When(1), kind="frame")
    """
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
        >>> m = nv.io.load_manifest("logs")
        >>> [e["path"] for e in m["entries"] if e["kind"] == "animation"]
    """
    return json.loads((Path(log_dir) / MANIFEST_NAME).read_text(encoding="utf-8"))
