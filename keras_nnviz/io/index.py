"""Reading the manifest: the index, the journal replayed on top of it, and the file names.

:func:`read_index` reads ``nnviz_manifest.json`` and replays ``nnviz_manifest.jsonl`` on it
(:class:`Index` applies one journal event), each through the one schema check
(:mod:`keras_nnviz.io._schema`); :mod:`keras_nnviz.io.manifest` writes them (the format is
described there).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ManifestError, ManifestWarning
from ._schema import NONFINITE, check_index, event_problem

__all__ = [
    "CURRENT",
    "DAMAGED",
    "dumps",
    "empty_index",
    "entry_key",
    "file_signature",
    "FOREIGN",
    "Index",
    "JOURNAL_NAME",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "MISSING",
    "number",
    "parse_base",
    "plain",
    "read_file",
    "read_index",
    "UNREADABLE",
    "UNUSABLE",
    "utc_now",
]

MANIFEST_NAME = "nnviz_manifest.json"
JOURNAL_NAME = "nnviz_manifest.jsonl"
MANIFEST_FORMAT = "keras_nnviz.manifest"
MANIFEST_VERSION = 1


def utc_now() -> str:
    """Current UTC time as ISO-8601 (seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


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


def number(value: Any) -> Any:
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


class Index:
    """The index dict plus what replaying events needs (entry positions)."""

    def __init__(self, data: dict[str, Any]):
        self.data = data
        data.setdefault("callbacks", {})
        data.setdefault("entries", [])
        for e in data["entries"]:
            if "value" in e:
                e["value"] = number(e["value"])
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
                entry["value"] = number(entry["value"])
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
            row = {k: number(v) for k, v in event["row"].items()}
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
            row[key] = number(value)


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


def read_file(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def file_signature(path: Path) -> tuple | None:
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


def parse_base(raw: bytes, path: Path) -> tuple[dict[str, Any], str, str]:
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
        raw = read_file(path)
    except FileNotFoundError:
        return empty_index(), MISSING, ""
    except OSError as exc:
        if strict:
            raise
        return empty_index(), UNREADABLE, f"cannot be read ({exc})"
    data, status, problem = parse_base(raw, path)
    if strict and status == UNUSABLE:
        raise ManifestError(f"{path} {problem}. Rerun training to write a new one.")
    return data, status, problem


def read_index(log_dir: Path, strict: bool) -> tuple[dict[str, Any], tuple]:
    """The index replayed from base and journal, and the files' signature.

    Lock-free: compaction replaces the base before it removes the journal, so a base that
    changed while the journal was read means a compaction ran in between: read again. What was
    damaged (left out) is said in one :class:`~keras_nnviz.errors.ManifestWarning`.
    """
    base_path, journal_path = log_dir / MANIFEST_NAME, log_dir / JOURNAL_NAME
    for _ in range(20):
        before = file_signature(base_path)
        data, status, problem = _read_base(base_path, strict)
        try:
            raw = read_file(journal_path)
        except FileNotFoundError:
            raw = b""
        except OSError:
            if strict:
                raise
            raw = b""
        if file_signature(base_path) == before:
            break
    index = Index(data)
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
    return data, (before, file_signature(journal_path))
