"""The one schema check of a ``log_dir``'s index, in front of everything that reads it.

A manifest may be hand-edited, copied from another version, cut short or written by another
tool. Readers (the report, ``nnviz serve``, the next fit's compaction) see it only through
:func:`check_index`: what they rely on has the documented type (schema:
:mod:`keras_nnviz.io.manifest`), a damaged entry, run, metric or section is left out and
counted, and only a top level that cannot be used at all raises :class:`ManifestError`. Journal
lines are checked one by one (:func:`event_problem`) before they are replayed.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import ManifestError

NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

#: Entry fields the readers use as text, and as whole numbers (each may be absent or null).
_ENTRY_TEXT = ("kind", "sink", "path", "media", "caption", "time", "tensorboard_tag")
_ENTRY_INT = ("epoch", "batch", "step", "width", "height")
#: Fields of runs, fits and errors that readers count with.
_RECORD_INT = ("epoch", "epochs", "planned_epochs")
#: What each journal operation must not set whole (other events append to them).
_BUILT_BY_EVENTS = {
    "callback": ("tags", "runs", "errors"),
    "fit": ("metrics",),
}
#: Journal operations and the fields each needs (name: type) to be replayed.
_EVENT_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "entry": {"entry": dict},
    "callback": {"name": str, "fields": dict},
    "run": {"name": str, "run": dict},
    "run_update": {"name": str, "fit": str, "fields": dict},
    "error": {"name": str, "error": dict},
    "fit": {"id": str, "fields": dict},
    "metrics": {"id": str, "row": dict},
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)) or (
        isinstance(value, str) and value in NONFINITE
    )


def _show(value: Any) -> str:
    """A value for a message: short, and never the repr of a deep structure (that recurses)."""
    if value is None or isinstance(value, bool | int | float | str):
        text = repr(value)
        return text if len(text) <= 40 else text[:39] + "…"
    return f"a {type(value).__name__}"


def entry_problem(entry: Any) -> str | None:
    """What makes ``entry`` unusable to a reader, or None when it can be used."""
    if not isinstance(entry, dict):
        return f"an entry is {type(entry).__name__}, not an object"
    for key in ("callback", "tag"):
        if not isinstance(entry.get(key), str):
            return f"an entry's {key!r} is {_show(entry.get(key))}, not text"
    for key in _ENTRY_TEXT:
        if entry.get(key) is not None and not isinstance(entry[key], str):
            return f"entry {_show(entry['tag'])}: {key!r} is {_show(entry[key])}, not text"
    for key in _ENTRY_INT:
        if entry.get(key) is not None and not _is_int(entry[key]):
            return (
                f"entry {_show(entry['tag'])}: {key!r} is {_show(entry[key])}, not a whole number"
            )
    if entry.get("value") is not None and not _is_number(entry["value"]):
        return f"entry {_show(entry['tag'])}: 'value' is {_show(entry['value'])}, not a number"
    return None


def event_problem(event: Any) -> str | None:
    """What keeps one journal line from being replayed, or None when it can be."""
    if not isinstance(event, dict):
        return f"a line is {type(event).__name__}, not an object"
    op = event.get("op")
    fields = _EVENT_FIELDS.get(op) if isinstance(op, str) else None
    if fields is None:
        return f"unknown operation {_show(op)}"
    for key, kind in fields.items():
        if not isinstance(event.get(key), kind):
            return f"{op!r} line without a valid {key!r}"
    if op == "entry":
        return entry_problem(event["entry"])
    if op == "metrics" and not _is_int(event["row"].get("epoch")):
        return f"a metrics row of epoch {_show(event['row'].get('epoch'))}"
    # Lists that later events append to are built by their own events, never set whole.
    fixed = _BUILT_BY_EVENTS.get(op, ())
    if any(key in fixed for key in event.get("fields", ())):
        return f"{op!r} line setting one of {fixed}"
    if op == "callback" and not isinstance(event["fields"].get("params", {}), dict):
        return "'callback' line whose 'params' is not an object"
    return None


def _clean_rows(rows: Any, dropped: list[str], where: str) -> list[dict[str, Any]]:
    """Metrics rows: objects whose ``epoch`` is a whole number (or absent) and whose values are
    numbers; a value that is not is dropped from its row."""
    if not isinstance(rows, list):
        dropped.append(f"{where}: 'metrics' is not a list")
        return []
    out = []
    for row in rows:
        if not isinstance(row, dict) or (
            row.get("epoch") is not None and not _is_int(row["epoch"])
        ):
            dropped.append(f"{where}: a metrics row {_show(row)}")
            continue
        bad = [k for k, v in row.items() if v is not None and not _is_number(v)]
        dropped.extend(f"{where}: metric {_show(k)} = {_show(row[k])}" for k in bad)
        out.append({str(k): v for k, v in row.items() if k not in bad})
    return out


def _clean_records(records: Any, dropped: list[str], where: str) -> list[dict[str, Any]]:
    """Runs, fits or errors: a list of objects (metrics rows checked)."""
    if not isinstance(records, list):
        dropped.append(f"{where} is not a list")
        return []
    out = []
    for record in records:
        if not isinstance(record, dict):
            dropped.append(f"{where}: {_show(record)}")
            continue
        if "metrics" in record:
            record = {**record, "metrics": _clean_rows(record["metrics"], dropped, where)}
        bad = [k for k in _RECORD_INT if record.get(k) is not None and not _is_int(record[k])]
        if bad:
            dropped.extend(f"{where}: {k!r} {_show(record[k])}" for k in bad)
            record = {k: v for k, v in record.items() if k not in bad}
        if record.get("diverged") is not None and not isinstance(record["diverged"], dict):
            dropped.append(f"{where}: 'diverged' {_show(record['diverged'])}")
            record = {k: v for k, v in record.items() if k != "diverged"}
        out.append(record)
    return out


def _clean_models(models: Any, dropped: list[str]) -> dict[str, Any]:
    """The Report's ``params["models"]``: per model, its facts (a layer table of rows)."""
    if not isinstance(models, dict):
        dropped.append("report 'models' is not an object")
        return {}
    out = {}
    for name, facts in models.items():
        usable = (
            isinstance(facts, dict)
            and isinstance(facts.get("layers"), list)
            and all(isinstance(r, list) for r in facts.get("layers", []))
            and all(_is_int(facts.get(k, 0)) for k in ("params", "trainable_params"))
            and isinstance(facts.get("architecture") or {}, dict)
            and all(isinstance(facts.get(k) or [], list) for k in ("inputs", "outputs"))
        )
        if usable:
            out[str(name)] = facts
        elif facts is not None:
            dropped.append(f"the layer table of model {_show(name)}")
    return out


