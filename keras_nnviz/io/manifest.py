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
import json
import math
import os
import threading
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ManifestError, ManifestWarning
from ._schema import NONFINITE, check_index, event_problem
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

MANIFEST_NAME = "nnviz_manifest.json"
JOURNAL_NAME = "nnviz_manifest.jsonl"
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


# -- strict JSON ---------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """``value`` as strict-JSON-able data: numpy to Python, paths to POSIX strings, NaN/inf to
    the strings ``"NaN"`` / ``"Infinity"`` / ``"-Infinity"``, anything else to its ``repr``."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, Path):
        return value.as_posix()
    return repr(value)


def dumps(value: Any, indent: int | None = None) -> str:
    """Strict JSON text of ``value`` (see :func:`plain`): any JSON parser reads it."""
    separators = (",", ":") if indent is None else None
    return json.dumps(
        plain(value), indent=indent, separators=separators, allow_nan=False, ensure_ascii=False
    )


def _number(value: Any) -> Any:
    return NONFINITE.get(value, value) if isinstance(value, str) else value


# -- the index and its events ---------------------------------------------------------------------


def empty_index() -> dict[str, Any]:
    """A manifest with nothing in it."""
    return {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "updated": utc_now(),
        "callbacks": {},
        "entries": [],
    }


def _section() -> dict[str, Any]:
    return {"tags": [], "runs": [], "errors": [], "params": {}}


def entry_key(entry: dict[str, Any]) -> tuple:
    """What an entry describes: a file, or a TensorBoard (tag, step, kind)."""
    if entry.get("sink") == "tensorboard":
        return ("tb", entry.get("tensorboard_tag"), entry.get("step"), entry.get("media"))
    return ("file", entry.get("path"))


class _Index:
    """The index dict plus what replaying events needs (entry positions)."""

    def __init__(self, data: dict[str, Any]):
        self.data = data
        data.setdefault("callbacks", {})
        data.setdefault("entries", [])
        for e in data["entries"]:
            if "value" in e:
                e["value"] = _number(e["value"])
        for section in data["callbacks"].values():
            for run in section.get("runs") or []:
                _decode_metrics(run)
        for fit in data.get("fits") or []:
            _decode_metrics(fit)
        self.positions = {entry_key(e): i for i, e in enumerate(data["entries"])}

    def section(self, name: str) -> dict[str, Any]:
        section = self.data["callbacks"].setdefault(name, _section())
        for key, default in _section().items():
            section.setdefault(key, default)
        return section

    def apply(self, event: dict[str, Any]) -> None:
        """Replay one journal event (idempotent: replaying it twice changes nothing more)."""
        op = event.get("op")
        if op == "entry":
            entry = dict(event["entry"])
            if "value" in entry:
                entry["value"] = _number(entry["value"])
            key = entry_key(entry)
            if key[1] is not None and key in self.positions:
                self.data["entries"][self.positions[key]] = entry
            else:
                self.positions[key] = len(self.data["entries"])
                self.data["entries"].append(entry)
            tags = self.section(entry["callback"])["tags"]
            if entry.get("tag") not in tags:
                tags.append(entry.get("tag"))
        elif op == "callback":
            section = self.section(event["name"])
            for key, value in event["fields"].items():
                if key == "params" and isinstance(value, dict):
                    value = _merge_params(section.get("params") or {}, value)
                section[key] = value
        elif op == "run":
            runs = self.section(event["name"])["runs"]
            run = dict(event["run"])
            same = [r for r in runs if run.get("fit") and r.get("fit") == run.get("fit")]
            if same:
                same[-1].update(run)
            else:
                runs.append(run)
        elif op == "run_update":
            for run in reversed(self.section(event["name"])["runs"]):
                if run.get("fit") == event["fit"]:
                    run.update(event["fields"])
                    break
        elif op == "error":
            errors = self.section(event["name"])["errors"]
            error = dict(event["error"])
            if not any(error.get("id") and e.get("id") == error.get("id") for e in errors):
                errors.append(error)
        elif op == "fit":
            self._fit(event["id"]).update(event["fields"])
        elif op == "metrics":
            metrics = self._fit(event["id"]).setdefault("metrics", [])
            row = {k: _number(v) for k, v in event["row"].items()}
            for i, old in enumerate(metrics):
                if old.get("epoch") == row.get("epoch"):
                    metrics[i] = row
                    break
            else:
                metrics.append(row)
        if "time" in event:
            self.data["updated"] = event["time"]

    def _fit(self, fit_id: str) -> dict[str, Any]:
        fits = self.data.setdefault("fits", [])
        for fit in fits:
            if fit.get("id") == fit_id:
                return fit
        fits.append({"id": fit_id, "metrics": []})
        return fits[-1]


def _decode_metrics(run: dict[str, Any]) -> None:
    for row in run.get("metrics") or []:
        for key, value in row.items():
            row[key] = _number(value)


