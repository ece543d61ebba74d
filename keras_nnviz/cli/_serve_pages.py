"""The pages and JSON of ``nnviz serve`` (see :mod:`keras_nnviz.cli.serve`): the runs of a
folder, their states (a killed fit reads "stopped"), their live reports and the error page."""

from __future__ import annotations

import os
import urllib.parse
from http import HTTPStatus
from pathlib import Path
from typing import Any

from .. import assets
from ..errors import NNVizError
from ..html import document, esc
from ..io import JOURNAL_NAME, MANIFEST_NAME
from ..io.paths import contained

DEPTH = 3
POLL_SECONDS = 2.0


def hidden(rel: str) -> bool:
    """Whether a relative path has a dotfile or dot-folder segment (``.env``, ``.git/config``)."""
    return any(part.startswith(".") for part in rel.split("/") if part)


def find_runs(root: Path, depth: int = DEPTH) -> list[str]:
    """Folders under ``root`` (itself included) holding a manifest, as POSIX paths ("" = root)."""
    runs = []
    root = root.resolve()
    for folder, dirs, files in os.walk(root, followlinks=False):
        rel = Path(folder).relative_to(root)
        if len(rel.parts) >= depth:
            dirs[:] = []
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if MANIFEST_NAME in files:
            runs.append("" if rel == Path(".") else rel.as_posix())
    return runs


def run_folder(root: Path, run: str) -> Path | None:
    """The folder of ``run`` if it is a run inside ``root`` (not hidden), else None."""
    if hidden(run):
        return None
    folder = contained(root, run) if run else root.resolve()
    if folder is None or not (folder / MANIFEST_NAME).is_file():
        return None
    return folder


def last_write(folder: Path) -> float | None:
    """When the run's manifest files were last written (``st_mtime``): the fits' heartbeat."""
    times = []
    for name in (MANIFEST_NAME, JOURNAL_NAME):
        try:
            times.append((folder / name).stat().st_mtime)
        except OSError:
            continue
    return max(times, default=None)


def run_state(root: Path, run: str) -> dict[str, Any] | None:
    """The state of one run (see :func:`keras_nnviz.report._manifest.state`), None if unknown."""
    from ..report import _manifest

    folder = run_folder(root, run)
    if folder is None:
        return None
    try:
        manifest = _manifest.read(folder)
        state = _manifest.state(manifest, last_write(folder))
    except Exception as exc:  # noqa: BLE001 - a damaged manifest must not stop the server
        return {"run": run, "state": f"error:{exc}", "running": False, "stopped": False,
                "since": None, "epoch": 0, "epochs": None, "models": [],
                "error": message(exc)}  # fmt: skip
    return {"run": run, **state, **summary(manifest, folder, root)}


def summary(manifest: dict[str, Any], folder: Path, root: Path) -> dict[str, Any]:
    """The runs table's columns of one run: the latest fit's final metrics, and the
    hyperparameters (``Report(hparams=)``, or a KerasTuner ``trial.json`` in or above the run's
    folder inside ``root``)."""
    from ..report import _manifest

    fits = list(manifest.get("fits") or [])
    rows = _manifest.merged_metrics(fits[-1:]) if fits else []
    last = rows[-1] if rows else {}
    metrics = {k: v for k, v in last.items() if k != "epoch" and isinstance(v, int | float)}
    hparams: dict[str, Any] = {}
    report = (manifest.get("callbacks") or {}).get("report") or {}
    per_model = (report.get("params") or {}).get("hparams") or {}
    for model, values in per_model.items():
        for k, v in (values or {}).items():
            hparams[k if len(per_model) == 1 else f"{model}/{k}"] = v
    hparams.update(_tuner_trial(folder, root))
    return {"metrics": metrics, "hparams": hparams}


def _tuner_trial(folder: Path, root: Path) -> dict[str, Any]:
    """A KerasTuner trial's hyperparameters and score, when the run lies in its folder."""
    import json

    root = root.resolve()
    for where in [folder, *folder.parents]:
        if not (where == root or where.is_relative_to(root)):
            break
        trial = where / "trial.json"
        if trial.is_file() and trial.stat().st_size < 1 << 20:
            try:
                data = json.loads(trial.read_text(encoding="utf-8"))
                values = dict((data.get("hyperparameters") or {}).get("values") or {})
            except (ValueError, AttributeError, TypeError, OSError):
                return {}
            scalar = {k: v for k, v in values.items() if isinstance(v, bool | int | float | str)}
            if isinstance(data.get("score"), int | float):
                scalar["trial score"] = data["score"]
            return scalar
    return {}


