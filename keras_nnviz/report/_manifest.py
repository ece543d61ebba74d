"""From the callbacks' manifest (``log_dir/nnviz_manifest.json``) to report parts.

One part per model (the ``model`` of each callback's latest run), holding its training curves,
its layer table and a section per callback: a figure per tag whose frames a slider swaps, then
the train-end summaries. Schema: :mod:`keras_nnviz.io.manifest`.
"""

from __future__ import annotations

import base64
import calendar
import json
import os
import re
import time
import urllib.parse
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidArgumentError, ManifestError, ManifestWarning
from ..io import MANIFEST_NAME, load_manifest
from ..io.paths import contained
from . import _model
from ._embedding import from_manifest
from ._page import Architecture, Figure, Findings, Frame, Note, Part, Section, Table

REPORT_SECTION = "report"
MEDIA = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".svg": "image/svg+xml"}


def read(log_dir: Path) -> dict[str, Any]:
    """The manifest of ``log_dir``, or an error that says how to get one.

    Raises:
        InvalidArgumentError: ``log_dir`` is not a folder or holds no manifest.
        ManifestError: the manifest's structure cannot be used (damaged entries are left out
            with a :class:`~keras_nnviz.errors.ManifestWarning` instead).
    """
    if not log_dir.is_dir():
        raise InvalidArgumentError(
            f"log_dir {str(log_dir)!r} is not a folder. Pass the log_dir given to the "
            "nv.callbacks.* callbacks (it holds nnviz_manifest.json)."
        )
    if not (log_dir / MANIFEST_NAME).exists():
        raise InvalidArgumentError(
            f"{str(log_dir)!r} holds no {MANIFEST_NAME}: train with nv.callbacks.* callbacks (or "
            "nv.callbacks.Report) writing to this log_dir first. For a saved model without "
            "training logs use nv.report.model_report(model, x) or `nnviz report MODEL --data`."
        )
    try:
        # The one schema check (io._schema): damaged entries are left out with a warning; a
        # top level that cannot be used raises ManifestError, which names the file.
        return load_manifest(log_dir)
    except ManifestError:
        raise
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(
            f"Could not read {log_dir / MANIFEST_NAME}: {exc}. Rerun training to rewrite it."
        ) from None


def file_src(path: Path, out_dir: Path, embed: bool) -> str:
    """A data URI of the file (``embed``) or a URL relative to the report's folder."""
    if embed:
        media = MEDIA.get(path.suffix.lower(), "application/octet-stream")
        return f"data:{media};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"
    rel = os.path.relpath(path, out_dir)
    return urllib.parse.quote(Path(rel).as_posix())


def frame_label(entry: Mapping[str, Any]) -> str:
    """``before training`` / ``epoch 3`` / ``epoch 1, batch 200`` (as the frames say)."""
    epoch, batch = entry.get("epoch"), entry.get("batch")
    if epoch is None:
        return ""
    base = "before training" if epoch == 0 and batch is None else f"epoch {epoch}"
    return base if batch is None else f"{base}, batch {batch}"


def _short(value: Any, limit: int = 140) -> str:
    try:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
    except (RecursionError, ValueError):  # a hand-edited parameter nested too deeply
        text = f"({type(value).__name__})"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def schedule_facts(section: dict[str, Any]) -> list[tuple[str, str]]:
    """What the last run's schedule chose: the epochs drawn and the fit's shared budget."""
    runs = section.get("runs") or []
    run = runs[-1] if runs and isinstance(runs[-1], dict) else {}
    facts = []
    drawn = run.get("drawn")
    if isinstance(drawn, list) and drawn:
        facts.append(("drew epochs", ", ".join(str(e) for e in drawn)))
    spend = run.get("budget")
    if isinstance(spend, dict) and "fraction" in spend:
        try:
            limit = spend["fraction"]
            text = "no limit" if limit is None else f"{float(limit):.0%} of training time"
            if spend.get("train_s"):
                share = float(spend.get("spent_s") or 0) / float(spend["train_s"])
                text += f" (all callbacks spent {share:.1%})"
        except (TypeError, ValueError):
            text = str(spend)
        facts.append(("budget", text))
    return facts