def _merge_params(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new``, where a dict value also keeps ``old``'s keys (the Report's ``models``: each fit
    into one ``log_dir`` adds its model, even from another process)."""
    merged = dict(new)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(old.get(key), dict):
            merged[key] = {**old[key], **value}
    return merged


def _parse_journal(raw: bytes) -> tuple[list[dict[str, Any]], int]:
    """The journal's events, and how many lines were skipped: cut short by a crash or a full
    disk, not UTF-8, not JSON, or JSON of another shape (:func:`~._schema.event_problem`) — the
    rest is intact, and one bad line must never stop a fit or a report."""
    events, bad = [], 0
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            bad += 1
            continue
        if event_problem(event) is None:
            events.append(event)
        else:
            bad += 1
    return events, bad


def _read_file(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _signature(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


#: What a compacted index on disk is to a writer: nothing yet, ours, ours with damaged parts
#: (left out), another format with our keys (migrated), unusable, or unreadable (no access).
MISSING, CURRENT, DAMAGED, FOREIGN, UNUSABLE, UNREADABLE = (
    "missing", "current", "damaged", "foreign", "unusable", "unreadable"
)  # fmt: skip


def _parse_base(raw: bytes, path: Path) -> tuple[dict[str, Any], str, str]:
    """``(index, status, what is wrong)`` of the bytes of ``nnviz_manifest.json``.

    An index without ``"format"`` (or with another one) that has the keys of ours is read as
    ours (:data:`FOREIGN`, migrated); one that cannot be used is :data:`UNUSABLE` (an empty
    index). Never raises.
    """
    try:
        data = json.loads(raw.decode("utf-8"))
        data, dropped = check_index(data, str(path))
    except RecursionError:
        return empty_index(), UNUSABLE, "is nested too deeply to read"
    except ManifestError as exc:
        return empty_index(), UNUSABLE, str(exc).removeprefix(f"{path} ")
    except ValueError as exc:  # not UTF-8, not JSON
        return empty_index(), UNUSABLE, f"is not JSON ({exc})"
    if data.get("format") != MANIFEST_FORMAT:
        found = data.get("format")
        data["format"], data["version"] = MANIFEST_FORMAT, MANIFEST_VERSION
        what = "has no 'format'" if found is None else f"has format {found!r}"
        return data, FOREIGN, f"{what}: read as a {MANIFEST_FORMAT} index"
    if dropped:
        more = f" (and {len(dropped) - 1} more)" if len(dropped) > 1 else ""
        return data, DAMAGED, f"has {len(dropped)} damaged part(s), left out: {dropped[0]}{more}"
    return data, CURRENT, ""


def _read_base(path: Path, strict: bool) -> tuple[dict[str, Any], str, str]:
    """The compacted index, its status and what is wrong (:func:`_parse_base`).

    ``strict`` (a reader): an unusable or unreadable index raises; otherwise (a writer) it reads
    as empty — the writer then keeps the file aside or untouched rather than replace it.

    Raises:
        ManifestError: ``strict`` and the index cannot be used.
        OSError: ``strict`` and the file cannot be read.
    """
    try:
        raw = _read_file(path)
    except FileNotFoundError:
        return empty_index(), MISSING, ""
    except OSError as exc:
        if strict:
            raise
        return empty_index(), UNREADABLE, f"cannot be read ({exc})"
    data, status, problem = _parse_base(raw, path)
    if strict and status == UNUSABLE:
        raise ManifestError(f"{path} {problem}. Rerun training to write a new one.")
    return data, status, problem


def _read(log_dir: Path, strict: bool) -> tuple[dict[str, Any], tuple]:
    """The index replayed from base and journal, and the files' signature.

    Lock-free: compaction replaces the base before it removes the journal, so a base that
    changed while the journal was read means a compaction ran in between: read again. What was
    damaged (left out) is said in one :class:`~keras_nnviz.errors.ManifestWarning`.
    """
    base_path, journal_path = log_dir / MANIFEST_NAME, log_dir / JOURNAL_NAME
    for _ in range(20):
        before = _signature(base_path)
        data, status, problem = _read_base(base_path, strict)
        try:
            raw = _read_file(journal_path)
        except FileNotFoundError:
            raw = b""
        except OSError:
            if strict:
                raise
            raw = b""
        if _signature(base_path) == before:
            break
    index = _Index(data)
    events, bad = _parse_journal(raw)
    for event in events:
        index.apply(event)
    # Events of the right shape can still carry values of the wrong type (a hand-edited line):
    # the same check as the base's, on the replayed index (the base alone was checked).
    data, dropped = check_index(index.data, str(journal_path)) if events else (index.data, [])
    # A writer (not strict) says what was wrong with the base when it keeps it aside (once).
    notes = [f"{base_path} {problem}"] if problem and strict else []
    if bad or dropped:
        notes.append(
            f"{journal_path}: skipped {bad} malformed line(s)"
            + (f" and left out {len(dropped)} damaged part(s) ({dropped[0]})" if dropped else "")
        )
    if notes:
        warnings.warn("; ".join(notes) + ".", ManifestWarning, stacklevel=3)
    return data, (before, _signature(journal_path))


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
        data, self._seen = _read(self.log_dir, strict=False)
        self._index = _Index(data)
        self.data = self._index.data
        for event in self._pending:  # not yet in the journal: keep them in the view
            self._index.apply(event)

    def refresh(self) -> None:
        """Read what other processes (or instances) wrote since this view was made.

        Cheap when nothing changed (two ``stat`` calls); never raises.
        """
        with self._mutex:
            current = (_signature(self.path), _signature(self.journal))
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
                self._seen = (_signature(self.path), _signature(self.journal))
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
                data, _ = _read(self.log_dir, strict=False)
                data["updated"] = utc_now()
                self._write_base(data)
                self.journal.unlink(missing_ok=True)
                self._seen = (_signature(self.path), None)
            self._index = _Index(data)
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
            raw = _read_file(self.path)
        except FileNotFoundError:
            return MISSING
        except OSError:
            return UNREADABLE
        data, status, problem = _parse_base(raw, self.path)
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
    data, _ = _read(log_dir, strict=True)
    return data
