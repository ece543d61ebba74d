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
                    "fit": "<fit id>",
                    "diverged": {"epoch": 3, "layer": "conv1" | null, "message": "..."},
                                                  only when loss or weights became NaN/inf
                    "metrics": [...]}],            (manifests before "fits" kept curves here)
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

Storage: an append-only journal, compacted at train end
--------------------------------------------------------
Rewriting the whole index after every snapshot made writing quadratic in the number of
snapshots (``every="batch:1"``: 4x the snapshots wrote 14x the bytes) and let two processes
overwrite each other's index. Now:

* ``nnviz_manifest.jsonl`` — the journal: one JSON object per line, one per event (an entry
  written, a run started or ended, a callback's settings, an error, a fit's header or one
  epoch's metrics). Appends are made under a file lock (:mod:`~keras_nnviz.io.locks`), so
  several processes can write one ``log_dir``; a failed append is cut back to the last whole
  line. Each snapshot appends only what it adds: bytes written grow linearly with snapshots.
* ``nnviz_manifest.json`` — the compacted index above, strict JSON, rewritten atomically (a
  temporary file then a rename; the temporary file is removed if writing fails) when the last
  callback of a fit finishes, after folding the journal in (the journal is then removed). It is
  created (empty) with the first append so a live reader finds it.

:func:`load_manifest` returns the index with the journal replayed on top: the same dict
whatever was compacted. Old ``nnviz_manifest.json`` files (no journal) read as they are.

Values that JSON cannot hold (NaN, +/-inf: a diverged loss) are stored as the strings
``"NaN"``, ``"Infinity"``, ``"-Infinity"`` — which ``float()`` and JavaScript's ``Number()``
both parse — and read back as floats in metrics rows and scalar entries' ``"value"``.

Damage never loses the index (one check, :mod:`keras_nnviz.io._schema`, in front of every
reader): a journal line cut short (a crash or a full disk while appending), not UTF-8 or of
the wrong shape is skipped; an entry, run or metric of the wrong type is left out; each read
says so in one :class:`~keras_nnviz.errors.ManifestWarning` naming the file. Only a top level
that cannot be used raises :class:`~keras_nnviz.errors.ManifestError`. An index without
``"format"`` (or with another) that has these keys is read as this one. Before a writer
replaces an index it could not fully use, it keeps the original byte for byte as
``nnviz_manifest.json.unknown-<time>`` beside it (one warning); one it cannot read at all is
never replaced.
"""

from __future__ import annotations

import copy
import os
import threading
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import ManifestError, ManifestWarning
from .index import (
    CURRENT,
    JOURNAL_NAME,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MANIFEST_VERSION,
    MISSING,
    UNREADABLE,
    UNUSABLE,
    Index,
    dumps,
    empty_index,
    entry_key,
    file_signature,
    parse_base,
    plain,
    read_file,
    read_index,
    utc_now,
)
from .items import Destination, Item, When
from .locks import LOCK_DIR, FileLock

__all__ = [
    "dumps",
    "empty_index",
    "entry_key",
    "JOURNAL_NAME",
    "load_manifest",
    "Manifest",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "plain",
    "record",
    "utc_now",
]


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


# -- strict JSON ---------------------------------------------------------------------------------


class Manifest:
    """The index of everything written under one ``log_dir`` (schema in the module doc).

    One instance per directory per process (:meth:`for_dir`), written on the writer thread.
    Changes are events: they update :attr:`data` (this process's view) at once and go to the
    journal at :meth:`save`; :meth:`compact` folds the journal into ``nnviz_manifest.json``.
    Other processes may write the same ``log_dir`` at the same time (their events reach this
    view at :meth:`refresh`).

    Attributes:
        data: the index as this process sees it (read it; change it through the methods).
        bytes_written: bytes this instance wrote (journal and compactions).
    """

    _instances: dict[str, Manifest] = {}
    _lock = threading.Lock()

    def __init__(self, log_dir: str | os.PathLike):
        self.log_dir = Path(log_dir)
        self.path = self.log_dir / MANIFEST_NAME
        self.journal = self.log_dir / JOURNAL_NAME
        self._mutex = threading.RLock()
        self._pending: list[dict[str, Any]] = []
        self.bytes_written = 0
        self._adopted = False  # the base on disk was checked before this instance writes
        self._load()

    @classmethod
    def for_dir(cls, log_dir: str | os.PathLike) -> Manifest:
        """The instance of ``log_dir`` in this process."""
        key = str(Path(log_dir).resolve())
        with cls._lock:
            if key not in cls._instances:
                cls._instances[key] = cls(Path(log_dir))
            return cls._instances[key]

    def _file_lock(self) -> FileLock:
        return FileLock(self.log_dir / LOCK_DIR / "manifest.lock")

    def _load(self) -> None:
        data, self._seen = read_index(self.log_dir, strict=False)
        self._index = Index(data)
        self.data = self._index.data
        for event in self._pending:  # not yet in the journal: keep them in the view
            self._index.apply(event)

    def refresh(self) -> None:
        """Read what other processes (or instances) wrote since this view was made.

        Cheap when nothing changed (two ``stat`` calls); never raises.
        """
        with self._mutex:
            current = (file_signature(self.path), file_signature(self.journal))
            if current != self._seen:
                self._load()

    # -- events ---------------------------------------------------------------------------------

    def _emit(self, op: str, **fields: Any) -> None:
        event = {"op": op, "time": utc_now(), **fields}
        with self._mutex:
            self._index.apply(copy.deepcopy(event))
            self._pending.append(event)

    def add(self, entries: Iterable[dict[str, Any]]) -> None:
        """Add entries; one that describes the same file (or summary) as an earlier one — a later
        fit rewriting ``epoch_0000.png`` — replaces it in place."""
        for entry in entries:
            self._emit("entry", entry=entry)

    def set_callback(self, name: str, **fields: Any) -> None:
        """Set a callback's ``class``, ``title``, ``every``, ``params`` (dict params merge)."""
        self._emit("callback", name=name, fields=fields)

    def add_run(self, name: str, run: dict[str, Any]) -> None:
        """Start a run record of callback ``name`` (one per fit, keyed by its ``"fit"`` id)."""
        self._emit("run", name=name, run=run)

    def update_run(self, name: str, fit: str, **fields: Any) -> None:
        """Update callback ``name``'s run of fit ``fit`` (``ended``, ``epochs``, ``diverged``)."""
        self._emit("run_update", name=name, fit=fit, fields=fields)

    def add_error(self, name: str, error: dict[str, Any]) -> None:
        """Record a caught failure of callback ``name`` (``time``, ``epoch``, ``message``)."""
        self._emit("error", name=name, error=error)

    def update_fit(self, fit_id: str, **fields: Any) -> None:
        """Create or update the record of one fit in ``"fits"`` (not its metrics)."""
        self._emit("fit", id=fit_id, fields=fields)

    def add_metrics(self, fit_id: str, row: dict[str, Any]) -> None:
        """One epoch's logs of fit ``fit_id`` (a row with the same ``epoch`` is replaced)."""
        self._emit("metrics", id=fit_id, row=row)

    # -- reading this process's view ------------------------------------------------------------

    def callback(self, name: str) -> dict[str, Any]:
        """The section of one callback (read it; change it with :meth:`set_callback` ...)."""
        with self._mutex:
            return self._index.section(name)

    def entries(self, **match: Any) -> list[dict[str, Any]]:
        """Entries whose fields equal all of ``match``."""
        with self._mutex:
            return [e for e in self.data["entries"] if all(e.get(k) == v for k, v in match.items())]

    # -- writing --------------------------------------------------------------------------------

    def save(self) -> Path:
        """Append the events since the last save to the journal (one locked write).

        On failure (a full disk) the journal is cut back to its last whole line and the events
        stay pending for the next save; the error is raised for the caller's ``on_error``.
        """
        with self._mutex:
            pending = list(self._pending)
            base_missing = not self.path.exists()
            if not pending and not base_missing:
                return self.path
            with self._file_lock():
                if not self._adopted:
                    self._adopt_base()
                if not self.path.exists():
                    self._write_base(empty_index())
                if pending:
                    self._append(pending)
                self._seen = (file_signature(self.path), file_signature(self.journal))
            del self._pending[: len(pending)]
        return self.path

    def compact(self) -> Path:
        """Fold the journal into ``nnviz_manifest.json`` (train end) and remove the journal.

        Reads the files again under the lock, so events of other processes are kept; if the
        new index cannot be written, the old one and the journal stay as they were. An index
        this version cannot fully understand is never compacted away (:meth:`_adopt_base`).

        Raises:
            ManifestError: ``nnviz_manifest.json`` cannot be read (it stays untouched).
            OSError: the new index cannot be written.
        """
        with self._mutex:
            self.save()
            with self._file_lock():
                if self._adopt_base() == UNREADABLE:
                    raise ManifestError(
                        f"{self.path} cannot be read, so it is not replaced: the journal "
                        f"{self.journal.name} keeps this run's records. Fix the file's "
                        "permissions and train again to fold them in."
                    )
                data, _ = read_index(self.log_dir, strict=False)
                data["updated"] = utc_now()
                self._write_base(data)
                self.journal.unlink(missing_ok=True)
                self._seen = (file_signature(self.path), None)
            self._index = Index(data)
            self.data = self._index.data
        return self.path

    def _adopt_base(self) -> str:
        """Under the file lock, before this instance replaces ``nnviz_manifest.json``: an index
        of another format, with damaged parts or unusable is first copied, byte for byte, to
        ``nnviz_manifest.json.unknown-<time>`` beside it, then replaced by what could be read
        of it (its usable entries; an empty index when nothing could), with one warning. An
        index that cannot be read at all is left untouched.

        Returns:
            The status the base had (:data:`CURRENT` ... :data:`UNREADABLE`).
        """
        self._adopted = True
        try:
            raw = read_file(self.path)
        except FileNotFoundError:
            return MISSING
        except OSError:
            return UNREADABLE
        data, status, problem = parse_base(raw, self.path)
        if status in (MISSING, CURRENT):
            return status
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        for i in range(1, 1000):
            kept = self.path.with_name(
                f"{MANIFEST_NAME}.unknown-{stamp}" + (f"-{i}" if i > 1 else "")
            )
            try:
                f = open(kept, "xb")  # noqa: SIM115 - never over an earlier copy; closed below
            except FileExistsError:
                continue
            try:
                with f:
                    f.write(raw)
            except BaseException:
                kept.unlink(missing_ok=True)  # a full disk: no half copy; the base stays as is
                raise
            break
        else:
            raise ManifestError(f"{self.path} could not be kept aside (1000 copies exist).")
        self._write_base(data)
        then = "a new index" if status == UNUSABLE else f"its {len(data['entries'])} entries"
        warnings.warn(
            f"{self.path} {problem}; the original is kept as {kept.name} and this log_dir "
            f"goes on with {then}.",
            ManifestWarning,
            stacklevel=2,
        )
        return status

    def _append(self, events: list[dict[str, Any]]) -> None:
        payload = "".join(dumps(e) + "\n" for e in events).encode("utf-8")
        fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size:  # a line cut short earlier must not swallow the first new event
                with open(self.journal, "rb") as f:
                    f.seek(size - 1)
                    if f.read(1) != b"\n":
                        payload = b"\n" + payload
            try:
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view) :]
            except BaseException:
                os.ftruncate(fd, size)  # no half event left behind
                raise
            self.bytes_written += len(payload)
        finally:
            os.close(fd)

    def _write_base(self, data: dict[str, Any]) -> None:
        text = dumps(data, indent=1).encode("utf-8")
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.bytes_written += len(text)


def load_manifest(log_dir: str | os.PathLike) -> dict[str, Any]:
    """Read the manifest of ``log_dir``: ``nnviz_manifest.json`` with the journal replayed on top
    (for reports and tests; schema in the module doc).

    Damaged parts (an entry of the wrong shape, a malformed journal line) are left out with
    one :class:`~keras_nnviz.errors.ManifestWarning` naming the file; an index without
    ``"format"`` that has this schema's keys is read as one.

    Raises:
        FileNotFoundError: ``log_dir`` holds no manifest.
        ManifestError: ``nnviz_manifest.json`` cannot be used (not JSON, nested too deeply,
            no ``entries`` list); a ``ValueError`` too.
        OSError: it cannot be read.

    Example:
        >>> m = nv.io.load_manifest("logs")
        >>> [e["path"] for e in m["entries"] if e["kind"] == "animation"]
    """
    log_dir = Path(log_dir)
    if not (log_dir / MANIFEST_NAME).exists() and not (log_dir / JOURNAL_NAME).exists():
        raise FileNotFoundError(f"{log_dir / MANIFEST_NAME} does not exist")
    data, _ = read_index(log_dir, strict=True)
    return data