def merged_metrics(runs: list[dict[str, Any]]) -> list[dict[str, float]]:
    """The latest fit's per-epoch logs, preceded by earlier fits' epochs it did not redo.

    ``fit(initial_epoch=3)`` continues a curve; a new fit from epoch 1 replaces it.
    """
    if not runs:
        return []
    latest = [dict(m) for m in runs[-1].get("metrics") or [] if m.get("epoch") is not None]
    first = min((m["epoch"] for m in latest), default=None)
    earlier: dict[int, dict] = {}
    if first is not None and first > 1:
        for run in runs[:-1]:
            for m in run.get("metrics") or []:
                if m.get("epoch") is not None and m["epoch"] < first:
                    earlier[m["epoch"]] = dict(m)
    return [earlier[e] for e in sorted(earlier)] + sorted(latest, key=lambda m: m["epoch"])


def _model_of(section: Mapping[str, Any]) -> str:
    runs = section.get("runs") or []
    return str(runs[-1].get("model") or "model") if runs else "model"


def _diagnosis_section(name: str, section: Mapping[str, Any]) -> Section:
    """The Doctor callback's latest findings (``params.findings``), shown first in its part."""
    params = section.get("params") or {}
    items = [f for f in params.get("findings") or [] if isinstance(f, Mapping)]
    epoch = params.get("epoch")
    when = f"after epoch {epoch}" if epoch else "before training"
    blocks: list[Any] = [
        Findings([dict(f) for f in items], f"{len(items)} finding(s) {when}")
        if items
        else Note(f"No problem found {when}.")
    ]
    for err in section.get("errors") or []:
        blocks.insert(0, Note(f"Failed: {err.get('message', '')}", "warning"))
    checked = params.get("checked") or []
    facts = [("callback", "Doctor"), ("folder", name), ("checks", _short(", ".join(checked)))]
    return Section("Diagnosis", blocks, facts=facts, key=name)


def _file(log_dir: Path, path: Any) -> Path | None:
    found = contained(log_dir, path)
    return found if found is not None and found.is_file() else None


def _embeddings(
    entries: list[dict[str, Any]], log_dir: Path, out_dir: Path, embed: bool
) -> dict[str, Any]:
    """``{tag: Embedding}`` from the ``points`` files an EmbeddingProjection callback wrote."""
    by_tag: dict[str, list[dict]] = {}
    for e in entries:
        if e.get("kind") == "points":
            by_tag.setdefault(e.get("tag"), []).append(e)
    found = {}
    for tag, points in by_tag.items():
        block = from_manifest(
            str(tag),
            points,
            lambda e: _file(log_dir, e.get("path")),
            lambda path: file_src(path, out_dir, embed),
            frame_label,
        )
        if block is not None:
            found[tag] = block
    return found


def _callback_section(
    name: str,
    section: Mapping[str, Any],
    entries: list[dict[str, Any]],
    log_dir: Path,
    out_dir: Path,
    embed: bool,
) -> Section:
    if section.get("class") == "Doctor":
        return _diagnosis_section(name, section)
    frames: dict[str, list[dict]] = {}
    summaries: list[dict] = []
    interactive = _embeddings(entries, log_dir, out_dir, embed)
    for e in entries:
        if e.get("tag") in interactive:  # the points replace the still pictures
            continue
        if e.get("sink") != "png" or e.get("media") != "image/png":
            continue
        if e.get("kind") == "frame":
            frames.setdefault(e["tag"], []).append(e)
        elif e.get("kind") == "summary":
            summaries.append(e)
    blocks: list[Any] = list(interactive.values())
    missing = 0
    order = [t for t in section.get("tags", []) if t in frames] + [
        t for t in frames if t not in section.get("tags", [])
    ]
    for tag in order:
        series = sorted(
            frames[tag],
            key=lambda e: (
                e.get("epoch") or 0,
                -1 if e.get("batch") is None else 0,
                e.get("batch") or 0,
            ),
        )
        shown = []
        for e in series:
            path = contained(log_dir, e.get("path"))
            if path is None or not path.is_file():
                missing += 1
                continue
            shown.append(
                Frame(
                    file_src(path, out_dir, embed),
                    e.get("epoch"),
                    frame_label(e),
                    e.get("caption", ""),
                )
            )
        if shown:
            last = series[-1]
            blocks.append(
                Figure(tag, shown, width=last.get("width"), height=last.get("height"), tag=tag)
            )
    for e in summaries:
        path = contained(log_dir, e.get("path"))
        if path is None or not path.is_file():
            missing += 1
            continue
        stem = path.stem
        title = e["tag"] if stem == "summary" else f"{e['tag']} · {stem}"
        blocks.append(
            Figure(
                f"{title} (end of training)",
                [Frame(file_src(path, out_dir, embed), None, "", e.get("caption", ""))],
                width=e.get("width"),
                height=e.get("height"),
                pixelated=False,
            )
        )
    for err in section.get("errors") or []:
        where = f" at epoch {err['epoch']}" if err.get("epoch") is not None else ""
        blocks.insert(0, Note(f"Failed{where}: {err.get('message', '')}", "warning"))
    if missing:
        blocks.insert(
            0, Note(f"{missing} picture(s) listed in the manifest are missing.", "warning")
        )
    if not blocks:
        # A callback with nothing to show on this model says why (its manifest "note").
        note = (section.get("params") or {}).get("note")
        blocks.append(Note(str(note) if note else "No pictures written yet."))
    facts = [("callback", str(section.get("class", name))), ("folder", name)]
    if section.get("every"):
        facts.append(("every", str(section["every"])))
    facts.extend(schedule_facts(section))
    for key, value in (section.get("params") or {}).items():
        if value not in (None, [], {}, ""):
            facts.append((str(key), _short(value)))
    title = str(section.get("title") or name)
    if re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_") != name:
        title = f"{title} · {name}"  # e.g. two WeightHistograms, or Attributions by method
    return Section(title, blocks, facts=facts, key=name)