def curves_and_frames(root: Path, run: str) -> dict[str, Any] | None:
    """One run for the compare page: its curves (the latest fit's, per epoch) and the PNG
    frames of each callback's tags, linked under ``/run/<run>/``."""
    from ..report import _manifest

    folder = run_folder(root, run)
    if folder is None:
        return None
    manifest = _manifest.read(folder)
    fits = list(manifest.get("fits") or [])
    curves: dict[str, list[list[float]]] = {}
    for row in _manifest.merged_metrics(fits[-1:]) if fits else []:
        for k, v in row.items():
            if k != "epoch" and isinstance(v, int | float):
                curves.setdefault(k, []).append([row["epoch"], v])
    prefix = "/run/" + "".join(urllib.parse.quote(s) + "/" for s in run.split("/") if s)
    frames: dict[str, dict[int, str]] = {}
    for e in manifest.get("entries") or []:
        if not isinstance(e, dict) or e.get("kind") != "frame" or e.get("epoch") is None:
            continue
        path = str(e.get("path") or "")
        if not path.endswith(".png") or hidden(path) or contained(folder, path) is None:
            continue
        key = f"{e.get('callback')}: {e.get('tag')}"
        frames.setdefault(key, {})[int(e["epoch"])] = prefix + urllib.parse.quote(path)
    return {
        "run": run,
        "curves": curves,
        "frames": {k: sorted([ep, src] for ep, src in v.items()) for k, v in frames.items()},
    }


def compare_html(root: Path, runs: list[str]) -> str:
    """Curves of several runs overlaid (smoothing), and one section of each side by side at an
    epoch."""
    found = [c for c in (curves_and_frames(root, r) for r in runs) if c is not None]
    missing = [r for r in runs if r not in {c["run"] for c in found}]
    body = (
        f"<h1>nnviz serve · compare {len(found)} runs</h1>"
        '<p class="sub"><a href="/">all runs</a>'
        + (f" · not found: {esc(', '.join(missing))}" if missing else "")
        + '</p><div id="nv-compare"></div>'
    )
    return document(
        title="nnviz serve · compare",
        css=assets.text("serve_index.css"),
        body=body,
        script=assets.text("compare.js"),
        data={"runs": found},
    )


def message(exc: BaseException) -> str:
    """One line saying what went wrong (our errors say it themselves; others name their type)."""
    text = str(exc) if isinstance(exc, NNVizError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def report_html(root: Path, run: str) -> str:
    """The live report of ``run``, its pictures linked under ``/run/<run>/``."""
    from ..report import LiveStatus, render, report_page

    folder = root.resolve() / run if run else root.resolve()
    state = run_state(root, run) or {"state": "", "running": False, "epoch": 0, "epochs": None}
    live = LiveStatus(
        state["epoch"],
        state["epochs"],
        reload_seconds=POLL_SECONDS,
        state_url="/api/state?run=" + urllib.parse.quote(run),
        state=state["state"],
        running=state["running"],
        stopped_since=state.get("since"),
    )
    return render(report_page(folder, out_dir=folder, embed=False, live=live))


def error_html(status: int, text: str) -> str:
    """A small page saying what went wrong (escaped; no traceback)."""
    title = f"{int(status)} {HTTPStatus(status).phrase}"
    body = f"<h1>nnviz serve · {esc(title)}</h1><p>{esc(text)}</p>"
    return document(
        title=f"nnviz serve · {title}",
        css=assets.text("serve_index.css"),
        body=body,
        script="",
        data={},
    )


def index_html(root: Path) -> str:
    """The list of runs under ``root``; it follows new runs and fits by polling ``/api/runs``."""
    runs = [s for s in (run_state(root, r) for r in find_runs(root)) if s is not None]
    body = (
        f"<h1>nnviz serve · {esc(root.name or str(root))}</h1>"
        f'<p class="sub"><span id="nv-count">{len(runs)}</span> run(s) in {esc(str(root))}; '
        "this list follows new runs and fits. Click a column to sort; tick runs to compare "
        'them.</p><p><a id="nv-compare-link" class="nv-button" href="/compare">compare the ticked'
        ' runs</a></p><table><thead><tr id="nv-head"></tr></thead><tbody id="nv-runs"></tbody>'
        "</table>"
    )
    data = {"runs": runs, "every_ms": int(POLL_SECONDS * 1000)}
    return document(
        title=f"nnviz serve · {root.name}",
        css=assets.text("serve_index.css"),
        body=body,
        script=assets.text("serve_index.js"),
        data=data,
        connect_self=True,
    )