def _clean_section(name: str, section: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    out = dict(section)
    tags = section.get("tags", [])
    if not isinstance(tags, list):
        dropped.append(f"callback {name!r}: 'tags' is not a list")
        tags = []
    out["tags"] = [t for t in tags if isinstance(t, str)]
    if len(out["tags"]) < len(tags):
        dropped.append(f"callback {name!r}: {len(tags) - len(out['tags'])} tag(s) not text")
    for key in ("runs", "errors"):
        out[key] = _clean_records(section.get(key, []), dropped, f"callback {name!r} {key}")
    params = section.get("params", {})
    if not isinstance(params, dict):
        dropped.append(f"callback {name!r}: 'params' is not an object")
        params = {}
    if "models" in params and (name == "report" or section.get("class") == "Report"):
        params = {**params, "models": _clean_models(params["models"], dropped)}
    out["params"] = params
    for key in ("class", "title", "every"):
        if section.get(key) is not None and not isinstance(section[key], str | int):
            dropped.append(f"callback {name!r}: {key!r} {_show(section[key])}")
            out.pop(key)
    return out


def check_index(data: Any, source: str) -> tuple[dict[str, Any], list[str]]:
    """``data`` (a parsed index) with what readers cannot use left out.

    Args:
        data: the parsed JSON of a manifest (or an index replayed from its journal).
        source: the file it came from, for the error message.

    Returns:
        ``(index, dropped)``: a new index dict holding every usable entry, callback section,
        run and metric of ``data`` (unchanged), and one line per thing left out.

    Raises:
        ManifestError: the top level cannot be used: not an object, ``entries`` not a list or
            ``callbacks`` not an object.

    Example:
        >>> index, dropped = check_index({"entries": [{"tag": 1}], "callbacks": {}}, "m.json")
        >>> index["entries"], dropped
        ([], ["an entry's 'callback' is None, not text"])
    """
    if not isinstance(data, dict):
        raise ManifestError(f"{source} is not a keras_nnviz manifest: a {type(data).__name__}, "
                            "not an object with an 'entries' list.")  # fmt: skip
    if not isinstance(data.get("entries"), list):
        raise ManifestError(
            f"{source} is not a keras_nnviz manifest: 'entries' is "
            f"{type(data.get('entries')).__name__}, not a list."
        )
    if not isinstance(data.get("callbacks", {}), dict):
        raise ManifestError(f"{source} is damaged: 'callbacks' is not an object.")
    dropped: list[str] = []
    index = dict(data)
    index["entries"] = []
    for entry in data["entries"]:
        problem = entry_problem(entry)
        if problem is None:
            index["entries"].append(entry)
        else:
            dropped.append(problem)
    callbacks = {}
    for name, section in data.get("callbacks", {}).items():
        if isinstance(section, dict):
            callbacks[name] = _clean_section(name, section, dropped)
        else:
            dropped.append(f"callback {name!r} is {type(section).__name__}, not an object")
    index["callbacks"] = callbacks
    if "fits" in data:
        index["fits"] = _clean_records(data["fits"], dropped, "fits")
    if not isinstance(data.get("updated", ""), str):
        index["updated"] = str(data["updated"])
    return index, dropped