def parts(
    manifest: Mapping[str, Any],
    log_dir: Path,
    out_dir: Path,
    embed: bool = True,
    models: Mapping[str, Any] | None = None,
) -> list[Part]:
    """One :class:`Part` per model named in the manifest's runs."""
    callbacks = manifest.get("callbacks") or {}
    entries_by_cb: dict[str, list[dict]] = {}
    for e in manifest.get("entries") or []:
        entries_by_cb.setdefault(e.get("callback"), []).append(e)
    report = callbacks.get(REPORT_SECTION) or {}
    report_models = (report.get("params") or {}).get("models") or {}

    by_model: dict[str, Part] = {}
    runs_by_model: dict[str, list[list[dict]]] = {}

    def part(name: str) -> Part:
        if name not in by_model:
            by_model[name] = Part(name)
            runs_by_model[name] = []
        return by_model[name]

    for name in report_models:
        part(name)
    histograms: dict[str, dict[str, list[dict]]] = {}
    for cb_name, section in callbacks.items():
        runs = section.get("runs") or []
        if section.get("class") == "Report":
            for run in runs:
                part(str(run.get("model") or "model"))
            for model_name, layers in weight_histograms(log_dir, cb_name).items():
                histograms.setdefault(model_name, {}).update(layers)
            continue
        model_name = _model_of(section)
        part(model_name).sections.append(
            _callback_section(
                cb_name, section, entries_by_cb.get(cb_name, []), log_dir, out_dir, embed
            )
        )
        runs_by_model[model_name].append([r for r in runs if r.get("model") == model_name])

    for name, p in by_model.items():
        # The curves are stored once per fit ("fits"); manifests written before that kept a
        # copy in each callback's runs (the Report callback's first: it sees every epoch).
        candidates = [merged_metrics(runs) for runs in runs_by_model[name] if runs]
        fits = [f for f in manifest.get("fits") or [] if f.get("model") == name]
        if fits:
            candidates.insert(0, merged_metrics(fits))
        if REPORT_SECTION in callbacks:
            report_runs = [
                r for r in callbacks[REPORT_SECTION].get("runs") or [] if r.get("model") == name
            ]
            if report_runs:
                candidates.insert(0, merged_metrics(report_runs))
        p.metrics = max(candidates, key=len, default=[])
        model = (models or {}).get(name)
        facts = _model.model_facts(model) if model is not None else report_models.get(name)
        if facts:
            p.facts = _model.facts_list(facts)
            graph = _model.architecture_data(model) if model is not None else None
            graph = graph or facts.get("architecture")
            if graph:
                try:
                    section = architecture_section(
                        graph,
                        layer_series(manifest, name),
                        histograms.get(name, {}),
                        _model.weight_panel(model) if model is not None else None,
                    )
                except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
                    # A graph recorded by another version or edited by hand: the rest stays.
                    warnings.warn(
                        f"{log_dir / MANIFEST_NAME}: the architecture graph of model {name!r} "
                        f"is damaged ({type(exc).__name__}: {exc}); left out of the report.",
                        ManifestWarning,
                        stacklevel=2,
                    )
                    section = Section(
                        "Architecture",
                        [Note("The recorded graph is damaged.", "warning")],
                        key="architecture",
                    )
                p.sections.insert(0, section)
            # Pictures first: the long layer table closes the part, folded.
            p.sections.append(
                Section(
                    "Layers",
                    [
                        Table(
                            _model.LAYER_HEADER,
                            facts["layers"],
                            caption="layer paths, types, output shapes and parameters (paths "
                            "reach inside nested models: use them as layer=)",
                            numeric=(3,),
                            folded=True,  # the graph above shows the same layers
                        )
                    ],
                )
            )
        # The diagnosis says first what is wrong; its links point into the sections below.
        p.sections.sort(key=lambda s: s.title != "Diagnosis")
    return list(by_model.values())


SCALARS = {
    "grad_norm": "gradient norm ‖∇W‖",
    "update_ratio": "update ratio ‖ΔW‖/‖W‖",
    "dead_fraction": "dead-unit fraction",
}


def layer_series(manifest: Mapping[str, Any], model: str) -> dict[str, list[dict[str, float]]]:
    """Per-layer histories of the diagnostics scalars of ``model``'s callbacks.

    The diagnostics callbacks (``GradientFlow``, ``DeadUnits``) record one scalar per layer and
    snapshot (manifest entries of media ``tensorboard/scalar`` with a ``value``); epoch-level
    snapshots are kept (a batch-level schedule would crowd a small chart).

    Returns:
        ``{layer path: [{"epoch": e, "grad_norm": v, "dead_fraction": v, ...}, ...]}``.
    """
    callbacks = manifest.get("callbacks") or {}
    rows: dict[str, dict[int, dict[str, float]]] = {}
    for e in manifest.get("entries") or []:
        if e.get("media") != "tensorboard/scalar" or e.get("batch") is not None:
            continue
        section = callbacks.get(e.get("callback")) or {}
        if _model_of(section) != model or not isinstance(e.get("tag"), str):
            continue
        layer, _, stat = e["tag"].rpartition("/")
        value, epoch = e.get("value"), e.get("epoch")
        if stat not in SCALARS or not layer or epoch is None or not isinstance(value, int | float):
            continue
        rows.setdefault(layer, {}).setdefault(int(epoch), {"epoch": int(epoch)})[stat] = value
    return {layer: [by[e] for e in sorted(by)] for layer, by in rows.items()}


def weight_histograms(log_dir: Path, callback: str) -> dict[str, dict[str, list[dict]]]:
    """The Report callback's kernel histograms over training, ``{model: {"layer/kernel":
    [{"epoch", "lo", "hi", "counts"}, ...]}}`` ({} when it wrote none or the file is bad)."""
    path = contained(log_dir, f"{callback}/weight_histograms.json")
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(model): {str(k): v for k, v in layers.items() if isinstance(v, list)}
        for model, layers in data.items()
        if isinstance(layers, dict)
    }


def architecture_section(
    graph: Mapping[str, Any],
    series: Mapping[str, list[dict[str, float]]],
    histograms: Mapping[str, list[dict]] | None = None,
    weights: Mapping[str, list[dict]] | None = None,
) -> Section:
    """The part's layer graph, whose layers open their pictures and histories on a click."""
    from ..plot.architecture import graph_payload
    from ._curves import chart, histogram_chart

    charts: dict[str, list[str]] = {}
    for key, rows in (histograms or {}).items():
        try:
            svg = histogram_chart(f"{key.rpartition('/')[2]} histogram over training", rows)
        except (KeyError, TypeError, ValueError):
            continue  # a hand-edited file: skip the layer, keep the page
        if svg:
            charts.setdefault(key.rpartition("/")[0], []).append(svg)
    for layer, rows in series.items():
        for stat, label in SCALARS.items():
            if svg := chart(label, [stat], rows, legend=False):
                charts.setdefault(layer, []).append(svg)
    n = len(graph.get("nodes") or [])
    return Section(
        "Architecture",
        [
            Architecture(
                graph_payload(dict(graph)),
                {k: v for k, v in charts.items() if v},
                weights=dict(weights or {}),
            )
        ],
        subtitle=f"{n} layers. Click a layer for what the callbacks recorded about it.",
        key="architecture",
    )


def diverged(manifest: Mapping[str, Any]) -> list[Note]:
    """A banner per run that diverged (``"diverged"`` in a run record): the page says so first."""
    notes, seen = [], set()
    callbacks = manifest.get("callbacks") or {}
    runs = [r for section in callbacks.values() for r in section.get("runs") or []]
    runs += list(manifest.get("fits") or [])
    for run in runs:
        info = run.get("diverged") if isinstance(run, Mapping) else None
        if not isinstance(info, Mapping):
            continue
        layer = info.get("layer")
        where = f", first non-finite layer {layer}" if layer else ""
        text = (
            f"Training diverged: {run.get('model') or 'model'} at epoch {info.get('epoch', '?')}"
            f"{where}. {info.get('message') or ''}".strip()
        )
        if text not in seen:
            seen.add(text)
            notes.append(Note(text, "alarm"))
    return notes


STALE_SECONDS = 120.0  # a running fit writes at every epoch end; silence longer than this and
STALE_EPOCHS = 3  # 3 mean epochs (whichever is longer) reads as a fit that was killed


def _seconds(stamp: Any) -> float | None:
    """Seconds since the epoch of a manifest time (``2026-01-01T12:00:00Z``), None if not one."""
    try:
        return float(calendar.timegm(time.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


def stale_after(fit: Mapping[str, Any], last_write: float) -> float:
    """Seconds of silence after which a fit without ``ended`` counts as stopped.

    ``max(STALE_SECONDS, STALE_EPOCHS x its mean epoch so far)``: a fit of 10-minute epochs is
    not declared dead between two epoch ends; a first epoch longer than ``STALE_SECONDS`` reads
    as stopped until its end is written (then running again).
    """
    started, epochs = _seconds(fit.get("started")), fit.get("epochs")
    if started is None or not isinstance(epochs, int) or epochs < 1:
        return STALE_SECONDS
    return max(STALE_SECONDS, STALE_EPOCHS * (last_write - started) / epochs)


def state(
    manifest: Mapping[str, Any], last_write: float | None = None, now: float | None = None
) -> dict[str, Any]:
    """What a live page compares to know that the log folder changed, and whether a fit runs.

    Args:
        manifest: the run's manifest.
        last_write: the heartbeat: when the manifest files were last written (``st_mtime``;
            callbacks append to the journal at every epoch end). None: a fit without
            ``ended`` counts as running however old.
        now: the present time (``time.time()`` by default).

    Returns:
        ``{"state": token, "running": bool, "stopped": bool, "since": time | None,
        "epoch": int, "epochs": int | None, "models": [...]}``; ``token`` changes with every
        write to the manifest and when a fit turns stopped; ``stopped``: the latest fit never
        wrote ``ended`` and has been silent too long (killed), ``since`` its last write (UTC).
    """
    fits = list(manifest.get("fits") or [])
    unended = [f for f in fits if f.get("ended") is None]
    latest = unended[-1] if unended else (fits[-1] if fits else {})
    stopped = False
    since = None
    if unended and last_write is not None:
        silent = (time.time() if now is None else now) - last_write
        stopped = silent > stale_after(latest, last_write)
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last_write)) if stopped else None
    entries = manifest.get("entries") or []
    token = f"{manifest.get('updated', '')}|{len(entries)}|{int(stopped)}|" + ",".join(
        f"{f.get('id')}:{f.get('epochs')}:{f.get('ended')}" for f in fits
    )
    return {
        "state": token,
        "running": bool(unended) and not stopped,
        "stopped": stopped,
        "since": since,
        "epoch": int(latest.get("epochs") or 0),
        "epochs": planned_epochs(manifest, latest.get("id")),
        "models": sorted({str(f.get("model")) for f in fits}),
    }


def planned_epochs(manifest: Mapping[str, Any], fit_id: Any) -> int | None:
    """The ``epochs`` a fit was asked for, as its Report callback recorded it (else None)."""
    for section in (manifest.get("callbacks") or {}).values():
        if section.get("class") != "Report":
            continue
        for run in section.get("runs") or []:
            if run.get("fit") == fit_id and isinstance(run.get("planned_epochs"), int):
                return run["planned_epochs"]
    return None
